//! One run of a program over events, as every caller makes it: the command
//! line, `loyalty test`, `diff`, `loyalty serve`, the benches and the
//! tests (and, to come, the bindings). [`Run`] says how (order, `--until`,
//! strict, threads, a member to explain); [`Sinks`] where the ledger's rows
//! go, through one fan-out (the ledger file, the liability table, the tier
//! mix, a caller's own); [`Run::replay`] chooses the thread mode — one
//! thread; records read ahead on a thread of their own and members dealt
//! into shards (for a program whose members share budgets alone, kept
//! only if every budget held, else done again); or, for a program whose
//! members cannot be split, the ledger written on a thread of its own —
//! and gives back the engine's end state.
//! The output is the same for any number of threads.

use crate::compile::ir::Program;
use crate::engine::ledger::Entry;
use crate::engine::replay::{self, Options, Order, Outcome};
use crate::engine::sharded;
use crate::engine::Engine;
use crate::events::{Event, Reject};
use crate::finance::liability::LiabilityBuilder;
use crate::report::tier_mix::TierMix;
use crate::report::{LedgerLines, LedgerWriter};
use chrono::{DateTime, Utc};
use std::convert::Infallible;
use std::io::{self, Read, Seek, Write};
use std::sync::mpsc::{self, SyncSender};

pub mod diff;
pub mod explain;
mod reject_limit;

pub use reject_limit::RejectLimit;

/// Records or rows handed between threads at a time: enough to make the
/// cost of a hand-over small, few enough to keep memory flat.
const BATCH: usize = 4096;

/// Batches in flight between two threads before the faster one waits.
const IN_FLIGHT: usize = 16;

/// The records of a run, read and typed (or rejected) one by one.
pub type Records<'r> = Box<dyn Iterator<Item = Result<Event, Reject>> + 'r>;

/// A caller's own sink: every row, in the ledger's order.
pub type RowSink<'s> = dyn FnMut(&[Entry]) -> io::Result<()> + Send + 's;

/// How to run a program over events.
#[derive(Debug, Clone, Copy)]
pub struct Run<'p> {
    program: &'p Program,
    options: Options,
    threads: usize,
    /// Members in this many shards whatever the threads (`Run::shards`).
    shards: Option<usize>,
    /// The most rows of clock work passed on at a time (`Run::pieces`).
    piece_rows: usize,
    explain: Option<&'p str>,
    /// Each member's own totals kept (`Run::member_totals`).
    member_totals: bool,
    /// Where streamed histories are folded (`Run::fold_histories_over`).
    fold_over: Option<usize>,
    /// Where shards hand their members over to one engine, and where it
    /// deals them out again (`Run::hand_over_at`).
    hand_over_at: Option<(u64, Option<u64>)>,
}

/// Where a run's rows go; each is optional.
pub struct Sinks<'p, 's, W: Write> {
    /// `ledger.csv`'s lines.
    pub ledger: Option<LedgerWriter<'p, W>>,
    /// The liability table's flows (`--report`).
    pub liability: Option<LiabilityBuilder<'p>>,
    /// Members per tier by month (`--html`).
    pub tier_mix: Option<TierMix<'p>>,
    pub rows: Option<&'s mut RowSink<'s>>,
}

