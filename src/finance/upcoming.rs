//! What is coming, as of `--until`: the points that will expire in the next
//! 30, 60 and 90 days (per member and points type, bucket expiries and
//! inactivity expiries alike), and the members the next tier review would
//! move down if nothing more happened. For `--report upcoming`.

use crate::compile::calendar;
use crate::compile::ir::{ExpiryRule, Program};
use crate::engine::Engine;
use crate::table::Table;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;

/// The windows, in days after the as-of instant: (first day, last day).
pub const WINDOWS: [(i64, i64); 3] = [(0, 30), (31, 60), (61, 90)];

/// Points of one member and type expiring in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub member: String,
    pub points: String,
    /// An index into [`WINDOWS`].
    pub window: usize,
    pub amount: Decimal,
    /// The first expiry in the window.
    pub first: DateTime<Utc>,
}

/// A member the next review would move down.
#[derive(Debug, Clone, PartialEq)]
pub struct Downgrade {
    pub member: String,
    pub tier: String,
    pub to: String,
    pub at: DateTime<Utc>,
    /// Per `by` measure with a `from` threshold on the member's tier: its
    /// value at the review and what it lacks to keep the tier.
    pub short: Vec<(String, Decimal, Decimal)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upcoming {
    pub as_of: DateTime<Utc>,
    pub expiring: Vec<Expiring>,
    pub downgrades: Vec<Downgrade>,
}

/// The window an expiry at `at` falls in, counting calendar days in the
/// program's zone: day 0 is the day just after `as_of` begins (with
/// `--until DAY`, the next day), and points count on the last day they
/// are valid: an expiry at midnight closes the day before.
fn window_of(tz: chrono_tz::Tz, as_of: DateTime<Utc>, at: DateTime<Utc>) -> Option<usize> {
    if at <= as_of {
        return None;
    }
    let instant = Duration::nanoseconds(1);
    let first = calendar::local(tz, as_of + instant).date();
    let last_valid = calendar::local(tz, at - instant).date();
    let days = (last_valid - first).num_days().max(0);
    WINDOWS
        .iter()
        .position(|(first, last)| (*first..=*last).contains(&days))
}

pub fn upcoming(engine: &Engine, as_of: DateTime<Utc>) -> Upcoming {
    let program = engine.program();
    let mut expiring: BTreeMap<(String, usize, usize), (Decimal, DateTime<Utc>)> = BTreeMap::new();
    for member in engine.members() {
        for (p, (points, wallet)) in program.points.iter().zip(&member.wallets).enumerate() {
            if points.qualifying {
                continue;
            }
            let mut add = |at: DateTime<Utc>, amount: Decimal| {
                if let Some(w) =
                    window_of(program.timezone, as_of, at).filter(|_| amount > Decimal::ZERO)
                {
                    let slot = expiring
                        .entry((member.id.to_string(), p, w))
                        .or_insert((Decimal::ZERO, at));
                    slot.0 += amount;
                    slot.1 = slot.1.min(at);
                }
            };
            match points.expiry {
                ExpiryRule::Inactivity(term) => {
                    // Points a rule gave an expiry of their own go at it,
                    // if that comes first; the rest go together.
                    let lapse = (wallet.activity().and_then(|a| a.last))
                        .map(|last| calendar::after(program.timezone, last, term));
                    let mut rest = wallet.balance();
                    for bucket in wallet.buckets() {
                        let own = bucket.expires_at.filter(|at| lapse.is_none_or(|l| *at < l));
                        if let Some(at) = own {
                            add(at, bucket.amount);
                            rest -= bucket.amount;
                        }
                    }
                    if let Some(lapse) = lapse {
                        add(lapse, rest);
                    }
                }
                _ => {
                    for bucket in wallet.buckets() {
                        if let Some(at) = bucket.expires_at {
                            add(at, bucket.amount);
                        }
                    }
                }
            }
        }
    }
    let expiring = expiring
        .into_iter()
        .map(|((member, p, window), (amount, first))| Expiring {
            member,
            points: program
                .points
                .get(p)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            window,
            amount,
            first,
        })
        .collect();
    let downgrades = engine
        .projected_downgrades(as_of)
        .into_iter()
        .map(|d| downgrade(program, d))
        .collect();
    Upcoming {
        as_of,
        expiring,
        downgrades,
    }
}

fn downgrade(program: &Program, d: crate::engine::Projected) -> Downgrade {
    let tiers = program.tiers.as_ref();
    let name = |rank: usize| {
        tiers
            .and_then(|t| t.tiers.get(rank))
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let thresholds = tiers
        .and_then(|t| t.tiers.get(d.tier))
        .and_then(|t| t.values.clone())
        .unwrap_or_default();
    let short = thresholds
        .iter()
        .enumerate()
        .map(|(i, threshold)| {
            let value = d.measures.get(i).copied().unwrap_or_default();
            let measure = tiers
                .and_then(|t| t.measure_names.get(i))
                .cloned()
                .unwrap_or_default();
            (measure, value, (*threshold - value).max(Decimal::ZERO))
        })
        .collect();
    Downgrade {
        member: d.member,
        tier: name(d.tier),
        to: name(d.to),
        at: d.at,
        short,
    }
}

fn window_name(w: usize) -> String {
    WINDOWS
        .get(w)
        .map_or(String::new(), |(first, last)| format!("{first}-{last}"))
}

impl Upcoming {
    /// `upcoming_expiry.csv`: member, points, days, amount, first expiry.
    pub fn write_expiry_csv<W: Write>(&self, program: &Program, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["member", "points", "days", "amount", "first_expiry"])?;
        for e in &self.expiring {
            csv.write_record([
                e.member.clone(),
                e.points.clone(),
                window_name(e.window),
                e.amount.to_string(),
                calendar::rfc3339(program.timezone, e.first),
            ])?;
        }
        csv.flush()?;
        Ok(())
    }

    /// `upcoming_tiers.csv`: member, tier, projected tier, review, and what
    /// each measure lacks to keep the tier.
    pub fn write_tiers_csv<W: Write>(&self, program: &Program, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["member", "tier", "projected", "review", "short_of"])?;
        for d in &self.downgrades {
            let short: Vec<String> = d
                .short
                .iter()
                .map(|(measure, value, lacking)| {
                    format!("{measure} {value} (needs {lacking} more)")
                })
                .collect();
            csv.write_record([
                d.member.clone(),
                d.tier.clone(),
                d.to.clone(),
                calendar::rfc3339(program.timezone, d.at),
                short.join(" or "),
            ])?;
        }
        csv.flush()?;
        Ok(())
    }

