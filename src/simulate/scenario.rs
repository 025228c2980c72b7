//! The scenario file: a synthetic population described in YAML (who joins
//! and leaves, how often they come, what they spend, how they redeem), read
//! strictly so that every mistake is an error naming the field and its line.
//! The format is documented in `docs/simulation.md`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use crate::file_error::FileError;

/// A scenario as written. [`super::plan::Plan`] checks it against a program.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The default seed; `--seed` overrides it.
    pub seed: u64,
    /// The first day simulated, in the program's time zone.
    #[serde(deserialize_with = "date")]
    pub start: NaiveDate,
    /// How many calendar months are simulated from `start`.
    pub months: Months,
    pub members: Members,
    /// Purchases per member and month; without it, members make no purchases.
    #[serde(default)]
    pub visits_per_month: Option<Rate>,
    /// A purchase's `amount`.
    #[serde(default)]
    pub ticket: Option<Draw>,
    /// The local hours purchases happen in.
    #[serde(default)]
    pub hours: Hours,
    /// The fields the program adds to `purchase`.
    #[serde(default, deserialize_with = "unique")]
    pub fields: BTreeMap<String, Draw>,
    /// The member attributes sent with `enroll`.
    #[serde(default, deserialize_with = "unique")]
    pub attributes: BTreeMap<String, Draw>,
    /// Event types the program declares (`flight`, `stay`), by name.
    #[serde(default, deserialize_with = "unique")]
    pub events: BTreeMap<String, EventSpec>,
    #[serde(default)]
    pub redeem: Option<Redeem>,
    #[serde(default)]
    pub returns: Option<Returns>,
    /// Perk uses, by perk name.
    #[serde(default, deserialize_with = "unique")]
    pub perks: BTreeMap<String, PerkUse>,
}

/// The number of months simulated: 1 to 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Months(pub u32);

impl TryFrom<u32> for Months {
    type Error = String;
    fn try_from(months: u32) -> Result<Self, String> {
        if (1..=600).contains(&months) {
            Ok(Months(months))
        } else {
            Err(format!("{months} months: between 1 and 600, please"))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// Members enrolled on the first day.
    pub initial: u32,
    /// Members joining in each month, the first included, on days drawn at random.
    #[serde(default)]
    pub joins_per_month: u32,
    /// The chance that a member leaves at the start of each month after the
    /// one they joined in. A member who left comes no more; their points stay
    /// until they expire.
    #[serde(default)]
    pub churn_per_month: Share,
}

/// A fraction from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Share(pub f64);

impl TryFrom<f64> for Share {
    type Error = String;
    fn try_from(share: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&share) {
            Ok(Share(share))
        } else {
            Err(format!("{share} is not a share: between 0 and 1, please"))
        }
    }
}

/// How often something happens to a member in a month.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The mean count per month, drawn from a Poisson distribution.
    pub poisson: NonNegative,
    /// How much members differ: each member's own mean is the mean times a
    /// log-normal factor with this sigma and mean 1. 0: all alike.
    #[serde(default)]
    pub spread: NonNegative,
}

/// A finite number, 0 or more.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct NonNegative(pub f64);

impl TryFrom<f64> for NonNegative {
    type Error = String;
    fn try_from(x: f64) -> Result<Self, String> {
        if x.is_finite() && x >= 0.0 {
            Ok(NonNegative(x))
        } else {
            Err(format!("{x}: a number of 0 or more, please"))
        }
    }
}

/// Local hours `[from, to)` in which events happen: `[7, 22]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub from: u32,
    pub to: u32,
}

impl Default for Hours {
    fn default() -> Self {
        Hours { from: 8, to: 20 }
    }
}

impl TryFrom<[u32; 2]> for Hours {
    type Error = String;
    fn try_from([from, to]: [u32; 2]) -> Result<Self, String> {
        if from < to && to <= 24 {
            Ok(Hours { from, to })
        } else {
            Err(format!(
                "[{from}, {to}] are not opening hours: [from, to] with 0 <= from < to <= 24"
            ))
        }
    }
}

