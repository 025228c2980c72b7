//! A reference evaluator: a second, deliberately simple reading of
//! docs/semantics.md, against which the differential test checks the engine.
//!
//! It reads the **checked syntax tree** (`loyalty::syntax::ast`), not the
//! compiled IR, so that it shares nothing with `compile/lower.rs` — where
//! issue 17's bug lived (every `earn N% of R` read rule 0's award) — nor
//! with the engine: no caches, no clock queue, no packed history; buckets
//! are a plain list searched each time, periods are recomputed from dates,
//! and every amount is an exact `Decimal`. It consumes the generator's own
//! records ([`gen::GenEvent`]), never `loyalty::events::Event`.
//!
//! It lives under `tests/` because it is a test oracle: it must not share
//! code with the engine, and users of the library have no use for it.
//!
//! What it covers (and so what the generators may produce): money in
//! dollars or dinars (a purchase or return finer than the currency's minor
//! unit rejected), earning on purchases (fixed, `per` and `per full` of a field or of `amount - M
//! USD` (below zero: less than nothing), shares of any earlier rule (one
//! on another event type: always nothing), conditions over fields,
//! attributes and built-in names, `times` tables by
//! a field or the tier, exclusive groups (by the largest award or `by
//! order`), `stop`, caps per event and per member per
//! period, budgets in total and per period, limits, `during`, `min spend`,
//! rounding modes, the `effective` day), arithmetic that divides by zero
//! or overflows (an award that cannot be computed rejects the record when
//! its rule would fire, a comparison with it in a `where` or a `when` is
//! false), the 10^20 bound on each type's points issued (rules and adjust
//! credits) and on what preview rules would issue (a record past it
//! rejected), several points types (`qualifying` ones among them: earned,
//! measured, taken back, never redeemed or adjusted), `pending`
//! (the `pend` and `release` rows, only available points spent), debt paid
//! first by new earning, `expire N after earn [at end of U]`, `expire at
//! end of U [+ N]` and `expire after N days without activity` (earning,
//! redeeming, a cancel, an adjustment), redemptions of points and of
//! rewards (beyond the available balance: rejected), cancelled
//! redemptions, adjustments (credits, for a purchase or not, with a last
//! day or not; debits within the balance), returns full and partial (both
//! `on overspent return` policies, a purchase's credits taken back rounded
//! down, limits given back, tier measures reduced, expired points not
//! taken back, also those a cancelled redemption gave back), tiers of every kind
//! (in `tiers.rs`: one or two `by` measures with `from A or B`, or named
//! measures with `when` tiers and `keep when`; points earned of a type,
//! `balance of` a type (an adjust credit, a cancel or points received
//! upgrade at once), `count of purchase`, `sum of purchase.amount` (spend)
//! and `sum of purchase.qty`, counts and field sums of declared event
//! types; calendar windows of every unit, with
//! or without `from DATE`, rolling terms in days, weeks and months,
//! membership and qualification years; `keep` (zero included), downgrade
//! at period end with a step and a grace, or never; `upgrade immediately`
//! or `at period end`; lifetime status; rollover of one or several
//! measures; each policy written or left to its default), perks (for all
//! tiers, with or without a tiers block, a tier and above, a list; their
//! limits per period; `perk_grant` and `perk_use` rows), rewards priced
//! per tier, `redeem at least/at most` bounds, duplicate ids within the
//! program's window in days, unknown members and second enrolments, and
//! `--until` a day.
//!
//! Also (tests/reference/moves.rs): transfers between members (`min`, a
//! `fee` rounded up and spent, `keep expiry` or `restart expiry`, only
//! available points, a receiver's debt paid first, activity on both
//! sides) and their rejects (an unknown type, too many decimals, an
//! unknown or the same recipient, no `transfers`, below `min`, beyond the
//! available balance with the fee; not a missing field); pools (`join_pool`
//! opening one, `at most N members`, one pool of a kind per member,
//! `leave_pool`, transfers into a member's pool and out of it to its
//! members, with their dates, no minimum and no fee, never pool to pool or
//! in another type than the pool's; a pool's buckets
//! expiring as a member's, a record for a pool other than a transfer
//! rejected); `preview` rules on every event (their own caps, limits and
//! budgets counted, a `preview` row, no balance or measure; shares of
//! live rules); member attributes of every type, `optional` or not (an
//! enrolment without a required one is invalid), compared by bare name or
//! `member.x`, with `days_since_enroll` and `days_to_birthday`, in rules
//! on every event (and `hour`, `month`, `balance of` in rules on enrolment
//! and declared types); declared event types with fields of every type, some
//! `optional` (a record without a required field, with an undeclared one,
//! or of an undeclared type is invalid, rejected as read, after `--until`
//! too), and rules on them (conditions, lists and ranges, arithmetic,
//! `per [full]` of a number or money field or attribute, `12 / F` (none
//! where F is zero: rejected), shares of earlier rules on the same type or
//! another, caps,
//! limits, budgets, `during`, `stop`), a date plus or minus a duration
//! (on the calendar: a month after 31 January is the last of February),
//! `times` by a text or number field or attribute; rules `on enroll`
//! (paid after the joining `tier_change`, measured for the tier; one whose
//! award cannot be computed enrols nobody); rules `on birthday`, `on
//! anniversary` and `on month_start` (the first day whose local midnight
//! is after the enrolment, or after the `profile` that gave the birthday;
//! a 29 February kept on the 28th in other years; after the member's other
//! clock work at that instant; the event column `birthday:DAY`); rules `on
//! upgrade` (after the record or clock work that moved the member up, with
//! the new tier, in turn for the upgrades their awards make) and `on
//! tier_change` (on every move, up or down, after the upgrade's rules,
//! reading `previous_tier`) and `on expiry` (per member, type and instant
//! of the clock's expiries, after the member's other work then and before
//! their days, reading `expired` and `points_type`) and `on
//! tier_period_start` (at each start of a period but the enrolment's,
//! after the review and its moves' rules; a qualification year's at an
//! upgrade too); a member named like a pool
//! (`kind:id`: a pool of that name cannot open, and once a pool has it,
//! the member cannot enrol); `profile` records (the attributes given
//! replace the member's, a known birthday cannot change, one giving
//! nothing or an undeclared attribute is rejected) and `set_tier` records
//! under `status match up to T` (a tier above T, an unknown one, a day
//! already over: rejected; a member below the tier moves up at once, and
//! reviews and grace ends do not drop them below it until the day after
//! `until` starts); referrals (an enrolment naming its referrer: itself, a
//! member not enrolled or a pool rejected; rules with `earn ... to
//! referrer` paying the referrer, cut by their caps per event and the
//! points type's caps counted for the referrer, measured for the
//! referrer's tier after the member's own, never taken back by a return
//! nor given back to limits; `limit N per referrer`; `first purchase` and
//! `referred` in conditions).
//!
//! Also (tests/reference/baskets.rs): baskets (docs/semantics.md,
//! "Baskets"): a purchase's items, `item.amount` rounded to the minor unit
//! half away from zero, a basket rejected whole (a sku twice, a discount
//! above quantity × unit price, items above the amount; as read, after
//! `--until` too); `earn` lines per item (`per N USD of item.amount`, `per
//! [full] N items`, `where item.category ...`), each item's award cut to
//! the rule's `cap N P per item`, summed unrounded, the rule rounding once;
//! a rule of per-item lines only firing when an item is one to earn on;
//! returns naming items (a sku not the purchase's or more than is left:
//! rejected), an award earned on items giving back each item's part by
//! its quantity share and the rest by the money share. Not generated: a
//! purchase's returns mixing items and amounts only, a cap per item on a
//! rule of two per-item lines (the docs read two ways, see
//! docs/testing.md), `times` on per-item lines, `item.` fields in amounts
//! or in conditions other than the category, shares or multipliers of a
//! per-item rule, bad items other than those above.
//!
//! The language refuses some of what a reader might look for: a rule's
//! condition cannot name a tier measure (`unknown-name`:
//! tests/bad/unknown_name_measure_in_rule.loyalty). Also `multiply` (after
//! every grouped rule, as a share of a grouped rule is), caps on a points
//! type, a rule's own `expire`, and counters of purchases in conditions
//! (`count of purchase in this month`, `sum of purchase.amount over last
//! 30 days`). Not covered: counters of other event types
//! (tests/semantics.rs has one), a month's
//! sales or a measure summing a field past 10^20 (the generated amounts
//! stay small; only the points issued reach it), and `--stream`
//! (tests/properties.rs compares it with the sorted replay). Two
//! restrictions keep the contract unambiguous: rules in an exclusive group
//! earn one points type and have no cap or budget (docs/semantics.md does
//! not say which award "the largest" compares across types, nor whether a
//! losing rule's cap cut is written), and a share of a grouped rule comes
//! after every rule of that group (so the group is decided when the share
//! is computed). The cases found where engine and docs disagreed, or the
//! docs could be read two ways, are focused tests in
//! tests/differential.rs: engine bugs (`keep 0`, inactivity terms in
//! months, a perk for all tiers without tiers, a return after a
//! qualification upgrade, an award computed past a reached limit, expired
//! points a cancelled redemption gave back taken back again by a return, a
//! credit lifting a `balance of` measure that did not upgrade) fixed, and
//! what the docs now say where they were silent (restarted points are
//! spendable at once, not pending again).
//!
//! Where docs/semantics.md is silent on the form of the ledger, the
//! reference writes what the engine writes, and says so where it does: the
//! rows of a rule in the order its lines first name each points type, a cap
//! cut just before its award, a cancelled part given back as a bucket of its
//! own (a debt paid from it first) whose immediate expiry carries the
//! cancel's id, a written-off reversal's row even when nothing was there,
//! a return taking from pending buckets as from the others; `per full`
//! counting whole steps toward zero on a base below zero; an inactivity
//! expiry's rows in spending order, the expiry before a release due at the
//! same instant, its place among other ties that of the activity its check
//! waited on; a pool's rank among accounts (for clock work at one instant)
//! that of the `join_pool` that opened it; a transfer's activity (for an
//! inactivity expiry's order among ties) the giver's, then the receiver's,
//! after the rows; `pool_join` and `pool_leave` rows with no points type.

mod baskets;
pub mod gen;
mod moves;
mod tiers;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use gen::{GenEvent, Kind};
use loyalty::syntax::ast::*;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::{BTreeMap, BTreeSet};

/// One ledger row, as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub member: String,
    pub time: DateTime<Utc>,
    pub kind: String,
    pub points: String,
    pub amount: Option<Decimal>,
    pub balance: Option<Decimal>,
    pub rule: String,
    pub event: String,
    /// What a `tier_change` row moves to (the tier's name), the perk of a
    /// `perk_grant` or `perk_use` row, a `rollover` row's note; empty on
    /// other rows.
    pub note: String,
}

/// What a run produced: the ledger, the records rejected (by line: record
/// `i` of the stream is line `i + 1`), and each member's end balances,
/// tier and measure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub ledger: Vec<Row>,
    pub rejected: BTreeSet<usize>,
    pub balances: BTreeMap<(String, String), Decimal>,
    /// Each member's pending points per type at the end.
    pub pending: BTreeMap<(String, String), Decimal>,
    /// Each member's tier at the end (empty without tiers).
    pub tiers: BTreeMap<String, String>,
    /// Each member's tier measures at the end, by members.csv column.
    pub measures: BTreeMap<(String, String), Decimal>,
    /// Records after `--until`, not applied.
    pub after_until: usize,
    /// Whether the run meets one of the two known exceptions to members
    /// dealt into shards giving one engine's outcome (docs/semantics.md,
    /// "Threads"): a record rejected for taking the points issued past
    /// 10^20 (each shard checks its own members' sums), or an enrolment
    /// its rules rejected (the dealer counts it applied: its member's later
    /// records still move the shards' clock).
    pub sharded_may_differ: bool,
}

