//! Event streams for benchmarks and for trying a program: `loyalty gen`
//! draws members and their enrolments and activities from a scenario's
//! habits (the same seeded per-member streams as `loyalty simulate`),
//! rescaled to a requested number of members and events, and writes them
//! sorted by time as CSV or JSON Lines. The output depends only on the
//! program, the scenario and the options, never on the machine's clock.

use crate::compile::ir::{EventTypeId, Program, Value};
use crate::file_error::FileError;
use crate::simulate::member::{Planned, Synthetic};
use crate::simulate::plan::{self, Plan};
use crate::simulate::scenario::{Members, Months, NonNegative, Scenario, Share};
use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use parquet::arrow::ArrowWriter;
use std::io::{Seek, Write};
use std::sync::Arc;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub members: u64,
    /// Events in all, enrolments included: the activities are drawn so the
    /// expected total is this (the count itself is random, within a fraction
    /// of a percent for large streams).
    pub events: u64,
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    pub months: u32,
    /// The last day of the stream, in the program's time zone.
    pub end: NaiveDate,
}

/// Estimated bytes of a member while the stream is drawn (its random
/// stream, rates and next events): about 2.2 KiB measured, rounded up.
const MEMBER_BYTES: u64 = 2304;

/// Estimated bytes of an event held until its month is sorted and written:
/// 190 to 250 measured, rounded up.
const EVENT_BYTES: u64 = 256;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    /// Apache Parquet: CSV's columns, each a nullable text column (an
    /// empty cell a null), Snappy-compressed.
    Parquet,
}

/// The plan of a scenario fitted to `options`: half the members enrol on
/// the first day and the rest join evenly month by month; nobody leaves;
/// redemptions, returns and perk uses (which depend on the engine's state)
/// are left out; every activity's rate is scaled by one factor so the
/// expected number of events is `options.events`.
pub fn plan(
    program: &Program,
    scenario_source: &str,
    options: &Options,
) -> Result<Plan, FileError> {
    let fail = |message: String| FileError::new(None, message);
    let mut scenario = Scenario::parse(scenario_source)?;
    let months = Months::try_from(options.months).map_err(|e| fail(format!("--months: {e}")))?;
    if options.members == 0 || options.members >= 1 << crate::simulate::member::MEMBER_BITS {
        return Err(fail(format!(
            "--members {}: from 1 to {}",
            options.members,
            (1u64 << crate::simulate::member::MEMBER_BITS) - 1
        )));
    }
    if options.events < options.members {
        return Err(fail(format!(
            "--events {} is fewer than --members {}: every member's stream starts with their enrolment",
            options.events, options.members
        )));
    }
    let members = options.members.saturating_mul(MEMBER_BYTES);
    crate::limits::within_memory(members, || {
        format!("--members {}: the members", options.members)
    })
    .map_err(fail)?;
    // The busiest month (the last, with every member, or the first, with
    // half of them enrolling) has under twice an average month's events.
    let month_events = options
        .events
        .min(options.events.saturating_mul(2) / u64::from(months.0));
    crate::limits::within_memory(month_events.saturating_mul(EVENT_BYTES), || {
        format!(
            "--events {} over --months {}: the busiest month's events",
            options.events, options.months
        )
    })
    .map_err(fail)?;
    let start = options
        .end
        .checked_add_signed(Duration::days(1))
        .and_then(|next| next.checked_sub_months(chrono::Months::new(months.0)))
        .ok_or_else(|| fail(format!("--end {}: too far out", options.end)))?;
    let month_count = u64::from(months.0);
    let joins = options.members / (2 * month_count);
    let initial = options.members - joins * month_count;
    let (Ok(initial), Ok(joins_per_month)) = (u32::try_from(initial), u32::try_from(joins)) else {
        return Err(fail(format!("--members {}: too many", options.members)));
    };
    scenario.start = start;
    scenario.months = months;
    scenario.members = Members {
        initial,
        joins_per_month,
        churn_per_month: Share(0.0),
    };
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    scenario.redeem = None;
    scenario.returns = None;
    scenario.perks.clear();
    // Member-months of activity: the first-day members are there every
    // month; a member joining in month j is there half of it, then every
    // later month: Σ (months − j − ½) = months² / 2 for each month's joiners.
    let months_f = f64::from(months.0);
    let exposure = initial as f64 * months_f + joins as f64 * months_f * months_f / 2.0;
    let rates: f64 = scenario
        .visits_per_month
        .iter()
        .chain(scenario.events.values().map(|e| &e.per_month))
        .map(|r| r.poisson.0)
        .sum();
    if rates <= 0.0 && options.events > options.members {
        return Err(fail(
            "the scenario's members make no purchases or events to scale up".into(),
        ));
    }
    let wanted = (options.events - options.members) as f64;
    let factor = if rates > 0.0 && exposure > 0.0 {
        wanted / (exposure * rates)
    } else {
        0.0
    };
    let scale = |poisson: &mut NonNegative| poisson.0 *= factor;
    if let Some(rate) = scenario.visits_per_month.as_mut() {
        scale(&mut rate.poisson);
    }
    for spec in scenario.events.values_mut() {
        scale(&mut spec.per_month.poisson);
    }
    plan::plan(program, &scenario, scenario_source)
}

