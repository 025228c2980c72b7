//! The month-end close: breakage estimates that change over time (a
//! catch-up in the month a change takes effect, KPMG's Example 10A and
//! IFRS 15's Example 52 reproduced through a run, and the FreshMart grocery
//! illustration worked by hand), bad estimate files refused with their line;
//! debts shown apart as a receivable and the reconciliation from
//! outstanding points × value to deferred revenue, worked by hand; closed
//! months kept as booked with late events adjusted in the first open one;
//! breakage by cohort, a chain-ladder triangle worked by hand.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use loyalty::currency::Currency;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::{read, Format};
use loyalty::finance::deferred::{self, RevenueRow, Rounding};
use loyalty::finance::estimates::Estimates;
use loyalty::finance::liability::{Breakage, LiabilityBuilder};
use loyalty::run::{Finished, Run, Sinks};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{compile, d, loyalty};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The deferred revenue of `events` (CSV) replayed through `program` up to
/// the end of `day`, with the breakage `estimates` (CSV) and `rounding`.
fn revenue(
    program: &str,
    events: &str,
    estimates: &str,
    day: &str,
    rounding: Rounding,
) -> Vec<RevenueRow> {
    let program = compile(program);
    let until = day.parse::<Until>().unwrap().instant(program.timezone);
    let records = read(&program, Format::Csv, events.as_bytes(), "t.csv");
    let sinks = Sinks {
        ledger: None::<loyalty::report::LedgerWriter<std::io::Sink>>,
        liability: Some(LiabilityBuilder::new(&program)),
        tier_mix: None,
        rows: None,
    };
    let options = Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    };
    let Finished {
        engine,
        outcome,
        sinks,
        ..
    } = Run::new(&program, options)
        .replay(Box::new(records), sinks)
        .unwrap();
    assert!(outcome.rejects.is_empty(), "{:?}", outcome.rejects);
    let builder = sinks.liability.unwrap();
    let estimates = Estimates::read(&program, estimates).unwrap();
    let table = builder.finish(until, Breakage::Estimates(estimates));
    let allocation = deferred::from_run(&engine, &builder, &table, rounding).unwrap();
    deferred::recognize(&allocation)
}

/// Per year (`2025`): the amount allocated to points, the revenue
/// recognized from them, its catch-up part, and the contract liability at
/// the year's end.
fn by_year(rows: &[RevenueRow]) -> BTreeMap<String, (Decimal, Decimal, Decimal, Decimal)> {
    let mut years: BTreeMap<String, (Decimal, Decimal, Decimal, Decimal)> = BTreeMap::new();
    for row in rows {
        let year = years.entry(row.period.label[..4].to_string()).or_default();
        year.0 += row.allocated;
        year.1 += row.revenue;
        year.2 += row.catch_up;
        year.3 = row.deferred;
    }
    years
}

/// KPMG's Retailer C (Revenue — IFRS 15 Handbook, June 2019, Examples 10A
/// and 10B, adapted from IFRS 15.IE267–IE270): a point per 10 spent, worth
/// 1 on a future purchase.
const RETAILER_C: &str = r#"
program "Retailer C" {
  currency USD
  timezone "UTC"
}
points pts {
  precision 0
  value 1 USD
}
rule base {
  on purchase
  earn 1 pts per 10 USD of amount
}
"#;

/// Year 1 (2025): products bought for 100,000, 10,000 points earned. Year
/// 2: 4,500 points redeemed. Year 3: a further 4,000.
const RETAILER_C_EVENTS: &str = "id,time,member,type,amount,points,points_type
e1,2025-01-02T09:00:00,c,enroll,,,
e2,2025-06-15T10:00:00,c,purchase,100000,,
e3,2026-06-15T10:00:00,c,redeem,,4500,pts
e4,2027-06-15T10:00:00,c,redeem,,4000,pts
";

/// Retailer C's deferred revenue through Year 3, 97% expected to be
/// redeemed from the start and `year_3` from its first day (99% in 10A, 92%
/// in 10B).
fn retailer_c(year_3: &str, rounding: Rounding) -> Vec<RevenueRow> {
    let estimates =
        format!("from,points,expected_redemption\n2025-01-01,pts,97\n2027-01-01,pts,{year_3}\n");
    revenue(
        RETAILER_C,
        RETAILER_C_EVENTS,
        &estimates,
        "2027-12-31",
        rounding,
    )
}

