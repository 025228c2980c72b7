//! CSV event files: a header naming the columns, then one record per row,
//! read a row at a time.

use super::basket::Rows;
use super::record::{type_cells, Cells, Envelope};
use super::{echo, Event, Origin, Reject, BOM};
use crate::compile::ir::{EventType, EventTypeId, Field, Program};
use ::csv::StringRecord;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Rows read at a time when they are typed on a thread of their own
/// (`CsvRecords::typed_aside`): enough that handing them over is small
/// beside typing them, few enough to keep memory flat.
const ROWS_AT_A_TIME: usize = 4096;

/// Batches of rows read ahead of the records handed on, when they are
/// typed aside: one being typed while the next waits, so that typing goes
/// on while the records of the batch before are read and used (a run
/// packs them into its sorted runs meanwhile).
const BATCHES_AHEAD: usize = 2;

/// A file's columns, and where typing finds each field in its rows: worked
/// out once from the header, so that typing a row looks nothing up by name.
struct Header {
    names: Vec<String>,
    /// The column of each envelope field, in `Envelope::ALL` order.
    envelope: [usize; 4],
    /// Where each event type of the program, by id, has its cells.
    types: Vec<TypeColumns>,
}

/// Where one event type has its cells in a file's rows.
struct TypeColumns {
    /// The column of each of its fields; none when the file has no such
    /// column.
    fields: Vec<Option<usize>>,
    /// The columns that must be empty in its rows, those of neither the
    /// envelope nor the type, in name order.
    strays: Vec<usize>,
}

impl Header {
    /// The plan for `names`, the columns of a header; the envelope fields
    /// it lacks if any.
    fn plan(program: &Program, names: Vec<String>) -> Result<Header, Vec<&'static str>> {
        let column = |name: &str| names.iter().position(|column| column == name);
        let found = Envelope::ALL.map(|field| column(field.name()));
        let [Some(id), Some(time), Some(member), Some(kind)] = found else {
            let missing = Envelope::ALL.iter().zip(&found);
            return Err(missing
                .filter(|(_, at)| at.is_none())
                .map(|(field, _)| field.name())
                .collect());
        };
        let envelope = [id, time, member, kind];
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by_key(|&i| names.get(i));
        let types = program
            .events
            .iter()
            .map(|event_type| {
                let fields = event_type.fields.iter().map(|f| column(&f.name)).collect();
                let strays = by_name
                    .iter()
                    .copied()
                    .filter(|&i| {
                        !envelope.contains(&i)
                            && !event_type
                                .fields
                                .iter()
                                .any(|f| names.get(i) == Some(&f.name))
                    })
                    .collect();
                TypeColumns { fields, strays }
            })
            .collect();
        Ok(Header {
            names,
            envelope,
            types,
        })
    }
}

/// A row's cells, found by its header's plan.
struct Row<'a> {
    header: &'a Header,
    row: &'a StringRecord,
}

impl Row<'_> {
    fn cell(&self, column: usize) -> Option<&str> {
        // Most of a wide file's cells are empty: no trimming for them.
        self.row
            .get(column)
            .filter(|text| !text.is_empty())
            .map(str::trim)
            .filter(|text| !text.is_empty())
    }
}

impl Cells for Row<'_> {
    fn duplicate(&self) -> Option<&str> {
        // A header with a name twice is rejected as a whole.
        None
    }

    fn envelope(&self, field: Envelope) -> Result<Option<&str>, String> {
        let column = self.header.envelope.get(field as usize);
        Ok(column.and_then(|&column| self.cell(column)))
    }

    fn field(&self, kind: EventTypeId, index: usize, _: &Field) -> Result<Option<&str>, String> {
        let column = self
            .header
            .types
            .get(kind)
            .and_then(|columns| columns.fields.get(index).copied().flatten());
        Ok(column.and_then(|column| self.cell(column)))
    }

    fn stray(&self, kind: EventTypeId, _: &EventType) -> Option<&str> {
        let strays = &self.header.types.get(kind)?.strays;
        let column = strays.iter().find(|&&column| self.cell(column).is_some())?;
        self.header.names.get(*column).map(String::as_str)
    }
}

