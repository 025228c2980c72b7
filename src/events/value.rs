//! Reading one value of an event record: times, numbers, money, dates and
//! booleans from their text, each failure a reason a person can act on.

use super::echo;
use crate::compile::calendar;
use crate::currency::Currency;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// Local times a record may give, read in the program's time zone, once
/// [`local_shape`] has found the text's digits where these put them.
const LOCAL_TIME_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// The instant `text` names: RFC 3339 with an offset, or a local time (or a
/// date alone, at midnight) in `zone`, read as the engine's calendar reads
/// one ([`calendar::instant`]): a local time that falls twice (when the
/// clocks go back) is the earlier instant; one the clocks skip moves forward
/// by the length of the gap. It must be in the years 0000 to 9999 in
/// `zone`, the ones RFC 3339 can write: the ledger writes times there.
pub(crate) fn instant(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let time = match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.with_timezone(&Utc),
        Err(_) => local_instant(text, zone)?,
    };
    let year = time.with_timezone(&zone).year();
    if !(0..=9999).contains(&year) {
        return Err(format!(
            "`{}` is in the year {year} in {zone}, the program's time zone; \
             a time must be in the years 0000 to 9999 there",
            echo(text),
        ));
    }
    Ok(time)
}

/// The instant a local time names in `zone`.
fn local_instant(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let local = local_shape(text)
        .then(|| whole_seconds(text).or_else(|| formatted(text)))
        .flatten()
        .ok_or_else(|| {
            format!(
                "`{}` is not a time (expected 2025-03-01T10:00:00+01:00 or \
                 2025-03-01T10:00:00Z, or in {zone} 2025-03-01T10:00:00, \
                 2025-03-01 10:00:00, 2025-03-01T10:00, 2025-03-01 10:00 or 2025-03-01; \
                 seconds may have a fraction, 10:00:00.5)",
                echo(text)
            )
        })?;
    Ok(calendar::instant(zone, local))
}

/// A local time shaped as [`local_shape`] wants and without a fraction of
/// a second, read from its digits' places: chrono's formats took about
/// 7,000 instructions to read `2025-03-01 10:00`, trying them in turn
/// (docs/performance.md). `None` for a fraction, a leap second or a date or
/// time that does not exist, which [`formatted`] reads (or refuses) as
/// before.
fn whole_seconds(text: &str) -> Option<NaiveDateTime> {
    let number = |at| digits(text, at);
    let time = match text.len() {
        10 => NaiveTime::MIN,
        16 => NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, 0)?,
        19 => NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?,
        _ => return None,
    };
    Some(day(text)?.and_time(time))
}

/// The number the ASCII digits of `text` at `at` write.
fn digits(text: &str, at: std::ops::Range<usize>) -> Option<u32> {
    text.as_bytes()
        .get(at)?
        .iter()
        .try_fold(0_u32, |n, &d| match d {
            b'0'..=b'9' => Some(n * 10 + u32::from(d - b'0')),
            _ => None,
        })
}

