//! The engine against `docs/semantics.md`, one rule of the contract per
//! test: a tiny program, a few events, and the exact ledger rows, balances,
//! tiers or rejects the contract says they give.

mod support;

use loyalty::engine::replay::Order;
use loyalty::events::Format;
use support::{d, run, run_format, run_until, run_with, tied_expiries};

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
fn a_record_more_than_a_century_past_the_clock_is_rejected_as_a_mistyped_year() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let events = "id,time,member,type,amount
                  e1,2025-01-01 09:00,ann,enroll,
                  e2,2025-01-02 10:00,ann,purchase,10
                  e3,8025-01-03 10:00,ann,purchase,20
                  e4,2124-12-31 10:00,ann,purchase,30";
    for shards in [None, Some(2)] {
        let run = support::run_in_shards(program, events, Order::Sort, None, shards);
        assert_eq!(run.reject_lines(), [4], "{shards:?}");
        assert_eq!(
            run.rejects[0].1,
            "event on 8025-01-03 is more than 100 years after the last record applied \
             (2124-12-31): is its year mistyped?"
        );
        assert_eq!(run.balance("ann", "pts"), d("40"));
    }
    // Before any record, the horizon counts from the program's effective day.
    let effective = program.replace(
        "  currency USD\n",
        "  currency USD\n  effective 2025-01-01\n",
    );
    let run = run(
        &effective,
        "id,time,member,type,amount
         e1,2125-01-02 09:00,ann,enroll,",
    );
    assert_eq!(run.reject_lines(), [2]);
    assert!(run.rejects[0]
        .1
        .contains("after the program's effective day (2025-01-01)"));
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
        // Together, one row per bucket (each keeps its earn date for cohorts).
        [
            "expire 2025-06-01T10:00:00-04:00 -10 =5",
            "expire 2025-06-01T10:00:00-04:00 -5 =0"
        ]
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
fn an_inactivity_expiry_keeps_its_place_among_the_members_clock_work_at_one_instant() {
    // Both types expire at 2025-06-01 10:00 for the purchase of 1 March,
    // whose `status` rule fires first: the inactivity check it asks for was
    // scheduled before the bonus bucket's expiry, and runs first, although
    // the check the January purchase queued was only put off to then when
    // it came due.
    let run = run_until(
        &tied_expiries(true),
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-10 10:00,ann,purchase,10
         e3,2025-03-01 10:00,ann,purchase,5",
        "2025-08-01",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        [
            "expire 2025-04-10T10:00:00-04:00 -2 =2",
            "expire 2025-06-01T10:00:00-04:00 -10 =5",
            "expire 2025-06-01T10:00:00-04:00 -5 =0",
            "expire 2025-06-01T10:00:00-04:00 -2 =0",
        ]
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
fn an_expiry_in_the_skipped_hour_moves_forward_by_the_gap() {
    let program = ny!(r#"
points pts {
  expire 1 day after earn
}
rule base {
  on purchase
  earn 1 pts
}
"#);
    // 02:15 on 9 March 2025 does not exist in New York: the clocks jump
    // from 02:00 to 03:00, so it is read an hour later, 03:15.
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-03-01 09:00,ann,enroll,
         e2,2025-03-08 02:15,ann,purchase,1",
        "2025-03-10",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        ["expire 2025-03-09T03:15:00-04:00 -1 =0"]
    );
}

#[test]
fn a_record_in_the_skipped_hour_is_applied_forward_by_the_gap_in_csv_and_json_lines() {
    let program = r#"
program "Lisbon" {
  currency EUR
  timezone "Europe/Lisbon"
}
points pts
rule base {
  on purchase
  earn 1 pts per 1 EUR of amount
}
"#;
    // Lisbon's clocks jump from 01:00 to 02:00 on 30 March 2025: the two
    // purchases in the gap are read an hour later, in their order.
    let csv = "id,time,member,type,amount
               e1,2025-03-01 09:00,ann,enroll,
               e2,2025-03-30 01:10,ann,purchase,3
               e3,2025-03-30 01:50,ann,purchase,4";
    let jsonl = r#"{"id": "e1", "time": "2025-03-01 09:00", "member": "ann", "type": "enroll"}
{"id": "e2", "time": "2025-03-30 01:10", "member": "ann", "type": "purchase", "amount": 3}
{"id": "e3", "time": "2025-03-30T01:50:00", "member": "ann", "type": "purchase", "amount": 4}
"#;
    let expected = [
        "earn 2025-03-30T02:10:00+01:00 3 =3 base",
        "earn 2025-03-30T02:50:00+01:00 4 =7 base",
    ];
    let from_csv = run(program, csv);
    assert_eq!(from_csv.rejects, []);
    assert_eq!(from_csv.rows("ann", &["earn"]), expected);
    let from_jsonl = run_format(program, Format::Jsonl, jsonl);
    assert_eq!(from_jsonl.rejects, []);
    assert_eq!(from_jsonl.rows("ann", &["earn"]), expected);
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

// ------------------------------------------------------------ returns

const ONE_PER_USD: &str = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);

#[test]
fn a_return_after_the_points_were_spent_leaves_a_debt_that_earning_pays_first() {
    let run = run(
        ONE_PER_USD,
        "id,time,member,type,amount,of,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-02 10:00,ann,purchase,100,,,
         e3,2025-01-03 10:00,ann,redeem,,,100,pts
         e4,2025-01-04 10:00,ann,return,100,e2,,
         e5,2025-01-05 10:00,ann,purchase,30,,,
         e6,2025-01-05 11:00,ann,redeem,,,1,pts
         e7,2025-01-06 10:00,ann,purchase,80,,,
         e8,2025-01-07 10:00,ann,redeem,,,10,pts",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 100 =100 base",
            "spend 2025-01-03T10:00:00-05:00 -100 =0",
            "reverse 2025-01-04T10:00:00-05:00 -100 =-100 base",
            "earn 2025-01-05T10:00:00-05:00 30 =-70 base",
            "earn 2025-01-06T10:00:00-05:00 80 =10 base",
            "spend 2025-01-07T10:00:00-05:00 -10 =0",
        ]
    );
    assert_eq!(
        run.ledger[2].note,
        "100 already spent: the balance goes negative"
    );
    // Nothing can be redeemed while the balance is negative.
    assert_eq!(run.reject_lines(), [7]);
    let totals = &run.totals["pts"];
    assert_eq!(
        (totals.issued, totals.spent, totals.reversed),
        (d("210"), d("110"), d("100"))
    );
}

#[test]
fn a_return_window_accepts_returns_up_to_its_end_and_rejects_later_ones() {
    let program = ONE_PER_USD.replace(
        "  timezone \"America/New_York\"\n",
        "  timezone \"America/New_York\"\n  accept returns up to 30 days\n",
    );
    let run = run(
        &program,
        "id,time,member,type,amount,of,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-02 10:00,ann,purchase,100,,,
         e3,2025-01-05 10:00,ann,purchase,50,,,
         e4,2025-02-01 10:00,ann,return,10,e2,,
         e5,2025-02-04 10:01,ann,return,10,e3,,
         e6,2025-02-04 10:02,ann,purchase,20,,,
         e7,2025-02-05 10:00,ann,return,10,e2,,",
    );
    // 30 days to the minute after e2 is still in its window; e3's closed a
    // minute before its return, and e2's before the last one.
    assert_eq!(
        run.rows("ann", &["reverse"]),
        ["reverse 2025-02-01T10:00:00-05:00 -10 =140 base"]
    );
    assert_eq!(run.reject_lines(), [6, 8]);
    assert_eq!(
        run.rejects[0].1,
        "return of unknown purchase `e3` for member `ann`, or one made too long ago: \
         the program accepts returns up to 30 days after the purchase"
    );
    assert_eq!(run.balance("ann", "pts"), d("160"));
}

#[test]
fn write_off_reverses_only_what_is_left() {
    let program = r#"
program "Test" {
  currency USD
  timezone "America/New_York"
  on overspent return write off
}
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#;
    let run = run(
        program,
        "id,time,member,type,amount,of,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-02 10:00,ann,purchase,100,,,
         e3,2025-01-03 10:00,ann,redeem,,,60,pts
         e4,2025-01-04 10:00,ann,return,100,e2,,
         e5,2025-01-05 10:00,ann,purchase,30,,,",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 100 =100 base",
            "spend 2025-01-03T10:00:00-05:00 -60 =40",
            "reverse 2025-01-04T10:00:00-05:00 -40 =0 base",
            "earn 2025-01-05T10:00:00-05:00 30 =30 base",
        ]
    );
    assert_eq!(run.ledger[2].note, "60 already spent: written off");
    assert_eq!(run.totals["pts"].reversed, d("40"));
}

