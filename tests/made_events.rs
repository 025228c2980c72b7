//! Rules on the events loyalty makes itself, against `docs/semantics.md`
//! ("Events loyalty makes"): `on birthday`, `on anniversary` and `on
//! month_start`, which the clock makes at local midnight of the member's
//! day when it passes it, and `on upgrade`, which the engine makes when a
//! member moves up a tier. The rules run on them as on any event
//! (conditions, tiers, limits). Expected figures are worked out by hand in
//! the comments.

mod support;

use loyalty::engine::replay::Order;
use support::{d, run, run_in_shards, run_until};

/// The event column of the rows `rule` wrote, in ledger order.
fn events_of<'r>(run: &'r support::Run, rule: &str) -> Vec<&'r str> {
    run.ledger
        .iter()
        .filter(|r| r.rule == rule)
        .map(|r| r.event.as_str())
        .collect()
}

const CAKE: &str = ny!(r#"
member {
  birthday: optional date
}
points stars {
  precision 0
}
tiers by stars earned over calendar year {
  tier green from 0
  tier gold  from 300
  downgrade never
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
rule birthday_gift {
  on birthday
  earn 100 stars times tier { green: 1, gold: 2 }
}
"#);

#[test]
fn a_birthday_rule_fires_at_local_midnight_with_the_tier_held_then() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07
                  e2,2025-02-01 10:00,ann,purchase,250,
                  e3,2025-03-07 00:00,ann,purchase,10,
                  e4,2026-06-01 10:00,ann,purchase,5,";
    let run = run(CAKE, events);
    // 7 March 2025, 00:00 New York (-05:00): 100 × 1 (green), 250 + 100 =
    // 350 crosses 300, so gold at once. The purchase at that same instant
    // comes after the clock's work. On 7 March 2026 she is gold: 100 × 2.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-02-01T10:00:00-05:00 250 =250 base",
            "earn 2025-03-07T00:00:00-05:00 100 =350 birthday_gift",
            "tier_change 2025-03-07T00:00:00-05:00 green → gold (threshold reached)",
            "earn 2025-03-07T00:00:00-05:00 10 =360 base",
            "earn 2026-03-07T00:00:00-05:00 200 =560 birthday_gift",
            "earn 2026-06-01T10:00:00-04:00 5 =565 base",
        ]
    );
    // No record made it: the event column names the day.
    assert_eq!(
        events_of(&run, "birthday_gift"),
        ["birthday:2025-03-07", "birthday:2026-03-07"]
    );
}

#[test]
fn a_29_february_birthday_is_kept_on_the_28th_in_other_years() {
    let events = "id,time,member,type,amount,birthday
                  e1,2027-01-05 09:00,bob,enroll,,2000-02-29
                  e2,2028-12-01 10:00,bob,purchase,1,";
    let run = run(CAKE, events);
    assert_eq!(
        run.rows("bob", &["earn"]),
        [
            "earn 2027-02-28T00:00:00-05:00 100 =100 birthday_gift",
            "earn 2028-02-29T00:00:00-05:00 100 =200 birthday_gift",
            "earn 2028-12-01T10:00:00-05:00 1 =201 base",
        ]
    );
}

#[test]
fn a_member_enrolled_on_the_day_or_telling_it_later_waits_for_the_next_one() {
    // Cy enrols at 08:00 on his birthday: it started at midnight, before
    // him; his first is a year on. Dee gives hers in a profile on 1 March,
    // after it (14 February): her first is in 2026. Eve gives hers before it.
    let events = "id,time,member,type,amount,birthday
                  e1,2025-04-02 08:00,cy,enroll,,1980-04-02
                  e2,2025-01-10 09:00,dee,enroll,,
                  e3,2025-03-01 09:00,dee,profile,,1985-02-14
                  e4,2025-01-10 09:00,eve,enroll,,
                  e5,2025-03-01 09:00,eve,profile,,1985-05-20
                  e6,2026-12-31 09:00,cy,purchase,1,";
    let run = run(CAKE, events);
    let gifts = |member| run.rows(member, &["earn"]);
    assert_eq!(
        gifts("cy"),
        [
            "earn 2026-04-02T00:00:00-04:00 100 =100 birthday_gift",
            "earn 2026-12-31T09:00:00-05:00 1 =101 base",
        ]
    );
    assert_eq!(
        gifts("dee"),
        ["earn 2026-02-14T00:00:00-05:00 100 =100 birthday_gift"]
    );
    assert_eq!(
        gifts("eve"),
        [
            "earn 2025-05-20T00:00:00-04:00 100 =100 birthday_gift",
            "earn 2026-05-20T00:00:00-04:00 100 =200 birthday_gift",
        ]
    );
}

