//! `loyalty run --output-format parquet`: the run's ledger, members and
//! rejects as Parquet files with typed columns, for data lakes, pandas and
//! Spark. Each is written as CSV first (to an anonymous temporary file, so
//! the two formats cannot say different things) and then converted:
//!
//! | column | Parquet type |
//! |---|---|
//! | `time`, `earned` (ledger) | `timestamp(millisecond, UTC)`: the instant (Parquet has no seconds) |
//! | `amount`, `balance`, `cost` (ledger); every column of `members` but `member` and `tier` | `decimal128(38, s)`, `s` the most decimals any of its values has, so every value is exact |
//! | `line` (rejects) | `int64` |
//! | anything else | `utf8` |
//!
//! An empty cell is a null. The conversion reads the CSV twice: once for
//! each decimal column's scale, once to write batches of 65,536 rows.

use super::output::{Error, Folder, FolderFile};
use chrono::DateTime;
use parquet::arrow::ArrowWriter;
use rust_decimal::Decimal;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Decimal128Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// The rows a batch (and a row group) holds at most.
const BATCH_ROWS: usize = 65_536;

/// Which of the run's files a CSV is: it decides its columns' types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Ledger,
    Members,
    Rejects,
}

/// How a column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Instant,
    Integer,
    /// With this many decimals.
    Decimal(u32),
}

impl Table {
    fn kind(self, column: &str) -> Kind {
        match (self, column) {
            (Table::Ledger, "time" | "earned") => Kind::Instant,
            (Table::Ledger, "amount" | "balance" | "cost") => Kind::Decimal(0),
            (Table::Members, "member" | "tier") => Kind::Text,
            (Table::Members, _) => Kind::Decimal(0),
            (Table::Rejects, "line") => Kind::Integer,
            _ => Kind::Text,
        }
    }
}

/// Writes the CSV text of `table` in `csv` (read from its start) to `out`
/// as Parquet.
pub fn convert<R: Read + Seek, W: Write + Send>(
    table: Table,
    csv: &mut R,
    out: W,
) -> io::Result<()> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    // First pass: each decimal column's scale.
    csv.seek(SeekFrom::Start(0))?;
    let mut reader = csv::Reader::from_reader(&mut *csv);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let mut kinds: Vec<Kind> = header.iter().map(|c| table.kind(c)).collect();
    for record in reader.records() {
        let record = record?;
        for (kind, cell) in kinds.iter_mut().zip(record.iter()) {
            if let (Kind::Decimal(scale), false) = (&mut *kind, cell.is_empty()) {
                let value: Decimal = cell
                    .parse()
                    .map_err(|_| invalid(format!("`{cell}` is not a decimal")))?;
                *scale = (*scale).max(value.scale());
            }
        }
    }
    let fields: Vec<Field> = header
        .iter()
        .zip(&kinds)
        .map(|(name, kind)| Field::new(name, data_type(*kind), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(properties))
        .map_err(io::Error::other)?;
    // Second pass: the rows, a batch at a time.
    csv.seek(SeekFrom::Start(0))?;
    let mut reader = csv::Reader::from_reader(&mut *csv);
    let mut columns: Vec<Column> = kinds.iter().map(|k| Column::new(*k)).collect();
    let mut rows = 0;
    let flush = |columns: &mut Vec<Column>, writer: &mut ArrowWriter<W>| {
        let arrays: Vec<ArrayRef> = columns.iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(io::Error::other)?;
        writer.write(&batch).map_err(io::Error::other)
    };
    for record in reader.records() {
        let record = record?;
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            column.push(cell).map_err(invalid)?;
        }
        rows += 1;
        if rows == BATCH_ROWS {
            flush(&mut columns, &mut writer)?;
            rows = 0;
        }
    }
    if rows > 0 {
        flush(&mut columns, &mut writer)?;
    }
    writer.close().map_err(io::Error::other)?;
    Ok(())
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text => DataType::Utf8,
        Kind::Instant => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Kind::Integer => DataType::Int64,
        // Scales beyond 38 do not occur: decimals have at most 28.
        Kind::Decimal(scale) => DataType::Decimal128(38, i8::try_from(scale).unwrap_or(38)),
    }
}

/// One column being gathered.
struct Column {
    kind: Kind,
    builder: Box<dyn ArrayBuilder>,
}

impl Column {
    fn new(kind: Kind) -> Column {
        let builder: Box<dyn ArrayBuilder> = match kind {
            Kind::Text => Box::new(StringBuilder::new()),
            Kind::Instant => Box::new(TimestampMillisecondBuilder::new().with_timezone("UTC")),
            Kind::Integer => Box::new(Int64Builder::new()),
            Kind::Decimal(scale) => {
                Box::new(Decimal128Builder::new().with_data_type(data_type(Kind::Decimal(scale))))
            }
        };
        Column { kind, builder }
    }

