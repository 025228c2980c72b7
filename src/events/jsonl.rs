//! JSON Lines event files: one JSON object per line, read a line at a time.

use super::basket::{self, ITEMS};
use super::record::{type_record, Cell};
use super::{without_position, Event, Origin, Reject, BOM};
use crate::compile::ir::Program;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

/// The records of a JSON Lines file, in order.
pub(super) struct JsonlRecords<'p, R> {
    program: &'p Program,
    input: R,
    file: std::sync::Arc<str>,
    /// The number of the line last read.
    line: usize,
    buffer: Vec<u8>,
    /// Set after a read error: nothing after it can be trusted.
    done: bool,
}

impl<'p, R: BufRead> JsonlRecords<'p, R> {
    pub(super) fn new(program: &'p Program, input: R, file: &str) -> Self {
        JsonlRecords {
            program,
            input,
            file: file.into(),
            line: 0,
            buffer: Vec::new(),
            done: false,
        }
    }

    fn reject(&self, reason: String) -> Reject {
        Reject::unreadable(&self.file, self.line, reason)
    }

    /// Types the line in the buffer.
    fn record(&self, line: &[u8]) -> Result<Event, Reject> {
        let text = std::str::from_utf8(line)
            .map_err(|_| self.reject("the line is not valid UTF-8".to_owned()))?;
        // An object is read into its members, a name given twice kept
        // twice (a map would keep the last one silently); anything else
        // into a value, for the reject to say what it is.
        let read = if text.starts_with('{') {
            serde_json::from_str::<Members>(text).map(Ok)
        } else {
            serde_json::from_str::<Json>(text).map(Err)
        };
        let Members(members) = match read {
            Ok(Ok(members)) => members,
            Ok(Err(other)) => {
                return Err(self.reject(format!(
                    "the line is {}, not a JSON object ({{\"id\": ...}})",
                    kind(&other)
                )))
            }
            Err(error) => {
                let message = error.to_string();
                return Err(self.reject(format!(
                    "the line is not valid JSON (column {}): {}",
                    error.column(),
                    without_position(&message)
                )));
            }
        };
        // A purchase's basket, a list: typed apart, item by item, after
        // it (any other `items` is a field's value, as before baskets).
        let cells = members
            .iter()
            .map(|(name, value)| match (name.as_str(), value) {
                (ITEMS, Json::Array(_)) => (ITEMS, Cell::Text(Cow::Borrowed(""))),
                (name, value) => (name, cell(value)),
            });
        let origin = Origin {
            file: self.file.clone(),
            line: self.line,
        };
        let typed = type_record(self.program, origin, cells);
        let listed = members.iter().find_map(|(name, value)| match value {
            Json::Array(items) if name == ITEMS => Some(items),
            _ => None,
        });
        let Some(items) = listed else {
            return typed;
        };
        let items = items.iter().map(|item| match item {
            Json::Object(fields) => Some(
                fields
                    .iter()
                    .map(|(name, value)| (name.as_str(), cell(value))),
            ),
            _ => None,
        });
        basket::listed(self.program, typed, items.collect())
    }
}

impl<R: BufRead> Iterator for JsonlRecords<'_, R> {
    type Item = Result<Event, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {
                    self.line += 1;
                    let line = match self.line {
                        1 => self.buffer.strip_prefix(BOM).unwrap_or(&self.buffer),
                        _ => &self.buffer,
                    };
                    let line = line.trim_ascii();
                    if !line.is_empty() {
                        return Some(self.record(line));
                    }
                }
                Err(error) => {
                    self.done = true;
                    self.line += 1;
                    return Some(Err(self.reject(format!("cannot read the file: {error}"))));
                }
            }
        }
        None
    }
}

/// A JSON object's members in order.
struct Members(Vec<(String, Json)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members, M::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Members(members))
    }
}