#[test]
fn a_proportional_rate_is_multiplied_before_it_is_divided() {
    // 3.3 stars per 3 USD on 1.00 USD is 3.3 × 1 / 3 = 1.1 exactly. Taken
    // as 3.3 × (1 / 3) it was 1.0999…9, which rounding down paid as 1.0;
    // and 7 per 3 USD on 3.00 USD is 7, not 6.9999…9 rounded down to 6.9.
    let program = ny!(r#"
points stars {
  precision 1
}
rule tenth {
  on purchase
  earn 3.3 stars per 3 USD of amount
}
rule seventh {
  on purchase
  earn 7 stars per 3 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,1.00
         e3,2025-01-03 10:00,ann,purchase,3.00",
    );
    assert_eq!(
        run.rows("ann", &["earn"]),
        [
            "earn 2025-01-02T10:00:00-05:00 1.1 =1.1 tenth",
            "earn 2025-01-02T10:00:00-05:00 2.3 =3.4 seventh",
            "earn 2025-01-03T10:00:00-05:00 3.3 =6.7 tenth",
            "earn 2025-01-03T10:00:00-05:00 7 =13.7 seventh",
        ]
    );
}

#[test]
fn partial_returns_add_up_to_exactly_the_award() {
    let program = ny!(r#"
points pts
rule thirty_three {
  on purchase
  earn 33 pts
}
rule seven {
  on purchase
  earn 7 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,100.00,
         e3,2025-01-03 10:00,ann,return,33.33,e2
         e4,2025-01-04 10:00,ann,return,33.33,e2
         e5,2025-01-05 10:00,ann,return,33.34,e2
         e6,2025-01-06 10:00,ann,return,0.01,e2",
    );
    // 33 × 33.33% = 10.9989 → 10, then 21.9978 → 21 (11 more), then 33 (12 more);
    // 7 gives 2.3331 → 2, 4.6662 → 4, then 7.
    assert_eq!(
        run.rows("ann", &["reverse"]),
        [
            "reverse 2025-01-03T10:00:00-05:00 -10 =30 thirty_three",
            "reverse 2025-01-03T10:00:00-05:00 -2 =28 seven",
            "reverse 2025-01-04T10:00:00-05:00 -11 =17 thirty_three",
            "reverse 2025-01-04T10:00:00-05:00 -2 =15 seven",
            "reverse 2025-01-05T10:00:00-05:00 -12 =3 thirty_three",
            "reverse 2025-01-05T10:00:00-05:00 -3 =0 seven",
        ]
    );
    assert_eq!(run.reject_lines(), [7]);
    assert!(
        run.rejects[0].1.contains("left to return"),
        "{:?}",
        run.rejects
    );
    assert_eq!(run.totals["pts"].reversed, d("40"));
}

#[test]
fn a_return_beyond_what_is_left_of_the_purchase_is_rejected() {
    let run = run(
        ONE_PER_USD,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,100,
         e3,2025-01-03 10:00,ann,return,60,e2
         e4,2025-01-04 10:00,ann,return,50,e2
         e5,2025-01-05 10:00,ann,return,40,e2",
    );
    assert_eq!(run.reject_lines(), [5]);
    assert!(
        run.rejects[0].1.contains("more than the 40 left"),
        "{:?}",
        run.rejects
    );
    assert_eq!(
        run.rows("ann", &["reverse"]),
        [
            "reverse 2025-01-03T10:00:00-05:00 -60 =40 base",
            "reverse 2025-01-05T10:00:00-05:00 -40 =0 base",
        ]
    );
}

/// One point per dollar, expiring at the end of the month after the earn
/// month.
const EXPIRING_NEXT_MONTH: &str = ny!(r#"
points pts {
  expire 1 month after earn at end of month
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);

#[test]
fn a_return_after_the_purchases_points_expired_reclaims_nothing_more() {
    // January's 100 points expire on 1 March; the purchase comes back on
    // 10 March. They are gone already: the return takes nothing from the
    // March points and leaves no debt (they are not lost twice).
    let run = run(
        EXPIRING_NEXT_MONTH,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-05 10:00,ann,purchase,100,
         e3,2025-03-05 10:00,ann,purchase,40,
         e4,2025-03-10 10:00,ann,return,100,e2",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-05T10:00:00-05:00 100 =100 base",
            "expire 2025-03-01T00:00:00-05:00 -100 =0",
            "earn 2025-03-05T10:00:00-05:00 40 =40 base",
        ]
    );
    assert_eq!(run.balance("ann", "pts"), d("40"));
    let totals = &run.totals["pts"];
    assert_eq!((totals.expired, totals.reversed), (d("100"), d("0")));
}

#[test]
fn a_return_after_part_of_the_points_expired_reclaims_its_share_of_the_rest() {
    // 100 points: 60 spent, the other 40 expire on 1 March. Half the
    // purchase comes back: half of the 60 that did not expire is 30,
    // taken from the March points.
    let run = run(
        EXPIRING_NEXT_MONTH,
        "id,time,member,type,amount,of,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-05 10:00,ann,purchase,100,,,
         e3,2025-01-06 10:00,ann,redeem,,,60,pts
         e4,2025-03-05 10:00,ann,purchase,50,,,
         e5,2025-03-10 10:00,ann,return,50,e2,,
         e6,2025-03-11 10:00,ann,return,50,e2,,",
    );
    assert_eq!(
        run.rows("ann", &["reverse", "expire"]),
        [
            "expire 2025-03-01T00:00:00-05:00 -40 =0",
            "reverse 2025-03-10T10:00:00-04:00 -30 =20 base",
            "reverse 2025-03-11T10:00:00-04:00 -30 =-10 base",
        ]
    );
    // The second half: 30 more were due, 20 were left to take, 10 owed.
    assert_eq!(
        run.ledger.last().unwrap().note,
        "10 already spent: the balance goes negative"
    );
    let totals = &run.totals["pts"];
    assert_eq!((totals.expired, totals.reversed), (d("40"), d("60")));
}

#[test]
fn a_return_takes_its_purchases_own_points_first() {
    let program = ny!(r#"
points pts {
  expire 1 month after earn at end of month
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-05 10:00,ann,purchase,10,
         e3,2025-02-10 10:00,ann,purchase,20,
         e4,2025-02-11 10:00,ann,return,20,e3",
        "2025-04-15",
    );
    // The January points stay and expire on their own date; the February
    // ones, which would have expired on 1 April, were taken back.
    assert_eq!(
        run.rows("ann", &["reverse", "expire"]),
        [
            "reverse 2025-02-11T10:00:00-05:00 -20 =10 base",
            "expire 2025-03-01T00:00:00-05:00 -10 =0",
        ]
    );
}

#[test]
fn a_return_during_the_pending_term_takes_back_pending_points() {
    let program = ny!(r#"
points pts {
  pending 14 days
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount,of
         e1,2025-03-01 09:00,ann,enroll,,
         e2,2025-03-01 10:00,ann,purchase,50,
         e3,2025-03-03 10:00,ann,return,25,e2",
        "2025-03-20",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "pend 2025-03-01T10:00:00-05:00 50 =50 base",
            "reverse 2025-03-03T10:00:00-05:00 -25 =25 base",
            "release 2025-03-15T10:00:00-04:00 25 =25",
        ]
    );
    assert_eq!(run.member("ann").pending["pts"], d("0"));
}

#[test]
fn returns_reduce_tier_measures_in_proportion() {
    let program = ny!(r#"
points pts
tiers by sum of purchase.amount over calendar year {
  tier base from 0
  tier gold from 500
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-02-01 10:00,ann,purchase,400,
         e3,2025-02-02 10:00,ann,return,100,e2
         e4,2025-02-03 10:00,ann,purchase,150,",
    );
    // 400 − 100 + 150 = 450: still below gold.
    assert_eq!(run.member("ann").measures, [d("450")]);
    assert_eq!(run.tier("ann"), "base");
}

// ------------------------------------------------------------ spending

#[test]
fn a_redeem_finer_than_the_points_precision_is_rejected() {
    let program = ny!(r#"
points cents {
  precision 2
}
rule base {
  on purchase
  earn 1 cents per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-02 10:00,ann,purchase,10,,
         e3,2025-01-03 10:00,ann,redeem,,0.001,cents
         e4,2025-01-04 10:00,ann,redeem,,0.01,cents",
    );
    assert_eq!(run.reject_lines(), [4]);
    assert_eq!(
        run.rejects[0].1,
        "a redeem takes cents with at most 2 decimals, not 0.001"
    );
    assert_eq!(run.balance("ann", "cents"), d("9.99"));
}

#[test]
fn spending_takes_the_earliest_expiry_first() {
    let program = ny!(r#"
points pts {
  expire 1 month after earn at end of month
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
         e2,2025-01-05 10:00,ann,purchase,10,,
         e3,2025-01-20 10:00,ann,purchase,10,,
         e4,2025-02-03 10:00,ann,purchase,10,,
         e5,2025-02-04 10:00,ann,redeem,,15,pts",
        "2025-04-15",
    );
    // The two January awards expire on 1 March, the February one on
    // 1 April: the 15 come from January, oldest first.
    assert_eq!(
        run.rows("ann", &["spend", "expire"]),
        [
            "spend 2025-02-04T10:00:00-05:00 -15 =15",
            "expire 2025-03-01T00:00:00-05:00 -5 =10",
            "expire 2025-04-01T00:00:00-04:00 -10 =0",
        ]
    );
}

// ------------------------------------------------------------ rejects and order

#[test]
fn each_class_of_reject_has_its_line_and_the_other_events_apply() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
reward coffee {
  price 5 pts
  cost 1.50 USD
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of,reward
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-02 10:00,ann,purchase,10,,
         e2,2025-01-03 10:00,ann,purchase,10,,
         e3,2025-01-03 11:00,zed,purchase,10,,
         e4,2025-01-04 10:00,ann,enroll,,,
         e5,2025-01-05 10:00,ann,return,5,e99,
         e6,2025-01-06 10:00,ann,redeem,,,coffee
         e7,2025-01-07 10:00,ann,redeem,,,coffee
         e8,2025-01-08 10:00,ann,redeem,,,coffee
         e9,2025-01-09 10:00,ann,redeem,,,tea
         e10,2025-01-10 10:00,ann,purchase,3,,",
    );
    let expected = [
        (4, "duplicate event id `e2`"),
        (5, "unknown member `zed`"),
        (6, "member `ann` is already enrolled"),
        (7, "return of unknown purchase `e99`"),
        (10, "beyond the available balance of 0"),
        (11, "unknown reward `tea`"),
    ];
    assert_eq!(run.rejects.len(), expected.len(), "{:?}", run.rejects);
    for ((line, reason), (want_line, want)) in run.rejects.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 10 =10 base",
            "spend 2025-01-06T10:00:00-05:00 -5 =5",
            "spend 2025-01-07T10:00:00-05:00 -5 =0",
            "earn 2025-01-10T10:00:00-05:00 3 =3 base",
        ]
    );
    let spend = &run.ledger[1];
    assert_eq!(
        (spend.event.as_str(), spend.cost, spend.note.as_str()),
        ("e6", Some(d("1.50")), "reward coffee")
    );
    assert!(!run.members.contains_key("zed"));
}

/// `reject duplicate ids within 2 days`, in New York, where the clocks
/// went forward on 9 March 2025.
const TWO_DAY_IDS: &str = r#"program "Test" {
  currency USD
  timezone "America/New_York"
  reject duplicate ids within 2 days
}
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#;

#[test]
fn a_copy_within_the_duplicate_window_is_rejected_and_one_outside_it_applied() {
    let run = run(
        TWO_DAY_IDS,
        "id,time,member,type,amount
         e1,2025-03-01 09:00,ann,enroll,
         p1,2025-03-07 10:00,ann,purchase,10
         p1,2025-03-09 10:00,ann,purchase,20
         p1,2025-03-11 10:01,ann,purchase,30
         p1,2025-03-13 10:01,ann,purchase,40
         p1,2025-03-15 10:02,ann,purchase,50",
    );
    // Two calendar days after 7 March 10:00 is 9 March 10:00, 47 hours
    // later across the change: a copy. The rejected copy is not kept, so
    // 11 March is four days after the applied one: a new record, which
    // the copy of 13 March (two days later to the minute) repeats.
    assert_eq!(
        run.rejects,
        [
            (
                4,
                "duplicate event id `p1`: a record with this id was applied within 2 days of \
                 this one"
                    .to_string()
            ),
            (
                6,
                "duplicate event id `p1`: a record with this id was applied within 2 days of \
                 this one"
                    .to_string()
            )
        ]
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-03-07T10:00:00-05:00 10 =10 base",
            "earn 2025-03-11T10:01:00-04:00 30 =40 base",
            "earn 2025-03-15T10:02:00-04:00 50 =90 base",
        ]
    );
}

#[test]
fn a_late_copy_is_a_duplicate_of_the_later_record_it_comes_within_the_window_of() {
    // Streamed: the copy of p1 comes after p2, and is dated a day before
    // the applied p1 (within its window); q1's copy is dated three days
    // before q1 (outside), so it is a late record of its own.
    let events = "id,time,member,type,amount
                  e1,2025-03-01 09:00,ann,enroll,
                  p1,2025-03-20 10:00,ann,purchase,10
                  q1,2025-03-24 10:00,ann,purchase,20
                  p1,2025-03-19 10:00,ann,purchase,30
                  q1,2025-03-21 09:59,ann,purchase,40";
    let streamed = run_with(TWO_DAY_IDS, events, Order::Stream, None);
    assert_eq!(streamed.rejects.len(), 1, "{:?}", streamed.rejects);
    assert_eq!(streamed.rejects[0].0, 5);
    let sorted = run(TWO_DAY_IDS, events);
    // Sorted, the 19 March record comes first and the 20 March one is
    // its copy: the same count of rejects, the other line.
    assert_eq!(sorted.rejects.len(), 1, "{:?}", sorted.rejects);
    assert_eq!(sorted.rejects[0].0, 3);
    assert_eq!(
        streamed.members["ann"].balances["pts"],
        d("70"),
        "10 + 20 + 40"
    );
    assert_eq!(
        sorted.members["ann"].balances["pts"],
        d("90"),
        "30 + 20 + 40"
    );
}

#[test]
fn by_default_ids_are_duplicates_within_30_days() {
    let run = run(
        ONE_PER_USD,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         p1,2025-01-01 10:00,ann,purchase,10
         p1,2025-01-31 10:00,ann,purchase,20
         p1,2025-01-31 10:01,ann,purchase,30",
    );
    assert_eq!(
        run.rejects
            .iter()
            .map(|(line, _)| *line)
            .collect::<Vec<_>>(),
        [4]
    );
    assert_eq!(run.members["ann"].balances["pts"], d("40"));
}

#[test]
fn out_of_order_input_is_sorted_by_default_and_re_run_when_streaming() {
    let events = "id,time,member,type,amount
                  e1,2025-01-01 09:00,ann,enroll,
                  e3,2025-01-03 10:00,ann,purchase,30
                  e2,2025-01-02 10:00,ann,purchase,20";
    let sorted = run(ONE_PER_USD, events);
    assert!(sorted.rejects.is_empty());
    assert_eq!(
        sorted.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 20 =20 base",
            "earn 2025-01-03T10:00:00-05:00 30 =50 base",
        ]
    );
    // Streaming applies e3 first; e2, late, re-runs ann: e3's row is
    // undone and both are written again in time order (see tests/late.rs).
    let streamed = run_with(ONE_PER_USD, events, Order::Stream, None);
    assert!(streamed.rejects.is_empty());
    assert_eq!(
        streamed.rows("ann", &[]),
        [
            "earn 2025-01-03T10:00:00-05:00 30 =30 base",
            "earn 2025-01-03T10:00:00-05:00 -30 =0 base",
            "earn 2025-01-02T10:00:00-05:00 20 =20 base",
            "earn 2025-01-03T10:00:00-05:00 30 =50 base",
        ]
    );
    assert_eq!(streamed.members, sorted.members);
}

#[test]
fn events_at_the_same_time_keep_their_input_order() {
    let run = run(
        ONE_PER_USD,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-01 09:00,bob,enroll,,,
         e3,2025-01-02 10:00,ann,purchase,10,,
         e4,2025-01-02 10:00,bob,purchase,10,,
         e5,2025-01-03 10:00,ann,purchase,5,,
         e6,2025-01-03 10:00,ann,redeem,,15,pts
         e7,2025-01-03 10:00,bob,redeem,,15,pts
         e8,2025-01-03 10:00,bob,purchase,5,,",
    );
    assert_eq!(run.balance("ann", "pts"), d("0"));
    assert_eq!(run.balance("bob", "pts"), d("15"));
    assert_eq!(run.reject_lines(), [8]);
}

#[test]
fn until_applies_what_is_due_by_the_end_of_that_day_and_no_later_event() {
    let program = ny!(r#"
points pts {
  expire at end of month
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let events = "id,time,member,type,amount
                  e1,2025-01-01 09:00,ann,enroll,
                  e2,2025-01-15 10:00,ann,purchase,10
                  e3,2025-02-10 10:00,ann,purchase,20
                  e4,2025-02-28 23:30,ann,purchase,5
                  e5,2025-03-01 00:00,ann,purchase,7";
    let until = run_until(program, events, "2025-02-28");
    assert_eq!(until.after_until, 1);
    // 1 March 00:00 is after the end of 28 February: the February points stay.
    assert_eq!(
        until.rows("ann", &[]),
        [
            "earn 2025-01-15T10:00:00-05:00 10 =10 base",
            "expire 2025-02-01T00:00:00-05:00 -10 =0",
            "earn 2025-02-10T10:00:00-05:00 20 =20 base",
            "earn 2025-02-28T23:30:00-05:00 5 =25 base",
        ]
    );
    let later = run_until(program, events, "2025-03-31");
    assert_eq!(later.after_until, 0);
    assert_eq!(
        later.rows("ann", &["expire"]),
        [
            "expire 2025-02-01T00:00:00-05:00 -10 =0",
            "expire 2025-03-01T00:00:00-05:00 -20 =5",
            "expire 2025-03-01T00:00:00-05:00 -5 =0",
        ]
    );
    assert_eq!(later.balance("ann", "pts"), d("7"));
    // Without --until the clock stops at the last event: 1 April's expiry waits.
    let plain = run(program, events);
    assert_eq!(plain.balance("ann", "pts"), d("7"));
    assert_eq!(plain.rows("ann", &["expire"]).len(), 3);
}

// ------------------------------------------------------------ earning

#[test]
fn per_full_counts_whole_steps() {
    let program = r#"
program "Shanghai" {
  currency CNY
  timezone "Asia/Shanghai"
}
points pts
rule step {
  on purchase
  earn 1 pts per full 20 CNY of amount
}
"#;
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,39
         e3,2025-01-03 10:00,ann,purchase,40
         e4,2025-01-04 10:00,ann,purchase,19.99",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00+08:00 1 =1 step",
            "earn 2025-01-03T10:00:00+08:00 2 =3 step",
        ]
    );
}

#[test]
fn per_is_proportional_and_per_full_is_not() {
    let program = ny!(r#"
points pts
rule proportional {
  on purchase
  earn 5 pts per 2.50 USD of amount
}
rule step {
  on purchase
  earn 5 pts per full 2.50 USD of amount
}
rule double {
  on purchase
  earn 2 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,3.00
         e3,2025-01-03 10:00,ann,purchase,3.40",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            // 3.00 / 2.50 = 1.2 steps × 5 = 6; one full step = 5; 2 × 3 = 6.
            "earn 2025-01-02T10:00:00-05:00 6 =6 proportional",
            "earn 2025-01-02T10:00:00-05:00 5 =11 step",
            "earn 2025-01-02T10:00:00-05:00 6 =17 double",
            // 3.40 / 2.50 × 5 = 6.8 → 6; one full step; 2 × 3.40 = 6.8 → 6.
            "earn 2025-01-03T10:00:00-05:00 6 =23 proportional",
            "earn 2025-01-03T10:00:00-05:00 5 =28 step",
            "earn 2025-01-03T10:00:00-05:00 6 =34 double",
        ]
    );
}

