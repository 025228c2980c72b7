//! `loyalty test`: the example programs' test files pass with their stored
//! snapshots, and the command answers passing, failing, broken, empty and
//! missing-snapshot test files with the right exit codes, messages, JUnit
//! XML and JSON; a changed rule fails the snapshot that shows it.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use loyalty::testing::runner::{self, FileReport, SnapshotMode, Tally};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every failure of every test, rendered, so a failing assertion shows why.
fn rendered(reports: &[FileReport]) -> String {
    let mut text = String::new();
    for report in reports {
        match &report.outcome {
            Err(e) => text.push_str(&format!("{}: {}\n", e.place(&report.file), e.message)),
            Ok(cases) => {
                for case in cases.iter().filter(|c| !c.passed()) {
                    text.push_str(&format!("{}: {}\n", report.file.display(), case.name));
                    for failure in &case.failures {
                        text.push_str(&format!(
                            "  {}\n{}",
                            failure.title(),
                            failure.diff().render(4, false)
                        ));
                    }
                }
            }
        }
    }
    text
}

#[test]
fn the_example_programs_pass_their_tests() {
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let files = runner::discover(std::slice::from_ref(&programs)).unwrap();
    let reports: Vec<FileReport> = files
        .iter()
        .map(|file| {
            runner::run_file(
                file,
                SnapshotMode::Check {
                    write_missing: false,
                },
            )
        })
        .collect();
    let tally = Tally::of(&reports);
    assert_eq!(
        (tally.failed, tally.broken_files, tally.snapshots_written),
        (0, 0, 0),
        "\n{}",
        rendered(&reports)
    );
    // Each program has a test file with several cases, one a snapshot.
    let mut programs_tested: Vec<String> = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let model = loyalty::testing::model::parse(&text).unwrap();
        assert!(model.tests.len() >= 3, "{}", file.display());
        assert!(model.tests.iter().any(|t| t.snapshot), "{}", file.display());
        assert!(model.tests.iter().filter(|t| !t.expect.is_empty()).count() >= 3);
        programs_tested.push(model.program);
    }
    programs_tested.sort();
    let mut programs_present: Vec<String> = std::fs::read_dir(&programs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".loyalty"))
        .collect();
    programs_present.sort();
    assert_eq!(programs_tested, programs_present);
}

// ---------------------------------------------------------------- the CLI

const PROGRAM: &str = "program \"Shop\" {\n  currency USD\n  timezone \"UTC\"\n}\n\n\
    points stars {\n  precision 0\n}\n\n\
    rule base {\n  on purchase\n  earn 1 stars per 1 USD of amount\n}\n";

/// Three events: ann enrols, buys for 4.50 USD (4 stars) and tries to
/// redeem more than she has.
const EVENTS: &str = "      - {id: e1, time: 2025-01-05 08:00, member: ann, type: enroll}
      - {id: e2, time: 2025-01-06 09:00, member: ann, type: purchase, amount: 4.50}
      - {id: e3, time: 2025-01-07 09:00, member: ann, type: redeem, points: 10, points_type: stars}
";

fn passing_case(name: &str) -> String {
    format!(
        "  - name: {name}\n    events:\n{EVENTS}    expect:\n      balances:\n        ann: {{stars: 4}}\n      \
         ledger:\n        - {{kind: earn, member: ann, event: e2, amount: 4, time: 2025-01-06}}\n      \
         rejects:\n        - {{id: e3, reason: beyond the available balance}}\n"
    )
}

fn failing_case(name: &str) -> String {
    format!(
        "  - name: {name}\n    events:\n{EVENTS}    expect:\n      balances:\n        ann: {{stars: 5}}\n      \
         ledger:\n        - {{kind: earn, event: e2, amount: 5}}\n"
    )
}

fn snapshot_case(name: &str) -> String {
    format!("  - name: {name}\n    events:\n{EVENTS}    until: 2025-01-31\n    snapshot: true\n")
}

/// A folder with `shop.loyalty` and the given test files.
fn project(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shop.loyalty"), PROGRAM).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn test_file(cases: &[String]) -> String {
    format!("program: shop.loyalty\ntests:\n{}", cases.concat())
}

