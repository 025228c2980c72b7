//! Checks of earning rules: the event they fire on, their awards and rates,
//! references to earlier rules, caps, limits, budgets and campaign windows.

use super::declarations::{BuiltinEvent, Symbols};
use super::expressions::{knows_birthday, missing_birthday, unknown_points, Scope, Ty, Types};
use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

pub fn check_rules(file: &File, symbols: &Symbols, checker: &mut Checker) {
    let mut groups: BTreeMap<&str, Vec<(Span, bool)>> = BTreeMap::new();
    for item in &file.items {
        if let Item::Rule(rule) = item {
            check_rule(rule, symbols, checker, &mut groups);
        }
    }
    for (name, members) in groups {
        if let Some((_, first)) = members.first() {
            if let Some((other, by_order)) = members.iter().find(|(_, b)| b != first) {
                let (one, the_other) = if *by_order {
                    ("by order", "by the largest award")
                } else {
                    ("by the largest award", "by order")
                };
                checker.report(
                    Diagnostic::error(
                        "group-choice",
                        *other,
                        format!(
                            "the exclusive group `{name}` chooses {one} here but {the_other} in an earlier rule"
                        ),
                    )
                    .with_label("another way to choose")
                    .with_help(format!(
                        "write `exclusive group {name} by order` in every rule of the group, or in none"
                    )),
                );
            }
        }
        let spans: Vec<Span> = members.iter().map(|(span, _)| *span).collect();
        if let [only] = spans.as_slice() {
            checker.report(
                Diagnostic::warning(
                    "single-rule-group",
                    *only,
                    format!("only this rule is in the exclusive group `{name}`"),
                )
                .with_label("alone in its group")
                .with_help("a group picks the best of several rules: add others to it, or remove this line"),
            );
        }
    }
}

