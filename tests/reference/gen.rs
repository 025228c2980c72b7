//! Proptest strategies for the differential test: random well-typed programs
//! (built as syntax trees, printed and parsed back) and random event streams
//! for them, kept as plain structs that the reference reads directly and
//! that are rendered to JSON Lines for the engine.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use loyalty::syntax::ast::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

#[path = "gen_baskets.rs"]
pub mod baskets;
#[path = "gen_tiers.rs"]
pub mod gen_tiers;
#[path = "gen_moves.rs"]
pub mod moves;

// ------------------------------------------------------------------ events

/// One generated record, in the terms of docs/language.md's event table.
#[derive(Debug, Clone, PartialEq)]
pub struct GenEvent {
    pub id: String,
    /// A local time in the program's zone, as the record writes it (no
    /// offset): the reader and the reference each resolve it.
    pub time: NaiveDateTime,
    pub member: String,
    pub kind: Kind,
}

/// What a record does, with its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Enroll {
        vip: bool,
        region: String,
        /// The other attributes given (see [`moves`]).
        attributes: moves::Fields,
        /// The member named as the referrer, if any.
        referred_by: Option<String>,
    },
    Purchase {
        amount: Decimal,
        qty: Decimal,
        /// The program's `optional` field: `None` leaves it out.
        channel: Option<String>,
        /// The basket: none, or its items.
        items: Vec<baskets::GenItem>,
    },
    Return {
        of: String,
        amount: Decimal,
        /// The basket items brought back, by sku and quantity (none: a
        /// return by amount only).
        items: Vec<(String, Decimal)>,
    },
    RedeemPoints {
        points: Decimal,
        points_type: String,
    },
    RedeemReward {
        reward: String,
    },
    CancelRedeem {
        redemption: String,
    },
    /// A credit (above zero) or debit, for a purchase or not, with a last
    /// day or not; the reason is always `fix`.
    Adjust {
        points: Decimal,
        points_type: String,
        purchase: Option<String>,
        expires: Option<NaiveDate>,
    },
    UsePerk {
        perk: String,
    },
    /// A `set_tier` through `until`; the reason is always `match`.
    SetTier {
        tier: String,
        until: NaiveDate,
    },
    /// A transfer, a pool move, a record of a declared type, a profile.
    Move(moves::Move),
}

impl GenEvent {
    /// The record as one line of JSON Lines.
    pub fn jsonl(&self) -> String {
        let mut fields = serde_json::Map::new();
        let mut put = |key: &str, value: serde_json::Value| {
            fields.insert(key.to_string(), value);
        };
        let text = |s: &str| serde_json::Value::String(s.to_string());
        put("id", text(&self.id));
        put(
            "time",
            text(&self.time.format("%Y-%m-%dT%H:%M:%S").to_string()),
        );
        put("member", text(&self.member));
        match &self.kind {
            Kind::Enroll {
                vip,
                region,
                attributes,
                referred_by,
            } => {
                put("type", text("enroll"));
                put("vip", serde_json::Value::Bool(*vip));
                put("region", text(region));
                moves::put_fields(attributes, &mut put);
                if let Some(referrer) = referred_by {
                    put("referred_by", text(referrer));
                }
            }
            Kind::Purchase {
                amount,
                qty,
                channel,
                items,
            } => {
                put("type", text("purchase"));
                put("amount", text(&amount.to_string()));
                put("qty", text(&qty.to_string()));
                if let Some(channel) = channel {
                    put("channel", text(channel));
                }
                if !items.is_empty() {
                    put(
                        "items",
                        serde_json::Value::Array(
                            items.iter().map(baskets::GenItem::json).collect(),
                        ),
                    );
                }
            }
            Kind::Return { of, amount, items } => {
                put("type", text("return"));
                put("of", text(of));
                put("amount", text(&amount.to_string()));
                if !items.is_empty() {
                    put("items", baskets::returned(items));
                }
            }
            Kind::RedeemPoints {
                points,
                points_type,
            } => {
                put("type", text("redeem"));
                put("points", text(&points.to_string()));
                put("points_type", text(points_type));
            }
            Kind::RedeemReward { reward } => {
                put("type", text("redeem"));
                put("reward", text(reward));
            }
            Kind::CancelRedeem { redemption } => {
                put("type", text("cancel_redeem"));
                put("redemption", text(redemption));
            }
            Kind::Adjust {
                points,
                points_type,
                purchase,
                expires,
            } => {
                put("type", text("adjust"));
                put("points", text(&points.to_string()));
                put("points_type", text(points_type));
                put("reason", text("fix"));
                if let Some(p) = purchase {
                    put("purchase", text(p));
                }
                if let Some(day) = expires {
                    put("expires", text(&day.format("%Y-%m-%d").to_string()));
                }
            }
            Kind::UsePerk { perk } => {
                put("type", text("use_perk"));
                put("perk", text(perk));
            }
            Kind::SetTier { tier, until } => {
                put("type", text("set_tier"));
                put("tier", text(tier));
                put("reason", text("match"));
                put("until", text(&until.format("%Y-%m-%d").to_string()));
            }
            Kind::Move(m) => m.put(&mut put),
        }
        serde_json::Value::Object(fields).to_string()
    }
}

/// The stream as JSON Lines: record `i` is on line `i + 1`.
pub fn jsonl(events: &[GenEvent]) -> String {
    events.iter().map(|e| e.jsonl() + "\n").collect()
}

// ------------------------------------------------------------------ programs

/// The names the generated programs use.
pub const POINTS: [&str; 3] = ["stars", "miles", "coins"];
pub const MEMBERS: [&str; 4] = ["ann", "bob", "cy", "dee"];
const CHANNELS: [&str; 3] = ["app", "web", "store"];
const REGIONS: [&str; 2] = ["north", "south"];
const TIERS: [&str; 3] = ["green", "silver", "gold"];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const ZONES: [&str; 3] = ["America/New_York", "Europe/Lisbon", "Australia/Sydney"];

/// A program before it is a tree: every choice a strategy made, with
/// references (to earlier rules, to points types) as indices that
/// [`build`] resolves so that `check` accepts the result.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    zone: usize,
    /// The program's currency: the generator writes `USD` and a case in
    /// another currency is the same text in it ([`ProgramSpec::in_currency`]).
    currency: &'static str,
    effective: NaiveDate,
    write_off: bool,
    /// `reject duplicate ids within N days`, or the default (30 days).
    duplicate_days: Option<u32>,
    points: Vec<PointsSpec>,
    rules: Vec<RuleSpec>,
    tiers: Option<gen_tiers::TiersSpec>,
    /// Perks, tier prices, redemption bounds.
    extras: gen_tiers::ExtrasSpec,
    moves: moves::MovesSpec,
    referral: Option<ReferralSpec>,
    /// A rule earning per item, after every other.
    basket: Option<baskets::RuleSpec>,
}

/// Two-sided referral rules, written after every other rule (so that no
/// share or multiplier names them): one paying the referrer, and perhaps
/// one welcoming the member referred.
#[derive(Debug, Clone)]
pub struct ReferralSpec {
    /// The referrer's award: an amount of the `n`th points type.
    thanks: (Decimal, usize),
    /// Its condition: none, `first purchase`, `amount >= N USD`, or
    /// `first purchase and referred`.
    when: (u8, Decimal),
    /// `limit 1 per member per lifetime` (the first qualifying purchase).
    once_per_member: bool,
    per_referrer: Option<u32>,
    per_event_cap: Option<Decimal>,
    /// The welcome: an amount of the `n`th type, on `first purchase and
    /// referred` (or, if the flag says, `not referred`).
    welcome: Option<(Decimal, usize, bool)>,
}

