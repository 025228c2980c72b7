//! Properties of the engine over random valid event streams: the balance
//! equation for every member and points type, byte-identical reruns, and
//! the same per-member results however the stream is split by member (by
//! pairs of members, since transfers and a pool link the members of a pair).

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use loyalty::compile::{compile, Program};
use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read, Format};
use loyalty::report::LedgerWriter;
use loyalty::run::Sinks;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A program with pending points, two expiry kinds, tiers with a keep
/// threshold and grace, caps, a limit, a share of an earlier rule, an
/// exclusive group, qualifying points, a preview rule, transfers with a fee
/// and a pool (no
/// budget: budgets are shared across members, so splitting the stream by
/// member would change them).
const PROGRAM: &str = r#"
program "Props" {
  currency USD
  timezone "Europe/Paris"
  accept late events up to 1 day
}

event purchase {
  channel: text
}

points stars {
  precision 0
  value 0.01 USD
  pending 3 days
  expire 2 months after earn at end of month
  transfers min 10, fee 5%, restart expiry
  redeem at least 5, at most 150
}

points miles {
  precision 2
  expire after 3 months without activity
  pool household, at most 2 members
}

points status {
  qualifying
}

tiers by status earned over calendar month {
  tier base from 0
  tier silver from 100 keep 80
  tier gold from 300
  rollover up to 50
  downgrade at period end, at most 1 level, after 10 days grace
}

rule base {
  on purchase
  earn 1 stars per 1 USD of amount
  earn 1 status per full 10 USD of amount
}

rule app_bonus {
  on purchase where channel = "app"
  earn 50% of base stars
  cap 40 stars per member per day
}

rule miles {
  on purchase
  earn 0.37 miles per 1 USD of amount times tier { silver: 1.5, gold: 2, else: 1 }
  round half even
}

rule first_order {
  on purchase
  earn 25 stars
  limit 1 per member per lifetime
  exclusive group welcome
}

rule big_order {
  on purchase where amount >= 200 USD
  earn 60 stars
  exclusive group welcome
}

preview rule store_double {
  on purchase where channel = "store"
  earn 100% of base stars
  cap 30 stars per member per day
}

reward coffee {
  price 30 stars
  price 20 stars for gold
}
"#;

#[derive(Debug, Clone)]
enum Action {
    Purchase {
        member: usize,
        cents: u32,
        app: bool,
    },
    Return {
        member: usize,
        of: usize,
        cents: u32,
    },
    Redeem {
        member: usize,
        points: u32,
    },
    RedeemReward {
        member: usize,
    },
    RedeemMiles {
        member: usize,
        hundredths: u32,
    },
    /// Stars to the other member of the pair.
    Give {
        member: usize,
        points: u32,
    },
    /// Cancels the member's `of`th redemption (or an unknown one).
    CancelRedeem {
        member: usize,
        of: usize,
    },
    /// A manual credit (or debit, when negative) of stars.
    Adjust {
        member: usize,
        points: i32,
    },
    /// Miles into the pair's pool, or out of it to the member.
    Pool {
        member: usize,
        hundredths: u32,
        out: bool,
    },
    /// A purchase, return, redemption, credit or transfer of an amount
    /// drawn from the whole decimal range (up to about 7.9 × 10^28, with
    /// up to 28 decimals): rejected or applied, never a panic.
    Huge {
        member: usize,
        kind: u8,
        amount: Decimal,
    },
}

/// Any non-negative decimal: 96 bits of mantissa, any scale.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<u128>(), 0u32..=28).prop_map(|(bits, scale)| {
        Decimal::from_i128_with_scale((bits & ((1 << 96) - 1)) as i128, scale)
    })
}

