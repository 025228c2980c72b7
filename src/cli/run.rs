//! `loyalty run`: replays events and writes the ledger, member end states,
//! rejects and summary, with a short table on standard output; with
//! `--report`, finance's liability and deferred revenue tables too. The
//! files go through `report::output::Folder`: all in place, or none.

use super::input::{self, Inputs};
use super::{display_name, failed, USAGE_ERROR};
use loyalty::compile::Program;
use loyalty::engine::ledger::Entry;
use loyalty::engine::replay;
use loyalty::engine::sharded;
use loyalty::engine::Engine;
use loyalty::events::{Event, Reject};
use loyalty::finance::deferred::{self, Rounding};
use loyalty::finance::liability::{Breakage, LiabilityBuilder};
use loyalty::finance::upcoming;
use loyalty::html;
use loyalty::report::output::{Folder, FolderFile};
use loyalty::report::tier_mix::TierMix;
use loyalty::report::{self, LedgerLines, LedgerWriter};
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, SyncSender};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// The folder to write ledger.csv, members.csv, rejects.csv and
    /// summary.json to (created if missing). The files are put in place
    /// only when the run succeeds, summary.json last, listing them with
    /// their checksums; the previous run's files this run does not write
    /// are removed.
    #[arg(long, value_name = "DIR", default_value = "loyalty-out")]
    out: PathBuf,
    /// Stop at the first rejected record and exit with 1.
    #[arg(long)]
    strict: bool,
    /// Finance reports to write and print: `liability` (liability.csv: per
    /// month and points type, issued, spent, expired, reversed,
    /// outstanding, breakage, liability and cost) and `deferred-revenue`
    /// (deferred_revenue.csv: the IFRS 15 allocation) and `upcoming`
    /// (upcoming_expiry.csv: points expiring in the 30, 60 and 90 days
    /// after --until; upcoming_tiers.csv: members the next tier review would
    /// move down). Several are separated by commas.
    #[arg(long, value_enum, value_name = "REPORT", value_delimiter = ',')]
    report: Vec<Report>,
    /// The breakage rate the reports use for every points type, in percent
    /// (`18` or `18%`), or `estimate` to estimate it from the history by
    /// monthly earning cohort. Default: each points type's `breakage`.
    #[arg(long, value_name = "PCT", value_parser = parse_breakage, requires = "report")]
    breakage: Option<Breakage>,
    /// Also write the report as one self-contained HTML page with charts
    /// (liability over time, issued/spent/expired per month, tier mix).
    /// Needs --report.
    #[arg(long, value_name = "FILE", requires = "report")]
    html: Option<PathBuf>,
    /// Threads: 1 reads, applies and writes in turn. With more, records are
    /// read and typed on a thread of their own, and members are dealt into
    /// as many shards as threads, each applied on a thread of its own that
    /// also formats its ledger lines, merged back in order on the main
    /// thread; for a program whose members can transfer or pool points or
    /// share a budget (which cannot be split), and with --strict, events
    /// are applied on one thread
    /// (and with 3 or more the ledger written on another), which a note on
    /// standard error says. The output is the same for any number. At
    /// most 256.
    #[arg(long, default_value_t = 1, value_parser = super::threads())]
    threads: u16,
}

/// Records or entries handed between threads at a time: enough to make the
/// cost of a hand-over small, few enough to keep memory flat.
const BATCH: usize = 4096;

/// Batches in flight between two threads before the faster one waits.
const IN_FLIGHT: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Report {
    Liability,
    DeferredRevenue,
    Upcoming,
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

fn written<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> Result<T, ExitCode> {
    result.map_err(|e| {
        eprintln!("error: cannot write {what}: {e}");
        ExitCode::from(USAGE_ERROR)
    })
}

/// Where entries go: the ledger file and, for `--report`, the liability
/// table and, for `--html`, the tier mix.
struct Sink<'p> {
    ledger: LedgerWriter<'p, FolderFile>,
    liability: Option<LiabilityBuilder<'p>>,
    mix: Option<TierMix<'p>>,
}

