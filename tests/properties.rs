//! Properties of `loyalty run`'s files on the differential test's generated
//! programs and streams (issue 20, item 3), each run through the command
//! itself (`loyalty run PROGRAM EVENTS.jsonl --out DIR --report liability`,
//! sorted and with `--stream`), its files read back:
//!
//! - `--stream` of the records in an order with late events (and late
//!   enrolments) ends where the sorted replay of the same file ends, when
//!   the contract says the two agree: [`streamed_late_events_end_as_sorted`];
//! - the balance equation at every ledger row, and at the end in
//!   members.csv: [`every_row_balance_is_the_sum_of_the_amounts`];
//! - liability.csv and summary.json are the ledger's sums:
//!   [`liability_and_summary_are_the_ledgers_sums`].
//!
//! `PROPTEST_CASES=1000 cargo test --release --test properties` runs a
//! longer campaign (docs/testing.md).

// The reference evaluator is the differential test's; only its generators
// (and the balances that resolve their streams) are used here.
#[allow(dead_code)]
mod generated;
#[allow(dead_code)]
mod reference;
mod support;

use chrono::NaiveDate;
use generated::{decimal, records, Case};
use loyalty::syntax::ast::{File, Item, RuleStmt};
use proptest::prelude::*;
use proptest::sample::Index;
use reference::gen::{self, GenEvent};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `ledger.csv`'s columns (src/report/mod.rs), in order.
const LEDGER: [&str; 11] = [
    "kind", "member", "time", "points", "amount", "balance", "rule", "event", "cost", "note",
    "earned",
];

/// The note of a row written to undo an earlier one (src/engine/late.rs).
const UNDONE: &str = "undone for late event ";

/// One row of `ledger.csv`, its fields by name.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    kind: String,
    member: String,
    time: String,
    points: String,
    amount: Option<Decimal>,
    balance: Option<Decimal>,
    rule: String,
    event: String,
    cost: Option<Decimal>,
    note: String,
    earned: String,
}

impl Line {
    fn undoes(&self) -> bool {
        self.note.starts_with(UNDONE)
    }

    /// Whether it moves its member's balance: a release and a cap's cut
    /// change none (docs/finance.md), nor does a preview rule's row.
    fn moves(&self) -> bool {
        !matches!(self.kind.as_str(), "release" | "cap_cut" | "preview")
    }

    /// The row as one line of a failure message.
    fn short(&self) -> String {
        format!(
            "{} {} {} {} {:?} ={:?} {} {} {}",
            self.kind,
            self.member,
            self.time,
            self.points,
            self.amount,
            self.balance,
            self.rule,
            self.event,
            self.note
        )
    }
}

/// What one `loyalty run` wrote.
struct Files {
    ledger: Vec<Line>,
    /// members.csv: the header, then a record a member.
    members: Vec<Vec<String>>,
    /// The records rejects.csv lists: (line, reason).
    rejected: BTreeSet<(usize, String)>,
    liability: Vec<Vec<String>>,
    summary: serde_json::Value,
}

impl Files {
    /// members.csv's `column` of each member, as numbers: `(member, value)`.
    fn member_column(&self, column: &str) -> Result<Vec<(String, Decimal)>, TestCaseError> {
        let header = self.members.first().cloned().unwrap_or_default();
        let Some(at) = header.iter().position(|c| c == column) else {
            return Err(TestCaseError::fail(format!(
                "members.csv has no `{column}`: {header:?}"
            )));
        };
        self.members
            .iter()
            .skip(1)
            .map(|m| {
                let value = m.get(at).map(String::as_str).unwrap_or_default();
                let value = decimal(value).ok_or(TestCaseError::fail(format!(
                    "members.csv {column} `{value}`"
                )))?;
                Ok((m.first().cloned().unwrap_or_default(), value))
            })
            .collect()
    }
}