/// Writes the stream `plan` describes: month by month, each month's events
/// of every member sorted by (time, member, the member's own order), so
/// only one month's events are held at once. Returns the number written.
pub fn generate<W: Write>(
    program: &Program,
    plan: &Plan,
    format: Format,
    out: W,
) -> std::io::Result<u64> {
    let mut writer = Writer::new(program, format, out)?;
    let mut members: Vec<Synthetic> = (0..plan.population())
        .map(|index| Synthetic::new(plan, 0, index))
        .collect();
    let mut written = 0;
    for end in plan.month_starts.iter().skip(1) {
        let mut month: Vec<Drawn> = Vec::new();
        for (m, member) in members.iter_mut().enumerate() {
            while member.next_time(plan).is_some_and(|t| t < *end) {
                let Some((time, id, planned)) = member.pop() else {
                    break;
                };
                let (kind, fields) = match planned {
                    Planned::Enroll(attributes) => (plan.enroll, attributes),
                    Planned::Activity {
                        activity, fields, ..
                    } => match plan.activities.get(activity) {
                        Some(a) => (a.kind, fields),
                        None => continue,
                    },
                    // Not planned without redemptions, returns and perks.
                    Planned::Redeem(_) | Planned::Return { .. } | Planned::UsePerk(_) => continue,
                };
                month.push((time, m, id, kind, fields));
            }
        }
        // Stable: a member's events at one instant keep their drawn order.
        month.sort_by_key(|(time, m, ..)| (*time, *m));
        for (time, m, id, kind, fields) in &month {
            let member = members.get(*m).map_or("", |s| s.id.as_str());
            writer.write(id, *time, member, *kind, fields)?;
        }
        written += month.len() as u64;
    }
    writer.finish()?;
    Ok(written)
}

/// An event drawn: time, member index, id, type and fields.
type Drawn = (DateTime<Utc>, usize, String, EventTypeId, Vec<Value>);

/// Writes events in a format `loyalty run` reads.
struct Writer<'p, W: Write> {
    program: &'p Program,
    out: Out<W>,
    /// CSV: per event type, the column of each of its fields among those
    /// after `id,time,member,type` (every field name of every type once).
    places: Vec<Vec<usize>>,
    row: Vec<String>,
}

enum Out<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
    Parquet(Box<Columns<W>>),
}

/// The rows a Parquet record batch (and row group) holds at most.
const PARQUET_ROWS: usize = 65_536;

/// A Parquet file being written: rows gathered into text columns, a batch
/// at a time, into an anonymous temporary file (Parquet's writer needs a
/// `Send` one, which standard output is not), copied to `out` at the end.
struct Columns<W: Write> {
    out: W,
    schema: Arc<Schema>,
    columns: Vec<StringBuilder>,
    rows: usize,
    writer: ArrowWriter<std::fs::File>,
}

impl<W: Write> Columns<W> {
    fn new(out: W, names: &[&str]) -> std::io::Result<Self> {
        let fields: Vec<Field> = names
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let writer =
            ArrowWriter::try_new(tempfile::tempfile()?, Arc::clone(&schema), Some(properties))
                .map_err(std::io::Error::other)?;
        Ok(Columns {
            out,
            schema,
            columns: names.iter().map(|_| StringBuilder::new()).collect(),
            rows: 0,
            writer,
        })
    }