    fn push(&mut self, cell: &str) -> Result<(), String> {
        let any = self.builder.as_any_mut();
        match self.kind {
            Kind::Text => {
                let b = any.downcast_mut::<StringBuilder>().ok_or("a text column")?;
                if cell.is_empty() {
                    b.append_null();
                } else {
                    b.append_value(cell);
                }
            }
            Kind::Instant => {
                let b = any
                    .downcast_mut::<TimestampMillisecondBuilder>()
                    .ok_or("a time column")?;
                if cell.is_empty() {
                    b.append_null();
                } else {
                    let time = DateTime::parse_from_rfc3339(cell)
                        .map_err(|e| format!("`{cell}` is not a time: {e}"))?;
                    b.append_value(time.timestamp_millis());
                }
            }
            Kind::Integer => {
                let b = any
                    .downcast_mut::<Int64Builder>()
                    .ok_or("a whole-number column")?;
                if cell.is_empty() {
                    b.append_null();
                } else {
                    let n = cell
                        .parse()
                        .map_err(|_| format!("`{cell}` is not a whole number"))?;
                    b.append_value(n);
                }
            }
            Kind::Decimal(scale) => {
                let b = any
                    .downcast_mut::<Decimal128Builder>()
                    .ok_or("a decimal column")?;
                if cell.is_empty() {
                    b.append_null();
                } else {
                    let value: Decimal = cell
                        .parse()
                        .map_err(|_| format!("`{cell}` is not a decimal"))?;
                    // The scale is the column's most decimals: this value's
                    // mantissa times a power of ten, exactly.
                    let unscaled = 10i128
                        .checked_pow(scale.saturating_sub(value.scale()))
                        .and_then(|power| value.mantissa().checked_mul(power))
                        .ok_or_else(|| format!("`{cell}` is too large for a Parquet decimal"))?;
                    b.append_value(unscaled);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        self.builder.finish()
    }
}

/// The format of a run's ledger, members and rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Csv,
    /// Typed columns (see the module's documentation); the reports stay CSV.
    Parquet,
}

/// Where a table's CSV goes as it is written: the run's folder, or (for
/// Parquet) an anonymous temporary file converted at the end.
pub enum TableFile {
    Csv(Box<FolderFile>),
    ForParquet(std::fs::File),
}

impl TableFile {
    /// Empties the file, as if nothing had been written to it.
    pub fn start_over(&mut self) -> io::Result<()> {
        match self {
            TableFile::Csv(file) => file.start_over(),
            TableFile::ForParquet(file) => {
                file.set_len(0)?;
                file.rewind()
            }
        }
    }
}

impl Write for TableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TableFile::Csv(file) => file.write(buf),
            TableFile::ForParquet(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TableFile::Csv(file) => file.flush(),
            TableFile::ForParquet(file) => file.flush(),
        }
    }
}

impl Table {
    /// The file's name without its extension.
    fn stem(self) -> &'static str {
        match self {
            Table::Ledger => "ledger",
            Table::Members => "members",
            Table::Rejects => "rejects",
        }
    }

    /// The table's file name in `format`: `ledger.csv`, `ledger.parquet`.
    fn file_name(self, format: OutputFormat) -> String {
        let extension = match format {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        };
        format!("{}.{extension}", self.stem())
    }

    /// Starts the table's file in `folder`, in `format`.
    pub fn create(self, folder: &mut Folder, format: OutputFormat) -> Result<TableFile, Error> {
        match format {
            OutputFormat::Csv => Ok(TableFile::Csv(Box::new(
                folder.create(&self.file_name(format))?,
            ))),
            OutputFormat::Parquet => {
                tempfile::tempfile()
                    .map(TableFile::ForParquet)
                    .map_err(|source| Error {
                        action: "write",
                        path: folder.path(&self.file_name(format)),
                        source,
                    })
            }
        }
    }

    /// Adds the table's file, written in full, to `folder`: converted to
    /// Parquet first if that is its format.
    pub fn add(self, folder: &mut Folder, file: TableFile) -> Result<(), Error> {
        match file {
            TableFile::Csv(file) => folder.add(*file),
            TableFile::ForParquet(mut csv) => folder
                .write(&self.file_name(OutputFormat::Parquet), |out| {
                    convert(self, &mut csv, out)
                }),
        }
    }

    /// Writes the table to `folder` in `format` with `write`.
    pub fn write(
        self,
        folder: &mut Folder,
        format: OutputFormat,
        write: impl FnOnce(&mut TableFile) -> io::Result<()>,
    ) -> Result<(), Error> {
        let mut file = self.create(folder, format)?;
        write(&mut file).map_err(|source| Error {
            action: "write",
            path: folder.path(&self.file_name(format)),
            source,
        })?;
        self.add(folder, file)
    }
}