#[test]
fn each_rounding_mode_rounds_the_award_once() {
    let program = ny!(r#"
points pts
rule down {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule up {
  on purchase
  earn 1 pts per 1 USD of amount
  round up
}
rule half_up {
  on purchase
  earn 1 pts per 1 USD of amount
  round half up
}
rule half_even {
  on purchase
  earn 1 pts per 1 USD of amount
  round half even
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,12.50
         e3,2025-01-03 10:00,ann,purchase,12.40
         e4,2025-01-04 10:00,ann,purchase,13.50",
    );
    let awards: Vec<(String, String)> = run
        .ledger
        .iter()
        .map(|r| (r.rule.clone(), r.amount.normalize().to_string()))
        .collect();
    let expected = [
        ("down", "12"),
        ("up", "13"),
        ("half_up", "13"),
        ("half_even", "12"),
        ("down", "12"),
        ("up", "13"),
        ("half_up", "12"),
        ("half_even", "12"),
        ("down", "13"),
        ("up", "14"),
        ("half_up", "14"),
        ("half_even", "14"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(r, a)| (r.to_string(), a.to_string()))
        .collect();
    assert_eq!(awards, expected);
}

#[test]
fn awards_round_to_the_points_precision_summed_over_earn_lines() {
    let program = ny!(r#"
points pts {
  precision 2
}
rule thirds {
  on purchase
  earn 1 pts per 3 USD of amount
  earn 1 pts per 3 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,1",
    );
    // 1/3 + 1/3 rounded once: 0.66, not 0.33 + 0.33.
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-02T10:00:00-05:00 0.66 =0.66 thirds"]
    );
}

#[test]
fn a_negative_award_earns_nothing() {
    let program = ny!(r#"
points pts
rule over_ten {
  on purchase
  earn 1 pts per 1 USD of amount - 10 USD
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,5
         e3,2025-01-03 10:00,ann,purchase,15",
    );
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-03T10:00:00-05:00 5 =5 over_ten"]
    );
    assert_eq!(run.totals["pts"].issued, d("5"));
}

/// A program whose purchases carry a `channel`, with `rules` earning `pts`.
fn with_channel(rules: &str) -> String {
    let head = ny!("event purchase {\n  channel: text\n}\npoints pts\n");
    format!("{head}{rules}")
}

#[test]
fn a_share_of_an_earlier_rule_uses_its_rounded_award_and_is_nothing_if_it_did_not_fire() {
    let program = with_channel(
        r#"
rule base {
  on purchase where channel = "store"
  earn 1 pts per 1 USD of amount
}
rule echo {
  on purchase
  earn 100% of base
  round half up
}
"#,
    );
    let run = run(
        &program,
        "id,time,member,type,amount,channel
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,7.99,store
         e3,2025-01-03 10:00,ann,purchase,7.99,web",
    );
    // 100% of the rounded 7, not of 7.99 (which half up would make 8).
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 7 =7 base",
            "earn 2025-01-02T10:00:00-05:00 7 =14 echo",
        ]
    );
}

#[test]
fn a_share_of_a_capped_rule_is_a_share_of_what_it_awarded() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  cap 10 pts per event
}
rule echo {
  on purchase
  earn 100% of base
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,30",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "cap_cut 2025-01-02T10:00:00-05:00 20 =0 base",
            "earn 2025-01-02T10:00:00-05:00 10 =10 base",
            "earn 2025-01-02T10:00:00-05:00 10 =20 echo",
        ]
    );
    assert_eq!(run.ledger[0].note, "cap 10 per event: 30 cut to 10");
}

#[test]
fn a_share_of_a_rule_that_lost_its_exclusive_group_is_nothing() {
    let program = ny!(r#"
points pts
rule small {
  on purchase
  earn 10 pts
  exclusive group welcome
}
rule big {
  on purchase
  earn 20 pts
  exclusive group welcome
}
rule echo {
  on purchase
  earn 50% of small
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,30",
    );
    // `small` is recorded as not firing, so `echo` has nothing to share.
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-02T10:00:00-05:00 20 =20 big"]
    );
}

#[test]
fn a_share_reads_the_rule_it_names_not_the_first_rule() {
    // The issue's repro: the shared rule is the second of three.
    let program = with_channel(
        r#"
rule other {
  on purchase where channel = "web"
  earn 1 pts
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule bonus {
  on purchase
  earn 50% of base
}
"#,
    );
    let run = run(
        &program,
        "id,time,member,type,amount,channel
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,10.00,store
         e3,2025-01-03 10:00,ann,purchase,4.00,web",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 10 =10 base",
            "earn 2025-01-02T10:00:00-05:00 5 =15 bonus",
            "earn 2025-01-03T10:00:00-05:00 1 =16 other",
            "earn 2025-01-03T10:00:00-05:00 4 =20 base",
            "earn 2025-01-03T10:00:00-05:00 2 =22 bonus",
        ]
    );
}

#[test]
fn a_share_without_a_points_type_takes_the_type_of_the_rule_it_names() {
    // The first rule earns `stamps`; the shared one (third) earns `pts`:
    // the share pays `pts`, not `stamps`.
    let program = ny!(r#"
points stamps
points miles
points pts
rule stamp {
  on purchase
  earn 1 stamps
}
rule flyer {
  on purchase
  earn 1 miles
}
rule base {
  on purchase
  earn 2 pts per 1 USD of amount
}
rule bonus {
  on purchase
  earn 10% of base
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,30",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 1 =1 stamp",
            "earn 2025-01-02T10:00:00-05:00 1 =1 flyer",
            "earn 2025-01-02T10:00:00-05:00 60 =60 base",
            "earn 2025-01-02T10:00:00-05:00 6 =66 bonus",
        ]
    );
}

#[test]
fn an_exclusive_group_of_shares_of_later_rules_pays_the_larger_share() {
    // Both shares point past the first rule, one of them at a rule of the
    // same group's neighbour: the group compares 50% of `big` (15) with
    // 100% of `small` (10).
    let program = ny!(r#"
points pts
rule welcome {
  on purchase
  earn 1 pts
}
rule small {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule big {
  on purchase
  earn 3 pts per 1 USD of amount
}
rule echo_small {
  on purchase
  earn 100% of small
  exclusive group echo
}
rule echo_big {
  on purchase
  earn 50% of big
  exclusive group echo
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,10",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 1 =1 welcome",
            "earn 2025-01-02T10:00:00-05:00 10 =11 small",
            "earn 2025-01-02T10:00:00-05:00 30 =41 big",
            "earn 2025-01-02T10:00:00-05:00 15 =56 echo_big",
        ]
    );
}

#[test]
fn rules_earn_from_the_programs_effective_day_on() {
    let program = ny!(r#"
points pts
rule welcome {
  on enroll
  earn 5 pts
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#)
    .replace(
        "  currency USD\n",
        "  currency USD\n  effective 2025-03-01\n",
    );
    let events = "id,time,member,type,amount
                  e1,2025-02-10 09:00,ann,enroll,
                  e2,2025-02-28 23:59,ann,purchase,10
                  e3,2025-03-01 00:00,ann,purchase,20";
    let run = run(&program, events);
    // Members may enroll before the launch; nothing earns until it.
    assert!(run.reject_lines().is_empty());
    assert_eq!(
        run.rows("ann", &["earn"]),
        ["earn 2025-03-01T00:00:00-05:00 20 =20 base"]
    );
    let explained = support::explain(&program, events, "ann");
    assert!(
        explained.contains("✗ base: the program takes effect on 2025-03-01"),
        "{explained}"
    );
}

#[test]
fn a_rules_earn_lines_are_added_up_and_rounded_once() {
    // Two lines of 0.6 points each on a 1 USD purchase: 1.2, rounded down
    // once to 1 (rounding each line would give 0 + 0).
    let program = ny!(r#"
points pts
rule first {
  on purchase
  earn 1 pts
}
rule twice {
  on purchase
  earn 0.6 pts per 1 USD of amount
  earn 0.6 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,1",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 1 =1 first",
            "earn 2025-01-02T10:00:00-05:00 1 =2 twice",
        ]
    );
}

#[test]
fn multiplier_tables_use_else_or_earn_nothing_for_an_unlisted_key() {
    let program = with_channel(
        r#"
rule with_else {
  on purchase
  earn 10 pts
  times channel { "app": 2, else: 0.5 }
}
rule without_else {
  on purchase
  earn 10 pts
  times channel { "app": 3 }
}
"#,
    );
    let run = run(
        &program,
        "id,time,member,type,amount,channel
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,1,app
         e3,2025-01-03 10:00,ann,purchase,1,web",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 20 =20 with_else",
            "earn 2025-01-02T10:00:00-05:00 30 =50 without_else",
            "earn 2025-01-03T10:00:00-05:00 5 =55 with_else",
        ]
    );
}

#[test]
fn an_exclusive_group_pays_the_best_and_the_first_on_a_tie() {
    let program = with_channel(
        r#"
rule first {
  on purchase
  earn 10 pts
  exclusive group promo
  limit 1 per member per lifetime
}
rule app {
  on purchase where channel = "app"
  earn 20 pts
  exclusive group promo
}
rule web {
  on purchase where channel = "web"
  earn 10 pts
  exclusive group promo
}
rule outside {
  on purchase
  earn 1 pts
}
"#,
    );
    let run = run(
        &program,
        "id,time,member,type,amount,channel
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,1,app
         e3,2025-01-03 10:00,ann,purchase,1,web
         e4,2025-01-04 10:00,ann,purchase,1,web",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            // `first` loses to `app` and so does not use up its limit...
            "earn 2025-01-02T10:00:00-05:00 20 =20 app",
            "earn 2025-01-02T10:00:00-05:00 1 =21 outside",
            // ...wins the tie with `web` as the first written...
            "earn 2025-01-03T10:00:00-05:00 10 =31 first",
            "earn 2025-01-03T10:00:00-05:00 1 =32 outside",
            // ...and then has reached its limit.
            "earn 2025-01-04T10:00:00-05:00 10 =42 web",
            "earn 2025-01-04T10:00:00-05:00 1 =43 outside",
        ]
    );
}

#[test]
fn during_includes_both_ends_in_the_programs_zone() {
    let program = ny!(r#"
points pts
rule launch_week {
  on purchase
  during 2025-03-01 .. 2025-03-07
  earn 10 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-02-28 23:59,ann,purchase,1
         e3,2025-03-01 00:00,ann,purchase,1
         e4,2025-03-08T04:30:00Z,ann,purchase,1
         e5,2025-03-08 00:00,ann,purchase,1",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-03-01T00:00:00-05:00 10 =10 launch_week",
            "earn 2025-03-07T23:30:00-05:00 10 =20 launch_week",
        ]
    );
}

#[test]
fn min_spend_is_inclusive() {
    let program = ny!(r#"
points pts
rule big_basket {
  on purchase
  min spend 20 USD
  earn 10 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,19.99
         e3,2025-01-03 10:00,ann,purchase,20.00",
    );
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-03T10:00:00-05:00 10 =10 big_basket"]
    );
}

#[test]
fn limits_count_firings_per_local_day_year_and_lifetime() {
    let program = ny!(r#"
points pts
rule daily {
  on purchase
  earn 1 pts
  limit 1 per member per day
}
rule yearly {
  on purchase
  earn 10 pts
  limit 2 per member per year
}
rule once {
  on purchase
  earn 100 pts
  limit 1 per member per lifetime
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 10:00,ann,purchase,1
         e3,2025-01-01 11:00,ann,purchase,1
         e4,2025-01-02T04:30:00Z,ann,purchase,1
         e5,2025-01-02 10:00,ann,purchase,1
         e6,2026-01-01 10:00,ann,purchase,1",
    );
    let fired: Vec<(&str, &str)> = run
        .ledger
        .iter()
        .map(|r| (r.event.as_str(), r.rule.as_str()))
        .collect();
    assert_eq!(
        fired,
        [
            ("e2", "daily"),
            ("e2", "yearly"),
            ("e2", "once"),
            ("e3", "yearly"),
            // e4 is 23:30 on 1 January in New York: nothing left that day.
            ("e5", "daily"),
            ("e6", "daily"),
            ("e6", "yearly"),
        ]
    );
}

#[test]
fn a_comparison_with_an_empty_field_is_false() {
    let program = ny!(r#"
event purchase {
  category: optional text
}
points pts
rule food {
  on purchase where category = "food"
  earn 1 pts
}
rule not_food {
  on purchase where category != "food"
  earn 10 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,category
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,1,
         e3,2025-01-03 10:00,ann,purchase,1,toys",
    );
    assert!(run.rejects.is_empty(), "{:?}", run.rejects);
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-03T10:00:00-05:00 10 =10 not_food"]
    );
}

#[test]
fn conditions_read_the_balance_before_the_event() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule loyal {
  on purchase where balance of pts >= 10
  earn 100 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,10
         e3,2025-01-03 10:00,ann,purchase,1",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 10 =10 base",
            "earn 2025-01-03T10:00:00-05:00 1 =11 base",
            "earn 2025-01-03T10:00:00-05:00 100 =111 loyal",
        ]
    );
}

#[test]
fn a_cap_cuts_the_award_that_reaches_it_and_resets_with_the_day() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  cap 150 pts per member per day
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,100
         e3,2025-01-02 11:00,ann,purchase,80
         e4,2025-01-02 12:00,ann,purchase,40
         e5,2025-01-03 00:30,ann,purchase,40",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 100 =100 base",
            "cap_cut 2025-01-02T11:00:00-05:00 30 =100 base",
            "earn 2025-01-02T11:00:00-05:00 50 =150 base",
            "cap_cut 2025-01-02T12:00:00-05:00 40 =150 base",
            "earn 2025-01-03T00:30:00-05:00 40 =190 base",
        ]
    );
    let notes: Vec<&str> = run
        .ledger
        .iter()
        .filter(|r| r.kind == "cap_cut")
        .map(|r| r.note.as_str())
        .collect();
    assert_eq!(
        notes,
        [
            "cap 150 per member per day: 80 cut to 50",
            "cap 150 per member per day: 40 cut to 0",
        ]
    );
}

