//! `loyalty run`: replays events and writes the ledger, member end states,
//! rejects and summary, with a short table on standard output; with
//! `--report`, finance's liability and deferred revenue tables too.

use super::input::{self, Inputs};
use super::USAGE_ERROR;
use loyalty::engine::replay;
use loyalty::engine::Engine;
use loyalty::finance::deferred::{self, Rounding};
use loyalty::finance::liability::{Breakage, LiabilityBuilder};
use loyalty::report::{self, LedgerWriter};
use rust_decimal::Decimal;
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
    /// Finance reports to write and print: `liability` (liability.csv: per
    /// month and points type, issued, spent, expired, reversed,
    /// outstanding, breakage, liability and cost) and `deferred-revenue`
    /// (deferred_revenue.csv: the IFRS 15 allocation). Several are
    /// separated by commas.
    #[arg(long, value_enum, value_name = "REPORT", value_delimiter = ',')]
    report: Vec<Report>,
    /// The breakage rate the reports use for every points type, in percent
    /// (`18` or `18%`), or `estimate` to estimate it from the history by
    /// monthly earning cohort. Default: each points type's `breakage`.
    #[arg(long, value_name = "PCT", value_parser = parse_breakage, requires = "report")]
    breakage: Option<Breakage>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Report {
    Liability,
    DeferredRevenue,
}

fn parse_breakage(text: &str) -> Result<Breakage, String> {
    if text == "estimate" {
        return Ok(Breakage::Estimated);
    }
    let number = text.strip_suffix('%').unwrap_or(text);
    match number.parse::<Decimal>() {
        Ok(pct) if pct >= Decimal::ZERO && pct <= Decimal::ONE_HUNDRED => {
            Ok(Breakage::Given(pct / Decimal::ONE_HUNDRED))
        }
        _ => Err(format!(
            "`{text}` is not a percentage from 0 to 100 (`18`, `18%`) or `estimate`"
        )),
    }
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
    let mut liability = LiabilityBuilder::new(&program);
    let options = args.inputs.options(until, args.strict);
    let outcome = written(
        replay::replay(&mut engine, records, options, &mut |entries| {
            liability.add(&entries);
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
    let mut wrote = vec!["ledger.csv", "members.csv", "rejects.csv", "summary.json"];
    if !args.report.is_empty() {
        let breakage = args.breakage.clone().unwrap_or(Breakage::Program);
        let table = liability.finish(until.unwrap_or(now), breakage);
        written(
            table.write_csv(create(&args.out, "liability.csv")?),
            "liability.csv",
        )?;
        wrote.push("liability.csv");
        if args.report.contains(&Report::Liability) {
            input::print(&format!("\nliability\n\n{}", table.text()));
        }
        if args.report.contains(&Report::DeferredRevenue) {
            let allocation = deferred::from_run(&engine, &liability, &table, Rounding::CENTS)
                .map_err(|message| {
                    eprintln!("error: {message}");
                    ExitCode::from(USAGE_ERROR)
                })?;
            let rows = deferred::recognize(&allocation);
            written(
                deferred::write_csv(&rows, create(&args.out, "deferred_revenue.csv")?),
                "deferred_revenue.csv",
            )?;
            wrote.push("deferred_revenue.csv");
            input::print(&format!(
                "\ndeferred revenue (IFRS 15), {}\n\n{}",
                program.currency,
                deferred::text(&rows)
            ));
        }
    }
    let last = wrote.pop().unwrap_or_default();
    input::print(&format!(
        "\nwrote {} and {last} to {}\n",
        wrote.join(", "),
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