/// A run done: the engine as it ended, what was read and not applied, and
/// the sinks (a ledger writer still to be finished).
pub struct Finished<'p, 's, W: Write> {
    pub engine: Engine<'p>,
    pub outcome: Outcome,
    pub sinks: Sinks<'p, 's, W>,
    /// Why events were applied on one thread although more were asked for.
    pub one_thread: Option<&'static str>,
    /// When events were applied by one engine, after shards handed their
    /// members over to it (a program-wide budget was nearly spent): the
    /// time of the first event it applied and of the first it dealt out
    /// again (`None`: to the end).
    pub alone: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl<'p, 's, W: Write> Finished<'p, 's, W> {
    /// A run done in shards, some of it perhaps by one engine alone.
    fn in_shards(engine: Engine<'p>, sharded: sharded::Sharded, sinks: Sinks<'p, 's, W>) -> Self {
        Finished {
            engine,
            outcome: sharded.outcome,
            sinks,
            one_thread: None,
            alone: sharded.alone,
        }
    }
}

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E> {
    /// The records could not be opened.
    #[error("{0}")]
    Open(E),
    /// A sink could not take the rows.
    #[error("cannot write the ledger: {0}")]
    Write(#[from] csv::Error),
}

impl<'p> Run<'p> {
    /// A run of `program` on one thread.
    pub fn new(program: &'p Program, options: Options) -> Self {
        Run {
            program,
            options,
            threads: 1,
            shards: None,
            piece_rows: replay::PIECE_ROWS,
            explain: None,
            member_totals: false,
            fold_over: None,
            hand_over_at: None,
        }
    }

    /// With `threads` threads (at least one).
    pub fn threads(self, threads: usize) -> Self {
        Run {
            threads: threads.max(1),
            ..self
        }
    }

    /// Members dealt into `shards` shards, each on a thread of its own,
    /// whatever `threads` says (for a program whose members can be split):
    /// how the tests and benches compare a sharded replay with one engine.
    pub fn shards(self, shards: usize) -> Self {
        Run {
            shards: Some(shards.max(1)),
            ..self
        }
    }

    /// Clock work (a month end's expiries) passed on at most `rows` rows
    /// (at least one) at a time, rather than `replay::PIECE_ROWS`: how the
    /// tests check that the pieces change nothing.
    pub fn pieces(self, rows: usize) -> Self {
        Run {
            piece_rows: rows.max(1),
            ..self
        }
    }

    /// Each member's own totals kept (`Engine::keep_member_totals`): for
    /// what reads them from the engine the run ends with.
    pub fn member_totals(self) -> Self {
        Run {
            member_totals: true,
            ..self
        }
    }

    /// With `--stream`, a member's late-event history folded into a
    /// checkpoint once its events take more than `bytes` bytes, rather than
    /// the engine's default (`Engine::fold_histories_over`): how the tests
    /// make checkpoints of short histories.
    pub fn fold_histories_over(self, bytes: usize) -> Self {
        Run {
            fold_over: Some(bytes),
            ..self
        }
    }

    /// In a sorted run in shards, the shards hand their members over to
    /// one engine before the event at `position` (counted from 0 in the
    /// order applied), which applies what follows, until it deals them out
    /// into shards again before the event at `again`, if given: how the
    /// tests check that handovers anywhere change nothing
    /// (`sharded::Shards::hand_over_at`).
    pub fn hand_over_at(self, position: u64, again: Option<u64>) -> Self {
        Run {
            hand_over_at: Some((position, again)),
            ..self
        }
    }

    /// Explaining `member`'s rows and rules (`Engine::take_explanation`).
    pub fn explain(self, member: &'p str) -> Self {
        Run {
            explain: Some(member),
            ..self
        }
    }

    /// Replays `records` through a new engine into `sinks`.
    pub fn replay<'s, W: Write + Send>(
        &self,
        records: Records<'_>,
        sinks: Sinks<'p, 's, W>,
    ) -> Result<Finished<'p, 's, W>, csv::Error> {
        self.replay_from(Source::<Infallible>::Records(records), sinks)
            .map_err(|e| match e {
                RunError::Write(e) => e,
                RunError::Open(never) => match never {},
            })
    }

    /// Replays the records `open` gives through a new engine into `sinks`.
    /// `open` is called once; with more than one thread, on a thread of its
    /// own that reads and types the records while they are applied.
    pub fn replay_read<'s, W: Write + Send, E: Send>(
        &self,
        open: &(dyn Fn() -> Result<Records<'p>, E> + Sync),
        sinks: Sinks<'p, 's, W>,
    ) -> Result<Finished<'p, 's, W>, RunError<E>> {
        self.replay_from(Source::Open(open), sinks)
    }

    fn replay_from<'s, W: Write + Send, E: Send>(
        &self,
        source: Source<'_, '_, E>,
        mut sinks: Sinks<'p, 's, W>,
    ) -> Result<Finished<'p, 's, W>, RunError<E>> {
        let program = self.program;
        let options = self.options;
        let pieces = self.piece_rows;
        let mut engine = self.engine();
        let mut one_thread = if options.strict {
            Some("--strict stops at the first reject in input order")
        } else {
            sharded::why_not_sharded(program)
        };
        if let (Source::Open(open), true) = (&source, self.speculates(&sinks)) {
            match self.replay_in_shards_if_budgets_hold(*open, &mut sinks)? {
                InShards::Held(held) => {
                    let (engine, sharded) = *held;
                    return Ok(Finished::in_shards(engine, sharded, sinks));
                }
                InShards::Again(why) => one_thread = Some(why),
            }
        }
        if let (Some(shards), None) = (self.shards, one_thread) {
            let records = source.open()?;
            let (sharded, sinks) =
                replay_in_shards(&mut engine, records, options, self.dealing(shards), sinks)?;
            return Ok(Finished::in_shards(engine, sharded, sinks));
        }
        if self.threads == 1 {
            let records = source.open()?;
            let outcome =
                replay::replay_in_pieces(&mut engine, records, options, pieces, &mut |rows| {
                    sinks.add(rows)
                })?;
            return Ok(Finished {
                engine,
                outcome,
                sinks,
                one_thread: None,
                alone: Vec::new(),
            });
        }
        let threads = self.threads;
        let engine_ref = &mut engine;
        let dealing = self.dealing(threads);
        let (outcome, sinks, alone) = std::thread::scope(|scope| {
            let (records, reader): (Records<'_>, _) = match source {
                Source::Records(records) => (records, None),
                Source::Open(open) => {
                    let (send_records, receive_records) = mpsc::sync_channel(IN_FLIGHT);
                    let reader = scope.spawn(move || read_ahead(open, &send_records));
                    (
                        Box::new(receive_records.into_iter().flatten()),
                        Some(reader),
                    )
                }
            };
            let replayed = match one_thread {
                None => replay_in_shards(engine_ref, records, options, dealing, sinks)
                    .map(|(sharded, sinks)| (sharded.outcome, sinks, sharded.alone)),
                Some(_) if threads == 2 => {
                    replay::replay_in_pieces(engine_ref, records, options, pieces, &mut |rows| {
                        sinks.add(rows)
                    })
                    .map(|outcome| (outcome, sinks, Vec::new()))
                }
                Some(_) => replay_then_write(scope, engine_ref, records, options, pieces, sinks)
                    .map(|(outcome, sinks)| (outcome, sinks, Vec::new())),
            };
            // The replay dropped the receiver: a reader still reading (after
            // --strict stopped early) finds the channel closed and stops.
            if let Some(reader) = reader {
                let read = reader
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                read.map_err(RunError::Open)?;
            }
            Ok::<_, RunError<E>>(replayed?)
        })?;
        Ok(Finished {
            engine,
            outcome,
            sinks,
            one_thread,
            alone,
        })
    }

