//! A replay split over threads: members are dealt into shards by their id
//! (a member enrolled naming a referrer, by its referrer's shard),
//! each shard applied by an engine of its own on a thread of its own, and
//! the ledger merged back into exactly the order one engine writes it.
//!
//! Only for programs whose members never touch each other's state (no
//! transfers, pools or program-wide budgets: `why_not_sharded`), but
//! through a referral, whose two members share a shard; and for programs
//! tied by budgets alone (`tied_by_budgets_only`), whose run keeps the
//! shards' work only if every budget held across them. What one
//! engine decides across members is decided here, on the calling thread,
//! before an event is dealt: a duplicate id (`RecentIds` of the ids dealt
//! and not rejected by a shard), and
//! whether the event moves the clock (it is in time order, of a known type,
//! and of an enrolled member, or an enrolment of a new one). Every shard is
//! told each time the clock moves ("tick"), so its clock work is done at
//! the same points of the input as one engine does it; rows are then keyed
//! by the position of the event they were written before or for, and clock
//! work among itself by `ClockOrder` (time, the member's rank, scheduling
//! order: the same in every engine, `Due`'s order). Merging the shards'
//! pieces by that key gives the single engine's ledger, byte for byte. Each
//! shard may also format its rows (`Format`: the ledger file's lines) on its
//! own thread, so that the merge only puts bytes in order.
//!
//! A sorted replay may go on on one engine for a while: once everything
//! dealt is applied, the shards are gathered into one engine, which goes
//! on alone until it deals its members out again (`Shards::hand_over_at`).
//! A program tied by budgets alone hands over so while a budget is nearly
//! spent, since only one engine can cut the award that passes a budget's
//! amount across members; once it is spent, every shard cuts that
//! budget's awards whole, as one engine does.

use super::ids::{IdSet, RecentIds};
use super::late::{accepts_late_events, too_late};
use super::ledger::Entry;
use super::replay::{apply_in_order, InOrder, Options, Order, Outcome};
use super::{
    admit_time, budget_amount, budgets_held, duplicate, ids_cutoff, is_copy, BudgetKey, Budgets,
    ClockOrder, Engine,
};
use crate::compile::ir::{BuiltinEvent, Program};
use crate::events::{Body, Event, Reject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

/// Events dealt to the shards at a time.
const BATCH: usize = 4096;

/// The most rows a buffer handed back to a shard may have room for.
const SPARE_ROWS: usize = 4 * BATCH;

/// The most bytes a buffer handed back to a shard may have room for.
const SPARE_BYTES: usize = 100 * SPARE_ROWS;

/// Batches a shard may be ahead of the merge.
const IN_FLIGHT: usize = 8;

/// How many pieces of a month end's clock work (of `piece_rows` rows
/// each) a shard sends as one part of its batch: with the pieces of 4,096
/// rows of a run, parts of some 6 MB of lines. A month end of a million
/// members' expiries was held whole, twice (220 MB of a two-thread run's
/// heap); parts of one piece each churned the buffers they come in, and
/// took more memory at 100,000 members than they saved (docs/performance.md).
const PART_PIECES: usize = 16;

/// Why members of `program` cannot be applied in separate shards, or `None`.
pub fn why_not_sharded(program: &Program) -> Option<&'static str> {
    linked(program).or_else(|| budgets(program))
}

/// Why `program`'s members can move points to each other, or `None`.
fn linked(program: &Program) -> Option<&'static str> {
    // Without these, transfer and pool events are rejected without looking
    // at another member.
    let transfers = program.points.iter().any(|t| t.transfers.is_some());
    (transfers || !program.pool_index.is_empty())
        .then_some("its members can transfer points or pool them")
}

/// How a program's events may be split among machines (`loyalty check
/// --format json`'s `split`; `python -m loyalty.spark` groups by it): by
/// member, each member's events with those of every member and pool
/// reachable through `links` (the event fields naming another member or a
/// pool), or not at all (`by` is `None`, and `why` says why).
///
/// Members are grouped more coarsely than they need be (a link in any
/// event joins two groups for the whole history), never more finely, so
/// each group run alone gives its members exactly what one engine gives
/// them; events that share an id join their members' groups too (whether a
/// copy is a duplicate is decided across members).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    pub by: Option<&'static str>,
    pub links: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
}

/// How `program`'s events may be split among machines.
pub fn split(program: &Program) -> Split {
    if let Some(why) = budgets(program) {
        return Split {
            by: None,
            links: Vec::new(),
            why: Some(why),
        };
    }
    let mut links = vec!["enroll.referred_by"];
    if program.points.iter().any(|t| t.transfers.is_some()) {
        links.push("transfer.to");
    }
    if !program.pool_index.is_empty() {
        links.extend(["transfer.to", "join_pool.pool", "leave_pool.pool"]);
    }
    links.dedup();
    Split {
        by: Some("member"),
        links,
        why: None,
    }
}

/// Whether `program`'s members depend on each other through program-wide
/// budgets alone: shards then give one engine's rows if every budget held
/// across them (`Engine::budgets_held`).
pub fn tied_by_budgets_only(program: &Program) -> bool {
    linked(program).is_none() && budgets(program).is_some()
}

/// Why `program`'s members depend on each other through program-wide
/// budgets, or `None`.
fn budgets(program: &Program) -> Option<&'static str> {
    program
        .rules
        .iter()
        .any(|r| !r.budgets.is_empty())
        .then_some("it has program-wide budgets")
}

/// Turns a shard's rows into the bytes of the output, on the shard's
/// thread.
pub trait Format: Send {
    /// Formats `rows`; returns how many bytes they took.
    fn add(&mut self, rows: &[Entry]) -> io::Result<usize>;
    /// The bytes formatted since the last call; the next are formatted into
    /// `reuse`.
    fn take(&mut self, reuse: Vec<u8>) -> io::Result<Vec<u8>>;
}

