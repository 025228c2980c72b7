//! The peer rules (`benches/peer_rules.loyalty`: 2 points per USD, 3 for
//! gold cards, doubled for app purchases in the first week of March 2025,
//! rounded down once) on 200,000 purchases over 10,000 members with
//! uniform amounts: `loyalty`'s engine on events already in memory, next
//! to a hand-coded loop over the same purchases, the ceiling issue 21
//! measures the engine against. The setup checks that both award the same
//! points, member by member, before anything is timed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loyalty::compile::{compile, Program};
use loyalty::engine::ledger::EntryKind;
use loyalty::engine::Engine;
use loyalty::events::{self, Event, Format};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::hint::black_box;

/// The allocator `loyalty`'s binary uses (src/main.rs), so that the engine
/// is timed as `loyalty run` runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEMBERS: u64 = 10_000;
const PURCHASES: u64 = 200_000;

/// One purchase as the hand-coded loop sees it.
struct Purchase {
    member: usize,
    /// The amount in cents, 1.00 to 100.00 USD.
    cents: i64,
    /// Day of the year 2025, 0 = 1 January.
    day: u64,
    app: bool,
}

/// A small deterministic generator (xorshift64*), so that the bench needs
/// no random crate and its input is the same on every machine.
struct Draws(u64);

impl Draws {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn is_gold(member: usize) -> bool {
    member % 4 == 0
}

/// The purchases, in time order, and the same as CSV records after every
/// member's enrolment.
fn purchases() -> (Vec<Purchase>, String) {
    let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
    let mut csv = String::from("id,time,member,type,amount,channel,card\n");
    for m in 0..MEMBERS as usize {
        let card = if is_gold(m) { "gold" } else { "green" };
        writeln!(csv, "e{m},2025-01-01 00:00,m{m},enroll,,,{card}").unwrap();
    }
    let mut purchases = Vec::new();
    for i in 0..PURCHASES {
        // Purchases spread evenly over the year's minutes, in order.
        let minute = 1 + i * (364 * 24 * 60) / PURCHASES;
        let purchase = Purchase {
            member: draws.below(MEMBERS) as usize,
            cents: 100 + draws.below(9_901) as i64,
            day: minute / (24 * 60),
            app: draws.below(3) == 0,
        };
        let date = chrono::NaiveDate::from_yo_opt(2025, 1 + purchase.day as u32).unwrap();
        writeln!(
            csv,
            "p{i},{date} {:02}:{:02},m{},purchase,{}.{:02},{},",
            minute / 60 % 24,
            minute % 60,
            purchase.member,
            purchase.cents / 100,
            purchase.cents % 100,
            if purchase.app { "app" } else { "store" },
        )
        .unwrap();
        purchases.push(purchase);
    }
    (purchases, csv)
}

/// The hand-coded loop: each member's points, in integers.
fn hand_coded(purchases: &[Purchase], points: &mut [i64]) {
    // 1 to 7 March 2025: days 59 to 65 of the year.
    for purchase in purchases {
        let rate = if is_gold(purchase.member) { 3 } else { 2 };
        let rate = if purchase.app && (59..=65).contains(&purchase.day) {
            rate * 2
        } else {
            rate
        };
        points[purchase.member] += rate * purchase.cents / 100;
    }
}

/// `loyalty`'s engine: applies every event and passes each ledger row to
/// `row`.
fn engine(program: &Program, events: &[Event], mut row: impl FnMut(&str, Decimal)) {
    let mut engine = Engine::new(program);
    for event in events {
        engine.apply(event).unwrap();
        for entry in engine.drain_ledger() {
            if entry.kind == EntryKind::Earn {
                row(&entry.member, entry.amount);
            }
        }
    }
}

fn peer_rules(c: &mut Criterion) {
    let source = include_str!("peer_rules.loyalty");
    let program = compile(source).unwrap().0;
    let (purchases, csv) = purchases();
    let events: Vec<Event> = events::read(&program, Format::Csv, csv.as_bytes(), "peer.csv")
        .collect::<Result<_, _>>()
        .unwrap();

    // Both must award the same points to every member before either is timed.
    let mut by_hand = vec![0_i64; MEMBERS as usize];
    hand_coded(&purchases, &mut by_hand);
    let mut by_engine: BTreeMap<String, Decimal> = BTreeMap::new();
    engine(&program, &events, |member, amount| {
        *by_engine.entry(member.to_string()).or_default() += amount;
    });
    for (m, points) in by_hand.iter().enumerate() {
        let engine_points = by_engine.get(&format!("m{m}")).copied().unwrap_or_default();
        assert_eq!(engine_points, Decimal::from(*points), "member m{m}");
    }

    let mut group = c.benchmark_group("peer_rules");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PURCHASES));
    group.bench_function("hand_coded", |b| {
        b.iter(|| {
            let mut points = vec![0_i64; MEMBERS as usize];
            hand_coded(&purchases, &mut points);
            black_box(points.iter().sum::<i64>())
        })
    });
    group.bench_function("engine", |b| {
        b.iter(|| {
            let mut total = Decimal::ZERO;
            engine(&program, &events, |_, amount| total += amount);
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, peer_rules);
criterion_main!(benches);
