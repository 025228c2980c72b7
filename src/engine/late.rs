//! Late events: an event older than the clock (backdated, or sent late) is
//! applied by re-running its member from enrolment with the event in its
//! place in time, on a scratch engine. The ledger stays append-only: the
//! rows the re-run changes are undone (each written again with its amount
//! negated, newest first) and the re-run's rows from the first difference
//! on are written after them. A program that declares `accept late events
//! up to N` rejects events further behind the clock than that.

use super::ledger::{Entry, EntryKind};
use super::member::Counter;
use super::{calendar, packed, Engine};
use crate::compile::ir::{EventKind, Program};
use crate::events::Event;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::Reverse;

/// What a member's re-run starts from: every event applied to the member,
/// in time order (packed, see `packed`), and, for a program with budgets,
/// every ledger row written for it. Without budgets a member's rows depend
/// on its events alone, so they are made again by a replay when needed
/// rather than kept (rows would take most of the memory).
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    events: Vec<u8>,
    entries: Vec<u8>,
    /// Whether the member ever gave or received points by transfer or a
    /// pool (its rows then depend on other members).
    linked: bool,
}

/// The histories of all members, by member slot.
#[derive(Debug, Default)]
pub(super) struct Histories {
    members: Vec<History>,
    files: packed::Files,
}

impl Histories {
    fn of(&mut self, m: usize) -> Option<&mut History> {
        if self.members.len() <= m {
            self.members.resize_with(m + 1, History::default);
        }
        self.members.get_mut(m)
    }
}

/// An instant as the program's clock shows it.
fn shown(program: &Program, t: DateTime<Utc>) -> impl std::fmt::Display {
    calendar::local(program.timezone, t).format("%Y-%m-%d %H:%M")
}

/// Whether a member's rows depend on other members through program-wide
/// budgets, so the rows written must be kept to be undone exactly.
fn keeps_rows(program: &Program) -> bool {
    program.rules.iter().any(|r| !r.budgets.is_empty())
}

impl<'p> Engine<'p> {
    /// Keeps what re-running a member needs, so that events older than the
    /// clock are applied rather than rejected. Call before the first event;
    /// a program that accepts no lateness (`up to 0 days`) keeps nothing.
    pub fn accept_late_events(&mut self) {
        let none_accepted = self.program.late_limit.is_some_and(|t| t.count == 0);
        if !none_accepted && self.members.is_empty() {
            self.history = Some(Histories::default());
        }
    }

    /// How many times a late event re-ran member slot `m`.
    pub(super) fn generation(&self, m: usize) -> u32 {
        self.generations.get(m).copied().unwrap_or(0)
    }

    /// Whether late events are re-run rather than rejected.
    pub(super) fn keeps_history(&self) -> bool {
        self.history.is_some()
    }

    /// Adds an applied event to its member's history (if one is kept).
    pub(super) fn remember_event(&mut self, event: &Event) {
        let m = self.index.get(&event.member).copied();
        if let (Some(history), Some(m)) = (self.history.as_mut(), m) {
            let Histories { members, files } = history;
            if members.len() <= m {
                members.resize_with(m + 1, History::default);
            }
            if let Some(h) = members.get_mut(m) {
                packed::pack(event, files, &mut h.events);
            }
        }
    }

    /// Adds ledger rows written since `start` to their members' histories.
    pub(super) fn remember_entries(&mut self, start: usize) {
        let keep = keeps_rows(self.program);
        let Some(history) = self.history.as_mut() else {
            return;
        };
        for entry in self.ledger.iter().skip(start) {
            let Some(&m) = self.index.get(&entry.member) else {
                continue;
            };
            if let Some(h) = history.of(m) {
                h.linked |= matches!(
                    entry.kind,
                    EntryKind::TransferIn
                        | EntryKind::TransferOut
                        | EntryKind::PoolJoin
                        | EntryKind::PoolLeave
                );
                if keep {
                    packed::pack_entry(entry, &mut h.entries);
                }
            }
        }
    }

