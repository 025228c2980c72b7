//! Preview rules: evaluated on real traffic and written to the ledger as
//! `preview` rows, with their caps applied, but never awarded: balances,
//! tiers and the program's totals are what they would be without them, and
//! the summary says what they would have issued and cost.

mod support;

use support::{d, run_until};

const PROGRAM: &str = ny!(r#"
points stars {
  value 0.01 USD
}
tiers by stars earned over calendar year {
  tier green from 0
  tier gold from 100
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
preview rule double {
  on purchase
  earn 100% of base stars
  cap 50 stars per member per day
}
"#);

#[test]
fn a_preview_rule_writes_what_it_would_award_and_changes_nothing() {
    let events = "id,time,member,type,amount
                  e1,2025-01-10 09:00,ann,enroll,
                  e2,2025-01-15 10:00,ann,purchase,40
                  e3,2025-01-15 11:00,ann,purchase,30
                  e4,2025-01-16 10:00,ann,purchase,100";
    let run = run_until(PROGRAM, events, "2025-01-31");
    assert_eq!(
        run.rows("ann", &["earn", "preview", "cap_cut"]),
        [
            "earn 2025-01-15T10:00:00-05:00 40 =40 base",
            "preview 2025-01-15T10:00:00-05:00 40 =40 double",
            "earn 2025-01-15T11:00:00-05:00 30 =70 base",
            "cap_cut 2025-01-15T11:00:00-05:00 20 =70 double",
            "preview 2025-01-15T11:00:00-05:00 10 =70 double",
            "earn 2025-01-16T10:00:00-05:00 100 =170 base",
            "cap_cut 2025-01-16T10:00:00-05:00 50 =170 double",
            "preview 2025-01-16T10:00:00-05:00 50 =170 double",
        ]
    );
    // Gold at 100 earned: reached with the third purchase. The previewed
    // stars do not count: with them she would have been gold after the
    // second (40 + 40 + 30 + 10).
    assert_eq!(run.balance("ann", "stars"), d("170"));
    let totals = &run.totals["stars"];
    assert_eq!((totals.issued, totals.preview), (d("170"), d("100")));
    assert_eq!(totals.outstanding(), d("170"));
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2025-01-10T09:00:00-05:00 joined at green",
            "tier_change 2025-01-16T10:00:00-05:00 green → gold (threshold reached)",
        ]
    );
}

#[test]
fn the_summary_says_what_preview_rules_would_have_cost() {
    let dir = std::env::temp_dir().join(format!("loyalty-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("p.loyalty");
    let events = dir.join("e.csv");
    std::fs::write(&program, PROGRAM).unwrap();
    std::fs::write(
        &events,
        "id,time,member,type,amount\ne1,2025-01-10 09:00,ann,enroll,\ne2,2025-01-15 10:00,ann,purchase,40\n",
    )
    .unwrap();
    let out = dir.join("out");
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .arg("run")
        .args([&program, &events])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(
        stdout.contains("preview rules would have issued 40 stars, worth 0.40 USD (not awarded)"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["points"][0]["preview"]["issued"], "40");
    assert_eq!(summary["points"][0]["preview"]["value"], "0.40");
    assert_eq!(summary["points"][0]["issued"], "40");
    std::fs::remove_dir_all(&dir).unwrap();
}