/// The records of a CSV file, in order.
pub(super) struct CsvRecords<'p, R> {
    program: &'p Program,
    reader: ::csv::Reader<Quotes<R>>,
    file: Arc<str>,
    /// The columns, once the header is read.
    header: Option<Arc<Header>>,
    row: StringRecord,
    /// Set after an error that ends the file (a bad header, a read error),
    /// and, when rows are typed aside, at its end.
    done: bool,
    /// Whether rows are typed on a thread of their own, a batch at a time,
    /// while the next batch is read.
    aside: bool,
    /// The thread typing rows aside, once the header is read.
    typist: Option<Typist>,
    /// Records typed aside, in order, not handed on yet.
    typed: VecDeque<Result<Event, Reject>>,
    /// Rows typed, to read into again.
    spare: Vec<StringRecord>,
}

impl<'p, R: BufRead> CsvRecords<'p, R> {
    pub(super) fn new(program: &'p Program, input: R, file: &str) -> Self {
        CsvRecords {
            program,
            // The header is read as a record so a bad one is a reject, not an
            // error out of the reader's constructor.
            reader: ::csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(Quotes::new(input)),
            file: file.into(),
            header: None,
            row: StringRecord::new(),
            done: false,
            aside: false,
            typist: None,
            typed: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// Rows typed on a thread of their own while the next rows are read
    /// (when `aside`): the same records, in the same order.
    pub(super) fn typed_aside(self, aside: bool) -> Self {
        CsvRecords { aside, ..self }
    }

    fn reject(&self, line: usize, reason: String) -> Reject {
        Reject::unreadable(&self.file, line, reason)
    }

    /// Reads the header; `Ok(false)` for an empty file.
    fn read_header(&mut self) -> Result<bool, Reject> {
        if !self.read_row()? {
            return Ok(false);
        }
        let names = self.row.iter().map(|name| name.trim().to_owned()).collect();
        let header = Header::plan(self.program, names).map_err(|missing| {
            let (noun, list) = match missing.len() {
                1 => ("column", format!("`{}`", missing.join(""))),
                _ => ("columns", format!("`{}`", missing.join("`, `"))),
            };
            let reason = format!("the header has no {list} {noun}; every record needs one");
            self.reject(1, reason)
        })?;
        if let Some(twice) = header
            .names
            .iter()
            .enumerate()
            .find(|(i, name)| header.names.iter().skip(i + 1).any(|other| other == *name))
            .map(|(_, name)| name)
        {
            let reason = format!("the header has column `{}` twice", echo(twice));
            return Err(self.reject(1, reason));
        }
        self.header = Some(Arc::new(header));
        Ok(true)
    }

    /// Reads the next row into `self.row`; `Ok(false)` at the end.
    fn read_row(&mut self) -> Result<bool, Reject> {
        let mut row = std::mem::take(&mut self.row);
        let read = self.read_into(&mut row);
        self.row = row;
        read
    }

    /// Reads the next row into `row`; `Ok(false)` at the end.
    fn read_into(&mut self, row: &mut StringRecord) -> Result<bool, Reject> {
        let read = self.reader.read_record(row);
        if let Some(quote) = self.unclosed_quote() {
            // The row ran to the end of the file.
            self.done = true;
            let start = match &read {
                Ok(_) => row.position(),
                Err(error) => error.position(),
            };
            let reason = format!(
                "a quote opened on line {} is never closed, so the rest of the file is not read",
                line_number(quote.line)
            );
            return Err(self.reject(start.map_or(0, |p| line_number(p.line())), reason));
        }
        read.map_err(|error| {
            let line = error.position().map_or(0, |p| line_number(p.line()));
            match error.kind() {
                ::csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => self.reject(
                    line,
                    format!("the row has {len} cells but the header has {expected_len}"),
                ),
                ::csv::ErrorKind::Utf8 { err, .. } => {
                    let reason = match &self.header {
                        None => "the header is not valid UTF-8".to_owned(),
                        Some(header) => match header.names.get(err.field()) {
                            Some(name) => {
                                format!("column `{}` is not valid UTF-8", echo(name))
                            }
                            // A row has as many cells as the header (or is
                            // rejected for that first).
                            None => format!("cell {} is not valid UTF-8", err.field() + 1),
                        },
                    };
                    self.reject(line, reason)
                }
                _ => {
                    // Only a read error is left: nothing after it can be trusted.
                    self.done = true;
                    self.reject(line, format!("cannot read the file: {error}"))
                }
            }
        })
    }

    /// The quote that opened a cell of the row just read and never closed:
    /// the CSV reader takes such a cell to run to the end of the file, rows
    /// and all, without a word.
    fn unclosed_quote(&self) -> Option<Opened> {
        let end = self.reader.position().byte();
        self.reader
            .get_ref()
            .unclosed
            .filter(|quote| quote.byte < end)
    }
}

/// The input of a CSV file as its reader reads it, followed through the
/// quotes of its cells as the reader's own rules take them (those of
/// RFC 4180): a quote opens a quoted cell only as the cell's first byte
/// (elsewhere it is a quote like any other byte), and in a quoted cell two
/// quotes are one quote, a single one closes the cell.
pub(super) struct Quotes<R> {
    input: R,
    /// Where the next byte is.
    at: Opened,
    /// Whether the next byte starts a cell.
    cell_start: bool,
    /// Whether nothing has been read yet.
    first_read: bool,
    state: QuoteState,
    /// Once the input has ended: the quote of a cell still open then.
    unclosed: Option<Opened>,
}

/// A place in a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opened {
    /// Counted from the start of the file, a byte order mark included (as
    /// the CSV reader counts).
    byte: u64,
    /// 1-based.
    line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    Unquoted,
    /// In a cell its quote opened, there.
    Quoted(Opened),
    /// Just after a quote in a quoted cell, which closes it unless another
    /// quote follows.
    Closing(Opened),
}

impl<R> Quotes<R> {
    fn new(input: R) -> Self {
        Quotes {
            input,
            at: Opened { byte: 0, line: 1 },
            cell_start: true,
            first_read: true,
            state: QuoteState::Unquoted,
            unclosed: None,
        }
    }

