//! A scenario checked against a program: every field the program's events
//! and members carry has a draw of the right kind, every name the scenario
//! uses exists, and everything is resolved to the indices the generator
//! uses. A mismatch is an error naming the scenario's field and its line.

use super::member::member_id;
use super::scenario::{Draw, Hours, Rate, Returns, Scenario};
use crate::check::suggest;
use crate::compile::calendar;
use crate::compile::ir::{EventTypeId, Field, PerkId, Program, RewardId, Value};
use crate::currency::Currency;
use crate::engine::opening::Opening;
use crate::file_error::FileError;
use crate::report::state::State;
use crate::syntax::ast::FieldType;
use chrono::{DateTime, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the generator and the shards need, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub timezone: Tz,
    /// The first day simulated.
    pub start: NaiveDate,
    /// When members enrol: the hours of purchases.
    pub enroll_hours: Hours,
    /// `months + 1` instants: the start of each month simulated, then the end.
    pub month_starts: Vec<DateTime<Utc>>,
    /// `2026-01`, per month simulated.
    pub month_names: Vec<String>,
    pub initial: u64,
    pub joins_per_month: u64,
    pub churn: f64,
    pub enroll: EventTypeId,
    /// One per member attribute, in the program's order.
    pub attributes: Vec<ValueDraw>,
    /// Purchases first (if any), then declared types by name.
    pub activities: Vec<Activity>,
    pub redeem: Option<RedeemPlan>,
    pub returns: Option<(EventTypeId, Returns)>,
    /// Perks used, with the `use_perk` type.
    pub perks: Vec<PerkPlan>,
    pub use_perk: Option<EventTypeId>,
    /// Whether members may all share one engine only (a budget is program-wide).
    pub has_budgets: bool,
    /// The book the simulation starts from (`--from-state`): its members
    /// come after the scenario's own.
    pub book: Option<Arc<State>>,
}

/// Events of one type a member makes.
#[derive(Debug, Clone)]
pub struct Activity {
    pub kind: EventTypeId,
    pub rate: Rate,
    pub hours: Hours,
    /// One per field of the event type, in its order.
    pub fields: Vec<ValueDraw>,
    /// A built-in `purchase` (returns refer to it).
    pub is_purchase_event: bool,
    /// Counts for the repeat-purchase rate.
    pub counts_as_purchase: bool,
    /// The field whose amount counts as sales.
    pub sales: Option<usize>,
    /// Indices into [`Plan::perks`] of the perks used after this activity.
    pub perks: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct RedeemPlan {
    pub kind: EventTypeId,
    pub threshold: Decimal,
    pub probability: f64,
    /// The rewards wanted and their cumulative shares; empty: the dearest affordable.
    pub wanted: Vec<(RewardId, f64)>,
}

#[derive(Debug, Clone)]
pub struct PerkPlan {
    pub perk: PerkId,
    pub probability: f64,
}

/// How one field's value is drawn, typed for the field.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueDraw {
    /// Left empty (a built-in field the generator fills itself).
    Missing,
    /// Values with cumulative shares (the last is 1).
    Mix(Vec<(Value, f64)>),
    Poisson {
        mean: f64,
        plus: i64,
    },
    Integers {
        lo: i64,
        hi: i64,
    },
    LogNormal {
        mu: f64,
        sigma: f64,
        decimals: u32,
    },
    Age {
        lo: u32,
        hi: u32,
    },
}

