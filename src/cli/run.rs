//! `loyalty run`: replays events and writes the ledger, member end states,
//! rejects and summary, with a short table on standard output; with
//! `--report`, finance's liability and deferred revenue tables too. The
//! files go through `report::output::Folder`: all in place, or none.

use super::input::{self, Inputs};
use super::{display_name, files_of, progress, read, Error, Format, USAGE_ERROR};
use loyalty::compile::Program;
use loyalty::engine::ledger::Entry;
use loyalty::finance::close::{LiabilityAdjustment, RevenueAdjustment};
use loyalty::finance::deferred::RevenueRow;
use loyalty::finance::deferred::{self, Rounding};
use loyalty::finance::estimates::Estimates;
use loyalty::finance::liability::{month_label, LiabilityRow};
use loyalty::finance::liability::{Breakage, LiabilityBuilder};
use loyalty::finance::upcoming;
use loyalty::finance::{close, parse_percent, reconcile};
use loyalty::html;
use loyalty::report::kpis::{RunEvents, RunKpis};
use loyalty::report::output::{summary_document, Folder};
use loyalty::report::parquet::{OutputFormat, Table, TableFile};
use loyalty::report::tier_mix::TierMix;
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Records, RejectLimit, RowSink, Run, RunError, Sinks};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

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
    /// The format of the ledger, members and rejects: csv, or parquet
    /// (ledger.parquet ...: times as timestamps, amounts and balances as
    /// exact decimal128). The reports stay CSV.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "csv")]
    output_format: OutputFormat,
    /// Stop at the first rejected record and exit with 1.
    #[arg(long)]
    strict: bool,
    /// Fail (exit with 1, the files written all the same) when more
    /// records than this are rejected: a count (`10`) or a percentage of
    /// the records read (`0.5%`). A gate on the input's quality.
    #[arg(long, value_name = "N|P%")]
    max_rejects: Option<RejectLimit>,
    /// Finance reports to write and print: `liability` (liability.csv: per
    /// month and points type, issued, spent, expired, reversed,
    /// outstanding, breakage, liability and cost) and `deferred-revenue`
    /// (deferred_revenue.csv: the IFRS 15 allocation) and `upcoming`
    /// (upcoming_expiry.csv: points expiring in the 30, 60 and 90 days
    /// after --until; upcoming_tiers.csv: members the next tier review would
    /// move down) and `reconciliation` (reconciliation.csv: per month and
    /// points type, line by line from outstanding points × value to the
    /// liability, with negative balances apart as a receivable, and on to
    /// deferred revenue's contract liability) and `cohorts` (cohorts.csv:
    /// the share of each monthly earning cohort redeemed by each month
    /// since; cohorts.json: with the chain-ladder fit of the ultimate
    /// redemption rate, the breakage it implies and the liability at ±2
    /// points of it) and `kpis` (kpis.csv: per month and KPI, the
    /// definitions of `simulate`'s KPIs; tier_migration.csv: members by
    /// tier at the previous and this month's end) and `state` (state.csv:
    /// every member's tier, open buckets and debts at the end, for
    /// `simulate --from-state`). Several are separated by commas.
    #[arg(long, value_enum, value_name = "REPORT", value_delimiter = ',')]
    report: Vec<Report>,
    /// The breakage rate the reports use for every points type, in percent
    /// (`18` or `18%`), or `estimate` to estimate it from the history by
    /// monthly earning cohort. Default: each points type's `breakage`.
    #[arg(long, value_name = "PCT", value_parser = parse_breakage, requires = "report")]
    breakage: Option<Breakage>,
    /// Breakage estimates that change over time: a CSV file with the header
    /// `from,points,breakage` (or `from,points,expected_redemption`) and a
    /// row per estimate, `2025-03-01,stars,18`, in date order. Each month
    /// uses the estimate in force at its end (the program's `breakage`
    /// before a type's first); a change is a catch-up in its month, never a
    /// restatement of earlier ones (deferred_revenue.csv gains a catch_up
    /// column).
    #[arg(
        long,
        value_name = "FILE",
        requires = "report",
        conflicts_with = "breakage"
    )]
    breakage_estimates: Option<PathBuf>,
    /// Close the books through DAY (YYYY-MM-DD, the last day of a month):
    /// the months through it keep what the previous close booked (read
    /// from --booked), and whatever the events now say differently about
    /// them is booked as an adjustment in the first open month.
    /// liability_booked.csv (and deferred_revenue_booked.csv) have this view,
    /// with the adjustments shown; liability.csv (and
    /// deferred_revenue.csv) stay as restated. Needs --booked.
    #[arg(
        long,
        value_name = "DAY",
        value_parser = parse_close,
        requires_all = ["report", "booked"]
    )]
    close_through: Option<String>,
    /// The output folder of the previous close, whose figures the closed
    /// months keep: its liability_booked.csv, or liability.csv if it closed
    /// nothing (and with --report deferred-revenue its
    /// deferred_revenue_booked.csv, or deferred_revenue.csv). It may be
    /// --out itself.
    #[arg(long, value_name = "DIR", requires = "close_through")]
    booked: Option<PathBuf>,
    /// Also write the reports as one self-contained HTML page for a CFO:
    /// the headline figures (closing liability, deferred revenue, breakage
    /// in force, rejects), the liability's roll-forward per month, the
    /// reports asked for as charts and tables, the rejects' first reasons
    /// and the tier mix. Needs --report.
    #[arg(long, value_name = "FILE", requires = "report")]
    html: Option<PathBuf>,
    /// Threads: 1 reads, applies and writes in turn. With more, a CSV file's
    /// records are read on a thread of their own and typed on another,
    /// members.csv is formatted on as many, and members are dealt into as many
    /// shards as threads, each applied on a thread of its own that also formats
    /// its ledger lines, merged back in order on the main thread. A program
    /// whose members share a budget is dealt into shards too when only the
    /// ledger is written (no --report or --html, not --stream), gathered into
    /// one engine while a budget is nearly spent (until it is), and done again
    /// on one thread if a budget ran out across them all the same. For a
    /// program whose members can transfer or pool points (which cannot be
    /// split), and with --strict, events are applied on one thread (and with 3
    /// or more the ledger written on another), which a note on standard error
    /// says. The output is the same for any number. At most 256.
    #[arg(long, default_value_t = 1, value_parser = super::threads())]
    threads: u16,
    /// What to print: `human`, the totals and reports as tables, or `json`,
    /// summary.json's document (the files listed with their checksums).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Report {
    Liability,
    DeferredRevenue,
    Upcoming,
    Reconciliation,
    Cohorts,
    Kpis,
    State,
}

