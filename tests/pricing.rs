//! Rewards priced per tier, and bounds on one redemption: gold pays its own
//! price, a redemption below the least or above the most is rejected.

mod support;

use support::{d, run_until};

const PROGRAM: &str = ny!(r#"
points stars {
  value 0.01 USD
  redeem at least 50, at most 300
}
tiers by stars earned over calendar year {
  tier green from 0
  tier gold from 500
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
reward drink {
  price 100 stars
  price 80 stars for gold
  cost 1.50 USD
}
"#);

#[test]
fn gold_pays_its_price_and_redemptions_stay_within_their_bounds() {
    let run = run_until(
        PROGRAM,
        "id,time,member,type,amount,reward,points,points_type
         e1,2025-01-05 09:00,ann,enroll,,,,
         e2,2025-01-05 09:00,bob,enroll,,,,
         e3,2025-02-01 10:00,ann,purchase,600,,,
         e4,2025-02-01 10:00,bob,purchase,200,,,
         r1,2025-02-02 10:00,ann,redeem,,drink,,
         r2,2025-02-02 10:00,bob,redeem,,drink,,
         r3,2025-02-03 10:00,bob,redeem,,,40,stars
         r4,2025-02-03 10:01,ann,redeem,,,301,stars
         r5,2025-02-03 10:02,ann,redeem,,,300,stars",
        "2025-02-28",
    );
    assert_eq!(
        run.rows("ann", &["spend"]),
        [
            "spend 2025-02-02T10:00:00-05:00 -80 =520",
            "spend 2025-02-03T10:02:00-05:00 -300 =220",
        ]
    );
    assert_eq!(
        run.rows("bob", &["spend"]),
        ["spend 2025-02-02T10:00:00-05:00 -100 =100"]
    );
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "redeem of 40 stars is below the least of 50 per redemption",
            "redeem of 301 stars is above the most of 300 per redemption",
        ]
    );
    // The reward's cost is the same whatever the tier pays.
    let costs: Vec<_> = run
        .ledger
        .iter()
        .filter(|r| r.note == "reward drink")
        .map(|r| r.cost)
        .collect();
    assert_eq!(costs, [Some(d("1.50")), Some(d("1.50"))]);
}