/// A JSON value as a record's cell: scalars as their text, exactly as
/// written for numbers.
fn cell(value: &Json) -> Cell<'_> {
    match value {
        Json::Null => Cell::Text(Cow::Borrowed("")),
        Json::Bool(true) => Cell::Text(Cow::Borrowed("true")),
        Json::Bool(false) => Cell::Text(Cow::Borrowed("false")),
        Json::Number(number) => Cell::Text(Cow::Owned(number.to_string())),
        Json::String(text) => Cell::Text(Cow::Borrowed(text)),
        Json::Array(_) | Json::Object(_) => Cell::Compound,
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::Value;
    use crate::events::tests::{origins, outline, program, read_all, utc, PROGRAM};
    use crate::events::Body;
    use crate::events::{read, Format};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    #[test]
    fn a_good_file_reads_into_events() {
        let text = concat!(
            r#"{"id": "e0", "time": "2025-01-01", "member": 1042, "type": "enroll", "vip": false, "city": null}"#,
            "\n\n",
            r#"{"id": "s1", "time": "2025-03-01T10:00:00-05:00", "member": 1042, "type": "stay", "nights": 3, "rate": 129.90}"#,
            "\r\n",
            r#"{"id": "e1", "time": "2025-03-01 10:00", "member": "1042", "type": "purchase", "amount": 12345678901234567.25}"#,
        );
        let events: Vec<Event> = read_all(Format::Jsonl, text)
            .into_iter()
            .map(Result::unwrap)
            .collect();
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
                    member: "1042".into(),
                    kind: 1,
                    body: Body::Enroll { referred_by: None },
                    fields: vec![Value::Missing, Value::Bool(false), Value::Missing],
                    origin: origin(1),
                },
                Event {
                    id: "s1".into(),
                    time: utc("2025-03-01T15:00:00Z"),
                    member: "1042".into(),
                    kind: crate::check::BuiltinEvent::ALL.len(),
                    body: Body::Plain,
                    fields: vec![number("3"), number("129.90")],
                    origin: origin(3),
                },
                Event {
                    id: "e1".into(),
                    time: utc("2025-03-01T15:00:00Z"),
                    member: "1042".into(),
                    kind: 0,
                    body: Body::Purchase {
                        amount: Decimal::from_str("12345678901234567.25").unwrap(),
                        items: Vec::new(),
                    },
                    // Beyond what an f64 holds: read from the digits.
                    fields: vec![number("12345678901234567.25"), Value::Missing],
                    origin: origin(4),
                },
            ]
        );
        // Exact to the written scale, not just equal in value.
        assert_eq!(events[1].fields[1], Value::Number(Decimal::new(12990, 2)));
        let Value::Number(rate) = &events[1].fields[1] else {
            unreachable!()
        };
        assert_eq!(rate.to_string(), "129.90");
    }

    #[test]
    fn each_bad_line_is_one_reject_and_the_lines_around_it_are_read() {
        let good = |id: &str| {
            format!(
                r#"{{"id": "{id}", "time": "2025-03-01", "member": "m1", "type": "purchase", "amount": 5}}"#
            )
        };
        let text = [
            good("e1"),
            "[1, 2]".to_owned(),
            r#"{"id": "e3", "time": "2025-03-01""#.to_owned(),
            String::new(),
            r#"{"id": "e5", "time": "2025-03-01", "member": "m1", "type": "purchase", "amount": 5, "store": ["a"]}"#.to_owned(),
            r#"{"id": "e6", "time": "2025-03-01", "member": "m1", "type": "return", "of": "e1", "amount": 0}"#.to_owned(),
            r#"{"id": "e7", "member": "m1", "type": "purchase", "amount": 5}"#.to_owned(),
            "  ".to_owned(),
            good("e9"),
        ]
        .join("\n");
        assert_eq!(
            outline(Format::Jsonl, &text),
            vec![
                (1, Ok("e1".into())),
                (
                    2,
                    Err("the line is an array, not a JSON object ({\"id\": ...})".into())
                ),
                (
                    3,
                    Err(
                        "the line is not valid JSON (column 33): EOF while parsing an object"
                            .into()
                    )
                ),
                (
                    5,
                    Err("field `store` holds a list or an object; it takes a single value".into())
                ),
                (6, Err("`return` needs an `amount` greater than 0".into())),
                (7, Err("missing `time`".into())),
                (9, Ok("e9".into())),
            ]
        );
    }

    #[test]
    fn invalid_utf8_rejects_only_its_line() {
        let good = br#"{"id": "e1", "time": "2025-03-01", "member": "m1", "type": "purchase", "amount": 5}"#;
        let mut bytes = good.to_vec();
        bytes.extend_from_slice(b"\n{\"id\": \"e\xc3\x28\"}\n");
        bytes.extend_from_slice(good);
        assert_eq!(
            origins(Format::Jsonl, &bytes),
            vec![Ok(1), Err((2, "the line is not valid UTF-8".into())), Ok(3)]
        );
    }

    /// Fails every read after yielding its text.
    struct Broken<'a>(&'a [u8]);

    impl std::io::Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_is_one_reject_and_ends_the_file() {
        let text = b"{\"id\": \"e1\", \"time\": \"2025-03-01\", \"member\": \"m1\", \"type\": \"purchase\", \"amount\": 5}\n";
        let program = program(PROGRAM);
        let input = std::io::BufReader::new(Broken(text));
        let results: Vec<_> = read(&program, Format::Jsonl, input, "f").collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        let reject = results[1].as_ref().unwrap_err();
        assert_eq!(reject.origin.line, 2);
        assert_eq!(reject.reason, "cannot read the file: disk on fire");
    }
}