/// What the merge passes on, batch by batch, in the single engine's order.
pub struct Output<'o, 'p, E> {
    /// Makes each shard's `Format`; without one, no bytes are made.
    pub format: Option<&'o (dyn Fn() -> Box<dyn Format + 'p> + Sync)>,
    /// Whether the rows themselves are passed on (else they are dropped
    /// on the shards' threads, once formatted).
    pub rows: bool,
    /// Receives the merged rows (none unless `rows`) and bytes.
    pub sink: &'o mut Sink<'o, E>,
}

/// Where the merged rows and bytes go, batch by batch.
pub type Sink<'s, E> = dyn FnMut(&mut Vec<Entry>, &[u8]) -> Result<(), E> + 's;

/// How members are dealt into shards.
#[derive(Debug, Clone, Copy)]
pub struct Shards {
    /// How many (at least one).
    pub count: usize,
    /// The most rows of clock work passed on at a time, as in
    /// `replay::replay_in_pieces` (`replay::PIECE_ROWS` for `replay`'s).
    pub piece_rows: usize,
    /// In a sorted replay, the position of the event before which the
    /// shards hand their members over to one engine, which applies what
    /// follows: how the tests check a handover anywhere. A program tied by
    /// budgets alone hands over by itself, once a budget is so nearly spent
    /// that the batches in flight could spend the rest (`BudgetWatch`).
    pub hand_over_at: Option<u64>,
    /// The position of the event before which that engine deals its
    /// members out into shards again. A program tied by budgets alone
    /// deals out again by itself, once no budget is near its amount.
    pub deal_again_at: Option<u64>,
}

/// A sharded replay done.
#[derive(Debug)]
pub struct Sharded {
    pub outcome: Outcome,
    /// When one engine applied the events alone, after the shards handed
    /// their members over to it: the time of the first event it applied,
    /// and of the first it dealt out again (`None`: to the end).
    pub alone: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// What a shard is told for one batch: every time the clock moves (the
/// position of the event it moves for, and to when), shared by all shards,
/// and the events of its own members with their positions.
struct Batch {
    ticks: Arc<[(u64, DateTime<Utc>)]>,
    events: Vec<(u64, Event)>,
    /// Buffers for the batch's rows and bytes, handed back by the merge
    /// (empty).
    rows: Vec<Entry>,
    bytes: Vec<u8>,
}

/// Where a piece of a shard's rows goes in the merged ledger: before the
/// event at `position` (clock work, in `ClockOrder`), or for it (`own`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    position: u64,
    own: bool,
    clock: Option<ClockOrder>,
}

/// A shard's work on one batch: its rows and their bytes, cut into keyed
/// pieces, and its rejects.
#[derive(Default)]
struct Piece {
    rows: Vec<Entry>,
    bytes: Vec<u8>,
    /// Each piece's key, rows and bytes, in `rows`' and `bytes`' order.
    pieces: Vec<(Key, Part)>,
    rejects: Vec<Reject>,
    /// The id and time of each event rejected: free again for a copy.
    freed: Vec<(String, DateTime<Utc>)>,
    /// Why the rows could not be formatted: the replay fails with it.
    failed: Option<io::Error>,
    /// Whether more of the batch follows: a month end's clock work is sent
    /// in parts of `PART_PIECES` pieces, each but the batch's last marked.
    more: bool,
    /// What the program-wide budgets gave the shard's members so far, at
    /// the batch's end (for a program tied by budgets alone).
    budget_use: Option<Budgets>,
}

/// How much of a shard's rows and bytes a piece is.
#[derive(Debug, Clone, Copy, Default)]
struct Part {
    rows: usize,
    bytes: usize,
}

/// Applies records as `replay::replay` does, over `shards.count` engines
/// on as many threads, and leaves the end state in `engine` (which must be
/// new) for the reports; the ids were checked here, so `engine` keeps none
/// and would not check later events for duplicates. `--strict` is not
/// supported (a reject is known only when its shard gets to it).
///
/// In a sorted replay the shards may hand their members over to one
/// engine (`Shards::hand_over_at`): the dealer stops dealing, waits for
/// the shards to apply everything dealt, and gathers them into `engine`
/// (`Engine::absorb`), which then checks ids and applies what follows
/// here, until it deals its members out into shards again
/// (`Engine::split`) and the dealer goes on. Each shard's state at a
/// handover is one engine's state of its members, but for the use of
/// program-wide budgets, which is theirs only if every budget's use
/// across them held: if one did not, nothing more is applied, and the run
/// is to be done again (`Engine::budgets_held`).
pub fn replay_sharded<'p, E: From<io::Error>>(
    engine: &mut Engine<'p>,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    shards: Shards,
    output: Output<'_, 'p, E>,
) -> Result<Sharded, E> {
    let program = engine.program();
    let count = shards.count.max(1);
    let mut run = ShardedRun {
        options,
        shards,
        output,
        events: InOrder::new(records, options),
        outcome: Outcome::default(),
        watch: BudgetWatch::new(count),
        alone: Vec::new(),
    };
    engine.leave_ids_to_caller();
    let mut seeds = new_engines(program, count);
    let mut resume = Resume::new(count);
    let mut first = None;
    loop {
        let (dealt, ids) = run.in_shards(engine, seeds, resume, first.take())?;
        let Some(handed_over) = dealt.filter(|_| engine.budgets_held()) else {
            break;
        };
        engine.check_ids_from(ids);
        let Some(again) = run.alone(engine, handed_over)? else {
            break;
        };
        (seeds, resume) = Resume::split(engine, count, &run.watch);
        first = Some(again);
    }
    Ok(Sharded {
        outcome: run.outcome,
        alone: run.alone,
    })
}

