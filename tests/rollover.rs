//! Rollover: at a tier period's end, what a header measure holds above the
//! threshold of the tier reached starts the next period, up to the cap, as
//! a ledger row; it counts toward the next period only.

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

#[test]
fn a_carried_amount_is_gone_at_the_next_reset_it_never_carries_twice() {
    // Ann flies 1300 in 2025: 300 carry into 2026. She flies nothing in
    // 2026, so 2026 ends with the 300 carried and nothing of its own:
    // nothing carries into 2027. Bob carries 500 of 900 into 2026 and
    // flies 1200 more (1700 in all, silver): 700 above silver, of which
    // the 1200 he flew can carry, capped at 500.
    let events = "id,time,member,type,amount
                  e1,2025-01-10 09:00,ann,enroll,
                  e2,2025-01-10 09:00,bob,enroll,
                  e3,2025-03-01 10:00,ann,purchase,1300
                  e4,2025-03-01 10:00,bob,purchase,1900
                  e5,2026-03-01 10:00,bob,purchase,1200";
    let run = run_until(PROGRAM, events, "2028-06-30");
    assert_eq!(
        run.rows("ann", &["rollover"]),
        ["rollover 2026-01-01T00:00:00-05:00 300 miles_earned carried into the next period"]
    );
    assert_eq!(run.member("ann").measures, [d("0")]);
    assert_eq!(
        run.rows("bob", &["rollover"]),
        [
            "rollover 2026-01-01T00:00:00-05:00 500 miles_earned carried into the next period",
            "rollover 2027-01-01T00:00:00-05:00 500 miles_earned carried into the next period",
        ]
    );
    assert_eq!(run.member("bob").measures, [d("0")]);
}

/// Silver by 1000 miles or 10 flights; `rollover` is the rollover line.
fn miles_or_flights(rollover: &str) -> String {
    let head = ny!(r#"
points miles {
  qualifying
}
rule flight {
  on purchase
  earn 1 miles per 1 USD of amount
}
"#);
    format!(
        "{head}tiers by miles earned or by count of purchase over calendar year {{
  tier blue from 0
  tier silver from 1000 or 10
  {rollover}
}}
"
    )
}

#[test]
fn rollover_carries_only_the_measures_it_names() {
    // 1200 miles on 12 flights: 200 miles and 2 flights above silver. Only
    // the miles are named, so the flight count starts 2026 at zero.
    let mut events = String::from(
        "id,time,member,type,amount
         e0,2025-01-10 09:00,ann,enroll,",
    );
    for i in 1..=12 {
        events.push_str(&format!("\ne{i},2025-03-{i:02} 10:00,ann,purchase,100"));
    }
    let run = run_until(
        &miles_or_flights("rollover miles_earned up to 500"),
        &events,
        "2026-01-31",
    );
    assert_eq!(
        run.rows("ann", &["rollover"]),
        ["rollover 2026-01-01T00:00:00-05:00 200 miles_earned carried into the next period"]
    );
    assert_eq!(run.member("ann").measures, [d("200"), d("0")]);
    // Both named, each with its own cap.
    let both =
        miles_or_flights("rollover miles_earned up to 500\n  rollover purchase_count up to 1");
    let run = run_until(&both, &events, "2026-01-31");
    assert_eq!(run.member("ann").measures, [d("200"), d("1")]);
}

#[test]
fn rollover_must_name_its_measure_when_the_tiers_have_several() {
    let check = |rollover: &str| {
        let source = miles_or_flights(rollover);
        let file = loyalty::syntax::parse(&source).unwrap();
        loyalty::check::check(&file)
            .into_iter()
            .map(|d| (d.code, d.message, d.help))
            .collect::<Vec<_>>()
    };
    let unnamed = check("rollover up to 500");
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
    assert_eq!(unnamed[0].0, "rollover");
    assert!(unnamed[0].1.contains("2 `by` measures"), "{unnamed:?}");
    assert!(
        unnamed[0]
            .2
            .as_deref()
            .unwrap()
            .contains("rollover miles_earned up to N"),
        "{unnamed:?}"
    );
    let typo = check("rollover miles_earnd up to 500");
    assert_eq!(typo[0].0, "unknown-name");
    assert_eq!(typo[0].2.as_deref(), Some("did you mean `miles_earned`?"));
    let twice = check("rollover miles_earned up to 500\n  rollover miles_earned up to 100");
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert!(check("rollover miles_earned up to 500").is_empty());
}
