//! Lowering: the checked AST to the IR. The checker has proven every name and
//! type, so a lookup that fails here is a bug, reported as an internal error
//! rather than a panic.

use super::ir::*;
use crate::check::REFERRED_BY;
use crate::currency::Currency;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, BinaryOp, ExprKind, Item, Spanned, UnaryOp};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

/// How far apart two records with one id are duplicates when the program
/// does not say (`reject duplicate ids within 30 days`): a resent record
/// carries its time, and a month covers a month-end's resent batch.
pub const DEFAULT_DUPLICATE_WINDOW: Term = Term {
    count: 30,
    unit: ast::TimeUnit::Day,
};

type Result<T> = std::result::Result<T, Diagnostic>;

fn internal(span: ast::Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        "internal",
        span,
        format!("the compiler could not resolve {what}: this is a bug in loyalty"),
    )
}

/// Name → index tables for one program.
#[derive(Default)]
struct Names {
    events: BTreeMap<String, EventTypeId>,
    points: BTreeMap<String, PointsId>,
    tiers: BTreeMap<String, TierRank>,
    measures: BTreeMap<String, usize>,
    rules: BTreeMap<String, RuleId>,
    groups: BTreeMap<String, usize>,
}

impl Names {
    fn get<Id: Copy>(map: &BTreeMap<String, Id>, name: &ast::Ident, what: &str) -> Result<Id> {
        map.get(&name.node)
            .copied()
            .ok_or_else(|| internal(name.span, &format!("{what} `{}`", name.node)))
    }
}

/// The program's currency: the checker has made sure it names one.
fn currency(file: &ast::File) -> Result<Currency> {
    let settings = file.items.iter().flat_map(|item| match item {
        Item::Program(p) => p.settings.as_slice(),
        _ => &[],
    });
    for setting in settings {
        if let ast::ProgramSetting::Currency(c) = &setting.node {
            return Currency::of(&c.node).ok_or_else(|| internal(c.span, "the currency"));
        }
    }
    Err(internal(Default::default(), "the currency"))
}

