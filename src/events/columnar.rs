//! Columnar event files: Apache Parquet and Arrow IPC (file or stream),
//! read a batch of rows at a time, each row typed like a CSV record whose
//! columns are the file's. A value crosses as the text a CSV export would
//! carry for it, so every rule of reading (types, required fields, rejects)
//! is the other formats'; `decimal128` values and timestamps are exact.
//!
//! | Arrow type | read as |
//! |---|---|
//! | strings (`utf8`, `large_utf8`, `utf8_view`, a dictionary of strings) | the text |
//! | integers, `bool` | `42`, `true` |
//! | `decimal128(p, s)` | the exact decimal (`4.50`) |
//! | `float32`, `float64` | the shortest decimal that reads back as the float (`4.35`); NaN and infinities are no number |
//! | `date32`, `date64` | `2025-03-01` |
//! | `timestamp` with a time zone | the instant (`2025-03-01T09:00:00Z`) |
//! | `timestamp` without one | a local time in the program's zone (`2025-03-01T10:00:00`) |
//! | null | an empty cell: the field is absent |
//! | anything else (lists, structs, binary) | a value no field can hold |
//!
//! A row's place (`line` in `rejects.csv`) is its number in the file, the
//! first row's being 1. The file is read whole into memory first (Parquet's
//! footer is at its end); a file that is not Parquet or Arrow, or breaks off, is one
//! unreadable record and nothing after it is read.
//!
//! Arrow's decoders assert, rather than check, some of what a damaged file
//! breaks (an IPC batch whose null bitmap is shorter than its rows panics
//! in `arrow-buffer`): every call into them runs under
//! [`std::panic::catch_unwind`], and such a panic is that unreadable
//! record, its message kept off standard error (see [`decoded`]).

use super::basket::{Baskets, Rows};
use super::record::{type_record, Cell};
use super::{Event, Origin, Reject};
use crate::compile::ir::Program;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use std::borrow::Cow;
use std::io::BufRead;
use std::sync::Arc;

/// The rows a batch holds at most.
const BATCH_ROWS: usize = 8192;

/// Which columnar format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columnar {
    Parquet,
    /// Arrow IPC, as a file (`ARROW1` first) or a stream.
    Arrow,
}

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>>>;

/// Reads all of `input`, then types its rows one by one as they are asked for.
pub(super) fn read<'p, R: BufRead + 'p>(
    program: &'p Program,
    format: Columnar,
    mut input: R,
    file: &str,
) -> Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> {
    let mut bytes = Vec::new();
    let batches = match input.read_to_end(&mut bytes) {
        Ok(_) => decoded(|| batches(format, bytes)).and_then(|batches| batches),
        Err(error) => Err(format!("cannot read the file: {error}")),
    };
    match batches {
        Ok(batches) => Box::new(Baskets::new(
            program,
            ColumnRows {
                program,
                file: file.into(),
                batches,
                batch: None,
                row: 0,
                line: 0,
                done: false,
            },
        )),
        Err(reason) => Box::new(std::iter::once(Err(Reject::unreadable(file, 1, reason)))),
    }
}

/// The record batches of a file's bytes.
fn batches(format: Columnar, bytes: Vec<u8>) -> Result<Batches, String> {
    match format {
        Columnar::Parquet => {
            use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
                .map_err(|e| format!("not a Parquet file this reader can read: {e}"))?;
            Ok(Box::new(reader))
        }
        Columnar::Arrow if bytes.starts_with(b"ARROW1") => {
            let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
                .map_err(|e| format!("not an Arrow IPC file: {e}"))?;
            Ok(Box::new(reader))
        }
        Columnar::Arrow => {
            let reader =
                arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                    .map_err(|e| format!("not an Arrow IPC file or stream: {e}"))?;
            Ok(Box::new(reader))
        }
    }
}

/// The rows of a columnar file, in order.
struct ColumnRows<'p> {
    program: &'p Program,
    file: Arc<str>,
    batches: Batches,
    /// The batch being read.
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    row: usize,
    /// The number of the row last read, from 1 at the file's first.
    line: usize,
    /// Set after a read error: nothing after it can be trusted.
    done: bool,
}

/// Read whole, a file holds a purchase back for its items at no cost.
impl Rows for ColumnRows<'_> {
    fn itemized(&self) -> bool {
        true
    }
}

impl Iterator for ColumnRows<'_> {
    type Item = Result<Event, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(batch) = self.batch.as_ref().filter(|b| self.row < b.num_rows()) {
                let row = self.row;
                self.row += 1;
                self.line += 1;
                let schema = batch.schema();
                let cells = schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(field, column)| (field.name().as_str(), cell(column, row)));
                let origin = Origin {
                    file: Arc::clone(&self.file),
                    line: self.line,
                };
                return Some(type_record(self.program, origin, cells));
            }
            let batches = &mut self.batches;
            match decoded(|| batches.next()) {
                Ok(Some(Ok(batch))) => {
                    self.batch = Some(batch);
                    self.row = 0;
                }
                Ok(Some(Err(error))) => return Some(Err(self.broken(&error.to_string()))),
                Err(damage) => return Some(Err(self.broken(&damage))),
                Ok(None) => return None,
            }
        }
    }
}