#[test]
fn a_day_fires_only_when_the_clock_passes_it() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07
                  e2,2025-03-06 23:59,ann,purchase,1,";
    // The clock stops at the last event: 7 March has not come.
    assert_eq!(run(CAKE, events).balance("ann", "stars"), d("1"));
    // `--until` moves it on: through the end of 7 March.
    assert_eq!(
        run_until(CAKE, events, "2025-03-07").balance("ann", "stars"),
        d("101")
    );
}

#[test]
fn a_member_idle_for_fifty_years_gets_one_award_a_year_and_one_day_queued() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07";
    let run = run_until(CAKE, events, "2074-12-31");
    // 2025 to 2074: 50 birthdays, 100 stars each: 100 a year never
    // reaches gold's 300, so green throughout: 50 × 100.
    assert_eq!(run.rows("ann", &["earn"]).len(), 50);
    assert_eq!(run.balance("ann", "stars"), d("5000"));
    assert_eq!(run.tier("ann"), "green");
    // What is left queued is the next birthday only: moved on two years,
    // the clock pays 2075's and 2076's.
    assert_eq!(
        run.afterwards
            .iter()
            .map(|r| r.time.as_str())
            .collect::<Vec<_>>(),
        ["2075-03-07T00:00:00-05:00", "2076-03-07T00:00:00-05:00"]
    );
}

#[test]
fn limits_conditions_and_effective_apply_to_a_day_as_to_any_event() {
    let program = r#"program "Test" {
  currency EUR
  timezone "Europe/Berlin"
  effective 2025-03-01
}
points coins {
  precision 2
}
rule base {
  on purchase
  earn 1 coins per 1 EUR of amount
}
rule loyal_year {
  on anniversary where balance of coins >= 10
  earn 12.5 coins
  limit 2 per member per lifetime
}
"#;
    let events = "id,time,member,type,amount,points,points_type,reason
                  e1,2024-02-29 12:00,ann,enroll,,,,
                  e2,2024-03-01 12:00,bob,enroll,,,,
                  e3,2025-01-10 12:00,ann,adjust,,20,coins,welcome
                  e4,2025-03-10 12:00,bob,purchase,9.99,,,";
    let run = run_until(program, events, "2029-12-31");
    // Ann enrolled on 29 February 2024 and holds 20 coins from an adjust:
    // her anniversaries are 28 February 2025 (before `effective`: no rule
    // fires), 2026 and 2027 (12.5 each), then the lifetime limit of 2 is
    // reached. Bob's balance, 9.99, is below 10 on every anniversary.
    assert_eq!(
        run.rows("ann", &["earn", "adjust"]),
        [
            "adjust 2025-01-10T12:00:00+01:00 20 =20",
            "earn 2026-02-28T00:00:00+01:00 12.5 =32.5 loyal_year",
            "earn 2027-02-28T00:00:00+01:00 12.5 =45 loyal_year",
        ]
    );
    assert_eq!(run.balance("bob", "coins"), d("9.99"));
    assert_eq!(
        events_of(&run, "loyal_year"),
        ["anniversary:2026-02-28", "anniversary:2027-02-28"]
    );
}

#[test]
fn a_midnight_the_clocks_skip_is_the_first_instant_of_the_day() {
    // São Paulo skipped 4 November 2018 00:00 to 01:00: the day starts at
    // 01:00 -02:00.
    let program = r#"program "Test" {
  currency BRL
  timezone "America/Sao_Paulo"
}
member {
  birthday: date
}
points pts
rule gift {
  on birthday
  earn 7 pts
}
"#;
    let events = "id,time,member,type,birthday
                  e1,2018-01-05 09:00,ann,enroll,1970-11-04";
    let run = run_until(program, events, "2018-11-04");
    assert_eq!(
        run.rows("ann", &["earn"]),
        ["earn 2018-11-04T01:00:00-02:00 7 =7 gift"]
    );
}

#[test]
fn sorted_streamed_late_and_sharded_runs_agree() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07
                  e2,2025-01-06 09:00,bob,enroll,,
                  e3,2025-02-02 10:00,bob,profile,,2000-02-29
                  e4,2025-03-07 00:00,ann,purchase,10,
                  e5,2025-02-01 10:00,ann,purchase,250,
                  e6,2025-01-07 10:00,cy,enroll,,1999-12-31
                  e7,2026-06-01 10:00,ann,purchase,5,";
    let sorted = run(CAKE, events);
    // Ann's late purchase (e5, read after e4) re-runs her: her birthday
    // is paid again as gold-to-be: 100, then gold from 350.
    assert_eq!(sorted.balance("ann", "stars"), d("565"));
    assert_eq!(sorted.balance("bob", "stars"), d("200"));
    assert_eq!(sorted.balance("cy", "stars"), d("100"));
    let streamed = run_in_shards(CAKE, events, Order::Stream, None, None);
    assert_eq!(streamed.members, sorted.members);
    let sharded = run_in_shards(CAKE, events, Order::Sort, None, Some(2));
    assert_eq!(sharded.ledger, sorted.ledger);
    assert_eq!(sharded.members, sorted.members);
}