pub fn lower(file: &ast::File, source: &str) -> Result<Program> {
    let mut program = Program {
        name: String::new(),
        currency: currency(file)?,
        timezone: chrono_tz::UTC,
        effective: None,
        overspent: ast::OverspentPolicy::GoNegative,
        late_limit: None,
        return_window: None,
        duplicate_window: DEFAULT_DUPLICATE_WINDOW,
        member_attributes: Vec::new(),
        events: builtin_events(),
        points: Vec::new(),
        tiers: None,
        rules: Vec::new(),
        perks: Vec::new(),
        rewards: Vec::new(),
        reward_index: BTreeMap::new(),
        perk_index: BTreeMap::new(),
        points_index: BTreeMap::new(),
        pool_index: BTreeMap::new(),
        counters: Vec::new(),
        survey: None,
    };
    let mut names = Names::default();
    for item in &file.items {
        match item {
            Item::Program(p) => lower_header(p, &mut program)?,
            Item::Member(m) => program.member_attributes = fields(&m.fields),
            Item::Event(e) => match program.events.iter_mut().find(|t| t.name == e.name.node) {
                Some(builtin) => builtin.fields.extend(fields(&e.fields)),
                None => program.events.push(EventType {
                    name: e.name.node.clone(),
                    builtin: None,
                    fields: fields(&e.fields),
                    rules: Vec::new(),
                }),
            },
            Item::Points(p) => {
                names
                    .points
                    .insert(p.name.node.clone(), PointsId(program.points.len()));
                program.points.push(points_type(p)?);
            }
            _ => {}
        }
    }
    for event in &mut program.events {
        match event.builtin {
            // The attributes, then who referred the member (taken out of
            // the record's fields into its body: `events::Body::take`).
            Some(BuiltinEvent::Enroll) => {
                event.fields = program.member_attributes.clone();
                event.fields.push(Field {
                    name: REFERRED_BY.to_string(),
                    ty: ast::FieldType::Text,
                    required: false,
                });
            }
            // A profile gives the attributes it changes: none is required.
            Some(BuiltinEvent::Profile) => {
                event.fields = program
                    .member_attributes
                    .iter()
                    .map(|a| Field {
                        required: false,
                        ..a.clone()
                    })
                    .collect();
            }
            _ => {}
        }
    }
    names.events = program
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), i))
        .collect();
    let surveys = file.items.iter().filter_map(|item| match item {
        Item::Program(p) => Some(&p.settings),
        _ => None,
    });
    for setting in surveys.flatten() {
        if let ast::ProgramSetting::Survey { event, field } = &setting.node {
            let (event, field) = event_field(&names, &program, event, field)?;
            program.survey = Some(Survey { event, field });
        }
    }
    for item in &file.items {
        if let Item::Tiers(t) = item {
            program.tiers = Some(lower_tiers(t, &mut names, &program)?);
            break;
        }
    }
    // Each rule's id is its place among the rules, known before any is
    // lowered: a share may name a rule written after it.
    let rules = file.items.iter().filter_map(|item| match item {
        Item::Rule(r) => Some(r.name.node.clone()),
        _ => None,
    });
    names.rules = rules
        .enumerate()
        .map(|(id, name)| (name, RuleId(id)))
        .collect();
    // The counters the rules read, each once, known before the rules'
    // expressions are lowered to indices into them.
    for item in &file.items {
        let Item::Rule(r) = item else { continue };
        let mut found = Vec::new();
        for stmt in &r.stmts {
            match &stmt.node {
                ast::RuleStmt::On {
                    condition: Some(c), ..
                } => counters_in(c, &mut found),
                ast::RuleStmt::Earn(ast::Earn {
                    award: ast::Award::Amount { amount, per, .. },
                    ..
                }) => {
                    counters_in(amount, &mut found);
                    if let Some(per) = per {
                        counters_in(&per.base, &mut found);
                    }
                }
                _ => {}
            }
        }
        for (source, window) in found {
            let counter = counter(source, window, &names, &program)?;
            if !program.counters.contains(&counter) {
                program.counters.push(counter);
            }
        }
    }
    for item in &file.items {
        match item {
            Item::Rule(r) => {
                let rule = lower_rule(r, source, &mut names, &program)?;
                let id = program.rules.len();
                if let Some(event) = program.events.get_mut(rule.event) {
                    event.rules.push(RuleId(id));
                }
                program.rules.push(rule);
            }
            Item::Perk(p) => program.perks.push(lower_perk(p, &names, &program)?),
            Item::Reward(r) => program.rewards.push(lower_reward(r, &names)?),
            _ => {}
        }
    }
    let index = |names: Vec<&String>| {
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect()
    };
    program.reward_index = index(program.rewards.iter().map(|r| &r.name).collect());
    program.perk_index = index(program.perks.iter().map(|p| &p.name).collect());
    program.points_index = index(program.points.iter().map(|p| &p.name).collect())
        .into_iter()
        .map(|(name, p)| (name, PointsId(p)))
        .collect();
    program.pool_index = program
        .points
        .iter()
        .enumerate()
        .filter_map(|(p, t)| Some((t.pool.as_ref()?.kind.clone(), PointsId(p))))
        .collect();
    Ok(program)
}

fn builtin_events() -> Vec<EventType> {
    BuiltinEvent::ALL
        .into_iter()
        .map(|b| EventType {
            name: b.name().to_string(),
            builtin: Some(b),
            fields: b
                .fields()
                .iter()
                .map(|(name, ty)| Field {
                    name: (*name).to_string(),
                    ty: *ty,
                    required: false,
                })
                .collect(),
            rules: Vec::new(),
        })
        .collect()
}

fn fields(decls: &[ast::FieldDecl]) -> Vec<Field> {
    decls
        .iter()
        .map(|f| Field {
            name: f.name.node.clone(),
            ty: f.ty.node,
            required: !f.optional,
        })
        .collect()
}

fn lower_header(p: &ast::ProgramDecl, program: &mut Program) -> Result<()> {
    program.name = p.name.node.clone();
    for setting in &p.settings {
        match &setting.node {
            // Read first, by `currency`.
            ast::ProgramSetting::Currency(_) => {}
            ast::ProgramSetting::Timezone(z) => {
                program.timezone = chrono_tz::Tz::from_str(&z.node)
                    .map_err(|_| internal(z.span, "the time zone"))?;
            }
            ast::ProgramSetting::Effective(d) => program.effective = Some(d.node),
            ast::ProgramSetting::Overspent(o) => program.overspent = *o,
            ast::ProgramSetting::AcceptLate(d) => program.late_limit = Some(term(d)?),
            ast::ProgramSetting::AcceptReturns(d) => program.return_window = Some(term(d)?),
            ast::ProgramSetting::DuplicateWindow(d) => program.duplicate_window = term(d)?,
            // Lowered once the event types are (`survey`).
            ast::ProgramSetting::Survey { .. } => {}
        }
    }
    Ok(())
}

