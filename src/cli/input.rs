//! Reading what `run` and `explain` need: the program (compiled, or its
//! diagnostics printed), the event files, and the `--until` date.

use super::{display_name, out, read_source, USAGE_ERROR};
use chrono::{DateTime, Utc};
use loyalty::compile::Program;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::{self, Event, Format, Reject};
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments `run` and `explain` share.
#[derive(clap::Args)]
pub struct Inputs {
    /// The program (`.loyalty`).
    pub program: PathBuf,
    /// Event files: `.csv`, `.jsonl` or `.yaml`; `-` reads standard input
    /// (with `--input-format`). Several files are merged by time.
    #[arg(required = true)]
    pub events: Vec<PathBuf>,
    /// Replay up to and including this day (YYYY-MM-DD, in the program's
    /// time zone) or instant (RFC 3339): expiries and period ends due by
    /// then are applied; later events are counted but not applied.
    /// Default: the time of the last event.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// The format of standard input, or of files whose extension does not say.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<Format>,
    /// Apply events as they are read, without loading the input whole; an
    /// event earlier than the clock (sent late) re-runs its member with it
    /// in place, or is rejected past the program's `accept late events up
    /// to N`. Without it, events are sorted by time first (equal times keep
    /// input order).
    #[arg(long)]
    pub stream: bool,
}

impl Inputs {
    /// How to replay, from the flags.
    pub fn options(&self, until: Option<DateTime<Utc>>, strict: bool) -> Options {
        Options {
            order: if self.stream {
                Order::Stream
            } else {
                Order::Sort
            },
            until,
            strict,
        }
    }
}

/// Compiles the program, printing its diagnostics if it has errors.
pub fn program(path: &Path) -> Result<Program, ExitCode> {
    let source = read_source(path).map_err(|message| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE_ERROR)
    })?;
    let color = std::io::stderr().is_terminal();
    match loyalty::compile::compile(&source) {
        Ok((program, _warnings)) => Ok(program),
        Err(diagnostics) => {
            let name = display_name(path);
            for d in &diagnostics {
                eprint!("{}", d.render(&name, &source, color));
            }
            eprintln!("error: `{name}` has errors: run `loyalty check {name}` after fixing them");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The events of every file, one after the other, typed or rejected.
pub fn records<'p>(
    program: &'p Program,
    inputs: &Inputs,
) -> Result<Box<dyn Iterator<Item = Result<Event, Reject>> + 'p>, ExitCode> {
    let mut all: Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> =
        Box::new(std::iter::empty());
    for path in &inputs.events {
        let format = inputs.input_format.or_else(|| Format::from_path(path)).ok_or_else(|| {
            eprintln!(
                "error: cannot tell the format of `{}`: name it .csv, .jsonl or .yaml, or pass --input-format",
                display_name(path)
            );
            ExitCode::from(USAGE_ERROR)
        })?;
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(path).map_err(|e| {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                ExitCode::from(USAGE_ERROR)
            })?;
            Box::new(BufReader::new(file))
        };
        all = Box::new(all.chain(events::read(program, format, reader, &display_name(path))));
    }
    Ok(all)
}

/// `--until`: a day (through its end) or an instant.
pub fn until(program: &Program, until: Option<&str>) -> Result<Option<DateTime<Utc>>, ExitCode> {
    let Some(text) = until else { return Ok(None) };
    match text.parse::<Until>() {
        Ok(until) => Ok(Some(until.instant(program.timezone))),
        Err(message) => {
            eprintln!("error: --until {message}");
            Err(ExitCode::from(USAGE_ERROR))
        }
    }
}

/// Prints to standard output (a closed pipe ends quietly).
pub fn print(text: &str) {
    out(text);
}
