//! Sorting a replay's events by time without holding them all in memory:
//! events are gathered in runs of at most `RUN` events; a full run is
//! sorted and written, packed (`engine::packed`), to an anonymous temporary
//! file (every `FAN_IN` runs of one level merged into one of the next, so
//! that few files are open), and at the end the runs are merged by time
//! and input order. A sorted replay of millions of events held them all
//! (a few hundred bytes each) before the first was applied; now it holds
//! one run, a record of each file being merged, and the engine's state.
//! Equal times keep input order, as `sort_by_key` keeps it in memory.

use super::packed::{self, Files};
use crate::events::Event;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

/// The most events a run holds in memory (about 10 MB; a run of 2^18
/// events was 40 MB, a seventh of a 1.2 M-event coffee run's heap): fewer
/// events than that are sorted in memory, as before.
pub(super) const RUN: usize = 1 << 16;

/// The most runs of one level kept open at once: that many are merged into
/// one run of the next level. Each run is an open file, and many machines
/// let a process open 1,024 (`ulimit -n`): 240 M events (a year of twenty
/// million members) are 3,662 runs, and a replay of them stopped with "Too
/// many open files" (as one of 12 M events does under a limit of 120).
/// With levels, a replay holds fewer than this many files a level (two
/// levels up to 4 billion events), and one of 16.7 M events or fewer
/// merges none.
const FAN_IN: usize = 256;

/// Events being gathered, then given back in time order.
pub(super) struct Sorter {
    run: usize,
    /// How many runs of one level are merged into one of the next.
    fan_in: usize,
    /// The run being gathered, with each event's place in the input.
    events: Vec<(u64, Event)>,
    /// The runs written so far, each with its level (how many merges made
    /// it), the levels falling from the first.
    files: Vec<(u32, File)>,
    names: Files,
    read: u64,
}

impl Sorter {
    /// A sorter that writes a run every `run` events (at least one).
    pub(super) fn new(run: usize) -> Sorter {
        Sorter {
            run: run.max(1),
            fan_in: FAN_IN,
            events: Vec::new(),
            files: Vec::new(),
            names: Files::default(),
            read: 0,
        }
    }

    pub(super) fn push(&mut self, event: Event) -> io::Result<()> {
        self.events.push((self.read, event));
        self.read += 1;
        if self.events.len() >= self.run {
            self.write_run()?;
        }
        Ok(())
    }

    /// How many events were pushed.
    pub(super) fn len(&self) -> u64 {
        self.read
    }

    /// Sorts the events gathered (stable: equal times keep input order) and
    /// writes them to a file of their own, each record its length then its
    /// bytes.
    fn write_run(&mut self) -> io::Result<()> {
        self.events.sort_by_key(|(_, event)| event.time);
        let mut run = RunWriter::new()?;
        for (seq, event) in self.events.drain(..) {
            run.write(seq, &event, &mut self.names)?;
        }
        self.files.push((0, run.finish()?));
        self.merge_full_levels()
    }

    /// Merges the last `fan_in` runs into one of the next level while they
    /// are all of one level (as a counter carries a digit).
    fn merge_full_levels(&mut self) -> io::Result<()> {
        // At least two, or a merge would make one run of the next level
        // out of one, forever.
        let fan_in = self.fan_in.max(2);
        while let Some(from) = self.files.len().checked_sub(fan_in) {
            let last = self.files.get(from..).unwrap_or_default();
            let Some(level) = last.first().map(|(level, _)| *level) else {
                break;
            };
            if last.iter().any(|(l, _)| *l != level) {
                break;
            }
            let runs = self.files.split_off(from).into_iter().map(|(_, file)| file);
            let mut merged = Sorted::new(Vec::new(), runs, self.names.clone(), 0)?;
            let mut run = RunWriter::new()?;
            while let Some((seq, event)) = merged.next_with_place()? {
                run.write(seq, &event, &mut self.names)?;
            }
            self.files.push((level + 1, run.finish()?));
        }
        Ok(())
    }

    /// The events in time order (equal times in input order).
    pub(super) fn sorted(mut self) -> io::Result<Sorted> {
        self.events.sort_by_key(|(_, event)| event.time);
        let runs = self.files.into_iter().map(|(_, file)| file);
        Sorted::new(self.events, runs, self.names, self.read)
    }
}

/// A run being written to a temporary file of its own: each record its
/// length, then the event packed with its place in the input.
struct RunWriter {
    file: BufWriter<File>,
    record: Vec<u8>,
}

impl RunWriter {
    fn new() -> io::Result<RunWriter> {
        Ok(RunWriter {
            file: BufWriter::new(tempfile::tempfile()?),
            record: Vec::new(),
        })
    }

    fn write(&mut self, seq: u64, event: &Event, names: &mut Files) -> io::Result<()> {
        self.record.clear();
        packed::pack_with_member(seq, event, names, &mut self.record);
        let len = u32::try_from(self.record.len())
            .map_err(|_| io::Error::other("an event of 4 GiB or more"))?;
        self.file.write_all(&len.to_le_bytes())?;
        self.file.write_all(&self.record)
    }

    /// The file written, read from its start.
    fn finish(self) -> io::Result<File> {
        let mut file = self
            .file
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(file)
    }
}

/// Where a head comes from: the run still in memory, or a file's index.
const MEMORY: usize = usize::MAX;

/// One run's file, read a record at a time.
struct Run {
    file: BufReader<File>,
    record: Vec<u8>,
    head: Option<Event>,
}

