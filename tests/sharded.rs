//! `run --threads`' sharded replay: members dealt to several engines on
//! several threads, the ledger merged back. Whatever the order, lateness,
//! duplicates and rejects of the input, it must give exactly what one engine
//! gives: the same rows in the same order, rejects, members, totals and
//! sales. And whether clock work is passed on in pieces of two rows or of
//! `replay::PIECE_ROWS`, one engine or shards write the same ledger.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use loyalty::compile::Program;
use loyalty::engine::ledger::Entry;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::engine::sharded::{split, why_not_sharded};
use loyalty::events::{read, Format};
use loyalty::finance::liability::{Breakage, LiabilityBuilder, LiabilityFlows};
use loyalty::report::LedgerWriter;
use loyalty::run::Sinks;
use proptest::prelude::*;
use support::{run_handed_over, run_in_shards, tied_expiries, Run};

fn assert_same(one: &Run, sharded: &Run, what: &str) {
    assert_eq!(one.ledger.len(), sharded.ledger.len(), "{what}: rows");
    for (i, (a, b)) in one.ledger.iter().zip(&sharded.ledger).enumerate() {
        assert_eq!(a, b, "{what}: row {i}");
    }
    assert_eq!(one.rejects, sharded.rejects, "{what}: rejects");
    assert_eq!(one.members, sharded.members, "{what}: members");
    assert_eq!(one.totals, sharded.totals, "{what}: totals");
    assert_eq!(one.sales, sharded.sales, "{what}: sales");
    assert_eq!(one.after_until, sharded.after_until, "{what}: after until");
    assert_eq!(
        one.afterwards, sharded.afterwards,
        "{what}: rows left scheduled"
    );
}

#[test]
fn the_coffee_sample_gives_the_same_ledger_in_any_number_of_shards() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let program = std::fs::read_to_string(dir.join("bean_stars.loyalty")).unwrap();
    let events = std::fs::read_to_string(dir.join("bean_stars.events.csv")).unwrap();
    for order in [Order::Sort, Order::Stream] {
        for until in [None, Some("2026-12-31")] {
            let one = run_in_shards(&program, &events, order, until, None);
            assert!(one.ledger.len() > 50 && !one.rejects.is_empty());
            assert!(!one.afterwards.is_empty(), "the run leaves work scheduled");
            for shards in [1, 2, 3, 5] {
                let many = run_in_shards(&program, &events, order, until, Some(shards));
                assert_same(
                    &one,
                    &many,
                    &format!("{order:?}, {shards} shards, {until:?}"),
                );
            }
        }
    }
}

/// `ledger.csv` of a run of `program` over `events`, in `shards` shards
/// (one engine if `None`) and with clock work passed on `pieces` rows at a
/// time (the default if `None`), and how many times rows were passed on.
fn ledger_in_pieces(
    program: &Program,
    events: &str,
    order: Order,
    until: Option<&str>,
    shards: Option<usize>,
    pieces: Option<usize>,
) -> (String, usize) {
    let records = read(program, Format::Csv, events.as_bytes(), "events.csv");
    let until = until.map(|day| day.parse::<Until>().unwrap().instant(program.timezone));
    let options = Options {
        order,
        until,
        strict: false,
    };
    let mut run = loyalty::run::Run::new(program, options);
    if let Some(shards) = shards {
        run = run.shards(shards);
    }
    if let Some(pieces) = pieces {
        run = run.pieces(pieces);
    }
    let mut buffer = Vec::new();
    let mut calls = 0;
    let mut count = |_: &[Entry]| {
        calls += 1;
        Ok(())
    };
    let sinks = Sinks {
        ledger: Some(LedgerWriter::new(program, &mut buffer).unwrap()),
        liability: None,
        tier_mix: None,
        rows: Some(&mut count),
    };
    let finished = run.replay(Box::new(records), sinks).unwrap();
    if let Some(writer) = finished.sinks.ledger {
        writer.finish().unwrap();
    }
    (String::from_utf8(buffer).unwrap(), calls)
}