/// A points type as the reference needs it.
struct Points<'a> {
    decl: &'a PointsDecl,
    name: String,
    precision: u32,
    expire: Option<&'a Expiry>,
    pending: Option<&'a loyalty::syntax::ast::Duration>,
    /// Counted toward tiers only: never spent (docs/language.md, `points`).
    qualifying: bool,
    /// `cap N per member per P`: what every rule together may award a
    /// member of the type in a period.
    caps: Vec<(Decimal, Period)>,
}

/// The program, read off the tree.
pub struct Program<'a> {
    file: &'a File,
    tiers: Option<tiers::Model>,
    /// Perks, tier prices, redemption bounds.
    extras: tiers::Extras,
    tz: Tz,
    effective: Option<NaiveDate>,
    write_off: bool,
    /// `reject duplicate ids within N days` (the generator writes days).
    duplicate_days: i64,
    /// The decimals of the currency's minor unit (ISO 4217: USD 2, KWD 3):
    /// an amount finer than it is no amount.
    money_decimals: u32,
    points: Vec<Points<'a>>,
    rules: Vec<&'a RuleDecl>,
    /// Reward name: price and points type.
    rewards: BTreeMap<String, (Decimal, String)>,
}

impl<'a> Program<'a> {
    /// Whether a purchase's or a return's amount is money in the
    /// program's currency: no finer than its minor unit.
    fn is_money(&self, e: &GenEvent) -> bool {
        match &e.kind {
            Kind::Purchase { amount, .. } | Kind::Return { amount, .. } => {
                amount.round_dp(self.money_decimals) == *amount
            }
            _ => true,
        }
    }