/// A sharded replay under way: what goes on from shards to one engine and
/// back.
struct ShardedRun<'o, 'p, I, E> {
    options: Options,
    shards: Shards,
    output: Output<'o, 'p, E>,
    events: InOrder<I>,
    outcome: Outcome,
    /// The budgets as the last shards used them.
    watch: BudgetWatch,
    alone: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// Where a dealer starts: from nothing, or from one engine that dealt its
/// members out again (`Engine::split`).
struct Resume {
    ids: RecentIds,
    members: IdSet,
    referred: BTreeMap<String, usize>,
    clock: Option<DateTime<Utc>>,
    next_position: u64,
    budgets: BudgetWatch,
}

impl Resume {
    fn new(shards: usize) -> Resume {
        Resume {
            ids: RecentIds::default(),
            members: IdSet::default(),
            referred: BTreeMap::new(),
            clock: None,
            next_position: 0,
            budgets: BudgetWatch::new(shards),
        }
    }

    /// Deals `engine`'s members out into `count` new engines (as the dealer
    /// deals them: a member referred by another to its referrer's shard,
    /// the others by their id): those engines, and where the dealer goes on
    /// from.
    fn split<'p>(
        engine: &mut Engine<'p>,
        count: usize,
        watch: &BudgetWatch,
    ) -> (Vec<Engine<'p>>, Resume) {
        let program = engine.program();
        let mut seeds = new_engines(program, count);
        let watch = watch.dealt_again(program, count, &engine.budgets);
        let routing = routing();
        let ids = engine.split(
            &mut seeds,
            |member, referrer| referrer.unwrap_or_else(|| shard_by_id(&routing, &member.id, count)),
            &watch.spent,
        );
        let mut resume = Resume {
            ids: ids.unwrap_or_default(),
            clock: engine.clock,
            next_position: engine.position,
            budgets: watch,
            ..Resume::new(count)
        };
        for (shard, seed) in seeds.iter().enumerate() {
            for member in seed.members.iter() {
                resume.members.insert(&member.id);
                if member.referrer().is_some() {
                    resume.referred.insert(member.id.to_string(), shard);
                }
            }
        }
        (seeds, resume)
    }
}

impl<'p, I, E> ShardedRun<'_, 'p, I, E>
where
    I: Iterator<Item = Result<Event, Reject>>,
    E: From<io::Error>,
{
    /// Deals events (`first`, if given, first) to shards that start from
    /// `seeds`, until the end or a handover, and gathers the shards into
    /// `engine`: at a handover, the first event not dealt, and the ids the
    /// dealer checked.
    fn in_shards(
        &mut self,
        engine: &mut Engine<'p>,
        seeds: Vec<Engine<'p>>,
        resume: Resume,
        first: Option<Event>,
    ) -> Result<(Option<Event>, RecentIds), E> {
        let program = engine.program();
        let options = self.options;
        let member_totals = engine.keeps_member_totals();
        let fold_over = engine.folds_histories_over();
        let piece_rows = self.shards.piece_rows.max(1);
        let Output {
            format,
            rows: keep_rows,
            ref mut sink,
        } = self.output;
        let hand_over_at = self.shards.hand_over_at.take();
        let events = &mut self.events;
        let outcome = std::mem::take(&mut self.outcome);
        let spent = resume.budgets.spent.clone();
        let (dealt, ids, outcome, watch) = std::thread::scope(|scope| {
            let mut inboxes = Vec::new();
            let mut outboxes = Vec::new();
            let mut workers = Vec::new();
            for seed in seeds {
                let (send_items, items) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
                let (send_pieces, pieces) = mpsc::sync_channel::<Piece>(IN_FLIGHT);
                let shard = Shard {
                    program,
                    stream: options.order == Order::Stream,
                    piece_rows,
                    format: format.map(|make| make()),
                    keep_rows,
                    member_totals,
                    fold_over,
                };
                workers.push(scope.spawn(move || shard.work(seed, &items, &send_pieces)));
                inboxes.push(send_items);
                outboxes.push(pieces);
            }
            let mut dealer = Dealer::new(
                program,
                options,
                (inboxes, outboxes),
                resume,
                outcome,
                hand_over_at,
            );
            let dealt = dealer.deal(first, events, &mut **sink);
            // The rest of the dealer (its members' ids, its buffers) is
            // dropped here, before the shards are gathered (the run's peak).
            let Dealer {
                inboxes,
                outboxes,
                outcome,
                next_position,
                ids,
                budgets,
                ..
            } = { dealer };
            // Only an engine that goes on after a handover checks ids.
            let ids = match dealt {
                Ok(Some(_)) => ids,
                _ => RecentIds::default(),
            };
            // Closing the inboxes ends the workers; closing the outboxes ends
            // one still sending the parts of a batch the merge stopped at (its
            // sink failed).
            drop(inboxes);
            drop(outboxes);
            let ends = workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e))
                })
                .collect();
            engine.absorb(ends);
            engine.set_position(next_position);
            (dealt, ids, outcome, budgets)
        });
        // Each shard held the budgets spent before at their amount.
        engine.hold_spent(&spent);
        self.outcome = outcome;
        self.watch = watch;
        Ok((dealt?, ids))
    }

    /// Applies `first` and what follows on `engine` alone, until the end or
    /// until it deals its members out again: then the first event not
    /// applied.
    fn alone(&mut self, engine: &mut Engine<'p>, first: Event) -> Result<Option<Event>, E> {
        let program = engine.program();
        let Output {
            format,
            rows: keep_rows,
            ref mut sink,
        } = self.output;
        let deal_again_at = self.shards.deal_again_at.take();
        let watch = &self.watch;
        let watches_budgets = tied_by_budgets_only(program);
        let stop = |engine: &Engine| {
            deal_again_at.is_some_and(|at| engine.position >= at)
                || (watches_budgets && watch.none_near(program, &engine.budgets))
        };
        let started = first.time;
        let mut format = format.map(|make| make());
        let mut lines = Vec::new();
        let mut no_rows = Vec::new();
        let mut pass = |rows: &mut Vec<Entry>| {
            if let Some(format) = format.as_mut() {
                format.add(rows)?;
                lines = format.take(std::mem::take(&mut lines))?;
            }
            sink(if keep_rows { rows } else { &mut no_rows }, &lines)
        };
        let piece_rows = self.shards.piece_rows.max(1);
        let again = apply_in_order(
            engine,
            Some(first),
            &mut self.events,
            &mut self.outcome,
            piece_rows,
            &mut pass,
            &stop,
        )?;
        self.alone
            .push((started, again.as_ref().map(|event| event.time)));
        Ok(again)
    }
}

