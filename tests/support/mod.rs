//! Runs a program source over inline CSV events the way `loyalty run` does,
//! and keeps what came out (ledger rows, rejects, member end states, totals)
//! as plain owned values that tests can compare, checking on the way that
//! every ledger row's balance is what the rows before it add up to.

// Each test crate that includes this module uses a part of it; clippy.toml
// allows unwraps, panics and indexing in #[test] fns only, not in helpers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use chrono::{DateTime, Utc};
use loyalty::compile::calendar;
use loyalty::compile::Program;
use loyalty::engine::ledger::{Entry, Totals};
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::engine::Engine;
use loyalty::events::Format;
use loyalty::finance::liability::{Breakage, LiabilityBuilder, LiabilityTable, PERKS};
use loyalty::run::{Finished, Sinks};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The `loyalty` command run with `args`, in the test's folder.
pub fn loyalty(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(args)
        .output()
        .unwrap()
}

/// The Chromium installed (Debian's `chromium`, or another name it goes
/// by), for the tests that render pages; without one, they fail saying how
/// to install it.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("Chromium is missing: apt-get install chromium (.ci/run installs it)")
        })
}

/// The first line a child writes on its piped standard output (which is
/// then closed: a child that writes more finds its reader gone).
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// How the tests start Chromium: headless, without the sandbox (CI runs as
/// root), the GPU, extensions or anything fetched in the background.
pub const HEADLESS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
];

