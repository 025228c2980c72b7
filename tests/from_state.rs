//! Projections from today (`simulate --from-state`): a run's end state
//! (`run --report state`) carried into a simulation on every example
//! program — the first month opens on the run's closing book, and every
//! member's balances and tier are carried — and the errors of a state that
//! cannot be taken up, each naming the file and the line.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use chrono::NaiveDate;
use loyalty::compile::Program;
use loyalty::engine::Engine;
use loyalty::report::state::read_state;
use loyalty::simulate::{self, Options};
use rust_decimal::Decimal;
use std::path::Path;
use support::{example, loyalty, programs};

/// The rows of a CSV file as maps of column to value.
fn rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// `loyalty run` of an example on its events through the end of its last
/// month, with the state and liability reports, into `out`; returns the
/// first day after it.
fn run_to_month_end(name: &str, out: &Path) -> NaiveDate {
    let program = programs().join(format!("{name}.loyalty"));
    let events = programs().join(format!("{name}.events.csv"));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            program.to_str().unwrap(),
            events.to_str().unwrap(),
            "--report",
            "state,liability",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let output = loyalty(&args);
        assert!(output.status.success(), "{name}: {output:?}");
    };
    run(&[]);
    let last = rows(&out.join("liability.csv")).last().unwrap()["month"].clone();
    let first = NaiveDate::parse_from_str(&format!("{last}-01"), "%Y-%m-%d").unwrap();
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    let end = next.pred_opt().unwrap().to_string();
    run(&["--until", &end]);
    next
}

