//! `loyalty._loyalty`: the native half of the Python package. It checks
//! program text, compiles it, and runs it on event bytes (CSV, JSON Lines,
//! YAML, Parquet or Arrow IPC) through the library's one run
//! (`loyalty::run::Run`), handing back the ledger, members and rejects as
//! Parquet bytes with typed columns (`loyalty::report::parquet`) and the
//! summary as JSON. The Python half (`loyalty/__init__.py`) turns pandas
//! and Arrow data into those bytes and the bytes into Arrow tables.

use chrono::{DateTime, Utc};
use loyalty::compile::ir::Program as Compiled;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::Format;
use loyalty::finance::liability::{Breakage, LiabilityBuilder, LiabilityFlows};
use loyalty::report::parquet::{convert, Table};
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Run, Sinks};
use loyalty::simulate;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io::Cursor;

create_exception!(
    _loyalty,
    LoyaltyError,
    PyException,
    "A program that does not check, or a run that cannot be made; the message is the CLI's."
);

fn error(message: impl ToString) -> PyErr {
    LoyaltyError::new_err(message.to_string())
}

/// The diagnostics of a program's text as a JSON list, each as
/// `loyalty check --format json` gives it (code, severity, message, line,
/// column, ...).
#[pyfunction]
#[pyo3(signature = (text, name = "program.loyalty"))]
fn check(text: &str, name: &str) -> PyResult<String> {
    let records: Vec<_> = loyalty::check_source(text)
        .iter()
        .map(|d| d.to_record(name, text))
        .collect();
    serde_json::to_string(&records).map_err(error)
}

/// What a run hands back: the ledger, members and rejects as Parquet, the
/// summary as JSON, the liability table as CSV, and its months and cohorts
/// as JSON (to add up runs made in pieces: `Program.liability`).
type RunFiles<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    String,
    String,
    String,
);

/// A compiled program.
#[pyclass(frozen, module = "loyalty._loyalty")]
struct Program {
    program: Compiled,
}

