//! The abstract syntax tree of a `.loyalty` program, as written: every node
//! keeps its source span, nothing is resolved yet (that is `check`'s job).

use chrono::NaiveDate;
use rust_decimal::Decimal;

pub use crate::diagnostic::Span;

/// A node with the span of the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// A declared or referenced name.
pub type Ident = Spanned<String>;
/// A decimal literal.
pub type Number = Spanned<Decimal>;

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Program(ProgramDecl),
    Member(MemberDecl),
    Event(EventDecl),
    Points(PointsDecl),
    Tiers(TiersDecl),
    Rule(RuleDecl),
    Perk(PerkDecl),
    Reward(RewardDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Program(d) => d.span,
            Item::Member(d) => d.span,
            Item::Event(d) => d.span,
            Item::Points(d) => d.span,
            Item::Tiers(d) => d.span,
            Item::Rule(d) => d.span,
            Item::Perk(d) => d.span,
            Item::Reward(d) => d.span,
        }
    }
}

// ------------------------------------------------------------------ literals

#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub amount: Number,
    pub currency: Ident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Duration {
    pub count: Number,
    pub unit: TimeUnit,
    pub span: Span,
}

impl TimeUnit {
    /// The singular keyword (`month`).
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
            TimeUnit::Year => "year",
        }
    }
}

/// A unit of the calendar: what `at end of ...` and `calendar ...` round to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl CalendarUnit {
    pub fn name(self) -> &'static str {
        match self {
            CalendarUnit::Day => "day",
            CalendarUnit::Week => "week",
            CalendarUnit::Month => "month",
            CalendarUnit::Quarter => "quarter",
            CalendarUnit::Year => "year",
        }
    }
}

/// The period a cap, limit or budget counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Lifetime,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
            Period::Lifetime => "lifetime",
        }
    }
}

// ------------------------------------------------------------------ program

#[derive(Debug, Clone, PartialEq)]
pub struct ProgramDecl {
    pub name: Spanned<String>,
    pub settings: Vec<Spanned<ProgramSetting>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProgramSetting {
    Currency(Ident),
    Timezone(Spanned<String>),
    Effective(Spanned<NaiveDate>),
    Overspent(OverspentPolicy),
    /// `accept late events up to 7 days`: how far behind the clock an
    /// event may be and still be applied (by re-running its member).
    AcceptLate(Duration),
    /// `accept returns up to 30 days`: how long after a purchase a return
    /// may refer to it (and the engine keeps it).
    AcceptReturns(Duration),
    /// `reject duplicate ids within 30 days`: how far apart in time two
    /// records with one id may be for the later to be a duplicate.
    DuplicateWindow(Duration),
    /// `survey feedback.score`: the event type that carries survey
    /// responses and its number field with the 0–10 score (for the NPS).
    Survey {
        event: Ident,
        field: Ident,
    },
}

/// What happens when a return takes back points that were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverspentPolicy {
    /// The balance goes negative: a debt recovered from future earning.
    GoNegative,
    /// The missing points are written off: the balance stops at zero.
    WriteOff,
}

// ------------------------------------------------------------------ schemas

#[derive(Debug, Clone, PartialEq)]
pub struct MemberDecl {
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    /// `name: optional type`: a record may leave it empty; otherwise a
    /// record without it is rejected.
    pub optional: bool,
    pub ty: Spanned<FieldType>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Money,
    Text,
    Date,
    Bool,
}

/// A field of a basket item (`item.category`): the columns an item row
/// gives, and `amount`, which the engine computes (quantity × unit price −
/// discount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemField {
    Sku,
    Category,
    Quantity,
    UnitPrice,
    Discount,
    Amount,
}

impl ItemField {
    pub const ALL: [ItemField; 6] = [
        ItemField::Sku,
        ItemField::Category,
        ItemField::Quantity,
        ItemField::UnitPrice,
        ItemField::Discount,
        ItemField::Amount,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ItemField::Sku => "sku",
            ItemField::Category => "category",
            ItemField::Quantity => "quantity",
            ItemField::UnitPrice => "unit_price",
            ItemField::Discount => "discount",
            ItemField::Amount => "amount",
        }
    }

    pub fn ty(self) -> FieldType {
        match self {
            ItemField::Sku | ItemField::Category => FieldType::Text,
            ItemField::Quantity => FieldType::Number,
            ItemField::UnitPrice | ItemField::Discount | ItemField::Amount => FieldType::Money,
        }
    }

    /// The field called `name`, if one is.
    pub fn named(name: &str) -> Option<ItemField> {
        ItemField::ALL.into_iter().find(|f| f.name() == name)
    }
}

// ------------------------------------------------------------------ points

