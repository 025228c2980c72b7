//! How fast events go through: per example program, the engine alone on
//! events already in memory (events per second); for the coffee and
//! airline programs, `loyalty run`'s path from a CSV file to a ledger file
//! next to the raw ceiling, reading and typing the same file without
//! applying it; a streamed replay in time order next to the same events
//! with one in a hundred sent late (each re-runs its member); and the
//! coffee program's replay in one engine next to two shards on two threads;
//! one purchase through programs of 1,000 to 16,000 rules; and one coffee
//! member's year of purchases at 5,000 to 20,000 a year.
//! Inputs come from `loyalty gen`, generated in the setup.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use loyalty::compile::{compile, Program};
use loyalty::engine::ledger::Entry;
use loyalty::engine::replay::{self, Order};
use loyalty::engine::Engine;
use loyalty::events::{self, Event, Format};
use loyalty::gen;
use loyalty::report::LedgerWriter;
use loyalty::run::{Run, Sinks};
use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};

const PROGRAMS: [&str; 5] = [
    "bean_stars",
    "cartwheel",
    "harbor_hotels",
    "meridian_cards",
    "northwind_miles",
];

/// Small enough that a sample takes well under a second in a release build.
const MEMBERS: u64 = 1_000;
const EVENTS: u64 = 24_000;

/// The example program `name`, compiled.
fn example_program(name: &str) -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let source = std::fs::read_to_string(dir.join(format!("{name}.loyalty"))).unwrap();
    compile(&source).unwrap().0
}

fn example(name: &str) -> (Program, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let scenario = std::fs::read_to_string(dir.join(format!("{name}.scenario.yaml"))).unwrap();
    let program = example_program(name);
    let options = gen::Options {
        members: MEMBERS,
        events: EVENTS,
        seed: Some(1),
        months: 24,
        end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    };
    let plan = gen::plan(&program, &scenario, &options).unwrap();
    let mut csv = Vec::new();
    gen::generate(&program, &plan, gen::Format::Csv, &mut csv).unwrap();
    (program, csv)
}

fn typed(program: &Program, csv: &[u8]) -> Vec<Event> {
    events::read(program, Format::Csv, csv, "bench.csv")
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Applies `events` on a new engine, then its clock work through `until`
/// if given; returns how many ledger rows they made.
fn apply_all(program: &Program, events: &[Event], until: Option<DateTime<Utc>>) -> usize {
    let mut engine = Engine::new(program);
    let mut entries = 0;
    for event in events {
        engine.apply(event).unwrap();
        entries += engine.drain_ledger().len();
    }
    if let Some(until) = until {
        engine.advance_to(until);
        entries += engine.drain_ledger().len();
    }
    entries
}

fn in_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    for name in PROGRAMS {
        let (program, csv) = example(name);
        let events = typed(&program, &csv);
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("apply", name), &events, |b, events| {
            b.iter(|| black_box(apply_all(&program, events, None)))
        });
    }
    group.finish();
}

/// `loyalty run --stream`'s work: read, type, apply, write the ledger.
fn run(program: &Program, input: &Path, out: &Path) -> u64 {
    let file = BufReader::new(std::fs::File::open(input).unwrap());
    let records = events::read(program, Format::Csv, file, "bench.csv");
    let ledger = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let sinks = Sinks::to_ledger(LedgerWriter::new(program, ledger).unwrap());
    let options = replay::Options {
        order: Order::Stream,
        until: None,
        strict: false,
    };
    let finished = Run::new(program, options)
        .replay(Box::new(records), sinks)
        .unwrap();
    finished.sinks.ledger.unwrap().finish().unwrap();
    assert!(finished.outcome.rejects.is_empty());
    finished.outcome.read
}

/// The ceiling: reading and typing the records, nothing applied.
fn read(program: &Program, input: &Path) -> u64 {
    let file = BufReader::new(std::fs::File::open(input).unwrap());
    events::read(program, Format::Csv, file, "bench.csv")
        .map(|record| u64::from(record.is_ok()))
        .sum()
}

fn from_csv(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("csv");
    group.sample_size(10);
    for name in ["bean_stars", "northwind_miles"] {
        let (program, csv) = example(name);
        let input: PathBuf = dir.path().join(format!("{name}.csv"));
        std::fs::write(&input, &csv).unwrap();
        let out = dir.path().join(format!("{name}.ledger.csv"));
        let count = read(&program, &input);
        group.throughput(Throughput::Elements(count));
        group.bench_function(BenchmarkId::new("read", name), |b| {
            b.iter(|| black_box(read(&program, &input)))
        });
        group.bench_function(BenchmarkId::new("run", name), |b| {
            b.iter(|| black_box(run(&program, &input, &out)))
        });
    }
    group.finish();
}

/// A streamed replay of events already in memory; returns the rows written.
fn stream(program: &Program, events: &[Event]) -> usize {
    stream_in(program, events, None)
}

