//! Tiers of every kind, and what hangs off them: the reference's reading of
//! docs/semantics.md's "Tiers" and "Rollover" sections and of
//! docs/language.md's `tiers`, `perk` and `reward` sections.
//!
//! Deliberately simple, like the rest of the reference: a member's tier
//! measures are recomputed at each question from every contribution they
//! ever had (time, order, measure, value), the current period's start and
//! what was carried into it; period ends are recomputed from dates.
//!
//! - Measures: points of a type earned by rules (less what returns take
//!   back), `balance of` a type (the balance then), `count of E` and `sum
//!   of E.F` for purchases and declared event types (a field left empty
//!   adds nothing). A window restarts at each period end (and, over a
//!   qualification year, at each upgrade); a rolling window is the sum of
//!   the contributions in the trailing term, reviewed at each month end.
//! - Thresholds: `from A or B` (any header measure reaching its value),
//!   `when` conditions over named measures (arithmetic that divides by
//!   zero or overflows makes a comparison false); `keep` likewise, a keep
//!   of zeros holding always (`keep_zero_keeps_the_tier`).
//! - Upgrades immediately after an event that runs rules (a purchase, an
//!   enrolment, a record of a declared type) and, with a `balance of`
//!   measure, after one that raises that balance (an adjust credit, a
//!   cancelled redemption, points received: `balance_raised`),
//!   or at period end; reviews with keep, step, grace (a later review during
//!   a grace only lowers the tier it drops to), lifetime floors (points of
//!   the type earned by rules, less reversals), rollover.
//! - Perks granted at enrolment and at each tier change (a `perk_grant`
//!   row per perk the new tier has and the old one had not), uses checked
//!   against the tier and the limit per period; reward prices per tier;
//!   `redeem at least/at most` bounds.
//!
//! Where docs/semantics.md is silent on the form of the ledger, the
//! reference writes what the engine writes: a `tier_change` row at
//! enrolment (its note the first tier), then its `perk_grant` rows in the
//! order the perks are declared; at a change, the `tier_change` row, its
//! grants, then the `rollover` rows of the period that starts, in measure
//! order (their note `N M carried into the next period`). A review and a
//! grace end are clock work ordered like the rest: at one instant, by
//! member, then by when they were scheduled (a period's end when it
//! starts, a grace's end at the review that began it).

use super::{add, next_start, period_start, Evaluation, Member, Row, Value};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use loyalty::syntax::ast::{self, *};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What a measure counts.
#[derive(Debug, Clone)]
enum Source {
    Earned(String),
    Balance(String),
    Count(String),
    Sum(String, String),
}

/// A threshold, as a condition over the measures.
#[derive(Debug, Clone)]
enum Cond {
    Always,
    /// Any header measure `i` at least `values[i]`.
    Values(Vec<Decimal>),
    When(Expr),
}

#[derive(Debug, Clone)]
struct Tier {
    name: String,
    qualify: Cond,
    keep: Option<Cond>,
    /// `from` values, one per header measure (zeros for `from start`);
    /// `None` for a `when` tier.
    values: Option<Vec<Decimal>>,
}

/// A tiers block.
pub struct Model {
    /// Header measures first, then named ones: (column or name, source).
    measures: Vec<(String, Source)>,
    window: ast::Window,
    tiers: Vec<Tier>,
    upgrade_immediately: bool,
    /// `downgrade at period end` with its step and grace; `None`: never.
    downgrade: Option<(Option<usize>, Option<ast::Duration>)>,
    /// (tier, amount, points type).
    lifetime: Vec<(usize, Decimal, String)>,
    /// Per header measure, its rollover cap.
    rollover: Vec<Option<Decimal>>,
    /// `status match up to T`: T's rank.
    status_match: Option<usize>,
}

/// A perk: the tiers that have it and its limit.
pub struct Perk {
    name: String,
    ranks: Vec<usize>,
    limit: Option<(Decimal, Period)>,
}

/// What hangs off tiers, and redemption bounds, read off the tree.
#[derive(Default)]
pub struct Extras {
    perks: Vec<Perk>,
    /// Reward: (tier name, price) for tiers priced apart.
    tier_prices: BTreeMap<String, Vec<(String, Decimal)>>,
    /// Points type: least and most one redemption may take.
    bounds: BTreeMap<String, (Option<Decimal>, Option<Decimal>)>,
}

