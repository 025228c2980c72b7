//! Command-line commands. Thin: each reads its inputs, calls the library and
//! prints; exit codes are 0 for success, 1 for findings, 2 for usage errors.

mod check;
mod diff;
mod explain;
mod fmt;
mod gen;
mod input;
mod run;
mod simulate;
mod test;

use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "loyalty",
    version,
    about = "A rules engine for rewards and tier programs",
    long_about = "A rules engine for rewards and tier programs.\n\n\
        Programs are written in `.loyalty` files: points, tiers, earning rules, \
        perks and rewards. `check` finds every mistake in them and `fmt` keeps \
        them tidy. `run` replays events (CSV, JSON Lines, YAML) through a \
        program and writes the ledger, the members' end state, the rejected \
        records and a summary, with finance reports on request; `explain` \
        tells one member's story rule by rule. `test` checks a program's \
        effect on members against test files and snapshots, `diff` prices a \
        change on the same events or population, `simulate` projects a \
        program on a synthetic population, and `gen` writes synthetic event \
        streams."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check programs for mistakes: unknown names, type and currency errors,
    /// tier order, rule order and more.
    ///
    /// Exits with 0 when no errors were found (warnings allowed), 1 when there
    /// were errors, 2 when a file could not be read.
    Check(check::Args),
    /// Rewrite programs in canonical form, keeping comments.
    ///
    /// With `--check`, writes nothing and exits with 1 if any file is not
    /// formatted. `-` reads standard input and writes standard output.
    Fmt(fmt::Args),
    /// Replay events through a program: writes the ledger, the members' end
    /// state, the rejected records and a summary, and prints the totals.
    ///
    /// Bad records never stop the run (unless --strict): each goes to
    /// rejects.csv with its line and reason.
    Run(run::Args),
    /// Explain one member's points, event by event: which rules fired with
    /// their arithmetic, which did not and why, tier changes and expiries.
    Explain(explain::Args),
    /// Run `*.test.yaml` test files: replay their events through their
    /// programs and check balances, tiers, ledger rows, rejects and
    /// snapshots.
    ///
    /// Exits with 0 when every test passed, 1 when any failed, 2 when a test
    /// file is broken, a test could not be run, or no file was found.
    Test(test::Args),
    /// What a change to a program costs: both programs replayed on the same
    /// events (--events) or run on the same simulated population
    /// (--scenario), and the change in points issued, liability and cost,
    /// overall and per tier, with the members whose balances moved most.
    ///
    /// `--format markdown` gives tables to paste into a pull request.
    Diff(diff::Args),
    /// Project what a program will cost on a synthetic population: many
    /// seeded runs of a scenario, and per month the 5th, 50th and 95th
    /// percentiles of the liability table and the program's KPIs.
    ///
    /// The output is the same for any --threads. Exits with 1 when the
    /// scenario does not fit the program, 2 on a usage error.
    Simulate(simulate::Args),
    /// Write a synthetic event stream for a program: members drawn from its
    /// scenario's habits, scaled to --members and --events, sorted by time.
    ///
    /// The same arguments give the same bytes on every machine; the stream
    /// loads with `loyalty run` without rejects.
    Gen(gen::Args),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Gen(args) => gen::run(&args),
    }
}

/// Exit code for a usage error: a missing or unreadable file.
const USAGE_ERROR: u8 = 2;

/// Reports an output file that could not be written, read or removed.
fn failed(error: loyalty::report::output::Error) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(USAGE_ERROR)
}

/// `--threads`: from 1 to `limits::MOST_THREADS`.
fn threads() -> clap::builder::RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(1..=i64::from(loyalty::limits::MOST_THREADS))
}

/// Writes to standard output. A closed pipe (`loyalty check ... | head`)
/// ends the program quietly; any other write error is reported.
fn out(text: &str) {
    if !out_open(text) {
        std::process::exit(0);
    }
}

/// Writes to standard output; `false` when it is a closed pipe (the reader
/// went away). Any other write error is reported and ends the program.
fn out_open(text: &str) -> bool {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(i32::from(USAGE_ERROR));
        }
    }
}

/// Reads a program file, or standard input for `-`.
fn read_source(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
    }
}

/// The name a file is shown under in diagnostics.
fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}
