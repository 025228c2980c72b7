//! `loyalty diff`: what a change to a program costs, from both programs
//! replayed on the same events, as text or as Markdown for a pull request.

use super::input::{self, Inputs};
use super::{display_name, USAGE_ERROR};
use loyalty::events::Format;
use loyalty::finance::diff;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program as it is (`.loyalty`).
    old: PathBuf,
    /// The program as changed.
    new: PathBuf,
    /// Event files both programs replay (`.csv`, `.jsonl` or `.yaml`).
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        required_unless_present = "scenario",
        conflicts_with = "scenario"
    )]
    events: Vec<PathBuf>,
    /// A simulation scenario both programs run on, with the same random
    /// streams (needs `loyalty simulate`, not built yet).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Replay up to and including this day (YYYY-MM-DD, in the old
    /// program's time zone) or instant (RFC 3339). Default: the last event.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// The format of files whose extension does not say.
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<Format>,
    /// `text` for a terminal, `markdown` to paste into a pull request.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Markdown,
}

pub fn run(args: &Args) -> ExitCode {
    match diff_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn diff_inner(args: &Args) -> Result<ExitCode, ExitCode> {
    if args.scenario.is_some() {
        eprintln!("error: --scenario needs `loyalty simulate`, not built yet");
        return Err(ExitCode::from(USAGE_ERROR));
    }
    let old = input::program(&args.old)?;
    let new = input::program(&args.new)?;
    // One instant for both, so both replays stop at the same moment.
    let until = input::until(&old, args.until.as_deref())?;
    let side = |path: &PathBuf, program| {
        let inputs = Inputs {
            program: path.clone(),
            events: args.events.clone(),
            until: None,
            input_format: args.input_format,
            stream: false,
        };
        input::records(program, &inputs).map(|records| diff::outcome(program, records, until))
    };
    let old_outcome = side(&args.old, &old)?;
    let new_outcome = side(&args.new, &new)?;
    let result = diff::compare(&old_outcome, &new_outcome).map_err(|message| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE_ERROR)
    })?;
    let files: Vec<String> = args.events.iter().map(|p| display_name(p)).collect();
    let until = args
        .until
        .as_deref()
        .map_or(String::new(), |u| format!(" through {u}"));
    let title = format!(
        "{} → {} on {}{until}",
        display_name(&args.old),
        display_name(&args.new),
        files.join(", ")
    );
    input::print(&diff::render(
        &result,
        &title,
        args.format == OutputFormat::Markdown,
    ));
    Ok(ExitCode::SUCCESS)
}