fn referral() -> impl Strategy<Value = ReferralSpec> {
    (
        (positive(60, 0), 0usize..3),
        (0u8..4, positive(300, 0)),
        any::<bool>(),
        proptest::option::weighted(0.6, 1u32..3),
        proptest::option::weighted(0.2, positive(40, 0)),
        proptest::option::weighted(
            0.5,
            (positive(30, 0), 0usize..3, proptest::bool::weighted(0.2)),
        ),
    )
        .prop_map(
            |(thanks, when, once_per_member, per_referrer, per_event_cap, welcome)| ReferralSpec {
                thanks,
                when,
                once_per_member,
                per_referrer,
                per_event_cap,
                welcome,
            },
        )
}

impl ReferralSpec {
    /// The rules, earning the program's `points` types.
    fn rules(&self, points: &[&str]) -> Vec<RuleDecl> {
        let points_type = |n: usize| {
            ident(
                points
                    .get(n % points.len().max(1))
                    .copied()
                    .unwrap_or("stars"),
            )
        };
        let first = || expr(ExprKind::FirstPurchase);
        let referred = || name("referred");
        let condition = match self.when {
            (1, _) => Some(first()),
            (2, least) => Some(binary(
                BinaryOp::Ge,
                name("amount"),
                expr(ExprKind::Money(usd(least))),
            )),
            (3, _) => Some(binary(BinaryOp::And, first(), referred())),
            _ => None,
        };
        let on = |condition| RuleStmt::On {
            event: ident("purchase"),
            condition,
        };
        let earn = |(amount, p): (Decimal, usize), to_referrer| {
            RuleStmt::Earn(Earn {
                award: Award::Amount {
                    amount: expr(ExprKind::Number(amount)),
                    points: points_type(p),
                    per: None,
                    filter: None,
                },
                multiplier: None,
                to_referrer,
            })
        };
        let mut thanks = vec![on(condition), earn(self.thanks, true)];
        if self.once_per_member {
            thanks.push(RuleStmt::Limit {
                count: num(Decimal::ONE),
                period: spanned(Period::Lifetime),
            });
        }
        if let Some(n) = self.per_referrer {
            thanks.push(RuleStmt::LimitPerReferrer {
                count: num(Decimal::from(n)),
            });
        }
        if let Some(cap) = self.per_event_cap {
            thanks.push(RuleStmt::Cap {
                amount: num(cap),
                points: points_type(self.thanks.1),
                scope: CapScope::PerEvent,
            });
        }
        let rule = |name: &str, stmts: Vec<RuleStmt>| RuleDecl {
            preview: false,
            name: ident(name),
            stmts: stmts.into_iter().map(spanned).collect(),
            span: Span::default(),
        };
        let mut rules = vec![rule("thanks", thanks)];
        if let Some((amount, p, not)) = self.welcome {
            let who = if not {
                expr(ExprKind::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(referred()),
                })
            } else {
                referred()
            };
            let condition = binary(BinaryOp::And, first(), who);
            rules.push(rule(
                "welcome",
                vec![on(Some(condition)), earn((amount, p), false)],
            ));
        }
        rules
    }
}

#[derive(Debug, Clone)]
struct PointsSpec {
    precision: u32,
    expire: Option<ExpireSpec>,
    /// `pending N days`.
    pending: Option<u32>,
    /// `qualifying`: then no expiry, no pending, no redemption bounds, no
    /// reward, no transfers and no pool (`check` refuses them).
    qualifying: bool,
    /// `cap N per member per P`: the most every rule together awards one
    /// member in a period (one cap per period).
    caps: Vec<(Decimal, Period)>,
}

#[derive(Debug, Clone)]
enum ExpireSpec {
    /// `expire N months|days after earn [at end of U]`
    AfterEarn(u32, TimeUnit, Option<CalendarUnit>),
    /// `expire at end of U [+ N]`
    EndOf(CalendarUnit, Option<u32>),
    /// `expire after N months|days without activity`
    Inactivity(u32, TimeUnit),
}

#[derive(Debug, Clone)]
struct RuleSpec {
    condition: Option<Expr>,
    earns: Vec<EarnSpec>,
    cap: Option<(Decimal, usize, Option<Period>)>,
    /// `budget N P in total | per U`: amount, points type, period.
    budget: Option<(Decimal, usize, Option<Period>)>,
    limit: Option<(u32, Period)>,
    round: Option<Rounding>,
    group: Option<u8>,
    during: Option<(NaiveDate, NaiveDate)>,
    min_spend: Option<Decimal>,
    /// In a group: the same condition and earn lines as the group's rule
    /// before it, so that the two tie (the first written must win).
    tie: bool,
    /// `stop`: firing, it leaves the rules after it unevaluated.
    stop: bool,
    /// `multiply P by F` instead of its earn lines (P the first line's
    /// type): never in a group.
    multiply: Option<Decimal>,
    /// The rule's own `expire` (not by inactivity), for the types it earns
    /// that are not qualifying.
    expire: Option<ExpireSpec>,
}

#[derive(Debug, Clone)]
enum AwardSpec {
    Fixed(Decimal),
    /// `N P per [full] U [USD] of amount [- M USD]|qty`
    Per {
        rate: Decimal,
        full: bool,
        unit: Decimal,
        of_amount: bool,
        less: Option<Decimal>,
    },
    /// `N% of R [P]`, R an index taken modulo the rules before.
    Share {
        percent: Decimal,
        rule: usize,
        name_points: bool,
    },
    /// An award past what loyalty counts, now and then: `12 / qty` (no
    /// award on a quantity of 0: the record is rejected), `1000000000000000
    /// per 0.0001 of qty` (the points issued soon pass 10^20), or `... per
    /// 0.0000000001 of qty * 1000000000000000` (past the largest decimal).
    Risky(u8),
}

#[derive(Debug, Clone)]
struct EarnSpec {
    award: AwardSpec,
    points: usize,
    times: Option<TimesSpec>,
}

#[derive(Debug, Clone)]
enum TimesSpec {
    Channel(Vec<(usize, Decimal)>, Option<Decimal>),
    /// `times tier`: keys index `TIERS` (those the program lacks dropped).
    Tier(Vec<(usize, Decimal)>, Option<Decimal>),
    Qty(Vec<(Decimal, Decimal)>, Option<Decimal>),
}

fn spanned<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn ident(name: &str) -> Ident {
    spanned(name.to_string())
}

fn num(value: Decimal) -> Number {
    spanned(value)
}

fn expr(kind: ExprKind) -> Expr {
    spanned(kind)
}

fn usd(amount: Decimal) -> Money {
    Money {
        amount: num(amount),
        currency: ident("USD"),
    }
}

fn dec(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![
        Just(Period::Day),
        Just(Period::Week),
        Just(Period::Month),
        Just(Period::Quarter),
        Just(Period::Year),
        Just(Period::Lifetime),
    ]
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::Down),
        Just(Rounding::Up),
        Just(Rounding::HalfUp),
        Just(Rounding::HalfEven),
    ]
}

/// A positive decimal with up to `scale` digits after the point.
fn positive(most: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (1..=most, 0..=scale).prop_map(move |(m, s)| dec(m, s))
}

fn compare() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Eq),
        Just(BinaryOp::Ne),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Le),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Ge),
    ]
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    expr(ExprKind::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}

fn name(n: &str) -> Expr {
    expr(ExprKind::Name(n.to_string()))
}