fn whole(n: &ast::Number) -> Result<u32> {
    u32::try_from(n.node.trunc().mantissa() / 10i128.pow(n.node.scale()))
        .map_err(|_| internal(n.span, "a whole number"))
}

fn term(d: &ast::Duration) -> Result<Term> {
    Ok(Term {
        count: whole(&d.count)?,
        unit: d.unit,
    })
}

fn points_type(p: &ast::PointsDecl) -> Result<PointsType> {
    let mut points = PointsType {
        name: p.name.node.clone(),
        precision: 0,
        value: None,
        breakage: None,
        pending: None,
        qualifying: false,
        expiry: ExpiryRule::Never,
        transfers: None,
        pool: None,
        redeem_min: None,
        redeem_max: None,
        caps: Vec::new(),
    };
    for setting in &p.settings {
        match &setting.node {
            ast::PointsSetting::Precision(n) => points.precision = whole(n)?,
            ast::PointsSetting::Value(m) => points.value = Some(m.amount.node),
            ast::PointsSetting::Breakage(b) => {
                points.breakage = Some(b.node / Decimal::ONE_HUNDRED)
            }
            ast::PointsSetting::Pending(d) => points.pending = Some(term(d)?),
            ast::PointsSetting::Qualifying => points.qualifying = true,
            ast::PointsSetting::Expire(e) => points.expiry = expiry(e)?,
            ast::PointsSetting::Transfers(options) => {
                let mut transfers = Transfers {
                    min: Decimal::ZERO,
                    fee: Decimal::ZERO,
                    keep_expiry: true,
                };
                for option in options {
                    match &option.node {
                        ast::TransferOption::Min(n) => transfers.min = n.node,
                        ast::TransferOption::Fee(p) => {
                            transfers.fee = p.node / Decimal::ONE_HUNDRED
                        }
                        ast::TransferOption::Expiry(e) => {
                            transfers.keep_expiry = *e == ast::TransferExpiry::Keep
                        }
                    }
                }
                points.transfers = Some(transfers);
            }
            ast::PointsSetting::Redeem(limits) => {
                for limit in limits {
                    match &limit.node {
                        ast::RedeemLimit::AtLeast(n) => points.redeem_min = Some(n.node),
                        ast::RedeemLimit::AtMost(n) => points.redeem_max = Some(n.node),
                    }
                }
            }
            ast::PointsSetting::Pool { kind, most } => {
                points.pool = Some(Pool {
                    kind: kind.node.clone(),
                    most_members: most.as_ref().map(whole).transpose()?,
                })
            }
            ast::PointsSetting::Cap { amount, period } => {
                points.caps.push((amount.node, period.node))
            }
        }
    }
    Ok(points)
}

/// An `expire` statement, of a points type or of a rule.
fn expiry(e: &ast::Expiry) -> Result<ExpiryRule> {
    Ok(match e {
        ast::Expiry::Never => ExpiryRule::Never,
        ast::Expiry::AfterEarn { term: t, end_of } => ExpiryRule::AfterEarn {
            term: term(t)?,
            end_of: end_of.as_ref().map(|u| u.node),
        },
        ast::Expiry::Inactivity(d) => ExpiryRule::Inactivity(term(d)?),
        ast::Expiry::EndOf { unit, plus } => ExpiryRule::EndOf {
            unit: unit.node,
            plus: plus.as_ref().map(whole).transpose()?.unwrap_or(0),
        },
    })
}

fn measure(
    source: &Spanned<ast::MeasureSource>,
    names: &Names,
    program: &Program,
) -> Result<Measure> {
    Ok(match &source.node {
        ast::MeasureSource::PointsEarned(p) => {
            Measure::PointsEarned(Names::get(&names.points, p, "points type")?)
        }
        ast::MeasureSource::Balance(p) => {
            Measure::Balance(Names::get(&names.points, p, "points type")?)
        }
        ast::MeasureSource::Count(e) => Measure::Count(Names::get(&names.events, e, "event type")?),
        ast::MeasureSource::FieldSum { event, field } => {
            let (id, index) = event_field(names, program, event, field)?;
            Measure::FieldSum(id, index)
        }
    })
}