/// `loyalty ARGS` run in `dir` with `input` on its standard input, and
/// `CI` unset (snapshots are written as on a developer's machine).
pub fn loyalty_in(dir: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(dir)
        .args(args)
        .env_remove("CI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Everything `loyalty ARGS` wrote (standard output, then standard error),
/// run in the crate's folder with `env` set and the colour variables of
/// the caller's own environment cleared; through a pseudo-terminal (the
/// util-linux `script` command) when `terminal`, else through pipes.
pub fn written(args: &[&str], env: &[(&str, &str)], terminal: bool) -> String {
    let mut command = if terminal {
        let line = std::iter::once(env!("CARGO_BIN_EXE_loyalty"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = std::process::Command::new("script");
        command.args(["-qec", &line, "/dev/null"]);
        command
    } else {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"));
        command.args(args);
        command
    };
    for name in ["NO_COLOR", "CLICOLOR_FORCE", "CLICOLOR", "CI"] {
        command.env_remove(name);
    }
    command.env("TERM", "xterm-256color");
    command.envs(env.iter().copied());
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    let output = command.output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// The `--until` day `tests/programs.rs` and `programs/README.md` use for
/// each example's sample stream, as `tests/until.txt` lists them (the
/// Python tests read it too).
pub fn until_days() -> Vec<(&'static str, &'static str)> {
    include_str!("../until.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split_once(' ').unwrap())
        .collect()
}

/// The `--until` day of the example `name`'s sample ([`until_days`]).
pub fn until_of(name: &str) -> &'static str {
    until_days()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("add `{name}` and its --until day to tests/until.txt"))
        .1
}

/// The example programs' folder.
pub fn programs() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

/// An example program, compiled, and the text of its scenario.
pub fn example(name: &str) -> (Program, String) {
    let dir = programs();
    let source = std::fs::read_to_string(dir.join(format!("{name}.loyalty"))).unwrap();
    let scenario = std::fs::read_to_string(dir.join(format!("{name}.scenario.yaml"))).unwrap();
    (compile(&source), scenario)
}

/// A program header in New York time, prepended to a literal body.
#[macro_export]
macro_rules! ny {
    ($body:literal) => {
        concat!(
            "program \"Test\" {\n  currency USD\n  timezone \"America/New_York\"\n}\n",
            $body
        )
    };
}

/// A program whose two points types expire at one instant for a purchase:
/// `status` by inactivity after 3 months, `bonus` 3 months after earn. Its
/// rules fire in order, `status` first if `status_first`: which of the two
/// expiries a purchase schedules first, and so which runs first.
pub fn tied_expiries(status_first: bool) -> String {
    let status = "rule base {\n  on purchase\n  earn 1 status per 1 USD of amount\n}\n";
    let bonus = "rule extra {\n  on purchase\n  earn 2 bonus\n}\n";
    let (first, second) = if status_first {
        (status, bonus)
    } else {
        (bonus, status)
    };
    format!(
        "{}points status {{\n  expire after 3 months without activity\n}}\n\
         points bonus {{\n  expire 3 months after earn\n}}\n{first}{second}",
        ny!("")
    )
}

pub fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// One ledger row with names instead of indices and the time as the
/// program's zone shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: &'static str,
    pub member: String,
    pub time: String,
    pub points: String,
    pub amount: Decimal,
    pub balance: Decimal,
    pub rule: String,
    pub event: String,
    pub note: String,
    pub cost: Option<Decimal>,
}

impl Row {
    /// `kind time amount =balance rule` for points rows, `kind time note`
    /// for tier and perk rows: short enough to list a member's whole history.
    pub fn short(&self) -> String {
        if self.points.is_empty() {
            return format!("{} {} {}", self.kind, self.time, self.note);
        }
        let line = format!(
            "{} {} {} ={}",
            self.kind,
            self.time,
            self.amount.normalize(),
            self.balance.normalize()
        );
        if self.rule.is_empty() {
            line
        } else {
            format!("{line} {}", self.rule)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberState {
    pub tier: String,
    pub balances: BTreeMap<String, Decimal>,
    pub pending: BTreeMap<String, Decimal>,
    pub measures: Vec<Decimal>,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub ledger: Vec<Row>,
    /// The rows as the engine wrote them, every field.
    pub entries: Vec<Entry>,
    /// `(line, reason)`, in input order.
    pub rejects: Vec<(usize, String)>,
    pub members: BTreeMap<String, MemberState>,
    pub totals: BTreeMap<String, Totals>,
    /// Net sales by month number, as deferred revenue counts them.
    pub sales: BTreeMap<i64, Decimal>,
    pub after_until: u64,
    /// The rows the clock writes when it is then moved on two years
    /// (expiries and tier reviews still due): what the run left scheduled.
    pub afterwards: Vec<Row>,
    /// Per points type, the liability table's months added up, as the
    /// ledger's totals: issued, spent, expired and reversed.
    pub liability: BTreeMap<String, Totals>,
    /// The time from which one engine applied the events, if shards handed
    /// their members over to it, and until it dealt them out again
    /// (`Finished::alone`).
    pub alone: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl Run {
    /// A member's rows of the given kinds (all kinds when empty), short.
    pub fn rows(&self, member: &str, kinds: &[&str]) -> Vec<String> {
        self.ledger
            .iter()
            .filter(|r| r.member == member && (kinds.is_empty() || kinds.contains(&r.kind)))
            .map(Row::short)
            .collect()
    }

    pub fn member(&self, id: &str) -> &MemberState {
        self.members
            .get(id)
            .unwrap_or_else(|| panic!("no member `{id}` in {:?}", self.members.keys()))
    }

    pub fn balance(&self, member: &str, points: &str) -> Decimal {
        self.member(member).balances[points]
    }

    pub fn tier(&self, member: &str) -> &str {
        &self.member(member).tier
    }

    pub fn reject_lines(&self) -> Vec<usize> {
        self.rejects.iter().map(|(line, _)| *line).collect()
    }
}

/// Sorted replay, the clock stopping at the last event.
pub fn run(program: &str, events: &str) -> Run {
    run_with(program, events, Order::Sort, None)
}

/// Sorted replay through the end of `day` in the program's zone, as `--until DAY`.
pub fn run_until(program: &str, events: &str, day: &str) -> Run {
    run_with(program, events, Order::Sort, Some(day))
}

/// Replays `events` (CSV; each line trimmed, blank lines dropped, so the
/// header is line 1 and the first record line 2) over `program`.
pub fn run_with(program: &str, events: &str, order: Order, until: Option<&str>) -> Run {
    run_in_shards(program, events, order, until, None)
}

/// As `run_with`, with `--threads`' sharded replay over `shards` engines
/// when given.
pub fn run_in_shards(
    program: &str,
    events: &str,
    order: Order,
    until: Option<&str>,
    shards: Option<usize>,
) -> Run {
    let threads = Threads {
        shards,
        ..Threads::default()
    };
    replay(
        program,
        Format::Csv,
        &trimmed(events),
        order,
        until,
        threads,
    )
}

/// As `run_in_shards` sorted, the shards handing their members over to one
/// engine before the event at `position`, which deals them out again
/// before the event at `again` if given (`Run::hand_over_at`).
pub fn run_handed_over(
    program: &str,
    events: &str,
    until: Option<&str>,
    shards: usize,
    (position, again): (u64, Option<u64>),
) -> Run {
    let threads = Threads {
        shards: Some(shards),
        hand_over_at: Some((position, again)),
        ..Threads::default()
    };
    replay(
        program,
        Format::Csv,
        &trimmed(events),
        Order::Sort,
        until,
        threads,
    )
}

/// As `run_in_shards` with `--stream`, each member's late-event history
/// folded into a checkpoint once its events take more than `fold_over`
/// bytes (`Run::fold_histories_over`).
pub fn stream_folded(
    program: &str,
    events: &str,
    until: Option<&str>,
    shards: Option<usize>,
    fold_over: usize,
) -> Run {
    let events = trimmed(events);
    let threads = Threads {
        shards,
        fold_over: Some(fold_over),
        ..Threads::default()
    };
    replay(program, Format::Csv, &events, Order::Stream, until, threads)
}

/// Sorted replay of `events` written in `format`, read as they are.
pub fn run_format(program: &str, format: Format, events: &str) -> Run {
    replay(
        program,
        format,
        events,
        Order::Sort,
        None,
        Threads::default(),
    )
}

/// Inline CSV events with each line trimmed and blank lines dropped, so
/// the header is line 1 and the first record line 2.
fn trimmed(events: &str) -> String {
    let lines: Vec<&str> = events
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// How a replay is spread over threads, and what it is asked to do there.
#[derive(Default)]
struct Threads {
    /// Members dealt into this many shards (`Run::shards`).
    shards: Option<usize>,
    /// Late-event histories folded over this many bytes
    /// (`Run::fold_histories_over`).
    fold_over: Option<usize>,
    /// The shards hand over to one engine here, and are dealt again there
    /// (`Run::hand_over_at`).
    hand_over_at: Option<(u64, Option<u64>)>,
}

fn replay(
    program: &str,
    format: Format,
    events: &str,
    order: Order,
    until: Option<&str>,
    threads: Threads,
) -> Run {
    let program = compile(program);
    let records = loyalty::events::read(&program, format, events.as_bytes(), "t");
    let until = until.map(|day| end_of_day(&program, day));
    let mut entries = Vec::new();
    let options = Options {
        order,
        until,
        strict: false,
    };
    let mut sink = |rows: &[Entry]| {
        entries.extend_from_slice(rows);
        Ok(())
    };
    // Members keep their own totals, which `member_state` checks.
    let run = loyalty::run::Run::new(&program, options).member_totals();
    let run = threads.shards.map_or(run, |shards| run.shards(shards));
    let run = threads
        .fold_over
        .map_or(run, |bytes| run.fold_histories_over(bytes));
    let run = threads
        .hand_over_at
        .map_or(run, |(position, again)| run.hand_over_at(position, again));
    let Finished {
        mut engine,
        outcome,
        alone,
        ..
    } = run
        .replay(Box::new(records), Sinks::rows(&mut sink))
        .unwrap();
    let ledger: Vec<Row> = entries.iter().map(|e| row(&program, e)).collect();
    let mut liability = LiabilityBuilder::new(&program);
    liability.add(&entries);
    check_running_balances(&ledger);
    let now = engine.clock().unwrap_or_default();
    let members = engine
        .members()
        .into_iter()
        .map(|m| (m.id.to_string(), member_state(&program, m, now)))
        .collect();
    let totals = program
        .points
        .iter()
        .zip(engine.totals())
        .map(|(p, t)| (p.name.clone(), t.clone()))
        .collect();
    Run {
        ledger,
        entries,
        rejects: outcome
            .rejects
            .into_iter()
            .map(|r| (r.origin.line, r.reason))
            .collect(),
        members,
        totals,
        sales: engine.sales_by_month().clone(),
        after_until: outcome.after_until,
        afterwards: afterwards(&program, &mut engine, now),
        alone,
        liability: liability_totals(&liability.finish(now, Breakage::Program)),
    }
}

/// The months of `table` added up per points type (perk costs left out).
fn liability_totals(table: &LiabilityTable) -> BTreeMap<String, Totals> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for row in table.rows.iter().filter(|r| r.points != PERKS) {
        let t = totals.entry(row.points.clone()).or_default();
        t.issued += row.issued;
        t.spent += row.spent;
        t.expired += row.expired;
        t.reversed += row.reversed;
    }
    totals
}

/// `loyalty explain --member MEMBER` of a sorted replay of `events` (CSV,
/// as for [`run_with`]): the text it prints, without the rejects it lists
/// after it.
pub fn explain(program: &str, events: &str, member: &str) -> String {
    explain_until(program, events, member, None)
}

/// As [`explain`], through the end of `until` (as `--until DAY`) when given.
pub fn explain_until(program: &str, events: &str, member: &str, until: Option<&str>) -> String {
    let program = compile(program);
    let options = Options {
        order: Order::Sort,
        until: until.map(|day| end_of_day(&program, day)),
        strict: false,
    };
    let text = trimmed(events);
    let records = loyalty::events::read(&program, Format::Csv, text.as_bytes(), "t");
    let mut finished = loyalty::run::Run::new(&program, options)
        .explain(member)
        .replay(Box::new(records), Sinks::none())
        .unwrap();
    finished.engine.take_explanation().unwrap().render(&program)
}

/// The program's totals by points type after a replay of `events` (CSV, as
/// for [`run_with`]) as `loyalty run` makes it: members keep no totals of
/// their own (a late event's re-run then moves the program's totals by the
/// group's re-run and the replay that made its old rows again), with
/// histories folded over `fold_over` bytes when given.
pub fn program_totals(
    program: &str,
    events: &str,
    order: Order,
    until: Option<&str>,
    fold_over: Option<usize>,
) -> BTreeMap<String, Totals> {
    let program = compile(program);
    let options = Options {
        order,
        until: until.map(|day| end_of_day(&program, day)),
        strict: false,
    };
    let text = trimmed(events);
    let records = loyalty::events::read(&program, Format::Csv, text.as_bytes(), "t");
    let run = loyalty::run::Run::new(&program, options);
    let run = fold_over.map_or(run, |bytes| run.fold_histories_over(bytes));
    let finished = run.replay(Box::new(records), Sinks::none()).unwrap();
    assert!(!finished.engine.keeps_member_totals());
    program
        .points
        .iter()
        .zip(finished.engine.totals())
        .map(|(p, t)| (p.name.clone(), t.clone()))
        .collect()
}

/// The rejects (line, reason) of reading `text` in `format`, typed by `program`.
pub fn read_rejects(
    program: &str,
    format: loyalty::events::Format,
    text: &str,
) -> Vec<(usize, String)> {
    let program = compile(program);
    loyalty::events::read(&program, format, text.as_bytes(), "t")
        .filter_map(Result::err)
        .map(|r| (r.origin.line, r.reason))
        .collect()
}

/// The rows `engine` writes when its clock moves on two years from `now`.
fn afterwards(program: &Program, engine: &mut Engine, now: DateTime<Utc>) -> Vec<Row> {
    engine.advance_to(now + chrono::Duration::days(731));
    engine
        .drain_ledger()
        .iter()
        .map(|e| row(program, e))
        .collect()
}

/// `source` compiled; the test fails with its diagnostics if it does not.
/// What `loyalty check` finds in `source`, which parses.
pub fn checked(source: &str) -> Vec<loyalty::diagnostic::Diagnostic> {
    loyalty::check::check(&loyalty::syntax::parse(source).unwrap())
}

pub fn compile(source: &str) -> Program {
    match loyalty::compile::compile(source) {
        Ok((program, _warnings)) => program,
        Err(diagnostics) => panic!(
            "the test program does not compile:\n{}",
            diagnostics
                .iter()
                .map(|d| d.render("test.loyalty", source, false))
                .collect::<String>()
        ),
    }
}

/// The last instant of a local day, as the CLI reads `--until DAY`.
fn end_of_day(program: &Program, day: &str) -> DateTime<Utc> {
    day.parse::<Until>().unwrap().instant(program.timezone)
}

fn row(program: &Program, e: &Entry) -> Row {
    Row {
        kind: e.kind.name(),
        member: e.member.to_string(),
        time: calendar::rfc3339(program.timezone, e.time),
        points: e
            .points
            .map(|p| program.points[p.index()].name.clone())
            .unwrap_or_default(),
        amount: e.amount,
        balance: e.balance,
        rule: e
            .rule
            .map(|r| program.rules[r.index()].name.clone())
            .unwrap_or_default(),
        event: e.event.as_deref().unwrap_or_default().to_owned(),
        note: e.note.clone(),
        cost: e.cost,
    }
}

/// issued − spent − expired − reversed = balance, after every row: each
/// row's balance is the previous one plus its amount, except for rows that
/// change no balance (a release, a cap's cut).
fn check_running_balances(ledger: &[Row]) {
    let mut balances: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    for r in ledger.iter().filter(|r| !r.points.is_empty()) {
        let balance = balances.entry((&r.member, &r.points)).or_default();
        let moves = !matches!(r.kind, "release" | "cap_cut" | "preview");
        if moves {
            *balance += r.amount;
        }
        assert_eq!(
            *balance,
            r.balance,
            "the balance after `{}` does not add up",
            r.short()
        );
    }
}

fn member_state(
    program: &Program,
    m: &loyalty::engine::member::Member,
    now: DateTime<Utc>,
) -> MemberState {
    let tier = program
        .tiers
        .as_ref()
        .map(|t| t.tiers[m.tier()].name.clone())
        .unwrap_or_default();
    let names = program.points.iter().map(|p| p.name.clone());
    for (p, wallet) in m.wallets.iter().enumerate() {
        // The member's own totals must agree with the balance too.
        let totals = wallet.totals();
        assert!(
            totals.is_some() || wallet.balance().is_zero(),
            "member `{}` keeps no totals of `{}`",
            m.id,
            program.points[p].name
        );
        assert_eq!(
            totals.map(Totals::outstanding).unwrap_or_default(),
            wallet.balance(),
            "member `{}`: issued − spent − expired − reversed is not the balance of `{}`",
            m.id,
            program.points[p].name
        );
    }
    MemberState {
        tier,
        balances: names
            .clone()
            .zip(m.wallets.iter().map(|w| w.balance()))
            .collect(),
        pending: names
            .zip(m.wallets.iter().map(|w| w.pending(now)))
            .collect(),
        measures: loyalty::engine::current_measures(m, program, now),
    }
}
