//! A replay split over threads: members are dealt into shards by their id,
//! each shard applied by an engine of its own on a thread of its own, and
//! the ledger merged back into exactly the order one engine writes it.
//!
//! Only for programs whose members never touch each other's state (no
//! transfers, pools or program-wide budgets: `why_not_sharded`). What one
//! engine decides across members is decided here, on the calling thread,
//! before an event is dealt: a duplicate id (`IdSet` of the ids dealt), and
//! whether the event moves the clock (it is in time order, of a known type,
//! and of an enrolled member, or an enrolment of a new one). Every shard is
//! told each time the clock moves ("tick"), so its clock work is done at
//! the same points of the input as one engine does it; rows are then keyed
//! by the position of the event they were written before or for, and clock
//! work among itself by `ClockOrder` (time, the member's rank, scheduling
//! order: the same in every engine, `Due`'s order). Sorting the shards'
//! pieces by that key gives the single engine's ledger, byte for byte.

use super::ids::IdSet;
use super::late::{accepts_late_events, too_late};
use super::ledger::Entry;
use super::replay::{Options, Order, Outcome};
use super::{duplicate, out_of_order, ClockOrder, Engine};
use crate::compile::ir::{EventKind, Program};
use crate::events::{Event, Reject};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

/// Events dealt to the shards at a time.
const BATCH: usize = 4096;

/// The most rows a buffer handed back to a shard may have room for.
const SPARE_ROWS: usize = 4 * BATCH;

/// Batches a shard may be ahead of the merge.
const IN_FLIGHT: usize = 8;

/// Why members of `program` cannot be applied in separate shards, or `None`.
pub fn why_not_sharded(program: &Program) -> Option<&'static str> {
    // Without these, transfer and pool events are rejected without looking
    // at another member.
    let linking = program.points.iter().any(|t| t.transfers.is_some());
    if linking || !program.pool_index.is_empty() {
        return Some("its members can transfer points or pool them");
    }
    if program.rules.iter().any(|r| !r.budgets.is_empty()) {
        return Some("it has program-wide budgets");
    }
    None
}

/// What a shard is told for one batch: every time the clock moves (the
/// position of the event it moves for, and to when), shared by all shards,
/// and the events of its own members with their positions.
struct Batch {
    ticks: Arc<[(u64, DateTime<Utc>)]>,
    events: Vec<(u64, Event)>,
    /// A buffer for the batch's rows, handed back by the merge (empty).
    rows: Vec<Entry>,
}

/// Where a piece of a shard's rows goes in the merged ledger: before the
/// event at `position` (clock work, in `ClockOrder`), or for it (`own`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    position: u64,
    own: bool,
    clock: Option<ClockOrder>,
}

/// A shard's work on one batch: its rows, cut into keyed pieces, and its
/// rejects.
#[derive(Default)]
struct Piece {
    rows: Vec<Entry>,
    /// Each piece's key and the number of rows in it, in `rows`' order.
    pieces: Vec<(Key, usize)>,
    rejects: Vec<Reject>,
}

/// Applies records as `replay::replay` does, over `shards` engines on as
/// many threads, and leaves the end state in `engine` (which must be new)
/// for the reports; the ids were checked here, so `engine` keeps none and
/// would not check later events for duplicates. `--strict` is not
/// supported (a reject is known only when its shard gets to it).
pub fn replay_sharded<E>(
    engine: &mut Engine,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    shards: usize,
    ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
) -> Result<Outcome, E> {
    let program = engine.program();
    let shards = shards.max(1);
    engine.leave_ids_to_caller();
    std::thread::scope(|scope| {
        let mut inboxes = Vec::new();
        let mut outboxes = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..shards {
            let (send_items, items) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let (send_pieces, pieces) = mpsc::sync_channel::<Piece>(IN_FLIGHT);
            let stream = options.order == Order::Stream;
            workers.push(scope.spawn(move || work(program, stream, &items, &send_pieces)));
            inboxes.push(send_items);
            outboxes.push(pieces);
        }
        let mut dealer = Dealer::new(program, options, inboxes, outboxes);
        let result = dealer.deal(records, ledger);
        let Dealer {
            inboxes,
            outcome,
            next_position,
            ..
        } = dealer;
        // Closing the inboxes ends the workers.
        drop(inboxes);
        for worker in workers {
            let shard = worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            engine.absorb(shard);
        }
        engine.set_position(next_position);
        result.map(|()| outcome)
    })
}

