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
