//! Replay: a stream of records through the engine, in time order. By default
//! records are sorted by time (equal times keep input order); in streaming
//! mode they are applied as read, and a record earlier than the clock (a
//! late event) is applied by re-running its member with it (see
//! `engine::late`), or rejected when the program's `accept late events up
//! to N` says it is too late.

use super::ledger::Entry;
use super::spill::{Sorted, Sorter, RUN};
use super::Engine;
use crate::events::{Event, Reject};
use chrono::{DateTime, Utc};
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Read everything, sort by time, then apply.
    Sort,
    /// Apply as read; a record out of time order re-runs its member.
    Stream,
}

/// Where a replay stops: through the end of a day in the program's zone
/// (`2026-12-31`), or at an instant (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Day(chrono::NaiveDate),
    Instant(DateTime<chrono::FixedOffset>),
}

impl std::str::FromStr for Until {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Until::Day(day));
        }
        DateTime::parse_from_rfc3339(text)
            .map(Until::Instant)
            .map_err(|_| {
                format!(
                    "`{text}` is neither a date (2025-12-31) nor an RFC 3339 time \
                     (2025-12-31T18:00:00-05:00)"
                )
            })
    }
}

impl Until {
    /// The last instant the replay covers.
    pub fn instant(self, tz: chrono_tz::Tz) -> DateTime<Utc> {
        match self {
            Until::Day(day) => {
                let next = day.succ_opt().unwrap_or(chrono::NaiveDate::MAX);
                crate::compile::calendar::start_of_day(tz, next) - chrono::Duration::nanoseconds(1)
            }
            Until::Instant(t) => t.with_timezone(&Utc),
        }
    }
}

/// The most rows of clock work before one event passed on at a time, by
/// default. A piece is held twice, in the engine's ledger and in the buffer
/// it is passed on in (they swap), each with room to grow, at 200 bytes a
/// row: 50,000 rows held 26 MB, a fifth of a 100,000-member coffee run's
/// heap; 4,096 hold under 2 MB, at no cost measured in time
/// (docs/performance.md). Tests pass a few to `replay_in_pieces` (or to
/// `Run::pieces`), so that a month end comes in pieces.
pub const PIECE_ROWS: usize = 4_096;

/// How to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub order: Order,
    /// The instant the clock ends at (default: the last event's time);
    /// later records are counted, not applied.
    pub until: Option<DateTime<Utc>>,
    /// Stop at the first reject.
    pub strict: bool,
}

/// What a replay read and did not apply.
#[derive(Debug, Default)]
pub struct Outcome {
    pub read: u64,
    pub rejects: Vec<Reject>,
    /// Records after `until`, left for a later run.
    pub after_until: u64,
    /// Set when `strict` stopped the replay at its reject: the records read
    /// before it and not applied (when sorting, all those read before the
    /// reject of a record; when applying in time order, those after the
    /// rejected event). Records after the stop are not read.
    pub not_applied: Option<u64>,
}

/// Applies records to the engine; `ledger` receives entries as they are
/// written (so a caller can stream them to a file), in a buffer reused from
/// call to call: it may read the rows or move them out. Sorting many
/// records writes runs of them to temporary files: an error there ends the
/// replay with it.
pub fn replay<E: From<io::Error>>(
    engine: &mut Engine,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
) -> Result<Outcome, E> {
    replay_in_pieces(engine, records, options, PIECE_ROWS, ledger)
}

/// `replay`, with clock work passed on to `ledger` at most `piece_rows`
/// rows (at least one) at a time before an event, rather than `PIECE_ROWS`:
/// the rows, and their order, are the same whatever the pieces.
pub fn replay_in_pieces<E: From<io::Error>>(
    engine: &mut Engine,
    records: impl Iterator<Item = Result<Event, Reject>>,
    options: Options,
    piece_rows: usize,
    ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
) -> Result<Outcome, E> {
    if options.order == Order::Stream {
        engine.accept_late_events();
    }
    let mut outcome = Outcome::default();
    let mut events = InOrder::new(records, options);
    apply_in_order(
        engine,
        None,
        &mut events,
        &mut outcome,
        piece_rows,
        ledger,
        &|_| false,
    )?;
    Ok(outcome)
}

