//! The engine against `docs/semantics.md`, one rule of the contract per
//! test: a tiny program, a few events, and the exact ledger rows, balances,
//! tiers or rejects the contract says they give.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use loyalty::engine::replay::Order;
use support::{d, run, run_until, run_with};

// ------------------------------------------------------------ the clock and expiry

#[test]
fn an_event_at_the_instant_of_an_expiry_sees_the_points_gone() {
    let program = ny!(r#"
points pts {
  expire 6 months after earn at end of month
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2024-12-01 09:00,ann,enroll,,,
         e2,2024-12-01 09:00,bob,enroll,,,
         e3,2024-12-15 10:00,ann,purchase,10,,
         e4,2024-12-15 10:00,bob,purchase,10,,
         e5,2025-06-30 23:59,ann,redeem,,10,pts
         e6,2025-07-01 00:00,bob,redeem,,10,pts",
    );
    // Earned on 15 December: valid through 30 June, gone at 1 July 00:00.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2024-12-15T10:00:00-05:00 10 =10 base",
            "spend 2025-06-30T23:59:00-04:00 -10 =0",
        ]
    );
    assert_eq!(
        run.rows("bob", &[]),
        [
            "earn 2024-12-15T10:00:00-05:00 10 =10 base",
            "expire 2025-07-01T00:00:00-04:00 -10 =0",
        ]
    );
    assert_eq!(run.reject_lines(), [7]);
    assert!(run.rejects[0].1.contains("available balance of 0"));
    assert_eq!(run.totals["pts"].expired, d("10"));
    assert_eq!(run.totals["pts"].spent, d("10"));
}

