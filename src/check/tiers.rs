//! Checks of the tiers block: measures, thresholds in increasing order, keep
//! thresholds, policies, lifetime status and tiers no member can reach.

use super::declarations::{keyword_span, Symbols};
use super::expressions::{unknown_points, Scope, Types};
use super::{suggest, Checker};
use crate::diagnostic::or_list;
use crate::diagnostic::{plural, Diagnostic};
use crate::syntax::ast::*;
use std::collections::BTreeSet;

pub fn check_tiers(file: &File, symbols: &Symbols, checker: &mut Checker) {
    // A second tiers block was reported as a duplicate; check only the first.
    let Some(tiers) = file.items.iter().find_map(|item| match item {
        Item::Tiers(t) => Some(t),
        _ => None,
    }) else {
        return;
    };
    for source in &tiers.by {
        check_source(source, symbols, checker);
    }
    if let Window::Rolling(duration) = &tiers.window.node {
        checker.check_whole_positive(&duration.count, "a window");
    }
    let earned = symbols.earned_anywhere();
    let mut previous: Option<(&TierDef, &Vec<Number>)> = None;
    let mut first = true;
    let (mut upgrade, mut downgrade, mut matched) = (None::<Span>, None::<Span>, None::<Span>);
    let mut rolled = std::collections::BTreeSet::new();
    let mut declared = 0;
    for stmt in &tiers.stmts {
        match &stmt.node {
            TierStmt::Measure { source, .. } => check_source(source, symbols, checker),
            TierStmt::Tier(tier) => {
                if declared == crate::limits::MOST_TIERS {
                    checker.one_too_many(
                        "tier",
                        &tier.name,
                        crate::limits::MOST_TIERS,
                        "most programs have three to five tiers",
                    );
                }
                declared += 1;
                check_tier(tier, tiers, symbols, first, previous, &earned, checker);
                first = false;
                if let Threshold::Values(values) = &tier.qualify {
                    previous = Some((tier, values));
                }
            }
            TierStmt::Rollover { measure, cap } => {
                let column = rollover_measure(tiers, measure.as_ref(), stmt.span, checker);
                if column.is_some_and(|c| !rolled.insert(c)) {
                    checker.duplicate(stmt.span, "`rollover` of one measure");
                }
                checker.check_positive(cap, "a rollover cap");
                check_rollover(tiers, stmt.span, checker);
            }
            TierStmt::Upgrade(_) => {
                if upgrade.replace(stmt.span).is_some() {
                    checker.duplicate(stmt.span, "`upgrade`");
                }
            }
            TierStmt::Downgrade(policy) => {
                if downgrade.replace(stmt.span).is_some() {
                    checker.duplicate(stmt.span, "`downgrade`");
                }
                if let DowngradePolicy::AtPeriodEnd(options) = policy {
                    check_downgrade(options, checker);
                }
            }
            TierStmt::StatusMatch { tier } => {
                if matched.replace(stmt.span).is_some() {
                    checker.duplicate(stmt.span, "`status match`");
                }
                match symbols.tier_rank(&tier.node) {
                    None => checker.report(unknown_tier(tier, symbols)),
                    Some(0) => checker.report(
                        Diagnostic::error(
                            "status-match",
                            tier.span,
                            format!(
                                "`{}` is the lowest tier: a status match up to it matches nobody to anything",
                                tier.node
                            ),
                        )
                        .with_label("every member holds it already")
                        .with_help("name the highest tier a `set_tier` record may give, like `status match up to gold`"),
                    ),
                    Some(_) => {}
                }
            }
            TierStmt::Lifetime {
                tier,
                amount,
                points,
            } => {
                if symbols.tier_rank(&tier.node).is_none() {
                    checker.report(unknown_tier(tier, symbols));
                }
                checker.check_positive(amount, "a lifetime threshold");
                if !symbols.points.contains_key(points.node.as_str()) {
                    checker.report(unknown_points(points, symbols));
                } else if !earned.contains(points.node.as_str()) {
                    checker.report(unreachable(
                        tier.span,
                        &format!("lifetime `{}`", tier.node),
                        &points.node,
                    ));
                }
            }
        }
    }
    if symbols.tiers.is_empty() {
        checker.report(
            Diagnostic::error(
                "missing-setting",
                keyword_span(tiers.span, "tiers"),
                "the tiers block declares no tier",
            )
            .with_label("no `tier` lines")
            .with_help("add tiers from the lowest up, like `tier green from 0`"),
        );
    }
}

