//! Checks of the declarations around the rules: the program header, points
//! types, perks and rewards, and names declared but never used.

use super::declarations::{BuiltinEvent, Symbols};
use super::expressions::unknown_points;
use super::tiers::{event_field, unknown_tier};
use super::{suggest, Checker};
use crate::currency::Currency;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// How many decimal places a points type may have.
const MAX_PRECISION: u32 = 8;

pub fn check_program(file: &File, checker: &mut Checker) {
    let Some(program) = file.items.iter().find_map(|item| match item {
        Item::Program(p) => Some(p),
        _ => None,
    }) else {
        let span = file.items.first().map_or(Span::default(), |i| {
            Span::new(i.span().start, i.span().start)
        });
        checker.report(
            Diagnostic::error("missing-program", span, "this file has no `program` block")
                .with_label("expected before this")
                .with_help(
                    "start with `program \"Name\" { currency USD  timezone \"America/New_York\" }`",
                ),
        );
        return;
    };
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for setting in &program.settings {
        let key = match &setting.node {
            ProgramSetting::Currency(_) => "currency",
            ProgramSetting::Timezone(_) => "timezone",
            ProgramSetting::Effective(_) => "effective",
            ProgramSetting::Overspent(_) => "on overspent return",
            ProgramSetting::AcceptLate(_) => "accept late events",
            ProgramSetting::AcceptReturns(_) => "accept returns",
            ProgramSetting::DuplicateWindow(_) => "reject duplicate ids",
            ProgramSetting::Survey { .. } => "survey",
        };
        if seen.insert(key, setting.span).is_some() {
            checker.duplicate(setting.span, &format!("`{key}`"));
        }
        match &setting.node {
            ProgramSetting::Currency(code) => check_currency_code(code, checker),
            ProgramSetting::Timezone(zone) => check_timezone(zone, checker),
            // `up to 0 days` rejects every late event.
            ProgramSetting::AcceptLate(d) => {
                checker.check_whole(&d.count, "a lateness", true);
            }
            ProgramSetting::AcceptReturns(d) => {
                checker.check_whole_positive(&d.count, "a return window");
            }
            // `within 0 days`: only copies at the same instant.
            ProgramSetting::DuplicateWindow(d) => {
                checker.check_whole(&d.count, "a duplicate window", true);
            }
            _ => {}
        }
    }
    for (key, example) in [
        ("currency", "currency USD"),
        ("timezone", "timezone \"America/New_York\""),
    ] {
        if !seen.contains_key(key) {
            checker.report(
                Diagnostic::error(
                    "missing-setting",
                    program.name.span,
                    format!("the program has no `{key}`"),
                )
                .with_label(format!("no `{key}`"))
                .with_help(format!("add `{example}` to the program block")),
            );
        }
    }
}

fn check_currency_code(code: &Ident, checker: &mut Checker) {
    if Currency::of(&code.node).is_some() {
        return;
    }
    let diagnostic = Diagnostic::error(
        "unknown-currency",
        code.span,
        format!("`{}` is not an ISO 4217 currency", code.node),
    )
    .with_label("unknown currency");
    checker.report(match suggest::closest(&code.node, Currency::codes()) {
        Some(close) => diagnostic.with_help(format!("did you mean `{close}`?")),
        None => diagnostic.with_help("use a three-letter ISO 4217 code, like `EUR` or `JPY`"),
    });
}

fn check_timezone(zone: &Spanned<String>, checker: &mut Checker) {
    if chrono_tz::Tz::from_str(&zone.node).is_ok() {
        return;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let close = suggest::closest(&zone.node, names.clone()).or_else(|| {
        // "New York" → "America/New_York": match on the city part alone.
        let city = zone.node.replace(' ', "_");
        names.clone().find(|n| {
            n.rsplit('/')
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case(&city))
        })
    });
    let diagnostic = Diagnostic::error(
        "invalid-timezone",
        zone.span,
        format!("`{}` is not a time zone", zone.node),
    )
    .with_label("unknown time zone");
    checker.report(match close {
        Some(name) => diagnostic.with_help(format!("did you mean `{name}`?")),
        None => diagnostic.with_help("use an IANA time zone name, like \"Europe/Paris\""),
    });
}