/// What a shard's thread is given to work with.
struct Shard<'p> {
    program: &'p Program,
    stream: bool,
    /// The most rows of clock work passed on at a time.
    piece_rows: usize,
    format: Option<Box<dyn Format + 'p>>,
    keep_rows: bool,
    /// Whether its members keep totals of their own, as the engine merged
    /// into does.
    member_totals: bool,
    /// Where its histories are folded, as the engine merged into says.
    fold_over: Option<usize>,
}

impl<'p> Shard<'p> {
    /// A shard's thread: applies what it is told and sends its rows back per
    /// batch; returns its engine when its inbox closes.
    fn work(
        mut self,
        mut engine: Engine<'p>,
        batches: &Receiver<Batch>,
        pieces: &SyncSender<Piece>,
    ) -> Engine<'p> {
        let program = self.program;
        if let Some(bytes) = self.fold_over {
            engine.fold_histories_over(bytes);
        }
        if self.stream {
            engine.accept_late_events();
        }
        if self.member_totals {
            engine.keep_member_totals();
        }
        engine.mark_clock_work();
        // The dealer deals an id again only if every shard rejected it.
        engine.leave_ids_to_caller();
        let mut marks = Vec::new();
        let mut last_pieces = 0;
        let counts_budgets = tied_by_budgets_only(program);
        // Kept from batch to batch for its row buffer: the engine writes
        // into it in turn, so neither is grown from nothing again.
        let mut cut = Cut::default();
        'batches: for batch in batches {
            // Each tick's or event's rows are the ones the engine wrote
            // since the last (`written`); they are formatted and passed to
            // `piece` (`settle`) at the end of the batch, and in between
            // while a month end's clock work goes on. Room for as many
            // pieces as the last batch had.
            let mut piece = Piece {
                pieces: Vec::with_capacity(last_pieces),
                rows: batch.rows,
                ..Piece::default()
            };
            let mut spare_bytes = batch.bytes;
            cut.settled = 0;
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
                    let mut pieces_held = 0;
                    while engine.advance_some(time, self.piece_rows) {
                        cut.pieces(&mut engine, position, &mut marks, &mut piece);
                        self.settle(&mut engine, &mut cut, &mut piece);
                        // A month end's clock work goes on in parts: the
                        // batch's rows so far go every `PART_PIECES` pieces,
                        // not held (twice, with the merge's copy) to the
                        // batch's end.
                        pieces_held += 1;
                        if pieces_held == PART_PIECES {
                            pieces_held = 0;
                            self.close(&mut piece, std::mem::take(&mut spare_bytes), true);
                            cut.settled = 0;
                            if pieces.send(std::mem::take(&mut piece)).is_err() {
                                break 'batches;
                            }
                        }
                    }
                    position
                } else {
                    let Some((position, event)) = events.next() else {
                        break;
                    };
                    engine.set_position(position);
                    if let Err(reject) = engine.apply(&event) {
                        piece.rejects.push(reject);
                        piece.freed.push((event.id.to_string(), event.time));
                    }
                    position
                };
                cut.pieces(&mut engine, position, &mut marks, &mut piece);
            }
            self.settle(&mut engine, &mut cut, &mut piece);
            last_pieces = piece.pieces.len();
            if counts_budgets {
                piece.budget_use = Some(engine.budget_use().clone());
            }
            self.close(&mut piece, spare_bytes, false);
            if pieces.send(piece).is_err() {
                break;
            }
        }
        // The end state is gathered into one engine without the late-event
        // history: freed here, before the gathering's peak.
        engine.history = None;
        engine
    }

    /// Ends `piece` to be sent: the bytes formatted of its rows, into
    /// `reuse`, and whether more of its batch follows.
    fn close(&mut self, piece: &mut Piece, reuse: Vec<u8>, more: bool) {
        piece.more = more;
        if let (Some(format), None) = (self.format.as_mut(), &piece.failed) {
            match format.take(reuse) {
                Ok(bytes) => piece.bytes = bytes,
                Err(e) => piece.failed = Some(e),
            }
        }
    }

    /// Moves the rows the engine wrote since the last call into `piece`:
    /// formatted (its pieces since then told their bytes), and kept only
    /// if the rows are passed on (else dropped here, on this thread).
    fn settle(&mut self, engine: &mut Engine, cut: &mut Cut, piece: &mut Piece) {
        engine.drain_ledger_into(&mut cut.rows);
        let parts = piece.pieces.get_mut(cut.settled..).unwrap_or_default();
        if let (Some(format), None) = (self.format.as_mut(), &piece.failed) {
            let mut rows = cut.rows.as_slice();
            for (_, part) in parts {
                let (these, rest) = rows.split_at(part.rows.min(rows.len()));
                match format.add(these) {
                    Ok(bytes) => part.bytes = bytes,
                    Err(e) => {
                        piece.failed = Some(e);
                        break;
                    }
                }
                rows = rest;
            }
        }
        cut.settled = piece.pieces.len();
        cut.written = 0;
        if self.keep_rows {
            piece.rows.append(&mut cut.rows);
        } else {
            cut.rows.clear();
        }
    }
}

/// Where a shard is in cutting the engine's rows into keyed pieces.
#[derive(Default)]
struct Cut {
    /// Rows the engine has written since they were last settled.
    written: usize,
    /// How many of the batch's pieces have been settled.
    settled: usize,
    /// A buffer the engine's rows are drained into (kept for its room).
    rows: Vec<Entry>,
}

