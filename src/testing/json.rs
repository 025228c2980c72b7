//! `--format json`: a run's results as one JSON document, for tools that
//! read neither the text nor JUnit. Stable: no times, files in run order.
//!
//! ```json
//! {
//!   "passed": 3, "failed": 1, "errors": 0, "broken_files": 0, "snapshots_written": 0,
//!   "filtered_out": 0,
//!   "files": [{
//!     "file": "programs/bean_stars.test.yaml",
//!     "error": null,
//!     "tests": [{
//!       "name": "gold members earn 1.2 stars per dollar",
//!       "status": "failed",
//!       "snapshot_written": null,
//!       "failures": [{"message": "balances differ (- expected, + actual)",
//!                     "diff": [{"tag": "expected", "text": "ann stars: 35"},
//!                              {"tag": "actual", "text": "ann stars: 30"}]}]
//!     }]
//!   }],
//!   "unexercised_rules": [{"program": "programs/bean_stars.loyalty", "rules": ["birthday"]}],
//!   "stale_snapshots": ["programs/bean_stars.snapshots/old_case.snap"]
//! }
//! ```
//!
//! A broken file has an `error` (`line`, `column`, `message`) and no tests;
//! a test that could not be run has the status `error` and an `error`.
//! `unexercised_rules` is `null` when not every test ran (`-t`, or a run
//! stopped by `--bail`).

use super::diff::Diff;
use super::model::FileError;
use super::runner::{FileReport, Tally, Written};
use super::unused::Unexercised;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    tally: Tally,
    files: Vec<File<'a>>,
    unexercised_rules: Option<&'a [Unexercised]>,
    stale_snapshots: &'a [PathBuf],
}

#[derive(Serialize)]
struct File<'a> {
    file: String,
    error: Option<&'a FileError>,
    tests: Vec<Test<'a>>,
}

#[derive(Serialize)]
struct Test<'a> {
    name: &'a str,
    status: &'static str,
    snapshot_written: Option<&'static str>,
    failures: Vec<Failure<'a>>,
    /// Why the case could not be run, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a FileError>,
}

#[derive(Serialize)]
struct Failure<'a> {
    message: String,
    diff: &'a Diff,
}

/// The results as pretty-printed JSON, ending in a newline, with the rules
/// no test exercised (when known) and the stale snapshots.
pub fn to_json(
    reports: &[FileReport],
    unexercised: Option<&[Unexercised]>,
    stale: &[PathBuf],
) -> serde_json::Result<String> {
    let files = reports
        .iter()
        .map(|report| {
            let (error, tests) = match &report.outcome {
                Err(e) => (Some(e), Vec::new()),
                Ok(cases) => (
                    None,
                    cases
                        .iter()
                        .map(|case| Test {
                            name: &case.name,
                            status: match (&case.error, case.passed()) {
                                (Some(_), _) => "error",
                                (None, true) => "passed",
                                (None, false) => "failed",
                            },
                            snapshot_written: case.written.map(|w| match w {
                                Written::New => "new",
                                Written::Updated => "updated",
                            }),
                            failures: case
                                .failures
                                .iter()
                                .map(|f| Failure {
                                    message: f.title(),
                                    diff: f.diff(),
                                })
                                .collect(),
                            error: case.error.as_ref(),
                        })
                        .collect(),
                ),
            };
            File {
                file: report.file.display().to_string(),
                error,
                tests,
            }
        })
        .collect();
    let report = Report {
        tally: Tally::of(reports),
        files,
        unexercised_rules: unexercised,
        stale_snapshots: stale,
    };
    serde_json::to_string_pretty(&report).map(|json| json + "\n")
}