/// Events of a type the program declares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub per_month: Rate,
    /// Every field of the type.
    #[serde(default, deserialize_with = "unique")]
    pub fields: BTreeMap<String, Draw>,
    #[serde(default)]
    pub hours: Hours,
    /// Whether it counts as a purchase for the repeat-purchase rate (a
    /// flight or a stay does; a referral does not).
    #[serde(default)]
    pub purchase: bool,
    /// The money field that counts as sales (`spend` of a stay).
    #[serde(default)]
    pub sales: Option<String>,
}

/// When members redeem: after an event, if a reward's points type holds at
/// least `when_balance_at_least` available points, with `probability`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    pub when_balance_at_least: Decimal,
    pub probability: Share,
    /// Which reward they want, by name and share; without it, the dearest
    /// reward they can afford.
    #[serde(default)]
    pub rewards: Option<Mix>,
}

/// Returns of purchases.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Returns {
    /// The share of purchases returned.
    pub probability: Share,
    /// A return comes 1 to this many days after the purchase.
    pub within_days: Days,
    /// The share of returns that give back part of the purchase (a uniform
    /// share of its amount) rather than all of it.
    #[serde(default)]
    pub partial: Share,
}

/// A number of days, 1 to 3,650.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(pub u32);

impl TryFrom<u32> for Days {
    type Error = String;
    fn try_from(days: u32) -> Result<Self, String> {
        if (1..=3650).contains(&days) {
            Ok(Days(days))
        } else {
            Err(format!("{days} days: between 1 and 3650, please"))
        }
    }
}

/// A perk used after events of type `with`, with `probability`, by members
/// whose tier has it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerkUse {
    pub with: String,
    pub probability: Share,
}

/// Values and their shares: `{ app: 0.6, store: 0.4 }`. The shares add up to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(pub Vec<(String, f64)>);

impl<'de> Deserialize<'de> for Mix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map: BTreeMap<String, Share> = unique(deserializer)?;
        mix(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// A map by name in which a name given twice is an error (a plain map
/// would keep the last silently).
fn unique<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, T>, D::Error> {
    struct Unique<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Unique<T> {
        type Value = BTreeMap<String, T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of names")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if entries.contains_key(&key) {
                    return Err(de::Error::custom(format!("`{key}` is given twice")));
                }
                let value = map.next_value()?;
                entries.insert(key, value);
            }
            Ok(entries)
        }
    }
    deserializer.deserialize_map(Unique(PhantomData))
}

/// Checks that a mix names each value once and its shares add up to 1
/// (within rounding).
fn mix<E: de::Error>(entries: Vec<(String, f64)>) -> Result<Mix, E> {
    let total: f64 = entries.iter().map(|(_, share)| share).sum();
    if let Some((value, _)) = entries
        .iter()
        .enumerate()
        .find(|(i, (v, _))| entries.iter().take(*i).any(|(w, _)| w == v))
        .map(|(_, e)| e)
    {
        return Err(E::custom(format!("`{value}` is given twice")));
    }
    if entries.is_empty() {
        return Err(E::custom("an empty mix: give values and their shares"));
    }
    if (total - 1.0).abs() > 1e-6 {
        return Err(E::custom(format!("the shares add up to {total}, not 1")));
    }
    Ok(Mix(entries))
}