/// One comparison over a field, an attribute or a built-in name.
/// `count of purchase in this U` or `over last N`, compared with a count;
/// `sum of purchase.amount ...` with an amount of money.
fn counter_atom() -> impl Strategy<Value = Expr> {
    let window = prop_oneof![
        calendar_unit().prop_map(CounterWindow::This),
        (
            1u32..40,
            prop_oneof![
                Just(TimeUnit::Day),
                Just(TimeUnit::Week),
                Just(TimeUnit::Month)
            ]
        )
            .prop_map(|(n, unit)| CounterWindow::Last(duration(n, unit))),
    ];
    (any::<bool>(), window, compare(), 1i64..8).prop_map(|(sum, window, op, k)| {
        let purchase = ident("purchase");
        let (source, bound) = if sum {
            let source = MeasureSource::FieldSum {
                event: purchase,
                field: ident("amount"),
            };
            (source, ExprKind::Money(usd(Decimal::from(k * 40))))
        } else {
            (
                MeasureSource::Count(purchase),
                ExprKind::Number(Decimal::from(k)),
            )
        };
        let counter = ExprKind::Counter(Box::new(CounterRef {
            source: spanned(source),
            window: spanned(window),
        }));
        binary(op, expr(counter), expr(bound))
    })
}

fn atom() -> impl Strategy<Value = Expr> {
    let text_eq = prop_oneof![Just(BinaryOp::Eq), Just(BinaryOp::Ne)];
    prop_oneof![
        counter_atom(),
        (compare(), positive(4000, 2)).prop_map(|(op, m)| binary(
            op,
            name("amount"),
            expr(ExprKind::Money(usd(m)))
        )),
        (compare(), 0i64..6).prop_map(|(op, q)| binary(
            op,
            name("qty"),
            expr(ExprKind::Number(Decimal::from(q)))
        )),
        (text_eq.clone(), 0..CHANNELS.len()).prop_map(|(op, c)| binary(
            op,
            name("channel"),
            expr(ExprKind::Text(
                CHANNELS.get(c).copied().unwrap_or("app").to_string()
            ))
        )),
        proptest::sample::subsequence(CHANNELS.to_vec(), 1..3).prop_map(|cs| expr(
            ExprKind::InList {
                expr: Box::new(name("channel")),
                items: cs
                    .into_iter()
                    .map(|c| expr(ExprKind::Text(c.to_string())))
                    .collect(),
            }
        )),
        (text_eq, 0..REGIONS.len(), any::<bool>()).prop_map(|(op, r, member)| {
            let subject = if member {
                expr(ExprKind::MemberAttr(ident("region")))
            } else {
                name("region")
            };
            let region = REGIONS.get(r).copied().unwrap_or("north");
            binary(op, subject, expr(ExprKind::Text(region.to_string())))
        }),
        any::<bool>().prop_map(|b| binary(BinaryOp::Eq, name("vip"), expr(ExprKind::Bool(b)))),
        (compare(), 0i64..24).prop_map(|(op, h)| binary(
            op,
            name("hour"),
            expr(ExprKind::Number(Decimal::from(h)))
        )),
        (compare(), 1i64..13).prop_map(|(op, m)| binary(
            op,
            name("month"),
            expr(ExprKind::Number(Decimal::from(m)))
        )),
        (any::<bool>(), proptest::sample::select(&WEEKDAYS[..])).prop_map(|(eq, day)| binary(
            if eq { BinaryOp::Eq } else { BinaryOp::Ne },
            name("weekday"),
            expr(ExprKind::Text(day.to_string()))
        )),
        (0u32..420, 0u32..60).prop_map(|(from, days)| {
            let low = date(2024, 1, 1) + Duration::days(i64::from(from));
            let high = low + Duration::days(i64::from(days));
            expr(ExprKind::InRange {
                expr: Box::new(name("date")),
                low: Box::new(expr(ExprKind::Date(low))),
                high: Box::new(expr(ExprKind::Date(high))),
            })
        }),
        (compare(), 0..TIERS.len()).prop_map(|(op, t)| binary(
            op,
            name("tier"),
            name(TIERS.get(t).copied().unwrap_or("green"))
        )),
        (compare(), 0i64..300).prop_map(|(op, b)| binary(
            op,
            expr(ExprKind::Balance(ident(POINTS[0]))),
            expr(ExprKind::Number(Decimal::from(b)))
        )),
        // Arithmetic that divides by zero (a quantity of 0) or overflows
        // (any other): the comparison is false.
        (compare(), positive(4000, 2)).prop_map(|(op, m)| binary(
            op,
            binary(BinaryOp::Div, name("amount"), name("qty")),
            expr(ExprKind::Money(usd(m)))
        )),
        compare().prop_map(|op| {
            let most = expr(ExprKind::Number(Decimal::from(1_000_000_000_000_000i64)));
            binary(
                op,
                binary(
                    BinaryOp::Mul,
                    binary(BinaryOp::Mul, name("qty"), most.clone()),
                    most,
                ),
                expr(ExprKind::Number(Decimal::ONE)),
            )
        }),
    ]
}

/// A condition: comparisons joined by `and`, `or` and `not`, parenthesised
/// wherever the printed text would otherwise group differently.
fn condition() -> impl Strategy<Value = Expr> {
    atom().prop_recursive(3, 8, 2, |inner| {
        let paren = |e: Expr| expr(ExprKind::Paren(Box::new(e)));
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(move |(a, b)| binary(
                BinaryOp::And,
                paren(a),
                paren(b)
            )),
            (inner.clone(), inner.clone()).prop_map(move |(a, b)| binary(
                BinaryOp::Or,
                paren(a),
                paren(b)
            )),
            inner.prop_map(move |a| expr(ExprKind::Unary {
                op: UnaryOp::Not,
                expr: Box::new(paren(a)),
            })),
        ]
    })
}

fn award() -> impl Strategy<Value = AwardSpec> {
    let unit = prop_oneof![
        Just(dec(1, 0)),
        Just(dec(2, 0)),
        Just(dec(250, 2)),
        Just(dec(3, 0)),
        Just(dec(5, 1)),
        Just(dec(10, 0)),
    ];
    prop_oneof![
        // Small whole awards as often as any: two rules of a group then
        // tie now and then (the first written must win).
        8 => prop_oneof![positive(5, 0), positive(500, 2)].prop_map(AwardSpec::Fixed),
        8 => (
            positive(300, 2),
            any::<bool>(),
            unit,
            any::<bool>(),
            proptest::option::weighted(0.2, positive(5000, 2))
        )
            .prop_map(|(rate, full, unit, of_amount, less)| AwardSpec::Per {
                rate,
                full,
                unit,
                of_amount,
                less,
            }),
        8 => (positive(3000, 1), any::<usize>(), any::<bool>()).prop_map(
            |(percent, rule, name_points)| AwardSpec::Share {
                percent,
                rule,
                name_points,
            }
        ),
        1 => (0u8..3).prop_map(AwardSpec::Risky),
    ]
}

fn times() -> impl Strategy<Value = TimesSpec> {
    let factor = || (0i64..400, 0u32..3).prop_map(|(m, s)| dec(m, s));
    prop_oneof![
        (
            proptest::collection::btree_map(0..CHANNELS.len(), factor(), 1..3),
            proptest::option::of(factor())
        )
            .prop_map(|(keys, other)| TimesSpec::Channel(keys.into_iter().collect(), other)),
        (
            proptest::collection::btree_map(0..TIERS.len(), factor(), 1..3),
            proptest::option::of(factor())
        )
            .prop_map(|(keys, other)| TimesSpec::Tier(keys.into_iter().collect(), other)),
        (
            proptest::collection::btree_map(0i64..5, factor(), 1..3),
            proptest::option::of(factor())
        )
            .prop_map(|(keys, other)| TimesSpec::Qty(
                keys.into_iter()
                    .map(|(k, f)| (Decimal::from(k), f))
                    .collect(),
                other
            )),
    ]
}

