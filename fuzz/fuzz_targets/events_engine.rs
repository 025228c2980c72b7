//! Fuzzes the event readers and the engine: the first byte picks one of the
//! example programs, the second the format (CSV, JSON Lines, YAML), the
//! third the order (sorted or streamed, with or without `--until`); the rest
//! is the event file. Every record is read (or rejected with a reason),
//! replayed, the summary and members' end state written, and the balance
//! equation must hold: per points type, what the totals say is outstanding
//! is what the members hold. A panic, a hang or a broken equation is a
//! finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loyalty::compile::{compile, Program};
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::run::{Finished, Run, Sinks};
use loyalty::events::{self, Format};
use rust_decimal::Decimal;
use std::sync::LazyLock;

const PROGRAMS: [&str; 5] = [
    include_str!("../../programs/bean_stars.loyalty"),
    include_str!("../../programs/cartwheel.loyalty"),
    include_str!("../../programs/harbor_hotels.loyalty"),
    include_str!("../../programs/meridian_cards.loyalty"),
    include_str!("../../programs/northwind_miles.loyalty"),
];

static COMPILED: LazyLock<Vec<Program>> = LazyLock::new(|| {
    PROGRAMS
        .iter()
        .map(|source| compile(source).expect("the example programs compile").0)
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let [program, format, order, events @ ..] = data else {
        return;
    };
    let program = &COMPILED[usize::from(*program) % COMPILED.len()];
    let format = [Format::Csv, Format::Jsonl, Format::Yaml][usize::from(*format) % 3];
    let until = (order & 2 != 0).then(|| {
        "2027-06-30"
            .parse::<Until>()
            .expect("a day")
            .instant(program.timezone)
    });
    let options = Options {
        order: if order & 1 == 0 { Order::Sort } else { Order::Stream },
        until,
        strict: false,
    };
    let records = events::read(program, format, events, "fuzz");
    let Finished {
        engine, outcome, ..
    } = Run::new(program, options)
        .replay(Box::new(records), Sinks::none())
        .expect("the sink never fails");
    let now = engine.clock().unwrap_or_default();
    let summary = loyalty::report::summary(&engine, &outcome, now);
    let mut members = Vec::new();
    loyalty::report::write_members(&engine, now, &mut members).expect("writes to memory");
    serde_json::to_string(&summary).expect("the summary serializes");
    for (p, totals) in engine.totals().iter().enumerate() {
        let held: Decimal = engine
            .members()
            .iter()
            .filter_map(|m| m.wallets.get(p))
            .map(|w| w.balance())
            .sum();
        assert_eq!(totals.outstanding(), held, "points type {p}: {totals:?}");
    }
});
