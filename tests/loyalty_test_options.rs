//! `loyalty test`'s options for working on a program's tests: `-t` runs the
//! tests whose name contains a pattern, `--bail` stops at the first failure,
//! the rules no test exercised are named per program, `--review` takes its
//! answers from standard input, and stale snapshots are reported (and
//! deleted with `--delete-stale`).

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Output;

/// Three rules: `base` on every purchase, `big` on 100 USD or more, and
/// `weekend` on Saturdays.
const PROGRAM: &str = "program \"Shop\" {\n  currency USD\n  timezone \"UTC\"\n}\n\n\
    points stars {\n  precision 0\n}\n\n\
    rule base {\n  on purchase\n  earn 1 stars per 1 USD of amount\n}\n\n\
    rule big {\n  on purchase where amount >= 100 USD\n  earn 10 stars\n}\n\n\
    rule weekend {\n  on purchase where weekday = \"saturday\"\n  earn 5 stars\n}\n";

/// A case in which ann enrols and buys for `amount` USD on `day` (in
/// January 2025: the 4th is a Saturday, the 6th a Monday), expecting
/// `stars`.
fn case(name: &str, day: u32, amount: &str, stars: u32) -> String {
    format!(
        "  - name: {name}\n    events:\n      \
         - {{id: e1, time: 2025-01-01 08:00, member: ann, type: enroll}}\n      \
         - {{id: e2, time: 2025-01-{day:02} 09:00, member: ann, type: purchase, amount: {amount}}}\n    \
         expect:\n      balances:\n        ann: {{stars: {stars}}}\n"
    )
}

/// A case that keeps a snapshot of a Monday purchase of 4.50 USD.
fn snapshot_case(name: &str) -> String {
    format!(
        "  - name: {name}\n    events:\n      \
         - {{id: e1, time: 2025-01-01 08:00, member: ann, type: enroll}}\n      \
         - {{id: e2, time: 2025-01-06 09:00, member: ann, type: purchase, amount: 4.50}}\n    \
         snapshot: true\n"
    )
}

fn test_file(program: &str, cases: &[String]) -> String {
    format!("program: {program}\ntests:\n{}", cases.concat())
}