/// The example's scenario, starting on `start`, for 2 months, with a few
/// members of its own.
fn scenario_from(name: &str, start: NaiveDate) -> String {
    let (_, scenario) = example(name);
    let mut text = String::new();
    for line in scenario.lines() {
        let line = if line.starts_with("start:") {
            format!("start: {start}")
        } else if line.starts_with("months:") {
            "months: 2".to_string()
        } else if line.starts_with("members:") {
            "members: { initial: 20, joins_per_month: 2, churn_per_month: 0.01 }".to_string()
        } else {
            line.to_string()
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[test]
fn every_example_program_opens_its_projection_on_the_runs_closing_book() {
    for name in [
        "bean_stars",
        "cartwheel",
        "harbor_hotels",
        "meridian_cards",
        "northwind_miles",
    ] {
        let (program, _) = example(name);
        let out = tempfile::tempdir().unwrap();
        let start = run_to_month_end(name, out.path());
        let state = read_state(
            &program,
            &std::fs::read_to_string(out.path().join("state.csv")).unwrap(),
        )
        .unwrap();
        assert!(!state.members.is_empty(), "{name}");
        let book = state.members.len() as u64;
        let plan = simulate::load(&program, &scenario_from(name, start))
            .unwrap()
            .from_book(state)
            .unwrap();
        assert_eq!(plan.population(), 20 + 2 * 2 + book);
        let options = Options {
            runs: 1,
            seed: None,
            keep_members: true,
        };
        let simulation = simulate::simulate(&program, &plan, &options, &|| {}).unwrap();
        // The run's closing row per points type, and the simulation's
        // first month: its outstanding less the month's flows is the
        // opening, which is the run's closing.
        let closing = rows(&out.path().join("liability.csv"));
        let first = &simulation.report.months[0];
        assert_eq!(first.month, plan.month_names[0]);
        for points in program.points.iter() {
            let run = closing
                .iter()
                .rev()
                .find(|r| r["points"] == points.name)
                .unwrap();
            let sim = first
                .liability
                .iter()
                .find(|b| b.points == points.name)
                .unwrap();
            let opening = sim.outstanding.p50 - sim.issued.p50
                + sim.spent.p50
                + sim.expired.p50
                + sim.reversed.p50;
            let d = |text: &str| text.parse::<Decimal>().unwrap();
            assert_eq!(opening, d(&run["outstanding"]), "{name} {}", points.name);
            if let Some(value) = points.value.filter(|_| !points.qualifying) {
                assert_eq!(
                    loyalty::finance::liability(program.currency, opening, value, sim.breakage),
                    d(&run["liability"]),
                    "{name} {}",
                    points.name
                );
            }
        }
        // The book's members are in the simulation, by their own ids (a
        // pool's account, `kind:id`, holds points and is no member).
        let run = &simulation.runs[0];
        let real = rows(&out.path().join("members.csv"));
        for member in real.iter().filter(|m| !m["member"].contains(':')) {
            assert!(run.members.contains_key(&member["member"]), "{name}");
        }
    }
}

/// An engine opened on a state holds what the run's members held: the
/// balance and pending points of every points type, and the tier.
#[test]
fn members_balances_and_tiers_are_carried() {
    for name in ["bean_stars", "cartwheel", "northwind_miles"] {
        let (program, _) = example(name);
        let out = tempfile::tempdir().unwrap();
        run_to_month_end(name, out.path());
        let state = read_state(
            &program,
            &std::fs::read_to_string(out.path().join("state.csv")).unwrap(),
        )
        .unwrap();
        let mut engine = Engine::new(&program);
        for opening in &state.members {
            engine.open(opening, state.as_of);
        }
        for member in rows(&out.path().join("members.csv")) {
            let id = &member["member"];
            let Some(opened) = engine.member(id) else {
                panic!("{name}: {id} not carried");
            };
            let tier = program
                .tiers
                .as_ref()
                .map_or(String::new(), |t| t.tiers[opened.tier()].name.clone());
            assert_eq!(tier, member["tier"], "{name} {id}");
            for (p, points) in program.points.iter().enumerate() {
                let wallet = &opened.wallets[p];
                let balance = format!("{}_balance", points.name);
                let pending = format!("{}_pending", points.name);
                assert_eq!(
                    wallet.balance().to_string(),
                    member[&balance],
                    "{name} {id}"
                );
                assert_eq!(
                    wallet.pending(state.as_of).to_string(),
                    member[&pending],
                    "{name} {id}"
                );
            }
        }
    }
}

fn program_of(name: &str) -> Program {
    example(name).0
}

#[test]
fn a_state_that_cannot_be_taken_up_is_an_error_naming_the_file_and_line() {
    let out = tempfile::tempdir().unwrap();
    let start = run_to_month_end("bean_stars", out.path());
    let program = programs().join("bean_stars.loyalty");
    let scenario = out.path().join("later.yaml");
    std::fs::write(&scenario, scenario_from("bean_stars", start)).unwrap();
    let simulate = |state: &Path, scenario: &Path| {
        let sim_out = out.path().join("sim");
        loyalty(&[
            "simulate",
            program.to_str().unwrap(),
            scenario.to_str().unwrap(),
            "--runs",
            "1",
            "--from-state",
            state.to_str().unwrap(),
            "--out",
            sim_out.to_str().unwrap(),
        ])
    };
    let stderr = |output: std::process::Output| {
        assert!(!output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let good = simulate(out.path(), &scenario);
    assert!(good.status.success(), "{good:?}");

    // No state.csv in the folder.
    let empty = tempfile::tempdir().unwrap();
    let missing = stderr(simulate(empty.path(), &scenario));
    assert!(missing.contains("state.csv"), "{missing}");

    // Bad rows: an unknown tier, an amount that is no number, rows of
    // another instant; each names the file and its line.
    let text = std::fs::read_to_string(out.path().join("state.csv")).unwrap();
    // Column `column` of line `line` made `to`.
    let broken = |line: usize, column: usize, to: &str| {
        let dir = tempfile::tempdir().unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut fields: Vec<&str> = lines[line - 1].split(',').collect();
        fields[column] = to;
        lines[line - 1] = fields.join(",");
        std::fs::write(dir.path().join("state.csv"), lines.join("\n") + "\n").unwrap();
        let message = stderr(simulate(dir.path(), &scenario));
        (dir, message)
    };
    let state_file = |dir: &Path| dir.join("state.csv").display().to_string();
    let (dir, message) = broken(3, 3, "platinum");
    assert!(
        message.contains(&format!(
            "{}:3: tier: the program has no tier `platinum`",
            state_file(dir.path())
        )),
        "{message}"
    );
    let (dir, message) = broken(2, 5, "fifty");
    assert!(
        message.contains(&format!(
            "{}:2: amount: `fifty` is not a number",
            state_file(dir.path())
        )),
        "{message}"
    );
    let (dir, message) = broken(4, 0, "2020-01-01T00:00:00Z");
    assert!(
        message.contains(&format!("{}:4: as_of:", state_file(dir.path()))),
        "{message}"
    );

    // A scenario that starts before the state's as-of instant.
    let early = out.path().join("early.yaml");
    let before = start.pred_opt().unwrap().pred_opt().unwrap();
    std::fs::write(&early, scenario_from("bean_stars", before)).unwrap();
    let message = stderr(simulate(out.path(), &early));
    assert!(
        message.contains("not after the state's as-of instant"),
        "{message}"
    );
    assert!(message.contains("early.yaml"), "{message}");

    // read_state on its own: a header that is not state.csv's.
    let wrong = read_state(&program_of("bean_stars"), "member,tier\nann,gold\n").unwrap_err();
    assert_eq!(wrong.line, Some(1));
}
