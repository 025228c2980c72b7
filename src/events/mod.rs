//! Events: the records a program is applied to, read from CSV, JSON Lines,
//! YAML, Parquet or Arrow IPC ([`columnar`]) and typed by the program's
//! declared event schemas. A record that cannot be typed becomes a
//! [`Reject`] with its line and reason; reading goes on.
//!
//! # Records
//!
//! Every record has four fields:
//!
//! | field | what |
//! |---|---|
//! | `id` | the event's id, unique in the stream |
//! | `time` | when it happened (see below) |
//! | `member` | the member's id |
//! | `type` | `purchase`, `enroll`, `return`, `redeem`, `use_perk`, or a type the program declares with `event` |
//!
//! A record without one of them (or with it empty) is rejected, naming the
//! field. An unknown `type` is rejected with the closest type's name when
//! there is one ("did you mean `purchase`?").
//!
//! The other fields are those of the record's type: for `purchase`,
//! `amount` and the fields the program's `event purchase { ... }` adds; for
//! `return`, `of` (the id of the purchase returned) and `amount`; for
//! `redeem`, `reward`, `points` and `points_type`; for `use_perk`, `perk`;
//! for `enroll`, the member attributes of the program's `member { ... }`
//! and `referred_by` (the member who referred the new one, if any);
//! for a declared type, its declared fields. A field the type does not have
//! is rejected ("`purchase` has no field `nights`") unless it is empty, so
//! one CSV file can have a column for every field of every type. A record
//! that gives a field twice (a JSON or YAML key twice) is rejected ("field
//! `amount` is given twice") rather than one value silently kept; a CSV
//! header with a column twice rejects the file.
//!
//! # Values
//!
//! Surrounding spaces are ignored. An empty value, and a JSON or YAML null,
//! means the field is absent: the engine sees it as missing. Otherwise a
//! value is read by the field's declared type:
//!
//! | type | accepted | examples |
//! |---|---|---|
//! | `number` | a decimal, optionally signed, optionally with an exponent | `3`, `-2.5`, `1.5e3` |
//! | `money` | a decimal, optionally followed by the program's currency; never negative | `4.50`, `4.50 USD` |
//! | `text` | anything | `Downtown` |
//! | `date` | `YYYY-MM-DD` | `2025-03-01` |
//! | `bool` | `true` or `false`, in any case | `true`, `FALSE` |
//!
//! Numbers are exact decimals, never floating point. Thousands separators
//! (`1,000`) and decimal commas (`4,50`) are rejected rather than guessed.
//! Money in another currency (`4.50 EUR` in a USD program) is rejected. A
//! value that does not read as its type is rejected, naming the field, the
//! value and what was expected.
//!
//! Some built-in fields are required: a `purchase` needs an `amount`; a
//! `return` needs `of` and an `amount` greater than 0; a `use_perk` needs a
//! `perk`; a `redeem` needs either a `reward`, or `points` (greater than 0)
//! and `points_type`, not both; a `transfer` needs `to`, `points` and
//! `points_type`; an `adjust` needs `points`, `points_type` and a `reason`;
//! `join_pool` and `leave_pool` need a `pool`; a `cancel_redeem` needs a
//! `redemption`; a `set_tier` needs `tier`, `reason` and `until` (a date).
//! A `profile` carries member attributes, as an `enroll` does, none of
//! them required. The reader decides this once and hands the engine each
//! built-in event's values typed ([`Body`]). Every field the program declares (a member
//! attribute on `enroll`, a field added to `purchase`, a field of a
//! declared type) is required unless declared `optional`: a record that
//! leaves it absent or empty is rejected, naming it.
//!
//! # Times
//!
//! `time` is either RFC 3339 with a UTC offset — `2025-03-01T10:00:00+01:00`,
//! `2025-03-01T09:00:00Z`, with fractional seconds if wanted — or a local
//! time in the program's `timezone`: `2025-03-01T10:00:00`,
//! `2025-03-01 10:00:00`, `2025-03-01T10:00`, `2025-03-01 10:00` (seconds
//! with a fraction if wanted), or a date alone, `2025-03-01`, meaning
//! midnight. Every field has all its digits and the separators between
//! them (`2025-02-111:00` is not a time). Times are stored in UTC. A time
//! must fall in the years 0000 to 9999 in the program's time zone, where the
//! ledger writes it, as those are the years RFC 3339 can write: in a
//! program in `America/New_York`, `9999-12-31T23:00:00-09:00` (the year
//! 10000 there) is rejected, naming the year. (A local time is in range
//! there already.)
//!
//! Daylight saving time makes some local times special. When the clocks go
//! forward, the skipped local times (2:30 on 2025-03-09 in
//! `America/New_York`) move forward by the length of the gap, as the
//! engine's calendar moves them: 2:30 is read at -05:00, which is 3:30
//! -04:00 (see "The clock" in `docs/semantics.md`). When the clocks go
//! back, the repeated local times (1:30 on 2025-11-02 in
//! `America/New_York`) are read as the earlier of the two instants (1:30
//! -04:00); give the offset (`2025-11-02T01:30:00-05:00`) to mean the later
//! one.
//!
//! # Formats
//!
//! **CSV** (`.csv`): the first line is a header naming the columns; it must
//! have `id`, `time`, `member` and `type`, or the file is rejected as a
//! whole (one reject for line 1). Each later row is a record; a row with
//! more or fewer cells than the header is rejected. A record's line is the
//! physical line it starts on, the header being line 1. A cell may be
//! quoted (`"Downtown, 5th"`, a quote in it doubled), and a quoted cell may
//! span lines; a quote opens a cell only as its first character. A quote
//! that never closes would take the rest of the file into its cell: the
//! record is rejected, naming the line the quote opened on ("a quote opened
//! on line 7 is never closed"); the records before it are read, and nothing
//! after it is.
//!
//! **JSON Lines** (`.jsonl`, `.ndjson`): one JSON object per line; blank
//! lines are skipped. A line that is not a JSON object is rejected. Numbers
//! keep their exact digits; a JSON number, `true` or `false` in a text
//! field is read as its text (`"member": 1042` is member `1042`).
//!
//! **YAML** (`.yaml`, `.yml`): a list of records, each a map:
//!
//! ```yaml
//! - id: e1
//!   time: 2025-03-01 10:00
//!   member: m1
//!   type: purchase
//!   amount: 4.50
//! ```
//!
//! Every value is read from its text as written, so `amount: 4.50` is
//! exactly 4.50 and `member: 007` is member `007`. A record's line is the
//! line of its `- `. Each record is read on its own: a record that is not
//! valid YAML, or holds a list or map as a value, is rejected and the others
//! are still read; for the same reason an anchor in one record cannot be
//! used by another (`*name`, `<<: *name`). A document written another way
//! (a flow list `[...]`) is read as a whole: its records all get the line of
//! the list's start, and one error in it rejects the whole document.
//!
//! Records are flat, and a list of them nests two deep: an item (or a
//! document read whole) whose lists and maps nest more than 64 deep is
//! rejected before it is parsed ("lists and maps are nested more than 64
//! deep", with the line where they pass 64), as the parser's work grows with
//! the square of the depth.
//!
//! A file may hold several documents, each started by a `---` line (and
//! ended by a `...` line, if wanted): their lists are read in order, as one
//! list. Each document is read on its own, so one that is not a list is one
//! reject, at its first line, and the others are still read. A document
//! with nothing in it (a `---` alone, a trailing `---`) adds nothing.
//!
//! In every format, bytes that are not UTF-8 reject the record they are in
//! (for a CSV header or a YAML list read as a whole, the file). A UTF-8
//! byte order mark at the start of a file is skipped.
//!
//! A reject quotes at most 200 bytes of a value, in its reason and in the
//! id and member it carries: a longer value is cut there (at the start of a
//! character) and followed by its length, as in
//! ``field `amount`: `99999… (1048576 bytes)` is not money``. A parser's
//! message that quotes a value (YAML's, for a list item that is text rather
//! than a record) is cut as a whole the same way.