    /// Members dealt into `count` shards, as the run says.
    fn dealing(&self, count: usize) -> sharded::Shards {
        sharded::Shards {
            count,
            piece_rows: self.piece_rows,
            hand_over_at: self.hand_over_at.map(|(at, _)| at),
            deal_again_at: self.hand_over_at.and_then(|(_, again)| again),
        }
    }

    /// A new engine, set as the run says.
    fn engine(&self) -> Engine<'p> {
        let mut engine = Engine::new(self.program);
        if self.member_totals {
            engine.keep_member_totals();
        }
        if let Some(bytes) = self.fold_over {
            engine.fold_histories_over(bytes);
        }
        if let Some(member) = self.explain {
            engine.explain(member);
        }
        engine
    }

    /// Whether the run first tries shards as if its members were not tied
    /// (`replay_in_shards_if_budgets_hold`): for a program whose members
    /// are tied by budgets alone, in a sorted replay on more than one
    /// thread, with only a ledger to write (what the rows would tally
    /// elsewhere cannot be taken back).
    fn speculates<W: Write>(&self, sinks: &Sinks<'p, '_, W>) -> bool {
        let options = self.options;
        let threads = self.shards.unwrap_or(self.threads);
        threads > 1
            && !options.strict
            && options.order != Order::Stream
            && self.explain.is_none()
            && !sinks.tallies()
            && sharded::tied_by_budgets_only(self.program)
    }

    /// Replays the records `open` gives in shards, each counting the use of
    /// the program's budgets by its own members, the ledger's lines written
    /// as they come if the ledger can start over
    /// (`LedgerWriter::starting_over`), else held in a temporary file. If
    /// every budget held across the shards (`Engine::budgets_held`), the
    /// shards' rows are one engine's: the lines are in the ledger (those
    /// held are copied there), and the engine and outcome are returned.
    /// Otherwise the ledger is started over (nothing is written to one that
    /// cannot), and the run is to be done again on one engine, for the
    /// reason given (a budget ran out, or the lines could not be held: a
    /// full disk is no reason to fail a run one engine can do).
    fn replay_in_shards_if_budgets_hold<'r, W: Write, E: Send>(
        &self,
        open: &(dyn Fn() -> Result<Records<'r>, E> + Sync),
        sinks: &mut Sinks<'p, '_, W>,
    ) -> Result<InShards<'p>, RunError<E>> {
        const NOT_HELD: &str = "the ledger's lines could not be held in a temporary file, so \
                                the run was done again";
        let program = self.program;
        let mut engine = self.engine();
        let ledger = &mut sinks.ledger;
        let in_place = ledger.as_ref().is_some_and(LedgerWriter::can_start_over);
        let mut aside = match (in_place, tempfile::tempfile()) {
            (true, _) => None,
            (false, Ok(file)) => Some(io::BufWriter::new(file)),
            (false, Err(_)) => return Ok(InShards::Again(NOT_HELD)),
        };
        let format = || -> Box<dyn sharded::Format + 'p> { Box::new(LedgerLines::new(program)) };
        let output = sharded::Output {
            format: ledger.is_some().then_some(&format as _),
            rows: false,
            sink: &mut |_, lines| match (&mut aside, ledger.as_mut()) {
                (Some(aside), _) => Ok(aside.write_all(lines)?),
                (None, Some(ledger)) => ledger.write_lines(lines),
                (None, None) => Ok(()),
            },
        };
        let shards = self.shards.unwrap_or(self.threads);
        let replayed = std::thread::scope(|scope| {
            let (send_records, receive_records) = mpsc::sync_channel(IN_FLIGHT);
            let reader = scope.spawn(move || read_ahead(open, &send_records));
            let records = receive_records.into_iter().flatten();
            let replayed = sharded::replay_sharded(
                &mut engine,
                records,
                self.options,
                self.dealing(shards),
                output,
            );
            reader
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
                .map_err(RunError::Open)?;
            Ok::<_, RunError<E>>(replayed)
        })?;
        let sharded = match replayed {
            Ok(sharded) => sharded,
            // The ledger's own error, as one engine's run would meet it.
            Err(e) if in_place => return Err(RunError::Write(e)),
            Err(_) => return Ok(InShards::Again(NOT_HELD)),
        };
        if !engine.budgets_held() {
            if let Some(ledger) = &mut sinks.ledger {
                ledger.start_over()?;
            }
            return Ok(InShards::Again(
                "a program-wide budget ran out in shards, so the run was done again: for \
                 this input, --threads 1 is faster",
            ));
        }
        if let (Some(aside), Some(ledger)) = (aside, &mut sinks.ledger) {
            let held = aside
                .into_inner()
                .map_err(io::IntoInnerError::into_error)
                .and_then(|mut file| file.seek(io::SeekFrom::Start(0)).map(|_| file));
            let Ok(mut aside) = held else {
                return Ok(InShards::Again(NOT_HELD));
            };
            let mut lines = vec![0; 1 << 20];
            loop {
                let read = aside.read(&mut lines).map_err(csv::Error::from)?;
                match lines.get(..read) {
                    Some(read) if !read.is_empty() => ledger.write_lines(read)?,
                    _ => break,
                }
            }
        }
        Ok(InShards::Held(Box::new((engine, sharded))))
    }
}