/// A streamed replay of `events` in one engine, or in `shards` engines on
/// as many threads; the number of rows written.
fn stream_in(program: &Program, events: &[Event], shards: Option<usize>) -> usize {
    let options = replay::Options {
        order: Order::Stream,
        until: None,
        strict: false,
    };
    let mut rows = 0;
    let records = events.iter().cloned().map(Ok);
    let mut count = |entries: &[Entry]| {
        rows += entries.len();
        Ok(())
    };
    let run = Run::new(program, options);
    let run = shards.map_or(run, |shards| run.shards(shards));
    run.replay(Box::new(records), Sinks::rows(&mut count))
        .unwrap();
    rows
}

/// The coffee program (its members never touch each other's points) in
/// one engine and in two shards on two threads, events in memory.
fn shards(c: &mut Criterion) {
    let mut group = c.benchmark_group("shards");
    group.sample_size(10);
    let (program, csv) = example("bean_stars");
    let events = typed(&program, &csv);
    group.throughput(Throughput::Elements(events.len() as u64));
    for (label, shards) in [("one_engine", None), ("two_shards", Some(2))] {
        group.bench_with_input(
            BenchmarkId::new(label, "bean_stars"),
            &events,
            |b, events| b.iter(|| black_box(stream_in(&program, events, shards))),
        );
    }
    group.finish();
}

fn late(c: &mut Criterion) {
    let mut group = c.benchmark_group("late");
    group.sample_size(10);
    for name in ["bean_stars", "northwind_miles"] {
        let (program, csv) = example(name);
        let in_order = typed(&program, &csv);
        // Every hundredth record (enrolments aside) arrives 200 records late.
        let mut shuffled = in_order.clone();
        let mut i = shuffled.len().saturating_sub(201);
        while i > 0 {
            if i % 100 == 0 && program.events[shuffled[i].kind].name != "enroll" {
                let event = shuffled.remove(i);
                shuffled.insert(i + 200, event);
            }
            i -= 1;
        }
        group.throughput(Throughput::Elements(in_order.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("in_order", name),
            &in_order,
            |b, events| b.iter(|| black_box(stream(&program, events))),
        );
        group.bench_with_input(
            BenchmarkId::new("one_percent_late", name),
            &shuffled,
            |b, events| b.iter(|| black_box(stream(&program, events))),
        );
    }
    group.finish();
}

/// A program of `rules` rules on every purchase, in 50 exclusive groups.
fn many_rules_program(rules: usize) -> Program {
    let mut source =
        String::from("program \"Many\" {\n  currency USD\n  timezone \"UTC\"\n}\npoints pts\n");
    for i in 0..rules {
        source.push_str(&format!(
            "rule r{i} {{\n  on purchase\n  earn 1 pts per 1 USD of amount\n  exclusive group g{}\n}}\n",
            i % 50
        ));
    }
    compile(&source).unwrap().0
}

/// One purchase through programs of more and more rules: its cost should
/// grow with the rules, not with their square (it did, through scans of
/// every proposal for every rule).
fn many_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("many_rules");
    group.sample_size(10);
    for rules in [1_000, 4_000, 16_000] {
        let program = many_rules_program(rules);
        let csv = "id,time,member,type,amount\n\
                   e1,2025-01-01 09:00,ann,enroll,\n\
                   e2,2025-01-02 09:00,ann,purchase,10\n";
        let events = typed(&program, csv.as_bytes());
        group.throughput(Throughput::Elements(rules as u64));
        group.bench_with_input(BenchmarkId::new("purchase", rules), &events, |b, events| {
            b.iter(|| {
                let mut engine = Engine::new(&program);
                for event in events {
                    engine.apply(event).unwrap();
                }
                black_box(engine.drain_ledger().len())
            })
        });
    }
    group.finish();
}

/// One coffee member's year of purchases, `count` of them evenly spread
/// (stars pending 14 days, expiring six months after the month earned).
fn one_members_year(count: u64) -> String {
    let mut csv = String::from(
        "id,time,member,type,amount,channel,category,birthday\n\
         e0,2025-01-01T00:00:00+00:00,ann,enroll,,,,1990-03-10\n",
    );
    let start = NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap();
    let step = 365 * 86_400 / count;
    for i in 0..count {
        let time = start + TimeDelta::seconds((i * step) as i64);
        let time = time.format("%Y-%m-%dT%H:%M:%S+00:00");
        csv.push_str(&format!(
            "e{},{time},ann,purchase,5.00,store,coffee,\n",
            i + 1
        ));
    }
    csv
}

/// A member who buys every few minutes keeps thousands of live buckets:
/// the cost of an event should grow with what the program's terms keep
/// pending and expiring together, not with every bucket the member holds
/// (finding the next release or expiry read them all, and four times the
/// purchases took sixteen times as long).
fn one_busy_member(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_busy_member");
    group.sample_size(10);
    let program = example_program("bean_stars");
    for count in [5_000, 20_000] {
        let events = typed(&program, one_members_year(count).as_bytes());
        group.throughput(Throughput::Elements(count));
        let end = NaiveDate::from_ymd_opt(2027, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0);
        let end = end.unwrap().and_utc();
        group.bench_with_input(BenchmarkId::new("year", count), &events, |b, events| {
            b.iter(|| black_box(apply_all(&program, events, Some(end))))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    in_memory,
    from_csv,
    late,
    shards,
    many_rules,
    one_busy_member
);
criterion_main!(benches);