/// The sorted events of a `Sorter`, merged from its runs.
pub(super) struct Sorted {
    memory: std::vec::IntoIter<(u64, Event)>,
    memory_head: Option<(u64, Event)>,
    runs: Vec<Run>,
    names: Files,
    /// The first event left of each source: its time, its place in the
    /// input and the source.
    heads: BinaryHeap<Reverse<(chrono::DateTime<chrono::Utc>, u64, usize)>>,
    left: u64,
}

impl Sorted {
    /// The events of `memory` (sorted) and of the `runs`' files merged;
    /// `left` of them in all.
    fn new(
        memory: Vec<(u64, Event)>,
        runs: impl Iterator<Item = File>,
        names: Files,
        left: u64,
    ) -> io::Result<Sorted> {
        let mut sorted = Sorted {
            memory: memory.into_iter(),
            memory_head: None,
            runs: runs
                .map(|file| Run {
                    file: BufReader::new(file),
                    record: Vec::new(),
                    head: None,
                })
                .collect(),
            names,
            heads: BinaryHeap::new(),
            left,
        };
        sorted.memory_head = sorted.memory.next();
        if let Some((seq, event)) = &sorted.memory_head {
            sorted.heads.push(Reverse((event.time, *seq, MEMORY)));
        }
        for i in 0..sorted.runs.len() {
            sorted.refill(i)?;
        }
        Ok(sorted)
    }

    /// How many events are still to come.
    pub(super) fn left(&self) -> u64 {
        self.left
    }

    /// Reads run `i`'s next event into its head (none at its end).
    fn refill(&mut self, i: usize) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(i) else {
            return Ok(());
        };
        let mut len = [0; 4];
        match run.file.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                run.head = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        run.record.resize(u32::from_le_bytes(len) as usize, 0);
        run.file.read_exact(&mut run.record)?;
        let (seq, event) = packed::unpack_with_member(&run.record, &self.names)
            .ok_or_else(|| io::Error::other("a sorted run's temporary file was changed"))?;
        self.heads.push(Reverse((event.time, seq, i)));
        run.head = Some(event);
        Ok(())
    }

    /// The next event in time order; `None` after the last.
    pub(super) fn next(&mut self) -> io::Result<Option<Event>> {
        Ok(self.next_with_place()?.map(|(_, event)| event))
    }

    /// The next event in time order with its place in the input.
    fn next_with_place(&mut self) -> io::Result<Option<(u64, Event)>> {
        let Some(Reverse((_, seq, source))) = self.heads.pop() else {
            return Ok(None);
        };
        self.left = self.left.saturating_sub(1);
        if source == MEMORY {
            let head = std::mem::replace(&mut self.memory_head, self.memory.next());
            if let Some((seq, event)) = &self.memory_head {
                self.heads.push(Reverse((event.time, *seq, MEMORY)));
            }
            return Ok(head);
        }
        let head = self.runs.get_mut(source).and_then(|run| run.head.take());
        self.refill(source)?;
        Ok(head.map(|event| (seq, event)))
    }
}

#[cfg(test)]
mod tests {
    use super::Sorter;
    use crate::events::{Body, Event, Origin};
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn event(i: usize, second: i64, file: &Arc<str>) -> Event {
        Event {
            id: format!("e{i}"),
            time: DateTime::<Utc>::from_timestamp(1_735_700_000 + second, 0).unwrap_or_default(),
            member: format!("m{}", i % 7),
            kind: i % 3,
            body: Body::Plain,
            fields: Vec::new(),
            origin: Origin {
                file: file.clone(),
                line: i + 2,
            },
        }
    }

    #[test]
    fn runs_open_at_once_are_few_a_level() {
        // A thousand runs of one event, merged four at a time: at most
        // three of each of five levels stay open (1,000 is under 4^5),
        // where every run was an open file.
        let file: Arc<str> = Arc::from("events.csv");
        let mut sorter = Sorter {
            fan_in: 4,
            ..Sorter::new(1)
        };
        for i in 0..1000 {
            sorter.push(event(i, (i % 5) as i64, &file)).unwrap();
            assert!(
                sorter.files.len() <= 3 * 5,
                "{} runs open",
                sorter.files.len()
            );
        }
        let mut sorted = sorter.sorted().unwrap();
        let mut count = 0;
        while sorted.next().unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 1000);
    }

    proptest! {
        /// Whatever the run length, the events come back as a stable sort
        /// by time of the input gives them: equal times (many, from a few
        /// seconds) in input order.
        #[test]
        fn runs_merge_into_the_stable_sort_by_time(
            seconds in prop::collection::vec(0i64..6, 0..60),
            run in 1usize..9,
            fan_in in 2usize..5,
        ) {
            let file: Arc<str> = Arc::from("events.csv");
            let events: Vec<Event> =
                seconds.iter().enumerate().map(|(i, s)| event(i, *s, &file)).collect();
            // Runs of a few events, merged a few at a time into levels.
            let mut sorter = Sorter { fan_in, ..Sorter::new(run) };
            for e in &events {
                sorter.push(e.clone()).unwrap();
            }
            prop_assert_eq!(sorter.len(), events.len() as u64);
            let mut sorted = sorter.sorted().unwrap();
            let mut merged = Vec::new();
            while let Some(e) = sorted.next().unwrap() {
                merged.push(e);
                prop_assert_eq!(sorted.left(), (events.len() - merged.len()) as u64);
            }
            let mut expected = events;
            expected.sort_by_key(|e| e.time);
            prop_assert_eq!(merged, expected);
        }
    }
}
