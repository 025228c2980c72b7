//! Strategies for what moves points between accounts and for earning
//! beyond purchases (a child of `gen`, kept in a file of its own): the
//! `transfers` and `pool` lines of points types, `preview` rules, member
//! attributes of every type, declared event types with fields of every
//! type and the rules on them, rules `on enroll`, shares of a rule on
//! another event type (always nothing), a member named like a pool; and
//! the records for them:
//! transfers between members and into and out of pools, `join_pool` and
//! `leave_pool`, records of the declared types, enrolments with their
//! attributes (an optional one now and then left empty, a required one
//! now and then left out: rejected), and `profile` records.

use super::*;
use chrono::Datelike;

/// Member attributes beyond `vip` and `region`, one of each type.
pub const ATTRIBUTES: [(&str, FieldType); 5] = [
    ("tenure", FieldType::Number),
    ("credit", FieldType::Money),
    ("nickname", FieldType::Text),
    ("pro", FieldType::Bool),
    ("birthday", FieldType::Date),
];

/// The events loyalty makes (docs/semantics.md, "Birthdays, anniversaries
/// and month starts", "Upgrades", "Tier changes", "Expiries", "Tier
/// periods"): a rule's `on` past the declared types' indices; the clock's
/// days first.
pub const MADE: [&str; 7] = [
    "birthday",
    "anniversary",
    "month_start",
    "upgrade",
    "tier_change",
    "expiry",
    "tier_period_start",
];

/// How many of [`MADE`] are days the clock makes.
pub const DAYS: usize = 3;

/// The event types a program may declare, with the fields each may have.
pub const EVENTS: [(&str, &[(&str, FieldType)]); 2] = [
    (
        "visit",
        &[
            ("nights", FieldType::Number),
            ("spend", FieldType::Money),
            ("hotel", FieldType::Text),
            ("suite", FieldType::Bool),
            ("checkin", FieldType::Date),
        ],
    ),
    (
        "referral",
        &[
            ("friends", FieldType::Number),
            ("bonus", FieldType::Money),
            ("code", FieldType::Text),
        ],
    ),
];

/// The texts fields and attributes take, and conditions compare with.
const TEXTS: [&str; 3] = ["a", "b", "c"];

/// The pool kind of each points type (by index), and pools' ids.
const KINDS: [&str; 3] = ["household", "team", "club"];
const POOL_IDS: [&str; 2] = ["x", "y"];

/// A field's or attribute's value in a record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Number(Decimal),
    Money(Decimal),
    Text(String),
    Bool(bool),
    Date(NaiveDate),
}

impl FieldValue {
    fn json(value: Option<&FieldValue>) -> serde_json::Value {
        match value {
            None => serde_json::Value::Null,
            Some(FieldValue::Number(n) | FieldValue::Money(n)) => n.to_string().into(),
            Some(FieldValue::Text(t)) => t.clone().into(),
            Some(FieldValue::Bool(b)) => (*b).into(),
            Some(FieldValue::Date(d)) => d.format("%Y-%m-%d").to_string().into(),
        }
    }
}

/// Fields as a record gives them: `None` is given empty (JSON `null`); a
/// field not in the list is left out.
pub type Fields = Vec<(String, Option<FieldValue>)>;

/// A record that moves points, or one of a declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    Transfer {
        to: String,
        points: Decimal,
        points_type: String,
    },
    JoinPool {
        pool: String,
    },
    LeavePool {
        pool: String,
    },
    Declared {
        event: String,
        fields: Fields,
    },
    /// A `profile`: the attributes it gives.
    Profile {
        fields: Fields,
    },
}

impl Move {
    /// Puts the record's type and fields.
    pub fn put(&self, put: &mut dyn FnMut(&str, serde_json::Value)) {
        let text = |s: &str| serde_json::Value::String(s.to_string());
        match self {
            Move::Transfer {
                to,
                points,
                points_type,
            } => {
                put("type", text("transfer"));
                put("to", text(to));
                put("points", text(&points.to_string()));
                put("points_type", text(points_type));
            }
            Move::JoinPool { pool } => {
                put("type", text("join_pool"));
                put("pool", text(pool));
            }
            Move::LeavePool { pool } => {
                put("type", text("leave_pool"));
                put("pool", text(pool));
            }
            Move::Declared { event, fields } => {
                put("type", text(event));
                put_fields(fields, put);
            }
            Move::Profile { fields } => {
                put("type", text("profile"));
                put_fields(fields, put);
            }
        }
    }
}

/// Puts fields (attributes or an event's).
pub fn put_fields(fields: &Fields, put: &mut dyn FnMut(&str, serde_json::Value)) {
    for (name, value) in fields {
        put(name, FieldValue::json(value.as_ref()));
    }
}

// ------------------------------------------------------------------ programs

/// What a program adds to the purchase rules (see the module doc).
#[derive(Debug, Clone)]
pub struct MovesSpec {
    /// Per points type: `transfers` with its `min`, `fee` and expiry.
    transfers: Vec<Option<TransferSpec>>,
    /// Per points type: `pool KIND` with its `at most N members`.
    pools: Vec<Option<Option<u32>>>,
    /// Per purchase rule (never the first, which the tiers measure):
    /// `preview`.
    previews: Vec<bool>,
    /// Per purchase rule: a comparison with an attribute, and-ed to its
    /// condition.
    wheres: Vec<Option<AtomSpec>>,
    /// Per purchase rule: one more `earn N% of R P`, R an earlier rule on
    /// another event (picked by the index), a share that is always nothing.
    cross: Vec<Option<(Decimal, usize)>>,
    /// A member named like a pool (`kind:id`, the kind one past the
    /// declared ones: a kind no program declares), in place of `cy`.
    alias: Option<(usize, usize)>,
    /// Per attribute: declared (`optional` or not) or not.
    attributes: Vec<Option<bool>>,
    /// Per event type of [`EVENTS`]: declared or not, and per field:
    /// declared (`optional` or not) or not.
    events: Vec<Option<Vec<Option<bool>>>>,
    /// Rules on the declared types and on enrolment.
    rules: Vec<OtherRule>,
    /// Per member, per attribute: the value its enrolment gives (`None`:
    /// leaves it out).
    values: Vec<Vec<Option<FieldValue>>>,
    /// Per member: a pool it joins (kind, id) so many days after its
    /// enrolment, and how much of its balance it then gives the pool a
    /// week later (so that pools hold points to give back).
    joins: Vec<Option<Joins>>,
}

/// A pool kind and id, the days from enrolment to the join, the steps
/// from the balance given to the pool, the days between the moves.
type Joins = (usize, usize, i64, i64, i64);

/// A `times` table: a text name in scope, factors of texts, `else`.
type TimesOn = (usize, Vec<(usize, Decimal)>, Option<Decimal>);

#[derive(Debug, Clone)]
struct TransferSpec {
    min: Option<Decimal>,
    /// A percentage.
    fee: Option<Decimal>,
    expiry: Option<TransferExpiry>,
}

