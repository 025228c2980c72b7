//! The negative-test corpus. Every program in `tests/bad/` must get exactly
//! the diagnostics its `# expect:` lines announce, and render as its snapshot
//! shows; every program in `tests/good/` must check clean; `loyalty check`
//! must say the same in JSON and through its exit code.
//!
//! A bad file starts with one `# expect: CODE` line per diagnostic, in source
//! order, optionally pinned to where the diagnostic's span starts:
//! `# expect: unknown-name at 14:24` (1-based line and column, counting the
//! annotation lines themselves). Other `#` lines may follow to say what the
//! file is about.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::panic)]

use loyalty::diagnostic::line_col;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every code the parser and the checker report. An `# expect:` line naming
/// anything else is a typo in the corpus, not a test of the checker.
const CODES: &[&str] = &[
    "syntax",
    "invalid-date",
    "number-too-large",
    "too-deep",
    "too-long",
    "missing-program",
    "missing-setting",
    "duplicate",
    "unknown-name",
    "invalid-timezone",
    "unknown-currency",
    "money-decimals",
    "currency-mismatch",
    "type-mismatch",
    "zero-rate",
    "empty-range",
    "tier-order",
    "first-tier",
    "threshold-count",
    "keep-above",
    "later-rule",
    "percent-points",
    "cap-points",
    "multiply",
    "rule-expiry",
    "counter",
    "qualifying-expiry",
    "not-redeemable",
    "not-transferable",
    "preview-rule",
    "rollover",
    "status-match",
    "referral",
    "unreachable-tier",
    "invalid-value",
    "builtin-event",
    "reserved-name",
    "missing-attribute",
    "wrong-event",
    "duplicate-key",
    "never-fires",
    "single-rule-group",
    "group-choice",
    "unused",
    "item",
];

/// A bad file whose only diagnostic is a parser's, pinned to a line and column.
const JSON_SAMPLE: &str = "bad/invalid_date_february_30.loyalty";

/// One `# expect:` line.
#[derive(Debug, PartialEq)]
struct Expected {
    code: String,
    /// Line and column where the diagnostic's span starts, when pinned.
    at: Option<(usize, usize)>,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{} at {line}:{column}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The `.loyalty` files of a folder of `tests/`, sorted, named relative to `tests/`.
fn corpus(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(tests_dir().join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".loyalty"))
        .map(|name| format!("{folder}/{name}"))
        .collect();
    names.sort();
    names
}

fn read(name: &str) -> String {
    std::fs::read_to_string(tests_dir().join(name))
        .unwrap_or_else(|e| panic!("cannot read tests/{name}: {e}"))
}

/// The `# expect:` lines at the top of a file.
fn expectations(source: &str) -> Result<Vec<Expected>, String> {
    let mut expected = Vec::new();
    let mut in_header = true;
    for (index, line) in source.lines().enumerate() {
        in_header &= line.starts_with('#');
        let Some(rest) = line.strip_prefix("# expect:") else {
            continue;
        };
        if !in_header {
            return Err(format!(
                "line {}: `# expect:` below the first line of the program",
                index + 1
            ));
        }
        expected.push(expectation(rest.trim()).map_err(|e| format!("line {}: {e}", index + 1))?);
    }
    if expected.is_empty() {
        return Err("no `# expect:` line".to_string());
    }
    Ok(expected)
}

/// `CODE` or `CODE at LINE:COL`.
fn expectation(text: &str) -> Result<Expected, String> {
    let (code, at) = match text.split_once(" at ") {
        Some((code, position)) => {
            let (line, column) = position
                .split_once(':')
                .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)))
                .filter(|&(l, c): &(usize, usize)| l > 0 && c > 0)
                .ok_or_else(|| format!("`{position}` is not a position like `14:24`"))?;
            (code, Some((line, column)))
        }
        None => (text, None),
    };
    if !CODES.contains(&code) {
        return Err(format!("`{code}` is not a diagnostic code"));
    }
    Ok(Expected {
        code: code.to_string(),
        at,
    })
}

/// What is wrong with how a bad file checks, if anything.
fn bad_file_problem(name: &str) -> Option<String> {
    let source = read(name);
    let expected = match expectations(&source) {
        Ok(expected) => expected,
        Err(e) => return Some(format!("{name}: {e}")),
    };
    let found = loyalty::check_source(&source);
    let agrees = expected.len() == found.len()
        && expected.iter().zip(&found).all(|(e, d)| {
            e.code == d.code && (e.at.is_none() || e.at == Some(line_col(&source, d.span.start)))
        });
    let has_error = found.iter().any(|d| d.is_error());
    if agrees && has_error {
        return None;
    }
    let mut problem = format!("{name}:\n  expected:\n");
    for e in &expected {
        problem.push_str(&format!("    {e}\n"));
    }
    problem.push_str("  found:\n");
    if found.is_empty() {
        problem.push_str("    nothing\n");
    }
    for d in &found {
        let (line, column) = line_col(&source, d.span.start);
        problem.push_str(&format!(
            "    {} at {line}:{column}: {}\n",
            d.code, d.message
        ));
    }
    if agrees {
        problem.push_str("  a bad file must have at least one error, not only warnings\n");
    }
    Some(problem)
}

