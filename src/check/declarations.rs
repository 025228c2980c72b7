//! The symbol table: every name a program declares, collected in one pass
//! (reporting names declared twice), so later checks can resolve references
//! in any order.

use super::Checker;
use crate::currency::Currency;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// The event types every program has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinEvent {
    Purchase,
    Enroll,
    Return,
    Redeem,
    UsePerk,
    Transfer,
    JoinPool,
    LeavePool,
    Adjust,
    CancelRedeem,
    Profile,
    SetTier,
    /// A basket item of the purchase before it (a CSV row of its own;
    /// JSON Lines and YAML list them in the purchase's `items`).
    Item,
    /// A member's birthday: made by the clock, never read from a record.
    Birthday,
    /// The anniversary of the day a member enrolled: made by the clock too.
    Anniversary,
    /// The first of each month, for each member: made by the clock too.
    MonthStart,
    /// A member moving up a tier: made by the engine.
    Upgrade,
    /// A member moving up or down a tier: made by the engine too.
    TierChange,
    /// Points of a member expiring, by the clock: made by the engine too.
    Expiry,
    /// The start of a member's next tier period: made by the engine too.
    TierPeriodStart,
}

impl BuiltinEvent {
    pub const ALL: [BuiltinEvent; 20] = [
        BuiltinEvent::Purchase,
        BuiltinEvent::Enroll,
        BuiltinEvent::Return,
        BuiltinEvent::Redeem,
        BuiltinEvent::UsePerk,
        BuiltinEvent::Transfer,
        BuiltinEvent::JoinPool,
        BuiltinEvent::LeavePool,
        BuiltinEvent::Adjust,
        BuiltinEvent::CancelRedeem,
        BuiltinEvent::Profile,
        BuiltinEvent::SetTier,
        BuiltinEvent::Item,
        BuiltinEvent::Birthday,
        BuiltinEvent::Anniversary,
        BuiltinEvent::MonthStart,
        BuiltinEvent::Upgrade,
        BuiltinEvent::TierChange,
        BuiltinEvent::Expiry,
        BuiltinEvent::TierPeriodStart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinEvent::Purchase => "purchase",
            BuiltinEvent::Enroll => "enroll",
            BuiltinEvent::Return => "return",
            BuiltinEvent::Redeem => "redeem",
            BuiltinEvent::UsePerk => "use_perk",
            BuiltinEvent::Transfer => "transfer",
            BuiltinEvent::JoinPool => "join_pool",
            BuiltinEvent::LeavePool => "leave_pool",
            BuiltinEvent::Adjust => "adjust",
            BuiltinEvent::CancelRedeem => "cancel_redeem",
            BuiltinEvent::Profile => "profile",
            BuiltinEvent::SetTier => "set_tier",
            BuiltinEvent::Item => "item",
            BuiltinEvent::Birthday => "birthday",
            BuiltinEvent::Anniversary => "anniversary",
            BuiltinEvent::MonthStart => "month_start",
            BuiltinEvent::Upgrade => "upgrade",
            BuiltinEvent::TierChange => "tier_change",
            BuiltinEvent::Expiry => "expiry",
            BuiltinEvent::TierPeriodStart => "tier_period_start",
        }
    }

    /// The fields the engine reads (an `enroll` and a `profile` carry the
    /// member attributes too, an `enroll` before its own).
    pub fn fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            BuiltinEvent::Purchase => &[("amount", FieldType::Money)],
            BuiltinEvent::Enroll => &[(REFERRED_BY, FieldType::Text)],
            BuiltinEvent::Profile
            | BuiltinEvent::Birthday
            | BuiltinEvent::Anniversary
            | BuiltinEvent::MonthStart
            | BuiltinEvent::Upgrade
            | BuiltinEvent::TierChange
            | BuiltinEvent::TierPeriodStart => &[],
            BuiltinEvent::Return => &[("of", FieldType::Text), ("amount", FieldType::Money)],
            BuiltinEvent::Redeem => &[
                ("reward", FieldType::Text),
                ("points", FieldType::Number),
                ("points_type", FieldType::Text),
            ],
            BuiltinEvent::UsePerk => &[("perk", FieldType::Text)],
            BuiltinEvent::Transfer => &[
                ("to", FieldType::Text),
                ("points", FieldType::Number),
                ("points_type", FieldType::Text),
            ],
            BuiltinEvent::JoinPool | BuiltinEvent::LeavePool => &[("pool", FieldType::Text)],
            BuiltinEvent::Adjust => &[
                ("points", FieldType::Number),
                ("points_type", FieldType::Text),
                ("reason", FieldType::Text),
                ("purchase", FieldType::Text),
                ("expires", FieldType::Date),
            ],
            BuiltinEvent::CancelRedeem => &[("redemption", FieldType::Text)],
            BuiltinEvent::Expiry => &[
                ("expired", FieldType::Number),
                ("points_type", FieldType::Text),
            ],
            BuiltinEvent::SetTier => &[
                ("tier", FieldType::Text),
                ("reason", FieldType::Text),
                ("until", FieldType::Date),
            ],
            // `ItemField`s but the computed `amount`. A unit price is a
            // rate, read as a number: it may be finer than the currency
            // (fuel at 1.749 EUR a litre).
            BuiltinEvent::Item => &[
                ("sku", FieldType::Text),
                ("category", FieldType::Text),
                ("quantity", FieldType::Number),
                ("unit_price", FieldType::Number),
                ("discount", FieldType::Money),
            ],
        }
    }

    /// Whether earning rules may fire on it; the others have fixed effects.
    pub fn fires_rules(self) -> bool {
        matches!(self, BuiltinEvent::Purchase | BuiltinEvent::Enroll) || self.made_by_loyalty()
    }

    /// Whether the clock makes its events (on each member's birthday,
    /// enrolment anniversary or month start).
    pub fn from_clock(self) -> bool {
        matches!(
            self,
            BuiltinEvent::Birthday | BuiltinEvent::Anniversary | BuiltinEvent::MonthStart
        )
    }

    /// Whether the engine makes its events when a member moves between
    /// tiers (`upgrade` up, `tier_change` up or down).
    pub fn from_tier_move(self) -> bool {
        matches!(self, BuiltinEvent::Upgrade | BuiltinEvent::TierChange)
    }

    /// Whether loyalty makes its events itself (the clock's, those of a
    /// move between tiers, an `expiry`, a `tier_period_start`), never read
    /// from a record.
    pub fn made_by_loyalty(self) -> bool {
        self.from_clock()
            || self.from_tier_move()
            || matches!(self, BuiltinEvent::Expiry | BuiltinEvent::TierPeriodStart)
    }

    /// Whether a program may add fields to it with an `event` block.
    fn extensible(self) -> bool {
        self == BuiltinEvent::Purchase
    }

    /// The built-in event type called `name`, if one is.
    pub(super) fn named(name: &str) -> Option<BuiltinEvent> {
        BuiltinEvent::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// An event type and the fields its records carry.
#[derive(Debug, Clone)]
pub struct EventSchema<'a> {
    pub fields: BTreeMap<&'a str, FieldType>,
    pub builtin: Option<BuiltinEvent>,
}

