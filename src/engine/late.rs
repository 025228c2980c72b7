//! Late events: an event older than the clock (backdated, or sent late) is
//! applied by re-running its member from enrolment (or from the checkpoint
//! its history was folded into, `checkpoints`) with the event in its place
//! in time, on a scratch engine — together with every member linked to it
//! by transfers, a pool or a referral, since their points depend on each
//! other.
//! The ledger stays append-only: per member, the rows the re-run changes
//! are undone (each written again with its amount negated, newest first)
//! and the re-run's rows from the first difference on are written after
//! them. A program that declares `accept late events up to N` rejects
//! events further behind the clock than that.

use super::checkpoints::{Checkpoint, Checkpoints, Opening, Openings};
use super::ledger::{Entry, EntryKind, Totals};
use super::member::{ExactBytes, Member, Wallet};
use super::{packed, Budgets, Engine, Refusal};
use crate::compile::calendar;
use crate::compile::ir::Program;
use crate::events::{Body, Event, RejectClass};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What a member's re-run starts from: every event applied to the member,
/// in the order applied (packed, see `packed`), since its checkpoint if it
/// has one, and, for a program with budgets, every ledger row written for
/// it. Without budgets a member's
/// rows depend on its events (and its linked members') alone, so they are
/// made again by a replay when needed rather than kept (rows would take
/// most of the memory).
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    events: ExactBytes,
    entries: ExactBytes,
}

/// The histories of all members, by member slot.
#[derive(Debug, Default)]
pub(super) struct Histories {
    members: Vec<History>,
    /// Whether rows are kept too: a member's rows depend on other members
    /// through program-wide budgets, and through the totals that refuse an
    /// award loyalty makes (`made_events::makes_events`), so they must be
    /// kept to be undone exactly.
    keep_rows: bool,
    files: packed::Files,
    /// Members linked by transfers and pools: each linked slot's group, by
    /// the key of the group it is in (slots never linked have none).
    group_of: BTreeMap<usize, usize>,
    /// The members of each group, in slot order, by its key.
    groups: BTreeMap<usize, Vec<usize>>,
    /// How many events have been kept: the next one's place in the order.
    kept: u64,
    /// Where an event or a row is packed before it is added to a history.
    packing: Vec<u8>,
    /// What the members whose histories were folded start from.
    checkpoints: Checkpoints,
}

impl Histories {
    fn of(&mut self, m: usize) -> Option<&mut History> {
        self.reach(m);
        self.members.get_mut(m)
    }

    /// Makes sure member slot `m` has a history.
    fn reach(&mut self, m: usize) {
        if self.members.len() <= m {
            self.members.resize_with(m + 1, History::default);
        }
    }

    /// Adds `event` to member slot `m`'s history, next in the order.
    fn keep(&mut self, m: usize, event: &Event) {
        let seq = self.kept;
        self.kept += 1;
        self.append(
            m,
            |h| &mut h.events,
            |out, files| {
                packed::pack(seq, event, files, out);
            },
        );
    }

    /// Makes `events` (each with its place in the order) member slot `m`'s
    /// history, in place of those it had.
    fn replace_events(&mut self, m: usize, events: &[(u64, Event)]) {
        if let Some(h) = self.of(m) {
            h.events = ExactBytes::default();
        }
        for (seq, event) in events {
            self.append(
                m,
                |h| &mut h.events,
                |out, files| packed::pack(*seq, event, files, out),
            );
        }
    }

    /// Adds `entry` to member slot `m`'s rows.
    fn keep_row(&mut self, m: usize, entry: &Entry) {
        self.append(
            m,
            |h| &mut h.entries,
            |out, _| packed::pack_entry(entry, out),
        );
    }

    /// Adds to member slot `m`'s events or rows (`list`) what `pack`
    /// writes, in an allocation of just their length (`ExactBytes`):
    /// histories are kept for the whole run, and grown by doubling they
    /// held about a third more than their bytes (docs/performance.md).
    fn append(
        &mut self,
        m: usize,
        list: fn(&mut History) -> &mut ExactBytes,
        pack: impl FnOnce(&mut Vec<u8>, &mut packed::Files),
    ) {
        self.reach(m);
        let Histories {
            members,
            files,
            packing,
            ..
        } = self;
        if let Some(h) = members.get_mut(m) {
            packing.clear();
            pack(packing, files);
            list(h).extend(packing);
        }
    }