/// A comparison over one name in scope (an event field, an attribute, a
/// built-in name), picked when the scope is known: `pick` chooses the
/// name, the rest the operator and the value compared with.
#[derive(Debug, Clone)]
struct AtomSpec {
    pick: usize,
    op: BinaryOp,
    k: i64,
    /// `member.x` rather than `x` for an attribute; arithmetic on a number
    /// or money (`x * 2`, `x - 10 USD`).
    member: bool,
    arith: bool,
    /// A list or a range instead of a comparison.
    within: bool,
}

/// A rule on enrolment or on a declared type.
#[derive(Debug, Clone)]
struct OtherRule {
    /// Where it goes among the purchase rules.
    at: usize,
    /// `None`: `on enroll`; else the declared type (the first declared if
    /// this one is not; on enroll if none is), or past them one of
    /// [`MADE`] (an anniversary for a birthday if members have none).
    on: Option<usize>,
    /// Comparisons joined by `and` (true) or `or`, each maybe negated.
    condition: Vec<(AtomSpec, bool, bool)>,
    earns: Vec<OtherEarn>,
    cap: Option<(Decimal, Option<Period>)>,
    limit: Option<(u32, Period)>,
    budget: Option<(Decimal, Option<Period>)>,
    round: Option<Rounding>,
    during: Option<(NaiveDate, NaiveDate)>,
    stop: bool,
    preview: bool,
}

#[derive(Debug, Clone)]
struct OtherEarn {
    award: OtherAward,
    points: usize,
    /// `times F { "a": x, ... [else: y] }` on a text field in scope.
    times: Option<TimesOn>,
}

#[derive(Debug, Clone)]
enum OtherAward {
    Fixed(Decimal),
    /// `N P per [full] U [USD] of F`, F a number or money name in scope.
    Per {
        rate: Decimal,
        full: bool,
        unit: Decimal,
        pick: usize,
    },
    /// `N% of R P`, R an earlier rule on the same event (else fixed), or
    /// (`cross`) on another event: a share that is always nothing.
    Share {
        percent: Decimal,
        rule: usize,
        cross: bool,
    },
    /// `12 / F P`, F a number name in scope: no award where F is zero (the
    /// record is rejected).
    Divided(usize),
}

fn atom_spec() -> impl Strategy<Value = AtomSpec> {
    (
        any::<usize>(),
        compare(),
        0i64..1000,
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(pick, op, k, member, arith, within)| AtomSpec {
            pick,
            op,
            k,
            member,
            arith,
            within,
        })
}

fn other_earn() -> impl Strategy<Value = OtherEarn> {
    let unit = prop_oneof![Just(dec(1, 0)), Just(dec(250, 2)), Just(dec(3, 0))];
    let award = prop_oneof![
        prop_oneof![positive(5, 0), positive(500, 2)].prop_map(OtherAward::Fixed),
        (positive(300, 2), any::<bool>(), unit, any::<usize>()).prop_map(
            |(rate, full, unit, pick)| OtherAward::Per {
                rate,
                full,
                unit,
                pick,
            }
        ),
        (
            positive(3000, 1),
            any::<usize>(),
            proptest::bool::weighted(0.3)
        )
            .prop_map(|(percent, rule, cross)| OtherAward::Share {
                percent,
                rule,
                cross
            }),
    ];
    let award = prop_oneof![12 => award, 1 => any::<usize>().prop_map(OtherAward::Divided)];
    let factor = (0i64..400, 0u32..3).prop_map(|(m, s)| dec(m, s));
    let times = (
        any::<usize>(),
        proptest::collection::btree_map(0..TEXTS.len(), factor.clone(), 1..3),
        proptest::option::of(factor),
    )
        .prop_map(|(field, keys, other)| (field, keys.into_iter().collect(), other));
    (award, 0usize..3, proptest::option::weighted(0.25, times)).prop_map(
        |(award, points, times)| OtherEarn {
            award,
            points,
            times,
        },
    )
}

fn other_rule() -> impl Strategy<Value = OtherRule> {
    let window = (0u32..420, 0u32..90).prop_map(|(from, days)| {
        let low = date(2024, 1, 1) + Duration::days(i64::from(from));
        (low, low + Duration::days(i64::from(days)))
    });
    (
        (
            0usize..7,
            proptest::option::weighted(0.7, 0..EVENTS.len() + MADE.len()),
            proptest::collection::vec(
                (atom_spec(), any::<bool>(), proptest::bool::weighted(0.2)),
                0..3,
            ),
            proptest::collection::vec(other_earn(), 1..3),
        ),
        (
            proptest::option::weighted(0.2, (positive(300, 0), proptest::option::of(period()))),
            proptest::option::weighted(0.25, (1u32..4, period())),
            proptest::option::weighted(0.15, (positive(600, 0), proptest::option::of(period()))),
            proptest::option::of(rounding()),
            proptest::option::weighted(0.15, window),
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.2),
        ),
    )
        .prop_map(
            |((at, on, condition, earns), (cap, limit, budget, round, during, stop, preview))| {
                OtherRule {
                    at,
                    on,
                    condition,
                    earns,
                    cap,
                    limit,
                    budget,
                    round,
                    during,
                    stop,
                    preview,
                }
            },
        )
}

fn value(ty: FieldType) -> BoxedStrategy<FieldValue> {
    match ty {
        FieldType::Number => prop_oneof![
            (0i64..7).prop_map(|n| FieldValue::Number(Decimal::from(n))),
            (0i64..70).prop_map(|n| FieldValue::Number(dec(n, 1))),
        ]
        .boxed(),
        FieldType::Money => positive(20000, 2).prop_map(FieldValue::Money).boxed(),
        FieldType::Text => proptest::sample::select(&TEXTS[..])
            .prop_map(|t| FieldValue::Text(t.to_string()))
            .boxed(),
        FieldType::Bool => any::<bool>().prop_map(FieldValue::Bool).boxed(),
        // Around the stream's days, and on leap days.
        FieldType::Date => prop_oneof![
            (0i64..900).prop_map(|n| FieldValue::Date(date(2023, 1, 1) + Duration::days(n))),
            Just(FieldValue::Date(date(2020, 2, 29))),
        ]
        .boxed(),
    }
}

/// Values for every attribute, each left out one time in twenty.
fn attribute_values() -> impl Strategy<Value = Vec<Option<FieldValue>>> {
    ATTRIBUTES
        .iter()
        .map(|(_, ty)| proptest::option::weighted(0.95, value(*ty)))
        .collect::<Vec<_>>()
}