#[pymethods]
impl Program {
    /// Compiles `text`; a program that does not check raises
    /// `LoyaltyError` with every error as the CLI prints it (file, line and
    /// column).
    #[new]
    #[pyo3(signature = (text, name = "program.loyalty"))]
    fn new(text: &str, name: &str) -> PyResult<Program> {
        match loyalty::compile::compile(text) {
            Ok((program, _warnings)) => Ok(Program { program }),
            Err(diagnostics) => Err(error(
                diagnostics
                    .iter()
                    .map(|d| d.render(name, text, false))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
        }
    }

    /// Runs the program on `events` (the bytes of a file in `format`:
    /// csv, jsonl, yaml, parquet or arrow), through `until` (a day or an
    /// instant, as `loyalty run --until`), sorted by time or, with
    /// `stream`, as they come. Returns the ledger, members and rejects as
    /// Parquet bytes, the summary as JSON, the liability table as CSV
    /// (`--report liability`'s, the program's breakage) and its months and
    /// cohorts as JSON.
    #[pyo3(signature = (events, format, until = None, stream = false))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        events: &[u8],
        format: &str,
        until: Option<&str>,
        stream: bool,
    ) -> PyResult<RunFiles<'py>> {
        let program = &self.program;
        let format = event_format(format)?;
        let options = Options {
            order: if stream { Order::Stream } else { Order::Sort },
            until: instant(program, until)?,
            strict: false,
        };
        let records = loyalty::events::read(program, format, events, "events");
        let mut ledger = Vec::new();
        let writer = LedgerWriter::new(program, &mut ledger).map_err(error)?;
        let sinks = Sinks {
            liability: Some(LiabilityBuilder::new(program)),
            ..Sinks::to_ledger(writer)
        };
        let Finished {
            engine,
            outcome,
            sinks,
            ..
        } = Run::new(program, options)
            .replay(records, sinks)
            .map_err(|e| error(format!("{e:?}")))?;
        if let Some(writer) = sinks.ledger {
            writer.finish().map_err(error)?;
        }
        let now = engine.clock().unwrap_or_default();
        let flows = sinks.liability.map(|b| b.flows()).unwrap_or_default();
        let liability = liability_csv(
            program,
            std::slice::from_ref(&flows),
            options.until.unwrap_or(now),
        )?;
        let mut members = Vec::new();
        report::write_members(&engine, now, &mut members).map_err(error)?;
        let mut rejects = Vec::new();
        report::write_rejects(&outcome.rejects, &mut rejects).map_err(error)?;
        let summary = report::summary(&engine, &outcome, now);
        let summary = serde_json::to_string(&summary).map_err(error)?;
        let parquet = |table: Table, csv: Vec<u8>| -> PyResult<Bound<'py, PyBytes>> {
            let mut bytes = Vec::new();
            convert(table, &mut Cursor::new(csv), &mut bytes).map_err(error)?;
            Ok(PyBytes::new(py, &bytes))
        };
        Ok((
            parquet(Table::Ledger, ledger)?,
            parquet(Table::Members, members)?,
            parquet(Table::Rejects, rejects)?,
            summary,
            liability,
            serde_json::to_string(&flows).map_err(error)?,
        ))
    }

    /// The liability table (CSV, the program's breakage) through `until`
    /// of one run made in pieces, from the pieces' months and cohorts
    /// (JSON, as `run` gives them).
    fn liability(&self, parts: Vec<String>, until: &str) -> PyResult<String> {
        let parts = parts
            .iter()
            .map(|part| serde_json::from_str(part))
            .collect::<Result<Vec<LiabilityFlows>, _>>()
            .map_err(|e| error(format!("a piece's liability: {e}")))?;
        let until = instant(&self.program, Some(until))?.unwrap_or_default();
        liability_csv(&self.program, &parts, until)
    }

    /// How the program's events may be split among machines, as JSON:
    /// `by` (`"member"`, or null when it must run whole, `why`) and `links`
    /// (the event fields that join members' groups), as `loyalty check
    /// --format json` reports it.
    fn split(&self) -> PyResult<String> {
        serde_json::to_string(&loyalty::engine::sharded::split(&self.program)).map_err(error)
    }

    /// The summary of one run made in pieces (groups of members run
    /// apart), from the pieces' summaries (JSON, as `run` gives them).
    fn merge_summaries(&self, parts: Vec<String>) -> PyResult<String> {
        let parts = parts
            .iter()
            .map(|part| serde_json::from_str(part))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(format!("a piece's summary: {e}")))?;
        let merged = report::merge_summaries(&self.program, &parts);
        serde_json::to_string(&merged).map_err(error)
    }

    /// Simulates the program on the population of `scenario` (the text of
    /// a `.scenario.yaml`) `runs` times, as `loyalty simulate` does:
    /// liability.csv's and kpis.csv's text and simulation.json's.
    #[pyo3(signature = (scenario, runs = 100, seed = None))]
    fn simulate(
        &self,
        scenario: &str,
        runs: u64,
        seed: Option<u64>,
    ) -> PyResult<(String, String, String)> {
        let plan = simulate::load(&self.program, scenario).map_err(error)?;
        let options = simulate::Options {
            runs,
            seed,
            keep_members: false,
        };
        let simulation =
            simulate::simulate(&self.program, &plan, &options, &|| {}).map_err(error)?;
        let report = &simulation.report;
        let mut liability = Vec::new();
        report.write_liability_csv(&mut liability).map_err(error)?;
        let mut kpis = Vec::new();
        report.write_kpis_csv(&mut kpis).map_err(error)?;
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).map_err(error);
        Ok((
            text(liability)?,
            text(kpis)?,
            serde_json::to_string(report).map_err(error)?,
        ))
    }

    /// What changing this program to `new` does on `events` (bytes in
    /// `format`) through `until`, as `loyalty diff --format json` reports
    /// it: the figures overall and per tier, and the members who moved most.
    #[pyo3(signature = (new, events, format, until = None))]
    fn diff(
        &self,
        new: &Program,
        events: &[u8],
        format: &str,
        until: Option<&str>,
    ) -> PyResult<String> {
        let format = event_format(format)?;
        let until = instant(&self.program, until)?;
        let outcome = |program: &Compiled| {
            let records = loyalty::events::read(program, format, events, "events");
            loyalty::run::diff::outcome(program, Box::new(records), until).map_err(error)
        };
        let diff =
            loyalty::finance::diff::compare(&outcome(&self.program)?, &outcome(&new.program)?)
                .map_err(error)?;
        serde_json::to_string(&diff).map_err(error)
    }
}

/// The liability table through `until` of the months and cohorts `parts`,
/// as CSV.
fn liability_csv(
    program: &Compiled,
    parts: &[LiabilityFlows],
    until: DateTime<Utc>,
) -> PyResult<String> {
    let mut builder = LiabilityBuilder::new(program);
    for part in parts {
        builder.add_flows(part);
    }
    let mut csv = Vec::new();
    builder
        .finish(until, Breakage::Program)
        .write_csv(&mut csv)
        .map_err(error)?;
    String::from_utf8(csv).map_err(error)
}

/// An event format by its name.
fn event_format(name: &str) -> PyResult<Format> {
    Ok(match name {
        "csv" => Format::Csv,
        "jsonl" => Format::Jsonl,
        "yaml" => Format::Yaml,
        "parquet" => Format::Parquet,
        "arrow" => Format::Arrow,
        other => {
            return Err(error(format!(
                "`{other}` is not an event format: csv, jsonl, yaml, parquet or arrow"
            )))
        }
    })
}

/// `until` (a day or an instant, as `loyalty run --until`) in `program`'s
/// zone.
fn instant(program: &Compiled, until: Option<&str>) -> PyResult<Option<DateTime<Utc>>> {
    until
        .map(|text| {
            text.parse::<Until>()
                .map(|until| until.instant(program.timezone))
                .map_err(|e| error(format!("--until: {e}")))
        })
        .transpose()
}

#[pymodule]
fn _loyalty(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_class::<Program>()?;
    m.add("LoyaltyError", m.py().get_type::<LoyaltyError>())?;
    Ok(())
}