    /// Reads a program that `check` accepted.
    pub fn new(file: &'a File) -> Program<'a> {
        let mut program = Program {
            file,
            tiers: None,
            extras: tiers::Extras::default(),
            tz: Tz::UTC,
            effective: None,
            write_off: false,
            duplicate_days: 30,
            money_decimals: 2,
            points: Vec::new(),
            rules: Vec::new(),
            rewards: BTreeMap::new(),
        };
        for item in &file.items {
            match item {
                Item::Program(p) => {
                    for s in &p.settings {
                        match &s.node {
                            ProgramSetting::Timezone(z) => {
                                program.tz = z.node.parse().unwrap_or(Tz::UTC);
                            }
                            ProgramSetting::Effective(d) => program.effective = Some(d.node),
                            ProgramSetting::Currency(c) => {
                                program.money_decimals = match c.node.as_str() {
                                    "JPY" => 0,
                                    "KWD" => 3,
                                    _ => 2,
                                };
                            }
                            ProgramSetting::Overspent(o) => {
                                program.write_off = *o == OverspentPolicy::WriteOff;
                            }
                            ProgramSetting::DuplicateWindow(d) => {
                                program.duplicate_days =
                                    i64::try_from(d.count.node.mantissa()).unwrap_or(30);
                            }
                            _ => {}
                        }
                    }
                }
                Item::Points(p) => {
                    let mut points = Points {
                        decl: p,
                        name: p.name.node.clone(),
                        precision: 0,
                        expire: None,
                        pending: None,
                        qualifying: false,
                        caps: Vec::new(),
                    };
                    for s in &p.settings {
                        match &s.node {
                            PointsSetting::Precision(n) => {
                                points.precision = u32::try_from(n.node.mantissa()).unwrap_or(0);
                            }
                            PointsSetting::Expire(e) => points.expire = Some(e),
                            PointsSetting::Pending(d) => points.pending = Some(d),
                            PointsSetting::Qualifying => points.qualifying = true,
                            PointsSetting::Cap { amount, period } => {
                                points.caps.push((amount.node, period.node));
                            }
                            _ => {}
                        }
                    }
                    program.points.push(points);
                }
                Item::Rule(r) => program.rules.push(r),
                Item::Tiers(t) => program.tiers = Some(tiers::Model::new(t)),
                Item::Reward(r) => {
                    for s in &r.settings {
                        if let RewardSetting::Price {
                            amount,
                            points,
                            tiers,
                        } = &s.node
                        {
                            if !tiers.is_empty() {
                                continue;
                            }
                            program
                                .rewards
                                .insert(r.name.node.clone(), (amount.node, points.node.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        program.extras = tiers::Extras::new(file, program.tiers.as_ref());
        program
    }

    pub fn precision(&self, points: &str) -> u32 {
        self.points
            .iter()
            .find(|p| p.name == points)
            .map_or(0, |p| p.precision)
    }

    /// A local time as an instant: a time the clocks skip is read with the
    /// offset before the jump, a repeated one is the earlier instant.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
            LocalResult::None => {
                let before = self
                    .tz
                    .offset_from_utc_datetime(&(local - Duration::days(1)))
                    .fix();
                (local - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc()
            }
        }
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
    }

    /// The term of an `expire after N without activity` type.
    fn inactivity(&self, points: &str) -> Option<&loyalty::syntax::ast::Duration> {
        match self.points.iter().find(|p| p.name == points)?.expire? {
            Expiry::Inactivity(term) => Some(term),
            _ => None,
        }
    }

    /// Whether points of this type only count toward tiers: redeeming
    /// them, or adjusting them, is rejected (docs/semantics.md,
    /// "Adjustments" and `not_allowed`).
    fn qualifying(&self, points: &str) -> bool {
        self.points.iter().any(|p| p.name == points && p.qualifying)
    }

    /// Whether points of this type are pending first.
    fn pends(&self, points: &str) -> bool {
        self.points
            .iter()
            .any(|p| p.name == points && p.pending.is_some())
    }

    /// When points earned at `t` can be spent (`pending`).
    fn available_at(&self, points: &str, t: DateTime<Utc>) -> DateTime<Utc> {
        self.points
            .iter()
            .find(|p| p.name == points)
            .and_then(|p| p.pending)
            .and_then(|term| add(self.local(t), term))
            .map_or(t, |at| self.instant(at))
    }

    /// When a bucket earned at `t` expires, by its type's `expire` line.
    fn expiry(&self, points: &str, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expiry_by(self.points.iter().find(|p| p.name == points)?.expire?, t)
    }

    /// When a bucket earned at `t` expires by the `expire` line `expire`
    /// (a points type's, or a rule's own).
    fn expiry_by(&self, expire: &Expiry, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.local(t);
        let (term, end_of) = match expire {
            Expiry::AfterEarn { term, end_of } => (term, end_of),
            // The end of the earn unit, plus N units.
            Expiry::EndOf { unit, plus } => {
                let plus = plus.as_ref().map_or(0, |n| n.node.mantissa());
                let mut day = local.date();
                for _ in 0..plus {
                    day = next_start(day, unit.node);
                }
                let end = next_start(day, unit.node).and_time(NaiveTime::MIN);
                return Some(self.instant(end));
            }
            _ => return None,
        };
        let later = add(local, term)?;
        let at = match end_of {
            None => later,
            Some(unit) => next_start(later.date(), unit.node).and_time(NaiveTime::MIN),
        };
        Some(self.instant(at))
    }
}

/// The inactivity check after the wallet's latest activity: it waits on
/// the first activity since the last check, or on the latest if its term
/// ends earlier (28 December 00:30 and 31 December 00:00 plus two months
/// both end on 28 February, the second at 00:00, when the points are gone:
/// docs/semantics.md, "N months after the member last earned or redeemed
/// it").
/// Activity at `t`, in clock order `seq`: activity at the instant of the
/// last keeps the place the first took (docs/semantics.md, The clock).
fn keep_activity(w: &mut Wallet, t: DateTime<Utc>, seq: usize) {
    w.activity = match w.activity {
        Some((at, first)) if at == t => Some((t, first)),
        _ => Some((t, seq)),
    };
}

fn wait_on(program: &Program, points: &str, w: &mut Wallet) {
    let end = |t: DateTime<Utc>| {
        program
            .inactivity(points)
            .and_then(|term| add(program.local(t), term))
            .map(|at| program.instant(at))
    };
    if let Some(a) = w.activity {
        if w.check.is_none_or(|c| end(a.0) < end(c.0)) {
            w.check = Some(a);
        }
    }
}

/// A local time a term earlier, on the calendar (a month before 31 March is
/// the last day of February).
fn back(local: NaiveDateTime, term: &loyalty::syntax::ast::Duration) -> Option<NaiveDateTime> {
    let n = u32::try_from(term.count.node.mantissa()).ok()?;
    match term.unit {
        TimeUnit::Day => Some(local - Duration::days(i64::from(n))),
        TimeUnit::Week => Some(local - Duration::weeks(i64::from(n))),
        TimeUnit::Month => local.checked_sub_months(chrono::Months::new(n)),
        TimeUnit::Year => local.checked_sub_months(chrono::Months::new(12 * n)),
    }
}

/// A local time a term later, on the calendar (a month after 31 January is
/// the last day of February).
fn add(local: NaiveDateTime, term: &loyalty::syntax::ast::Duration) -> Option<NaiveDateTime> {
    let n = u32::try_from(term.count.node.mantissa()).ok()?;
    match term.unit {
        TimeUnit::Day => Some(local + Duration::days(i64::from(n))),
        TimeUnit::Week => Some(local + Duration::weeks(i64::from(n))),
        TimeUnit::Month => local.checked_add_months(chrono::Months::new(n)),
        TimeUnit::Year => local.checked_add_months(chrono::Months::new(12 * n)),
    }
}

/// The first day after the calendar unit that contains `day`.
fn next_start(day: NaiveDate, unit: CalendarUnit) -> NaiveDate {
    let month_start = |y: i32, m: u32| {
        let (y, m) = if m > 12 { (y + 1, m - 12) } else { (y, m) };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(day)
    };
    match unit {
        CalendarUnit::Day => day + Duration::days(1),
        CalendarUnit::Week => {
            day + Duration::days(7 - i64::from(day.weekday().num_days_from_monday()))
        }
        CalendarUnit::Month => month_start(day.year(), day.month() + 1),
        CalendarUnit::Quarter => month_start(day.year(), (day.month() - 1) / 3 * 3 + 4),
        CalendarUnit::Year => month_start(day.year() + 1, 1),
    }
}

/// The first day of the period of a cap or limit that contains `day`.
fn period_start(day: NaiveDate, period: Period) -> Option<NaiveDate> {
    let first = |m: u32| NaiveDate::from_ymd_opt(day.year(), m, 1);
    match period {
        Period::Day => Some(day),
        Period::Week => Some(day - Duration::days(i64::from(day.weekday().num_days_from_monday()))),
        Period::Month => first(day.month()),
        Period::Quarter => first((day.month() - 1) / 3 * 3 + 1),
        Period::Year => first(1),
        Period::Lifetime => None,
    }
}

fn round(value: Decimal, precision: u32, rounding: Rounding) -> Decimal {
    let strategy = match rounding {
        Rounding::Down => RoundingStrategy::ToZero,
        Rounding::Up => RoundingStrategy::AwayFromZero,
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
    };
    value.round_dp_with_strategy(precision, strategy)
}

// ------------------------------------------------------------------ state

struct Bucket {
    /// The order buckets were made in: the order their expiries were
    /// scheduled, and the last tie-break of spending.
    seq: usize,
    amount: Decimal,
    earned: DateTime<Utc>,
    /// When it can be spent, and whether its release (a pending bucket's)
    /// is still to come.
    available: DateTime<Utc>,
    pending: bool,
    expires: Option<DateTime<Utc>>,
    /// What of it has expired so far.
    expired: Decimal,
    /// The bucket an award made that its points belong to: its own seq,
    /// or for a part a cancelled redemption gave back, the origin of the
    /// bucket it was taken from (what expires of it is what expired of
    /// that award: docs/semantics.md, "Returns").
    origin: usize,
}

#[derive(Default)]
struct Wallet {
    buckets: Vec<Bucket>,
    debt: Decimal,
    /// The member's last activity in this type (earning, redeeming, a
    /// cancel), and the order it came in: when `expire after N without
    /// activity` counts from.
    activity: Option<(DateTime<Utc>, usize)>,
    /// The activity an inactivity check waits on (its time and order): the
    /// first since the last check; the check, come due, is put off to the
    /// latest activity if there was a later one. Its place among ties is
    /// that activity's (docs/semantics.md says only "in the order they
    /// were scheduled"; this is the order the engine keeps).
    check: Option<(DateTime<Utc>, usize)>,
}

impl Wallet {
    fn balance(&self) -> Decimal {
        self.buckets.iter().map(|b| b.amount).sum::<Decimal>() - self.debt
    }

    /// What can be spent: the balance less the pending buckets.
    fn available(&self) -> Decimal {
        self.balance() - self.pending()
    }

    fn pending(&self) -> Decimal {
        self.buckets
            .iter()
            .filter(|b| b.pending)
            .map(|b| b.amount)
            .sum()
    }

    /// The buckets' indices in spending order: earliest expiry first (never
    /// last), then earliest earned, then the order made.
    fn spending_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.buckets.len()).collect();
        order.sort_by_key(|&i| {
            self.buckets
                .get(i)
                .map(|b| (b.expires.is_none(), b.expires, b.earned, b.seq))
        });
        order
    }

    /// Takes up to `amount` from the buckets in `order`; returns the parts
    /// taken (bucket seq, amount).
    fn take(&mut self, mut amount: Decimal, order: &[usize]) -> Vec<(usize, Decimal)> {
        let mut parts = Vec::new();
        for &i in order {
            if amount <= Decimal::ZERO {
                break;
            }
            let Some(b) = self.buckets.get_mut(i) else {
                continue;
            };
            let part = b.amount.min(amount);
            if part > Decimal::ZERO {
                b.amount -= part;
                amount -= part;
                parts.push((b.seq, part));
            }
        }
        parts
    }

    fn bucket(&mut self, seq: usize) -> Option<&mut Bucket> {
        self.buckets.iter_mut().find(|b| b.seq == seq)
    }
}

/// One award a purchase made, for its returns: a rule's, or an `adjust`
/// credit made for the purchase (no rule).
struct AwardMade {
    rule: Option<usize>,
    points: String,
    amount: Decimal,
    bucket: usize,
    rounding: Rounding,
    reversed: Decimal,
    /// A rule's with per-item lines: its unrounded award, and what each
    /// item (by sku) gave of it.
    parts: Option<(Decimal, Parts)>,
}

struct Purchase {
    /// When it was made.
    time: DateTime<Utc>,
    amount: Decimal,
    returned: Decimal,
    awards: Vec<AwardMade>,
    /// Its basket: (sku, quantity, quantity returned) of each item.
    items: Vec<(String, Decimal, Decimal)>,
    /// Whether its returns name items.
    named: bool,
}

struct Redemption {
    points: String,
    parts: Vec<(usize, Decimal)>,
    cancelled: bool,
}

struct Member {
    rank: usize,
    /// The tier, its measures and periods, perks used.
    t: tiers::State,
    vip: bool,
    region: String,
    wallets: BTreeMap<String, Wallet>,
    /// (rule, local date, purchase id) of every firing that counts toward
    /// limits.
    firings: Vec<(usize, NaiveDate, String)>,
    /// (rule, points type, local date, amount) of every award, for caps.
    awarded: Vec<(usize, String, NaiveDate, Decimal)>,
    purchases: BTreeMap<String, Purchase>,
    /// (instant, local time, amount) of every purchase applied, for the
    /// counters rules read (`count of purchase in this month`).
    bought: Vec<(DateTime<Utc>, NaiveDateTime, Decimal)>,
    redemptions: BTreeMap<String, Redemption>,
    /// Attributes, pools (tests/reference/moves.rs).
    extra: moves::Extra,
    /// The member named as referrer at enrolment.
    referrer: Option<String>,
    /// The rule of every firing that paid this member as a referrer, for
    /// `limit N per referrer`.
    referred_firings: Vec<usize>,
}

/// A reference run: the program and everything the events did so far.
pub struct Evaluation<'p> {
    program: &'p Program<'p>,
    clock: Option<DateTime<Utc>>,
    members: BTreeMap<String, Member>,
    /// The times of the applied records, by id.
    ids: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// (rule, points type, local date, amount) of every award, all members:
    /// for budgets.
    budgets: Vec<(usize, String, NaiveDate, Decimal)>,
    /// Per points type, what was issued (rules' awards and adjust credits)
    /// and what preview rules would have issued: each at most 10^20.
    issued: BTreeMap<String, Decimal>,
    previewed: BTreeMap<String, Decimal>,
    seq: usize,
    /// Members who moved between tiers, when, from and to which rank,
    /// whose rules `on upgrade` and `on tier_change` have not run yet.
    tier_moves: Vec<(String, DateTime<Utc>, usize, usize)>,
    /// Members whose next tier period started, and when, whose rules `on
    /// tier_period_start` have not run yet.
    period_starts: Vec<(String, DateTime<Utc>)>,
    outcome: Outcome,
}

/// Clock work.
enum Due {
    /// A pending bucket's release: its points type and seq.
    Release(String, usize),
    /// A bucket's expiry: its points type and seq.
    Expiry(String, usize),
    /// Every bucket of a type, after the time without activity.
    Inactivity(String),
    Tier(tiers::TierDue),
    /// A birthday, an anniversary or a month starts.
    Day(&'static str),
    /// Points of a type expired: the rules on expiry run.
    Lapse(String),
}

/// What the rules paid on an event: the member's awards (a return takes
/// them back), and what went to their referrer, per type.
struct Paid {
    awards: Vec<AwardMade>,
    to_referrer: Vec<(String, Decimal)>,
}

/// What a rule made of one purchase: awards per points type after caps,
/// and the cuts the caps made (type, before, after).
struct Fired {
    awards: Vec<(String, Decimal)>,
    cuts: Vec<(String, Decimal, Decimal)>,
    /// Per points type earned on basket items: the unrounded award and
    /// what each item (by sku) gave of it.
    parts: Vec<(String, Decimal, Parts)>,
}

/// What each basket item (by sku) gave of an unrounded award.
type Parts = Vec<(String, Decimal)>;

impl<'p> Evaluation<'p> {
    pub fn new(program: &'p Program<'p>) -> Self {
        Evaluation {
            program,
            clock: None,
            members: BTreeMap::new(),
            ids: BTreeMap::new(),
            budgets: Vec::new(),
            issued: BTreeMap::new(),
            previewed: BTreeMap::new(),
            seq: 0,
            tier_moves: Vec::new(),
            period_starts: Vec::new(),
            outcome: Outcome::default(),
        }
    }

    /// Applies a whole stream in time order (equal times in input order)
    /// and returns what came out.
    /// With `until` (`--until DAY`), the run goes through the end of that
    /// local day: what is due by then is applied, later records are
    /// counted, not applied.
    pub fn run(mut self, events: &[GenEvent], until: Option<NaiveDate>) -> Outcome {
        // The start of the next day.
        let end = until.map(|day| {
            let next = day + Duration::days(1);
            self.program.instant(next.and_time(NaiveTime::MIN))
        });
        let program = self.program;
        let rejected = &mut self.outcome.rejected;
        let (before, after): (Vec<(usize, &GenEvent)>, Vec<_>) = events
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                (moves::readable(program, e) && program.is_money(e) && program.whole_basket(e))
                    || !rejected.insert(i + 1)
            })
            .partition(|(_, e)| end.is_none_or(|end| self.program.instant(e.time) < end));
        self.outcome.after_until = after.len();
        self.apply_indexed(&before);
        if let Some(end) = end {
            // The last instant of the day: the next day's start less a
            // nanosecond (what is due at midnight belongs to the next day).
            self.advance(end - Duration::nanoseconds(1));
        }
        (self.outcome.tiers, self.outcome.measures) = self.final_tiers();
        self.outcome.pending = self
            .members
            .iter()
            .flat_map(|(id, m)| {
                m.wallets
                    .iter()
                    .map(move |(p, w)| ((id.clone(), p.clone()), w.pending()))
            })
            .collect();
        self.outcome.balances = self
            .members
            .iter()
            .flat_map(|(id, m)| {
                m.wallets
                    .iter()
                    .map(move |(p, w)| ((id.clone(), p.clone()), w.balance()))
            })
            .collect();
        self.outcome
    }

    pub fn apply_all(&mut self, events: &[GenEvent]) {
        let indexed: Vec<(usize, &GenEvent)> = events.iter().enumerate().collect();
        self.apply_indexed(&indexed);
    }

    /// Applies records (with their index in the stream) in time order,
    /// equal times in input order.
    fn apply_indexed(&mut self, events: &[(usize, &GenEvent)]) {
        let mut order = events.to_vec();
        order.sort_by_key(|(_, e)| self.program.instant(e.time));
        for (i, e) in order {
            if !self.apply(e) {
                self.outcome.rejected.insert(i + 1);
            }
        }
    }

    /// The balance of `points` that `member` could redeem at `local`.
    pub fn available(&mut self, member: &str, points: &str, local: NaiveDateTime) -> Decimal {
        let t = self.program.instant(local);
        if self.clock.is_none_or(|c| c < t) {
            self.advance(t);
        }
        self.members
            .get(member)
            .and_then(|m| m.wallets.get(points))
            .map_or(Decimal::ZERO, Wallet::available)
    }

    /// Applies one event; false if it is rejected.
    fn apply(&mut self, e: &GenEvent) -> bool {
        let t = self.program.instant(e.time);
        if self.copies(&e.id, t) {
            return false;
        }
        let known = self.members.contains_key(&e.member);
        let enroll = matches!(e.kind, Kind::Enroll { .. });
        // Rejected before the clock moves: an unknown member, a second
        // enrolment (docs/semantics.md: only a record judged against the
        // member's state advances the clock first).
        if known == enroll
            || !self.admissible(e)
            || !moves::readable(self.program, e)
            || !self.program.is_money(e)
            || !self.program.whole_basket(e)
        {
            return false;
        }
        self.advance(t);
        let applied = match &e.kind {
            Kind::Enroll {
                vip,
                region,
                attributes,
                referred_by,
            } => {
                // docs/semantics.md, Referrals: not the member itself, a
                // member enrolled, not a pool.
                let referrer_known = referred_by.as_ref().is_none_or(|r| {
                    *r != e.member && self.members.get(r).is_some_and(|m| m.extra.pool.is_none())
                });
                if !referrer_known {
                    return false;
                }
                let mut member = self.account(t);
                member.vip = *vip;
                member.region.clone_from(region);
                member.referrer.clone_from(referred_by);
                self.members.insert(e.member.clone(), member);
                // Rules on enrolment, measured for the tier; one whose
                // award cannot be computed enrols nobody.
                let enrolled = self.enrolled(e, t, attributes);
                if !enrolled {
                    self.members.remove(&e.member);
                    self.outcome.sharded_may_differ = true;
                }
                enrolled
            }
            Kind::Purchase {
                amount,
                qty,
                channel,
                items,
            } => self.purchase(e, t, (*amount, *qty), channel.as_deref(), items),
            Kind::Return { of, amount, items } => self.return_(e, t, of, *amount, items),
            Kind::RedeemPoints {
                points,
                points_type,
            } => self.redeem(e, t, points_type, *points),
            Kind::RedeemReward { reward } => match self.price(&e.member, reward) {
                Some((price, points)) => self.redeem(e, t, &points, price),
                None => false,
            },
            Kind::UsePerk { perk } => self.use_perk(&e.member, t, perk, &e.id),
            Kind::SetTier { tier, until } => {
                self.set_tier_record(&e.member, t, &e.id, tier, *until)
            }
            Kind::CancelRedeem { redemption } => self.cancel(e, t, redemption),
            Kind::Adjust {
                points,
                points_type,
                purchase,
                expires,
            } => self.adjust(e, t, points_type, *points, purchase.as_deref(), *expires),
            Kind::Move(m) => self.moved(e, t, m),
        };
        // The rules on the upgrades it made come after it.
        if applied {
            self.fire_tier_moves();
            self.ids.entry(e.id.clone()).or_default().push(t);
        } else {
            self.tier_moves.clear();
            self.period_starts.clear();
        }
        applied
    }

    /// Whether a record with `id` at `t` is a duplicate: an applied record
    /// has its id, the later of the two at most the program's window
    /// (`reject duplicate ids within N days`, 30 days unless it says)
    /// after the earlier, on the program's calendar.
    fn copies(&self, id: &str, t: DateTime<Utc>) -> bool {
        let window = self.program.duplicate_days;
        self.ids.get(id).is_some_and(|times| {
            times.iter().any(|&kept| {
                let (earlier, later) = (kept.min(t), kept.max(t));
                let end = self.program.local(earlier) + Duration::days(window);
                later <= self.program.instant(end)
            })
        })
    }

    /// A new account (a member, or a pool): no points, the first tier,
    /// its rank the next.
    fn account(&mut self, t: DateTime<Utc>) -> Member {
        let wallets = self
            .program
            .points
            .iter()
            .map(|p| (p.name.clone(), Wallet::default()))
            .collect();
        let rank = self.members.len();
        self.seq += 1;
        Member {
            rank,
            t: tiers::State::new(t, self.seq - 1),
            vip: false,
            region: String::new(),
            wallets,
            firings: Vec::new(),
            awarded: Vec::new(),
            purchases: BTreeMap::new(),
            bought: Vec::new(),
            redemptions: BTreeMap::new(),
            extra: moves::Extra::default(),
            referrer: None,
            referred_firings: Vec::new(),
        }
    }

    /// A points row: `amount` moved (or, for a cap cut, noted) and the
    /// balance after.
    #[allow(clippy::too_many_arguments)]
    fn points_row(
        &mut self,
        member: &str,
        time: DateTime<Utc>,
        kind: &str,
        points: &str,
        amount: Decimal,
        rule: Option<usize>,
        event: &str,
    ) {
        let balance = self
            .members
            .get(member)
            .and_then(|m| m.wallets.get(points))
            .map_or(Decimal::ZERO, Wallet::balance);
        let rule = rule
            .and_then(|r| self.program.rules.get(r))
            .map_or(String::new(), |r| r.name.node.clone());
        self.outcome.ledger.push(Row {
            member: member.to_string(),
            time,
            kind: kind.to_string(),
            points: points.to_string(),
            amount: Some(amount),
            balance: Some(balance),
            rule,
            event: event.to_string(),
            note: String::new(),
        });
    }

    /// Everything due at or before `t`: bucket expiries and tier reviews,
    /// by time, then member (enrolment order), then the order they were
    /// scheduled in (a review is scheduled when its period starts).
    fn advance(&mut self, t: DateTime<Utc>) {
        while let Some((at, _, _, member, due)) = self.next_due(t) {
            match due {
                Due::Expiry(points, seq) => {
                    let amount = self.expire(&member, &points, seq, at, "");
                    self.lapsed(&member, &points, amount, at);
                }
                Due::Release(points, seq) => {
                    let amount = self
                        .members
                        .get_mut(&member)
                        .and_then(|m| m.wallets.get_mut(&points))
                        .and_then(|w| w.bucket(seq))
                        .map_or(Decimal::ZERO, |b| {
                            b.pending = false;
                            b.amount
                        });
                    if amount > Decimal::ZERO {
                        self.points_row(&member, at, "release", &points, amount, None, "");
                    }
                }
                Due::Inactivity(points) => {
                    // Put off to a later activity, if there was one.
                    if let Some(w) = self
                        .members
                        .get_mut(&member)
                        .and_then(|m| m.wallets.get_mut(&points))
                    {
                        let later = w.activity.filter(|a| w.check.is_some_and(|c| a.0 > c.0));
                        w.check = later;
                        if later.is_some() {
                            continue;
                        }
                    }
                    // One row per bucket, in spending order (earliest earned
                    // first: docs/semantics.md does not say, the engine
                    // does so).
                    let seqs: Vec<usize> = self
                        .members
                        .get(&member)
                        .and_then(|m| m.wallets.get(&points))
                        .map(|w| {
                            w.spending_order()
                                .into_iter()
                                .filter_map(|i| w.buckets.get(i))
                                .filter(|b| b.amount > Decimal::ZERO)
                                .map(|b| b.seq)
                                .collect()
                        })
                        .unwrap_or_default();
                    for seq in seqs {
                        let amount = self.expire(&member, &points, seq, at, "");
                        self.lapsed(&member, &points, amount, at);
                    }
                }
                Due::Tier(tiers::TierDue::Review) => self.review(&member, at),
                Due::Tier(tiers::TierDue::GraceEnd) => self.grace_end(&member, at),
                Due::Day(day) => self.celebrate(&member, day, at),
                Due::Lapse(points) => self.lapse(&member, &points, at),
            }
            self.fire_tier_moves();
        }
        if self.clock.is_none_or(|c| c < t) {
            self.clock = Some(t);
        }
    }

    /// The first thing due at or before `t`.
    fn next_due(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, usize, usize, String, Due)> {
        let mut due = Vec::new();
        for (id, m) in &self.members {
            for (p, w) in &m.wallets {
                for b in &w.buckets {
                    if b.pending && b.available <= t {
                        due.push((
                            b.available,
                            m.rank,
                            b.seq,
                            id.clone(),
                            Due::Release(p.clone(), b.seq),
                        ));
                    }
                    if let Some(at) = b.expires.filter(|&at| at <= t && b.amount > Decimal::ZERO) {
                        due.push((at, m.rank, b.seq, id.clone(), Due::Expiry(p.clone(), b.seq)));
                    }
                }
            }
            for (p, w) in &m.wallets {
                let (Some((last, seq)), Some(term)) = (w.check, self.program.inactivity(p)) else {
                    continue;
                };
                let at = add(self.program.local(last), term).map(|at| self.program.instant(at));
                if let Some(at) = at.filter(|&at| at <= t) {
                    due.push((at, m.rank, seq, id.clone(), Due::Inactivity(p.clone())));
                }
            }
            for (at, seq, what) in self.tier_due(m, t) {
                due.push((at, m.rank, seq, id.clone(), Due::Tier(what)));
            }
            // The rules on an expiry after the rest of the member's work
            // at its instant, and a member's day after those, as an event
            // then would be.
            for (p, &(at, sum, seq)) in &m.extra.lapsed {
                if at <= t && !sum.is_zero() {
                    due.push((
                        at,
                        m.rank,
                        (1 << 39) + seq,
                        id.clone(),
                        Due::Lapse(p.clone()),
                    ));
                }
            }
            for (day, &(at, seq)) in m.extra.days.iter().filter(|(_, (at, _))| *at <= t) {
                due.push((at, m.rank, (1 << 40) + seq, id.clone(), Due::Day(day)));
            }
        }
        due.into_iter()
            .min_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
    }

    /// What is left of bucket `seq` expires at `at`: an `expire` row; how
    /// many points that was.
    fn expire(
        &mut self,
        member: &str,
        points: &str,
        seq: usize,
        at: DateTime<Utc>,
        event: &str,
    ) -> Decimal {
        let amount = self
            .members
            .get_mut(member)
            .and_then(|m| m.wallets.get_mut(points))
            .and_then(|w| w.bucket(seq))
            .map_or(Decimal::ZERO, |b| {
                let amount = b.amount;
                b.expired += amount;
                b.amount = Decimal::ZERO;
                amount
            });
        self.points_row(member, at, "expire", points, -amount, None, event);
        amount
    }

    /// Activity in a points type at `t`.
    fn active(&mut self, member: &str, points: &str, t: DateTime<Utc>) {
        let seq = self.seq;
        self.seq += 1;
        let program = self.program;
        if let Some(w) = self
            .members
            .get_mut(member)
            .and_then(|m| m.wallets.get_mut(points))
        {
            keep_activity(w, t, seq);
            wait_on(program, points, w);
        }
    }

    /// A new bucket of `amount` earned at `t`, the debt paid from it first;
    /// returns its seq.
    fn credit(&mut self, member: &str, points: &str, amount: Decimal, t: DateTime<Utc>) -> usize {
        // The activity comes before the bucket in the order of clock work:
        // an inactivity expiry due when the bucket's release is comes first
        // (docs/semantics.md does not say; the engine does so).
        let activity = self.seq;
        let seq = self.seq + 1;
        self.seq += 2;
        let expires = self.program.expiry(points, t);
        let available = self.program.available_at(points, t);
        let program = self.program;
        if let Some(w) = self
            .members
            .get_mut(member)
            .and_then(|m| m.wallets.get_mut(points))
        {
            let paid = w.debt.min(amount);
            w.debt -= paid;
            keep_activity(w, t, activity);
            wait_on(program, points, w);
            w.buckets.push(Bucket {
                seq,
                amount: amount - paid,
                earned: t,
                available,
                pending: available > t,
                expires,
                expired: Decimal::ZERO,
                origin: seq,
            });
        }
        seq
    }

    // -------------------------------------------------------------- earning

    /// A purchase: its rules, then what it adds to the tier measures; false
    /// if it is rejected (see [`Evaluation::decide`]).
    fn purchase(
        &mut self,
        e: &GenEvent,
        t: DateTime<Utc>,
        (amount, qty): (Decimal, Decimal),
        channel: Option<&str>,
        items: &[gen::baskets::GenItem],
    ) -> bool {
        let local = self.program.local(t);
        let mut record = Purchase {
            time: t,
            amount,
            returned: Decimal::ZERO,
            awards: Vec::new(),
            items: items
                .iter()
                .map(|i| (i.sku.clone(), i.quantity, Decimal::ZERO))
                .collect(),
            named: false,
        };
        let facts = self
            .facts(&e.member, t, "purchase", BTreeMap::new())
            .map(|f| Facts {
                amount,
                qty,
                channel,
                items,
                ..f
            });
        let fired = match self.decide(facts.as_ref()) {
            Ok(fired) => fired,
            Err(why) => return self.refused(why),
        };
        let paid = self.pay(e, t, fired);
        record.awards = paid.awards;
        let earned: Vec<(String, Decimal)> = record
            .awards
            .iter()
            .map(|a| (a.points.clone(), a.amount))
            .collect();
        if let Some(m) = self.members.get_mut(&e.member) {
            m.purchases.insert(e.id.clone(), record);
            m.bought.push((t, local, amount));
        }
        let fields = BTreeMap::from([
            ("amount".to_string(), Value::Money(amount)),
            ("qty".to_string(), Value::Number(qty)),
        ]);
        self.measured(&e.member, t, &e.id, ("purchase", &fields), &earned);
        self.measured_referrer(e, t, &paid.to_referrer);
        true
    }

    /// Pays what the rules made of an event: each points type's cap cuts,
    /// then its award; a preview rule's award is a `preview` row and
    /// nothing else (docs/language.md, "Preview rules": after its own
    /// caps, limits and budgets, which it counts; no balance, no tier
    /// measure). Each firing counts toward limits. Returns the awards paid.
    fn pay(&mut self, e: &GenEvent, t: DateTime<Utc>, fired: Vec<Option<Fired>>) -> Paid {
        let local = self.program.local(t);
        let mut paid = Paid {
            awards: Vec::new(),
            to_referrer: Vec::new(),
        };
        let referrer = self.members.get(&e.member).and_then(|m| m.referrer.clone());
        for (r, fired) in fired.into_iter().enumerate() {
            let Some(fired) = fired else { continue };
            let Some(rule) = self.program.rules.get(r) else {
                continue;
            };
            let rounding = rounding_of(rule);
            // docs/semantics.md, Referrals: the referrer's rows, caps and
            // bucket; `rule` made sure there is a referrer.
            let to_referrer = pays_referrer(rule);
            let to = match (&referrer, to_referrer) {
                (Some(referrer), true) => referrer.clone(),
                _ => e.member.clone(),
            };
            for (points, award) in fired.awards {
                // Each type's cuts come just before its award.
                for (_, before, after) in fired.cuts.iter().filter(|(p, _, _)| *p == points) {
                    self.points_row(&to, t, "cap_cut", &points, *before - *after, Some(r), &e.id);
                }
                if let Some(m) = self.members.get_mut(&to) {
                    m.awarded.push((r, points.clone(), local.date(), award));
                }
                self.budgets.push((r, points.clone(), local.date(), award));
                let totals = if rule.preview {
                    &mut self.previewed
                } else {
                    &mut self.issued
                };
                *totals.entry(points.clone()).or_default() += award;
                if award > Decimal::ZERO && rule.preview {
                    self.points_row(&e.member, t, "preview", &points, award, Some(r), &e.id);
                } else if award > Decimal::ZERO {
                    let bucket = self.credit(&to, &points, award, t);
                    // A rule's own `expire` replaces its points type's
                    // (docs/semantics.md, Buckets), for points that expire.
                    let own = rule.stmts.iter().find_map(|s| match &s.node {
                        RuleStmt::Expire(x) => Some(x),
                        _ => None,
                    });
                    if let Some(own) = own.filter(|_| !self.program.qualifying(&points)) {
                        let expires = self.program.expiry_by(own, t);
                        if let Some(b) = self
                            .members
                            .get_mut(&to)
                            .and_then(|m| m.wallets.get_mut(&points))
                            .and_then(|w| w.bucket(bucket))
                        {
                            b.expires = expires;
                        }
                    }
                    // A pending type's award is a `pend` row.
                    let kind = if self.program.pends(&points) {
                        "pend"
                    } else {
                        "earn"
                    };
                    self.points_row(&to, t, kind, &points, award, Some(r), &e.id);
                    if to_referrer {
                        // No return of the referee's takes it back.
                        paid.to_referrer.push((points, award));
                        continue;
                    }
                    let parts = fired
                        .parts
                        .iter()
                        .find(|(p, _, _)| *p == points)
                        .map(|(_, raw, parts)| (*raw, parts.clone()));
                    paid.awards.push(AwardMade {
                        rule: Some(r),
                        points,
                        amount: award,
                        bucket,
                        rounding,
                        reversed: Decimal::ZERO,
                        parts,
                    });
                }
            }
            if let Some(m) = self.members.get_mut(&e.member) {
                m.firings.push((r, local.date(), e.id.clone()));
            }
            let per_referrer = rule
                .stmts
                .iter()
                .any(|s| matches!(s.node, RuleStmt::LimitPerReferrer { .. }));
            if let Some(m) = referrer
                .as_ref()
                .filter(|_| per_referrer)
                .and_then(|referrer| self.members.get_mut(referrer))
            {
                m.referred_firings.push(r);
            }
        }
        paid
    }

    /// What a referrer was paid on a member's event counts toward the
    /// referrer's measures of points earned (after the member's own),
    /// and their tier is judged then (docs/semantics.md, Referrals).
    fn measured_referrer(&mut self, e: &GenEvent, t: DateTime<Utc>, earned: &[(String, Decimal)]) {
        let referrer = self.members.get(&e.member).and_then(|m| m.referrer.clone());
        if let (Some(referrer), false) = (referrer, earned.is_empty()) {
            self.measured(&referrer, t, &e.id, ("", &BTreeMap::new()), earned);
        }
    }

    /// Every rule on one event: `Some` for each rule that fired and did
    /// not lose its exclusive group; an error if the award of a rule that
    /// fired (in its group or not) cannot be computed.
    fn earn(&self, facts: &Facts) -> Result<Vec<Option<Fired>>, Uncomputable> {
        let rules = &self.program.rules;
        let mut fired: Vec<Option<Fired>> = Vec::new();
        // A rule with `stop` that fires: the rules after it do not.
        let mut stopped = false;
        for (r, rule) in rules.iter().enumerate() {
            let outcome = if stopped {
                None
            } else {
                self.rule(r, rule, facts, &fired)?
            };
            stopped |= outcome.is_some() && stops(rule);
            fired.push(outcome);
        }
        // Exclusive groups: the largest award wins, the first on a tie; a
        // group `by order`, the first that fired.
        let mut winners: BTreeMap<String, (usize, Decimal)> = BTreeMap::new();
        for (r, rule) in rules.iter().enumerate() {
            if let (Some(g), Some(f)) = (group_of(rule), fired.get(r).and_then(Option::as_ref)) {
                let total: Decimal = f.awards.iter().map(|(_, a)| *a).sum();
                let best = winners.entry(g.to_string()).or_insert((r, total));
                if total > best.1 && !by_order(rule) {
                    *best = (r, total);
                }
            }
        }
        for (r, rule) in rules.iter().enumerate() {
            if let Some(g) = group_of(rule) {
                if winners.get(g).is_some_and(|(w, _)| *w != r) {
                    if let Some(slot) = fired.get_mut(r) {
                        *slot = None;
                    }
                }
            }
        }
        self.cut_to_points_caps(facts, &mut fired);
        Ok(fired)
    }

    /// A points type's caps come last: the live awards of the type, in
    /// rule order, cut to what every rule awarded the member in the period
    /// (and the awards before them on this event) leaves; preview rules are
    /// not cut (docs/semantics.md, Earning).
    fn cut_to_points_caps(&self, facts: &Facts, fired: &mut [Option<Fired>]) {
        let date = facts.local.date();
        // Each recipient's caps count their own awards: the member's, or
        // for a rule paying the referrer, the referrer's.
        let referrer = facts
            .member
            .referrer
            .as_ref()
            .and_then(|r| self.members.get(r));
        let mut this_event: BTreeMap<(bool, String), Decimal> = BTreeMap::new();
        for (r, slot) in fired.iter_mut().enumerate() {
            let preview = self.program.rules.get(r).is_none_or(|rule| rule.preview);
            let Some(f) = slot.as_mut().filter(|_| !preview) else {
                continue;
            };
            let to_referrer = self.program.rules.get(r).is_some_and(|x| pays_referrer(x));
            let Some(holder) = (if to_referrer {
                referrer
            } else {
                Some(facts.member)
            }) else {
                continue;
            };
            for (points, award) in &mut f.awards {
                let caps = self
                    .program
                    .points
                    .iter()
                    .find(|p| p.name == *points)
                    .map(|p| p.caps.clone())
                    .unwrap_or_default();
                let key = (to_referrer, points.clone());
                let so_far = this_event.get(&key).copied().unwrap_or_default();
                for (amount, period) in caps {
                    let start = period_start(date, period);
                    let used: Decimal = holder
                        .awarded
                        .iter()
                        .filter(|(ar, ap, d, _)| {
                            ap == points
                                && period_start(*d, period) == start
                                && self.program.rules.get(*ar).is_some_and(|x| !x.preview)
                        })
                        .map(|(_, _, _, a)| *a)
                        .sum();
                    let room = (amount - used - so_far).max(Decimal::ZERO);
                    if *award > room {
                        f.cuts.push((points.clone(), *award, room));
                        *award = room;
                    }
                }
                *this_event.entry(key).or_default() += *award;
            }
        }
    }

    /// What the rules on an event of type `event` by `member` at `local`
    /// read (a purchase's amount, quantity and channel are the caller's to
    /// fill in); `None` before the program's `effective` day, when no rule
    /// fires.
    fn facts<'a>(
        &'a self,
        member: &str,
        t: DateTime<Utc>,
        event: &'a str,
        fields: BTreeMap<String, Value>,
    ) -> Option<Facts<'a>> {
        let m = self.members.get(member)?;
        let local = self.program.local(t);
        self.program
            .effective
            .is_none_or(|d| local.date() >= d)
            .then(|| Facts {
                tiers: self.program.tier_names(),
                amount: Decimal::ZERO,
                qty: Decimal::ZERO,
                channel: None,
                items: &[],
                item: None,
                member: m,
                program: self.program,
                now: t,
                local,
                event,
                fields,
            })
    }

    /// The rules on an event by the member whose state `facts` read, or
    /// `None` if the record is rejected: an award cannot be computed, or
    /// the awards would take the points of a type issued program-wide (or
    /// what preview rules would have issued) past 10^20
    /// (docs/semantics.md, "How large numbers may be").
    fn decide(&self, facts: Option<&Facts>) -> Result<Vec<Option<Fired>>, Refused> {
        let Some(facts) = facts else {
            return Ok(Vec::new());
        };
        let fired = self.earn(facts).map_err(|_| Refused::Uncomputable)?;
        let mut added: BTreeMap<(bool, &str), Decimal> = BTreeMap::new();
        for (r, f) in fired.iter().enumerate() {
            let preview = self.program.rules.get(r).is_some_and(|rule| rule.preview);
            for (points, award) in f.iter().flat_map(|f| &f.awards) {
                let sum = added.entry((preview, points)).or_default();
                *sum = sum.checked_add(*award).ok_or(Refused::PastLargest)?;
            }
        }
        let within = added.iter().all(|((preview, points), award)| {
            let totals = if *preview {
                &self.previewed
            } else {
                &self.issued
            };
            within_largest(totals.get(*points), *award)
        });
        if within {
            Ok(fired)
        } else {
            Err(Refused::PastLargest)
        }
    }

    /// A record the rules refused: rejected (noting a sum past 10^20).
    fn refused(&mut self, why: Refused) -> bool {
        self.outcome.sharded_may_differ |= why == Refused::PastLargest;
        false
    }

    /// Whether rule `t`, decided in `before`, loses its exclusive group to
    /// another rule decided there.
    fn lost(&self, t: usize, before: &[Option<Fired>]) -> bool {
        let Some(target_rule) = self.program.rules.get(t) else {
            return false;
        };
        group_of(target_rule).is_some_and(|g| {
            let total = |f: &Fired| f.awards.iter().map(|(_, a)| *a).sum::<Decimal>();
            let mine = before.get(t).and_then(Option::as_ref).map(total);
            self.program.rules.iter().enumerate().any(|(o, other)| {
                let theirs = before.get(o).and_then(Option::as_ref).map(total);
                // By order, an earlier rule that fired wins; else a larger
                // award, or an equal one earlier.
                group_of(other) == Some(g)
                    && o != t
                    && match (mine, theirs) {
                        (Some(_), Some(_)) if by_order(target_rule) => o < t,
                        (Some(m), Some(x)) => x > m || (x == m && o < t),
                        _ => false,
                    }
            })
        })
    }

    /// `multiply P by F`: (F − 1) × what the live rules before it that
    /// fired awarded of P on this event, after their caps, not counting
    /// preview rules, other multipliers or a group's losers
    /// (docs/language.md, "Multiplying the whole earn").
    fn multiplied(
        &self,
        points: &str,
        factor: Decimal,
        before: &[Option<Fired>],
    ) -> Option<Decimal> {
        let mut base = Decimal::ZERO;
        for (t, fired) in before.iter().enumerate() {
            let Some(fired) = fired else { continue };
            let live = self
                .program
                .rules
                .get(t)
                .is_some_and(|r| !r.preview && !multiplies(r) && !pays_referrer(r));
            if !live || self.lost(t, before) {
                continue;
            }
            for (_, award) in fired.awards.iter().filter(|(p, _)| p == points) {
                base = base.checked_add(*award)?;
            }
        }
        factor.checked_sub(Decimal::ONE)?.checked_mul(base)
    }

    /// One rule on one event, the rules before it already decided: `None`
    /// if it does not fire.
    fn rule(
        &self,
        r: usize,
        rule: &RuleDecl,
        facts: &Facts,
        before: &[Option<Fired>],
    ) -> Result<Option<Fired>, Uncomputable> {
        let date = facts.local.date();
        let mut rounding = Rounding::Down;
        for s in &rule.stmts {
            match &s.node {
                RuleStmt::On { event, condition } => {
                    if event.node != facts.event {
                        return Ok(None);
                    }
                    if let Some(c) = condition {
                        if facts.eval(c) != Value::Bool(true) {
                            return Ok(None);
                        }
                    }
                }
                RuleStmt::During { from, to } if date < from.node || date > to.node => {
                    return Ok(None);
                }
                RuleStmt::MinSpend(m) if facts.amount < m.amount.node => return Ok(None),
                RuleStmt::Limit { count, period } => {
                    let start = period_start(date, period.node);
                    let used = facts
                        .member
                        .firings
                        .iter()
                        .filter(|(fr, d, _)| *fr == r && period_start(*d, period.node) == start)
                        .count();
                    if Decimal::from(used) >= count.node {
                        return Ok(None);
                    }
                }
                RuleStmt::LimitPerReferrer { count } => {
                    // Counted with the referrer; none, no limit.
                    let used = facts
                        .member
                        .referrer
                        .as_ref()
                        .and_then(|r| self.members.get(r))
                        .map(|referrer| {
                            referrer
                                .referred_firings
                                .iter()
                                .filter(|x| **x == r)
                                .count()
                        });
                    if used.is_some_and(|used| Decimal::from(used) >= count.node) {
                        return Ok(None);
                    }
                }
                RuleStmt::Round(mode) => rounding = *mode,
                _ => {}
            }
        }
        // A rule paying the referrer does not fire for a member without one.
        if pays_referrer(rule) && facts.member.referrer.is_none() {
            return Ok(None);
        }
        // The earn lines of each points type, summed, each times its table,
        // in the order the lines first name the types (the order of the
        // rows).
        let mut sums: Vec<(String, Decimal)> = Vec::new();
        // Whether every `earn` line is per item, and some item was one to
        // earn on: a rule of per-item lines only fires when one is.
        let (mut all_per_item, mut matched) = (true, false);
        // (points type, sku, what the item gave) of the per-item lines.
        let mut item_parts: Vec<(String, String, Decimal)> = Vec::new();
        for s in &rule.stmts {
            if let RuleStmt::Multiply { points, factor } = &s.node {
                let value = self
                    .multiplied(&points.node, factor.node, before)
                    .ok_or(Uncomputable)?;
                sums.push((points.node.clone(), value));
            }
            let RuleStmt::Earn(earn) = &s.node else {
                continue;
            };
            let (points, value) = match &earn.award {
                Award::Amount {
                    amount,
                    points,
                    per,
                    filter,
                } if baskets::per_item(amount, per.as_ref(), filter.as_deref()) => {
                    // Per item: its table applied on each item, so not
                    // again below.
                    let Some(parts) = facts.per_item_line(
                        amount,
                        per.as_ref(),
                        filter.as_deref(),
                        earn.multiplier.as_ref(),
                        baskets::cap_per_item(rule, &points.node),
                    )?
                    else {
                        return Ok(None);
                    };
                    matched |= !parts.is_empty();
                    let mut value = Decimal::ZERO;
                    for (sku, part) in parts {
                        value = value.checked_add(part).ok_or(Uncomputable)?;
                        item_parts.push((points.node.clone(), sku, part));
                    }
                    add_to(&mut sums, points.node.clone(), value)?;
                    continue;
                }
                Award::Amount {
                    amount,
                    points,
                    per,
                    ..
                } => {
                    let Some(value) = facts.line_value(amount, per.as_ref())? else {
                        return Ok(None);
                    };
                    all_per_item = false;
                    (points.node.clone(), value)
                }
                Award::PercentOf {
                    percent,
                    rule: target,
                    points,
                } => {
                    all_per_item = false;
                    let Some(t) = self
                        .program
                        .rules
                        .iter()
                        .position(|x| x.name.node == target.node)
                    else {
                        return Ok(None);
                    };
                    let Some(target_rule) = self.program.rules.get(t) else {
                        return Ok(None);
                    };
                    let points = match points {
                        Some(p) => p.node.clone(),
                        None => earned_types(target_rule, &self.program.rules)
                            .first()
                            .cloned()
                            .unwrap_or_default(),
                    };
                    // After the target's caps; nothing if it did not fire or
                    // lost its group.
                    let lost = self.lost(t, before);
                    let award = before
                        .get(t)
                        .and_then(Option::as_ref)
                        .filter(|_| !lost)
                        .and_then(|f| f.awards.iter().find(|(p, _)| *p == points))
                        .map_or(Decimal::ZERO, |(_, a)| *a);
                    let share = award
                        .checked_mul(percent.node)
                        .and_then(|a| a.checked_div(Decimal::ONE_HUNDRED))
                        .ok_or(Uncomputable)?;
                    (points, share)
                }
            };
            let factor = match &earn.multiplier {
                None => Decimal::ONE,
                Some(m) => facts.factor(m),
            };
            let value = value.checked_mul(factor).ok_or(Uncomputable)?;
            add_to(&mut sums, points, value)?;
        }
        let earns = rule
            .stmts
            .iter()
            .any(|s| matches!(s.node, RuleStmt::Earn(_)));
        if earns && all_per_item && !matched {
            return Ok(None);
        }
        let mut fired = Fired {
            awards: Vec::new(),
            cuts: Vec::new(),
            parts: Vec::new(),
        };
        for (name, sum) in sums {
            let parts: Vec<(String, Decimal)> = item_parts
                .iter()
                .filter(|(p, _, _)| *p == name)
                .map(|(_, sku, part)| (sku.clone(), *part))
                .collect();
            if !parts.is_empty() {
                fired.parts.push((name.clone(), sum, parts));
            }
            let precision = self.program.precision(&name);
            let before = round(sum, precision, rounding).max(Decimal::ZERO);
            let mut after = before;
            for s in &rule.stmts {
                let RuleStmt::Cap {
                    amount,
                    points,
                    scope,
                } = &s.node
                else {
                    continue;
                };
                // A cap per item cut each item's award (above).
                if points.node != name || *scope == CapScope::PerItem {
                    continue;
                }
                let room = match scope {
                    CapScope::PerEvent | CapScope::PerItem => amount.node,
                    CapScope::PerMember(period) => {
                        let start = period_start(date, period.node);
                        let used: Decimal = facts
                            .member
                            .awarded
                            .iter()
                            .filter(|(ar, ap, d, _)| {
                                *ar == r && *ap == name && period_start(*d, period.node) == start
                            })
                            .map(|(_, _, _, a)| *a)
                            .sum();
                        (amount.node - used).max(Decimal::ZERO)
                    }
                };
                if after > room {
                    fired.cuts.push((name.clone(), after, room));
                    after = room;
                }
            }
            // Then budgets: what the rule awarded all members in the period.
            for s in &rule.stmts {
                let RuleStmt::Budget {
                    amount,
                    points,
                    period,
                } = &s.node
                else {
                    continue;
                };
                if points.node != name {
                    continue;
                }
                let period = period.as_ref().map_or(Period::Lifetime, |p| p.node);
                let start = period_start(date, period);
                let used: Decimal = self
                    .budgets
                    .iter()
                    .filter(|(br, bp, d, _)| {
                        *br == r && *bp == name && period_start(*d, period) == start
                    })
                    .map(|(_, _, _, a)| *a)
                    .sum();
                let room = (amount.node - used).max(Decimal::ZERO);
                if after > room {
                    fired.cuts.push((name.clone(), after, room));
                    after = room;
                }
            }
            fired.awards.push((name, after));
        }
        Ok(Some(fired))
    }

    // -------------------------------------------------------------- spending

    fn redeem(&mut self, e: &GenEvent, t: DateTime<Utc>, points: &str, amount: Decimal) -> bool {
        let precision = self.program.precision(points);
        let Some(w) = self
            .members
            .get_mut(&e.member)
            .and_then(|m| m.wallets.get_mut(points))
        else {
            return false;
        };
        if amount <= Decimal::ZERO
            || self.program.qualifying(points)
            || amount.round_dp(precision) != amount
            || amount > w.available()
            || !self.program.extras.within_bounds(points, amount)
        {
            return false;
        }
        // Available buckets only.
        let order: Vec<usize> = w
            .spending_order()
            .into_iter()
            .filter(|&i| w.buckets.get(i).is_some_and(|b| !b.pending))
            .collect();
        let parts = w.take(amount, &order);
        if let Some(m) = self.members.get_mut(&e.member) {
            m.redemptions.insert(
                e.id.clone(),
                Redemption {
                    points: points.to_string(),
                    parts,
                    cancelled: false,
                },
            );
        }
        self.active(&e.member, points, t);
        self.points_row(&e.member, t, "spend", points, -amount, None, &e.id);
        true
    }

    fn cancel(&mut self, e: &GenEvent, t: DateTime<Utc>, redemption: &str) -> bool {
        let Some(m) = self.members.get_mut(&e.member) else {
            return false;
        };
        let Some(r) = m.redemptions.get_mut(redemption).filter(|r| !r.cancelled) else {
            return false;
        };
        r.cancelled = true;
        let points = r.points.clone();
        let parts = r.parts.clone();
        // Each part goes back as a bucket of its own with the dates of the
        // one it was taken from, a debt paid from it first (as from any
        // award: docs/semantics.md does not say, the engine does so); one
        // whose expiry has passed expires at once.
        let mut restored = Vec::new();
        if let Some(w) = m.wallets.get_mut(&points) {
            for (seq, part) in &parts {
                let Some(from) = w.buckets.iter().find(|b| b.seq == *seq) else {
                    continue;
                };
                let paid = w.debt.min(*part);
                let bucket = Bucket {
                    seq: self.seq,
                    amount: *part - paid,
                    earned: from.earned,
                    available: from.available,
                    pending: false,
                    expires: from.expires,
                    expired: Decimal::ZERO,
                    origin: from.origin,
                };
                self.seq += 1;
                if bucket.expires.is_some_and(|at| at <= t) && bucket.amount > Decimal::ZERO {
                    restored.push(bucket.seq);
                }
                w.debt -= paid;
                w.buckets.push(bucket);
            }
        }
        let total: Decimal = parts.iter().map(|(_, p)| *p).sum();
        self.active(&e.member, &points, t);
        self.points_row(&e.member, t, "redeem_cancel", &points, total, None, &e.id);
        for seq in restored {
            self.expire(&e.member, &points, seq, t, &e.id);
        }
        self.balance_raised(&e.member, &points, t, &e.id);
        true
    }

    // -------------------------------------------------------------- adjustments

    /// An `adjust`: a credit is a bucket spendable at once, expiring under
    /// the type's rule or at the end of the day `expires` names, belonging
    /// to the purchase it names (taken back, rounded down, when it is
    /// returned); a debit takes points in spending order, pending ones
    /// included, within the balance. Both count as activity.
    fn adjust(
        &mut self,
        e: &GenEvent,
        t: DateTime<Utc>,
        points: &str,
        amount: Decimal,
        purchase: Option<&str>,
        expires: Option<NaiveDate>,
    ) -> bool {
        let precision = self.program.precision(points);
        let today = self.program.local(t).date();
        let Some(m) = self.members.get_mut(&e.member) else {
            return false;
        };
        let Some(w) = m.wallets.get(points) else {
            return false;
        };
        if amount.is_zero()
            || amount.round_dp(precision) != amount
            || self.program.qualifying(points)
        {
            return false;
        }
        if amount < Decimal::ZERO {
            if purchase.is_some() || expires.is_some() || -amount > w.balance() {
                return false;
            }
            let order = w.spending_order();
            if let Some(w) = m.wallets.get_mut(points) {
                w.take(-amount, &order);
            }
            self.active(&e.member, points, t);
            self.points_row(&e.member, t, "adjust", points, amount, None, &e.id);
            return true;
        }
        if expires.is_some_and(|day| day < today)
            || purchase.is_some_and(|p| !m.purchases.contains_key(p))
        {
            return false;
        }
        if !within_largest(self.issued.get(points), amount) {
            self.outcome.sharded_may_differ = true;
            return false;
        }
        *self.issued.entry(points.to_string()).or_default() += amount;
        let bucket = self.credit(&e.member, points, amount, t);
        let end = expires.map(|day| {
            self.program
                .instant((day + Duration::days(1)).and_time(NaiveTime::MIN))
        });
        if let Some(m) = self.members.get_mut(&e.member) {
            if let Some(b) = m.wallets.get_mut(points).and_then(|w| w.bucket(bucket)) {
                // Spendable at once; the day named, if any, is its end.
                b.available = t;
                b.pending = false;
                b.expires = end.or(b.expires);
            }
            if let Some(p) = purchase.and_then(|p| m.purchases.get_mut(p)) {
                p.awards.push(AwardMade {
                    rule: None,
                    points: points.to_string(),
                    amount,
                    bucket,
                    rounding: Rounding::Down,
                    reversed: Decimal::ZERO,
                    parts: None,
                });
            }
        }
        self.points_row(&e.member, t, "adjust", points, amount, None, &e.id);
        self.balance_raised(&e.member, points, t, &e.id);
        true
    }

    // -------------------------------------------------------------- returns

    fn return_(
        &mut self,
        e: &GenEvent,
        t: DateTime<Utc>,
        of: &str,
        amount: Decimal,
        items: &[(String, Decimal)],
    ) -> bool {
        let Some(purchase) = self
            .members
            .get_mut(&e.member)
            .and_then(|m| m.purchases.get_mut(of))
        else {
            return false;
        };
        if amount <= Decimal::ZERO
            || purchase.returned + amount > purchase.amount
            || !baskets::take_back(purchase, items)
        {
            return false;
        }
        purchase.returned += amount;
        let awards = purchase.awards.len();
        // What rules' awards gave back, per type: due (for the measures,
        // written off or not) and taken (for lifetime totals); an
        // adjustment was never measured.
        let (mut due_back, mut taken) = (Vec::new(), Vec::new());
        for a in 0..awards {
            if let Some((points, reversed, due, rule)) = self.reverse(&e.member, of, a) {
                self.points_row(&e.member, t, "reverse", &points, -reversed, rule, &e.id);
                if rule.is_some() {
                    due_back.push((points.clone(), due));
                    taken.push((points, reversed));
                }
            }
        }
        self.returned(&e.member, of, amount, &due_back, &taken);
        if let Some(m) = self.members.get_mut(&e.member) {
            if m.purchases.get(of).is_some_and(|p| p.returned == p.amount) {
                let rules = &self.program.rules;
                m.firings.retain(|(r, _, id)| {
                    id != of || rules.get(*r).is_some_and(|x| pays_referrer(x))
                });
            }
        }
        true
    }

    /// Takes back award `a` of purchase `of` in proportion to what has been
    /// returned of it: `live × returned / amount`, rounded as the award was,
    /// less what earlier returns took; from the award's own bucket first,
    /// then in spending order; what is missing is a debt (`go negative`) or
    /// written off. Returns (points type, amount reversed, amount due,
    /// rule) when something was due.
    fn reverse(
        &mut self,
        member: &str,
        of: &str,
        a: usize,
    ) -> Option<(String, Decimal, Decimal, Option<usize>)> {
        let write_off = self.program.write_off;
        let m = self.members.get_mut(member)?;
        let purchase = m.purchases.get_mut(of)?;
        let (returned, total) = (purchase.returned, purchase.amount);
        let share = baskets::share_back(purchase, a);
        let award = purchase.awards.get_mut(a)?;
        let precision = self.program.precision(&award.points);
        let w = m.wallets.get_mut(&award.points)?;
        // What expired of the award's points: of its bucket, and of the
        // parts a cancelled redemption gave back from it.
        let expired: Decimal = w
            .buckets
            .iter()
            .filter(|b| b.origin == award.bucket)
            .map(|b| b.expired)
            .sum();
        let live = (award.amount - expired).max(Decimal::ZERO);
        // Never more than the award's live points (docs/semantics.md: the
        // returns add up to exactly the award, never more), which a share
        // a 28th digit above them would round up past.
        let due = match share {
            Some((back, raw)) => round(live * back / raw, precision, award.rounding),
            None => round(live * returned / total, precision, award.rounding),
        }
        .min(live);
        let target = due - award.reversed;
        if target <= Decimal::ZERO {
            return None;
        }
        award.reversed += target;
        let mut order: Vec<usize> = w
            .buckets
            .iter()
            .position(|b| b.seq == award.bucket)
            .into_iter()
            .collect();
        order.extend(w.spending_order());
        let taken: Decimal = w.take(target, &order).iter().map(|(_, p)| *p).sum();
        // Written off: the row takes what was there (nothing, maybe) and
        // notes the rest.
        let reversed = if write_off {
            taken
        } else {
            w.debt += target - taken;
            target
        };
        Some((award.points.clone(), reversed, target, award.rule))
    }
}

/// An award that cannot be computed: it divides by zero or overflows the
/// largest decimal (the record is rejected).
struct Uncomputable;

/// Why the rules on an event reject it.
#[derive(PartialEq)]
enum Refused {
    Uncomputable,
    /// The points issued (or that preview rules would) would pass 10^20.
    PastLargest,
}

/// Adds `value` to the sum of its points type, or starts it.
fn add_to(
    sums: &mut Vec<(String, Decimal)>,
    points: String,
    value: Decimal,
) -> Result<(), Uncomputable> {
    match sums.iter_mut().find(|(p, _)| *p == points) {
        Some((_, sum)) => *sum = sum.checked_add(value).ok_or(Uncomputable)?,
        None => sums.push((points, value)),
    }
    Ok(())
}

/// Whether `so_far` plus `added` stays within 10^20, the most a run counts.
fn within_largest(so_far: Option<&Decimal>, added: Decimal) -> bool {
    let largest = Decimal::from_i128_with_scale(10i128.pow(20), 0);
    so_far
        .copied()
        .unwrap_or_default()
        .checked_add(added)
        .is_some_and(|sum| sum <= largest)
}

fn rounding_of(rule: &RuleDecl) -> Rounding {
    rule.stmts
        .iter()
        .find_map(|s| match &s.node {
            RuleStmt::Round(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(Rounding::Down)
}

/// Whether the rule says `stop`.
fn stops(rule: &RuleDecl) -> bool {
    rule.stmts.iter().any(|s| matches!(s.node, RuleStmt::Stop))
}

/// Whether the rule's exclusive group chooses `by order`.
fn by_order(rule: &RuleDecl) -> bool {
    rule.stmts
        .iter()
        .any(|s| matches!(s.node, RuleStmt::Group { by_order: true, .. }))
}

fn group_of(rule: &RuleDecl) -> Option<&str> {
    rule.stmts.iter().find_map(|s| match &s.node {
        RuleStmt::Group { name, .. } => Some(name.node.as_str()),
        _ => None,
    })
}

/// The points types a rule earns, in the order its lines name them.
/// Whether a rule multiplies what the rules before it earned.
/// Whether a rule's awards go to the member's referrer (`earn ... to
/// referrer`).
fn pays_referrer(rule: &RuleDecl) -> bool {
    rule.stmts
        .iter()
        .any(|s| matches!(&s.node, RuleStmt::Earn(e) if e.to_referrer))
}

fn multiplies(rule: &RuleDecl) -> bool {
    rule.stmts
        .iter()
        .any(|s| matches!(s.node, RuleStmt::Multiply { .. }))
}

fn earned_types(rule: &RuleDecl, rules: &[&RuleDecl]) -> Vec<String> {
    let mut types = Vec::new();
    for s in &rule.stmts {
        if let RuleStmt::Multiply { points, .. } = &s.node {
            if !types.contains(&points.node) {
                types.push(points.node.clone());
            }
        }
        if let RuleStmt::Earn(earn) = &s.node {
            let p = match &earn.award {
                Award::Amount { points, .. } => Some(points.node.clone()),
                Award::PercentOf {
                    points: Some(p), ..
                } => Some(p.node.clone()),
                Award::PercentOf { rule: r, .. } => rules
                    .iter()
                    .find(|x| x.name.node == r.node)
                    .and_then(|x| earned_types(x, rules).first().cloned()),
            };
            if let Some(p) = p.filter(|p| !types.contains(p)) {
                types.push(p);
            }
        }
    }
    types
}

// ------------------------------------------------------------------ expressions

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(Decimal),
    Money(Decimal),
    Text(String),
    Bool(bool),
    Date(NaiveDate),
    /// A tier, by rank.
    Tier(usize),
    /// A duration, which a date adds or takes (tests/reference/moves.rs).
    Duration(loyalty::syntax::ast::Duration),
    /// An optional field the record left empty.
    Missing,
    /// Arithmetic that divides by zero or overflows the largest decimal:
    /// a comparison with it is false, an `earn` amount that is it cannot be
    /// computed (docs/semantics.md, "How large numbers may be").
    Fault,
}

/// What a rule's expressions can read on one purchase.
#[derive(Clone)]
struct Facts<'m> {
    /// The tiers' names, lowest first.
    tiers: Vec<String>,
    amount: Decimal,
    qty: Decimal,
    channel: Option<&'m str>,
    /// The purchase's basket, and the item a per-item line is on.
    items: &'m [gen::baskets::GenItem],
    item: Option<&'m gen::baskets::GenItem>,
    member: &'m Member,
    program: &'m Program<'m>,
    /// The event's instant, and its local time in the program's zone.
    now: DateTime<Utc>,
    local: NaiveDateTime,
    /// The event's type, and its declared fields (other than a
    /// purchase's), each `Missing` when left empty.
    event: &'m str,
    fields: BTreeMap<String, Value>,
}

impl Facts<'_> {
    /// A counter of the member's purchases in its window, this event
    /// included when it is a purchase (docs/semantics.md, Earning): their
    /// number, or their amounts summed. Only purchases are generated.
    fn counter(&self, c: &CounterRef) -> Value {
        let (sum, event) = match &c.source.node {
            MeasureSource::Count(e) => (false, e),
            MeasureSource::FieldSum { event, .. } => (true, event),
            _ => return Value::Missing,
        };
        if event.node != "purchase" {
            return Value::Missing;
        }
        let inside = |at: DateTime<Utc>, local: NaiveDateTime| match &c.window.node {
            CounterWindow::This(unit) => {
                next_start(local.date(), *unit) == next_start(self.local.date(), *unit)
            }
            CounterWindow::Last(term) => {
                back(self.local, term).is_some_and(|from| at > self.program.instant(from))
            }
        };
        let mut total = Decimal::ZERO;
        let now = std::iter::once((self.now, self.local, self.amount))
            .filter(|_| self.event == "purchase");
        for (at, local, amount) in self.member.bought.iter().copied().chain(now) {
            if inside(at, local) {
                total += if sum { amount } else { Decimal::ONE };
            }
        }
        if sum {
            Value::Money(total)
        } else {
            Value::Number(total)
        }
    }

    fn name(&self, name: &str) -> Value {
        match name {
            "amount" => Value::Money(self.amount),
            // On a move between tiers, the tier it reached (docs/semantics.md,
            // "Tier changes"), which an earlier rule may have moved on from.
            "tier" => self
                .fields
                .get("tier")
                .cloned()
                .unwrap_or(Value::Tier(self.member.t.tier)),
            "qty" => Value::Number(self.qty),
            "channel" => self
                .channel
                .map_or(Value::Missing, |c| Value::Text(c.to_string())),
            "vip" => Value::Bool(self.member.vip),
            "referred" => Value::Bool(self.member.referrer.is_some()),
            "region" => Value::Text(self.member.region.clone()),
            "hour" => Value::Number(Decimal::from(self.local.hour())),
            "month" => Value::Number(Decimal::from(self.local.month())),
            "date" => Value::Date(self.local.date()),
            "weekday" => Value::Text(
                match self.local.weekday() {
                    chrono::Weekday::Mon => "monday",
                    chrono::Weekday::Tue => "tuesday",
                    chrono::Weekday::Wed => "wednesday",
                    chrono::Weekday::Thu => "thursday",
                    chrono::Weekday::Fri => "friday",
                    chrono::Weekday::Sat => "saturday",
                    chrono::Weekday::Sun => "sunday",
                }
                .to_string(),
            ),
            other => self.named(other).unwrap_or_else(|| {
                self.tiers
                    .iter()
                    .position(|t| t == other)
                    .map_or(Value::Missing, Value::Tier)
            }),
        }
    }

    fn eval(&self, e: &Expr) -> Value {
        match &e.node {
            ExprKind::Number(n) => Value::Number(*n),
            ExprKind::Money(m) => Value::Money(m.amount.node),
            ExprKind::Percent(p) => Value::Number(*p / Decimal::ONE_HUNDRED),
            ExprKind::Date(d) => Value::Date(*d),
            ExprKind::Text(t) => Value::Text(t.clone()),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::FirstPurchase => {
                Value::Bool(self.event == "purchase" && self.member.bought.is_empty())
            }
            ExprKind::Name(n) => self.name(n),
            ExprKind::MemberAttr(a) => self.name(&a.node),
            ExprKind::ItemField(f) => self.item_field(&f.node),
            ExprKind::Balance(p) => Value::Number(
                self.member
                    .wallets
                    .get(&p.node)
                    .map_or(Decimal::ZERO, Wallet::balance),
            ),
            ExprKind::Counter(c) => self.counter(c),
            ExprKind::Paren(inner) => self.eval(inner),
            ExprKind::Unary { op, expr } => match (op, self.eval(expr)) {
                (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                (UnaryOp::Neg, Value::Number(n)) => Value::Number(-n),
                (UnaryOp::Neg, Value::Money(n)) => Value::Money(-n),
                _ => Value::Missing,
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs), self.eval(rhs));
                binary(*op, a, b)
            }
            ExprKind::InList { expr, items } => {
                let v = self.eval(expr);
                if v == Value::Missing {
                    return Value::Bool(false);
                }
                Value::Bool(items.iter().any(|i| self.eval(i) == v))
            }
            ExprKind::InRange { expr, low, high } => {
                let v = self.eval(expr);
                let low = binary(BinaryOp::Ge, v.clone(), self.eval(low));
                let high = binary(BinaryOp::Le, v, self.eval(high));
                Value::Bool(low == Value::Bool(true) && high == Value::Bool(true))
            }
            ExprKind::Duration(d) => Value::Duration(d.clone()),
        }
    }

