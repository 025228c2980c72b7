//! `loyalty gen`: the same arguments give the same bytes, another seed other
//! bytes; every example program's stream loads with `loyalty run` without a
//! reject, in time order with each member's enrolment first; CSV and JSON
//! Lines give the same ledger; and `run --threads 2` writes the same files
//! as one thread.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Not `fuel_stop`: it earns on baskets, which `gen` does not draw (its
/// purchases list no items), so its generated ledger holds tier rows only.
const EXAMPLES: [&str; 6] = [
    "bean_stars",
    "cartwheel",
    "harbor_hotels",
    "meridian_cards",
    "northwind_miles",
    "sakura_kissa",
];

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(format!("{name}.loyalty"))
}

fn loyalty(args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "loyalty {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn gen(name: &str, extra: &[&str]) -> Vec<u8> {
    let path = program(name);
    let mut args = vec![
        "gen",
        path.to_str().unwrap(),
        "--members",
        "40",
        "--events",
        "600",
    ];
    args.extend(extra);
    loyalty(&args)
}

/// Runs `events` (written to `file` in `dir`) and returns the output folder.
fn run(name: &str, dir: &Path, file: &str, events: &[u8], extra: &[&str]) -> PathBuf {
    let input = dir.join(file);
    std::fs::write(&input, events).unwrap();
    let out = dir.join(format!("out-{file}-{}", extra.join("")));
    let path = program(name);
    let mut args = vec![
        "run",
        path.to_str().unwrap(),
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    loyalty(&args);
    out
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
    let first = gen("bean_stars", &["--seed", "5"]);
    assert_eq!(first, gen("bean_stars", &["--seed", "5"]));
    assert_ne!(first, gen("bean_stars", &["--seed", "6"]));
    assert_eq!(
        gen("northwind_miles", &["--format", "jsonl"]),
        gen("northwind_miles", &["--format", "jsonl"])
    );
}

#[test]
fn the_stream_has_the_members_and_about_the_events_asked_for() {
    let text = String::from_utf8(gen("bean_stars", &[])).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let members: HashSet<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(members.len(), 40);
    assert!((480..=720).contains(&rows.len()), "{} events", rows.len());
    // Sorted by time (RFC 3339 in UTC sorts as text), enrolment first.
    assert!(rows.windows(2).all(|w| w[0][1] <= w[1][1]));
    let mut enrolled = HashSet::new();
    for row in &rows {
        if row[3] == "enroll" {
            assert!(enrolled.insert(row[2]), "{} enrols twice", row[2]);
        } else {
            assert!(enrolled.contains(row[2]), "{} before enrolling", row[0]);
        }
    }
    // The default span: 24 months ending on 2026-12-31 (New York time).
    assert!(rows
        .iter()
        .all(|r| r[1] >= "2025-01-01T05" && r[1] < "2027-01-01T05"));
}

#[test]
fn every_example_stream_loads_without_rejects_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for name in EXAMPLES {
        let csv = run(
            name,
            dir.path(),
            &format!("{name}.csv"),
            &gen(name, &[]),
            &[],
        );
        assert_eq!(read(&csv, "rejects.csv").lines().count(), 1, "{name}");
        assert!(read(&csv, "ledger.csv").lines().count() > 100, "{name}");
        for format in ["jsonl", "parquet"] {
            let events = gen(name, &["--format", format]);
            let file = format!("{name}.{format}");
            let other = run(name, dir.path(), &file, &events, &[]);
            assert_eq!(
                read(&csv, "ledger.csv"),
                read(&other, "ledger.csv").replace(&file, &format!("{name}.csv")),
                "{name} {format}"
            );
            assert_eq!(read(&other, "rejects.csv").lines().count(), 1, "{name}");
        }
    }
}

#[test]
fn bad_options_are_usage_errors() {
    let path = program("bean_stars");
    for args in [
        ["--members", "10", "--events", "5"],
        ["--members", "0", "--events", "5"],
        ["--months", "0", "--events", "50"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .arg("gen")
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"));
    }
}

#[test]
fn more_threads_write_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["bean_stars", "northwind_miles"] {
        let path = program(name);
        let events = loyalty(&[
            "gen",
            path.to_str().unwrap(),
            "--members",
            "300",
            "--events",
            "9000",
        ]);
        let file = format!("{name}.csv");
        // The reports read the engine's end state, which a sharded run
        // (bean_stars) gathers from its shards.
        let reports = "liability,deferred-revenue,upcoming";
        let args = |threads| ["--threads", threads, "--report", reports];
        let one = run(name, dir.path(), &file, &events, &args("1"));
        for threads in ["2", "3"] {
            let more = run(name, dir.path(), &file, &events, &args(threads));
            for output in [
                "ledger.csv",
                "members.csv",
                "rejects.csv",
                "summary.json",
                "liability.csv",
                "deferred_revenue.csv",
                "upcoming_expiry.csv",
                "upcoming_tiers.csv",
            ] {
                assert_eq!(read(&one, output), read(&more, output), "{name} {output}");
            }
        }
        // Without reports the shards' rows are formatted on their threads
        // and only the lines merged.
        let plain = run(name, dir.path(), &file, &events, &["--threads", "2"]);
        for output in ["ledger.csv", "members.csv", "rejects.csv"] {
            assert_eq!(read(&one, output), read(&plain, output), "{name} {output}");
        }
        // The summary lists the run's files: without reports, the first three.
        let summary = |dir: &Path| {
            let mut json: serde_json::Value =
                serde_json::from_str(&read(dir, "summary.json")).unwrap();
            json["files"].as_array_mut().unwrap().truncate(3);
            json
        };
        assert_eq!(summary(&one), summary(&plain), "{name}");
        // Enough entries that the ledger crosses several hand-over batches.
        assert!(
            read(&one, "ledger.csv").lines().count() > 2 * 4096,
            "{name}"
        );
    }
}

