//! What a command may ask of the machine is bounded, the same on every
//! machine, and refused up front with the reason: threads past
//! `limits::MOST_THREADS`, simulations and generated streams whose
//! estimated memory is past `limits::MEMORY_BOUND` (too many members, runs
//! or events), and programs with more points types than
//! `limits::MOST_POINTS_TYPES`.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use loyalty::limits::MEMORY_BOUND;
use loyalty::simulate::{self, Options};
use support::{example, loyalty, programs};

fn path(name: &str) -> String {
    programs().join(name).to_str().unwrap().to_string()
}

/// The command fails with exit code 2 and a message holding every one of `parts`.
fn refused(args: &[&str], parts: &[&str]) {
    let output = loyalty(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{args:?}: {stderr}");
    }
}

#[test]
fn threads_past_the_most_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    refused(
        &[
            "run",
            &path("bean_stars.loyalty"),
            &path("bean_stars.events.csv"),
            "--threads",
            "257",
            "--out",
            out,
        ],
        &["--threads", "257", "1..=256"],
    );
    assert!(!dir.path().join("out").exists(), "nothing is written");
    refused(
        &[
            "simulate",
            &path("bean_stars.loyalty"),
            &path("bean_stars.scenario.yaml"),
            "--runs",
            "1",
            "--threads",
            "257",
            "--out",
            out,
        ],
        &["--threads", "257", "1..=256"],
    );
    let output = loyalty(&[
        "run",
        &path("bean_stars.loyalty"),
        &path("bean_stars.events.csv"),
        "--threads",
        "256",
        "--out",
        out,
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn a_population_that_cannot_fit_in_memory_is_refused_with_its_estimate() {
    let (program, scenario) = example("bean_stars");
    let mut plan = simulate::load(&program, &scenario).unwrap();
    let options = Options {
        runs: 20,
        seed: None,
        keep_members: false,
    };
    simulate::check(&program, &plan, &options).unwrap();
    plan.initial = 1_000_000_000;
    plan.joins_per_month = 0;
    let message = simulate::check(&program, &plan, &options)
        .unwrap_err()
        .message;
    assert!(message.contains("1000000000 members"), "{message}");
    assert!(message.contains("GiB"), "{message}");
    assert!(message.contains("64 GiB"), "{message}");
    assert!(simulate::footprint(&program, &plan, &options) > MEMORY_BOUND);

    // As many runs as the stream numbers allow, of the scenario's own
    // population: the runs' results would not fit.
    let plan = simulate::load(&program, &scenario).unwrap();
    let many = Options {
        runs: simulate::MOST_RUNS,
        ..options
    };
    let message = simulate::check(&program, &plan, &many).unwrap_err().message;
    assert!(message.contains("--runs"), "{message}");

    // A program with a budget runs each run's members in one engine.
    let dir = tempfile::tempdir().unwrap();
    let scenario = std::fs::read_to_string(programs().join("cartwheel.scenario.yaml"))
        .unwrap()
        .replace(
            "initial: 1500, joins_per_month: 60",
            "initial: 1000000000, joins_per_month: 0",
        );
    assert!(scenario.contains("initial: 1000000000"));
    let file = dir.path().join("big.scenario.yaml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.path().join("out");
    refused(
        &[
            "simulate",
            &path("cartwheel.loyalty"),
            file.to_str().unwrap(),
            "--runs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &["1000000000 members", "64 GiB"],
    );
}

#[test]
fn a_stream_that_cannot_fit_in_memory_is_refused_with_its_estimate() {
    let (program, scenario) = example("bean_stars");
    let options = |members: u64, events: u64| loyalty::gen::Options {
        members,
        events,
        seed: None,
        months: 24,
        end: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    };
    loyalty::gen::plan(&program, &scenario, &options(1_000_000, 12_000_000)).unwrap();
    let message = loyalty::gen::plan(&program, &scenario, &options(1_000_000_000, 1_000_000_000))
        .unwrap_err()
        .message;
    assert!(message.starts_with("--members 1000000000"), "{message}");
    assert!(message.contains("64 GiB"), "{message}");
    let message = loyalty::gen::plan(&program, &scenario, &options(1000, 1_000_000_000_000))
        .unwrap_err()
        .message;
    assert!(message.starts_with("--events 1000000000000"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.csv");
    let output = loyalty(&[
        "gen",
        &path("bean_stars.loyalty"),
        "--members",
        "1000000000",
        "--events",
        "1000000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--members 1000000000"), "{stderr}");
    assert!(!out.exists());
}

/// A program of `before`, `last` and `end` declares one more than the
/// most in `last`: it is refused with one `too-long` error naming `name`,
/// and without `last` it is a program like any other.
fn one_past_the_most_is_refused(before: &str, last: &str, end: &str, name: &str) {
    let errors = loyalty::compile::compile(&format!("{before}{last}{end}"))
        .err()
        .unwrap();
    let too_many: Vec<_> = errors.iter().filter(|d| d.code == "too-long").collect();
    assert_eq!(too_many.len(), 1, "{too_many:?}");
    let message = too_many.first().map_or("", |d| d.message.as_str());
    assert!(message.contains(name), "{message}");
    let fewer = loyalty::compile::compile(&format!("{before}{end}"));
    assert!(
        fewer.is_ok(),
        "{:?}",
        fewer
            .err()
            .map(|e| e.into_iter().take(3).collect::<Vec<_>>())
    );
}

#[test]
fn a_program_with_more_points_types_than_the_most_is_refused_at_the_first_past_it() {
    let mut source = String::from("program \"Many\" {\n  currency USD\n  timezone \"UTC\"\n}\n");
    for p in 0..loyalty::limits::MOST_POINTS_TYPES {
        source.push_str(&format!("points p{p} {{\n  value 0.01 USD\n}}\n"));
    }
    let last = "points p65536 {\n  value 0.01 USD\n}\n";
    one_past_the_most_is_refused(&source, last, "", "`p65536`");
}

#[test]
fn a_program_with_more_tiers_than_the_most_is_refused_at_the_first_past_it() {
    let mut source = String::from(
        "program \"Many\" {\n  currency USD\n  timezone \"UTC\"\n}\n\
         points pts {\n  value 0.01 USD\n}\n\
         rule base {\n  on purchase\n  earn 1 pts per 1 USD of amount\n}\n\
         tiers by pts earned over calendar year {\n  tier t0 from start\n",
    );
    for t in 1..loyalty::limits::MOST_TIERS {
        source.push_str(&format!("  tier t{t} from {t}\n"));
    }
    one_past_the_most_is_refused(&source, "  tier t65536 from 65536\n", "}\n", "`t65536`");
}