/// Runs `loyalty test ARGS` in `dir`, in CI or not.
fn loyalty_test(dir: &Path, ci: bool, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loyalty"));
    command.current_dir(dir).arg("test").args(args);
    if ci {
        command.env("CI", "true");
    } else {
        command.env_remove("CI");
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn passing_tests_exit_0_with_a_line_each() {
    let dir = project(&[(
        "shop.test.yaml",
        test_file(&[passing_case("earns"), passing_case("earns again")]),
    )]);
    let output = loyalty_test(dir.path(), true, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("ok     ./shop.test.yaml: earns\n"), "{text}");
    assert!(
        text.contains("ok     ./shop.test.yaml: earns again\n"),
        "{text}"
    );
    assert!(text.ends_with("\n2 passed, 0 failed\n"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour without a terminal: {text}"
    );
}

#[test]
fn failing_tests_exit_1_with_expected_against_actual() {
    let dir = project(&[(
        "shop.test.yaml",
        test_file(&[passing_case("good"), failing_case("bad")]),
    )]);
    let output = loyalty_test(dir.path(), true, &["shop.test.yaml"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("ok     shop.test.yaml: good\n"), "{text}");
    assert!(text.contains("FAILED shop.test.yaml: bad\n"), "{text}");
    assert!(
        text.contains(
            "  balances differ (- expected, + actual)\n    - ann stars: 5\n    + ann stars: 4\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    - kind=earn amount=5 event=e2\n    + kind=earn amount=4 event=e2 (closest: ledger.csv line 2)\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("\n1 passed, 1 failed\n"), "{text}");
}

#[test]
fn a_missing_snapshot_fails_in_ci_and_is_written_otherwise() {
    let dir = project(&[("shop.test.yaml", test_file(&[snapshot_case("Whole run")]))]);
    let snap = dir.path().join("shop.snapshots").join("whole_run.snap");

    let output = loyalty_test(dir.path(), true, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED ./shop.test.yaml: Whole run\n"),
        "{text}"
    );
    assert!(
        text.contains("snapshot `./shop.snapshots/whole_run.snap` is missing"),
        "{text}"
    );
    assert!(
        text.contains("+ pend") || text.contains("+ earn,ann"),
        "{text}"
    );
    assert!(!snap.exists());

    let output = loyalty_test(dir.path(), false, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("ok     ./shop.test.yaml: Whole run (snapshot written)\n"),
        "{text}"
    );
    assert!(
        text.ends_with("1 passed, 0 failed, 1 snapshot written\n"),
        "{text}"
    );
    let stored = std::fs::read_to_string(&snap).unwrap();
    assert!(stored.starts_with("# loyalty test snapshot"), "{stored}");
    assert!(stored.contains("# test: Whole run\n# program: shop.loyalty\n# until: 2025-01-31\n"));
    assert!(stored.contains(
        "\n=== ledger.csv\nkind,member,time,points,amount,balance,rule,event,cost,note,earned\n"
    ));
    assert!(
        stored.contains("earn,ann,2025-01-06T09:00:00+00:00,stars,4,4,base,e2,,,\n"),
        "{stored}"
    );
    assert!(
        stored.contains("\n=== rejects.csv\nfile,line,id,member,reason\ninline,3,e3,ann,"),
        "{stored}"
    );
    assert!(
        stored.contains("\n=== summary.json\n{\n  \"program\": \"Shop\""),
        "{stored}"
    );
    assert!(
        !stored.contains(&dir.path().display().to_string()),
        "no absolute paths"
    );

    // Stable: the next run, in CI, agrees byte for byte.
    let output = loyalty_test(dir.path(), true, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), stored);
}

#[test]
fn a_changed_rule_fails_its_snapshot_naming_the_changed_rows() {
    let dir = project(&[(
        "shop.test.yaml",
        test_file(&[snapshot_case("whole run"), passing_case("unrelated")]),
    )]);
    let snap = dir.path().join("shop.snapshots").join("whole_run.snap");
    assert_eq!(loyalty_test(dir.path(), false, &[]).status.code(), Some(0));
    let before = std::fs::read_to_string(&snap).unwrap();

    // Two stars per dollar instead of one.
    let program = dir.path().join("shop.loyalty");
    std::fs::write(&program, PROGRAM.replace("earn 1 stars", "earn 2 stars")).unwrap();
    let output = loyalty_test(dir.path(), true, &["--review"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED ./shop.test.yaml: whole run (snapshot skipped)\n"),
        "{text}"
    );
    assert!(
        text.contains("snapshot `./shop.snapshots/whole_run.snap` differs"),
        "{text}"
    );
    assert!(
        text.contains("ledger.csv: 1 row removed, 1 row added\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "    - earn,ann,2025-01-06T09:00:00+00:00,stars,4,4,base,e2,,,\n    \
             + earn,ann,2025-01-06T09:00:00+00:00,stars,9,9,base,e2,,,\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("rejects.csv: 1 row removed, 1 row added\n"),
        "{text}"
    );
    assert!(
        text.contains("summary.json: 2 lines removed, 2 lines added\n"),
        "{text}"
    );
    assert!(
        text.contains("    -       \"issued\": \"4\",\n    +       \"issued\": \"9\",\n"),
        "{text}"
    );
    // No answers (standard input closed): --review skips them all.
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), before);

    let output = loyalty_test(dir.path(), true, &["--update"]);
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the other case fails now: {text}"
    );
    assert!(
        text.contains("ok     ./shop.test.yaml: whole run (snapshot updated)\n"),
        "{text}"
    );
    assert!(std::fs::read_to_string(&snap)
        .unwrap()
        .contains(",stars,9,9,base,e2,,,\n"));
}

#[test]
fn broken_test_files_exit_2_with_file_line_and_field() {
    let cases = [
        (
            "unknown key",
            "program: shop.loyalty\ntests:\n  - name: a\n    events: []\n    expect:\n      balance: {ann: {stars: 1}}\n",
            "shop.test.yaml:6:7: tests[0].expect: unknown field `balance`, expected one of `balances`",
        ),
        (
            "wrong type",
            "program: shop.loyalty\ntests:\n  - name: a\n    events: []\n    snapshot: yes please\n",
            "shop.test.yaml:5:15: tests[0].snapshot: invalid type",
        ),
        (
            "missing program",
            "# a comment\nprogram: nowhere.loyalty\ntests:\n  - name: a\n    events: []\n    snapshot: true\n",
            "shop.test.yaml:2: program: cannot read `nowhere.loyalty`",
        ),
        (
            "program with errors",
            "program: bad.loyalty\ntests:\n  - name: a\n    events: []\n    snapshot: true\n",
            "shop.test.yaml:1: program: `bad.loyalty` has errors",
        ),
        (
            "no program key",
            "tests:\n  - name: a\n    events: []\n    snapshot: true\n",
            "shop.test.yaml:1:1: missing field `program`",
        ),
    ];
    for (what, text, message) in cases {
        let dir = project(&[("shop.test.yaml", text.to_string())]);
        std::fs::write(
            dir.path().join("bad.loyalty"),
            "program \"Bad\" {\n  currency USD\n}\nrule r {\n  on purchase\n  earn 1 nope\n}\n",
        )
        .unwrap();
        let output = loyalty_test(dir.path(), true, &["shop.test.yaml"]);
        let out = stdout(&output);
        assert_eq!(output.status.code(), Some(2), "{what}: {out}");
        assert!(out.starts_with("BROKEN shop.test.yaml\n"), "{what}: {out}");
        assert!(out.contains(message), "{what}: {out}");
        assert!(
            out.ends_with("0 passed, 0 failed, 1 broken test file\n"),
            "{what}: {out}"
        );
    }
}

#[test]
fn a_case_that_cannot_run_is_its_own_error_and_the_other_cases_run() {
    let gone = "  - name: gone\n    snapshot: true\n    events: gone.csv\n";
    let dir = project(&[(
        "shop.test.yaml",
        test_file(&[passing_case("good"), gone.to_string(), failing_case("bad")]),
    )]);
    let output = loyalty_test(
        dir.path(),
        true,
        &["shop.test.yaml", "--junit", "results.xml"],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("ok     shop.test.yaml: good\n"), "{text}");
    assert!(
        text.contains(
            "ERROR  shop.test.yaml: gone\n  shop.test.yaml:17: tests[1].events: cannot read `gone.csv`"
        ),
        "{text}"
    );
    assert!(text.contains("FAILED shop.test.yaml: bad\n"), "{text}");
    assert!(text.ends_with("\n1 passed, 1 failed, 1 error\n"), "{text}");

    let xml = std::fs::read_to_string(dir.path().join("results.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("tests"), Some("3"), "{xml}");
    assert_eq!(root.attribute("failures"), Some("1"), "{xml}");
    assert_eq!(root.attribute("errors"), Some("1"), "{xml}");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, ["good", "gone", "bad"]);
    let error = cases[1]
        .children()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert!(
        error
            .attribute("message")
            .unwrap()
            .contains("cannot read `gone.csv`"),
        "{xml}"
    );

    let output = loyalty_test(dir.path(), true, &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (&json["passed"], &json["failed"], &json["errors"]),
        (&1.into(), &1.into(), &1.into())
    );
    let gone = &json["files"][0]["tests"][1];
    assert_eq!(gone["status"], "error");
    assert_eq!(gone["error"]["line"], 17);
}

#[test]
fn the_junit_file_is_written_when_standard_output_is_closed() {
    let cases: Vec<String> = (0..100)
        .map(|i| failing_case(&format!("bad {i}")))
        .collect();
    let dir = project(&[("shop.test.yaml", test_file(&cases))]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(dir.path())
        .args(["test", "--junit", "results.xml"])
        .env("CI", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // `loyalty test --junit results.xml | head -1`: the reader goes away.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let xml = std::fs::read_to_string(dir.path().join("results.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("100"));
}

#[test]
fn empty_test_files_and_empty_folders_exit_2() {
    for (text, message) in [
        ("", "the test file is empty"),
        ("# to do\n", "the test file is empty"),
        (
            "program: shop.loyalty\ntests: []\n",
            "shop.test.yaml:2: tests: the list is empty",
        ),
        (
            "program: shop.loyalty\ntests:\n  - name: a\n    events: []\n",
            "test `a` checks nothing",
        ),
    ] {
        let dir = project(&[("shop.test.yaml", text.to_string())]);
        let output = loyalty_test(dir.path(), true, &[]);
        let out = stdout(&output);
        assert_eq!(output.status.code(), Some(2), "{text:?}: {out}");
        assert!(out.contains(message), "{text:?}: {out}");
    }
    let dir = project(&[]);
    let output = loyalty_test(dir.path(), true, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no test files"));
    let output = loyalty_test(dir.path(), true, &["no/such/folder"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn junit_xml_reads_back_with_a_suite_per_file_and_a_case_per_test() {
    let dir = project(&[
        (
            "a.test.yaml",
            test_file(&[passing_case("good"), failing_case("bad <&> \"quoted\"")]),
        ),
        (
            "b.test.yaml",
            "program: shop.loyalty\ntests: {}\n".to_string(),
        ),
    ]);
    let output = loyalty_test(dir.path(), true, &["--junit", "results.xml"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let xml = std::fs::read_to_string(dir.path().join("results.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("1"));
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["./a.test.yaml", "./b.test.yaml"]);

    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].attribute("name"), Some("good"));
    assert!(
        cases[0].children().all(|n| !n.is_element()),
        "a passing case is empty"
    );
    assert_eq!(cases[1].attribute("name"), Some("bad <&> \"quoted\""));
    let failure = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("balances differ (- expected, + actual)")
    );
    let details = failure.text().unwrap();
    assert!(details.contains("- ann stars: 5\n"), "{details}");
    assert!(details.contains("+ ann stars: 4\n"), "{details}");
    assert!(details.contains("no ledger row matches"), "{details}");

    assert_eq!(suites[1].attribute("errors"), Some("1"));
    let error = suites[1]
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert!(
        error
            .attribute("message")
            .unwrap()
            .starts_with("./b.test.yaml:2:"),
        "{xml}"
    );
}

#[test]
fn json_output_is_one_document_with_every_result() {
    let dir = project(&[(
        "a.test.yaml",
        test_file(&[passing_case("good"), failing_case("bad")]),
    )]);
    let output = loyalty_test(dir.path(), true, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["broken_files"], 0);
    let tests = &json["files"][0]["tests"];
    assert_eq!(json["files"][0]["file"], "./a.test.yaml");
    assert_eq!(tests[0]["status"], "passed");
    assert_eq!(tests[1]["name"], "bad");
    assert_eq!(tests[1]["status"], "failed");
    let failure = &tests[1]["failures"][0];
    assert_eq!(failure["message"], "balances differ (- expected, + actual)");
    assert_eq!(failure["diff"][0]["tag"], "expected");
    assert_eq!(failure["diff"][0]["text"], "ann stars: 5");
    assert_eq!(failure["diff"][1]["tag"], "actual");
    assert_eq!(failure["diff"][1]["text"], "ann stars: 4");
}

#[test]
fn folders_are_searched_for_test_files_in_path_order() {
    let dir = project(&[]);
    let nested = dir.path().join("b").join("c");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::create_dir_all(dir.path().join(".hidden")).unwrap();
    std::fs::create_dir_all(dir.path().join("target")).unwrap();
    for path in [
        nested.join("z.test.yaml"),
        dir.path().join("a.test.yml"),
        dir.path().join(".hidden").join("x.test.yaml"),
        dir.path().join("target").join("x.test.yaml"),
        dir.path().join("notes.yaml"),
    ] {
        std::fs::write(path, "").unwrap();
    }
    let found: Vec<PathBuf> = runner::discover(&[dir.path().to_path_buf()]).unwrap();
    let found: Vec<_> = found
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        found,
        [
            PathBuf::from("a.test.yml"),
            PathBuf::from("b/c/z.test.yaml")
        ]
    );
}
