//! Tier-validity anchors: a tier year counted from a fixed date
//! (`calendar year from 2025-04-01`), and a qualification year that starts
//! afresh at each upgrade (`qualification year`), with what they do to
//! reviews, downgrades and rollover.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use loyalty::engine::replay::{Options, Order, Until};
use loyalty::engine::Engine;
use loyalty::events::Format;
use loyalty::run::Sinks;
use support::{d, run_until};

const PROGRAM_YEAR: &str = ny!(r#"
points miles {
  qualifying
}
tiers by miles earned over calendar year from 2025-04-01 {
  tier blue from 0
  tier gold from 1000
  downgrade at period end
}
rule flight {
  on purchase
  earn 1 miles per 1 USD of amount
}
"#);

#[test]
fn a_tier_year_from_a_fixed_date_is_reviewed_on_that_date_every_year() {
    let events = "id,time,member,type,amount
                  e1,2024-06-01 09:00,ann,enroll,
                  e2,2025-03-15 10:00,ann,purchase,1200
                  e3,2025-04-02 10:00,ann,purchase,300";
    let run = run_until(PROGRAM_YEAR, events, "2026-12-31");
    // Gold in March, inside the year from April 2024; the review on 1 April
    // 2025 keeps her (1200 reached), and the next, on 1 April 2026, counts
    // only the 300 flown since and moves her down. Nothing on 1 January.
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2024-06-01T09:00:00-04:00 joined at blue",
            "tier_change 2025-03-15T10:00:00-04:00 blue → gold (threshold reached)",
            "tier_change 2026-04-01T00:00:00-04:00 gold → blue (not requalified)",
        ]
    );
    // After the April 2026 review the count starts afresh.
    assert_eq!(run.member("ann").measures, [d("0")]);
}

const QUALIFICATION: &str = ny!(r#"
points xp {
  qualifying
}
tiers by xp earned over qualification year {
  tier explorer from 0
  tier silver from 100
  tier gold from 180
  rollover up to 50
  downgrade at period end, at most 1 level
}
rule flight {
  on purchase
  earn 1 xp per 1 USD of amount
}
"#);

#[test]
fn a_qualification_year_restarts_at_each_upgrade_with_the_surplus_carried() {
    let events = "id,time,member,type,amount
                  e1,2025-01-10 09:00,ann,enroll,
                  e2,2025-06-10 10:00,ann,purchase,130
                  e3,2025-09-01 10:00,ann,purchase,40";
    let run = run_until(QUALIFICATION, events, "2027-12-31");
    assert_eq!(
        run.rows("ann", &["tier_change", "rollover"]),
        [
            "tier_change 2025-01-10T09:00:00-05:00 joined at explorer",
            // Silver on 10 June: 30 xp above its threshold carry into a
            // qualification year that runs from that day.
            "tier_change 2025-06-10T10:00:00-04:00 explorer → silver (threshold reached)",
            "rollover 2025-06-10T10:00:00-04:00 30 xp_earned carried into the next period",
            // 30 + 40 = 70 by 10 June 2026: not enough to keep silver (the
            // enrolment anniversary in January reviews nothing). All 70 are
            // surplus above explorer's 0, but the 30 carried in are gone
            // with the year: the 40 flown carry over. With nothing flown
            // since, nothing carries at the next review.
            "tier_change 2026-06-10T10:00:00-04:00 silver → explorer (not requalified)",
            "rollover 2026-06-10T10:00:00-04:00 40 xp_earned carried into the next period",
        ]
    );
    assert_eq!(run.member("ann").measures, [d("0")]);
}

#[test]
fn a_qualification_year_keeps_the_tier_a_year_from_the_upgrade() {
    let events = "id,time,member,type,amount
                  e1,2025-01-10 09:00,bob,enroll,
                  e2,2025-11-20 10:00,bob,purchase,200
                  e3,2026-05-01 10:00,bob,purchase,180";
    let run = run_until(QUALIFICATION, events, "2026-12-31");
    // Straight to gold in November (200 ≥ 180, 20 carried); 20 + 180 by
    // May keeps gold at the review a year after the upgrade, in November
    // 2026 (not at the enrolment anniversary in January), with 20 carried.
    assert_eq!(
        run.rows("bob", &["tier_change", "rollover"]),
        [
            "tier_change 2025-01-10T09:00:00-05:00 joined at explorer",
            "tier_change 2025-11-20T10:00:00-05:00 explorer → gold (threshold reached)",
            "rollover 2025-11-20T10:00:00-05:00 20 xp_earned carried into the next period",
            "rollover 2026-11-20T10:00:00-05:00 20 xp_earned carried into the next period",
        ]
    );
    assert_eq!(run.tier("bob"), "gold");
    assert_eq!(run.member("bob").measures, [d("20")]);
}

/// Replays `events` (CSV) over `program` through the end of `day`; the
/// engine as it then stands.
fn engine_after<'p>(program: &'p loyalty::compile::Program, events: &str, day: &str) -> Engine<'p> {
    let lines: Vec<&str> = events.lines().map(str::trim).collect();
    let text = lines.join("\n");
    let records = loyalty::events::read(program, Format::Csv, text.as_bytes(), "t.csv");
    let until = day.parse::<Until>().unwrap().instant(program.timezone);
    let options = Options {
        order: Order::Sort,
        until: Some(until),
        strict: false,
    };
    let run = loyalty::run::Run::new(program, options);
    run.replay(Box::new(records), Sinks::none()).unwrap().engine
}

#[test]
fn a_member_whose_reviews_can_change_nothing_has_none_queued_until_its_next_event() {
    let program = loyalty::compile::compile(PROGRAM_YEAR).unwrap().0;
    // Ann flies once, keeps gold a year, drops to blue on 1 April 2026 and
    // then has nothing to review: blue with no miles stays blue.
    let quiet = "id,time,member,type,amount
                 e1,2024-06-01 09:00,ann,enroll,
                 e2,2025-03-15 10:00,ann,purchase,1200";
    let engine = engine_after(&program, quiet, "2026-04-30");
    assert_eq!(engine.member("ann").unwrap().tier(), 0);
    // Nothing queued: moving the clock a millennium does no work.
    assert_eq!(engine.queued_clock_work(), 0);
    // Her next purchase, 30 years on, queues the review of its tier year
    // again, and she is reviewed as if every review had run: gold from
    // the flight, blue again at the April 2057 review (the tier year from
    // 1 April 2056 earned 1200, so 1 April 2057 keeps gold; 2058 drops).
    let later = format!("{quiet}\n e3,2056-05-01 10:00,ann,purchase,1200");
    let run = run_until(PROGRAM_YEAR, &later, "2058-12-31");
    assert_eq!(
        run.rows("ann", &["tier_change"]),
        [
            "tier_change 2024-06-01T09:00:00-04:00 joined at blue",
            "tier_change 2025-03-15T10:00:00-04:00 blue → gold (threshold reached)",
            "tier_change 2026-04-01T00:00:00-04:00 gold → blue (not requalified)",
            "tier_change 2056-05-01T10:00:00-04:00 blue → gold (threshold reached)",
            "tier_change 2058-04-01T00:00:00-04:00 gold → blue (not requalified)",
        ]
    );
    let engine = engine_after(&program, &later, "2056-05-01");
    assert_eq!(engine.queued_clock_work(), 1);
}