mod basket;
mod body;
pub mod columnar;
mod csv;
mod jsonl;
mod nesting;
mod record;
mod value;
mod yaml;

use crate::compile::ir::{EventTypeId, Program, Value};
pub use body::{Adjust, Body, Item, ItemRow, Redeem, Return, ReturnedItem, SetTier, Transfer};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;

/// One typed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// The instant it happened.
    pub time: DateTime<Utc>,
    pub member: String,
    pub kind: EventTypeId,
    /// What a built-in type's record says, typed.
    pub body: Body,
    /// One value per field of the event type, in the type's field order;
    /// `Value::Missing` where the record left a field empty. Empty for the
    /// built-in types whose values are all in `body` (all but `purchase`,
    /// `enroll` and `profile`); an enrolment's `referred_by` is in `body`.
    pub fields: Vec<Value>,
    /// Where it was read from, for rejects found later by the engine.
    pub origin: Origin,
}

impl Event {
    /// Every field's value, in the event type's field order, built-in
    /// values included (to show or to store the event): the fields left
    /// in the record, then those its body took.
    pub fn values(&self) -> Cow<'_, [Value]> {
        match self.body.values() {
            built_in if built_in.is_empty() => Cow::Borrowed(&self.fields),
            built_in if self.fields.is_empty() => Cow::Owned(built_in),
            built_in => Cow::Owned([self.fields.as_slice(), &built_in].concat()),
        }
    }
}