#[test]
fn a_budget_exhausted_by_other_members_cuts_the_next_award() {
    let program = ny!(r#"
points pts
rule monthly {
  on purchase
  earn 1 pts per 1 USD of amount
  budget 100 pts per month
}
rule launch {
  on purchase
  earn 10 pts
  budget 15 pts in total
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-01-01 09:00,cid,enroll,
         e4,2025-01-02 10:00,ann,purchase,80
         e5,2025-01-03 10:00,bob,purchase,50
         e6,2025-01-04 10:00,cid,purchase,10
         e7,2025-02-01 10:00,cid,purchase,10",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 80 =80 monthly",
            "earn 2025-01-02T10:00:00-05:00 10 =90 launch",
        ]
    );
    assert_eq!(
        run.rows("bob", &[]),
        [
            "cap_cut 2025-01-03T10:00:00-05:00 30 =0 monthly",
            "earn 2025-01-03T10:00:00-05:00 20 =20 monthly",
            "cap_cut 2025-01-03T10:00:00-05:00 5 =20 launch",
            "earn 2025-01-03T10:00:00-05:00 5 =25 launch",
        ]
    );
    assert_eq!(
        run.rows("cid", &[]),
        [
            "cap_cut 2025-01-04T10:00:00-05:00 10 =0 monthly",
            "cap_cut 2025-01-04T10:00:00-05:00 10 =0 launch",
            "earn 2025-02-01T10:00:00-05:00 10 =10 monthly",
            "cap_cut 2025-02-01T10:00:00-05:00 10 =10 launch",
        ]
    );
    let bob_cut = run.ledger.iter().find(|r| r.member == "bob").unwrap();
    assert_eq!(bob_cut.note, "budget of 100 exhausted: 50 cut to 20");
}

// ------------------------------------------------------------ declared fields

/// Fields on `enroll` (the member's), added to `purchase` and of a declared
/// type, with rules reading each; `opt` is `"optional "` or `""`.
fn with_fields(opt: &str) -> String {
    format!(
        "{}member {{\n  city: {opt}text\n}}\n\
         event purchase {{\n  channel: {opt}text\n}}\n\
         event fuel {{\n  litres: {opt}number\n}}\n\
         points pts\n\
         rule local {{\n  on purchase where city = \"Lyon\"\n  earn 1 pts\n}}\n\
         rule app {{\n  on purchase where amount > 0 USD and channel = \"app\"\n  earn 2 pts\n}}\n\
         rule fill {{\n  on fuel\n  earn 1 pts per 1 of litres\n  limit 1 per member per day\n}}\n",
        ny!("")
    )
}

/// Each of `with_fields`' fields left out once (line 2, 4, 5), as CSV.
const WITHOUT_FIELDS: &str = "id,time,member,type,city,amount,channel,litres
     e1,2025-01-01 09:00,ann,enroll,,,,
     e2,2025-01-01 09:00,bob,enroll,Lyon,,,
     e3,2025-01-02 10:00,bob,purchase,,5,,
     e4,2025-01-02 11:00,bob,fuel,,,,
     e5,2025-01-02 12:00,bob,fuel,,,,30
     e6,2025-01-02 13:00,bob,purchase,,5,app,";

/// Why a record without a required field is rejected.
fn needs(field: &str, kind: &str) -> String {
    format!("missing `{field}`, which every `{kind}` needs (it is not declared `optional`)")
}

#[test]
fn a_record_without_a_required_field_is_rejected_with_its_line_and_the_fields_name() {
    let run = run(&with_fields(""), WITHOUT_FIELDS);
    assert_eq!(
        run.rejects,
        [
            (2, needs("city", "enroll")),
            (4, needs("channel", "purchase")),
            (5, needs("litres", "fuel")),
        ]
    );
    // They change nothing: ann was never enrolled; bob's fuel at 12:00 is
    // the first of the day.
    assert!(!run.members.contains_key("ann"));
    assert_eq!(
        run.rows("bob", &[]),
        [
            "earn 2025-01-02T12:00:00-05:00 30 =30 fill",
            "earn 2025-01-02T13:00:00-05:00 1 =31 local",
            "earn 2025-01-02T13:00:00-05:00 2 =33 app",
        ]
    );
}

#[test]
fn a_missing_required_field_is_rejected_in_json_lines_and_yaml() {
    let program = with_fields("");
    let jsonl = r#"{"id": "e1", "time": "2025-01-01", "member": "ann", "type": "enroll", "city": "Lyon"}
{"id": "e2", "time": "2025-01-02", "member": "ann", "type": "purchase", "amount": 5}
{"id": "e3", "time": "2025-01-02", "member": "ann", "type": "fuel", "litres": null}
"#;
    let yaml = "- id: e1\n  time: 2025-01-01\n  member: ann\n  type: enroll\n\
                - id: e2\n  time: 2025-01-02\n  member: ann\n  type: purchase\n  amount: 5\n  channel: ''\n";
    assert_eq!(
        support::read_rejects(&program, Format::Jsonl, jsonl),
        [
            (2, needs("channel", "purchase")),
            (3, needs("litres", "fuel"))
        ]
    );
    assert_eq!(
        support::read_rejects(&program, Format::Yaml, yaml),
        [
            (1, needs("city", "enroll")),
            (5, needs("channel", "purchase"))
        ]
    );
}

#[test]
fn an_optional_field_may_be_missing_and_a_rule_reading_it_does_not_fire() {
    let run = run(&with_fields("optional "), WITHOUT_FIELDS);
    assert!(run.rejects.is_empty(), "{:?}", run.rejects);
    // Neither `local` nor `app` fires on bob's purchase without a channel;
    // the fuel without litres earns nothing and is not counted by the limit.
    assert_eq!(
        run.rows("bob", &[]),
        [
            "earn 2025-01-02T10:00:00-05:00 1 =1 local",
            "earn 2025-01-02T12:00:00-05:00 30 =31 fill",
            "earn 2025-01-02T13:00:00-05:00 1 =32 local",
            "earn 2025-01-02T13:00:00-05:00 2 =34 app",
        ]
    );
    assert!(run.rows("ann", &[]).is_empty());
}

#[test]
fn explain_tells_a_rule_that_did_not_fire_for_a_missing_field() {
    let story = support::explain(&with_fields("optional "), WITHOUT_FIELDS, "bob");
    let told = |event: &str| -> Vec<&str> {
        story
            .split("\n\n")
            .find(|block| block.contains(event))
            .unwrap_or_else(|| panic!("no {event} in\n{story}"))
            .lines()
            .skip(1)
            .collect()
    };
    assert_eq!(
        told("purchase e3"),
        [
            "  ✓ local: 1 = 1 pts",
            "  ✗ app: `channel = \"app\"` is false (`channel` is missing)",
        ]
    );
    assert_eq!(
        told("fuel e4"),
        ["  ✗ fill: nothing to earn: `litres` is missing"]
    );
    assert_eq!(told("fuel e5"), ["  ✓ fill: 1 × 30 / 1 = 30 pts"]);
    let ann = support::explain(&with_fields("optional "), WITHOUT_FIELDS, "ann");
    assert!(ann.contains("enroll e1"), "{ann}");
}

#[test]
fn a_rule_whose_amount_cannot_be_computed_rejects_the_record() {
    let program = ny!(r#"
event fuel {
  litres: number
}
points pts
rule fill {
  on fuel
  earn 10 pts per 1 of 100 / litres
  limit 1 per member per day
}
"#);
    let events = "id,time,member,type,litres
                  e1,2025-01-01 09:00,ann,enroll,
                  e2,2025-01-02 10:00,ann,fuel,0
                  e3,2025-01-02 11:00,ann,fuel,50";
    // Dividing by zero leaves `fill` without an amount: the record is
    // rejected, naming the rule (never a silent 0), and changes nothing,
    // so the limit still lets the next fuel of the day earn.
    let run = run(program, events);
    assert_eq!(run.reject_lines(), [3]);
    assert_eq!(
        run.rejects[0].1,
        "rule `fill` cannot compute its award: an `earn` amount divides by zero or exceeds \
         the largest number loyalty holds"
    );
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-02T11:00:00-05:00 20 =20 fill"]
    );
    assert!(support::explain(program, events, "ann")
        .contains("fuel e2: litres 0\n  ✗ rejected: rule `fill` cannot compute its award"));
}

// ------------------------------------------------------------ tiers

#[test]
fn a_threshold_is_reached_at_exactly_its_value() {
    let program = ny!(r#"
points pts {
  precision 2
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 500
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-01-02 10:00,ann,purchase,499.99
         e4,2025-01-02 10:00,bob,purchase,500.00",
    );
    assert_eq!(run.tier("ann"), "base");
    assert_eq!(
        run.rows("bob", &["tier_change"]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "tier_change 2025-01-02T10:00:00-05:00 base → gold (threshold reached)",
        ]
    );
}

#[test]
fn an_upgrade_follows_the_event_and_rules_see_the_tier_before_it() {
    let program = ny!(r#"
points pts
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 100
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  times tier { base: 1, gold: 2 }
}
rule gold_bonus {
  on purchase where tier >= gold
  earn 5 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,purchase,100
         e3,2025-01-03 10:00,ann,purchase,1",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "earn 2025-01-02T10:00:00-05:00 100 =100 base",
            "tier_change 2025-01-02T10:00:00-05:00 base → gold (threshold reached)",
            "earn 2025-01-03T10:00:00-05:00 2 =102 base",
            "earn 2025-01-03T10:00:00-05:00 5 =107 gold_bonus",
        ]
    );
}

#[test]
fn spending_points_does_not_lower_a_tier_measure() {
    let program = ny!(r#"
points pts
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 500
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-02 10:00,ann,purchase,300,,
         e3,2025-01-03 10:00,ann,redeem,,300,pts
         e4,2025-01-04 10:00,ann,purchase,200,,",
    );
    assert_eq!(run.tier("ann"), "gold");
    assert_eq!(run.member("ann").measures, [d("500")]);
    assert_eq!(run.balance("ann", "pts"), d("200"));
}

/// Gold from 100 points earned in a calendar year, with `policy` (an
/// `upgrade` or `downgrade` line) in the tiers block.
fn gold_at_100(policy: &str) -> String {
    let head = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    format!(
        "{head}tiers by pts earned over calendar year {{
  tier base from 0
  tier gold from 100
  {policy}
}}
"
    )
}

#[test]
fn a_downgrade_grace_across_the_year_end_lands_on_1_february_unless_requalified() {
    let program = gold_at_100("downgrade at period end, after 1 month grace");
    let run = run_until(
        &program,
        "id,time,member,type,amount
         e1,2024-01-01 09:00,ann,enroll,
         e2,2024-01-01 09:00,bob,enroll,
         e3,2024-01-01 09:00,cid,enroll,
         e4,2024-06-01 10:00,ann,purchase,100
         e5,2024-06-01 10:00,bob,purchase,100
         e6,2024-06-01 10:00,cid,purchase,100
         e7,2026-01-20 10:00,bob,purchase,100
         e8,2026-01-20 10:00,cid,purchase,50",
        "2026-03-01",
    );
    // Gold through 2024 kept them gold for 2025; 2025 earned nothing.
    let downgrade =
        "tier_change 2026-02-01T00:00:00-05:00 gold → base (not requalified, after grace)";
    assert_eq!(run.rows("ann", &["tier_change"])[2], downgrade);
    assert_eq!(run.rows("cid", &["tier_change"])[2], downgrade);
    assert_eq!(run.rows("bob", &["tier_change"]).len(), 2);
    assert_eq!(
        [run.tier("ann"), run.tier("bob"), run.tier("cid")],
        ["base", "gold", "base"]
    );
}

/// Gold from 100 points earned over the last 12 months, reviewed at each
/// month end, with `grace`.
fn rolling_gold_with_grace(grace: &str) -> String {
    let head = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    format!(
        "{head}tiers by pts earned over rolling 12 months {{
  tier base from 0
  tier gold from 100
  downgrade at period end, after {grace} grace
}}
"
    )
}

#[test]
fn a_rolling_window_downgrade_lands_when_the_first_failed_reviews_grace_ends() {
    // Gold on 10 June 2024; the window holds nothing from 10 June 2025, so
    // the review at 1 July 2025 is the first she fails. Monthly reviews
    // after it must not push the drop further: it lands when that first
    // grace ends, for graces longer than a month too.
    let events = "id,time,member,type,amount
                  e1,2024-01-01 09:00,ann,enroll,
                  e2,2024-06-10 10:00,ann,purchase,100";
    for (grace, drop) in [
        ("1 month", "2025-08-01T00:00:00-04:00"),
        ("2 months", "2025-09-01T00:00:00-04:00"),
        ("40 days", "2025-08-10T00:00:00-04:00"),
        ("6 months", "2026-01-01T00:00:00-05:00"),
    ] {
        let run = run_until(&rolling_gold_with_grace(grace), events, "2026-06-30");
        assert_eq!(
            run.rows("ann", &["tier_change"]),
            [
                "tier_change 2024-01-01T09:00:00-05:00 joined at base".to_string(),
                "tier_change 2024-06-10T10:00:00-04:00 base → gold (threshold reached)".to_string(),
                format!("tier_change {drop} gold → base (not requalified, after grace)"),
            ],
            "grace {grace}"
        );
    }
}

#[test]
fn a_member_who_requalifies_during_a_rolling_grace_keeps_the_tier() {
    let events = "id,time,member,type,amount
                  e1,2024-01-01 09:00,ann,enroll,
                  e2,2024-06-10 10:00,ann,purchase,100
                  e3,2025-08-15 10:00,ann,purchase,100";
    let run = run_until(&rolling_gold_with_grace("2 months"), events, "2026-06-30");
    // Failed at 1 July 2025, back to 100 on 15 August, before 1 September.
    assert_eq!(run.rows("ann", &["tier_change"]).len(), 2);
    assert_eq!(run.tier("ann"), "gold");
}

