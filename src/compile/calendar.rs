//! Calendar arithmetic in the program's time zone: local times, period
//! boundaries, terms, and the keys that caps, limits and budgets count by.
//! Every calendar question is asked in one zone, the program's.

use crate::compile::ir::{ExpiryRule, Term};
use crate::syntax::ast::{CalendarUnit, Period, TimeUnit};
use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use std::cell::Cell;
use std::thread::LocalKey;

/// The last conversions each way, per thread. Applying one event turns
/// its time into local time several times over (rules, tier measures,
/// pending and expiry dates), and a month's awards share their expiry day;
/// a zone lookup is a search of the zone's history (a tenth of a run's
/// instructions before these).
type Memo<K, V> = Cell<[Option<(K, V)>; MEMO]>;

/// How many conversions each memo keeps: an event's time, its member's
/// enrolment, its pending, return and expiry dates.
const MEMO: usize = 4;

thread_local! {
    static LOCAL_TIMES: Memo<(Tz, DateTime<Utc>), NaiveDateTime> = const { Cell::new([None; MEMO]) };
    static INSTANTS: Memo<(Tz, NaiveDateTime), DateTime<Utc>> = const { Cell::new([None; MEMO]) };
    /// Days' starts on their own, as a month's awards share their expiry
    /// day while the times of events and their terms change with each.
    static DAY_STARTS: Memo<(Tz, NaiveDate), DateTime<Utc>> = const { Cell::new([None; MEMO]) };
}

/// `compute(key)`, or what it gave for `key` if that was one of the last
/// `MEMO` asked.
fn remembered<K: Copy + PartialEq + 'static, V: Copy + 'static>(
    memo: &'static LocalKey<Memo<K, V>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    memo.with(|memo| {
        let last = memo.get();
        if let Some((_, value)) = last.iter().flatten().find(|(k, _)| *k == key) {
            return *value;
        }
        let value = compute();
        let mut next = [None; MEMO];
        next[0] = Some((key, value));
        next[1..].copy_from_slice(&last[..MEMO - 1]);
        memo.set(next);
        value
    })
}

/// The wall-clock time of an instant in the program's zone.
pub fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    remembered(&LOCAL_TIMES, (tz, t), || t.with_timezone(&tz).naive_local())
}

/// An instant as the zone's clock shows it, in RFC 3339 with its offset:
/// how every report writes a time.
pub fn rfc3339(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// The instant of a wall-clock time. A time skipped by a DST change moves
/// forward by the length of the gap: it is read with the offset in force
/// before the clocks jumped, so 02:30 on a night they jump from 02:00 to
/// 03:00 is 03:30 (as java.time and Temporal read it). A repeated time takes
/// the earlier instant.
pub fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    remembered(&INSTANTS, (tz, local), || look_up_instant(tz, local))
}

fn look_up_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    earliest(tz, local)
        .or_else(|| in_gap(tz, local))
        // Unreachable with real zone data; read the time as UTC rather than fail.
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// The earlier instant of a wall-clock time; `None` if the clocks skip it.
fn earliest(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// A wall-clock time the clocks skip, read with the offset in force just
/// before they jumped.
fn in_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // The first whole minute after `local` that exists is less than a minute
    // past the jump (zones change offset on a whole minute, and the oldest
    // offsets within seconds of one); a minute before it, the old offset was
    // still in force. The longest gap on record is a day (Samoa, December
    // 2011).
    let mut probe = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..=24 * 60 {
        probe = probe.checked_add_signed(chrono::Duration::minutes(1))?;
        if let Some(end) = earliest(tz, probe) {
            let just_before = end.checked_sub_signed(chrono::Duration::minutes(1))?;
            let offset = tz.offset_from_utc_datetime(&just_before.naive_utc()).fix();
            return offset
                .from_local_datetime(&local)
                .single()
                .map(|t| t.with_timezone(&Utc));
        }
    }
    None
}

/// Midnight at the start of a local date, as an instant.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    remembered(&DAY_STARTS, (tz, date), || {
        look_up_instant(tz, date.and_time(chrono::NaiveTime::MIN))
    })
}

/// The first day of the calendar unit that contains `date` (weeks start on Monday).
pub fn unit_start(unit: CalendarUnit, date: NaiveDate) -> NaiveDate {
    let first_of = |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date);
    match unit {
        CalendarUnit::Day => date,
        CalendarUnit::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        CalendarUnit::Month => first_of(date.month()),
        CalendarUnit::Quarter => first_of((date.month0() / 3) * 3 + 1),
        CalendarUnit::Year => first_of(1),
    }
}