pub fn moves(rules: usize) -> impl Strategy<Value = MovesSpec> {
    let transfer = (
        proptest::option::weighted(0.4, positive(30, 0)),
        proptest::option::weighted(0.4, (1i64..1000).prop_map(|m| dec(m, 1))),
        proptest::option::of(prop_oneof![
            Just(TransferExpiry::Keep),
            Just(TransferExpiry::Restart)
        ]),
    )
        .prop_map(|(min, fee, expiry)| TransferSpec { min, fee, expiry });
    let fields =
        |n: usize| proptest::collection::vec(proptest::option::weighted(0.8, any::<bool>()), n);
    let events: Vec<_> = EVENTS
        .iter()
        .map(|(_, f)| proptest::option::weighted(0.5, fields(f.len())))
        .collect();
    (
        (
            proptest::collection::vec(proptest::option::weighted(0.6, transfer), POINTS.len()),
            proptest::collection::vec(
                proptest::option::weighted(0.6, proptest::option::weighted(0.5, 1u32..4)),
                POINTS.len(),
            ),
            proptest::collection::vec(proptest::bool::weighted(0.15), rules),
            proptest::collection::vec(proptest::option::weighted(0.25, atom_spec()), rules),
            proptest::collection::vec(
                proptest::option::weighted(0.1, (positive(3000, 1), any::<usize>())),
                rules,
            ),
            proptest::option::weighted(0.15, (0..=KINDS.len(), 0..POOL_IDS.len())),
        ),
        (
            proptest::collection::vec(
                proptest::option::weighted(0.5, proptest::bool::weighted(0.4)),
                ATTRIBUTES.len(),
            ),
            events,
            proptest::collection::vec(other_rule(), 0..5),
            proptest::collection::vec(attribute_values(), MEMBERS.len()),
            proptest::collection::vec(
                proptest::option::weighted(
                    0.6,
                    (
                        0usize..3,
                        0..POOL_IDS.len(),
                        0i64..200,
                        -3i64..=1,
                        1i64..120,
                    ),
                ),
                MEMBERS.len(),
            ),
        ),
    )
        .prop_map(
            |(
                (transfers, pools, previews, wheres, cross, alias),
                (attributes, events, rules, values, joins),
            )| {
                MovesSpec {
                    transfers,
                    pools,
                    previews,
                    wheres,
                    cross,
                    alias,
                    attributes,
                    events,
                    rules,
                    values,
                    joins,
                }
            },
        )
}

/// A name in scope for a condition or an amount: its text, its type, and
/// whether it is an attribute (which `member.` may name).
type InScope = (String, FieldType, bool);

impl MovesSpec {
    /// The attributes declared.
    fn declared_attributes(&self) -> Vec<InScope> {
        ATTRIBUTES
            .iter()
            .zip(&self.attributes)
            .filter(|(_, d)| d.is_some())
            .map(|((n, ty), _)| (n.to_string(), *ty, true))
            .collect()
    }

    /// The fields event type `e` declares, if it is declared.
    fn declared_fields(&self, e: usize) -> Option<Vec<(String, FieldType, bool)>> {
        let (_, fields) = EVENTS.get(e)?;
        let declared = self.events.get(e)?.as_ref()?;
        let mut out: Vec<(String, FieldType, bool)> = fields
            .iter()
            .zip(declared)
            .filter_map(|((n, ty), d)| d.map(|optional| (n.to_string(), *ty, optional)))
            .collect();
        // A type declares one field at least.
        if out.is_empty() {
            if let Some((n, ty)) = fields.first() {
                out.push((n.to_string(), *ty, false));
            }
        }
        Some(out)
    }

    /// The event types declared, each with its number and money fields
    /// (and whether each is money): what a tier measure may count.
    pub(super) fn measurable(&self) -> gen_tiers::Measurable {
        (0..EVENTS.len())
            .filter_map(|e| {
                let (name, _) = EVENTS.get(e)?;
                let fields = self
                    .declared_fields(e)?
                    .into_iter()
                    .filter(|(_, ty, _)| matches!(ty, FieldType::Number | FieldType::Money))
                    .map(|(n, ty, _)| (n, ty == FieldType::Money))
                    .collect();
                Some((name.to_string(), fields))
            })
            .collect()
    }

    /// The event type a rule is on: `None` for enrolment, past the
    /// declared types' indices one of [`MADE`].
    fn event_of(&self, rule: &OtherRule) -> Option<usize> {
        let declared: Vec<usize> = (0..EVENTS.len())
            .filter(|&e| self.declared_fields(e).is_some())
            .collect();
        let e = rule.on?;
        if let Some(day) = e.checked_sub(EVENTS.len()) {
            // `on birthday` needs the attribute (`missing-attribute`).
            let unknown_birthday = day == 0 && !self.has_birthday();
            return Some(EVENTS.len() + day + usize::from(unknown_birthday));
        }
        if declared.contains(&e) {
            Some(e)
        } else {
            declared.first().copied()
        }
    }

    /// The names a rule on event `e` (or on enrolment) reads: the fields,
    /// the attributes and built-in names (of days, `hour`, `month`,
    /// `balance of stars`).
    fn scope(&self, e: Option<usize>) -> Vec<InScope> {
        let mut names: Vec<InScope> = e
            .and_then(|e| self.declared_fields(e))
            .unwrap_or_default()
            .into_iter()
            .map(|(n, ty, _)| (n, ty, false))
            .collect();
        names.extend(self.declared_attributes());
        names.extend(self.days());
        for builtin in ["hour", "month", "balance"] {
            names.push((builtin.to_string(), FieldType::Number, false));
        }
        names
    }

    /// Whether members have a `birthday` attribute.
    fn has_birthday(&self) -> bool {
        self.attributes.get(4).is_some_and(Option::is_some)
    }

    /// `days_since_enroll`, and `days_to_birthday` with a birthday.
    fn days(&self) -> Vec<InScope> {
        let mut names = vec![("days_since_enroll".to_string(), FieldType::Number, false)];
        if self.has_birthday() {
            names.push(("days_to_birthday".to_string(), FieldType::Number, false));
        }
        names
    }

    /// Which purchase rules are previews: never the first (the tiers
    /// measure what it earns), none in a group or with `stop` (those are
    /// dropped from it), and a live rule's share of one becomes a fixed
    /// award (`check` refuses it).
    pub(super) fn previews(&self, rules: &mut [RuleSpec]) -> Vec<bool> {
        let previews: Vec<bool> = (0..rules.len())
            .map(|i| i > 0 && self.previews.get(i).copied().unwrap_or(false))
            .collect();
        for (i, rule) in rules.iter_mut().enumerate() {
            let preview = previews.get(i).copied().unwrap_or(false);
            if preview {
                rule.group = None;
                rule.stop = false;
            }
            for e in &mut rule.earns {
                if let AwardSpec::Share {
                    percent, rule: t, ..
                } = e.award
                {
                    if !preview && previews.get(t).copied().unwrap_or(false) {
                        e.award = AwardSpec::Fixed(percent);
                    }
                }
            }
        }
        previews
    }

    /// A purchase rule's declaration made a preview, and its condition
    /// and-ed with a comparison over an attribute.
    pub(super) fn adapt(&self, i: usize, decl: &mut RuleDecl, preview: bool) {
        decl.preview = preview;
        let mut names = self.declared_attributes();
        names.extend(self.days());
        let Some(atom) = self.wheres.get(i).and_then(Option::as_ref) else {
            return;
        };
        let Some(extra) = build_atom(atom, &names) else {
            return;
        };
        for s in &mut decl.stmts {
            if let RuleStmt::On { condition, .. } = &mut s.node {
                *condition = Some(match condition.take() {
                    None => extra,
                    Some(c) => binary(BinaryOp::And, paren(c), paren(extra)),
                });
                return;
            }
        }
    }