    /// Puts `a` and `b` (and their groups) in one group; the smaller group
    /// joins the larger (on a tie, the one with the higher key).
    fn link(&mut self, a: usize, b: usize) {
        let key = |m: usize| self.group_of.get(&m).copied().unwrap_or(m);
        let (a, b) = (key(a), key(b));
        if a == b {
            return;
        }
        let size = |k: usize| self.groups.get(&k).map_or(1, Vec::len);
        let (keep, gone) = if (size(a), b) > (size(b), a) {
            (a, b)
        } else {
            (b, a)
        };
        let moved = self.groups.remove(&gone).unwrap_or_else(|| vec![gone]);
        for &m in moved.iter().chain([&keep]) {
            self.group_of.insert(m, keep);
        }
        let group = self.groups.entry(keep).or_insert_with(|| vec![keep]);
        group.extend(moved);
        group.sort_unstable();
    }

    /// Member `m` and every member linked to it, in slot order.
    fn group(&self, m: usize) -> Vec<usize> {
        self.group_of
            .get(&m)
            .and_then(|key| self.groups.get(key))
            .cloned()
            .unwrap_or_else(|| vec![m])
    }
}

/// Ledger rows by member id.
type RowsOf = BTreeMap<CompactString, Vec<Entry>>;

fn by_member(entries: Vec<Entry>) -> RowsOf {
    let mut rows = RowsOf::new();
    for entry in entries {
        rows.entry(entry.member.clone()).or_default().push(entry);
    }
    rows
}

/// Whether a streamed replay of `program` re-runs late events (keeping a
/// history) rather than rejecting them: unless it accepts no lateness
/// (`accept late events up to 0 days`).
pub(super) fn accepts_late_events(program: &Program) -> bool {
    program.late_limit.is_none_or(|t| t.count != 0)
}

/// Why an event at `time` is later than the program's `accept late events
/// up to N` allows, with the clock at `clock`; `None` if it is not.
pub(super) fn too_late(
    program: &Program,
    time: DateTime<Utc>,
    clock: DateTime<Utc>,
) -> Option<String> {
    let limit = program.late_limit?;
    if time >= calendar::before(program.timezone, clock, limit) {
        return None;
    }
    let date = |t| calendar::local(program.timezone, t).date();
    Some(format!(
        "event at {} is {} day(s) late (the clock is at {}): the program accepts late events \
         up to {limit}",
        shown(program, time),
        (date(clock) - date(time)).num_days(),
        shown(program, clock),
    ))
}

/// An instant as the program's clock shows it.
fn shown(program: &Program, t: DateTime<Utc>) -> impl std::fmt::Display {
    calendar::local(program.timezone, t).format("%Y-%m-%d %H:%M")
}