fn earn(points: usize) -> impl Strategy<Value = EarnSpec> {
    (
        award(),
        0..points,
        proptest::option::weighted(0.25, times()),
    )
        .prop_map(|(award, points, times)| EarnSpec {
            award,
            points,
            times,
        })
}

fn rule(points: usize) -> impl Strategy<Value = RuleSpec> {
    let window = (0u32..420, 0u32..90).prop_map(|(from, days)| {
        let low = date(2024, 1, 1) + Duration::days(i64::from(from));
        (low, low + Duration::days(i64::from(days)))
    });
    (
        proptest::option::weighted(0.5, condition()),
        proptest::collection::vec(earn(points), 1..3),
        proptest::option::weighted(
            0.25,
            (
                positive(300, 0),
                any::<usize>(),
                proptest::option::of(period()),
            ),
        ),
        proptest::option::weighted(0.25, (1u32..4, period())),
        proptest::option::of(rounding()),
        proptest::option::weighted(0.3, (0u8..2, any::<bool>())),
        proptest::option::weighted(0.15, window),
        proptest::option::weighted(0.15, positive(3000, 2)),
        proptest::option::weighted(
            0.15,
            (
                positive(600, 0),
                any::<usize>(),
                proptest::option::of(period()),
            ),
        ),
        proptest::bool::weighted(0.1),
        (
            proptest::option::weighted(
                0.12,
                prop_oneof![Just(dec(15, 1)), Just(dec(2, 0)), Just(dec(3, 0))],
            ),
            proptest::option::weighted(0.12, rule_expire()),
        ),
    )
        .prop_map(
            |(
                condition,
                earns,
                cap,
                limit,
                round,
                group,
                during,
                min_spend,
                budget,
                stop,
                (multiply, expire),
            )| {
                // A multiplier is never in a group.
                let group = group.filter(|_| multiply.is_none());
                RuleSpec {
                    condition,
                    earns,
                    cap,
                    budget,
                    limit,
                    round,
                    group: group.map(|(g, _)| g),
                    during,
                    min_spend,
                    tie: group.is_some_and(|(_, tie)| tie),
                    stop,
                    multiply,
                    expire,
                }
            },
        )
}

/// A rule's own expiry: after earn or at the end of a unit.
fn rule_expire() -> impl Strategy<Value = ExpireSpec> {
    prop_oneof![
        (1u32..40, proptest::option::of(calendar_unit()))
            .prop_map(|(n, end)| ExpireSpec::AfterEarn(n, TimeUnit::Day, end)),
        (calendar_unit(), proptest::option::of(1u32..3))
            .prop_map(|(u, plus)| ExpireSpec::EndOf(u, plus)),
    ]
}

fn calendar_unit() -> impl Strategy<Value = CalendarUnit> + Clone {
    prop_oneof![
        Just(CalendarUnit::Day),
        Just(CalendarUnit::Week),
        Just(CalendarUnit::Month),
        Just(CalendarUnit::Quarter),
        Just(CalendarUnit::Year),
    ]
}

fn points_spec() -> impl Strategy<Value = PointsSpec> {
    let unit = calendar_unit();
    let term = prop_oneof![
        (1u32..4).prop_map(|n| (n, TimeUnit::Month)),
        (1u32..40).prop_map(|n| (n, TimeUnit::Day)),
    ];
    let expire = prop_oneof![
        3 => (term.clone(), proptest::option::of(unit.clone()))
            .prop_map(|((n, u), end)| ExpireSpec::AfterEarn(n, u, end)),
        1 => (unit, proptest::option::of(1u32..3)).prop_map(|(u, plus)| ExpireSpec::EndOf(u, plus)),
        1 => term.prop_map(|(n, u)| ExpireSpec::Inactivity(n, u)),
    ];
    (
        0u32..3,
        proptest::option::weighted(0.4, expire),
        proptest::option::weighted(0.25, 1u32..40),
        proptest::bool::weighted(0.15),
        proptest::option::weighted(
            0.2,
            proptest::collection::vec((positive(400, 0), period()), 1..3).prop_map(|mut caps| {
                // One cap per period.
                let mut periods: Vec<Period> = Vec::new();
                caps.retain(|(_, p)| {
                    let new = !periods.contains(p);
                    periods.push(*p);
                    new
                });
                caps
            }),
        ),
    )
        .prop_map(
            |(precision, expire, pending, qualifying, caps)| PointsSpec {
                precision,
                expire: expire.filter(|_| !qualifying),
                pending: pending.filter(|_| !qualifying),
                qualifying,
                caps: caps.unwrap_or_default(),
            },
        )
}

/// A program: one to three points types, one to six rules, tiers or not.
pub fn program() -> impl Strategy<Value = ProgramSpec> {
    (1usize..=3)
        .prop_flat_map(|n| {
            (
                0..ZONES.len(),
                // Dinars have three decimals where dollars have two.
                prop_oneof![3 => Just("USD"), 1 => Just("KWD")],
                prop_oneof![Just(date(2024, 1, 1)), Just(date(2024, 2, 29))],
                any::<bool>(),
                proptest::option::weighted(0.3, prop_oneof![Just(0), Just(2), Just(45)]),
                proptest::collection::vec(points_spec(), n),
                proptest::collection::vec(rule(n), 1..=6),
                // Boxed: their value trees on the heap, not on the test
                // thread's stack (a debug build overflowed its 2 MiB).
                proptest::option::weighted(0.6, gen_tiers::tiers()).boxed(),
                gen_tiers::extras().boxed(),
                moves::moves(6).boxed(),
                proptest::option::weighted(0.3, referral()),
                proptest::option::weighted(0.5, baskets::rule(n)),
            )
        })
        .prop_map(
            |(
                zone,
                currency,
                effective,
                write_off,
                duplicate_days,
                points,
                rules,
                tiers,
                extras,
                moves,
                referral,
                basket,
            )| {
                ProgramSpec {
                    zone,
                    currency,
                    effective,
                    write_off,
                    duplicate_days,
                    points,
                    rules,
                    tiers,
                    extras,
                    moves,
                    referral,
                    basket,
                }
            },
        )
}