#[test]
fn clock_work_in_pieces_of_two_rows_gives_the_same_ledger_for_every_sample() {
    for name in SAMPLES {
        let (source, events) = sample(name);
        let (program, _) = loyalty::compile::compile(&source).unwrap();
        for order in [Order::Sort, Order::Stream] {
            for until in [None, Some("2027-12-31")] {
                let what = format!("{name}, {order:?}, until {until:?}");
                let (whole, calls) = ledger_in_pieces(&program, &events, order, until, None, None);
                let (pieces, more_calls) =
                    ledger_in_pieces(&program, &events, order, until, None, Some(2));
                assert_eq!(whole, pieces, "{what}: one engine");
                if until.is_some() {
                    assert!(more_calls > calls, "{what}: clock work came in pieces");
                }
                let (sharded, _) =
                    ledger_in_pieces(&program, &events, order, until, Some(3), Some(2));
                assert_eq!(whole, sharded, "{what}: three shards");
            }
        }
    }
}

#[test]
fn clock_work_left_by_shards_keeps_its_order_at_one_instant() {
    // Each member's bonus expiry and inactivity check of 1 June are due
    // after the run: gathered from two shards, they run in the order one
    // engine runs them (the bonus first: its rule fires first).
    let mut events = String::from("id,time,member,type,amount\n");
    for m in ["ann", "bob", "cat", "dan", "eve", "fay"] {
        events += &format!("{m}1,2025-01-01 09:00,{m},enroll,\n");
        events += &format!("{m}2,2025-01-10 10:00,{m},purchase,10\n");
        events += &format!("{m}3,2025-03-01 10:00,{m},purchase,5\n");
    }
    let program = tied_expiries(false);
    let until = Some("2025-03-31");
    let one = run_in_shards(&program, &events, Order::Stream, until, None);
    let many = run_in_shards(&program, &events, Order::Stream, until, Some(2));
    assert_same(&one, &many, "two shards");
    assert_eq!(one.afterwards.len(), 6 * 4, "{:?}", one.afterwards);
}

#[test]
fn programs_whose_members_share_points_or_budgets_are_not_sharded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let why = |name: &str| {
        let source = std::fs::read_to_string(dir.join(name)).unwrap();
        let (program, _) = loyalty::compile::compile(&source).unwrap();
        why_not_sharded(&program)
    };
    assert_eq!(why("bean_stars.loyalty"), None);
    assert_eq!(
        why("northwind_miles.loyalty"),
        Some("it has program-wide budgets")
    );
    assert_eq!(
        why("harbor_hotels.loyalty"),
        Some("its members can transfer points or pool them")
    );
}

#[test]
fn a_program_splits_by_member_along_its_links_unless_it_has_budgets() {
    let split = |source: &str| split(&loyalty::compile::compile(source).unwrap().0);
    let harbor =
        std::fs::read_to_string(support::programs().join("harbor_hotels.loyalty")).unwrap();
    let whole = split(&harbor);
    assert_eq!(whole.by, None);
    assert_eq!(whole.why, Some("it has program-wide budgets"));
    // Without its budget, its members split along transfers and pools.
    let budget = harbor.find("  budget ").unwrap();
    let end = budget + harbor[budget..].find('\n').unwrap() + 1;
    let unbudgeted = format!("{}{}", &harbor[..budget], &harbor[end..]);
    let linked = split(&unbudgeted);
    assert_eq!(linked.by, Some("member"));
    assert_eq!(
        linked.links,
        [
            "enroll.referred_by",
            "transfer.to",
            "join_pool.pool",
            "leave_pool.pool"
        ]
    );
    let coffee = std::fs::read_to_string(support::programs().join("bean_stars.loyalty")).unwrap();
    assert_eq!(split(&coffee).links, ["enroll.referred_by"]);
}