#[test]
fn a_record_cannot_be_a_birthday() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07
                  e2,2025-02-01 10:00,ann,birthday,,";
    let run = run(CAKE, events);
    assert_eq!(run.reject_lines(), [3]);
    assert_eq!(
        run.rejects[0].1,
        "`birthday` events are made by loyalty itself: a record cannot be one"
    );
}

#[test]
fn explain_tells_a_day_as_an_event_of_its_own() {
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-07
                  e2,2025-03-08 10:00,ann,purchase,10,";
    let text = support::explain(CAKE, events, "ann");
    assert!(
        text.contains(
            "2025-03-07 00:00  birthday birthday:2025-03-07\n  ✓ birthday_gift: 100 × 1 = 100 stars\n"
        ),
        "{text}"
    );
}

#[test]
fn at_its_midnight_a_day_comes_after_the_member_s_other_clock_work() {
    let program = ny!(r#"
member {
  birthday: date
}
points stars {
  expire at end of month
}
tiers by stars earned over calendar month {
  tier blue   from 0
  tier silver from 100
  downgrade at period end, at most 1 level
}
rule spend {
  on purchase
  earn 1 stars per full 1 USD of amount
}
rule gift {
  on birthday where balance of stars = 0
  earn 10 stars times tier { blue: 1, silver: 5 }
}
"#);
    let events = "id,time,member,type,amount,birthday
                  e1,2025-01-05 09:00,ann,enroll,,1990-03-01
                  e2,2025-02-10 10:00,ann,purchase,150,";
    let run = run_until(program, events, "2025-03-01");
    // 1 March 00:00: February's 150 stars expire and February is reviewed
    // (150 keeps silver) before the birthday, whose rule sees a balance of
    // 0 and silver: 10 × 5 = 50.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at blue",
            "earn 2025-02-10T10:00:00-05:00 150 =150 spend",
            "tier_change 2025-02-10T10:00:00-05:00 blue → silver (threshold reached)",
            "expire 2025-03-01T00:00:00-05:00 -150 =0",
            "earn 2025-03-01T00:00:00-05:00 50 =50 gift",
        ]
    );
}

#[test]
fn a_month_start_rule_fires_on_the_first_of_each_month_within_its_limit() {
    let program = r#"program "Monthly" {
  currency EUR
  timezone "Europe/Paris"
  effective 2025-01-01
}
points coins {
  precision 2
}
tiers by coins earned over calendar month {
  tier basic from 0
  tier plus  from 50
}
rule base {
  on purchase
  earn 1 coins per 1 EUR of amount
}
rule plus_monthly {
  on month_start where tier >= plus
  earn 5 coins
  limit 3 per member per year
}
"#;
    let events = "id,time,member,type,amount
                  e1,2025-01-31 23:30,ann,enroll,
                  e2,2025-02-01 00:00,ann,purchase,60
                  e3,2025-03-10 10:00,ann,purchase,60
                  e4,2025-04-10 10:00,ann,purchase,60
                  e5,2025-05-10 10:00,ann,purchase,60
                  e6,2025-03-15 10:00,bob,enroll,";
    let run = run_until(program, events, "2025-07-01");
    // 1 February 00:00 is ann's first month start (she enrolled the night
    // before): basic, nothing; her purchase at that instant comes after it
    // and makes her plus. 1 March, April and May: each month's review keeps
    // plus (60 or more earned), then 5 coins. 1 June: the limit of 3 a year
    // is reached. 1 July: June earned nothing, so basic, and nothing. Bob,
    // basic throughout, gets nothing.
    assert_eq!(
        run.rows("ann", &["earn"]),
        [
            "earn 2025-02-01T00:00:00+01:00 60 =60 base",
            "earn 2025-03-01T00:00:00+01:00 5 =65 plus_monthly",
            "earn 2025-03-10T10:00:00+01:00 60 =125 base",
            "earn 2025-04-01T00:00:00+02:00 5 =130 plus_monthly",
            "earn 2025-04-10T10:00:00+02:00 60 =190 base",
            "earn 2025-05-01T00:00:00+02:00 5 =195 plus_monthly",
            "earn 2025-05-10T10:00:00+02:00 60 =255 base",
        ]
    );
    assert_eq!(run.tier("ann"), "basic");
    assert_eq!(run.balance("bob", "coins"), d("0"));
    assert_eq!(
        events_of(&run, "plus_monthly"),
        [
            "month_start:2025-03-01",
            "month_start:2025-04-01",
            "month_start:2025-05-01"
        ]
    );
}

