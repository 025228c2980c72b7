//! Finance reports: the liability table reconciles with the ledger for every
//! example program, and line by line with what members hold and owe and
//! with deferred revenue; breakage is estimated by earning cohort, deferred
//! revenue reproduces KPMG's published example, and `diff` prices a change.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use chrono::{DateTime, NaiveDate, Utc};
mod support;

use loyalty::compile::{compile, Program};
use loyalty::currency::Currency;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::{read, Format};
use loyalty::finance::deferred::{self, Allocation, Period, Rounding};
use loyalty::finance::diff;
use loyalty::finance::liability::{Breakage, LiabilityBuilder, LiabilityTable, PERKS};
use loyalty::finance::reconcile::{self, Line};
use loyalty::report::{self, LedgerWriter};
use loyalty::run::{Finished, Run, Sinks};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

fn program(source: &str) -> Program {
    compile(source)
        .unwrap_or_else(|e| panic!("does not compile: {e:?}"))
        .0
}

/// The last instant of a local day, as the CLI reads `--until DAY`.
fn end_of_day(program: &Program, day: &str) -> DateTime<Utc> {
    day.parse::<Until>().unwrap().instant(program.timezone)
}

/// Inline CSV: each line trimmed, blank lines dropped.
fn csv(events: &str) -> Cursor<Vec<u8>> {
    let lines: Vec<&str> = events
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Cursor::new(lines.join("\n").into_bytes())
}

/// `records` replayed through `program` up to `until` with the liability
/// table's builder, keeping balances and tracing redemptions to cohorts
/// (and `ledger`'s lines, when given), as the run's sinks.
fn replayed<'p, W: std::io::Write + Send>(
    program: &'p Program,
    records: impl Iterator<Item = Result<loyalty::events::Event, loyalty::events::Reject>> + 'p,
    until: DateTime<Utc>,
    ledger: Option<LedgerWriter<'p, W>>,
) -> Finished<'p, 'p, W> {
    let sinks = Sinks {
        ledger,
        liability: Some(
            LiabilityBuilder::new(program)
                .with_balances()
                .with_cohorts(),
        ),
        tier_mix: None,
        rows: None,
    };
    Run::new(program, options(until))
        .replay(Box::new(records), sinks)
        .unwrap()
}

fn options(until: DateTime<Utc>) -> Options {
    Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    }
}

/// Every example program with a sample stream.
fn example_programs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(programs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "loyalty"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "example programs missing: {names:?}");
    names
}

fn sample_records<'p>(
    program: &'p Program,
    name: &str,
) -> impl Iterator<Item = Result<loyalty::events::Event, loyalty::events::Reject>> + 'p {
    let path = programs_dir().join(format!("{name}.events.csv"));
    let file = std::fs::File::open(&path).unwrap();
    read(
        program,
        Format::Csv,
        std::io::BufReader::new(file),
        &path.display().to_string(),
    )
}

/// Sums of `ledger.csv`'s columns as written: per (points type, kind) the
/// amounts, and the cost column.
fn ledger_sums(ledger: &[u8]) -> (BTreeMap<(String, String), Decimal>, Decimal) {
    let mut reader = csv::Reader::from_reader(ledger);
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (kind, points, amount, cost) = (
        column("kind"),
        column("points"),
        column("amount"),
        column("cost"),
    );
    let mut amounts = BTreeMap::new();
    let mut costs = Decimal::ZERO;
    for record in reader.records() {
        let record = record.unwrap();
        if !record[points].is_empty() {
            *amounts
                .entry((record[points].to_string(), record[kind].to_string()))
                .or_default() += d(&record[amount]);
        }
        if !record[cost].is_empty() {
            costs += d(&record[cost]);
        }
    }
    (amounts, costs)
}