/// An event type's field, as (the type, the field's index among its fields).
fn event_field(
    names: &Names,
    program: &Program,
    event: &ast::Ident,
    field: &ast::Ident,
) -> Result<(EventTypeId, usize)> {
    let id = Names::get(&names.events, event, "event type")?;
    let index = program
        .events
        .get(id)
        .and_then(|t| t.fields.iter().position(|f| f.name == field.node))
        .ok_or_else(|| internal(field.span, "a field"))?;
    Ok((id, index))
}

/// The counters an expression reads.
fn counters_in<'e>(
    e: &'e ast::Expr,
    found: &mut Vec<(&'e Spanned<ast::MeasureSource>, &'e ast::CounterWindow)>,
) {
    match &e.node {
        ExprKind::Counter(c) => found.push((&c.source, &c.window.node)),
        ExprKind::Paren(inner) | ExprKind::Unary { expr: inner, .. } => counters_in(inner, found),
        ExprKind::Binary { lhs, rhs, .. } => {
            counters_in(lhs, found);
            counters_in(rhs, found);
        }
        ExprKind::InList { expr, items } => {
            counters_in(expr, found);
            items.iter().for_each(|item| counters_in(item, found));
        }
        ExprKind::InRange { expr, low, high } => {
            for part in [expr, low, high] {
                counters_in(part, found);
            }
        }
        _ => {}
    }
}

/// A counter as the engine keeps it: what it counts and its window.
fn counter(
    source: &Spanned<ast::MeasureSource>,
    window: &ast::CounterWindow,
    names: &Names,
    program: &Program,
) -> Result<(Measure, CounterWindow)> {
    let window = match window {
        ast::CounterWindow::This(unit) => CounterWindow::This(*unit),
        ast::CounterWindow::Last(d) => CounterWindow::Last(term(d)?),
    };
    Ok((measure(source, names, program)?, window))
}

/// A column name for a measure named only by what it counts.
fn lower_tiers(t: &ast::TiersDecl, names: &mut Names, program: &Program) -> Result<Tiers> {
    let mut measures: Vec<Measure> =
        t.by.iter()
            .map(|s| measure(s, names, program))
            .collect::<Result<_>>()?;
    let mut measure_names: Vec<String> = t.by.iter().map(|s| s.node.column()).collect();
    for stmt in &t.stmts {
        if let ast::TierStmt::Measure { name, source } = &stmt.node {
            names.measures.insert(name.node.clone(), measures.len());
            measures.push(measure(source, names, program)?);
            measure_names.push(name.node.clone());
        }
        if let ast::TierStmt::Tier(tier) = &stmt.node {
            names
                .tiers
                .insert(tier.name.node.clone(), names.tiers.len());
        }
    }
    let window = match &t.window.node {
        ast::Window::Calendar(u, from) => Window::Calendar(*u, *from),
        ast::Window::Rolling(d) => Window::Rolling(term(d)?),
        ast::Window::Membership => Window::Membership,
        ast::Window::Qualification => Window::Qualification,
    };
    let mut tiers = Tiers {
        tiers: Vec::new(),
        measures,
        measure_names,
        rollover: vec![None; t.by.len()],
        window,
        upgrade_immediately: true,
        downgrade: Downgrade::AtPeriodEnd {
            step: None,
            grace: None,
        },
        lifetime: Vec::new(),
        status_match: None,
    };
    let scope = Scope::Measures;
    for stmt in &t.stmts {
        match &stmt.node {
            ast::TierStmt::Measure { .. } => {}
            ast::TierStmt::Tier(tier) => {
                let qualify = threshold(&tier.qualify, names, program, scope)?;
                // A threshold of zeros holds always: `keep 0` keeps the
                // tier whatever the period earned (not "no keep", which
                // would fall back to `from`).
                let keep = tier
                    .keep
                    .as_ref()
                    .map(|k| threshold(k, names, program, scope))
                    .transpose()?
                    .map(|keep| keep.unwrap_or(Expr::Const(Value::Bool(true))));
                tiers.tiers.push(Tier {
                    name: tier.name.node.clone(),
                    values: match &tier.qualify {
                        ast::Threshold::Start => Some(vec![Decimal::ZERO; t.by.len()]),
                        ast::Threshold::Values(values) => {
                            Some(values.iter().map(|v| v.node).collect())
                        }
                        ast::Threshold::When(_) => None,
                    },
                    qualify,
                    keep,
                });
            }
            ast::TierStmt::Upgrade(u) => {
                tiers.upgrade_immediately = *u == ast::UpgradePolicy::Immediately
            }
            ast::TierStmt::Downgrade(ast::DowngradePolicy::Never) => {
                tiers.downgrade = Downgrade::Never
            }
            ast::TierStmt::Downgrade(ast::DowngradePolicy::AtPeriodEnd(options)) => {
                let (mut step, mut grace) = (None, None);
                for option in options {
                    match &option.node {
                        ast::DowngradeOption::Step(n) => step = Some(whole(n)?),
                        ast::DowngradeOption::Grace(d) => grace = Some(term(d)?),
                    }
                }
                tiers.downgrade = Downgrade::AtPeriodEnd { step, grace };
            }
            ast::TierStmt::Lifetime {
                tier,
                amount,
                points,
            } => tiers.lifetime.push(Lifetime {
                tier: Names::get(&names.tiers, tier, "tier")?,
                points: Names::get(&names.points, points, "points type")?,
                threshold: amount.node,
            }),
            ast::TierStmt::StatusMatch { tier } => {
                tiers.status_match = Some(Names::get(&names.tiers, tier, "tier")?);
            }
            ast::TierStmt::Rollover { measure, cap } => {
                // The checker made sure the measure is a header one, or
                // that the header has only one.
                let at = match measure {
                    Some(name) => tiers.measure_names.iter().position(|m| *m == name.node),
                    None => Some(0),
                };
                let slot = at.and_then(|i| tiers.rollover.get_mut(i));
                *slot.ok_or_else(|| internal(stmt.span, "a rollover's measure"))? = Some(cap.node);
            }
        }
    }
    Ok(tiers)
}