impl Cut {
    /// Cuts the rows written since the last call into pieces keyed by
    /// `position`: the rows before the first piece of clock work are the
    /// event's own; each piece of clock work starts at its mark.
    fn pieces(
        &mut self,
        engine: &mut Engine,
        position: u64,
        marks: &mut Vec<(ClockOrder, usize)>,
        piece: &mut Piece,
    ) {
        engine.drain_marks_into(marks);
        let end = engine.ledger_len();
        let first = marks.first().map_or(end, |(_, at)| *at);
        if first > self.written {
            let key = Key {
                position,
                own: true,
                clock: None,
            };
            let rows = first - self.written;
            piece.pieces.push((key, Part { rows, bytes: 0 }));
        }
        let ends = marks.iter().skip(1).map(|(_, at)| *at).chain([end]);
        for ((order, start), end) in marks.iter().zip(ends) {
            let key = Key {
                position,
                own: false,
                clock: Some(*order),
            };
            // Clock work that wrote nothing (a stale due) is left out.
            let rows = end.saturating_sub(*start);
            if rows > 0 {
                piece.pieces.push((key, Part { rows, bytes: 0 }));
            }
        }
        self.written = end;
    }
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
    /// Row and byte buffers the merge has emptied, for the shards to fill
    /// again.
    spare: Vec<Vec<Entry>>,
    spare_bytes: Vec<Vec<u8>>,
    /// Batches sent and not merged yet.
    pending: usize,
    /// The buffers merged rows and bytes are passed on in, kept from batch
    /// to batch.
    merged: Vec<Entry>,
    merged_bytes: Vec<u8>,
    clock: Option<DateTime<Utc>>,
    /// The ids of the events dealt, with their times, less those a shard
    /// rejected (merged batches leave only ids applied).
    ids: RecentIds,
    /// Members enrolled.
    members: IdSet,
    keeps_history: bool,
    routing: foldhash::fast::FixedState,
    /// The shard of each member enrolled naming a referrer: the referrer's,
    /// since its rules may pay the referrer (members referred by no one
    /// are dealt by their id).
    referred: BTreeMap<String, usize>,
    outcome: Outcome,
    /// How many events were dealt or rejected here: the next one's
    /// position, as one engine counts the events it is given.
    next_position: u64,
    /// The shards' use of the program-wide budgets (for a program tied by
    /// budgets alone).
    budgets: BudgetWatch,
    /// The position of the event before which the shards hand their
    /// members over to one engine (`Shards::hand_over_at`), if asked.
    hand_over_at: Option<u64>,
}

/// The shards' use of each program-wide budget, as their batches are
/// merged: whether a budget ran out across them (no more is dealt: the run
/// is to be done again on one engine, `Engine::budgets_held`), or is so
/// nearly spent that the batches in flight could spend the rest (in a
/// sorted replay the shards hand their members over to one engine then,
/// which cuts the award that passes the amount as it would have, and deals
/// them out again once no budget is near its amount).
#[derive(Debug)]
struct BudgetWatch {
    /// What the budgets gave each shard's members, as of its last batch
    /// merged.
    by_shard: Vec<Budgets>,
    /// Their sum over the shards.
    total: Budgets,
    /// Per budget, the most one shard's batch added to its use.
    steps: Budgets,
    /// The budgets spent before the shards were dealt: each shard holds
    /// them at their amount (`Engine::split`), they cannot change, and are
    /// not summed.
    spent: Vec<BudgetKey>,
    ran_out: bool,
    nearly_spent: bool,
}

impl BudgetWatch {
    fn new(shards: usize) -> BudgetWatch {
        BudgetWatch {
            by_shard: (0..shards).map(|_| Budgets::new()).collect(),
            total: Budgets::new(),
            steps: Budgets::new(),
            spent: Vec::new(),
            ran_out: false,
            nearly_spent: false,
        }
    }

    /// The watch of `shards` shards dealt out again by one engine whose
    /// budgets had `used` (the first shard holds the use of those not
    /// spent: `Engine::split`), the steps seen before kept.
    fn dealt_again(&self, program: &Program, shards: usize, used: &Budgets) -> BudgetWatch {
        let spent: Vec<BudgetKey> = used
            .iter()
            .filter(|(key, _)| is_spent(program, key, used))
            .map(|(key, _)| *key)
            .collect();
        let mut first = used.clone();
        first.retain(|key, _| !spent.contains(key));
        let mut by_shard = vec![first.clone()];
        by_shard.resize_with(shards.max(1), Budgets::new);
        BudgetWatch {
            by_shard,
            total: first,
            steps: self.steps.clone(),
            spent,
            ran_out: false,
            nearly_spent: false,
        }
    }

    /// Shard `shard`'s use as of its batch just merged.
    fn update(&mut self, program: &Program, shard: usize, used: Budgets) {
        let Some(before) = self.by_shard.get_mut(shard) else {
            return;
        };
        for (key, now) in used.iter().filter(|(key, _)| !self.spent.contains(key)) {
            let added = *now - before.get(key).copied().unwrap_or_default();
            *self.total.entry(*key).or_default() += added;
            let step = self.steps.entry(*key).or_default();
            *step = (*step).max(added);
        }
        *before = used;
        self.ran_out = !budgets_held(program, &self.total);
        self.nearly_spent = self
            .total
            .iter()
            .any(|(key, used)| self.near(program, key, *used));
    }

    /// Whether a budget whose use is `used` has at most so many of the
    /// largest steps left: each shard's batches in flight and the one
    /// being dealt, twice over.
    fn near(&self, program: &Program, key: &BudgetKey, used: Decimal) -> bool {
        let margin = Decimal::from(2 * (IN_FLIGHT + 1) * self.by_shard.len());
        let step = self.steps.get(key).copied().unwrap_or_default();
        let left = budget_amount(program, key).map(|amount| amount - used);
        // A margin past a decimal's range is more than any budget has.
        let needed = step.checked_mul(margin).unwrap_or(Decimal::MAX);
        left.is_none_or(|left| left <= needed)
    }