fn check_rule<'a>(
    rule: &'a RuleDecl,
    symbols: &Symbols,
    checker: &mut Checker,
    groups: &mut BTreeMap<&'a str, Vec<(Span, bool)>>,
) {
    let index = symbols.rule_index.get(rule.name.node.as_str()).copied();
    let earned = symbols.earned_by(rule);
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    let mut once = |checker: &mut Checker, key: &'static str, span: Span| {
        if seen.insert(key, span).is_some() {
            checker.duplicate(span, &format!("`{key}`"));
        }
    };

    let on = rule.stmts.iter().find_map(|s| match &s.node {
        RuleStmt::On { event, condition } => Some((event, condition)),
        _ => None,
    });
    let event = on.and_then(|(event, _)| resolve_event(event, symbols, checker));
    let on_builtin = |b| event.is_some_and(|(_, s)| s.builtin == Some(b));
    if let Some((on_event, _)) = on.filter(|_| on_builtin(BuiltinEvent::Birthday)) {
        if !knows_birthday(symbols) {
            checker.report(missing_birthday(
                on_event.span,
                "a rule `on birthday`",
                "no birthday to celebrate",
            ));
        }
    }
    let on_tier_move = event.is_some_and(|(_, s)| s.builtin.is_some_and(|b| b.from_tier_move()));
    if let Some((on_event, _)) = on.filter(|_| on_tier_move) {
        if symbols.tiers.len() < 2 {
            never_fires(
                checker,
                on_event.span,
                "no member can move between tiers without two tiers",
                &format!("no {} to fire on", on_event.node),
            );
        }
    }
    if let Some((on_event, _)) = on.filter(|_| on_builtin(BuiltinEvent::TierPeriodStart)) {
        if !matches!(symbols.window, Some(w) if !matches!(w, Window::Rolling(_))) {
            never_fires(
                checker,
                on_event.span,
                "tier periods need a `tiers` block over a calendar, membership or qualification window",
                "no tier period to start",
            );
        }
    }
    let scope = || Scope::Event(event);
    // The points types its `earn` lines earn on each basket item.
    let mut item_points: BTreeSet<&str> = BTreeSet::new();

    for stmt in &rule.stmts {
        match &stmt.node {
            RuleStmt::On { condition, .. } => {
                once(checker, "on", stmt.span);
                if let Some(condition) = condition {
                    types(symbols, scope(), checker).condition(condition);
                    if matches!(condition.node, ExprKind::Bool(false)) {
                        never_fires(
                            checker,
                            condition.span,
                            "its condition is always false",
                            "never true",
                        );
                    }
                }
            }
            RuleStmt::Earn(earn) => {
                let item_line = check_award(&earn.award, rule, index, symbols, scope(), checker);
                item_points.extend(item_line);
                if let Some(multiplier) = &earn.multiplier {
                    check_multiplier(multiplier, symbols, scope(), checker);
                }
            }
            RuleStmt::Cap { amount, points, .. } => {
                checker.check_positive(amount, "a cap");
                check_earned_points(points, &earned, rule, "cap", symbols, checker);
            }
            RuleStmt::Limit { count, .. } | RuleStmt::LimitPerReferrer { count } => {
                if count.node.is_zero() {
                    never_fires(
                        checker,
                        count.span,
                        "`limit 0` lets it fire no time at all",
                        "no firing allowed",
                    );
                } else {
                    checker.check_whole_positive(count, "a limit");
                }
            }
            RuleStmt::Budget { amount, points, .. } => {
                checker.check_positive(amount, "a budget");
                check_earned_points(points, &earned, rule, "budget", symbols, checker);
            }
            RuleStmt::Round(_) => once(checker, "round", stmt.span),
            RuleStmt::Group {
                name: group,
                by_order,
            } => {
                once(checker, "exclusive group", stmt.span);
                if rule.preview {
                    checker.report(
                        Diagnostic::error(
                            "preview-rule",
                            stmt.span,
                            format!("preview rule `{}` cannot compete in an exclusive group", rule.name.node),
                        )
                        .with_label("would decide which real rule pays")
                        .with_help("a preview rule must change nothing: remove this line while it is a preview"),
                    );
                } else {
                    groups
                        .entry(&group.node)
                        .or_default()
                        .push((group.span, *by_order));
                }
            }
            RuleStmt::During { from, to } => {
                once(checker, "during", stmt.span);
                if to.node < from.node {
                    checker.report(
                        Diagnostic::error(
                            "empty-range",
                            from.span.to(to.span),
                            format!(
                                "the window ends ({}) before it starts ({})",
                                to.node, from.node
                            ),
                        )
                        .with_label("nothing is in it")
                        .with_help("write the start date first: `during FROM .. TO`"),
                    );
                } else if let Some(effective) = symbols.effective.filter(|e| to.node < *e) {
                    never_fires(
                        checker,
                        to.span,
                        &format!("its window ends before the program starts on {effective}"),
                        "over before the start",
                    );
                }
            }
            RuleStmt::Stop => {
                once(checker, "stop", stmt.span);
                if rule.preview {
                    checker.report(
                        Diagnostic::error(
                            "preview-rule",
                            stmt.span,
                            format!(
                                "preview rule `{}` cannot stop the rules after it",
                                rule.name.node
                            ),
                        )
                        .with_label("would change what is awarded")
                        .with_help("a preview rule must change nothing: remove this line while it is a preview"),
                    );
                }
            }
            RuleStmt::Expire(expiry) => {
                once(checker, "expire", stmt.span);
                check_rule_expiry(rule, stmt.span, expiry, &earned, symbols, checker);
            }
            RuleStmt::Multiply { points, factor } => {
                check_multiply(rule, stmt.span, points, factor, symbols, checker);
            }
            RuleStmt::MinSpend(money) => {
                once(checker, "min spend", stmt.span);
                checker.check_amount(money, symbols);
                if let Some((event_name, _)) = event.filter(|(name, _)| *name != "purchase") {
                    checker.report(
                        Diagnostic::error(
                            "wrong-event",
                            stmt.span,
                            format!(
                                "`min spend` needs a purchase, but this rule is on `{event_name}`"
                            ),
                        )
                        .with_label("only for purchases")
                        .with_help("use a `where` condition on this event's fields instead"),
                    );
                }
            }
        }
    }

    check_referral(rule, checker);
    check_item_caps(rule, &item_points, symbols, checker);

    let missing = |what: &str, example: &str| {
        Diagnostic::error(
            "missing-setting",
            rule.name.span,
            format!("rule `{}` has no `{what}`", rule.name.node),
        )
        .with_label(format!("no `{what}`"))
        .with_help(format!("add a line like `{example}`"))
    };
    if on.is_none() {
        checker.report(missing("on", "on purchase"));
    }
    if !rule
        .stmts
        .iter()
        .any(|s| matches!(s.node, RuleStmt::Earn(_) | RuleStmt::Multiply { .. }))
    {
        let points = symbols.points.keys().next().copied().unwrap_or("points");
        let currency = symbols.currency.unwrap_or("USD");
        let example = format!("earn 1 {points} per 1 {currency} of amount");
        checker.report(missing("earn", &example));
    }
}

