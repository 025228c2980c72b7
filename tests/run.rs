//! `loyalty::run::Run` chooses the thread mode inside: one thread; records
//! read ahead and members dealt into shards; or, for a program whose
//! members cannot be split (or with `strict`), events applied on one thread
//! while others read (and, from three threads, write). Every mode writes
//! the same ledger and ends in the same state, tested here without the
//! binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use loyalty::compile::Program;
use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read, Format};
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
        Ok(Box::new(read(
            program,
            Format::Csv,
            BufReader::new(file),
            "events.csv",
        )))
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
    } = Run::new(program, options)
        .threads(threads)
        .replay_read(&open, sinks)
        .unwrap();
    sinks.ledger.unwrap().finish().unwrap();
    let now = engine.clock().unwrap_or_default();
    let mut members = Vec::new();
    report::write_members(&engine, now, &mut members).unwrap();
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
    // airline pools miles: applied on one thread, read (and written) on
    // others.
    for (name, splits) in [("bean_stars", true), ("northwind_miles", false)] {
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
