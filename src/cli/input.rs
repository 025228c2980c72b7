//! Reading what `run` and `explain` need: the program (compiled, or its
//! diagnostics in the error), the event files, and the `--until` date.

use super::{display_name, out, progress, read, Error};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use loyalty::compile::Program;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::{self, Event, Format, Reject};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The arguments `run` and `explain` share.
#[derive(clap::Args)]
pub struct Inputs {
    /// The program (`.loyalty`).
    pub program: PathBuf,
    /// Event files: `.csv`, `.jsonl`, `.yaml`, `.parquet` or `.arrow`; `-`
    /// reads standard input (with `--input-format`). Several files are
    /// merged by time.
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

/// Compiles the program; its diagnostics, rendered for standard error, if
/// it has errors.
pub fn program(path: &Path) -> Result<Program, Error> {
    let source = read(path)?;
    let color = super::colour_stderr();
    match loyalty::compile::compile(&source) {
        Ok((program, _warnings)) => Ok(program),
        Err(diagnostics) => {
            let name = display_name(path);
            let diagnostics = diagnostics
                .iter()
                .map(|d| d.render(&name, &source, color))
                .collect();
            Err(Error::Program { name, diagnostics })
        }
    }
}

/// The events of every file, one after the other, typed or rejected (on
/// `threads` threads: `events::read_on`); the bytes read counted on `bar`.
pub fn records<'p>(
    program: &'p Program,
    inputs: &Inputs,
    bar: &ProgressBar,
    threads: usize,
) -> Result<Box<dyn Iterator<Item = Result<Event, Reject>> + 'p>, Error> {
    let mut all: Box<dyn Iterator<Item = Result<Event, Reject>> + 'p> =
        Box::new(std::iter::empty());
    for path in &inputs.events {
        let format = inputs
            .input_format
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| Error::EventFormat {
                name: display_name(path),
            })?;
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(bar.wrap_read(std::io::stdin())))
        } else {
            let file = std::fs::File::open(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            Box::new(BufReader::new(bar.wrap_read(file)))
        };
        all = Box::new(all.chain(events::read_on(
            program,
            format,
            reader,
            &display_name(path),
            threads,
        )));
    }
    Ok(Box::new(progress::counting(all, bar)))
}

/// How many bytes the event files hold; `None` with standard input (or a
/// file whose size cannot be told).
pub fn total_bytes(inputs: &Inputs) -> Option<u64> {
    inputs
        .events
        .iter()
        .map(|path| {
            (path != Path::new("-"))
                .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
                .flatten()
        })
        .sum()
}

/// `--until`: a day (through its end) or an instant.
pub fn until(program: &Program, until: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(text) = until else { return Ok(None) };
    let until = text.parse::<Until>().map_err(Error::Until)?;
    Ok(Some(until.instant(program.timezone)))
}

/// Prints to standard output (a closed pipe ends the command quietly).
pub fn print(text: &str) -> Result<(), Error> {
    out(text)
}
