//! `loyalty run --out DIR`: the folder always holds one run's complete set.
//! `summary.json` lists the files of its run with their rows and SHA-256,
//! and they match; a second run removes the report files of the first that
//! it does not write (and nothing else); a run that fails or is killed
//! leaves the previous set whole, or no `summary.json`.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{loyalty, programs};

/// `loyalty run` of bean_stars on `events` into `out`, with `extra` flags.
fn run(events: &Path, out: &Path, extra: &[&str]) -> Output {
    let program = programs().join("bean_stars.loyalty");
    let mut args = vec![
        "run",
        program.to_str().unwrap(),
        events.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    loyalty(&args)
}

fn sample() -> PathBuf {
    programs().join("bean_stars.events.csv")
}

/// The first `records` records of the sample history, as a file in `dir`.
fn first_records(dir: &Path, records: usize) -> PathBuf {
    let text = std::fs::read_to_string(sample()).unwrap();
    let lines: Vec<&str> = text.lines().take(records + 1).collect();
    let path = dir.join("first.csv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that every file `summary.json` lists is there with its bytes,
/// rows and checksum, and returns the names listed.
fn verified(out: &Path) -> Vec<String> {
    verified_by(out, "summary.json")
}

/// Checks that every file the summary `name` lists is there with its
/// bytes, rows and checksum, and returns the names listed.
fn verified_by(out: &Path, name: &str) -> Vec<String> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap();
    let files = summary["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} lists its files"));
    let mut names = Vec::new();
    for file in files {
        let name = file["name"].as_str().unwrap();
        let bytes = std::fs::read(out.join(name)).unwrap();
        assert_eq!(
            file["sha256"].as_str(),
            Some(sha256(&bytes).as_str()),
            "{name}"
        );
        assert_eq!(file["bytes"].as_u64(), Some(bytes.len() as u64), "{name}");
        if name.ends_with(".csv") {
            let rows = csv::Reader::from_reader(bytes.as_slice())
                .records()
                .map(Result::unwrap)
                .count();
            assert_eq!(file["rows"].as_u64(), Some(rows as u64), "{name}");
        } else {
            assert!(file.get("rows").is_none(), "{name}");
        }
        names.push(name.to_string());
    }
    names
}

/// The names of the files in `dir`.
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn summary_json_lists_every_file_of_its_run_with_rows_and_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let html = out.join("report.html");
    let output = run(
        &sample(),
        &out,
        &[
            "--report",
            "liability,upcoming,deferred-revenue",
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let names = verified(&out);
    assert_eq!(
        names,
        [
            "ledger.csv",
            "members.csv",
            "rejects.csv",
            "liability.csv",
            "upcoming_expiry.csv",
            "upcoming_tiers.csv",
            "deferred_revenue.csv",
            // The page shows the reports: it is written after them.
            "report.html",
        ]
    );
    // Nothing else is left in the folder: no temporary file.
    let mut expected: BTreeSet<String> = names.into_iter().collect();
    expected.insert("summary.json".to_string());
    assert_eq!(listing(&out), expected);
}

#[test]
fn a_second_run_removes_the_report_files_of_the_first_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run(&sample(), &out, &["--report", "liability,upcoming"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(out.join("liability.csv").exists());
    std::fs::write(out.join("notes.txt"), "mine\n").unwrap();
    std::fs::write(out.join("kpis.csv"), "not the run's\n").unwrap();

    let output = run(&sample(), &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let names = verified(&out);
    assert_eq!(names, ["ledger.csv", "members.csv", "rejects.csv"]);
    assert_eq!(
        listing(&out),
        [
            "kpis.csv",
            "ledger.csv",
            "members.csv",
            "notes.txt",
            "rejects.csv",
            "summary.json"
        ]
        .map(String::from)
        .into_iter()
        .collect()
    );
}

#[test]
fn a_run_that_fails_before_its_files_are_complete_leaves_the_previous_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = first_records(dir.path(), 20);
    let output = run(&first, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let before: Vec<(String, Vec<u8>)> = listing(&out)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(out.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();

    // The HTML page cannot be written: the run fails after its ledger.
    let html = dir.path().join("no such folder").join("report.html");
    let output = run(
        &sample(),
        &out,
        &["--report", "liability", "--html", html.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("report.html"), "{stderr}");
    let after: Vec<(String, Vec<u8>)> = listing(&out)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(out.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    assert!(before == after, "the first run's files changed");
    verified(&out);
}

#[test]
fn a_run_that_fails_while_its_files_are_put_in_place_leaves_no_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = first_records(dir.path(), 20);
    let output = run(&first, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // A folder where the second run's liability.csv goes.
    std::fs::create_dir(out.join("liability.csv")).unwrap();
    let output = run(&sample(), &out, &["--report", "liability"]);
    assert_ne!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("liability.csv"), "{stderr}");
    // Either the first run's set, whole, or no summary.json at all.
    if out.join("summary.json").exists() {
        verified(&out);
    }
    assert!(
        listing(&out).iter().all(|name| !name.starts_with('.')),
        "temporary files left: {:?}",
        listing(&out)
    );
}

#[test]
fn a_killed_run_leaves_the_previous_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = first_records(dir.path(), 20);
    let output = run(&first, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let ledger = std::fs::read(out.join("ledger.csv")).unwrap();

    let big = dir.path().join("big.csv");
    let program = programs().join("bean_stars.loyalty");
    let output = loyalty(&[
        "gen",
        program.to_str().unwrap(),
        "--members",
        "10000",
        "--events",
        "150000",
        "--out",
        big.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args([
            "run",
            program.to_str().unwrap(),
            big.to_str().unwrap(),
            "--stream",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once its ledger has grown past the first run's.
    let started = Instant::now();
    let growing = loop {
        let temporary = listing(&out)
            .into_iter()
            .filter(|name| name.starts_with('.'))
            .map(|name| std::fs::metadata(out.join(name)).map_or(0, |m| m.len()))
            .max()
            .unwrap_or(0);
        if temporary > 4 * ledger.len() as u64 {
            break true;
        }
        if started.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(growing, "the run wrote no temporary ledger before it ended");
    assert_eq!(std::fs::read(out.join("ledger.csv")).unwrap(), ledger);
    verified(&out);
}

const SHOP: &str = "program \"Shop\" {\n  currency USD\n  timezone \"UTC\"\n}\n\n\
    points stars {\n  precision 0\n}\n\n\
    rule base {\n  on purchase\n  earn 1 stars per 1 USD of amount\n}\n";

/// The `events` and `stopped_at` of the summary of a `--strict` run of
/// `events` (CSV lines after the header), with `extra` flags.
fn strict_summary(events: &[&str], extra: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("shop.loyalty");
    std::fs::write(&program, SHOP).unwrap();
    let file = dir.path().join("events.csv");
    let header = "id,time,member,type,amount,points,points_type";
    std::fs::write(
        &file,
        [header]
            .iter()
            .chain(events)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "run",
        program.to_str().unwrap(),
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = loyalty(&args);
    let strict = extra.contains(&"--strict");
    assert_eq!(output.status.code(), Some(i32::from(strict)), "{output:?}");
    verified(&out);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let events = summary["events"].clone();
    let count = |key: &str| events.get(key).map_or(0, |n| n.as_u64().unwrap());
    assert_eq!(
        count("read"),
        count("applied") + count("rejected") + count("after_until") + count("not_applied"),
        "{events}"
    );
    (
        events,
        summary.get("stopped_at").cloned().unwrap_or_default(),
    )
}

#[test]
fn a_strict_run_that_stops_counts_what_it_read_and_did_not_apply() {
    let enrol = "e1,2025-01-05T08:00:00Z,ann,enroll,,,";
    let buy = "e2,2025-01-06T09:00:00Z,ann,purchase,4.50,,";
    let too_much = "e3,2025-01-07T09:00:00Z,ann,redeem,,10,stars";
    let buy_again = "e4,2025-01-08T09:00:00Z,ann,purchase,3.00,,";
    let unreadable = "e5,2025-01-09T09:00:00Z,ann,purchase,lots,,";
    let last = "e6,2025-01-10T09:00:00Z,ann,purchase,1.00,,";

    // Sorted: reading stops at the unreadable record, before anything is applied.
    let all = [enrol, buy, too_much, buy_again, unreadable, last];
    let (events, stopped) = strict_summary(&all, &["--strict"]);
    assert_eq!(
        events,
        serde_json::json!({"read": 5, "applied": 0, "rejected": 1, "rejected_by_class": {"invalid": 1}, "after_until": 0, "not_applied": 4})
    );
    assert_eq!(stopped["line"], 6, "{stopped}");
    assert_eq!(stopped["id"], "e5", "{stopped}");
    assert!(
        stopped["reason"].as_str().unwrap().contains("amount"),
        "{stopped}"
    );

    // Sorted, every record read: applying stops at the redemption.
    let readable = [enrol, buy, too_much, buy_again, last];
    let (events, stopped) = strict_summary(&readable, &["--strict"]);
    assert_eq!(
        events,
        serde_json::json!({"read": 5, "applied": 2, "rejected": 1, "rejected_by_class": {"balance": 1}, "after_until": 0, "not_applied": 2})
    );
    assert_eq!(
        (stopped["line"].as_u64(), stopped["id"].as_str()),
        (Some(4), Some("e3"))
    );

    // Streamed: applied as read, so nothing read is left.
    let (events, stopped) = strict_summary(&readable, &["--strict", "--stream"]);
    assert_eq!(
        events,
        serde_json::json!({"read": 3, "applied": 2, "rejected": 1, "rejected_by_class": {"balance": 1}, "after_until": 0, "not_applied": 0})
    );
    assert_eq!(stopped["id"], "e3");

    // Without --strict nothing stops: no stopped_at, no not_applied.
    let (events, stopped) = strict_summary(&readable, &[]);
    assert_eq!(
        events,
        serde_json::json!({"read": 5, "applied": 4, "rejected": 1, "rejected_by_class": {"balance": 1}, "after_until": 0})
    );
    assert!(stopped.is_null());
}

#[test]
fn a_killed_gen_leaves_the_previous_stream() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.csv");
    std::fs::write(&stream, "the previous stream\n").unwrap();
    let program = programs().join("bean_stars.loyalty");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args([
            "gen",
            program.to_str().unwrap(),
            "--members",
            "10000",
            "--events",
            "2000000",
            "--out",
            stream.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once it has written something, wherever it writes.
    let started = Instant::now();
    while listing(dir.path())
        .iter()
        .map(|name| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len()))
        .sum::<u64>()
        < 100_000
        && started.elapsed() < Duration::from_secs(120)
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        std::fs::read(&stream).unwrap() == b"the previous stream\n",
        "the previous stream was replaced"
    );
    // What the killed gen wrote is in its temporary file, which the next
    // gen of the same file replaces.
    assert_eq!(
        listing(dir.path()),
        [".stream.csv.loyalty-tmp", "stream.csv"]
            .map(String::from)
            .into()
    );
}

#[test]
fn simulate_writes_its_folder_all_at_once_too() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("small.scenario.yaml");
    let text = std::fs::read_to_string(programs().join("bean_stars.scenario.yaml"))
        .unwrap()
        .replace(
            "initial: 2000, joins_per_month: 80",
            "initial: 60, joins_per_month: 5",
        )
        .replace("months: 24", "months: 4");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("sim");
    let program = programs().join("bean_stars.loyalty");
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            program.to_str().unwrap(),
            scenario.to_str().unwrap(),
            "--runs",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let output = loyalty(&args);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    };
    let page = out.join("page.html");
    simulate(&["--html", page.to_str().unwrap()]);
    assert_eq!(
        verified_by(&out, "simulation.json"),
        ["liability.csv", "kpis.csv", "page.html"]
    );
    simulate(&[]);
    assert_eq!(
        verified_by(&out, "simulation.json"),
        ["liability.csv", "kpis.csv"]
    );
    assert_eq!(
        listing(&out),
        ["kpis.csv", "liability.csv", "simulation.json"]
            .map(String::from)
            .into()
    );
}