/// `ledger.csv` of a run of `source` over `events` on `threads` threads
/// (shards when the program allows), read as the command line reads a
/// file, with a ledger and nothing else; and why events were applied on
/// one thread, if they were.
fn ledger_on_threads(source: &str, events: &str, threads: usize) -> (String, Option<&'static str>) {
    let (ledger, one_thread, _) = ledger_handed_over(source, events, threads, None);
    (ledger, one_thread)
}

/// When one engine applied the events alone (`Finished::alone`).
type Alone = Vec<(String, Option<String>)>;

/// As `ledger_on_threads`, the shards handing their members over to one
/// engine before the event at `position` when given (and dealt out again
/// before the second position given); and when one engine applied the
/// events alone. The run is made twice, the same each time: with the
/// shards' lines held in a temporary file, and written into a ledger that
/// can start over (as the command line's).
fn ledger_handed_over(
    source: &str,
    events: &str,
    threads: usize,
    position: Option<(u64, Option<u64>)>,
) -> (String, Option<&'static str>, Alone) {
    let aside = replayed(source, events, threads, position, false);
    let in_place = replayed(source, events, threads, position, true);
    assert_eq!(aside, in_place, "held aside, then written in place");
    aside
}

/// `ledger_handed_over`'s run, into a ledger that can start over if
/// `in_place`.
fn replayed(
    source: &str,
    events: &str,
    threads: usize,
    position: Option<(u64, Option<u64>)>,
    in_place: bool,
) -> (String, Option<&'static str>, Alone) {
    let (program, _) = loyalty::compile::compile(source).unwrap();
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let open = || {
        Ok::<_, std::convert::Infallible>(Box::new(read(
            &program,
            Format::Csv,
            events.as_bytes(),
            "events.csv",
        )) as loyalty::run::Records)
    };
    let mut buffer = Vec::new();
    let mut ledger = LedgerWriter::new(&program, &mut buffer).unwrap();
    if in_place {
        ledger = ledger.starting_over(|out| {
            out.clear();
            Ok(())
        });
    }
    let sinks = Sinks::to_ledger(ledger);
    let run = loyalty::run::Run::new(&program, options).threads(threads);
    let run = position.map_or(run, |(position, again)| run.hand_over_at(position, again));
    let finished = run.replay_read(&open, sinks).unwrap();
    let one_thread = finished.one_thread;
    let alone = finished
        .alone
        .iter()
        .map(|(from, to)| (from.to_string(), to.map(|to| to.to_string())))
        .collect();
    finished.sinks.ledger.unwrap().finish().unwrap();
    (String::from_utf8(buffer).unwrap(), one_thread, alone)
}

/// A program whose members are tied by a budget alone is applied in
/// shards that assume the budget has room; where it had, the ledger is one
/// engine's, on every sample with budgets (none of them runs out).
#[test]
fn programs_tied_by_budgets_alone_give_one_engines_ledger_in_shards() {
    for name in ["cartwheel", "meridian_cards", "northwind_miles"] {
        let (source, events) = sample(name);
        let (one, _) = ledger_on_threads(&source, &events, 1);
        assert!(one.lines().count() > 50, "{name}");
        for threads in [2, 3] {
            let (many, one_thread) = ledger_on_threads(&source, &events, threads);
            assert_eq!(one_thread, None, "{name}, {threads} threads: in shards");
            assert_eq!(one, many, "{name}, {threads} threads");
        }
    }
}

const BUDGET: &str = r#"
program "Budget" {
  currency USD
  timezone "UTC"
}
points pts {
  precision 0
}
rule welcome {
  on purchase
  earn 10 pts
  budget 200 pts in total
}
"#;