/// The date `text` starts with, `2025-03-01` (its shape already checked).
fn day(text: &str) -> Option<NaiveDate> {
    let year = i32::try_from(digits(text, 0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(text, 5..7)?, digits(text, 8..10)?)
}

/// A local time shaped as [`local_shape`] wants, with a clock, read by the
/// first of chrono's formats that reads it. (A date alone is read by
/// [`whole_seconds`], or is not a date.)
fn formatted(text: &str) -> Option<NaiveDateTime> {
    LOCAL_TIME_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// Whether `text` has the digits and separators of a local time: a date
/// `2025-03-01`, alone or followed by `T` or a space and `10:00`,
/// `10:00:00` or `10:00:00.5`. The formats' own parsing takes one digit
/// for two and reads on across a missing separator (`2025-02-111:00` as
/// 11 February 01:00), so the shape is checked first.
fn local_shape(text: &str) -> bool {
    let Some((day, rest)) = text.split_at_checked(10) else {
        return false;
    };
    if !shaped(day, "9999-99-99") {
        return false;
    }
    let Some(clock) = rest.strip_prefix(['T', ' ']) else {
        return rest.is_empty();
    };
    match clock.split_once('.') {
        None => shaped(clock, "99:99") || shaped(clock, "99:99:99"),
        Some((clock, fraction)) => {
            shaped(clock, "99:99:99")
                && !fraction.is_empty()
                && fraction.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// Whether `text` is `pattern` with a digit for each `9` in it.
fn shaped(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(t, p)| match p {
            b'9' => t.is_ascii_digit(),
            _ => t == p,
        })
}

/// A decimal number: `12`, `-3`, `4.50`, or with an exponent (`1.5e3`), as
/// JSON writers may give it. No thousands separators.
pub(crate) fn decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    match exponent {
        None => Decimal::from_str_exact(text).ok(),
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
            if !digits(exponent) {
                return None;
            }
            Decimal::from_scientific(text).ok()
        }
    }
}

/// An amount of money in `currency`: a decimal, optionally followed by the
/// currency code (`4.50 USD`); never negative, never finer than the
/// currency's minor unit (`4.505 USD`, `100.5 JPY`).
pub(crate) fn money(text: &str, currency: Currency) -> Result<Decimal, String> {
    // A currency code is three letters; `1e2` ends in a digit, not a code.
    let letters = text
        .bytes()
        .rev()
        .take_while(u8::is_ascii_alphabetic)
        .count();
    let (amount, code) = match text.split_at_checked(text.len() - letters) {
        Some((amount, code)) if letters == 3 => (amount.trim_end(), Some(code)),
        _ => (text, None),
    };
    let shown = || echo(text);
    let amount = decimal(amount).ok_or_else(|| {
        format!(
            "`{}` is not money (expected an amount like {example} or {example} {currency})",
            shown(),
            example = currency.example()
        )
    })?;
    if let Some(code) = code {
        if code != currency.code() {
            return Err(format!(
                "`{}` is not in this program's currency, {currency}",
                shown()
            ));
        }
    }
    if amount < Decimal::ZERO {
        return Err(format!("`{}` is negative; money never is", shown()));
    }
    if !currency.holds(amount) {
        return Err(format!(
            "`{}` is finer than {currency} allows: {}",
            shown(),
            currency.unit_rule()
        ));
    }
    Ok(amount)
}

/// A calendar date, `YYYY-MM-DD`, with every digit written.
pub(crate) fn date(text: &str) -> Option<NaiveDate> {
    shaped(text, "9999-99-99").then(|| day(text)).flatten()
}

/// `true` or `false`, in any case (spreadsheets write `TRUE`).
pub(crate) fn boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use std::str::FromStr;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn rfc3339_offsets_convert_to_utc() {
        let cases = [
            ("2025-03-01T10:00:00+01:00", "2025-03-01T09:00:00Z"),
            ("2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z"),
            ("2025-03-01T10:00:00-05:30", "2025-03-01T15:30:00Z"),
            ("2025-03-01T00:30:00+02:00", "2025-02-28T22:30:00Z"),
            ("2025-03-01T10:00:00.250+01:00", "2025-03-01T09:00:00.250Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(instant(text, New_York), Ok(utc(expected)), "{text}");
        }
    }

    #[test]
    fn local_times_are_read_in_the_program_zone() {
        // New York is UTC-5 in winter, UTC-4 in summer.
        let cases = [
            ("2025-03-01T10:00:00", "2025-03-01T15:00:00Z"),
            ("2025-03-01 10:00:00", "2025-03-01T15:00:00Z"),
            ("2025-03-01 10:00", "2025-03-01T15:00:00Z"),
            ("2025-03-01T10:00", "2025-03-01T15:00:00Z"),
            ("2025-03-01 10:00:00.5", "2025-03-01T15:00:00.5Z"),
            (
                "2025-03-01T10:00:00.123456789",
                "2025-03-01T15:00:00.123456789Z",
            ),
            ("2025-03-01", "2025-03-01T05:00:00Z"),
            ("2025-07-01 10:00", "2025-07-01T14:00:00Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(instant(text, New_York), Ok(utc(expected)), "{text}");
        }
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() {
        // On 2025-03-09 New York's clocks jump from 02:00 (-05:00) to 03:00
        // (-04:00): a time in between is read at -05:00, an hour later on
        // the clock, so two times in the gap keep their order and spacing.
        let cases = [
            ("2025-03-09 02:00", "2025-03-09T07:00:00Z"),
            ("2025-03-09 02:30", "2025-03-09T07:30:00Z"),
            ("2025-03-09T02:59:59", "2025-03-09T07:59:59Z"),
            ("2025-03-09 03:00", "2025-03-09T07:00:00Z"),
            ("2025-03-09 03:30", "2025-03-09T07:30:00Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(instant(text, New_York), Ok(utc(expected)), "{text}");
        }
    }

    #[test]
    fn a_time_in_the_fall_back_overlap_is_the_earlier_instant() {
        // On 2025-11-02 New York's 01:30 happens at -04:00, then again at -05:00.
        assert_eq!(
            instant("2025-11-02 01:30", New_York),
            Ok(utc("2025-11-02T05:30:00Z"))
        );
        assert_eq!(
            instant("2025-11-02T01:30:00-05:00", New_York),
            Ok(utc("2025-11-02T06:30:00Z"))
        );
    }

    #[test]
    fn malformed_times_are_errors_with_the_accepted_forms() {
        for text in [
            "yesterday",
            "2025-13-01",
            "2025-03-01 25:00",
            "01/03/2025",
            "10:00",
            // Digits run together: no reading of them is safe.
            "2025-02-111:00",
            "2025-02-0108:00",
            "2025-02-01T1:00",
            "2025-02-01 10:0",
            "2025-2-01 10:00",
            "2025-02-1",
            "20250-02-01",
            "+2025-02-01",
            "2025-02-01  10:00",
            "2025-02-01 10:00 ",
            " 2025-02-01",
            "2025-02-01 10:00:00.",
            "2025-02-01 10:00.5",
            "2025-02-01 10:00:00,5",
            "2025-02-01t10:00",
            "2025-02-111:00:00Z",
            "2025-02-01T1:00:00Z",
            "2025-2-01T10:00:00Z",
        ] {
            let reason = instant(text, New_York).unwrap_err();
            assert_eq!(
                reason,
                format!(
                    "`{text}` is not a time (expected 2025-03-01T10:00:00+01:00 or \
                     2025-03-01T10:00:00Z, or in America/New_York 2025-03-01T10:00:00, \
                     2025-03-01 10:00:00, 2025-03-01T10:00, 2025-03-01 10:00 or 2025-03-01; \
                     seconds may have a fraction, 10:00:00.5)"
                )
            );
        }
    }

    #[test]
    fn times_are_in_the_years_0000_to_9999_in_the_program_zone() {
        use chrono_tz::Pacific::Kiritimati;
        use chrono_tz::UTC;
        let local =
            |text, zone: Tz| instant(text, zone).map(|t| t.with_timezone(&zone).to_rfc3339());
        for (text, zone, expected) in [
            (
                "9999-12-31T23:00:00-05:00",
                New_York,
                "9999-12-31T23:00:00-05:00",
            ),
            ("9999-12-31 23:59:59", New_York, "9999-12-31T23:59:59-05:00"),
            (
                "9999-12-31T09:59:59Z",
                Kiritimati,
                "9999-12-31T23:59:59+14:00",
            ),
            ("0000-01-01T00:00:00Z", UTC, "0000-01-01T00:00:00+00:00"),
        ] {
            assert_eq!(local(text, zone), Ok(expected.to_owned()), "{text}");
        }
        for (text, zone, year) in [
            ("9999-12-31T23:00:00-09:00", New_York, 10000),
            ("9999-12-31T10:00:00Z", Kiritimati, 10000),
            ("0000-01-01T00:00:00+01:00", UTC, -1),
            ("0000-01-01T00:00:00Z", New_York, -1),
        ] {
            assert_eq!(
                local(text, zone),
                Err(format!(
                    "`{text}` is in the year {year} in {zone}, the program's time zone; \
                     a time must be in the years 0000 to 9999 there"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal("4.50"), Some(dec("4.50")));
        assert_eq!(decimal("4.50").map(|d| d.to_string()), Some("4.50".into()));
        assert_eq!(decimal("-3"), Some(dec("-3")));
        assert_eq!(decimal("+3"), Some(dec("3")));
        assert_eq!(decimal("0.1"), Some(dec("0.1")));
        assert_eq!(
            decimal("12345678901234567890.123456789"),
            Some(dec("12345678901234567890.123456789"))
        );
        assert_eq!(decimal("1.5e3"), Some(dec("1500")));
        assert_eq!(decimal("25E-2"), Some(dec("0.25")));
    }

    #[test]
    fn malformed_decimals_are_rejected() {
        for text in [
            "", "-", ".5", "5.", "1,000", "1_000", "1.2.3", "abc", "1e", "e5", "--1", "0x10",
            "NaN", "1e+", "1 000",
        ] {
            assert_eq!(decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn money_takes_the_program_currency_as_a_suffix() {
        let usd = Currency::of("USD").unwrap();
        assert_eq!(money("4.50", usd), Ok(dec("4.50")));
        assert_eq!(money("4.50 USD", usd), Ok(dec("4.50")));
        assert_eq!(money("4.50USD", usd), Ok(dec("4.50")));
        assert_eq!(money("0", usd), Ok(Decimal::ZERO));
        assert_eq!(money("1e2", usd), Ok(dec("100")));
        let other = money("4.50 EUR", usd).unwrap_err();
        assert_eq!(other, "`4.50 EUR` is not in this program's currency, USD");
        let negative = money("-1 USD", usd).unwrap_err();
        assert_eq!(negative, "`-1 USD` is negative; money never is");
        let junk = money("four", usd).unwrap_err();
        assert!(junk.starts_with("`four` is not money"), "{junk}");
        assert!(money("USD", usd).is_err());
        assert!(money("5 US", usd).is_err());
    }

    #[test]
    fn money_is_never_finer_than_the_currency_minor_unit() {
        let usd = Currency::of("USD").unwrap();
        let jpy = Currency::of("JPY").unwrap();
        let kwd = Currency::of("KWD").unwrap();
        assert_eq!(money("4.500", usd), Ok(dec("4.5")));
        assert_eq!(
            money("4.505", usd).unwrap_err(),
            "`4.505` is finer than USD allows: USD amounts have 2 decimals (ISO 4217)"
        );
        assert_eq!(money("1200 JPY", jpy), Ok(dec("1200")));
        assert_eq!(money("1.2e3", jpy), Ok(dec("1200")));
        assert!(money("1200.5", jpy).is_err());
        assert_eq!(money("0.125", kwd), Ok(dec("0.125")));
        assert!(money("0.1255", kwd).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// Local times read from their digits' places are chrono's, and a
        /// time without a fraction or leap second chrono reads is read so:
        /// whatever `whole_seconds` leaves to `formatted` needs chrono's
        /// formats.
        #[test]
        fn local_times_read_by_place_are_chronos(
            year in 0_u32..10_000,
            month in 0_u32..14,
            day in 0_u32..33,
            hour in 0_u32..26,
            minute in 0_u32..62,
            second in proptest::option::of(0_u32..62),
            clock in proptest::option::of(proptest::bool::ANY),
        ) {
            let mut text = format!("{year:04}-{month:02}-{day:02}");
            if let Some(t) = clock {
                text.push(if t { 'T' } else { ' ' });
                text.push_str(&format!("{hour:02}:{minute:02}"));
                if let Some(second) = second {
                    text.push_str(&format!(":{second:02}"));
                }
            }
            proptest::prop_assert!(local_shape(&text));
            // What chrono reads: a time by its formats, a date alone by
            // its date format, at midnight.
            let chrono = formatted(&text).or_else(|| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .ok()
                    .map(|day| day.and_time(NaiveTime::MIN))
            });
            match whole_seconds(&text) {
                Some(read) => proptest::prop_assert_eq!(Some(read), chrono, "{}", text),
                None => proptest::prop_assert!(
                    chrono.is_none() || second == Some(60) && clock.is_some(),
                    "{} is {:?} to chrono", text, chrono
                ),
            }
            proptest::prop_assert_eq!(
                date(&text[..10]),
                NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").ok()
            );
        }
    }

    #[test]
    fn a_fraction_of_a_second_is_read_by_chrono() {
        let zone = chrono_tz::UTC;
        assert_eq!(
            instant("2025-03-01 10:00:00.25", zone),
            Ok(utc("2025-03-01T10:00:00.25Z"))
        );
        assert_eq!(whole_seconds("2025-03-01 10:00:00.25"), None);
    }

    #[test]
    fn dates_and_booleans() {
        assert_eq!(date("2025-02-28"), NaiveDate::from_ymd_opt(2025, 2, 28));
        assert_eq!(date("2025-02-29"), None);
        assert_eq!(date("2025-02-28T10:00"), None);
        for text in [
            "2025-2-28",
            "2025-02-1",
            "02025-02-01",
            "+2025-02-01",
            " 2025-02-01",
        ] {
            assert_eq!(date(text), None, "{text}");
        }
        assert_eq!(boolean("true"), Some(true));
        assert_eq!(boolean("FALSE"), Some(false));
        assert_eq!(boolean("yes"), None);
    }
}