#[test]
fn a_grace_cut_short_by_requalifying_does_not_end_the_next_grace_early() {
    // Failed at 1 July 2025: a drop waits for 1 January 2026. Back to 100
    // in August (the September review clears the drop), then the purchase
    // is returned: the October review fails again, and that drop waits
    // for its own grace, to 1 April 2026. The first grace's end, still
    // queued for 1 January, must not land it.
    let events = "id,time,member,type,amount,of
                  e1,2024-01-01 09:00,ann,enroll,,
                  e2,2024-06-10 10:00,ann,purchase,100,
                  e3,2025-08-15 10:00,ann,purchase,100,
                  e4,2025-09-10 10:00,ann,return,100,e3";
    let run = run_until(&rolling_gold_with_grace("6 months"), events, "2026-06-30");
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2024-01-01T09:00:00-05:00 joined at base",
            "tier_change 2024-06-10T10:00:00-04:00 base → gold (threshold reached)",
            "tier_change 2026-04-01T00:00:00-04:00 gold → base (not requalified, after grace)",
        ]
    );
}

#[test]
fn a_purchase_returned_in_full_gives_back_its_rules_limited_firings() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule welcome {
  on purchase
  earn 50 pts
  limit 1 per member per lifetime
}
rule daily {
  on purchase
  earn 5 pts
  limit 1 per member per day
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-01 09:00,bob,enroll,,
         e3,2025-01-02 10:00,ann,purchase,20,
         e4,2025-01-02 11:00,ann,return,20,e3
         e5,2025-01-02 12:00,ann,purchase,30,
         e6,2025-01-02 10:00,bob,purchase,20,
         e7,2025-01-02 11:00,bob,return,10,e6
         e8,2025-01-02 12:00,bob,purchase,30,",
    );
    // Ann's first purchase is undone in full: as if it had not happened,
    // her next purchase earns the welcome bonus and the day's bonus.
    assert_eq!(
        run.rows("ann", &["earn"]),
        [
            "earn 2025-01-02T10:00:00-05:00 20 =20 base",
            "earn 2025-01-02T10:00:00-05:00 50 =70 welcome",
            "earn 2025-01-02T10:00:00-05:00 5 =75 daily",
            "earn 2025-01-02T12:00:00-05:00 30 =30 base",
            "earn 2025-01-02T12:00:00-05:00 50 =80 welcome",
            "earn 2025-01-02T12:00:00-05:00 5 =85 daily",
        ]
    );
    // Bob returned half: the purchase stands, and so do its firings.
    assert_eq!(
        run.rows("bob", &["earn"]),
        [
            "earn 2025-01-02T10:00:00-05:00 20 =20 base",
            "earn 2025-01-02T10:00:00-05:00 50 =70 welcome",
            "earn 2025-01-02T10:00:00-05:00 5 =75 daily",
            // 75 less half of each award (10 + 25 + 2, rounded down) is 38.
            "earn 2025-01-02T12:00:00-05:00 30 =68 base",
        ]
    );
}

#[test]
fn a_purchase_that_lifted_the_tier_returned_in_full_drops_it_at_the_next_review() {
    let program = gold_at_100("downgrade at period end");
    let run = run_until(
        &program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-03-01 10:00,ann,purchase,150,
         e3,2025-03-05 10:00,ann,return,150,e2",
        "2026-01-31",
    );
    // Gold from 1 March; the return leaves 2025 at 0, which the review on
    // 1 January judges: gold until then, like any member who did not
    // requalify (the program's step, keep and grace apply as to them).
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "tier_change 2025-03-01T10:00:00-05:00 base → gold (threshold reached)",
            "tier_change 2026-01-01T00:00:00-05:00 gold → base (not requalified)",
        ]
    );
}

#[test]
fn a_keep_threshold_decides_who_stays_at_the_period_end() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 500 keep 450
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-03-01 10:00,ann,purchase,500
         e4,2025-03-01 10:00,bob,purchase,500
         e5,2026-03-01 10:00,ann,purchase,450
         e6,2026-03-01 10:00,bob,purchase,449",
        "2027-01-05",
    );
    assert_eq!(run.tier("ann"), "gold");
    assert_eq!(
        run.rows("bob", &["tier_change"])[2],
        "tier_change 2027-01-01T00:00:00-05:00 gold → base (not requalified)"
    );
}

#[test]
fn at_most_one_level_down_per_period_end() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier silver from 100
  tier gold from 500
  downgrade at period end, at most 1 level
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-03-01 10:00,ann,purchase,500",
        "2028-01-05",
    );
    // 2025 keeps her gold for 2026; 2026 and 2027 earn nothing.
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "tier_change 2025-03-01T10:00:00-05:00 base → gold (threshold reached)",
            "tier_change 2027-01-01T00:00:00-05:00 gold → silver (not requalified)",
            "tier_change 2028-01-01T00:00:00-05:00 silver → base (not requalified)",
        ]
    );
}

#[test]
fn lifetime_status_is_a_floor_reached_by_points_earned_ever() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 500
  tier platinum from 2000
  lifetime gold after 1000 pts earned
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-03-01 10:00,ann,purchase,2000
         e4,2025-03-01 10:00,bob,purchase,400
         e5,2026-03-01 10:00,bob,purchase,400
         e6,2027-03-01 10:00,bob,purchase,300",
        "2027-03-05",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"])[2..],
        [
            // Nothing earned in 2026: without the floor she would drop to base.
            "tier_change 2027-01-01T00:00:00-05:00 platinum → gold (not requalified)",
        ]
    );
    assert_eq!(
        run.rows("bob", &["tier_change"])[1..],
        ["tier_change 2027-03-01T10:00:00-05:00 base → gold (lifetime status)"]
    );
    assert_eq!(run.tier("ann"), "gold");
}

#[test]
fn upgrade_at_period_end_waits_for_the_review() {
    let program = gold_at_100("upgrade at period end");
    let run = run_until(
        &program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-06-01 10:00,ann,purchase,100",
        "2026-01-15",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "tier_change 2026-01-01T00:00:00-05:00 base → gold (requalified upward)",
        ]
    );
}

#[test]
fn a_tier_measured_by_a_count_of_events() {
    let program = ny!(r#"
event flight {
  distance: number
}
points miles
rule fly {
  on flight
  earn 1 miles per 1 of distance
}
tiers by count of flight over calendar year {
  tier blue from 0
  tier silver from 3
}
"#);
    let run = run(
        program,
        "id,time,member,type,distance
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-02 10:00,ann,flight,500
         e3,2025-01-03 10:00,ann,flight,800
         e4,2025-01-04 10:00,ann,flight,100",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"])[1..],
        ["tier_change 2025-01-04T10:00:00-05:00 blue → silver (threshold reached)"]
    );
    assert_eq!(run.member("ann").measures, [d("3")]);
    assert_eq!(run.balance("ann", "miles"), d("1400"));
}

#[test]
fn a_tier_measured_by_a_field_sum_or_a_count() {
    let program = ny!(r#"
event stay {
  nights: number
}
points pts
rule base {
  on stay
  earn 10 pts
}
tiers over calendar year {
  measure nights = sum of stay.nights
  measure stays = count of stay
  tier member from start
  tier silver when nights >= 10 or stays >= 4
}
"#);
    let run = run(
        program,
        "id,time,member,type,nights
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-01-02 10:00,ann,stay,4
         e4,2025-01-03 10:00,ann,stay,5
         e5,2025-01-04 10:00,ann,stay,1
         e6,2025-01-02 10:00,bob,stay,1
         e7,2025-01-03 10:00,bob,stay,1
         e8,2025-01-04 10:00,bob,stay,1
         e9,2025-01-05 10:00,bob,stay,1",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"])[1..],
        ["tier_change 2025-01-04T10:00:00-05:00 member → silver (threshold reached)"]
    );
    assert_eq!(run.member("ann").measures, [d("10"), d("3")]);
    assert_eq!(
        run.rows("bob", &["tier_change"])[1..],
        ["tier_change 2025-01-05T10:00:00-05:00 member → silver (threshold reached)"]
    );
}

#[test]
fn a_rolling_window_trails_the_event_and_is_reviewed_at_month_ends() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over rolling 12 months {
  tier base from 0
  tier gold from 100
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-01-01 09:00,bob,enroll,
         e3,2025-01-15 10:00,ann,purchase,100
         e4,2025-06-15 10:00,bob,purchase,60
         e5,2026-01-10 10:00,bob,purchase,60",
        "2026-02-15",
    );
    // Reviewed on 1 January 2026, ann's January 2025 points still count;
    // on 1 February they have left the window.
    assert_eq!(
        run.rows("ann", &["tier_change"])[1..],
        [
            "tier_change 2025-01-15T10:00:00-05:00 base → gold (threshold reached)",
            "tier_change 2026-02-01T00:00:00-05:00 gold → base (not requalified)",
        ]
    );
    // 60 + 60 across the calendar year's end.
    assert_eq!(
        run.rows("bob", &["tier_change"])[1..],
        ["tier_change 2026-01-10T10:00:00-05:00 base → gold (threshold reached)"]
    );
    assert_eq!(run.member("bob").measures, [d("120")]);
}

#[test]
fn a_membership_year_starts_at_each_enrolment_anniversary() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over membership year {
  tier base from 0
  tier gold from 100
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-03-10 10:00,ann,enroll,
         e2,2025-03-10 10:00,bob,enroll,
         e3,2025-12-01 10:00,ann,purchase,60
         e4,2026-01-15 10:00,ann,purchase,60
         e5,2026-03-09 10:00,bob,purchase,60
         e6,2026-03-11 10:00,bob,purchase,60",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"])[1..],
        ["tier_change 2026-01-15T10:00:00-05:00 base → gold (threshold reached)"]
    );
    // Bob's year restarted on 10 March between his two purchases.
    assert_eq!(run.tier("bob"), "base");
    assert_eq!(run.member("bob").measures, [d("60")]);
}

// ------------------------------------------------------------ perks

#[test]
fn perks_come_with_tiers_and_their_limits_count_per_period() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 100
  downgrade never
}
perk free_refills for all tiers
perk lounge for gold and above {
  limit 1 per year
  cost 12.50 USD
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,perk
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,use_perk,,lounge
         e3,2025-01-03 10:00,ann,purchase,100,
         e4,2025-01-04 10:00,ann,use_perk,,lounge
         e5,2025-01-05 10:00,ann,use_perk,,lounge
         e6,2025-01-06 10:00,ann,use_perk,,free_refills
         e7,2026-01-02 10:00,ann,use_perk,,lounge",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "perk_grant 2025-01-01T09:00:00-05:00 free_refills",
            "earn 2025-01-03T10:00:00-05:00 100 =100 base",
            "tier_change 2025-01-03T10:00:00-05:00 base → gold (threshold reached)",
            "perk_grant 2025-01-03T10:00:00-05:00 lounge",
            "perk_use 2025-01-04T10:00:00-05:00 lounge",
            "perk_use 2025-01-06T10:00:00-05:00 free_refills",
            "perk_use 2026-01-02T10:00:00-05:00 lounge",
        ]
    );
    let costs: Vec<Option<rust_decimal::Decimal>> = run
        .ledger
        .iter()
        .filter(|r| r.kind == "perk_use")
        .map(|r| r.cost)
        .collect();
    assert_eq!(costs, [Some(d("12.50")), None, Some(d("12.50"))]);
    assert_eq!(run.reject_lines(), [3, 6]);
    assert!(run.rejects[0].1.contains("not granted to tier `base`"));
    assert!(run.rejects[1].1.contains("used up"));
}

// ------------------------------------------------------------ determinism

const BEAN_STARS: &str = include_str!("../programs/bean_stars.loyalty");
const BEAN_STARS_EVENTS: &str = include_str!("../programs/bean_stars.events.csv");

#[test]
fn a_replay_is_repeatable_and_members_can_be_replayed_apart() {
    let whole = run_until(BEAN_STARS, BEAN_STARS_EVENTS, "2026-12-31");
    let again = run_until(BEAN_STARS, BEAN_STARS_EVENTS, "2026-12-31");
    let short = |r: &support::Run| r.ledger.iter().map(|x| x.short()).collect::<Vec<_>>();
    assert_eq!(short(&whole), short(&again));
    assert!(
        whole.ledger.len() > 20,
        "the sample should exercise the engine"
    );
    let mut lines = BEAN_STARS_EVENTS.lines();
    let header = lines.next().unwrap();
    let records: Vec<&str> = lines.collect();
    let mut issued = rust_decimal::Decimal::ZERO;
    for member in whole.members.keys() {
        let own: Vec<&str> = records
            .iter()
            .copied()
            .filter(|l| l.split(',').nth(2) == Some(member.as_str()))
            .collect();
        let alone = run_until(
            BEAN_STARS,
            &format!("{header}\n{}", own.join("\n")),
            "2026-12-31",
        );
        assert_eq!(alone.rows(member, &[]), whole.rows(member, &[]), "{member}");
        assert_eq!(alone.member(member), whole.member(member), "{member}");
        issued += alone.totals["stars"].issued;
    }
    assert_eq!(issued, whole.totals["stars"].issued);
}

#[test]
fn a_membership_year_from_29_february_returns_to_29_february_in_leap_years() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over membership year {
  tier base from 0
  tier gold from 100
}
"#);
    // Anniversaries: 28 February 2025, 2026 and 2027, then 29 February
    // 2028, at 10:00. Both purchases of 28 February 2028 fall in one year.
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2024-02-29 10:00,ann,enroll,
         e2,2028-02-28 09:00,ann,purchase,60
         e3,2028-02-28 11:00,ann,purchase,60",
    );
    assert_eq!(
        run.rows("ann", &["tier_change"])[1..],
        ["tier_change 2028-02-28T11:00:00-05:00 base → gold (threshold reached)"]
    );
}

#[test]
fn a_grace_downgrade_never_lands_below_a_lifetime_tier_reached_during_the_grace() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 500
  tier platinum from 2000
  downgrade at period end, after 1 month grace
  lifetime gold after 2500 pts earned
}
"#);
    let run = run_until(
        program,
        "id,time,member,type,amount
         e1,2024-01-01 09:00,ann,enroll,
         e2,2024-03-01 10:00,ann,purchase,2000
         e3,2026-01-15 10:00,ann,purchase,600",
        "2026-03-01",
    );
    // Nothing earned in 2025; by the end of the grace she has earned 2600
    // in all, so gold is her floor.
    assert_eq!(
        run.rows("ann", &["tier_change"])[2..],
        ["tier_change 2026-02-01T00:00:00-05:00 platinum → gold (not requalified, after grace)"]
    );
}