    /// Whether `e` reads a field or attribute left empty (its value is
    /// then missing, not uncomputable).
    fn reads_missing(&self, e: &Expr) -> bool {
        match &e.node {
            ExprKind::Name(n) => self.name(n) == Value::Missing,
            ExprKind::MemberAttr(a) => self.name(&a.node) == Value::Missing,
            ExprKind::Paren(inner) | ExprKind::Unary { expr: inner, .. } => {
                self.reads_missing(inner)
            }
            ExprKind::Binary { lhs, rhs, .. } => self.reads_missing(lhs) || self.reads_missing(rhs),
            _ => false,
        }
    }

    /// The value of an `earn` line's amount, times its `per` steps if it
    /// has one: `None` when it reads a field left empty (the rule does not
    /// fire).
    fn line_value(
        &self,
        amount: &Expr,
        per: Option<&PerClause>,
    ) -> Result<Option<Decimal>, Uncomputable> {
        // An amount or base that reads an empty field has no
        // value: the rule does not fire. One whose fields are
        // there but that divides by zero or overflows cannot be
        // computed: the record is rejected.
        let base = per.map(|per| self.eval(&per.base));
        let n = match (self.eval(amount), base) {
            (Value::Number(n), None | Some(Value::Number(_) | Value::Money(_))) => n,
            _ if self.reads_missing(amount)
                || per
                    .as_ref()
                    .is_some_and(|per| self.reads_missing(&per.base)) =>
            {
                return Ok(None)
            }
            _ => return Err(Uncomputable),
        };
        Ok(Some(match per {
            None => n,
            Some(per) => {
                let base = match self.eval(&per.base) {
                    Value::Number(b) | Value::Money(b) => b,
                    _ => return Ok(None),
                };
                // Whole steps toward zero: a base below zero
                // (`amount - 100 USD`) has -1 whole step at -1.5
                // steps (docs/semantics.md does not say; the
                // engine does so).
                let steps = base.checked_div(per.unit.node).ok_or(Uncomputable)?;
                if per.full {
                    n.checked_mul(steps.trunc()).ok_or(Uncomputable)?
                } else {
                    // N × X ÷ U, multiplied first (docs/semantics.md);
                    // past the largest decimal, N × (X ÷ U).
                    n.checked_mul(base)
                        .and_then(|product| product.checked_div(per.unit.node))
                        .or_else(|| n.checked_mul(steps))
                        .ok_or(Uncomputable)?
                }
            }
        }))
    }

