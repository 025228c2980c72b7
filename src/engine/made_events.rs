//! Events loyalty makes itself, whose rules run like those on any event.
//! The clock makes `birthday`, `anniversary` and `month_start` for a member
//! at the start (local midnight) of their birthday, of the anniversary of
//! the day they enrolled, or of each month; a 29 February falls on 28
//! February in other years. One day of each kind is queued per member at
//! a time: the next is queued when one comes, so a member idle for years
//! costs one firing a year (twelve for month starts). The engine makes an
//! `upgrade` when a member moves up a tier, and a `tier_change` when they
//! move up or down, once what moved them is done; and an `expiry` when
//! points of a type of theirs expire by the clock, one for all that expire
//! at one instant; and a `tier_period_start` when their next tier period
//! starts.

use super::{DueKind, DuePoints, Engine};
use crate::compile::calendar;
use crate::compile::ir::{BuiltinEvent, EventTypeId, PointsId, Program, TierRank, Value};
use crate::events::{Body, Event, Origin};
use crate::syntax::ast::CalendarUnit;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Added to a day's place in scheduling order: at one instant, a member's
/// days come after the rest of their clock work (a period ending at that
/// midnight is reviewed, points expiring then are gone), as an event at
/// that instant would.
const AFTER_OTHER_WORK: u64 = 1 << 62;

/// Added to an expiry's place in scheduling order: at one instant, the
/// rules on a member's expiry run once every bucket of theirs expiring
/// then is gone (and the rest of their clock work then is done), before
/// their days.
const AFTER_EXPIRIES: u64 = 1 << 61;

/// A member's move between tiers, whose rules are still to run.
#[derive(Debug, Clone, Copy)]
pub(super) struct TierMove {
    member: usize,
    at: DateTime<Utc>,
    from: TierRank,
    to: TierRank,
}

/// A day of a member's that rules may fire on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum MemberDay {
    Birthday,
    /// Of the day the member enrolled.
    Anniversary,
    /// The first of every month.
    MonthStart,
}

impl MemberDay {
    pub(super) const ALL: [MemberDay; 3] = [
        MemberDay::Birthday,
        MemberDay::Anniversary,
        MemberDay::MonthStart,
    ];

    fn event(self) -> BuiltinEvent {
        match self {
            MemberDay::Birthday => BuiltinEvent::Birthday,
            MemberDay::Anniversary => BuiltinEvent::Anniversary,
            MemberDay::MonthStart => BuiltinEvent::MonthStart,
        }
    }

    /// Its event type, if a rule fires on it (else it is never queued, and
    /// a program without such rules runs as if they did not exist).
    fn celebrated(self, program: &Program) -> Option<EventTypeId> {
        with_rules(program, self.event())
    }
}

/// The id the rows of an event loyalty made carry in the ledger's event
/// column: no record made it, so it is named by its type and local day,
/// `birthday:2025-03-07`.
fn made_id(program: &Program, builtin: BuiltinEvent, at: DateTime<Utc>) -> String {
    let day = calendar::local(program.timezone, at).date();
    format!("{}:{day}", builtin.name())
}

