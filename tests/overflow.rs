//! Large valid numbers: no arithmetic that input reaches panics or silently
//! gives 0. A record whose award cannot be computed, or that would take a
//! sum past `LARGEST` (10^20), is rejected with the reason before anything
//! changes; `check` refuses constants that would make overflow likely.

mod support;

use support::{d, run};

const HEADER: &str = "id,time,member,type,amount,of,points,points_type,reason";

fn events(lines: &str) -> String {
    format!(
        "{HEADER}
         e1,2025-01-01 09:00,ann,enroll,,,,,
         {lines}"
    )
}

const RATE: &str = ny!(r#"
points pts {
  precision 2
  value 0.01 USD
}
rule base {
  on purchase
  earn 1000000000000 pts per 1 USD of amount
}
"#);

#[test]
fn an_award_past_the_largest_sum_is_rejected_not_zero() {
    // 10^10 USD at 10^12 points a dollar is 10^22 points: once this was
    // silently 0 (a multiplication's overflow turned into nothing).
    let run = run(
        RATE,
        &events(
            "e2,2025-01-02 10:00,ann,purchase,10000000000,,,,
             e3,2025-01-03 10:00,ann,purchase,5,,,,",
        ),
    );
    assert_eq!(run.reject_lines(), [3]);
    assert_eq!(
        run.rejects[0].1,
        "the pts issued would exceed 100000000000000000000, the most loyalty counts"
    );
    // Nothing of the rejected purchase was applied; the next one was.
    assert_eq!(
        run.rows("ann", &["earn"]),
        ["earn 2025-01-03T10:00:00-05:00 5000000000000 =5000000000000 base"]
    );
    assert_eq!(run.totals["pts"].issued, d("5000000000000"));
}

#[test]
fn an_award_that_overflows_a_decimal_is_rejected_with_its_rule() {
    // 9 × 10^27 dollars: the award overflows before any cap could cut it.
    let run = run(
        RATE,
        &events("e2,2025-01-02 10:00,ann,purchase,9000000000000000000000000000,,,,"),
    );
    assert_eq!(run.reject_lines(), [3]);
    assert_eq!(
        run.rejects[0].1,
        "rule `base` cannot compute its award: it exceeds the largest number loyalty holds"
    );
    assert!(run.rows("ann", &["earn"]).is_empty());
}

#[test]
fn an_expression_that_overflows_is_rejected_not_skipped() {
    let program = ny!(r#"
event purchase {
  litres: number
}
points pts
rule fuel {
  on purchase
  earn litres * litres pts
}
"#);
    let run = run(
        program,
        "id,time,member,type,amount,litres
         e1,2025-01-01 09:00,ann,enroll,,
         e2,2025-01-02 10:00,ann,purchase,10,90000000000000000000000
         e3,2025-01-03 10:00,ann,purchase,10,0",
    );
    assert_eq!(run.reject_lines(), [3]);
    assert!(run.rejects[0]
        .1
        .starts_with("rule `fuel` cannot compute its award"));
}

#[test]
fn an_enrolment_whose_award_cannot_be_computed_enrols_nobody() {
    let program = ny!(r#"
member {
  tier_credit: number
}
points pts
rule welcome {
  on enroll
  earn 1 pts per 0.5 of tier_credit
}
rule base {
  on purchase
  earn 1 pts
}
tiers by pts earned over calendar year {
  tier base from 0
  tier gold from 10
}
"#);
    let run = support::run_until(
        program,
        "id,time,member,type,amount,tier_credit
         e1,2025-01-01 09:00,ann,enroll,,50000000000000000000000000000
         e2,2025-01-02 10:00,ann,purchase,10,
         e3,2025-01-03 09:00,ann,enroll,,10
         e4,2025-01-04 10:00,ann,purchase,10,",
        "2026-01-31",
    );
    // The first enrolment is rejected whole: the purchase after it finds
    // no member, and a second enrolment of the same id is a first.
    assert_eq!(run.reject_lines(), [2, 3]);
    assert!(run.rejects[1].1.starts_with("unknown member `ann`"));
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-03T09:00:00-05:00 joined at base",
            "earn 2025-01-03T09:00:00-05:00 20 =20 welcome",
            "tier_change 2025-01-03T09:00:00-05:00 base → gold (threshold reached)",
            "earn 2025-01-04T10:00:00-05:00 1 =21 base",
        ]
    );
}

#[test]
fn sums_stop_at_the_largest_and_returns_of_huge_purchases_compute() {
    let program = ny!(r#"
points pts {
  precision 0
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
"#);
    let run = run(
        program,
        &events(
            "e2,2025-01-02 10:00,ann,purchase,60000000000000000000,,,,
             e3,2025-01-03 10:00,ann,purchase,60000000000000000000,,,,
             e4,2025-01-04 10:00,ann,return,70000000000000000000000000000,e2,,,
             e5,2025-01-05 10:00,ann,return,30000000000000000000,e2,,,
             e6,2025-01-06 10:00,ann,adjust,,,50000000000000000000,pts,goodwill",
        ),
    );
    // e3 would take the points issued past 10^20; e4 returns more than was
    // bought; e6's credit is past the largest sum too.
    assert_eq!(run.reject_lines(), [4, 5, 7]);
    assert!(run.rejects[0].1.contains("would exceed"));
    assert!(run.rejects[2].1.contains("would exceed"));
    assert_eq!(run.balance("ann", "pts"), d("30000000000000000000"));
}
