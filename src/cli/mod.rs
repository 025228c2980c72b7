//! Command-line commands. Thin: each reads its inputs, calls the library and
//! prints; a failure is returned as an [`Error`], which [`run`] prints once.
//! Exit codes are 0 for success, 1 for findings, 2 for usage errors.

mod check;
mod completions;
mod diff;
mod explain;
mod fmt;
mod gen;
mod input;
mod lsp;
mod man;
mod progress;
mod run;
mod serve;
mod simulate;
mod test;

use clap::{Parser, Subcommand};
use loyalty::file_error::FileError;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `loyalty --version`: the version and the commit it was built from
/// (`build.rs`; `unknown` outside a git repository).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LOYALTY_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "loyalty",
    version = VERSION,
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
        streams. `lsp` serves editors, and `serve` a local page to edit a \
        program and see its effect as you type."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour: `auto` on a terminal (unless NO_COLOR is set, or
    /// CLICOLOR_FORCE forces it), `always` or `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    /// Say nothing but the output and errors: no progress bar, no notes.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more on standard error: the files written with their rows,
    /// bytes and checksums (`run`), each file checked (`check`) or already
    /// formatted (`fmt`).
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Whether what is written to standard output may be coloured, as
/// `--color`, NO_COLOR, CLICOLOR_FORCE and the terminal decide.
fn colour_stdout() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

/// Whether what is written to standard error may be coloured.
fn colour_stderr() -> bool {
    anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never
}

#[derive(Subcommand)]
enum Command {
    /// Check programs for mistakes: unknown names, type and currency errors,
    /// tier order, rule order and more.
    ///
    /// Exits with 0 when no errors were found (warnings allowed), 1 when there
    /// were errors, 2 when a file could not be read.
    Check(check::Args),
    /// Rewrite programs in canonical form, keeping comments: files, or
    /// folders searched for `*.loyalty` files.
    ///
    /// With `--check`, writes nothing, prints the unified diff of what would
    /// change and exits with 1 if any file is not formatted; `--diff` prints
    /// the diff and writes nothing. `-` reads standard input and writes
    /// standard output. Exits with 2 when a file or folder could not be read
    /// or written.
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
    /// file is broken, a test could not be run, or no file (or, with -t, no
    /// test) was found.
    Test(test::Args),
    /// What a change to a program costs: both programs replayed on the same
    /// events (--events) or run on the same simulated population
    /// (--scenario), and the change in points issued, liability and cost,
    /// overall and per tier, with the members whose balances moved most.
    ///
    /// `--format markdown` gives tables to paste into a pull request. Exits
    /// with 1 when a --fail-if threshold is crossed, 2 on a usage error;
    /// with --detailed-exitcode, 2 when the programs differ and 1 on any
    /// error.
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
    /// Print the completion script of a shell (bash, zsh, fish, powershell
    /// or elvish), to load in its startup file.
    Completions(completions::Args),
    /// Print the man page of `loyalty`, or of one of its commands, in roff:
    /// `loyalty man diff | man -l -`.
    Man(man::Args),
    /// Run the language server for editors, on standard input and output:
    /// diagnostics as you type, formatting, outline, hover, go to
    /// definition, references and rename (see editors/README.md).
    Lsp(lsp::Args),
    /// Serve a local page to edit a program: diagnostics as you type and,
    /// on every edit that checks, its totals and liability on sample
    /// events, the diff against the file on disk, one member's story and
    /// (with --scenario) the simulated cost; Save writes it back formatted.
    ///
    /// Listens on 127.0.0.1 only.
    Serve(serve::Args),
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `diff --detailed-exitcode` keeps 2 for "the programs differ":
            // its usage errors exit with 1.
            let detailed = std::env::args_os().any(|a| a == "--detailed-exitcode");
            let code = if detailed && error.use_stderr() {
                1
            } else {
                error.exit_code()
            };
            // Nothing more can be done about a closed standard error.
            let _ = error.print();
            return ExitCode::from(u8::try_from(code).unwrap_or(USAGE_ERROR));
        }
    };
    match cli.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    }
    .write_global();
    progress::set(if cli.quiet {
        progress::Verbosity::Quiet
    } else if cli.verbose {
        progress::Verbosity::Verbose
    } else {
        progress::Verbosity::Normal
    });
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Gen(args) => gen::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    result.unwrap_or_else(|error| error.print())
}

