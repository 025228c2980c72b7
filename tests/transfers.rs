//! Transfers between members and pools (households): points move with their
//! dates or are earned anew, fees are spent, minimums and balances are
//! enforced, pools take only from and give only to their members, and the
//! program's outstanding points never change by a transfer.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::indexing_slicing)]

mod support;

use rust_decimal::Decimal;
use support::{d, run_until, Run};

/// Points earned one per dollar, expiring at the end of the sixth month
/// after the month earned; transfers of at least 50 with a 10% fee.
const PROGRAM: &str = ny!(r#"
points pts {
  precision 0
  expire 6 months after earn at end of month
  transfers min 50, fee 10%, EXPIRY
  pool household, at most 2 members
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);

const HEADER: &str = "id,time,member,type,amount,to,points,points_type,pool";

fn events(lines: &str) -> String {
    format!("{HEADER}\n{lines}")
}

/// Ann and Bob enrol, Ann earns 100 on 15 January 2025; then `lines`.
fn after_ann_earns_100(lines: &str) -> String {
    events(&format!(
        "e1,2025-01-10 09:00,ann,enroll,,,,,
         e2,2025-01-10 09:00,bob,enroll,,,,,
         e3,2025-01-15 10:00,ann,purchase,100,,,,
         {lines}"
    ))
}

/// Whatever moved, the program holds what it issued less what left it, and
/// that is what the accounts hold.
fn balanced(run: &Run) {
    let totals = &run.totals["pts"];
    assert_eq!(totals.transferred, Decimal::ZERO, "transfers net out");
    let held: Decimal = run.members.values().map(|m| m.balances["pts"]).sum();
    assert_eq!(totals.outstanding(), held);
}

#[test]
fn given_points_keep_their_dates_and_the_giver_pays_the_fee() {
    let run = run_until(
        &PROGRAM.replace("EXPIRY", "keep expiry"),
        &after_ann_earns_100("t1,2025-03-01 12:00,ann,transfer,,bob,60,pts,"),
        "2025-12-31",
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-15T10:00:00-05:00 100 =100 base",
            "transfer_out 2025-03-01T12:00:00-05:00 -60 =40",
            "spend 2025-03-01T12:00:00-05:00 -6 =34",
            "expire 2025-08-01T00:00:00-04:00 -34 =0",
        ]
    );
    // Bob's 60 were earned in January too: they expire with Ann's.
    assert_eq!(
        run.rows("bob", &[]),
        [
            "transfer_in 2025-03-01T12:00:00-05:00 60 =60",
            "expire 2025-08-01T00:00:00-04:00 -60 =0",
        ]
    );
    let fee = run.ledger.iter().find(|r| r.kind == "spend").unwrap();
    assert_eq!(fee.note, "transfer fee (bob)");
    assert_eq!(fee.cost, None);
    let totals = &run.totals["pts"];
    assert_eq!(
        (totals.issued, totals.spent, totals.expired),
        (d("100"), d("6"), d("94"))
    );
    balanced(&run);
}

#[test]
fn restarted_points_are_earned_anew_at_the_transfer() {
    let run = run_until(
        &PROGRAM.replace("EXPIRY", "restart expiry"),
        &after_ann_earns_100("t1,2025-03-01 12:00,ann,transfer,,bob,50,pts,"),
        "2025-12-31",
    );
    assert_eq!(
        run.rows("bob", &[]),
        [
            "transfer_in 2025-03-01T12:00:00-05:00 50 =50",
            "expire 2025-10-01T00:00:00-04:00 -50 =0",
        ]
    );
    balanced(&run);
}

#[test]
fn transfers_the_program_does_not_allow_are_rejected_with_the_reason() {
    let run = run_until(
        &PROGRAM.replace("EXPIRY", "keep expiry"),
        &after_ann_earns_100(
            "t1,2025-03-01 12:00,ann,transfer,,bob,40,pts,
             t2,2025-03-01 12:01,ann,transfer,,bob,95,pts,
             t3,2025-03-01 12:02,ann,transfer,,zoe,60,pts,
             t4,2025-03-01 12:03,ann,transfer,,ann,60,pts,
             t5,2025-03-01 12:04,ann,transfer,,bob,60.5,pts,
             t6,2025-03-01 12:05,ann,transfer,,bob,60,miles,
             t7,2025-03-01 12:06,ann,transfer,,bob,,pts,",
        ),
        "2025-03-31",
    );
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "transfer of 40 pts is below the minimum of 50",
            "transfer of 95 pts and its fee of 10 is beyond the available balance of 100",
            "transfer to unknown member or pool `zoe`",
            "`ann` cannot transfer to itself",
            "a transfer moves a positive amount of pts with at most 0 decimals, not 60.5",
            "unknown points type `miles`",
            "`transfer` needs `to`, `points` and `points_type`",
        ]
    );
    assert_eq!(run.reject_lines(), [5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(run.balance("ann", "pts"), d("100"));
    assert_eq!(run.balance("bob", "pts"), d("0"));
}

#[test]
fn without_transfers_members_cannot_give_and_pending_points_stay_put() {
    let program = ny!(r#"
points pts {
  pending 14 days
}
points miles {
  transfers
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
  earn 1 miles per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        &after_ann_earns_100(
            "t1,2025-01-16 12:00,ann,transfer,,bob,10,pts,
             t2,2025-01-16 12:00,ann,transfer,,bob,10,miles,
             e4,2025-01-17 10:00,ann,join_pool,,,,,household:x",
        ),
        "2025-03-31",
    );
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "the program does not let members transfer pts",
            "the program has no pools"
        ]
    );
    // Without a minimum or fee, any amount moves as it is.
    assert_eq!(run.balance("bob", "miles"), d("10"));
    assert_eq!(run.balance("ann", "miles"), d("90"));
}