fn parse_breakage(text: &str) -> Result<Breakage, String> {
    if text == "estimate" {
        return Ok(Breakage::Estimated);
    }
    parse_percent(text).map(Breakage::Given).ok_or_else(|| {
        format!("`{text}` is not a percentage from 0 to 100 (`18`, `18%`) or `estimate`")
    })
}

fn parse_close(text: &str) -> Result<String, String> {
    let day = text
        .parse::<chrono::NaiveDate>()
        .map_err(|_| format!("`{text}` is not a day (YYYY-MM-DD)"))?;
    close::closed_through(day).map_err(|e| e.to_string())
}

/// What the previous close booked, read before the run.
struct Books {
    /// The last closed month, `2025-01`.
    through: String,
    liability: Vec<(LiabilityRow, LiabilityAdjustment)>,
    revenue: Option<Vec<(RevenueRow, RevenueAdjustment)>>,
}

/// The booked report `name` in `dir`: its `_booked` version when a close
/// wrote one.
fn booked_file(dir: &Path, name: &str) -> Result<(PathBuf, String), Error> {
    let booked = dir.join(format!("{name}_booked.csv"));
    let path = if booked.exists() {
        booked
    } else {
        dir.join(format!("{name}.csv"))
    };
    let text = read(&path)?;
    Ok((path, text))
}