/// Whether a rule's awards go to the member's referrer (`earn ... to
/// referrer`).
fn pays_referrer(rule: &RuleDecl) -> bool {
    rule.stmts
        .iter()
        .any(|s| matches!(&s.node, RuleStmt::Earn(earn) if earn.to_referrer))
}

/// A rule that pays the referrer pays no one else, competes in no group,
/// has no cap per member (whose?) and is no preview.
fn check_referral(rule: &RuleDecl, checker: &mut Checker) {
    if !pays_referrer(rule) {
        return;
    }
    let name = &rule.name.node;
    let error = |span: Span, message: String, label: &str, help: &str| {
        Diagnostic::error("referral", span, message)
            .with_label(label.to_string())
            .with_help(help.to_string())
    };
    for stmt in &rule.stmts {
        let found = match &stmt.node {
            RuleStmt::Earn(earn) if !earn.to_referrer => Some(error(
                stmt.span,
                format!("rule `{name}` pays the referrer in one `earn` line but not in this one"),
                "paid to the member",
                "a rule pays one member: write `to referrer` on every `earn` line, or move this line to a rule of its own",
            )),
            RuleStmt::Group { .. } => Some(error(
                stmt.span,
                format!("rule `{name}` pays the referrer and cannot compete in an exclusive group"),
                "a group chooses among the member's awards",
                "remove this line, or the `to referrer`",
            )),
            RuleStmt::Cap {
                scope: CapScope::PerMember(_),
                ..
            } => Some(error(
                stmt.span,
                format!("rule `{name}` pays the referrer: a cap per member cannot say whose awards it counts"),
                "per member",
                "cap it per event, or limit it with `limit N per referrer`",
            )),
            _ => None,
        };
        if let Some(diagnostic) = found {
            checker.report(diagnostic);
        }
    }
    if rule.preview {
        checker.report(error(
            rule.name.span,
            format!("preview rule `{name}` cannot pay the referrer"),
            "a preview",
            "a preview rule shows what the member would earn: remove `to referrer` while it is a preview",
        ));
    }
}

/// A rule's own `expire`: any form but inactivity (which takes a type's
/// every point together), on a rule that earns points that can expire.
fn check_rule_expiry(
    rule: &RuleDecl,
    span: Span,
    expiry: &Expiry,
    earned: &BTreeSet<&str>,
    symbols: &Symbols,
    checker: &mut Checker,
) {
    checker.check_expiry(expiry);
    if matches!(expiry, Expiry::Inactivity(_)) {
        checker.report(
            Diagnostic::error(
                "rule-expiry",
                span,
                format!("rule `{}` cannot expire its points by inactivity", rule.name.node),
            )
            .with_label("inactivity is the member's, not the award's")
            .with_help("inactivity expires every point of a type together: write it in the `points` block, or give the rule a term, like `expire 30 days after earn`"),
        );
    }
    if !earned.is_empty() && earned.iter().all(|p| symbols.is_qualifying(p)) {
        checker.report(
            Diagnostic::error(
                "qualifying-expiry",
                span,
                format!(
                    "rule `{}` earns only qualifying points, which never expire",
                    rule.name.node
                ),
            )
            .with_label("has no effect on qualifying points")
            .with_help("remove this line: qualifying points only count toward tiers"),
        );
    }
}

