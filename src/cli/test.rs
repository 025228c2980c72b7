//! `loyalty test`: runs test files (or the tests named by `-t`) and prints
//! one line per test, the differences of those that fail, and a count;
//! warns of the rules no test exercised and of stale snapshots; writes JUnit
//! XML or JSON on request; and with `--review`, asks about each missing or
//! changed snapshot.

use super::{out, out_open, progress, Error, Format, USAGE_ERROR};
use loyalty::diagnostic::plural;
use loyalty::report::output::AtomicFile;
use loyalty::testing::runner::{
    self, CaseReport, Declined, FileReport, Selection, SnapshotMode, Tally, Written,
};
use loyalty::testing::unused::{self, Unexercised};
use loyalty::testing::{json, junit};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Test files, or folders searched for `*.test.yaml` files (default:
    /// the current folder).
    paths: Vec<PathBuf>,
    /// Run only the tests whose name contains PATTERN: plain text, not a
    /// glob or regex, case-sensitive. Repeat it to run the tests that match
    /// any.
    #[arg(short = 't', long = "name", value_name = "PATTERN")]
    names: Vec<String>,
    /// Stop at the first test that fails or cannot run (or a broken test
    /// file): the tests after it are not run.
    #[arg(long)]
    bail: bool,
    /// Store every snapshot that is missing or differs from this run.
    #[arg(long, conflicts_with = "review")]
    update: bool,
    /// Show each missing or changed snapshot and read an answer from
    /// standard input, a line each: `a` accepts it (stores it), `r` rejects
    /// it and `s` (or an empty line) skips it (both keep the stored one and
    /// the test fails), `A` accepts it and all the rest. The end of the
    /// input skips the rest.
    #[arg(long, conflicts_with = "format")]
    review: bool,
    /// Delete the stale snapshots: `.snap` files in a snapshot folder that
    /// no test writes (a test renamed or removed, `snapshot: true` dropped).
    #[arg(long)]
    delete_stale: bool,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// `human`: a line per test and the differences; `json`: one document.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = runner::discover(&paths)?;
    if files.is_empty() {
        return Err(Error::NoTestFiles);
    }
    let mode = if args.update {
        SnapshotMode::Update
    } else {
        SnapshotMode::Check {
            write_missing: !in_ci() && !args.review,
        }
    };
    let selection = Selection {
        mode,
        names: &args.names,
        bail: args.bail,
    };
    let color = args.format == Format::Human && super::colour_stdout();
    let mut reviewer = args.review.then_some(Reviewer {
        color,
        accept_all: false,
        ended: false,
    });
    // Standard output closed (`loyalty test --junit ... | head`): the tests
    // still run and the JUnit file is still written.
    let mut open = true;
    // Not while a review asks on the terminal.
    let bar = if args.review {
        indicatif::ProgressBar::hidden()
    } else {
        progress::items(files.len() as u64, "test files")
    };
    let mut print = |text: &str| -> Result<(), Error> {
        open = open && bar.suspend(|| out_open(text))?;
        Ok(())
    };
    let mut reports: Vec<FileReport> = Vec::new();
    let mut stopped = false;
    for file in files {
        let mut failed = None;
        let report = runner::run_selected(&file, &selection, &mut |case| {
            if let (Some(reviewer), true) = (&mut reviewer, failed.is_none()) {
                failed = reviewer.review(case).err();
            }
        });
        if let Some(error) = failed {
            return Err(error);
        }
        if args.format == Format::Human {
            print(&lines(&report, color))?;
        }
        bar.inc(1);
        stopped = args.bail && !report.passed();
        reports.push(report);
        if stopped {
            break;
        }
    }
    bar.finish_and_clear();
    let tally = Tally::of(&reports);
    if !args.names.is_empty()
        && tally.passed + tally.failed + tally.errors + tally.broken_files == 0
    {
        return Err(Error::NoTestSelected(args.names.clone()));
    }
    // Only a run of every test can tell which rules no test exercises.
    let unexercised = (args.names.is_empty() && !stopped).then(|| unused::rules(&reports));
    let stale = unused::snapshots(&reports);
    match args.format {
        Format::Human => print(&closing(&tally, &reports, stopped))?,
        Format::Json => print(
            &json::to_json(&reports, unexercised.as_deref(), &stale).map_err(Error::TestJson)?,
        )?,
    }
    if let Some(path) = &args.junit {
        let xml = junit::to_junit(&reports).map_err(Error::JunitXml)?;
        AtomicFile::replace(path, xml.as_bytes()).map_err(Error::JunitFile)?;
    }
    eprint!(
        "{}",
        warn_unexercised(unexercised.as_deref().unwrap_or_default())
    );
    if args.delete_stale {
        unused::delete(&stale)?;
    }
    eprint!("{}", warn_stale(&stale, args.delete_stale));
    Ok(if tally.broken_files > 0 || tally.errors > 0 {
        ExitCode::from(USAGE_ERROR)
    } else if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`
/// (GitHub Actions, GitLab and most others set `CI=true`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A file's lines: one per test, the failures' differences under it.
fn lines(report: &FileReport, color: bool) -> String {
    let bad = anstyle::AnsiColor::Red.on_default().bold();
    let good = anstyle::AnsiColor::Green.on_default();
    let paint = |style: anstyle::Style, text: &str| {
        if color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    };
    let file = report.file.display();
    match &report.outcome {
        Err(error) => format!(
            "{} {file}\n  {}: {}\n",
            paint(bad, "BROKEN"),
            error.place(&report.file),
            error.message.replace('\n', "\n  ")
        ),
        Ok(cases) => {
            let mut text = String::new();
            for case in cases {
                if let Some(error) = &case.error {
                    text.push_str(&format!(
                        "{} {file}: {}\n  {}: {}\n",
                        paint(bad, "ERROR "),
                        case.name,
                        error.place(&report.file),
                        error.message.replace('\n', "\n  ")
                    ));
                    continue;
                }
                let (status, style) = if case.passed() {
                    ("ok    ", good)
                } else {
                    ("FAILED", bad)
                };
                let note = match (case.written, case.declined) {
                    (Some(Written::New), _) => " (snapshot written)",
                    (Some(Written::Updated), _) => " (snapshot updated)",
                    (None, Some(Declined::Rejected)) => " (snapshot rejected)",
                    (None, Some(Declined::Skipped)) => " (snapshot skipped)",
                    (None, None) => "",
                };
                text.push_str(&format!(
                    "{} {file}: {}{note}\n",
                    paint(style, status),
                    case.name
                ));
                for failure in &case.failures {
                    text.push_str(&format!("  {}\n", failure.title()));
                    text.push_str(&failure.diff().render(4, color));
                }
            }
            text
        }
    }
}

/// The last line: `N passed, N failed`, and what else happened.
fn closing(tally: &Tally, reports: &[FileReport], stopped: bool) -> String {
    let mut line = format!("\n{} passed, {} failed", tally.passed, tally.failed);
    if tally.errors > 0 {
        line.push_str(&format!(", {}", plural(tally.errors, "error")));
    }
    if tally.broken_files > 0 {
        line.push_str(&format!(
            ", {}",
            plural(tally.broken_files, "broken test file")
        ));
    }
    if tally.filtered_out > 0 {
        line.push_str(&format!(", {} filtered out", tally.filtered_out));
    }
    if tally.snapshots_written > 0 {
        line.push_str(&format!(
            ", {} written",
            plural(tally.snapshots_written, "snapshot")
        ));
    }
    let declined = |how: Declined| {
        reports
            .iter()
            .filter_map(|report| report.outcome.as_ref().ok())
            .flatten()
            .filter(|case| case.declined == Some(how))
            .count()
    };
    for (how, word) in [
        (Declined::Rejected, "rejected"),
        (Declined::Skipped, "skipped"),
    ] {
        let count = declined(how);
        if count > 0 {
            line.push_str(&format!(", {} {word}", plural(count, "snapshot")));
        }
    }
    if stopped {
        line.push_str(" (stopped at the first failure: --bail)");
    }
    line + "\n"
}

/// The warning that names, per program, the rules no test exercised.
fn warn_unexercised(unexercised: &[Unexercised]) -> String {
    if unexercised.is_empty() {
        return String::new();
    }
    let mut text =
        "warning: rules no test exercised (they wrote no ledger row in any test):\n".to_string();
    for program in unexercised {
        text.push_str(&format!(
            "  {}: {}\n",
            program.program.display(),
            program.rules.join(", ")
        ));
    }
    text
}

/// The warning (or, once deleted, the note) that lists the stale snapshots.
fn warn_stale(stale: &[PathBuf], deleted: bool) -> String {
    if stale.is_empty() {
        return String::new();
    }
    let count = plural(stale.len(), "stale snapshot");
    let mut text = if deleted {
        format!("deleted {count} (no test writes them):\n")
    } else {
        format!(
            "warning: {count} (no test writes them; `loyalty test --delete-stale` deletes them):\n"
        )
    };
    for path in stale {
        text.push_str(&format!("  {}\n", path.display()));
    }
    text
}

/// `--review`: asks about each missing or changed snapshot, reading the
/// answers from standard input a line at a time.
struct Reviewer {
    color: bool,
    /// `A` was answered: accept the rest without asking.
    accept_all: bool,
    /// Standard input ended: skip the rest without asking.
    ended: bool,
}

/// An answer to `--review`.
enum Answer {
    Accept,
    Reject,
    Skip,
}

impl Reviewer {
    /// Shows a case's missing or changed snapshot and does with it what
    /// the answer says.
    fn review(&mut self, case: &mut CaseReport) -> Result<(), Error> {
        if !case.snapshot_failed() {
            return Ok(());
        }
        let answer = if self.accept_all {
            Answer::Accept
        } else {
            let shown: Vec<String> = case
                .failures
                .iter()
                .filter(|f| matches!(f, runner::Failure::Snapshot { .. }))
                .map(|f| format!("{}\n{}", f.title(), f.diff().render(2, self.color)))
                .collect();
            out(&format!("\n{}\n{}", case.name, shown.join("\n")))?;
            self.ask()?
        };
        match answer {
            Answer::Accept => {
                // Not the end of the run: the other snapshots are still asked about.
                if let Err(e) = case.accept_snapshot() {
                    eprintln!("error: cannot write the snapshot: {e}");
                }
            }
            Answer::Reject => case.declined = Some(Declined::Rejected),
            Answer::Skip => case.declined = Some(Declined::Skipped),
        }
        Ok(())
    }

    /// Reads answers until one is understood; the end of the input skips.
    fn ask(&mut self) -> Result<Answer, Error> {
        loop {
            if self.ended {
                return Ok(Answer::Skip);
            }
            out("accept (a), reject (r), skip (s or Enter), accept all the rest (A)? ")?;
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) | Err(_) => {
                    self.ended = true;
                    out("\n(no more answers: skipping the rest)\n")?;
                }
                Ok(_) => match line.trim() {
                    "a" => return Ok(Answer::Accept),
                    "r" => return Ok(Answer::Reject),
                    "s" | "" => return Ok(Answer::Skip),
                    "A" => {
                        self.accept_all = true;
                        return Ok(Answer::Accept);
                    }
                    other => out(&format!("`{other}`: answer a, r, s or A\n"))?,
                },
            }
        }
    }
}