impl ColumnRows<'_> {
    /// The unreadable record a damaged file ends with.
    fn broken(&mut self, why: &str) -> Reject {
        self.done = true;
        let reason = format!("the file breaks off after row {}: {why}", self.line);
        Reject::unreadable(&self.file, self.line + 1, reason)
    }
}

thread_local! {
    /// Set while this thread runs Arrow's decoders under [`decoded`].
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What `decode` returns, or the message of the panic it ended in: an
/// assertion of Arrow's decoders on a damaged file. The process's panic
/// hook is wrapped once so that such a panic, which is a reject, is not
/// also printed; every other panic reaches the hook as before.
fn decoded<T>(decode: impl FnOnce() -> T) -> Result<T, String> {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(std::cell::Cell::get) {
                hook(info);
            }
        }));
    });
    DECODING.with(|d| d.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    DECODING.with(|d| d.set(false));
    result.map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|m| (*m).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("the file is damaged ({message})")
    })
}

/// The cell of `column` at `row`, as the text a CSV export would carry.
fn cell(column: &ArrayRef, row: usize) -> Cell<'static> {
    if column.is_null(row) {
        return Cell::Text(Cow::Borrowed(""));
    }
    match text(column, row) {
        Some(text) => Cell::Text(Cow::Owned(text)),
        None => Cell::Compound,
    }
}

/// The value of a non-null cell as text; `None` for a type no field holds.
fn text(column: &ArrayRef, row: usize) -> Option<String> {
    let c = column;
    Some(match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(row).to_owned(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(row).to_owned(),
        DataType::Utf8View => c.as_string_view().value(row).to_owned(),
        DataType::Dictionary(_, values) if values.as_ref() == &DataType::Utf8 => {
            let dictionary = c.as_any_dictionary();
            let key = dictionary.normalized_keys().get(row).copied()?;
            dictionary.values().as_string::<i32>().value(key).to_owned()
        }
        DataType::Boolean => c.as_boolean().value(row).to_string(),
        DataType::Int8 => c.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => c.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => c.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => c.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => c.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => c.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => c.as_primitive::<UInt64Type>().value(row).to_string(),
        // Rust writes a float as the shortest decimal that reads back as
        // it; NaN and the infinities are words no number field reads.
        DataType::Float32 => c.as_primitive::<Float32Type>().value(row).to_string(),
        DataType::Float64 => c.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Decimal128(_, scale) => {
            decimal(c.as_primitive::<Decimal128Type>().value(row), *scale)
        }
        DataType::Date32 => {
            let days = c.as_primitive::<Date32Type>().value(row);
            date(NaiveDate::from_num_days_from_ce_opt(
                days.checked_add(719_163)?,
            )?)
        }
        DataType::Date64 => {
            let ms = c.as_primitive::<Date64Type>().value(row);
            date(DateTime::from_timestamp_millis(ms)?.date_naive())
        }
        DataType::Timestamp(unit, zone) => {
            let instant = match unit {
                TimeUnit::Second => {
                    DateTime::from_timestamp(c.as_primitive::<TimestampSecondType>().value(row), 0)?
                }
                TimeUnit::Millisecond => DateTime::from_timestamp_millis(
                    c.as_primitive::<TimestampMillisecondType>().value(row),
                )?,
                TimeUnit::Microsecond => DateTime::from_timestamp_micros(
                    c.as_primitive::<TimestampMicrosecondType>().value(row),
                )?,
                TimeUnit::Nanosecond => DateTime::<Utc>::from_timestamp_nanos(
                    c.as_primitive::<TimestampNanosecondType>().value(row),
                ),
            };
            // With a zone the value is an instant; without one, a wall
            // clock time, read in the program's zone like CSV's.
            let shown = instant.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f");
            if zone.is_some() {
                format!("{shown}Z")
            } else {
                shown.to_string()
            }
        }
        _ => return None,
    })
}

fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// `unscaled × 10^-scale` written exactly: `decimal(450, 2)` is `4.50`,
/// `decimal(-5, 3)` is `-0.005`, `decimal(12, -2)` is `1200`.
fn decimal(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    let Ok(scale) = usize::try_from(scale) else {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        return format!("{sign}{digits}{zeros}");
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_exactly_at_any_scale() {
        assert_eq!(decimal(450, 2), "4.50");
        assert_eq!(decimal(-5, 3), "-0.005");
        assert_eq!(decimal(12, -2), "1200");
        assert_eq!(decimal(7, 0), "7");
        assert_eq!(
            decimal(i128::MIN, 38),
            "-1.70141183460469231731687303715884105728"
        );
    }
}