/// The first day after the calendar unit that contains `date`, moved on by
/// `extra` more units: `at end of year + 1` is `next_unit_start(Year, d, 1)`.
pub fn next_unit_start(unit: CalendarUnit, date: NaiveDate, extra: u32) -> NaiveDate {
    let start = unit_start(unit, date);
    let steps = extra.saturating_add(1);
    let shifted = match unit {
        CalendarUnit::Day => start.checked_add_days(Days::new(u64::from(steps))),
        CalendarUnit::Week => start.checked_add_days(Days::new(7 * u64::from(steps))),
        CalendarUnit::Month => start.checked_add_months(Months::new(steps)),
        CalendarUnit::Quarter => start.checked_add_months(Months::new(steps.saturating_mul(3))),
        CalendarUnit::Year => start.checked_add_months(Months::new(steps.saturating_mul(12))),
    };
    shifted.unwrap_or(NaiveDate::MAX)
}

/// The first start of a period after `date`, for periods of `unit` counted
/// from `anchor` (`calendar year from 2025-04-01` starts every 1 April).
/// Each start is counted from the anchor itself, so a 31st clamped to a
/// shorter month returns to the 31st.
pub fn next_anchored_start(unit: CalendarUnit, anchor: NaiveDate, date: NaiveDate) -> NaiveDate {
    let by_days = |step: i64| {
        let k = (date - anchor).num_days().div_euclid(step) + 1;
        anchor
            .checked_add_signed(chrono::Duration::days(k * step))
            .unwrap_or(NaiveDate::MAX)
    };
    let months: u32 = match unit {
        CalendarUnit::Day => return by_days(1),
        CalendarUnit::Week => return by_days(7),
        CalendarUnit::Month => 1,
        CalendarUnit::Quarter => 3,
        CalendarUnit::Year => 12,
    };
    let nth = |k: i64| {
        let shift =
            Months::new(u32::try_from(k.unsigned_abs() * u64::from(months)).unwrap_or(u32::MAX));
        if k >= 0 {
            anchor.checked_add_months(shift)
        } else {
            anchor.checked_sub_months(shift)
        }
    };
    let apart = i64::from(date.year() - anchor.year()) * 12 + i64::from(date.month())
        - i64::from(anchor.month());
    // The start found this way is at most one period early: step on.
    let mut k = apart.div_euclid(i64::from(months)) - 1;
    loop {
        match nth(k) {
            Some(start) if start > date => return start,
            Some(_) => k += 1,
            None => return NaiveDate::MAX,
        }
    }
}

/// A wall-clock time moved on by a term; month ends clamp (31 Aug + 6 months
/// is 28 or 29 Feb).
pub fn add_term(local: NaiveDateTime, term: Term) -> NaiveDateTime {
    shift(local, term, true).unwrap_or(NaiveDateTime::MAX)
}

/// An instant moved back by a term, counted on the program's calendar.
pub fn before(tz: Tz, t: DateTime<Utc>, term: Term) -> DateTime<Utc> {
    shift(local(tz, t), term, false).map_or(DateTime::<Utc>::MIN_UTC, |t| instant(tz, t))
}

/// A wall-clock time moved on (`forward`) or back by a term; `None` past
/// the calendar's ends.
fn shift(local: NaiveDateTime, term: Term, forward: bool) -> Option<NaiveDateTime> {
    let count = u64::from(term.count);
    let (days, months) = match term.unit {
        TimeUnit::Day => (count, 0),
        TimeUnit::Week => (7 * count, 0),
        TimeUnit::Month => (0, count),
        TimeUnit::Year => (0, count.saturating_mul(12)),
    };
    let months = Months::new(u32::try_from(months).unwrap_or(u32::MAX));
    if forward {
        local
            .checked_add_days(Days::new(days))?
            .checked_add_months(months)
    } else {
        local
            .checked_sub_days(Days::new(days))?
            .checked_sub_months(months)
    }
}

/// An instant moved on by a term, counted on the program's calendar.
pub fn after(tz: Tz, t: DateTime<Utc>, term: Term) -> DateTime<Utc> {
    instant(tz, add_term(local(tz, t), term))
}

