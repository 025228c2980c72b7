//! `--report upcoming`: points expiring in the 30, 60 and 90 days after
//! `--until`, by bucket or by inactivity, and members the next tier review
//! would move down, with what they lack.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use loyalty::compile::compile;
use loyalty::engine::replay::{Options, Order, Until};
use loyalty::events::{read, Format};
use loyalty::finance::upcoming::{upcoming, Upcoming};
use loyalty::run::Sinks;

const PROGRAM: &str = r#"
program "Test" { currency USD  timezone "America/New_York" }
points stars {
  expire 3 months after earn at end of month
}
points miles {
  expire after 6 months without activity
}
tiers by stars earned over calendar year {
  tier green from 0
  tier gold from 100
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
  earn 1 miles per 1 USD of amount
}
"#;

fn report(events: &str, until: &str) -> (Upcoming, String, String) {
    report_of(PROGRAM, events, until)
}

fn report_of(source: &str, events: &str, until: &str) -> (Upcoming, String, String) {
    let program = compile(source).unwrap().0;
    let csv: Vec<&str> = events
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let text = csv.join("\n");
    let records = read(&program, Format::Csv, text.as_bytes(), "t.csv");
    let until = until.parse::<Until>().unwrap().instant(program.timezone);
    let options = Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    };
    let run = loyalty::run::Run::new(&program, options);
    let engine = run.replay(Box::new(records), Sinks::none()).unwrap().engine;
    let result = upcoming(&engine, until);
    let (mut expiry, mut tiers) = (Vec::new(), Vec::new());
    result.write_expiry_csv(&program, &mut expiry).unwrap();
    result.write_tiers_csv(&program, &mut tiers).unwrap();
    (
        result,
        String::from_utf8(expiry).unwrap(),
        String::from_utf8(tiers).unwrap(),
    )
}

#[test]
fn expiries_fall_in_their_windows_and_a_lapsing_gold_member_is_flagged() {
    let (result, expiry, tiers) = report(
        "id,time,member,type,amount,of
         e1,2025-01-05 09:00,ann,enroll,,
         e2,2025-01-05 09:00,bob,enroll,,
         e3,2025-09-10 10:00,ann,purchase,120,
         e4,2025-10-20 10:00,ann,purchase,30,
         e5,2025-11-20 10:00,ann,purchase,5,
         e6,2025-06-15 10:00,bob,purchase,40,
         e7,2025-01-05 09:00,cy,enroll,,
         e8,2025-03-01 10:00,cy,purchase,120,
         e9,2025-03-10 10:00,cy,return,60,e8",
        "2025-11-30",
    );
    // Ann's September stars are valid through 31 December, day 30 after
    // 1 December (the first window: an expiry at midnight closes the day
    // before); October's and November's through the ends of January and
    // February (days 61 and 89, both in the third). Her
    // miles were last active on 20 November: six months on is May, beyond
    // the windows. Bob's miles lapse on 15 December (last active in June);
    // his stars expired at the end of September already.
    assert_eq!(
        expiry,
        "member,points,days,amount,first_expiry
ann,stars,0-30,120,2026-01-01T00:00:00-05:00
ann,stars,61-90,35,2026-02-01T00:00:00-05:00
bob,miles,0-30,40,2025-12-15T10:00:00-05:00
"
    );
    // Ann keeps gold on 2025's 155 stars. Cy reached gold in March, then
    // returned half: 60 stars earned, 40 short of keeping gold at the
    // review on 1 January.
    assert_eq!(
        tiers,
        "member,tier,projected,review,short_of
cy,gold,green,2026-01-01T00:00:00-05:00,stars_earned 60 (needs 40 more)
"
    );
    assert!(result
        .text(&compile(PROGRAM).unwrap().0)
        .contains("1 member(s) projected"));
}

#[test]
fn a_member_in_a_rolling_windows_grace_is_projected_to_drop_when_the_grace_ends() {
    let program = r#"
program "Test" { currency USD  timezone "America/New_York" }
points stars
tiers by stars earned over rolling 12 months {
  tier green from 0
  tier gold from 100
  downgrade at period end, after 2 months grace
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
"#;
    let events = "id,time,member,type,amount
                  e1,2024-01-05 09:00,ann,enroll,
                  e2,2024-06-10 10:00,ann,purchase,120";
    // The window is empty from 10 June 2025: the review of 1 July 2025
    // starts a two-month grace. Asked in July or in August, the drop is
    // on 1 September, not at the next month end.
    let expected = "member,tier,projected,review,short_of
ann,gold,green,2025-09-01T00:00:00-04:00,stars_earned 0 (needs 100 more)
";
    for until in ["2025-07-15", "2025-08-20"] {
        let (_, _, tiers) = report_of(program, events, until);
        assert_eq!(tiers, expected, "as of {until}");
    }
}

#[test]
fn the_run_command_writes_the_upcoming_files_for_an_example_program() {
    let out = std::env::temp_dir().join(format!("loyalty-upcoming-{}", std::process::id()));
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "programs/northwind_miles.loyalty",
            "programs/northwind_miles.events.csv",
            "--until",
            "2026-11-30",
            "--report",
            "upcoming",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 member(s) projected to move down"),
        "{stdout}"
    );
    let tiers = std::fs::read_to_string(out.join("upcoming_tiers.csv")).unwrap();
    // Lea, platinum on the 2025 status year's flying, has flown little since March 2026.
    assert!(
        tiers.contains("\nlea,platinum,gold,2027-03-01T00:00:00+01:00,status_miles_earned "),
        "{tiers}"
    );
    let expiry = std::fs::read_to_string(out.join("upcoming_expiry.csv")).unwrap();
    assert!(expiry.contains("\nkai,award_miles,61-90,392,"), "{expiry}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn miles_a_rule_gave_their_own_expiry_go_at_it_before_the_rest_lapse() {
    let program = PROGRAM.replace(
        "  earn 1 miles per 1 USD of amount\n}",
        "  earn 1 miles per 1 USD of amount\n}\nrule autumn {\n  on purchase\n  earn 25 miles\n  expire 40 days after earn\n}",
    );
    let (_, expiry, _) = report_of(
        &program,
        "id,time,member,type,amount
         e1,2025-01-05 09:00,bob,enroll,
         e2,2025-06-15 10:00,bob,purchase,40
         e3,2025-11-10 10:00,dee,enroll,
         e4,2025-11-10 10:00,dee,purchase,10",
        "2025-11-30",
    );
    // Bob's 40 miles (and his autumn 25, gone in July) lapse with his
    // inactivity on 15 December; dee's 25 autumn miles go on 20 December,
    // 40 days after earn, and her other 10 with her inactivity in May (her
    // stars at the end of February).
    assert_eq!(
        expiry,
        "member,points,days,amount,first_expiry
bob,miles,0-30,40,2025-12-15T10:00:00-05:00
dee,stars,61-90,10,2026-03-01T00:00:00-05:00
dee,miles,0-30,25,2025-12-20T10:00:00-05:00
"
    );
}