/// `multiply P by F`: a declared points type, once per rule, a factor above
/// one, and no `earn` line beside it (a rule either earns or multiplies
/// what the rules before it earned).
fn check_multiply(
    rule: &RuleDecl,
    span: Span,
    points: &Ident,
    factor: &Number,
    symbols: &Symbols,
    checker: &mut Checker,
) {
    if !symbols.points.contains_key(points.node.as_str()) {
        checker.report(unknown_points(points, symbols));
    }
    let first = rule
        .stmts
        .iter()
        .find(|s| matches!(&s.node, RuleStmt::Multiply { points: p, .. } if p.node == points.node));
    // (Spans compare equal whatever their place: compare where they start.)
    if first.is_some_and(|s| s.span.start != span.start) {
        checker.duplicate(span, &format!("`multiply {}`", points.node));
    }
    let event_of = |r: &RuleDecl| {
        r.stmts.iter().find_map(|s| match &s.node {
            RuleStmt::On { event, .. } => Some(event.node.clone()),
            _ => None,
        })
    };
    let own = symbols.rule_index.get(rule.name.node.as_str()).copied();
    let multiplied = symbols.rules.iter().take(own.unwrap_or(0)).any(|r| {
        !r.preview
            && event_of(r) == event_of(rule)
            && !r
                .stmts
                .iter()
                .any(|s| matches!(s.node, RuleStmt::Multiply { .. }))
            && symbols.earned_by(r).contains(points.node.as_str())
    });
    let earns = rule
        .stmts
        .iter()
        .find(|s| matches!(s.node, RuleStmt::Earn(_)));
    if !multiplied && earns.is_none() && symbols.points.contains_key(points.node.as_str()) {
        never_fires(
            checker,
            points.span,
            &format!(
                "no rule written before it on its event earns `{}`, so it multiplies nothing",
                points.node
            ),
            "nothing earned before it",
        );
    }
    if factor.node <= Decimal::ONE {
        checker.report(
            Diagnostic::error(
                "invalid-value",
                factor.span,
                format!("multiplying by {} adds nothing", factor.node),
            )
            .with_label("not above 1")
            .with_help("`multiply stars by 2` doubles what the rules before it earned: the factor is above 1"),
        );
    }
    if let Some(earn) = earns {
        checker.report(
            Diagnostic::error(
                "multiply",
                earn.span,
                format!("rule `{}` both earns and multiplies", rule.name.node),
            )
            .with_label("an `earn` line in a rule that multiplies")
            .with_help("a rule either earns or multiplies what the rules written before it earned: move this line to a rule of its own"),
        );
    }
}

fn types<'s, 'a, 'c>(
    symbols: &'s Symbols<'a>,
    scope: Scope<'s, 'a>,
    checker: &'c mut Checker,
) -> Types<'s, 'a, 'c> {
    Types {
        symbols,
        scope,
        checker,
        items_visible: false,
        item_read: false,
    }
}

fn never_fires(checker: &mut Checker, span: Span, why: &str, label: &str) {
    checker.report(
        Diagnostic::warning(
            "never-fires",
            span,
            format!("this rule can never fire: {why}"),
        )
        .with_label(label),
    );
}

/// The event a rule is `on`, if it is known and may fire rules.
fn resolve_event<'s, 'a>(
    event: &Ident,
    symbols: &'s Symbols<'a>,
    checker: &mut Checker,
) -> Option<(&'s str, &'s super::declarations::EventSchema<'a>)> {
    let Some((name, schema)) = symbols.events.get_key_value(event.node.as_str()) else {
        checker.report(suggest::unknown(
            &event.node,
            event.span,
            format!("unknown event type `{}`", event.node),
            "event types",
            symbols
                .events
                .iter()
                .filter(|(_, s)| s.builtin.is_none_or(|b| b.fires_rules()))
                .map(|(n, _)| *n),
        ));
        return None;
    };
    if let Some(builtin) = schema.builtin.filter(|b| !b.fires_rules()) {
        checker.report(
            Diagnostic::error(
                "builtin-event",
                event.span,
                format!("rules cannot fire on `{}` events", builtin.name()),
            )
            .with_label("has a fixed effect")
            .with_help(match builtin.name() {
                "return" => "a return reverses what its purchase earned, by itself",
                "redeem" => {
                    "a redeem spends points; rules earn them on purchases and declared events"
                }
                "use_perk" => {
                    "`use_perk` uses up a perk; rules earn points on purchases and declared events"
                }
                "profile" => {
                    "a profile changes member attributes; rules earn points on purchases and declared events"
                }
                "set_tier" => {
                    "a set_tier holds a member at a tier; rules earn points on purchases and declared events"
                }
                _ => "its effect is built in; rules earn points on purchases and declared events",
            }),
        );
        return None;
    }
    Some((name, schema))
}

