//! CSV event files: a header naming the columns, then one record per row,
//! read a row at a time.

use super::record::{type_record, Cell};
use super::{Event, Origin, Reject};
use crate::compile::ir::Program;
use std::borrow::Cow;
use std::io::BufRead;

/// The columns without which no row can be a record.
const REQUIRED: [&str; 4] = ["id", "time", "member", "type"];

/// A file's column names, and their order by name: every row's cells are
/// given to typing in that order, which then need not sort each record.
struct Header {
    names: Vec<String>,
    by_name: Vec<usize>,
}

/// The records of a CSV file, in order.
pub(super) struct CsvRecords<'p, R> {
    program: &'p Program,
    reader: ::csv::Reader<R>,
    file: std::sync::Arc<str>,
    /// The columns, once the header is read.
    header: Option<Header>,
    row: ::csv::ByteRecord,
    /// Set after an error that ends the file: a bad header, a read error.
    done: bool,
}

impl<'p, R: BufRead> CsvRecords<'p, R> {
    pub(super) fn new(program: &'p Program, input: R, file: &str) -> Self {
        CsvRecords {
            program,
            // The header is read as a record so a bad one is a reject, not an
            // error out of the reader's constructor.
            reader: ::csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(input),
            file: file.into(),
            header: None,
            row: ::csv::ByteRecord::new(),
            done: false,
        }
    }

    fn reject(&self, line: usize, reason: String) -> Reject {
        Reject::unreadable(&self.file, line, reason)
    }

    /// Reads the header; `Ok(false)` for an empty file.
    fn read_header(&mut self) -> Result<bool, Reject> {
        if !self.read_row()? {
            return Ok(false);
        }
        let header = self
            .row
            .iter()
            .map(|name| std::str::from_utf8(name).map(|name| name.trim().to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| self.reject(1, "the header is not valid UTF-8".to_owned()))?;
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|name| !header.iter().any(|column| column == *name))
            .map(|name| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            let (noun, list) = match missing.len() {
                1 => ("column", missing.join("")),
                _ => ("columns", missing.join(", ")),
            };
            return Err(self.reject(
                1,
                format!("the header has no {list} {noun}; every record needs one"),
            ));
        }
        if let Some(twice) = header
            .iter()
            .enumerate()
            .find(|(i, name)| header.iter().skip(i + 1).any(|other| other == *name))
            .map(|(_, name)| name)
        {
            return Err(self.reject(1, format!("the header has column `{twice}` twice")));
        }
        let mut by_name: Vec<usize> = (0..header.len()).collect();
        by_name.sort_by_key(|&i| header.get(i));
        self.header = Some(Header {
            names: header,
            by_name,
        });
        Ok(true)
    }

    /// Reads the next row into `self.row`; `Ok(false)` at the end.
    fn read_row(&mut self) -> Result<bool, Reject> {
        self.reader
            .read_byte_record(&mut self.row)
            .map_err(|error| {
                let line = error.position().map_or(0, |p| line_number(p.line()));
                match error.kind() {
                    ::csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => self.reject(
                        line,
                        format!("the row has {len} cells but the header has {expected_len}"),
                    ),
                    _ => {
                        // Only a read error is left (rows are bytes, so no UTF-8 error):
                        // nothing after it can be trusted.
                        self.done = true;
                        self.reject(line, format!("cannot read the file: {error}"))
                    }
                }
            })
    }

    /// Types the row just read.
    fn record(&self, header: &Header) -> Result<Event, Reject> {
        let line = self.row.position().map_or(0, |p| line_number(p.line()));
        let texts = self
            .row
            .iter()
            .zip(&header.names)
            .map(|(cell, name)| {
                std::str::from_utf8(cell)
                    .map_err(|_| self.reject(line, format!("column `{name}` is not valid UTF-8")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cells = header.by_name.iter().filter_map(|&i| {
            let text = *texts.get(i)?;
            Some((
                header.names.get(i)?.as_str(),
                Cell::Text(Cow::Borrowed(text)),
            ))
        });
        let origin = Origin {
            file: self.file.clone(),
            line,
        };
        type_record(self.program, origin, cells)
    }
}

impl<R: BufRead> Iterator for CsvRecords<'_, R> {
    type Item = Result<Event, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some(header) = self.header.take() else {
            return match self.read_header() {
                Ok(true) => self.next(),
                Ok(false) => None,
                Err(reject) => {
                    self.done = true;
                    Some(Err(reject))
                }
            };
        };
        let item = match self.read_row() {
            Ok(true) => Some(self.record(&header)),
            Ok(false) => None,
            Err(reject) => Some(Err(reject)),
        };
        self.header = Some(header);
        item
    }
}

fn line_number(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ir::Value;
    use crate::events::tests::{origins, outline, program, read_all, utc, PROGRAM};
    use crate::events::{read, Format};
    use rust_decimal::Decimal;
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
                    fields: vec![number(1250, 2), text("Downtown")],
                    origin: origin(3),
                },
                Event {
                    id: "e2".into(),
                    time: utc("2025-03-02T14:30:00Z"),
                    member: "m1".into(),
                    kind: 2,
                    fields: vec![text("e1"), number(250, 2)],
                    origin: origin(4),
                },
            ]
        );
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
                    e7,2025-03-09 02:30,m1,purchase,5,\n\
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
                    Err("field `time`: `2025-03-09 02:30` does not exist in America/New_York: \
                         the clocks skip it (daylight saving time); give the time with its UTC offset"
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
    fn an_empty_file_has_no_records() {
        assert!(read_all(Format::Csv, "").is_empty());
        assert!(read_all(Format::Csv, "id,time,member,type\n").is_empty());
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