impl ProgramSpec {
    pub fn zone(&self) -> &'static str {
        ZONES.get(self.zone).copied().unwrap_or("UTC")
    }

    /// The program's text, written in dollars, in the spec's currency: every
    /// amount the generator writes has at most two decimals, so it is one
    /// in a currency of three as well.
    pub fn in_currency(&self, text: &str) -> String {
        text.replace(" USD", &format!(" {}", self.currency))
    }

    /// The points types generated.
    pub fn points(&self) -> Vec<&'static str> {
        POINTS.iter().take(self.points.len()).copied().collect()
    }

    /// The program as a tree that `check` accepts: shares point at an
    /// earlier rule earning the type they name, caps and budgets at a type
    /// their rule earns; an exclusive group's rules earn the first points
    /// type only and have no caps or budgets, and a share of a grouped rule comes after the whole
    /// group (see the reference's module doc).
    pub fn build(&self) -> File {
        let mut items = vec![Item::Program(ProgramDecl {
            name: spanned("Generated".to_string()),
            settings: [
                ProgramSetting::Currency(ident("USD")),
                ProgramSetting::Timezone(spanned(self.zone().to_string())),
                ProgramSetting::Effective(spanned(self.effective)),
                ProgramSetting::Overspent(if self.write_off {
                    OverspentPolicy::WriteOff
                } else {
                    OverspentPolicy::GoNegative
                }),
            ]
            .into_iter()
            .chain(self.duplicate_days.map(|n| {
                ProgramSetting::DuplicateWindow(loyalty::syntax::ast::Duration {
                    count: spanned(Decimal::from(n)),
                    unit: TimeUnit::Day,
                    span: Span::default(),
                })
            }))
            .map(spanned)
            .collect(),
            span: Span::default(),
        })];
        let field = |n: &str, optional: bool, ty: FieldType| FieldDecl {
            name: ident(n),
            optional,
            ty: spanned(ty),
            span: Span::default(),
        };
        items.push(Item::Member(MemberDecl {
            fields: vec![
                field("vip", false, FieldType::Bool),
                field("region", false, FieldType::Text),
            ],
            span: Span::default(),
        }));
        items.push(Item::Event(EventDecl {
            name: ident("purchase"),
            fields: vec![
                field("qty", false, FieldType::Number),
                field("channel", true, FieldType::Text),
            ],
            span: Span::default(),
        }));
        for (p, spec) in self.points.iter().enumerate() {
            let mut settings = vec![PointsSetting::Precision(num(Decimal::from(spec.precision)))];
            if spec.qualifying {
                settings.push(PointsSetting::Qualifying);
            }
            if let Some(days) = spec.pending {
                settings.push(PointsSetting::Pending(duration(days, TimeUnit::Day)));
            }
            match spec.expire {
                Some(ExpireSpec::AfterEarn(n, unit, end)) => {
                    settings.push(PointsSetting::Expire(Expiry::AfterEarn {
                        term: duration(n, unit),
                        end_of: end.map(spanned),
                    }));
                }
                Some(ExpireSpec::Inactivity(n, unit)) => {
                    settings.push(PointsSetting::Expire(Expiry::Inactivity(duration(n, unit))));
                }
                Some(ExpireSpec::EndOf(unit, plus)) => {
                    settings.push(PointsSetting::Expire(Expiry::EndOf {
                        unit: spanned(unit),
                        plus: plus.map(|n| num(Decimal::from(n))),
                    }));
                }
                None => {}
            }
            settings.extend(self.extras.bounds(p).filter(|_| !spec.qualifying));
            for (amount, period) in &spec.caps {
                settings.push(PointsSetting::Cap {
                    amount: num(*amount),
                    period: spanned(*period),
                });
            }
            items.push(Item::Points(PointsDecl {
                name: ident(POINTS.get(p).copied().unwrap_or("stars")),
                settings: settings.into_iter().map(spanned).collect(),
                span: Span::default(),
            }));
        }
        let mut rules = self.resolve_rules();
        let tiers = self.tiers.as_ref().map_or(0, gen_tiers::TiersSpec::count);
        for rule in &mut rules {
            if let Some(c) = &mut rule.condition {
                known_tiers(c, tiers);
            }
            for e in &mut rule.earns {
                if let Some(TimesSpec::Tier(keys, other)) = &mut e.times {
                    keys.retain(|(t, _)| *t < tiers);
                    if keys.is_empty() && other.is_none() || tiers == 0 {
                        e.times = None;
                    }
                }
            }
        }
        if let Some(t) = &self.tiers {
            // The types rules earn, and rule 0's first fixed award.
            let mut earned: Vec<usize> = rules
                .iter()
                .flat_map(|r| r.earns.iter().map(|e| e.points))
                .collect();
            earned.sort_unstable();
            earned.dedup();
            let first = rules.first().and_then(|r| r.earns.first());
            let first_award = first.and_then(|e| match e.award {
                AwardSpec::Fixed(n) => Some((n, e.points)),
                _ => None,
            });
            items.push(Item::Tiers(t.block(
                &earned,
                first_award,
                &self.moves.measurable(),
            )));
        }
        for rule in &mut rules {
            let spendable = rule
                .earns
                .iter()
                .any(|e| self.points.get(e.points).is_some_and(|p| !p.qualifying));
            if !spendable {
                rule.expire = None;
            }
        }
        let previews = self.moves.previews(&mut rules);
        for (i, rule) in rules.iter().enumerate() {
            let mut decl = rule_decl(i, rule);
            self.moves
                .adapt(i, &mut decl, previews.get(i).copied().unwrap_or(false));

            items.push(Item::Rule(decl));
        }
        for perk in self.extras.perks(tiers) {
            items.push(Item::Perk(perk));
        }
        for (p, name) in self.points().iter().enumerate() {
            if self.points.get(p).is_some_and(|spec| spec.qualifying) {
                continue;
            }
            let mut settings = vec![RewardSetting::Price {
                amount: num(Decimal::from(25 * (p as i64 + 1))),
                points: ident(name),
                tiers: Vec::new(),
            }];
            settings.extend(self.extras.tier_prices(p, name, tiers));
            settings.push(RewardSetting::Cost(usd(dec(150, 2))));
            items.push(Item::Reward(RewardDecl {
                name: ident(&format!("gift_{name}")),
                settings: settings.into_iter().map(spanned).collect(),
                span: Span::default(),
            }));
        }
        self.moves.extend(&mut items, self.points.len());
        for rule in self.referral.iter().flat_map(|r| r.rules(&self.points())) {
            items.push(Item::Rule(rule));
        }
        items.extend(self.basket.iter().map(|b| Item::Rule(b.decl())));
        File { items }
    }

    /// The rules with every reference made valid (see [`ProgramSpec::build`]).
    fn resolve_rules(&self) -> Vec<RuleSpec> {
        let mut rules = self.rules.clone();
        // Which group each rule is in, after the fix-ups, and where each
        // group's last rule is.
        let last_of_group =
            |rules: &[RuleSpec], g: u8| rules.iter().rposition(|r| r.group == Some(g)).unwrap_or(0);
        for i in 0..rules.len() {
            let rival = rules.get(i).filter(|r| r.tie).and_then(|r| {
                rules
                    .get(..i)?
                    .iter()
                    .rfind(|other| other.group.is_some() && other.group == r.group)
                    .cloned()
            });
            if let (Some(rival), Some(rule)) = (rival, rules.get_mut(i)) {
                rule.condition = rival.condition;
                rule.earns = rival.earns;
            }
        }
        // A multiplier comes after every grouped rule (so each group is
        // decided when it multiplies, as for a share of a grouped rule).
        let last_grouped = rules.iter().rposition(|r| r.group.is_some());
        for (i, rule) in rules.iter_mut().enumerate() {
            if last_grouped.is_some_and(|g| g > i) {
                rule.multiply = None;
            }
        }
        for rule in rules.iter_mut().filter(|r| r.multiply.is_some()) {
            // A multiplier multiplies one type: its first line's.
            rule.earns.truncate(1);
            for e in &mut rule.earns {
                e.award = AwardSpec::Fixed(Decimal::ONE);
                e.times = None;
            }
        }
        let mut earned: Vec<Vec<usize>> = Vec::new();
        for i in 0..rules.len() {
            let grouped = rules.get(i).is_some_and(|r| r.group.is_some());
            let snapshot = rules.clone();
            let Some(rule) = rules.get_mut(i) else { break };
            for e in &mut rule.earns {
                if grouped {
                    e.points = 0;
                }
                if let AwardSpec::Share {
                    percent, rule: r, ..
                } = e.award
                {
                    let target = if i == 0 { None } else { Some(r % i) };
                    let valid = target.filter(|&t| {
                        let types = earned.get(t).cloned().unwrap_or_default();
                        let group_done = snapshot
                            .get(t)
                            .and_then(|r| r.group)
                            .is_none_or(|g| last_of_group(&snapshot, g) < i);
                        group_done && (!grouped || types.contains(&0)) && !types.is_empty()
                    });
                    match valid {
                        Some(t) => {
                            let types = earned.get(t).cloned().unwrap_or_default();
                            if !types.contains(&e.points) {
                                e.points = types.first().copied().unwrap_or(0);
                            }
                            if let AwardSpec::Share { rule: r, .. } = &mut e.award {
                                *r = t;
                            }
                        }
                        None => e.award = AwardSpec::Fixed(percent),
                    }
                }
            }
            if grouped {
                rule.cap = None;
                rule.budget = None;
            }
            let mut types: Vec<usize> = rule.earns.iter().map(|e| e.points).collect();
            types.sort_unstable();
            types.dedup();
            for (_, p, _) in rule.cap.iter_mut().chain(rule.budget.iter_mut()) {
                *p = types.get(*p % types.len().max(1)).copied().unwrap_or(0);
            }
            earned.push(types);
        }
        // A share names its points type when told to, or when its rule
        // earns several.
        for i in 0..rules.len() {
            let Some(rule) = rules.get_mut(i) else { break };
            for e in &mut rule.earns {
                if let AwardSpec::Share {
                    rule: t,
                    name_points,
                    ..
                } = &mut e.award
                {
                    if earned.get(*t).is_some_and(|types| types.len() > 1) {
                        *name_points = true;
                    }
                }
            }
        }
        rules
    }
}