const CLIMB: &str = ny!(r#"
points stars {
  precision 0
}
tiers by stars earned over calendar year {
  tier green  from 0
  tier silver from 100
  tier gold   from 600
  downgrade at period end, at most 1 level
  status match up to gold
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
rule silver_welcome {
  on upgrade where tier = silver
  earn 500 stars
  limit 1 per member per lifetime
}
rule gold_welcome {
  on upgrade where tier = gold
  earn 50 stars
}
"#);

/// Ann enrols and buys for `amount` USD on 1 February 2025; Bob enrols
/// and is matched to gold on 1 March, until 30 June.
fn climbers(amount: u32) -> String {
    format!(
        "id,time,member,type,amount,tier,reason,until
         e1,2025-01-05 09:00,ann,enroll,,,,
         e2,2025-02-01 10:00,ann,purchase,{amount},,,
         e3,2025-01-06 09:00,bob,enroll,,,,
         e4,2025-03-01 09:00,bob,set_tier,,gold,rival card,2025-06-30"
    )
}

/// A run of `program` through `until`, which a sharded run must repeat.
fn run_alike(program: &str, events: &str, until: &str) -> support::Run {
    let run = run_until(program, events, until);
    let sharded = run_in_shards(program, events, Order::Sort, Some(until), Some(2));
    assert_eq!(sharded.ledger, run.ledger);
    run
}

#[test]
fn an_upgrade_runs_its_rules_after_what_moved_the_member_and_chains() {
    let run = run_alike(CLIMB, &climbers(150), "2027-01-31");
    // Ann: 150 stars make her silver; then the upgrade's rules: 500 (the
    // welcome to silver), which make 650 and gold; that upgrade's rules:
    // 50. 2025 keeps gold (700); 2026 earns nothing, so silver from 1
    // January 2027: a downgrade runs no rule.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-02-01T10:00:00-05:00 150 =150 base",
            "tier_change 2025-02-01T10:00:00-05:00 green → silver (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 500 =650 silver_welcome",
            "tier_change 2025-02-01T10:00:00-05:00 silver → gold (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 50 =700 gold_welcome",
            "tier_change 2027-01-01T00:00:00-05:00 gold → silver (not requalified)",
        ]
    );
    assert_eq!(events_of(&run, "silver_welcome"), ["upgrade:2025-02-01"]);
    // Bob's status match moves him from green to gold: 50, and no
    // welcome to silver, a tier he never held.
    assert_eq!(
        run.rows("bob", &["earn"]),
        ["earn 2025-03-01T09:00:00-05:00 50 =50 gold_welcome"]
    );
}

#[test]
fn an_upgrade_the_clock_makes_runs_its_rules_at_that_instant() {
    let program = ny!(r#"
points miles {
  precision 0
}
tiers by miles earned over calendar year {
  tier blue   from 0
  tier silver from 100
  upgrade at period end
}
rule flown {
  on purchase
  earn 1 miles per 1 USD of amount
}
rule silver_gift {
  on upgrade
  earn 25 miles
}
"#);
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-05-01 10:00,ann,purchase,150";
    let run = run_until(program, events, "2026-01-01");
    // Silver is earned in 2025 and given when the year ends: the gift at
    // 1 January 2026 00:00, with the clock's upgrade.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at blue",
            "earn 2025-05-01T10:00:00-04:00 150 =150 flown",
            "tier_change 2026-01-01T00:00:00-05:00 blue → silver (requalified upward)",
            "earn 2026-01-01T00:00:00-05:00 25 =175 silver_gift",
        ]
    );
    assert_eq!(events_of(&run, "silver_gift"), ["upgrade:2026-01-01"]);
}

