//! One synthetic member: when they join and leave, their attributes, and
//! their events month by month, every number drawn from the member's own
//! random stream. The stream depends only on (seed, run, member), and the
//! draws are made in a fixed order whatever the engine does (a redemption
//! chance is drawn for every visit, used or not), so a member's draws are
//! the same for any thread count and for any program run on the scenario.

use super::plan::{Activity, Plan, ValueDraw};
use crate::compile::calendar;
use crate::compile::ir::{PerkId, RewardId, Value};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Geometric, LogNormal, Poisson, StandardUniform, Uniform};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Bits of the ChaCha stream number that hold the member's index; the run
/// is above them.
pub const MEMBER_BITS: u32 = 40;

/// The most events of one type a member makes in a month: a guard against
/// a scenario that asks for millions.
const MOST_PER_MONTH: f64 = 10_000.0;

/// The random generator of member `index` in `run`: ChaCha8 keyed by the
/// seed, on stream `run × 2^40 + index`.
pub fn stream(seed: u64, run: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((run << MEMBER_BITS) | index);
    rng
}

/// An event a member will send, with the chances drawn for what may follow it.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Enroll(Vec<Value>),
    Activity {
        /// Index into [`Plan::activities`].
        activity: usize,
        fields: Vec<Value>,
        chances: Chances,
    },
    Redeem(RewardId),
    Return {
        of: String,
        amount: Decimal,
    },
    UsePerk(PerkId),
}

/// Uniform draws in [0, 1) made with each activity, for the decisions the
/// shard takes after applying it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chances {
    pub redeem: f64,
    pub reward: f64,
    /// One per perk used after this activity.
    pub perks: Vec<f64>,
    /// For purchases when the scenario has returns.
    pub ret: Option<ReturnChances>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReturnChances {
    pub happens: f64,
    pub after_days: u32,
    pub partial: f64,
    pub share: f64,
}

pub struct Synthetic {
    pub id: String,
    /// A member of the plan's book, not of the scenario: enrolled before
    /// the simulation starts.
    pub carried: bool,
    rng: ChaCha8Rng,
    pub joined: DateTime<Utc>,
    pub join_month: usize,
    /// The first month the member no longer comes (`months` when they stay).
    pub leaves: usize,
    /// Each activity's rate factor for this member.
    factors: Vec<f64>,
    /// The next month whose events are not drawn yet.
    next_month: usize,
    /// Events by (time, number): the number makes the event id.
    queue: BTreeMap<(DateTime<Utc>, u64), Planned>,
    seq: u64,
}

impl Synthetic {
    /// Member `index` of `run`: the first `initial` enrol on the first day,
    /// the others `joins_per_month` a month; past the scenario's own
    /// population, the members of the plan's book (`--from-state`), there
    /// from the first instant and not enrolled again.
    pub fn new(plan: &Plan, run: u64, index: u64) -> Synthetic {
        let mut rng = stream(plan.seed, run, index);
        let carried = plan.carried(index);
        let join_month = match index.checked_sub(plan.initial) {
            _ if carried.is_some() => 0,
            None => 0,
            Some(later) => usize::try_from(later / plan.joins_per_month.max(1)).unwrap_or(0),
        };
        let month_start = plan
            .month_starts
            .get(join_month)
            .copied()
            .unwrap_or_default();
        let joined = if carried.is_some() {
            month_start
        } else if index < plan.initial {
            let day = calendar::local(plan.timezone, month_start).date();
            time_in_hours(&mut rng, plan, day, plan.enroll_hours)
        } else {
            let end = plan.month_starts.get(join_month + 1).copied();
            let day = day_between(&mut rng, plan, month_start, end.unwrap_or(month_start));
            time_in_hours(&mut rng, plan, day, plan.enroll_hours)
        };
        let attributes = plan
            .attributes
            .iter()
            .map(|draw| value(&mut rng, draw, plan.start))
            .collect();
        let stays = match Geometric::new(plan.churn) {
            Ok(g) if plan.churn > 0.0 => g.sample(&mut rng),
            _ => u64::MAX,
        };
        let leaves = usize::try_from(stays)
            .unwrap_or(usize::MAX)
            .saturating_add(join_month + 1)
            .min(plan.months());
        let factors = plan
            .activities
            .iter()
            .map(|a| {
                let sigma = a.rate.spread.0;
                LogNormal::new(-sigma * sigma / 2.0, sigma).map_or(1.0, |d| d.sample(&mut rng))
            })
            .collect();
        let mut member = Synthetic {
            id: carried.map_or_else(|| member_id(index), |c| c.member.clone()),
            carried: carried.is_some(),
            rng,
            joined,
            join_month,
            leaves,
            factors,
            next_month: join_month,
            queue: BTreeMap::new(),
            seq: 0,
        };
        if !member.carried {
            member.schedule(joined, Planned::Enroll(attributes));
        }
        member
    }