impl Engine<'_> {
    /// Queues member `m`'s first day of the kind that starts after `after`,
    /// if a rule fires on it and the day is known (a birthday may not be).
    pub(super) fn schedule_member_day(&mut self, m: usize, day: MemberDay, after: DateTime<Utc>) {
        let program = self.program;
        if day.celebrated(program).is_none() {
            return;
        }
        let Some(member) = self.members.get(m) else {
            return;
        };
        let tz = program.timezone;
        let yearly = |date| calendar::next_birthday(tz, after, date);
        let start = match day {
            MemberDay::Anniversary => yearly(member.enrolled_on),
            MemberDay::Birthday => {
                let birthday = program.birthday().and_then(|i| member.attributes.get(i));
                let Some(Value::Date(birthday)) = birthday else {
                    return;
                };
                yearly(*birthday)
            }
            MemberDay::MonthStart => {
                let today = calendar::local(tz, after).date();
                let first = calendar::next_unit_start(CalendarUnit::Month, today, 0);
                Some(calendar::start_of_day(tz, first))
            }
        };
        if let Some(start) = start {
            self.seq += 1;
            let seq = AFTER_OTHER_WORK + self.seq;
            self.queue(start, m, seq, DueKind::MemberDay(day));
        }
    }

    /// Member `m`'s day has started at `at`: the rules on it run, then the
    /// next one is queued.
    pub(super) fn celebrate(&mut self, m: usize, day: MemberDay, at: DateTime<Utc>) {
        let program = self.program;
        if let Some(kind) = day.celebrated(program) {
            self.run_made_event(
                m,
                kind,
                made_id(program, day.event(), at),
                at,
                Vec::new(),
                None,
            );
            self.schedule_member_day(m, day, at);
        }
    }

    /// Notes that member `m` moved from tier `from` to `to` at `at`, for
    /// `fire_tier_moves`, if a rule is on such a move.
    pub(super) fn note_tier_move(
        &mut self,
        m: usize,
        from: TierRank,
        to: TierRank,
        at: DateTime<Utc>,
    ) {
        let program = self.program;
        let upgraded = to > from && upgrade_event(program).is_some();
        if upgraded || tier_change_event(program).is_some() {
            self.tier_moves.push(TierMove {
                member: m,
                at,
                from,
                to,
            });
        }
    }

    /// Notes that member `m`'s next tier period started at `at`, for
    /// `fire_tier_events`, if a rule is on it.
    pub(super) fn note_period_start(&mut self, m: usize, at: DateTime<Utc>) {
        if with_rules(self.program, BuiltinEvent::TierPeriodStart).is_some() {
            self.period_starts.push((m, at));
        }
    }

    /// Runs the rules on the moves noted, in the order they happened (for
    /// each, `on upgrade` if it is one, then `on tier_change`, all reading
    /// the tier that move reached), then those on the tier periods noted
    /// to start, and on what their awards make in turn. An award only
    /// raises measures, so it can only move a member up (and start a
    /// qualification year at most once per move): this ends by the top
    /// tier.
    pub(super) fn fire_tier_events(&mut self) {
        let program = self.program;
        while !self.tier_moves.is_empty() || !self.period_starts.is_empty() {
            for moved in std::mem::take(&mut self.tier_moves) {
                let TierMove {
                    member,
                    at,
                    from,
                    to,
                } = moved;
                if let Some(kind) = upgrade_event(program).filter(|_| to > from) {
                    let id = made_id(program, BuiltinEvent::Upgrade, at);
                    self.run_made_event(member, kind, id, at, Vec::new(), Some((from, to)));
                }
                if let Some(kind) = tier_change_event(program) {
                    let id = made_id(program, BuiltinEvent::TierChange, at);
                    self.run_made_event(member, kind, id, at, Vec::new(), Some((from, to)));
                }
            }
            let Some(kind) = with_rules(program, BuiltinEvent::TierPeriodStart) else {
                self.period_starts.clear();
                continue;
            };
            for (member, at) in std::mem::take(&mut self.period_starts) {
                let id = made_id(program, BuiltinEvent::TierPeriodStart, at);
                self.run_made_event(member, kind, id, at, Vec::new(), None);
            }
        }
    }

    /// Notes that `amount` points of type `p` of member `m` expired by the
    /// clock at `at`, if a rule is on expiry: the first at that instant
    /// queues the rules, which read the sum (a pool has no rules). Points
    /// expiring at that instant after the rules ran make no second run,
    /// so an award cannot make rules run again at one instant.
    pub(super) fn note_expiry(
        &mut self,
        m: usize,
        p: PointsId,
        amount: Decimal,
        at: DateTime<Utc>,
    ) {
        if expiry_event(self.program).is_none() || amount.is_zero() || self.is_pool(m) {
            return;
        }
        let Some(wallet) = self.wallet(m, p) else {
            return;
        };
        match wallet.expiring() {
            // Zero: the rules at this instant have run.
            Some((when, sum)) if when == at => {
                if !sum.is_zero() {
                    wallet.set_expiring((at, sum + amount));
                }
                return;
            }
            _ => wallet.set_expiring((at, amount)),
        }
        self.seq += 1;
        let seq = AFTER_EXPIRIES + self.seq;
        self.queue(at, m, seq, DueKind::Expired(DuePoints::of(p)));
    }

    /// Runs the rules on expiry for the points of type `p` member `m` lost
    /// at `at`: `expired` is how many, `points_type` the type's name.
    pub(super) fn fire_expiry(&mut self, m: usize, p: PointsId, at: DateTime<Utc>) {
        let program = self.program;
        let Some(kind) = expiry_event(program) else {
            return;
        };
        let Some(wallet) = self.wallet(m, p) else {
            return;
        };
        let Some((_, expired)) = wallet
            .expiring()
            .filter(|(when, sum)| *when == at && !sum.is_zero())
        else {
            return;
        };
        wallet.set_expiring((at, Decimal::ZERO));
        let name = program
            .points
            .get(p.index())
            .map_or("", |t| t.name.as_str());
        let fields = vec![Value::Number(expired), Value::Text(name.into())];
        let id = made_id(program, BuiltinEvent::Expiry, at);
        self.run_made_event(m, kind, id, at, fields, None);
    }

    /// Runs the rules on an event loyalty made, of type `kind`, for member
    /// `m` at `at`, its rows carrying `id` as their event, with the values
    /// of its type's `fields`, and on a move between tiers the tier left
    /// and the tier reached (`Engine::earn`). An award that cannot be
    /// computed (`engine::rules`) is not made, as a record's would be
    /// rejected; the explanation says why.
    fn run_made_event(
        &mut self,
        m: usize,
        kind: EventTypeId,
        id: String,
        at: DateTime<Utc>,
        fields: Vec<Value>,
        moved: Option<(TierRank, TierRank)>,
    ) {
        let program = self.program;
        let Some(member) = self.members.get(m) else {
            return;
        };
        let event = Event {
            id,
            time: at,
            member: member.id.to_string(),
            kind,
            body: Body::Plain,
            fields,
            origin: Origin {
                file: "".into(),
                line: 0,
            },
        };
        // The rows written before it are told before it.
        self.observe_entries();
        if let Some(explanation) = self.explanation_of(&event.member) {
            explanation.event(&event, program);
        }
        self.wake_reviews(m, at);
        let source = self.current_event.replace(event.id.as_str().into());
        if let Err(refusal) = self.earn(m, &event, moved) {
            if let Some(explanation) = self.explanation_of(&event.member) {
                explanation.rejected(&event, &refusal.reason);
            }
        }
        self.current_event = source;
        self.observe_entries();
    }
}