/// Applies `first`, if given, then the rest of `events` to the engine, and
/// the clock work up to `until`, counting into `outcome` (its rejects
/// sorted by origin at the end): `replay_in_pieces`' work, and what one
/// engine does after shards handed their members over to it
/// (`sharded::replay_sharded`), which it deals out again once `stop` says
/// so before an event: that event is returned, not applied.
pub(super) fn apply_in_order<'p, I, E>(
    engine: &mut Engine<'p>,
    first: Option<Event>,
    events: &mut InOrder<I>,
    outcome: &mut Outcome,
    piece_rows: usize,
    ledger: &mut dyn FnMut(&mut Vec<Entry>) -> Result<(), E>,
    stop: &dyn Fn(&Engine<'p>) -> bool,
) -> Result<Option<Event>, E>
where
    I: Iterator<Item = Result<Event, Reject>>,
    E: From<io::Error>,
{
    let piece_rows = piece_rows.max(1);
    let Options { until, strict, .. } = events.options;
    let mut rows = Vec::new();
    let mut flush = |engine: &mut Engine| {
        engine.drain_ledger_into(&mut rows);
        ledger(&mut rows)
    };
    let mut first = first;
    while let Some(event) = events.next_after(&mut first, outcome)? {
        if stop(engine) {
            return Ok(Some(event));
        }
        // Long clock work before the event (a month end's expiries) is
        // passed on in pieces.
        while engine.clock_work_before(&event, piece_rows) {
            flush(engine)?;
        }
        if let Err(reject) = engine.apply(&event) {
            outcome.rejects.push(reject);
        }
        flush(engine)?;
        if strict && !outcome.rejects.is_empty() {
            outcome.not_applied = Some(events.left());
            return Ok(None);
        }
    }
    if outcome.not_applied.is_some() {
        return Ok(None);
    }
    if let Some(until) = until {
        while engine.advance_some(until, piece_rows) {
            flush(engine)?;
        }
    }
    flush(engine)?;
    outcome.rejects.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok(None)
}

/// The events of a replay in the order it applies them: as read, or all
/// read and then sorted by time (equal times keep input order; past `RUN`
/// events, in runs on temporary files, `engine::spill`). What is not to be
/// applied is counted into the replay's outcome on the way: records that
/// did not read as events (a strict replay stops at the first), and events
/// after `until`. One engine's replay and the sharded dealer both take
/// their events from here.
pub(super) struct InOrder<I> {
    records: I,
    options: Options,
    /// `Order::Sort`'s events, once all are read.
    sorted: Option<Sorted>,
    /// The most events sorted in memory at once.
    run: usize,
}

impl<I: Iterator<Item = Result<Event, Reject>>> InOrder<I> {
    pub(super) fn new(records: I, options: Options) -> Self {
        Self::with_runs_of(records, options, RUN)
    }

    /// As `new`, sorting at most `run` events in memory at once.
    pub(super) fn with_runs_of(records: I, options: Options, run: usize) -> Self {
        InOrder {
            records,
            options,
            sorted: None,
            run,
        }
    }

    /// `held`'s event, taken, if it holds one (an event taken from here
    /// before and not applied: a sharded replay's handover); else `next`'s.
    pub(super) fn next_after(
        &mut self,
        held: &mut Option<Event>,
        outcome: &mut Outcome,
    ) -> io::Result<Option<Event>> {
        match held.take() {
            Some(event) => Ok(Some(event)),
            None => self.next(outcome),
        }
    }

