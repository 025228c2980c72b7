//! `loyalty gen`: a deterministic synthetic event stream for a program, for
//! benchmarks and for trying a program out, drawn from its scenario file.

use super::{display_name, input, progress, read_source, Error};
use chrono::NaiveDate;
use loyalty::gen::{self, Format, Options};
use loyalty::report::output::{self, AtomicFile};
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program (`.loyalty`).
    program: PathBuf,
    /// Members in all: half enrol on the first day, the rest join evenly
    /// over the months.
    #[arg(long, default_value_t = 1000)]
    members: u64,
    /// Events in all, enrolments included (the count drawn is close to it).
    #[arg(long, default_value_t = 12_000)]
    events: u64,
    /// Replaces the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Calendar months the stream spans.
    #[arg(long, default_value_t = 24)]
    months: u32,
    /// The stream's last day (YYYY-MM-DD, in the program's time zone).
    #[arg(long, value_name = "DATE", default_value = "2026-12-31")]
    end: NaiveDate,
    /// The scenario whose habits (ticket sizes, field values, the mix of
    /// event types, hours) the members follow. Default: the program's name
    /// with `.scenario.yaml` (`bean_stars.scenario.yaml`).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// The file format: CSV, JSON Lines, or Parquet (CSV's columns as
    /// nullable text, Snappy-compressed).
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// The file to write (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let program = input::program(&args.program)?;
    let scenario = args.scenario.clone().unwrap_or_else(|| {
        let stem = args.program.file_stem().unwrap_or_default();
        let mut name = stem.to_os_string();
        name.push(".scenario.yaml");
        args.program.with_file_name(name)
    });
    let source = read_source(&scenario).map_err(|source| Error::NoScenario {
        path: scenario.clone(),
        source,
    })?;
    let options = Options {
        members: args.members,
        events: args.events,
        seed: args.seed,
        months: args.months,
        end: args.end,
    };
    let plan = gen::plan(&program, &source, &options).map_err(|error| Error::FileContent {
        name: display_name(&scenario),
        error,
    })?;
    let bar = progress::bytes(None, "written");
    let Some(path) = &args.out else {
        let out = BufWriter::with_capacity(1 << 16, bar.wrap_write(std::io::stdout().lock()));
        let written = gen::generate(&program, &plan, args.format, out);
        bar.finish_and_clear();
        return match written {
            // `loyalty gen ... | head`: a closed pipe is not an error.
            Ok(_) => Ok(ExitCode::SUCCESS),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            Err(e) => Err(Error::EventsToStdout(e)),
        };
    };
    // Put in place only when complete: a failed or killed run leaves
    // whatever was there.
    let mut file = AtomicFile::create(path)?;
    let written = gen::generate(&program, &plan, args.format, bar.wrap_write(&mut file));
    bar.finish_and_clear();
    let count = written.map_err(|source| output::Error {
        action: "write",
        path: path.clone(),
        source,
    })?;
    file.commit()?;
    progress::note(&format!("wrote {count} events to {}", path.display()));
    Ok(ExitCode::SUCCESS)
}
