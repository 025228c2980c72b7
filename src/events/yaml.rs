//! YAML event files: a list of records, each a map, in one document or
//! several. The file is read whole, cut into its documents by their `---`
//! lines and each document into its list items by their `- ` lines, and
//! each item is parsed on its own, so one bad record neither hides the
//! others nor loses its line.

use super::basket::{self, ITEMS};
use super::record::{type_record, Cell};
use super::{echo, nesting, without_position, Event, Origin, Reject, BOM};
use crate::compile::ir::Program;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::ops::Range;

/// Reads all of `input`, then types its records one by one as they are asked for.
pub(super) fn read<'p, R: BufRead + 'p>(
    program: &'p Program,
    mut input: R,
    file: &str,
) -> Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> {
    let mut bytes = Vec::new();
    if let Err(error) = input.read_to_end(&mut bytes) {
        let reject = Reject::unreadable(file, 1, format!("cannot read the file: {error}"));
        return Box::new(std::iter::once(Err(reject)));
    }
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    let file = file.to_owned();
    let items = items(&bytes);
    Box::new(items.into_iter().flat_map(move |item| {
        let text = bytes.get(item.bytes.clone()).unwrap_or_default();
        parse_item(program, text, &item, &file)
    }))
}

/// A part of the file that parses on its own: one list item, or the whole
/// document when its items cannot be found by their lines.
#[derive(Debug)]
struct Item {
    /// The 1-based line its records are placed at.
    line: usize,
    /// The 1-based line its bytes start on.
    first_line: usize,
    bytes: Range<usize>,
}

/// Cuts a YAML stream into its documents, and each document into its
/// top-level list items: lines at the indentation of the document's first
/// item that start with `- ` (or are `-` alone), each running to the next
/// such line or to the end of the document. Comments, blank lines and
/// directives before a document's first item are left out. A document
/// whose first content is not a `- ` line is one item.
///
/// A document starts at a line that starts with `---` and a space or
/// nothing more, and ends at the next such line, at a line that starts
/// with `...` (its end marker) or `%` (a directive, which comes before a
/// document), or at the end of the stream.
fn items(bytes: &[u8]) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    // The current document's first byte and line, and its shape.
    let mut document = (0, 1);
    let mut shape = Shape::Empty;
    let mut start = 0;
    for (index, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        let line_start = start;
        start += line.len();
        let marker = Marker::of(line);
        if let Some(marker) = &marker {
            if let (Some(last), Shape::List(_) | Shape::Whole) = (items.last_mut(), shape) {
                last.bytes.end = line_start;
            }
            shape = Shape::Empty;
            document = match marker {
                Marker::Start(_) => (line_start, number),
                Marker::End => (start, number + 1),
            };
        }
        let content = match marker {
            Some(Marker::Start(rest)) => rest,
            Some(Marker::End) => continue,
            None => line,
        };
        let trimmed = content.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        let depth = line.iter().take_while(|b| **b == b' ').count();
        let rest = line.get(depth..).unwrap_or_default();
        let is_item = marker.is_none()
            && rest.first() == Some(&b'-')
            && rest.get(1).is_none_or(u8::is_ascii_whitespace);
        let item = Item {
            line: number,
            first_line: number,
            bytes: line_start..bytes.len(),
        };
        match shape {
            Shape::Empty if is_item => {
                shape = Shape::List(depth);
                items.push(item);
            }
            Shape::Empty => {
                shape = Shape::Whole;
                let (first_byte, first_line) = document;
                items.push(Item {
                    first_line,
                    bytes: first_byte..bytes.len(),
                    ..item
                });
            }
            Shape::List(indent) if is_item && depth == indent => {
                if let Some(last) = items.last_mut() {
                    last.bytes.end = line_start;
                }
                items.push(item);
            }
            Shape::List(_) | Shape::Whole => {}
        }
    }
    items
}