#[test]
fn kpmg_example_10a_three_years_through_a_run_with_revised_estimates() {
    let zero = Decimal::ZERO;
    let year = |y: &str, allocated: &str, revenue: &str, catch_up: &str, deferred: &str| {
        (
            y.to_string(),
            (d(allocated), d(revenue), d(catch_up), d(deferred)),
        )
    };
    for (rounding, expected) in [
        // KPMG's table: 9% of 100,000 allocated in Year 1 (9,700 / 109,700
        // = 8.84%, rounded), nothing recognized; Year 2: 9,000 × 4,500 /
        // 9,700 = 4,175; Year 3: 9,000 × 8,500 / 9,900 − 4,175 = 3,552. The
        // contract liability: 9,000, 4,825, 1,273. The revision is a
        // catch-up in January 2027, the month it takes effect: the 4,500
        // points redeemed so far now earn 9,000 × 4,500 / 9,900 = 4,091,
        // 84 less than booked.
        (
            Rounding::KPMG,
            [
                year("2025", "9000", "0", "0", "9000"),
                year("2026", "0", "4175", "0", "4825"),
                year("2027", "0", "3552", "-84", "1273"),
            ],
        ),
        // On the relative-SSP basis, the ratio unrounded: 100,000 × 9,700
        // / 109,700 = 8,842.30; then 8,842.30 × 4,500 / 9,700 = 4,102.10
        // and 8,842.30 × 8,500 / 9,900 = 7,591.87, less 4,102.10 =
        // 3,489.77. The catch-up: 8,842.30 × 4,500 / 9,900 = 4,019.23,
        // less 4,102.10.
        (
            Rounding::minor_unit(Currency::of("EUR").unwrap()),
            [
                year("2025", "8842.30", "0", "0", "8842.30"),
                year("2026", "0", "4102.10", "0", "4740.20"),
                year("2027", "0", "3489.77", "-82.87", "1250.43"),
            ],
        ),
    ] {
        assert_eq!(
            by_year(&retailer_c("99", rounding)),
            BTreeMap::from(expected),
            "{rounding:?}"
        );
    }
    // June 2027's redemption brings the rest of Year 3.
    let rows = retailer_c("99", Rounding::KPMG);
    let month = |label: &str| rows.iter().find(|r| r.period.label == label).unwrap();
    assert_eq!(month("2027-01").revenue, d("-84"));
    assert_eq!(month("2027-06").revenue, d("3636"));
    assert_eq!(month("2027-06").catch_up, zero);
    // Never a restatement: the months before the revision are what a run
    // with 97% throughout gives.
    let unrevised = retailer_c("97", Rounding::KPMG);
    let before = |rows: &[RevenueRow]| -> Vec<RevenueRow> {
        rows.iter()
            .filter(|r| r.period.label.as_str() < "2027-01")
            .cloned()
            .collect()
    };
    assert_eq!(before(&rows), before(&unrevised));
}

#[test]
fn kpmg_example_10b_lowers_the_estimate_in_year_3() {
    // 9,000 × 8,500 / 9,200 − 4,175 = 4,140; the catch-up in January:
    // 9,000 × 4,500 / 9,200 = 4,402, 227 more than booked.
    let year_3 = by_year(&retailer_c("92", Rounding::KPMG))["2027"];
    assert_eq!(year_3, (Decimal::ZERO, d("4140"), d("227"), d("685")));
}

#[test]
fn ifrs_15_example_52_revises_the_estimate_in_year_2() {
    // IFRS 15.IE267–IE270: 9,500 of the 10,000 points expected to be
    // redeemed, so 100,000 × 9,500 / 109,500 = 8,676 to the points; 4,500
    // redeemed in Year 1: 8,676 × 4,500 / 9,500 = 4,110. In Year 2 the
    // estimate becomes 9,700 and 8,500 have been redeemed: 8,676 × 8,500 /
    // 9,700 − 4,110 = 3,493, leaving a contract liability of 1,073.
    let events = "id,time,member,type,amount,points,points_type
        e1,2025-01-02T09:00:00,c,enroll,,,
        e2,2025-03-15T10:00:00,c,purchase,100000,,
        e3,2025-09-15T10:00:00,c,redeem,,4500,pts
        e4,2026-09-15T10:00:00,c,redeem,,4000,pts"
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    let estimates = "from,points,expected_redemption\n2025-01-01,pts,95\n2026-01-01,pts,97\n";
    let whole_units = Rounding {
        share: None,
        amounts: Some(0),
    };
    let rows = revenue(RETAILER_C, &events, estimates, "2026-12-31", whole_units);
    let zero = Decimal::ZERO;
    assert_eq!(
        by_year(&rows),
        BTreeMap::from([
            ("2025".to_string(), (d("8676"), d("4110"), zero, d("4566"))),
            // The catch-up in January 2026: 8,676 × 4,500 / 9,700 = 4,025.
            ("2026".to_string(), (zero, d("3493"), d("-85"), d("1073"))),
        ])
    );
}