#[test]
fn a_purchase_returned_after_its_period_closed_no_longer_counts() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by sum of purchase.amount over calendar year {
  tier base from 0
  tier gold from 500
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-12-20 10:00,ann,purchase,600,
         e3,2026-01-05 10:00,ann,return,600,e2
         e4,2026-02-01 10:00,ann,purchase,500,",
    );
    // The 2026 window holds the February purchase only: the return of a
    // 2025 purchase takes nothing from it.
    assert_eq!(run.member("ann").measures, [d("500")]);
    assert_eq!(run.balance("ann", "pts"), d("500"));
}

#[test]
fn an_event_at_a_period_end_counts_in_the_new_period() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 100
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-12-31 23:59,ann,purchase,60
         e3,2026-01-01 00:00,ann,purchase,60",
    );
    assert_eq!(run.tier("ann"), "base");
    assert_eq!(run.member("ann").measures, [d("60")]);
}

#[test]
fn hour_and_weekday_are_read_in_the_programs_zone() {
    let program = ny!(r#"
points pts
rule morning {
  on purchase where hour < 11
  earn 1 pts
}
rule sunday {
  on purchase where weekday = "sunday"
  earn 10 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount
         e1,2025-03-01 09:00,ann,enroll,
         e2,2025-03-08T15:30:00Z,ann,purchase,1
         e3,2025-03-09T14:30:00Z,ann,purchase,1
         e4,2025-03-10T03:30:00Z,ann,purchase,1",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            // Saturday 10:30 EST.
            "earn 2025-03-08T10:30:00-05:00 1 =1 morning",
            // Sunday 10:30 EDT: the clocks went forward that night.
            "earn 2025-03-09T10:30:00-04:00 1 =2 morning",
            "earn 2025-03-09T10:30:00-04:00 10 =12 sunday",
            // Sunday 23:30 in New York, Monday in UTC.
            "earn 2025-03-09T23:30:00-04:00 10 =22 sunday",
        ]
    );
}

#[test]
fn a_calendar_expiry_across_a_dst_change_is_at_local_midnight() {
    let program = ny!(r#"
points pts {
  expire at end of week
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
         e3,2025-03-05 10:00,ann,purchase,1
         e4,2025-10-29 10:00,bob,purchase,1",
        "2025-11-30",
    );
    // Weeks start on Monday; each of these weeks holds a DST change.
    assert_eq!(
        run.rows("ann", &["expire"]),
        ["expire 2025-03-10T00:00:00-04:00 -1 =0"]
    );
    assert_eq!(
        run.rows("bob", &["expire"]),
        ["expire 2025-11-03T00:00:00-05:00 -1 =0"]
    );
}

#[test]
fn enrolment_runs_the_rules_on_enroll() {
    let program = ny!(r#"
member {
  cardholder: bool
}
points pts
rule welcome {
  on enroll
  earn 100 pts
}
rule card_welcome {
  on enroll where cardholder
  earn 50 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,cardholder
         e1,2025-01-01 09:00,ann,enroll,true
         e2,2025-01-01 09:00,bob,enroll,false
         e3,2025-01-02 09:00,bob,enroll,true",
    );
    assert_eq!(run.balance("ann", "pts"), d("150"));
    // The second enrolment is rejected and pays nothing.
    assert_eq!(run.balance("bob", "pts"), d("100"));
    assert_eq!(run.reject_lines(), [4]);
}

#[test]
fn the_other_reject_classes_are_reported_too() {
    let program = ny!(r#"
points pts
points status {
  qualifying
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  earn 1 status per 1 USD of amount
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-01 09:00,bob,enroll,,,,
         e3,2025-01-02 10:00,ann,purchase,ten,,,
         e4,2025-01-02 10:00,ann,purchace,10,,,
         e5,2025-01-03 10:00,bob,purchase,10,,,
         e6,2025-01-04 10:00,ann,return,10,e5,,
         e7,2025-01-05 10:00,bob,redeem,,,5,status
         e8,2025-01-06 10:00,bob,redeem,,,5,pts",
    );
    let expected = [
        (4, "`amount`"),
        (5, "did you mean `purchase`?"),
        (7, "return of unknown purchase `e5` for member `ann`"),
        (8, "`status` are qualifying points and cannot be redeemed"),
    ];
    assert_eq!(run.rejects.len(), expected.len(), "{:?}", run.rejects);
    for ((line, reason), (want_line, want)) in run.rejects.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert_eq!(run.balance("bob", "pts"), d("5"));
    assert_eq!(run.balance("bob", "status"), d("10"));
}

#[test]
fn a_rejected_record_does_not_move_the_clock_of_a_stream() {
    let run = run_with(
        ONE_PER_USD,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-06-01 10:00,zed,purchase,10
         e3,2025-01-02 10:00,ann,purchase,20",
        Order::Stream,
        None,
    );
    // zed's record was not applied, so ann's is not earlier than anything applied.
    assert_eq!(run.reject_lines(), [3]);
    assert_eq!(
        run.rows("ann", &[]),
        ["earn 2025-01-02T10:00:00-05:00 20 =20 base"]
    );
}

#[test]
fn a_return_reverses_what_was_awarded_after_the_cap() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  cap 10 pts per event
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,of
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,30,
         e3,2025-01-03 10:00,ann,return,15,e2
         e4,2025-01-04 10:00,ann,return,15,e2",
    );
    assert_eq!(
        run.rows("ann", &["reverse"]),
        [
            "reverse 2025-01-03T10:00:00-05:00 -5 =5 base",
            "reverse 2025-01-04T10:00:00-05:00 -5 =0 base",
        ]
    );
}

#[test]
fn a_count_measure_drops_only_when_the_purchase_is_returned_in_full() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts
}
tiers over calendar year {
  measure purchases = count of purchase
  measure spend = sum of purchase.amount
  tier base from start
  tier regular when purchases >= 5
}
"#);
    let events = "id,time,member,type,amount,of
                  e1,2025-01-01 09:00,ann,enroll,,
                  e2,2025-01-02 10:00,ann,purchase,100,
                  e3,2025-01-03 10:00,ann,return,40,e2
                  e4,2025-01-04 10:00,ann,return,60,e2";
    let first_return: String = events.lines().take(4).collect::<Vec<_>>().join("\n");
    let partly = run(program, &first_return);
    assert_eq!(partly.member("ann").measures, [d("1"), d("60")]);
    let fully = run(program, events);
    assert_eq!(fully.member("ann").measures, [d("0"), d("0")]);
}

#[test]
fn an_exclusive_group_compares_shares_of_other_rules_too() {
    let program = ny!(r#"
event purchase {
  category: text
}
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule garden {
  on purchase where category = "garden"
  earn 2 pts per 1 USD of amount
  exclusive group order_bonus
}
rule black_friday {
  on purchase
  during 2025-11-28 .. 2025-12-01
  earn 400% of base
  exclusive group order_bonus
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,category
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-11-27 10:00,ann,purchase,10,garden
         e3,2025-11-28 10:00,ann,purchase,10,garden",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-11-27T10:00:00-05:00 10 =10 base",
            "earn 2025-11-27T10:00:00-05:00 20 =30 garden",
            "earn 2025-11-28T10:00:00-05:00 10 =40 base",
            "earn 2025-11-28T10:00:00-05:00 40 =80 black_friday",
        ]
    );
}

/// Three rules on a purchase; the one named `stopper` stops the rules
/// after it when it fires.
fn with_stop(stopper: &str) -> String {
    let head = ny!(r#"
points pts
event purchase {
  channel: optional text
}
"#);
    let rule = |name: &str, body: &str| {
        let stop = if name == stopper { "  stop\n" } else { "" };
        format!("rule {name} {{\n{body}{stop}}}\n")
    };
    format!(
        "{head}{}{}{}",
        rule("base", "  on purchase\n  earn 1 pts per 1 USD of amount\n"),
        rule(
            "app",
            "  on purchase where channel = \"app\"\n  earn 5 pts\n"
        ),
        rule("match", "  on purchase\n  earn 50% of base\n"),
    )
}

const STOP_EVENTS: &str = "id,time,member,type,amount,channel
    e1,2025-01-01 09:00,ann,enroll,,
    e2,2025-01-02 10:00,ann,purchase,10,app
    e3,2025-01-03 10:00,ann,purchase,10,store";

#[test]
fn a_rule_that_fires_with_stop_leaves_the_rules_after_it_unevaluated() {
    let earned = |stopper: &str| {
        run(&with_stop(stopper), STOP_EVENTS)
            .ledger
            .iter()
            .filter(|r| r.kind == "earn")
            .map(|r| format!("{} {} {}", r.event, r.rule, r.amount))
            .collect::<Vec<_>>()
    };
    // No stop: every rule that matches pays.
    assert_eq!(
        earned("none"),
        [
            "e2 base 10",
            "e2 app 5",
            "e2 match 5",
            "e3 base 10",
            "e3 match 5"
        ]
    );
    // The middle rule stops the last when it fires (the app purchase), not
    // when its condition is false (the store purchase).
    assert_eq!(
        earned("app"),
        ["e2 base 10", "e2 app 5", "e3 base 10", "e3 match 5"]
    );
    // The first rule stops both others on every purchase.
    assert_eq!(earned("base"), ["e2 base 10", "e3 base 10"]);
    // The last rule's stop has nothing after it to stop.
    assert_eq!(earned("match"), earned("none"));
}

#[test]
fn explain_says_which_rule_stopped_the_others() {
    let story = support::explain(&with_stop("app"), STOP_EVENTS, "ann");
    assert!(
        story.contains("✗ match: not evaluated: rule `app` fired and stops the rules after it"),
        "{story}"
    );
}

/// Three rules in one exclusive group, small to large award, the middle
/// one on app purchases only; the group chooses by `choice`.
fn grouped(choice: &str) -> String {
    let head = ny!(r#"
points pts
event purchase {
  channel: optional text
}
"#);
    let rule = |name: &str, on: &str, award: &str| {
        format!(
            "rule {name} {{\n  on {on}\n  earn {award} pts\n  exclusive group promo{choice}\n}}\n"
        )
    };
    format!(
        "{head}{}{}{}",
        rule("small", "purchase where amount >= 50 USD", "2"),
        rule("app", "purchase where channel = \"app\"", "5"),
        rule("large", "purchase", "9"),
    )
}

#[test]
fn an_exclusive_group_by_order_pays_the_first_written_rule_that_fires() {
    let events = "id,time,member,type,amount,channel
        e1,2025-01-01 09:00,ann,enroll,,
        e2,2025-01-02 10:00,ann,purchase,60,app
        e3,2025-01-03 10:00,ann,purchase,10,app
        e4,2025-01-04 10:00,ann,purchase,10,store";
    let earned = |choice: &str| {
        run(&grouped(choice), events)
            .ledger
            .iter()
            .filter(|r| r.kind == "earn")
            .map(|r| format!("{} {}", r.event, r.rule))
            .collect::<Vec<_>>()
    };
    // By the largest award (the default), `large` always wins.
    assert_eq!(earned(""), ["e2 large", "e3 large", "e4 large"]);
    // By order, the first written of those that fire.
    assert_eq!(earned(" by order"), ["e2 small", "e3 app", "e4 large"]);
}

// ------------------------------------------------------------ multipliers and caps on a points type

/// A double-points rule between two earning rules: it multiplies what the
/// rules written before it earned (after their own caps), not the rule
/// after it, nor a preview rule; `extra` is written into it (a cap, a
/// second multiplier...).
fn multiplied(extra: &str) -> String {
    let head = ny!(r#"
points pts
points miles
event purchase {
  channel: optional text
}
"#);
    format!(
        "{head}rule app {{
  on purchase where channel = \"app\"
  earn 15 pts
  earn 7 miles
  cap 10 pts per event
}}
preview rule trial {{
  on purchase
  earn 100 pts
}}
rule base {{
  on purchase
  earn 1 pts per 1 USD of amount
}}
rule double_day {{
  on purchase where date = 2025-03-05
  multiply pts by 2.5
{extra}}}
rule after {{
  on purchase
  earn 1000 pts
}}
"
    )
}

const MULTIPLIED_EVENTS: &str = "id,time,member,type,amount,channel
    e1,2025-03-01 09:00,ann,enroll,,
    e2,2025-03-05 10:00,ann,purchase,11,app
    e3,2025-03-05 11:00,ann,purchase,3,store
    e4,2025-03-06 10:00,ann,purchase,11,app";

fn earned_rows(program: &str, events: &str) -> Vec<String> {
    run(program, events)
        .ledger
        .iter()
        .filter(|r| matches!(r.kind, "earn" | "cap_cut" | "reverse"))
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r.kind, r.event, r.rule, r.points, r.amount
            )
        })
        .collect()
}

#[test]
fn a_multiplier_adds_its_factor_less_one_times_what_the_rules_before_it_earned() {
    let rows = earned_rows(&multiplied(""), MULTIPLIED_EVENTS);
    assert_eq!(
        rows,
        [
            // The app rule's 15 is capped to 10 before it is multiplied.
            "cap_cut e2 app pts 5",
            "earn e2 app pts 10",
            "earn e2 app miles 7",
            "earn e2 base pts 11",
            // (2.5 - 1) × (10 + 11) = 31.5, rounded down; miles are not
            // multiplied, nor the preview rule's 100, nor `after`'s 1000.
            "earn e2 double_day pts 31",
            "earn e2 after pts 1000",
            "earn e3 base pts 3",
            "earn e3 double_day pts 4",
            "earn e3 after pts 1000",
            "cap_cut e4 app pts 5",
            "earn e4 app pts 10",
            "earn e4 app miles 7",
            "earn e4 base pts 11",
            "earn e4 after pts 1000",
        ]
    );
}