/// Thirty members enrolled in January 2025, and their purchases in March
/// (`purchases` of member `m`, at most 31, a day apart): the members'
/// events.
fn enrolled_then_buying(purchases: impl Fn(usize) -> usize) -> String {
    let mut events = String::from("id,time,member,type,amount\n");
    for m in 0..30 {
        events += &format!("e{m},2025-01-01 09:{m:02},m{m},enroll,\n");
        for p in 0..purchases(m) {
            events += &format!("p{m}-{p},2025-03-{:02} 10:{m:02},m{m},purchase,5\n", 1 + p);
        }
    }
    events
}

/// Thirty members earn 10 points each from a rule whose budget gives 200
/// in total (or 50): all of them take it past its amount, whether each
/// shard's members alone would or not. The shards find it did not hold,
/// and the run is done again on one engine, which cuts the award that
/// goes past it and pays nothing after: one engine's ledger, and its note.
#[test]
fn a_budget_that_runs_out_across_shards_is_run_again_on_one_engine() {
    let events = enrolled_then_buying(|_| 1);
    for (budget, cut) in [("200", 10), ("50", 25)] {
        let source = BUDGET.replace("200", budget);
        let (one, _) = ledger_on_threads(&source, &events, 1);
        let exhausted = format!("budget of {budget} exhausted");
        assert_eq!(one.matches(&exhausted).count(), cut, "{one}");
        for threads in [2, 3] {
            let (many, one_thread) = ledger_on_threads(&source, &events, threads);
            assert_eq!(
                one_thread,
                Some("a program-wide budget ran out in shards, so the run was done again: for this input, --threads 1 is faster"),
                "budget {budget}, {threads} threads"
            );
            assert_eq!(one, many, "budget {budget}, {threads} threads");
        }
    }
    // With room for all thirty, the shards' ledger stands.
    let roomy = BUDGET.replace("200", "300");
    let (one, _) = ledger_on_threads(&roomy, &events, 1);
    let (many, one_thread) = ledger_on_threads(&roomy, &events, 2);
    assert_eq!((one_thread, one.matches("exhausted").count()), (None, 0));
    assert_eq!(one, many);
}

/// One member buys 30 times and no one else buys: its shard cuts the
/// awards past the budget's 200 points as one engine does, the budget's use
/// across the shards is its amount, and the shards' ledger stands.
#[test]
fn a_budget_one_shards_member_runs_out_alone_is_cut_in_that_shard() {
    let events = enrolled_then_buying(|m| if m == 0 { 30 } else { 0 });
    let (one, _) = ledger_on_threads(BUDGET, &events, 1);
    assert_eq!(one.matches("budget of 200 exhausted").count(), 10, "{one}");
    for threads in [2, 3] {
        let (many, one_thread) = ledger_on_threads(BUDGET, &events, threads);
        assert_eq!(one_thread, None, "{threads} threads: in shards");
        assert_eq!(one, many, "{threads} threads");
    }
}

/// Shards stop being dealt events once their use of a budget together
/// passes its amount: of 60,000 purchases of 10 points against a budget of
/// 50, run out in the first batch, no more are applied than the batches
/// of 4,096 events dealt before the first is merged (eight in flight).
#[test]
fn shards_stop_once_a_budget_ran_out_across_them() {
    let (program, _) = loyalty::compile::compile(&BUDGET.replace("200", "50")).unwrap();
    let mut events = String::from("id,time,member,type,amount\n");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for m in 0..100 {
        events += &format!("e{m},{},m{m},enroll,\n", start.format("%Y-%m-%d %H:%M"));
    }
    let purchases = 60_000;
    for p in 0..purchases {
        let time = start + chrono::Duration::minutes(1 + p);
        let m = p % 100;
        events += &format!("p{p},{},m{m},purchase,5\n", time.format("%Y-%m-%d %H:%M"));
    }
    let records = read(&program, Format::Csv, events.as_bytes(), "events.csv");
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let mut engine = loyalty::engine::Engine::new(&program);
    let output = loyalty::engine::sharded::Output {
        format: None,
        rows: false,
        sink: &mut |_, _| Ok::<(), std::io::Error>(()),
    };
    let shards = loyalty::engine::sharded::Shards {
        count: 2,
        piece_rows: 64,
        hand_over_at: None,
        deal_again_at: None,
    };
    loyalty::engine::sharded::replay_sharded(&mut engine, records, options, shards, output)
        .unwrap();
    assert!(!engine.budgets_held());
    let applied = engine.counts().applied;
    assert!(applied <= 10 * 4096, "{applied} applied");
}