/// Names that expressions know without a declaration.
pub const BUILTIN_NAMES: &[&str] = &[
    "tier",
    "date",
    "weekday",
    "hour",
    "month",
    "days_to_birthday",
    "days_since_enroll",
    "member",
    "balance",
    "referred",
    "previous_tier",
];

/// The built-in field of `enroll` naming the member who referred the new one.
pub const REFERRED_BY: &str = "referred_by";

/// The columns of every event record, besides its type's fields.
pub const RECORD_FIELDS: &[&str] = &["id", "time", "member", "type"];

/// Everything a program declares, by name.
#[derive(Debug, Default)]
pub struct Symbols<'a> {
    pub currency: Option<&'a str>,
    pub effective: Option<NaiveDate>,
    pub member: BTreeMap<&'a str, FieldType>,
    pub events: BTreeMap<&'a str, EventSchema<'a>>,
    pub points: BTreeMap<&'a str, &'a PointsDecl>,
    /// The tiers of the (first) `tiers` block, lowest first.
    pub tiers: Vec<&'a Ident>,
    /// The window of that block.
    pub window: Option<&'a Window>,
    /// Measures named with `measure` in the tiers block.
    pub measures: BTreeMap<&'a str, &'a Spanned<MeasureSource>>,
    /// Rules in declaration order (the first of each name).
    pub rules: Vec<&'a RuleDecl>,
    pub rule_index: BTreeMap<&'a str, usize>,
    pub perks: BTreeMap<&'a str, Span>,
    pub rewards: BTreeMap<&'a str, Span>,
}

