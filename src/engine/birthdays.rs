//! Rules `on birthday`: the clock makes a `birthday` event for a member at
//! the start of their birthday (local midnight, 28 February for a 29
//! February birthday in other years) and runs the rules on it like on any
//! event. One birthday is queued per member at a time: the next is queued
//! when one comes, so a member idle for years costs one firing a year.

use super::{DueKind, Engine};
use crate::compile::calendar;
use crate::compile::ir::{BuiltinEvent, EventTypeId, Program, Value};
use crate::events::{Body, Event, Origin};
use chrono::{DateTime, NaiveDate, Utc};

/// The `birthday` event type, if a rule fires on it (else no birthday is
/// ever queued, and a program without such rules runs as if it had none).
fn celebrated(program: &Program) -> Option<EventTypeId> {
    program
        .events
        .iter()
        .position(|e| e.builtin == Some(BuiltinEvent::Birthday) && !e.rules.is_empty())
}

/// The id a birthday's rows carry in the ledger's event column: no record
/// made it, so it is named by its day, `birthday:2025-03-07`.
pub(super) fn birthday_id(day: NaiveDate) -> String {
    format!("birthday:{day}")
}

impl Engine<'_> {
    /// Queues member `m`'s first birthday that starts after `after`, if the
    /// program celebrates birthdays and the member's is known.
    pub(super) fn schedule_birthday(&mut self, m: usize, after: DateTime<Utc>) {
        let program = self.program;
        if celebrated(program).is_none() {
            return;
        }
        let birthday = program
            .birthday()
            .and_then(|i| self.members.get(m)?.attributes.get(i));
        let Some(Value::Date(birthday)) = birthday else {
            return;
        };
        if let Some((_, start)) = calendar::next_birthday(program.timezone, after, *birthday) {
            self.schedule(start, m, DueKind::Birthday);
        }
    }

    /// Member `m`'s birthday has started at `at`: the rules `on birthday`
    /// run on an event of the clock's, then the next birthday is queued.
    /// An award that cannot be computed (`engine::rules`) is not made, as
    /// a record would be rejected; the explanation says why.
    pub(super) fn celebrate(&mut self, m: usize, at: DateTime<Utc>) {
        let program = self.program;
        let Some((kind, member)) = celebrated(program).zip(self.members.get(m)) else {
            return;
        };
        let day = calendar::local(program.timezone, at).date();
        let event = Event {
            id: birthday_id(day),
            time: at,
            member: member.id.to_string(),
            kind,
            body: Body::Plain,
            fields: Vec::new(),
            origin: Origin {
                file: "".into(),
                line: 0,
            },
        };
        // Clock work done before it is told before it.
        self.observe_entries();
        let explained = self
            .explanation
            .as_mut()
            .filter(|e| e.member == event.member);
        if let Some(explanation) = explained {
            explanation.event(&event, program);
        }
        self.wake_reviews(m, at);
        let source = self.current_event.replace(event.id.as_str().into());
        if let Err(refusal) = self.earn(m, &event) {
            let explained = self
                .explanation
                .as_mut()
                .filter(|e| e.member == event.member);
            if let Some(explanation) = explained {
                explanation.rejected(&event, &refusal.reason);
            }
        }
        self.current_event = source;
        self.observe_entries();
        self.schedule_birthday(m, at);
    }
}
