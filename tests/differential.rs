//! Differential test (issue 20): random programs, printed and parsed back,
//! and random streams for them, run by the engine (through the public reader
//! and `loyalty::run::Run`, compared at its output files) and by the
//! reference evaluator of `tests/reference/`: every ledger row, the rejected
//! records and the members' end balances must agree.
//!
//! `PROPTEST_CASES=20000 cargo test --release --test differential` runs a
//! long campaign (docs/testing.md).

mod reference;

use chrono::{DateTime, Utc};
use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read, Format};
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Run, Sinks};
use proptest::prelude::*;
use reference::gen::{self, EventSpec, GenEvent, ProgramSpec};
use reference::{Evaluation, Outcome, Program, Row};
use rust_decimal::Decimal;
use std::str::FromStr;

/// The CSV text's records, header first, as strings.
fn records(text: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text)
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok()
}

/// What the engine writes for `source` and `events` (JSON Lines), read
/// back from its ledger, members and rejects files.
fn engine(source: &str, events: &str) -> Result<Outcome, String> {
    let (program, _) = loyalty::compile::compile(source).map_err(|d| format!("{d:?}"))?;
    let input = read(&program, Format::Jsonl, events.as_bytes(), "t");
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let mut ledger = Vec::new();
    let writer = LedgerWriter::new(&program, &mut ledger).map_err(|e| e.to_string())?;
    let Finished {
        engine,
        outcome,
        sinks,
        ..
    } = Run::new(&program, options)
        .replay(input, Sinks::to_ledger(writer))
        .map_err(|e| format!("{e:?}"))?;
    if let Some(writer) = sinks.ledger {
        writer.finish().map_err(|e| e.to_string())?;
    }
    let now = engine.clock().unwrap_or_default();
    let mut members = Vec::new();
    report::write_members(&engine, now, &mut members).map_err(|e| e.to_string())?;
    let mut rejects = Vec::new();
    report::write_rejects(&outcome.rejects, &mut rejects).map_err(|e| e.to_string())?;

    let mut result = Outcome::default();
    for r in records(&ledger).iter().skip(1) {
        let field = |i: usize| r.get(i).cloned().unwrap_or_default();
        let time = DateTime::parse_from_rfc3339(&field(2))
            .map_err(|e| format!("ledger time {}: {e}", field(2)))?
            .with_timezone(&Utc);
        result.ledger.push(Row {
            kind: field(0),
            member: field(1),
            time,
            points: field(3),
            amount: decimal(&field(4)),
            balance: decimal(&field(5)),
            rule: field(6),
            event: field(7),
        });
    }
    let members = records(&members);
    let header = members.first().cloned().unwrap_or_default();
    for m in members.iter().skip(1) {
        for (column, value) in header.iter().zip(m) {
            if let Some(points) = column.strip_suffix("_balance") {
                let id = m.first().cloned().unwrap_or_default();
                let balance = decimal(value).ok_or(format!("balance `{value}`"))?;
                result.balances.insert((id, points.to_string()), balance);
            }
        }
    }
    for r in records(&rejects).iter().skip(1) {
        let line = r.get(1).and_then(|l| l.parse().ok()).unwrap_or(0);
        result.rejected.insert(line);
    }
    Ok(result)
}

/// A ledger for a failure message: one row a line.
fn listing(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} {} {:?} ={:?} {} {}\n",
                r.kind, r.member, r.time, r.points, r.amount, r.balance, r.rule, r.event
            )
        })
        .collect()
}

/// One generated case: the program through print ∘ parse and `check`, the
/// stream resolved, then engine and reference compared.
fn case(spec: &ProgramSpec, stream: &[EventSpec]) -> Result<(), TestCaseError> {
    let tree = spec.build();
    let text = loyalty::syntax::print(&tree);
    let parsed = loyalty::syntax::parse(&text)
        .map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.message)))?;
    prop_assert_eq!(
        &parsed,
        &tree,
        "parse(print(tree)) is not the tree:\n{}",
        text
    );
    let errors: Vec<String> = loyalty::check::check(&parsed)
        .into_iter()
        .filter(loyalty::diagnostic::Diagnostic::is_error)
        .map(|d| d.message)
        .collect();
    prop_assert!(errors.is_empty(), "check refused:\n{text}\n{errors:?}");

    let program = Program::new(&parsed);
    let points = spec.points();
    let precisions: Vec<u32> = points.iter().map(|p| program.precision(p)).collect();
    let mut balance = |before: &[GenEvent], member: &str, points: &str, time| {
        let mut evaluation = Evaluation::new(&program);
        evaluation.apply_all(before);
        evaluation.available(member, points, time)
    };
    let events = gen::resolve(stream, &points, &precisions, &mut balance);
    let jsonl = gen::jsonl(&events);
    let expected = Evaluation::new(&program).run(&events);
    let actual = engine(&text, &jsonl).map_err(TestCaseError::fail)?;
    let context = format!("program:\n{text}\nevents:\n{jsonl}");
    if actual.ledger != expected.ledger {
        let first = actual
            .ledger
            .iter()
            .zip(&expected.ledger)
            .position(|(a, e)| a != e)
            .unwrap_or(actual.ledger.len().min(expected.ledger.len()));
        return Err(TestCaseError::fail(format!(
            "ledgers differ from row {first}\nengine:\n{}reference:\n{}{context}",
            listing(&actual.ledger),
            listing(&expected.ledger)
        )));
    }
    prop_assert_eq!(
        &actual.rejected,
        &expected.rejected,
        "rejected lines\n{}",
        context
    );
    prop_assert_eq!(
        &actual.balances,
        &expected.balances,
        "end balances\n{}",
        context
    );
    Ok(())
}

proptest! {
    // The default config: 256 cases, or PROPTEST_CASES.
    #[test]
    fn engine_agrees_with_the_reference(spec in gen::program(), stream in gen::stream()) {
        case(&spec, &stream)?;
    }
}