/// A shard's thread: applies what it is told and sends its rows back per
/// batch; returns its engine when its inbox closes.
fn work<'p>(
    program: &'p Program,
    stream: bool,
    batches: &Receiver<Batch>,
    pieces: &SyncSender<Piece>,
) -> Engine<'p> {
    let mut engine = Engine::new(program);
    if stream {
        engine.accept_late_events();
    }
    engine.mark_clock_work();
    // The dealer deals an id again only if every shard rejected it.
    engine.leave_ids_to_caller();
    let mut marks = Vec::new();
    for batch in batches {
        // The engine writes the whole batch's rows into its ledger; each
        // tick's or event's rows are the ones written since the last
        // (`written`).
        let mut piece = Piece::default();
        let mut written = 0;
        let mut ticks = batch.ticks.iter().peekable();
        let mut events = batch.events.into_iter().peekable();
        loop {
            // In input order; at one position the clock moves first.
            let tick_first = match (ticks.peek(), events.peek()) {
                (Some((tick, _)), Some((event, _))) => tick <= event,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let position = if tick_first {
                let Some(&(position, time)) = ticks.next() else {
                    break;
                };
                engine.advance_to(time);
                position
            } else {
                let Some((position, event)) = events.next() else {
                    break;
                };
                engine.set_position(position);
                if let Err(reject) = engine.apply(&event) {
                    piece.rejects.push(reject);
                }
                position
            };
            engine.drain_marks_into(&mut marks);
            let end = engine.ledger_len();
            // Rows before the first mark are the event's own; each mark
            // starts a piece of clock work.
            let first = marks.first().map_or(end, |(_, at)| *at);
            if first > written {
                let key = Key {
                    position,
                    own: true,
                    clock: None,
                };
                piece.pieces.push((key, first - written));
            }
            let ends = marks.iter().skip(1).map(|(_, at)| *at).chain([end]);
            for ((order, start), end) in marks.iter().zip(ends) {
                let key = Key {
                    position,
                    own: false,
                    clock: Some(*order),
                };
                piece.pieces.push((key, end.saturating_sub(*start)));
            }
            written = end;
        }
        piece.rows = batch.rows;
        engine.drain_ledger_into(&mut piece.rows);
        if pieces.send(piece).is_err() {
            break;
        }
    }
    engine
}

/// Decides, on the calling thread, what one engine decides across members,
/// deals events to the shards and merges their rows back.
struct Dealer<'p> {
    program: &'p Program,
    options: Options,
    inboxes: Vec<SyncSender<Batch>>,
    outboxes: Vec<Receiver<Piece>>,
    /// The clock moves of the batch being dealt.
    ticks: Vec<(u64, DateTime<Utc>)>,
    /// Each shard's events of the batch being dealt.
    dealing: Vec<Vec<(u64, Event)>>,
    /// Row buffers the merge has emptied, for the shards to fill again.
    spare: Vec<Vec<Entry>>,
    /// Batches sent and not merged yet.
    pending: usize,
    /// The buffer merged rows are passed on in, kept from batch to batch.
    merged: Vec<Entry>,
    clock: Option<DateTime<Utc>>,
    /// The ids of the events dealt (a reject in a shard may leave one free
    /// again: see `retried`).
    ids: IdSet,
    /// For ids a shard rejected: (times dealt, times rejected). An id dealt
    /// more often than rejected was applied.
    retried: HashMap<String, (u32, u32), super::FastHash>,
    /// Members enrolled.
    members: IdSet,
    keeps_history: bool,
    routing: foldhash::fast::FixedState,
    outcome: Outcome,
    /// How many events were dealt or rejected here: the next one's
    /// position, as one engine counts the events it is given.
    next_position: u64,
}

impl<'p> Dealer<'p> {
    fn new(
        program: &'p Program,
        options: Options,
        inboxes: Vec<SyncSender<Batch>>,
        outboxes: Vec<Receiver<Piece>>,
    ) -> Self {
        let shards = inboxes.len();
        Dealer {
            program,
            options,
            inboxes,
            outboxes,
            ticks: Vec::new(),
            dealing: (0..shards).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            pending: 0,
            merged: Vec::new(),
            clock: None,
            ids: IdSet::default(),
            retried: HashMap::default(),
            members: IdSet::default(),
            keeps_history: options.order == Order::Stream && accepts_late_events(program),
            routing: foldhash::fast::FixedState::with_seed(0),
            outcome: Outcome::default(),
            next_position: 0,
        }
    }

    fn deal<E>(
        &mut self,
        records: impl Iterator<Item = Result<Event, Reject>>,
        ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut sorted = Vec::new();
        for record in records {
            self.outcome.read += 1;
            match (record, self.options.order) {
                (Err(reject), _) => self.outcome.rejects.push(reject),
                (Ok(event), Order::Stream) => self.event(event, ledger)?,
                (Ok(event), Order::Sort) => sorted.push(event),
            }
        }
        // Stable: equal times keep input order.
        sorted.sort_by_key(|e| e.time);
        for event in sorted {
            self.event(event, ledger)?;
        }
        if let Some(until) = self.options.until {
            // After every event: the clock work up to `until`.
            self.ticks.push((u64::MAX, until));
        }
        self.send(ledger)?;
        while self.pending > 0 {
            self.merge(ledger)?;
        }
        self.outcome.rejects.sort_by(|a, b| a.origin.cmp(&b.origin));
        Ok(())
    }