/// How a document is cut, as far as its lines have shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No content yet.
    Empty,
    /// A block list at this indentation, cut into its items.
    List(usize),
    /// Something else, read whole.
    Whole,
}

/// A line that starts or ends a document.
enum Marker<'a> {
    /// `---`, with the rest of its line, which may start the document's content.
    Start(&'a [u8]),
    /// `...`, or a directive (`%YAML 1.2`), which comes before a document.
    End,
}

impl Marker<'_> {
    fn of(line: &[u8]) -> Option<Marker<'_>> {
        let after = |marker: &[u8]| {
            line.strip_prefix(marker)
                .filter(|rest| rest.first().is_none_or(u8::is_ascii_whitespace))
        };
        if let Some(rest) = after(b"---") {
            Some(Marker::Start(rest))
        } else if after(b"...").is_some() || line.starts_with(b"%") {
            Some(Marker::End)
        } else {
            None
        }
    }
}

/// Parses one item (a list of one record, or a whole document's list) and
/// types its records, all placed at the item's line.
fn parse_item(
    program: &Program,
    bytes: &[u8],
    item: &Item,
    file: &str,
) -> Vec<Result<Event, Reject>> {
    let line = item.line;
    let reject = |reason| vec![Err(Reject::unreadable(file, line, reason))];
    let Ok(text) = std::str::from_utf8(bytes) else {
        return reject("the record is not valid UTF-8".to_owned());
    };
    if let Some(at) = nesting::too_deep(bytes) {
        return reject(format!(
            "not a record (line {}): lists and maps are nested more than {} deep",
            item.first_line + at - 1,
            nesting::MAX_DEPTH
        ));
    }
    let records = match serde_norway::from_str::<Option<Vec<RawRecord>>>(text) {
        Ok(records) => records.unwrap_or_default(),
        Err(error) => {
            let message = error.to_string();
            // The parser's message may quote a value (a list item that is
            // text, not a record): it is quoted as a value is.
            let message = echo(&without_index(without_position(&message))).into_owned();
            return reject(match error.location() {
                Some(at) => format!(
                    "not a record (line {}): {message}",
                    item.first_line + at.line().saturating_sub(1)
                ),
                None => format!("not a record: {message}"),
            });
        }
    };
    records
        .into_iter()
        .map(|record| {
            let origin = Origin {
                file: file.into(),
                line,
            };
            let typed = type_record(program, origin, record.cells());
            match record.items {
                None => typed,
                Some(items) => {
                    let items = items.iter().map(|item| Some(item.cells())).collect();
                    basket::listed(program, typed, items)
                }
            }
        })
        .collect()
}

/// A message without the path serde_norway starts it with (`.[0].amount: `),
/// whose index counts within the parsed item, not the file; a field name
/// in it is kept.
fn without_index(message: &str) -> Cow<'_, str> {
    let Some(rest) = message.strip_prefix(".[") else {
        return Cow::Borrowed(message);
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if let Some(rest) = rest.strip_prefix("]: ") {
        return Cow::Borrowed(rest);
    }
    match rest
        .strip_prefix("].")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((field, rest)) => Cow::Owned(format!("field `{field}`: {rest}")),
        None => Cow::Borrowed(message),
    }
}

/// A record's fields in order, each value the text it was written as
/// (`None` for a null): YAML's own reading would make `4.50` a float and
/// `0x10` the number 16.
struct RawRecord {
    cells: Vec<(String, Option<String>)>,
    /// A purchase's `items`, each a record of its own.
    items: Option<Vec<RawRecord>>,
}

impl RawRecord {
    fn cells(&self) -> impl Iterator<Item = (&str, Cell<'_>)> {
        self.cells.iter().map(|(name, value)| {
            let text = value.as_deref().unwrap_or_default();
            (name.as_str(), Cell::Text(Cow::Borrowed(text)))
        })
    }
}