/// How one field's values are drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Draw {
    /// One of some values: `{ app: 0.6, store: 0.4 }`.
    Mix(Mix),
    /// A whole number from a Poisson distribution, plus a constant:
    /// `{ poisson: 1.2, plus: 1 }`.
    Poisson { mean: f64, plus: i64 },
    /// A whole number from `lo` to `hi`, each as likely: `{ integers: [1, 12] }`.
    Integers { lo: i64, hi: i64 },
    /// A log-normal amount: `{ lognormal: { median: 6.40, sigma: 0.45 } }`,
    /// rounded to `decimals` places (2 unless given).
    LogNormal(LogNormal),
    /// A date of birth for an age, in whole years at the start, from `lo` to
    /// `hi`, each day as likely: `{ age: [18, 80] }`.
    Age { lo: u32, hi: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogNormal {
    pub median: Positive,
    pub sigma: NonNegative,
    #[serde(default = "two")]
    pub decimals: Decimals,
}

fn two() -> Decimals {
    Decimals(2)
}

/// A finite number above 0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Positive(pub f64);

impl TryFrom<f64> for Positive {
    type Error = String;
    fn try_from(x: f64) -> Result<Self, String> {
        if x.is_finite() && x > 0.0 {
            Ok(Positive(x))
        } else {
            Err(format!("{x}: a number above 0, please"))
        }
    }
}

/// Decimal places of a drawn amount, 0 to 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimals(pub u32);

impl TryFrom<u32> for Decimals {
    type Error = String;
    fn try_from(places: u32) -> Result<Self, String> {
        if places <= 6 {
            Ok(Decimals(places))
        } else {
            Err(format!("{places} decimals: 6 at most, please"))
        }
    }
}

/// The keys that name a distribution rather than a value of a mix.
pub const DISTRIBUTIONS: [&str; 4] = ["poisson", "integers", "lognormal", "age"];

impl<'de> Deserialize<'de> for Draw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DrawVisitor)
    }
}

struct DrawVisitor;

impl<'de> Visitor<'de> for DrawVisitor {
    type Value = Draw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a mix of values and shares ({ app: 0.6, store: 0.4 }), or one of \
             { poisson: MEAN }, { integers: [LO, HI] }, \
             { lognormal: { median: M, sigma: S } }, { age: [LO, HI] }",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Draw, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "an empty map: give a mix of values and shares, or a distribution",
            ));
        };
        let only = |map: &mut A, what: &str| -> Result<(), A::Error> {
            match map.next_key::<String>()? {
                None => Ok(()),
                Some(key) => Err(de::Error::custom(format!(
                    "`{key}` beside `{what}`: a distribution is given alone"
                ))),
            }
        };
        let draw = match first.as_str() {
            "poisson" => {
                let mean = map.next_value::<NonNegative>()?.0;
                let plus = match map.next_key::<String>()? {
                    None => 0,
                    Some(key) if key == "plus" => {
                        let plus = map.next_value::<i64>()?;
                        only(&mut map, "poisson")?;
                        plus
                    }
                    Some(key) => {
                        return Err(de::Error::custom(format!(
                            "`{key}` beside `poisson`: only `plus` may follow it"
                        )))
                    }
                };
                Draw::Poisson { mean, plus }
            }
            "integers" => {
                let [lo, hi] = map.next_value::<[i64; 2]>()?;
                if lo > hi {
                    return Err(de::Error::custom(format!(
                        "integers [{lo}, {hi}]: the first is the lowest"
                    )));
                }
                only(&mut map, "integers")?;
                Draw::Integers { lo, hi }
            }
            "lognormal" => {
                let spec = map.next_value::<LogNormal>()?;
                only(&mut map, "lognormal")?;
                Draw::LogNormal(spec)
            }
            "age" => {
                let [lo, hi] = map.next_value::<[u32; 2]>()?;
                if lo > hi || hi > 130 {
                    return Err(de::Error::custom(format!(
                        "age [{lo}, {hi}]: the youngest first, 130 at most"
                    )));
                }
                only(&mut map, "age")?;
                Draw::Age { lo, hi }
            }
            _ => {
                let mut entries = vec![(first, map.next_value::<Share>()?.0)];
                while let Some(key) = map.next_key::<String>()? {
                    if DISTRIBUTIONS.contains(&key.as_str()) {
                        return Err(de::Error::custom(format!(
                            "`{key}` in a mix: a distribution is given alone"
                        )));
                    }
                    entries.push((key, map.next_value::<Share>()?.0));
                }
                Draw::Mix(mix(entries)?)
            }
        };
        Ok(draw)
    }
}

// Values are checked inside the visitor of their own node, so the
// parser's error names their key and line; a check after deserializing
// (`#[serde(try_from)]`) would name only the enclosing map.