#[test]
fn a_rule_on_upgrade_without_two_tiers_never_fires() {
    let program = ny!(r#"
points stars
rule welcome {
  on upgrade
  earn 5 stars
}
"#);
    let found: Vec<(String, String)> = support::checked(program)
        .into_iter()
        .map(|d| (d.code.to_string(), d.message))
        .collect();
    assert_eq!(
        found,
        [(
            "never-fires".to_string(),
            "this rule can never fire: no member can move between tiers without two tiers"
                .to_string()
        )]
    );
}

/// [`CLIMB`] with vouchers for reaching gold from below, and for each
/// step down: the rules on tier changes come after those on upgrades.
fn moves() -> String {
    format!(
        "{CLIMB}points vouchers {{\n  precision 0\n}}\n\
         rule welcome_gold {{\n  on tier_change where previous_tier < gold and tier >= gold\n  earn 2 vouchers\n}}\n\
         rule sorry {{\n  on tier_change where tier < previous_tier\n  earn 1 vouchers\n}}\n"
    )
}

#[test]
fn a_tier_change_fires_on_moves_up_and_down_and_reads_the_tier_left() {
    let run = run_alike(&moves(), &climbers(350), "2028-01-31");
    // Ann: 350 stars make her silver. The upgrade's rules first (the
    // welcome to silver, 500: 850, gold), then its tier change's (green to
    // silver: no voucher). Then the move to gold: its upgrade's 50, and its
    // tier change from silver < gold to gold, 2 vouchers. 2025 keeps gold
    // on 1 January 2026 (900 >= 600); 2026 earns nothing: silver on 1
    // January 2027 (gold > silver: 1 voucher; no upgrade), and green on 1
    // January 2028 (1 more).
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-02-01T10:00:00-05:00 350 =350 base",
            "tier_change 2025-02-01T10:00:00-05:00 green → silver (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 500 =850 silver_welcome",
            "tier_change 2025-02-01T10:00:00-05:00 silver → gold (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 50 =900 gold_welcome",
            "earn 2025-02-01T10:00:00-05:00 2 =2 welcome_gold",
            "tier_change 2027-01-01T00:00:00-05:00 gold → silver (not requalified)",
            "earn 2027-01-01T00:00:00-05:00 1 =3 sorry",
            "tier_change 2028-01-01T00:00:00-05:00 silver → green (not requalified)",
            "earn 2028-01-01T00:00:00-05:00 1 =4 sorry",
        ]
    );
    assert_eq!(run.balance("ann", "vouchers"), d("4"));
    // Bob: the status match moves him from green to gold (upgrade: 50
    // stars; welcome: 2 vouchers). The match lapses after 30 June; 2025's
    // 50 stars keep nothing, so silver on 1 January 2026 (sorry, 1), and
    // green on 1 January 2027 (sorry, 1).
    assert_eq!(
        run.rows("bob", &["earn"]),
        [
            "earn 2025-03-01T09:00:00-05:00 50 =50 gold_welcome",
            "earn 2025-03-01T09:00:00-05:00 2 =2 welcome_gold",
            "earn 2026-01-01T00:00:00-05:00 1 =3 sorry",
            "earn 2027-01-01T00:00:00-05:00 1 =4 sorry",
        ]
    );
    // Bob's 2026 step down, Ann's and Bob's 2027, Ann's 2028.
    assert_eq!(
        events_of(&run, "sorry"),
        [
            "tier_change:2026-01-01",
            "tier_change:2027-01-01",
            "tier_change:2027-01-01",
            "tier_change:2028-01-01"
        ]
    );
}

/// A program in New York time whose stars, a star per dollar, make its
/// tiers over `window_and_tiers` (`calendar year { ... }`), with `rules`
/// after the one on purchases.
fn stars_earned_by_purchases(window_and_tiers: &str, rules: &str) -> String {
    format!(
        "{}points stars {{\n  precision 0\n}}\ntiers by stars earned over {window_and_tiers}\n\
         rule base {{\n  on purchase\n  earn 1 stars per 1 USD of amount\n}}\n{rules}\n",
        ny!("")
    )
}

#[test]
fn a_tier_change_award_that_lifts_the_member_makes_another_tier_change() {
    let program = &stars_earned_by_purchases(
        "calendar year {
  tier green  from 0
  tier silver from 100
  tier gold   from 600
  tier black  from 5000
  downgrade never
}",
        "rule step {
  on tier_change where tier > previous_tier
  earn 500 stars
  limit 2 per member per lifetime
}",
    );
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-02-01 10:00,ann,purchase,150";
    let run = run(program, events);
    // 150: silver; its tier change pays 500 (650): gold; that one pays
    // 500 (1150), which lifts no one (black at 5000); the limit of 2 is
    // reached, so the chain would stop there anyway.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-02-01T10:00:00-05:00 150 =150 base",
            "tier_change 2025-02-01T10:00:00-05:00 green → silver (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 500 =650 step",
            "tier_change 2025-02-01T10:00:00-05:00 silver → gold (threshold reached)",
            "earn 2025-02-01T10:00:00-05:00 500 =1150 step",
        ]
    );
}