pub fn unknown_tier(tier: &Ident, symbols: &Symbols) -> Diagnostic {
    suggest::unknown(
        &tier.node,
        tier.span,
        format!("unknown tier `{}`", tier.node),
        "tiers",
        symbols.tiers.iter().map(|t| t.node.as_str()),
    )
}

/// What a tier measure, or a counter in a rule's condition, counts: a
/// declared points type, event type, and number or money field.
pub(super) fn check_source(
    source: &Spanned<MeasureSource>,
    symbols: &Symbols,
    checker: &mut Checker,
) {
    match &source.node {
        MeasureSource::PointsEarned(points) | MeasureSource::Balance(points) => {
            if !symbols.points.contains_key(points.node.as_str()) {
                checker.report(unknown_points(points, symbols));
            }
        }
        MeasureSource::Count(event) => {
            if !symbols.events.contains_key(event.node.as_str()) {
                checker.report(unknown_event(event, symbols));
            }
        }
        MeasureSource::FieldSum { event, field } => {
            match event_field(event, field, symbols, checker) {
                None | Some(FieldType::Number | FieldType::Money) => {}
                Some(_) => checker.report(
                    Diagnostic::error(
                        "type-mismatch",
                        field.span,
                        format!("`{}.{}` cannot be summed", event.node, field.node),
                    )
                    .with_label("not a number or money")
                    .with_help("sum a number or money field, or count events with `count of`"),
                ),
            }
        }
    }
}

/// The type of `event.field`, or `None` after reporting an unknown event
/// type or field.
pub(super) fn event_field(
    event: &Ident,
    field: &Ident,
    symbols: &Symbols,
    checker: &mut Checker,
) -> Option<FieldType> {
    let Some(schema) = symbols.events.get(event.node.as_str()) else {
        checker.report(unknown_event(event, symbols));
        return None;
    };
    let found = schema.fields.get(field.node.as_str()).copied();
    if found.is_none() {
        checker.report(suggest::unknown(
            &field.node,
            field.span,
            format!("`{}` has no field `{}`", event.node, field.node),
            "fields",
            schema.fields.keys().copied(),
        ));
    }
    found
}

fn unknown_event(event: &Ident, symbols: &Symbols) -> Diagnostic {
    suggest::unknown(
        &event.node,
        event.span,
        format!("unknown event type `{}`", event.node),
        "event types",
        symbols.events.keys().copied(),
    )
}