    /// Adds to the program's items: the points types' `transfers` and
    /// `pool` lines, the attributes, the declared types, and the rules on
    /// them and on enrolment, among the purchase rules.
    pub(super) fn extend(&self, items: &mut Vec<Item>, points: usize) {
        for item in items.iter_mut() {
            match item {
                Item::Points(p) => {
                    let i = POINTS.iter().position(|n| *n == p.name.node).unwrap_or(0);
                    // Qualifying points are neither given nor pooled.
                    if p.settings
                        .iter()
                        .any(|s| s.node == PointsSetting::Qualifying)
                    {
                        continue;
                    }
                    if let Some(Some(t)) = self.transfers.get(i) {
                        let mut options = Vec::new();
                        if let Some(min) = t.min {
                            options.push(TransferOption::Min(num(min)));
                        }
                        if let Some(fee) = t.fee {
                            options.push(TransferOption::Fee(num(fee)));
                        }
                        if let Some(e) = t.expiry {
                            options.push(TransferOption::Expiry(e));
                        }
                        p.settings.push(spanned(PointsSetting::Transfers(
                            options.into_iter().map(spanned).collect(),
                        )));
                    }
                    if let Some(Some(most)) = self.pools.get(i) {
                        p.settings.push(spanned(PointsSetting::Pool {
                            kind: ident(KINDS.get(i).copied().unwrap_or("household")),
                            most: most.map(|n| num(Decimal::from(n))),
                        }));
                    }
                }
                Item::Member(m) => {
                    for ((n, ty), d) in ATTRIBUTES.iter().zip(&self.attributes) {
                        if let Some(optional) = d {
                            m.fields.push(field(n, *optional, *ty));
                        }
                    }
                }
                _ => {}
            }
        }
        // The declared types, after `purchase`.
        let at = items
            .iter()
            .rposition(|i| matches!(i, Item::Event(_)))
            .map_or(items.len(), |i| i + 1);
        for e in (0..EVENTS.len()).rev() {
            let (Some((name, _)), Some(fields)) = (EVENTS.get(e), self.declared_fields(e)) else {
                continue;
            };
            items.insert(
                at,
                Item::Event(EventDecl {
                    name: ident(name),
                    fields: fields
                        .iter()
                        .map(|(n, ty, optional)| field(n, *optional, *ty))
                        .collect(),
                    span: Span::default(),
                }),
            );
        }
        // The other rules, each before the purchase rule at its place
        // (their places in their order: a share's rule comes first).
        let mut places: Vec<usize> = self.rules.iter().map(|r| r.at).collect();
        places.sort_unstable();
        let mut placed = items.split_off(
            items
                .iter()
                .position(|i| matches!(i, Item::Rule(_)))
                .unwrap_or(items.len()),
        );
        let rest: Vec<Item> = placed
            .iter()
            .position(|i| !matches!(i, Item::Rule(_)))
            .map(|i| placed.split_off(i))
            .unwrap_or_default();
        let mut purchase: Vec<RuleDecl> = placed
            .into_iter()
            .filter_map(|i| match i {
                Item::Rule(r) => Some(r),
                _ => None,
            })
            .collect();
        let tiers = items.iter().any(|i| matches!(i, Item::Tiers(_)));
        let decls = self.other_rules(points, &places, &purchase, tiers);
        self.share_across(&mut purchase, &places, &decls);
        let mut rules: Vec<(usize, RuleDecl)> = Vec::new();
        for (k, decl) in purchase.into_iter().enumerate() {
            rules.push((2 * k + 1, decl));
        }
        for (at, decl) in places.into_iter().zip(decls) {
            rules.push((2 * at, decl));
        }
        rules.sort_by_key(|(at, _)| *at);
        items.extend(rules.into_iter().map(|(_, decl)| Item::Rule(decl)));
        items.extend(rest);
    }

    /// Adds to purchase rules their `cross` share: of an earlier rule on
    /// enrolment or a declared type (`others`, at `places`) that earns a
    /// type the purchase rule earns (a live rule takes no share of a
    /// preview one).
    fn share_across(&self, purchase: &mut [RuleDecl], places: &[usize], others: &[RuleDecl]) {
        let owns: Vec<Vec<usize>> = purchase.iter().map(|r| earned_types(r, purchase)).collect();
        for ((i, rule), own) in purchase.iter_mut().enumerate().zip(owns) {
            let Some(Some((percent, pick))) = self.cross.get(i) else {
                continue;
            };
            // A rule either earns or multiplies.
            let multiplies = rule
                .stmts
                .iter()
                .any(|s| matches!(s.node, RuleStmt::Multiply { .. }));
            if multiplies {
                continue;
            }
            let candidates: Vec<(&RuleDecl, usize)> = others
                .iter()
                .zip(places)
                .filter(|(other, at)| **at <= i && (rule.preview || !other.preview))
                .filter_map(|(other, _)| {
                    let p = earned_types(other, others)
                        .into_iter()
                        .find(|p| own.contains(p))?;
                    Some((other, p))
                })
                .collect();
            if let Some((other, p)) = candidates.get(pick % candidates.len().max(1)) {
                rule.stmts.push(spanned(RuleStmt::Earn(Earn {
                    award: Award::PercentOf {
                        percent: num(*percent),
                        rule: other.name.clone(),
                        points: Some(ident(points_name(*p))),
                    },
                    multiplier: None,
                    to_referrer: false,
                })));
            }
        }
    }