#[test]
fn previous_tier_is_only_for_rules_on_tier_changes() {
    let found = support::checked(&format!(
        "{CLIMB}rule odd {{\n  on purchase where previous_tier < gold\n  earn 5 stars\n}}\n\
         rule typo {{\n  on tier_change where previus_tier < gold\n  earn 5 stars\n}}\n"
    ));
    // On a purchase: the tier left is no one's, and `gold` is read as a
    // tier all the same.
    assert_eq!(found[0].code, "wrong-event");
    assert_eq!(
        found[0].message,
        "`previous_tier` is the tier a member left, but this rule is on `purchase`"
    );
    // Misspelt: a did-you-mean (and `gold`, which only `tier` or
    // `previous_tier` make a tier, unknown too).
    assert_eq!(found[1].code, "unknown-name");
    let help = found[1].help.as_deref().unwrap_or_default();
    assert!(help.contains("`previous_tier`"), "{help}");
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn explain_tells_a_tier_change_and_why_its_rules_fired() {
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-02-01 10:00,ann,purchase,150";
    let text = support::explain(&moves(), events, "ann");
    // Her move to silver (whose upgrade's award moves her on to gold) is
    // no welcome to gold; her move to gold is.
    assert!(
        text.contains(
            "2025-02-01 10:00  tier_change tier_change:2025-02-01\n  \
             ✗ welcome_gold: `tier >= gold` is false\n  \
             ✗ sorry: `tier < previous_tier` is false\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "2025-02-01 10:00  tier_change tier_change:2025-02-01\n  \
             ✓ welcome_gold: 2 = 2 vouchers\n  \
             ✗ sorry: `tier < previous_tier` is false\n"
        ),
        "{text}"
    );
}

/// Two points types expiring in two ways; the rules on expiry come last
/// and tell the types apart by `points_type`.
const LAPSES: &str = ny!(r#"
points stars {
  precision 0
  expire 3 months after earn at end of month
}
points coins {
  precision 0
  expire after 2 months without activity
}
rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}
rule coin {
  on purchase
  earn 5 coins
}
rule we_miss_you {
  on expiry where points_type = "stars" and expired >= 100
  earn 50 stars
}
rule coins_to_stars {
  on expiry where points_type = "coins"
  earn 1 stars per 1 of expired
}
"#);

#[test]
fn an_expiry_runs_its_rules_once_per_instant_with_the_points_expired() {
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-01-06 09:00,bob,enroll,
                  e3,2025-01-10 10:00,ann,purchase,150
                  e4,2025-01-10 11:00,bob,purchase,80
                  e5,2025-01-20 10:00,ann,purchase,30";
    let run = run_alike(LAPSES, events, "2025-06-15");
    // Ann's coins: 5 + 5, her last coin on 20 January, so both go at 20
    // March 10:00 (-04:00 by then): one expiry of 10 coins, 10 stars. Her
    // stars of 10 and 20 January both expire at the end of April: one
    // expiry of 180 at 1 May 00:00, so 50 stars (the 10 stars of 20 March
    // last until the end of June).
    assert_eq!(
        run.rows("ann", &[]),
        [
            "earn 2025-01-10T10:00:00-05:00 150 =150 base",
            "earn 2025-01-10T10:00:00-05:00 5 =5 coin",
            "earn 2025-01-20T10:00:00-05:00 30 =180 base",
            "earn 2025-01-20T10:00:00-05:00 5 =10 coin",
            "expire 2025-03-20T10:00:00-04:00 -5 =5",
            "expire 2025-03-20T10:00:00-04:00 -5 =0",
            "earn 2025-03-20T10:00:00-04:00 10 =190 coins_to_stars",
            "expire 2025-05-01T00:00:00-04:00 -150 =40",
            "expire 2025-05-01T00:00:00-04:00 -30 =10",
            "earn 2025-05-01T00:00:00-04:00 50 =60 we_miss_you",
        ]
    );
    assert_eq!(events_of(&run, "we_miss_you"), ["expiry:2025-05-01"]);
    // Bob's 5 coins go on 10 March at 11:00 (5 stars); his 80 stars on 1
    // May are fewer than 100: no consolation.
    assert_eq!(
        run.rows("bob", &["earn"]),
        [
            "earn 2025-01-10T11:00:00-05:00 80 =80 base",
            "earn 2025-01-10T11:00:00-05:00 5 =5 coin",
            "earn 2025-03-10T11:00:00-04:00 5 =85 coins_to_stars",
        ]
    );
    assert_eq!(run.balance("bob", "stars"), d("5"));
}

#[test]
fn a_late_purchase_re_runs_the_member_s_expiries_as_if_sorted() {
    // Ann's purchase of 20 January (e5) is read after one of 15 May: the
    // stream has paid her expiries of 10 March (5 coins) and 1 May (150
    // stars) by then, and the re-run makes them 20 March (10 coins) and 1
    // May (180 stars), as a sorted run does.
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e3,2025-01-10 10:00,ann,purchase,150
                  e6,2025-05-15 10:00,ann,purchase,1
                  e5,2025-01-20 10:00,ann,purchase,30";
    let sorted = run(LAPSES, events);
    // 180 + 10 + 1 stars earned, 180 expired, 10 (coins) + 50 paid.
    assert_eq!(sorted.balance("ann", "stars"), d("61"));
    assert_eq!(events_of(&sorted, "coins_to_stars"), ["expiry:2025-03-20"]);
    let streamed = run_in_shards(LAPSES, events, Order::Stream, None, None);
    assert_eq!(streamed.members, sorted.members);
}

#[test]
fn an_award_on_expiry_that_expires_in_turn_fires_again_when_it_does() {
    let program = |limit: &str| {
        format!(
            "{}points stars {{\n  precision 0\n  expire 1 months after earn\n}}\n\
             rule base {{\n  on purchase\n  earn 1 stars per 1 USD of amount\n}}\n\
             rule again {{\n  on expiry\n  earn 10 stars\n{limit}}}\n",
            ny!("")
        )
    };
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-01-15 10:00,ann,purchase,100";
    // 100 stars expire on 15 February, the 10 they pay on 15 March, the
    // next 10 on 15 April, then on 15 May: four awards by the end of May,
    // each a month apart, and 10 left.
    let unbounded = run_until(&program(""), events, "2025-05-31");
    assert_eq!(
        events_of(&unbounded, "again"),
        [
            "expiry:2025-02-15",
            "expiry:2025-03-15",
            "expiry:2025-04-15",
            "expiry:2025-05-15"
        ]
    );
    assert_eq!(unbounded.balance("ann", "stars"), d("10"));
    // Two a year: the 10 of 15 March expire on 15 April and pay nothing.
    let limited = run_until(
        &program("  limit 2 per member per year\n"),
        events,
        "2025-05-31",
    );
    assert_eq!(
        events_of(&limited, "again"),
        ["expiry:2025-02-15", "expiry:2025-03-15"]
    );
    assert_eq!(limited.balance("ann", "stars"), d("0"));
}

#[test]
fn explain_tells_an_expiry_with_what_expired() {
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e3,2025-01-10 10:00,ann,purchase,150";
    let text = support::explain_until(LAPSES, events, "ann", Some("2025-05-31"));
    assert!(
        text.contains("2025-05-01 00:00  expiry expiry:2025-05-01: expired 150, points_type \"stars\"\n  ✓ we_miss_you: "),
        "{text}"
    );
}

#[test]
fn a_record_cannot_be_an_expiry() {
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-02-01 10:00,ann,expiry,";
    let run = run(LAPSES, events);
    assert_eq!(
        run.rejects[0].1,
        "`expiry` events are made by loyalty itself: a record cannot be one"
    );
}

#[test]
fn a_tier_period_start_fires_at_each_review_idle_members_included() {
    let program = &stars_earned_by_purchases(
        "calendar year {
  tier green  from 0
  tier silver from 100
  tier gold   from 300
  downgrade at period end, at most 1 level
}",
        "rule loyal {
  on tier_period_start
  earn 1 stars
}
rule new_year {
  on tier_period_start where tier >= silver
  earn 150 stars
}",
    );
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-01-06 09:00,bob,enroll,
                  e3,2025-02-01 10:00,ann,purchase,350";
    let run = run_alike(program, events, "2028-01-31");
    // Ann: gold by 350. 1 January 2026: 2025 keeps gold, then the new
    // year starts: 1 and 150, which count toward 2026 (151). 1 January
    // 2027: 151 < 300, down to silver, then 1 and 150 (silver); 2028: 151
    // keeps silver, 1 and 150 again. The year she enrolled in is no start.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-02-01T10:00:00-05:00 350 =350 base",
            "tier_change 2025-02-01T10:00:00-05:00 green → gold (threshold reached)",
            "earn 2026-01-01T00:00:00-05:00 1 =351 loyal",
            "earn 2026-01-01T00:00:00-05:00 150 =501 new_year",
            "tier_change 2027-01-01T00:00:00-05:00 gold → silver (not requalified)",
            "earn 2027-01-01T00:00:00-05:00 1 =502 loyal",
            "earn 2027-01-01T00:00:00-05:00 150 =652 new_year",
            "earn 2028-01-01T00:00:00-05:00 1 =653 loyal",
            "earn 2028-01-01T00:00:00-05:00 150 =803 new_year",
        ]
    );
    // Bob never buys, green at his floor: his reviews would change
    // nothing, but each year's start is his too.
    assert_eq!(
        run.rows("bob", &["earn"]),
        [
            "earn 2026-01-01T00:00:00-05:00 1 =1 loyal",
            "earn 2027-01-01T00:00:00-05:00 1 =2 loyal",
            "earn 2028-01-01T00:00:00-05:00 1 =3 loyal",
        ]
    );
}

