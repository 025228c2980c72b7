//! KPIs on real history (`loyalty run --report kpis`): the definitions on
//! small histories computed by hand, on programs of different shapes; the
//! run's KPIs and a simulation's are one function's (a run of the events a
//! simulation's members send gives the simulation's KPIs); every example
//! program; and the `survey` statement's diagnostics.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use loyalty::compile::{compile, Program};
use loyalty::engine::ledger::Entry;
use loyalty::engine::replay::{Options, Order};
use loyalty::events::{self, Format};
use loyalty::finance::liability::{Breakage, LiabilityBuilder};
use loyalty::report::kpis::{KpiReport, RunEvents, RunKpis};
use loyalty::run::{RowSink, Run, Sinks};
use rust_decimal::Decimal;
use std::sync::Mutex;
use support::{d, example, loyalty, programs};

/// Runs `events` (CSV) through `program` until `until` and makes its KPIs,
/// as `loyalty run --report kpis` does.
fn kpis_of(program: &Program, events: &str, until: &str) -> KpiReport {
    let until = chrono::DateTime::parse_from_rfc3339(until)
        .unwrap()
        .to_utc();
    let observed = Mutex::new(RunEvents::default());
    let records = events::read(program, Format::Csv, events.as_bytes(), "events.csv");
    let records = Box::new(RunEvents::observing(&observed, program, records));
    let mut kpis = RunKpis::new(program);
    let mut to_kpis = |rows: &[Entry]| {
        kpis.add(rows);
        Ok(())
    };
    let sinks = Sinks::<std::io::Sink> {
        ledger: None,
        liability: Some(LiabilityBuilder::new(program)),
        tier_mix: None,
        rows: Some(&mut to_kpis as &mut RowSink),
    };
    let options = Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    };
    let finished = Run::new(program, options).replay(records, sinks).unwrap();
    let table = finished
        .sinks
        .liability
        .as_ref()
        .unwrap()
        .finish(until, Breakage::Program);
    let rejects = finished.outcome.rejects;
    drop(finished.sinks);
    let events = std::mem::take(&mut *observed.lock().unwrap());
    kpis.finish(events, &rejects, &table.rows, until)
}

fn get(report: &KpiReport, month: &str, name: &str) -> Decimal {
    let m = report.months.iter().position(|m| m == month).unwrap();
    report.kpis[m]
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no KPI {name} in {month}"))
        .1
}

fn names(report: &KpiReport, month: usize) -> Vec<&str> {
    report.kpis[month].iter().map(|(n, _)| n.as_str()).collect()
}

const CAFE: &str = r#"
program "Cafe" {
  currency USD
  timezone "UTC"
  survey feedback.score
}
event feedback {
  score: number
}
points beans {
  value 0.01 USD
}
tiers by beans earned over calendar year {
  tier basic from 0
  tier gold  from 100
  upgrade immediately
}
rule base {
  on purchase
  earn 1 beans per 1 USD of amount
}
perk refill for gold {
  cost 0.50 USD
}
reward cookie {
  price 50 beans
  cost 1.00 USD
}
"#;

const CAFE_EVENTS: &str = "\
id,time,member,type,amount,of,reward,perk,score
e1,2026-01-05T09:00:00Z,ann,enroll,,,,,
e2,2026-01-06T09:00:00Z,bob,enroll,,,,,
e3,2026-01-07T09:00:00Z,ann,purchase,60,,,,
e4,2026-01-08T09:00:00Z,ann,purchase,50,,,,
e5,2026-01-09T09:00:00Z,bob,purchase,20,,,,
e6,2026-02-02T09:00:00Z,ann,redeem,,,cookie,,
e7,2026-02-03T09:00:00Z,ann,use_perk,,,,refill,
e8,2026-02-04T09:00:00Z,ann,feedback,,,,,10
e9,2026-02-05T09:00:00Z,bob,feedback,,,,,6
e10,2026-02-06T09:00:00Z,cy,feedback,,,,,9
e11,2026-03-02T09:00:00Z,carl,enroll,,,,,
e12,2026-03-03T09:00:00Z,carl,purchase,10,,,,
e13,2026-03-04T09:00:00Z,bob,return,20,e5,,,
";