    /// The rules on enrolment and the declared types, made well typed:
    /// names from their scope, shares of an earlier rule on the same event
    /// that earns the type (or no share), caps and budgets in a type they
    /// earn; a preview rule does not `stop`, and a live rule takes no share
    /// of a preview one; a rule on tier changes in a program with `tiers`
    /// compares `tier` with `previous_tier` when its first comparison is
    /// on a member attribute, and a rule on expiry `expired` with a number
    /// (or else `points_type` with a type's name).
    fn other_rules(
        &self,
        points: usize,
        places: &[usize],
        purchase: &[RuleDecl],
        tiers: bool,
    ) -> Vec<RuleDecl> {
        let mut decls: Vec<RuleDecl> = Vec::new();
        // Per rule: its event, whether it is a preview, the types it earns.
        let mut earlier: Vec<(Option<usize>, bool, Vec<usize>)> = Vec::new();
        for (k, rule) in self.rules.iter().enumerate() {
            let e = self.event_of(rule);
            let scope = self.scope(e);
            let event = match e {
                None => "enroll",
                Some(e) => EVENTS
                    .get(e)
                    .map(|(n, _)| *n)
                    .or_else(|| MADE.get(e.checked_sub(EVENTS.len())?).copied())
                    .unwrap_or("enroll"),
            };
            let mut condition: Option<Expr> = None;
            for (atom, and, not) in &rule.condition {
                let Some(mut a) = build_atom(atom, &scope) else {
                    continue;
                };
                if *not {
                    a = expr(ExprKind::Unary {
                        op: UnaryOp::Not,
                        expr: Box::new(paren(a)),
                    });
                }
                condition = Some(match condition {
                    None => a,
                    Some(c) => binary(
                        if *and { BinaryOp::And } else { BinaryOp::Or },
                        paren(c),
                        paren(a),
                    ),
                });
            }
            let first = rule.condition.first().map(|(atom, _, _)| atom);
            let made = first.and_then(|atom| match event {
                "tier_change" if tiers && atom.member => {
                    Some(binary(atom.op, name("tier"), name("previous_tier")))
                }
                "expiry" if atom.member => Some(binary(
                    atom.op,
                    name("expired"),
                    expr(ExprKind::Number(Decimal::from(atom.k % 300))),
                )),
                "expiry" => Some(binary(
                    BinaryOp::Eq,
                    name("points_type"),
                    expr(ExprKind::Text(
                        points_name(usize::try_from(atom.k).unwrap_or(0) % points.max(1))
                            .to_string(),
                    )),
                )),
                _ => None,
            });
            if let Some(made) = made {
                condition = Some(match condition {
                    None => made,
                    Some(c) => binary(BinaryOp::And, paren(c), made),
                });
            }
            let mut stmts = vec![RuleStmt::On {
                event: ident(event),
                condition,
            }];
            let mut types: Vec<usize> = Vec::new();
            for earn in &rule.earns {
                let mut p = earn.points % points.max(1);
                let award = match &earn.award {
                    OtherAward::Share {
                        percent,
                        rule: r,
                        cross: true,
                    } => {
                        // An earlier rule on another event: the purchase
                        // rules before this one's place, the other rules
                        // before it on another event.
                        let at = places.get(k).copied().unwrap_or(0);
                        let before = purchase.iter().take(at).chain(
                            decls
                                .iter()
                                .zip(&earlier)
                                .filter(|(_, (te, _, _))| *te != e)
                                .map(|(d, _)| d),
                        );
                        let candidates: Vec<(&RuleDecl, Vec<usize>)> = before
                            .filter(|d| rule.preview || !d.preview)
                            .map(|d| (d, earned_types(d, purchase)))
                            .filter(|(_, types)| !types.is_empty())
                            .collect();
                        match candidates.get(r % candidates.len().max(1)) {
                            Some((target, types)) => {
                                if !types.contains(&p) {
                                    p = types.first().copied().unwrap_or(0);
                                }
                                Award::PercentOf {
                                    percent: num(*percent),
                                    rule: target.name.clone(),
                                    points: Some(ident(points_name(p))),
                                }
                            }
                            None => fixed(*percent, p),
                        }
                    }
                    OtherAward::Share {
                        percent, rule: r, ..
                    } => {
                        let target = (0..k).rev().cycle().nth(*r % k.max(1)).filter(|&t| {
                            earlier.get(t).is_some_and(|(te, tp, tt)| {
                                *te == e && (rule.preview || !tp) && !tt.is_empty()
                            })
                        });
                        match target.and_then(|t| earlier.get(t).map(|x| (t, x))) {
                            Some((t, (_, _, tt))) if k > 0 => {
                                if !tt.contains(&p) {
                                    p = tt.first().copied().unwrap_or(0);
                                }
                                Award::PercentOf {
                                    percent: num(*percent),
                                    rule: ident(&other_name(t)),
                                    points: Some(ident(points_name(p))),
                                }
                            }
                            _ => fixed(*percent, p),
                        }
                    }
                    OtherAward::Fixed(n) => fixed(*n, p),
                    OtherAward::Divided(pick) => {
                        let numbers: Vec<&InScope> = scope
                            .iter()
                            .filter(|(n, ty, _)| *ty == FieldType::Number && n != "balance")
                            .collect();
                        match numbers.get(pick % numbers.len().max(1)) {
                            Some((n, _, _)) => Award::Amount {
                                amount: binary(
                                    BinaryOp::Div,
                                    expr(ExprKind::Number(Decimal::from(12))),
                                    name(n),
                                ),
                                points: ident(points_name(p)),
                                per: None,
                                filter: None,
                            },
                            None => fixed(Decimal::ONE, p),
                        }
                    }
                    OtherAward::Per {
                        rate,
                        full,
                        unit,
                        pick,
                    } => {
                        let bases: Vec<&InScope> = scope
                            .iter()
                            .filter(|(n, ty, _)| {
                                matches!(ty, FieldType::Number | FieldType::Money) && n != "balance"
                            })
                            .collect();
                        match bases.get(pick % bases.len().max(1)) {
                            Some((n, ty, _)) => Award::Amount {
                                amount: expr(ExprKind::Number(*rate)),
                                points: ident(points_name(p)),
                                per: Some(PerClause {
                                    full: *full,
                                    unit: num(*unit),
                                    currency: (*ty == FieldType::Money).then(|| ident("USD")),
                                    base: name(n),
                                    span: Span::default(),
                                    items: false,
                                }),
                                filter: None,
                            },
                            None => fixed(*rate, p),
                        }
                    }
                };
                let keys_in_scope: Vec<&InScope> = scope
                    .iter()
                    .filter(|(n, ty, _)| {
                        matches!(ty, FieldType::Text | FieldType::Number) && !builtin(n)
                    })
                    .collect();
                let multiplier = earn.times.as_ref().and_then(|(f, keys, other)| {
                    let (key, ty, _) = keys_in_scope.get(f % keys_in_scope.len().max(1))?;
                    let mut entries: Vec<TableEntry> = keys
                        .iter()
                        .map(|(t, factor)| TableEntry {
                            key: spanned(if *ty == FieldType::Text {
                                TableKey::Text(TEXTS.get(*t).copied().unwrap_or("a").to_string())
                            } else {
                                TableKey::Number(Decimal::from(*t))
                            }),
                            factor: num(*factor),
                        })
                        .collect();
                    if let Some(f) = other {
                        entries.push(TableEntry {
                            key: spanned(TableKey::Else),
                            factor: num(*f),
                        });
                    }
                    Some(Multiplier {
                        key: ident(key),
                        entries,
                        span: Span::default(),
                    })
                });
                if !types.contains(&p) {
                    types.push(p);
                }
                stmts.push(RuleStmt::Earn(Earn {
                    award,
                    multiplier,
                    to_referrer: false,
                }));
            }
            let first = types.first().copied().unwrap_or(0);
            if let Some((amount, period)) = rule.cap {
                stmts.push(RuleStmt::Cap {
                    amount: num(amount),
                    points: ident(points_name(first)),
                    scope: period.map_or(CapScope::PerEvent, |p| CapScope::PerMember(spanned(p))),
                });
            }
            if let Some((amount, period)) = rule.budget {
                stmts.push(RuleStmt::Budget {
                    amount: num(amount),
                    points: ident(points_name(*types.last().unwrap_or(&first))),
                    period: period.map(spanned),
                });
            }
            if let Some((count, period)) = rule.limit {
                stmts.push(RuleStmt::Limit {
                    count: num(Decimal::from(count)),
                    period: spanned(period),
                });
            }
            if let Some(r) = rule.round {
                stmts.push(RuleStmt::Round(r));
            }
            if let Some((from, to)) = rule.during {
                stmts.push(RuleStmt::During {
                    from: spanned(from),
                    to: spanned(to),
                });
            }
            if rule.stop && !rule.preview {
                stmts.push(RuleStmt::Stop);
            }
            decls.push(RuleDecl {
                preview: rule.preview,
                name: ident(&other_name(k)),
                stmts: stmts.into_iter().map(spanned).collect(),
                span: Span::default(),
            });
            earlier.push((e, rule.preview, types));
        }
        decls
    }
}

