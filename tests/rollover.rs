//! Rollover: at a tier period's end, what a header measure holds above the
//! threshold of the tier reached starts the next period, up to the cap, as
//! a ledger row; it counts toward the next period only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use support::{d, run_until};

const PROGRAM: &str = ny!(r#"
points miles {
  qualifying
}
tiers by miles earned over calendar year {
  tier blue from 0
  tier silver from 1000
  tier gold from 2000
  rollover up to 500
  downgrade at period end
}
rule flight {
  on purchase
  earn 1 miles per 1 USD of amount
}
"#);

#[test]
fn surplus_above_the_tier_reached_carries_into_the_next_year_up_to_the_cap() {
    let events = "id,time,member,type,amount
                  e1,2025-01-10 09:00,ann,enroll,
                  e2,2025-01-10 09:00,bob,enroll,
                  e3,2025-01-10 09:00,cy,enroll,
                  e4,2025-03-01 10:00,ann,purchase,1300
                  e5,2025-03-01 10:00,bob,purchase,1900
                  e6,2025-03-01 10:00,cy,purchase,2000
                  e7,2026-02-01 10:00,bob,purchase,600";
    let run = run_until(PROGRAM, events, "2026-12-31");
    // Ann: 300 above silver. Bob: 900 above silver, capped at 500. Cy:
    // exactly gold, nothing over.
    assert_eq!(
        run.rows("ann", &["rollover"]),
        ["rollover 2026-01-01T00:00:00-05:00 300 miles_earned carried into the next period"]
    );
    assert_eq!(
        run.rows("bob", &["rollover"]),
        ["rollover 2026-01-01T00:00:00-05:00 500 miles_earned carried into the next period"]
    );
    assert!(run.rows("cy", &["rollover"]).is_empty());
    let carried = run.ledger.iter().find(|r| r.kind == "rollover").unwrap();
    assert_eq!(carried.amount, d("300"));
    // The carried miles start 2026's count, and only 2026's: Bob's 500 and
    // the 600 he flew; Ann's 300 without flying.
    assert_eq!(run.member("bob").measures, [d("1100")]);
    assert_eq!(run.member("ann").measures, [d("300")]);
    assert_eq!(run.member("cy").measures, [d("0")]);
    assert_eq!(
        (run.tier("ann"), run.tier("bob"), run.tier("cy")),
        ("silver", "silver", "gold")
    );
}