    /// Adds an event at `at`; returns its id.
    pub fn schedule(&mut self, at: DateTime<Utc>, planned: Planned) -> String {
        self.seq += 1;
        self.queue.insert((at, self.seq), planned);
        self.event_id(self.seq)
    }

    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.id)
    }

    /// The time of the member's next event, drawing months as needed.
    pub fn next_time(&mut self, plan: &Plan) -> Option<DateTime<Utc>> {
        loop {
            let first = self.queue.keys().next().map(|(t, _)| *t);
            let drawn_to = plan.month_starts.get(self.next_month).copied();
            match drawn_to {
                Some(start)
                    if self.next_month < self.leaves && first.is_none_or(|t| t >= start) =>
                {
                    self.draw_month(plan);
                }
                _ => return first,
            }
        }
    }

    /// The next event with its id.
    pub fn pop(&mut self) -> Option<(DateTime<Utc>, String, Planned)> {
        let ((time, seq), planned) = self.queue.pop_first()?;
        Some((time, self.event_id(seq), planned))
    }

    /// Draws the events of month `next_month`: for each activity a Poisson
    /// count (the member's rate, prorated in the month they join), then each
    /// event's time, fields and chances.
    fn draw_month(&mut self, plan: &Plan) {
        let month = self.next_month;
        self.next_month += 1;
        let (Some(&start), Some(&end)) = (
            plan.month_starts.get(month),
            plan.month_starts.get(month + 1),
        ) else {
            return;
        };
        let from = start.max(self.joined + Duration::minutes(1));
        let share = if end > from {
            (end - from).num_seconds() as f64 / (end - start).num_seconds().max(1) as f64
        } else {
            0.0
        };
        for (a, activity) in plan.activities.iter().enumerate() {
            let factor = self.factors.get(a).copied().unwrap_or(1.0);
            let mean = (activity.rate.poisson.0 * factor * share).min(MOST_PER_MONTH);
            let count = match Poisson::new(mean) {
                Ok(p) if mean > 0.0 => p.sample(&mut self.rng) as u64,
                _ => 0,
            };
            for _ in 0..count {
                let day = day_between(&mut self.rng, plan, from, end);
                let time = time_in_hours(&mut self.rng, plan, day, activity.hours)
                    .clamp(from, end - Duration::minutes(1));
                let planned = self.draw_activity(plan, a, activity);
                self.schedule(time, planned);
            }
        }
    }

    fn draw_activity(&mut self, plan: &Plan, a: usize, activity: &Activity) -> Planned {
        let rng = &mut self.rng;
        let fields = activity
            .fields
            .iter()
            .map(|draw| value(rng, draw, plan.start))
            .collect();
        let redeem = uniform(rng);
        let reward = uniform(rng);
        let perks = activity.perks.iter().map(|_| uniform(rng)).collect();
        let ret = match (&plan.returns, activity.is_purchase_event) {
            (Some((_, returns)), true) => Some(ReturnChances {
                happens: uniform(rng),
                after_days: Uniform::new_inclusive(1, returns.within_days.0)
                    .map_or(1, |d| d.sample(rng)),
                partial: uniform(rng),
                share: uniform(rng),
            }),
            _ => None,
        };
        Planned::Activity {
            activity: a,
            fields,
            chances: Chances {
                redeem,
                reward,
                perks,
                ret,
            },
        }
    }
}

/// Member ids sort like their indices: `m0000042`.
pub fn member_id(index: u64) -> String {
    format!("m{index:07}")
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    StandardUniform.sample(rng)
}