/// The `upgrade` event type, if a rule fires on it.
fn upgrade_event(program: &Program) -> Option<EventTypeId> {
    with_rules(program, BuiltinEvent::Upgrade)
}

/// The `tier_change` event type, if a rule fires on it.
fn tier_change_event(program: &Program) -> Option<EventTypeId> {
    with_rules(program, BuiltinEvent::TierChange)
}

/// The `expiry` event type, if a rule fires on it.
fn expiry_event(program: &Program) -> Option<EventTypeId> {
    with_rules(program, BuiltinEvent::Expiry)
}

/// Whether any rule fires on an event loyalty makes. Such an award is
/// refused when it would take a program-wide total past what loyalty
/// counts, which depends on every member: re-running a member for a late
/// event could not make its rows again from its own events alone, so they
/// are kept (`late::Histories`).
pub(super) fn makes_events(program: &Program) -> bool {
    program
        .events
        .iter()
        .any(|e| e.builtin.is_some_and(|b| b.made_by_loyalty()) && !e.rules.is_empty())
}

/// The built-in event type, if a rule fires on it.
fn with_rules(program: &Program, builtin: BuiltinEvent) -> Option<EventTypeId> {
    program
        .events
        .iter()
        .position(|e| e.builtin == Some(builtin) && !e.rules.is_empty())
}