    /// Applies an event older than the clock by re-running its member
    /// (`None` for an enrolment) with it; an error says why it cannot be,
    /// and then nothing changed.
    pub(super) fn apply_late(
        &mut self,
        event: &Event,
        member: Option<usize>,
        clock: DateTime<Utc>,
    ) -> Result<(), String> {
        let program = self.program;
        if let Some(limit) = program.late_limit {
            let oldest = calendar::before(program.timezone, clock, limit);
            if event.time < oldest {
                let unit = limit.unit.name();
                let plural = if limit.count == 1 { "" } else { "s" };
                let local = |t| calendar::local(program.timezone, t);
                return Err(format!(
                    "event at {} is {} day(s) late (the clock is at {}): the program accepts \
                     late events up to {} {unit}{plural}",
                    shown(program, event.time),
                    (local(clock).date() - local(event.time).date()).num_days(),
                    shown(program, clock),
                    limit.count
                ));
            }
        }
        let (old, old_events) = match (member, self.history.as_ref()) {
            (Some(m), Some(history)) => {
                let old = history.members.get(m).cloned().unwrap_or_default();
                let events = packed::unpack(&old.events, &event.member, &history.files)
                    .ok_or_else(|| format!("the history of `{}` cannot be read", event.member))?;
                (old, events)
            }
            (None, Some(_)) => (History::default(), Vec::new()),
            (_, None) => return Err("input must be in time order".to_string()),
        };
        if self.is_linked(member, event, &old) {
            return Err(format!(
                "`{}` is linked to other members by transfers or a pool, so a late event \
                 cannot re-run them alone: send it in time order",
                event.member
            ));
        }
        let mut budgets = self.budgets.clone();
        // The member's own use of the budgets is given back first.
        if let Some(before) = member.and_then(|m| self.members.get(m)) {
            for (counter, used) in &before.counters {
                if let Counter::Budget(key) = counter {
                    if let Some(total) = budgets.get_mut(key) {
                        *total -= *used;
                    }
                }
            }
        }
        let written = if keeps_rows(program) {
            packed::unpack_entries(&old.entries, &event.member)
                .ok_or_else(|| format!("the history of `{}` cannot be read", event.member))?
        } else {
            // The rows written, made again: without budgets they depend
            // on the member's events alone.
            self.replay_member(&old_events, budgets.clone(), clock)
                .map_err(|(id, reason)| {
                    format!(
                        "re-running `{}` did not give back event `{id}`: {reason}",
                        event.member
                    )
                })?
                .ledger
        };
        let mut events = old_events;
        events.push(event.clone());
        // Stable: the late event goes after events of the same instant.
        events.sort_by_key(|e| e.time);
        let mut scratch = self
            .replay_member(&events, budgets, clock)
            .map_err(|(id, reason)| {
                if id == event.id {
                    reason
                } else {
                    let time = events.iter().find(|e| e.id == id).map(|e| e.time);
                    format!(
                        "applied at its time it would make event `{id}` at {} fail: {reason}",
                        time.map_or(String::new(), |t| shown(program, t).to_string())
                    )
                }
            })?;
        let Some(rerun) = scratch.members.pop() else {
            return Err("the re-run kept no member".to_string());
        };
        self.restate(event, &written, &scratch.ledger);

        let m = match member {
            Some(m) => m,
            None => {
                let blank = self.blank_member(&event.member, event.time, Vec::new());
                self.members.push(blank);
                self.index
                    .insert(event.member.clone(), self.members.len() - 1);
                self.members.len() - 1
            }
        };
        if let Some(slot) = self.members.get_mut(m) {
            let before = std::mem::replace(slot, rerun);
            for (p, totals) in self.totals.iter_mut().enumerate() {
                // A blank member's totals are zero: nothing to take back.
                if let Some(wallet) = before.wallets.get(p) {
                    totals.subtract(&wallet.totals);
                }
                if let Some(wallet) = slot.wallets.get(p) {
                    totals.add(&wallet.totals);
                }
            }
        }
        self.budgets = scratch.budgets;
        self.next_bucket = scratch.next_bucket;
        // The member's pending clock work is the re-run's: a new generation
        // makes the old dues void.
        if self.generations.len() <= m {
            self.generations.resize(m + 1, 0);
        }
        if let Some(generation) = self.generations.get_mut(m) {
            *generation = generation.wrapping_add(1);
        }
        let mut moved: Vec<_> = scratch.due.into_iter().map(|Reverse(due)| due).collect();
        moved.sort();
        for due in moved {
            self.schedule(due.at, m, due.what);
        }
        if let Some(history) = self.history.as_mut() {
            let mut packed_events = Vec::new();
            for e in &events {
                packed::pack(e, &mut history.files, &mut packed_events);
            }
            let mut entries = Vec::new();
            if keeps_rows(program) {
                for entry in &scratch.ledger {
                    packed::pack_entry(entry, &mut entries);
                }
            }
            if let Some(h) = history.of(m) {
                *h = History {
                    events: packed_events,
                    entries,
                    linked: false,
                };
            }
        }
        // The rows just written are in the history already.
        self.explained = self.ledger.len();
        Ok(())
    }