fn check_tier(
    tier: &TierDef,
    tiers: &TiersDecl,
    symbols: &Symbols,
    first: bool,
    previous: Option<(&TierDef, &Vec<Number>)>,
    earned: &BTreeSet<&str>,
    checker: &mut Checker,
) {
    let is_zero = |values: &[Number]| values.iter().all(|v| v.node.is_zero());
    match (&tier.qualify, first) {
        (Threshold::Start, true) => {}
        (Threshold::Values(values), true) if is_zero(values) => {}
        (_, true) => checker.report(
            Diagnostic::error(
                "first-tier",
                tier.name.span,
                format!(
                    "the first tier, `{}`, must be where every member starts",
                    tier.name.node
                ),
            )
            .with_label("the lowest tier")
            .with_help(
                "declare tiers from the lowest up; the lowest is `from 0` (or `from start`)",
            ),
        ),
        (Threshold::Start, false) => checker.report(
            Diagnostic::error(
                "first-tier",
                tier.name.span,
                format!(
                    "only the first tier starts `from start`, not `{}`",
                    tier.name.node
                ),
            )
            .with_label("not the lowest tier")
            .with_help("give it a threshold, like `from 500` or `when nights >= 25`"),
        ),
        _ => {}
    }
    let count_values = |values: &[Number], checker: &mut Checker| {
        let expected = tiers.by.len();
        if values.len() != expected {
            let span = values
                .first()
                .zip(values.last())
                .map_or(tier.name.span, |(a, b)| a.span.to(b.span));
            let help = if expected == 0 {
                "name what is counted in the header (`tiers by stars earned over ...`), or use `when` with measures".to_string()
            } else {
                format!("give one value per measure in `tiers by ...`, joined by `or` ({expected} here)")
            };
            checker.report(
                Diagnostic::error(
                    "threshold-count",
                    span,
                    format!(
                        "{} given for {}",
                        plural(values.len(), "value"),
                        plural(expected, "measure")
                    ),
                )
                .with_label("wrong number of values")
                .with_help(help),
            );
            return false;
        }
        true
    };
    for threshold in std::iter::once(&tier.qualify).chain(&tier.keep) {
        match threshold {
            // The first tier's `from 0` stands for every measure.
            Threshold::Values(values) if first && is_zero(values) => {}
            Threshold::Values(values) => {
                count_values(values, checker);
            }
            Threshold::When(condition) => Types {
                symbols,
                scope: Scope::Measures,
                checker,
                items_visible: false,
                item_read: false,
            }
            .condition(condition),
            Threshold::Start => {}
        }
    }
    if let Threshold::Values(values) = &tier.qualify {
        if let Some((prev, prev_values)) = previous.filter(|_| values.len() == tiers.by.len()) {
            for (value, prev_value) in values.iter().zip(prev_values.iter()) {
                if value.node <= prev_value.node {
                    checker.report(
                        Diagnostic::error(
                            "tier-order",
                            value.span,
                            format!(
                                "tier `{}` starts at {}, not above `{}` ({})",
                                tier.name.node, value.node, prev.name.node, prev_value.node
                            ),
                        )
                        .with_label("not higher than the tier before")
                        .with_help("tiers are declared from the lowest up, each threshold higher than the one before"),
                    );
                }
            }
        }
        if let Some(Threshold::Values(keep)) = &tier.keep {
            for (kept, value) in keep.iter().zip(values) {
                if kept.node > value.node {
                    checker.report(
                        Diagnostic::error(
                            "keep-above",
                            kept.span,
                            format!("keeping `{}` needs {}, more than reaching it ({})", tier.name.node, kept.node, value.node),
                        )
                        .with_label("above the qualifying threshold")
                        .with_help("a keep threshold lets members stay with less: make it at most the `from` value"),
                    );
                }
            }
        }
    }
    if !first {
        check_reachable(tier, tiers, symbols, earned, checker);
    }
}

/// A tier above the first whose every measure counts points nobody earns.
fn check_reachable(
    tier: &TierDef,
    tiers: &TiersDecl,
    symbols: &Symbols,
    earned: &BTreeSet<&str>,
    checker: &mut Checker,
) {
    let mut sources: Vec<&MeasureSource> = Vec::new();
    match &tier.qualify {
        Threshold::Values(_) => sources.extend(tiers.by.iter().map(|s| &s.node)),
        Threshold::When(condition) => {
            let mut names = Vec::new();
            names_in(condition, &mut names);
            sources.extend(
                names
                    .iter()
                    .filter_map(|n| symbols.measures.get(n.as_str()))
                    .map(|s| &s.node),
            );
        }
        Threshold::Start => return,
    }
    let points_only: Option<Vec<&str>> = sources
        .iter()
        .map(|s| match s {
            MeasureSource::PointsEarned(p) | MeasureSource::Balance(p) => Some(p.node.as_str()),
            _ => None,
        })
        .collect();
    if let Some(points) = points_only {
        let known = points.iter().all(|p| symbols.points.contains_key(p));
        if known && !points.is_empty() && points.iter().all(|p| !earned.contains(p)) {
            let names = or_list(points.iter().map(|p| format!("`{p}`")));
            checker.report(unreachable(
                tier.name.span,
                &format!("tier `{}`", tier.name.node),
                &names,
            ));
        }
    }
}