impl<'p> Engine<'p> {
    /// Keeps what re-running a member needs, so that events older than the
    /// clock are applied rather than rejected. Call before the first event;
    /// a program that accepts no lateness (`up to 0 days`) keeps nothing.
    pub fn accept_late_events(&mut self) {
        if accepts_late_events(self.program) && self.members.is_empty() {
            let keep_rows = self.program.rules.iter().any(|r| !r.budgets.is_empty())
                || super::made_events::makes_events(self.program);
            self.history = Some(Histories {
                keep_rows,
                checkpoints: Checkpoints::new(self.fold_over),
                ..Histories::default()
            });
            // A re-run moves the program's totals from its members' old
            // state to their new one. Where their rows are made again by a
            // replay, that replay's totals are the old state's; where rows
            // are kept instead, each member keeps its own totals.
            if keep_rows {
                self.keep_member_totals();
            }
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

    /// Adds an applied event to its member's history (if one is kept), and
    /// folds the history if it has grown long.
    pub(super) fn remember_event(&mut self, event: &Event) {
        let m = self.members.slot(&event.member);
        // A referral links the two: the referrer is paid on the new
        // member's events.
        let referrer = m.and_then(|m| self.members.get(m)?.referrer());
        if let (Some(history), Some(m)) = (self.history.as_mut(), m) {
            history.keep(m, event);
            if let (Body::Enroll { .. }, Some(r)) = (&event.body, referrer) {
                history.link(m, r);
            }
            self.fold_if_long(m);
        }
    }

    /// Sets how many bytes a member's late-event history may take before
    /// it is folded into a checkpoint (by default, 4 KB and twice what a
    /// copy of the member takes, whichever is more): call before
    /// `accept_late_events`.
    pub fn fold_histories_over(&mut self, bytes: usize) {
        self.fold_over = Some(bytes);
    }

    /// How many bytes a history may take before it is folded, if set.
    pub fn folds_histories_over(&self) -> Option<usize> {
        self.fold_over
    }

    /// Folds member slot `m`'s group's events that no late event can come
    /// before any more into a checkpoint, once its history has grown long:
    /// only with a bound on lateness, and where rows are not kept (a
    /// program with budgets or events loyalty makes keeps whole histories).
    fn fold_if_long(&mut self, m: usize) {
        let program = self.program;
        let (Some(history), Some(limit), Some(clock)) =
            (self.history.as_ref(), program.late_limit, self.clock)
        else {
            return;
        };
        let bytes = history.members.get(m).map_or(0, |h| h.events.len());
        let copy = || self.members.get(m).map_or(0, Member::copy_len);
        if history.keep_rows || !history.checkpoints.due(m, bytes, copy) {
            return;
        }
        // Every late event to come is at or after this instant.
        let bound = calendar::before(program.timezone, clock, limit);
        let slots = history.group(m);
        if !self.fold(&slots, bound) {
            if let Some(history) = self.history.as_mut() {
                history.checkpoints.nothing_to_fold(m, bytes);
            }
        }
    }

    /// Folds the events of `slots` (a group) before `bound` into a
    /// checkpoint of the group at `bound`; says whether there were any (and
    /// their re-run gave them all back, as it does).
    fn fold(&mut self, slots: &[usize], bound: DateTime<Utc>) -> bool {
        let Some(history) = self.history.as_ref() else {
            return false;
        };
        let mut before = Vec::new();
        let mut after = Vec::new();
        for &slot in slots {
            let (Some(member), Some(kept)) = (self.members.get(slot), history.members.get(slot))
            else {
                continue;
            };
            let Some(events) = packed::unpack(&kept.events, &member.id, &history.files) else {
                return false;
            };
            let (old, new): (Vec<_>, Vec<_>) =
                events.into_iter().partition(|(_, e)| e.time < bound);
            before.extend(old);
            after.push((slot, new));
        }
        if before.is_empty() {
            return false;
        }
        before.sort_by_key(|(seq, e)| (e.time, *seq));
        let Ok(scratch) = self.replay_group(slots, &before, self.budgets.clone(), bound) else {
            return false;
        };
        let checkpoint = Checkpoint::of(scratch, bound);
        let Some(history) = self.history.as_mut() else {
            return false;
        };
        let mut kept = Vec::with_capacity(after.len());
        for (slot, events) in after {
            history.replace_events(slot, &events);
            kept.push((slot, history.of(slot).map_or(0, |h| h.events.len())));
        }
        history.checkpoints.replace(&kept, checkpoint);
        true
    }

    /// Adds ledger rows written since `start` to their members' histories,
    /// and links the members (and pools) that one event moved points
    /// between or joined.
    pub(super) fn remember_entries(&mut self, start: usize) {
        let Some(history) = self.history.as_mut() else {
            return;
        };
        let mut linked = Vec::new();
        for entry in self.ledger.iter().skip(start) {
            let Some(m) = self.members.slot(&entry.member) else {
                continue;
            };
            match entry.kind {
                EntryKind::TransferIn | EntryKind::TransferOut => linked.push(m),
                // The note names the pool, itself a slot.
                EntryKind::PoolJoin | EntryKind::PoolLeave => {
                    linked.push(m);
                    linked.extend(self.members.slot(&entry.note));
                }
                _ => {}
            }
            if history.keep_rows {
                history.keep_row(m, entry);
            }
        }
        if let Some((&first, rest)) = linked.split_first() {
            for &other in rest {
                history.link(first, other);
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
    ) -> Result<(), Refusal> {
        let program = self.program;
        if let Some(reason) = too_late(program, event.time, clock) {
            return Err(Refusal::new(RejectClass::Time, reason));
        }
        // The members to re-run: the event's own and everyone linked to
        // it, and for a late transfer or pool event its counterpart's.
        let counterpart = self.counterpart(event);
        let Some(history) = self.history.as_ref() else {
            return Err(Refusal::new(
                RejectClass::Time,
                "input must be in time order",
            ));
        };
        let mut slots: Vec<usize> = member.map(|m| history.group(m)).unwrap_or_default();
        slots.extend(
            counterpart
                .map(|other| history.group(other))
                .unwrap_or_default(),
        );
        slots.sort_unstable();
        slots.dedup();
        let (mut events, mut written) = self.kept_for(&slots)?;
        let keep_rows = history.keep_rows;
        let late_seq = history.kept;
        let mut budgets = self.budgets.clone();
        // The members' own use of the budgets is given back first.
        for member in slots.iter().filter_map(|&slot| self.members.get(slot)) {
            for (counter, used) in &member.counters {
                if let Some(key) = self.counter_slots.budget(*counter) {
                    if let Some(total) = budgets.get_mut(&key) {
                        *total -= *used;
                    }
                }
            }
        }
        events.sort_by_key(|(seq, e)| (e.time, *seq));
        // The group's totals before the late event, when its members keep
        // none of their own.
        let mut replaced = None;
        if !keep_rows {
            // The rows written, made again: without budgets they depend on
            // these members' events alone.
            let again = self
                .replay_group(&slots, &events, budgets.clone(), clock)
                .map_err(|(id, refusal)| {
                    refusal.restated(|reason| {
                        format!("re-running did not give back event `{id}`: {reason}")
                    })
                })?;
            if !self.keeps_member_totals {
                replaced = Some(again.totals);
            }
            written = by_member(again.ledger);
        }
        events.push((late_seq, event.clone()));
        events.sort_by_key(|(seq, e)| (e.time, *seq));
        let mut scratch =
            self.replay_group(&slots, &events, budgets, clock)
                .map_err(|(id, refusal)| {
                    if id == event.id {
                        return refusal;
                    }
                    let time = events.iter().find(|(_, e)| e.id == id).map(|(_, e)| e.time);
                    refusal.restated(|reason| {
                        format!(
                            "applied at its time it would make event `{id}` at {} fail: {reason}",
                            time.map_or(String::new(), |t| shown(program, t).to_string())
                        )
                    })
                })?;
        let rerun_rows = by_member(std::mem::take(&mut scratch.ledger));
        // Each member's rows: the old undone and the new written, from the
        // first that differs; member after member in the order they joined
        // (their enrolment, or a pool's first event, then their rank here),
        // which is the order a re-run from enrolment adds them in, and a
        // re-run from checkpoints does not.
        let openings = self.openings(&slots);
        let mut reruns: Vec<&Member> = scratch.members.iter().collect();
        reruns.sort_by_key(|rerun| {
            let here = self
                .members
                .slot(&rerun.id)
                .and_then(|s| self.members.get(s));
            (rerun.enrolled, here.map_or(u64::MAX, |m| m.rank))
        });
        for rerun in reruns {
            let old = written.get(&rerun.id).map_or(&[][..], Vec::as_slice);
            let new = rerun_rows.get(&rerun.id).map_or(&[][..], Vec::as_slice);
            self.restate(event, old, new, openings.get(&rerun.id));
        }
        let map = self.adopt(scratch, replaced);
        self.count_late_sale(event, &events, &slots);
        if let Some(history) = self.history.as_mut() {
            // The rows kept are the re-run's; the events kept do not change
            // (the late one is added as any applied event is).
            if history.keep_rows {
                for &slot in &map {
                    let id = self.members.get(slot).map(|m| m.id.as_str());
                    let rows = id.and_then(|id| rerun_rows.get(id));
                    if let Some(h) = history.of(slot) {
                        h.entries = ExactBytes::default();
                    }
                    for entry in rows.into_iter().flatten() {
                        history.keep_row(slot, entry);
                    }
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

    /// Counts a late purchase's sale, or a late return against its
    /// purchase's month: the re-run counted them on the scratch engine, whose
    /// sales are not adopted (the group's other events were counted here
    /// when they came). The purchase is among the group's `events`, or was
    /// folded into the checkpoint of `slots`, which keeps it for returns.
    fn count_late_sale(&mut self, event: &Event, events: &[(u64, Event)], slots: &[usize]) {
        match &event.body {
            Body::Purchase { amount, .. } => self.count_sale(event.time, *amount),
            Body::Return(r) => {
                let kept = || {
                    let checkpoints = self.history.as_ref()?.checkpoints.of(slots);
                    checkpoints
                        .iter()
                        .find_map(|c| c.purchase_time(&event.member, &r.of))
                };
                let purchased = events
                    .iter()
                    .find(|(_, e)| e.id == r.of)
                    .map(|(_, purchase)| purchase.time)
                    .or_else(kept);
                if let Some(time) = purchased {
                    self.count_sale(time, -r.amount);
                }
            }
            _ => {}
        }
    }

    /// The events kept for `slots`, each with its place in the applied
    /// order, and the rows kept for them by member id (none without
    /// budgets).
    fn kept_for(&self, slots: &[usize]) -> Result<(Vec<(u64, Event)>, RowsOf), Refusal> {
        let mut events = Vec::new();
        let mut rows = RowsOf::new();
        let Some(history) = self.history.as_ref() else {
            return Ok((events, rows));
        };
        for &slot in slots {
            let (Some(member), Some(kept)) = (self.members.get(slot), history.members.get(slot))
            else {
                continue;
            };
            let id = &member.id;
            let unreadable = || {
                Refusal::new(
                    RejectClass::Invalid,
                    format!("the history of `{id}` cannot be read"),
                )
            };
            events.extend(packed::unpack(&kept.events, id, &history.files).ok_or_else(unreadable)?);
            if history.keep_rows {
                let kept_rows = packed::unpack_entries(&kept.entries, id).ok_or_else(unreadable)?;
                rows.insert(id.clone(), kept_rows);
            }
        }
        Ok((events, rows))
    }

    /// Takes over the members, pools, budgets and clock work a re-run left
    /// (the totals moved from the old state to the new: from `replaced`,
    /// the group's totals before the re-run, or else from its members' own
    /// totals); returns, for each of its slots, the slot here (a member or
    /// pool it made first is added).
    fn adopt(&mut self, mut scratch: Engine<'p>, replaced: Option<Vec<Totals>>) -> Vec<usize> {
        let dues = scratch.take_all_dues();
        let map: Vec<usize> = scratch
            .members
            .iter()
            .map(|rerun| match self.members.slot(&rerun.id) {
                Some(slot) => slot,
                None => self.add_slot(&rerun.id, rerun.enrolled, Vec::new()),
            })
            .collect();
        let slot_of = |s: usize| map.get(s).copied().unwrap_or(s);
        for (s, rerun) in scratch.members.into_iter().enumerate() {
            let Some(slot) = self.members.get_mut(slot_of(s)) else {
                continue;
            };
            // The slot keeps its rank (a member the re-run enrolled took
            // the late event's position when its slot was added).
            let rank = slot.rank;
            let before = std::mem::replace(slot, rerun);
            slot.rank = rank;
            // The referrer is in the group re-run, by its scratch slot.
            let referrer = slot.referrer().map(slot_of);
            slot.set_referrer(referrer);
            if replaced.is_none() {
                for (p, totals) in self.totals.iter_mut().enumerate() {
                    if let Some(kept) = before.wallets.get(p).and_then(Wallet::totals) {
                        totals.subtract(kept);
                    }
                    if let Some(kept) = slot.wallets.get(p).and_then(Wallet::totals) {
                        totals.add(kept);
                    }
                }
            }
        }
        if let Some(replaced) = replaced {
            // A scratch engine holds the group alone: its totals are the
            // group's.
            for ((totals, old), new) in self.totals.iter_mut().zip(&replaced).zip(&scratch.totals) {
                totals.subtract(old);
                totals.add(new);
            }
        }
        // Pools and who is in them, as the re-run left them.
        self.memberships.retain(|(m, _), _| !map.contains(m));
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
        self.take_dues(dues.into_iter(), scratch.seq, &map);
        map
    }

    /// A scratch engine that has applied `events` (of `slots`, a group, in
    /// order) from the group's checkpoints over `budgets` and advanced to
    /// `clock`; or the id of the event it rejected, and why.
    fn replay_group(
        &self,
        slots: &[usize],
        events: &[(u64, Event)],
        budgets: Budgets,
        clock: DateTime<Utc>,
    ) -> Result<Engine<'p>, (String, Refusal)> {
        let mut scratch = self.start_of(slots);
        scratch.budgets = budgets;
        // A member re-run from enrolment may have events before the
        // others' checkpoint.
        if let Some((_, first)) = events.first() {
            scratch.clock = scratch.clock.map(|c| c.min(first.time));
        }
        for (_, e) in events {
            scratch
                .apply(e)
                .map_err(|reject| (e.id.clone(), Refusal::new(reject.class, reject.reason)))?;
        }
        scratch.advance_to(clock);
        Ok(scratch)
    }

    /// A scratch engine for re-running `slots` (a group): in the state of
    /// the checkpoints they start from (the oldest restored, the others
    /// taken over), or new. Its clock is at the oldest checkpoint
    /// (`replay_group` moves it back to the group's first event if a member
    /// re-run from enrolment has one before). Applying events from there
    /// leaves a later checkpoint's members alone until their own instant:
    /// they have no event and no clock work before it, and no event before
    /// it linked them to the others (members are linked by events no late
    /// event can come before, so after every checkpoint).
    fn start_of(&self, slots: &[usize]) -> Engine<'p> {
        let checkpoints = self
            .history
            .as_ref()
            .map(|h| h.checkpoints.of(slots))
            .unwrap_or_default();
        // Its members replace these: where members keep totals, theirs are
        // taken out again at the next late event.
        let restore = |c: &Checkpoint| c.restored(self.program, self.keeps_member_totals);
        let mut scratch = match checkpoints.split_first() {
            Some((&first, rest)) => {
                let mut scratch = restore(first);
                for &other in rest {
                    scratch.adopt(restore(other), None);
                }
                scratch.clock = checkpoints.iter().map(|c| c.at()).min();
                scratch
            }
            None => {
                let mut scratch = Engine::new(self.program);
                if self.keeps_member_totals {
                    scratch.keep_member_totals();
                }
                scratch
            }
        };
        // It holds the group's members again; a pool or member new to this
        // engine takes a slot here too (`adopt`), beside the others.
        scratch.most_members = self.most_members;
        scratch.slots_elsewhere = (self.members.len() - slots.len().min(self.members.len())) as u64;
        // A member it enrols ranks after every member it holds.
        scratch.position = checkpoints
            .iter()
            .map(|c| c.position())
            .fold(scratch.position, u64::max);
        scratch
    }

    /// What the rows of `slots`' members showed before a re-run's first:
    /// their checkpoints' balances and tiers (members re-run from
    /// enrolment have none).
    fn openings(&self, slots: &[usize]) -> Openings {
        let mut openings = Openings::new();
        if let Some(history) = self.history.as_ref() {
            for checkpoint in history.checkpoints.of(slots) {
                checkpoint.openings(self.program.tiers.is_some(), &mut openings);
            }
        }
        openings
    }

    /// The other side of a transfer (its recipient), of a pool event (the
    /// pool) or of an enrolment (the referrer), if it has a slot.
    pub(super) fn counterpart(&self, event: &Event) -> Option<usize> {
        let name: &str = match &event.body {
            Body::Transfer(t) => &t.to,
            Body::JoinPool { pool } | Body::LeavePool { pool } => pool,
            Body::Enroll {
                referred_by: Some(referrer),
            } => referrer,
            _ => return None,
        };
        self.members.slot(name)
    }

    /// Writes the ledger rows that turn a member's `old` rows into the
    /// re-run's `new` ones: from the first row where they differ, the old
    /// rows undone newest first (amount and cost negated, the balance and
    /// tier as they were before the row: as `opening` says before the
    /// first, for a member re-run from a checkpoint), then the new rows.
    fn restate(&mut self, late: &Event, old: &[Entry], new: &[Entry], opening: Option<&Opening>) {
        let same = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        for (j, row) in old.iter().enumerate().skip(same).rev() {
            let earlier = old.get(..j).unwrap_or_default();
            let balance = earlier
                .iter()
                .rev()
                .find(|e| row.points.is_some() && e.points == row.points)
                .map_or_else(
                    || opening.map_or(Decimal::ZERO, |o| o.balance(row.points)),
                    |e| e.balance,
                );
            let tier = row.tier.and_then(|_| {
                earlier
                    .iter()
                    .rev()
                    .find_map(|e| e.tier)
                    .or_else(|| opening.and_then(Opening::tier))
            });
            let mut undo = row.clone();
            undo.amount = if row.amount.is_zero() {
                Decimal::ZERO
            } else {
                -row.amount
            };
            undo.balance = balance;
            undo.cost = row.cost.map(|c| -c);
            undo.tier = tier;
            undo.undoes = true;
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
    }
}