/// Checks one `earn` line; the points type it earns if it earns on each
/// basket item.
fn check_award<'w>(
    award: &'w Award,
    rule: &RuleDecl,
    index: Option<usize>,
    symbols: &Symbols,
    scope: Scope,
    checker: &mut Checker,
) -> Option<&'w str> {
    match award {
        Award::PercentOf {
            percent,
            rule: other,
            points,
        } => {
            checker.check_positive(percent, "a percentage");
            let Some(other_index) = symbols.rule_index.get(other.node.as_str()).copied() else {
                checker.report(suggest::unknown(
                    &other.node,
                    other.span,
                    format!("unknown rule `{}`", other.node),
                    "rules",
                    symbols.rules.iter().map(|r| r.name.node.as_str()),
                ));
                return None;
            };
            if index.is_some_and(|own| other_index >= own) {
                let which = if other.node == rule.name.node {
                    "itself".to_string()
                } else {
                    format!("`{}`, which comes later", other.node)
                };
                checker.report(
                    Diagnostic::error(
                        "later-rule",
                        other.span,
                        format!("rule `{}` takes a share of {which}", rule.name.node),
                    )
                    .with_label("not an earlier rule")
                    .with_help("rules run in the order they are written: move this rule below the one it refers to"),
                );
                return None;
            }
            let other_rule = symbols.rules.get(other_index)?;
            // A share of what this member earned, and really: not of
            // another member's award, nor of a preview's.
            let refused = if pays_referrer(other_rule) {
                Some((
                    "referral",
                    format!("rule `{}` takes a share of `{}`, which pays the referrer", rule.name.node, other.node),
                    "another member's award",
                    "a share is of what this member earned on the event: take it of a rule that pays the member",
                ))
            } else if other_rule.preview && !rule.preview {
                Some((
                    "preview-rule",
                    format!(
                        "rule `{}` takes a share of preview rule `{}`, which awards nothing",
                        rule.name.node, other.node
                    ),
                    "a preview rule",
                    "make this rule a preview too, or switch the other one on (remove `preview`)",
                ))
            } else {
                None
            };
            if let Some((code, message, label, help)) = refused {
                checker.report(
                    Diagnostic::error(code, other.span, message)
                        .with_label(label)
                        .with_help(help),
                );
                return None;
            }
            let other_earns = symbols.earned_by(other_rule);
            match points {
                Some(points) if !symbols.points.contains_key(points.node.as_str()) => {
                    checker.report(unknown_points(points, symbols));
                }
                Some(points) if !other_earns.contains(points.node.as_str()) => {
                    checker.report(
                        Diagnostic::error(
                            "percent-points",
                            points.span,
                            format!("rule `{}` does not earn `{}`", other.node, points.node),
                        )
                        .with_label("not earned by that rule")
                        .with_help(earns_help(&other.node, &other_earns)),
                    );
                }
                None if other_earns.len() > 1 => checker.report(
                    Diagnostic::error(
                        "percent-points",
                        other.span,
                        format!(
                            "rule `{}` earns several points types: say which",
                            other.node
                        ),
                    )
                    .with_label("which points?")
                    .with_help(format!(
                        "name one after the rule, like `earn {}% of {} {}`",
                        percent.node,
                        other.node,
                        other_earns.iter().next().copied().unwrap_or("points")
                    )),
                ),
                _ => {}
            }
        }
        Award::Amount {
            amount,
            points,
            per,
            filter,
        } => {
            if !symbols.points.contains_key(points.node.as_str()) {
                checker.report(unknown_points(points, symbols));
            }
            let on_purchase = matches!(scope, Scope::Event(Some(("purchase", _))));
            let mut types = types(symbols, scope, checker);
            types.items_visible = on_purchase;
            let amount_ty = types.infer(amount);
            if !matches!(amount_ty, Ty::Number | Ty::Unknown) {
                types.checker.report(
                    Diagnostic::error(
                        "type-mismatch",
                        amount.span,
                        format!(
                            "an award is a number of points, but this is {}",
                            amount_ty.describe()
                        ),
                    )
                    .with_label("not a number")
                    .with_help(format!(
                        "to earn in proportion to an amount, write `earn 2 {} per 1 {} of amount`",
                        points.node,
                        symbols.currency.unwrap_or("USD")
                    )),
                );
            }
            if let Some(per) = per {
                check_per(per, symbols, &mut types);
            }
            if let Some(filter) = filter {
                types.condition(filter);
            }
            let per_items = per.as_ref().filter(|p| p.items);
            let item_line = types.item_read || filter.is_some() || per_items.is_some();
            if item_line && !on_purchase {
                // `item.x` read here is reported already.
                let span = filter
                    .as_ref()
                    .map(|f| f.span)
                    .or(per_items.map(|p| p.span));
                if let Some(span) = span {
                    types.checker.report(not_on_items(span));
                }
            }
            return item_line.then_some(points.node.as_str());
        }
    }
    None
}