/// A record's place in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// Shared by every record of a file.
    pub file: std::sync::Arc<str>,
    /// 1-based line (for CSV the header is line 1; for YAML the line where the record starts).
    pub line: usize,
}

/// A record that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub origin: Origin,
    pub id: Option<String>,
    pub member: Option<String>,
    /// What kind of problem it is.
    pub class: RejectClass,
    /// The sentence that says it.
    pub reason: String,
}

impl Reject {
    /// A reject for a line that could not be read as a record at all.
    fn unreadable(file: &str, line: usize, reason: String) -> Reject {
        Reject {
            origin: Origin {
                file: file.into(),
                line,
            },
            id: None,
            member: None,
            class: RejectClass::Unreadable,
            reason,
        }
    }
}

/// What kind of problem kept a record from being applied: rejects are
/// counted by it (`summary.json`, `run --max-rejects`), and a program
/// reading rejects can act on it without parsing sentences. The names
/// (`RejectClass::name`) are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectClass {
    /// A line that is not a record: broken CSV quoting, JSON or YAML.
    Unreadable,
    /// A record that does not fit its type: a field missing, unknown or
    /// given twice, a value that does not read as its type, an unknown
    /// event type.
    Invalid,
    /// An event of a member not enrolled before it.
    UnknownMember,
    /// An event id applied before, or a second enrolment.
    Duplicate,
    /// A time the run cannot take: earlier than the clock (without late
    /// events, or later than `accept late events up to` allows), or more
    /// than a hundred years past it.
    Time,
    /// A sum that would pass the most loyalty counts, an award that
    /// divides by zero, or a member past the most one engine holds
    /// (`limits::MOST_MEMBERS`).
    TooLarge,
    /// A reward, perk, points type, pool, purchase, redemption or recipient
    /// the program or the member does not have.
    UnknownName,
    /// More than the balance, the available points or the purchase left
    /// to return.
    Balance,
    /// Anything else the program does not allow: a perk not granted or
    /// used up, a redemption below or above its bounds, qualifying points
    /// spent, a transfer or pool move the program does not let happen.
    NotAllowed,
}

impl RejectClass {
    pub const ALL: [RejectClass; 9] = [
        RejectClass::Unreadable,
        RejectClass::Invalid,
        RejectClass::UnknownMember,
        RejectClass::Duplicate,
        RejectClass::Time,
        RejectClass::TooLarge,
        RejectClass::UnknownName,
        RejectClass::Balance,
        RejectClass::NotAllowed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectClass::Unreadable => "unreadable",
            RejectClass::Invalid => "invalid",
            RejectClass::UnknownMember => "unknown_member",
            RejectClass::Duplicate => "duplicate",
            RejectClass::Time => "time",
            RejectClass::TooLarge => "too_large",
            RejectClass::UnknownName => "unknown_name",
            RejectClass::Balance => "balance",
            RejectClass::NotAllowed => "not_allowed",
        }
    }
}

/// An event file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Yaml,
    /// Apache Parquet (see [`columnar`] for the column types).
    Parquet,
    /// Arrow IPC, a file or a stream.
    Arrow,
}

