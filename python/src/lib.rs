//! `loyalty._loyalty`: the native half of the Python package. It checks
//! program text, compiles it, and runs it on event bytes (CSV, JSON Lines,
//! YAML, Parquet or Arrow IPC) through the library's one run
//! (`loyalty::run::Run`), handing back the ledger, members and rejects as
//! Parquet bytes with typed columns (`loyalty::report::parquet`) and the
//! summary as JSON. The Python half (`loyalty/__init__.py`) turns pandas
//! and Arrow data into those bytes and the bytes into Arrow tables.

use loyalty::compile::ir::Program as Compiled;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::Format;
use loyalty::report::parquet::{convert, Table};
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Run, Sinks};
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

/// What a run hands back: the ledger, members and rejects as Parquet, and
/// the summary as JSON.
type RunFiles<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
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
    /// Parquet bytes and the summary as JSON.
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
        let format = match format {
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
        };
        let until = until
            .map(|text| {
                text.parse::<Until>()
                    .map(|until| until.instant(program.timezone))
                    .map_err(|e| error(format!("--until: {e}")))
            })
            .transpose()?;
        let options = Options {
            order: if stream { Order::Stream } else { Order::Sort },
            until,
            strict: false,
        };
        let records = loyalty::events::read(program, format, events, "events");
        let mut ledger = Vec::new();
        let writer = LedgerWriter::new(program, &mut ledger).map_err(error)?;
        let Finished {
            engine,
            outcome,
            sinks,
            ..
        } = Run::new(program, options)
            .replay(records, Sinks::to_ledger(writer))
            .map_err(|e| error(format!("{e:?}")))?;
        if let Some(writer) = sinks.ledger {
            writer.finish().map_err(error)?;
        }
        let now = engine.clock().unwrap_or_default();
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
        ))
    }
}

#[pymodule]
fn _loyalty(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_class::<Program>()?;
    m.add("LoyaltyError", m.py().get_type::<LoyaltyError>())?;
    Ok(())
}