/// `cap N P per item` cuts what one basket item earns of P: the rule must
/// earn P per item.
fn check_item_caps(
    rule: &RuleDecl,
    item_points: &BTreeSet<&str>,
    symbols: &Symbols,
    checker: &mut Checker,
) {
    for stmt in &rule.stmts {
        if let RuleStmt::Cap {
            points,
            scope: CapScope::PerItem,
            ..
        } = &stmt.node
        {
            if !item_points.contains(points.node.as_str()) {
                checker.report(
                    Diagnostic::error(
                        "item",
                        stmt.span,
                        format!(
                            "rule `{}` earns no `{}` per basket item, so a cap per item cuts nothing",
                            rule.name.node, points.node
                        ),
                    )
                    .with_label("no item line to cap")
                    .with_help(format!(
                        "earn per item first, like `earn 2 {} per 1 {} of item.amount`, or cap `per event`",
                        points.node,
                        symbols.currency.unwrap_or("USD")
                    )),
                );
            }
        }
    }
}

/// A per-item `earn` line (or cap) on a rule whose event has no items.
fn not_on_items(span: Span) -> Diagnostic {
    Diagnostic::error(
        "item",
        span,
        "only a purchase has basket items to earn on",
    )
    .with_label("no items on this event")
    .with_help("earn per item in a rule `on purchase`, or drop `where`/`per item` from the `earn` line")
}

fn earns_help(rule: &str, earns: &BTreeSet<&str>) -> String {
    if earns.is_empty() {
        format!("`{rule}` earns no points")
    } else {
        format!(
            "`{rule}` earns {}",
            crate::diagnostic::or_list(earns.iter().map(|p| format!("`{p}`")))
        )
    }
}

/// `per [full] N [CUR] of BASE`: a rate's unit and what it is applied to.
fn check_per(per: &PerClause, symbols: &Symbols, types: &mut Types) {
    if per.unit.node <= Decimal::ZERO {
        types.checker.report(
            Diagnostic::error("zero-rate", per.unit.span, "a rate cannot be per zero")
                .with_label("divides by zero")
                .with_help("write the amount that earns the points, like `per 1 USD`"),
        );
    }
    if let (Some(currency), Some(program)) = (&per.currency, symbols.currency) {
        if currency.node != program {
            types.checker.report(
                Diagnostic::error(
                    "currency-mismatch",
                    currency.span,
                    format!(
                        "`{}` is not this program's currency, `{program}`",
                        currency.node
                    ),
                )
                .with_label("another currency")
                .with_help(format!("write `per {} {program}`", per.unit.node)),
            );
        }
    }
    let base_ty = types.infer(&per.base);
    let currency = symbols.currency.unwrap_or("USD");
    match (base_ty, &per.currency) {
        (Ty::Unknown, _) | (Ty::Money, Some(_)) | (Ty::Number, None) => {}
        (Ty::Money, None) => types.checker.report(
            Diagnostic::error(
                "currency-mismatch",
                per.base.span,
                "the rate is per a plain number, but this is money",
            )
            .with_label("money")
            .with_help(format!(
                "say the currency: `per {} {currency} of ...`",
                per.unit.node
            )),
        ),
        (Ty::Number, Some(c)) => types.checker.report(
            Diagnostic::error(
                "currency-mismatch",
                per.base.span,
                format!("the rate is per {}, but this is a plain number", c.node),
            )
            .with_label("not money")
            .with_help(format!("drop the currency: `per {} of ...`", per.unit.node)),
        ),
        (ty, _) => types.checker.report(
            Diagnostic::error(
                "type-mismatch",
                per.base.span,
                format!(
                    "points are earned per a number or money, but this is {}",
                    ty.describe()
                ),
            )
            .with_label("cannot be counted")
            .with_help("earn per a money field (`of amount`) or a number field (`of nights`)"),
        ),
    }
}

