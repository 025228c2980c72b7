//! `loyalty diff` as a CI gate: `--detailed-exitcode` (0 when the programs
//! do the same, 2 when they differ, 1 on an error) and `--fail-if`
//! thresholds on the overall figures, crossed or not, and malformed.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const OLD: &str = "programs/cartwheel.loyalty";
const EVENTS: &str = "programs/cartwheel.events.csv";

/// Cartwheel with its 200-coin bonus raised to 300: on the sample events,
/// coins issued 10816 → 11216 (+3.70%: four first orders), liability
/// 48.22 → 49.72 EUR (+3.11%), cost unchanged.
fn raised_bonus() -> tempfile::NamedTempFile {
    let source = std::fs::read_to_string(OLD).unwrap();
    assert!(source.contains("  earn 200 coins\n"));
    let file = tempfile::Builder::new()
        .suffix(".loyalty")
        .tempfile()
        .unwrap();
    std::fs::write(
        file.path(),
        source.replace("  earn 200 coins\n", "  earn 300 coins\n"),
    )
    .unwrap();
    file
}

/// `loyalty diff OLD NEW --events EVENTS ARGS`: exit code, stdout, stderr.
fn diff(new: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(["diff", OLD, new, "--events", EVENTS])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn detailed_exitcode_is_0_for_the_same_program_and_2_for_a_change() {
    let (code, stdout, stderr) = diff(OLD, &["--detailed-exitcode"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert!(
        stdout.contains("No member's balance or tier changed."),
        "{stdout}"
    );

    let new = raised_bonus();
    let new = new.path().to_str().unwrap();
    let (code, stdout, stderr) = diff(new, &["--detailed-exitcode"]);
    assert_eq!((code, stderr.as_str()), (Some(2), ""));
    assert!(
        stdout.contains("coins issued      10816  11216    +400    +3.70%"),
        "{stdout}"
    );

    // Without the option, a difference is a success.
    let (code, _, _) = diff(new, &[]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_threshold_crossed_fails_with_1_and_one_not_crossed_does_not() {
    let new = raised_bonus();
    let new = new.path().to_str().unwrap();
    for detailed in [&[][..], &["--detailed-exitcode"][..]] {
        let crossed = [
            &["--fail-if", "liability>+1.5%", "--fail-if", "cost>+1000"][..],
            detailed,
        ]
        .concat();
        let (code, stdout, stderr) = diff(new, &crossed);
        assert_eq!(
            stderr,
            "--fail-if `liability>+1.5%` crossed: liability EUR 48.22 → 49.72 (+1.50, +3.11%)\n"
        );
        assert_eq!(code, Some(1));
        // The report is printed all the same, for the CI log.
        assert!(stdout.contains("Overall"), "{stdout}");

        let (code, _, stderr) = diff(
            new,
            &[
                &[
                    "--fail-if",
                    "liability>+3.5%",
                    "--fail-if",
                    "cost>+1000",
                    "--fail-if",
                    "coins issued<=+400",
                ][..],
                detailed,
            ]
            .concat(),
        );
        assert_eq!(
            stderr,
            "--fail-if `coins issued<=+400` crossed: coins issued 10816 → 11216 (+400, +3.70%)\n"
        );
        assert_eq!(code, Some(1));

        let (code, _, stderr) = diff(
            new,
            &[
                &[
                    "--fail-if",
                    "liability>+3.5%",
                    "--fail-if",
                    "coins issued<+400",
                ][..],
                detailed,
            ]
            .concat(),
        );
        assert_eq!(stderr, "");
        assert_eq!(code, Some(if detailed.is_empty() { 0 } else { 2 }));
    }
}

#[test]
fn a_bad_threshold_is_an_error_that_says_what_is_accepted() {
    for (threshold, why) in [
        ("liability+5%", "no comparison (`>`, `>=`, `<` or `<=`)"),
        ("profit>5%", "`profit` is not a measure"),
        (
            "cost>5 EUR",
            "`5 EUR` is not a change such as `+5%` or `1000`",
        ),
    ] {
        for (detailed, exit) in [(&[][..], 2), (&["--detailed-exitcode"][..], 1)] {
            let (code, stdout, stderr) =
                diff(OLD, &[&["--fail-if", threshold][..], detailed].concat());
            assert_eq!(
                stderr,
                format!("error: --fail-if `{threshold}`: {why}; a threshold is MEASURE OP CHANGE, with MEASURE one of `liability`, `cost`, `rejected` or `NAME issued` (a points type), OP one of `>`, `>=`, `<`, `<=`, and CHANGE a decimal with an optional sign, and `%` for a change relative to the old figure: `liability>+5%`, `cost>=1000`, `stars issued<-10%`\n")
            );
            assert_eq!(code, Some(exit), "{threshold}");
            assert_eq!(stdout, "");
        }
    }
    let (code, stdout, stderr) = diff(OLD, &["--fail-if", "coin issued>0"]);
    assert_eq!(
        stderr,
        "error: --fail-if `coin issued>0`: these programs have no measure `coin issued`; they have `coins issued`, `liability`, `cost`, `rejected`\n"
    );
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
}

#[test]
fn with_detailed_exitcode_every_error_exits_with_1() {
    let missing = "programs/no_such.loyalty";
    let (code, _, stderr) = diff(missing, &["--detailed-exitcode"]);
    assert!(
        stderr.starts_with("error: cannot read `programs/no_such.loyalty`"),
        "{stderr}"
    );
    assert_eq!(code, Some(1));
    let (code, _, _) = diff(missing, &[]);
    assert_eq!(code, Some(2));

    // So are the usage errors the argument parser finds.
    let (code, _, stderr) = diff(OLD, &["--detailed-exitcode", "--no-such-option"]);
    assert!(
        stderr.starts_with("error: unexpected argument '--no-such-option'"),
        "{stderr}"
    );
    assert_eq!(code, Some(1));
    let (code, _, _) = diff(OLD, &["--no-such-option"]);
    assert_eq!(code, Some(2));
}
