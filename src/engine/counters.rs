//! Counters in rules' expressions (`count of purchase in this month`,
//! `sum of purchase.amount over last 30 days`): what a member's events of a
//! type add up to in a window, the event being applied included. Calendar
//! windows keep one sum per counter and period; terms keep the dated
//! contributions inside the term, so memory follows the window, not the
//! history.

use super::member::Counter;
use super::Engine;
use crate::compile::calendar;
use crate::compile::ir::{CounterWindow, Measure, Value};
use crate::events::Event;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use smallvec::SmallVec;

impl Engine<'_> {
    /// Each of the program's counters for member `m`, `event` (dated `date`
    /// in the program's zone) included.
    pub(super) fn counters_at(
        &self,
        m: usize,
        event: &Event,
        date: NaiveDate,
    ) -> SmallVec<[Decimal; 4]> {
        let program = self.program;
        let Some(member) = self.members.get(m) else {
            return SmallVec::new();
        };
        let mut values = SmallVec::new();
        for (i, (measure, window)) in program.counters.iter().enumerate() {
            let before = match window {
                CounterWindow::This(unit) => member.counted(
                    self.counter_slots
                        .key(Counter::Events(i, period(*unit, date))),
                ),
                CounterWindow::Last(term) => {
                    let from = calendar::before(program.timezone, event.time, *term);
                    member
                        .rare
                        .iter()
                        .flat_map(|rare| &rare.counted_events)
                        .filter(|(at, c, _)| *c == i && *at > from)
                        .map(|(_, _, n)| *n)
                        .sum()
                }
            };
            values.push(before + contribution(*measure, event).unwrap_or_default());
        }
        values
    }

    /// Adds `event` to member `m`'s counters, and forgets contributions
    /// older than their counter's term.
    pub(super) fn count_event(&mut self, m: usize, event: &Event, date: NaiveDate) {
        let program = self.program;
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        for (i, (measure, window)) in program.counters.iter().enumerate() {
            let Some(added) = contribution(*measure, event) else {
                continue;
            };
            match window {
                CounterWindow::This(unit) => {
                    let key = self
                        .counter_slots
                        .key(Counter::Events(i, period(*unit, date)));
                    *member.counter(key) += added;
                }
                CounterWindow::Last(_) => {
                    (member.rare_mut().counted_events).push_back((event.time, i, added))
                }
            }
        }
        // Contributions come in time order: the oldest are in front.
        let past = |(at, i, _): &(chrono::DateTime<chrono::Utc>, usize, Decimal)| {
            program
                .counters
                .get(*i)
                .is_none_or(|(_, window)| match window {
                    CounterWindow::Last(term) => {
                        *at <= calendar::before(program.timezone, event.time, *term)
                    }
                    CounterWindow::This(_) => true,
                })
        };
        if let Some(rare) = member.rare.as_deref_mut() {
            while rare.counted_events.front().is_some_and(past) {
                rare.counted_events.pop_front();
            }
        }
    }
}

/// What `event` adds to a counter of `measure`: one for a count, the
/// field's value for a sum (nothing when the record left it empty); `None`
/// for an event of another type.
fn contribution(measure: Measure, event: &Event) -> Option<Decimal> {
    match measure {
        Measure::Count(kind) if kind == event.kind => Some(Decimal::ONE),
        Measure::FieldSum(kind, field) if kind == event.kind => match event.fields.get(field) {
            Some(Value::Number(n)) => Some(*n),
            _ => Some(Decimal::ZERO),
        },
        _ => None,
    }
}

/// The calendar period of `date` a counter over `unit` counts in, keyed by
/// its first day.
fn period(unit: crate::syntax::ast::CalendarUnit, date: NaiveDate) -> i32 {
    calendar::unit_start(unit, date).num_days_from_ce()
}