#[test]
fn a_cafe_history_by_hand() {
    let program = compile(CAFE).unwrap().0;
    let report = kpis_of(&program, CAFE_EVENTS, "2026-03-31T23:59:59Z");
    assert_eq!(report.months, ["2026-01", "2026-02", "2026-03"]);
    let k = |month, name| get(&report, month, name);
    // January: ann buys twice (110 beans, gold), bob once.
    assert_eq!(k("2026-01", "members"), d("2"));
    assert_eq!(k("2026-01", "joined"), d("2"));
    assert_eq!(k("2026-01", "active_members"), d("2"));
    assert_eq!(k("2026-01", "tier_share:basic"), d("0.5"));
    assert_eq!(k("2026-01", "tier_share:gold"), d("0.5"));
    assert_eq!(k("2026-01", "sales"), d("130"));
    assert_eq!(k("2026-01", "repeat_purchase_rate"), d("0.5"));
    assert_eq!(k("2026-01", "points_per_member:beans"), d("65"));
    assert_eq!(k("2026-01", "points_per_sales_unit:beans"), d("1"));
    assert_eq!(k("2026-01", "redemption_rate:beans"), d("0"));
    // February: a cookie (50 of 130 beans), a refill by a gold member, two
    // answers (a promoter and a detractor) and one from nobody (rejected).
    assert_eq!(k("2026-02", "redemptions"), d("1"));
    assert_eq!(k("2026-02", "redemption_rate:beans"), d("0.3846"));
    assert_eq!(k("2026-02", "perk_uses"), d("1"));
    assert_eq!(k("2026-02", "perk_uses:gold"), d("1"));
    assert_eq!(k("2026-02", "perk_uses:basic"), d("0"));
    assert_eq!(k("2026-02", "cost"), d("1.50"));
    assert_eq!(k("2026-02", "cost_per_member"), d("0.75"));
    assert_eq!(k("2026-02", "survey_responses"), d("2"));
    assert_eq!(k("2026-02", "nps"), d("0"));
    assert_eq!(k("2026-02", "rejected"), d("1"));
    assert_eq!(k("2026-02", "active_members"), d("2"));
    // March: carl joins and buys; bob's purchase comes back (sales fall by
    // it, its 20 beans are reversed: 50 spent of 120 net).
    assert_eq!(k("2026-03", "members"), d("3"));
    assert_eq!(k("2026-03", "joined"), d("1"));
    assert_eq!(k("2026-03", "sales"), d("-10"));
    assert_eq!(k("2026-03", "redemption_rate:beans"), d("0.4167"));
    assert_eq!(k("2026-03", "repeat_purchase_rate"), d("0.3333"));
    assert_eq!(k("2026-03", "active_members"), d("3"));
    assert_eq!(k("2026-03", "nps"), d("0"));
    assert_eq!(k("2026-03", "survey_responses"), d("0"));

    let mut migration = Vec::new();
    report
        .write_migration_csv(&program, &mut migration)
        .unwrap();
    assert_eq!(
        String::from_utf8(migration).unwrap(),
        "month,from,to,members\n\
         2026-01,(joined),basic,1\n\
         2026-01,(joined),gold,1\n\
         2026-02,basic,basic,1\n\
         2026-02,gold,gold,1\n\
         2026-03,(joined),basic,1\n\
         2026-03,basic,basic,1\n\
         2026-03,gold,gold,1\n"
    );
}

#[test]
fn nps_is_promoters_less_detractors_in_percent() {
    let program = compile(CAFE).unwrap().0;
    let mut events = String::from("id,time,member,type,amount,of,reward,perk,score\n");
    events.push_str("e0,2026-05-01T08:00:00Z,ann,enroll,,,,,\n");
    // 10, 10 and 9 promote, 8 and 7 are passive, 6 and 0 detract: (3 − 2) / 7.
    for (i, score) in ["10", "10", "9", "8", "7", "6", "0"].iter().enumerate() {
        events.push_str(&format!(
            "s{i},2026-05-0{}T09:00:00Z,ann,feedback,,,,,{score}\n",
            i + 2
        ));
    }
    let report = kpis_of(&program, &events, "2026-05-31T23:59:59Z");
    assert_eq!(get(&report, "2026-05", "survey_responses"), d("7"));
    assert_eq!(get(&report, "2026-05", "nps"), d("14.2857"));
}