fn action() -> impl Strategy<Value = (u32, Action)> {
    let member = 0usize..4;
    let gap = 0u32..(6 * 24 * 60);
    let act = prop_oneof![
        4 => (member.clone(), 1u32..40_000, any::<bool>())
            .prop_map(|(member, cents, app)| Action::Purchase { member, cents, app }),
        2 => (member.clone(), 0usize..30, 1u32..20_000)
            .prop_map(|(member, of, cents)| Action::Return { member, of, cents }),
        1 => (member.clone(), 1u32..200).prop_map(|(member, points)| Action::Redeem { member, points }),
        1 => member.clone().prop_map(|member| Action::RedeemReward { member }),
        1 => (member.clone(), 1u32..5_000).prop_map(|(member, hundredths)| Action::RedeemMiles { member, hundredths }),
        1 => (member.clone(), 1u32..100).prop_map(|(member, points)| Action::Give { member, points }),
        1 => (member.clone(), -60i32..60).prop_map(|(member, points)| Action::Adjust { member, points }),
        1 => (member.clone(), 0usize..6).prop_map(|(member, of)| Action::CancelRedeem { member, of }),
        1 => (member.clone(), 1u32..5_000, any::<bool>())
            .prop_map(|(member, hundredths, out)| Action::Pool { member, hundredths, out }),
        1 => (member, 0u8..5, any_decimal())
            .prop_map(|(member, kind, amount)| Action::Huge { member, kind, amount }),
    ];
    (gap, act)
}