/// A folder with the given files.
fn project(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs `loyalty test ARGS` in `dir`, not in CI, with `input` on standard
/// input.
fn loyalty_test(dir: &Path, args: &[&str], input: &str) -> Output {
    support::loyalty_in(dir, &[&["test"], args].concat(), input)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn t_runs_the_tests_whose_name_contains_the_pattern() {
    let dir = project(&[
        ("shop.loyalty", PROGRAM.to_string()),
        (
            "a.test.yaml",
            test_file(
                "shop.loyalty",
                &[
                    case("gold earns", 6, "4.50", 4),
                    case("green earns", 6, "4.50", 4),
                    case("gold is wrong", 6, "4.50", 5),
                ],
            ),
        ),
        (
            "b.test.yaml",
            test_file("shop.loyalty", &[case("green too", 6, "4.50", 4)]),
        ),
    ]);
    let output = loyalty_test(dir.path(), &["-t", "gold"], "");
    assert_eq!(
        stdout(&output),
        "ok     ./a.test.yaml: gold earns\n\
         FAILED ./a.test.yaml: gold is wrong\n  balances differ (- expected, + actual)\n    \
         - ann stars: 5\n    + ann stars: 4\n\
         \n1 passed, 1 failed, 2 filtered out\n"
    );
    assert_eq!(output.status.code(), Some(1));

    // With a file: only its tests; the name is matched as written.
    let output = loyalty_test(dir.path(), &["a.test.yaml", "--name", "green"], "");
    assert_eq!(
        stdout(&output),
        "ok     a.test.yaml: green earns\n\n1 passed, 0 failed, 2 filtered out\n"
    );
    assert_eq!(output.status.code(), Some(0));
    let output = loyalty_test(dir.path(), &["-t", "Green"], "");
    assert_eq!(output.status.code(), Some(2), "case-sensitive");

    // Repeated: the tests that match any.
    let output = loyalty_test(dir.path(), &["-t", "too", "-t", "green e"], "");
    assert_eq!(
        stdout(&output),
        "ok     ./a.test.yaml: green earns\nok     ./b.test.yaml: green too\n\
         \n2 passed, 0 failed, 2 filtered out\n"
    );

    // None: a usage error, not a green run.
    let output = loyalty_test(dir.path(), &["-t", "silver", "-t", "bronze"], "");
    assert_eq!(
        (stdout(&output).as_str(), stderr(&output).as_str()),
        ("", "error: no test name contains `silver` or `bronze`\n")
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bail_stops_at_the_first_failing_test() {
    let dir = project(&[
        ("shop.loyalty", PROGRAM.to_string()),
        (
            "a.test.yaml",
            test_file(
                "shop.loyalty",
                &[
                    case("one passes", 6, "4.50", 4),
                    case("two fails", 6, "4.50", 5),
                    case("three fails", 6, "4.50", 6),
                ],
            ),
        ),
        (
            "b.test.yaml",
            test_file("shop.loyalty", &[case("four passes", 6, "4.50", 4)]),
        ),
    ]);
    let output = loyalty_test(dir.path(), &["--bail"], "");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("ok     ./a.test.yaml: one passes\nFAILED ./a.test.yaml: two fails\n"),
        "{text}"
    );
    assert!(!text.contains("three"), "{text}");
    assert!(!text.contains("four"), "{text}");
    assert!(
        text.ends_with("\n1 passed, 1 failed (stopped at the first failure: --bail)\n"),
        "{text}"
    );
    // Not every test ran: no list of rules no test exercised.
    assert_eq!(stderr(&output), "");

    let output = loyalty_test(dir.path(), &[], "");
    let text = stdout(&output);
    assert!(text.ends_with("\n2 passed, 2 failed\n"), "{text}");
    assert!(stderr(&output).starts_with("warning: rules no test exercised"));

    // A failure in a later file stops there too; a run without failures
    // runs everything.
    let output = loyalty_test(dir.path(), &["--bail", "-t", "passes", "-t", "three"], "");
    let text = stdout(&output);
    assert!(
        text.ends_with(
            "\n1 passed, 1 failed, 1 filtered out (stopped at the first failure: --bail)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("four"), "{text}");
    let output = loyalty_test(dir.path(), &["--bail", "-t", "passes"], "");
    assert!(stdout(&output).ends_with("\n2 passed, 0 failed, 2 filtered out\n"));
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn the_rules_no_test_exercised_are_named_per_program_in_rule_order() {
    let dir = project(&[
        // Its last rule is never exercised.
        ("shop.loyalty", PROGRAM.to_string()),
        (
            "shop.test.yaml",
            test_file("shop.loyalty", &[case("a big monday", 6, "150", 160)]),
        ),
        // Its middle rule is never exercised.
        ("cafe.loyalty", PROGRAM.to_string()),
        (
            "cafe.test.yaml",
            test_file(
                "cafe.loyalty",
                &[
                    case("a small monday", 6, "4.50", 4),
                    case("a small saturday", 4, "4.50", 9),
                ],
            ),
        ),
        // Each rule by one of two test files: none is missing.
        ("deli.loyalty", PROGRAM.to_string()),
        (
            "deli_a.test.yaml",
            test_file("deli.loyalty", &[case("a big monday", 6, "150", 160)]),
        ),
        (
            "deli_b.test.yaml",
            test_file("deli.loyalty", &[case("a small saturday", 4, "4.50", 9)]),
        ),
        // Its first rule is never exercised, and a failing test counts.
        (
            "tea.loyalty",
            PROGRAM.replace(
                "  on purchase\n  earn 1 stars",
                "  on purchase where amount > 1000 USD\n  earn 1 stars",
            ),
        ),
        (
            "tea.test.yaml",
            test_file(
                "tea.loyalty",
                &[case("a big saturday, miscounted", 4, "150", 0)],
            ),
        ),
    ]);
    let output = loyalty_test(dir.path(), &[], "");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert_eq!(
        stderr(&output),
        "warning: rules no test exercised (they wrote no ledger row in any test):\n  \
         ./cafe.loyalty: big\n  ./shop.loyalty: weekend\n  ./tea.loyalty: base\n"
    );

    let output = loyalty_test(dir.path(), &["--format", "json"], "");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["unexercised_rules"],
        serde_json::json!([
            {"program": "./cafe.loyalty", "rules": ["big"]},
            {"program": "./shop.loyalty", "rules": ["weekend"]},
            {"program": "./tea.loyalty", "rules": ["base"]},
        ])
    );
    assert_eq!(json["passed"], 5);
    assert_eq!(json["filtered_out"], 0);
    assert!(stderr(&output).contains("  ./shop.loyalty: weekend\n"));

    // A selection cannot tell.
    let output = loyalty_test(dir.path(), &["-t", "monday", "--format", "json"], "");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["unexercised_rules"], serde_json::Value::Null);
    assert_eq!(json["filtered_out"], 3);
    assert_eq!(stderr(&output), "");
}

#[test]
fn review_reads_an_answer_per_snapshot_from_standard_input() {
    let cases = [
        snapshot_case("first"),
        snapshot_case("second"),
        snapshot_case("third"),
    ];
    let dir = project(&[
        ("shop.loyalty", PROGRAM.to_string()),
        ("shop.test.yaml", test_file("shop.loyalty", &cases)),
    ]);
    let snap = |name: &str| {
        std::fs::read_to_string(dir.path().join(format!("shop.snapshots/{name}.snap"))).unwrap()
    };
    assert_eq!(loyalty_test(dir.path(), &[], "").status.code(), Some(0));
    let before = snap("second");
    assert!(before.contains(",stars,4,4,base,e2,"), "{before}");
    let (old, new) = (",stars,4,4,base,e2,", ",stars,9,9,base,e2,");

    // Two stars per dollar instead of one: every snapshot changes.
    std::fs::write(
        dir.path().join("shop.loyalty"),
        PROGRAM.replace("earn 1 stars", "earn 2 stars"),
    )
    .unwrap();
    let output = loyalty_test(dir.path(), &["--review"], "a\nr\n");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(snap("first").contains(new), "accepted");
    assert_eq!(snap("second"), before, "rejected");
    assert!(snap("third").contains(old), "skipped: no answer left");
    assert!(
        text.contains("\nsecond\nsnapshot `./shop.snapshots/second.snap` differs"),
        "{text}"
    );
    assert!(
        text.contains("(no more answers: skipping the rest)"),
        "{text}"
    );
    assert!(
        text.contains("ok     ./shop.test.yaml: first (snapshot updated)\n"),
        "{text}"
    );
    assert!(
        text.contains("FAILED ./shop.test.yaml: second (snapshot rejected)\n"),
        "{text}"
    );
    assert!(
        text.contains("FAILED ./shop.test.yaml: third (snapshot skipped)\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\n1 passed, 2 failed, 1 snapshot written, 1 snapshot rejected, 1 snapshot skipped\n"
        ),
        "{text}"
    );

    // An answer not understood is asked again; `A` accepts the rest
    // without asking.
    let output = loyalty_test(dir.path(), &["--review"], "yes\nA\n");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(snap("second").contains(new));
    assert!(snap("third").contains(new));
    assert!(text.contains("`yes`: answer a, r, s or A\n"), "{text}");
    assert_eq!(
        text.matches("accept (a), reject (r), skip (s or Enter)")
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("\nthird\n"), "not shown: {text}");

    // A missing snapshot is asked about, not written unasked.
    std::fs::remove_file(dir.path().join("shop.snapshots/first.snap")).unwrap();
    let output = loyalty_test(dir.path(), &["--review"], "s\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("shop.snapshots/first.snap").exists());
    let output = loyalty_test(dir.path(), &["--review"], "a\n");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(snap("first").contains(new));
}

#[test]
fn stale_snapshots_are_reported_and_deleted_on_request() {
    // `base` only, which every case exercises: no other warning.
    let base_only = PROGRAM.split("\n\nrule big").next().unwrap().to_string() + "\n";
    let dir = project(&[
        ("shop.loyalty", base_only),
        (
            "shop.test.yaml",
            test_file(
                "shop.loyalty",
                &[snapshot_case("kept"), snapshot_case("renamed")],
            ),
        ),
        // The snapshots of a test file that is gone.
        ("gone.snapshots/old.snap", "old".to_string()),
        ("gone.snapshots/notes.txt", "not a snapshot".to_string()),
    ]);
    let output = loyalty_test(dir.path(), &[], "");
    assert_eq!(output.status.code(), Some(0));
    let warning = "warning: 2 stale snapshots (no test writes them; `loyalty test --delete-stale` deletes them):\n  \
         ./gone.snapshots/old.snap\n  ./shop.snapshots/renamed.snap\n";
    assert_eq!(
        stderr(&output),
        "warning: 1 stale snapshot (no test writes them; `loyalty test --delete-stale` deletes them):\n  \
         ./gone.snapshots/old.snap\n"
    );

    std::fs::write(
        dir.path().join("shop.test.yaml"),
        test_file(
            "shop.loyalty",
            &[snapshot_case("kept"), snapshot_case("new name")],
        ),
    )
    .unwrap();
    let output = loyalty_test(dir.path(), &[], "");
    assert_eq!(output.status.code(), Some(0), "a warning only");
    assert_eq!(stderr(&output), warning);
    assert!(dir.path().join("shop.snapshots/new_name.snap").exists());

    // A test left out by -t still writes its snapshot: not stale.
    let output = loyalty_test(dir.path(), &["-t", "kept", "--format", "json"], "");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["stale_snapshots"],
        serde_json::json!(["./gone.snapshots/old.snap", "./shop.snapshots/renamed.snap"])
    );

    let output = loyalty_test(dir.path(), &["--delete-stale"], "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stderr(&output),
        "deleted 2 stale snapshots (no test writes them):\n  \
         ./gone.snapshots/old.snap\n  ./shop.snapshots/renamed.snap\n"
    );
    assert!(!dir.path().join("gone.snapshots/old.snap").exists());
    assert!(dir.path().join("gone.snapshots/notes.txt").exists());
    assert!(!dir.path().join("shop.snapshots/renamed.snap").exists());
    assert!(dir.path().join("shop.snapshots/kept.snap").exists());
    assert!(dir.path().join("shop.snapshots/new_name.snap").exists());
    let output = loyalty_test(dir.path(), &[], "");
    assert_eq!(stderr(&output), "");
}