impl Format {
    /// The format a file's extension names: `.csv`, `.jsonl` or `.ndjson`,
    /// `.yaml` or `.yml`, `.parquet`, `.arrow`, `.arrows`, `.ipc` or
    /// `.feather`, in any case.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "yaml" | "yml" => Some(Format::Yaml),
            "parquet" => Some(Format::Parquet),
            "arrow" | "arrows" | "ipc" | "feather" => Some(Format::Arrow),
            _ => None,
        }
    }
}

/// Reads the records of `input` in `format`, each typed by `program` or
/// rejected; `file` names the input in every [`Origin`]. CSV and JSON Lines
/// are read lazily, a record at a time; YAML, Parquet and Arrow are read
/// whole first.
pub fn read<'p, R: BufRead + 'p>(
    program: &'p Program,
    format: Format,
    input: R,
    file: &str,
) -> Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> {
    read_on(program, format, input, file, 1)
}

/// `read`, on `threads` threads: with more than one, a CSV file's rows are
/// typed on a thread of their own while the next rows are read (the same
/// records in the same order; the other formats are read as `read` reads
/// them).
pub fn read_on<'p, R: BufRead + 'p>(
    program: &'p Program,
    format: Format,
    input: R,
    file: &str,
    threads: usize,
) -> Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> {
    match format {
        Format::Csv => Box::new(basket::Baskets::new(
            program,
            csv::CsvRecords::new(program, input, file).typed_aside(threads > 1),
        )),
        Format::Jsonl => Box::new(jsonl::JsonlRecords::new(program, input, file)),
        Format::Yaml => yaml::read(program, input, file),
        Format::Parquet => columnar::read(program, columnar::Columnar::Parquet, input, file),
        Format::Arrow => columnar::read(program, columnar::Columnar::Arrow, input, file),
    }
}

/// The most of a value a reject quotes: a reject says what is wrong with a
/// value, it does not keep a copy of a huge one (in `rejects.csv` and on the
/// terminal).
const ECHO_BYTES: usize = 200;

/// `text` as a reject quotes it: whole up to [`ECHO_BYTES`] bytes; a longer
/// text cut there (at the start of a character) and followed by
/// `… (N bytes)`, N being its whole length.
fn echo(text: &str) -> Cow<'_, str> {
    if text.len() <= ECHO_BYTES {
        return Cow::Borrowed(text);
    }
    let cut = (0..=ECHO_BYTES)
        .rev()
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(0);
    let head = text.get(..cut).unwrap_or_default();
    Cow::Owned(format!("{head}… ({} bytes)", text.len()))
}

/// The UTF-8 byte order mark some editors start a file with: skipped at the
/// start of a file in every format (the CSV reader skips it on its own).
const BOM: &[u8] = b"\xef\xbb\xbf";