/// The stream as CSV: four enrolments, then the actions a few minutes to days apart.
fn csv(actions: &[(u32, Action)]) -> String {
    let mut out = String::from(
        "id,time,member,type,amount,channel,of,reward,points,points_type,to,pool,reason,redemption\n",
    );
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    for m in 0..4 {
        out.push_str(&format!(
            "enroll{m},2025-01-01 08:00,m{m},enroll,,,,,,,,,,\n"
        ));
        let pool = pool(m);
        out.push_str(&format!(
            "join{m},2025-01-01 08:00,m{m},join_pool,,,,,,,,{pool},,\n"
        ));
    }
    let mut time = start;
    let mut purchases: Vec<(usize, String)> = Vec::new();
    let mut redemptions: Vec<(usize, String)> = Vec::new();
    for (i, (gap, action)) in actions.iter().enumerate() {
        time += chrono::Duration::minutes(i64::from(*gap));
        let t = time.format("%Y-%m-%d %H:%M");
        let id = format!("e{i}");
        let money = |cents: u32| Decimal::new(i64::from(cents), 2);
        let line = match action {
            Action::Purchase { member, cents, app } => {
                purchases.push((*member, id.clone()));
                let channel = if *app { "app" } else { "store" };
                format!(
                    "{id},{t},m{member},purchase,{},{channel},,,,,,,,",
                    money(*cents)
                )
            }
            Action::Return { member, of, cents } => {
                let of = purchases
                    .iter()
                    .filter(|(m, _)| m == member)
                    .nth(*of)
                    .map_or("nothing".to_string(), |(_, id)| id.clone());
                format!("{id},{t},m{member},return,{},,{of},,,,,,,", money(*cents))
            }
            Action::Redeem { member, points } => {
                redemptions.push((*member, id.clone()));
                format!("{id},{t},m{member},redeem,,,,,{points},stars,,,,")
            }
            Action::RedeemReward { member } => {
                redemptions.push((*member, id.clone()));
                format!("{id},{t},m{member},redeem,,,,coffee,,,,,,")
            }
            Action::RedeemMiles { member, hundredths } => {
                format!(
                    "{id},{t},m{member},redeem,,,,,{},miles,,,,",
                    money(*hundredths)
                )
            }
            Action::Give { member, points } => {
                let partner = member ^ 1;
                format!("{id},{t},m{member},transfer,,,,,{points},stars,m{partner},,,")
            }
            Action::CancelRedeem { member, of } => {
                let of = redemptions
                    .iter()
                    .filter(|(m, _)| m == member)
                    .nth(*of)
                    .map_or("nothing".to_string(), |(_, id)| id.clone());
                format!("{id},{t},m{member},cancel_redeem,,,,,,,,,,{of}")
            }
            Action::Adjust { member, points } => {
                format!("{id},{t},m{member},adjust,,,,,{points},stars,,,goodwill,")
            }
            Action::Huge {
                member,
                kind,
                amount,
            } => {
                let of = purchases
                    .iter()
                    .rfind(|(m, _)| m == member)
                    .map_or("nothing".to_string(), |(_, id)| id.clone());
                match kind {
                    0 => {
                        purchases.push((*member, id.clone()));
                        format!("{id},{t},m{member},purchase,{amount},app,,,,,,,,")
                    }
                    1 => format!("{id},{t},m{member},return,{amount},,{of},,,,,,,"),
                    2 => format!("{id},{t},m{member},redeem,,,,,{amount},stars,,,,"),
                    3 => format!("{id},{t},m{member},adjust,,,,,{amount},stars,,,goodwill,"),
                    _ => {
                        let partner = member ^ 1;
                        format!("{id},{t},m{member},transfer,,,,,{amount},stars,m{partner},,,")
                    }
                }
            }
            Action::Pool {
                member,
                hundredths,
                out,
            } => {
                let (from, to) = if *out {
                    (pool(*member), format!("m{member}"))
                } else {
                    (format!("m{member}"), pool(*member))
                };
                format!(
                    "{id},{t},{from},transfer,,,,,{},miles,{to},,,",
                    money(*hundredths)
                )
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The pool of a member's pair: m0 and m1 share one, m2 and m3 another.
fn pool(member: usize) -> String {
    format!("household:p{}", member / 2)
}

/// What one run leaves: the ledger text and, per member, the ledger rows
/// and end state (balances, tier).
struct Run {
    ledger: String,
    per_member: BTreeMap<String, (Vec<String>, Vec<Decimal>, usize)>,
}

fn program() -> Program {
    compile(PROGRAM).expect("the test program compiles").0
}

fn run(program: &Program, events: &str) -> Run {
    run_in(program, events, Order::Sort)
}

/// `run`, in `order`: the events come in time order, so applied as read
/// they give what sorted gives; each member keeps its own totals (as
/// `diff` and `simulate` ask), which the balance equation checks too.
fn run_in(program: &Program, events: &str, order: Order) -> Run {
    let records = read(program, Format::Csv, events.as_bytes(), "props.csv");
    let mut buffer = Vec::new();
    let writer = LedgerWriter::new(program, &mut buffer).unwrap();
    let options = Options {
        order,
        until: chrono::DateTime::parse_from_rfc3339("2026-06-30T00:00:00Z")
            .ok()
            .map(|t| t.to_utc()),
        strict: false,
    };
    let sinks = Sinks::to_ledger(writer);
    let finished = loyalty::run::Run::new(program, options)
        .member_totals()
        .replay(Box::new(records), sinks)
        .unwrap();
    let engine = finished.engine;
    if let Some(writer) = finished.sinks.ledger {
        writer.finish().unwrap();
    }
    let ledger = String::from_utf8(buffer).unwrap();
    let mut per_member: BTreeMap<String, (Vec<String>, Vec<Decimal>, usize)> = BTreeMap::new();
    for line in ledger.lines().skip(1) {
        let member = line.split(',').nth(1).unwrap_or_default().to_string();
        per_member
            .entry(member)
            .or_default()
            .0
            .push(line.to_string());
    }
    for member in engine.members() {
        let entry = per_member.entry(member.id.to_string()).or_default();
        entry.1 = member.wallets.iter().map(|w| w.balance()).collect();
        entry.2 = member.tier();
    }
    // The balance equation, for every member and points type.
    for member in engine.members() {
        for (p, wallet) in member.wallets.iter().enumerate() {
            let live: Decimal = wallet.buckets().map(|b| b.amount).sum();
            let kept = wallet.totals();
            if !wallet.balance().is_zero() {
                assert!(kept.is_some(), "member {} points {p}", member.id);
            }
            if let Some(totals) = kept {
                assert_eq!(
                    totals.outstanding(),
                    wallet.balance(),
                    "member {} points {p}",
                    member.id
                );
            }
            assert_eq!(
                wallet.balance(),
                live - wallet.debt(),
                "member {} points {p}",
                member.id
            );
            assert!(wallet.buckets().all(|b| b.amount > Decimal::ZERO));
        }
    }
    // The program's totals are the members' totals added up.
    for (p, totals) in engine.totals().iter().enumerate() {
        let held: Decimal = engine
            .members()
            .iter()
            .map(|m| m.wallets[p].balance())
            .sum();
        assert_eq!(totals.outstanding(), held, "points {p}");
    }
    Run { ledger, per_member }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn balance_equation_holds_and_reruns_sorted_or_as_read_are_identical(actions in prop::collection::vec(action(), 1..120)) {
        let program = program();
        let events = csv(&actions);
        let first = run(&program, &events);
        let second = run_in(&program, &events, Order::Stream);
        prop_assert_eq!(first.ledger, second.ledger);
    }

    /// The same with the tier period anchored elsewhere: counted from a
    /// fixed date, or restarted at each upgrade (rollover included).
    #[test]
    fn balance_equation_holds_with_every_tier_anchor(
        actions in prop::collection::vec(action(), 1..120),
        anchor in prop_oneof![Just("calendar month from 2025-01-15"), Just("qualification year")],
    ) {
        let source = PROGRAM.replace("over calendar month {", &format!("over {anchor} {{"));
        prop_assert!(source.contains(anchor));
        let program = compile(&source).expect("the test program compiles").0;
        let events = csv(&actions);
        let first = run(&program, &events);
        let second = run_in(&program, &events, Order::Stream);
        prop_assert_eq!(first.ledger, second.ledger);
    }

    #[test]
    fn splitting_by_member_changes_nothing(
        actions in prop::collection::vec(action(), 1..120),
        group in prop::collection::vec(any::<bool>(), 2),
    ) {
        let program = program();
        let events = csv(&actions);
        let whole = run(&program, &events);
        // Pairs stay together: their members give to each other and share
        // a pool (`household:p0` is pair 0's).
        let in_part = |line: &str, part: bool| {
            let member = line.split(',').nth(2).unwrap_or_default();
            let pair: usize = match member.strip_prefix("household:p") {
                Some(pair) => pair.parse().unwrap_or(0),
                None => member.trim_start_matches('m').parse::<usize>().unwrap_or(0) / 2,
            };
            group[pair] == part
        };
        let mut merged = BTreeMap::new();
        for part in [true, false] {
            let mut lines = events.lines();
            let header = lines.next().unwrap_or_default();
            let subset: Vec<&str> = lines.filter(|l| in_part(l, part)).collect();
            let text = format!("{header}\n{}\n", subset.join("\n"));
            merged.extend(run(&program, &text).per_member);
        }
        prop_assert_eq!(whole.per_member, merged);
    }
}

/// The properties above are only worth something if the streams do
/// something: a fixed stream exercises earning, pending, expiry, caps,
/// returns, spending and tiers.
#[test]
fn the_generated_streams_exercise_the_engine() {
    let actions: Vec<(u32, Action)> = (0..80)
        .map(|i| {
            let member = (i / 8) % 4;
            let action = match i % 8 {
                0..=2 => Action::Purchase {
                    member,
                    cents: 1_000 + 997 * i as u32,
                    app: i % 2 == 0,
                },
                3 => Action::Return {
                    member,
                    of: 0,
                    cents: 500,
                },
                4 => Action::Redeem { member, points: 20 },
                5 if i % 16 == 5 => Action::Adjust { member, points: 12 },
                5 if i % 32 == 13 => Action::CancelRedeem { member, of: 0 },
                5 => Action::Give { member, points: 15 },
                6 => Action::Pool {
                    member,
                    hundredths: 120,
                    out: i % 16 >= 8,
                },
                _ => Action::RedeemMiles {
                    member,
                    hundredths: 150,
                },
            };
            (3 * 24 * 60, action)
        })
        .collect();
    let result = run(&program(), &csv(&actions));
    for kind in [
        "earn",
        "pend",
        "release",
        "expire",
        "reverse",
        "spend",
        "cap_cut",
        "tier_change",
        "transfer_out",
        "transfer_in",
        "pool_join",
        "adjust",
        "redeem_cancel",
        "preview",
    ] {
        assert!(
            result
                .ledger
                .lines()
                .any(|l| l.starts_with(&format!("{kind},"))),
            "no `{kind}` row in:\n{}",
            result.ledger
        );
    }
}
