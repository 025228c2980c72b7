//! `loyalty::run::Run` chooses the thread mode inside: one thread; records
//! read ahead and members dealt into shards (kept, for a program whose
//! members share budgets alone, if every budget held); or, for a program
//! whose members cannot be split (or with `strict`), events applied on one thread
//! while others read (and, from three threads, write). Every mode writes
//! the same ledger and ends in the same state, tested here without the
//! binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use loyalty::compile::Program;
use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read_on, Format};
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Run, RunError, Sinks};
use std::io::BufReader;
use support::{example, programs};

/// The sample events of `name` replayed with `threads` threads (read ahead
/// from the file when more than one): the ledger, members and summary
/// written, and why the events were applied on one thread, if they were.
fn replayed(
    program: &Program,
    name: &str,
    threads: usize,
    strict: bool,
) -> (String, Option<&'static str>) {
    let path = programs().join(format!("{name}.events.csv"));
    let open = || -> Result<loyalty::run::Records<'_>, std::io::Error> {
        let file = std::fs::File::open(&path)?;
        Ok(read_on(
            program,
            Format::Csv,
            BufReader::new(file),
            "events.csv",
            threads,
        ))
    };
    let options = Options {
        order: Order::Sort,
        until: None,
        strict,
    };
    let mut ledger = Vec::new();
    let sinks = Sinks::to_ledger(LedgerWriter::new(program, &mut ledger).unwrap());
    let Finished {
        engine,
        outcome,
        sinks,
        one_thread,
        ..
    } = Run::new(program, options)
        .threads(threads)
        .replay_read(&open, sinks)
        .unwrap();
    sinks.ledger.unwrap().finish().unwrap();
    let now = engine.clock().unwrap_or_default();
    let mut members = Vec::new();
    report::write_members_on(&engine, now, &mut members, threads).unwrap();
    let summary = report::summary(&engine, &outcome, now);
    let text = format!(
        "{}\n{}\n{}",
        String::from_utf8(ledger).unwrap(),
        String::from_utf8(members).unwrap(),
        serde_json::to_string(&summary).unwrap()
    );
    (text, one_thread)
}

#[test]
fn every_thread_mode_writes_what_one_thread_writes() {
    // Coffee shop members never touch each other's points: sharded. The
    // airline's share a budget alone, which holds: sharded too. The
    // hotels' pool points: applied on one thread, read (and written) on
    // others.
    let samples = [
        ("bean_stars", true),
        ("northwind_miles", true),
        ("harbor_hotels", false),
    ];
    for (name, splits) in samples {
        let (program, _) = example(name);
        let (one, note) = replayed(&program, name, 1, false);
        assert_eq!(note, None);
        for threads in [2, 3, 4] {
            let (many, note) = replayed(&program, name, threads, false);
            assert_eq!(many, one, "{name} on {threads} threads");
            assert_eq!(note.is_none(), splits, "{name}: {note:?}");
        }
    }
}

#[test]
fn strict_is_applied_on_one_thread_and_says_why() {
    let (program, _) = example("bean_stars");
    let (one, _) = replayed(&program, "bean_stars", 1, true);
    let (three, note) = replayed(&program, "bean_stars", 3, true);
    assert_eq!(three, one);
    assert_eq!(
        note,
        Some("--strict stops at the first reject in input order")
    );
}

#[test]
fn records_that_cannot_be_opened_are_the_callers_error() {
    let (program, _) = example("bean_stars");
    let open = || -> Result<loyalty::run::Records<'_>, &str> { Err("no such file") };
    let options = Options {
        order: Order::Stream,
        until: None,
        strict: false,
    };
    for threads in [1, 2] {
        let result = Run::new(&program, options)
            .threads(threads)
            .replay_read(&open, Sinks::none());
        assert!(matches!(result, Err(RunError::Open("no such file"))));
    }
}

/// The rejects (line, id, reason) and ledger of a sorted run of `events`
/// with `threads` threads, rows typed aside as `loyalty run` types them.
fn rejects_and_ledger(program: &Program, events: &str, threads: usize) -> (Vec<String>, String) {
    let open = || -> Result<loyalty::run::Records<'_>, std::io::Error> {
        Ok(read_on(
            program,
            Format::Csv,
            events.as_bytes(),
            "events.csv",
            threads,
        ))
    };
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let mut ledger = Vec::new();
    let sinks = Sinks::to_ledger(LedgerWriter::new(program, &mut ledger).unwrap());
    let Finished { outcome, sinks, .. } = Run::new(program, options)
        .threads(threads)
        .replay_read(&open, sinks)
        .unwrap();
    sinks.ledger.unwrap().finish().unwrap();
    let rejects = outcome
        .rejects
        .iter()
        .map(|r| format!("{} {:?} {}", r.origin.line, r.id, r.reason))
        .collect();
    (rejects, String::from_utf8(ledger).unwrap())
}

#[test]
fn malformed_records_are_the_same_rejects_in_the_same_order_on_any_thread_count() {
    // More rows than the reader types at a time (4,096), with records that
    // do not read (an unknown type, a cell too many, an amount or a time
    // that is not one) on both sides of those batches' edges, records
    // rejected across members (a copy of an id) or by a member's shard (a
    // member never enrolled, a return of no purchase), and a quote never
    // closed near the end.
    let (program, _) = example("bean_stars");
    let mut events = String::from(
        "id,time,member,type,amount,channel,category,birthday,of,reward,points,points_type,perk\n",
    );
    for m in 0..40 {
        events.push_str(&format!(
            "en{m},2025-01-01T08:00:00,m{m},enroll,,,,1990-03-10,,,,,\n"
        ));
    }
    for i in 0..9_000 {
        let (m, minute) = (i % 40, i % 60);
        let time = format!("2025-02-{:02}T09:{minute:02}:00", 1 + i / 400);
        let row = match i {
            3 | 4_100 | 8_150 => format!("p{i},{time},m{m},purchse,4.95,store,coffee,,,,,,\n"),
            4_050 | 4_060 => format!("p{i},{time},m{m},purchase,4.95,store,coffee,,,,,,,\n"),
            4_053 | 8_100 => format!("p{i},{time},m{m},purchase,four,store,coffee,,,,,,\n"),
            4_055 => format!("p{i},2025-02-30T09:00:00,m{m},purchase,4.95,store,coffee,,,,,,\n"),
            5_000 | 8_120 => format!("p{},{time},m{m},purchase,4.95,store,coffee,,,,,,\n", i - 1),
            6_000 => format!("p{i},{time},nobody,purchase,4.95,store,coffee,,,,,,\n"),
            7_000 => format!("p{i},{time},m{m},return,1.00,,,,nothing,,,,\n"),
            _ => format!("p{i},{time},m{m},purchase,4.95,store,coffee,,,,,,\n"),
        };
        events.push_str(&row);
    }
    events.push_str("q1,2025-03-01T09:00:00,m1,\"purchase,4.95,store,coffee,,,,,,\nq2,2025-03-01T09:00:00,m1,purchase,1,,,,,,,,\n");
    let (one, ledger) = rejects_and_ledger(&program, &events, 1);
    assert_eq!(one.len(), 13, "{one:#?}");
    for threads in [2, 3] {
        let (many, many_ledger) = rejects_and_ledger(&program, &events, threads);
        assert_eq!(many, one, "{threads} threads");
        assert!(many_ledger == ledger, "the ledger on {threads} threads");
    }
}