/// When points earned at `earned` expire under a rule with a fixed date:
/// `None` for points that never expire and for expiry after inactivity
/// (which depends on what the member does later).
pub fn expiry(tz: Tz, rule: ExpiryRule, earned: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match rule {
        ExpiryRule::Never | ExpiryRule::Inactivity(_) => None,
        ExpiryRule::AfterEarn { term, end_of: None } => Some(after(tz, earned, term)),
        ExpiryRule::AfterEarn {
            term,
            end_of: Some(unit),
        } => {
            let end = add_term(local(tz, earned), term).date();
            Some(start_of_day(tz, next_unit_start(unit, end, 0)))
        }
        ExpiryRule::EndOf { unit, plus } => {
            let date = local(tz, earned).date();
            Some(start_of_day(tz, next_unit_start(unit, date, plus)))
        }
    }
}

/// Which period a date falls in, as a number that is equal for dates in the
/// same period: the key caps, limits and budgets count by. It fits 32 bits
/// for every date chrono has (years within ±262,143: months to ±3.2
/// million, days to ±96 million), which keeps a member's counters small.
pub fn period_number(period: Period, date: NaiveDate) -> i32 {
    let year = date.year();
    // chrono's year bound makes these exact; saturating, they cannot wrap.
    match period {
        Period::Day => date.num_days_from_ce(),
        Period::Week => unit_start(CalendarUnit::Week, date).num_days_from_ce(),
        Period::Month => year.saturating_mul(12).saturating_add(date.month0() as i32),
        Period::Quarter => year
            .saturating_mul(4)
            .saturating_add((date.month0() / 3) as i32),
        Period::Year => year,
        Period::Lifetime => 0,
    }
}

/// `period_number`, widened: the key months are summed by in reports.
pub fn period_key(period: Period, date: NaiveDate) -> i64 {
    i64::from(period_number(period, date))
}

/// Days from `date` to the next birthday on or after it. A 29 February
/// birthday falls on 28 February in years without one.
pub fn days_to_birthday(date: NaiveDate, birthday: NaiveDate) -> i64 {
    let in_year = |year: i32| {
        NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
    };
    let this_year = in_year(date.year()).filter(|b| *b >= date);
    match this_year.or_else(|| in_year(date.year() + 1)) {
        Some(next) => (next - date).num_days(),
        None => 0,
    }
}