#[test]
fn liability_reconciles_with_the_ledger_for_every_example_program() {
    for name in example_programs() {
        let source =
            std::fs::read_to_string(programs_dir().join(format!("{name}.loyalty"))).unwrap();
        let program = program(&source);
        let until = end_of_day(&program, support::until_of(&name));
        let mut ledger = Vec::new();
        let writer = LedgerWriter::new(&program, &mut ledger).unwrap();
        let Finished {
            engine,
            outcome,
            sinks,
            ..
        } = replayed(
            &program,
            sample_records(&program, &name),
            until,
            Some(writer),
        );
        sinks.ledger.unwrap().finish().unwrap();
        let table = sinks.liability.unwrap().finish(until, Breakage::Program);
        let summary = report::summary(&engine, &outcome, engine.clock().unwrap());
        let (amounts, ledger_cost) = ledger_sums(&ledger);
        let ledger_sum = |points: &str, kinds: &[&str]| -> Decimal {
            kinds
                .iter()
                .filter_map(|k| amounts.get(&(points.to_string(), k.to_string())))
                .sum()
        };

        // Months run without a gap from the first entry to `until`.
        let months: Vec<&str> = table.rows.iter().map(|r| r.month.as_str()).collect();
        let mut distinct = months.clone();
        distinct.dedup();
        let per_month = program.points.len() + usize::from(!program.perks.is_empty());
        assert_eq!(months.len(), distinct.len() * per_month, "{name}");
        assert_eq!(
            distinct.last().copied(),
            Some(&support::until_of(&name)[..7]),
            "{name}"
        );
        for pair in distinct.windows(2) {
            let next = NaiveDate::parse_from_str(&format!("{}-01", pair[0]), "%Y-%m-%d")
                .unwrap()
                .checked_add_months(chrono::Months::new(1))
                .unwrap();
            assert_eq!(next.format("%Y-%m").to_string(), pair[1], "{name}");
        }

        for (p, points) in program.points.iter().enumerate() {
            let rows: Vec<_> = table
                .rows
                .iter()
                .filter(|r| r.points == points.name)
                .collect();
            let sum = |f: fn(&&loyalty::finance::liability::LiabilityRow) -> Decimal| {
                rows.iter().map(f).sum::<Decimal>()
            };
            let s = &summary.points[p];
            let context = format!("{name} {}", points.name);
            assert_eq!(sum(|r| r.issued), s.issued, "{context}: issued");
            assert_eq!(sum(|r| r.spent), s.spent, "{context}: spent");
            assert_eq!(sum(|r| r.expired), s.expired, "{context}: expired");
            assert_eq!(sum(|r| r.reversed), s.reversed, "{context}: reversed");
            // The same, from ledger.csv as written.
            assert_eq!(
                sum(|r| r.issued),
                ledger_sum(&points.name, &["earn", "pend"]),
                "{context}"
            );
            assert_eq!(sum(|r| r.spent), -ledger_sum(&points.name, &["spend"]));
            assert_eq!(sum(|r| r.expired), -ledger_sum(&points.name, &["expire"]));
            assert_eq!(sum(|r| r.reversed), -ledger_sum(&points.name, &["reverse"]));
            let last = rows.last().unwrap();
            let balances: Decimal = engine
                .members()
                .iter()
                .map(|m| m.wallets[p].balance())
                .sum();
            assert_eq!(last.outstanding, balances, "{context}: outstanding");
            assert_eq!(
                Some(last.liability).filter(|_| s.liability.is_some()),
                s.liability,
                "{context}: liability"
            );
            if s.liability.is_none() {
                assert!(rows.iter().all(|r| r.liability.is_zero()), "{context}");
            }
            // Each month's outstanding is the last one's plus its movements.
            let mut held = Decimal::ZERO;
            for r in &rows {
                held += r.issued - r.spent - r.expired - r.reversed;
                assert_eq!(r.outstanding, held, "{context} {}", r.month);
            }
        }
        let cost: Decimal = table.rows.iter().map(|r| r.cost).sum();
        assert_eq!(cost, ledger_cost, "{name}: cost");
        assert!(ledger_cost > Decimal::ZERO, "{name}: the sample has costs");
    }
}