#[test]
fn pending_points_cannot_be_given() {
    let program = ny!(r#"
points pts {
  pending 14 days
  transfers
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run_until(
        program,
        &after_ann_earns_100(
            "t1,2025-01-16 12:00,ann,transfer,,bob,10,pts,
             t2,2025-01-30 12:00,ann,transfer,,bob,10,pts,",
        ),
        "2025-03-31",
    );
    assert_eq!(run.reject_lines(), [5]);
    assert_eq!(
        run.rejects[0].1,
        "transfer of 10 pts is beyond the available balance of 0"
    );
    assert_eq!(run.balance("bob", "pts"), d("10"));
}

#[test]
fn a_pool_takes_from_and_gives_to_its_members_only() {
    let run = run_until(
        &PROGRAM.replace("EXPIRY", "keep expiry"),
        &events(
            "e1,2025-01-10 09:00,ann,enroll,,,,,
             e2,2025-01-10 09:00,bob,enroll,,,,,
             e3,2025-01-10 09:00,cat,enroll,,,,,
             e4,2025-01-15 10:00,ann,purchase,100,,,,
             e5,2025-01-15 10:00,cat,purchase,100,,,,
             p1,2025-02-01 09:00,ann,join_pool,,,,,household:smiths
             p2,2025-02-01 09:00,bob,join_pool,,,,,household:smiths
             p3,2025-02-01 09:00,cat,join_pool,,,,,household:smiths
             p4,2025-02-01 09:00,bob,join_pool,,,,,household:jones
             p5,2025-02-01 09:00,bob,join_pool,,,,,clan:x
             t1,2025-02-02 09:00,ann,transfer,,household:smiths,30,pts,
             t2,2025-02-02 09:01,cat,transfer,,household:smiths,30,pts,
             t3,2025-02-03 09:00,household:smiths,transfer,,bob,20,pts,
             t4,2025-02-03 09:01,household:smiths,transfer,,cat,5,pts,
             e6,2025-02-03 09:02,household:smiths,purchase,10,,,,
             p6,2025-02-04 09:00,ann,leave_pool,,,,,household:smiths
             t5,2025-02-04 09:01,household:smiths,transfer,,ann,5,pts,
             p7,2025-02-04 09:02,ann,leave_pool,,,,,household:smiths
             e7,2025-02-05 09:00,household:smiths,enroll,,,,,",
        ),
        "2025-12-31",
    );
    let reasons: Vec<(usize, &str)> = run
        .rejects
        .iter()
        .map(|(line, r)| (*line, r.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (9, "pool `household:smiths` is full: at most 2 members"),
            (10, "already in pool `household:smiths`: leave it first"),
            (
                11,
                "`clan:x` is not a pool name: `kind:id` with kind household"
            ),
            (13, "`cat` is not in pool `household:smiths`: join it first"),
            (
                15,
                "`cat` is not in pool `household:smiths`: a pool gives only to its members"
            ),
            (
                16,
                "`household:smiths` is a pool: its only events are transfers to its members"
            ),
            (
                18,
                "`ann` is not in pool `household:smiths`: a pool gives only to its members"
            ),
            (19, "not in pool `household:smiths`"),
            (
                20,
                "`household:smiths` is a pool: its only events are transfers to its members"
            ),
        ]
    );
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-15T10:00:00-05:00 100 =100 base",
            "pool_join 2025-02-01T09:00:00-05:00 household:smiths",
            "transfer_out 2025-02-02T09:00:00-05:00 -30 =70",
            "pool_leave 2025-02-04T09:00:00-05:00 household:smiths",
            "expire 2025-08-01T00:00:00-04:00 -70 =0",
        ]
    );
    // Moving points into or out of one's pool is free, whatever the
    // transfers' minimum and fee; the points keep their January dates.
    assert_eq!(
        run.rows("household:smiths", &[]),
        [
            "transfer_in 2025-02-02T09:00:00-05:00 30 =30",
            "transfer_out 2025-02-03T09:00:00-05:00 -20 =10",
            "expire 2025-08-01T00:00:00-04:00 -10 =0",
        ]
    );
    assert_eq!(
        run.rows("bob", &["transfer_in"]),
        ["transfer_in 2025-02-03T09:00:00-05:00 20 =20"]
    );
    balanced(&run);
}
