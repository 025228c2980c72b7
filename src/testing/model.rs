//! The test file format, read from YAML with serde: a program, and named
//! cases, each with its events, an `until` date, expectations and a
//! snapshot flag. Unknown keys and values of the wrong shape are errors with
//! a line, so a typo never turns a test into one that checks nothing.

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use std::collections::BTreeMap;
use std::fmt;

pub use crate::file_error::FileError;

/// A whole `*.test.yaml` file.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The program's path, relative to the test file.
    pub program: String,
    pub tests: Vec<Case>,
}

/// One named case: events replayed through the program, then checked.
#[derive(Debug, DeriveDeserialize)]
#[serde(try_from = "RawCase")]
pub struct Case {
    pub name: String,
    pub events: Events,
    /// Replay through the end of this day (or up to this instant); without
    /// it, the clock stops at the last event.
    pub until: Option<Until>,
    pub expect: Expect,
    /// Compare the whole ledger, rejects and summary with a stored snapshot.
    pub snapshot: bool,
    /// Apply the events in the order written, as `run --stream` does: one
    /// earlier than the clock is a late event.
    pub stream: bool,
}

/// `Case` as written, before the check that it expects something.
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    events: Events,
    #[serde(default, deserialize_with = "until")]
    until: Option<Until>,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    snapshot: bool,
    #[serde(default)]
    stream: bool,
}

impl TryFrom<RawCase> for Case {
    type Error = String;

    fn try_from(raw: RawCase) -> Result<Case, String> {
        if raw.name.trim().is_empty() {
            return Err("a test needs a `name`".to_string());
        }
        if raw.expect.is_empty() && !raw.snapshot {
            return Err(format!(
                "test `{}` checks nothing: give it `expect` or `snapshot: true`",
                raw.name
            ));
        }
        Ok(Case {
            name: raw.name,
            events: raw.events,
            until: raw.until,
            expect: raw.expect,
            snapshot: raw.snapshot,
            stream: raw.stream,
        })
    }
}

/// A case's events: an event file (CSV, JSON Lines or YAML, by extension,
/// relative to the test file), or records written in the test file.
#[derive(Debug, PartialEq, Eq)]
pub enum Events {
    File(String),
    Inline(Vec<Record>),
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EventsVisitor)
    }
}

struct EventsVisitor;

impl<'de> Visitor<'de> for EventsVisitor {
    type Value = Events;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event file's path, or a list of records")
    }

    fn visit_str<E: de::Error>(self, path: &str) -> Result<Events, E> {
        Ok(Events::File(path.to_owned()))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Events, S::Error> {
        let mut records = Vec::new();
        while let Some(record) = seq.next_element()? {
            records.push(record);
        }
        Ok(Events::Inline(records))
    }
}

/// One inline record: its fields in order, each value the text it was
/// written as (`None` for a null), so that `amount: 4.50` reaches the event
/// readers as `4.50` and `member: 007` as `007`; the readers do the typing.
/// Then a purchase's `items`, each a record of its own, if it lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record(pub Vec<(String, Option<String>)>, pub Option<Vec<Record>>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record of `field: value` lines")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Record, M::Error> {
        let mut fields: Vec<(String, Option<String>)> = Vec::new();
        let mut items = None;
        while let Some(Text(name)) = map.next_key::<Text>()? {
            if fields.iter().any(|(seen, _)| *seen == name) || (name == "items" && items.is_some())
            {
                return Err(de::Error::custom(format!("field `{name}` is given twice")));
            }
            if name == "items" {
                items = Some(map.next_value::<Vec<Record>>()?);
                continue;
            }
            let value = map.next_value::<Option<Text>>()?;
            fields.push((name, value.map(|Text(text)| text)));
        }
        Ok(Record(fields, items))
    }
}

/// A scalar's text as written: YAML's own reading would make `4.50` the
/// float 4.5 and `007` the number 7. A list or a map is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        scalar(deserializer, |text| Ok(Text(text.to_owned())))
    }
}

/// Reads a scalar's text with `read`, inside the deserializer, so that an
/// error is placed on the value's own line.
fn scalar<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    read: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    deserializer.deserialize_str(ScalarVisitor(read))
}

struct ScalarVisitor<F>(F);

impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for ScalarVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a single value (text, a number, a date, true or false)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

/// An exact decimal, read from its text (`35`, `-60`, `4.50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number(pub Decimal);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        scalar(deserializer, |text| {
            decimal(text)
                .map(Number)
                .ok_or_else(|| format!("`{text}` is not a number"))
        })
    }
}

/// `text` as an exact decimal, if it is one.
pub fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text.trim()).ok()
}

/// Where a replay stops (a day, through its end, or an instant).
pub use crate::engine::replay::Until;

