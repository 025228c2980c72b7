//! `loyalty diff`: what a change to a program costs, from both programs
//! replayed on the same events or run on the same simulated population, as
//! text or as Markdown for a pull request, and as an HTML page.

use super::input::{self, Inputs};
use super::{display_name, files_of, progress, read, Error};
use loyalty::compile::ir::Program;
use loyalty::events::Format;
use loyalty::finance::diff::{self, Outcome};
use loyalty::finance::spread::ChangeSpread;
use loyalty::finance::threshold::Threshold;
use loyalty::report::output::AtomicFile;
use loyalty::simulate::{self, Options};
use std::path::{Path, PathBuf};
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
    /// A simulation scenario (see `loyalty simulate`) both programs run on:
    /// one run of its population, with the same random numbers for both
    /// (the same members, visits, tickets and choices), so what differs is
    /// the program, not the luck.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// With --scenario: replaces the scenario's seed (another draw of the
    /// population).
    #[arg(long, requires = "scenario")]
    seed: Option<u64>,
    /// With --scenario: how many paired runs of the population; the report
    /// gives each overall change's 5th, 50th and 95th percentile across
    /// them, and the tables of the first run.
    #[arg(long, default_value_t = 20, requires = "scenario")]
    runs: u64,
    /// With --events: replay up to and including this day (YYYY-MM-DD, in
    /// the old program's time zone) or instant (RFC 3339). Default: the last
    /// event.
    #[arg(long, value_name = "DATE", conflicts_with = "scenario")]
    until: Option<String>,
    /// The format of files whose extension does not say.
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<Format>,
    /// `human` for a terminal, `markdown` to paste into a pull request,
    /// `json` for programs (the figures, tiers and members as one document).
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
    /// Exit with 2 when the programs differ in effect (any figure of the
    /// report, or any member's balance or tier), 0 when they do not, and 1
    /// on an error or a --fail-if threshold crossed, as `terraform plan
    /// -detailed-exitcode`.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Exit with 1 when an overall figure's change crosses THRESHOLD, such
    /// as `liability>+5%` or `cost>1000`; may be repeated.
    ///
    /// A threshold is MEASURE OP CHANGE. MEASURE: `liability`, `cost`,
    /// `rejected` (records) or `NAME issued` (a points type). OP: `>`, `>=`,
    /// `<` or `<=`. CHANGE: a decimal with an optional sign, the change new −
    /// old in the figure's unit (money in the programs' currency, points,
    /// records), or with `%` relative to the old figure; from an old figure
    /// of 0, any rise is above every relative limit and any fall below.
    #[arg(long, value_name = "THRESHOLD")]
    fail_if: Vec<String>,
    /// Also write the diff as one self-contained HTML page: the overall
    /// figures under both programs first, then the tables by tier and of
    /// the members who moved most. Written in place at once.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    /// (`text`, its former name, still works.)
    #[value(alias = "text")]
    Human,
    Json,
    Markdown,
}

/// `diff --format json`'s document.
#[derive(serde::Serialize)]
struct Document<'d> {
    title: &'d str,
    /// With --scenario: the changes' spread across the paired runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    spread: Option<&'d ChangeSpread>,
    #[serde(flatten)]
    diff: &'d diff::Diff,
}

/// Prints the diff, then the thresholds it crossed on standard error. With
/// --detailed-exitcode every error exits with 1, so that 2 only ever means
/// that the programs differ.
pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let result = compare(args);
    if !args.detailed_exitcode {
        return result;
    }
    Ok(result.unwrap_or_else(|error| {
        let closed = error.exit_code() == 0;
        error.print();
        if closed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }))
}