/// A threshold as a condition over the measures; `None` for `from start`
/// and for the first tier's `from 0`.
fn threshold(
    t: &ast::Threshold,
    names: &Names,
    program: &Program,
    scope: Scope,
) -> Result<Option<Expr>> {
    Ok(match t {
        ast::Threshold::Start => None,
        ast::Threshold::Values(values) if values.iter().all(|v| v.node.is_zero()) => None,
        ast::Threshold::Values(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Expr::Binary(
                    BinaryOp::Ge,
                    Box::new(Expr::Measure(i)),
                    Box::new(Expr::Const(Value::Number(v.node))),
                )
            })
            .reduce(|a, b| Expr::Binary(BinaryOp::Or, Box::new(a), Box::new(b))),
        ast::Threshold::When(e) => Some(expr(e, names, program, scope)?),
    })
}

/// What bare names in an expression refer to.
#[derive(Clone, Copy)]
enum Scope {
    Event(EventTypeId),
    Measures,
}

fn expr(e: &ast::Expr, names: &Names, program: &Program, scope: Scope) -> Result<Expr> {
    let sub = |x: &ast::Expr| expr(x, names, program, scope).map(Box::new);
    Ok(match &e.node {
        ExprKind::Number(n) => Expr::Const(Value::Number(*n)),
        ExprKind::Money(m) => Expr::Const(Value::Number(m.amount.node)),
        ExprKind::Percent(p) => Expr::Const(Value::Number(*p / Decimal::ONE_HUNDRED)),
        ExprKind::Date(d) => Expr::Const(Value::Date(*d)),
        ExprKind::Duration(d) => Expr::Const(Value::Duration(term(d)?)),
        ExprKind::Text(t) => Expr::Const(Value::Text(t.as_str().into())),
        ExprKind::Bool(b) => Expr::Const(Value::Bool(*b)),
        ExprKind::Paren(inner) => expr(inner, names, program, scope)?,
        ExprKind::Name(name) => resolve_name(name, e.span, names, program, scope)?,
        ExprKind::ItemField(field) => Expr::Item(
            ast::ItemField::named(&field.node)
                .ok_or_else(|| internal(field.span, "an item field"))?,
        ),
        ExprKind::MemberAttr(attr) => Expr::Attribute(
            program
                .member_attributes
                .iter()
                .position(|a| a.name == attr.node)
                .ok_or_else(|| internal(attr.span, "a member attribute"))?,
        ),
        ExprKind::Balance(p) => Expr::Balance(Names::get(&names.points, p, "points type")?),
        ExprKind::FirstPurchase => Expr::Builtin(Builtin::FirstPurchase),
        ExprKind::Counter(c) => {
            let counter = counter(&c.source, &c.window.node, names, program)?;
            let index = program.counters.iter().position(|c| *c == counter);
            Expr::Counter(index.ok_or_else(|| internal(e.span, "a counter"))?)
        }
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr: inner,
        } => Expr::Not(sub(inner)?),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr: inner,
        } => Expr::Neg(sub(inner)?),
        ExprKind::Binary { op, lhs, rhs } => Expr::Binary(*op, sub(lhs)?, sub(rhs)?),
        ExprKind::InList {
            expr: subject,
            items,
        } => Expr::InList(
            sub(subject)?,
            items
                .iter()
                .map(|i| expr(i, names, program, scope))
                .collect::<Result<_>>()?,
        ),
        ExprKind::InRange {
            expr: subject,
            low,
            high,
        } => Expr::InRange(sub(subject)?, sub(low)?, sub(high)?),
    })
}