    /// A scratch engine that has applied `events` (one member's) over
    /// `budgets` and advanced to `clock`; or the id of the event it
    /// rejected, and why.
    fn replay_member(
        &self,
        events: &[Event],
        budgets: std::collections::BTreeMap<(crate::compile::ir::RuleId, usize, i64), Decimal>,
        clock: DateTime<Utc>,
    ) -> Result<Engine<'p>, (String, String)> {
        let mut scratch = Engine::new(self.program);
        scratch.next_bucket = self.next_bucket;
        scratch.budgets = budgets;
        for e in events {
            scratch
                .apply(e)
                .map_err(|reject| (e.id.clone(), reject.reason))?;
        }
        scratch.advance_to(clock);
        Ok(scratch)
    }

    /// A member whose points move to or from others (transfers, pools)
    /// cannot be re-run alone.
    fn is_linked(&self, member: Option<usize>, event: &Event, old: &History) -> bool {
        let kind = self.program.events.get(event.kind).map(|t| t.kind);
        let links = matches!(
            kind,
            Some(EventKind::Transfer | EventKind::JoinPool | EventKind::LeavePool)
        );
        let pooled = member
            .is_some_and(|m| self.is_pool(m) || self.memberships.keys().any(|(x, _)| *x == m));
        links || pooled || old.linked
    }

    /// Writes the ledger rows that turn a member's `old` rows into the
    /// re-run's `new` ones: from the first row where they differ, the old
    /// rows undone newest first (amount and cost negated, the balance and
    /// tier as they were before the row), then the new rows.
    fn restate(&mut self, late: &Event, old: &[Entry], new: &[Entry]) {
        let same = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        for (j, row) in old.iter().enumerate().skip(same).rev() {
            let earlier = old.get(..j).unwrap_or_default();
            let balance = earlier
                .iter()
                .rev()
                .find(|e| row.points.is_some() && e.points == row.points)
                .map_or(Decimal::ZERO, |e| e.balance);
            let tier = row
                .tier
                .and_then(|_| earlier.iter().rev().find_map(|e| e.tier));
            let mut undo = row.clone();
            undo.amount = if row.amount.is_zero() {
                Decimal::ZERO
            } else {
                -row.amount
            };
            undo.balance = balance;
            undo.cost = row.cost.map(|c| -c);
            undo.tier = tier;
            undo.note = if row.note.is_empty() {
                format!("undone for late event {}", late.id)
            } else {
                format!("undone for late event {}: {}", late.id, row.note)
            };
            self.ledger.push(undo);
        }
        self.ledger.extend(new.iter().skip(same).cloned());
    }
}