fn check_multiplier(
    multiplier: &Multiplier,
    symbols: &Symbols,
    scope: Scope,
    checker: &mut Checker,
) {
    let key_expr = Spanned::new(
        ExprKind::Name(multiplier.key.node.clone()),
        multiplier.key.span,
    );
    let mut types = types(symbols, scope, checker);
    let by_tier = multiplier.key.node == "tier";
    let key_ty = if by_tier {
        Ty::Tier
    } else {
        types.infer(&key_expr)
    };
    let mut seen = BTreeSet::new();
    for entry in &multiplier.entries {
        let key = &entry.key;
        let key_text = match &key.node {
            TableKey::Text(t) => format!("\"{t}\""),
            TableKey::Name(n) => n.clone(),
            TableKey::Number(n) => n.normalize().to_string(),
            TableKey::Else => "else".to_string(),
        };
        if !seen.insert(key_text.clone()) {
            types.checker.report(
                Diagnostic::error(
                    "duplicate-key",
                    key.span,
                    format!("`{key_text}` is in the table twice"),
                )
                .with_label("again")
                .with_help("give each value one factor"),
            );
        }
        let fits = match (&key.node, key_ty) {
            (TableKey::Else, _) | (_, Ty::Unknown) => true,
            (TableKey::Text(_), Ty::Text) | (TableKey::Number(_), Ty::Number) => true,
            (TableKey::Name(name), Ty::Tier) => {
                if symbols.tier_rank(name).is_none() {
                    types.checker.report(suggest::unknown(
                        name,
                        key.span,
                        format!("unknown tier `{name}`"),
                        "tiers",
                        symbols.tiers.iter().map(|t| t.node.as_str()),
                    ));
                }
                true
            }
            _ => false,
        };
        if !fits {
            types.checker.report(
                Diagnostic::error(
                    "type-mismatch",
                    key.span,
                    format!(
                        "`{}` is {}, but this key is not",
                        multiplier.key.node,
                        key_ty.describe()
                    ),
                )
                .with_label("wrong kind of key")
                .with_help(match key_ty {
                    Ty::Text => "text keys are in double quotes, like `\"F\": 3`",
                    Ty::Tier => "keys are tier names, like `gold: 1.5`",
                    _ => "keys are numbers, like `2: 1.5`",
                }),
            );
        }
    }
    if !matches!(key_ty, Ty::Text | Ty::Number | Ty::Tier | Ty::Unknown) {
        types.checker.report(
            Diagnostic::error(
                "type-mismatch",
                multiplier.key.span,
                format!(
                    "a table looks up text, numbers or tiers, but `{}` is {}",
                    multiplier.key.node,
                    key_ty.describe()
                ),
            )
            .with_label("cannot look up")
            .with_help("multiply by a text field, like `times fare_class { \"F\": 3, else: 1 }`"),
        );
    }
}

/// `cap`/`budget` in a points type the rule awards.
fn check_earned_points(
    points: &Ident,
    earned: &BTreeSet<&str>,
    rule: &RuleDecl,
    what: &str,
    symbols: &Symbols,
    checker: &mut Checker,
) {
    let refers_to_unknown = awards_unknown(rule, symbols, symbols.rules.len());
    if !symbols.points.contains_key(points.node.as_str()) {
        checker.report(unknown_points(points, symbols));
    } else if !earned.contains(points.node.as_str()) && !refers_to_unknown {
        // (An award of an unknown points type was reported already; what it
        // earns is unknown, so the cap may well be right.)
        checker.report(
            Diagnostic::error(
                "cap-points",
                points.span,
                format!(
                    "rule `{}` does not earn `{}`, so a {what} on it changes nothing",
                    rule.name.node, points.node
                ),
            )
            .with_label("not earned by this rule")
            .with_help(earns_help(&rule.name.node, earned)),
        );
    }
}

/// Whether a rule awards a points type that is not declared, directly or
/// through `N% of` an earlier rule: what it earns is then unknown.
fn awards_unknown(rule: &RuleDecl, symbols: &Symbols, depth: usize) -> bool {
    rule.stmts.iter().any(|s| match &s.node {
        RuleStmt::Earn(Earn {
            award: Award::Amount { points, .. },
            ..
        }) => !symbols.points.contains_key(points.node.as_str()),
        RuleStmt::Earn(Earn {
            award: Award::PercentOf { rule: other, .. },
            ..
        }) => match symbols
            .rule_index
            .get(other.node.as_str())
            .and_then(|i| symbols.rules.get(*i))
        {
            None => true,
            Some(other) => {
                depth > 0
                    && other.name.node != rule.name.node
                    && awards_unknown(other, symbols, depth - 1)
            }
        },
        _ => false,
    })
}