/// How a run in shards of a program tied by budgets alone went.
enum InShards<'p> {
    /// Every budget held (the shards may have handed their members over
    /// to one engine before one was spent): the engine's end state and how
    /// the replay went, the lines in the ledger.
    Held(Box<(Engine<'p>, sharded::Sharded)>),
    /// Nothing was written; the run is to be done again on one engine, for
    /// this reason.
    Again(&'static str),
}

/// Where a run's records come from.
enum Source<'o, 'r, E> {
    /// In hand: read on the thread that applies them.
    Records(Records<'r>),
    /// Opened by the function, on a thread of their own when there are
    /// threads to spare.
    Open(&'o (dyn Fn() -> Result<Records<'r>, E> + Sync)),
}

impl<'r, E> Source<'_, 'r, E> {
    /// The records, opened here.
    fn open(self) -> Result<Records<'r>, RunError<E>> {
        match self {
            Source::Records(records) => Ok(records),
            Source::Open(open) => open().map_err(RunError::Open),
        }
    }
}

impl<'p, 's, W: Write> Sinks<'p, 's, W> {
    /// The ledger's lines to `ledger`, and nothing else.
    pub fn to_ledger(ledger: LedgerWriter<'p, W>) -> Self {
        Sinks {
            ledger: Some(ledger),
            liability: None,
            tier_mix: None,
            rows: None,
        }
    }

