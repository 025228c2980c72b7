//! Rejects by class: every reject says what kind of problem it is (a
//! stable name a program can act on), the summary counts them by class,
//! and `run --max-rejects` fails a run past a count or a percentage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use loyalty::engine::replay::{Options, Order};
use loyalty::events::{read, Format, RejectClass};
use loyalty::run::{Run, Sinks};
use support::{compile, loyalty};

/// Each record's line and its reject's class, after a run of `events`.
fn classes(program: &str, events: &str, order: Order) -> Vec<(usize, &'static str)> {
    let program = compile(program);
    let records = read(&program, Format::Csv, events.as_bytes(), "events.csv");
    let options = Options {
        order,
        until: None,
        strict: false,
    };
    let finished = Run::new(&program, options)
        .replay(Box::new(records), Sinks::none())
        .unwrap();
    finished
        .outcome
        .rejects
        .iter()
        .map(|r| (r.origin.line, r.class.name()))
        .collect()
}

const PROGRAM: &str = r#"
program "Classes" {
  currency USD
  timezone "UTC"
}
points stars
reward mug {
  price 100 stars
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
"#;

#[test]
fn every_reject_says_its_class() {
    let events = "id,time,member,type,amount,reward,of
        e1,2025-01-01 09:00,ann,enroll,,,
        e2,2025-01-02 09:00,ann,purchase,50,,
        e3,2025-01-02 10:00,ann,redeem,,mug,
        e4,2025-01-02 11:00,bob,purchase,10,,
        e2,2025-01-02 12:00,ann,purchase,5,,
        e5,2025-01-02 13:00,ann,enroll,,,
        e6,2025-01-02 14:00,ann,redeem,,vase,
        e7,2025-01-02 15:00,ann,return,60,,e2
        e8,2025-01-02 16:00,ann,purchase,4.5.0,,
        e9,2025-01-02 17:00,ann,refund,1,,
        e10,2025-01-02 18:00,ann,purchase,1,,,extra
        e11,2125-01-03 09:00,ann,purchase,1,,";
    assert_eq!(
        classes(PROGRAM, events, Order::Sort),
        [
            (4, "balance"),
            (5, "unknown_member"),
            (6, "duplicate"),
            (7, "duplicate"),
            (8, "unknown_name"),
            (9, "balance"),
            (10, "invalid"),
            (11, "invalid"),
            (12, "unreadable"),
            (13, "time"),
        ]
    );
}

#[test]
fn a_late_record_is_of_class_time_and_a_sum_past_the_bound_too_large() {
    let events = "id,time,member,type,amount
        e1,2025-01-01 09:00,ann,enroll,
        e2,2025-01-03 09:00,ann,purchase,10
        e3,2025-01-02 09:00,ann,purchase,10
        e4,2025-01-04 09:00,ann,purchase,100000000000000000000";
    let program = PROGRAM.replace(
        "program \"Classes\" {",
        "program \"Classes\" {\n  accept late events up to 0 days",
    );
    assert_eq!(
        classes(&program, events, Order::Stream),
        [(4, "time"), (5, "too_large")]
    );
}

#[test]
fn class_names_are_distinct_and_stable() {
    let names: Vec<&str> = RejectClass::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "unreadable",
            "invalid",
            "unknown_member",
            "duplicate",
            "time",
            "too_large",
            "unknown_name",
            "balance",
            "not_allowed"
        ]
    );
}

/// `loyalty run` of the bean_stars sample (12 of 58 records rejected)
/// with `--max-rejects limit`: its exit code, standard error and summary.
fn run_sample(limit: &str, out: &std::path::Path) -> (i32, String, String) {
    let output = loyalty(&[
        "run",
        "programs/bean_stars.loyalty",
        "programs/bean_stars.events.csv",
        "--until",
        "2026-03-31",
        "--out",
        out.to_str().unwrap(),
        "--max-rejects",
        limit,
    ]);
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stderr).unwrap(),
        summary,
    )
}

#[test]
fn max_rejects_fails_a_run_past_a_count_or_a_percentage_with_its_files_written() {
    let dir = std::env::temp_dir().join(format!("loyalty-max-rejects-{}", std::process::id()));
    for (limit, code) in [("12", 0), ("11", 1), ("21%", 0), ("20%", 1), ("0", 1)] {
        let out = dir.join(limit.replace('%', "pct"));
        let (status, stderr, summary) = run_sample(limit, &out);
        assert_eq!(status, code, "--max-rejects {limit}: {stderr}");
        let failed =
            format!("error: 12 of 58 records rejected, more than --max-rejects {limit} allows\n");
        assert_eq!(stderr.contains(&failed), code == 1, "{limit}: {stderr}");
        // The files are written either way, the rejects counted by class.
        let counts: serde_json::Value = serde_json::from_str(&summary).unwrap();
        assert_eq!(
            counts["events"]["rejected_by_class"],
            serde_json::json!({
                "balance": 3,
                "duplicate": 2,
                "invalid": 3,
                "not_allowed": 2,
                "unknown_member": 1,
                "unknown_name": 1
            })
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
