//! The compiled program: what the engine runs. Names are resolved to indices,
//! literals to `Decimal`s and dates, thresholds to conditions, so nothing is
//! looked up by name while events are applied.

use super::predicate::Predicate;
pub use crate::check::BuiltinEvent;
use crate::currency::Currency;
use crate::syntax::ast::{
    BinaryOp, CalendarUnit, FieldType, ItemField, OverspentPolicy, Period, Rounding, TimeUnit,
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use compact_str::CompactString;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub type EventTypeId = usize;
/// A points type: its place in `Program::points` (and in every table kept
/// per points type: a member's wallets, the totals). A type of its own, so
/// that it is never passed where a member's slot or a rule is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PointsId(pub usize);

impl PointsId {
    /// Its place in a table kept per points type.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A rule: its place in `Program::rules`. A type of its own, so that a
/// share names its rule by this and not by any number at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RuleId(pub usize);

impl RuleId {
    /// Its place in a table kept per rule.
    pub fn index(self) -> usize {
        self.0
    }
}
pub type TierRank = usize;
pub type PerkId = usize;
pub type RewardId = usize;

#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    pub currency: Currency,
    pub timezone: Tz,
    pub effective: Option<NaiveDate>,
    pub overspent: OverspentPolicy,
    /// `accept late events up to N`: how far behind the clock a late event
    /// may be; `None` accepts any lateness.
    pub late_limit: Option<Term>,
    /// `accept returns up to N`: how long after a purchase a return (or an
    /// adjust made for the purchase) may refer to it; `None`: forever.
    pub return_window: Option<Term>,
    /// `reject duplicate ids within N`: a record is a duplicate when an
    /// applied record has its id and a time at most N before or after its
    /// own (30 days unless the program says).
    pub duplicate_window: Term,
    pub member_attributes: Vec<Field>,
    pub events: Vec<EventType>,
    pub points: Vec<PointsType>,
    pub tiers: Option<Tiers>,
    pub rules: Vec<Rule>,
    pub perks: Vec<Perk>,
    pub rewards: Vec<Reward>,
    /// Rewards, perks and points types by name, for the records that name them.
    pub reward_index: BTreeMap<String, RewardId>,
    pub perk_index: BTreeMap<String, PerkId>,
    pub points_index: BTreeMap<String, PointsId>,
    /// Points types by the kind of pool they are pooled in.
    pub pool_index: BTreeMap<String, PointsId>,
    /// The counters rules' expressions read (`count of purchase in this
    /// month`), each once: what they count (a `Count` or a `FieldSum`) and
    /// over which window. An [`Expr::Counter`] is an index here.
    pub counters: Vec<(Measure, CounterWindow)>,
    /// `survey feedback.score`: the event type that carries a survey
    /// response, and its number field with the 0–10 score (the NPS KPI).
    pub survey: Option<Survey>,
}

/// Where a program's survey responses are: an event type and its score field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survey {
    pub event: EventTypeId,
    /// The field's index among the event type's fields.
    pub field: usize,
}

/// The window of a counter: the current calendar unit, or a term back from
/// the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterWindow {
    This(CalendarUnit),
    Last(Term),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// A record that leaves it empty is rejected: a field the program
    /// declares without `optional`. Built-in fields are not: which of them
    /// a built-in event needs depends on the others (a `redeem` takes a
    /// `reward`, or `points` and `points_type`), and the reader checks that
    /// event by event.
    pub required: bool,
}

impl Program {
    /// How an award of `rule` in points type `points` expires: by the
    /// rule's own `expire` if it has one (qualifying points never expire),
    /// else by its points type's.
    pub fn award_expiry(&self, rule: RuleId, points: &PointsType) -> ExpiryRule {
        self.rules
            .get(rule.index())
            .and_then(|r| r.expiry)
            .filter(|_| !points.qualifying)
            .unwrap_or(points.expiry)
    }