    /// A `times` table's factor for this purchase: the key's entry, else
    /// `else`, else zero (the line earns nothing).
    fn factor(&self, m: &Multiplier) -> Decimal {
        let key = self.name(&m.key.node);
        let matches = |k: &TableKey| match (k, &key) {
            (TableKey::Text(t), Value::Text(v)) => t == v,
            (TableKey::Number(n), Value::Number(v)) => n == v,
            (TableKey::Name(n), Value::Tier(v)) => self.tiers.get(*v) == Some(n),
            _ => false,
        };
        m.entries
            .iter()
            .find(|e| matches(&e.key.node))
            .or_else(|| m.entries.iter().find(|e| e.key.node == TableKey::Else))
            .map_or(Decimal::ZERO, |e| e.factor.node)
    }
}

fn binary(op: BinaryOp, a: Value, b: Value) -> Value {
    use std::cmp::Ordering;
    let ordering = |a: &Value, b: &Value| -> Option<Ordering> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) | (Value::Money(x), Value::Money(y)) => {
                Some(x.cmp(y))
            }
            (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
            (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
            (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
            (Value::Tier(x), Value::Tier(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    let compare = |test: fn(Ordering) -> bool| Value::Bool(ordering(&a, &b).is_some_and(test));
    match op {
        BinaryOp::And => Value::Bool(a == Value::Bool(true) && b == Value::Bool(true)),
        BinaryOp::Or => Value::Bool(a == Value::Bool(true) || b == Value::Bool(true)),
        BinaryOp::Eq => compare(Ordering::is_eq),
        BinaryOp::Ne => compare(Ordering::is_ne),
        BinaryOp::Lt => compare(Ordering::is_lt),
        BinaryOp::Le => compare(Ordering::is_le),
        BinaryOp::Gt => compare(Ordering::is_gt),
        BinaryOp::Ge => compare(Ordering::is_ge),
        BinaryOp::Add | BinaryOp::Sub if matches!(a, Value::Date(_)) => moves::shift(op, &a, &b),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
            let (x, money) = match a {
                Value::Number(x) => (x, false),
                Value::Money(x) => (x, true),
                Value::Fault => return Value::Fault,
                _ => return Value::Missing,
            };
            let (y, money_b) = match b {
                Value::Number(y) => (y, false),
                Value::Money(y) => (y, true),
                Value::Fault => return Value::Fault,
                _ => return Value::Missing,
            };
            let value = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                _ => x.checked_div(y),
            };
            let Some(value) = value else {
                return Value::Fault;
            };
            if (money || money_b) && !(op == BinaryOp::Div && money && money_b) {
                Value::Money(value)
            } else {
                Value::Number(value)
            }
        }
    }
}