    /// The next event to apply; `None` at the end, or when a strict replay
    /// stopped at a record that did not read (`outcome.not_applied` then
    /// counts the events read before it and not applied).
    pub(super) fn next(&mut self, outcome: &mut Outcome) -> io::Result<Option<Event>> {
        let Options {
            order,
            until,
            strict,
        } = self.options;
        loop {
            let event = match order {
                Order::Stream => match self.records.next() {
                    None => return Ok(None),
                    Some(Ok(event)) => {
                        outcome.read += 1;
                        event
                    }
                    Some(Err(reject)) => {
                        outcome.read += 1;
                        outcome.rejects.push(reject);
                        if strict {
                            outcome.not_applied = Some(0);
                            return Ok(None);
                        }
                        continue;
                    }
                },
                Order::Sort => {
                    if self.sorted.is_none() {
                        self.sorted = self.read_all(outcome)?;
                    }
                    match self.sorted.as_mut() {
                        Some(sorted) => match sorted.next()? {
                            Some(event) => event,
                            None => return Ok(None),
                        },
                        None => return Ok(None),
                    }
                }
            };
            if until.is_some_and(|u| event.time > u) {
                outcome.after_until += 1;
                continue;
            }
            return Ok(Some(event));
        }
    }

    /// Every record, the events sorted by time; `None` if a strict replay
    /// stopped at a record that did not read.
    fn read_all(&mut self, outcome: &mut Outcome) -> io::Result<Option<Sorted>> {
        let mut sorter = Sorter::new(self.run);
        for record in self.records.by_ref() {
            outcome.read += 1;
            match record {
                Ok(event) => sorter.push(event)?,
                Err(reject) => outcome.rejects.push(reject),
            }
            if self.options.strict && !outcome.rejects.is_empty() {
                outcome.not_applied = Some(sorter.len());
                return Ok(None);
            }
        }
        sorter.sorted().map(Some)
    }

    /// How many events read are still to be applied.
    pub(super) fn left(&self) -> u64 {
        self.sorted.as_ref().map_or(0, Sorted::left)
    }
}

#[cfg(test)]
mod tests {
    use super::{InOrder, Options, Order, Outcome};
    use crate::events::{Body, Event, Origin, Reject, RejectClass};
    use chrono::{DateTime, Utc};
    use std::sync::Arc;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_735_700_000 + second, 0).unwrap_or_default()
    }

    /// Records of events at these seconds, line numbers from 2, and one
    /// that did not read at line `bad`.
    fn records(seconds: &[i64], bad: usize) -> Vec<Result<Event, Reject>> {
        let file: Arc<str> = Arc::from("e.csv");
        let origin = |line| Origin {
            file: file.clone(),
            line,
        };
        let mut records: Vec<_> = seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(Event {
                    id: format!("e{i}"),
                    time: at(*s),
                    member: "ann".to_string(),
                    kind: 0,
                    body: Body::Plain,
                    fields: Vec::new(),
                    origin: origin(i + 2),
                })
            })
            .collect();
        records.insert(
            bad - 2,
            Err(Reject {
                origin: origin(bad),
                id: None,
                member: None,
                class: RejectClass::Unreadable,
                reason: "broken".to_string(),
            }),
        );
        records
    }

    fn options(strict: bool) -> Options {
        Options {
            order: Order::Sort,
            until: Some(at(4)),
            strict,
        }
    }

    #[test]
    fn sorting_in_runs_counts_what_sorting_in_memory_counts() {
        let seconds = [5, 3, 1, 3, 0, 9, 1, 2];
        for run in [1, 2, 3, 100] {
            let mut outcome = Outcome::default();
            let mut events =
                InOrder::with_runs_of(records(&seconds, 4).into_iter(), options(false), run);
            let mut ids = Vec::new();
            while let Some(event) = events.next(&mut outcome).unwrap_or_default() {
                ids.push(event.id);
            }
            assert_eq!(ids, ["e4", "e2", "e6", "e7", "e1", "e3"], "runs of {run}");
            assert_eq!(
                (outcome.read, outcome.after_until, outcome.rejects.len()),
                (9, 2, 1)
            );
            // Strict: nothing applied, every event read before the bad
            // record counted as not applied.
            let mut outcome = Outcome::default();
            let mut events =
                InOrder::with_runs_of(records(&seconds, 4).into_iter(), options(true), run);
            assert_eq!(events.next(&mut outcome).ok(), Some(None));
            assert_eq!(outcome.not_applied, Some(2), "runs of {run}");
        }
    }
}