/// A number checked by `T::try_from`.
struct Checked<T, R>(PhantomData<(T, R)>);

impl<'de, T: TryFrom<f64, Error = String>> Visitor<'de> for Checked<T, f64> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::try_from(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_f64(v as f64)
    }
}

impl<'de, T: TryFrom<u32, Error = String>> Visitor<'de> for Checked<T, u32> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        let v = u32::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))?;
        T::try_from(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))?;
        self.visit_u64(v)
    }
}

macro_rules! checked {
    ($t:ty, f64) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_f64(Checked::<$t, f64>(PhantomData))
            }
        }
    };
    ($t:ty, u32) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_u32(Checked::<$t, u32>(PhantomData))
            }
        }
    };
}

checked!(Share, f64);
checked!(NonNegative, f64);
checked!(Positive, f64);
checked!(Months, u32);
checked!(Days, u32);
checked!(Decimals, u32);

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pair;
        impl<'de> Visitor<'de> for Pair {
            type Value = Hours;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[from, to]: two hours")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Hours, A::Error> {
                let mut next = || -> Result<u32, A::Error> {
                    seq.next_element()?
                        .ok_or_else(|| de::Error::custom("[from, to]: two hours"))
                };
                let pair = [next()?, next()?];
                if seq.next_element::<u32>()?.is_some() {
                    return Err(de::Error::custom("[from, to]: two hours, no more"));
                }
                Hours::try_from(pair).map_err(de::Error::custom)
            }
        }
        d.deserialize_seq(Pair)
    }
}

fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    struct Date;
    impl Visitor<'_> for Date {
        type Value = NaiveDate;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date (YYYY-MM-DD)")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<NaiveDate, E> {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| E::custom(format!("`{text}` is not a date (expected YYYY-MM-DD)")))
        }
    }
    deserializer.deserialize_str(Date)
}

impl Scenario {
    /// Reads a scenario from YAML text.
    pub fn parse(text: &str) -> Result<Scenario, FileError> {
        serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            // The message ends with " at line L column C"; the line is kept apart.
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .and_then(|at| message.get(..at))
                .unwrap_or(&message)
                .to_string();
            FileError::new(line, message)
        })
    }
}