/// A parser's error message without the position it appends (" at line 3
/// column 7"), which counts from the start of what that parser was given
/// rather than of the file.
fn without_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |at| message.get(..at).unwrap_or(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;

    /// A program with a declared purchase field, member attributes, a
    /// declared event type and every built-in type; every declared field
    /// is `optional` but a stay's `nights`.
    pub(super) const PROGRAM: &str = r#"
        program "T" { currency USD  timezone "America/New_York" }
        member { birthday: optional date  vip: optional bool  city: optional text }
        event purchase { store: optional text }
        event stay { nights: number  rate: optional money }
        points pts
        rule base { on purchase  earn 1 pts per 1 USD of amount }
        rule nights { on stay  earn 100 pts per 1 of nights }
    "#;

    pub(super) fn program(source: &str) -> Program {
        compile(source).expect("the test program compiles").0
    }

    pub(super) fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 time")
            .with_timezone(&Utc)
    }

    /// Reads `text` in `format` as file `f`.
    pub(super) fn read_all(format: Format, text: &str) -> Vec<Result<Event, Reject>> {
        let program = program(PROGRAM);
        read(&program, format, text.as_bytes(), "f").collect()
    }

    /// The lines of the events and rejects raw `bytes` (not always UTF-8)
    /// read to: the line of each event, the line and reason of each reject.
    pub(super) fn origins(format: Format, bytes: &[u8]) -> Vec<Result<usize, (usize, String)>> {
        let program = program(PROGRAM);
        read(&program, format, bytes, "f")
            .map(|r| {
                r.map(|e| e.origin.line)
                    .map_err(|r| (r.origin.line, r.reason))
            })
            .collect()
    }

    /// The lines of the events and rejects `text` reads to, in order, each
    /// with its id (events) or reason (rejects).
    pub(super) fn outline(format: Format, text: &str) -> Vec<(usize, Result<String, String>)> {
        read_all(format, text)
            .into_iter()
            .map(|r| match r {
                Ok(e) => (e.origin.line, Ok(e.id)),
                Err(r) => (r.origin.line, Err(r.reason)),
            })
            .collect()
    }

    #[test]
    fn formats_come_from_extensions() {
        let cases = [
            ("events.csv", Some(Format::Csv)),
            ("a/b/events.CSV", Some(Format::Csv)),
            ("events.jsonl", Some(Format::Jsonl)),
            ("events.ndjson", Some(Format::Jsonl)),
            ("events.yaml", Some(Format::Yaml)),
            ("events.yml", Some(Format::Yaml)),
            ("events.json", None),
            ("events", None),
        ];
        for (path, format) in cases {
            assert_eq!(Format::from_path(Path::new(path)), format, "{path}");
        }
    }

    #[test]
    fn the_same_records_read_the_same_in_every_format() {
        let csv = "id,time,member,type,amount,store\n\
                   e1,2025-03-01 10:00,m1,purchase,4.50,Downtown\n\
                   e2,2025-03-02T10:00:00Z,m1,purchase,7,\n";
        let jsonl = r#"{"id": "e1", "time": "2025-03-01 10:00", "member": "m1", "type": "purchase", "amount": 4.50, "store": "Downtown"}
{"id": "e2", "time": "2025-03-02T10:00:00Z", "member": "m1", "type": "purchase", "amount": "7"}
"#;
        let yaml = "- id: e1\n  time: 2025-03-01 10:00\n  member: m1\n  type: purchase\n  \
                    amount: 4.50\n  store: Downtown\n\
                    - id: e2\n  time: 2025-03-02T10:00:00Z\n  member: m1\n  type: purchase\n  \
                    amount: 7\n";
        let without_origins = |format, text| {
            read_all(format, text)
                .into_iter()
                .map(|r| {
                    let mut event = r.unwrap();
                    event.origin.line = 0;
                    event
                })
                .collect::<Vec<_>>()
        };
        let from_csv = without_origins(Format::Csv, csv);
        assert_eq!(from_csv.len(), 2);
        assert_eq!(from_csv, without_origins(Format::Jsonl, jsonl));
        assert_eq!(from_csv, without_origins(Format::Yaml, yaml));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any bytes at all: no panic, and every result placed on a line of
        /// the input, in order.
        #[test]
        fn any_input_reads_to_results_in_line_order(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"\n ,:-\"{}[]#0aeid5.\xff".to_vec()),
                0..200,
            ),
            format in proptest::sample::select(vec![Format::Csv, Format::Jsonl, Format::Yaml]),
        ) {
            let program = program(PROGRAM);
            let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
            let places: Vec<usize> = read(&program, format, &bytes[..], "f")
                .map(|r| r.map_or_else(|r| r.origin.line, |e| e.origin.line))
                .collect();
            proptest::prop_assert!(places.iter().all(|line| (1..=lines).contains(line)), "{places:?}");
            proptest::prop_assert!(places.is_sorted(), "{places:?}");
        }
    }

    #[test]
    fn a_value_is_echoed_up_to_a_bound() {
        let short = "é".repeat(ECHO_BYTES / 2);
        assert_eq!(echo(&short), short);
        let long = "x".repeat(ECHO_BYTES + 1);
        assert_eq!(
            echo(&long),
            format!("{}… ({} bytes)", &long[..ECHO_BYTES], ECHO_BYTES + 1)
        );
        // Cut at the start of the character that would cross the bound.
        let wide = format!("x{short}");
        assert_eq!(
            echo(&wide),
            format!("{}… ({} bytes)", &wide[..ECHO_BYTES - 1], ECHO_BYTES + 1)
        );
    }

    #[test]
    fn positions_are_cut_from_parser_messages() {
        assert_eq!(
            without_position("EOF while parsing an object at line 1 column 9"),
            "EOF while parsing an object"
        );
        assert_eq!(without_position("no position here"), "no position here");
    }
}
