//! Simulation: the same seed gives the same bytes for any thread count, a
//! different seed gives different numbers, every example scenario runs,
//! bad scenarios are errors that name the field, and two programs compared
//! on one scenario see the same members.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use loyalty::compile::{compile, Program};
use loyalty::finance::diff::{self, MemberOutcome};
use loyalty::simulate::stats::Band;
use loyalty::simulate::{self, Options, Plan, Report, RunResult, Simulation};
use rust_decimal::Decimal;
use std::path::Path;
use support::{example, programs};

/// A small version of a plan, so that a debug test runs in well under a second.
fn small(mut plan: Plan, initial: u64, joins: u64, months: usize) -> Plan {
    plan.initial = initial;
    plan.joins_per_month = joins;
    plan.month_starts.truncate(months + 1);
    plan.month_names.truncate(months);
    plan
}

fn run(program: &Program, plan: &Plan, runs: u64, seed: Option<u64>, threads: usize) -> Simulation {
    let options = Options {
        runs,
        seed,
        keep_members: true,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| simulate::simulate(program, plan, &options, &|| {}))
        .unwrap()
}

/// Everything `loyalty simulate` writes, as bytes.
fn bytes(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    report.write_liability_csv(&mut out).unwrap();
    report.write_kpis_csv(&mut out).unwrap();
    out.extend(serde_json::to_vec_pretty(report).unwrap());
    out.extend(report.text().into_bytes());
    out
}

fn kpi(report: &Report, month: usize, name: &str) -> Decimal {
    report.months[month]
        .kpis
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no KPI {name}"))
        .band
        .p50
}

#[test]
fn the_same_seed_gives_the_same_bytes_on_one_and_two_threads() {
    let (program, scenario) = example("bean_stars");
    // 600 members: three shards a run, so two threads really share the work.
    let plan = small(simulate::load(&program, &scenario).unwrap(), 540, 10, 6);
    assert_eq!(simulate::shards(&plan).len(), 3);
    let one = run(&program, &plan, 3, None, 1);
    let two = run(&program, &plan, 3, None, 2);
    assert_eq!(bytes(&one.report), bytes(&two.report));
    assert_eq!(one.runs[1].members, two.runs[1].members);
    assert!(kpi(&one.report, 5, "sales") > Decimal::ZERO);
}

#[test]
fn a_different_seed_gives_different_numbers() {
    let (program, scenario) = example("bean_stars");
    let plan = small(simulate::load(&program, &scenario).unwrap(), 200, 5, 4);
    let first = run(&program, &plan, 2, None, 2);
    let same = run(&program, &plan, 2, Some(plan.seed), 2);
    let other = run(&program, &plan, 2, Some(plan.seed + 1), 2);
    assert_eq!(bytes(&first.report), bytes(&same.report));
    assert_ne!(
        kpi(&first.report, 3, "sales"),
        kpi(&other.report, 3, "sales")
    );
    assert_ne!(first.runs[0].members, other.runs[0].members);
    // Runs differ from each other too: each run draws its own population.
    assert_ne!(first.runs[0].members, first.runs[1].members);
}

/// A run's liability table agrees with its members: per points type, the
/// points issued over all months are what the members were issued, and the
/// last month's outstanding points are the members' balances.
fn reconciles(program: &Program, run: &RunResult, name: &str) {
    for points in &program.points {
        let rows: Vec<_> = run
            .rows
            .iter()
            .filter(|r| r.points == points.name)
            .collect();
        let members = |f: &dyn Fn(&MemberOutcome) -> Decimal| -> Decimal {
            run.members.values().map(f).sum()
        };
        let issued: Decimal = rows.iter().map(|r| r.issued).sum();
        assert_eq!(
            issued,
            members(&|m| m.issued[&points.name]),
            "{name}: {} issued",
            points.name
        );
        let outstanding = rows.last().map_or(Decimal::ZERO, |r| r.outstanding);
        assert_eq!(
            outstanding,
            members(&|m| m.balance[&points.name]),
            "{name}: {} outstanding",
            points.name
        );
    }
}