/// Every diagnostic of a program, rendered as `loyalty check` shows it without colour.
fn rendered(name: &str, source: &str) -> String {
    loyalty::check_source(source)
        .iter()
        .map(|d| d.render(name, source, false))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_bad_program_reports_exactly_what_it_expects() {
    let names = corpus("bad");
    let problems: Vec<String> = names.iter().filter_map(|n| bad_file_problem(n)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} files in tests/bad do not check as their `# expect:` lines say:\n\n{}",
        problems.len(),
        names.len(),
        problems.join("\n")
    );
}

#[test]
fn the_bad_corpus_expects_every_code() {
    let expected: Vec<String> = corpus("bad")
        .iter()
        .flat_map(|name| expectations(&read(name)).unwrap_or_default())
        .map(|e| e.code)
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .copied()
        .filter(|code| !expected.iter().any(|e| e == code))
        .collect();
    assert!(missing.is_empty(), "no bad file expects {missing:?}");
}

#[test]
fn bad_programs() {
    insta::glob!("bad/*.loyalty", |path| {
        let name = format!("bad/{}", path.file_name().unwrap().to_string_lossy());
        let source = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(rendered(&name, &source));
    });
}

#[test]
fn every_good_program_checks_clean() {
    let names = corpus("good");
    assert!(names.len() >= 5, "only {} files in tests/good", names.len());
    let problems: Vec<String> = names
        .iter()
        .map(|name| (name, rendered(name, &read(name))))
        .filter(|(_, found)| !found.is_empty())
        .map(|(name, found)| format!("{name}:\n{found}"))
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} files in tests/good do not check clean:\n\n{}",
        problems.len(),
        names.len(),
        problems.join("\n")
    );
}

fn loyalty(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(args)
        .current_dir(tests_dir())
        .output()
        .unwrap()
}

#[test]
fn check_reports_json_and_exits_with_1_on_errors() {
    let output = loyalty(&["check", "--format", "json", JSON_SAMPLE]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["files"], 1);
    assert_eq!(report["errors"], 1);
    assert_eq!(report["warnings"], 0);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{report:#}");
    let diagnostic = &diagnostics[0];
    let expected = expectations(&read(JSON_SAMPLE)).unwrap();
    let (line, column) = expected[0].at.unwrap();
    assert_eq!(diagnostic["file"], JSON_SAMPLE);
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["code"], expected[0].code.as_str());
    assert_eq!(diagnostic["line"], line);
    assert_eq!(diagnostic["column"], column);
    assert!(
        diagnostic["message"]
            .as_str()
            .is_some_and(|m| m.contains("2025-02-30")),
        "{diagnostic:#}"
    );
    assert!(
        diagnostic["help"].as_str().is_some_and(|h| !h.is_empty()),
        "{diagnostic:#}"
    );
}

#[test]
fn check_exits_with_0_on_a_clean_program_and_2_on_a_missing_file() {
    let clean = loyalty(&["check", "good/per_full_steps.loyalty"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let missing = loyalty(&["check", "bad/no_such_file.loyalty"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no_such_file.loyalty"));
}

#[test]
fn check_reports_every_readable_file_when_one_cannot_be_read() {
    let files = [
        JSON_SAMPLE,
        "bad/no_such_file.loyalty",
        "bad/tier_order.loyalty",
    ];
    let human = loyalty(&[&["check"], &files[..]].concat());
    let stdout = String::from_utf8_lossy(&human.stdout);
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert_eq!(human.status.code(), Some(2), "{stdout}{stderr}");
    // The diagnostics of the files before and after the unreadable one.
    assert!(stdout.contains(&format!("[{JSON_SAMPLE}:")), "{stdout}");
    assert!(stdout.contains("[bad/tier_order.loyalty:"), "{stdout}");
    assert!(
        stdout.ends_with("checked 2 files: 2 errors, 0 warnings\n"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("error: cannot read `bad/no_such_file.loyalty`"),
        "{stderr}"
    );

    let json = loyalty(&[&["check", "--format", "json"], &files[..]].concat());
    assert_eq!(json.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (&report["files"], &report["errors"]),
        (&2.into(), &2.into())
    );
    let named: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(named, [JSON_SAMPLE, "bad/tier_order.loyalty"]);
    assert!(String::from_utf8_lossy(&json.stderr).contains("no_such_file.loyalty"));
}

#[test]
fn expect_lines_are_read_with_and_without_positions() {
    let source = "# expect: unknown-name at 4:9\n# expect: unused\n# A typo.\nrule x {}\n";
    assert_eq!(
        expectations(source).unwrap(),
        [
            Expected {
                code: "unknown-name".to_string(),
                at: Some((4, 9))
            },
            Expected {
                code: "unused".to_string(),
                at: None
            },
        ]
    );
    assert!(expectations("# expect: unknown-names\n").is_err());
    assert!(expectations("# expect: unused at 0:3\n").is_err());
    assert!(expectations("rule x {}\n# expect: unused\n").is_err());
    assert!(expectations("# nothing expected\nrule x {}\n").is_err());
}
