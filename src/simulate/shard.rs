//! One shard: a range of synthetic members run through one engine in time
//! order. Members never meet, so a shard's results do not depend on which
//! other members share it, except through program-wide budgets (programs
//! with budgets run all members in one shard). After each event the shard
//! reads the member's state to decide what follows it (a redemption, a perk
//! use, a return), and at each month's end it counts the KPIs.

use super::member::{Chances, Planned, Synthetic};
use super::plan::{Activity, Plan};
use super::stats::RunResult;
use crate::compile::calendar;
use crate::compile::ir::{Program, RewardId, Value};
use crate::currency::Currency;
use crate::engine::ledger::Entry;
use crate::engine::member::Counter;
use crate::engine::Engine;
use crate::events::{Body, Event, Origin, Redeem, Return};
use crate::finance::diff::MemberOutcome;
use crate::finance::liability::{Breakage, LiabilityBuilder};
use crate::report::kpis::{empty_tally, survey_score, MemberKpis, Tally};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::Range;

/// A member's place in the shard.
struct Seat {
    synthetic: Synthetic,
    kpis: MemberKpis,
    cost: Decimal,
}

struct Shard<'a> {
    program: &'a Program,
    plan: &'a Plan,
    engine: Engine<'a>,
    builder: LiabilityBuilder<'a>,
    seats: Vec<Seat>,
    /// Seats by member id.
    index: HashMap<String, usize>,
    tallies: Vec<Tally>,
    month: usize,
}