#[test]
fn every_example_scenario_runs() {
    let mut found = 0;
    let mut programs_present = 0;
    for entry in std::fs::read_dir(programs()).unwrap() {
        let path = entry.unwrap().path();
        programs_present += usize::from(path.extension().is_some_and(|e| e == "loyalty"));
    }
    for entry in std::fs::read_dir(programs()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".scenario.yaml"))
        else {
            continue;
        };
        found += 1;
        let (program, scenario) = example(name);
        let plan = simulate::load(&program, &scenario)
            .unwrap_or_else(|e| panic!("{name}.scenario.yaml: {e}"));
        let plan = small(plan, 40, 2, 12);
        let simulation = run(&program, &plan, 2, None, 2);
        let report = &simulation.report;
        assert_eq!(report.months.len(), 12, "{name}");
        assert_eq!(report.population, 64, "{name}");
        assert_eq!(kpi(report, 11, "enrolled"), Decimal::from(64), "{name}");
        assert!(kpi(report, 11, "members") > Decimal::ZERO, "{name}");
        assert!(kpi(report, 11, "active_members") > Decimal::ZERO, "{name}");
        assert!(kpi(report, 11, "sales") > Decimal::ZERO, "{name}");
        assert_eq!(kpi(report, 11, "rejected"), Decimal::ZERO, "{name}");
        let issued: Decimal = simulation.runs[0]
            .members
            .values()
            .flat_map(|m| m.issued.values())
            .sum();
        assert!(issued > Decimal::ZERO, "{name}: no points issued");
        for run in &simulation.runs {
            reconciles(&program, run, name);
        }
    }
    assert_eq!(
        found, programs_present,
        "a scenario beside each example program"
    );
}

#[test]
fn bad_scenarios_are_errors_naming_the_field_and_line() {
    let (program, scenario) = example("bean_stars");
    let cases = [
        (
            "channel: { app: 0.6, store: 0.4 }",
            "channel: { app: 0.6, store: 0.5 }",
            "fields.channel: the shares add up to 1.1, not 1",
            16,
        ),
        (
            "channel: { app: 0.6, store: 0.4 }",
            "chanel: { app: 0.6, store: 0.4 }",
            "fields.chanel: unknown field of `purchase` `chanel`; did you mean `channel`?",
            16,
        ),
        (
            "  birthday: { age: [18, 75] }\n",
            "",
            "attributes: missing `birthday`: the program's member attribute `birthday` needs a draw",
            18,
        ),
        (
            "birthday: { age: [18, 75] }",
            "birthday: { poisson: 3 }",
            "attributes.birthday: `birthday` is a date: poisson cannot draw it",
            19,
        ),
        (
            "category: { coffee: 0.62, food: 0.3, beans: 0.08 }",
            "category: { integers: [1, 3] }",
            "fields.category: `category` is text: integers cannot draw it",
            17,
        ),
        (
            "reserve_tasting: { with: purchase, probability: 0.03 }",
            "reserve_tasting: { with: flight, probability: 0.03 }",
            "perks.reserve_tasting.with: `flight` is not an event this scenario makes",
            23,
        ),
        (
            "reserve_tasting: {",
            "reserve_tastings: {",
            "perks.reserve_tastings: unknown perk `reserve_tastings`; did you mean `reserve_tasting`?",
            23,
        ),
        (
            "probability: 0.55 }",
            "probability: 0.55, rewards: { latte: 1 } }",
            "redeem.rewards.latte: unknown reward `latte`; the program has",
            20,
        ),
        (
            "visits_per_month: { poisson: 3.8, spread: 0.8 }",
            "visits_per_month: { poisson: -1 }",
            "visits_per_month.poisson: -1: a number of 0 or more",
            12,
        ),
        (
            "members: { initial: 2000,",
            "members: { initial: 2000, churn: 0.1,",
            "members: unknown field `churn`",
            11,
        ),
        (
            "ticket: { lognormal: { median: 6.40, sigma: 0.45 } }",
            "",
            "visits_per_month: purchases need a `ticket`",
            12,
        ),
        (
            "  birthday_drink:",
            "  birthday_drink: { with: purchase, probability: 0.01 }\n  birthday_drink:",
            // The line of the first: where the parser stood when it saw the second.
            "perks: `birthday_drink` is given twice",
            22,
        ),
        (
            "food: 0.3,",
            "food: 0.3, coffee: 0.0,",
            "fields.category: `coffee` is given twice",
            17,
        ),
    ];
    for (from, to, message, line) in cases {
        assert!(scenario.contains(from), "{from}");
        let text = scenario.replacen(from, to, 1);
        let error = simulate::load(&program, &text).unwrap_err();
        assert!(
            error.message.starts_with(message),
            "{to}:\n{error}\ndoes not start with\n{message}"
        );
        assert_eq!(error.line, Some(line), "{to}: {error}");
    }
}