/// A shop without tiers or surveys whose first rule is on enrolment, in a
/// zone east of UTC: a welcome bonus expires after a month.
const SHOP: &str = r#"
program "Shop" {
  currency EUR
  timezone "Europe/Berlin"
}
points pts {
  value 0.01 EUR
  expire 1 months after earn
}
rule welcome {
  on enroll
  earn 100 pts
}
rule spend {
  on purchase
  earn 1 pts per 1 EUR of amount
}
"#;

#[test]
fn a_shop_history_by_hand() {
    let program = compile(SHOP).unwrap().0;
    let events = "\
id,time,member,type,amount
e1,2026-01-31T23:30:00Z,ann,enroll,
e2,2026-02-02T10:00:00Z,ann,purchase,40
e3,2026-02-03T10:00:00Z,ann,purchase,10
e4,2026-04-10T10:00:00Z,ann,purchase,50
";
    let report = kpis_of(&program, events, "2026-04-30T21:59:59Z");
    // 23:30 UTC on 31 January is 1 February in Berlin.
    assert_eq!(report.months, ["2026-02", "2026-03", "2026-04"]);
    let k = |month, name| get(&report, month, name);
    assert_eq!(k("2026-02", "joined"), d("1"));
    assert_eq!(k("2026-02", "points_per_member:pts"), d("150"));
    assert_eq!(k("2026-02", "points_per_sales_unit:pts"), d("3"));
    assert_eq!(k("2026-02", "repeat_purchase_rate"), d("1"));
    // The 100 welcome points expire on 1 March; the 50 on 2 and 3 March.
    assert_eq!(k("2026-03", "breakage_to_date:pts"), d("1"));
    assert_eq!(k("2026-03", "sales"), d("0"));
    assert_eq!(k("2026-03", "active_members"), d("1"));
    // April: active again; February's purchases still in the 12 months.
    assert_eq!(k("2026-04", "breakage_to_date:pts"), d("0.75"));
    assert_eq!(k("2026-04", "active_members"), d("1"));
    assert_eq!(k("2026-04", "repeat_purchase_rate"), d("1"));
    let listed = names(&report, 0);
    assert!(
        !listed
            .iter()
            .any(|n| n.starts_with("tier_share") || n.starts_with("perk_uses:") || *n == "nps"),
        "{listed:?}"
    );
}

/// The events a simulation's members send (`loyalty gen` draws them as a
/// simulation's run 0 does), run as real history, give that simulation's
/// KPIs: both come from one function, on the same definitions.
#[test]
fn a_run_of_a_simulations_events_gives_its_kpis() {
    let (program, scenario) = example("bean_stars");
    let options = loyalty::gen::Options {
        members: 120,
        events: 2400,
        seed: None,
        months: 6,
        end: chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
    };
    let plan = loyalty::gen::plan(&program, &scenario, &options).unwrap();
    let mut events = Vec::new();
    loyalty::gen::generate(&program, &plan, loyalty::gen::Format::Csv, &mut events).unwrap();
    let simulated = loyalty::simulate::simulate(
        &program,
        &plan,
        &loyalty::simulate::Options {
            runs: 1,
            seed: None,
            keep_members: false,
        },
        &|| {},
    )
    .unwrap();
    let until = *plan.month_starts.last().unwrap() - chrono::Duration::seconds(1);
    let real = kpis_of(
        &program,
        std::str::from_utf8(&events).unwrap(),
        &until.to_rfc3339(),
    );
    assert_eq!(real.months, plan.month_names);
    for (m, month) in simulated.report.months.iter().enumerate() {
        let simulated: Vec<(&str, Decimal)> = month
            .kpis
            .iter()
            .map(|k| (k.name.as_str(), k.band.p50))
            .collect();
        let real: Vec<(&str, Decimal)> =
            real.kpis[m].iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(real, simulated, "{}", month.month);
    }
    assert!(get(&real, "2026-06", "tier_share:gold") > Decimal::ZERO);
}