/// Rewrites `tier ... T` comparisons naming a tier the program lacks
/// (every one, without tiers) to `hour >= 0`.
fn known_tiers(e: &mut Expr, tiers: usize) {
    match &mut e.node {
        ExprKind::Binary { lhs, rhs, .. } => {
            let unknown = matches!((&lhs.node, &rhs.node), (ExprKind::Name(l), ExprKind::Name(r))
                if l == "tier" && TIERS.iter().position(|t| t == r).is_none_or(|i| i >= tiers));
            if unknown {
                *e = binary(
                    BinaryOp::Ge,
                    name("hour"),
                    expr(ExprKind::Number(Decimal::ZERO)),
                );
            } else {
                known_tiers(lhs, tiers);
                known_tiers(rhs, tiers);
            }
        }
        ExprKind::Paren(inner) | ExprKind::Unary { expr: inner, .. } => known_tiers(inner, tiers),
        _ => {}
    }
}

fn duration(count: u32, unit: TimeUnit) -> loyalty::syntax::ast::Duration {
    loyalty::syntax::ast::Duration {
        count: num(Decimal::from(count)),
        unit,
        span: Span::default(),
    }
}

/// The `k`th of [`AwardSpec::Risky`]'s awards, of `points`.
fn risky(k: u8, points: &str) -> Award {
    let number = |n: Decimal| expr(ExprKind::Number(n));
    let most = Decimal::from(1_000_000_000_000_000i64);
    let per = |unit: Decimal, base: Expr| {
        Some(PerClause {
            full: false,
            unit: num(unit),
            currency: None,
            base,
            span: Span::default(),
            items: false,
        })
    };
    let (amount, per) = match k {
        0 => (binary(BinaryOp::Div, number(dec(12, 0)), name("qty")), None),
        1 => (number(most), per(dec(1, 4), name("qty"))),
        _ => (
            number(most),
            per(dec(1, 10), binary(BinaryOp::Mul, name("qty"), number(most))),
        ),
    };
    Award::Amount {
        amount,
        points: ident(points),
        per,
        filter: None,
    }
}

fn rule_name(i: usize) -> String {
    format!("r{i}")
}

fn rule_decl(i: usize, rule: &RuleSpec) -> RuleDecl {
    let mut stmts = vec![RuleStmt::On {
        event: ident("purchase"),
        condition: rule.condition.clone(),
    }];
    if let (Some(factor), Some(e)) = (rule.multiply, rule.earns.first()) {
        stmts.push(RuleStmt::Multiply {
            points: ident(POINTS.get(e.points).copied().unwrap_or("stars")),
            factor: num(factor),
        });
    }
    for e in rule.earns.iter().filter(|_| rule.multiply.is_none()) {
        let points = POINTS.get(e.points).copied().unwrap_or("stars");
        let award = match &e.award {
            AwardSpec::Fixed(n) => Award::Amount {
                amount: expr(ExprKind::Number(*n)),
                points: ident(points),
                per: None,
                filter: None,
            },
            AwardSpec::Per {
                rate,
                full,
                unit,
                of_amount,
                less,
            } => Award::Amount {
                amount: expr(ExprKind::Number(*rate)),
                points: ident(points),
                per: Some(PerClause {
                    full: *full,
                    unit: num(*unit),
                    currency: of_amount.then(|| ident("USD")),
                    // `amount - M USD`: below zero earns nothing.
                    base: match (of_amount, less) {
                        (true, Some(m)) => binary(
                            BinaryOp::Sub,
                            name("amount"),
                            expr(ExprKind::Money(usd(*m))),
                        ),
                        (true, None) => name("amount"),
                        (false, _) => name("qty"),
                    },
                    span: Span::default(),
                    items: false,
                }),
                filter: None,
            },
            AwardSpec::Risky(k) => risky(*k, points),
            AwardSpec::Share {
                percent,
                rule,
                name_points,
            } => Award::PercentOf {
                percent: num(*percent),
                rule: ident(&rule_name(*rule)),
                points: name_points.then(|| ident(points)),
            },
        };
        let multiplier = e.times.as_ref().map(|t| {
            let (key, mut entries, other) = match t {
                TimesSpec::Channel(keys, other) => (
                    "channel",
                    keys.iter()
                        .map(|(c, f)| {
                            (
                                TableKey::Text(CHANNELS.get(*c).copied().unwrap_or("app").into()),
                                *f,
                            )
                        })
                        .collect::<Vec<_>>(),
                    other,
                ),
                TimesSpec::Tier(keys, other) => (
                    "tier",
                    keys.iter()
                        .map(|(t, f)| {
                            (
                                TableKey::Name(TIERS.get(*t).copied().unwrap_or("green").into()),
                                *f,
                            )
                        })
                        .collect(),
                    other,
                ),
                TimesSpec::Qty(keys, other) => (
                    "qty",
                    keys.iter()
                        .map(|(k, f)| (TableKey::Number(*k), *f))
                        .collect(),
                    other,
                ),
            };
            if let Some(f) = other {
                entries.push((TableKey::Else, *f));
            }
            Multiplier {
                key: ident(key),
                entries: entries
                    .into_iter()
                    .map(|(key, factor)| TableEntry {
                        key: spanned(key),
                        factor: num(factor),
                    })
                    .collect(),
                span: Span::default(),
            }
        });
        stmts.push(RuleStmt::Earn(Earn {
            award,
            multiplier,
            to_referrer: false,
        }));
    }
    if let Some((amount, p, scope)) = rule.cap {
        stmts.push(RuleStmt::Cap {
            amount: num(amount),
            points: ident(POINTS.get(p).copied().unwrap_or("stars")),
            scope: scope.map_or(CapScope::PerEvent, |p| CapScope::PerMember(spanned(p))),
        });
    }
    if let Some((amount, p, period)) = rule.budget {
        stmts.push(RuleStmt::Budget {
            amount: num(amount),
            points: ident(POINTS.get(p).copied().unwrap_or("stars")),
            period: period.map(spanned),
        });
    }
    if let Some((count, p)) = rule.limit {
        stmts.push(RuleStmt::Limit {
            count: num(Decimal::from(count)),
            period: spanned(p),
        });
    }
    if let Some(r) = rule.round {
        stmts.push(RuleStmt::Round(r));
    }
    if let Some(g) = rule.group {
        // Group 1 chooses by order, group 0 by the largest award.
        stmts.push(RuleStmt::Group {
            name: ident(&format!("g{g}")),
            by_order: g == 1,
        });
    }
    if let Some((from, to)) = rule.during {
        stmts.push(RuleStmt::During {
            from: spanned(from),
            to: spanned(to),
        });
    }
    if let Some(m) = rule.min_spend {
        stmts.push(RuleStmt::MinSpend(usd(m)));
    }
    if rule.stop {
        stmts.push(RuleStmt::Stop);
    }
    match rule.expire {
        Some(ExpireSpec::AfterEarn(n, unit, end)) => {
            stmts.push(RuleStmt::Expire(Expiry::AfterEarn {
                term: duration(n, unit),
                end_of: end.map(spanned),
            }))
        }
        Some(ExpireSpec::EndOf(unit, plus)) => stmts.push(RuleStmt::Expire(Expiry::EndOf {
            unit: spanned(unit),
            plus: plus.map(|n| num(Decimal::from(n))),
        })),
        Some(ExpireSpec::Inactivity(..)) | None => {}
    }
    RuleDecl {
        preview: false,
        name: ident(&rule_name(i)),
        stmts: stmts.into_iter().map(spanned).collect(),
        span: Span::default(),
    }
}