pub fn check_points(file: &File, symbols: &Symbols, checker: &mut Checker) {
    let mut pool_kinds: BTreeSet<&str> = BTreeSet::new();
    for item in &file.items {
        let Item::Points(points) = item else { continue };
        let qualifying = points
            .settings
            .iter()
            .any(|s| matches!(s.node, PointsSetting::Qualifying));
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut cap_periods: Vec<Period> = Vec::new();
        for setting in &points.settings {
            let key = match &setting.node {
                PointsSetting::Precision(_) => "precision",
                PointsSetting::Value(_) => "value",
                PointsSetting::Breakage(_) => "breakage",
                PointsSetting::Pending(_) => "pending",
                PointsSetting::Qualifying => "qualifying",
                PointsSetting::Expire(_) => "expire",
                PointsSetting::Transfers(_) => "transfers",
                PointsSetting::Pool { .. } => "pool",
                PointsSetting::Redeem(_) => "redeem",
                PointsSetting::Cap { .. } => "cap",
            };
            // Caps are many, one per period (checked below).
            if key != "cap" && seen.insert(key, setting.span).is_some() {
                checker.duplicate(setting.span, &format!("`{key}`"));
            }
            if qualifying && matches!(key, "value" | "breakage" | "pending" | "expire") {
                checker.report(
                    Diagnostic::error(
                        "qualifying-expiry",
                        setting.span,
                        format!("`{key}` can never matter for `{}`: it only counts toward tiers", points.name.node),
                    )
                    .with_label("has no effect on qualifying points")
                    .with_help("qualifying points are never spent: remove this line, or remove `qualifying`"),
                );
            }
            match &setting.node {
                PointsSetting::Precision(p) => {
                    let valid = p.node.fract().is_zero() && p.node <= Decimal::from(MAX_PRECISION);
                    if !valid {
                        checker.report(
                            Diagnostic::error("invalid-value", p.span, format!("precision `{}` is not a number of decimal places", p.node))
                                .with_label("not 0 to 8")
                                .with_help("precision is how many decimals a balance has: a whole number from 0 to 8"),
                        );
                    }
                }
                PointsSetting::Value(money) => {
                    checker.check_currency(money, symbols);
                    checker.check_positive(&money.amount, "the value of a point");
                    if money.amount.node > Decimal::from(1_000_000) {
                        checker.report(
                            Diagnostic::error(
                                "invalid-value",
                                money.amount.span,
                                format!(
                                    "a point worth {} is beyond the most a point may be worth, 1000000",
                                    money.amount.node
                                ),
                            )
                            .with_label("too valuable")
                            .with_help("liability is points × value: with up to 10^20 points, a value above a million would overflow it"),
                        );
                    }
                }
                PointsSetting::Breakage(b) => {
                    if b.node > Decimal::ONE_HUNDRED {
                        checker.report(
                            Diagnostic::error(
                                "invalid-value",
                                b.span,
                                format!("breakage of {}% is more than all the points", b.node),
                            )
                            .with_label("above 100%")
                            .with_help(
                                "breakage is the share of points never redeemed: 0% to 100%",
                            ),
                        );
                    }
                }
                PointsSetting::Pending(d) => {
                    checker.check_whole_positive(&d.count, "a pending period");
                }
                PointsSetting::Expire(expiry) => checker.check_expiry(expiry),
                PointsSetting::Qualifying => {}
                PointsSetting::Cap { amount, period } => {
                    checker.check_positive(amount, "a cap");
                    if cap_periods.contains(&period.node) {
                        checker.duplicate(
                            period.span,
                            &format!("a cap per member per {}", period.node.name()),
                        );
                    }
                    cap_periods.push(period.node);
                }
                PointsSetting::Transfers(options) => check_transfers(options, checker),
                PointsSetting::Redeem(limits) => check_redeem_limits(limits, checker),
                PointsSetting::Pool { kind, most } => {
                    if !pool_kinds.insert(&kind.node) {
                        checker.report(
                            Diagnostic::error(
                                "duplicate",
                                kind.span,
                                format!("pools of kind `{}` are declared twice", kind.node),
                            )
                            .with_label("declared again here")
                            .with_help("a pool account is named by its kind (`household:smiths`): give each points type's pools a kind of its own"),
                        );
                    }
                    if let Some(most) = most {
                        checker.check_whole_positive(most, "the most members of a pool");
                    }
                }
            }
            if qualifying && key == "redeem" {
                checker.report(
                    Diagnostic::error(
                        "not-redeemable",
                        setting.span,
                        format!(
                            "`{}` are qualifying points: they are never redeemed",
                            points.name.node
                        ),
                    )
                    .with_label("no redemption to bound")
                    .with_help("remove this line"),
                );
            }
            if qualifying && matches!(key, "transfers" | "pool") {
                checker.report(
                    Diagnostic::error(
                        "not-transferable",
                        setting.span,
                        format!(
                            "`{}` are qualifying points: they cannot be given or pooled",
                            points.name.node
                        ),
                    )
                    .with_label("status credit belongs to the member who earned it")
                    .with_help("remove this line, or move it to a points type members spend"),
                );
            }
        }
    }
}