impl Sink<'_> {
    fn add(&mut self, entries: &[Entry]) -> csv::Result<()> {
        self.tally(entries);
        self.ledger.write(entries)
    }

    /// Adds entries whose ledger lines were formatted elsewhere.
    fn add_lines(&mut self, entries: &[Entry], lines: &[u8]) -> csv::Result<()> {
        self.tally(entries);
        self.ledger.write_lines(lines)
    }

    fn tally(&mut self, entries: &[Entry]) {
        if let Some(liability) = &mut self.liability {
            liability.add(entries);
        }
        if let Some(mix) = &mut self.mix {
            mix.add(entries);
        }
    }

    /// Whether the reports need the entries, not only their lines.
    fn tallies(&self) -> bool {
        self.liability.is_some() || self.mix.is_some()
    }
}

/// Reads and types the records of every input in batches, for a replay on
/// another thread; stops early when that replay hangs up.
fn read_ahead(
    program: &Program,
    inputs: &Inputs,
    out: &SyncSender<Vec<Result<Event, Reject>>>,
) -> Result<(), ExitCode> {
    let mut batch = Vec::with_capacity(BATCH);
    for record in input::records(program, inputs)? {
        batch.push(record);
        if batch.len() >= BATCH
            && out
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
        {
            return Ok(());
        }
    }
    // An error here means the replay hung up: it needs no more.
    let _ = out.send(batch);
    Ok(())
}