    /// Totals per points type and window, and the number of downgrades.
    pub fn text(&self, program: &Program) -> String {
        format!(
            "{}\n{} member(s) projected to move down at their next review",
            self.totals(program).text(),
            self.downgrades.len()
        )
    }

    /// The points expiring per points type (not qualifying) and window.
    pub fn totals(&self, program: &Program) -> Table {
        let mut table = Table::new(&["points", "expiring in 0-30 days", "31-60", "61-90"]);
        for points in program.points.iter().filter(|p| !p.qualifying) {
            let sum = |w: usize| -> Decimal {
                self.expiring
                    .iter()
                    .filter(|e| e.points == points.name && e.window == w)
                    .map(|e| e.amount)
                    .sum()
            };
            table.push(vec![
                points.name.clone(),
                sum(0).to_string(),
                sum(1).to_string(),
                sum(2).to_string(),
            ]);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::window_of;
    use crate::engine::replay::Until;
    use chrono::{DateTime, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn an_expiry_at_midnight_counts_on_the_day_before() {
        let tz = chrono_tz::America::New_York;
        let as_of = "2025-11-30".parse::<Until>().unwrap().instant(tz);
        let window = |text| window_of(tz, as_of, at(text));
        // Day 0 is 1 December; valid through 31 December is day 30.
        assert_eq!(window("2025-12-01T00:00:00-05:00"), Some(0));
        assert_eq!(window("2026-01-01T00:00:00-05:00"), Some(0));
        // Valid into 1 January: day 31.
        assert_eq!(window("2026-01-01T00:01:00-05:00"), Some(1));
        // Valid through 28 February is day 89, into 1 March day 90; 2
        // March is past the last window, and what expires before day 0
        // starts is in none.
        assert_eq!(window("2026-03-01T00:00:00-05:00"), Some(2));
        assert_eq!(window("2026-03-01T09:00:00-05:00"), Some(2));
        assert_eq!(window("2026-03-02T09:00:00-05:00"), None);
        assert_eq!(window("2025-11-30T23:00:00-05:00"), None);
    }
}