/// Checks `scenario` (read from `source`, for line numbers) against `program`.
pub fn plan(program: &Program, scenario: &Scenario, source: &str) -> Result<Plan, FileError> {
    let fail = |path: &[&str], message: String| {
        FileError::new(
            super::scenario::line_of(source, path),
            format!("{}: {message}", path.join(".")),
        )
    };
    let type_id = |name: &str| program.events.iter().position(|e| e.name == name);
    let months = scenario.months.0;
    let tz = program.timezone;
    let month_starts = (0..=months)
        .map(|m| {
            scenario
                .start
                .checked_add_months(Months::new(m))
                .map(|d| calendar::start_of_day(tz, d))
                .ok_or_else(|| fail(&["months"], "the simulation ends past the calendar".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let month_names = month_starts
        .iter()
        .take(months as usize)
        .map(|t| calendar::local(tz, *t).format("%Y-%m").to_string())
        .collect();

    let attributes = fields_of(
        &program.member_attributes,
        &scenario.attributes,
        &["attributes"],
        "member attribute",
        program.currency,
        &fail,
    )?;

    let mut activities = Vec::new();
    let purchase = type_id("purchase");
    match (&scenario.visits_per_month, purchase) {
        (Some(rate), Some(kind)) => {
            let ticket = scenario.ticket.as_ref().ok_or_else(|| {
                fail(
                    &["visits_per_month"],
                    "purchases need a `ticket`: how their amount is drawn".into(),
                )
            })?;
            let declared = program.events.get(kind).map_or(&[][..], |e| &e.fields[..]);
            let (amount, extra) = declared
                .split_first()
                .ok_or_else(|| fail(&["ticket"], "the program's purchase has no amount".into()))?;
            let mut fields = vec![value_draw(
                amount,
                ticket,
                &["ticket"],
                program.currency,
                &fail,
            )?];
            fields.extend(fields_of(
                extra,
                &scenario.fields,
                &["fields"],
                "field of `purchase`",
                program.currency,
                &fail,
            )?);
            activities.push(Activity {
                kind,
                rate: *rate,
                hours: scenario.hours,
                fields,
                is_purchase_event: true,
                counts_as_purchase: true,
                sales: Some(0),
                perks: Vec::new(),
            });
        }
        (Some(_), None) => {
            return Err(fail(
                &["visits_per_month"],
                "the program has no purchase event".into(),
            ))
        }
        (None, _) => {
            for (key, given) in [
                ("ticket", scenario.ticket.is_some()),
                ("fields", !scenario.fields.is_empty()),
            ] {
                if given {
                    return Err(fail(
                        &[key],
                        "without `visits_per_month` members make no purchases".into(),
                    ));
                }
            }
        }
    }
    for (name, spec) in &scenario.events {
        let path = ["events", name.as_str()];
        let kind = program
            .events
            .iter()
            .position(|e| &e.name == name && e.builtin.is_none())
            .ok_or_else(|| {
                let declared = program
                    .events
                    .iter()
                    .filter(|e| e.builtin.is_none())
                    .map(|e| e.name.as_str());
                fail(&path, unknown("event type", name, declared))
            })?;
        let declared = program.events.get(kind).map_or(&[][..], |e| &e.fields[..]);
        let fields = fields_of(
            declared,
            &spec.fields,
            &["events", name, "fields"],
            &format!("field of `{name}`"),
            program.currency,
            &fail,
        )?;
        let sales = match &spec.sales {
            None => None,
            Some(field) => Some(
                declared
                    .iter()
                    .position(|f| &f.name == field && f.ty == FieldType::Money)
                    .ok_or_else(|| {
                        fail(
                            &["events", name, "sales"],
                            format!("`{name}` has no money field `{field}`"),
                        )
                    })?,
            ),
        };
        activities.push(Activity {
            kind,
            rate: spec.per_month,
            hours: spec.hours,
            fields,
            is_purchase_event: false,
            counts_as_purchase: spec.purchase,
            sales,
            perks: Vec::new(),
        });
    }

    let redeem = match &scenario.redeem {
        None => None,
        Some(r) => {
            if program.rewards.is_empty() {
                return Err(fail(&["redeem"], "the program has no rewards".into()));
            }
            let mut wanted = Vec::new();
            let mut cumulative = 0.0;
            for (name, share) in r.rewards.iter().flat_map(|m| &m.0) {
                let reward = *program.reward_index.get(name).ok_or_else(|| {
                    let names = program.rewards.iter().map(|r| r.name.as_str());
                    fail(&["redeem", "rewards", name], unknown("reward", name, names))
                })?;
                cumulative += share;
                wanted.push((reward, cumulative));
            }
            Some(RedeemPlan {
                kind: type_id("redeem")
                    .ok_or_else(|| fail(&["redeem"], "the program has no redeem event".into()))?,
                threshold: r.when_balance_at_least,
                probability: r.probability.0,
                wanted,
            })
        }
    };

    let returns = match (&scenario.returns, purchase) {
        (None, _) => None,
        (Some(r), Some(_)) if scenario.visits_per_month.is_some() => Some((
            type_id("return")
                .ok_or_else(|| fail(&["returns"], "the program has no return event".into()))?,
            *r,
        )),
        (Some(_), _) => {
            return Err(fail(
                &["returns"],
                "returns need purchases: give `visits_per_month`".into(),
            ))
        }
    };

    let mut perks = Vec::new();
    for (name, spec) in &scenario.perks {
        let perk = *program.perk_index.get(name).ok_or_else(|| {
            let names = program.perks.iter().map(|p| p.name.as_str());
            fail(&["perks", name], unknown("perk", name, names))
        })?;
        let with = activities
            .iter_mut()
            .find(|a| {
                program
                    .events
                    .get(a.kind)
                    .is_some_and(|e| e.name == spec.with)
            })
            .ok_or_else(|| {
                fail(
                    &["perks", name, "with"],
                    format!(
                        "`{}` is not an event this scenario makes (`purchase` with \
                         `visits_per_month`, or a type under `events`)",
                        spec.with
                    ),
                )
            })?;
        with.perks.push(perks.len());
        perks.push(PerkPlan {
            perk,
            probability: spec.probability.0,
        });
    }

    Ok(Plan {
        seed: scenario.seed,
        timezone: tz,
        start: scenario.start,
        enroll_hours: scenario.hours,
        month_starts,
        month_names,
        initial: u64::from(scenario.members.initial),
        joins_per_month: u64::from(scenario.members.joins_per_month),
        churn: scenario.members.churn_per_month.0,
        enroll: type_id("enroll")
            .ok_or_else(|| fail(&["members"], "the program has no enroll event".into()))?,
        attributes,
        activities,
        redeem,
        returns,
        use_perk: if perks.is_empty() {
            None
        } else {
            Some(
                type_id("use_perk")
                    .ok_or_else(|| fail(&["perks"], "the program has no use_perk event".into()))?,
            )
        },
        perks,
        has_budgets: program.rules.iter().any(|r| !r.budgets.is_empty()),
        book: None,
    })
}

impl Plan {
    pub fn months(&self) -> usize {
        self.month_names.len()
    }

    /// Everyone who is ever a member: the initial ones, every month's
    /// joiners and the book's members.
    pub fn population(&self) -> u64 {
        let carried = self.book.as_ref().map_or(0, |b| b.members.len() as u64);
        self.own_population() + carried
    }

    /// The scenario's own members: the initial ones and every month's joiners.
    pub fn own_population(&self) -> u64 {
        self.initial + self.joins_per_month * self.months() as u64
    }

    /// Member `index`'s state in the book, if it is one of the book's.
    pub fn carried(&self, index: u64) -> Option<&Opening> {
        let k = index.checked_sub(self.own_population())?;
        self.book.as_ref()?.members.get(usize::try_from(k).ok()?)
    }

    /// Starts the simulation from `book`, a run's end state: its members
    /// continue (with the scenario's habits) beside the scenario's own. The
    /// simulation must start after the book's as-of instant, and no member
    /// of the book may have a simulated member's id.
    pub fn from_book(mut self, book: State) -> Result<Plan, FileError> {
        let start = self.month_starts.first().copied().unwrap_or_default();
        if start <= book.as_of {
            return Err(FileError::new(
                None,
                format!(
                    "the simulation starts at {}, not after the state's as-of instant {}: start the scenario later",
                    calendar::rfc3339(self.timezone, start),
                    calendar::rfc3339(self.timezone, book.as_of)
                ),
            ));
        }
        let own = self.own_population();
        if let Some(clash) = book.members.iter().find(|m| {
            m.member
                .strip_prefix('m')
                .and_then(|digits| digits.parse::<u64>().ok())
                .is_some_and(|i| i < own && member_id(i) == m.member)
        }) {
            return Err(FileError::new(
                None,
                format!(
                    "member `{}` of the state has the id of a simulated member",
                    clash.member
                ),
            ));
        }
        self.book = Some(Arc::new(book));
        Ok(self)
    }
}

/// "unknown reward `x`; did you mean `y`?" or with the list of names.
fn unknown<'a>(what: &str, name: &str, names: impl Iterator<Item = &'a str> + Clone) -> String {
    match suggest::closest(name, names.clone()) {
        Some(close) => format!("unknown {what} `{name}`; did you mean `{close}`?"),
        None => {
            let list: Vec<String> = names.map(|n| format!("`{n}`")).collect();
            if list.is_empty() {
                format!("unknown {what} `{name}`; the program has none")
            } else {
                format!(
                    "unknown {what} `{name}`; the program has {}",
                    list.join(", ")
                )
            }
        }
    }
}

/// The draws of `declared` fields, one each, from `given`: every field needs
/// one, and `given` names no other.
fn fields_of(
    declared: &[Field],
    given: &BTreeMap<String, Draw>,
    path: &[&str],
    what: &str,
    currency: Currency,
    fail: &dyn Fn(&[&str], String) -> FileError,
) -> Result<Vec<ValueDraw>, FileError> {
    if let Some(name) = given
        .keys()
        .find(|k| !declared.iter().any(|f| &f.name == *k))
    {
        let at: Vec<&str> = path.iter().copied().chain([name.as_str()]).collect();
        let names = declared.iter().map(|f| f.name.as_str());
        return Err(fail(&at, unknown(what, name, names)));
    }
    declared
        .iter()
        .map(|field| {
            let at: Vec<&str> = path.iter().copied().chain([field.name.as_str()]).collect();
            let draw = given.get(&field.name).ok_or_else(|| {
                fail(
                    path,
                    format!(
                        "missing `{}`: the program's {what} `{}` needs a draw",
                        field.name, field.name
                    ),
                )
            })?;
            value_draw(field, draw, &at, currency, fail)
        })
        .collect()
}

/// A draw checked against the type of the field it fills; money is drawn
/// to no finer than `currency`'s minor unit.
fn value_draw(
    field: &Field,
    draw: &Draw,
    path: &[&str],
    currency: Currency,
    fail: &dyn Fn(&[&str], String) -> FileError,
) -> Result<ValueDraw, FileError> {
    let ty = field.ty;
    let numeric = matches!(ty, FieldType::Number | FieldType::Money);
    let type_name = match ty {
        FieldType::Number => "a number",
        FieldType::Money => "money",
        FieldType::Text => "text",
        FieldType::Date => "a date",
        FieldType::Bool => "a bool",
    };
    let wrong = |kind: &str| {
        fail(
            path,
            format!(
                "`{}` is {type_name}: {kind} cannot draw it (give {})",
                field.name,
                match ty {
                    FieldType::Date => "a mix of dates, or { age: [LO, HI] }",
                    FieldType::Number | FieldType::Money => "a mix, poisson, integers or lognormal",
                    FieldType::Text | FieldType::Bool => "a mix of values and shares",
                }
            ),
        )
    };
    let negative_money = |lowest: i64| {
        (ty == FieldType::Money && lowest < 0).then(|| {
            fail(
                path,
                format!("`{}` is money and never negative", field.name),
            )
        })
    };
    Ok(match draw {
        Draw::Mix(mix) => {
            let mut cumulative = 0.0;
            let mut values = Vec::new();
            for (text, share) in &mix.0 {
                let value = parse_value(ty, currency, text).ok_or_else(|| {
                    let at: Vec<&str> = path.iter().copied().chain([text.as_str()]).collect();
                    fail(&at, format!("`{text}` is not {type_name}"))
                })?;
                cumulative += share;
                values.push((value, cumulative));
            }
            ValueDraw::Mix(values)
        }
        Draw::Poisson { mean, plus } if numeric => {
            if let Some(e) = negative_money(*plus) {
                return Err(e);
            }
            ValueDraw::Poisson {
                mean: *mean,
                plus: *plus,
            }
        }
        Draw::Integers { lo, hi } if numeric => {
            if let Some(e) = negative_money(*lo) {
                return Err(e);
            }
            ValueDraw::Integers { lo: *lo, hi: *hi }
        }
        Draw::LogNormal(l) if numeric => ValueDraw::LogNormal {
            mu: l.median.0.ln(),
            sigma: l.sigma.0,
            decimals: match ty {
                FieldType::Money => l.decimals.0.min(currency.minor_units()),
                _ => l.decimals.0,
            },
        },
        Draw::Age { lo, hi } if ty == FieldType::Date => ValueDraw::Age { lo: *lo, hi: *hi },
        Draw::Poisson { .. } => return Err(wrong("poisson")),
        Draw::Integers { .. } => return Err(wrong("integers")),
        Draw::LogNormal(_) => return Err(wrong("lognormal")),
        Draw::Age { .. } => return Err(wrong("age")),
    })
}

/// A mix's value as the field's type reads it (money in `currency`).
fn parse_value(ty: FieldType, currency: Currency, text: &str) -> Option<Value> {
    match ty {
        FieldType::Text => Some(Value::Text(text.into())),
        FieldType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::Number => text.parse().ok().map(Value::Number),
        FieldType::Money => text
            .parse::<Decimal>()
            .ok()
            .filter(|d| *d >= Decimal::ZERO && currency.holds(*d))
            .map(Value::Number),
        FieldType::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(Value::Date),
    }
}