impl Model {
    pub fn new(block: &TiersDecl) -> Model {
        let source = |s: &MeasureSource| match s {
            MeasureSource::PointsEarned(p) => Source::Earned(p.node.clone()),
            MeasureSource::Balance(p) => Source::Balance(p.node.clone()),
            MeasureSource::Count(e) => Source::Count(e.node.clone()),
            MeasureSource::FieldSum { event, field } => {
                Source::Sum(event.node.clone(), field.node.clone())
            }
        };
        let mut model = Model {
            measures: block
                .by
                .iter()
                .map(|b| (b.node.column(), source(&b.node)))
                .collect(),
            window: block.window.node.clone(),
            tiers: Vec::new(),
            upgrade_immediately: true,
            // No `downgrade` line: at period end (the engine's default;
            // docs/language.md lists the policies without naming one).
            downgrade: Some((None, None)),
            lifetime: Vec::new(),
            rollover: vec![None; block.by.len()],
            status_match: None,
        };
        let cond = |t: &Threshold| match t {
            Threshold::Start => Cond::Always,
            Threshold::Values(v) if v.iter().all(|n| n.node.is_zero()) => Cond::Always,
            Threshold::Values(v) => Cond::Values(v.iter().map(|n| n.node).collect()),
            Threshold::When(e) => Cond::When(e.clone()),
        };
        for s in &block.stmts {
            match &s.node {
                TierStmt::Measure { name, source: src } => {
                    model.measures.push((name.node.clone(), source(&src.node)));
                }
                TierStmt::Tier(t) => model.tiers.push(Tier {
                    name: t.name.node.clone(),
                    qualify: cond(&t.qualify),
                    keep: t.keep.as_ref().map(cond),
                    values: match &t.qualify {
                        Threshold::Start => Some(vec![Decimal::ZERO; block.by.len()]),
                        Threshold::Values(v) => Some(v.iter().map(|n| n.node).collect()),
                        Threshold::When(_) => None,
                    },
                }),
                TierStmt::Upgrade(u) => {
                    model.upgrade_immediately = *u == UpgradePolicy::Immediately;
                }
                TierStmt::Downgrade(DowngradePolicy::Never) => model.downgrade = None,
                TierStmt::Downgrade(DowngradePolicy::AtPeriodEnd(options)) => {
                    let (mut step, mut grace) = (None, None);
                    for o in options {
                        match &o.node {
                            DowngradeOption::Step(n) => {
                                step = usize::try_from(n.node.mantissa()).ok();
                            }
                            DowngradeOption::Grace(d) => grace = Some(d.clone()),
                        }
                    }
                    model.downgrade = Some((step, grace));
                }
                TierStmt::Lifetime {
                    tier,
                    amount,
                    points,
                } => {
                    let rank = block
                        .stmts
                        .iter()
                        .filter_map(|s| match &s.node {
                            TierStmt::Tier(t) => Some(&t.name.node),
                            _ => None,
                        })
                        .position(|n| *n == tier.node)
                        .unwrap_or(0);
                    model
                        .lifetime
                        .push((rank, amount.node, points.node.clone()));
                }
                TierStmt::StatusMatch { tier } => {
                    model.status_match = block
                        .stmts
                        .iter()
                        .filter_map(|s| match &s.node {
                            TierStmt::Tier(t) => Some(&t.name.node),
                            _ => None,
                        })
                        .position(|n| *n == tier.node);
                }
                TierStmt::Rollover { measure, cap } => {
                    let at = match measure {
                        Some(m) => block.by.iter().position(|b| b.node.column() == m.node),
                        None => Some(0),
                    };
                    if let Some(slot) = at.and_then(|i| model.rollover.get_mut(i)) {
                        *slot = Some(cap.node);
                    }
                }
            }
        }
        model
    }

    pub fn names(&self) -> Vec<String> {
        self.tiers.iter().map(|t| t.name.clone()).collect()
    }

    pub fn name(&self, rank: usize) -> String {
        self.tiers
            .get(rank)
            .map_or(String::new(), |t| t.name.clone())
    }

    fn rolling(&self) -> Option<&ast::Duration> {
        match &self.window {
            ast::Window::Rolling(d) => Some(d),
            _ => None,
        }
    }

    fn holds(&self, cond: &Cond, measures: &[Decimal]) -> bool {
        match cond {
            Cond::Always => true,
            Cond::Values(values) => values
                .iter()
                .zip(measures)
                .any(|(value, measure)| measure >= value),
            Cond::When(e) => self.eval(e, measures) == Some(V::Bool(true)),
        }
    }

    /// The highest tier whose threshold the measures meet.
    fn qualified(&self, measures: &[Decimal]) -> usize {
        self.tiers
            .iter()
            .rposition(|t| self.holds(&t.qualify, measures))
            .unwrap_or(0)
    }