#[test]
fn the_reconciliation_adds_up_line_by_line_for_every_example_program() {
    let mut owed_somewhere = false;
    for name in example_programs() {
        let source =
            std::fs::read_to_string(programs_dir().join(format!("{name}.loyalty"))).unwrap();
        let program = program(&source);
        let until = end_of_day(&program, support::until_of(&name));
        let Finished { engine, sinks, .. } =
            replayed::<std::io::Sink>(&program, sample_records(&program, &name), until, None);
        let builder = sinks.liability.unwrap();
        let table = builder.finish(until, Breakage::Program);
        let holdings = builder.holdings(until).unwrap();
        let revenue = deferred::from_run(
            &engine,
            &builder,
            &table,
            Rounding::minor_unit(program.currency),
        )
        .map(|allocation| deferred::recognize(&allocation));
        let deferred = match &revenue {
            Ok(rows) => Ok((deferred::redeemable(&program).unwrap().1, rows.as_slice())),
            Err(why) => Err(why.clone()),
        };
        let reconciliation = reconcile::reconcile(&program, &table, &holdings, deferred);

        // What members hold less what they owe is the outstanding points,
        // every month; at the end, what they owe is the engine's negative
        // balances.
        for row in table.rows.iter().filter(|r| r.points != PERKS) {
            let p = program
                .points
                .iter()
                .position(|t| t.name == row.points)
                .unwrap();
            let month = holdings
                .iter()
                .find(|(m, _)| loyalty::finance::liability::month_name(**m) == row.month)
                .unwrap()
                .1;
            assert_eq!(
                month[p].held - month[p].owed,
                row.outstanding,
                "{name} {} {}",
                row.month,
                row.points
            );
        }
        let last = holdings.values().next_back().unwrap();
        for (p, _) in program.points.iter().enumerate() {
            let owed: Decimal = engine
                .members()
                .iter()
                .map(|m| (-m.wallets[p].balance()).max(Decimal::ZERO))
                .sum();
            assert_eq!(last[p].owed, owed, "{name}");
            owed_somewhere |= holdings.values().any(|m| m[p].owed > Decimal::ZERO);
        }

        // Each total is the sum of the lines since the one before, and the
        // totals are the other reports' figures.
        let totals = [
            Line::Held,
            Line::HeldLiability,
            Line::Liability,
            Line::ExpectedRedemptions,
            Line::Deferred,
        ];
        let mut since_total = Decimal::ZERO;
        let mut checked = 0;
        for line in &reconciliation.lines {
            if line.line == Line::Outstanding {
                since_total = Decimal::ZERO;
            }
            if totals.contains(&line.line) {
                assert_eq!(line.amount, since_total, "{name} {line:?}");
                checked += 1;
            } else {
                since_total += line.amount;
                continue;
            }
            since_total = line.amount;
            let liability = || {
                table
                    .rows
                    .iter()
                    .find(|r| r.month == line.month && r.points == line.points)
                    .unwrap()
                    .liability
            };
            match line.line {
                Line::Liability => assert_eq!(line.amount, liability(), "{name}"),
                Line::Deferred => {
                    let rows = revenue.as_ref().unwrap();
                    let row = rows.iter().find(|r| r.period.label == line.month).unwrap();
                    assert_eq!(line.amount, row.deferred, "{name} {}", line.month);
                }
                _ => {}
            }
        }
        assert!(checked > 0, "{name}: no lines");
        assert_eq!(
            reconciliation.without_deferred.is_none(),
            reconciliation
                .lines
                .iter()
                .any(|l| l.line == Line::Deferred),
            "{name}"
        );
    }
    assert!(
        owed_somewhere,
        "some sample has a member in debt at a month's end"
    );
}

#[test]
fn every_redemption_is_traced_to_a_cohort_for_every_example_program() {
    for name in example_programs() {
        let source =
            std::fs::read_to_string(programs_dir().join(format!("{name}.loyalty"))).unwrap();
        let program = program(&source);
        let until = end_of_day(&program, support::until_of(&name));
        let Finished { sinks, .. } =
            replayed::<std::io::Sink>(&program, sample_records(&program, &name), until, None);
        let builder = sinks.liability.unwrap();
        let table = builder.finish(until, Breakage::Program);
        let holdings = builder.holdings(until).unwrap();
        let report = builder.cohorts(&table, until).unwrap();
        assert!(!report.points.is_empty(), "{name}");
        for fit in &report.points {
            let p = program
                .points
                .iter()
                .position(|t| t.name == fit.points)
                .unwrap();
            // Redeemed to date over the cohorts is what was spent, less
            // what members still owe for points returned after they were
            // spent (the points that will repay it are not earned yet).
            let traced: Decimal = fit
                .cohorts
                .iter()
                .map(|c| c.redeemed.last().copied().unwrap_or_default())
                .sum();
            let spent: Decimal = table
                .rows
                .iter()
                .filter(|r| r.points == fit.points)
                .map(|r| r.spent)
                .sum();
            let owed = holdings.values().next_back().unwrap()[p].owed;
            assert_eq!(traced, spent - owed, "{name} {}", fit.points);
            assert!(
                fit.ultimate_redemption_rate >= Decimal::ZERO
                    && fit.ultimate_redemption_rate <= Decimal::ONE,
                "{name}"
            );
            // More breakage, less liability.
            let liabilities: Vec<Decimal> = fit.sensitivity.iter().map(|s| s.liability).collect();
            assert!(
                liabilities.windows(2).all(|w| w[0] >= w[1]),
                "{name}: {liabilities:?}"
            );
        }
    }
}