#[test]
fn a_scenario_must_fit_the_program_s_events() {
    let (program, _) = example("harbor_hotels");
    let error = simulate::load(
        &program,
        "seed: 1\nstart: 2026-01-01\nmonths: 3\nmembers: { initial: 5 }\n\
         attributes: { cardholder: { yes: 0.5, no: 0.5 } }\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 5: attributes.cardholder.yes: `yes` is not a bool"
    );
    let error = simulate::load(
        &program,
        "seed: 1\nstart: 2026-01-01\nmonths: 3\nmembers: { initial: 5 }\n\
         attributes: { cardholder: { true: 1 }, birthday: { age: [30, 40] } }\n\
         events:\n  flight: { per_month: { poisson: 1 } }\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 7: events.flight: unknown event type `flight`; the program has `stay`"
    );
}

const BASE: &str = r#"
program "Base" { currency USD  timezone "Europe/Paris" }
event purchase { channel: text }
points pts { precision 2  value 0.01 USD }
rule base { on purchase  earn RATE pts per 1 USD of amount }
"#;

const SCENARIO: &str = "seed: 5
start: 2026-03-01
months: 4
members: { initial: 300, joins_per_month: 10, churn_per_month: 0.05 }
visits_per_month: { poisson: 2.5, spread: 0.5 }
ticket: { lognormal: { median: 12.00, sigma: 0.6 } }
fields:
  channel: { app: 0.5, store: 0.5 }
returns: { probability: 0.1, within_days: 14, partial: 0.5 }
";

#[test]
fn compared_programs_see_the_same_members_and_a_doubled_rate_doubles_the_points() {
    let old = compile(&BASE.replace("RATE", "1")).unwrap().0;
    let new = compile(&BASE.replace("RATE", "2")).unwrap().0;
    let options = Options {
        runs: 2,
        seed: None,
        keep_members: true,
    };
    let (a, b) = simulate::compare(&old, &new, SCENARIO, &options, &|| {}).unwrap();
    assert_eq!(
        kpi(&a.report, 3, "sales"),
        kpi(&b.report, 3, "sales"),
        "common random numbers: the same purchases"
    );
    let issued = |s: &Simulation| -> Vec<Decimal> {
        s.runs
            .iter()
            .flat_map(|r| r.members.values())
            .map(|m| m.issued["pts"])
            .collect()
    };
    let (old_issued, new_issued) = (issued(&a), issued(&b));
    assert_eq!(old_issued.len(), 2 * 340);
    assert!(old_issued.iter().sum::<Decimal>() > Decimal::from(1000));
    let doubled: Vec<Decimal> = old_issued.iter().map(|d| d * Decimal::TWO).collect();
    assert_eq!(doubled, new_issued);

    // What `loyalty diff --scenario` compares: the run's totals move by
    // exactly what the members' do.
    let outcome = |s: &Simulation, program| s.runs[0].outcome(program);
    let change = diff::compare(&outcome(&a, &old), &outcome(&b, &new)).unwrap();
    let first_run: Decimal = a.runs[0].members.values().map(|m| m.issued["pts"]).sum();
    assert_eq!(change.overall[0].old, first_run);
    assert_eq!(change.overall[0].change(), first_run);
    assert!(change.tiers[0].lines[0].change() > Decimal::ZERO);

    // Across the paired runs: each run's change is its old issue (the rate
    // doubled), so the spread is the spread of the old runs' issues.
    let (diffs, spread) = simulate::diffs((&old, &a), (&new, &b)).unwrap();
    assert_eq!(diffs.len(), 2);
    assert_eq!(diffs[0], change);
    let per_run: Vec<Decimal> = a
        .runs
        .iter()
        .map(|r| r.members.values().map(|m| m.issued["pts"]).sum())
        .collect();
    assert_ne!(per_run[0], per_run[1]);
    assert_eq!(spread.runs, 2);
    assert_eq!(spread.lines[0].measure, "pts issued");
    assert_eq!(spread.lines[0].change, Band::of(per_run));

    let (same, again) = simulate::compare(&old, &old, SCENARIO, &options, &|| {}).unwrap();
    assert_eq!(bytes(&same.report), bytes(&again.report));
    assert_eq!(same.runs[0].members, again.runs[0].members);
    let unchanged = diff::compare(&outcome(&same, &old), &outcome(&again, &old)).unwrap();
    assert!(unchanged.is_zero(), "{unchanged:?}");
}