/// A local day from the one `from` falls on to the last before `end`.
fn day_between(
    rng: &mut ChaCha8Rng,
    plan: &Plan,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> NaiveDate {
    let first = calendar::local(plan.timezone, from).date();
    let last = calendar::local(plan.timezone, end - Duration::nanoseconds(1)).date();
    let days = (last - first).num_days().max(0);
    let offset = Uniform::new_inclusive(0, days).map_or(0, |d| d.sample(rng));
    first + Duration::days(offset)
}

/// A minute on `day` within `hours`, as an instant in the program's zone.
fn time_in_hours(
    rng: &mut ChaCha8Rng,
    plan: &Plan,
    day: NaiveDate,
    hours: super::scenario::Hours,
) -> DateTime<Utc> {
    let minute = Uniform::new(hours.from * 60, hours.to * 60).map_or(0, |d| d.sample(rng));
    let local = day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(i64::from(minute));
    calendar::instant(plan.timezone, local)
}

/// One field's value. Floating-point draws become decimals right here,
/// rounded to their places, so no float reaches the engine.
fn value(rng: &mut ChaCha8Rng, draw: &ValueDraw, start: NaiveDate) -> Value {
    match draw {
        ValueDraw::Missing => Value::Missing,
        ValueDraw::Mix(values) => {
            let u = uniform(rng);
            values
                .iter()
                .find(|(_, cumulative)| u < *cumulative)
                .or(values.last())
                .map_or(Value::Missing, |(v, _)| v.clone())
        }
        ValueDraw::Poisson { mean, plus } => {
            let n = match Poisson::new(*mean) {
                Ok(p) if *mean > 0.0 => p.sample(rng) as i64,
                _ => 0,
            };
            Value::Number(Decimal::from(n.saturating_add(*plus)))
        }
        ValueDraw::Integers { lo, hi } => {
            let n = Uniform::new_inclusive(*lo, *hi).map_or(*lo, |d| d.sample(rng));
            Value::Number(Decimal::from(n))
        }
        ValueDraw::LogNormal {
            mu,
            sigma,
            decimals,
        } => {
            let x = LogNormal::new(*mu, *sigma).map_or(0.0, |d| d.sample(rng));
            Value::Number(fixed(x, *decimals))
        }
        ValueDraw::Age { lo, hi } => {
            // Born after the day `hi + 1` years before the start, and on or
            // before the day `lo` years before it.
            let years_before = |years: u32| start.checked_sub_months(Months::new(years * 12));
            match (years_before(hi + 1), years_before(*lo)) {
                (Some(earliest), Some(latest)) => {
                    let days = (latest - earliest).num_days();
                    let offset =
                        Uniform::new_inclusive(1, days.max(1)).map_or(1, |d| d.sample(rng));
                    Value::Date(earliest + Duration::days(offset))
                }
                _ => Value::Missing,
            }
        }
    }
}

/// `x` as a decimal with `places` places, rounded half away from zero; a
/// draw too large for that (never in a sane scenario) is capped.
pub fn fixed(x: f64, places: u32) -> Decimal {
    let scale = 10f64.powi(places as i32);
    let scaled = (x * scale).round().clamp(0.0, 1e18);
    Decimal::from_i128_with_scale(scaled as i128, places)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rounds_to_its_places() {
        assert_eq!(fixed(6.404_999, 2), Decimal::new(640, 2));
        assert_eq!(fixed(6.405_001, 2), Decimal::new(641, 2));
        assert_eq!(fixed(1234.6, 0), Decimal::from(1235));
        assert_eq!(
            fixed(f64::INFINITY, 2),
            Decimal::from_i128_with_scale(1_000_000_000_000_000_000, 2)
        );
        assert_eq!(fixed(-3.0, 2), Decimal::ZERO);
    }

    #[test]
    fn streams_differ_by_seed_run_and_member_and_repeat_exactly() {
        let first = |seed, run, index| -> [f64; 3] {
            let mut rng = stream(seed, run, index);
            [uniform(&mut rng), uniform(&mut rng), uniform(&mut rng)]
        };
        assert_eq!(first(42, 0, 7), first(42, 0, 7));
        assert_ne!(first(42, 0, 7), first(43, 0, 7));
        assert_ne!(first(42, 0, 7), first(42, 1, 7));
        assert_ne!(first(42, 0, 7), first(42, 0, 8));
    }

    #[test]
    fn member_ids_sort_like_indices() {
        assert!(member_id(9) < member_id(10));
        assert_eq!(member_id(42), "m0000042");
    }
}