fn resolve_name(
    name: &str,
    span: ast::Span,
    names: &Names,
    program: &Program,
    scope: Scope,
) -> Result<Expr> {
    match scope {
        Scope::Measures => names
            .measures
            .get(name)
            .map(|i| Expr::Measure(*i))
            .ok_or_else(|| internal(span, &format!("measure `{name}`"))),
        Scope::Event(event) => {
            let fields = program
                .events
                .get(event)
                .map(|t| t.fields.as_slice())
                .unwrap_or_default();
            if let Some(i) = fields.iter().position(|f| f.name == name) {
                return Ok(Expr::Field(i));
            }
            if let Some(i) = program
                .member_attributes
                .iter()
                .position(|a| a.name == name)
            {
                return Ok(Expr::Attribute(i));
            }
            Ok(match name {
                "tier" => Expr::Builtin(Builtin::Tier),
                "date" => Expr::Builtin(Builtin::Date),
                "weekday" => Expr::Builtin(Builtin::Weekday),
                "hour" => Expr::Builtin(Builtin::Hour),
                "month" => Expr::Builtin(Builtin::Month),
                "days_to_birthday" => Expr::Builtin(Builtin::DaysToBirthday(
                    program
                        .birthday()
                        .ok_or_else(|| internal(span, "the `birthday` attribute"))?,
                )),
                "days_since_enroll" => Expr::Builtin(Builtin::DaysSinceEnroll),
                "referred" => Expr::Builtin(Builtin::Referred),
                "previous_tier" => Expr::Builtin(Builtin::PreviousTier),
                // Compared with `tier`: a tier's name stands for its rank.
                _ => Expr::Const(Value::Tier(
                    names
                        .tiers
                        .get(name)
                        .copied()
                        .ok_or_else(|| internal(span, &format!("name `{name}`")))?,
                )),
            })
        }
    }
}

fn period_limit(count: &ast::Number, period: &Spanned<ast::Period>) -> Result<Limit> {
    Ok(Limit {
        count: whole(count)?,
        period: period.node,
        per_referrer: false,
    })
}