#[test]
fn the_command_writes_its_tables_and_names_a_bad_scenario_s_file_and_line() {
    let dir = std::env::temp_dir().join(format!("loyalty-simulate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("base.loyalty");
    let scenario = dir.join("scenario.yaml");
    let out = dir.join("out");
    std::fs::write(&program, BASE.replace("RATE", "1")).unwrap();
    std::fs::write(&scenario, SCENARIO).unwrap();
    let simulate = |scenario: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .arg("simulate")
            .args([&program, scenario])
            .args(["--runs", "2", "--threads", "2", "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let done = simulate(&scenario);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(stdout.contains("KPIs in 2026-06"), "{stdout}");
    // Not a terminal: no progress bar.
    assert_eq!(String::from_utf8_lossy(&done.stderr), "");
    let kpis = std::fs::read_to_string(out.join("kpis.csv")).unwrap();
    assert!(
        kpis.starts_with("month,kpi,p5,p50,p95\n2026-03,members,"),
        "{kpis}"
    );
    let liability = std::fs::read_to_string(out.join("liability.csv")).unwrap();
    assert!(
        liability.starts_with("month,points,breakage,issued_p5,"),
        "{liability}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("simulation.json")).unwrap())
            .unwrap();
    assert_eq!(json["runs"], 2);
    assert_eq!(json["months"].as_array().unwrap().len(), 4);

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, SCENARIO.replace("months: 4", "months: 0")).unwrap();
    let failed = simulate(&bad);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:3: months: 0 months: between 1 and 600",
            bad.display()
        )),
        "{stderr}"
    );

    // `loyalty diff --scenario`: the same population under both programs.
    let doubled = dir.join("doubled.loyalty");
    std::fs::write(&doubled, BASE.replace("RATE", "2")).unwrap();
    let diff = |scenario: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .arg("diff")
            .args([&program, &doubled])
            .arg("--scenario")
            .arg(scenario)
            .args(["--runs", "3", "--format", "markdown"])
            .output()
            .unwrap()
    };
    let done = diff(&scenario);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "### {} → {} on {} (seed 5, 340 members, 4 months; the tables are run 0's of 3)\n\n\
             #### Change over 3 paired runs (5th, 50th and 95th percentiles)\n\n\
             | measure | change p5 | p50 | p95 |\n|---|---:|---:|---:|\n| pts issued | +",
            program.display(),
            doubled.display(),
            scenario.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("+100.00% |"), "{stdout}");
    assert!(stdout.contains("\n#### Overall\n"), "{stdout}");
    let failed = diff(&bad);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("bad.yaml:3: months"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