#[test]
fn multipliers_add_up_rather_than_compound_and_have_their_own_caps() {
    // A second multiplier on the same day: each multiplies the earning
    // rules before it, not the other multiplier.
    let two = multiplied(
        "}\nrule treble {\n  on purchase\n  multiply pts by 3\n  cap 40 pts per event\n",
    );
    let rows = earned_rows(&two, MULTIPLIED_EVENTS);
    let of = |event: &str| -> Vec<&str> {
        rows.iter()
            .filter(|r| r.split(' ').nth(1) == Some(event))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        of("e2"),
        [
            "cap_cut e2 app pts 5",
            "earn e2 app pts 10",
            "earn e2 app miles 7",
            "earn e2 base pts 11",
            "earn e2 double_day pts 31",
            // (3 - 1) × 21 = 42, cut to its own cap of 40.
            "cap_cut e2 treble pts 2",
            "earn e2 treble pts 40",
            "earn e2 after pts 1000",
        ]
    );
    assert_eq!(
        of("e3"),
        [
            "earn e3 base pts 3",
            "earn e3 double_day pts 4",
            "earn e3 treble pts 6",
            "earn e3 after pts 1000",
        ]
    );
}

#[test]
fn a_returned_purchase_takes_back_what_its_multiplier_added() {
    // A partial return of e2 (11 USD on the double day): each of its
    // awards comes back in proportion, rounded down, the multiplier's too.
    let events = "id,time,member,type,amount,channel,of
        e1,2025-03-01 09:00,ann,enroll,,,
        e2,2025-03-05 10:00,ann,purchase,11,app,
        e3,2025-03-05 11:00,ann,purchase,3,store,
        r1,2025-03-07 10:00,ann,return,2,,e2";
    let rows = earned_rows(&multiplied(""), events);
    let reversed: Vec<&String> = rows.iter().filter(|r| r.starts_with("reverse")).collect();
    // 2/11 of e2's awards: app 10 → 1.8, miles 7 → 1.27, base 11 → 2,
    // double_day 31 → 5.63, after 1000 → 181.8; each rounded down.
    assert_eq!(
        reversed,
        [
            "reverse r1 app pts -1",
            "reverse r1 app miles -1",
            "reverse r1 base pts -2",
            "reverse r1 double_day pts -5",
            "reverse r1 after pts -181",
        ]
    );
}