/// `redeem at least N, at most M`: each once, above zero, the least no more
/// than the most.
fn check_redeem_limits(limits: &[Spanned<RedeemLimit>], checker: &mut Checker) {
    let (mut least, mut most) = (None::<&Number>, None::<&Number>);
    for limit in limits {
        let (slot, n, what) = match &limit.node {
            RedeemLimit::AtLeast(n) => (&mut least, n, "at least"),
            RedeemLimit::AtMost(n) => (&mut most, n, "at most"),
        };
        if slot.replace(n).is_some() {
            checker.duplicate(limit.span, &format!("`{what}`"));
        }
        checker.check_positive(n, "a redemption bound");
    }
    if let (Some(least), Some(most)) = (least, most) {
        if least.node > most.node {
            checker.report(
                Diagnostic::error(
                    "invalid-value",
                    least.span,
                    format!(
                        "at least {} is more than at most {}: no redemption fits",
                        least.node, most.node
                    ),
                )
                .with_label("above the most")
                .with_help("the least a redemption spends must not exceed the most"),
            );
        }
    }
}

/// The options of a `transfers` line: each once, a minimum above zero and a
/// fee below 100%.
fn check_transfers(options: &[Spanned<TransferOption>], checker: &mut Checker) {
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for option in options {
        let key = match &option.node {
            TransferOption::Min(min) => {
                checker.check_positive(min, "the minimum of a transfer");
                "min"
            }
            TransferOption::Fee(fee) => {
                if fee.node >= Decimal::ONE_HUNDRED {
                    checker.report(
                        Diagnostic::error(
                            "invalid-value",
                            fee.span,
                            format!("a transfer fee of {}% leaves nothing to give", fee.node),
                        )
                        .with_label("100% or more")
                        .with_help("the fee is a share of the points given, paid on top by the giver: below 100%"),
                    );
                }
                "fee"
            }
            TransferOption::Expiry(_) => "expiry",
        };
        if seen.insert(key, option.span).is_some() {
            checker.duplicate(option.span, &format!("the transfers' `{key}`"));
        }
    }
}

pub fn check_perks_and_rewards(file: &File, symbols: &Symbols, checker: &mut Checker) {
    for item in &file.items {
        match item {
            Item::Perk(perk) => {
                match &perk.tiers.node {
                    TierSet::All => {}
                    TierSet::AndAbove(tier) => check_tier_name(tier, symbols, checker),
                    TierSet::List(tiers) => {
                        let mut seen = BTreeMap::new();
                        for tier in tiers {
                            check_tier_name(tier, symbols, checker);
                            checker.declare(&mut seen, "tier", tier);
                        }
                    }
                }
                let mut seen = BTreeSet::new();
                for setting in &perk.settings {
                    match &setting.node {
                        PerkSetting::Limit { count, .. } => {
                            checker.check_whole_positive(count, "a perk's limit");
                        }
                        PerkSetting::Cost(money) => {
                            if !seen.insert("cost") {
                                checker.duplicate(setting.span, "`cost`");
                            }
                            checker.check_amount(money, symbols);
                        }
                    }
                }
            }
            Item::Reward(reward) => check_reward(reward, symbols, checker),
            _ => {}
        }
    }
}

fn check_tier_name(tier: &Ident, symbols: &Symbols, checker: &mut Checker) {
    if symbols.tier_rank(&tier.node).is_none() {
        checker.report(unknown_tier(tier, symbols));
    }
}

fn check_reward(reward: &RewardDecl, symbols: &Symbols, checker: &mut Checker) {
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    let mut tier_prices: BTreeSet<&str> = BTreeSet::new();
    for setting in &reward.settings {
        match &setting.node {
            RewardSetting::Price {
                amount,
                points,
                tiers,
            } if !tiers.is_empty() => {
                checker.check_positive(amount, "a price");
                let base = reward.settings.iter().find_map(|s| match &s.node {
                    RewardSetting::Price { points, tiers, .. } if tiers.is_empty() => Some(points),
                    _ => None,
                });
                if base.is_some_and(|base| base.node != points.node) {
                    checker.report(
                        Diagnostic::error(
                            "invalid-value",
                            points.span,
                            format!(
                                "a tier price in `{}` for a reward priced in another points type",
                                points.node
                            ),
                        )
                        .with_label("not the reward's points type")
                        .with_help("price every tier in the points type of the reward's `price`"),
                    );
                }
                for tier in tiers {
                    if symbols.tier_rank(&tier.node).is_none() {
                        checker.report(unknown_tier(tier, symbols));
                    } else if !tier_prices.insert(tier.node.as_str()) {
                        checker.duplicate(tier.span, &format!("a price for `{}`", tier.node));
                    }
                }
            }
            RewardSetting::Price { amount, points, .. } => {
                if seen.insert("price", setting.span).is_some() {
                    checker.duplicate(setting.span, "`price`");
                }
                checker.check_positive(amount, "a price");
                if !symbols.points.contains_key(points.node.as_str()) {
                    checker.report(unknown_points(points, symbols));
                } else if symbols.is_qualifying(&points.node) {
                    checker.report(
                        Diagnostic::error(
                            "not-redeemable",
                            points.span,
                            format!(
                                "`{}` are qualifying points: they cannot be spent",
                                points.node
                            ),
                        )
                        .with_label("qualifying only")
                        .with_help("price rewards in a points type members can redeem"),
                    );
                }
            }
            RewardSetting::Cost(money) => {
                if seen.insert("cost", setting.span).is_some() {
                    checker.duplicate(setting.span, "`cost`");
                }
                checker.check_amount(money, symbols);
            }
        }
    }
    if !seen.contains_key("price") {
        checker.report(
            Diagnostic::error(
                "missing-setting",
                reward.name.span,
                format!("reward `{}` has no price", reward.name.node),
            )
            .with_label("no `price`")
            .with_help("add a price in points, like `price 150 stars`"),
        );
    }
}