    /// Whether one engine whose budgets' use is `used` may deal its members
    /// out again: every budget is spent or far from its amount.
    fn none_near(&self, program: &Program, used: &Budgets) -> bool {
        used.iter()
            .all(|(key, u)| is_spent(program, key, used) || !self.near(program, key, *u))
    }
}

/// `count` new engines of `program`, for shards to start from.
fn new_engines(program: &Program, count: usize) -> Vec<Engine<'_>> {
    (0..count).map(|_| Engine::new(program)).collect()
}

/// How members referred by no one are dealt: by their id's hash, the
/// same in every run.
fn routing() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0)
}

/// The shard of `count` a member referred by no one is dealt to.
fn shard_by_id(routing: &foldhash::fast::FixedState, id: &str, count: usize) -> usize {
    routing.hash_one(id) as usize % count.max(1)
}

/// Whether budget `key` is spent in `used`: at its amount (a cut fills a
/// budget to its amount exactly).
fn is_spent(program: &Program, key: &BudgetKey, used: &Budgets) -> bool {
    let amount = budget_amount(program, key);
    amount.is_some_and(|amount| used.get(key).is_some_and(|used| *used >= amount))
}

impl<'p> Dealer<'p> {
    /// A dealer to the shards behind `inboxes` and `outboxes`, going on
    /// from `resume` and counting into `outcome`, that hands over before
    /// the event at `hand_over_at`, if given.
    fn new(
        program: &'p Program,
        options: Options,
        (inboxes, outboxes): (Vec<SyncSender<Batch>>, Vec<Receiver<Piece>>),
        resume: Resume,
        outcome: Outcome,
        hand_over_at: Option<u64>,
    ) -> Self {
        let Resume {
            ids,
            members,
            referred,
            clock,
            next_position,
            budgets,
        } = resume;
        Dealer {
            program,
            options,
            dealing: (0..inboxes.len()).map(|_| Vec::new()).collect(),
            inboxes,
            outboxes,
            ticks: Vec::new(),
            spare: Vec::new(),
            spare_bytes: Vec::new(),
            pending: 0,
            merged: Vec::new(),
            merged_bytes: Vec::new(),
            clock,
            ids,
            members,
            keeps_history: options.order == Order::Stream && accepts_late_events(program),
            routing: routing(),
            referred,
            outcome,
            next_position,
            budgets,
            hand_over_at,
        }
    }

    /// Deals `first`, if given, and `events` to the shards and merges
    /// their rows, until the end or until the shards hand their members
    /// over to one engine: then, once the shards have applied everything
    /// dealt, the first event not dealt, for that engine.
    fn deal<I, E>(
        &mut self,
        first: Option<Event>,
        events: &mut InOrder<I>,
        ledger: &mut Sink<'_, E>,
    ) -> Result<Option<Event>, E>
    where
        I: Iterator<Item = Result<Event, Reject>>,
        E: From<io::Error>,
    {
        let mut first = first;
        while let Some(event) = events.next_after(&mut first, &mut self.outcome)? {
            if self.hands_over() {
                self.wait_for_shards(ledger)?;
                return Ok(Some(event));
            }
            self.event(event, ledger)?;
            if self.budgets.ran_out {
                break;
            }
        }
        if let Some(until) = self.options.until {
            // After every event: the clock work up to `until`.
            self.ticks.push((u64::MAX, until));
        }
        self.wait_for_shards(ledger)?;
        self.outcome.rejects.sort_by(|a, b| a.origin.cmp(&b.origin));
        Ok(None)
    }

    /// Whether the shards hand their members over to one engine before the
    /// next event (only in a sorted replay: with `--stream`, the shards'
    /// late-event histories are not gathered).
    fn hands_over(&self) -> bool {
        let asked = self.hand_over_at.is_some_and(|at| self.next_position >= at);
        self.options.order == Order::Sort && (asked || self.budgets.nearly_spent)
    }

    /// Deals one event to its member's shard, after what one engine would
    /// decide across members: a reject for its time or a duplicate id, and
    /// whether it moves the clock (then every shard is told).
    fn event<E: From<io::Error>>(
        &mut self,
        event: Event,
        ledger: &mut Sink<'_, E>,
    ) -> Result<(), E> {
        let position = self.next_position;
        self.next_position += 1;
        let late = match admit_time(self.program, self.clock, self.keeps_history, &event) {
            Ok(late) => late,
            Err(reject) => {
                self.outcome.rejects.push(reject);
                return Ok(());
            }
        };
        // A copy of an event dealt is a duplicate if that event was applied
        // (a rejected event's id is free again): the shards' rejects tell.
        if is_copy(self.program, &self.ids, &event) {
            self.wait_for_shards(ledger)?;
            if is_copy(self.program, &self.ids, &event) {
                self.outcome.rejects.push(duplicate(self.program, &event));
                return Ok(());
            }
        }
        let (program, clock, keeps_history) = (self.program, self.clock, self.keeps_history);
        self.ids.insert(&event.id, event.time, || {
            ids_cutoff(program, clock, keeps_history)
        });
        let builtin = self.program.events.get(event.kind).map(|t| t.builtin);
        let enroll = builtin == Some(Some(BuiltinEvent::Enroll));
        let enrolled = self.members.contains(&event.member);
        let admitted = builtin.is_some() && enroll != enrolled;
        // A referral links the new member to an enrolled one, not itself.
        let referrer = match &event.body {
            Body::Enroll {
                referred_by: Some(r),
            } => Some(&**r),
            _ => None,
        };
        let linked = referrer.filter(|r| *r != event.member && self.members.contains(r));
        // An enrolment in time succeeds (but for a referrer it cannot
        // link), and a late one unless it is too late (the new member has
        // nothing to re-run).
        let too_late = |clock| too_late(self.program, event.time, clock).is_some();
        let joins = referrer.is_none() || linked.is_some();
        if admitted && enroll && joins && !late.is_some_and(too_late) {
            self.members.insert(&event.member);
            if let Some(r) = linked {
                let shard = self.shard_of(r);
                self.referred.insert(event.member.clone(), shard);
            }
        }
        if admitted && late.is_none() {
            self.clock = Some(event.time);
            self.ticks.push((position, event.time));
        }
        let shard = self.shard_of(&event.member);
        if let Some(events) = self.dealing.get_mut(shard) {
            events.push((position, event));
        }
        if self.dealing.iter().map(Vec::len).sum::<usize>() >= BATCH {
            self.send(ledger)?;
        }
        Ok(())
    }