// ------------------------------------------------------------------ streams

/// A record before the references in it are resolved.
#[derive(Debug, Clone)]
pub struct EventSpec {
    member: usize,
    day: NaiveDate,
    time: NaiveTime,
    kind: KindSpec,
}

#[derive(Debug, Clone)]
enum KindSpec {
    /// An enrolment: vip, region, and the referrer named (see
    /// [`referrer_name`]).
    Enroll(bool, usize, Option<usize>),
    /// A purchase of an amount, a `qty`, a channel (or none) and perhaps
    /// a basket (whose items make the amount).
    Purchase(Decimal, Decimal, Option<usize>, Option<baskets::BasketSpec>),
    /// A return of the `n`th purchase generated (any member's), of a
    /// fraction of its amount: `parts` of 4, or 5 for more than it has;
    /// naming items of its basket or not (see [`baskets::named`]).
    Return(usize, u32, u8),
    /// A redeem of `balance + delta` (in the type's smallest steps), or of
    /// half the balance: found once the stream is resolved, by the
    /// reference's balance there.
    RedeemNear(usize, i64, bool),
    RedeemReward(usize),
    Cancel(usize),
    /// A record reusing the id of the `n`th record.
    Duplicate(usize),
    /// An adjustment of `points` (below zero: a debit) of the `p`th type,
    /// for the `n`th purchase (as a return picks it) or none, its last day
    /// so many days after the record's (before it: rejected) or none.
    Adjust(usize, i64, Option<usize>, Option<i64>),
    /// A `use_perk` of the `n`th of `gen_tiers::PERKS` (past them: a perk
    /// no program has).
    UsePerk(usize),
    /// A `set_tier` to the `n`th of the tiers (past them: one no program
    /// has), through so many days after the record's day (before it:
    /// rejected).
    SetTier(usize, i64),
    Move(moves::MoveSpec),
}

/// Days where calendars turn: month and year ends, a leap day, the DST
/// changes of the three zones.
const DAYS: [(i32, u32, u32); 14] = [
    (2024, 1, 31),
    (2024, 2, 28),
    (2024, 2, 29),
    (2024, 3, 1),
    (2024, 3, 10),
    (2024, 3, 31),
    (2024, 4, 7),
    (2024, 6, 30),
    (2024, 10, 6),
    (2024, 10, 27),
    (2024, 11, 3),
    (2024, 12, 31),
    (2025, 1, 1),
    (2025, 3, 31),
];

/// A day where calendars turn, or any day to April 2025.
pub fn day() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        proptest::sample::select(&DAYS[..]).prop_map(|(y, m, d)| date(y, m, d)),
        (14i64..460).prop_map(|n| date(2024, 1, 1) + Duration::days(n)),
    ]
}

fn time_of_day() -> impl Strategy<Value = NaiveTime> {
    proptest::sample::select(
        &[
            (0, 0, 0),
            (0, 30, 0),
            (1, 30, 0),
            (2, 30, 0),
            (9, 15, 0),
            (12, 0, 0),
            (23, 59, 59),
        ][..],
    )
    .prop_map(|(h, m, s)| NaiveTime::from_hms_opt(h, m, s).unwrap_or_default())
}

fn kind_spec() -> impl Strategy<Value = KindSpec> {
    prop_oneof![
        1 => (any::<bool>(), 0..REGIONS.len()).prop_map(|(v, r)| KindSpec::Enroll(v, r, None)),
        // Now and then an amount with three decimals: finer than a dollar
        // (rejected), not than a dinar.
        8 => (prop_oneof![7 => positive(20000, 2), 1 => positive(200000, 3)], (0i64..6).prop_map(Decimal::from), proptest::option::weighted(0.8, 0..CHANNELS.len()), proptest::option::weighted(0.4, baskets::basket()))
            .prop_map(|(a, q, c, b)| KindSpec::Purchase(a, q, c, b)),
        2 => (any::<usize>(), 1u32..=5, prop_oneof![2 => Just(0u8), 3 => 1u8..=2, 1 => 3u8..=4]).prop_map(|(n, parts, named)| KindSpec::Return(n, parts, named)),
        3 => (0usize..3, -5i64..=1, any::<bool>())
            .prop_map(|(p, delta, half)| KindSpec::RedeemNear(p, delta, half)),
        1 => (0usize..3).prop_map(KindSpec::RedeemReward),
        2 => any::<usize>().prop_map(KindSpec::Cancel),
        2 => (
            0usize..3,
            prop_oneof![1i64..200, -60i64..0, Just(0)],
            proptest::option::of(any::<usize>()),
            proptest::option::weighted(0.3, -2i64..40),
        )
            .prop_map(|(p, points, purchase, days)| KindSpec::Adjust(p, points, purchase, days)),
        1 => any::<usize>().prop_map(KindSpec::Duplicate),
        2 => gen_tiers::kinds(),
        4 => moves::move_spec().prop_map(KindSpec::Move),
    ]
}

/// A stream: each member enrols in the first weeks of 2024 (now and then
/// one never does), then records on days where calendars turn or any day to
/// April 2025, at a few times of day, so that many share an instant.
pub fn stream() -> impl Strategy<Value = Vec<EventSpec>> {
    // Now and then naming a referrer: a member (one enrolled before, or
    // later, or the member itself) or `zed`, who never enrols.
    let enrolment = (
        0i64..21,
        time_of_day(),
        any::<bool>(),
        0..REGIONS.len(),
        proptest::option::weighted(0.35, 0..=MEMBERS.len()),
    );
    let record = (0..MEMBERS.len(), day(), time_of_day(), kind_spec()).prop_map(
        |(member, day, time, kind)| EventSpec {
            member,
            day,
            time,
            kind,
        },
    );
    (
        proptest::collection::vec(proptest::option::weighted(0.9, enrolment), MEMBERS.len()),
        proptest::collection::vec(record, 1..40),
    )
        .prop_map(|(enrolments, records)| {
            let mut stream: Vec<EventSpec> = enrolments
                .into_iter()
                .enumerate()
                .filter_map(|(member, e)| {
                    e.map(|(day, time, vip, region, referrer)| EventSpec {
                        member,
                        day: date(2024, 1, 1) + Duration::days(day),
                        time,
                        kind: KindSpec::Enroll(vip, region, referrer),
                    })
                })
                .collect();
            stream.extend(records);
            stream
        })
}