    /// The `birthday` member attribute's index, if the members have one.
    pub fn birthday(&self) -> Option<usize> {
        self.member_attributes
            .iter()
            .position(|a| a.name == "birthday" && a.ty == FieldType::Date)
    }

    /// Whether records of this kind can do anything here on their own:
    /// transfers need a points type with `transfers` or a `pool`, pool
    /// events a `pool`, `set_tier` a `status match` line, `profile` member
    /// attributes; an `item` is part of its purchase, never a record alone;
    /// no record is of a type loyalty makes (`birthday`, `upgrade`, ...).
    pub fn uses(&self, builtin: Option<BuiltinEvent>) -> bool {
        match builtin {
            Some(BuiltinEvent::SetTier) => self
                .tiers
                .as_ref()
                .is_some_and(|t| t.status_match.is_some()),
            Some(BuiltinEvent::Profile) => !self.member_attributes.is_empty(),
            Some(BuiltinEvent::Transfer) => self
                .points
                .iter()
                .any(|p| p.transfers.is_some() || p.pool.is_some()),
            Some(BuiltinEvent::JoinPool | BuiltinEvent::LeavePool) => !self.pool_index.is_empty(),
            Some(BuiltinEvent::Item) => false,
            Some(made) if made.made_by_loyalty() => false,
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EventType {
    pub name: String,
    /// What it does besides firing rules; `None` for a type the program
    /// declares (`flight`, `stay`), which fires rules only.
    pub builtin: Option<BuiltinEvent>,
    /// The fields a record carries, in the order the engine stores them.
    pub fields: Vec<Field>,
    /// The rules `on` this type, in declaration order.
    pub rules: Vec<RuleId>,
}

/// A whole number of days, weeks, months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub count: u32,
    pub unit: TimeUnit,
}

/// `30 days`, `1 month`: as the program would write it.
impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {}{plural}", self.count, self.unit.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRule {
    Never,
    AfterEarn {
        term: Term,
        end_of: Option<CalendarUnit>,
    },
    Inactivity(Term),
    EndOf {
        unit: CalendarUnit,
        plus: u32,
    },
}

#[derive(Debug, Clone)]
pub struct PointsType {
    pub name: String,
    /// Decimal places of a balance (0 for whole points).
    pub precision: u32,
    /// What one redeemed point costs, in the program's currency.
    pub value: Option<Decimal>,
    /// Finance's expected share never redeemed, as a fraction (0.15 for 15%).
    pub breakage: Option<Decimal>,
    pub pending: Option<Term>,
    pub qualifying: bool,
    pub expiry: ExpiryRule,
    /// Whether and how members may give these points to each other.
    pub transfers: Option<Transfers>,
    /// The kind of shared account members may pool these points in.
    pub pool: Option<Pool>,
    /// Bounds on the points one redemption spends.
    pub redeem_min: Option<Decimal>,
    pub redeem_max: Option<Decimal>,
    /// `cap N per member per P`: the most all rules together award one
    /// member of this type in a period, in the order written.
    pub caps: Vec<(Decimal, Period)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transfers {
    /// The fewest points one transfer may move (0: any amount above zero).
    pub min: Decimal,
    /// The giver pays this share of the points moved on top, as a fraction.
    pub fee: Decimal,
    /// Moved points keep their earn and expiry dates; else they are earned anew.
    pub keep_expiry: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// A pool account is named `kind:id` (`household:smiths`).
    pub kind: String,
    pub most_members: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Tiers {
    /// Lowest first; the first is where every member starts.
    pub tiers: Vec<Tier>,
    pub measures: Vec<Measure>,
    /// A column name per measure: its name, or what it counts (`stars_earned`).
    pub measure_names: Vec<String>,
    /// Per header measure, `rollover M up to N`: the most of it carried
    /// into the next period (none: nothing carries).
    pub rollover: Vec<Option<Decimal>>,
    pub window: Window,
    pub upgrade_immediately: bool,
    pub downgrade: Downgrade,
    pub lifetime: Vec<Lifetime>,
    /// `status match up to T`: the highest tier a `set_tier` record may
    /// give (`None`: the program takes no `set_tier`).
    pub status_match: Option<TierRank>,
}

#[derive(Debug, Clone)]
pub struct Tier {
    pub name: String,
    /// The `from` values, one per header measure (all zero for `from
    /// start`); `None` for a `when` condition.
    pub values: Option<Vec<Decimal>>,
    /// When a member reaches the tier (over the measures); `None` for the first.
    pub qualify: Option<Expr>,
    /// When a member in the tier keeps it at a period end; defaults to `qualify`.
    pub keep: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    PointsEarned(PointsId),
    Balance(PointsId),
    Count(EventTypeId),
    FieldSum(EventTypeId, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Calendar periods, or periods of the unit counted from a date.
    Calendar(CalendarUnit, Option<NaiveDate>),
    Rolling(Term),
    /// A year from the enrolment, anniversary to anniversary.
    Membership,
    /// A year from the enrolment or the last upgrade, whichever is later.
    Qualification,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downgrade {
    Never,
    AtPeriodEnd {
        /// Levels dropped at most per period end; `None` drops to where the measures say.
        step: Option<u32>,
        grace: Option<Term>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub tier: TierRank,
    pub points: PointsId,
    pub threshold: Decimal,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub event: EventTypeId,
    /// The `where` condition split at its top-level `and`s: the rule fires
    /// when all hold, and `explain` can say which one did not.
    pub conditions: Vec<Condition>,
    pub awards: Vec<Award>,
    pub caps: Vec<Cap>,
    pub item_caps: Vec<ItemCap>,
    pub limits: Vec<Limit>,
    pub budgets: Vec<Budget>,
    pub rounding: Rounding,
    pub group: Option<usize>,
    /// Its exclusive group chooses the first rule written that fires, not
    /// the largest award (`by order`; the same for every rule of a group).
    pub group_by_order: bool,
    pub during: Option<(NaiveDate, NaiveDate)>,
    pub min_spend: Option<Decimal>,
    /// Written to the ledger as `preview` rows, never awarded.
    pub preview: bool,
    /// `stop`: when it fires, the rules after it on the event are not
    /// evaluated.
    pub stop: bool,
    /// `expire ...`: when its awards expire, instead of their points
    /// type's rule (never by inactivity: the checker refuses it).
    pub expiry: Option<ExpiryRule>,
    /// `earn ... to referrer`: its awards go to the member's referrer (it
    /// does not fire for a member referred by no one).
    pub to_referrer: bool,
}

impl Expr {
    /// Whether it reads a basket item's field.
    pub fn reads_item(&self) -> bool {
        match self {
            Expr::Item(_) => true,
            Expr::Not(e) | Expr::Neg(e) => e.reads_item(),
            Expr::Binary(_, a, b) => a.reads_item() || b.reads_item(),
            Expr::InList(e, list) => e.reads_item() || list.iter().any(Expr::reads_item),
            Expr::InRange(e, a, b) => e.reads_item() || a.reads_item() || b.reads_item(),
            Expr::Const(_)
            | Expr::Field(_)
            | Expr::Attribute(_)
            | Expr::Builtin(_)
            | Expr::Measure(_)
            | Expr::Balance(_)
            | Expr::Counter(_) => false,
        }
    }
}

impl Rule {
    /// Whether it multiplies what the rules before it earned (`multiply`)
    /// rather than earning of its own.
    pub fn multiplies(&self) -> bool {
        self.awards
            .iter()
            .any(|a| matches!(a.amount, AwardAmount::Multiply { .. }))
    }
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub expr: Expr,
    /// The same condition as the checks it makes, which the engine decides.
    pub predicate: Predicate,
    /// The condition as written, for explanations.
    pub text: String,
}

impl Condition {
    pub fn new(expr: Expr, text: String) -> Condition {
        Condition {
            predicate: Predicate::of(&expr),
            expr,
            text,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Award {
    pub points: PointsId,
    pub amount: AwardAmount,
    pub multiplier: Option<Multiplier>,
    /// `Some` for a line that earns on each item of the purchase's basket
    /// (it reads `item.x`, counts `per item` or has a `where`).
    pub items: Option<Items>,
}

/// How an `earn` line chooses the basket items it earns on.
#[derive(Debug, Clone)]
pub struct Items {
    /// `where item.category = "coffee"`; `None`: every item.
    pub filter: Option<Condition>,
}

/// `cap 50 stars per item`: the most one basket item earns of the points
/// type, across the rule's item lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCap {
    pub points: PointsId,
    pub amount: Decimal,
}

#[derive(Debug, Clone)]
pub enum AwardAmount {
    /// `earn N P`, or `earn N P per [full] U of BASE`.
    Rate { amount: Expr, per: Option<Per> },
    /// `earn X% of R`: a fraction of an earlier rule's rounded award of this points type.
    ShareOf { fraction: Decimal, rule: RuleId },
    /// `multiply P by F`: F − 1 times what the live earning rules written
    /// before this one awarded of this points type on the event.
    Multiply { factor: Decimal },
}

#[derive(Debug, Clone)]
pub struct Per {
    pub full: bool,
    pub unit: Decimal,
    pub base: Expr,
}

#[derive(Debug, Clone)]
pub struct Multiplier {
    pub key: Expr,
    pub entries: Vec<(Value, Decimal)>,
    pub otherwise: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub points: PointsId,
    pub amount: Decimal,
    /// `None`: per event.
    pub period: Option<Period>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Period,
    /// `limit N per referrer`: counted for the member's referrer, over the
    /// firings for all the members they referred (a member referred by no
    /// one is not limited by it).
    pub per_referrer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub points: PointsId,
    pub amount: Decimal,
    /// `None`: in total.
    pub period: Option<Period>,
}

#[derive(Debug, Clone)]
pub struct Perk {
    pub name: String,
    /// The tiers it is granted to, by rank.
    pub tiers: Vec<TierRank>,
    pub limit: Option<Limit>,
    pub cost: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct Reward {
    pub name: String,
    pub points: PointsId,
    pub price: Decimal,
    /// Prices for some tiers, in the same points type.
    pub tier_prices: Vec<(TierRank, Decimal)>,
    pub cost: Option<Decimal>,
}

/// A value at run time. Money is a `Number` in the program's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Number(Decimal),
    /// Inline up to 24 bytes (most texts: a code, a channel, a name),
    /// rather than an allocation of its own for every field of every event
    /// and every member's attribute.
    Text(CompactString),
    Date(NaiveDate),
    Bool(bool),
    Tier(TierRank),
    Duration(Term),
    /// An optional field the record left empty.
    Missing,
}

// A member holds one for each of its attributes, and an event one for each
// field: a text inline takes no more than a `String` did.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// Names the engine computes from the member and the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Tier,
    Date,
    Weekday,
    Hour,
    Month,
    /// Days to the next birthday: the `birthday` attribute, by index.
    DaysToBirthday(usize),
    DaysSinceEnroll,
    /// `first purchase`: the event is the member's first purchase applied.
    FirstPurchase,
    /// `referred`: the member enrolled naming a referrer.
    Referred,
    /// `previous_tier`: the tier a member left (rules on tier changes).
    PreviousTier,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Const(Value),
    /// A field of the event being applied, by index in its type's fields.
    Field(usize),
    /// A member attribute, by index.
    Attribute(usize),
    /// A field of the basket item an `earn` line is computed on.
    Item(ItemField),
    Builtin(Builtin),
    /// A tier measure (only in tier conditions).
    Measure(usize),
    Balance(PointsId),
    /// A counter of [`Program::counters`], by index.
    Counter(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    InList(Box<Expr>, Vec<Expr>),
    InRange(Box<Expr>, Box<Expr>, Box<Expr>),
}