/// The points types (indices into [`POINTS`]) a rule earns, as the
/// reference reads them (a share without a name: its rule's first, found
/// among `rules`).
fn earned_types(rule: &RuleDecl, rules: &[RuleDecl]) -> Vec<usize> {
    let rules: Vec<&RuleDecl> = rules.iter().collect();
    crate::reference::earned_types(rule, &rules)
        .iter()
        .filter_map(|name| POINTS.iter().position(|p| p == name))
        .collect()
}

/// Whether a name in scope is a built-in one (no `times` key).
fn builtin(n: &str) -> bool {
    n.starts_with("days") || ["hour", "month", "balance"].contains(&n)
}

fn points_name(p: usize) -> &'static str {
    POINTS.get(p).copied().unwrap_or("stars")
}

fn other_name(k: usize) -> String {
    format!("v{k}")
}

fn fixed(n: Decimal, p: usize) -> Award {
    Award::Amount {
        amount: expr(ExprKind::Number(n)),
        points: ident(points_name(p)),
        per: None,
        filter: None,
    }
}

fn paren(e: Expr) -> Expr {
    expr(ExprKind::Paren(Box::new(e)))
}

fn field(n: &str, optional: bool, ty: FieldType) -> FieldDecl {
    FieldDecl {
        name: ident(n),
        optional,
        ty: spanned(ty),
        span: Span::default(),
    }
}

/// A well-typed comparison over the name `atom.pick` chooses in `scope`.
fn build_atom(atom: &AtomSpec, scope: &[InScope]) -> Option<Expr> {
    let (n, ty, attribute) = scope.get(atom.pick % scope.len().max(1))?;
    let subject = if *attribute && atom.member {
        expr(ExprKind::MemberAttr(ident(n)))
    } else if n == "balance" {
        expr(ExprKind::Balance(ident(POINTS[0])))
    } else {
        name(n)
    };
    let k = atom.k;
    let eq = if matches!(atom.op, BinaryOp::Eq | BinaryOp::Lt | BinaryOp::Le) {
        BinaryOp::Eq
    } else {
        BinaryOp::Ne
    };
    let number = |v: i64| expr(ExprKind::Number(Decimal::from(v)));
    Some(match ty {
        FieldType::Number => {
            let bound = match n.as_str() {
                "hour" => 24,
                "month" => 13,
                "balance" => 300,
                n if n.starts_with("days") => 400,
                _ => 7,
            };
            if atom.within {
                let low = k % bound;
                return Some(expr(ExprKind::InRange {
                    expr: Box::new(subject),
                    low: Box::new(number(low)),
                    high: Box::new(number(low + k % 5 * bound / 10)),
                }));
            }
            // Now and then 12 divided by it: a comparison with a division
            // by zero is false.
            let subject = match (atom.arith, k % 3) {
                (true, 0) => binary(BinaryOp::Div, number(12), subject),
                (true, _) => binary(BinaryOp::Mul, subject, number(2)),
                (false, _) => subject,
            };
            binary(atom.op, subject, number(k % bound))
        }
        FieldType::Money => {
            let m = expr(ExprKind::Money(usd(dec(k * 173 % 20000, 2))));
            let subject = if atom.arith {
                binary(
                    BinaryOp::Sub,
                    subject,
                    expr(ExprKind::Money(usd(Decimal::TEN))),
                )
            } else {
                subject
            };
            binary(atom.op, subject, m)
        }
        FieldType::Text => {
            let text = |i: i64| {
                let i = usize::try_from(i).unwrap_or(0) % TEXTS.len();
                expr(ExprKind::Text(
                    TEXTS.get(i).copied().unwrap_or("a").to_string(),
                ))
            };
            if atom.within {
                expr(ExprKind::InList {
                    expr: Box::new(subject),
                    items: vec![text(k), text(k / 3)],
                })
            } else {
                binary(eq, subject, text(k))
            }
        }
        FieldType::Bool => binary(eq, subject, expr(ExprKind::Bool(k % 2 == 0))),
        FieldType::Date => {
            let day = date(2023, 1, 1) + Duration::days(k * 7 % 900);
            // A date a few days, weeks, months or years later or earlier.
            let subject = if atom.arith {
                let unit = [
                    TimeUnit::Day,
                    TimeUnit::Week,
                    TimeUnit::Month,
                    TimeUnit::Year,
                ];
                let term = duration(
                    u32::try_from(k % 5 + 1).unwrap_or(1),
                    unit.get(usize::try_from(k % 4).unwrap_or(0))
                        .copied()
                        .unwrap_or(TimeUnit::Day),
                );
                let op = if k % 3 == 0 {
                    BinaryOp::Sub
                } else {
                    BinaryOp::Add
                };
                binary(op, subject, expr(ExprKind::Duration(term)))
            } else {
                subject
            };
            if atom.within {
                expr(ExprKind::InRange {
                    expr: Box::new(subject),
                    low: Box::new(expr(ExprKind::Date(day))),
                    high: Box::new(expr(ExprKind::Date(day + Duration::days(k % 200)))),
                })
            } else {
                binary(atom.op, subject, expr(ExprKind::Date(day)))
            }
        }
    })
}

// ------------------------------------------------------------------ streams

/// A record of this module before its references are resolved.
#[derive(Debug, Clone)]
pub enum MoveSpec {
    /// A transfer of `points` (an index into the program's types) to a
    /// member (`to` indexes [`MEMBERS`]; one past them: the giver's pool
    /// of that kind, `pool` its id) of the balance near `delta` steps, or
    /// half of it.
    Transfer {
        to: usize,
        pool: usize,
        points: usize,
        delta: i64,
        half: bool,
    },
    /// From the pool of kind `kind` and id `pool` to member `to` (one past
    /// the members: to the pool of the next id, or of none).
    FromPool {
        kind: usize,
        pool: usize,
        to: usize,
        points: usize,
        delta: i64,
        half: bool,
    },
    Join(usize, usize),
    Leave(usize, usize),
    /// A `leave_pool` given by the pool itself (rejected: a pool's only
    /// records are transfers out of it).
    AsPool(usize, usize),
    /// A record of declared type `e` (undeclared: rejected), each field
    /// given, given empty, or left out.
    Declared(usize, Vec<Option<Option<FieldValue>>>),
    /// An enrolment with its attributes (`fit` makes it, from the
    /// program's values), and the referrer it names.
    Enroll(bool, usize, Fields, Option<usize>),
    /// A `profile` giving some attributes (`fit` keeps those the program
    /// declares but now and then, and gives the member's own birthday
    /// again now and then).
    Profile(Vec<Option<FieldValue>>),
}