/// How many of `events` (CSV) read as events of `source`: the positions
/// a replay gives them.
fn events_in(source: &str, events: &str) -> u64 {
    let (program, _) = loyalty::compile::compile(source).unwrap();
    let records = read(&program, Format::Csv, events.as_bytes(), "events.csv");
    records.filter(Result::is_ok).count() as u64
}

/// The sample programs in `programs/`.
const SAMPLES: [&str; 7] = [
    "bean_stars",
    "cartwheel",
    "fuel_stop",
    "harbor_hotels",
    "meridian_cards",
    "northwind_miles",
    "sakura_kissa",
];

/// The sample program `name`'s source and events.
fn sample(name: &str) -> (String, String) {
    let read = |file: String| std::fs::read_to_string(support::programs().join(file)).unwrap();
    (
        read(format!("{name}.loyalty")),
        read(format!("{name}.events.csv")),
    )
}

/// The samples whose members can be split, by name, with their source
/// and events.
fn split_samples() -> Vec<(&'static str, String, String)> {
    SAMPLES
        .into_iter()
        .map(|name| {
            let (source, events) = sample(name);
            (name, source, events)
        })
        .filter(|(_, source, _)| {
            let (program, _) = loyalty::compile::compile(source).unwrap();
            why_not_sharded(&program).is_none()
        })
        .collect()
}

/// Shards that hand their members over to one engine before any event,
/// dealt out again by it later or not, give exactly one engine's run: the
/// rows, rejects, members, totals, sales and the clock work left
/// scheduled, on every sample whose members can be split (before the first
/// event, among them, at the last, and past the end, where nothing is
/// handed over).
#[test]
fn every_sample_gives_one_engines_run_handed_over_anywhere() {
    let samples = split_samples();
    assert_eq!(samples.len(), 3, "the samples in shards");
    for (name, source, events) in &samples {
        let count = events_in(source, events);
        for until in [None, Some("2026-12-31")] {
            let one = run_in_shards(source, events, Order::Sort, until, None);
            assert_eq!(one.alone, []);
            for position in [0, 1, count / 3, count / 2, count - 1, count + 1] {
                for again in [None, Some(position + 1), Some(position + count / 4)] {
                    for shards in [2, 3] {
                        let many =
                            run_handed_over(source, events, until, shards, (position, again));
                        let what = format!(
                            "{name}, {shards} shards, from {position} to {again:?}, {until:?}"
                        );
                        let dealt_again = again.is_some_and(|again| again < count);
                        let spans: Vec<bool> =
                            many.alone.iter().map(|(_, to)| to.is_some()).collect();
                        let expected = match position < count {
                            true => vec![dealt_again],
                            false => vec![],
                        };
                        assert_eq!(spans, expected, "{what}");
                        assert_same(&one, &many, &what);
                    }
                }
            }
        }
    }
}