/// The line (1-based) where the key path `path` is written in `source`:
/// each key is looked for after the previous one, as `key:` at the start
/// of a line or after `{`, `,` or a space. `None` when not found.
pub fn line_of(source: &str, path: &[&str]) -> Option<usize> {
    let mut from = 0;
    for key in path {
        let pattern = format!("{key}:");
        let at = source
            .get(from..)?
            .match_indices(&pattern)
            .map(|(i, _)| from + i)
            .find(|&i| {
                let before = source.get(..i).and_then(|s| s.chars().next_back());
                matches!(
                    before,
                    None | Some('\n' | ' ' | '{' | ',' | '\t' | '"' | '\'')
                )
            })?;
        from = at + pattern.len();
    }
    Some(source.get(..from)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 10 }\n";

    fn error(text: &str) -> FileError {
        Scenario::parse(text).unwrap_err()
    }

    #[test]
    fn the_brief_example_reads() {
        let text = "seed: 42
start: 2026-01-01
months: 36
members: { initial: 100000, joins_per_month: 4000, churn_per_month: 0.015 }
visits_per_month: { poisson: 3.8 }
ticket: { lognormal: { median: 6.40, sigma: 0.45 } }
fields:
  channel: { app: 0.6, store: 0.4 }
  category: { coffee: 0.7, food: 0.3 }
redeem: { when_balance_at_least: 150, probability: 0.55 }
";
        let s = Scenario::parse(text).unwrap();
        assert_eq!(s.seed, 42);
        assert_eq!(s.months, Months(36));
        assert_eq!(s.members.joins_per_month, 4000);
        assert_eq!(s.members.churn_per_month, Share(0.015));
        assert_eq!(s.visits_per_month.unwrap().poisson, NonNegative(3.8));
        assert_eq!(
            s.ticket,
            Some(Draw::LogNormal(LogNormal {
                median: Positive(6.40),
                sigma: NonNegative(0.45),
                decimals: Decimals(2)
            }))
        );
        assert_eq!(
            s.fields.get("channel"),
            Some(&Draw::Mix(Mix(vec![
                ("app".into(), 0.6),
                ("store".into(), 0.4)
            ])))
        );
        assert_eq!(s.redeem.unwrap().when_balance_at_least, Decimal::from(150));
        assert_eq!(s.hours, Hours { from: 8, to: 20 });
    }

    #[test]
    fn every_distribution_reads() {
        let text = format!(
            "{MINIMAL}attributes:\n  a: {{ poisson: 1.5, plus: 1 }}\n  b: {{ integers: [1, 12] }}\n  \
             c: {{ age: [18, 80] }}\n  d: {{ true: 0.2, false: 0.8 }}\n  \
             e: {{ lognormal: {{ median: 900, sigma: 0.8, decimals: 0 }} }}\n"
        );
        let s = Scenario::parse(&text).unwrap();
        let get = |k: &str| s.attributes.get(k).cloned().unwrap();
        assert_eq!(get("a"), Draw::Poisson { mean: 1.5, plus: 1 });
        assert_eq!(get("b"), Draw::Integers { lo: 1, hi: 12 });
        assert_eq!(get("c"), Draw::Age { lo: 18, hi: 80 });
        assert_eq!(
            get("d"),
            Draw::Mix(Mix(vec![("true".into(), 0.2), ("false".into(), 0.8)]))
        );
        assert!(matches!(get("e"), Draw::LogNormal(l) if l.decimals == Decimals(0)));
    }

    #[test]
    fn errors_name_the_field_and_its_line() {
        let cases = [
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 10, joins: 5 }\n",
                "members: unknown field `joins`",
                4,
            ),
            (
                "seed: 1\nstart: 2026-02-30\nmonths: 12\nmembers: { initial: 10 }\n",
                "start: `2026-02-30` is not a date",
                2,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 0\nmembers: { initial: 10 }\n",
                "months: 0 months: between 1 and 600",
                3,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers:\n  initial: 10\n  churn_per_month: 1.5\n",
                "members.churn_per_month: 1.5 is not a share",
                6,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: ten }\n",
                "members.initial: invalid type: string \"ten\"",
                4,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 1 }\nfields:\n  channel: { app: 0.6, store: 0.3 }\n",
                "fields.channel: the shares add up to 0.8999999999999999, not 1",
                6,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 1 }\nticket: { lognormal: { median: 6.4 } }\n",
                "ticket.lognormal: missing field `sigma`",
                5,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 1 }\nticket: { poisson: 3, lognormal: 2 }\n",
                "ticket: `lognormal` beside `poisson`",
                5,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 1 }\nvisits: { poisson: 3 }\n",
                "unknown field `visits`, expected one of",
                5,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\nmembers: { initial: 1 }\nhours: [20, 8]\n",
                "hours: [20, 8] are not opening hours",
                5,
            ),
            (
                "seed: 1\nstart: 2026-01-01\nmonths: 12\n",
                "missing field `members`",
                1,
            ),
        ];
        for (text, message, line) in cases {
            let e = error(text);
            assert!(
                e.message.starts_with(message),
                "{text}\n{e} does not start with {message}"
            );
            assert_eq!(e.line, Some(line), "{text}\n{e}");
        }
    }

    #[test]
    fn lines_of_key_paths() {
        let text =
            "seed: 1\nfields:\n  channel: { app: 0.6, store: 0.4 }\n  category:\n    coffee: 1\n";
        assert_eq!(line_of(text, &["fields"]), Some(2));
        assert_eq!(line_of(text, &["fields", "channel", "store"]), Some(3));
        assert_eq!(line_of(text, &["fields", "category", "coffee"]), Some(5));
        assert_eq!(line_of(text, &["fields", "nothing"]), None);
        // `seed:` inside another word is not the key.
        assert_eq!(line_of("reseed: 2\nseed: 1\n", &["seed"]), Some(2));
    }
}