/// Runs members `range` of `run`.
pub fn run(
    program: &Program,
    plan: &Plan,
    run: u64,
    range: Range<u64>,
    keep_members: bool,
) -> RunResult {
    let months = plan.months();
    let mut engine = Engine::new(program);
    if keep_members {
        // Their points issued are read from their own totals.
        engine.keep_member_totals();
    }
    // The book's members in this shard, and what they hold; the book's
    // pools in the first shard (they hold points, and never act).
    let mut opening = vec![Decimal::ZERO; program.points.len()];
    if let Some(book) = plan.book.as_ref().filter(|_| range.start == 0) {
        for pool in &book.pools {
            engine.open(pool, book.as_of);
            pool.add_holdings(&mut opening);
        }
    }
    let seats: Vec<Seat> = range
        .map(|index| {
            let mut kpis = MemberKpis::default();
            if let (Some(carried), Some(book)) = (plan.carried(index), &plan.book) {
                engine.open(carried, book.as_of);
                kpis = MemberKpis::in_tier(carried.tier);
                carried.add_holdings(&mut opening);
            }
            Seat {
                synthetic: Synthetic::new(plan, run, index),
                kpis,
                cost: Decimal::ZERO,
            }
        })
        .collect();
    let mut shard = Shard {
        program,
        plan,
        engine,
        builder: LiabilityBuilder::new(program).with_opening(opening),
        index: seats
            .iter()
            .enumerate()
            .map(|(s, seat)| (seat.synthetic.id.clone(), s))
            .collect(),
        seats,
        tallies: vec![empty_tally(program); months],
        month: 0,
    };
    let mut next: BinaryHeap<Reverse<(DateTime<Utc>, usize)>> = BinaryHeap::new();
    for (s, seat) in shard.seats.iter_mut().enumerate() {
        if let Some(t) = seat.synthetic.next_time(plan) {
            next.push(Reverse((t, s)));
        }
    }
    let end = plan.month_starts.last().copied().unwrap_or_default();
    while let Some(Reverse((time, s))) = next.pop() {
        if time >= end {
            break;
        }
        while plan
            .month_starts
            .get(shard.month + 1)
            .is_some_and(|boundary| time >= *boundary)
        {
            shard.close_month();
        }
        shard.step(s);
        if let Some(t) = shard
            .seats
            .get_mut(s)
            .and_then(|seat| seat.synthetic.next_time(plan))
        {
            next.push(Reverse((t, s)));
        }
    }
    while shard.month < months {
        shard.close_month();
    }
    let until = end - Duration::nanoseconds(1);
    let table = shard.builder.finish(until, Breakage::Program);
    let members = if keep_members {
        shard
            .seats
            .iter()
            .map(|seat| {
                let id = &seat.synthetic.id;
                let state = shard.engine.member(id);
                (id.clone(), MemberOutcome::of(program, state, seat.cost))
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    RunResult {
        rows: table.rows,
        breakage_method: table.breakage_method,
        tallies: shard.tallies,
        members,
    }
}

impl Shard<'_> {
    /// Applies the member's next event and plans what follows it.
    fn step(&mut self, s: usize) {
        let plan = self.plan;
        let Some(seat) = self.seats.get_mut(s) else {
            return;
        };
        let Some((time, id, planned)) = seat.synthetic.pop() else {
            return;
        };
        let member = seat.synthetic.id.clone();
        let event = |kind, body, fields| Event {
            id: id.clone(),
            time,
            member: member.clone(),
            kind,
            body,
            fields,
            origin: Origin {
                file: "simulation".into(),
                line: 0,
            },
        };
        let month = self.month;
        let program = self.program;
        let (event, activity) = match &planned {
            Planned::Enroll(attributes) => {
                (event(plan.enroll, Body::Plain, attributes.clone()), None)
            }
            Planned::Activity {
                activity, fields, ..
            } => {
                let Some(a) = plan.activities.get(*activity) else {
                    return;
                };
                let mut fields = fields.clone();
                let builtin = program.events.get(a.kind).and_then(|t| t.builtin);
                // Typed as the reader types a record: one it would reject
                // (a purchase without its amount) is counted so.
                let Ok(body) = Body::take(builtin, &mut fields) else {
                    if let Some(tally) = self.tallies.get_mut(month) {
                        tally.rejected += 1;
                    }
                    return;
                };
                (event(a.kind, body, fields), Some(a))
            }
            Planned::Redeem(reward) => {
                let Some((kind, name)) = plan
                    .redeem
                    .as_ref()
                    .zip(program.rewards.get(*reward))
                    .map(|(r, w)| (r.kind, w.name.clone()))
                else {
                    return;
                };
                let body = Body::Redeem(Box::new(Redeem::Reward(name)));
                (event(kind, body, Vec::new()), None)
            }
            Planned::Return { of, amount } => {
                let Some((kind, _)) = plan.returns else {
                    return;
                };
                let body = Body::Return(Box::new(Return {
                    of: of.clone(),
                    amount: *amount,
                    items: Vec::new(),
                }));
                (event(kind, body, Vec::new()), None)
            }
            Planned::UsePerk(perk) => {
                let Some((kind, name)) = plan
                    .use_perk
                    .zip(program.perks.get(*perk))
                    .map(|(k, p)| (k, p.name.as_str().into()))
                else {
                    return;
                };
                (event(kind, Body::UsePerk { perk: name }, Vec::new()), None)
            }
        };
        let applied = self.engine.apply(&event).is_ok();
        let entries = self.engine.drain_ledger();
        self.builder.add(&entries);
        let Some(tally) = self.tallies.get_mut(month) else {
            return;
        };
        // The clock work before the event may be other members' (tier reviews).
        note_entries(&mut self.seats, &self.index, tally, month, &entries);
        if !applied {
            tally.rejected += 1;
            return;
        }
        let Some(seat) = self.seats.get_mut(s) else {
            return;
        };
        for e in entries.iter().filter(|e| e.member == member) {
            seat.cost += cost(e, program.currency);
        }
        match &planned {
            Planned::Return { amount, .. } => tally.sales -= *amount,
            Planned::Redeem(_) | Planned::UsePerk(_) | Planned::Enroll(_) => {}
            Planned::Activity {
                fields, chances, ..
            } => {
                let Some(a) = activity else { return };
                if a.counts_as_purchase {
                    seat.kpis.purchase(month);
                }
                if let Some(Value::Number(sales)) = a.sales.and_then(|f| fields.get(f)) {
                    tally.sales += *sales;
                }
                if let Some(score) = survey_score(program, &event) {
                    tally.response(score);
                }
                let amount = match event.body {
                    Body::Purchase { amount, .. } => amount,
                    _ => Decimal::ZERO,
                };
                self.follow(s, time, &id, a, amount, chances);
            }
        }
    }

    /// Plans a redemption, perk uses and a return after an activity, as the
    /// member's state and the activity's chances say.
    fn follow(
        &mut self,
        s: usize,
        time: DateTime<Utc>,
        id: &str,
        activity: &Activity,
        // What it bought, if it is a purchase: what a return gives back.
        amount: Decimal,
        chances: &Chances,
    ) {
        let plan = self.plan;
        let program = self.program;
        let Some(seat) = self.seats.get_mut(s) else {
            return;
        };
        let Some(state) = self.engine.member(&seat.synthetic.id) else {
            return;
        };
        let redeem_at = time + Duration::minutes(1);
        let reward = plan
            .redeem
            .as_ref()
            .filter(|r| chances.redeem < r.probability)
            .and_then(|r| {
                let affordable = |reward: RewardId| {
                    program.rewards.get(reward).is_some_and(|w| {
                        let available = state
                            .wallets
                            .get(w.points.index())
                            .map_or(Decimal::ZERO, |wallet| wallet.available(redeem_at));
                        available >= r.threshold && available >= w.price
                    })
                };
                if r.wanted.is_empty() {
                    // The dearest affordable, the first written on a tie.
                    (0..program.rewards.len())
                        .filter(|w| affordable(*w))
                        .min_by_key(|w| (Reverse(program.rewards.get(*w).map(|w| w.price)), *w))
                } else {
                    r.wanted
                        .iter()
                        .find(|(_, cumulative)| chances.reward < *cumulative)
                        .or(r.wanted.last())
                        .map(|(w, _)| *w)
                        .filter(|w| affordable(*w))
                }
            });
        let perks: Vec<_> = activity
            .perks
            .iter()
            .zip(&chances.perks)
            .filter_map(|(p, chance)| plan.perks.get(*p).filter(|p| *chance < p.probability))
            .filter(|p| {
                program.perks.get(p.perk).is_some_and(|perk| {
                    // Members use a perk while their tier has it and uses are left.
                    let used_up = perk.limit.is_some_and(|limit| {
                        let date = calendar::local(program.timezone, time).date();
                        let period = calendar::period_number(limit.period, date);
                        let key = self.engine.counter_key(Counter::PerkUsed(p.perk, period));
                        state.counted(key) >= Decimal::from(limit.count)
                    });
                    perk.tiers.contains(&state.tier()) && !used_up
                })
            })
            .map(|p| p.perk)
            .collect();
        if let Some(reward) = reward {
            seat.synthetic.schedule(redeem_at, Planned::Redeem(reward));
        }
        for perk in perks {
            seat.synthetic
                .schedule(time + Duration::minutes(2), Planned::UsePerk(perk));
        }
        let end = plan.month_starts.last().copied().unwrap_or_default();
        if let (Some((_, returns)), Some(ret)) = (plan.returns, chances.ret) {
            let at = time + Duration::days(i64::from(ret.after_days));
            let amount = if ret.partial < returns.partial.0 {
                // A part of the purchase, at least one minor unit.
                let currency = program.currency;
                currency
                    .round(amount * super::member::fixed(ret.share, 4))
                    .max(Decimal::new(1, currency.minor_units()))
                    .min(amount)
            } else {
                amount
            };
            if ret.happens < returns.probability.0 && at < end && amount > Decimal::ZERO {
                seat.synthetic.schedule(
                    at,
                    Planned::Return {
                        of: id.to_string(),
                        amount,
                    },
                );
            }
        }
    }

    /// Applies what is due by the month's end and counts its KPIs.
    fn close_month(&mut self) {
        let plan = self.plan;
        let month = self.month;
        self.month += 1;
        let Some(&end) = plan.month_starts.get(month + 1) else {
            return;
        };
        self.engine.advance_to(end - Duration::nanoseconds(1));
        let entries = self.engine.drain_ledger();
        self.builder.add(&entries);
        let Some(tally) = self.tallies.get_mut(month) else {
            return;
        };
        note_entries(&mut self.seats, &self.index, tally, month, &entries);
        for seat in &mut self.seats {
            let synthetic = &seat.synthetic;
            if synthetic.joined >= end {
                continue;
            }
            tally.enrolled += 1;
            tally.joined += u64::from(synthetic.join_month == month && !synthetic.carried);
            tally.left += u64::from(synthetic.leaves == month);
            seat.kpis.close(tally, month, synthetic.leaves > month);
        }
    }
}

/// Ledger rows of `month`, each to its member's KPIs.
fn note_entries(
    seats: &mut [Seat],
    index: &HashMap<String, usize>,
    tally: &mut Tally,
    month: usize,
    entries: &[Entry],
) {
    for e in entries {
        if let Some(seat) = index.get(e.member.as_str()).and_then(|&s| seats.get_mut(s)) {
            seat.kpis.entry(tally, month, e);
        }
    }
}

/// An entry's cost as the ledger writes it, in `currency`'s minor unit.
fn cost(entry: &Entry, currency: Currency) -> Decimal {
    entry.cost.map_or(Decimal::ZERO, |c| currency.round(c))
}
