//! Currencies as ISO 4217 defines them: the three-letter code and the
//! minor unit (how many decimals an amount has: JPY 0, USD 2, KWD 3), which
//! decide how money is parsed, rounded and printed everywhere. The ground
//! floor: the checker, the event readers and every report use it.

use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

/// A currency of payment from ISO 4217's list one, with its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

/// Codes whose minor unit is not 2, by minor unit (ISO 4217 list one, as
/// the maintenance agency, SIX, publishes it in 2025).
const NOT_TWO: &[(u8, &[&str])] = &[
    (
        0,
        &[
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VND", "VUV", "XAF", "XOF", "XPF",
        ],
    ),
    (3, &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]),
    (4, &["CLF", "UYW"]),
];

/// The codes of list one with two decimals, and three withdrawn since 2023
/// that histories still carry (ANG, SLL, ZWL).
const TWO: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN",
    "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

impl Currency {
    /// The currency with this code; `None` for a code that is not a
    /// currency of payment in ISO 4217 (`XAU`, gold, has no minor unit).
    pub fn of(code: &str) -> Option<Currency> {
        let minor_units = if TWO.contains(&code) {
            2
        } else {
            NOT_TWO
                .iter()
                .find(|(_, codes)| codes.contains(&code))
                .map(|(units, _)| *units)?
        };
        let code = code.as_bytes().try_into().ok()?;
        Some(Currency { code, minor_units })
    }

    /// Every code [`Currency::of`] knows, for suggestions.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        TWO.iter()
            .chain(NOT_TWO.iter().flat_map(|(_, codes)| codes.iter()))
            .copied()
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The code is three ASCII letters from the tables above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// How many decimals an amount has: 0 for JPY, 2 for USD, 3 for KWD.
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }

    /// Whether `amount` is a whole number of minor units (`4.50` USD is,
    /// `4.505` USD and `100.5` JPY are not).
    pub fn holds(&self, amount: Decimal) -> bool {
        amount.round_dp(self.minor_units()) == amount
    }

    /// The minor unit in words: `JPY amounts have no decimals (ISO 4217)`.
    pub fn unit_rule(&self) -> String {
        let places = match self.minor_units {
            0 => "no decimals".to_string(),
            1 => "one decimal".to_string(),
            n => format!("{n} decimals"),
        };
        format!("{self} amounts have {places} (ISO 4217)")
    }

    /// An amount to show in an example: `4.50` USD, `450` JPY, `0.450` KWD.
    pub fn example(&self) -> String {
        Decimal::new(450, self.minor_units()).to_string()
    }

    /// `amount` rounded to the minor unit, half away from zero: how the
    /// ledger writes costs, so sums of rounded costs match what it shows.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointAwayFromZero)
    }

    /// `amount` rounded to the minor unit, half to even: how liabilities
    /// are rounded.
    pub fn round_even(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointNearestEven)
    }

    /// `amount` as reports write it: rounded as [`Currency::round`], with
    /// exactly the minor unit's decimals (`4.50` USD, `450` JPY, `4.500` KWD).
    pub fn format(&self, amount: Decimal) -> String {
        format!("{:.*}", self.minor_units as usize, self.round(amount))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::of(&code).ok_or_else(|| {
            serde::de::Error::custom(format!("`{code}` is not an ISO 4217 currency code"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let units = |code: &str| Currency::of(code).map(|c| c.minor_units());
        assert_eq!(units("USD"), Some(2));
        assert_eq!(units("JPY"), Some(0));
        assert_eq!(units("KWD"), Some(3));
        assert_eq!(units("CLF"), Some(4));
        // Precious metals and testing codes are not currencies of payment.
        assert_eq!(units("XAU"), None);
        assert_eq!(units("XTS"), None);
        assert_eq!(units("usd"), None);
        assert_eq!(units("US"), None);
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut codes: Vec<&str> = Currency::codes().collect();
        let all = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all);
        assert!(codes
            .iter()
            .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn amounts_round_and_print_to_the_minor_unit() {
        let jpy = Currency::of("JPY").unwrap();
        let kwd = Currency::of("KWD").unwrap();
        let usd = Currency::of("USD").unwrap();
        assert_eq!(jpy.format(dec("1234.5")), "1235");
        assert_eq!(kwd.format(dec("1.2345")), "1.235");
        assert_eq!(usd.format(dec("2")), "2.00");
        assert_eq!(usd.format(dec("-0.125")), "-0.13");
        assert_eq!(usd.round_even(dec("0.125")), dec("0.12"));
        assert!(usd.holds(dec("4.500")));
        assert!(!usd.holds(dec("4.505")));
        assert!(!jpy.holds(dec("100.5")));
        assert!(kwd.holds(dec("0.125")));
        assert_eq!(kwd.to_string(), "KWD");
        assert_eq!(jpy.unit_rule(), "JPY amounts have no decimals (ISO 4217)");
        assert_eq!(usd.unit_rule(), "USD amounts have 2 decimals (ISO 4217)");
        assert_eq!([jpy.example(), usd.example()], ["450", "4.50"]);
    }
}
