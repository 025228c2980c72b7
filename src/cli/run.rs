//! `loyalty run`: replays events and writes the ledger, member end states,
//! rejects and summary, with a short table on standard output.

use super::input::{self, Inputs};
use super::USAGE_ERROR;
use loyalty::engine::replay;
use loyalty::engine::Engine;
use loyalty::report::{self, LedgerWriter};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// The folder to write ledger.csv, members.csv, rejects.csv and
    /// summary.json to (created if missing).
    #[arg(long, value_name = "DIR", default_value = "loyalty-out")]
    out: PathBuf,
    /// Stop at the first rejected record and exit with 1.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: &Args) -> ExitCode {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn create(dir: &Path, name: &str) -> Result<BufWriter<File>, ExitCode> {
    let path = dir.join(name);
    File::create(&path).map(BufWriter::new).map_err(|e| {
        eprintln!("error: cannot write `{}`: {e}", path.display());
        ExitCode::from(USAGE_ERROR)
    })
}

fn written<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> Result<T, ExitCode> {
    result.map_err(|e| {
        eprintln!("error: cannot write {what}: {e}");
        ExitCode::from(USAGE_ERROR)
    })
}

fn run_inner(args: &Args) -> Result<ExitCode, ExitCode> {
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    let records = input::records(&program, &args.inputs)?;
    written(std::fs::create_dir_all(&args.out), "the output folder")?;
    let mut ledger = written(
        LedgerWriter::new(&program, create(&args.out, "ledger.csv")?),
        "ledger.csv",
    )?;
    let mut engine = Engine::new(&program);
    let options = args.inputs.options(until, args.strict);
    let outcome = written(
        replay::replay(&mut engine, records, options, &mut |entries| {
            ledger.write(&entries)
        }),
        "ledger.csv",
    )?;
    written(ledger.finish(), "ledger.csv")?;
    let now = engine.clock().unwrap_or_default();
    written(
        report::write_members(&engine, now, create(&args.out, "members.csv")?),
        "members.csv",
    )?;
    written(
        report::write_rejects(&outcome.rejects, create(&args.out, "rejects.csv")?),
        "rejects.csv",
    )?;
    let summary = report::summary(&engine, &outcome, now);
    let json = written(serde_json::to_string_pretty(&summary), "summary.json")?;
    written(
        std::fs::write(args.out.join("summary.json"), json + "\n"),
        "summary.json",
    )?;
    input::print(&report::summary_table(&summary));
    input::print(&format!(
        "\nwrote ledger.csv, members.csv, rejects.csv and summary.json to {}\n",
        args.out.display()
    ));
    if let Some(first) = outcome.rejects.first() {
        eprintln!(
            "{} records rejected (see rejects.csv); the first: {} line {}: {}",
            outcome.rejects.len(),
            first.origin.file,
            first.origin.line,
            first.reason
        );
        if args.strict {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