    /// The shard a member's events go to: its referrer's, else by its id.
    fn shard_of(&self, member: &str) -> usize {
        match self.referred.get(member) {
            Some(shard) => *shard,
            None => shard_by_id(&self.routing, member, self.dealing.len()),
        }
    }

    /// Waits for the shards to get through everything dealt so far, so
    /// that the ids they rejected are free again (copies are rare).
    fn wait_for_shards<E: From<io::Error>>(&mut self, ledger: &mut Sink<'_, E>) -> Result<(), E> {
        self.send(ledger)?;
        while self.pending > 0 {
            self.merge(ledger)?;
        }
        Ok(())
    }

    /// Sends the batch being dealt to the shards, merging the oldest batch
    /// first if the shards are that far ahead.
    fn send<E: From<io::Error>>(&mut self, ledger: &mut Sink<'_, E>) -> Result<(), E> {
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
                // Room for as many events as this shard had.
                events: std::mem::replace(events, Vec::with_capacity(events.len())),
                rows: self.spare.pop().unwrap_or_default(),
                bytes: self.spare_bytes.pop().unwrap_or_default(),
            };
            // A closed inbox means its worker panicked: its join says why.
            let _ = inbox.send(batch);
        }
        self.pending += 1;
        Ok(())
    }

    /// Merges the shards' rows of the oldest batch sent and passes them on:
    /// part by part as the shards send them (a month end's clock work comes
    /// in parts), what is merged passed on before waiting for a next part.
    fn merge<E: From<io::Error>>(&mut self, ledger: &mut Sink<'_, E>) -> Result<(), E> {
        self.pending = self.pending.saturating_sub(1);
        let mut merged = std::mem::take(&mut self.merged);
        let mut merged_bytes = std::mem::take(&mut self.merged_bytes);
        merged.clear();
        merged_bytes.clear();
        let mut incoming = Vec::with_capacity(self.outboxes.len());
        for shard in 0..self.outboxes.len() {
            incoming.push(self.receive(shard)?);
        }
        loop {
            for (shard, slot) in incoming.iter_mut().enumerate() {
                while slot.as_mut().is_some_and(Incoming::merged_and_more) {
                    // Its next part may hold the least key: what is merged
                    // goes on while it is awaited.
                    if !merged.is_empty() || !merged_bytes.is_empty() {
                        ledger(&mut merged, &merged_bytes)?;
                        merged.clear();
                        merged_bytes.clear();
                    }
                    let next = self.receive(shard)?;
                    if let Some(done) = std::mem::replace(slot, next) {
                        self.recycle(done);
                    }
                }
            }
            // Keys of different shards never tie (a member, its clock work
            // and its events are in one shard): the piece with the least
            // key of the shards' next ones comes next.
            let next = incoming
                .iter_mut()
                .enumerate()
                .filter_map(|(shard, part)| Some((part.as_mut()?.keys.peek()?.0, shard)))
                .min();
            let Some((_, shard)) = next else {
                break;
            };
            let part = incoming.get_mut(shard).and_then(Option::as_mut);
            if !part.is_some_and(|part| part.pass_next(&mut merged, &mut merged_bytes)) {
                break;
            }
        }
        for done in incoming.into_iter().flatten() {
            self.recycle(done);
        }
        let passed = ledger(&mut merged, &merged_bytes);
        self.merged = merged;
        self.merged_bytes = merged_bytes;
        passed
    }

    /// Shard `shard`'s next part of the batch being merged (`None` if its
    /// thread ended: its join says why): the ids it rejected are free
    /// again, its rejects kept; `Err` if its rows could not be formatted.
    fn receive(&mut self, shard: usize) -> io::Result<Option<Incoming>> {
        let Some(Ok(piece)) = self.outboxes.get(shard).map(Receiver::recv) else {
            return Ok(None);
        };
        for (id, time) in &piece.freed {
            self.ids.remove(id, *time);
        }
        self.outcome.rejects.extend(piece.rejects);
        if let Some(e) = piece.failed {
            return Err(e);
        }
        if let Some(used) = piece.budget_use {
            self.budgets.update(self.program, shard, used);
        }
        // A shard cuts its pieces in input order, the clock's before an
        // event's own at one position (the tick moved the clock first).
        debug_assert!(piece.pieces.is_sorted_by_key(|(key, _)| *key));
        Ok(Some(Incoming {
            keys: piece.pieces.into_iter().peekable(),
            rows: piece.rows.into(),
            bytes: piece.bytes,
            taken: 0,
            more: piece.more,
        }))
    }

    /// Keeps a merged part's emptied buffers for the next batches, unless
    /// a month end made them large (kept, they would hold its memory), or
    /// enough are kept for every batch that can be in flight (a month end's
    /// parts bring many).
    fn recycle(&mut self, done: Incoming) {
        let most = self.outboxes.len() * IN_FLIGHT;
        let rows = Vec::from(done.rows);
        if rows.capacity() <= SPARE_ROWS && self.spare.len() < most {
            self.spare.push(rows);
        }
        if done.bytes.capacity() <= SPARE_BYTES && self.spare_bytes.len() < most {
            let mut bytes = done.bytes;
            bytes.clear();
            self.spare_bytes.push(bytes);
        }
    }
}