    fn add(&mut self, rows: &[Entry]) -> csv::Result<()> {
        self.tally(rows)?;
        match &mut self.ledger {
            Some(ledger) => ledger.write(rows),
            None => Ok(()),
        }
    }

    /// Adds rows whose ledger lines were formatted elsewhere.
    fn add_lines(&mut self, rows: &[Entry], lines: &[u8]) -> csv::Result<()> {
        self.tally(rows)?;
        match &mut self.ledger {
            Some(ledger) => ledger.write_lines(lines),
            None => Ok(()),
        }
    }

    fn tally(&mut self, rows: &[Entry]) -> csv::Result<()> {
        if let Some(liability) = &mut self.liability {
            liability.add(rows);
        }
        if let Some(mix) = &mut self.tier_mix {
            mix.add(rows);
        }
        if let Some(sink) = &mut self.rows {
            sink(rows)?;
        }
        Ok(())
    }

    /// Whether a sink needs the rows, not only their lines.
    fn tallies(&self) -> bool {
        self.liability.is_some() || self.tier_mix.is_some() || self.rows.is_some()
    }
}

impl<'p, 's> Sinks<'p, 's, io::Sink> {
    /// No sink: the run's end state only.
    pub fn none() -> Self {
        Sinks {
            ledger: None,
            liability: None,
            tier_mix: None,
            rows: None,
        }
    }

    /// Every row to `rows`, and nothing else.
    pub fn rows(rows: &'s mut RowSink<'s>) -> Self {
        Sinks {
            rows: Some(rows),
            ..Sinks::none()
        }
    }
}

/// Reads and types the records `open` gives in batches, for a replay on
/// another thread; stops early when that replay hangs up.
fn read_ahead<'p, E>(
    open: &(dyn Fn() -> Result<Records<'p>, E> + Sync),
    out: &SyncSender<Vec<Result<Event, Reject>>>,
) -> Result<(), E> {
    let mut batch = Vec::with_capacity(BATCH);
    for record in open()? {
        batch.push(record);
        if batch.len() >= BATCH
            && out
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
        {
            return Ok(());
        }
    }
    // An error here means the replay hung up: it needs no more.
    let _ = out.send(batch);
    Ok(())
}

/// Members dealt into shards, each formatting its own ledger lines when
/// there is a ledger.
fn replay_in_shards<'p, 's, W: Write>(
    engine: &mut Engine<'p>,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    shards: sharded::Shards,
    mut sinks: Sinks<'p, 's, W>,
) -> csv::Result<(sharded::Sharded, Sinks<'p, 's, W>)> {
    let program = engine.program();
    let format = || -> Box<dyn sharded::Format + 'p> { Box::new(LedgerLines::new(program)) };
    let output = sharded::Output {
        format: sinks.ledger.is_some().then_some(&format as _),
        rows: sinks.tallies(),
        sink: &mut |rows, lines| sinks.add_lines(rows, lines),
    };
    let sharded = sharded::replay_sharded(engine, records, options, shards, output)?;
    Ok((sharded, sinks))
}

/// Events applied on this thread, the rows written on another.
fn replay_then_write<'scope, 'p: 'scope, 's: 'scope, W: Write + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    engine: &mut Engine<'p>,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    pieces: usize,
    mut sinks: Sinks<'p, 's, W>,
) -> csv::Result<(Outcome, Sinks<'p, 's, W>)> {
    let (send_rows, receive_rows) = mpsc::sync_channel::<Vec<Entry>>(IN_FLIGHT);
    let writer = scope.spawn(move || {
        receive_rows
            .into_iter()
            .try_for_each(|rows| sinks.add(&rows))
            .map(|()| sinks)
    });
    let mut batch = Vec::new();
    let outcome = replay::replay_in_pieces(engine, records, options, pieces, &mut |rows| {
        batch.append(rows);
        if batch.len() >= BATCH {
            // A closed channel means the writer failed: its join says why.
            let _ = send_rows.send(std::mem::take(&mut batch));
        }
        Ok::<(), csv::Error>(())
    });
    let _ = send_rows.send(batch);
    drop(send_rows);
    let sinks = writer
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    outcome.and_then(|outcome| sinks.map(|sinks| (outcome, sinks)))
}