pub(super) fn declared_values(e: usize) -> BoxedStrategy<MoveSpec> {
    let fields = EVENTS.get(e).map_or(&[][..], |(_, f)| *f);
    fields
        .iter()
        .map(|(_, ty)| {
            prop_oneof![
                38 => value(*ty).prop_map(|v| Some(Some(v))),
                1 => Just(Some(None)),
                1 => Just(None),
            ]
        })
        .collect::<Vec<_>>()
        .prop_map(move |values| MoveSpec::Declared(e, values))
        .boxed()
}

pub fn move_spec() -> impl Strategy<Value = MoveSpec> {
    let near = (0usize..3, -3i64..=1, any::<bool>());
    prop_oneof![
        6 => (0..=MEMBERS.len(), 0..POOL_IDS.len(), near.clone()).prop_map(
            |(to, pool, (points, delta, half))| MoveSpec::Transfer {
                to,
                pool,
                points,
                delta,
                half,
            }
        ),
        2 => (0usize..3, 0..POOL_IDS.len(), 0..=MEMBERS.len(), near, proptest::bool::weighted(0.85))
            .prop_map(|(kind, pool, to, (points, delta, half), same)| MoveSpec::FromPool {
                kind,
                pool,
                to,
                points: if same { kind } else { points },
                delta,
                half,
            }),
        3 => (0usize..4, 0..POOL_IDS.len()).prop_map(|(k, i)| MoveSpec::Join(k, i)),
        1 => (0usize..4, 0..POOL_IDS.len()).prop_map(|(k, i)| MoveSpec::Leave(k, i)),
        1 => (0usize..3, 0..POOL_IDS.len()).prop_map(|(k, i)| MoveSpec::AsPool(k, i)),
        5 => (0..EVENTS.len()).prop_flat_map(declared_values),
        2 => ATTRIBUTES
            .iter()
            .map(|(_, ty)| proptest::option::weighted(0.4, value(*ty)))
            .collect::<Vec<_>>()
            .prop_map(MoveSpec::Profile),
    ]
}

/// The resolved stream with member `cy` named like a pool (`kind:id`),
/// when the program says so: a pool of that name, if the program has its
/// kind, is then the member's name (docs/semantics.md: `join_pool` is
/// rejected for "a name that is a member's", a record whose `member` is a
/// pool only for a transfer out of it).
pub fn rename(events: &mut [GenEvent], spec: &ProgramSpec) {
    let Some((kind, id)) = spec.moves.alias else {
        return;
    };
    let alias = format!(
        "{}:{}",
        KINDS.get(kind).copied().unwrap_or("guild"),
        POOL_IDS.get(id).copied().unwrap_or("x")
    );
    let cy = MEMBERS.get(2).copied().unwrap_or("cy");
    for e in events {
        if e.member == cy {
            e.member.clone_from(&alias);
        }
        if let Kind::Move(Move::Transfer { to, .. }) = &mut e.kind {
            if to == cy {
                to.clone_from(&alias);
            }
        }
        if let Kind::Enroll {
            referred_by: Some(referrer),
            ..
        } = &mut e.kind
        {
            if referrer == cy {
                referrer.clone_from(&alias);
            }
        }
    }
}