/// One shard's part of the batch being merged, and how far the merge took it.
struct Incoming {
    keys: std::iter::Peekable<std::vec::IntoIter<(Key, Part)>>,
    rows: VecDeque<Entry>,
    bytes: Vec<u8>,
    /// How many of `bytes` are merged.
    taken: usize,
    /// Whether the shard sends another part of the batch after this one.
    more: bool,
}

impl Incoming {
    /// Whether this part is merged and the shard sends another.
    fn merged_and_more(&mut self) -> bool {
        self.more && self.keys.peek().is_none()
    }

    /// Moves its next piece's rows and lines to `rows` and `bytes`;
    /// `false` if it has none left.
    fn pass_next(&mut self, rows: &mut Vec<Entry>, bytes: &mut Vec<u8>) -> bool {
        let Some((_, piece)) = self.keys.next() else {
            return false;
        };
        rows.extend(self.rows.drain(..piece.rows.min(self.rows.len())));
        let end = self.taken.saturating_add(piece.bytes).min(self.bytes.len());
        bytes.extend_from_slice(self.bytes.get(self.taken..end).unwrap_or_default());
        self.taken = end;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::replay::replay_in_pieces;
    use crate::engine::tests::month_end;
    use crate::report::LedgerLines;

    /// `count` shards, clock work passed on `piece_rows` rows at a time.
    fn shards(count: usize, piece_rows: usize) -> Shards {
        Shards {
            count,
            piece_rows,
            hand_over_at: None,
            deal_again_at: None,
        }
    }

    /// `month_end` of `ann` and `count` more members.
    fn month_end_of(count: usize) -> (Program, Vec<Event>) {
        let names: Vec<String> = (0..count).map(|i| format!("m{i:04}")).collect();
        let members: Vec<&str> = ["ann"]
            .into_iter()
            .chain(names.iter().map(String::as_str))
            .collect();
        month_end(&members)
    }

    #[test]
    fn a_sink_that_fails_in_a_month_end_ends_the_run_with_its_error() {
        // Two thousand members' points expire at one month end: each shard
        // sends it in many more parts than its channel holds. The sink
        // fails at the month end's first part (a full disk); the shards
        // still sending must not keep the run from ending.
        let (program, events) = month_end_of(2000);
        let (done, ended) = mpsc::channel();
        std::thread::spawn(move || {
            let options = Options {
                order: Order::Sort,
                until: DateTime::parse_from_rfc3339("2025-12-31T00:00:00Z")
                    .ok()
                    .map(|t| t.to_utc()),
                strict: false,
            };
            let format = || -> Box<dyn Format + '_> { Box::new(LedgerLines::new(&program)) };
            let mut calls = 0;
            let output = Output {
                format: Some(&format),
                rows: false,
                sink: &mut |_: &mut Vec<Entry>, _: &[u8]| {
                    calls += 1;
                    match calls {
                        1 => Ok(()),
                        _ => Err(io::Error::other("no space left on device")),
                    }
                },
            };
            let records = events.into_iter().map(Ok);
            let result = replay_sharded(
                &mut Engine::new(&program),
                records,
                options,
                shards(2, 1),
                output,
            );
            let _ = done.send(result.err().map(|e| e.to_string()));
        });
        assert_eq!(
            ended.recv_timeout(std::time::Duration::from_secs(60)),
            Ok(Some("no space left on device".to_string()))
        );
    }

    #[test]
    fn a_month_end_in_pieces_gives_one_engines_rows_and_lines() {
        // A hundred members' points expire at one month end: the single
        // engine and the shards pass that clock work on a few rows at a
        // time (2 here), the shards in parts of `PART_PIECES` pieces.
        let (program, events) = month_end_of(100);
        let records = || events.iter().cloned().map(Ok);
        let options = Options {
            order: Order::Stream,
            until: Some(
                DateTime::parse_from_rfc3339("2025-12-31T00:00:00Z")
                    .unwrap()
                    .to_utc(),
            ),
            strict: false,
        };
        let mut one = Vec::new();
        let mut sizes = Vec::new();
        replay_in_pieces(
            &mut Engine::new(&program),
            records(),
            options,
            2,
            &mut |rows: &mut Vec<Entry>| {
                sizes.push(rows.len());
                one.append(rows);
                Ok::<(), io::Error>(())
            },
        )
        .unwrap();
        assert!(
            sizes.contains(&2),
            "the month end came in pieces: {sizes:?}"
        );
        let mut lines = LedgerLines::new(&program);
        lines.add(&one).unwrap();
        let one_lines = lines.take(Vec::new());
        for keep_rows in [true, false] {
            let mut rows = Vec::new();
            let mut bytes = Vec::new();
            let mut passed = Vec::new();
            let format = || -> Box<dyn Format + '_> { Box::new(LedgerLines::new(&program)) };
            let output = Output {
                format: Some(&format),
                rows: keep_rows,
                sink: &mut |more: &mut Vec<Entry>, lines: &[u8]| {
                    rows.append(more);
                    bytes.extend_from_slice(lines);
                    passed.push(lines.iter().filter(|b| **b == b'\n').count());
                    Ok::<(), io::Error>(())
                },
            };
            replay_sharded(
                &mut Engine::new(&program),
                records(),
                options,
                shards(3, 2),
                output,
            )
            .unwrap();
            // The month end, a batch of its own (the clock moves to
            // `until` after the events), reached the sink in parts, as one
            // engine passes it on, not held whole to its batch's end.
            let month_end: usize = passed.iter().skip(1).sum();
            assert!(
                passed.len() > 2 && passed.iter().skip(1).all(|lines| *lines < month_end),
                "{passed:?}"
            );
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&one_lines)
            );
            if keep_rows {
                assert_eq!(rows, one);
            } else {
                assert!(rows.is_empty());
            }
        }
    }
}