impl<'a> Symbols<'a> {
    /// Collects every declaration, reporting duplicates.
    pub(crate) fn collect(file: &'a File, checker: &mut Checker) -> Symbols<'a> {
        let mut symbols = Symbols::default();
        for builtin in BuiltinEvent::ALL {
            symbols.events.insert(
                builtin.name(),
                EventSchema {
                    fields: builtin.fields().iter().copied().collect(),
                    builtin: Some(builtin),
                },
            );
        }
        let mut seen = Seen::default();
        for item in &file.items {
            match item {
                Item::Program(program) => symbols.program(program, &mut seen, checker),
                Item::Member(member) => {
                    if seen.member.replace(member.span).is_some() {
                        checker
                            .duplicate(keyword_span(member.span, "member"), "the `member` block");
                    } else {
                        symbols.member = fields(&member.fields, checker);
                        reserve_referred_by(&member.fields, checker);
                    }
                }
                Item::Event(event) => symbols.event(event, &mut seen, checker),
                Item::Points(points) => {
                    if checker.declare(&mut seen.points, "points type", &points.name) {
                        if symbols.points.len() == crate::limits::MOST_POINTS_TYPES {
                            checker.one_too_many(
                                "points type",
                                &points.name,
                                crate::limits::MOST_POINTS_TYPES,
                                "a points type is a currency of the program: most programs have one or two",
                            );
                        }
                        symbols.points.insert(&points.name.node, points);
                    }
                }
                Item::Tiers(tiers) => {
                    if seen.tiers.replace(tiers.span).is_some() {
                        checker.duplicate(keyword_span(tiers.span, "tiers"), "the `tiers` block");
                    } else {
                        symbols.tiers_block(tiers, checker);
                    }
                }
                Item::Rule(rule) => {
                    if checker.declare(&mut seen.rules, "rule", &rule.name) {
                        symbols
                            .rule_index
                            .insert(&rule.name.node, symbols.rules.len());
                        symbols.rules.push(rule);
                    }
                }
                Item::Perk(perk) => {
                    checker.declare(&mut symbols.perks, "perk", &perk.name);
                }
                Item::Reward(reward) => {
                    checker.declare(&mut symbols.rewards, "reward", &reward.name);
                }
            }
        }
        for carrier in [BuiltinEvent::Enroll, BuiltinEvent::Profile] {
            if let Some(schema) = symbols.events.get_mut(carrier.name()) {
                schema.fields = symbols.member.clone();
            }
        }
        symbols
    }

    fn program(&mut self, program: &'a ProgramDecl, seen: &mut Seen<'a>, checker: &mut Checker) {
        if seen.program.replace(program.span).is_some() {
            checker.duplicate(program.name.span, "the `program` block");
            return;
        }
        for setting in &program.settings {
            match &setting.node {
                // An unknown code is reported once, where it is set; money
                // is then compared with nothing.
                ProgramSetting::Currency(c)
                    if self.currency.is_none() && Currency::of(&c.node).is_some() =>
                {
                    self.currency = Some(&c.node)
                }
                ProgramSetting::Effective(d) if self.effective.is_none() => {
                    self.effective = Some(d.node)
                }
                _ => {}
            }
        }
    }

    fn event(&mut self, event: &'a EventDecl, seen: &mut Seen<'a>, checker: &mut Checker) {
        if !checker.declare(&mut seen.events, "event type", &event.name) {
            return;
        }
        let declared = fields(&event.fields, checker);
        match BuiltinEvent::named(&event.name.node) {
            Some(builtin) if builtin.extensible() => {
                for field in &event.fields {
                    if builtin.fields().iter().any(|(name, _)| *name == field.name.node) {
                        checker.report(
                            Diagnostic::error(
                                "builtin-event",
                                field.name.span,
                                format!(
                                    "`{}` is a built-in field of `{}`",
                                    field.name.node,
                                    builtin.name()
                                ),
                            )
                            .with_label("already declared by loyalty")
                            .with_help("remove this line: the field is always there"),
                        );
                    }
                }
                if let Some(schema) = self.events.get_mut(builtin.name()) {
                    for (name, ty) in declared {
                        schema.fields.entry(name).or_insert(ty);
                    }
                }
            }
            Some(builtin) => checker.report(
                Diagnostic::error(
                    "builtin-event",
                    event.name.span,
                    format!("`{}` is a built-in event and cannot be changed", builtin.name()),
                )
                .with_label("built in")
                .with_help(if matches!(builtin, BuiltinEvent::Enroll | BuiltinEvent::Profile) {
                    "declare member attributes in a `member { ... }` block: `enroll` and `profile` events carry them"
                } else {
                    "choose another name for a new event type"
                }),
            ),
            None => {
                self.events.insert(
                    &event.name.node,
                    EventSchema {
                        fields: declared,
                        builtin: None,
                    },
                );
            }
        }
    }

    fn tiers_block(&mut self, tiers: &'a TiersDecl, checker: &mut Checker) {
        self.window = Some(&tiers.window.node);
        let mut seen_tiers = BTreeMap::new();
        let mut seen_measures = BTreeMap::new();
        for stmt in &tiers.stmts {
            match &stmt.node {
                TierStmt::Tier(tier) if checker.declare(&mut seen_tiers, "tier", &tier.name) => {
                    self.tiers.push(&tier.name);
                }
                TierStmt::Measure { name, source }
                    if checker.declare(&mut seen_measures, "measure", name) =>
                {
                    self.measures.insert(&name.node, source);
                }
                _ => {}
            }
        }
    }

    /// A tier's rank (0 is the lowest).
    pub fn tier_rank(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.node == name)
    }