fn compare(args: &Args) -> Result<ExitCode, Error> {
    let thresholds = args
        .fail_if
        .iter()
        .map(|text| text.parse::<Threshold>())
        .collect::<Result<Vec<_>, _>>()?;
    let old = input::program(&args.old)?;
    let new = input::program(&args.new)?;
    let points = || {
        old.points
            .iter()
            .chain(&new.points)
            .map(|p| p.name.as_str())
    };
    for threshold in &thresholds {
        threshold.fits(points())?;
    }
    let (result, spread, source) = match &args.scenario {
        Some(scenario) => {
            let (mut diffs, spread, source) = on_scenario(args, scenario, (&old, &new))?;
            // A population of no members makes no run to compare.
            if diffs.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            (diffs.swap_remove(0), Some(spread), source)
        }
        None => {
            let (old_outcome, new_outcome, source) = on_events(args, &old, &new)?;
            (diff::compare(&old_outcome, &new_outcome)?, None, source)
        }
    };
    let title = format!(
        "{} → {} on {source}",
        display_name(&args.old),
        display_name(&args.new),
    );
    match args.format {
        OutputFormat::Json => {
            let document = Document {
                title: &title,
                spread: spread.as_ref(),
                diff: &result,
            };
            let json = serde_json::to_string_pretty(&document).map_err(Error::DiffJson)?;
            input::print(&(json + "\n"))?;
        }
        OutputFormat::Human | OutputFormat::Markdown => {
            let markdown = args.format == OutputFormat::Markdown;
            input::print(&diff::render(&result, spread.as_ref(), &title, markdown))?
        }
    }
    if let Some(path) = &args.html {
        let mut facts = vec![
            ("old program".to_string(), display_name(&args.old)),
            ("new program".to_string(), display_name(&args.new)),
        ];
        match &args.scenario {
            Some(scenario) => facts.push(("scenario".to_string(), display_name(scenario))),
            None => facts.push(("events".to_string(), files_of(&args.events))),
        }
        if let Some(until) = &args.until {
            facts.push(("until".to_string(), until.clone()));
        }
        let page = loyalty::html::diff_page(&title, &facts, &result);
        AtomicFile::replace(path, page.as_bytes())?;
    }
    let mut crossed = false;
    for threshold in &thresholds {
        if let Some(crossing) = threshold.crossed(&result)? {
            eprintln!("{crossing}");
            crossed = true;
        }
    }
    Ok(if crossed {
        ExitCode::FAILURE
    } else if args.detailed_exitcode && !result.is_zero() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Both programs replayed on the event files; and what the title says they ran on.
fn on_events(
    args: &Args,
    old: &Program,
    new: &Program,
) -> Result<(Outcome, Outcome, String), Error> {
    // One instant for both, so both replays stop at the same moment.
    let until = input::until(old, args.until.as_deref())?;
    let inputs = |path: &PathBuf| Inputs {
        program: path.clone(),
        events: args.events.clone(),
        until: None,
        input_format: args.input_format,
        stream: false,
    };
    // Both replays read the files.
    let total = input::total_bytes(&inputs(&args.old)).map(|bytes| 2 * bytes);
    let bar = progress::bytes(total, "read");
    let side = |path: &PathBuf, program| {
        let records = input::records(program, &inputs(path), &bar, 1)?;
        loyalty::run::diff::outcome(program, records, until).map_err(Error::Replay)
    };
    let until = args
        .until
        .as_deref()
        .map_or(String::new(), |u| format!(" through {u}"));
    let compared = (side(&args.old, old)?, side(&args.new, new)?);
    bar.finish_and_clear();
    Ok((
        compared.0,
        compared.1,
        format!("{}{until}", files_of(&args.events)),
    ))
}

/// Both programs on `--runs` runs of the scenario's population, with
/// common random numbers: each pair of runs' diff (none when the population
/// has no members), the spread of their changes, and what the title says
/// they ran on.
fn on_scenario(
    args: &Args,
    scenario: &Path,
    (old, new): (&Program, &Program),
) -> Result<(Vec<diff::Diff>, ChangeSpread, String), Error> {
    let source = read(scenario)?;
    let options = Options {
        runs: args.runs,
        seed: args.seed,
        keep_members: true,
    };
    let (a, b) = simulate::compare(old, new, &source, &options, &|| {}).map_err(|error| {
        Error::FileContent {
            name: display_name(scenario),
            error,
        }
    })?;
    let what = format!(
        "{} (seed {}, {} members, {} months; the tables are run 0's of {})",
        display_name(scenario),
        a.report.seed,
        a.report.population,
        a.report.months.len(),
        a.runs.len()
    );
    let (diffs, spread) = simulate::diffs((old, &a), (new, &b))?;
    Ok((diffs, spread, what))
}