#[derive(Debug, Clone, PartialEq)]
pub struct PointsDecl {
    pub name: Ident,
    pub settings: Vec<Spanned<PointsSetting>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PointsSetting {
    Precision(Number),
    Value(Money),
    Breakage(Number),
    Pending(Duration),
    Qualifying,
    Expire(Expiry),
    /// `transfers [min N] [, fee P%] [, keep expiry | restart expiry]`:
    /// members may give these points to each other.
    Transfers(Vec<Spanned<TransferOption>>),
    /// `pool household [, at most 6 members]`: members may pool these points
    /// in shared accounts of this kind.
    Pool {
        kind: Ident,
        most: Option<Number>,
    },
    /// `redeem at least 500, at most 50000`: bounds on one redemption.
    Redeem(Vec<Spanned<RedeemLimit>>),
    /// `cap 500 per member per day`: the most every rule together may award
    /// one member of this type in a period.
    Cap {
        amount: Number,
        period: Spanned<Period>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RedeemLimit {
    AtLeast(Number),
    AtMost(Number),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransferOption {
    /// The fewest points one transfer may move.
    Min(Number),
    /// A share of the points moved, paid in points by the giver.
    Fee(Number),
    /// Whether moved points keep their earn and expiry dates (`keep expiry`,
    /// the default) or start afresh as if earned at the transfer.
    Expiry(TransferExpiry),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferExpiry {
    Keep,
    Restart,
}

impl TransferExpiry {
    pub fn name(self) -> &'static str {
        match self {
            TransferExpiry::Keep => "keep expiry",
            TransferExpiry::Restart => "restart expiry",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expiry {
    Never,
    /// `expire 6 months after earn [at end of month]`
    AfterEarn {
        term: Duration,
        end_of: Option<Spanned<CalendarUnit>>,
    },
    /// `expire after 24 months without activity`
    Inactivity(Duration),
    /// `expire at end of year [+ 1]`
    EndOf {
        unit: Spanned<CalendarUnit>,
        plus: Option<Number>,
    },
}

// ------------------------------------------------------------------ tiers

#[derive(Debug, Clone, PartialEq)]
pub struct TiersDecl {
    /// Measures named in the header (`tiers by stars earned or by count of flight`),
    /// which `from N or M` thresholds refer to by position.
    pub by: Vec<Spanned<MeasureSource>>,
    pub window: Spanned<Window>,
    pub stmts: Vec<Spanned<TierStmt>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MeasureSource {
    /// Points of a type earned in the window (never the balance).
    PointsEarned(Ident),
    /// The current balance of a points type, when the program asks for it.
    Balance(Ident),
    /// The number of events of a type in the window.
    Count(Ident),
    /// The sum of a number or money field of an event type in the window.
    FieldSum { event: Ident, field: Ident },
}

impl MeasureSource {
    /// The name a header measure goes by (`stars_earned`, `flight_count`):
    /// its column in members.csv, and what `rollover` names it.
    pub fn column(&self) -> String {
        match self {
            MeasureSource::PointsEarned(p) => format!("{}_earned", p.node),
            MeasureSource::Balance(p) => format!("{}_balance_measure", p.node),
            MeasureSource::Count(e) => format!("{}_count", e.node),
            MeasureSource::FieldSum { event, field } => {
                format!("{}_{}_sum", event.node, field.node)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Calendar periods; with a date, periods of the unit counted from it
    /// (`calendar year from 2025-04-01`: 1 April to 31 March).
    Calendar(CalendarUnit, Option<NaiveDate>),
    Rolling(Duration),
    /// The member's year, counted from the enrolment date.
    Membership,
    /// A year counted from the enrolment, started afresh whenever the
    /// member reaches a higher tier.
    Qualification,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TierStmt {
    Measure {
        name: Ident,
        source: Spanned<MeasureSource>,
    },
    Tier(TierDef),
    Upgrade(UpgradePolicy),
    Downgrade(DowngradePolicy),
    Lifetime {
        tier: Ident,
        amount: Number,
        points: Ident,
    },
    /// `rollover M up to N`: at a period end, what header measure `M`
    /// holds above the threshold of the tier reached carries into the next
    /// period, at most N. Without `M`, the header's only measure.
    Rollover {
        measure: Option<Ident>,
        cap: Number,
    },
    /// `status match up to gold`: a `set_tier` record may hold a member at
    /// a tier up to this one until a day it names.
    StatusMatch {
        tier: Ident,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierDef {
    pub name: Ident,
    pub qualify: Threshold,
    pub keep: Option<Threshold>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// `from start`: where every member begins.
    Start,
    /// `from 25000 or 30`: one value per header measure, joined by `or`.
    Values(Vec<Number>),
    /// `when pqp >= 5000 and flights >= 15`: a condition on named measures.
    When(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradePolicy {
    Immediately,
    AtPeriodEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DowngradePolicy {
    Never,
    AtPeriodEnd(Vec<Spanned<DowngradeOption>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DowngradeOption {
    /// `at most N levels` per period end.
    Step(Number),
    /// `after N months grace` before the downgrade takes effect.
    Grace(Duration),
}

// ------------------------------------------------------------------ rules

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    /// `preview rule`: evaluated and written to the ledger, never awarded.
    pub preview: bool,
    pub name: Ident,
    pub stmts: Vec<Spanned<RuleStmt>>,
    pub span: Span,
}

// Statements are built once per program and never copied on a hot path, so
// the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RuleStmt {
    On {
        event: Ident,
        condition: Option<Expr>,
    },
    Earn(Earn),
    Cap {
        amount: Number,
        points: Ident,
        scope: CapScope,
    },
    Limit {
        count: Number,
        period: Spanned<Period>,
    },
    /// `limit 10 per referrer`: the times the rule may fire, over the
    /// program's life, for the members one member referred.
    LimitPerReferrer {
        count: Number,
    },
    Budget {
        amount: Number,
        points: Ident,
        period: Option<Spanned<Period>>,
    },
    Round(Rounding),
    /// `exclusive group NAME`: of the group's rules that fire, the one with
    /// the largest award pays; `by order`: the one written first.
    Group {
        name: Ident,
        by_order: bool,
    },
    During {
        from: Spanned<NaiveDate>,
        to: Spanned<NaiveDate>,
    },
    MinSpend(Money),
    /// `stop`: when the rule fires, the rules after it on the event are
    /// not evaluated.
    Stop,
    /// `multiply stars by 2`: awards what the rules written before it
    /// earned of the type on the event, times the factor less one.
    Multiply {
        points: Ident,
        factor: Number,
    },
    /// `expire 30 days after earn`: the rule's awards expire so, not as
    /// their points type says.
    Expire(Expiry),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Earn {
    pub award: Award,
    pub multiplier: Option<Multiplier>,
    /// `to referrer`: the award goes to the member who referred this one.
    pub to_referrer: bool,
}

// Built once per program, as statements are: the size of the largest
// variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Award {
    /// `earn 50% of flight_miles [award_miles]`: a share of an earlier rule's
    /// rounded award on the same event.
    PercentOf {
        percent: Number,
        rule: Ident,
        points: Option<Ident>,
    },
    /// `earn 2 stars [per [full] 1 USD of amount] [where item.category = "coffee"]`
    Amount {
        amount: Expr,
        points: Ident,
        per: Option<PerClause>,
        /// `where ...` after the amount: the basket items the line earns on.
        filter: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PerClause {
    /// `per full 20 CNY` counts whole steps; `per 20 CNY` is proportional.
    pub full: bool,
    pub unit: Number,
    pub currency: Option<Ident>,
    pub base: Expr,
    /// `per 2 items`: the base is the item's quantity (`item.quantity`),
    /// written as a count of items.
    pub items: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Multiplier {
    pub key: Ident,
    pub entries: Vec<TableEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableEntry {
    pub key: Spanned<TableKey>,
    pub factor: Number,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableKey {
    Text(String),
    Name(String),
    Number(Decimal),
    Else,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CapScope {
    PerEvent,
    /// `cap 50 stars per item`: the most one basket item earns.
    PerItem,
    PerMember(Spanned<Period>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Down,
    Up,
    HalfUp,
    HalfEven,
}

// ------------------------------------------------------------------ perks, rewards

#[derive(Debug, Clone, PartialEq)]
pub struct PerkDecl {
    pub name: Ident,
    pub tiers: Spanned<TierSet>,
    pub settings: Vec<Spanned<PerkSetting>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TierSet {
    All,
    AndAbove(Ident),
    List(Vec<Ident>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PerkSetting {
    Limit {
        count: Number,
        period: Spanned<Period>,
    },
    Cost(Money),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RewardDecl {
    pub name: Ident,
    pub settings: Vec<Spanned<RewardSetting>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RewardSetting {
    /// `price 500 stars`, or with `for gold, reserve` the price for those
    /// tiers.
    Price {
        amount: Number,
        points: Ident,
        tiers: Vec<Ident>,
    },
    Cost(Money),
}

// ------------------------------------------------------------------ expressions

pub type Expr = Spanned<ExprKind>;

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(Decimal),
    Money(Money),
    Percent(Decimal),
    Date(NaiveDate),
    Duration(Duration),
    Text(String),
    Bool(bool),
    /// An event field, a member attribute, a measure, a tier or a built-in name.
    Name(String),
    /// `member.birthday`
    MemberAttr(Ident),
    /// `item.category`: a field of the basket item an `earn` line is on.
    ItemField(Ident),
    /// `balance of stars`
    Balance(Ident),
    /// `first purchase`: the event is the member's first purchase.
    FirstPurchase,
    /// `count of purchase in this month`, `sum of purchase.amount over last
    /// 30 days`: the member's events of a type in a window, this one included.
    Counter(Box<CounterRef>),
    Paren(Box<Expr>),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    InList {
        expr: Box<Expr>,
        items: Vec<Expr>,
    },
    InRange {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
    },
}

/// A counter in an expression: what it counts, and over which window.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterRef {
    pub source: Spanned<MeasureSource>,
    pub window: Spanned<CounterWindow>,
}

/// The window a counter in a condition counts over.
#[derive(Debug, Clone, PartialEq)]
pub enum CounterWindow {
    /// `in this month`: the current day, week, month, quarter or year.
    This(CalendarUnit),
    /// `over last 30 days`: from this long before the event up to it.
    Last(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    /// Every operator, loosest-binding first.
    pub const ALL: [BinaryOp; 12] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}