/// Members referred by others, dealt with them into every shard, and
/// handed over to one engine before they buy: the referrers their
/// purchases pay are the ones they named (each shard's members, and their
/// referrers' slots, move when gathered into one engine).
#[test]
fn referrers_are_paid_after_a_handover_as_one_engine_pays_them() {
    let program = r#"
        program "Referrals" {
          currency USD
          timezone "UTC"
        }
        points pts {
          precision 0
        }
        rule base {
          on purchase
          earn 1 pts per 1 USD of amount
        }
        rule thanks {
          on purchase
          earn 10 pts to referrer
        }
    "#;
    let mut events = String::from("id,time,member,type,amount,referred_by\n");
    for m in 0..12 {
        events += &format!("e{m},2025-01-01 09:{m:02},r{m},enroll,,\n");
    }
    for m in 0..12 {
        let referrer = (m * 5 + 3) % 12;
        events += &format!("f{m},2025-01-02 09:{m:02},f{m},enroll,,r{referrer}\n");
    }
    for m in 0..12 {
        events += &format!("p{m},2025-02-01 09:{m:02},f{m},purchase,{},\n", m + 1);
    }
    let one = run_in_shards(program, &events, Order::Sort, None, None);
    assert_eq!(one.rows("r3", &["earn"]).len(), 1, "{:?}", one.ledger);
    for shards in [2, 3, 5] {
        for (position, again) in [(12, None), (24, None), (30, None), (6, Some(20))] {
            let many = run_handed_over(program, &events, None, shards, (position, again));
            let what = format!("{shards} shards, from {position} to {again:?}");
            assert_same(&one, &many, &what);
        }
    }
}

/// A program tied by budgets alone handed over anywhere, through the
/// run the command line makes (the lines held aside): one engine's ledger.
#[test]
fn every_sample_with_budgets_gives_one_engines_ledger_handed_over_anywhere() {
    for name in ["cartwheel", "meridian_cards", "northwind_miles"] {
        let (source, events) = sample(name);
        let count = events_in(&source, &events);
        let (one, _) = ledger_on_threads(&source, &events, 1);
        for position in [0, count / 4, count / 2, count - 1] {
            for again in [None, Some(position + count / 4 + 1)] {
                let (many, one_thread, alone) =
                    ledger_handed_over(&source, &events, 2, Some((position, again)));
                let what = format!("{name}, from {position} to {again:?}");
                assert_eq!((one_thread, alone.len()), (None, 1), "{what}");
                assert_eq!(one, many, "{what}");
            }
        }
    }
}