fn lower_rule(
    r: &ast::RuleDecl,
    source: &str,
    names: &mut Names,
    program: &Program,
) -> Result<Rule> {
    let (event, condition) = r
        .stmts
        .iter()
        .find_map(|s| match &s.node {
            ast::RuleStmt::On { event, condition } => Some((event, condition)),
            _ => None,
        })
        .ok_or_else(|| internal(r.name.span, "the rule's event"))?;
    let event = Names::get(&names.events, event, "event type")?;
    let scope = Scope::Event(event);
    let mut rule = Rule {
        name: r.name.node.clone(),
        event,
        conditions: match condition {
            Some(c) => conjuncts(c)
                .into_iter()
                .map(|part| {
                    Ok(Condition::new(
                        expr(part, names, program, scope)?,
                        source
                            .get(part.span.range())
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect::<Result<_>>()?,
            None => Vec::new(),
        },
        awards: Vec::new(),
        caps: Vec::new(),
        item_caps: Vec::new(),
        limits: Vec::new(),
        budgets: Vec::new(),
        rounding: ast::Rounding::Down,
        group: None,
        group_by_order: false,
        during: None,
        min_spend: None,
        preview: r.preview,
        stop: false,
        expiry: None,
        to_referrer: false,
    };
    for stmt in &r.stmts {
        match &stmt.node {
            ast::RuleStmt::On { .. } => {}
            ast::RuleStmt::Earn(earn) => {
                let multiplier = earn
                    .multiplier
                    .as_ref()
                    .map(|m| multiplier(m, names, program, scope))
                    .transpose()?;
                rule.awards.extend(award(
                    &earn.award,
                    multiplier,
                    names,
                    program,
                    scope,
                    source,
                )?);
                rule.to_referrer |= earn.to_referrer;
            }
            ast::RuleStmt::Cap {
                amount,
                points,
                scope: ast::CapScope::PerItem,
            } => rule.item_caps.push(ItemCap {
                points: Names::get(&names.points, points, "points type")?,
                amount: amount.node,
            }),
            ast::RuleStmt::Cap {
                amount,
                points,
                scope: cap_scope,
            } => rule.caps.push(Cap {
                points: Names::get(&names.points, points, "points type")?,
                amount: amount.node,
                period: match cap_scope {
                    ast::CapScope::PerEvent | ast::CapScope::PerItem => None,
                    ast::CapScope::PerMember(p) => Some(p.node),
                },
            }),
            ast::RuleStmt::Limit { count, period } => {
                rule.limits.push(period_limit(count, period)?)
            }
            ast::RuleStmt::LimitPerReferrer { count } => rule.limits.push(Limit {
                count: whole(count)?,
                period: ast::Period::Lifetime,
                per_referrer: true,
            }),
            ast::RuleStmt::Budget {
                amount,
                points,
                period,
            } => rule.budgets.push(Budget {
                points: Names::get(&names.points, points, "points type")?,
                amount: amount.node,
                period: period.as_ref().map(|p| p.node),
            }),
            ast::RuleStmt::Round(mode) => rule.rounding = *mode,
            ast::RuleStmt::Group { name, by_order } => {
                let next = names.groups.len();
                rule.group = Some(*names.groups.entry(name.node.clone()).or_insert(next));
                rule.group_by_order = *by_order;
            }
            ast::RuleStmt::During { from, to } => rule.during = Some((from.node, to.node)),
            ast::RuleStmt::MinSpend(m) => rule.min_spend = Some(m.amount.node),
            ast::RuleStmt::Stop => rule.stop = true,
            ast::RuleStmt::Expire(e) => rule.expiry = Some(expiry(e)?),
            ast::RuleStmt::Multiply { points, factor } => rule.awards.push(Award {
                points: Names::get(&names.points, points, "points type")?,
                amount: AwardAmount::Multiply {
                    factor: factor.node,
                },
                multiplier: None,
                items: None,
            }),
        }
    }
    Ok(rule)
}

/// `a and b and c` as `[a, b, c]`; anything else as itself.
fn conjuncts(e: &ast::Expr) -> Vec<&ast::Expr> {
    match &e.node {
        ExprKind::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            let mut parts = conjuncts(lhs);
            parts.extend(conjuncts(rhs));
            parts
        }
        _ => vec![e],
    }
}

fn multiplier(
    m: &ast::Multiplier,
    names: &Names,
    program: &Program,
    scope: Scope,
) -> Result<Multiplier> {
    let key = resolve_name(&m.key.node, m.key.span, names, program, scope)?;
    let mut entries = Vec::new();
    let mut otherwise = None;
    for entry in &m.entries {
        let value = match &entry.key.node {
            ast::TableKey::Else => {
                otherwise = Some(entry.factor.node);
                continue;
            }
            ast::TableKey::Text(t) => Value::Text(t.as_str().into()),
            ast::TableKey::Number(n) => Value::Number(*n),
            ast::TableKey::Name(n) => Value::Tier(
                names
                    .tiers
                    .get(n)
                    .copied()
                    .ok_or_else(|| internal(entry.key.span, "a tier"))?,
            ),
        };
        entries.push((value, entry.factor.node));
    }
    Ok(Multiplier {
        key,
        entries,
        otherwise,
    })
}

/// One `earn` line: one award, or for `X% of R` without a points type, one
/// per points type that R awards.
fn award(
    a: &ast::Award,
    multiplier: Option<Multiplier>,
    names: &Names,
    program: &Program,
    scope: Scope,
    source: &str,
) -> Result<Vec<Award>> {
    Ok(match a {
        ast::Award::Amount {
            amount,
            points,
            per,
            filter,
        } => {
            let amount = expr(amount, names, program, scope)?;
            let per = per
                .as_ref()
                .map(|p| {
                    Ok::<_, Diagnostic>(Per {
                        full: p.full,
                        unit: p.unit.node,
                        base: expr(&p.base, names, program, scope)?,
                    })
                })
                .transpose()?;
            let filter = filter
                .as_ref()
                .map(|f| {
                    Ok::<_, Diagnostic>(Condition::new(
                        expr(f, names, program, scope)?,
                        source.get(f.span.range()).unwrap_or_default().to_string(),
                    ))
                })
                .transpose()?;
            let per_item = amount.reads_item() || per.as_ref().is_some_and(|p| p.base.reads_item());
            let items = (per_item || filter.is_some()).then_some(Items { filter });
            vec![Award {
                points: Names::get(&names.points, points, "points type")?,
                amount: AwardAmount::Rate { amount, per },
                multiplier,
                items,
            }]
        }
        ast::Award::PercentOf {
            percent,
            rule,
            points,
        } => {
            let rule_id = Names::get(&names.rules, rule, "rule")?;
            let fraction = percent.node / Decimal::ONE_HUNDRED;
            let types: Vec<PointsId> = match points {
                Some(p) => vec![Names::get(&names.points, p, "points type")?],
                None => {
                    let earlier = program
                        .rules
                        .get(rule_id.index())
                        .ok_or_else(|| internal(rule.span, "an earlier rule"))?;
                    let mut types: Vec<PointsId> = Vec::new();
                    for award in &earlier.awards {
                        if !types.contains(&award.points) {
                            types.push(award.points);
                        }
                    }
                    types
                }
            };
            types
                .into_iter()
                .map(|points| Award {
                    points,
                    amount: AwardAmount::ShareOf {
                        fraction,
                        rule: rule_id,
                    },
                    multiplier: multiplier.clone(),
                    items: None,
                })
                .collect()
        }
    })
}

fn lower_perk(p: &ast::PerkDecl, names: &Names, program: &Program) -> Result<Perk> {
    let tier_count = program.tiers.as_ref().map_or(0, |t| t.tiers.len());
    let tiers = match &p.tiers.node {
        // Every member has it: without tiers, every member is at rank 0.
        ast::TierSet::All => (0..tier_count.max(1)).collect(),
        ast::TierSet::AndAbove(t) => (Names::get(&names.tiers, t, "tier")?..tier_count).collect(),
        ast::TierSet::List(list) => {
            let mut ranks: Vec<TierRank> = list
                .iter()
                .map(|t| Names::get(&names.tiers, t, "tier"))
                .collect::<Result<_>>()?;
            ranks.sort_unstable();
            ranks
        }
    };
    let mut perk = Perk {
        name: p.name.node.clone(),
        tiers,
        limit: None,
        cost: None,
    };
    for setting in &p.settings {
        match &setting.node {
            ast::PerkSetting::Limit { count, period } => {
                perk.limit = Some(period_limit(count, period)?)
            }
            ast::PerkSetting::Cost(m) => perk.cost = Some(m.amount.node),
        }
    }
    Ok(perk)
}

fn lower_reward(r: &ast::RewardDecl, names: &Names) -> Result<Reward> {
    let mut reward = Reward {
        name: r.name.node.clone(),
        points: PointsId(0),
        price: Decimal::ZERO,
        tier_prices: Vec::new(),
        cost: None,
    };
    for setting in &r.settings {
        match &setting.node {
            ast::RewardSetting::Price {
                amount,
                points,
                tiers,
            } if !tiers.is_empty() => {
                for tier in tiers {
                    let rank = Names::get(&names.tiers, tier, "tier")?;
                    reward.tier_prices.push((rank, amount.node));
                }
            }
            ast::RewardSetting::Price { amount, points, .. } => {
                reward.points = Names::get(&names.points, points, "points type")?;
                reward.price = amount.node;
            }
            ast::RewardSetting::Cost(m) => reward.cost = Some(m.amount.node),
        }
    }
    Ok(reward)
}
