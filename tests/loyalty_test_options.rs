//! `loyalty test`'s options for working on a program's tests: `-t` runs the
//! tests whose name contains a pattern, `--bail` stops at the first
//! failure.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(dir)
        .arg("test")
        .args(args)
        .env_remove("CI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
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

    let output = loyalty_test(dir.path(), &[], "");
    let text = stdout(&output);
    assert!(text.ends_with("\n2 passed, 2 failed\n"), "{text}");

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
