//! Manual adjustments: goodwill credits that no return takes back, credits
//! for a purchase that its return takes back in proportion, expiry
//! overrides, debits within the balance, and clear rejects otherwise; and
//! cancelled redemptions, whose points go back with their dates.

mod support;

use support::{d, run_until};

/// Stars at one per dollar, expiring at the end of the sixth month after
/// earning; status points count toward gold.
const PROGRAM: &str = ny!(r#"
points stars {
  expire 6 months after earn at end of month
}
points status {
  qualifying
}
tiers by status earned over calendar year {
  tier green from 0
  tier gold from 100
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
  earn 1 status per 1 USD of amount
}
"#);

const HEADER: &str = "id,time,member,type,amount,of,points,points_type,reason,purchase,expires";

fn events(lines: &str) -> String {
    format!(
        "{HEADER}
         e1,2025-01-10 09:00,ann,enroll,,,,,,,
         e2,2025-01-15 10:00,ann,purchase,120,,,,,,
         {lines}"
    )
}

#[test]
fn goodwill_stays_when_the_purchase_is_returned_and_a_purchase_credit_goes_with_it() {
    let run = run_until(
        PROGRAM,
        &events(
            "a1,2025-01-16 10:00,ann,adjust,,,30,stars,late_delivery,e2,
             a2,2025-01-16 11:00,ann,adjust,,,25,stars,goodwill,,
             r1,2025-01-20 10:00,ann,return,60,e2,,,,,",
        ),
        "2025-01-31",
    );
    assert_eq!(
        run.rows("ann", &["adjust", "reverse"]),
        [
            "adjust 2025-01-16T10:00:00-05:00 30 =150",
            "adjust 2025-01-16T11:00:00-05:00 25 =175",
            "reverse 2025-01-20T10:00:00-05:00 -60 =115 base",
            "reverse 2025-01-20T10:00:00-05:00 -60 =60 base",
            "reverse 2025-01-20T10:00:00-05:00 -15 =100",
        ]
    );
    let credit = run.ledger.iter().find(|r| r.kind == "adjust").unwrap();
    assert_eq!(credit.note, "late_delivery (for purchase e2)");
    // Status comes from earning rules only: half the purchase is returned,
    // half its status goes; the credit moves no measure.
    assert_eq!(run.member("ann").measures, [d("60")]);
    let totals = &run.totals["stars"];
    assert_eq!((totals.issued, totals.reversed), (d("175"), d("75")));
    assert_eq!(totals.outstanding(), run.balance("ann", "stars"));
}

#[test]
fn a_credit_may_expire_on_a_day_of_its_own() {
    let run = run_until(
        PROGRAM,
        &events(
            "a1,2025-01-16 10:00,ann,adjust,,,30,stars,apology,,2025-03-01
             a2,2025-01-16 10:00,ann,adjust,,,20,stars,apology,,",
        ),
        "2025-12-31",
    );
    assert_eq!(
        run.rows("ann", &["expire"]),
        [
            // The override: the end of 1 March.
            "expire 2025-03-02T00:00:00-05:00 -30 =140",
            // The points type's own rule, like the purchase's stars.
            "expire 2025-08-01T00:00:00-04:00 -120 =20",
            "expire 2025-08-01T00:00:00-04:00 -20 =0",
        ]
    );
}

#[test]
fn debits_come_out_of_the_balance_and_bad_adjustments_are_rejected() {
    let run = run_until(
        PROGRAM,
        &events(
            "a1,2025-01-16 10:00,ann,adjust,,,-20,stars,duplicate_credit,,
             a2,2025-01-16 10:01,ann,adjust,,,-101,stars,fraud,,
             a3,2025-01-16 10:02,ann,adjust,,,-5,stars,fraud,e2,
             a4,2025-01-16 10:03,ann,adjust,,,5,stars,oops,e9,
             a5,2025-01-16 10:04,ann,adjust,,,0,stars,nothing,,
             a6,2025-01-16 10:05,ann,adjust,,,50,status,gift,,
             a7,2025-01-16 10:06,ann,adjust,,,5,stars,,,
             a8,2025-01-16 10:07,ann,adjust,,,5,stars,late,,2025-01-15
             a9,2025-01-16 10:08,ann,adjust,,,5,miles,late,,",
        ),
        "2025-01-31",
    );
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "a debit of 101 stars is beyond the balance of 100",
            "a debit names no `purchase` and no `expires`: those are for credits",
            "adjust for unknown purchase `e9` for member `ann`",
            "an adjust moves a non-zero amount of stars with at most 0 decimals, not 0",
            "`status` are qualifying points: tier measures come from earning rules, not adjustments",
            "`adjust` needs `points` (signed), `points_type` and a `reason`",
            "an adjust expiring on 2025-01-15 would be expired already",
            "unknown points type `miles`",
        ]
    );
    assert_eq!(
        run.rows("ann", &["adjust"]),
        ["adjust 2025-01-16T10:00:00-05:00 -20 =100"]
    );
    assert_eq!(run.totals["stars"].reversed, d("20"));
}

