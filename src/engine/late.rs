//! Late events: an event older than the clock (backdated, or sent late) is
//! applied by re-running its member from enrolment with the event in its
//! place in time, on a scratch engine — together with every member linked
//! to it by transfers or a pool, since their points depend on each other.
//! The ledger stays append-only: per member, the rows the re-run changes
//! are undone (each written again with its amount negated, newest first)
//! and the re-run's rows from the first difference on are written after
//! them. A program that declares `accept late events up to N` rejects
//! events further behind the clock than that.

use super::ledger::{Entry, EntryKind};
use super::member::Counter;
use super::{calendar, packed, Engine};
use crate::compile::ir::{builtin_field, EventKind, Program, Value};
use crate::events::Event;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// What a member's re-run starts from: every event applied to the member,
/// in the order applied (packed, see `packed`), and, for a program with
/// budgets, every ledger row written for it. Without budgets a member's
/// rows depend on its events (and its linked members') alone, so they are
/// made again by a replay when needed rather than kept (rows would take
/// most of the memory).
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    events: Vec<u8>,
    entries: Vec<u8>,
    /// Whether the member ever gave or received points by transfer or was
    /// in a pool: it is then re-run with the members it is linked to.
    linked: bool,
}

/// The histories of all members, by member slot.
#[derive(Debug, Default)]
pub(super) struct Histories {
    members: Vec<History>,
    files: packed::Files,
    /// Members linked by transfers and pools, as a union-find forest over
    /// member slots (each slot's parent; a root is its own).
    parent: Vec<usize>,
    /// The members of each group of more than one, by its root.
    groups: BTreeMap<usize, Vec<usize>>,
    /// How many events have been kept: the next one's place in the order.
    kept: u64,
}

impl Histories {
    fn of(&mut self, m: usize) -> Option<&mut History> {
        if self.members.len() <= m {
            self.members.resize_with(m + 1, History::default);
        }
        self.members.get_mut(m)
    }

    /// The root of `m`'s group of linked members.
    fn root(&mut self, mut m: usize) -> usize {
        if self.parent.len() <= m {
            let from = self.parent.len();
            self.parent.extend(from..=m);
        }
        while let Some(&up) = self.parent.get(m).filter(|&&up| up != m) {
            // Path halving: point at the grandparent on the way up.
            let grand = self.parent.get(up).copied().unwrap_or(up);
            if let Some(slot) = self.parent.get_mut(m) {
                *slot = grand;
            }
            m = up;
        }
        m
    }

    fn link(&mut self, a: usize, b: usize) {
        for m in [a, b] {
            if let Some(h) = self.of(m) {
                h.linked = true;
            }
        }
        let (a, b) = (self.root(a), self.root(b));
        if a == b {
            return;
        }
        let (root, other) = (a.min(b), a.max(b));
        if let Some(slot) = self.parent.get_mut(other) {
            *slot = root;
        }
        let moved = self.groups.remove(&other).unwrap_or_else(|| vec![other]);
        let group = self.groups.entry(root).or_insert_with(|| vec![root]);
        group.extend(moved);
        group.sort_unstable();
    }