#[test]
fn expiry_after_earn_keeps_the_wall_clock_and_clamps_to_month_end() {
    let program = ny!(r#"
points pts {
  expire 6 months after earn
}
rule base {
  on purchase
  earn 5 pts
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-31 10:00,ann,purchase,1
         e3,2025-08-31 10:00,ann,purchase,1",
        "2026-03-01",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        [
            // Six months of the calendar: 10:00 EST becomes 10:00 EDT.
            "expire 2025-07-31T10:00:00-04:00 -5 =0",
            // 31 August + 6 months is the last day of February.
            "expire 2026-02-28T10:00:00-05:00 -5 =0",
        ]
    );
}

#[test]
fn expiry_at_end_of_year_plus_one() {
    let program = ny!(r#"
points pts {
  expire at end of year + 1
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-05-01 12:00,ann,purchase,10,,
         e3,2025-12-31 23:30,ann,purchase,20,,
         e4,2026-01-01 00:00,ann,purchase,40,,
         e5,2026-12-31 23:59,ann,redeem,,1,pts",
        "2027-01-02",
    );
    assert_eq!(
        run.rows("ann", &["spend", "expire"]),
        [
            "spend 2026-12-31T23:59:00-05:00 -1 =69",
            // Both 2025 awards end with 2026; the one from 1 January 2026 lives on.
            "expire 2027-01-01T00:00:00-05:00 -9 =60",
            "expire 2027-01-01T00:00:00-05:00 -20 =40",
        ]
    );
    assert_eq!(run.balance("ann", "pts"), d("40"));
}

#[test]
fn calendar_expiry_is_counted_in_the_programs_zone() {
    let program = ny!(r#"
points pts {
  expire at end of month
}
rule base {
  on purchase
  earn 3 pts
}
"#);
    // 1 February 01:00 UTC is still 31 January in New York.
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-02-01T01:00:00Z,ann,purchase,1",
        "2025-03-15",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-31T20:00:00-05:00 3 =3 base",
            "expire 2025-02-01T00:00:00-05:00 -3 =0",
        ]
    );
}

#[test]
fn inactivity_expires_every_bucket_together_and_activity_restarts_the_clock() {
    let program = ny!(r#"
points pts {
  expire after 3 months without activity
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-01 09:00,bob,enroll,,,
         e3,2025-01-10 10:00,ann,purchase,10,,
         e4,2025-03-01 10:00,ann,purchase,5,,
         e5,2025-01-10 10:00,bob,purchase,10,,
         e6,2025-04-01 12:00,bob,redeem,,2,pts",
        "2025-08-01",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        ["expire 2025-06-01T10:00:00-04:00 -15 =0"]
    );
    let expiry = run.ledger.iter().find(|r| r.kind == "expire").unwrap();
    assert_eq!(expiry.note, "no activity for 3 months");
    // A redemption is activity too.
    assert_eq!(
        run.rows("bob", &["expire"]),
        ["expire 2025-07-01T12:00:00-04:00 -8 =0"]
    );
}

#[test]
fn a_day_after_earn_across_the_dst_changes_is_a_calendar_day() {
    let program = ny!(r#"
points pts {
  expire 1 day after earn
}
rule base {
  on purchase
  earn 1 pts
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-03-01 09:00,ann,enroll,
         e2,2025-03-01 09:00,bob,enroll,
         e3,2025-03-01 09:00,cid,enroll,
         e4,2025-03-08 12:00,ann,purchase,1
         e5,2025-11-01 12:00,bob,purchase,1
         e6,2025-11-01 01:30,cid,purchase,1",
        "2025-11-03",
    );
    // Spring forward: 23 hours later, same wall-clock time.
    assert_eq!(
        run.rows("ann", &["expire"]),
        ["expire 2025-03-09T12:00:00-04:00 -1 =0"]
    );
    // Fall back: 25 hours later.
    assert_eq!(
        run.rows("bob", &["expire"]),
        ["expire 2025-11-02T12:00:00-05:00 -1 =0"]
    );
    // 01:30 happens twice on 2 November: the earlier instant.
    assert_eq!(
        run.rows("cid", &["expire"]),
        ["expire 2025-11-02T01:30:00-04:00 -1 =0"]
    );
}

#[test]
fn an_expiry_in_the_skipped_hour_moves_to_the_first_time_that_exists() {
    let program = ny!(r#"
points pts {
  expire 1 day after earn
}
rule base {
  on purchase
  earn 1 pts
}
"#);
    // 02:15 on 9 March 2025 does not exist in New York: the first local
    // time that does is 03:00.
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-03-01 09:00,ann,enroll,
         e2,2025-03-08 02:15,ann,purchase,1",
        "2025-03-10",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        ["expire 2025-03-09T03:00:00-04:00 -1 =0"]
    );
}

#[test]
fn pending_points_are_released_after_the_term_across_a_dst_change() {
    let program = r#"
program "Paris" {
  currency EUR
  timezone "Europe/Paris"
}
points pts {
  pending 14 days
}
rule base {
  on purchase
  earn 1 pts per 1 EUR of amount
}
"#;
    // Clocks go forward in Paris on 30 March 2025.
    let run = run(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2025-03-01 09:00,ann,enroll,,,
         e2,2025-03-01 10:00,ann,purchase,30,,
         e3,2025-03-20 12:00,ann,purchase,50,,
         e4,2025-04-03 11:59,ann,redeem,,40,pts
         e5,2025-04-03 12:00,ann,redeem,,40,pts",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "pend 2025-03-01T10:00:00+01:00 30 =30 base",
            "release 2025-03-15T10:00:00+01:00 30 =30",
            "pend 2025-03-20T12:00:00+01:00 50 =80 base",
            "release 2025-04-03T12:00:00+02:00 50 =80",
            "spend 2025-04-03T12:00:00+02:00 -40 =40",
        ]
    );
    assert_eq!(run.reject_lines(), [5]);
    let reason = &run.rejects[0].1;
    assert!(
        reason.contains("available balance of 30") && reason.contains("50 more are pending"),
        "{reason}"
    );
}

#[test]
fn a_29_february_birthday_falls_on_28_february_in_other_years() {
    let program = ny!(r#"
member {
  birthday: date
}
points pts
rule birthday {
  on purchase where days_to_birthday = 0
  earn 50 pts
}
rule eve {
  on purchase where days_to_birthday = 1
  earn 1 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,birthday
         e1,2024-01-01 09:00,ann,enroll,,2000-02-29
         e2,2024-02-28 10:00,ann,purchase,1,
         e3,2024-02-29 10:00,ann,purchase,1,
         e4,2025-02-27 10:00,ann,purchase,1,
         e5,2025-02-28 10:00,ann,purchase,1,
         e6,2025-03-01 10:00,ann,purchase,1,",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2024-02-28T10:00:00-05:00 1 =1 eve",
            "earn 2024-02-29T10:00:00-05:00 50 =51 birthday",
            "earn 2025-02-27T10:00:00-05:00 1 =52 eve",
            "earn 2025-02-28T10:00:00-05:00 50 =102 birthday",
        ]
    );
}