/// Stars as above, and a reward with a cost.
const WITH_REWARD: &str = ny!(r#"
points stars {
  value 0.01 USD
  expire 6 months after earn at end of month
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
reward mug {
  price 60 stars
  cost 4.00 USD
}
"#);

const REDEEM_HEADER: &str = "id,time,member,type,amount,reward,redemption";

#[test]
fn a_cancelled_redemption_gives_the_points_back_with_their_dates_and_takes_its_cost_back() {
    let run = run_until(
        WITH_REWARD,
        &format!(
            "{REDEEM_HEADER}
             e1,2025-01-10 09:00,ann,enroll,,,
             e2,2025-01-15 10:00,ann,purchase,100,,
             e3,2025-02-10 10:00,ann,purchase,30,,
             r1,2025-03-01 10:00,ann,redeem,,mug,
             c1,2025-03-05 10:00,ann,cancel_redeem,,,r1
             c2,2025-03-06 10:00,ann,cancel_redeem,,,r1
             c3,2025-03-06 10:01,ann,cancel_redeem,,,r9
             r2,2025-03-07 10:00,ann,redeem,,mug,
             c4,2025-09-01 10:00,ann,cancel_redeem,,,r2"
        ),
        "2025-12-31",
    );
    assert_eq!(
        run.rows("ann", &["spend", "redeem_cancel", "expire"]),
        [
            "spend 2025-03-01T10:00:00-05:00 -60 =70",
            "redeem_cancel 2025-03-05T10:00:00-05:00 60 =130",
            "spend 2025-03-07T10:00:00-05:00 -60 =70",
            // January's 40 left expire at the end of July, February's 30 at
            // the end of August.
            "expire 2025-08-01T00:00:00-04:00 -40 =30",
            "expire 2025-09-01T00:00:00-04:00 -30 =0",
            // r2 took 60 of January's stars, from two buckets (40 never
            // spent, 20 of those r1 gave back): given back in September,
            // they are past their date and expire at once, bucket by bucket.
            "redeem_cancel 2025-09-01T10:00:00-04:00 60 =60",
            "expire 2025-09-01T10:00:00-04:00 -40 =20",
            "expire 2025-09-01T10:00:00-04:00 -20 =0",
        ]
    );
    let cancel = run
        .ledger
        .iter()
        .find(|r| r.kind == "redeem_cancel")
        .unwrap();
    assert_eq!(cancel.cost, Some(d("-4.00")));
    assert_eq!(cancel.note, "r1 cancelled (reward mug)");
    let reasons: Vec<&str> = run.rejects.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "redemption `r1` is already cancelled",
            "cancel of unknown redemption `r9` for member `ann`",
        ]
    );
    let totals = &run.totals["stars"];
    assert_eq!(
        (totals.issued, totals.spent, totals.expired),
        (d("130"), d("0"), d("130"))
    );
}
