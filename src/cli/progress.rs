//! What a command says besides its output: a progress bar on standard
//! error while it reads or writes (only on a terminal, never with
//! `--quiet`), notes (not with `--quiet`) and details (only with `-v`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;

/// How much a command says: `--quiet` or `-v`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

/// Set once, from the command line.
pub fn set(verbosity: Verbosity) {
    let _ = VERBOSITY.set(verbosity);
}

fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// A note on standard error: what the command did or chose (not with
/// `--quiet`).
pub fn note(text: &str) {
    if verbosity() != Verbosity::Quiet {
        eprintln!("{text}");
    }
}

/// A detail on standard error, with `-v` only.
pub fn detail(text: &str) {
    if verbosity() == Verbosity::Verbose {
        eprintln!("{text}");
    }
}

/// A bar counting bytes read or written (`what`: "read", "written"), of
/// `total` bytes when known (then with the time left): drawn on standard
/// error when it is a terminal and the command is not `--quiet`, hidden
/// otherwise.
pub fn bytes(total: Option<u64>, what: &str) -> ProgressBar {
    let shown = verbosity() != Verbosity::Quiet && std::io::stderr().is_terminal();
    if !shown {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            format!(
                "{{bar:30}} {{bytes}}/{{total_bytes}} {what} ({{bytes_per_sec}}, {{eta}} left){{msg}}"
            ),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} {{bytes}} {what} ({{bytes_per_sec}}){{msg}}"),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A bar counting `total` items (`what`: "tests"), with the time left.
pub fn items(total: u64, what: &str) -> ProgressBar {
    let shown = verbosity() != Verbosity::Quiet && std::io::stderr().is_terminal();
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let template = format!("{{bar:30}} {{pos}}/{{len}} {what} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How often the count of records on a bar is looked at, in records, and
/// updated at most, in time.
const COUNT_EVERY: u64 = 256;
const UPDATE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// `records`, counted on `bar`'s message as they are read: how many, and
/// how many a second.
pub fn counting<T>(records: impl Iterator<Item = T>, bar: &ProgressBar) -> impl Iterator<Item = T> {
    let bar = bar.clone();
    let mut read: u64 = 0;
    let mut shown = std::time::Duration::ZERO;
    records.inspect(move |_| {
        read += 1;
        if read % COUNT_EVERY != 0 || bar.is_hidden() {
            return;
        }
        let elapsed = bar.elapsed();
        if elapsed >= shown + UPDATE_EVERY {
            shown = elapsed;
            // A rate for people to read on a terminal: a float is fine here.
            let rate = read as f64 / elapsed.as_secs_f64().max(1e-3);
            bar.set_message(format!(", {read} records, {rate:.0} records/s"));
        }
    })
}
