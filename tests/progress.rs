//! Progress and verbosity: a bar on standard error while `run`, `diff`,
//! `gen` and `test` read or write, drawn on a terminal only (tried through
//! a pseudo-terminal with util-linux `script`) and never with `--quiet`;
//! `--quiet` leaves out notes, `-v` adds details.

#![allow(clippy::unwrap_used)]

mod support;

/// Everything `loyalty ARGS` wrote, through a pseudo-terminal or a pipe.
fn written(args: &[&str], terminal: bool) -> String {
    support::written(args, &[], terminal)
}

const PROGRAM: &str = "programs/bean_stars.loyalty";
const EVENTS: &str = "programs/bean_stars.events.csv";

#[test]
fn run_and_diff_show_the_bytes_read_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = ["run", PROGRAM, EVENTS, "--out", out];
    // The files are 3.27 KiB; the bar says how much is read and what is left.
    let on_terminal = written(&run, true);
    assert!(on_terminal.contains("/3.27 KiB read"), "{on_terminal}");
    assert!(on_terminal.contains("left)"), "{on_terminal}");
    let on_pipe = written(&run, false);
    assert!(!on_pipe.contains("KiB"), "{on_pipe}");
    let quiet = written(&[&run[..], &["--quiet"]].concat(), true);
    assert!(!quiet.contains("KiB"), "{quiet}");
    assert!(quiet.contains("Bean Stars: 58 events read"), "{quiet}");

    // diff reads the files once per program.
    let diff = ["diff", PROGRAM, PROGRAM, "--events", EVENTS];
    let on_terminal = written(&diff, true);
    assert!(on_terminal.contains("/6.54 KiB read"), "{on_terminal}");
}

#[test]
fn gen_and_test_show_their_progress_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.csv");
    let gen = [
        "gen",
        PROGRAM,
        "--members",
        "50",
        "--events",
        "500",
        "--out",
        stream.to_str().unwrap(),
    ];
    let on_terminal = written(&gen, true);
    assert!(on_terminal.contains("written ("), "{on_terminal}");
    assert!(on_terminal.contains("wrote 592 events"), "{on_terminal}");
    let quiet = written(&[&gen[..], &["-q"]].concat(), true);
    assert!(
        !quiet.contains("written (") && !quiet.contains("wrote"),
        "{quiet}"
    );

    let test = ["test", "programs/bean_stars.test.yaml"];
    let on_terminal = written(&test, true);
    assert!(on_terminal.contains("/1 test files"), "{on_terminal}");
    assert!(!written(&test, false).contains("test files ("));
}

#[test]
fn quiet_leaves_out_notes_and_verbose_adds_details() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = ["run", PROGRAM, EVENTS, "--out", out];
    let normal = written(&run, false);
    assert!(
        normal.contains("12 records rejected (see rejects.csv)"),
        "{normal}"
    );
    assert!(!normal.contains("sha256"), "{normal}");
    let quiet = written(&[&run[..], &["-q"]].concat(), false);
    assert!(!quiet.contains("records rejected (see"), "{quiet}");
    let verbose = written(&[&run[..], &["-v"]].concat(), false);
    assert!(verbose.contains("ledger.csv: "), "{verbose}");
    assert!(
        verbose.contains("rows, ") && verbose.contains("sha256 "),
        "{verbose}"
    );
    let check = written(&["check", PROGRAM, "-v"], false);
    assert!(
        check.contains("checked programs/bean_stars.loyalty: 0 diagnostics"),
        "{check}"
    );
}