    /// Member `m` and every member linked to it, in slot order.
    fn group(&mut self, m: usize) -> Vec<usize> {
        let root = self.root(m);
        self.groups.get(&root).cloned().unwrap_or_else(|| vec![m])
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
            let seq = history.kept;
            history.kept += 1;
            let Histories { members, files, .. } = history;
            if members.len() <= m {
                members.resize_with(m + 1, History::default);
            }
            if let Some(h) = members.get_mut(m) {
                packed::pack(seq, event, files, &mut h.events);
            }
        }
    }

    /// Adds ledger rows written since `start` to their members' histories,
    /// and links the members (and pools) that one event moved points
    /// between or joined.
    pub(super) fn remember_entries(&mut self, start: usize) {
        let keep = keeps_rows(self.program);
        let Some(history) = self.history.as_mut() else {
            return;
        };
        let mut linked = Vec::new();
        for entry in self.ledger.iter().skip(start) {
            let Some(&m) = self.index.get(&entry.member) else {
                continue;
            };
            match entry.kind {
                EntryKind::TransferIn | EntryKind::TransferOut => linked.push(m),
                // The note names the pool, itself a slot.
                EntryKind::PoolJoin | EntryKind::PoolLeave => {
                    linked.push(m);
                    linked.extend(self.index.get(&entry.note).copied());
                }
                _ => {}
            }
            if let (true, Some(h)) = (keep, history.of(m)) {
                packed::pack_entry(entry, &mut h.entries);
            }
        }
        if let Some((&first, rest)) = linked.split_first() {
            for &other in rest {
                history.link(first, other);
            }
            history.link(first, first);
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
        // The members to re-run: the event's own and everyone linked to
        // it, and for a late transfer or pool event its counterpart's.
        let counterpart = self.counterpart(event);
        let Some(history) = self.history.as_mut() else {
            return Err("input must be in time order".to_string());
        };
        let mut slots: Vec<usize> = member.map(|m| history.group(m)).unwrap_or_default();
        if let Some(other) = counterpart {
            slots.extend(history.group(other));
        }
        slots.sort_unstable();
        slots.dedup();
        let mut old_events = Vec::new();
        let mut written: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for &slot in &slots {
            let Some(id) = self.members.get(slot).map(|m| m.id.clone()) else {
                continue;
            };
            let kept = history.members.get(slot).cloned().unwrap_or_default();
            let unreadable = || format!("the history of `{id}` cannot be read");
            old_events
                .extend(packed::unpack(&kept.events, &id, &history.files).ok_or_else(unreadable)?);
            if keeps_rows(program) {
                let rows = packed::unpack_entries(&kept.entries, &id).ok_or_else(unreadable)?;
                written.insert(id, rows);
            }
        }
        let late_seq = history.kept;
        old_events.sort_by_key(|(seq, e)| (e.time, *seq));
        let mut budgets = self.budgets.clone();
        // The members' own use of the budgets is given back first.
        for member in slots.iter().filter_map(|&slot| self.members.get(slot)) {
            for (counter, used) in &member.counters {
                if let Counter::Budget(key) = counter {
                    if let Some(total) = budgets.get_mut(key) {
                        *total -= *used;
                    }
                }
            }
        }
        let old_list: Vec<Event> = old_events.iter().map(|(_, e)| e.clone()).collect();
        if !keeps_rows(program) {
            // The rows written, made again: without budgets they depend on
            // these members' events alone.
            let again = self
                .replay_member(&old_list, budgets.clone(), clock)
                .map_err(|(id, reason)| {
                    format!("re-running did not give back event `{id}`: {reason}")
                })?;
            for entry in again.ledger {
                written.entry(entry.member.clone()).or_default().push(entry);
            }
        }
        let mut events = old_events;
        events.push((late_seq, event.clone()));
        events.sort_by_key(|(seq, e)| (e.time, *seq));
        let list: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
        let mut scratch = self
            .replay_member(&list, budgets, clock)
            .map_err(|(id, reason)| {
                if id == event.id {
                    reason
                } else {
                    let time = list.iter().find(|e| e.id == id).map(|e| e.time);
                    format!(
                        "applied at its time it would make event `{id}` at {} fail: {reason}",
                        time.map_or(String::new(), |t| shown(program, t).to_string())
                    )
                }
            })?;

        // Each member's rows: the old undone and the new written, from the
        // first that differs.
        let mut rerun_rows: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for entry in std::mem::take(&mut scratch.ledger) {
            rerun_rows
                .entry(entry.member.clone())
                .or_default()
                .push(entry);
        }
        // Scratch slots to slots here, by id (a member or pool the re-run
        // made first is added).
        let mut map = Vec::with_capacity(scratch.members.len());
        for rerun in &scratch.members {
            let slot = match self.index.get(&rerun.id) {
                Some(&slot) => slot,
                None => {
                    let blank = self.blank_member(&rerun.id, rerun.enrolled, Vec::new());
                    self.members.push(blank);
                    self.index.insert(rerun.id.clone(), self.members.len() - 1);
                    self.members.len() - 1
                }
            };
            map.push(slot);
        }
        let slot_of = |s: usize| map.get(s).copied().unwrap_or(s);
        for rerun in &scratch.members {
            let old = written.remove(&rerun.id).unwrap_or_default();
            let new = rerun_rows.get(&rerun.id).map_or(&[][..], Vec::as_slice);
            self.restate(event, &old, new);
        }
        for (s, rerun) in std::mem::take(&mut scratch.members).into_iter().enumerate() {
            let Some(slot) = self.members.get_mut(slot_of(s)) else {
                continue;
            };
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
        // Pools and who is in them, as the re-run left them.
        let mapped: Vec<usize> = map.clone();
        self.memberships.retain(|(m, _), _| !mapped.contains(m));
        for ((m, p), account) in &scratch.memberships {
            self.memberships
                .insert((slot_of(*m), *p), slot_of(*account));
        }
        for (account, pool) in &scratch.pools {
            let mut pool = pool.clone();
            pool.members = pool.members.iter().map(|&m| slot_of(m)).collect();
            self.pools.insert(slot_of(*account), pool);
        }
        self.budgets = scratch.budgets;
        self.next_bucket = scratch.next_bucket;
        // Their pending clock work is the re-run's: a new generation makes
        // the old dues void.
        for &slot in &map {
            if self.generations.len() <= slot {
                self.generations.resize(slot + 1, 0);
            }
            if let Some(generation) = self.generations.get_mut(slot) {
                *generation = generation.wrapping_add(1);
            }
        }
        let mut moved: Vec<_> = scratch.due.into_iter().map(|Reverse(due)| due).collect();
        moved.sort();
        for due in moved {
            self.schedule(due.at, slot_of(due.member), due.what);
        }
        if let Some(history) = self.history.as_mut() {
            history.kept += 1;
            let mut kept: BTreeMap<&str, History> = BTreeMap::new();
            for (seq, e) in &events {
                let h = kept.entry(e.member.as_str()).or_default();
                packed::pack(*seq, e, &mut history.files, &mut h.events);
            }
            if keeps_rows(program) {
                for (id, rows) in &rerun_rows {
                    let h = kept.entry(id.as_str()).or_default();
                    for entry in rows {
                        packed::pack_entry(entry, &mut h.entries);
                    }
                }
            }
            for &slot in &map {
                let id = self
                    .members
                    .get(slot)
                    .map(|m| m.id.as_str())
                    .unwrap_or_default();
                let fresh = kept.remove(id).unwrap_or_default();
                if let Some(h) = history.of(slot) {
                    let linked = h.linked;
                    *h = History { linked, ..fresh };
                }
            }
            if let Some((&first, rest)) = map.split_first() {
                for &other in rest {
                    history.link(first, other);
                }
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

    /// The other side of a transfer (its recipient) or of a pool event
    /// (the pool), if it has a slot.
    fn counterpart(&self, event: &Event) -> Option<usize> {
        let kind = self.program.events.get(event.kind).map(|t| t.kind)?;
        let field = match kind {
            EventKind::Transfer => builtin_field::TRANSFER_TO,
            EventKind::JoinPool | EventKind::LeavePool => builtin_field::POOL_POOL,
            _ => return None,
        };
        match event.fields.get(field) {
            Some(Value::Text(name)) => self.index.get(name).copied(),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::Histories;

    #[test]
    fn linked_members_form_one_group_and_others_stay_alone() {
        let mut h = Histories::default();
        h.link(5, 2);
        h.link(7, 9);
        assert_eq!(h.group(5), [2, 5]);
        assert_eq!(h.group(9), [7, 9]);
        h.link(9, 5);
        assert_eq!(h.group(2), [2, 5, 7, 9]);
        assert_eq!(h.group(7), [2, 5, 7, 9]);
        assert_eq!(h.group(3), [3]);
        assert_eq!(h.group(40), [40]);
        h.link(4, 4);
        assert_eq!(h.group(4), [4]);
        assert!(h.members.get(4).is_some_and(|m| m.linked));
    }
}