    /// Deals one event to its member's shard, after what one engine would
    /// decide across members: a reject for its time or a duplicate id, and
    /// whether it moves the clock (then every shard is told).
    fn event<E>(
        &mut self,
        event: Event,
        ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.options.until.is_some_and(|u| event.time > u) {
            self.outcome.after_until += 1;
            return Ok(());
        }
        let position = self.next_position;
        self.next_position += 1;
        let late = self.clock.filter(|c| event.time < *c);
        if let (Some(clock), false) = (late, self.keeps_history) {
            self.outcome.rejects.push(out_of_order(&event, clock));
            return Ok(());
        }
        // An id dealt before is a duplicate if that event was applied (a
        // rejected event's id is free again).
        if !self.ids.insert(&event.id) && self.applied(&event.id, ledger)? {
            self.outcome.rejects.push(duplicate(&event));
            return Ok(());
        }
        if let Some(counts) = self.retried.get_mut(event.id.as_str()) {
            counts.0 += 1;
        }
        let kind = self.program.events.get(event.kind).map(|t| t.kind);
        let enrolled = self.members.contains(&event.member);
        let admitted = match kind {
            None => false,
            Some(EventKind::Enroll) => !enrolled,
            Some(_) => enrolled,
        };
        // An enrolment in time always succeeds, and a late one unless it
        // is too late (the new member has nothing to re-run).
        let too_late = |clock| too_late(self.program, event.time, clock).is_some();
        if admitted && kind == Some(EventKind::Enroll) && !late.is_some_and(too_late) {
            self.members.insert(&event.member);
        }
        if admitted && late.is_none() {
            self.clock = Some(event.time);
            self.ticks.push((position, event.time));
        }
        let shard = self.routing.hash_one(&event.member) as usize % self.dealing.len();
        if let Some(events) = self.dealing.get_mut(shard) {
            events.push((position, event));
        }
        if self.dealing.iter().map(Vec::len).sum::<usize>() >= BATCH {
            self.send(ledger)?;
        }
        Ok(())
    }

    /// Whether the event with `id`, dealt before, was applied: waits for
    /// the shards to get through everything dealt so far (ids seen twice
    /// are rare).
    fn applied<E>(
        &mut self,
        id: &str,
        ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.send(ledger)?;
        while self.pending > 0 {
            self.merge(ledger)?;
        }
        Ok(self
            .retried
            .get(id)
            .is_none_or(|(dealt, rejected)| dealt > rejected))
    }

    /// Sends the batch being dealt to the shards, merging the oldest batch
    /// first if the shards are that far ahead.
    fn send<E>(
        &mut self,
        ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.ticks.is_empty() && self.dealing.iter().all(Vec::is_empty) {
            return Ok(());
        }
        if self.pending >= IN_FLIGHT {
            self.merge(ledger)?;
        }
        let ticks: Arc<[(u64, DateTime<Utc>)]> = std::mem::take(&mut self.ticks).into();
        for (inbox, events) in self.inboxes.iter().zip(&mut self.dealing) {
            let batch = Batch {
                ticks: ticks.clone(),
                events: std::mem::take(events),
                rows: self.spare.pop().unwrap_or_default(),
            };
            // A closed inbox means its worker panicked: its join says why.
            let _ = inbox.send(batch);
        }
        self.pending += 1;
        Ok(())
    }

    /// Merges the shards' rows of the oldest batch sent and passes them on.
    fn merge<E>(
        &mut self,
        ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pending = self.pending.saturating_sub(1);
        // Each piece's key, shard and number of rows.
        let mut pieces: Vec<(Key, usize, usize)> = Vec::new();
        let mut rows = Vec::new();
        for outbox in &self.outboxes {
            let Ok(piece) = outbox.recv() else {
                continue;
            };
            for reject in &piece.rejects {
                if let Some(id) = &reject.id {
                    self.retried.entry(id.clone()).or_insert((1, 0)).1 += 1;
                }
            }
            self.outcome.rejects.extend(piece.rejects);
            let shard = rows.len();
            pieces.extend(piece.pieces.into_iter().map(|(key, n)| (key, shard, n)));
            rows.push(piece.rows);
        }
        let mut columns: Vec<_> = rows.iter_mut().map(|r| r.drain(..)).collect();
        // A shard's pieces are in key order, and keys of different shards
        // never tie (a member, its clock work and its events are in one
        // shard): in key order, each shard's rows are taken in turn.
        pieces.sort_unstable_by_key(|(key, ..)| *key);
        let mut merged = std::mem::take(&mut self.merged);
        merged.clear();
        for (_, shard, n) in pieces {
            if let Some(column) = columns.get_mut(shard) {
                merged.extend(column.by_ref().take(n));
            }
        }
        drop(columns);
        // The emptied buffers go back out with the next batches, unless a
        // month end made them large: kept, they would hold its memory.
        self.spare
            .extend(rows.into_iter().filter(|r| r.capacity() <= SPARE_ROWS));
        let passed = ledger(&mut merged);
        self.merged = merged;
        passed
    }
}