#[test]
fn every_example_program_reports_its_kpis() {
    for entry in std::fs::read_dir(programs()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "loyalty") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let out = tempfile::tempdir().unwrap();
        let events = programs().join(format!("{name}.events.csv"));
        let output = loyalty(&[
            "run",
            path.to_str().unwrap(),
            events.to_str().unwrap(),
            "--report",
            "kpis",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {output:?}");
        assert!(stdout.contains("\nKPIs in "), "{name}: {stdout}");
        let kpis = std::fs::read_to_string(out.path().join("kpis.csv")).unwrap();
        assert!(kpis.starts_with("month,kpi,value\n"), "{name}: {kpis}");
        assert!(kpis.contains(",members,"), "{name}: {kpis}");
        let migration = std::fs::read_to_string(out.path().join("tier_migration.csv")).unwrap();
        assert!(migration.starts_with("month,from,to,members\n"), "{name}");
        // Read on a thread of their own, applied in shards: the same KPIs.
        let threaded = tempfile::tempdir().unwrap();
        let output = loyalty(&[
            "run",
            path.to_str().unwrap(),
            events.to_str().unwrap(),
            "--report",
            "kpis",
            "--threads",
            "3",
            "--out",
            threaded.path().to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{name}: {output:?}");
        for file in ["kpis.csv", "tier_migration.csv"] {
            assert_eq!(
                std::fs::read(threaded.path().join(file)).unwrap(),
                std::fs::read(out.path().join(file)).unwrap(),
                "{name} {file}"
            );
        }
    }
}

#[test]
fn a_survey_needs_a_declared_number_field() {
    let with = |survey: &str| {
        format!(
            "program \"S\" {{\n  currency USD\n  timezone \"UTC\"\n  {survey}\n}}\n\
             event feedback {{\n  score: number\n  comment: text\n}}\n\
             points pts\nrule r {{\n  on purchase\n  earn 1 pts per 1 USD of amount\n}}\n"
        )
    };
    let errors = |source: &str| {
        compile(source)
            .err()
            .map(|e| format!("{e:?}"))
            .unwrap_or_default()
    };
    assert_eq!(errors(&with("survey feedback.score")), "");
    assert!(errors(&with("survey feedback.comment")).contains("is not a number"));
    assert!(errors(&with("survey feedback.scor")).contains("has no field `scor`"));
    assert!(errors(&with("survey feedbak.score")).contains("unknown event type `feedbak`"));
    assert!(errors(&with("survey purchase.amount")).contains("is a built-in event, not a survey"));
}

/// A simulation counts a survey's answers as a run does: the scenario
/// draws scores, and each month's NPS is its promoters less detractors.
#[test]
fn a_simulation_counts_survey_answers() {
    let program = compile(CAFE).unwrap().0;
    let scenario = "seed: 3
start: 2026-01-01
months: 2
members: { initial: 200, joins_per_month: 0, churn_per_month: 0 }
visits_per_month: { poisson: 2, spread: 0 }
ticket: { lognormal: { median: 20.00, sigma: 0.3 } }
events:
  feedback:
    per_month: { poisson: 0.5, spread: 0 }
    fields:
      score: { integers: [0, 10] }
";
    let plan = loyalty::simulate::load(&program, scenario).unwrap();
    let options = loyalty::simulate::Options {
        runs: 1,
        seed: None,
        keep_members: false,
    };
    let simulation = loyalty::simulate::simulate(&program, &plan, &options, &|| {}).unwrap();
    for (m, month) in simulation.report.months.iter().enumerate() {
        let tally = &simulation.runs[0].tallies[m];
        assert!(tally.responses > 50, "{tally:?}");
        assert!(tally.promoters > 0 && tally.detractors > tally.promoters);
        let kpi = |name: &str| month.kpis.iter().find(|k| k.name == name).unwrap().band.p50;
        assert_eq!(kpi("survey_responses"), Decimal::from(tally.responses));
        let nps = Decimal::from(100 * (tally.promoters as i64 - tally.detractors as i64))
            / Decimal::from(tally.responses);
        assert_eq!(kpi("nps"), nps.round_dp(4));
    }
}