/// The program's `survey`: a declared event type's number field.
pub fn check_survey(file: &File, symbols: &Symbols, checker: &mut Checker) {
    let settings = file.items.iter().filter_map(|item| match item {
        Item::Program(p) => Some(&p.settings),
        _ => None,
    });
    for setting in settings.flatten() {
        let ProgramSetting::Survey { event, field } = &setting.node else {
            continue;
        };
        if BuiltinEvent::named(&event.node).is_some() {
            checker.report(
                Diagnostic::error(
                    "builtin-event",
                    event.span,
                    format!("`{}` is a built-in event, not a survey", event.node),
                )
                .with_label("answers come as an event of their own")
                .with_help("declare one, `event feedback { score: number }`, and name it here"),
            );
            continue;
        }
        match event_field(event, field, symbols, checker) {
            None | Some(FieldType::Number) => {}
            Some(_) => checker.report(
                Diagnostic::error(
                    "type-mismatch",
                    field.span,
                    format!("`{}.{}` is not a number", event.node, field.node),
                )
                .with_label("a survey's score is a number from 0 to 10")
                .with_help(format!(
                    "declare the score as `{}: number` in `event {}`",
                    field.node, event.node
                )),
            ),
        }
    }
}

/// Points types and event types declared but never used.
pub fn check_unused(file: &File, symbols: &Symbols, checker: &mut Checker) {
    let mut used_points: BTreeSet<&str> = symbols.earned_anywhere();
    let mut used_events: BTreeSet<&str> = BTreeSet::new();
    for item in &file.items {
        match item {
            Item::Program(program) => {
                for setting in &program.settings {
                    if let ProgramSetting::Survey { event, .. } = &setting.node {
                        used_events.insert(&event.node);
                    }
                }
            }
            Item::Rule(rule) => {
                for stmt in &rule.stmts {
                    if let RuleStmt::On { event, .. } = &stmt.node {
                        used_events.insert(&event.node);
                    }
                }
            }
            Item::Tiers(tiers) => {
                let sources =
                    tiers
                        .by
                        .iter()
                        .chain(tiers.stmts.iter().filter_map(|s| match &s.node {
                            TierStmt::Measure { source, .. } => Some(source),
                            _ => None,
                        }));
                for source in sources {
                    match &source.node {
                        MeasureSource::PointsEarned(p) | MeasureSource::Balance(p) => {
                            used_points.insert(&p.node);
                        }
                        MeasureSource::Count(e) | MeasureSource::FieldSum { event: e, .. } => {
                            used_events.insert(&e.node);
                        }
                    }
                }
            }
            Item::Reward(reward) => {
                for setting in &reward.settings {
                    if let RewardSetting::Price { points, .. } = &setting.node {
                        used_points.insert(&points.node);
                    }
                }
            }
            _ => {}
        }
    }
    for item in &file.items {
        match item {
            Item::Points(points) if !used_points.contains(points.name.node.as_str()) => {
                checker.report(
                    Diagnostic::warning(
                        "unused",
                        points.name.span,
                        format!(
                            "no rule earns `{}` and nothing else uses it",
                            points.name.node
                        ),
                    )
                    .with_label("declared for nothing")
                    .with_help("add a rule that earns it, or remove it"),
                );
            }
            Item::Event(event)
                if BuiltinEvent::ALL
                    .iter()
                    .all(|b| b.name() != event.name.node)
                    && !used_events.contains(event.name.node.as_str()) =>
            {
                checker.report(
                    Diagnostic::warning(
                        "unused",
                        event.name.span,
                        format!("no rule or tier uses `{}` events", event.name.node),
                    )
                    .with_label("declared for nothing")
                    .with_help(format!("add a rule `on {}`, or remove it", event.name.node)),
                );
            }
            _ => {}
        }
    }
}