/// Fits a stream to its program: enrolments give the program's
/// attributes (the member's values for those declared), records of a
/// declared type its fields (of an undeclared type, all: rejected).
pub fn fit(stream: &mut Vec<EventSpec>, spec: &ProgramSpec) {
    let moves = &spec.moves;
    // Members join pools some days after they enrol, and give to them.
    let mut joins = Vec::new();
    for e in stream.iter() {
        let KindSpec::Enroll(..) = e.kind else {
            continue;
        };
        let pools = (0..spec.points.len()).any(|p| moves.pools.get(p).is_some_and(Option::is_some));
        let Some(Some((kind, id, days, delta, gap))) = moves.joins.get(e.member) else {
            continue;
        };
        // Without pools, one member in four tries all the same.
        if pools || e.member == 0 {
            let day = e.day + Duration::days(*days);
            joins.push(EventSpec {
                member: e.member,
                day,
                time: e.time,
                kind: KindSpec::Move(MoveSpec::Join(*kind, *id)),
            });
            joins.push(EventSpec {
                member: e.member,
                day: day + Duration::days(*gap),
                time: e.time,
                kind: KindSpec::Move(MoveSpec::Transfer {
                    to: MEMBERS.len(),
                    pool: *id,
                    points: *kind,
                    delta: *delta,
                    half: delta % 2 == 0,
                }),
            });
            // A gift to the next member, half the balance of a type
            // members may give.
            joins.push(EventSpec {
                member: e.member,
                day: day + Duration::days(gap / 2),
                time: e.time,
                kind: KindSpec::Move(MoveSpec::Transfer {
                    to: (e.member + 1) % MEMBERS.len(),
                    pool: *id,
                    points: *kind,
                    delta: *delta,
                    half: true,
                }),
            });
            // And the pool gives some back.
            joins.push(EventSpec {
                member: e.member,
                day: day + Duration::days(2 * gap),
                time: e.time,
                kind: KindSpec::Move(MoveSpec::FromPool {
                    kind: *kind,
                    pool: *id,
                    to: e.member,
                    points: *kind,
                    delta: *delta,
                    half: delta % 2 != 0,
                }),
            });
        }
    }
    stream.extend(joins);
    for e in stream.iter_mut() {
        match &mut e.kind {
            KindSpec::Enroll(vip, region, referrer) => {
                let values = moves.values.get(e.member);
                let fields: Fields = ATTRIBUTES
                    .iter()
                    .zip(&moves.attributes)
                    .enumerate()
                    .filter(|(_, (_, d))| d.is_some())
                    .filter_map(|(a, ((n, _), _))| {
                        let v = values.and_then(|v| v.get(a)).cloned().flatten()?;
                        Some((n.to_string(), Some(v)))
                    })
                    .collect();
                e.kind = KindSpec::Move(MoveSpec::Enroll(*vip, *region, fields, *referrer));
            }
            KindSpec::Move(MoveSpec::Profile(values)) => {
                // Mostly the attributes declared; the member's own birthday
                // given again one time in two.
                let keep_all = e.day.ordinal() % 6 == 0;
                let own = moves.values.get(e.member);
                for (a, v) in values.iter_mut().enumerate() {
                    let declared = moves.attributes.get(a).is_some_and(Option::is_some);
                    if !declared && !keep_all {
                        *v = None;
                    }
                    let birthday = ATTRIBUTES.get(a).is_some_and(|(n, _)| *n == "birthday");
                    if birthday && v.is_some() && e.day.ordinal() % 2 == 0 {
                        *v = own.and_then(|o| o.get(a)).cloned().flatten();
                    }
                }
            }
            KindSpec::Move(m) => {
                // Mostly a type, a kind the program declares: one record in
                // six keeps what was drawn (rejected, often).
                if e.day.ordinal() % 6 != 0 {
                    moves.declared(m, spec.points.len());
                }
                // One record in eight also gives the fields its type does
                // not declare (rejected).
                let all = e.day.ordinal() % 8 == 1;
                if let (MoveSpec::Declared(t, values), false) = (m, all) {
                    let (Some((_, fields)), Some(declared)) =
                        (EVENTS.get(*t), moves.declared_fields(*t))
                    else {
                        continue;
                    };
                    for (v, (n, _)) in values.iter_mut().zip(fields.iter()) {
                        if !declared.iter().any(|(d, _, _)| d == n) {
                            *v = None;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl MovesSpec {
    /// Points a record at what the program declares: a type that members
    /// may transfer, a pool kind, an event type.
    fn declared(&self, m: &mut MoveSpec, types: usize) {
        let choose = |n: usize, ok: &dyn Fn(usize) -> bool, most: usize| {
            let fits: Vec<usize> = (0..most).filter(|&i| ok(i)).collect();
            fits.get(n % fits.len().max(1)).copied().unwrap_or(n)
        };
        let pooled = |i: usize| i < types && self.pools.get(i).is_some_and(Option::is_some);
        let transferable =
            |i: usize| i < types && self.transfers.get(i).is_some_and(Option::is_some);
        match m {
            MoveSpec::Transfer { to, points, .. } => {
                *points = if *to >= MEMBERS.len() {
                    choose(*points, &pooled, POINTS.len())
                } else {
                    choose(*points, &transferable, POINTS.len())
                };
            }
            MoveSpec::FromPool { kind, points, .. } => {
                let k = choose(*kind, &pooled, POINTS.len());
                if *points == *kind {
                    *points = k;
                }
                *kind = k;
            }
            MoveSpec::Join(kind, _) | MoveSpec::Leave(kind, _) | MoveSpec::AsPool(kind, _) => {
                *kind = choose(*kind, &pooled, POINTS.len());
            }
            MoveSpec::Declared(t, _) => {
                *t = choose(*t, &|e| self.declared_fields(e).is_some(), EVENTS.len());
            }
            MoveSpec::Enroll(..) | MoveSpec::Profile(_) => {}
        }
    }
}

/// An amount near the account's available balance: `delta` steps from
/// it, or half of it.
#[allow(clippy::too_many_arguments)]
fn near(
    balance: &mut Balance,
    events: &[GenEvent],
    account: &str,
    points: &str,
    precision: u32,
    time: NaiveDateTime,
    delta: i64,
    half: bool,
) -> Decimal {
    let held = balance(events, account, points, time);
    let unit = step(precision);
    if half {
        (held / Decimal::TWO)
            .round_dp_with_strategy(precision, rust_decimal::RoundingStrategy::ToZero)
    } else {
        held + Decimal::from(delta) * unit
    }
    .max(unit)
}

/// The record a spec stands for: `member` gives or joins, `earlier` the
/// records before it in time.
pub fn resolve_move(
    spec: &MoveSpec,
    member: &str,
    time: NaiveDateTime,
    points: &[&str],
    precisions: &[u32],
    earlier: &[GenEvent],
    balance: &mut Balance,
) -> (String, Kind) {
    let type_of = |p: usize| {
        let p = p % points.len().max(1);
        (
            points.get(p).copied().unwrap_or("stars"),
            precisions.get(p).copied().unwrap_or(0),
        )
    };
    let pool_name = |kind: usize, id: usize| {
        format!(
            "{}:{}",
            KINDS.get(kind).copied().unwrap_or("nowhere"),
            POOL_IDS.get(id).copied().unwrap_or("x")
        )
    };
    let mine = member.to_string();
    match spec {
        MoveSpec::Transfer {
            to,
            pool,
            points: p,
            delta,
            half,
        } => {
            let (name, precision) = type_of(*p);
            // Mostly to another member.
            let others = |i: usize| (i + usize::from(delta % 3 != 0)) % MEMBERS.len();
            let to = match MEMBERS.get(*to) {
                Some(m) if *m == member => MEMBERS
                    .get(others(*to))
                    .copied()
                    .unwrap_or("ann")
                    .to_string(),
                Some(m) => m.to_string(),
                // Now and then the pool of another type's kind: rejected.
                None => pool_name((p + usize::from(*delta == 1)) % points.len().max(1), *pool),
            };
            let amount = near(
                balance, earlier, member, name, precision, time, *delta, *half,
            );
            // Now and then an amount with more decimals than the type has,
            // or a type the program lacks: rejected.
            let (amount, name) = match (delta, half) {
                (-3, false) => (amount + dec(1, precision + 1), name),
                (-2, true) => (amount, "gems"),
                _ => (amount, name),
            };
            (
                mine,
                Kind::Move(Move::Transfer {
                    to,
                    points: amount,
                    points_type: name.to_string(),
                }),
            )
        }
        MoveSpec::FromPool {
            kind,
            pool,
            to,
            points: p,
            delta,
            half,
        } => {
            let (name, precision) = type_of(*p);
            let from = pool_name(*kind, *pool);
            let amount = near(
                balance, earlier, &from, name, precision, time, *delta, *half,
            );
            // One past the members: the other pool of the kind (never pool
            // to pool).
            let to = MEMBERS
                .get(*to)
                .map_or_else(|| pool_name(*kind, pool + 1), |m| m.to_string());
            (
                from,
                Kind::Move(Move::Transfer {
                    to,
                    points: amount,
                    points_type: name.to_string(),
                }),
            )
        }
        MoveSpec::Join(kind, id) => (
            mine,
            Kind::Move(Move::JoinPool {
                pool: pool_name(*kind, *id),
            }),
        ),
        MoveSpec::AsPool(kind, id) => (
            pool_name(*kind, *id),
            Kind::Move(Move::LeavePool {
                pool: pool_name(*kind, *id),
            }),
        ),
        MoveSpec::Leave(kind, id) => (
            mine,
            Kind::Move(Move::LeavePool {
                pool: pool_name(*kind, *id),
            }),
        ),
        MoveSpec::Declared(e, values) => {
            let (event, fields) = EVENTS.get(*e).copied().unwrap_or(("visit", &[]));
            (
                mine,
                Kind::Move(Move::Declared {
                    event: event.to_string(),
                    fields: fields
                        .iter()
                        .zip(values)
                        .filter_map(|((n, _), v)| v.clone().map(|v| (n.to_string(), v)))
                        .collect(),
                }),
            )
        }
        MoveSpec::Enroll(vip, region, attributes, referrer) => (
            mine,
            Kind::Enroll {
                vip: *vip,
                region: REGIONS.get(*region).copied().unwrap_or("north").into(),
                attributes: attributes.clone(),
                referred_by: referrer_name(*referrer),
            },
        ),
        MoveSpec::Profile(values) => (
            mine,
            Kind::Move(Move::Profile {
                fields: ATTRIBUTES
                    .iter()
                    .zip(values)
                    .filter_map(|((n, _), v)| v.clone().map(|v| (n.to_string(), Some(v))))
                    .collect(),
            }),
        ),
    }
}