/// Two caps on `pts` across every rule, a rule of another type, a share
/// and a preview rule.
const POINTS_CAPPED: &str = ny!(r#"
points miles
points pts {
  cap 100 per member per day
  cap 250 per member per month
}
rule miles {
  on purchase
  earn 1 miles per 1 USD of amount
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
preview rule trial {
  on purchase
  earn 500 pts
}
rule match {
  on purchase
  earn 50% of base
}
"#);

#[test]
fn a_cap_on_a_points_type_cuts_every_rules_awards_in_rule_order() {
    let events = "id,time,member,type,amount
        e1,2025-03-01 09:00,ann,enroll,
        e2,2025-03-05 10:00,ann,purchase,60
        e3,2025-03-05 11:00,ann,purchase,20
        e4,2025-03-06 10:00,ann,purchase,90
        e5,2025-03-07 10:00,ann,purchase,90
        e6,2025-04-01 10:00,ann,purchase,40
        e7,2025-03-01 10:00,bob,enroll,
        e8,2025-04-02 10:00,bob,purchase,40";
    let rows: Vec<String> = run(POINTS_CAPPED, events)
        .ledger
        .iter()
        .filter(|r| matches!(r.kind, "earn" | "cap_cut" | "preview"))
        .map(|r| {
            format!(
                "{} {} {} {} {} {}",
                r.kind, r.member, r.event, r.rule, r.points, r.amount
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // 60 + 30 under 100 a day; miles are not capped, the preview
            // rule neither (it changes nothing).
            "earn ann e2 miles miles 60",
            "earn ann e2 base pts 60",
            "preview ann e2 trial pts 500",
            "earn ann e2 match pts 30",
            // 10 left today: base takes it first, the share (of base's
            // award before the type's cap) is cut to nothing.
            "earn ann e3 miles miles 20",
            "cap_cut ann e3 base pts 10",
            "earn ann e3 base pts 10",
            "preview ann e3 trial pts 500",
            "cap_cut ann e3 match pts 10",
            // A new day: 90 + 45 cut to 100.
            "earn ann e4 miles miles 90",
            "earn ann e4 base pts 90",
            "preview ann e4 trial pts 500",
            "cap_cut ann e4 match pts 35",
            "earn ann e4 match pts 10",
            // 200 this month so far: the month's cap leaves 50.
            "earn ann e5 miles miles 90",
            "cap_cut ann e5 base pts 40",
            "earn ann e5 base pts 50",
            "preview ann e5 trial pts 500",
            "cap_cut ann e5 match pts 45",
            // A new month.
            "earn ann e6 miles miles 40",
            "earn ann e6 base pts 40",
            "preview ann e6 trial pts 500",
            "earn ann e6 match pts 20",
            // Caps are per member.
            "earn bob e8 miles miles 40",
            "earn bob e8 base pts 40",
            "preview bob e8 trial pts 500",
            "earn bob e8 match pts 20",
        ]
    );
}

#[test]
fn explain_says_what_a_points_types_cap_cut() {
    let events = "id,time,member,type,amount
        e1,2025-03-01 09:00,ann,enroll,
        e2,2025-03-05 10:00,ann,purchase,90";
    let story = support::explain(POINTS_CAPPED, events, "ann");
    assert!(
        story.contains(
            "✓ match: 50% of 90 = 45 pts; pts cap 100 per member per day: 45 cut to 10 → 10 awarded"
        ),
        "{story}"
    );
}

// ------------------------------------------------------------ a rule's own expiry

/// Points that expire a year after earn, a campaign whose points expire 30
/// days after earn, and status credit the campaign also earns (it never
/// expires: it is qualifying).
const CAMPAIGN_EXPIRY: &str = ny!(r#"
points status {
  qualifying
}
points pts {
  expire 12 months after earn
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule spring {
  on purchase where date in 2025-03-01 .. 2025-03-31
  earn 50 pts
  earn 5 status
  expire 30 days after earn
}
"#);

#[test]
fn a_rules_expiry_overrides_its_points_types_and_is_spent_first() {
    let run = run(
        CAMPAIGN_EXPIRY,
        "id,time,member,type,amount,points,points_type
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-02-01 10:00,ann,purchase,100,,
         e3,2025-03-02 10:00,ann,purchase,10,,
         e4,2025-03-10 10:00,ann,redeem,,20,pts
         e5,2025-04-01 10:00,ann,purchase,10,,
         e6,2025-04-01 11:00,bob,enroll,,,",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-02-01T10:00:00-05:00 100 =100 base",
            "earn 2025-03-02T10:00:00-05:00 10 =110 base",
            "earn 2025-03-02T10:00:00-05:00 50 =160 spring",
            "earn 2025-03-02T10:00:00-05:00 5 =5 spring",
            // Spent from the campaign's points, which expire first though
            // earned last.
            "spend 2025-03-10T10:00:00-04:00 -20 =140",
            // 30 days after 10:00 on 2 March: 10:00 on 1 April, before the
            // purchase of that instant; the year-long points stay.
            "expire 2025-04-01T10:00:00-04:00 -30 =110",
            "earn 2025-04-01T10:00:00-04:00 10 =120 base",
        ]
    );
    assert_eq!(run.members["ann"].balances["status"], d("5"));
}

/// `explain` says when a rule's own expiry takes its award: not for the
/// qualifying points it also earns (they never expire), nor for a rule
/// without an `expire`.
#[test]
fn explain_shows_when_a_rules_own_expiry_takes_its_award() {
    let story = support::explain(
        CAMPAIGN_EXPIRY,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-03-02 10:00,ann,purchase,10",
        "ann",
    );
    let spring: Vec<&str> = story.lines().filter(|l| l.contains("spring:")).collect();
    assert_eq!(spring.len(), 2, "{story}");
    assert!(
        spring[0].ends_with("50 pts, expiring 2025-04-01 10:00 (the rule's own)"),
        "{story}"
    );
    assert!(!spring[1].contains("expiring"), "{story}");
    let base = story
        .lines()
        .find(|l| l.contains("base:"))
        .unwrap_or_default();
    assert!(!base.contains("expiring"), "{story}");
}

#[test]
fn a_rules_expiry_comes_before_its_types_inactivity_expiry() {
    let program = CAMPAIGN_EXPIRY.replace(
        "expire 12 months after earn",
        "expire after 2 months without activity",
    );
    let run = run_until(
        &program,
        "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         e2,2025-03-02 10:00,ann,purchase,10",
        "2025-06-30",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-03-02T10:00:00-05:00 10 =10 base",
            "earn 2025-03-02T10:00:00-05:00 50 =60 spring",
            "earn 2025-03-02T10:00:00-05:00 5 =5 spring",
            "expire 2025-04-01T10:00:00-04:00 -50 =10",
            // Two months without activity take the rest.
            "expire 2025-05-02T10:00:00-04:00 -10 =0",
        ]
    );
}

// ------------------------------------------------------------ counters in conditions

/// The fifth purchase of a month earns a bonus; 100 USD spent in a month
/// earns one once; a third visit within a week earns one.
const COUNTERS: &str = ny!(r#"
points pts
event visit {
  store: text
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule fifth_of_the_month {
  on purchase where count of purchase in this month = 5
  earn 50 pts
}
rule big_month {
  on purchase where sum of purchase.amount in this month >= 100 USD
  earn 500 pts
  limit 1 per member per month
}
rule regular {
  on visit where count of visit over last 7 days >= 3
  earn 7 pts
}
"#);

#[test]
fn counters_count_the_members_events_in_their_window_this_one_included() {
    let run = run(
        COUNTERS,
        "id,time,member,type,amount,store
         e1,2025-01-01 09:00,ann,enroll,,
         p1,2025-01-03 10:00,ann,purchase,30,
         p2,2025-01-10 10:00,ann,purchase,30,
         p3,2025-01-17 10:00,ann,purchase,30,
         p4,2025-01-24 10:00,ann,purchase,5,
         p5,2025-01-31 23:30,ann,purchase,5,
         p6,2025-02-01 00:30,ann,purchase,90,
         p7,2025-02-02 10:00,ann,purchase,10,
         e2,2025-01-01 09:00,bob,enroll,,
         v1,2025-03-01 10:00,bob,visit,,a
         v2,2025-03-05 10:00,bob,visit,,b
         v3,2025-03-08 09:59,bob,visit,,a
         v4,2025-03-15 10:00,bob,visit,,a
         v5,2025-03-16 10:00,bob,visit,,a
         v6,2025-03-17 10:00,bob,visit,,a",
    );
    let bonuses: Vec<String> = run
        .ledger
        .iter()
        .filter(|r| r.kind == "earn" && r.rule != "base")
        .map(|r| format!("{} {} {}", r.event, r.rule, r.amount))
        .collect();
    assert_eq!(
        bonuses,
        [
            // The fifth purchase of January, at 23:30 New York time, which
            // also brings January's spend to 100 USD.
            "p5 fifth_of_the_month 50",
            "p5 big_month 500",
            // February starts afresh: 90, then 100.
            "p7 big_month 500",
            // v1, v2 and v3 fall within 7 days of v3; v4 has only itself
            // (v3 is 7 days and a minute before); v6 has v4, v5 and itself.
            "v3 regular 7",
            "v6 regular 7",
        ]
    );
}

#[test]
fn a_late_purchase_re_runs_the_counters_it_changes() {
    let sorted = "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         p1,2025-01-03 10:00,ann,purchase,30
         p2,2025-01-10 10:00,ann,purchase,30
         p3,2025-01-17 10:00,ann,purchase,30
         p4,2025-01-24 10:00,ann,purchase,5
         p5,2025-01-31 23:30,ann,purchase,5";
    // p2 arrives last: re-run, p5 is the fifth of the month again.
    let late = "id,time,member,type,amount
         e1,2025-01-01 09:00,ann,enroll,
         p1,2025-01-03 10:00,ann,purchase,30
         p3,2025-01-17 10:00,ann,purchase,30
         p4,2025-01-24 10:00,ann,purchase,5
         p5,2025-01-31 23:30,ann,purchase,5
         p2,2025-01-10 10:00,ann,purchase,30";
    let program = COUNTERS.replace(
        "program \"Test\" {\n",
        "program \"Test\" {\n  accept late events up to 30 days\n",
    );
    let streamed = run_with(&program, late, Order::Stream, None);
    let sorted = run(&program, sorted);
    assert_eq!(
        streamed.members["ann"].balances["pts"],
        sorted.members["ann"].balances["pts"]
    );
    assert_eq!(sorted.members["ann"].balances["pts"], d("650"));
}

/// A yen program and a dinar program with the same rule, one point per
/// 100 units of the currency, written in a second shape (the rule not first).
fn priced_in(currency: &str, zone: &str) -> String {
    format!(
        "program \"Minor units\" {{\n  currency {currency}\n  timezone \"{zone}\"\n}}\n\
         points coins {{\n  value 0.5 {currency}\n}}\n\
         reward tea {{\n  price 10 coins\n  cost 3 {currency}\n}}\n\
         rule coins_per_hundred {{\n  on purchase\n  earn 1 coins per 100 {currency} of amount\n}}\n"
    )
}

#[test]
fn amounts_finer_than_the_currencys_minor_unit_are_rejected() {
    let events = |amounts: [&str; 3]| {
        format!(
            "id,time,member,type,amount\n\
             e1,2025-01-01 09:00,ann,enroll,\n\
             e2,2025-01-02 10:00,ann,purchase,{}\n\
             e3,2025-01-03 10:00,ann,purchase,{}\n\
             e4,2025-01-04 10:00,ann,purchase,{}",
            amounts[0], amounts[1], amounts[2]
        )
    };
    // Yen have no minor unit: 1200.5 cannot be paid; 1.5e3 is 1500.
    let yen = run(
        &priced_in("JPY", "Asia/Tokyo"),
        &events(["1200", "1200.5", "1.5e3"]),
    );
    assert_eq!(yen.reject_lines(), [4]);
    assert_eq!(
        yen.rejects[0].1,
        "field `amount`: `1200.5` is finer than JPY allows: JPY amounts have no decimals (ISO 4217)"
    );
    assert_eq!(yen.balance("ann", "coins"), d("27"));
    // Dinars have three decimals: 12.345 is a price, 12.3456 is not.
    let dinars = run(
        &priced_in("KWD", "Asia/Kuwait"),
        &events(["12.345", "12.3456", "100.000"]),
    );
    assert_eq!(dinars.reject_lines(), [4]);
    // 112.345 KWD earns 1 coin (whole coins, rounded down).
    assert_eq!(dinars.balance("ann", "coins"), d("1"));
}

// ------------------------------------------------------------ member updates and status match

#[test]
fn a_status_match_holds_the_tier_until_its_day_and_the_tier_rules_go_on_beneath_it() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar quarter {
  tier blue from 0
  tier silver from 100
  tier gold from 300
  tier platinum from 1000
  status match up to gold
}
"#);
    let events = "id,time,member,type,amount,tier,reason,until
         e1,2025-01-01 09:00,ann,enroll,,,,
         e2,2025-01-01 09:00,bob,enroll,,,,
         e3,2025-01-05 10:00,bob,set_tier,,silver,manual upgrade,2025-12-31
         e4,2025-01-10 10:00,ann,set_tier,,gold,rival gold card,2025-05-15
         e5,2025-01-20 10:00,bob,purchase,350,,,
         e6,2025-02-01 10:00,ann,purchase,120,,,
         e7,2025-04-10 10:00,ann,purchase,50,,,
         e8,2025-04-11 10:00,ann,set_tier,,platinum,vip,2025-12-31
         e9,2025-04-12 10:00,ann,set_tier,,gld,vip,2025-12-31
         e10,2025-04-13 10:00,ann,set_tier,,silver,vip,2025-04-12
         e11,2025-04-14 10:00,ann,set_tier,,silver,vip,";
    for shards in [None, Some(2)] {
        let run = support::run_in_shards(program, events, Order::Sort, Some("2025-07-31"), shards);
        // Ann is gold at once; her first quarter (120 earned) would drop her
        // to silver, but the match holds through 15 May; the review after
        // it judges her as any gold member.
        assert_eq!(
            run.rows("ann", &["tier_change"]),
            [
                "tier_change 2025-01-01T09:00:00-05:00 joined at blue",
                "tier_change 2025-01-10T10:00:00-05:00 blue → gold \
                 (status match: rival gold card, until 2025-05-15)",
                "tier_change 2025-07-01T00:00:00-04:00 gold → blue (not requalified)",
            ],
            "{shards:?}"
        );
        // Bob earns gold above his matched silver; when gold is not kept,
        // the match (through the year) is his floor.
        assert_eq!(
            run.rows("bob", &["tier_change"]),
            [
                "tier_change 2025-01-01T09:00:00-05:00 joined at blue",
                "tier_change 2025-01-05T10:00:00-05:00 blue → silver \
                 (status match: manual upgrade, until 2025-12-31)",
                "tier_change 2025-01-20T10:00:00-05:00 silver → gold (threshold reached)",
                "tier_change 2025-07-01T00:00:00-04:00 gold → silver (not requalified)",
            ],
            "{shards:?}"
        );
        assert_eq!(
            run.rejects
                .iter()
                .map(|(_, r)| r.as_str())
                .collect::<Vec<_>>(),
            [
                "a status match goes up to `gold`, not `platinum`",
                "unknown tier `gld`; did you mean `gold`?",
                "a status match until 2025-04-12 would be over already",
                "`set_tier` needs `tier`, a `reason` and `until`, the last day it holds",
            ],
            "{shards:?}"
        );
    }
    let explained = support::explain(program, events, "ann");
    for line in [
        r#"set_tier e4: tier "gold", reason "rival gold card", until 2025-05-15"#,
        "tier: blue → gold (status match: rival gold card, until 2025-05-15)",
        // The first quarter's review would have dropped her to silver.
        "2025-04-01 00:00  tier: gold held by the status match (rival gold card) until 2025-05-15",
        "vip\", until 2025-12-31\n  ✗ rejected: a status match goes up to `gold`, not `platinum`",
    ] {
        assert!(explained.contains(line), "{line}\n{explained}");
    }
}

#[test]
fn a_set_tier_is_rejected_by_a_program_without_a_status_match_line() {
    let program = ny!(r#"
points pts
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
tiers by pts earned over calendar year {
  tier blue from 0
  tier gold from 300
}
"#);
    let run = run(
        program,
        "id,time,member,type,tier,reason,until
         e1,2025-01-01 09:00,ann,enroll,,,
         e2,2025-01-10 10:00,ann,set_tier,gold,match,2025-05-15",
    );
    assert_eq!(run.tier("ann"), "blue");
    assert_eq!(
        run.rejects,
        [(
            3,
            "the program takes no `set_tier`: its tiers have no `status match up to` line".into()
        )]
    );
}

#[test]
fn a_profile_changes_the_attributes_it_gives_and_never_a_known_birthday() {
    let program = ny!(r#"
member {
  birthday: optional date
  home_store: optional text
}
points pts
rule birthday_treat {
  on purchase where days_to_birthday <= 7
  earn 50 pts
  limit 1 per member per year
}
rule home_store {
  on purchase where home_store = "Lisbon"
  earn 5 pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,birthday,home_store
         e1,2025-03-01 09:00,ann,enroll,,,
         e2,2025-03-01 10:00,ann,purchase,4,,
         e3,2025-03-02 10:00,ann,profile,,1990-03-06,Lisbon
         e4,2025-03-03 10:00,ann,purchase,4,,
         e5,2025-03-04 10:00,ann,profile,,1990-03-20,
         e6,2025-03-05 10:00,ann,profile,,1990-03-06,Porto
         e7,2025-03-06 10:00,ann,purchase,4,,
         e8,2025-03-07 10:00,ann,profile,,,",
    );
    // Nothing before the profile; then the birthday week and the home
    // store; the store changed, the birthday did not.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-03-03T10:00:00-05:00 50 =50 birthday_treat",
            "earn 2025-03-03T10:00:00-05:00 5 =55 home_store",
        ]
    );
    assert_eq!(
        run.rejects,
        [
            (
                6,
                "the birthday is known already (1990-03-06) and cannot change".into()
            ),
            (9, "a `profile` gives no member attribute to change".into()),
        ]
    );
}

// ------------------------------------------------------------ referrals

const REFERRALS: &str = ny!(r#"
points coins
tiers by coins earned over calendar year {
  tier base from 0
  tier gold from 1000
}
rule base {
  on purchase
  earn 1 coins per 1 USD of amount
}
rule friend_welcome {
  on purchase where first purchase and referred
  earn 200 coins
}
rule referrer_thanks {
  on purchase where referred and amount >= 25 USD
  earn 500 coins to referrer
  limit 1 per member per lifetime
  limit 2 per referrer
}
"#);

const REFERRAL_EVENTS: &str = "id,time,member,type,amount,referred_by,of
     e1,2025-01-01 09:00,ann,enroll,,,
     e2,2025-01-02 09:00,bob,enroll,,ann,
     e3,2025-01-02 09:00,cy,enroll,,ann,
     e4,2025-01-02 09:00,dee,enroll,,ann,
     e5,2025-01-02 09:00,eve,enroll,,eve,
     e6,2025-01-02 09:00,fay,enroll,,zed,
     e7,2025-01-03 10:00,bob,purchase,30,,
     e8,2025-01-04 10:00,bob,purchase,40,,
     e9,2025-01-05 10:00,cy,purchase,10,,
     e10,2025-01-06 10:00,cy,purchase,30,,
     e11,2025-01-07 10:00,dee,purchase,50,,
     e12,2025-01-08 10:00,bob,return,30,,e7
     e13,2025-01-09 10:00,eve,enroll,,,";

#[test]
fn a_referral_pays_the_referrer_on_the_friends_qualifying_purchase_up_to_a_limit() {
    let run = run(REFERRALS, REFERRAL_EVENTS);
    // Bob's first purchase: his welcome, and ann's thanks; cy's first is
    // below 25 USD (welcome only), her second pays ann; dee's would be a
    // third for ann, past the limit of 2 per referrer.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-01T09:00:00-05:00 joined at base",
            "earn 2025-01-03T10:00:00-05:00 500 =500 referrer_thanks",
            "earn 2025-01-06T10:00:00-05:00 500 =1000 referrer_thanks",
            "tier_change 2025-01-06T10:00:00-05:00 base → gold (threshold reached)",
        ]
    );
    assert_eq!(
        run.rows("bob", &["earn", "reverse"]),
        [
            "earn 2025-01-03T10:00:00-05:00 30 =30 base",
            "earn 2025-01-03T10:00:00-05:00 200 =230 friend_welcome",
            "earn 2025-01-04T10:00:00-05:00 40 =270 base",
            "reverse 2025-01-08T10:00:00-05:00 -30 =240 base",
            "reverse 2025-01-08T10:00:00-05:00 -200 =40 friend_welcome",
        ]
    );
    assert_eq!(run.balance("cy", "coins"), d("240"));
    assert_eq!(run.balance("dee", "coins"), d("250"));
    // The return took back bob's awards, not ann's.
    assert_eq!(run.balance("ann", "coins"), d("1000"));
    assert_eq!(
        run.rejects,
        [
            (6, "`eve` cannot refer themself".into()),
            (
                7,
                "unknown referrer `zed`: no member of that id has enrolled".into()
            ),
        ]
    );
    // Eve enrols later without a referrer: the rejected link left nothing.
    assert_eq!(run.balance("eve", "coins"), d("0"));
}

#[test]
fn a_referee_is_dealt_with_the_referrer_so_shards_write_what_one_engine_writes() {
    let one = run(REFERRALS, REFERRAL_EVENTS);
    for shards in [2, 3, 4] {
        let sharded =
            support::run_in_shards(REFERRALS, REFERRAL_EVENTS, Order::Sort, None, Some(shards));
        assert_eq!(sharded.ledger, one.ledger, "{shards} shards");
        assert_eq!(sharded.rejects, one.rejects, "{shards} shards");
        assert_eq!(sharded.members, one.members, "{shards} shards");
    }
}

#[test]
fn explain_says_who_the_referrer_was_paid_for() {
    let referee = support::explain(REFERRALS, REFERRAL_EVENTS, "bob");
    assert!(
        referee.contains("✓ referrer_thanks: 500 = 500 coins, paid to referrer ann"),
        "{referee}"
    );
    let referrer = support::explain(REFERRALS, REFERRAL_EVENTS, "ann");
    assert!(
        referrer.contains(
            "earns 500 coins by rule referrer_thanks: event e7 of a member they referred"
        ),
        "{referrer}"
    );
    let capped = support::explain(REFERRALS, REFERRAL_EVENTS, "dee");
    assert!(
        capped.contains("✗ referrer_thanks: its limit of 2 per referrer is reached"),
        "{capped}"
    );
}

#[test]
fn a_late_purchase_of_a_referee_re_runs_the_referrer_and_the_friends_they_referred() {
    // Bob's first purchase arrives after cy's and dee's: re-run in its
    // place, it takes the first of ann's two thanks, and dee's comes after
    // the limit.
    let e7 = "e7,2025-01-03 10:00,bob,purchase,30,,\n";
    let e11 = "e11,2025-01-07 10:00,dee,purchase,50,,\n";
    let late = REFERRAL_EVENTS
        .replace(e7, "")
        .replace(e11, &format!("{e11}     {e7}"));
    let sorted = run(REFERRALS, REFERRAL_EVENTS);
    let streamed = run_with(REFERRALS, &late, Order::Stream, None);
    assert_eq!(streamed.members, sorted.members);
    // Ann's second thanks (cy's, paid first as the stream came) is undone
    // and written again after bob's.
    let undone: Vec<&str> = streamed
        .ledger
        .iter()
        .filter(|r| r.member == "ann" && r.note.starts_with("undone for late event e7"))
        .map(|r| r.event.as_str())
        .collect();
    assert!(!undone.is_empty(), "{:?}", streamed.rows("ann", &[]));
}

#[test]
fn a_points_type_cap_counts_a_referrers_awards_for_the_referrer() {
    let program = ny!(r#"
points coins {
  cap 600 per member per day
}
rule base {
  on purchase
  earn 1 coins per 1 USD of amount
}
rule referrer_thanks {
  on purchase where first purchase and referred
  earn 500 coins to referrer
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,referred_by
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 09:00,bob,enroll,,ann
         e3,2025-01-02 09:00,cy,enroll,,ann
         e4,2025-01-03 10:00,ann,purchase,50,
         e5,2025-01-03 11:00,bob,purchase,580,
         e6,2025-01-03 12:00,cy,purchase,30,",
    );
    // Ann's own 50 and bob's thanks fill 550 of her 600; cy's is cut to
    // 50, on ann's rows; bob's 580 of his own are his.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-03T10:00:00-05:00 50 =50 base",
            "earn 2025-01-03T11:00:00-05:00 500 =550 referrer_thanks",
            "cap_cut 2025-01-03T12:00:00-05:00 450 =550 referrer_thanks",
            "earn 2025-01-03T12:00:00-05:00 50 =600 referrer_thanks",
        ]
    );
    assert_eq!(run.balance("bob", "coins"), d("580"));
}

#[test]
fn after_a_late_event_the_referee_still_pays_its_own_referrer() {
    let program = ny!(r#"
points coins
rule thanks {
  on purchase where referred
  earn 10 coins to referrer
}
"#);
    // Zed enrols first and is linked to no one: re-running ann and bob
    // for the late purchase, the scratch engine numbers them otherwise.
    let events = "id,time,member,type,amount,referred_by
         e1,2025-01-01 09:00,zed,enroll,,
         e2,2025-01-01 09:00,ann,enroll,,
         e3,2025-01-02 09:00,bob,enroll,,ann
         e5,2025-01-05 10:00,bob,purchase,30,
         e4,2025-01-04 10:00,bob,purchase,30,
         e6,2025-01-06 10:00,bob,purchase,30,";
    let streamed = run_with(program, events, Order::Stream, None);
    assert_eq!(streamed.balance("ann", "coins"), d("30"));
    assert_eq!(streamed.balance("zed", "coins"), d("0"));
    assert_eq!(streamed.members, run(program, events).members);
}