/// `loyalty run` of the FreshMart fixture through May 2025 into `out`,
/// with `extra` flags.
fn fresh_market(out: &Path, extra: &[&str]) -> std::process::Output {
    let program = fixture("fresh_market.loyalty");
    let events = fixture("fresh_market.events.csv");
    let mut args = vec![
        "run",
        program.to_str().unwrap(),
        events.to_str().unwrap(),
        "--until",
        "2025-05-31",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    loyalty(&args)
}

/// The named columns of a CSV file, one vector per record.
fn columns(path: &Path, names: &[&str]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let at: Vec<usize> = names
        .iter()
        .map(|n| header.iter().position(|h| h == *n).unwrap())
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            at.iter().map(|&i| r[i].to_string()).collect()
        })
        .collect()
}

#[test]
fn the_grocery_illustration_catches_up_in_the_month_the_estimate_is_revised() {
    let dir = tempfile::tempdir().unwrap();
    let estimates = fixture("fresh_market.estimates.csv");
    let output = fresh_market(
        dir.path(),
        &[
            "--report",
            "liability,deferred-revenue",
            "--breakage-estimates",
            estimates.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    // Ann (840 EUR) and Bob (420 EUR) earn 1,260 points in January, worth
    // a cent each, 20% expected never to be redeemed: 1,260 × 0.01 × 0.8 =
    // 10.08. Ann's voucher takes 500 in February: 760 × 0.008 = 6.08. From
    // March the estimate is 10%: 760 × 0.009 = 6.84, a catch-up of +0.76
    // in March alone. Carl earns 500 in April (11.34) and spends them in
    // May (6.84).
    let liability = columns(
        &dir.path().join("liability.csv"),
        &["month", "outstanding", "breakage", "liability"],
    );
    let expected: Vec<Vec<String>> = [
        ["2025-01", "1260", "0.2", "10.08"],
        ["2025-02", "760", "0.2", "6.08"],
        ["2025-03", "760", "0.1", "6.84"],
        ["2025-04", "1260", "0.1", "11.34"],
        ["2025-05", "760", "0.1", "6.84"],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    assert_eq!(liability, expected);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(
            "breakage: --breakage-estimates, each month the estimate in force at its end: \
             bonus: the program's 20.00% before 2025-03-01, 10.00% from 2025-03-01 \
             (catch-up on the liability: 2025-03 +0.76 EUR)"
        ),
        "{stdout}"
    );
    // Deferred revenue, the ratio exact and amounts in cents. January:
    // 1,260 × 10.08 / 1,270.08 = 10.00 allocated; 1,260 × 0.8 = 1,008
    // points expected to be redeemed. February: 10.00 × 500 / 1,008 = 4.96.
    // March, the catch-up: 1,260 × 0.9 = 1,134 expected, 10.00 × 500 /
    // 1,134 = 4.41, so −0.55. April: carl's 500 EUR allocate 500 × 4.5 /
    // 504.5 = 4.46 at the new estimate (prospectively); 14.46 × 500 /
    // 1,584 = 4.56. May: 14.46 × 1,000 / 1,584 = 9.13.
    let deferred = columns(
        &dir.path().join("deferred_revenue.csv"),
        &[
            "period",
            "allocated",
            "expected_to_redeem",
            "revenue",
            "catch_up",
            "cumulative_revenue",
            "deferred",
        ],
    );
    let expected: Vec<Vec<String>> = [
        ["2025-01", "10.00", "1008", "0.00", "0.00", "0.00", "10.00"],
        ["2025-02", "0.00", "1008", "4.96", "0.00", "4.96", "5.04"],
        ["2025-03", "0.00", "1134", "-0.55", "-0.55", "4.41", "5.59"],
        ["2025-04", "4.46", "1584", "0.15", "0.00", "4.56", "9.90"],
        ["2025-05", "0.00", "1584", "4.57", "0.00", "9.13", "5.33"],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    assert_eq!(deferred, expected);
}

#[test]
fn without_estimates_the_deferred_revenue_file_has_no_catch_up_column() {
    let dir = tempfile::tempdir().unwrap();
    let output = fresh_market(dir.path(), &["--report", "deferred-revenue"]);
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(dir.path().join("deferred_revenue.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "period,sales,points_issued,points_redeemed,points_expired,expected_redemption,share,\
         allocated,expected_to_redeem,redeemed_to_date,revenue,cumulative_revenue,deferred"
    );
}

#[test]
fn a_bad_estimates_file_stops_the_run_with_its_name_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let estimates = dir.path().join("estimates.csv");
    std::fs::write(
        &estimates,
        "from,points,breakage\n2025-03-01,bonus,10\n2025-02-01,bonus,12\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = fresh_market(
        &out,
        &[
            "--report",
            "liability",
            "--breakage-estimates",
            estimates.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "error: {}:3: 2025-02-01 comes after 2025-03-01: estimates are listed by date, \
             earliest first\n",
            estimates.display()
        )
    );
    assert!(!out.exists(), "nothing is written");
    // --breakage and --breakage-estimates are two answers to one question.
    let output = fresh_market(
        &out,
        &[
            "--report",
            "liability",
            "--breakage",
            "10",
            "--breakage-estimates",
            estimates.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
}

/// A point per dollar, worth a cent, 10% breakage; a return of spent points
/// leaves a debt (`go negative`, the default).
const DEBTS: &str = r#"
program "Test" {
  currency USD
  timezone "UTC"
}
points pts {
  precision 0
  value 0.01 USD
  breakage 10%
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
reward coffee {
  price 50 pts
}
"#;

/// Ann earns 100 points, spends 50 on a coffee and returns the purchase:
/// the return takes back 100, so she owes 50. Bob earns 200 and holds them.
const DEBTS_EVENTS: &str = "id,time,member,type,amount,of,reward
e1,2025-01-02T09:00:00,ann,enroll,,,
e2,2025-01-03T09:00:00,ann,purchase,100,,
e3,2025-01-04T09:00:00,ann,redeem,,,coffee
e4,2025-01-05T09:00:00,ann,return,100,e2,
e5,2025-01-06T09:00:00,bob,enroll,,,
e6,2025-01-07T09:00:00,bob,purchase,200,,
";

#[test]
fn debts_are_a_receivable_and_the_reconciliation_reaches_deferred_revenue() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("debts.loyalty");
    let events = dir.path().join("debts.csv");
    std::fs::write(&program, DEBTS).unwrap();
    std::fs::write(&events, DEBTS_EVENTS).unwrap();
    let out = dir.path().join("out");
    let output = loyalty(&[
        "run",
        program.to_str().unwrap(),
        events.to_str().unwrap(),
        "--until",
        "2025-01-31",
        "--out",
        out.to_str().unwrap(),
        "--report",
        "reconciliation",
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = columns(
        &out.join("reconciliation.csv"),
        &["month", "points", "line", "count", "amount"],
    );
    let expected: Vec<Vec<String>> = [
        // 150 outstanding = bob's 200 held − ann's 50 owed.
        ["outstanding", "150", "1.50"],
        ["owed", "50", "0.50"],
        ["held", "200", "2.00"],
        // Breakage on what is held, 10%: the liability is bob's 200 points.
        ["breakage", "", "-0.20"],
        ["held_liability", "", "1.80"],
        // Ann's debt, valued like the liability: 50 × 0.01 × 0.9.
        ["receivable", "50", "-0.45"],
        ["liability_rounding", "", "0.00"],
        ["liability", "", "1.35"],
        // Deferred revenue counts bob's 200 points issued (ann's were taken
        // back with her sale), 90% of them expected to be redeemed, 50
        // redeemed: 130 still expected, 20 fewer than outstanding.
        ["expected_vs_outstanding", "-20", "-0.05"],
        ["expected_redemptions", "130", "1.30"],
        // 200 × 1.8 / 201.8 = 1.78 allocated to 180 expected points: 1.78 ×
        // 130 / 180 = 1.29.
        ["allocation", "", "-0.01"],
        ["deferred_rounding", "", "0.00"],
        // 1.78 − 1.78 × 50 / 180 (0.49 recognized).
        ["deferred", "", "1.29"],
    ]
    .iter()
    .map(|[line, count, amount]| {
        ["2025-01", "pts", line, count, amount]
            .iter()
            .map(|c| c.to_string())
            .collect()
    })
    .collect();
    assert_eq!(lines, expected);
    // The printed summary has the same lines, labelled.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains(
            "reconciliation, USD at the end of 2025-01 points line count USD \
             pts outstanding points × value 150 1.50 \
             pts + owed: negative balances × value, shown apart 50 0.50"
        ),
        "{stdout}"
    );
    assert!(
        words.contains("pts − receivable: owed × value × (1 − breakage) 50 -0.45"),
        "{stdout}"
    );
}

/// The FreshMart history as closes see it: `known` is the number of the
/// sample's records the January close had (Ann's and Bob's January), and
/// `late` records follow.
fn fresh_market_events(dir: &Path, name: &str, known: usize, late: &[&str]) -> PathBuf {
    let sample = std::fs::read_to_string(fixture("fresh_market.events.csv")).unwrap();
    let lines: Vec<&str> = sample
        .lines()
        .take(known + 1)
        .chain(late.iter().copied())
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// `loyalty run` of FreshMart on `events` through `until` into `out`, with
/// the liability and deferred revenue reports, closing the months through
/// a day as the folder of a previous close booked them when `closed` says
/// so, and `extra` flags; panics unless it succeeds.
fn close(
    events: &Path,
    until: &str,
    out: &Path,
    closed: Option<(&str, &Path)>,
    extra: &[&str],
) -> String {
    let program = fixture("fresh_market.loyalty");
    let mut args = vec![
        "run",
        program.to_str().unwrap(),
        events.to_str().unwrap(),
        "--until",
        until,
        "--out",
        out.to_str().unwrap(),
        "--report",
        "liability,deferred-revenue",
    ];
    if let Some((through, booked)) = closed {
        args.extend([
            "--close-through",
            through,
            "--booked",
            booked.to_str().unwrap(),
        ]);
    }
    args.extend_from_slice(extra);
    let output = loyalty(&args);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A CSV file's lines.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Dana's January purchase reaches the books in February, after January
/// was closed.
const DANA_LATE: [&str; 2] = [
    "e9,2025-01-25 10:00,dana,enroll,,",
    "e10,2025-01-26 10:00,dana,purchase,200,",
];

#[test]
fn a_late_event_in_a_closed_month_is_booked_in_the_first_open_one() {
    let dir = tempfile::tempdir().unwrap();
    let (jan, feb) = (dir.path().join("jan"), dir.path().join("feb"));
    // The January close: Ann's 840 EUR and Bob's 420, 1,260 points.
    let known = fresh_market_events(dir.path(), "jan.csv", 4, &[]);
    close(&known, "2025-01-31", &jan, None, &[]);
    // The February close has Ann's voucher, and Dana's January purchase.
    let all = fresh_market_events(dir.path(), "feb.csv", 5, &DANA_LATE);
    let stdout = close(&all, "2025-02-28", &feb, Some(("2025-01-31", &jan)), &[]);

    // As restated, January has Dana's 200 points: 1,460 × 0.008 = 11.68.
    let restated = lines(&feb.join("liability.csv"));
    assert_eq!(
        restated[1],
        "2025-01,bonus,1460,0,0,0,1460,0.2,11.68,0.00,EUR"
    );
    // As booked, January is what the January close booked; February books
    // the 200 points as issued, and shows the difference: +200 points, and
    // 11.68 − 10.08 = +1.60 EUR of liability at the close.
    let booked = lines(&feb.join("liability_booked.csv"));
    assert_eq!(
        booked,
        [
            "month,points,issued,spent,expired,reversed,outstanding,breakage,liability,cost,\
             adjustment,adjustment_liability,adjustment_cost,currency",
            "2025-01,bonus,1260,0,0,0,1260,0.2,10.08,0.00,0,0.00,0.00,EUR",
            "2025-02,bonus,200,500,0,0,960,0.2,7.68,5.00,200,1.60,0.00,EUR",
        ]
    );
    assert_eq!(
        lines(&jan.join("liability.csv"))[1],
        "2025-01,bonus,1260,0,0,0,1260,0.2,10.08,0.00,EUR"
    );
    // February's outstanding is the same in both views: the closing stock
    // is what the events say.
    assert_eq!(restated[2], "2025-02,bonus,0,500,0,0,960,0.2,7.68,5.00,EUR");
    assert!(
        stdout.contains(
            "adjustments for the closed months, booked in 2025-02: \
             bonus: +200 points, +1.60 EUR liability, 0.00 EUR cost"
        ),
        "{stdout}"
    );

    // Deferred revenue: restated, January allocates 1,460 × 11.68 /
    // 1,471.68 = 11.59; booked, it keeps its 10.00 and February books the
    // 1.59 difference, with 11.59 × 500 / 1,168 = 4.96 of revenue, leaving
    // the restated contract liability, 6.63.
    let revenue = columns(
        &feb.join("deferred_revenue_booked.csv"),
        &[
            "period",
            "sales",
            "allocated",
            "revenue",
            "deferred",
            "adjustment_allocated",
            "adjustment_revenue",
        ],
    );
    assert_eq!(
        revenue,
        [
            ["2025-01", "1260.00", "10.00", "0.00", "10.00", "0.00", "0.00"],
            ["2025-02", "200.00", "1.59", "4.96", "6.63", "1.59", "0.00"],
        ]
    );
    let restated = columns(&feb.join("deferred_revenue.csv"), &["period", "deferred"]);
    assert_eq!(restated, [["2025-01", "11.59"], ["2025-02", "6.63"]]);
}

#[test]
fn a_close_keeps_what_earlier_closes_booked_and_adjusted() {
    let dir = tempfile::tempdir().unwrap();
    let (jan, feb, mar) = (
        dir.path().join("jan"),
        dir.path().join("feb"),
        dir.path().join("mar"),
    );
    let known = fresh_market_events(dir.path(), "jan.csv", 4, &[]);
    close(&known, "2025-01-31", &jan, None, &[]);
    let by_feb = fresh_market_events(dir.path(), "feb.csv", 5, &DANA_LATE);
    close(&by_feb, "2025-02-28", &feb, Some(("2025-01-31", &jan)), &[]);
    // Bob's purchase of 20 February arrives in March, sent late: streamed,
    // it is applied in its place.
    let bob_late = "e11,2025-02-20 10:00,bob,purchase,100,";
    let late: Vec<&str> = DANA_LATE.iter().copied().chain([bob_late]).collect();
    let by_mar = fresh_market_events(dir.path(), "mar.csv", 5, &late);
    close(
        &by_mar,
        "2025-03-31",
        &mar,
        Some(("2025-02-28", &feb)),
        &["--stream"],
    );
    // January and February as the February close booked them, its
    // adjustment included; March books Bob's 100 points (+0.80 EUR).
    let booked = lines(&mar.join("liability_booked.csv"));
    let feb_booked = lines(&feb.join("liability_booked.csv"));
    assert_eq!(booked[..3], feb_booked[..3]);
    assert_eq!(
        booked[3],
        "2025-03,bonus,100,0,0,0,1060,0.2,8.48,0.00,100,0.80,0.00,EUR"
    );
    // Each booked month's outstanding is the one before plus its flows.
    let rows = columns(
        &mar.join("liability_booked.csv"),
        &["issued", "spent", "expired", "reversed", "outstanding"],
    );
    let mut held = Decimal::ZERO;
    for row in &rows {
        held += d(&row[0]) - d(&row[1]) - d(&row[2]) - d(&row[3]);
        assert_eq!(held, d(&row[4]), "{rows:?}");
    }
    // Deferred revenue too: February's 100 EUR sale, 100 × 0.8 / 100.8 =
    // 0.79, is booked in March.
    let revenue = columns(
        &mar.join("deferred_revenue_booked.csv"),
        &["period", "allocated", "adjustment_allocated"],
    );
    assert_eq!(
        revenue,
        [
            ["2025-01", "10.00", "0.00"],
            ["2025-02", "1.59", "1.59"],
            ["2025-03", "0.79", "0.79"],
        ]
    );
}

#[test]
fn without_late_events_the_books_are_the_restated_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (jan, feb) = (dir.path().join("jan"), dir.path().join("feb"));
    let events = fixture("fresh_market.events.csv");
    close(&events, "2025-01-31", &jan, None, &[]);
    let stdout = close(&events, "2025-05-31", &feb, Some(("2025-01-31", &jan)), &[]);
    let restated = lines(&feb.join("liability.csv"));
    let booked = lines(&feb.join("liability_booked.csv"));
    for (restated, booked) in restated.iter().zip(&booked).skip(1) {
        assert_eq!(
            booked,
            &restated.replace(",EUR", ",0,0.00,0.00,EUR"),
            "no adjustment"
        );
    }
    assert!(
        stdout.contains("adjustments booked in 2025-02: none, the closed months are as booked"),
        "{stdout}"
    );
}

#[test]
fn a_close_that_cannot_be_made_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let jan = dir.path().join("jan");
    let events = fixture("fresh_market.events.csv");
    close(&events, "2025-01-31", &jan, None, &[]);
    let program = fixture("fresh_market.loyalty");
    let attempt = |until: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            program.to_str().unwrap(),
            events.to_str().unwrap(),
            "--until",
            until,
            "--out",
            dir.path().join("out").to_str().unwrap(),
            "--report",
            "liability",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = loyalty(&args);
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let booked = ["--booked", jan.to_str().unwrap()];
    fn with<'a>(close: &'a str, booked: &[&'a str; 2]) -> Vec<&'a str> {
        ["--close-through", close]
            .into_iter()
            .chain(booked.iter().copied())
            .collect()
    }
    // Whole months only, and a --booked folder.
    let (code, stderr) = attempt("2025-05-31", &with("2025-01-15", &booked));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--close-through 2025-01-15: books close by whole months"),
        "{stderr}"
    );
    let (code, _) = attempt("2025-05-31", &["--close-through", "2025-01-31"]);
    assert_eq!(code, Some(2));
    // The January close cannot close February.
    let (code, stderr) = attempt("2025-05-31", &with("2025-02-28", &booked));
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: the booked liability ends at 2025-01, but --close-through closes 2025-02: \
         give the folder of the close that booked it\n"
    );
    // Nothing is left open to book adjustments in.
    let (_, stderr) = attempt("2025-01-31", &with("2025-01-31", &booked));
    assert!(
        stderr.contains("--close-through closes every month of the run (through 2025-01)"),
        "{stderr}"
    );
    // A booked report that is not this program's, with its line.
    let liability = jan.join("liability.csv");
    let text = std::fs::read_to_string(&liability).unwrap();
    std::fs::write(
        &liability,
        text.replace(",10.08,", ",9000000000000000000000000000,"),
    )
    .unwrap();
    let (code, stderr) = attempt("2025-05-31", &with("2025-01-31", &booked));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "error: {}:2: column `liability` adds up past 10^27: not a report loyalty writes\n",
            liability.display()
        )
    );
    std::fs::write(&liability, text.replace(",bonus,", ",stars,")).unwrap();
    let (code, stderr) = attempt("2025-05-31", &with("2025-01-31", &booked));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "error: {}:2: the program has no points type `stars`\n",
            liability.display()
        )
    );
    assert!(!dir.path().join("out").exists(), "nothing is written");
}