/// What a command prints on standard output: `human`, for people, or
/// `json`, one document for programs (exact decimals as strings, as in
/// summary.json). The same values on every command that takes `--format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// Exit code for a usage error: a missing or unreadable file.
const USAGE_ERROR: u8 = 2;

/// Why a command stopped. Each is printed once, by [`Error::print`], as
/// `error: ...` on standard error, and ends the command with its exit code:
/// 1 for a program or scenario that does not fit, 2 for a usage error (a
/// file that cannot be read or written, a bad argument).
#[derive(Debug, thiserror::Error)]
enum Error {
    /// A program, scenario or event file (or standard input) that cannot be read.
    #[error("cannot read {}: {source}", shown(path))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `check`, `fmt`: the files that could not be read (or, for `fmt`,
    /// written), named after the others were done.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Unreadable(Vec<Error>),
    /// A program with errors: its diagnostics, rendered, come first.
    #[error("`{name}` has errors: run `loyalty check {name}` after fixing them")]
    Program { name: String, diagnostics: String },
    #[error(
        "cannot tell the format of `{name}`: name it .csv, .jsonl or .yaml, or pass --input-format"
    )]
    EventFormat { name: String },
    /// `--until`: why it is neither a day nor an instant.
    #[error("--until {0}")]
    Until(String),
    /// An output file that could not be written, read or removed.
    #[error(transparent)]
    Output(#[from] loyalty::report::output::Error),
    #[error("cannot write ledger.csv: {0}")]
    Ledger(#[from] csv::Error),
    /// `diff`: a replay whose rows could not be taken.
    #[error("cannot replay the events: {0}")]
    Replay(#[source] csv::Error),
    #[error(transparent)]
    Finance(#[from] loyalty::finance::Error),
    /// `run --max-rejects`: more records rejected than it allows (the
    /// files are written all the same).
    #[error("{rejected} of {read} records rejected, more than --max-rejects {limit} allows")]
    TooManyRejects {
        rejected: u64,
        read: u64,
        limit: loyalty::run::RejectLimit,
    },
    /// `diff --fail-if`: a threshold that cannot be read or names no figure.
    #[error(transparent)]
    Threshold(#[from] loyalty::finance::threshold::Error),
    /// `man`: a page for a command there is not.
    #[error("no command `{name}`: the commands are {commands}")]
    NoCommand { name: String, commands: String },
    /// `explain`: the member is not in the events.
    #[error("no member `{0}` in these events")]
    NoMember(String),
    /// A file a person writes (a scenario, breakage estimates) or a
    /// previous run's report that cannot be read or does not fit the
    /// program, after its file's name and line: `name:line: message`.
    #[error("{}: {}", error.place(Path::new(name)), error.message)]
    FileContent { name: String, error: FileError },
    /// `gen`: the scenario its members are drawn from cannot be read.
    #[error("cannot read {}: {source}\n  (gen draws its members from a scenario: see docs/simulation.md, or pass --scenario)", shown(path))]
    NoScenario {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `simulate`: options the simulation cannot take (the runs, the
    /// population, the memory they need).
    #[error(transparent)]
    Simulation(FileError),
    #[error("cannot start the worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    #[error(transparent)]
    Search(#[from] loyalty::testing::runner::SearchError),
    #[error("no test files (*.test.yaml) found")]
    NoTestFiles,
    /// `test -t`: no test's name contains any of the patterns.
    #[error("no test name contains {}", .0.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" or "))]
    NoTestSelected(Vec<String>),
    /// `check --format json`: the report could not be written (exit code 1).
    #[error("cannot write JSON: {0}")]
    CheckJson(#[source] serde_json::Error),
    /// `diff --format json`: the comparison could not be written.
    #[error("cannot write JSON: {0}")]
    DiffJson(#[source] serde_json::Error),
    /// `explain --format json`: the story could not be written.
    #[error("cannot write JSON: {0}")]
    ExplainJson(#[source] serde_json::Error),
    /// `run --format json`: the summary could not be written.
    #[error("cannot write JSON: {0}")]
    RunJson(#[source] serde_json::Error),
    /// `test --format json`: the results could not be written.
    #[error("cannot write JSON: {0}")]
    TestJson(#[source] serde_json::Error),
    #[error("cannot write the JUnit file: {0}")]
    JunitXml(#[source] io::Error),
    #[error("cannot write the JUnit file: {0}")]
    JunitFile(#[source] loyalty::report::output::Error),
    /// `gen`: the event stream could not be written to standard output.
    #[error("cannot write standard output: {0}")]
    EventsToStdout(#[source] io::Error),
    /// `lsp`: the connection to the editor failed.
    #[error(transparent)]
    Lsp(#[from] loyalty::lsp::Error),
    /// `serve`: the server could not start.
    #[error(transparent)]
    Serve(#[from] loyalty::serve::Error),
    /// Standard output could not be written, and is not a closed pipe.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] io::Error),
    /// Standard output is a closed pipe (`loyalty check ... | head`): the
    /// reader went away, and the command ends quietly with exit code 0.
    #[error("standard output is closed")]
    StdoutClosed,
}

impl Error {
    /// Prints the error on standard error (the diagnostics of a program
    /// first; nothing for a closed standard output) and gives its exit code.
    fn print(self) -> ExitCode {
        match &self {
            Error::StdoutClosed => {}
            Error::Unreadable(errors) => {
                for error in errors {
                    eprintln!("error: {error}");
                }
            }
            Error::Program { diagnostics, .. } => {
                eprint!("{diagnostics}");
                eprintln!("error: {self}");
            }
            _ => eprintln!("error: {self}"),
        }
        ExitCode::from(self.exit_code())
    }

    fn exit_code(&self) -> u8 {
        match self {
            Error::StdoutClosed => 0,
            Error::Program { .. }
            | Error::NoMember(_)
            | Error::TooManyRejects { .. }
            | Error::FileContent { .. }
            | Error::CheckJson(_) => 1,
            _ => USAGE_ERROR,
        }
    }
}

/// A path as read errors name it: `` `programs/a.loyalty` ``, or standard input for `-`.
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_string()
    } else {
        format!("`{}`", path.display())
    }
}

/// `--threads`: from 1 to `limits::MOST_THREADS`.
fn threads() -> clap::builder::RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(1..=i64::from(loyalty::limits::MOST_THREADS))
}

/// Writes to standard output. A closed pipe (`loyalty check ... | head`)
/// is [`Error::StdoutClosed`], which ends the command quietly.
fn out(text: &str) -> Result<(), Error> {
    if out_open(text)? {
        Ok(())
    } else {
        Err(Error::StdoutClosed)
    }
}

/// Writes to standard output; `false` when it is a closed pipe (the reader
/// went away). Any other write error is returned.
fn out_open(text: &str) -> Result<bool, Error> {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Stdout(e)),
    }
}

/// Reads a program or scenario file, or standard input for `-`.
fn read_source(path: &Path) -> Result<String, io::Error> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// Reads a program or scenario file, or standard input for `-`; the error names it.
fn read(path: &Path) -> Result<String, Error> {
    read_source(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The name a file is shown under in diagnostics.
fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Files' names as messages show them, comma-separated.
fn files_of(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| display_name(p)).collect();
    names.join(", ")
}