/// 2,000 members each buy once a day for 60 days, earning 10 points a
/// purchase against a budget of 800,000 (1.2 M would be earned): the
/// budget is spent on the 40th day. The shards see it nearly spent from
/// the batches they sent back, hand their members over to one engine
/// before it runs out; that engine cuts the award past it, and deals the
/// members out again once it is spent, each shard holding it spent and
/// paying nothing more from it: one engine's ledger, without a run done
/// again.
#[test]
fn shards_hand_over_to_one_engine_before_a_budget_runs_out() {
    let source = BUDGET.replace("200", "800000");
    let mut events = String::from("id,time,member,type,amount\n");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let members = 2000;
    for m in 0..members {
        events += &format!("e{m},{},m{m},enroll,\n", start.format("%Y-%m-%d %H:%M"));
    }
    for day in 1..=60 {
        for m in 0..members {
            let time = start + chrono::Duration::days(day) + chrono::Duration::seconds(m);
            events += &format!(
                "p{day}-{m},{},m{m},purchase,5\n",
                time.format("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    let (one, _) = ledger_on_threads(&source, &events, 1);
    assert_eq!(one.matches("budget of 800000 exhausted").count(), 40_000);
    let (many, one_thread, alone) = ledger_handed_over(&source, &events, 2, None);
    assert_eq!(one_thread, None);
    // Handed over before the 40th day (the batches in flight are some 18
    // days' purchases here: eight of 4,096 events, and the one dealt, and
    // twice those must fit in what is left), dealt out again on it.
    let [(from, Some(to))] = alone.as_slice() else {
        panic!("{alone:?}");
    };
    assert!(
        ("2025-01-05".."2025-02-10").contains(&from.as_str()),
        "{from}"
    );
    assert!(("2025-02-10".."2025-02-12").contains(&to.as_str()), "{to}");
    assert_eq!(one, many);
}

/// Month-end expiry (every member's at one instant), pending points,
/// tiers reviewed at period ends with a grace period, a capped rule, a
/// limited perk, returns, and late events accepted up to 30 days.
const PROGRAM: &str = r#"
program "Test" {
  currency USD
  timezone "America/New_York"
  accept late events up to 30 days
  accept returns up to 60 days
}
points stars {
  precision 0
  pending 2 days
  expire 1 month after earn at end of month
}
points status {
  expire after 2 months without activity
}
tiers by stars earned over calendar quarter {
  tier green from 0
  tier gold from 150
  downgrade at period end, after 10 days grace
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
  cap 300 stars per member per month
}
rule standing {
  on purchase
  earn 1 status per 10 USD of amount
}
perk lounge for gold {
  limit 2 per month
}
"#;

#[derive(Debug, Clone)]
enum Action {
    Enroll(u8),
    Purchase(u8, u32),
    Return(u8, u8, u32),
    Redeem(u8, u32),
    Perk(u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (0u8..6).prop_map(Action::Enroll),
        8 => (0u8..6, 1u32..200).prop_map(|(m, a)| Action::Purchase(m, a)),
        2 => (0u8..6, any::<u8>(), 1u32..100).prop_map(|(m, of, a)| Action::Return(m, of, a)),
        2 => (0u8..6, 1u32..120).prop_map(|(m, p)| Action::Redeem(m, p)),
        1 => (0u8..6).prop_map(Action::Perk),
    ]
}

/// CSV of the actions, each at its day (so out of order when the days are
/// not sorted) and with its own id, or another action's id when `reuse`
/// says so (a duplicate, or a retry of a rejected one).
fn csv(actions: &[(Action, u32, Option<u8>)]) -> String {
    let mut out = String::from("id,time,member,type,amount,of,points,points_type,perk\n");
    let day = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(u64::from(d))
    };
    for (i, (action, d, reuse)) in actions.iter().enumerate() {
        let id = reuse.map_or(i, |r| usize::from(r) % (i + 1));
        let time = format!("{} {:02}:00", day(*d), 8 + i % 12);
        let line = match action {
            Action::Enroll(m) => format!("e{id},{time},m{m},enroll,,,,,"),
            Action::Purchase(m, a) => format!("e{id},{time},m{m},purchase,{a},,,,"),
            Action::Return(m, of, a) => {
                format!(
                    "e{id},{time},m{m},return,{a},e{},,,",
                    usize::from(*of) % actions.len()
                )
            }
            Action::Redeem(m, p) => format!("e{id},{time},m{m},redeem,,,{p},stars,"),
            Action::Perk(m) => format!("e{id},{time},m{m},use_perk,,,,,lounge"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Up to 80 actions, each on a day of 400, some with another's id.
fn actions() -> impl Strategy<Value = Vec<(Action, u32, Option<u8>)>> {
    prop::collection::vec(
        (
            action(),
            0u32..400,
            prop::option::weighted(0.1, any::<u8>()),
        ),
        1..80,
    )
}

/// The events (CSV) of four members' enrolments and then `actions`
/// (which may enrol them again, or others), and how many there are.
fn after_enrolments(actions: Vec<(Action, u32, Option<u8>)>) -> (String, usize) {
    let mut all: Vec<(Action, u32, Option<u8>)> =
        (0..4).map(|m| (Action::Enroll(m), 0, None)).collect();
    all.extend(actions);
    (csv(&all), all.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_stream_gives_the_same_ledger_sharded_as_in_one_engine(
        actions in actions(),
        shards in 2usize..4,
    ) {
        let (events, _) = after_enrolments(actions);
        for order in [Order::Stream, Order::Sort] {
            for until in [None, Some("2026-06-30")] {
                let one = run_in_shards(PROGRAM, &events, order, until, None);
                let many = run_in_shards(PROGRAM, &events, order, until, Some(shards));
                assert_same(&one, &many, &format!("{order:?}, {shards} shards, {until:?}"));
            }
        }
    }

    /// Shards that hand their members over to one engine before any event
    /// of a sorted stream (duplicates, retries and rejects among them)
    /// give one engine's run.
    #[test]
    fn any_sorted_stream_gives_one_engines_run_handed_over_anywhere(
        actions in actions(),
        shards in 2usize..4,
        at in any::<prop::sample::Index>(),
        again in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (events, count) = after_enrolments(actions);
        let position = at.index(count);
        let again = again.map(|again| (position + 1 + again.index(count)) as u64);
        for until in [None, Some("2026-06-30")] {
            let one = run_in_shards(PROGRAM, &events, Order::Sort, until, None);
            let many = run_handed_over(PROGRAM, &events, until, shards, (position as u64, again));
            prop_assert_eq!(many.alone.len(), 1);
            let what = format!("{shards} shards, from {position} to {again:?}, {until:?}");
            assert_same(&one, &many, &what);
        }
    }
}

/// The summary of `events` (CSV) through the end of `until`, and the
/// months and cohorts of its liability table.
fn summary_of(
    program: &Program,
    events: &str,
    until: &str,
) -> (loyalty::report::Summary, LiabilityFlows) {
    let until = until.parse::<Until>().unwrap().instant(program.timezone);
    let options = Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    };
    let records = read(program, Format::Csv, events.as_bytes(), "events");
    let sinks = Sinks {
        liability: Some(LiabilityBuilder::new(program)),
        ..Sinks::none()
    };
    let finished = loyalty::run::Run::new(program, options)
        .replay(records, sinks)
        .unwrap();
    let now = finished.engine.clock().unwrap();
    let summary = loyalty::report::summary(&finished.engine, &finished.outcome, now);
    (summary, finished.sinks.liability.unwrap().flows())
}

/// The liability table of a run whose months and cohorts are `flows`.
fn liability_of(program: &Program, flows: &[LiabilityFlows], until: &str) -> String {
    let until = until.parse::<Until>().unwrap().instant(program.timezone);
    let mut builder = LiabilityBuilder::new(program);
    for part in flows {
        builder.add_flows(part);
    }
    let mut csv = Vec::new();
    for breakage in [Breakage::Program, Breakage::Estimated] {
        builder.finish(until, breakage).write_csv(&mut csv).unwrap();
    }
    String::from_utf8(csv).unwrap()
}

#[test]
fn members_run_apart_add_up_to_the_summary_and_liability_of_one_run() {
    for (name, parts) in [("bean_stars", 2), ("bean_stars", 3), ("sakura_kissa", 2)] {
        let (program, _) = support::example(name);
        let events =
            std::fs::read_to_string(support::programs().join(format!("{name}.events.csv")))
                .unwrap();
        let until = support::until_of(name);
        let (whole, flows) = summary_of(&program, &events, until);
        // Each member's lines go to one part, members dealt in turn as
        // they first appear (these samples refer no one).
        let (header, lines) = events.split_once('\n').unwrap();
        let member = header.split(',').position(|c| c == "member").unwrap();
        assert!(!header.contains("referred_by"), "{name}");
        let mut seen: Vec<&str> = Vec::new();
        let mut texts = vec![format!("{header}\n"); parts];
        for line in lines.lines() {
            let id = line.split(',').nth(member).unwrap();
            let at = seen.iter().position(|m| *m == id).unwrap_or_else(|| {
                seen.push(id);
                seen.len() - 1
            });
            texts[at % parts].push_str(&format!("{line}\n"));
        }
        let (summaries, pieces): (Vec<_>, Vec<_>) = texts
            .iter()
            .map(|text| summary_of(&program, text, until))
            .unzip();
        assert!(summaries.iter().all(|s| s.events.read > 0), "{name}");
        let merged = loyalty::report::merge_summaries(&program, &summaries);
        assert_eq!(merged, whole, "{name} in {parts} parts");
        let one = liability_of(&program, &[flows], until);
        assert!(one.lines().count() > 10, "{one}");
        assert_eq!(liability_of(&program, &pieces, until), one, "{name}");
    }
}