    fn follow(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(at) = memchr::memchr(b'"', rest) {
            let (before, quote) = rest.split_at(at);
            self.pass(before);
            self.state = match self.state {
                QuoteState::Unquoted if self.cell_start => QuoteState::Quoted(self.at),
                QuoteState::Unquoted => QuoteState::Unquoted,
                QuoteState::Quoted(opened) => QuoteState::Closing(opened),
                QuoteState::Closing(opened) => QuoteState::Quoted(opened),
            };
            self.cell_start = false;
            self.at.byte += 1;
            rest = quote.get(1..).unwrap_or_default();
        }
        self.pass(rest);
    }

    /// Follows bytes without a quote.
    fn pass(&mut self, bytes: &[u8]) {
        let Some(last) = bytes.last() else {
            return;
        };
        if let QuoteState::Closing(_) = self.state {
            self.state = QuoteState::Unquoted;
        }
        self.cell_start = matches!(last, b',' | b'\r' | b'\n');
        self.at.byte += bytes.len() as u64;
        self.at.line += bytes.iter().filter(|b| **b == b'\n').count() as u64;
    }
}

impl<R: Read> Read for Quotes<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        let bytes = buf.get(..n).unwrap_or_default();
        if bytes.is_empty() && !buf.is_empty() {
            if let QuoteState::Quoted(opened) = self.state {
                self.unclosed = Some(opened);
            }
        }
        // The reader skips a byte order mark at the start of the first
        // bytes it is given.
        match bytes.strip_prefix(BOM).filter(|_| self.first_read) {
            Some(rest) => {
                self.at.byte += BOM.len() as u64;
                self.follow(rest);
            }
            None => self.follow(bytes),
        }
        self.first_read = false;
        Ok(n)
    }
}

impl<R: BufRead> Iterator for CsvRecords<'_, R> {
    type Item = Result<Event, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        // Rows typed aside may still be waiting after the last was read.
        let typing = self.typist.as_ref().is_some_and(|t| t.batches > 0);
        if self.done && self.typed.is_empty() && !typing {
            return None;
        }
        if self.header.is_none() {
            return match self.read_header() {
                Ok(true) => self.next(),
                Ok(false) => None,
                Err(reject) => {
                    self.done = true;
                    Some(Err(reject))
                }
            };
        }
        if self.aside {
            return self.next_typed_aside();
        }
        match self.read_row() {
            Ok(true) => {
                let header = self.header.as_ref()?;
                let line = row_line(&self.row);
                Some(type_row(self.program, header, &self.file, line, &self.row))
            }
            Ok(false) => None,
            Err(reject) => Some(Err(reject)),
        }
    }
}