/// The start (local midnight) of the first birthday that starts after the
/// instant `after`, kept on 28 February for a 29 February birthday in
/// other years. A birthday on the day of `after` has started already, so
/// it is next year's.
pub fn next_birthday(tz: Tz, after: DateTime<Utc>, birthday: NaiveDate) -> Option<DateTime<Utc>> {
    let tomorrow = local(tz, after).date().succ_opt()?;
    let day = tomorrow.checked_add_days(Days::new(
        u64::try_from(days_to_birthday(tomorrow, birthday)).ok()?,
    ))?;
    Some(start_of_day(tz, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn remembered_conversions_are_the_zone_lookups_whatever_the_order() {
        let zones: [Tz; 3] = [
            "America/New_York".parse().unwrap(),
            "Europe/Paris".parse().unwrap(),
            "Pacific/Chatham".parse().unwrap(),
        ];
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
        // Hours around the spring changes, each zone and instant asked
        // several times in a shuffled order, so the memo both hits and misses.
        for i in 0..3000_i64 {
            let t = start + chrono::Duration::minutes((i * 7919) % (40 * 24 * 60));
            let tz = zones[usize::try_from(i % 3).unwrap()];
            let expected = t.with_timezone(&tz).naive_local();
            assert_eq!(local(tz, t), expected, "{tz} {t}");
            assert_eq!(local(tz, t), expected, "{tz} {t}, asked again");
            assert_eq!(instant(tz, expected), look_up_instant(tz, expected));
            let back = zones[usize::try_from((i + 1) % 3).unwrap()];
            assert_eq!(instant(back, expected), look_up_instant(back, expected));
        }
    }

    #[test]
    fn units_start_and_end() {
        assert_eq!(
            unit_start(CalendarUnit::Week, d("2025-03-06")),
            d("2025-03-03")
        );
        assert_eq!(
            unit_start(CalendarUnit::Quarter, d("2025-08-15")),
            d("2025-07-01")
        );
        assert_eq!(
            next_unit_start(CalendarUnit::Month, d("2024-12-15"), 0),
            d("2025-01-01")
        );
        assert_eq!(
            next_unit_start(CalendarUnit::Year, d("2025-05-01"), 1),
            d("2027-01-01")
        );
        assert_eq!(
            next_unit_start(CalendarUnit::Quarter, d("2025-11-30"), 0),
            d("2026-01-01")
        );
    }

    #[test]
    fn anchored_periods_count_from_their_date() {
        let year = |date| next_anchored_start(CalendarUnit::Year, d("2025-04-01"), d(date));
        assert_eq!(year("2025-03-31"), d("2025-04-01"));
        assert_eq!(year("2025-04-01"), d("2026-04-01"));
        assert_eq!(year("2031-12-31"), d("2032-04-01"));
        assert_eq!(year("2019-05-01"), d("2020-04-01"));
        // A 31st clamps in short months and comes back in long ones.
        let month = |date| next_anchored_start(CalendarUnit::Month, d("2025-01-31"), d(date));
        assert_eq!(month("2025-02-10"), d("2025-02-28"));
        assert_eq!(month("2025-02-28"), d("2025-03-31"));
        let quarter = |date| next_anchored_start(CalendarUnit::Quarter, d("2025-02-01"), d(date));
        assert_eq!(quarter("2025-12-15"), d("2026-02-01"));
        // Weeks keep the anchor's weekday (a Wednesday here).
        let week = |date| next_anchored_start(CalendarUnit::Week, d("2025-01-01"), d(date));
        assert_eq!(week("2025-01-07"), d("2025-01-08"));
        assert_eq!(week("2024-12-31"), d("2025-01-01"));
    }

    #[test]
    fn month_terms_clamp_to_month_end() {
        let t = d("2025-08-31").and_hms_opt(10, 0, 0).unwrap();
        let term = Term {
            count: 6,
            unit: TimeUnit::Month,
        };
        assert_eq!(
            add_term(t, term),
            d("2026-02-28").and_hms_opt(10, 0, 0).unwrap()
        );
    }

    #[test]
    fn the_next_birthday_starts_after_the_instant_at_local_midnight() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let next = |after: &str, birthday: &str| {
            let start = next_birthday(tz, at(after), d(birthday)).unwrap();
            rfc3339(tz, start)
        };
        // The day before: tomorrow's midnight, New York time.
        assert_eq!(
            next("2025-03-06T12:00:00-05:00", "1990-03-07"),
            "2025-03-07T00:00:00-05:00"
        );
        // On the day, even at its first instant: it has started, so next year.
        assert_eq!(
            next("2025-03-07T00:00:00-05:00", "1990-03-07"),
            "2026-03-07T00:00:00-05:00"
        );
        // 29 February: kept on the 28th in other years, on the 29th in leap years.
        assert_eq!(
            next("2025-01-10T09:00:00-05:00", "2000-02-29"),
            "2025-02-28T00:00:00-05:00"
        );
        assert_eq!(
            next("2025-02-28T09:00:00-05:00", "2000-02-29"),
            "2026-02-28T00:00:00-05:00"
        );
        assert_eq!(
            next("2027-03-01T09:00:00-05:00", "2000-02-29"),
            "2028-02-29T00:00:00-05:00"
        );
    }

    #[test]
    fn birthdays_on_29_february() {
        let birthday = d("2000-02-29");
        assert_eq!(days_to_birthday(d("2025-02-27"), birthday), 1);
        assert_eq!(days_to_birthday(d("2024-02-27"), birthday), 2);
        assert_eq!(days_to_birthday(d("2025-03-01"), birthday), 364);
    }

    #[test]
    fn dst_gap_moves_forward_by_its_length_and_overlap_takes_earlier() {
        let at = |zone: &str, date: &str, h, m, s| {
            let tz: Tz = zone.parse().unwrap();
            let local = d(date).and_hms_opt(h, m, s).unwrap();
            instant(tz, local).with_timezone(&tz).to_rfc3339()
        };
        // New York jumps from 02:00 to 03:00: an hour forward.
        let ny = "America/New_York";
        assert_eq!(at(ny, "2025-03-09", 2, 30, 0), "2025-03-09T03:30:00-04:00");
        assert_eq!(at(ny, "2025-03-09", 2, 15, 20), "2025-03-09T03:15:20-04:00");
        assert_eq!(at(ny, "2025-03-09", 2, 0, 0), "2025-03-09T03:00:00-04:00");
        // Lord Howe Island jumps half an hour, from 02:00 to 02:30.
        let lord_howe = "Australia/Lord_Howe";
        assert_eq!(
            at(lord_howe, "2025-10-05", 2, 10, 0),
            "2025-10-05T02:40:00+11:00"
        );
        // Samoa skipped 30 December 2011 whole: a day forward.
        assert_eq!(
            at("Pacific/Apia", "2011-12-30", 12, 0, 0),
            "2011-12-31T12:00:00+14:00"
        );
        // 01:30 happens twice when New York falls back: the earlier one.
        assert_eq!(at(ny, "2025-11-02", 1, 30, 0), "2025-11-02T01:30:00-04:00");
    }
}
