//! A library run of a program whose members share budgets alone, into a
//! ledger that cannot start over (`LedgerWriter::starting_over`), holds its
//! shards' lines in a temporary file; without a temporary folder to hold
//! them in, it is done again on one engine. A binary of its own: it points
//! the temporary folder elsewhere for the whole process.

use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read, Format};
use loyalty::report::LedgerWriter;
use loyalty::run::{Records, Run, Sinks};
use std::convert::Infallible;

#[test]
fn shards_that_cannot_hold_the_ledger_aside_are_run_again_on_one_engine() {
    let programs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let source = std::fs::read_to_string(programs.join("northwind_miles.loyalty")).unwrap();
    let events = std::fs::read_to_string(programs.join("northwind_miles.events.csv")).unwrap();
    let (program, _) = loyalty::compile::compile(&source).unwrap();
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let open = || {
        let records = read(&program, Format::Csv, events.as_bytes(), "events.csv");
        Ok::<_, Infallible>(Box::new(records) as Records)
    };
    let ledger_on = |threads: usize| {
        let mut buffer = Vec::new();
        let sinks = Sinks::to_ledger(LedgerWriter::new(&program, &mut buffer).unwrap());
        let finished = Run::new(&program, options)
            .threads(threads)
            .replay_read(&open, sinks)
            .unwrap();
        let one_thread = finished.one_thread;
        finished.sinks.ledger.unwrap().finish().unwrap();
        (String::from_utf8(buffer).unwrap(), one_thread)
    };
    let (one, _) = ledger_on(1);
    let (held, one_thread) = ledger_on(2);
    assert_eq!((&held, one_thread), (&one, None), "held aside");
    let nowhere = tempfile::tempdir().unwrap().path().join("no such folder");
    std::env::set_var("TMPDIR", &nowhere);
    let (again, one_thread) = ledger_on(2);
    assert_eq!(
        one_thread,
        Some("the ledger's lines could not be held in a temporary file, so the run was done again")
    );
    assert_eq!(again, one);
}
