//! `--format json` on `run` and `explain`: one document on standard
//! output, for programs, with exact decimals as strings.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use support::loyalty;

const PROGRAM: &str = "programs/bean_stars.loyalty";
const EVENTS: &str = "programs/bean_stars.events.csv";

fn stdout_json(args: &[&str]) -> Value {
    let output = loyalty(args);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn run_prints_the_summary_document_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let output = loyalty(&["run", PROGRAM, EVENTS, "--out", out, "--format", "json"]);
    assert!(output.status.success(), "{output:?}");
    let written = std::fs::read(dir.path().join("summary.json")).unwrap();
    // The same bytes as the file: the files listed with their checksums.
    assert_eq!(output.stdout, written);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["points"][0]["points"], "stars");
    assert!(summary["files"].as_array().unwrap().len() >= 3);
}

#[test]
fn explain_tells_each_rule_with_its_arithmetic_or_why_not() {
    let story = stdout_json(&[
        "explain", PROGRAM, EVENTS, "--member", "bob", "--format", "json",
    ]);
    assert_eq!(story["member"], "bob");
    let events = story["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "enroll");
    let purchase = &events[1];
    assert_eq!(
        (
            &purchase["id"],
            &purchase["type"],
            &purchase["fields"]["amount"]
        ),
        (&json!("e06"), &json!("purchase"), &json!("120.00"))
    );
    let rules = purchase["rules"].as_array().unwrap();
    assert_eq!(
        rules[0],
        json!({
            "rule": "base",
            "fired": true,
            "points": "stars",
            "arithmetic": "1 × 120.00 / 1 × 1",
            "raw": "120",
            "rounded": "120",
            "awarded": "120"
        })
    );
    assert_eq!(
        rules[1],
        json!({
            "rule": "breakfast_pairing",
            "fired": false,
            "why_not": "`category = \"food\"` is false"
        })
    );
    assert_eq!(purchase["rows"][0]["kind"], "pend");
    assert_eq!(purchase["rows"][0]["balance"], "120");
    // A rejected event says why, and the rejects say their class.
    let redeem = events.iter().find(|e| e["id"] == "e09").unwrap();
    assert!(redeem["rejected"]
        .as_str()
        .unwrap()
        .starts_with("redeem of 60 stars is beyond the available balance"));
    let classes: Vec<&str> = story["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes[..2], ["invalid", "balance"]);
}

/// The item of a JSON list whose `key` is `value`.
fn item<'a>(list: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap()
}

#[test]
fn explain_names_the_referrer_a_rule_paid_and_what_a_status_match_held() {
    let story = stdout_json(&[
        "explain",
        "programs/cartwheel.loyalty",
        "programs/cartwheel.events.csv",
        "--member",
        "rhea",
        "--format",
        "json",
    ]);
    let order = item(&story["events"], "id", "c81");
    let thanks = item(&order["rules"], "rule", "referrer_thanks");
    assert_eq!(
        (&thanks["awarded"], &thanks["paid_to"]),
        (&json!("500"), &json!("paul"))
    );

    // Cy's match holds gold through the first quarter's review, which
    // writes no row: the story notes it.
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("matched.loyalty");
    let events = dir.path().join("matched.csv");
    std::fs::write(
        &program,
        "program \"T\" {\n  currency USD\n  timezone \"UTC\"\n}\npoints pts\n\
         rule base {\n  on purchase\n  earn 1 pts per 1 USD of amount\n}\n\
         tiers by pts earned over calendar quarter {\n  tier blue from 0\n  tier gold from 300\n  \
         status match up to gold\n}\n",
    )
    .unwrap();
    std::fs::write(
        &events,
        "id,time,member,type,amount,tier,reason,until\n\
         e1,2025-01-01 09:00,cy,enroll,,,,\n\
         e2,2025-01-10 09:00,cy,set_tier,,gold,rival card,2025-05-15\n\
         e3,2025-04-10 09:00,cy,purchase,10,,,\n",
    )
    .unwrap();
    let (program, events) = (program.to_str().unwrap(), events.to_str().unwrap());
    let story = stdout_json(&[
        "explain", program, events, "--member", "cy", "--format", "json",
    ]);
    let matched = item(&story["events"], "id", "e2");
    assert_eq!(
        matched["notes"],
        json!([{
            "time": "2025-04-01T00:00:00+00:00",
            "note": "tier: gold held by the status match (rival card) until 2025-05-15"
        }])
    );
}

#[test]
fn diff_gives_the_figures_tiers_and_members_as_one_document() {
    let old = "programs/cartwheel.loyalty";
    let source = std::fs::read_to_string(old).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("raised.loyalty");
    std::fs::write(
        &new,
        source.replace("  earn 200 coins\n", "  earn 300 coins\n"),
    )
    .unwrap();
    let new = new.to_str().unwrap();
    let events = "programs/cartwheel.events.csv";
    let document = stdout_json(&["diff", old, new, "--events", events, "--format", "json"]);
    let issued = document["overall"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["figure"] == json!({"issued": "coins"}))
        .unwrap();
    assert_eq!(
        (&issued["old"], &issued["new"], &issued["unit"]),
        (&json!("10816"), &json!("11216"), &json!("points"))
    );
    assert_eq!(document["currency"], "EUR");
    assert!(document["title"]
        .as_str()
        .unwrap()
        .contains("raised.loyalty"));
    assert!(!document["members"].as_array().unwrap().is_empty());
    // `text`, the format's former name, is still `human`.
    let text = loyalty(&["diff", old, new, "--events", events, "--format", "text"]);
    let human = loyalty(&["diff", old, new, "--events", events]);
    assert_eq!(text.stdout, human.stdout);
}

/// A rule with an `expire` of its own says, in the JSON too, when its
/// award expires: Bean Stars' birthday treat, 30 days after dana's
/// birthday purchase.
#[test]
fn explain_json_says_when_a_rules_own_expiry_takes_its_award() {
    let story = stdout_json(&[
        "explain",
        PROGRAM,
        EVENTS,
        "--member",
        "dana",
        "--until",
        "2026-03-31",
        "--format",
        "json",
    ]);
    let expiring: Vec<(&Value, &Value)> = story["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["rules"].as_array().unwrap())
        .filter(|r| r.get("expires").is_some())
        .map(|r| (&r["rule"], &r["expires"]))
        .collect();
    assert_eq!(
        expiring,
        [(
            &json!("birthday_treat"),
            &json!("2025-07-16T12:00:00-04:00")
        )]
    );
}