    fn push<'c>(&mut self, cells: impl Iterator<Item = &'c str>) -> std::io::Result<()> {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            if cell.is_empty() {
                column.append_null();
            } else {
                column.append_value(cell);
            }
        }
        self.rows += 1;
        if self.rows == PARQUET_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> std::io::Result<()> {
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .map_err(std::io::Error::other)?;
        self.rows = 0;
        self.writer.write(&batch).map_err(std::io::Error::other)
    }

    fn finish(mut self) -> std::io::Result<()> {
        if self.rows > 0 {
            self.write_batch()?;
        }
        let mut file = self.writer.into_inner().map_err(std::io::Error::other)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        std::io::copy(&mut file, &mut self.out)?;
        self.out.flush()
    }
}

impl<'p, W: Write> Writer<'p, W> {
    fn new(program: &'p Program, format: Format, out: W) -> std::io::Result<Self> {
        let mut columns: Vec<&str> = Vec::new();
        let places = program
            .events
            .iter()
            .map(|event| {
                event
                    .fields
                    .iter()
                    .map(|field| {
                        columns
                            .iter()
                            .position(|c| *c == field.name)
                            .unwrap_or_else(|| {
                                columns.push(&field.name);
                                columns.len() - 1
                            })
                    })
                    .collect()
            })
            .collect();
        let header: Vec<&str> = ["id", "time", "member", "type"]
            .into_iter()
            .chain(columns.iter().copied())
            .collect();
        let out = match format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(&header).map_err(io_error)?;
                Out::Csv(Box::new(csv))
            }
            Format::Jsonl => Out::Jsonl(out),
            Format::Parquet => Out::Parquet(Box::new(Columns::new(out, &header)?)),
        };
        Ok(Writer {
            program,
            out,
            places,
            row: vec![String::new(); columns.len()],
        })
    }

    fn write(
        &mut self,
        id: &str,
        time: DateTime<Utc>,
        member: &str,
        kind: EventTypeId,
        fields: &[Value],
    ) -> std::io::Result<()> {
        let time = time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let Some(event) = self.program.events.get(kind) else {
            return Ok(());
        };
        let head = [id, time.as_str(), member, event.name.as_str()];
        if matches!(self.out, Out::Csv(_) | Out::Parquet(_)) {
            self.row.iter_mut().for_each(String::clear);
            let places = self.places.get(kind).map_or(&[][..], |p| &p[..]);
            for (place, value) in places.iter().zip(fields) {
                if let Some(cell) = self.row.get_mut(*place) {
                    *cell = text(value);
                }
            }
        }
        let cells = head
            .iter()
            .copied()
            .chain(self.row.iter().map(String::as_str));
        match &mut self.out {
            Out::Csv(csv) => csv.write_record(cells).map_err(io_error),
            Out::Parquet(columns) => columns.push(cells),
            Out::Jsonl(out) => {
                let mut record = serde_json::Map::new();
                record.insert("id".into(), id.into());
                record.insert("time".into(), time.into());
                record.insert("member".into(), member.into());
                record.insert("type".into(), event.name.clone().into());
                for (field, value) in event.fields.iter().zip(fields) {
                    if *value != Value::Missing {
                        record.insert(field.name.clone(), json(value));
                    }
                }
                writeln!(out, "{}", serde_json::Value::Object(record))
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self.out {
            Out::Csv(mut csv) => csv.flush(),
            Out::Jsonl(mut out) => out.flush(),
            Out::Parquet(columns) => columns.finish(),
        }
    }
}

/// A CSV writer's error as the I/O error it wraps, so a closed pipe stays
/// recognisable (`loyalty gen ... | head`).
fn io_error(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// A value as a record's cell.
fn text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::Text(t) => t.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        // Not drawn for events: tiers and durations are not field types.
        Value::Tier(_) | Value::Duration(_) | Value::Missing => String::new(),
    }
}

/// A value as JSON: numbers as numbers, exactly as their decimal text.
fn json(value: &Value) -> serde_json::Value {
    match value {
        Value::Number(n) => n
            .to_string()
            .parse::<serde_json::Number>()
            .map_or_else(|_| n.to_string().into(), serde_json::Value::Number),
        Value::Bool(b) => (*b).into(),
        other => text(other).into(),
    }
}