/// Reads `until:` with the same rules as `--until`.
fn until<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Until>, D::Error> {
    scalar(deserializer, |text| text.parse::<Until>()).map(Some)
}

/// What must be true after the replay. Every part is optional; all given
/// parts must hold.
#[derive(Debug, Default, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Member → points type → balance (pending points included, debts
    /// subtracted: the `balance` column of `members.csv`).
    #[serde(default)]
    pub balances: BTreeMap<String, BTreeMap<String, Number>>,
    /// Member → tier name at the end of the replay.
    #[serde(default)]
    pub tiers: BTreeMap<String, String>,
    /// Rows that must appear in the ledger, in this order (other rows may
    /// come between them).
    #[serde(default)]
    pub ledger: Vec<LedgerRow>,
    /// Rejects that must appear, in this order.
    #[serde(default)]
    pub rejects: Vec<RejectRow>,
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
            && self.tiers.is_empty()
            && self.ledger.is_empty()
            && self.rejects.is_empty()
    }
}

/// A ledger row to look for: only the columns given are compared.
#[derive(Debug, Clone, PartialEq, Eq, DeriveDeserialize)]
#[serde(try_from = "RawLedgerRow")]
pub struct LedgerRow(pub Vec<(&'static str, String)>);

/// The columns of `ledger.csv`, in its order.
pub const LEDGER_COLUMNS: [&str; 11] = [
    "kind", "member", "time", "points", "amount", "balance", "rule", "event", "cost", "note",
    "earned",
];

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct RawLedgerRow {
    kind: Option<Text>,
    member: Option<Text>,
    time: Option<Text>,
    points: Option<Text>,
    amount: Option<Text>,
    balance: Option<Text>,
    rule: Option<Text>,
    event: Option<Text>,
    cost: Option<Text>,
    note: Option<Text>,
    earned: Option<Text>,
}

impl TryFrom<RawLedgerRow> for LedgerRow {
    type Error = String;

    fn try_from(raw: RawLedgerRow) -> Result<LedgerRow, String> {
        let values = [
            raw.kind,
            raw.member,
            raw.time,
            raw.points,
            raw.amount,
            raw.balance,
            raw.rule,
            raw.event,
            raw.cost,
            raw.note,
            raw.earned,
        ];
        columns(LEDGER_COLUMNS.into_iter().zip(values)).map(LedgerRow)
    }
}

/// A reject to look for: only the columns given are compared.
#[derive(Debug, Clone, PartialEq, Eq, DeriveDeserialize)]
#[serde(try_from = "RawRejectRow")]
pub struct RejectRow(pub Vec<(&'static str, String)>);

/// The columns of `rejects.csv`, in its order.
pub const REJECT_COLUMNS: [&str; 5] = ["file", "line", "id", "member", "reason"];

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct RawRejectRow {
    file: Option<Text>,
    line: Option<Text>,
    id: Option<Text>,
    member: Option<Text>,
    reason: Option<Text>,
}

impl TryFrom<RawRejectRow> for RejectRow {
    type Error = String;

    fn try_from(raw: RawRejectRow) -> Result<RejectRow, String> {
        let values = [raw.file, raw.line, raw.id, raw.member, raw.reason];
        columns(REJECT_COLUMNS.into_iter().zip(values)).map(RejectRow)
    }
}

/// The columns a row gives; a row that gives none would match anything.
fn columns(
    given: impl Iterator<Item = (&'static str, Option<Text>)>,
) -> Result<Vec<(&'static str, String)>, String> {
    let columns: Vec<(&'static str, String)> = given
        .filter_map(|(name, value)| value.map(|Text(text)| (name, text)))
        .collect();
    if columns.is_empty() {
        return Err("a row to look for needs at least one column".to_string());
    }
    Ok(columns)
}

/// The test file read from `text`, or why not: a message, and where.
pub fn parse(text: &str) -> Result<TestFile, FileError> {
    if text.trim().is_empty() || is_only_comments(text) {
        return Err(FileError::new(
            None,
            "the test file is empty: it needs a `program` and a list of `tests`".to_string(),
        ));
    }
    let file: TestFile = serde_norway::from_str(text).map_err(|error| {
        let location = error.location();
        let message = error.to_string();
        let message = without_position(&message);
        FileError {
            line: location.as_ref().map(serde_norway::Location::line),
            column: location.as_ref().map(serde_norway::Location::column),
            message,
        }
    })?;
    if file.tests.is_empty() {
        return Err(FileError::new(
            locate(text, None, "tests"),
            "tests: the list is empty: a test file needs at least one test".to_string(),
        ));
    }
    Ok(file)
}

/// The line of `key` in the test file's text: a top-level key, or one in the
/// `case`-th item of the `tests` list. Best effort: the YAML parser gives
/// places only for the errors it finds itself.
pub(crate) fn locate(text: &str, case: Option<usize>, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_key = |line: &str| {
        let content = line.trim_start().trim_start_matches("- ").trim_start();
        content
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    };
    let Some(case) = case else {
        return lines
            .iter()
            .position(|line| !line.starts_with([' ', '-']) && is_key(line))
            .map(|i| i + 1);
    };
    let tests = lines.iter().position(|line| line.starts_with("tests:"))?;
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut items = Vec::new();
    let mut item_indent = None;
    for (i, line) in lines.iter().enumerate().skip(tests + 1) {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '-']) {
            break;
        }
        let is_item = content == "-" || content.starts_with("- ");
        if is_item && item_indent.is_none_or(|at| at == indent(line)) {
            item_indent = Some(indent(line));
            items.push(i);
        }
    }
    let start = *items.get(case)?;
    let end = items.get(case + 1).copied().unwrap_or(lines.len());
    (start..end)
        .find(|&i| lines.get(i).is_some_and(|line| is_key(line)))
        .or(Some(start))
        .map(|i| i + 1)
}

/// A serde_norway message without the position it writes into it (" at
/// line 3 column 7"), which the error gives apart.
fn without_position(message: &str) -> String {
    match message.find(" at line ") {
        None => message.to_string(),
        Some(at) => {
            let (before, rest) = message.split_at(at);
            let after = rest
                .find(',')
                .map_or("", |comma| rest.get(comma..).unwrap_or(""));
            format!("{before}{after}")
        }
    }
}

fn is_only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with('#') || line == "---")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_the_text_they_were_written_as() {
        let file = parse(
            "program: p.loyalty\ntests:\n  - name: a\n    events:\n      - {id: e1, member: 007, amount: 4.50, time: 2025-01-05 08:00, note: ~}\n    snapshot: true\n",
        )
        .unwrap();
        let case = &file.tests[0];
        let text = |s: &str| Some(s.to_string());
        assert_eq!(
            case.events,
            Events::Inline(vec![Record(
                vec![
                    ("id".into(), text("e1")),
                    ("member".into(), text("007")),
                    ("amount".into(), text("4.50")),
                    ("time".into(), text("2025-01-05 08:00")),
                    ("note".into(), None),
                ],
                None
            )])
        );
    }

    #[test]
    fn expectations_read_exact_numbers_and_given_columns() {
        let file = parse(
            "program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n    until: 2025-12-31\n    expect:\n      balances:\n        ann: {stars: 12.50}\n      ledger:\n        - {kind: earn, amount: 4}\n",
        )
        .unwrap();
        let case = &file.tests[0];
        assert_eq!(case.events, Events::File("e.csv".into()));
        assert_eq!(
            case.until,
            Some(Until::Day(
                chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
            ))
        );
        assert_eq!(
            case.expect.balances["ann"]["stars"],
            Number(Decimal::new(1250, 2))
        );
        assert_eq!(
            case.expect.ledger,
            vec![LedgerRow(vec![
                ("kind", "earn".into()),
                ("amount", "4".into())
            ])]
        );
    }

    #[test]
    fn mistakes_are_placed_on_their_line_and_field() {
        let cases = [
            (
                "program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n    expect:\n      balance: {}\n",
                6,
                "tests[0].expect: unknown field `balance`",
            ),
            (
                "program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n    until: soon\n    snapshot: true\n",
                5,
                "tests[0].until: `soon` is neither a date",
            ),
            (
                "program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n    snapshot: maybe\n",
                5,
                "tests[0].snapshot: invalid type",
            ),
            (
                "program: p.loyalty\ntests:\n  - name: a\n    events:\n      - {id: e1, amount: [1, 2]}\n    snapshot: true\n",
                5,
                "tests[0].events[0].amount: invalid type: sequence",
            ),
            (
                "program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n    expect:\n      ledger:\n        - {}\n",
                7,
                "tests[0].expect.ledger: a row to look for needs at least one column",
            ),
        ];
        for (text, line, start) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.line, Some(line), "{error:?}");
            assert!(error.message.starts_with(start), "{error:?}");
        }
    }

    #[test]
    fn a_case_that_checks_nothing_is_an_error() {
        let error =
            parse("program: p.loyalty\ntests:\n  - name: a\n    events: e.csv\n").unwrap_err();
        assert!(error.message.contains("checks nothing"), "{error:?}");
        assert!(error.line.is_some());
    }

    #[test]
    fn empty_files_and_empty_lists_are_errors() {
        for text in ["", "# nothing yet\n", "program: p.loyalty\ntests: []\n"] {
            let error = parse(text).unwrap_err();
            assert!(error.message.contains("empty"), "{text:?}: {error:?}");
        }
    }
}