#[test]
fn strict_stops_at_the_first_reject_with_threads_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = gen("bean_stars", &[]);
    events.extend_from_slice(b"bad,2026-06-01T12:00:00Z,nobody,purchase,1.00,app,coffee,,,,,,\n");
    for threads in ["1", "2", "3"] {
        let input = dir.path().join("strict.csv");
        std::fs::write(&input, &events).unwrap();
        let path = program("bean_stars");
        let out = dir.path().join(format!("strict-{threads}"));
        let status = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args([
                "run",
                path.to_str().unwrap(),
                input.to_str().unwrap(),
                "--strict",
            ])
            .args(["--threads", threads, "--out", out.to_str().unwrap()])
            .output()
            .unwrap()
            .status;
        assert_eq!(status.code(), Some(1), "--threads {threads}");
        assert_eq!(
            read(&out, "rejects.csv").lines().count(),
            2,
            "--threads {threads}"
        );
    }
}

#[test]
fn more_threads_say_when_they_cannot_split_members() {
    let dir = tempfile::tempdir().unwrap();
    let note = |name: &str| {
        let path = program(name);
        let events = path.with_extension("events.csv");
        let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args(["run", path.to_str().unwrap(), events.to_str().unwrap()])
            .args(["--threads", "2", "--out"])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| l.starts_with("note:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        note("harbor_hotels"),
        "note: events are applied on one thread (its members can transfer points or pool \
         them); the others read"
    );
    // Tied by a budget alone, which holds: in shards.
    assert_eq!(note("northwind_miles"), "");
    assert_eq!(note("bean_stars"), "");
}

/// A program tied by a budget alone writes its shards' lines straight into
/// the ledger, which starts over if the budget runs out across the shards
/// (its bytes, hash and count of records in summary.json too): no
/// temporary folder is needed, and every file is the one thread's, whether
/// the budget held (the sample's) or ran out (5,000 miles).
#[test]
fn shards_write_the_ledger_in_place_and_start_it_over_when_a_budget_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = program("northwind_miles");
    let events = path.with_extension("events.csv");
    let source = std::fs::read_to_string(&path).unwrap();
    let small = dir.path().join("small_budget.loyalty");
    let five_thousand = source.replace("budget 5000000 award_miles", "budget 5000 award_miles");
    assert_ne!(source, five_thousand);
    std::fs::write(&small, five_thousand).unwrap();
    let run = |program: &Path, threads: &str, out: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args(["run", program.to_str().unwrap(), events.to_str().unwrap()])
            .args(["--threads", threads, "--out"])
            .arg(dir.path().join(out))
            .env("TMPDIR", dir.path().join("no such folder"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    for (program, name, again) in [(&path, "held", false), (&small, "ran_out", true)] {
        run(program, "1", &format!("{name}1"));
        let stderr = run(program, "2", &format!("{name}2"));
        assert_eq!(
            stderr.contains("a program-wide budget ran out in shards, so the run was done again"),
            again,
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("temporary file"), "{name}: {stderr}");
        for file in ["ledger.csv", "members.csv", "rejects.csv", "summary.json"] {
            let read =
                |out: &str| std::fs::read_to_string(dir.path().join(out).join(file)).unwrap();
            assert_eq!(
                read(&format!("{name}1")),
                read(&format!("{name}2")),
                "{name}: {file}"
            );
        }
    }
    let exhausted =
        std::fs::read_to_string(dir.path().join("ran_out2").join("ledger.csv")).unwrap();
    assert!(
        exhausted.contains("budget of 5000 exhausted"),
        "{exhausted}"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::process::Stdio;
    for format in ["csv", "jsonl"] {
        let path = program("bean_stars");
        let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args(["gen", path.to_str().unwrap(), "--members", "20000"])
            .args(["--events", "400000", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let line = support::first_line(&mut child);
        assert!(line.contains("id"), "{line}");
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