fn read_books(program: &Program, args: &Args) -> Result<Option<Books>, Error> {
    let (Some(through), Some(dir)) = (&args.close_through, &args.booked) else {
        return Ok(None);
    };
    let in_file = |path: &Path| {
        let name = display_name(path);
        move |error| Error::FileContent { name, error }
    };
    let (path, text) = booked_file(dir, "liability")?;
    let liability = close::read_liability(program, &text).map_err(in_file(&path))?;
    let months = liability.iter().map(|(r, _)| r.month.as_str());
    close::covers("liability", months, through)?;
    let revenue = if args.report.contains(&Report::DeferredRevenue) {
        let (path, text) = booked_file(dir, "deferred_revenue")?;
        let revenue = close::read_revenue(&text).map_err(in_file(&path))?;
        let months = revenue.iter().map(|(r, _)| r.period.label.as_str());
        close::covers("deferred revenue", months, through)?;
        Some(revenue)
    } else {
        None
    };
    Ok(Some(Books {
        through: through.clone(),
        liability,
        revenue,
    }))
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    // The tables for people, unless the document is asked for.
    let say = |text: &str| match args.format {
        Format::Human => input::print(text),
        Format::Json => Ok(()),
    };
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    let breakage = match &args.breakage_estimates {
        Some(path) => {
            Breakage::Estimates(Estimates::read(&program, &read(path)?).map_err(|error| {
                Error::FileContent {
                    name: display_name(path),
                    error,
                }
            })?)
        }
        None => args.breakage.clone().unwrap_or(Breakage::Program),
    };
    let books = read_books(&program, args)?;
    if let (Some(books), Some(until)) = (&books, until) {
        if month_label(&program, until) <= books.through {
            return Err(loyalty::finance::Error::NoOpenMonth {
                through: books.through.clone(),
            }
            .into());
        }
    }
    // Opens every file now, so a missing one stops the run before anything is written.
    let bar = progress::bytes(input::total_bytes(&args.inputs), "read");
    let records = input::records(&program, &args.inputs, &bar, 1)?;
    let mut folder = Folder::open(&args.out, "summary.json")?.syncing_aside(args.threads > 1);
    let ledger = LedgerWriter::new(
        &program,
        Table::Ledger.create(&mut folder, args.output_format)?,
    )?
    .starting_over(TableFile::start_over);
    let options = args.inputs.options(until, args.strict);
    let wants_kpis = args.report.contains(&Report::Kpis);
    let mut kpi_rows = wants_kpis.then(|| RunKpis::new(&program));
    let kpi_events = Mutex::new(RunEvents::default());
    let mut to_kpis = |rows: &[Entry]| {
        if let Some(kpis) = &mut kpi_rows {
            kpis.add(rows);
        }
        Ok(())
    };
    let sinks = Sinks {
        ledger: Some(ledger),
        liability: (!args.report.is_empty()).then(|| {
            let mut builder = LiabilityBuilder::new(&program);
            if args.report.contains(&Report::Reconciliation) {
                builder = builder.with_balances();
            }
            if args.report.contains(&Report::Cohorts) {
                builder = builder.with_cohorts();
            }
            builder
        }),
        tier_mix: args.html.as_ref().map(|_| TierMix::new(&program)),
        rows: wants_kpis.then_some(&mut to_kpis as &mut RowSink),
    };
    // Opened once more, on the thread that reads them (the files opened
    // above stop the run on a missing one before anything is written).
    drop(records);
    let open = || {
        let records = input::records(&program, &args.inputs, &bar, usize::from(args.threads))?;
        Ok(if wants_kpis {
            Box::new(RunEvents::observing(&kpi_events, &program, records)) as Records
        } else {
            records
        })
    };
    let finished = Run::new(&program, options)
        .threads(usize::from(args.threads))
        .replay_read(&open, sinks);
    bar.finish_and_clear();
    let finished = match finished {
        Ok(finished) => finished,
        Err(RunError::Open(error)) => return Err(error),
        Err(RunError::Write(error)) => return Err(Error::Ledger(error)),
    };
    if let Some(why) = finished.one_thread {
        progress::note(&format!(
            "note: events are applied on one thread ({why}); the others read{}",
            if args.threads > 2 { " and write" } else { "" }
        ));
    }
    if !finished.alone.is_empty() {
        let time =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let spans: Vec<String> = finished
            .alone
            .iter()
            .map(|(from, to)| match to {
                Some(to) => format!("from {} to {}", time(*from), time(*to)),
                None => format!("from {} on", time(*from)),
            })
            .collect();
        progress::note(&format!(
            "note: a program-wide budget was nearly spent, so the events {} were applied on \
             one thread",
            spans.join(", ")
        ));
    }
    let Finished {
        engine,
        outcome,
        sinks,
        ..
    } = finished;
    let Sinks {
        ledger: Some(ledger),
        liability,
        tier_mix: mix,
        ..
    } = sinks
    else {
        // The run was given a ledger, and gives its sinks back.
        return Ok(ExitCode::from(USAGE_ERROR));
    };
    Table::Ledger.add(&mut folder, ledger.finish()?)?;
    let now = engine.clock().unwrap_or_default();
    Table::Members.write(&mut folder, args.output_format, |f| {
        Ok(report::write_members_on(
            &engine,
            now,
            f,
            usize::from(args.threads),
        )?)
    })?;
    Table::Rejects.write(&mut folder, args.output_format, |f| {
        Ok(report::write_rejects(&outcome.rejects, f)?)
    })?;
    let summary = report::summary(&engine, &outcome, now);
    say(&report::summary_table(&summary))?;
    // Kept for --report only.
    if let Some(liability) = liability {
        let catch_up = matches!(breakage, Breakage::Estimates(_));
        let table = liability.finish(until.unwrap_or(now), breakage);
        folder.write("liability.csv", |f| Ok(table.write_csv(f)?))?;
        if args.report.contains(&Report::Liability) {
            say(&format!("\nliability\n\n{}", table.text()))?;
        }
        if let Some(books) = &books {
            let booked = close::book_liability(&table, &books.liability, &books.through)?;
            folder.write("liability_booked.csv", |f| Ok(booked.write_csv(f)?))?;
            if args.report.contains(&Report::Liability) {
                say(&format!(
                    "\nliability as booked, closed through {}\n\n{}",
                    books.through,
                    booked.text()
                ))?;
            }
        }
        let upcoming = args
            .report
            .contains(&Report::Upcoming)
            .then(|| upcoming::upcoming(&engine, until.unwrap_or(now)));
        if let Some(upcoming) = &upcoming {
            folder.write("upcoming_expiry.csv", |f| {
                Ok(upcoming.write_expiry_csv(&program, f)?)
            })?;
            folder.write("upcoming_tiers.csv", |f| {
                Ok(upcoming.write_tiers_csv(&program, f)?)
            })?;
            say(&format!("\nupcoming\n\n{}", upcoming.text(&program)))?;
        }
        let wants = |report| args.report.contains(&report);
        let cohorts = liability
            .cohorts(&table, until.unwrap_or(now))
            .filter(|_| wants(Report::Cohorts));
        if let Some(cohorts) = &cohorts {
            folder.write("cohorts.csv", |f| Ok(cohorts.write_csv(f)?))?;
            folder.write("cohorts.json", |f| cohorts.write_json(f))?;
            say(&format!(
                "\nbreakage by cohort, as of {}\n\n{}",
                cohorts.as_of,
                cohorts.text()
            ))?;
        }
        // Deferred revenue, for its own report and the reconciliation's
        // last lines.
        let revenue = (wants(Report::DeferredRevenue)
            || wants(Report::Reconciliation)
            || args.html.is_some())
        .then(|| {
            deferred::from_run(
                &engine,
                &liability,
                &table,
                Rounding::minor_unit(program.currency),
            )
            .map(|allocation| deferred::recognize(&allocation))
        });
        if let Some(rows) = revenue.as_ref().filter(|_| wants(Report::DeferredRevenue)) {
            let rows = rows.as_ref().map_err(Clone::clone)?;
            folder.write("deferred_revenue.csv", |f| {
                Ok(deferred::write_csv(rows, catch_up, program.currency, f)?)
            })?;
            say(&format!(
                "\ndeferred revenue (IFRS 15), {}\n\n{}",
                program.currency,
                deferred::text(rows, catch_up, program.currency)
            ))?;
            if let Some((books, booked)) = books
                .as_ref()
                .and_then(|b| b.revenue.as_ref().map(|r| (b, r)))
            {
                let booked = close::book_revenue(rows, booked, &books.through)?;
                folder.write("deferred_revenue_booked.csv", |f| {
                    Ok(booked.write_csv(catch_up, program.currency, f)?)
                })?;
                say(&format!(
                    "\ndeferred revenue as booked, closed through {}, {}\n\n{}",
                    books.through,
                    program.currency,
                    booked.text(catch_up, program.currency)
                ))?;
            }
        }
        if wants(Report::State) {
            folder.write("state.csv", |f| {
                Ok(report::state::write_state(
                    &engine,
                    until.unwrap_or(now),
                    f,
                )?)
            })?;
        }
        let kpi_report = kpi_rows.take().map(|kpis| {
            let events = kpi_events
                .lock()
                .map(|mut events| std::mem::take(&mut *events))
                .unwrap_or_default();
            kpis.finish(events, &outcome.rejects, &table.rows, until.unwrap_or(now))
        });
        if let Some(report) = &kpi_report {
            folder.write("kpis.csv", |f| Ok(report.write_csv(f)?))?;
            folder.write("tier_migration.csv", |f| {
                Ok(report.write_migration_csv(&program, f)?)
            })?;
            say(&format!(
                "\nKPIs in {}\n\n{}",
                report.months.last().map_or("", String::as_str),
                report.text(&program)
            ))?;
        }
        if let (Some(holdings), Some(revenue)) =
            (liability.holdings(until.unwrap_or(now)), &revenue)
        {
            let deferred = match revenue {
                Ok(rows) => {
                    deferred::redeemable(&program).map(|(_, name, _)| (name, rows.as_slice()))
                }
                Err(why) => Err(why.clone()),
            };
            let reconciliation = reconcile::reconcile(&program, &table, &holdings, deferred);
            folder.write("reconciliation.csv", |f| Ok(reconciliation.write_csv(f)?))?;
            say(&format!(
                "\nreconciliation, {}\n\n{}",
                program.currency,
                reconciliation.text()
            ))?;
        }
        if let (Some(path), Some(mix)) = (&args.html, &mix) {
            let facts = vec![
                ("program".to_string(), display_name(&args.inputs.program)),
                ("events".to_string(), files_of(&args.inputs.events)),
                (
                    "until".to_string(),
                    args.inputs
                        .until
                        .clone()
                        .unwrap_or("the last event".to_string()),
                ),
                ("breakage".to_string(), table.breakage_method.clone()),
            ];
            let page = html::run_page(&html::RunReports {
                program: &program,
                facts: &facts,
                liability: &table,
                tier_mix: mix,
                rejects: &outcome.rejects,
                read: outcome.read,
                revenue: revenue
                    .as_ref()
                    .map(|r| r.as_deref().map_err(ToString::to_string)),
                revenue_asked: wants(Report::DeferredRevenue),
                upcoming: upcoming.as_ref(),
                cohorts: cohorts.as_ref(),
                kpis: kpi_report.as_ref(),
            });
            folder.write_at(path, page.as_bytes())?;
        }
    }
    // Freeing a million members' state one allocation at a time takes
    // seconds the process is about to get back from the system anyway.
    std::mem::forget(engine);
    let listed = folder.commit(&summary)?;
    if args.format == Format::Json {
        let document = summary_document(&summary, &listed).map_err(Error::RunJson)?;
        input::print(&document)?;
    }
    for file in &listed {
        let rows = file
            .rows
            .map_or(String::new(), |rows| format!("{rows} rows, "));
        progress::detail(&format!(
            "wrote {}: {rows}{} bytes, sha256 {}",
            args.out.join(&file.name).display(),
            file.bytes,
            file.sha256
        ));
    }
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    say(&format!(
        "\nwrote {} and summary.json to {}\n",
        names.join(", "),
        args.out.display()
    ))?;
    if let Some(first) = outcome.rejects.first() {
        progress::note(&format!(
            "{} records rejected (see rejects.csv); the first: {} line {}: {}",
            outcome.rejects.len(),
            first.origin.file,
            first.origin.line,
            first.reason
        ));
        if args.strict {
            return Ok(ExitCode::FAILURE);
        }
    }
    let rejected = outcome.rejects.len() as u64;
    if let Some(limit) = args
        .max_rejects
        .filter(|limit| limit.exceeded(rejected, outcome.read))
    {
        return Err(Error::TooManyRejects {
            rejected,
            read: outcome.read,
            limit,
        });
    }
    Ok(ExitCode::SUCCESS)
}