#[test]
fn a_qualification_year_starts_at_an_upgrade_and_its_rules_run_after_it() {
    let program = &stars_earned_by_purchases(
        "qualification year {
  tier green  from 0
  tier silver from 100
  downgrade at period end
}",
        "rule fresh_start {
  on tier_period_start where tier >= silver
  earn 20 stars
}",
    );
    let events = "id,time,member,type,amount
                  e1,2025-01-05 09:00,ann,enroll,
                  e2,2025-03-01 10:00,ann,purchase,150";
    let run = run_alike(program, events, "2026-03-31");
    // 150 make her silver, which starts a qualification year at once: 20
    // stars, the first of the new year's measure. A year later, 20 < 100:
    // green, and a year starts with nothing for green.
    assert_eq!(
        run.rows("ann", &[]),
        [
            "tier_change 2025-01-05T09:00:00-05:00 joined at green",
            "earn 2025-03-01T10:00:00-05:00 150 =150 base",
            "tier_change 2025-03-01T10:00:00-05:00 green → silver (threshold reached)",
            "earn 2025-03-01T10:00:00-05:00 20 =170 fresh_start",
            "tier_change 2026-03-01T10:00:00-05:00 silver → green (not requalified)",
        ]
    );
    assert_eq!(
        events_of(&run, "fresh_start"),
        ["tier_period_start:2025-03-01"]
    );
}