impl<'de> Deserialize<'de> for RawRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RawRecord;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record of `field: value` lines")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawRecord, M::Error> {
        let mut cells = Vec::new();
        let mut items = None;
        while let Some(RawScalar(name)) = map.next_key::<RawScalar>()? {
            if name != ITEMS {
                let value = map.next_value::<Option<RawScalar>>()?;
                cells.push((name, value.map(|RawScalar(text)| text)));
                continue;
            }
            // A list of items is kept apart, an empty cell in its place (so
            // that a second is found); any other `items` is a field's
            // value, as before baskets.
            match map.next_value::<ItemsValue>()? {
                ItemsValue::List(list) => {
                    items = Some(list);
                    cells.push((name, None));
                }
                ItemsValue::Scalar(value) => cells.push((name, value)),
            }
        }
        Ok(RawRecord { cells, items })
    }
}

/// The value of a record's `items`: a purchase's basket, or a scalar (a
/// declared field of that name; `None` for a null).
enum ItemsValue {
    List(Vec<RawRecord>),
    Scalar(Option<String>),
}

impl<'de> Deserialize<'de> for ItemsValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = ItemsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of items, each a map of `field: value` lines")
    }

    fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<ItemsValue, S::Error> {
        let mut list = Vec::new();
        while let Some(item) = seq.next_element()? {
            list.push(item);
        }
        Ok(ItemsValue::List(list))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ItemsValue, E> {
        Ok(ItemsValue::Scalar(Some(text.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ItemsValue, E> {
        Ok(ItemsValue::Scalar(None))
    }
}

/// A scalar's text as written; a key or value that is a list or a map is
/// an error. `Option<RawScalar>` reads a null as `None`.
struct RawScalar(String);

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ScalarVisitor).map(RawScalar)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a single value (text, a number, a date, true or false)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::Value;
    use crate::events::tests::{origins, outline, read_all, utc};
    use crate::events::Body;
    use crate::events::Format;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn lines(text: &str) -> Vec<usize> {
        items(text.as_bytes()).into_iter().map(|i| i.line).collect()
    }

    #[test]
    fn items_are_found_by_their_dash_lines() {
        let text = "# events\n---\n- id: a\n  note: |\n    - not an item\n\n- id: b\n  list:\n  - nested\n-\n  id: c\n...\n";
        let items = items(text.as_bytes());
        let texts: Vec<&str> = items.iter().map(|i| &text[i.bytes.clone()]).collect();
        assert_eq!(lines(text), [3, 7, 10]);
        assert_eq!(
            texts,
            [
                "- id: a\n  note: |\n    - not an item\n\n",
                "- id: b\n  list:\n  - nested\n",
                "-\n  id: c\n"
            ]
        );
    }

    #[test]
    fn an_indented_list_is_cut_at_its_own_indentation() {
        assert_eq!(lines("  - id: a\n    x: 1\n  - id: b\n"), [1, 3]);
    }

    #[test]
    fn documents_not_written_as_a_block_list_are_one_item() {
        assert_eq!(lines("[{id: a}, {id: b}]\n"), [1]);
        assert_eq!(lines("# a comment\n\nevents:\n  - id: a\n"), [3]);
        assert!(lines("# nothing\n\n").is_empty());
    }

    #[test]
    fn each_document_is_cut_on_its_own() {
        let text = "- id: a\n---\n- id: b\n...\n---\n[{id: c},\n {id: d}]\n--- # four\n  - id: e\n---\n---\n";
        assert_eq!(lines(text), [1, 3, 6, 9]);
        let items = items(text.as_bytes());
        let texts: Vec<&str> = items.iter().map(|i| &text[i.bytes.clone()]).collect();
        assert_eq!(
            texts,
            [
                "- id: a\n",
                "- id: b\n",
                "---\n[{id: c},\n {id: d}]\n",
                "  - id: e\n"
            ]
        );
        assert_eq!(items[2].first_line, 5);
        // Markers start a line; `---` is followed by a space or nothing.
        assert_eq!(lines("- a: |\n    ---\n- b\n"), [1, 3]);
        assert_eq!(lines("---a\n- id: b\n"), [1]);
        assert_eq!(lines("--- [a]\n"), [1]);
    }

    #[test]
    fn the_documents_of_a_file_are_read_in_order_each_on_its_own() {
        let perk = |id: &str| {
            format!("- {{id: {id}, time: 2025-03-01, member: m1, type: use_perk, perk: x}}\n")
        };
        let text = format!(
            "{}---\nevents:\n  {}---\n---\n# nothing\n--- [{{id: c, time: 2025-03-01, member: m1, type: use_perk, perk: x}}]\n---\n{}---\n[x\n---\n{}",
            perk("a"),
            perk("b"),
            perk("d"),
            perk("e")
        );
        let outline = outline(Format::Yaml, &text);
        assert_eq!(
            outline,
            vec![
                (1, Ok("a".into())),
                (
                    3,
                    Err("not a record (line 3): invalid type: map, expected a sequence".into())
                ),
                (8, Ok("c".into())),
                (10, Ok("d".into())),
                (
                    12,
                    Err("not a record (line 12): invalid type: string \"x\", \
                         expected a record of `field: value` lines"
                        .into())
                ),
                (14, Ok("e".into())),
            ]
        );
    }

    #[test]
    fn a_good_file_reads_into_events() {
        let text = "\
# Hand-written cases.
- id: e0
  time: 2025-01-01
  member: 007
  type: enroll
  vip: true
  city: ~
  birthday: 1990-05-17

- id: s1
  time: 2025-03-01T10:00:00+01:00
  member: 007
  type: stay
  nights: 3
  rate: 129.90

- {id: e1, time: '2025-03-01 10:00', member: '007', type: purchase, amount: 12345678901234567.25 USD}
";
        let events: Vec<Event> = read_all(Format::Yaml, text)
            .into_iter()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>();
        let number = |text| Value::Number(Decimal::from_str(text).unwrap());
        let origin = |line| Origin {
            file: "f".into(),
            line,
        };
        assert_eq!(
            events,
            vec![
                Event {
                    id: "e0".into(),
                    time: utc("2025-01-01T05:00:00Z"),
                    member: "007".into(),
                    kind: 1,
                    body: Body::Enroll { referred_by: None },
                    fields: vec![
                        Value::Date(chrono::NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()),
                        Value::Bool(true),
                        Value::Missing,
                    ],
                    origin: origin(2),
                },
                Event {
                    id: "s1".into(),
                    time: utc("2025-03-01T09:00:00Z"),
                    member: "007".into(),
                    kind: crate::check::BuiltinEvent::ALL.len(),
                    body: Body::Plain,
                    fields: vec![number("3"), number("129.90")],
                    origin: origin(10),
                },
                Event {
                    id: "e1".into(),
                    time: utc("2025-03-01T15:00:00Z"),
                    member: "007".into(),
                    kind: 0,
                    body: Body::Purchase {
                        amount: Decimal::from_str("12345678901234567.25").unwrap(),
                        items: Vec::new(),
                    },
                    fields: vec![number("12345678901234567.25"), Value::Missing],
                    origin: origin(17),
                },
            ]
        );
    }

    #[test]
    fn values_are_read_as_written() {
        let stay = |nights: &str| {
            format!("- id: s1\n  time: 2025-03-01\n  member: m1\n  type: stay\n  nights: {nights}\n  rate: 1e2\n")
        };
        let events = read_all(Format::Yaml, &stay("2.50"));
        let event = events[0].as_ref().unwrap();
        let Value::Number(nights) = &event.fields[0] else {
            panic!("{event:?}")
        };
        assert_eq!(nights.to_string(), "2.50");
        assert_eq!(event.fields[1], Value::Number(Decimal::new(100, 0)));
        // YAML itself would read `0x10` as 16; a record's number is decimal.
        let hex = read_all(Format::Yaml, &stay("0x10"))
            .pop()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            hex.reason,
            "field `nights`: `0x10` is not a number (expected one like 3 or 2.5)"
        );
    }

    #[test]
    fn each_bad_record_is_one_reject_and_the_records_around_it_are_read() {
        let text = "\
- id: e1
  time: 2025-03-01
  member: m1
  type: purchase
  amount: 5
- just text
- id: e3
  time: 2025-03-01
  member: m1
  type: purchase
  amount: [5]
- id: e4
  time: 2025-03-01
  member: m1
  type: purchase
  amount: 5
  amount: 6
- id: e5
  time: 2025-11-02 01:30
  member: m1
  type: stay
  nights: 2
  store: x
- id: e6
  time: \"2025-03-01
- id: e7
  time: 2025-03-01
  member: m1
  type: use_perk
  perk: lounge
";
        assert_eq!(
            outline(Format::Yaml, text),
            vec![
                (1, Ok("e1".into())),
                (
                    6,
                    Err(
                        "not a record (line 6): invalid type: string \"just text\", \
                         expected a record of `field: value` lines"
                            .into()
                    )
                ),
                (
                    7,
                    Err(
                        "not a record (line 11): field `amount`: invalid type: sequence, \
                         expected a single value (text, a number, a date, true or false)"
                            .into()
                    )
                ),
                (12, Err("field `amount` is given twice".into())),
                (
                    18,
                    Err("`stay` has no field `store`; its fields are `nights`, `rate`".into())
                ),
                (
                    24,
                    Err("not a record (line 26): found unexpected end of stream".into())
                ),
                (26, Ok("e7".into())),
            ]
        );
    }

    #[test]
    fn invalid_utf8_rejects_only_its_record() {
        let record = |id: &str, member: &str| {
            format!("- id: {id}\n  time: 2025-03-01\n  member: {member}\n  type: use_perk\n  perk: lounge\n")
        };
        let mut bytes = record("e1", "m1").into_bytes();
        bytes.extend_from_slice(b"- id: e2\n  member: m\xff\n");
        bytes.extend_from_slice(record("e3", "m1").as_bytes());
        assert_eq!(
            origins(Format::Yaml, &bytes),
            vec![
                Ok(1),
                Err((6, "the record is not valid UTF-8".into())),
                Ok(8)
            ]
        );
    }

    #[test]
    fn a_document_that_is_not_a_list_is_one_reject() {
        let text = "events:\n  - id: e1\n";
        let results = outline(Format::Yaml, text);
        assert_eq!(results.len(), 1);
        let (line, reason) = &results[0];
        assert_eq!(*line, 1);
        let reason = reason.as_ref().unwrap_err();
        assert!(reason.contains("expected a sequence"), "{reason}");
    }

    #[test]
    fn paths_lose_their_index_and_keep_their_field() {
        assert_eq!(without_index(".[0]: invalid type"), "invalid type");
        assert_eq!(
            without_index(".[12].amount: invalid type"),
            "field `amount`: invalid type"
        );
        assert_eq!(without_index("invalid type"), "invalid type");
    }

    #[test]
    fn an_empty_document_has_no_records() {
        assert!(read_all(Format::Yaml, "").is_empty());
        assert!(read_all(Format::Yaml, "# nothing yet\n").is_empty());
        assert!(read_all(Format::Yaml, "[]\n").is_empty());
    }

    #[test]
    fn a_flow_list_is_read_whole() {
        let text = "[{id: a, time: 2025-03-01, member: m1, type: use_perk, perk: x},\n \
                    {id: b, time: 2025-03-01, member: m1, type: use_perk, perk: y}]\n";
        assert_eq!(
            outline(Format::Yaml, text),
            vec![(1, Ok("a".into())), (1, Ok("b".into()))]
        );
    }
}