fn failed(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

/// `loyalty run` of `program` over `events` (JSON Lines, in this order),
/// sorted or `--stream`, through `--until` the day when given, with the
/// liability report, in a folder of its own under `dir`.
fn run(
    dir: &Path,
    program: &str,
    events: &[GenEvent],
    stream: bool,
    until: Option<NaiveDate>,
) -> Result<Files, TestCaseError> {
    let name = if stream { "streamed" } else { "sorted" };
    let source = dir.join(format!("{name}.loyalty"));
    let input = dir.join(format!("{name}.jsonl"));
    let out = dir.join(name);
    std::fs::write(&source, program).map_err(failed)?;
    std::fs::write(&input, gen::jsonl(events)).map_err(failed)?;
    let path = |p: &Path| p.display().to_string();
    let mut args = vec![
        "run".to_string(),
        path(&source),
        path(&input),
        "--out".to_string(),
        path(&out),
        "--report".to_string(),
        "liability".to_string(),
    ];
    if stream {
        args.push("--stream".into());
    }
    if let Some(day) = until {
        args.push("--until".into());
        args.push(day.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = support::loyalty(&args);
    if !output.status.success() {
        return Err(failed(format!(
            "loyalty {args:?}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let read = |file: &str| std::fs::read(out.join(file)).map_err(failed);
    let ledger = records(&read("ledger.csv")?);
    let header: Vec<&str> = ledger
        .first()
        .map(|h| h.iter().map(String::as_str).collect())
        .unwrap_or_default();
    prop_assert_eq!(&header[..], &LEDGER[..], "ledger.csv's columns");
    let ledger = ledger
        .iter()
        .skip(1)
        .map(|r| {
            let field = |i: usize| r.get(i).cloned().unwrap_or_default();
            Line {
                kind: field(0),
                member: field(1),
                time: field(2),
                points: field(3),
                amount: decimal(&field(4)),
                balance: decimal(&field(5)),
                rule: field(6),
                event: field(7),
                cost: decimal(&field(8)),
                note: field(9),
                earned: field(10),
            }
        })
        .collect();
    let rejected = records(&read("rejects.csv")?)
        .iter()
        .skip(1)
        .map(|r| {
            let line = r.get(1).and_then(|l| l.parse().ok()).unwrap_or(0);
            (line, r.get(4).cloned().unwrap_or_default())
        })
        .collect();
    Ok(Files {
        ledger,
        members: records(&read("members.csv")?),
        rejected,
        liability: records(&read("liability.csv")?),
        summary: serde_json::from_slice(&read("summary.json")?).map_err(failed)?,
    })
}

/// The program and stream, for a failure message.
fn context(program: &str, events: &[GenEvent], until: Option<NaiveDate>) -> String {
    format!(
        "program:\n{program}\nevents:\n{}until: {until:?}\n",
        gen::jsonl(events)
    )
}

fn listing(rows: &[Line]) -> String {
    rows.iter().map(|r| r.short() + "\n").collect()
}

// ------------------------------------------------------------------ stream

/// `tree` without its `budget` lines, printed: docs/semantics.md, Late
/// events, excepts a program-wide budget from the streamed run's ending as
/// the sorted one does (a budget goes to whoever came first).
fn without_budgets(tree: &File) -> String {
    let mut tree = tree.clone();
    for item in &mut tree.items {
        if let Item::Rule(rule) = item {
            rule.stmts
                .retain(|s| !matches!(s.node, RuleStmt::Budget { .. }));
        }
    }
    loyalty::syntax::print(&tree)
}

/// `events` in the order generated (`shuffled`: in no time order, most
/// records late) or in time order, then with each `(record, by)` of
/// `moves` sending a record later, in turn: taken out and put back
/// anywhere after where it was, it comes after records timed after it.
fn moved(events: &[GenEvent], shuffled: bool, moves: &[(Index, Index)]) -> Vec<GenEvent> {
    let mut events = events.to_vec();
    if !shuffled {
        events.sort_by_key(|e| e.time);
    }
    for (record, by) in moves {
        if events.is_empty() {
            break;
        }
        let from = record.index(events.len());
        let late = events.remove(from);
        let to = from + by.index(events.len() - from + 1);
        events.insert(to, late);
    }
    events
}

/// Each member's rows of `ledger` as they stand once every undone row has
/// cancelled the row it undoes: docs/semantics.md, Late events, "the old
/// rows are undone, newest first ... then the re-run's rows from that point
/// are written". An undo row must undo its member's newest row still
/// standing (the same kind, time, points type, rule and event, its amount
/// negated, its balance the one before that row).
fn standing(ledger: &[Line]) -> Result<BTreeMap<&str, Vec<&Line>>, TestCaseError> {
    let mut members: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for (i, row) in ledger.iter().enumerate() {
        let rows = members.entry(&row.member).or_default();
        if !row.undoes() {
            rows.push(row);
            continue;
        }
        let undone = rows
            .pop()
            .ok_or(failed(format!("row {i} undoes nothing: {}", row.short())))?;
        let before = rows
            .iter()
            .rev()
            .find(|r| r.points == undone.points)
            .and_then(|r| r.balance)
            .unwrap_or_default();
        let same = undone.kind == row.kind
            && undone.time == row.time
            && undone.points == row.points
            && undone.rule == row.rule
            && undone.event == row.event
            && row.amount == undone.amount.map(|a| -a)
            && (undone.points.is_empty() || row.balance == Some(before));
        prop_assert!(
            same,
            "row {} ({}) does not undo the member's newest row standing ({})",
            i,
            row.short(),
            undone.short()
        );
    }
    Ok(members)
}

/// docs/semantics.md, Late events: "When no other record is rejected
/// differently, the members end as the sorted replay leaves them ...
/// except with a program-wide `budget`", and "the totals are the members'
/// totals". So, for the program without its budgets, `--stream` of the
/// generated records in time order with a few of them sent later (one in
/// ten in the order generated, in no time order at all), when it
/// rejects the records the sorted replay rejects, for the same reasons (a
/// return of another member's purchase sent before that member's
/// enrolment is rejected as of an unknown member, which does not move the
/// clock, where sorted it is rejected as naming a purchase the member does
/// not have, which does: semantics.md, Events): members.csv is the same
/// and so are summary.json's totals per points type (numbers as numbers:
/// a redemption cancelled leaves `spent` at `0.0` sorted and at `0` when
/// re-run, which the contract does not tell apart); and each
/// member's ledger rows, with every undone row cancelling the row it
/// undoes, are the sorted replay's rows of that member, column for column
/// (the re-run's rows are written "with their own times"). Cases whose
/// rejects differ (a late event that would make a later one fail, a record
/// sent before its member's enrolment) are not compared: the contract
/// promises nothing for them.
fn streamed_late_events_end_as_sorted(
    case: &Case,
    (shuffled, moves): (bool, &[(Index, Index)]),
    until: Option<NaiveDate>,
) -> Result<(), TestCaseError> {
    let program = without_budgets(&case.tree);
    let events = moved(&case.events, shuffled, moves);
    let dir = tempfile::tempdir().map_err(failed)?;
    let sorted = run(dir.path(), &program, &events, false, until)?;
    let streamed = run(dir.path(), &program, &events, true, until)?;
    if streamed.rejected != sorted.rejected {
        return Ok(());
    }
    let context = context(&program, &events, until);
    // Numbers compare as numbers: a total spent and given back is `0.0`
    // one way and `0` the other.
    let cell = |c: &str| decimal(c).map_or(c.to_string(), |d| d.normalize().to_string());
    let members = |f: &Files| -> Vec<Vec<String>> {
        f.members
            .iter()
            .map(|m| m.iter().map(|c| cell(c)).collect())
            .collect()
    };
    prop_assert_eq!(
        members(&streamed),
        members(&sorted),
        "members.csv streamed and sorted\n{}",
        context
    );
    let totals = |f: &Files| -> Vec<Vec<String>> {
        let listed = f
            .summary
            .pointer("/points")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        listed
            .iter()
            .map(|p| {
                let fields = p.as_object().cloned().unwrap_or_default();
                fields
                    .iter()
                    .map(|(k, v)| format!("{k} {}", cell(v.as_str().unwrap_or(&v.to_string()))))
                    .collect()
            })
            .collect()
    };
    prop_assert_eq!(
        totals(&streamed),
        totals(&sorted),
        "summary.json's totals streamed and sorted\n{}",
        context
    );
    let mut by_member: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for row in &sorted.ledger {
        by_member.entry(&row.member).or_default().push(row);
    }
    let standing = standing(&streamed.ledger).map_err(|e| {
        failed(format!(
            "{e}\nstreamed:\n{}{context}",
            listing(&streamed.ledger)
        ))
    })?;
    for (member, rows) in &by_member {
        let stood = standing.get(member).cloned().unwrap_or_default();
        prop_assert!(
            stood == *rows,
            "{}'s rows streamed, undone rows cancelled:\n{}sorted:\n{}streamed ledger:\n{}{}",
            member,
            listing(&stood.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
            listing(&rows.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
            listing(&streamed.ledger),
            context
        );
    }
    for (member, rows) in &standing {
        prop_assert!(
            rows.is_empty() || by_member.contains_key(member),
            "{} has rows streamed and none sorted\n{}",
            member,
            context
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ balances

/// docs/semantics.md, Late events: "Every row's balance is still the
/// previous balance of that member and points type plus its amount" (a
/// release, a cap's cut and a preview row change no balance: the balance
/// they carry is the one before them). So at every row of `files`' ledger
/// (sorted, or streamed with undone rows), the balance column is the sum
/// of the signed amounts of the member's rows of that points type so far,
/// kind by kind: issued (`earn`, `pend`, `adjust`, `redeem_cancel`) less
/// spent, expired and reversed; and members.csv's `P_balance` is the last
/// of them (0 for a member with no row of P).
fn balance_equation(checked: &Checked) -> Result<(), TestCaseError> {
    let Checked {
        files,
        points,
        context,
        ..
    } = *checked;
    // (member, points type) → kind → the sum of its amounts so far.
    let mut sums: BTreeMap<(&str, &str), BTreeMap<&str, Decimal>> = BTreeMap::new();
    for (i, row) in files.ledger.iter().enumerate() {
        if row.points.is_empty() {
            prop_assert!(
                row.amount.is_none() && row.balance.is_none(),
                "row {} has an amount but no points type: {}",
                i,
                row.short()
            );
            continue;
        }
        let (Some(amount), Some(balance)) = (row.amount, row.balance) else {
            return Err(failed(format!("row {i} without a number: {}", row.short())));
        };
        let kinds = sums.entry((&row.member, &row.points)).or_default();
        if row.moves() {
            *kinds.entry(&row.kind).or_default() += amount;
        }
        let held: Decimal = kinds.values().sum();
        prop_assert_eq!(
            held,
            balance,
            "row {}: {} (the amounts so far by kind: {:?})\n{}{}",
            i,
            row.short(),
            kinds,
            listing(&files.ledger),
            context
        );
    }
    for p in points {
        for (member, balance) in files.member_column(&format!("{p}_balance"))? {
            let held: Decimal = sums
                .get(&(member.as_str(), *p))
                .map(|k| k.values().sum())
                .unwrap_or_default();
            prop_assert_eq!(
                held,
                balance,
                "members.csv: {}'s {} balance\n{}{}",
                member,
                p,
                listing(&files.ledger),
                context
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ finance

/// Issued, spent, expired and reversed, as liability.csv's columns.
type Flows = [Decimal; 4];

/// Their names, in liability.csv and summary.json.
const FLOWS: [&str; 4] = ["issued", "spent", "expired", "reversed"];

/// Where a ledger row counts in liability.csv (docs/finance.md): `earn`
/// and `pend` issued; `spend` spent and `redeem_cancel` against it;
/// `expire` expired; `reverse` reversed; an `adjust` credit issued and a
/// debit reversed (undone, each negated where it counted); the rest (a
/// release, a cap's cut, tier and preview rows) nowhere. Amounts are
/// signed in the ledger and positive in the table.
fn flows(row: &Line) -> Flows {
    let a = row.amount.unwrap_or_default();
    let z = Decimal::ZERO;
    match row.kind.as_str() {
        "earn" | "pend" => [a, z, z, z],
        "spend" | "redeem_cancel" => [z, -a, z, z],
        "expire" => [z, z, -a, z],
        "reverse" => [z, z, z, -a],
        "adjust" if (a > z) != row.undoes() => [a, z, z, z],
        "adjust" => [z, z, z, -a],
        _ => [z; 4],
    }
}

/// A number of liability.csv or summary.json: a JSON number or string.
fn number(value: &serde_json::Value) -> Option<Decimal> {
    match value {
        serde_json::Value::String(s) => decimal(s),
        serde_json::Value::Number(n) => decimal(&n.to_string()),
        _ => None,
    }
}

/// docs/finance.md: liability.csv has a row per month (in the program's
/// zone: the month the ledger's local time names) and points type, from the
/// month of the first ledger row through the month of `--until` or the
/// last event, whose issued, spent, expired and reversed are the month's
/// ledger rows added up by kind, and whose outstanding is the previous
/// month's plus issued less the rest; summary.json's totals per points type
/// are the ledger's (outstanding is the sum of members.csv's balances, and
/// the last month's outstanding; pending is the sum of members.csv's
/// pending), and its counts add up: read = applied + rejected + after
/// `--until`, rejected = rejects.csv's records.
fn ledger_sums(checked: &Checked) -> Result<(), TestCaseError> {
    let Checked {
        files,
        points,
        context,
        read,
        perks,
    } = *checked;
    let mut months: BTreeMap<(&str, &str), Flows> = BTreeMap::new();
    for row in &files.ledger {
        let month = row.time.get(..7).unwrap_or_default();
        let sums = months.entry((month, &row.points)).or_default();
        for (sum, flow) in sums.iter_mut().zip(flows(row)) {
            *sum += flow;
        }
    }
    let first = months.keys().map(|(m, _)| *m).min();
    let last = months.keys().map(|(m, _)| *m).max();
    let table = files.liability.iter().skip(1);
    let mut outstanding: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut totals: BTreeMap<&str, Flows> = BTreeMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for row in table {
        let field = |i: usize| row.get(i).map(String::as_str).unwrap_or_default();
        let (month, p) = (field(0), field(1));
        if seen.last() != Some(&month) {
            seen.push(month);
        }
        let want = months.get(&(month, p)).copied().unwrap_or_default();
        let got: Vec<Option<Decimal>> = (2..6).map(|i| decimal(field(i))).collect();
        prop_assert_eq!(
            got,
            want.map(Some).to_vec(),
            "liability.csv {} {}: issued, spent, expired, reversed\n{}{}",
            month,
            p,
            listing(&files.ledger),
            context
        );
        let held = outstanding.entry(p).or_default();
        *held += want[0] - want[1] - want[2] - want[3];
        prop_assert_eq!(
            decimal(field(6)),
            Some(*held),
            "liability.csv {} {}: outstanding\n{}",
            month,
            p,
            context
        );
        let total = totals.entry(p).or_default();
        for (t, w) in total.iter_mut().zip(want) {
            *t += w;
        }
    }
    // The months: the first row's, every one after it, through at least
    // the last row's, each with every points type.
    prop_assert_eq!(
        seen.first().copied(),
        first,
        "liability.csv's first month\n{}",
        context
    );
    prop_assert!(
        seen.last().copied() >= last,
        "liability.csv ends at {:?}, before the ledger's last month {:?}\n{}",
        seen.last(),
        last,
        context
    );
    for pair in seen.windows(2) {
        let next = |m: &str| -> Option<String> {
            let (y, n) = m.split_once('-')?;
            let (y, n): (i32, u32) = (y.parse().ok()?, n.parse().ok()?);
            Some(if n == 12 {
                format!("{}-01", y + 1)
            } else {
                format!("{y}-{:02}", n + 1)
            })
        };
        let after = pair.first().and_then(|m| next(m));
        prop_assert_eq!(
            after.as_deref(),
            pair.get(1).copied(),
            "liability.csv skips a month\n{}",
            context
        );
    }
    prop_assert_eq!(
        files.liability.len().saturating_sub(1),
        seen.len() * (points.len() + usize::from(perks)),
        "liability.csv: a row per month and points type (and perks)\n{}",
        context
    );
    // summary.json
    let summary = &files.summary;
    let listed = summary
        .pointer("/points")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    prop_assert_eq!(listed.len(), points.len(), "summary.json's points types");
    for (entry, p) in listed.iter().zip(points) {
        prop_assert_eq!(entry.get("points"), Some(&serde_json::json!(p)));
        let total = totals.get(p).copied().unwrap_or_default();
        let held: Decimal = files
            .member_column(&format!("{p}_balance"))?
            .iter()
            .map(|(_, b)| *b)
            .sum();
        let pending: Decimal = files
            .member_column(&format!("{p}_pending"))?
            .iter()
            .map(|(_, b)| *b)
            .sum();
        let got: Vec<Option<Decimal>> = FLOWS
            .iter()
            .chain(&["outstanding", "pending"])
            .map(|k| entry.get(*k).and_then(number))
            .collect();
        let last = outstanding.get(p).copied().unwrap_or_default();
        prop_assert_eq!(
            last,
            held,
            "liability.csv's last outstanding {} is not the members' balances\n{}",
            p,
            context
        );
        let want = [total[0], total[1], total[2], total[3], held, pending];
        prop_assert_eq!(
            got,
            want.map(Some).to_vec(),
            "summary.json {}: issued, spent, expired, reversed, outstanding, pending\n{}{}",
            p,
            listing(&files.ledger),
            context
        );
    }
    let count = |k: &str| {
        let at = format!("/events/{k}");
        summary
            .pointer(&at)
            .and_then(|n| n.as_u64())
            .unwrap_or(u64::MAX)
    };
    prop_assert_eq!(count("read"), read as u64, "summary.json: read");
    prop_assert_eq!(
        count("applied") + count("rejected") + count("after_until"),
        count("read"),
        "summary.json: read = applied + rejected + after_until\n{}",
        context
    );
    prop_assert_eq!(
        count("rejected"),
        files.rejected.len() as u64,
        "summary.json: rejected"
    );
    Ok(())
}

/// One run's files, as a property checks them.
#[derive(Clone, Copy)]
struct Checked<'a> {
    files: &'a Files,
    /// The program's points types.
    points: &'a [&'a str],
    /// The program, the stream and the run, for a failure message.
    context: &'a str,
    /// How many records the stream has.
    read: usize,
    /// Whether the program has perks: liability.csv then has a `(perks)`
    /// row a month, their cost.
    perks: bool,
}

/// The generated program run sorted and streamed (the records in the
/// order generated, most of them late), each run's files checked by
/// `check`.
fn both_runs(
    (spec, stream, until): &generated::Inputs,
    check: fn(&Checked) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let case = generated::case(spec, stream)?;
    let dir = tempfile::tempdir().map_err(failed)?;
    let context = context(&case.text, &case.events, *until);
    for stream in [false, true] {
        let files = run(dir.path(), &case.text, &case.events, stream, *until)?;
        check(&Checked {
            files: &files,
            points: &spec.points(),
            context: &format!("stream: {stream}\n{context}"),
            read: case.events.len(),
            perks: case
                .tree
                .items
                .iter()
                .any(|item| matches!(item, loyalty::syntax::ast::Item::Perk(_))),
        })?;
    }
    Ok(())
}

proptest! {
    // The default config: 256 cases, or PROPTEST_CASES.

    #[test]
    fn streamed_late_events_end_where_the_sorted_replay_ends(
        (spec, stream, until) in generated::inputs(),
        shuffled in proptest::bool::weighted(0.1),
        moves in proptest::collection::vec((any::<Index>(), any::<Index>()), 1..4),
    ) {
        let case = generated::case(&spec, &stream)?;
        streamed_late_events_end_as_sorted(&case, (shuffled, &moves), until)?;
    }

    #[test]
    fn every_row_balance_is_the_sum_of_the_amounts(inputs in generated::inputs()) {
        both_runs(&inputs, balance_equation)?;
    }

    #[test]
    fn liability_and_summary_are_the_ledgers_sums(inputs in generated::inputs()) {
        both_runs(&inputs, ledger_sums)?;
    }
}