    pub fn is_qualifying(&self, points: &str) -> bool {
        self.points.get(points).is_some_and(|decl| {
            decl.settings
                .iter()
                .any(|s| matches!(s.node, PointsSetting::Qualifying))
        })
    }

    /// The points types a rule awards, following `N% of` to earlier rules.
    pub fn earned_by(&self, rule: &RuleDecl) -> BTreeSet<&'a str> {
        self.earned_by_depth(rule, self.rules.len())
    }

    fn earned_by_depth(&self, rule: &RuleDecl, depth: usize) -> BTreeSet<&'a str> {
        let mut earned = BTreeSet::new();
        let own_index = self.rule_index.get(rule.name.node.as_str()).copied();
        for stmt in &rule.stmts {
            if let RuleStmt::Multiply { points, .. } = &stmt.node {
                if let Some((name, _)) = self.points.get_key_value(points.node.as_str()) {
                    earned.insert(*name);
                }
            }
            if let RuleStmt::Earn(earn) = &stmt.node {
                match &earn.award {
                    Award::Amount { points, .. } => {
                        if let Some((name, _)) = self.points.get_key_value(points.node.as_str()) {
                            earned.insert(*name);
                        }
                    }
                    Award::PercentOf {
                        points: Some(points),
                        ..
                    } => {
                        if let Some((name, _)) = self.points.get_key_value(points.node.as_str()) {
                            earned.insert(*name);
                        }
                    }
                    Award::PercentOf {
                        rule: other,
                        points: None,
                        ..
                    } => {
                        // Only earlier rules count: that is what keeps this finite.
                        let earlier = self
                            .rule_index
                            .get(other.node.as_str())
                            .filter(|i| own_index.is_none_or(|own| **i < own))
                            .and_then(|i| self.rules.get(*i));
                        if let (Some(other), Some(depth)) = (earlier, depth.checked_sub(1)) {
                            earned.extend(self.earned_by_depth(other, depth));
                        }
                    }
                }
            }
        }
        earned
    }

    /// Every points type some rule awards.
    pub fn earned_anywhere(&self) -> BTreeSet<&'a str> {
        self.rules.iter().flat_map(|r| self.earned_by(r)).collect()
    }
}

/// What has been declared so far, for duplicate detection.
#[derive(Default)]
struct Seen<'a> {
    program: Option<Span>,
    member: Option<Span>,
    tiers: Option<Span>,
    events: BTreeMap<&'a str, Span>,
    points: BTreeMap<&'a str, Span>,
    rules: BTreeMap<&'a str, Span>,
}

/// The fields of a `member` or `event` block, reporting duplicates and
/// names that shadow built-in ones.
fn fields<'a>(decls: &'a [FieldDecl], checker: &mut Checker) -> BTreeMap<&'a str, FieldType> {
    let mut seen = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for field in decls {
        if RECORD_FIELDS.contains(&field.name.node.as_str()) {
            checker.report(
                Diagnostic::error(
                    "reserved-name",
                    field.name.span,
                    format!("`{}` is a column every event record has", field.name.node),
                )
                .with_label("reserved")
                .with_help("choose another name for this field"),
            );
        } else if BUILTIN_NAMES.contains(&field.name.node.as_str()) {
            checker.report(
                Diagnostic::error(
                    "reserved-name",
                    field.name.span,
                    format!("`{}` is a built-in name", field.name.node),
                )
                .with_label("reserved")
                .with_help("choose another name for this field"),
            );
        }
        if checker.declare(&mut seen, "field", &field.name) {
            fields.insert(field.name.node.as_str(), field.ty.node);
        }
    }
    fields
}

/// `referred_by` is the field of `enroll` records that names the member's
/// referrer, not an attribute.
fn reserve_referred_by(decls: &[FieldDecl], checker: &mut Checker) {
    for field in decls.iter().filter(|f| f.name.node == REFERRED_BY) {
        checker.report(
            Diagnostic::error(
                "reserved-name",
                field.name.span,
                "`referred_by` is the built-in field of `enroll` that names the member's referrer",
            )
            .with_label("reserved")
            .with_help(
                "remove this line: every `enroll` may give `referred_by`; rules read `referred`",
            ),
        );
    }
}

/// The span of the keyword that starts a block, for diagnostics about the whole block.
pub fn keyword_span(block: Span, keyword: &str) -> Span {
    Span::new(block.start, block.start + keyword.len())
}