impl<R: BufRead> CsvRecords<'_, R> {
    /// The next record, rows typed a batch at a time on a thread of their
    /// own (`Typist`) while the next batches are read and this one's
    /// records are used.
    fn next_typed_aside(&mut self) -> Option<Result<Event, Reject>> {
        loop {
            if let Some(record) = self.typed.pop_front() {
                return Some(record);
            }
            if self.typist.is_none() {
                let header = self.header.clone()?;
                self.typist = Some(Typist::start(self.program, header, self.file.clone()));
            }
            self.read_ahead();
            let (typed, spare) = self.typist.as_mut()?.take()?;
            self.typed.extend(typed);
            self.spare.extend(spare);
            // The batch after next is read (and typed) while these records
            // are used.
            self.read_ahead();
        }
    }

    /// Hands the typist batches of rows until `BATCHES_AHEAD` are with it
    /// or the file has ended.
    fn read_ahead(&mut self) {
        while !self.done
            && self
                .typist
                .as_ref()
                .is_some_and(|t| t.batches < BATCHES_AHEAD)
        {
            let rows = self.read_rows();
            if rows.is_empty() {
                break;
            }
            if let Some(typist) = self.typist.as_mut() {
                typist.give(rows);
            }
        }
    }

    /// Reads up to `ROWS_AT_A_TIME` rows, or why one could not be read,
    /// into rows typed before.
    fn read_rows(&mut self) -> RowBatch {
        let mut rows = Vec::with_capacity(ROWS_AT_A_TIME);
        while rows.len() < ROWS_AT_A_TIME && !self.done {
            let mut row = self.spare.pop().unwrap_or_default();
            match self.read_into(&mut row) {
                Ok(true) => rows.push(Ok((row_line(&row), row))),
                Ok(false) => self.done = true,
                Err(reject) => rows.push(Err(reject)),
            }
        }
        rows
    }
}

/// Rows read, each with its line, or why one could not be read.
type RowBatch = Vec<Result<(usize, StringRecord), Reject>>;

/// A batch's records, typed, and its rows emptied to read into again.
type TypedBatch = (Vec<Result<Event, Reject>>, Vec<StringRecord>);

/// A thread kept for a whole file that types the batches of rows it is
/// given, in turn, and gives them back in the same order. One thread for
/// the file rather than one per batch, so that typing goes on while the
/// reader uses the batch before (it waited for each batch's thread to be
/// joined before: the second core was idle a third of the time the file
/// was read; docs/performance.md).
struct Typist {
    rows: Option<SyncSender<RowBatch>>,
    typed: Option<Receiver<TypedBatch>>,
    thread: Option<JoinHandle<()>>,
    /// Batches given and not taken back yet.
    batches: usize,
}

impl Typist {
    /// A typist for the rows of `file`, whose columns are `header`. It
    /// types with a copy of `program` of its own, for as long as the file
    /// is read.
    fn start(program: &Program, header: Arc<Header>, file: Arc<str>) -> Typist {
        let program = Arc::new(program.clone());
        let (give, rows) = mpsc::sync_channel::<RowBatch>(BATCHES_AHEAD);
        let (send, typed) = mpsc::sync_channel::<TypedBatch>(BATCHES_AHEAD);
        let thread = std::thread::spawn(move || {
            for batch in rows {
                if send
                    .send(type_rows(&program, &header, &file, batch))
                    .is_err()
                {
                    break;
                }
            }
        });
        Typist {
            rows: Some(give),
            typed: Some(typed),
            thread: Some(thread),
            batches: 0,
        }
    }

    /// Gives the typist a batch of rows.
    fn give(&mut self, rows: RowBatch) {
        let given = self.rows.as_ref().is_some_and(|r| r.send(rows).is_ok());
        if given {
            self.batches += 1;
        } else {
            self.stop();
        }
    }

    /// The oldest batch given, typed; `None` when none is with the typist.
    fn take(&mut self) -> Option<TypedBatch> {
        if self.batches == 0 {
            return None;
        }
        match self.typed.as_ref()?.recv() {
            Ok(batch) => {
                self.batches -= 1;
                Some(batch)
            }
            Err(_) => {
                self.stop();
                None
            }
        }
    }