/// A point per dollar, worth a cent, never expiring.
const COHORTS: &str = r#"
program "Test" {
  currency USD
  timezone "UTC"
}
points pts {
  precision 0
  value 0.01 USD
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#;

/// `loyalty run --report cohorts` of `events` over COHORTS through `until`
/// in `dir`: what it printed, and the folder.
fn cohorts(dir: &Path, events: &str, until: &str) -> (String, PathBuf) {
    let program = dir.join("cohorts.loyalty");
    let path = dir.join("cohorts.csv");
    std::fs::write(&program, COHORTS).unwrap();
    std::fs::write(&path, events).unwrap();
    let out = dir.join("out");
    let output = loyalty(&[
        "run",
        program.to_str().unwrap(),
        path.to_str().unwrap(),
        "--until",
        until,
        "--out",
        out.to_str().unwrap(),
        "--report",
        "cohorts",
    ]);
    assert!(output.status.success(), "{output:?}");
    (String::from_utf8(output.stdout).unwrap(), out)
}

#[test]
fn breakage_by_cohort_is_a_chain_ladder_on_the_points_not_yet_redeemed() {
    // Four monthly cohorts: Ann's 1,000 points of January (200 redeemed in
    // February, 100 in March), Bob's 500 of February (100 in March),
    // Carl's 400 of March (100 in April), Dana's 200 of April.
    let events = "id,time,member,type,amount,points,points_type
a0,2025-01-01T09:00:00,ann,enroll,,,
a1,2025-01-10T09:00:00,ann,purchase,1000,,
a2,2025-02-10T09:00:00,ann,redeem,,200,pts
a3,2025-03-10T09:00:00,ann,redeem,,100,pts
b0,2025-02-01T09:00:00,bob,enroll,,,
b1,2025-02-05T09:00:00,bob,purchase,500,,
b2,2025-03-15T09:00:00,bob,redeem,,100,pts
c0,2025-03-01T09:00:00,carl,enroll,,,
c1,2025-03-05T09:00:00,carl,purchase,400,,
c2,2025-04-05T09:00:00,carl,redeem,,100,pts
d0,2025-04-01T09:00:00,dana,enroll,,,
d1,2025-04-05T09:00:00,dana,purchase,200,,
";
    let dir = tempfile::tempdir().unwrap();
    let (stdout, out) = cohorts(dir.path(), events, "2025-04-30");
    let curves = columns(
        &out.join("cohorts.csv"),
        &["cohort", "age", "issued", "redeemed", "share"],
    );
    let expected: Vec<Vec<String>> = [
        ["2025-01", "0", "1000", "0", "0"],
        ["2025-01", "1", "1000", "200", "0.2"],
        ["2025-01", "2", "1000", "300", "0.3"],
        ["2025-01", "3", "1000", "300", "0.3"],
        ["2025-02", "0", "500", "0", "0"],
        ["2025-02", "1", "500", "100", "0.2"],
        ["2025-02", "2", "500", "100", "0.2"],
        ["2025-03", "0", "400", "0", "0"],
        ["2025-03", "1", "400", "100", "0.25"],
        ["2025-04", "0", "200", "0", "0"],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    assert_eq!(curves, expected);

    // Not yet redeemed: January 1,000, 800, 700, 700; February 500, 400,
    // 400; March 400, 300; April 200. Age-to-age factors: (800 + 400 +
    // 300) / (1,000 + 500 + 400) = 15/19, (700 + 400) / (800 + 400) =
    // 11/12, 700 / 700 = 1. Never redeemed: January 700, February 400 × 1,
    // March 300 × 11/12 = 275, April 200 × 15/19 × 11/12 = 144.7368; of
    // 2,100 issued, 580.2632 projected to be redeemed: 27.63%, breakage
    // 72.37%. The 1,600 points outstanding at 1 cent: 4.42 USD, and at
    // ±2 points of breakage 4.74 and 4.10.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cohorts.json")).unwrap()).unwrap();
    let fit = &json["points"][0];
    let factors: Vec<(&str, u64)> = fit["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["factor"].as_str().unwrap(),
                f["cohorts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(factors, [("0.789474", 3), ("0.916667", 2), ("1", 1)]);
    let never: Vec<&str> = fit["cohorts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["unredeemed_ultimate"].as_str().unwrap())
        .collect();
    assert_eq!(never, ["700", "400", "275", "144.7368"]);
    assert_eq!(fit["redeemed_ultimate"], "580.2632");
    assert_eq!(fit["ultimate_redemption_rate"], "0.2763");
    assert_eq!(fit["breakage"], "0.7237");
    assert_eq!(fit["outstanding"], "1600");
    let sensitivity: Vec<(&str, &str)> = fit["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["breakage"].as_str().unwrap(),
                s["liability"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sensitivity,
        [("0.7037", "4.74"), ("0.7237", "4.42"), ("0.7437", "4.10")]
    );
    assert!(
        stdout.contains(
            "pts: 4 cohorts, 580.2632 of 2100 points projected to be redeemed: ultimate \
             redemption rate 27.63%, breakage 72.37%; liability USD 4.74 at 70.37%, 4.42 at \
             72.37%, 4.10 at 74.37%"
        ),
        "{stdout}"
    );
}

#[test]
fn redemptions_are_traced_to_cohorts_oldest_first_and_back_when_cancelled() {
    // Ann earns 100 in January and 100 in February, redeems 150 in March
    // (January's 100, then 50 of February's) and cancels it in April (the
    // points go back). In May she earns 200 and redeems all 400; in June
    // she returns half of May's purchase: 100 of May's points were
    // redeemed, so they are taken back rather than redeemed, and the 100
    // she earns in July repay her debt: redeemed from July's cohort.
    let events = "id,time,member,type,amount,points,points_type,redemption,of
a0,2025-01-01T09:00:00,ann,enroll,,,,,
a1,2025-01-10T09:00:00,ann,purchase,100,,,,
a2,2025-02-10T09:00:00,ann,purchase,100,,,,
r1,2025-03-10T09:00:00,ann,redeem,,150,pts,,
c1,2025-04-10T09:00:00,ann,cancel_redeem,,,,r1,
a3,2025-05-10T09:00:00,ann,purchase,200,,,,
r2,2025-05-20T09:00:00,ann,redeem,,400,pts,,
x1,2025-06-10T09:00:00,ann,return,100,,,,a3
a4,2025-07-10T09:00:00,ann,purchase,100,,,,
";
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = cohorts(dir.path(), events, "2025-07-31");
    let curves = columns(&out.join("cohorts.csv"), &["cohort", "age", "redeemed"]);
    let of = |cohort: &str| -> Vec<String> {
        curves
            .iter()
            .filter(|r| r[0] == cohort)
            .map(|r| r[2].clone())
            .collect()
    };
    // January: 100 redeemed in March, given back in April, redeemed in May.
    assert_eq!(of("2025-01"), ["0", "0", "100", "0", "100", "100", "100"]);
    // February: 50 in March, back in April, all 100 in May.
    assert_eq!(of("2025-02"), ["0", "50", "0", "100", "100", "100"]);
    // May's: 200 redeemed, 100 of them taken back by the return in June
    // (its 100 points kept, all redeemed); July's repaid the debt.
    assert_eq!(of("2025-05"), ["200", "100", "100"]);
    assert_eq!(of("2025-07"), ["100"]);
}