#[test]
fn perk_costs_have_their_own_row_and_a_given_breakage_applies_to_every_type() {
    let source = std::fs::read_to_string(programs_dir().join("bean_stars.loyalty")).unwrap();
    let program = program(&source);
    let until = end_of_day(&program, "2026-03-31");
    let finished = replayed::<std::io::Sink>(
        &program,
        sample_records(&program, "bean_stars"),
        until,
        None,
    );
    let table = finished
        .sinks
        .liability
        .unwrap()
        .finish(until, Breakage::Given(d("0.4")));
    let perks: Decimal = table
        .rows
        .iter()
        .filter(|r| r.points == PERKS)
        .map(|r| r.cost)
        .sum();
    // ann's birthday_drink at 4.50 in 2025 and 2026, dana's reserve_tasting
    // at 6.00; her free_refills cost nothing.
    assert_eq!(perks, d("15.00"));
    let last = table.rows.iter().rfind(|r| r.points == "stars").unwrap();
    assert_eq!(last.breakage, d("0.4"));
    assert_eq!(
        last.liability,
        (last.outstanding * d("0.03") * d("0.6")).round_dp(2)
    );
    assert_eq!(
        table.breakage_method,
        "--breakage 40.00% for every points type: stars: 40.00%"
    );
}

/// Points that expire at the end of the second month after they were
/// earned, at 1 cent each, with the program's own estimate of 10%.
const EXPIRING: &str = r#"
program "Test" {
  currency USD
  timezone "America/New_York"
}
points pts {
  precision 0
  value 0.01 USD
  breakage 10%
  expire 2 months after earn at end of month
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
reward coffee {
  price 50 pts
}
"#;

/// January: ann earns 100, bob 200. February: ann redeems 50, bob returns
/// a quarter of his purchase (50 points back), carl earns 300. On 1 April
/// the January points left expire: ann's 50 and bob's 150.
const EXPIRING_EVENTS: &str = "id,time,member,type,amount,of,reward
    e1,2025-01-02 09:00,ann,enroll,,,
    e2,2025-01-10 10:00,ann,purchase,100,,
    e3,2025-01-03 09:00,bob,enroll,,,
    e4,2025-01-20 10:00,bob,purchase,200,,
    e5,2025-02-05 10:00,ann,redeem,,,coffee
    e6,2025-02-06 10:00,bob,return,50,e4,
    e7,2025-02-01 09:00,carl,enroll,,,
    e8,2025-02-15 10:00,carl,purchase,300,,";

fn table(source: &str, events: &str, day: &str, breakage: Breakage) -> LiabilityTable {
    let program = program(source);
    let until = end_of_day(&program, day);
    let records = read(&program, Format::Csv, csv(events), "t.csv");
    let finished = replayed::<std::io::Sink>(&program, records, until, None);
    assert!(
        finished.outcome.rejects.is_empty(),
        "{:?}",
        finished.outcome.rejects
    );
    finished.sinks.liability.unwrap().finish(until, breakage)
}

#[test]
fn breakage_is_estimated_over_the_cohorts_whose_expiry_has_run_out() {
    let table = table(EXPIRING, EXPIRING_EVENTS, "2025-04-30", Breakage::Estimated);
    // The January cohort: 300 issued, 50 of them reversed (in February,
    // but they were earned in January), 200 expired: 200 / 250 = 80%. The
    // February cohort expires on 1 May, after `until`: not counted.
    assert_eq!(
        table.breakage_method,
        "estimated from the replayed history by monthly earning cohort: pts: 80.00% \
         (200 of the 250 points issued less reversed in the earning cohort 2025-01 expired; \
         their expiry ran out by 2025-04-30)"
    );
    let rows: Vec<(&str, Decimal, Decimal, Decimal, Decimal)> = table
        .rows
        .iter()
        .map(|r| {
            (
                r.month.as_str(),
                r.issued,
                r.expired,
                r.outstanding,
                r.liability,
            )
        })
        .collect();
    // March has no entry and still has its row; April's liability is
    // carl's 300 points × 0.01 × (1 − 0.8).
    assert_eq!(
        rows,
        [
            ("2025-01", d("300"), d("0"), d("300"), d("0.60")),
            ("2025-02", d("300"), d("0"), d("500"), d("1.00")),
            ("2025-03", d("0"), d("0"), d("500"), d("1.00")),
            ("2025-04", d("0"), d("200"), d("300"), d("0.60")),
        ]
    );
    assert!(table.rows.iter().all(|r| r.breakage == d("0.8")));
}

#[test]
fn without_a_matured_cohort_the_estimate_falls_back_to_the_program() {
    let table = table(EXPIRING, EXPIRING_EVENTS, "2025-03-31", Breakage::Estimated);
    assert_eq!(
        table.breakage_method,
        "estimated from the replayed history by monthly earning cohort: pts: the program's \
         10.00%, as no earning cohort's expiry has run out by 2025-03-31"
    );
    let last = table.rows.last().unwrap();
    assert_eq!((last.breakage, last.liability), (d("0.1"), d("4.50")));

    let never = EXPIRING.replace("  expire 2 months after earn at end of month\n", "");
    let table = table_of(&never);
    assert_eq!(
        table.breakage_method,
        "estimated from the replayed history by monthly earning cohort: pts: the program's \
         10.00%, as they never expire"
    );
}

fn table_of(source: &str) -> LiabilityTable {
    table(source, EXPIRING_EVENTS, "2025-04-30", Breakage::Estimated)
}

/// KPMG, *Revenue — IFRS 15 Handbook*, Examples 10A and 10B ("Customer
/// loyalty programme", adapted from IFRS 15.IE267–IE270), as recorded in
/// `shared/design/finance-reference.md`: sales of 100,000 earn 10,000
/// points worth 1 each, 97% expected to be redeemed (SSP 9,700); KPMG
/// rounds the allocation to 91% / 9%, so 9,000 goes to the points. Year 2:
/// 4,500 redeemed, estimate unchanged: revenue 9,000 × 4,500 / 9,700 =
/// 4,175. Year 3: 8,500 redeemed in total; 10A raises the estimate to
/// 9,900 (9,000 × 8,500 / 9,900 − 4,175 = 3,552), 10B lowers it to 9,200
/// (9,000 × 8,500 / 9,200 − 4,175 = 4,140).
fn kpmg(year_3_expected: &str, rounding: Rounding) -> Vec<deferred::RevenueRow> {
    let year = |label: &str, sales: &str, issued: &str, redeemed: &str, rate: &str| Period {
        label: label.to_string(),
        sales: d(sales),
        points_issued: d(issued),
        points_redeemed: d(redeemed),
        points_expired: Decimal::ZERO,
        expected_redemption: d(rate),
    };
    deferred::recognize(&Allocation {
        value_per_point: Decimal::ONE,
        rounding,
        periods: vec![
            year("year 1", "100000", "10000", "0", "0.97"),
            year("year 2", "0", "0", "4500", "0.97"),
            year("year 3", "0", "0", "4000", year_3_expected),
        ],
    })
}

#[test]
fn deferred_revenue_reproduces_kpmg_examples_10a_and_10b_to_the_cent() {
    for (example, rate, year_3) in [("10A", "0.99", "3552.00"), ("10B", "0.92", "4140.00")] {
        let rows = kpmg(rate, Rounding::KPMG);
        assert_eq!(rows[0].share, d("0.09"), "{example}");
        assert_eq!(rows[0].allocated, d("9000.00"), "{example}");
        assert_eq!(rows[0].revenue, d("0.00"), "{example}");
        assert_eq!(rows[1].expected_to_redeem, d("9700"), "{example}");
        assert_eq!(rows[1].revenue, d("4175.00"), "{example}");
        assert_eq!(rows[2].revenue, d(year_3), "{example}");
        assert_eq!(
            rows[2].deferred,
            d("9000") - d("4175") - d(year_3),
            "{example}"
        );
    }
    assert_eq!(
        kpmg("0.99", Rounding::KPMG)[2].expected_to_redeem,
        d("9900")
    );
    assert_eq!(
        kpmg("0.92", Rounding::KPMG)[2].expected_to_redeem,
        d("9200")
    );
}

#[test]
fn the_rounding_policy_changes_the_kpmg_figures_as_documented() {
    // Without KPMG's whole-percent ratio: 100,000 × 9,700 / 109,700.
    let rows = kpmg("0.99", Rounding::minor_unit(Currency::of("EUR").unwrap()));
    assert_eq!(rows[0].allocated, d("8842.30"));
    // 8,842.30 × 4,500 / 9,700 = 4,102.10; × 8,500 / 9,900 = 7,591.87.
    assert_eq!(rows[1].revenue, d("4102.10"));
    assert_eq!(rows[2].revenue, d("3489.77"));
    // KPMG's ratio with amounts in cents: 4,175.26, then 7,727.27 − 4,175.26.
    let ratio_only = Rounding {
        share: Some(2),
        amounts: Some(2),
    };
    let rows = kpmg("0.99", ratio_only);
    assert_eq!(rows[1].revenue, d("4175.26"));
    assert_eq!(rows[2].revenue, d("3552.01"));
}

/// The deferred-revenue allocation of a run through 30 April, with the
/// purchases each member still keeps for returns.
fn allocation_to_april(source: &str, events: &str) -> (Allocation, BTreeMap<String, usize>) {
    let program = program(source);
    let until = end_of_day(&program, "2025-04-30");
    let records = read(&program, Format::Csv, csv(events), "t.csv");
    let Finished { engine, sinks, .. } = replayed::<std::io::Sink>(&program, records, until, None);
    let builder = sinks.liability.unwrap();
    let table = builder.finish(until, Breakage::Program);
    let allocation = deferred::from_run(&engine, &builder, &table, Rounding::EXACT).unwrap();
    let kept = engine
        .members()
        .iter()
        .map(|m| (m.id.to_string(), m.purchases().len()))
        .collect();
    (allocation, kept)
}

/// (month, sales, points issued, redeemed, expired) per period.
fn periods(allocation: &Allocation) -> Vec<(&str, Decimal, Decimal, Decimal, Decimal)> {
    allocation
        .periods
        .iter()
        .map(|p| {
            (
                p.label.as_str(),
                p.sales,
                p.points_issued,
                p.points_redeemed,
                p.points_expired,
            )
        })
        .collect()
}

#[test]
fn deferred_revenue_on_a_run_recognizes_no_more_than_it_allocated() {
    let (allocation, _) = allocation_to_april(EXPIRING, EXPIRING_EVENTS);
    let periods = periods(&allocation);
    // bob's return of 50 USD counts against January, his purchase's month,
    // for the sale and for its points.
    assert_eq!(
        periods,
        [
            ("2025-01", d("250"), d("250"), d("0"), d("0")),
            ("2025-02", d("300"), d("300"), d("50"), d("0")),
            ("2025-03", d("0"), d("0"), d("0"), d("0")),
            ("2025-04", d("0"), d("0"), d("0"), d("200")),
        ]
    );
    assert!(allocation
        .periods
        .iter()
        .all(|p| p.expected_redemption == d("0.9")));
    let rows = deferred::recognize(&allocation);
    // January: ssp 250 × 0.01 × 0.9 = 2.25 of 252.25.
    assert_eq!(rows[0].share, d("2.25") / d("252.25"));
    let allocated: Decimal = rows.iter().map(|r| r.allocated).sum();
    let recognized: Decimal = rows.iter().map(|r| r.revenue).sum();
    let last = rows.last().unwrap();
    assert_eq!(recognized + last.deferred, allocated);
    // 90% of the 550 issued would be 495, but 200 expired: at most the
    // other 350 can ever be redeemed.
    assert_eq!(last.expected_to_redeem, d("350"));
}

#[test]
fn purchases_a_return_window_forgets_still_count_in_their_months_sales() {
    let events = format!(
        "{EXPIRING_EVENTS}
         e9,2025-03-20 10:00,ann,purchase,40,,
         e10,2025-03-21 10:00,bob,return,10,e4,"
    );
    let (kept_all, kept) = allocation_to_april(EXPIRING, &events);
    let windowed = EXPIRING.replace(
        "  timezone \"America/New_York\"\n",
        "  timezone \"America/New_York\"\n  accept returns up to 30 days\n",
    );
    let (forgot, kept_in_window) = allocation_to_april(&windowed, &events);
    // bob's second return comes 60 days after his purchase: accepted
    // without a window (January's sales lose 10 more), rejected with one.
    // Forgotten purchases keep their sales.
    let sales = |a: &Allocation| a.periods.iter().map(|p| p.sales).collect::<Vec<_>>();
    assert_eq!(sales(&kept_all), [d("240"), d("300"), d("40"), d("0")]);
    assert_eq!(sales(&forgot), [d("250"), d("300"), d("40"), d("0")]);
    // ann's January purchase was forgotten when she bought again in March.
    assert_eq!(kept.get("ann"), Some(&2));
    assert_eq!(kept_in_window.get("ann"), Some(&1));
    assert_eq!(kept_in_window.get("bob"), Some(&0));
}

/// Two programs that differ only in the base rule's rate.
const BASE_RATE: &str = r#"
program "Test" {
  currency USD
  timezone "America/New_York"
}
event purchase {
  category: text
}
points pts {
  precision 0
  value 0.01 USD
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule food {
  on purchase where category = "food"
  earn 10 pts
}
"#;

const BASE_RATE_EVENTS: &str = "id,time,member,type,amount,category
    e1,2025-01-02 09:00,ann,enroll,,
    e2,2025-01-02 10:00,ann,purchase,4.95,coffee
    e3,2025-01-03 10:00,ann,purchase,12.50,food
    e4,2025-01-04 09:00,bob,enroll,,
    e5,2025-01-04 10:00,bob,purchase,100.00,coffee
    e6,2025-01-05 10:00,bob,purchase,0.60,food";

fn outcome(source: &str, events: &str) -> diff::Outcome {
    let program = program(source);
    let records = read(&program, Format::Csv, csv(events), "t.csv");
    loyalty::run::diff::outcome(&program, Box::new(records), None).unwrap()
}

#[test]
fn doubling_the_base_rate_moves_issued_points_by_what_the_rule_adds() {
    let old = outcome(BASE_RATE, BASE_RATE_EVENTS);
    let doubled = BASE_RATE.replace("earn 1 pts per 1 USD", "earn 2 pts per 1 USD");
    let new = outcome(&doubled, BASE_RATE_EVENTS);
    let diff = diff::compare(&old, &new).unwrap();
    // base, rounded down per purchase: 4.95 → 4 / 9; 12.50 → 12 / 25;
    // 100.00 → 100 / 200; 0.60 → 0 / 1. Old 116, new 235: +119, not +116,
    // because rounding down loses less at twice the rate. The food bonus
    // (2 × 10) is the same in both.
    let issued = &diff.overall[0];
    assert_eq!(issued.measure, "pts issued");
    assert_eq!((issued.old, issued.new), (d("136"), d("255")));
    assert_eq!(issued.change(), d("119"));
    let liability = &diff.overall[1];
    assert_eq!((liability.old, liability.new), (d("1.36"), d("2.55")));
    // No tiers: one group.
    assert_eq!(diff.tiers.len(), 1);
    assert_eq!(diff.tiers[0].tier, "(all members)");
    assert_eq!(diff.tiers[0].lines[0].change(), d("119"));
    let moved: Vec<(&str, Decimal)> = diff
        .members
        .iter()
        .map(|m| (m.member.as_str(), m.moved))
        .collect();
    assert_eq!(moved, [("bob", d("101")), ("ann", d("18"))]);
    assert!(!diff.is_zero());
}

#[test]
fn a_program_against_itself_changes_nothing() {
    for name in example_programs() {
        let source =
            std::fs::read_to_string(programs_dir().join(format!("{name}.loyalty"))).unwrap();
        let program = program(&source);
        let until = Some(end_of_day(&program, support::until_of(&name)));
        let run = || {
            loyalty::run::diff::outcome(&program, Box::new(sample_records(&program, &name)), until)
                .unwrap()
        };
        let (old, new) = (run(), run());
        let diff = diff::compare(&old, &new).unwrap();
        assert!(diff.is_zero(), "{name}: {diff:?}");
        // The figures compared are real: the sample issues points.
        assert!(diff.overall[0].old > Decimal::ZERO, "{name}");
        let text = diff::render(&diff, None, "same", false);
        assert!(
            text.ends_with("No member's balance or tier changed.\n"),
            "{text}"
        );
    }
}

#[test]
fn programs_in_different_currencies_cannot_be_compared() {
    let old = outcome(BASE_RATE, BASE_RATE_EVENTS);
    let euros = BASE_RATE.replace("USD", "EUR");
    let new = outcome(&euros, BASE_RATE_EVENTS);
    assert_eq!(
        diff::compare(&old, &new).unwrap_err().to_string(),
        "the programs count money in different currencies (USD and EUR): their costs cannot be compared"
    );
}

fn loyalty(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn run_writes_the_reports_it_is_asked_for() {
    let out = std::env::temp_dir().join(format!("loyalty-finance-{}", std::process::id()));
    let out_arg = out.display().to_string();
    let (ok, stdout, stderr) = loyalty(&[
        "run",
        "programs/bean_stars.loyalty",
        "programs/bean_stars.events.csv",
        "--until",
        "2026-03-31",
        "--out",
        &out_arg,
        "--report",
        "liability,deferred-revenue",
        "--breakage",
        "estimate",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("breakage: estimated from the replayed history"));
    assert!(stdout.contains("deferred revenue (IFRS 15), USD"));
    let liability = std::fs::read_to_string(out.join("liability.csv")).unwrap();
    assert!(liability.starts_with(
        "month,points,issued,spent,expired,reversed,outstanding,breakage,liability,cost,currency\n2025-01,stars,"
    ));
    let revenue = std::fs::read_to_string(out.join("deferred_revenue.csv")).unwrap();
    assert!(revenue.starts_with("period,sales,points_issued,"));
    assert_eq!(revenue.lines().count(), 1 + 15, "2025-01 to 2026-03");
    std::fs::remove_dir_all(&out).unwrap();

    let (ok, _, stderr) = loyalty(&[
        "run",
        "programs/bean_stars.loyalty",
        "programs/bean_stars.events.csv",
        "--out",
        &out_arg,
        "--report",
        "liability",
        "--breakage",
        "120",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("`120` is not a percentage from 0 to 100"),
        "{stderr}"
    );
}

#[test]
fn diff_prints_markdown_for_a_pull_request() {
    let (ok, stdout, stderr) = loyalty(&[
        "diff",
        "programs/cartwheel.loyalty",
        "programs/cartwheel.loyalty",
        "--events",
        "programs/cartwheel.events.csv",
        "--format",
        "markdown",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with(
        "### programs/cartwheel.loyalty → programs/cartwheel.loyalty on programs/cartwheel.events.csv\n\n#### Overall\n\n| measure | old | new | change | change % |\n|---|---:|---:|---:|---:|\n| coins issued |"
    ), "{stdout}");
}

/// Each report writes money to its currency's minor unit (ISO 4217): yen
/// without decimals, dinars with three, half to even for the liability and
/// half away from zero for costs, as for cents.
#[test]
fn reports_write_money_to_the_currencys_minor_unit() {
    let cases = [
        // 12,345 JPY earns 123 coins; 113 are left after the tea, worth
        // 113 × 0.5 = 56.5 JPY, 56 to the yen half to even.
        ("JPY", "Asia/Tokyo", "0.5", "3", "12345", "56", "3"),
        // 1,234.567 KWD earns 12 coins; 2 are left, worth 2 × 0.0125 =
        // 0.025 KWD; the tea cost 0.335 KWD.
        (
            "KWD",
            "Asia/Kuwait",
            "0.0125",
            "0.335",
            "1234.567",
            "0.025",
            "0.335",
        ),
    ];
    for (code, zone, value, cost, amount, liability, cost_shown) in cases {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("p.loyalty");
        std::fs::write(
            &program,
            format!(
                "program \"Minor units\" {{\n  currency {code}\n  timezone \"{zone}\"\n}}\n\
                 reward tea {{\n  price 10 coins\n  cost {cost} {code}\n}}\n\
                 points coins {{\n  value {value} {code}\n}}\n\
                 rule coins {{\n  on purchase\n  earn 1 coins per 100 {code} of amount\n}}\n"
            ),
        )
        .unwrap();
        let events = dir.path().join("e.csv");
        std::fs::write(
            &events,
            format!(
                "id,time,member,type,amount,reward\n\
                 e1,2025-01-01T09:00:00,ann,enroll,,\n\
                 e2,2025-01-02T10:00:00,ann,purchase,{amount},\n\
                 e3,2025-01-03T10:00:00,ann,redeem,,tea\n"
            ),
        )
        .unwrap();
        let out = dir.path().join("out");
        let run = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args([
                "run",
                "--until",
                "2025-01-31",
                "--report",
                "liability",
                "--out",
            ])
            .arg(&out)
            .arg(&program)
            .arg(&events)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
        let spend = read("ledger.csv")
            .lines()
            .find(|l| l.starts_with("spend,"))
            .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(spend[8], cost_shown, "{code}: the ledger's cost");
        let row: Vec<String> = read("liability.csv")
            .lines()
            .find(|l| l.starts_with("2025-01,coins,"))
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect();
        assert_eq!(
            row[8..].to_vec(),
            [liability, cost_shown, code],
            "{code}: liability.csv's liability, cost and currency"
        );
        let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
        assert_eq!(summary["currency"], code);
        assert_eq!(
            summary["points"][0]["liability"], liability,
            "{code}: summary.json"
        );
    }
}