    /// Whether the measures keep `rank`: its `keep`, or its own threshold.
    fn keeps(&self, rank: usize, measures: &[Decimal]) -> bool {
        self.tiers
            .get(rank)
            .is_none_or(|t| self.holds(t.keep.as_ref().unwrap_or(&t.qualify), measures))
    }

    /// A `when` condition over the measures (numbers, money as numbers).
    fn eval(&self, e: &Expr, measures: &[Decimal]) -> Option<V> {
        Some(match &e.node {
            ExprKind::Number(n) => V::Num(*n),
            ExprKind::Money(m) => V::Num(m.amount.node),
            ExprKind::Bool(b) => V::Bool(*b),
            ExprKind::Name(n) => {
                let i = self.measures.iter().position(|(name, _)| name == n)?;
                V::Num(measures.get(i).copied().unwrap_or_default())
            }
            ExprKind::Paren(inner) => self.eval(inner, measures)?,
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => match self.eval(expr, measures)? {
                V::Bool(b) => V::Bool(!b),
                V::Num(_) => return None,
            },
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => match self.eval(expr, measures)? {
                V::Num(n) => V::Num(-n),
                V::Bool(_) => return None,
            },
            ExprKind::Binary { op, lhs, rhs } => {
                // Arithmetic that divides by zero or overflows has no
                // value, and a comparison with it is false (as in a rule's
                // condition: docs/semantics.md, "Earning").
                let (a, b) = (self.eval(lhs, measures), self.eval(rhs, measures));
                let test: Option<fn(&Decimal, &Decimal) -> bool> = match op {
                    BinaryOp::Eq => Some(Decimal::eq),
                    BinaryOp::Ne => Some(Decimal::ne),
                    BinaryOp::Lt => Some(Decimal::lt),
                    BinaryOp::Le => Some(Decimal::le),
                    BinaryOp::Gt => Some(Decimal::gt),
                    BinaryOp::Ge => Some(Decimal::ge),
                    _ => None,
                };
                if let Some(test) = test {
                    return Some(V::Bool(match (a, b) {
                        (Some(V::Num(a)), Some(V::Num(b))) => test(&a, &b),
                        _ => false,
                    }));
                }
                match (op, a?, b?) {
                    (BinaryOp::And, V::Bool(a), V::Bool(b)) => V::Bool(a && b),
                    (BinaryOp::Or, V::Bool(a), V::Bool(b)) => V::Bool(a || b),
                    (BinaryOp::Add, V::Num(a), V::Num(b)) => V::Num(a.checked_add(b)?),
                    (BinaryOp::Sub, V::Num(a), V::Num(b)) => V::Num(a.checked_sub(b)?),
                    (BinaryOp::Mul, V::Num(a), V::Num(b)) => V::Num(a.checked_mul(b)?),
                    (BinaryOp::Div, V::Num(a), V::Num(b)) => V::Num(a.checked_div(b)?),
                    _ => return None,
                }
            }
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    Num(Decimal),
    Bool(bool),
}

impl Extras {
    pub fn new(file: &File, model: Option<&Model>) -> Extras {
        let names = model.map(Model::names).unwrap_or_default();
        let rank = |t: &Ident| names.iter().position(|n| *n == t.node).unwrap_or(0);
        let mut extras = Extras::default();
        for item in &file.items {
            match item {
                Item::Perk(p) => {
                    let ranks = match &p.tiers.node {
                        // Every member has it: without tiers, the one
                        // place every member is in.
                        TierSet::All => (0..names.len().max(1)).collect(),
                        TierSet::AndAbove(t) => (rank(t)..names.len()).collect(),
                        TierSet::List(list) => list.iter().map(rank).collect(),
                    };
                    let limit = p.settings.iter().find_map(|s| match &s.node {
                        PerkSetting::Limit { count, period } => Some((count.node, period.node)),
                        PerkSetting::Cost(_) => None,
                    });
                    extras.perks.push(Perk {
                        name: p.name.node.clone(),
                        ranks,
                        limit,
                    });
                }
                Item::Reward(r) => {
                    for s in &r.settings {
                        if let RewardSetting::Price { amount, tiers, .. } = &s.node {
                            for t in tiers {
                                extras
                                    .tier_prices
                                    .entry(r.name.node.clone())
                                    .or_default()
                                    .push((t.node.clone(), amount.node));
                            }
                        }
                    }
                }
                Item::Points(p) => {
                    for s in &p.settings {
                        if let PointsSetting::Redeem(limits) = &s.node {
                            let bounds = extras.bounds.entry(p.name.node.clone()).or_default();
                            for l in limits {
                                match &l.node {
                                    RedeemLimit::AtLeast(n) => bounds.0 = Some(n.node),
                                    RedeemLimit::AtMost(n) => bounds.1 = Some(n.node),
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        extras
    }

    /// Whether one redemption of `amount` of `points` is within its bounds.
    pub fn within_bounds(&self, points: &str, amount: Decimal) -> bool {
        self.bounds.get(points).is_none_or(|(least, most)| {
            least.is_none_or(|l| amount >= l) && most.is_none_or(|m| amount <= m)
        })
    }
}

/// A member's tier state.
pub struct State {
    pub tier: usize,
    /// The lowest tier lifetime status allows.
    floor: usize,
    /// The last `set_tier`: its tier, and the instant it lapses.
    matched: Option<(usize, DateTime<Utc>)>,
    enrolled: DateTime<Utc>,
    /// Every contribution to a measure: (time, order, measure, value); a
    /// return's is negative, dated as its purchase.
    entries: Vec<(DateTime<Utc>, usize, usize, Decimal)>,
    /// When the current period started, and the order from which
    /// contributions count in it (the order its end was scheduled in).
    start: DateTime<Utc>,
    start_seq: usize,
    /// What was carried into the current period, per measure.
    carried: Vec<Decimal>,
    /// A drop waiting for its grace to end: tier, when, scheduling order.
    grace: Option<(usize, DateTime<Utc>, usize)>,
    /// Each purchase's contributions, and their order.
    purchases: BTreeMap<String, (usize, Vec<(usize, Decimal)>)>,
    /// Points of each type earned by rules, less what returns took back.
    lifetime: BTreeMap<String, Decimal>,
    /// (perk, local date) of every use.
    perk_uses: Vec<(usize, NaiveDate)>,
}

impl State {
    pub fn new(enrolled: DateTime<Utc>, seq: usize) -> State {
        State {
            tier: 0,
            floor: 0,
            matched: None,
            enrolled,
            entries: Vec::new(),
            start: enrolled,
            start_seq: seq,
            carried: Vec::new(),
            grace: None,
            purchases: BTreeMap::new(),
            lifetime: BTreeMap::new(),
            perk_uses: Vec::new(),
        }
    }

    /// The order the current period's end was scheduled in.
    pub fn review_seq(&self) -> usize {
        self.start_seq
    }

    /// The lowest tier a review at `at` leaves: the lifetime floor, or a
    /// status match not lapsed yet.
    fn floor_at(&self, at: DateTime<Utc>) -> usize {
        match self.matched {
            Some((tier, lapses)) if at < lapses => tier.max(self.floor),
            _ => self.floor,
        }
    }
}

/// Tier clock work.
pub enum TierDue {
    Review,
    GraceEnd,
}

impl Evaluation<'_> {
    fn model(&self) -> Option<&Model> {
        self.program.tiers.as_ref()
    }

    /// The measures of `member` as they stand at `now`.
    pub(super) fn measures(&self, m: &Member, now: DateTime<Utc>) -> Vec<Decimal> {
        let Some(model) = self.model() else {
            return Vec::new();
        };
        let since = model.rolling().and_then(|term| {
            let local = self.program.local(now);
            let n = u32::try_from(term.count.node.mantissa()).ok()?;
            let back = match term.unit {
                TimeUnit::Day => local.checked_sub_days(chrono::Days::new(u64::from(n))),
                TimeUnit::Week => local.checked_sub_days(chrono::Days::new(7 * u64::from(n))),
                TimeUnit::Month => local.checked_sub_months(chrono::Months::new(n)),
                TimeUnit::Year => local.checked_sub_months(chrono::Months::new(12 * n)),
            }?;
            Some(self.program.instant(back))
        });
        model
            .measures
            .iter()
            .enumerate()
            .map(|(i, (_, source))| {
                if let Source::Balance(p) = source {
                    return m
                        .wallets
                        .get(p)
                        .map_or(Decimal::ZERO, super::Wallet::balance);
                }
                let entries = m.t.entries.iter().filter(|(_, _, mi, _)| *mi == i);
                match (model.rolling(), since) {
                    // A trailing window: what was added after `now` less
                    // the term.
                    (Some(_), Some(since)) => entries
                        .filter(|(t, _, _, _)| *t > since)
                        .map(|(_, _, _, v)| *v)
                        .sum(),
                    (Some(_), None) => entries.map(|(_, _, _, v)| *v).sum(),
                    _ => {
                        m.t.carried.get(i).copied().unwrap_or_default()
                            + entries
                                .filter(|(_, seq, _, _)| *seq > m.t.start_seq)
                                .map(|(_, _, _, v)| *v)
                                .sum::<Decimal>()
                    }
                }
            })
            .collect()
    }

    /// When the current period of `m` ends.
    fn period_end(&self, m: &Member) -> Option<DateTime<Utc>> {
        let model = self.model()?;
        let midnight = |day: NaiveDate| self.program.instant(day.and_time(NaiveTime::MIN));
        let from = m.t.start;
        let day = self.program.local(from).date();
        // The first anniversary of `anchor` after `from`, each counted from
        // the anchor itself.
        let anniversary = |anchor: DateTime<Utc>| {
            let local = self.program.local(anchor);
            (1u32..)
                .map_while(|k| local.checked_add_months(chrono::Months::new(12 * k)))
                .map(|at| self.program.instant(at))
                .find(|at| *at > from)
        };
        match &model.window {
            ast::Window::Calendar(unit, None) => Some(midnight(next_start(day, *unit))),
            ast::Window::Calendar(unit, Some(anchor)) => {
                Some(midnight(anchored_next(*unit, *anchor, day)))
            }
            ast::Window::Rolling(_) => Some(midnight(next_start(day, CalendarUnit::Month))),
            ast::Window::Membership => anniversary(m.t.enrolled),
            ast::Window::Qualification => anniversary(m.t.start),
        }
    }

    /// The tier clock work of `m` due at or before `t`: (time, order, what).
    pub(super) fn tier_due(
        &self,
        m: &Member,
        t: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, usize, TierDue)> {
        let mut due = Vec::new();
        // A pool is no member: it earns nothing and is never reviewed
        // (docs/semantics.md is silent; the engine schedules no review for
        // it, so it writes no `rollover` either).
        if m.extra.pool.is_some() {
            return due;
        }
        if let Some(at) = self.period_end(m).filter(|at| *at <= t) {
            due.push((at, m.t.review_seq(), TierDue::Review));
        }
        if let Some((_, at, seq)) = m.t.grace.filter(|(_, at, _)| *at <= t) {
            due.push((at, seq, TierDue::GraceEnd));
        }
        due
    }

    fn next_seq(&mut self) -> usize {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    /// A new member: the first tier, its perks, the first period.
    pub(super) fn joined(&mut self, member: &str, t: DateTime<Utc>, event: &str) {
        let Some(model) = self.model() else { return };
        let name = model.name(0);
        self.note_row(member, t, "tier_change", &name, event);
        self.grant_perks(member, None, 0, t, event);
    }

    /// A `tier_change`, `perk_grant`, `perk_use`, `rollover`, `pool_join`
    /// or `pool_leave` row: no points type, no amount; what it says is in
    /// its note.
    pub(super) fn note_row(
        &mut self,
        member: &str,
        time: DateTime<Utc>,
        kind: &str,
        note: &str,
        event: &str,
    ) {
        self.outcome.ledger.push(Row {
            member: member.to_string(),
            time,
            kind: kind.to_string(),
            points: String::new(),
            amount: None,
            balance: None,
            rule: String::new(),
            event: event.to_string(),
            note: note.to_string(),
        });
    }

    fn grant_perks(
        &mut self,
        member: &str,
        from: Option<usize>,
        to: usize,
        t: DateTime<Utc>,
        event: &str,
    ) {
        let granted: Vec<String> = self
            .program
            .extras
            .perks
            .iter()
            .filter(|p| p.ranks.contains(&to) && !from.is_some_and(|f| p.ranks.contains(&f)))
            .map(|p| p.name.clone())
            .collect();
        for name in granted {
            self.note_row(member, t, "perk_grant", &name, event);
        }
    }

    fn set_tier(&mut self, member: &str, to: usize, t: DateTime<Utc>, event: &str) {
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        let from = m.t.tier;
        m.t.tier = to;
        let name = self.model().map(|model| model.name(to)).unwrap_or_default();
        self.note_row(member, t, "tier_change", &name, event);
        self.grant_perks(member, Some(from), to, t, event);
        self.tier_moved(member, t, from, to);
    }

    /// What an event of a rule-running type added to the measures: points
    /// earned by rules per type (`earned`), one more of its type's count,
    /// its fields summed (one left empty adds nothing); then lifetime
    /// status and upgrades. `event` is the event's type and its fields; a
    /// purchase's contributions are kept for its returns.
    pub(super) fn measured(
        &mut self,
        member: &str,
        t: DateTime<Utc>,
        id: &str,
        event: (&str, &BTreeMap<String, Value>),
        earned: &[(String, Decimal)],
    ) {
        let Some(model) = self.program.tiers.as_ref() else {
            return;
        };
        let (kind, fields) = event;
        let seq = self.next_seq();
        let contributions: Vec<(usize, Decimal)> = model
            .measures
            .iter()
            .enumerate()
            .filter_map(|(i, (_, source))| {
                let value = match source {
                    Source::Earned(p) => earned
                        .iter()
                        .filter(|(ep, _)| ep == p)
                        .map(|(_, a)| *a)
                        .sum(),
                    Source::Count(e) if e == kind => Decimal::ONE,
                    Source::Sum(e, f) if e == kind => match fields.get(f) {
                        Some(Value::Number(n) | Value::Money(n)) => *n,
                        _ => Decimal::ZERO,
                    },
                    _ => Decimal::ZERO,
                };
                (!value.is_zero()).then_some((i, value))
            })
            .collect();
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        for (i, v) in &contributions {
            m.t.entries.push((t, seq, *i, *v));
        }
        for (p, a) in earned {
            *m.t.lifetime.entry(p.clone()).or_default() += *a;
        }
        if kind == "purchase" {
            m.t.purchases
                .insert(id.to_string(), (seq, contributions.clone()));
        }
        self.after_event(member, t, id);
    }

    /// After an event that raised a member's balance of `points` without
    /// running rules (an adjust credit, a cancelled redemption, points
    /// received): with a `balance of` measure of that type, judged as after
    /// an event that ran rules (docs/semantics.md, Tiers). A pool has no
    /// tier.
    pub(super) fn balance_raised(
        &mut self,
        member: &str,
        points: &str,
        now: DateTime<Utc>,
        event: &str,
    ) {
        let measured = self.model().is_some_and(|model| {
            model
                .measures
                .iter()
                .any(|(_, s)| matches!(s, Source::Balance(p) if p == points))
        });
        let pool = self
            .members
            .get(member)
            .is_none_or(|m| m.extra.pool.is_some());
        if measured && !pool {
            self.after_event(member, now, event);
        }
    }

    /// After an event that ran rules (or raised a balance a measure reads):
    /// lifetime floors, an upgrade to the highest tier met (`upgrade
    /// immediately`) or to the floor, and a waiting drop called off when
    /// the member meets their tier again.
    fn after_event(&mut self, member: &str, now: DateTime<Utc>, event: &str) {
        let Some(model) = self.program.tiers.as_ref() else {
            return;
        };
        let Some(m) = self.members.get(member) else {
            return;
        };
        let measures = self.measures(m, now);
        let mut floor = m.t.floor;
        for (tier, amount, points) in &model.lifetime {
            let earned = m.t.lifetime.get(points).copied().unwrap_or_default();
            if earned >= *amount && floor < *tier {
                floor = *tier;
            }
        }
        let reached = model.qualified(&measures);
        let current = m.t.tier;
        let mut target = floor.max(current);
        if model.upgrade_immediately {
            target = target.max(reached);
        }
        let met = target > current || model.keeps(current, &measures);
        let qualification = model.window == ast::Window::Qualification;
        if let Some(m) = self.members.get_mut(member) {
            m.t.floor = floor;
            if met {
                m.t.grace = None;
            }
        }
        if target > current {
            self.set_tier(member, target, now, event);
            // An upgrade starts a qualification year afresh.
            if qualification {
                self.start_period(member, now, &measures, reached, event);
            }
        }
    }

    /// A period ends: keep the tier if the period met its `keep` (or its
    /// own threshold), else drop to the highest tier met, at most `step`
    /// levels, never below the floor, after the grace if there is one;
    /// with `upgrade at period end`, move up to the highest tier met.
    pub(super) fn review(&mut self, member: &str, at: DateTime<Utc>) {
        let Some(model) = self.program.tiers.as_ref() else {
            return;
        };
        let Some(m) = self.members.get(member) else {
            return;
        };
        let measures = self.measures(m, at);
        let current = m.t.tier;
        let floor = m.t.floor_at(at);
        let reached = model.qualified(&measures);
        let mut target = current;
        if !model.upgrade_immediately && reached > current {
            target = reached;
        }
        let mut grace = None;
        if let (false, Some((step, term))) = (model.keeps(current, &measures), &model.downgrade) {
            let lowest = step.map_or(0, |s| current.saturating_sub(s));
            target = reached.max(lowest).max(floor).min(current);
            grace = term.as_ref();
        }
        match grace.and_then(|term| add(self.program.local(at), term)) {
            Some(until) if target < current => {
                let until = self.program.instant(until);
                // A drop already waiting keeps its date; a later review may
                // only lower the tier it drops to.
                let waiting = m.t.grace;
                let seq = match waiting {
                    Some(_) => 0,
                    None => self.next_seq(),
                };
                if let Some(m) = self.members.get_mut(member) {
                    m.t.grace = Some(match waiting {
                        Some((to, when, seq)) => (to.min(target), when, seq),
                        None => (target, until, seq),
                    });
                }
            }
            _ if target != current => self.set_tier(member, target, at, ""),
            _ => {}
        }
        self.start_period(member, at, &measures, reached, "");
    }

    /// docs/semantics.md, "Member updates and status match": a `set_tier`
    /// needs a `status match up to` line, a known tier no higher than it
    /// and a day not over; the member moves up to the tier at once if
    /// below it, and holds it until the day after `until` starts.
    pub(super) fn set_tier_record(
        &mut self,
        member: &str,
        t: DateTime<Utc>,
        id: &str,
        tier: &str,
        until: NaiveDate,
    ) -> bool {
        let Some(model) = self.model() else {
            return false;
        };
        let Some(most) = model.status_match else {
            return false;
        };
        let Some(rank) = model.names().iter().position(|n| n == tier) else {
            return false;
        };
        let lapses = self
            .program
            .instant(until.succ_opt().unwrap_or(until).and_time(NaiveTime::MIN));
        if rank > most || lapses <= t {
            return false;
        }
        let Some(m) = self.members.get_mut(member) else {
            return false;
        };
        m.t.matched = Some((rank, lapses));
        if rank > m.t.tier {
            self.set_tier(member, rank, t, id);
        }
        true
    }

    /// A grace ends: the drop waiting happens (not below the floor).
    pub(super) fn grace_end(&mut self, member: &str, at: DateTime<Utc>) {
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        let Some((to, _, _)) = m.t.grace.take() else {
            return;
        };
        let to = to.max(m.t.floor_at(at));
        if to < m.t.tier {
            self.set_tier(member, to, at, "");
        }
    }

    /// The next period starts at `at`: the measures start afresh, but for
    /// what `rollover` carries of each header measure (its value less the
    /// `from` value of the tier `reached`, at most the cap and what the
    /// ended period itself added).
    fn start_period(
        &mut self,
        member: &str,
        at: DateTime<Utc>,
        measures: &[Decimal],
        reached: usize,
        event: &str,
    ) {
        let Some(model) = self.program.tiers.as_ref() else {
            return;
        };
        let seq = self.next_seq();
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        m.t.start = at;
        m.t.start_seq = seq;
        if model.rolling().is_some() {
            return;
        }
        let carried_in = std::mem::take(&mut m.t.carried);
        let mut carried = vec![Decimal::ZERO; model.measures.len()];
        let mut rows = Vec::new();
        let values = model.tiers.get(reached).and_then(|t| t.values.as_ref());
        for (i, (threshold, cap)) in values
            .into_iter()
            .flatten()
            .zip(&model.rollover)
            .enumerate()
        {
            let Some(cap) = cap else { continue };
            let held = measures.get(i).copied().unwrap_or_default();
            let own = held - carried_in.get(i).copied().unwrap_or_default();
            let carry = (held - *threshold).min(own).min(*cap);
            if carry > Decimal::ZERO {
                if let Some(slot) = carried.get_mut(i) {
                    *slot = carry;
                }
                let name = model.measures.get(i).map_or("", |(n, _)| n.as_str());
                rows.push(format!(
                    "{} {name} carried into the next period",
                    carry.normalize()
                ));
            }
        }
        m.t.carried = carried;
        for note in rows {
            self.note_row(member, at, "rollover", &note, event);
        }
        self.period_started(member, at);
    }

    /// A return takes back from the measures what the purchase added:
    /// points earned by what was reversed (`reversed`, per type, by rules),
    /// the count when it is returned in full, field sums in proportion; a
    /// purchase from a period already closed no longer counts. And the
    /// lifetime totals lose what was taken (`taken`, by rules).
    pub(super) fn returned(
        &mut self,
        member: &str,
        of: &str,
        amount: Decimal,
        reversed: &[(String, Decimal)],
        taken: &[(String, Decimal)],
    ) {
        let Some(model) = self.program.tiers.as_ref() else {
            return;
        };
        let rolling = model.rolling().is_some();
        let seq = self.next_seq();
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        let (full, total, time) = match m.purchases.get(of) {
            Some(p) => (p.returned >= p.amount, p.amount, p.time),
            None => return,
        };
        for (p, a) in taken {
            *m.t.lifetime.entry(p.clone()).or_default() -= *a;
        }
        let Some((pseq, contributions)) = m.t.purchases.get(of).cloned() else {
            return;
        };
        if !rolling && pseq <= m.t.start_seq {
            return;
        }
        for (i, value) in contributions {
            let back = match model.measures.get(i).map(|(_, s)| s) {
                Some(Source::Count(_)) if full => value,
                Some(Source::Count(_)) => continue,
                Some(Source::Earned(p)) => reversed
                    .iter()
                    .filter(|(rp, _)| rp == p)
                    .map(|(_, a)| *a)
                    .sum(),
                Some(_) => value * amount / total,
                None => continue,
            };
            m.t.entries.push((time, seq, i, -back));
        }
    }

    /// A `use_perk`: the member's tier must have it, and its limit in the
    /// period must not be reached.
    pub(super) fn use_perk(
        &mut self,
        member: &str,
        t: DateTime<Utc>,
        perk: &str,
        event: &str,
    ) -> bool {
        let day = self.program.local(t).date();
        let Some(p) = self
            .program
            .extras
            .perks
            .iter()
            .position(|p| p.name == perk)
        else {
            return false;
        };
        let Some(def) = self.program.extras.perks.get(p) else {
            return false;
        };
        let Some(m) = self.members.get_mut(member) else {
            return false;
        };
        if !def.ranks.contains(&m.t.tier) {
            return false;
        }
        if let Some((count, period)) = def.limit {
            let start = period_start(day, period);
            let used =
                m.t.perk_uses
                    .iter()
                    .filter(|(u, d)| *u == p && period_start(*d, period) == start)
                    .count();
            if Decimal::from(used) >= count {
                return false;
            }
        }
        m.t.perk_uses.push((p, day));
        self.note_row(member, t, "perk_use", perk, event);
        true
    }

    /// What `reward` costs `member` now: the price for their tier, if it
    /// has one, else the reward's.
    pub(super) fn price(&self, member: &str, reward: &str) -> Option<(Decimal, String)> {
        let (price, points) = self.program.rewards.get(reward).cloned()?;
        let tier = self
            .members
            .get(member)
            .and_then(|m| self.model().map(|model| model.name(m.t.tier)));
        let own = self
            .program
            .extras
            .tier_prices
            .get(reward)
            .and_then(|prices| prices.iter().find(|(t, _)| Some(t) == tier.as_ref()))
            .map(|(_, p)| *p);
        Some((own.unwrap_or(price), points))
    }

    /// Each member's tier, and each measure's value at the end, by column.
    pub(super) fn final_tiers(
        &self,
    ) -> (
        BTreeMap<String, String>,
        BTreeMap<(String, String), Decimal>,
    ) {
        let Some(model) = self.model() else {
            return (BTreeMap::new(), BTreeMap::new());
        };
        let now = self.clock.unwrap_or_default();
        let mut tiers = BTreeMap::new();
        let mut measures = BTreeMap::new();
        for (id, m) in &self.members {
            tiers.insert(id.clone(), model.name(m.t.tier));
            for ((name, _), value) in model.measures.iter().zip(self.measures(m, now)) {
                measures.insert((id.clone(), name.clone()), value);
            }
        }
        (tiers, measures)
    }
}

/// The first start of a period of `unit` counted from `anchor` after the
/// day `day`: `anchor + k units` (months from the anchor itself, on the
/// last day of a shorter month).
fn anchored_next(unit: CalendarUnit, anchor: NaiveDate, day: NaiveDate) -> NaiveDate {
    let nth = |k: i64| -> Option<NaiveDate> {
        let months = match unit {
            CalendarUnit::Day => return anchor.checked_add_signed(Duration::days(k)),
            CalendarUnit::Week => return anchor.checked_add_signed(Duration::days(7 * k)),
            CalendarUnit::Month => 1,
            CalendarUnit::Quarter => 3,
            CalendarUnit::Year => 12,
        };
        let shift = chrono::Months::new(u32::try_from(k.unsigned_abs() * months).ok()?);
        if k >= 0 {
            anchor.checked_add_months(shift)
        } else {
            anchor.checked_sub_months(shift)
        }
    };
    // Start at least a period before `day`, and step on to the first
    // start after it.
    let apart = match unit {
        CalendarUnit::Day => (day - anchor).num_days(),
        CalendarUnit::Week => (day - anchor).num_days().div_euclid(7),
        CalendarUnit::Month | CalendarUnit::Quarter | CalendarUnit::Year => {
            let months = i64::from(day.year() - anchor.year()) * 12 + i64::from(day.month())
                - i64::from(anchor.month());
            let per = match unit {
                CalendarUnit::Month => 1,
                CalendarUnit::Quarter => 3,
                _ => 12,
            };
            months.div_euclid(per)
        }
    };
    let mut k = apart - 2;
    while nth(k).is_some_and(|d| d <= day) {
        k += 1;
    }
    nth(k).unwrap_or(NaiveDate::MAX)
}