#[test]
fn a_rule_on_tier_period_start_without_periods_never_fires() {
    let rule = "rule start {\n  on tier_period_start\n  earn 5 stars\n}\n";
    let rolling = format!(
        "{}points stars\ntiers by stars earned over rolling 12 months {{\n  tier green from 0\n  tier gold from 100\n}}\n{rule}",
        ny!("")
    );
    let no_tiers = format!("{}points stars\n{rule}", ny!(""));
    for program in [rolling, no_tiers] {
        let found: Vec<String> = support::checked(&program)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(
            found,
            ["this rule can never fire: tier periods need a `tiers` block over a calendar, membership or qualification window"]
        );
    }
}

/// A program whose purchases can take the stars issued to the most loyalty
/// counts, and whose members get a star on each enrolment anniversary.
const AT_THE_LIMIT: &str = ny!(r#"
points stars {
  precision 0
}

rule big {
  on purchase
  earn 1000000000000000 stars per 0.0001 of qty
}

rule yearly {
  on anniversary
  earn 1 stars
}

event purchase {
  qty: number
}
"#);

#[test]
fn an_award_refused_at_the_limit_is_not_undone_when_a_late_event_re_runs_its_member() {
    // Ann's purchase issues 10^20 stars, the most loyalty counts: when
    // bob's purchase moves the clock past both anniversaries, each star is
    // refused. Bob's late purchase re-runs him; his re-run must take back
    // what his rows said (no star), not what re-running alone would have
    // given him.
    let events = "id,time,member,type,amount,qty
                  e1,2024-01-01 10:00,ann,enroll,,
                  e2,2024-01-02 10:00,bob,enroll,,
                  e3,2024-06-01 10:00,ann,purchase,1,10
                  e4,2025-03-01 10:00,bob,purchase,1,0
                  e5,2024-07-01 10:00,bob,purchase,1,0";
    let run = support::run_with(AT_THE_LIMIT, events, Order::Stream, None);
    for member in ["ann", "bob"] {
        let rows: Vec<_> = run.ledger.iter().filter(|r| r.member == member).collect();
        let sum: rust_decimal::Decimal = rows.iter().map(|r| r.amount).sum();
        assert_eq!(sum, run.balance(member, "stars"), "{member}: {rows:?}");
        if let Some(last) = rows.iter().rev().find(|r| !r.points.is_empty()) {
            assert_eq!(last.balance, run.balance(member, "stars"), "{member}");
        }
    }
    assert_eq!(run.balance("ann", "stars"), d("100000000000000000000"));
}