fn unreachable(span: Span, what: &str, points: &str) -> Diagnostic {
    let points = points.trim_matches('`');
    Diagnostic::error(
        "unreachable-tier",
        span,
        format!("no member can reach {what}: no rule earns `{points}`"),
    )
    .with_label("unreachable")
    .with_help(format!(
        "add a rule that earns `{points}`, or measure the tier by something members do"
    ))
}

/// The bare names an expression mentions.
fn names_in(expr: &Expr, out: &mut Vec<String>) {
    match &expr.node {
        ExprKind::Name(n) => out.push(n.clone()),
        ExprKind::Paren(e) | ExprKind::Unary { expr: e, .. } => names_in(e, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            names_in(lhs, out);
            names_in(rhs, out);
        }
        ExprKind::InList { expr, items } => {
            names_in(expr, out);
            items.iter().for_each(|i| names_in(i, out));
        }
        ExprKind::InRange { expr, low, high } => {
            for e in [expr, low, high] {
                names_in(e, out);
            }
        }
        _ => {}
    }
}

fn check_downgrade(options: &[Spanned<DowngradeOption>], checker: &mut Checker) {
    let (mut step, mut grace) = (None::<Span>, None::<Span>);
    for option in options {
        match &option.node {
            DowngradeOption::Step(n) => {
                if step.replace(option.span).is_some() {
                    checker.duplicate(option.span, "`at most`");
                }
                checker.check_whole_positive(n, "a downgrade step");
            }
            DowngradeOption::Grace(d) => {
                if grace.replace(option.span).is_some() {
                    checker.duplicate(option.span, "a grace period");
                }
                checker.check_whole_positive(&d.count, "a grace period");
            }
        }
    }
}

/// The header measure a `rollover` carries: the one it names, or the
/// header's only one. A name that is no header measure, or no name with
/// several, is an error (a flight count must not carry because miles do).
fn rollover_measure(
    tiers: &TiersDecl,
    measure: Option<&Ident>,
    span: Span,
    checker: &mut Checker,
) -> Option<String> {
    let columns: Vec<String> = tiers.by.iter().map(|s| s.node.column()).collect();
    match (measure, columns.as_slice()) {
        (Some(name), _) if columns.contains(&name.node) => Some(name.node.clone()),
        (Some(name), _) => {
            checker.report(suggest::unknown(
                &name.node,
                name.span,
                format!("`{}` is not a `by` measure of the tiers", name.node),
                "`by` measures",
                columns.iter().map(String::as_str),
            ));
            None
        }
        (None, [only]) => Some(only.clone()),
        (None, [first, _, ..]) => {
            checker.report(
                Diagnostic::error(
                    "rollover",
                    span,
                    format!(
                        "the tiers have {} `by` measures: say which one carries over",
                        columns.len()
                    ),
                )
                .with_label("which measure?")
                .with_help(format!(
                    "name it, one line per measure that carries: `rollover {first} up to N`"
                )),
            );
            None
        }
        (None, []) => None,
    }
}

/// A rollover carries what a header measure holds above the threshold of
/// the tier reached: it needs those measures and thresholds, and a window
/// that starts afresh at each period end.
fn check_rollover(tiers: &TiersDecl, span: Span, checker: &mut Checker) {
    let why =
        if matches!(tiers.window.node, Window::Rolling(_)) {
            Some("a rolling window never starts afresh, so there is no next period to carry into")
        } else if tiers.by.is_empty() {
            Some("the tiers have no `by` measures whose surplus could carry over")
        } else if tiers.stmts.iter().any(
            |s| matches!(&s.node, TierStmt::Tier(t) if matches!(t.qualify, Threshold::When(_))),
        ) {
            Some("a tier defined by `when` has no threshold to measure a surplus above")
        } else {
            None
        };
    if let Some(why) = why {
        checker.report(
            Diagnostic::error(
                "rollover",
                span,
                format!("`rollover` cannot apply here: {why}"),
            )
            .with_label("no surplus to carry")
            .with_help("rollover suits `tiers by M over calendar year` with `from N` thresholds"),
        );
    }
}