/// The member an enrolment names as its referrer: the `n`th of
/// [`MEMBERS`], or past them `zed`, who never enrols.
pub fn referrer_name(n: Option<usize>) -> Option<String> {
    n.map(|n| MEMBERS.get(n).copied().unwrap_or("zed").to_string())
}

/// The balance a member could redeem at a local time, after the events
/// given (which are before it in time): `(events, member, points type,
/// time)`.
pub type Balance<'a> = dyn FnMut(&[GenEvent], &str, &str, NaiveDateTime) -> Decimal + 'a;

/// The smallest step of a points type of `precision` decimals.
pub fn step(precision: u32) -> Decimal {
    Decimal::new(1, precision)
}

/// The `n`th of `earlier` (member, value) pairs: mostly one of `member`'s
/// own, one time in eight anyone's (which the engine must reject).
fn pick<T: Clone>(earlier: &[(String, T)], member: &str, n: usize) -> Option<T> {
    let own: Vec<&T> = earlier
        .iter()
        .filter(|(m, _)| m == member || n % 8 == 0)
        .map(|(_, v)| v)
        .collect();
    own.get(n / 8 % own.len().max(1)).map(|v| (*v).clone())
}

/// A purchase generated, for the returns and adjustments that name it:
/// its id, amount and basket.
type Bought = (String, Decimal, Vec<baskets::GenItem>);

/// The stream with every reference resolved: ids, the purchase a return
/// names and its amount, the redeem a cancel names. References are
/// resolved in local-time order (a return names a purchase before it), and
/// a redeem near the balance asks `balance(events before it, member, points
/// type, time)` for the balance it is near; the records are returned in the
/// order generated, which the engine and the reference sort.
pub fn resolve(
    specs: &[EventSpec],
    points: &[&str],
    precisions: &[u32],
    balance: &mut Balance,
) -> Vec<GenEvent> {
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| specs.get(i).map(|s| s.day.and_time(s.time)));
    let mut events: Vec<GenEvent> = Vec::new();
    // (member, (id, amount, basket)) of each purchase.
    let mut purchases: Vec<(String, Bought)> = Vec::new();
    // Whether the returns of a purchase name items: as its first return
    // does (docs/semantics.md does not say how a return by amount shares
    // out an award after one naming items, or the reverse).
    let mut named: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut redeems: Vec<(String, String)> = Vec::new();
    for &i in &order {
        let Some(spec) = specs.get(i) else { continue };
        let mut member = MEMBERS
            .get(spec.member)
            .copied()
            .unwrap_or("ann")
            .to_string();
        let mut id = format!("e{i}");
        let kind = match &spec.kind {
            KindSpec::Enroll(vip, region, referrer) => Kind::Enroll {
                vip: *vip,
                region: REGIONS.get(*region).copied().unwrap_or("north").into(),
                attributes: Vec::new(),
                referred_by: referrer_name(*referrer),
            },
            KindSpec::Purchase(amount, qty, channel, basket) => {
                let (items, amount) = match basket {
                    Some(b) => b.resolve(),
                    None => (Vec::new(), *amount),
                };
                purchases.push((member.clone(), (id.clone(), amount, items.clone())));
                Kind::Purchase {
                    amount,
                    qty: *qty,
                    channel: channel.and_then(|c| CHANNELS.get(c)).map(|c| c.to_string()),
                    items,
                }
            }
            KindSpec::Return(n, parts, k) => match pick(&purchases, &member, *n) {
                Some((of, amount, basket)) => Kind::Return {
                    items: if *named.entry(of.clone()).or_insert(*k > 0) {
                        baskets::named(&basket, *parts as usize, (*k).max(1))
                    } else {
                        Vec::new()
                    },
                    of,
                    amount: if *parts >= 5 {
                        amount + dec(1, 2)
                    } else {
                        (amount * Decimal::from(*parts) / Decimal::from(4)).round_dp(2)
                    }
                    .max(dec(1, 2)),
                },
                None => Kind::Return {
                    of: "nothing".into(),
                    amount: Decimal::ONE,
                    items: Vec::new(),
                },
            },
            KindSpec::RedeemNear(p, delta, half) => {
                // Of the types the member holds, if any.
                let time = spec.day.and_time(spec.time);
                let balances: Vec<Decimal> = points
                    .iter()
                    .map(|name| balance(&events, &member, name, time))
                    .collect();
                let held: Vec<usize> = (0..points.len())
                    .filter(|&i| balances.get(i).is_some_and(|b| *b > Decimal::ZERO))
                    .collect();
                let p = held
                    .get(p % held.len().max(1))
                    .copied()
                    .unwrap_or(p % points.len().max(1));
                let name = points.get(p).copied().unwrap_or("stars");
                let unit = step(precisions.get(p).copied().unwrap_or(0));
                let held = balances.get(p).copied().unwrap_or_default();
                let near = if *half {
                    (held / Decimal::TWO).round_dp_with_strategy(
                        precisions.get(p).copied().unwrap_or(0),
                        rust_decimal::RoundingStrategy::ToZero,
                    )
                } else {
                    held + Decimal::from(*delta) * unit
                }
                .max(unit);
                // A cancel names a redeem that is applied (but for the one
                // in eight that names anyone's).
                if near <= held {
                    redeems.push((member.clone(), id.clone()));
                }
                Kind::RedeemPoints {
                    points: near,
                    points_type: name.to_string(),
                }
            }
            KindSpec::RedeemReward(p) => {
                redeems.push((member.clone(), id.clone()));
                Kind::RedeemReward {
                    reward: format!(
                        "gift_{}",
                        points
                            .get(p % points.len().max(1))
                            .copied()
                            .unwrap_or("stars")
                    ),
                }
            }
            KindSpec::Cancel(n) => Kind::CancelRedeem {
                redemption: pick(&redeems, &member, *n).unwrap_or_else(|| "nothing".into()),
            },
            KindSpec::Adjust(p, amount, purchase, days) => Kind::Adjust {
                points: Decimal::from(*amount),
                points_type: points
                    .get(p % points.len().max(1))
                    .copied()
                    .unwrap_or("stars")
                    .to_string(),
                purchase: purchase.and_then(|n| pick(&purchases, &member, n).map(|(id, _, _)| id)),
                expires: days.map(|d| spec.day + Duration::days(d)),
            },
            KindSpec::UsePerk(n) => Kind::UsePerk {
                perk: gen_tiers::perk_name(*n),
            },
            KindSpec::SetTier(n, days) => Kind::SetTier {
                tier: TIERS.get(*n).copied().unwrap_or("glod").to_string(),
                until: spec.day + Duration::days(*days),
            },
            KindSpec::Move(m) => {
                let time = spec.day.and_time(spec.time);
                let (by, kind) =
                    moves::resolve_move(m, &member, time, points, precisions, &events, balance);
                member = by;
                kind
            }
            KindSpec::Duplicate(n) => {
                if let Some(earlier) = events.get(n % events.len().max(1)) {
                    id = earlier.id.clone();
                }
                Kind::Purchase {
                    amount: Decimal::TEN,
                    qty: Decimal::ONE,
                    channel: None,
                    items: Vec::new(),
                }
            }
        };
        events.push(GenEvent {
            id,
            time: spec.day.and_time(spec.time),
            member,
            kind,
        });
    }
    let mut generated: Vec<(usize, GenEvent)> = order.into_iter().zip(events).collect();
    generated.sort_by_key(|(i, _)| *i);
    generated.into_iter().map(|(_, e)| e).collect()
}