    /// Ends the thread: it ends once both of its channels are closed. A
    /// panic on it is a panic here, as when rows are typed in turn.
    fn stop(&mut self) {
        self.rows = None;
        self.typed = None;
        self.batches = 0;
        if let Some(thread) = self.thread.take() {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Drop for Typist {
    fn drop(&mut self) {
        // A panic already unwinding is not raised again.
        if !std::thread::panicking() {
            self.stop();
        }
    }
}

/// Types `rows` (those not read passed on as they are); gives back the
/// rows emptied, to read into again.
fn type_rows(program: &Program, header: &Header, file: &Arc<str>, rows: RowBatch) -> TypedBatch {
    let mut spare = Vec::with_capacity(rows.len());
    let typed = rows
        .into_iter()
        .map(|row| {
            let (line, row) = row?;
            let typed = type_row(program, header, file, line, &row);
            spare.push(row);
            typed
        })
        .collect();
    (typed, spare)
}

/// Types one row read at `line` of `file`.
fn type_row(
    program: &Program,
    header: &Header,
    file: &Arc<str>,
    line: usize,
    row: &StringRecord,
) -> Result<Event, Reject> {
    let origin = Origin {
        file: file.clone(),
        line,
    };
    type_cells(program, origin, &Row { header, row })
}

/// The line a row starts on.
fn row_line(row: &StringRecord) -> usize {
    row.position().map_or(0, |p| line_number(p.line()))
}

impl<R: BufRead> Rows for CsvRecords<'_, R> {
    fn itemized(&self) -> bool {
        self.header
            .as_ref()
            .is_some_and(|h| h.names.iter().any(|name| name == "sku"))
    }
}

fn line_number(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::Value;
    use crate::events::record::{type_record, Cell};
    use crate::events::tests::{origins, outline, program, read_all, utc, PROGRAM};
    use crate::events::Body;
    use crate::events::{read, Format};
    use proptest::prelude::{Just, Strategy};
    use rust_decimal::Decimal;
    use std::borrow::Cow;
    use std::io::{Cursor, Read};

    #[test]
    fn a_good_file_reads_into_events() {
        let text = "id,time,member,type,amount,store,of,birthday,vip,city\n\
                    e0,2025-01-01,m1,enroll,,,,1990-05-17,true,Lyon\n\
                    e1,2025-03-01T10:00:00+01:00,m1,purchase,12.50 USD,Downtown,,,,\n\
                    e2,2025-03-02 09:30,m1,return,2.50,,e1,,,\n";
        let events: Vec<Event> = read_all(Format::Csv, text)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let origin = |line| Origin {
            file: "f".into(),
            line,
        };
        let text = |t: &str| Value::Text(t.into());
        let number = |n: i64, scale| Value::Number(Decimal::new(n, scale));
        assert_eq!(
            events,
            vec![
                Event {
                    id: "e0".into(),
                    time: utc("2025-01-01T05:00:00Z"),
                    member: "m1".into(),
                    kind: 1,
                    body: Body::Enroll { referred_by: None },
                    fields: vec![
                        Value::Date(chrono::NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()),
                        Value::Bool(true),
                        text("Lyon"),
                    ],
                    origin: origin(2),
                },
                Event {
                    id: "e1".into(),
                    time: utc("2025-03-01T09:00:00Z"),
                    member: "m1".into(),
                    kind: 0,
                    body: Body::Purchase {
                        amount: Decimal::new(1250, 2),
                        items: Vec::new(),
                    },
                    fields: vec![number(1250, 2), text("Downtown")],
                    origin: origin(3),
                },
                Event {
                    id: "e2".into(),
                    time: utc("2025-03-02T14:30:00Z"),
                    member: "m1".into(),
                    kind: 2,
                    // A return's values are all in its body.
                    body: Body::Return(Box::new(crate::events::Return {
                        of: "e1".into(),
                        amount: Decimal::new(250, 2),
                        items: Vec::new(),
                    })),
                    fields: Vec::new(),
                    origin: origin(4),
                },
            ]
        );
    }

    #[test]
    fn rows_typed_aside_are_the_records_typed_in_turn() {
        // More rows than three batches; bad rows (an unknown type, a cell
        // too many, a number that is not one, a time that is not one, a
        // cell not UTF-8) on either side of the batches' edges, and a quote
        // never closed near the end.
        let mut text = b"id,time,member,type,amount,nights\n".to_vec();
        let bad = [0, 1, 4093, 4094, 4095, 4096, 4097, 8190, 8191, 8192, 12_000];
        for i in 0..13_000usize {
            let row = match (bad.contains(&i), i % 5) {
                (false, _) => format!(
                    "e{i},2025-03-01T10:00:00Z,m{},purchase,{}.5,\n",
                    i % 50,
                    i % 90
                ),
                (true, 0) => format!("e{i},2025-03-01,m1,purchse,5,\n"),
                (true, 1) => format!("e{i},2025-03-01,m1,purchase,5,,\n"),
                (true, 2) => format!("e{i},2025-03-01,m1,purchase,five,\n"),
                (true, 3) => format!("e{i},2025-02-111:00,m1,purchase,5,\n"),
                (true, _) => format!("e{i},2025-03-01,m1,purchase,5,\u{1}\n"),
            };
            text.extend_from_slice(row.as_bytes());
            if i == 8192 {
                // A cell that is not UTF-8.
                text.extend_from_slice(b"e-x,2025-03-01,m1,purchase,5,\xff\n");
            }
        }
        text.extend_from_slice(b"e-q,2025-03-01,m1,\"purchase,5,\ne-r,2025-03-01,m1,purchase,5,\n");
        let program = program(PROGRAM);
        let in_turn: Vec<_> = read(&program, Format::Csv, text.as_slice(), "f").collect();
        let aside: Vec<_> =
            crate::events::read_on(&program, Format::Csv, text.as_slice(), "f", 2).collect();
        let rejects = in_turn.iter().filter(|r| r.is_err()).count();
        assert_eq!(
            rejects,
            bad.len() + 2,
            "each bad row, the cell not UTF-8 and the quote"
        );
        assert_eq!(in_turn.len(), 13_002);
        let differ = aside.iter().zip(&in_turn).position(|(a, b)| a != b);
        assert_eq!(
            differ,
            None,
            "{:?}",
            differ.map(|at| (&aside[at], &in_turn[at]))
        );
        assert_eq!(aside.len(), in_turn.len());
    }

    #[test]
    fn records_left_unread_stop_the_typist() {
        // Ten batches' rows; the reader is dropped after the first batch,
        // while the typist waits to hand the next ones back (`--until`
        // stops reading so). Dropping must end its thread, not wait for it.
        let mut text = b"id,time,member,type,amount,nights\n".to_vec();
        for i in 0..10 * ROWS_AT_A_TIME {
            text.extend_from_slice(format!("e{i},2025-03-01,m1,purchase,5,\n").as_bytes());
        }
        let program = program(PROGRAM);
        let mut records = CsvRecords::new(&program, text.as_slice(), "f").typed_aside(true);
        let first: Vec<_> = records.by_ref().take(ROWS_AT_A_TIME + 1).collect();
        assert!(first.iter().all(Result::is_ok));
        let typist = records.typist.as_ref().and_then(|t| t.thread.as_ref());
        assert!(typist.is_some_and(|t| !t.is_finished()), "typing ahead");
        // The drop joins the typist's thread: it returns only if closing
        // the channels ended it, blocked as it is handing a batch back.
        drop(records);
    }

    #[test]
    fn each_bad_row_is_one_reject_and_the_rows_around_it_are_read() {
        let text = "id,time,member,type,amount,nights\n\
                    e1,2025-03-01,m1,purchase,5,\n\
                    e2,2025-03-01,m1,purchse,5,\n\
                    e3,2025-03-01,m1,purchase,5\n\
                    e4,2025-03-01,m1,purchase,5,2\n\
                    e5,2025-03-01,m1,purchase,five,\n\
                    ,2025-03-01,m1,purchase,5,\n\
                    e7,2025-02-111:00,m1,purchase,5,\n\
                    \"e8\n\",2025-03-01,m1,purchase,5,\n\
                    e9,2025-03-01,m1,purchase,5,\n";
        assert_eq!(
            outline(Format::Csv, text),
            vec![
                (2, Ok("e1".into())),
                (3, Err("unknown event type `purchse`; did you mean `purchase`?".into())),
                (4, Err("the row has 5 cells but the header has 6".into())),
                (
                    5,
                    Err("`purchase` has no field `nights`; its fields are `amount`, `store`".into())
                ),
                (
                    6,
                    Err("field `amount`: `five` is not money (expected an amount like 4.50 or 4.50 USD)".into())
                ),
                (7, Err("missing `id`".into())),
                (
                    8,
                    Err("field `time`: `2025-02-111:00` is not a time (expected \
                         2025-03-01T10:00:00+01:00 or 2025-03-01T10:00:00Z, or in America/New_York \
                         2025-03-01T10:00:00, 2025-03-01 10:00:00, 2025-03-01T10:00, \
                         2025-03-01 10:00 or 2025-03-01; seconds may have a fraction, 10:00:00.5)"
                        .into())
                ),
                // A quoted cell may span lines: the record's line is where it starts.
                (9, Ok("e8".into())),
                (11, Ok("e9".into())),
            ]
        );
    }

    #[test]
    fn a_reject_carries_the_id_and_member() {
        let text = "id,time,member,type,amount\ne1,2025-03-01,m1,purchase,-5\n";
        let reject = read_all(Format::Csv, text).pop().unwrap().unwrap_err();
        assert_eq!(reject.id.as_deref(), Some("e1"));
        assert_eq!(reject.member.as_deref(), Some("m1"));
        assert_eq!(reject.origin.line, 2);
    }

    #[test]
    fn invalid_utf8_rejects_only_its_row() {
        let mut bytes = b"id,time,member,type,amount\ne1,2025-03-01,m1,purchase,5\n".to_vec();
        bytes.extend_from_slice(b"e2,2025-03-01,m\xff,purchase,5\ne3,2025-03-01,m1,purchase,5\n");
        assert_eq!(
            origins(Format::Csv, &bytes),
            vec![
                Ok(2),
                Err((3, "column `member` is not valid UTF-8".into())),
                Ok(4)
            ]
        );
    }

    #[test]
    fn a_header_not_in_utf8_is_one_reject_for_the_file() {
        let bytes = b"id,time,member,type,am\xffount\ne1,2025-03-01,m1,purchase,5\n";
        assert_eq!(
            origins(Format::Csv, bytes),
            vec![Err((1, "the header is not valid UTF-8".into()))]
        );
    }

    #[test]
    fn a_header_without_a_required_column_is_one_reject_for_line_1() {
        let text = "id,when,member,amount\ne1,2025-03-01,m1,5\ne2,2025-03-01,m1,5\n";
        assert_eq!(
            outline(Format::Csv, text),
            vec![(
                1,
                Err("the header has no `time`, `type` columns; every record needs one".into())
            )]
        );
        let one = "id,time,member,amount\ne1,2025-03-01,m1,5\n";
        assert_eq!(
            outline(Format::Csv, one),
            vec![(
                1,
                Err("the header has no `type` column; every record needs one".into())
            )]
        );
    }

    #[test]
    fn a_header_with_a_column_twice_is_one_reject() {
        let text = "id,time,member,type,amount, amount\ne1,2025-03-01,m1,purchase,5,6\n";
        assert_eq!(
            outline(Format::Csv, text),
            vec![(1, Err("the header has column `amount` twice".into()))]
        );
    }

    #[test]
    fn an_unterminated_quote_is_placed_at_its_record_and_named_by_its_line() {
        let header = "id,time,member,type,amount,store\n";
        let good = "e1,2025-03-01,m1,purchase,5,\n";
        let never_closed = |line| {
            format!("a quote opened on line {line} is never closed, so the rest of the file is not read")
        };
        // The record starts on line 3, its quote on line 4.
        let text = format!("{header}{good}e2,2025-03-01,m1,purchase,\"5\n\",\"Down\ntown,\ne3\n");
        assert_eq!(
            outline(Format::Csv, &text),
            vec![(2, Ok("e1".into())), (3, Err(never_closed(4)))]
        );
        // In the header, after a byte order mark.
        let text = format!("\u{feff}id,\"time,member,type,amount\n{good}");
        assert_eq!(outline(Format::Csv, &text), vec![(1, Err(never_closed(1)))]);
    }

    #[test]
    fn quotes_that_close_or_do_not_open_a_cell_are_not_unterminated() {
        let header = "\u{feff}\"id\",time,member,type,amount,store\n";
        for (last, store) in [
            ("e1,2025-03-01,m1,purchase,5,12\" pizza", "12\" pizza"),
            ("e1,2025-03-01,m1,purchase,5,\"12\"\" pizza\"", "12\" pizza"),
            ("e1,2025-03-01,m1,purchase,5,\"a\"b\"c", "ab\"c"),
            ("e1,2025-03-01,m1,purchase,5,\"\"\"\"", "\""),
        ] {
            let events = read_all(Format::Csv, &format!("{header}{last}"));
            let event = events[0].as_ref().unwrap();
            assert_eq!(event.fields[1], Value::Text(store.into()), "{last}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The quotes are followed as the CSV reader takes them: a cell is
        /// still open at the end exactly when text added after the end
        /// lands in the last cell rather than in a record of its own.
        #[test]
        fn quotes_are_followed_as_the_reader_reads_them(
            marked in proptest::bool::ANY,
            bytes in proptest::collection::vec(
                proptest::sample::select(b"\",\r\na\xef".to_vec()),
                0..40,
            ),
        ) {
            let bytes = [if marked { BOM } else { b"" }, &bytes].concat();
            let mut quotes = Quotes::new(&bytes[..]);
            std::io::copy(&mut quotes, &mut std::io::sink()).unwrap();
            let extended = [&bytes[..], b"\nZ"].concat();
            let last = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&extended[..])
                .into_byte_records()
                .last()
                .unwrap()
                .unwrap();
            let swallowed = last.iter().next_back() != Some(&b"Z"[..]);
            proptest::prop_assert_eq!(quotes.unclosed.is_some(), swallowed);
        }
    }

    #[test]
    fn an_empty_file_has_no_records() {
        assert!(read_all(Format::Csv, "").is_empty());
        assert!(read_all(Format::Csv, "id,time,member,type\n").is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// A row typed by its header's plan is the record typed by name:
        /// the same event, or the same reject, whatever the columns and
        /// their order.
        #[test]
        fn a_row_types_as_its_cells_by_name(
            columns in proptest::sample::subsequence(
                vec!["amount", "store", "nights", "rate", "of", "birthday", "vip", "city",
                     "reward", "points", "points_type", "perk", "stor", "bogus"],
                0..=14,
            ).prop_flat_map(|extra| {
                let mut columns = vec!["id", "time", "member", "type"];
                columns.extend(extra);
                Just(columns).prop_shuffle()
            }),
            seed in proptest::collection::vec(0usize..1000, 1..8),
        ) {
            let values = |column: &str| -> &[&str] {
                match column {
                    "id" => &["e1", " e2 ", ""],
                    "time" => &["2025-03-01", "2025-03-01 10:00", "soon", ""],
                    "member" => &["m1", ""],
                    "type" => &["purchase", "stay", "enroll", "return", "redeem", "use_perk", "purchse"],
                    _ => &["", " ", "5", "-2", "e1", "2025-03-01", "true", "mug", "pts", "x"],
                }
            };
            let rows: Vec<Vec<&str>> = seed
                .iter()
                .map(|&n| {
                    columns
                        .iter()
                        .enumerate()
                        .map(|(i, column)| {
                            let pool = values(column);
                            pool[(n / (i + 1) + i * 7) % pool.len()]
                        })
                        .collect()
                })
                .collect();
            let mut text = columns.join(",") + "\n";
            for row in &rows {
                text.push_str(&row.join(","));
                text.push('\n');
            }
            let program = program(PROGRAM);
            let by_name: Vec<Result<Event, Reject>> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let origin = Origin { file: "f".into(), line: i + 2 };
                    let cells = columns
                        .iter()
                        .zip(row)
                        .map(|(name, text)| (*name, Cell::Text(Cow::Borrowed(*text))));
                    type_record(&program, origin, cells)
                })
                .collect();
            proptest::prop_assert_eq!(read_all(Format::Csv, &text), by_name);
        }
    }

    /// `n` purchase rows after a header.
    fn rows(n: usize) -> String {
        let mut text = String::from("id,time,member,type,amount\n");
        for i in 0..n {
            text.push_str(&format!(
                "e{i},2025-03-01 10:00,m{},purchase,{i}.50\n",
                i % 97
            ));
        }
        text
    }

    #[test]
    fn a_large_file_is_read_lazily() {
        let text = rows(100_000);
        let mut input = Cursor::new(text.as_bytes());
        let program = program(PROGRAM);
        let first: Vec<String> = read(&program, Format::Csv, &mut input, "f")
            .take(3)
            .map(|r| r.unwrap().id)
            .collect();
        assert_eq!(first, ["e0", "e1", "e2"]);
        // Only the reader's buffer was consumed, not the ~4 MB of rows.
        let consumed = usize::try_from(input.position()).unwrap();
        assert!(
            consumed < 64 * 1024,
            "read {consumed} of {} bytes",
            text.len()
        );
    }

    /// An input that never ends: a header, then purchase rows forever.
    struct Endless {
        pending: Vec<u8>,
        next: u64,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                self.pending = format!("e{0},2025-03-01,m1,purchase,{0}\n", self.next).into_bytes();
                self.next += 1;
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn an_endless_input_yields_records_as_they_come() {
        let input = std::io::BufReader::new(Endless {
            pending: b"id,time,member,type,amount\n".to_vec(),
            next: 0,
        });
        let program = program(PROGRAM);
        let events = read(&program, Format::Csv, input, "f");
        let ids: Vec<String> = events.skip(1000).take(3).map(|r| r.unwrap().id).collect();
        assert_eq!(ids, ["e1000", "e1001", "e1002"]);
    }
}