fn run_inner(args: &Args) -> Result<ExitCode, ExitCode> {
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    // Opens every file now, so a missing one stops the run before anything is written.
    let records = input::records(&program, &args.inputs)?;
    let mut folder = Folder::open(&args.out, "summary.json").map_err(failed)?;
    let ledger = written(
        LedgerWriter::new(&program, folder.create("ledger.csv").map_err(failed)?),
        "ledger.csv",
    )?;
    let mut engine = Engine::new(&program);
    let options = args.inputs.options(until, args.strict);
    let mix = args.html.as_ref().map(|_| TierMix::new(&program));
    let liability = (!args.report.is_empty()).then(|| LiabilityBuilder::new(&program));
    let (outcome, sink) = if args.threads == 1 {
        let mut sink = Sink {
            ledger,
            liability,
            mix,
        };
        let outcome = written(
            replay::replay(&mut engine, records, options, &mut |entries| {
                sink.add(entries)
            }),
            "ledger.csv",
        )?;
        (outcome, sink)
    } else {
        drop(records);
        let program = &program;
        let engine = &mut engine;
        std::thread::scope(|scope| {
            let (send_records, receive_records) = mpsc::sync_channel(IN_FLIGHT);
            let reader = scope.spawn(move || read_ahead(program, &args.inputs, &send_records));
            let mut sink = Sink {
                ledger,
                liability,
                mix,
            };
            let records = receive_records.into_iter().flatten();
            let unsplit = if args.strict {
                Some("--strict stops at the first reject in input order")
            } else {
                sharded::why_not_sharded(program)
            };
            if let Some(why) = unsplit {
                eprintln!(
                    "note: events are applied on one thread ({why}); the others read{}",
                    if args.threads > 2 { " and write" } else { "" }
                );
            }
            let shards = unsplit.is_none();
            let outcome = if shards {
                // Each shard formats its own ledger lines.
                let format =
                    || -> Box<dyn sharded::Format + '_> { Box::new(LedgerLines::new(program)) };
                let rows = sink.tallies();
                let output = sharded::Output {
                    format: Some(&format),
                    rows,
                    sink: &mut |entries, lines| sink.add_lines(entries, lines),
                };
                sharded::replay_sharded(engine, records, options, usize::from(args.threads), output)
                    .map(|outcome| (outcome, sink))
            } else if args.threads == 2 {
                replay::replay(engine, records, options, &mut |entries| sink.add(entries))
                    .map(|outcome| (outcome, sink))
            } else {
                let (send_entries, receive_entries) = mpsc::sync_channel::<Vec<Entry>>(IN_FLIGHT);
                let writer = scope.spawn(move || {
                    receive_entries
                        .into_iter()
                        .try_for_each(|entries| sink.add(&entries))
                        .map(|()| sink)
                });
                let mut batch = Vec::new();
                let outcome = replay::replay(engine, records, options, &mut |entries| {
                    batch.append(entries);
                    if batch.len() >= BATCH {
                        // A closed channel means the writer failed: its join says why.
                        let _ = send_entries.send(std::mem::take(&mut batch));
                    }
                    Ok::<(), csv::Error>(())
                });
                let _ = send_entries.send(batch);
                drop(send_entries);
                let sink = writer
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                outcome.and_then(|outcome| sink.map(|sink| (outcome, sink)))
            };
            // The replay dropped the receiver: a reader still reading (after
            // --strict stopped early) finds the channel closed and stops.
            let read = reader
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            read?;
            let (outcome, sink) = written(outcome, "ledger.csv")?;
            Ok::<_, ExitCode>((outcome, sink))
        })?
    };
    let Sink {
        ledger,
        liability,
        mix,
    } = sink;
    folder
        .add(written(ledger.finish(), "ledger.csv")?)
        .map_err(failed)?;
    let now = engine.clock().unwrap_or_default();
    folder
        .write("members.csv", |f| {
            Ok(report::write_members(&engine, now, f)?)
        })
        .map_err(failed)?;
    folder
        .write("rejects.csv", |f| {
            Ok(report::write_rejects(&outcome.rejects, f)?)
        })
        .map_err(failed)?;
    let summary = report::summary(&engine, &outcome, now);
    input::print(&report::summary_table(&summary));
    // Kept for --report only.
    if let Some(liability) = liability {
        let breakage = args.breakage.clone().unwrap_or(Breakage::Program);
        let table = liability.finish(until.unwrap_or(now), breakage);
        folder
            .write("liability.csv", |f| Ok(table.write_csv(f)?))
            .map_err(failed)?;
        if args.report.contains(&Report::Liability) {
            input::print(&format!("\nliability\n\n{}", table.text()));
        }
        if let (Some(path), Some(mix)) = (&args.html, &mix) {
            let facts = vec![
                ("program".to_string(), display_name(&args.inputs.program)),
                (
                    "events".to_string(),
                    args.inputs
                        .events
                        .iter()
                        .map(|p| display_name(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (
                    "until".to_string(),
                    args.inputs
                        .until
                        .clone()
                        .unwrap_or("the last event".to_string()),
                ),
                ("breakage".to_string(), table.breakage_method.clone()),
            ];
            let page = html::run_page(&program, &facts, &table, mix);
            folder.write_at(path, page.as_bytes()).map_err(failed)?;
        }
        if args.report.contains(&Report::Upcoming) {
            let upcoming = upcoming::upcoming(&engine, until.unwrap_or(now));
            folder
                .write("upcoming_expiry.csv", |f| {
                    Ok(upcoming.write_expiry_csv(&program, f)?)
                })
                .map_err(failed)?;
            folder
                .write("upcoming_tiers.csv", |f| {
                    Ok(upcoming.write_tiers_csv(&program, f)?)
                })
                .map_err(failed)?;
            input::print(&format!("\nupcoming\n\n{}", upcoming.text(&program)));
        }
        if args.report.contains(&Report::DeferredRevenue) {
            let allocation = deferred::from_run(&engine, &liability, &table, Rounding::CENTS)
                .map_err(|message| {
                    eprintln!("error: {message}");
                    ExitCode::from(USAGE_ERROR)
                })?;
            let rows = deferred::recognize(&allocation);
            folder
                .write("deferred_revenue.csv", |f| {
                    Ok(deferred::write_csv(&rows, f)?)
                })
                .map_err(failed)?;
            input::print(&format!(
                "\ndeferred revenue (IFRS 15), {}\n\n{}",
                program.currency,
                deferred::text(&rows)
            ));
        }
    }
    // Freeing a million members' state one allocation at a time takes
    // seconds the process is about to get back from the system anyway.
    std::mem::forget(engine);
    let listed = folder.commit(&summary).map_err(failed)?;
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    input::print(&format!(
        "\nwrote {} and summary.json to {}\n",
        names.join(", "),
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
