//! The command line's failures: each printed once on standard error, as an
//! `error: ...` line, with its exit code (1 for a program, member or
//! scenario that does not fit, 2 for a usage error).

#![allow(clippy::unwrap_used)]

mod support;

use support::loyalty;

/// What the operating system says of a file that is not there.
fn not_found(path: &str) -> String {
    std::fs::File::open(path).unwrap_err().to_string()
}

#[test]
fn each_failure_is_printed_once_with_its_exit_code() {
    let bean_stars = "programs/bean_stars.loyalty";
    let events = "programs/bean_stars.events.csv";
    let cases: Vec<(Vec<&str>, String, i32)> = vec![
        (
            vec!["run", bean_stars, events, "--until", "yesterday"],
            "error: --until `yesterday` is neither a date (2025-12-31) nor an RFC 3339 time (2025-12-31T18:00:00-05:00)\n".to_string(),
            2,
        ),
        (
            vec!["run", bean_stars, "programs/README.md"],
            "error: cannot tell the format of `programs/README.md`: name it .csv, .jsonl or .yaml, or pass --input-format\n".to_string(),
            2,
        ),
        (
            vec!["explain", bean_stars, events, "--member", "nobody"],
            "error: no member `nobody` in these events\n".to_string(),
            1,
        ),
        (
            vec!["gen", bean_stars, "--scenario", "tests/no_such.scenario.yaml"],
            format!(
                "error: cannot read `tests/no_such.scenario.yaml`: {}\n  (gen draws its members from a scenario: see docs/simulation.md, or pass --scenario)\n",
                not_found("tests/no_such.scenario.yaml")
            ),
            2,
        ),
        (
            vec!["gen", bean_stars, "--months", "0"],
            "error: programs/bean_stars.scenario.yaml: --months: 0 months: between 1 and 600, please\n".to_string(),
            1,
        ),
        (
            vec!["simulate", bean_stars, "programs/bean_stars.scenario.yaml", "--runs", "0"],
            "error: --runs 0: from 1 to 1048576\n".to_string(),
            2,
        ),
        (
            vec!["diff", bean_stars, "programs/cartwheel.loyalty", "--events", events],
            "error: the programs count money in different currencies (USD and EUR): their costs cannot be compared\n".to_string(),
            2,
        ),
        (
            vec!["test", "tests/bad"],
            "error: no test files (*.test.yaml) found\n".to_string(),
            2,
        ),
    ];
    for (args, stderr, code) in cases {
        let output = loyalty(&args);
        assert_eq!(
            (
                String::from_utf8_lossy(&output.stderr).as_ref(),
                output.status.code()
            ),
            (stderr.as_str(), Some(code)),
            "loyalty {}",
            args.join(" ")
        );
        assert!(output.stdout.is_empty(), "loyalty {}", args.join(" "));
    }
}

#[test]
fn a_program_with_errors_prints_its_diagnostics_then_one_error_line() {
    let output = loyalty(&[
        "run",
        "tests/bad/tier_order.loyalty",
        "programs/bean_stars.events.csv",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[tests/bad/tier_order.loyalty:"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("\nerror: `tests/bad/tier_order.loyalty` has errors: run `loyalty check tests/bad/tier_order.loyalty` after fixing them\n"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error: ").count(), 1, "{stderr}");
}
