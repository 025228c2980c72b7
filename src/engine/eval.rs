//! Evaluation of compiled expressions against an event and a member's state
//! before the event. A missing field makes a comparison false and arithmetic
//! missing, never an error: the record was typed when it was read.

use crate::compile::calendar;
use crate::compile::ir::{Builtin, Expr, PointsId, TierRank, Value};
use crate::compile::predicate::{Place, Predicate};
use crate::events::Item;
use crate::syntax::ast::{BinaryOp, TimeUnit};
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, Timelike};
use rust_decimal::Decimal;
use std::borrow::Cow;

/// What an expression can see.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub fields: &'a [Value],
    pub attributes: &'a [Value],
    pub tier: TierRank,
    /// The event's wall-clock time in the program's zone.
    pub local: NaiveDateTime,
    pub enrolled: NaiveDate,
    pub balances: &'a [Decimal],
    pub measures: &'a [Decimal],
    /// The program's counters, this event included.
    pub counters: &'a [Decimal],
    /// The event is the member's first purchase.
    pub first_purchase: bool,
    /// The member enrolled naming a referrer.
    pub referred: bool,
    /// The purchase's basket (empty for other events).
    pub basket: &'a [Item],
    /// The basket item an `earn` line is being computed on.
    pub item: Option<&'a Item>,
    /// The tier the member left, on a tier change.
    pub previous_tier: Option<TierRank>,
}

impl<'a> Scope<'a> {
    /// What an expression sees at `local` and nothing else: no event
    /// fields, attributes or member state, the lowest tier, enrolled that
    /// day.
    pub fn at(local: NaiveDateTime) -> Scope<'a> {
        Scope {
            fields: &[],
            attributes: &[],
            tier: 0,
            local,
            enrolled: local.date(),
            balances: &[],
            measures: &[],
            counters: &[],
            first_purchase: false,
            referred: false,
            basket: &[],
            item: None,
            previous_tier: None,
        }
    }
}

/// Whether a condition holds (a missing value makes it false). Conditions
/// are mostly comparisons joined by `and` and `or`: those are decided
/// without making a value of each step.
pub fn holds(expr: &Expr, scope: &Scope) -> bool {
    match expr {
        // Arithmetic is never true.
        Expr::Binary(op, lhs, rhs) => condition(*op, lhs, rhs, scope).unwrap_or(false),
        Expr::Not(e) => *eval(e, scope) == Value::Bool(false),
        _ => *eval(expr, scope) == Value::Bool(true),
    }
}

/// Whether a condition holds, decided by its predicate: the same answer
/// as [`holds`] of its expression, without making a value of each step.
pub fn decide(predicate: &Predicate, scope: &Scope) -> bool {
    match predicate {
        Predicate::Compare {
            read,
            order,
            constant,
        } => {
            let ordering = match (read, constant) {
                (Place::Builtin(Builtin::Date), Value::Date(date)) => {
                    Some(scope.local.date().cmp(date))
                }
                (Place::Builtin(Builtin::Tier), Value::Tier(tier)) => Some(scope.tier.cmp(tier)),
                _ => compare(&value_at(*read, scope), constant),
            };
            ordering.is_some_and(|o| order.admits(o))
        }
        Predicate::OneOf { read, constants } => {
            let value = value_at(*read, scope);
            *value != Value::Missing && constants.contains(&value)
        }
        Predicate::All(lhs, rhs) => decide(lhs, scope) && decide(rhs, scope),
        Predicate::Any(lhs, rhs) => decide(lhs, scope) || decide(rhs, scope),
        Predicate::Not(inner) => !decide(inner, scope),
        Predicate::Expr(expr) => holds(expr, scope),
    }
}

/// What a predicate's comparison reads, as `eval` gives it.
fn value_at<'a>(place: Place, scope: &Scope<'a>) -> Cow<'a, Value> {
    match place {
        Place::Field(i) => scope.fields.get(i).map_or(MISSING, Cow::Borrowed),
        Place::Attribute(i) => scope.attributes.get(i).map_or(MISSING, Cow::Borrowed),
        Place::Builtin(b) => Cow::Owned(builtin(b, scope)),
    }
}

/// A number, or `None` if the value is missing.
pub fn number(expr: &Expr, scope: &Scope) -> Option<Decimal> {
    match *eval(expr, scope) {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// The value of `expr`: borrowed when it is a constant, a field or an
/// attribute (cloning their texts was a sixtieth of a run).
pub fn eval<'a>(expr: &'a Expr, scope: &Scope<'a>) -> Cow<'a, Value> {
    let computed = match expr {
        Expr::Const(v) => return Cow::Borrowed(v),
        Expr::Field(i) => return scope.fields.get(*i).map_or(MISSING, Cow::Borrowed),
        Expr::Attribute(i) => return scope.attributes.get(*i).map_or(MISSING, Cow::Borrowed),
        Expr::Builtin(b) => builtin(*b, scope),
        Expr::Item(field) => scope.item.map_or(Value::Missing, |item| item.value(*field)),
        Expr::Measure(i) => scope
            .measures
            .get(*i)
            .map_or(Value::Missing, |n| Value::Number(*n)),
        Expr::Balance(p) => balance(*p, scope),
        Expr::Counter(i) => scope
            .counters
            .get(*i)
            .map_or(Value::Missing, |n| Value::Number(*n)),
        Expr::Not(e) => match *eval(e, scope) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Missing,
        },
        Expr::Neg(e) => match *eval(e, scope) {
            Value::Number(n) => Value::Number(-n),
            _ => Value::Missing,
        },
        Expr::Binary(op, lhs, rhs) => binary(*op, lhs, rhs, scope),
        Expr::InList(subject, items) => {
            let value = eval(subject, scope);
            if *value == Value::Missing {
                return Cow::Owned(Value::Bool(false));
            }
            Value::Bool(items.iter().any(|item| eval(item, scope) == value))
        }
        Expr::InRange(subject, low, high) => {
            let value = eval(subject, scope);
            let above = compare(&eval(low, scope), &value).is_some_and(|o| o.is_le());
            let below = compare(&value, &eval(high, scope)).is_some_and(|o| o.is_le());
            Value::Bool(above && below)
        }
    };
    Cow::Owned(computed)
}

const MISSING: Cow<'static, Value> = Cow::Owned(Value::Missing);

/// A field of the event being applied, or a member attribute, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Field(usize),
    Attribute(usize),
}

/// Adds to `found` the fields and attributes `expr` reads that are missing
/// in `scope`, in the order written, each once: what an explanation names
/// when a condition is false or an amount has no value.
pub fn missing(expr: &Expr, scope: &Scope, found: &mut Vec<Read>) {
    let read = match expr {
        Expr::Field(i) => Some((Read::Field(*i), scope.fields.get(*i))),
        Expr::Attribute(i) | Expr::Builtin(Builtin::DaysToBirthday(i)) => {
            Some((Read::Attribute(*i), scope.attributes.get(*i)))
        }
        _ => None,
    };
    if let Some((read, value)) = read {
        if value.is_none_or(|v| *v == Value::Missing) && !found.contains(&read) {
            found.push(read);
        }
    }
    match expr {
        Expr::Not(e) | Expr::Neg(e) => missing(e, scope, found),
        Expr::Binary(_, lhs, rhs) => {
            missing(lhs, scope, found);
            missing(rhs, scope, found);
        }
        Expr::InList(subject, items) => {
            missing(subject, scope, found);
            for item in items {
                missing(item, scope, found);
            }
        }
        Expr::InRange(subject, low, high) => {
            for e in [subject, low, high] {
                missing(e, scope, found);
            }
        }
        Expr::Const(_)
        | Expr::Field(_)
        | Expr::Attribute(_)
        | Expr::Item(_)
        | Expr::Builtin(_)
        | Expr::Measure(_)
        | Expr::Balance(_)
        | Expr::Counter(_) => {}
    }
}

fn balance(points: PointsId, scope: &Scope) -> Value {
    scope
        .balances
        .get(points.index())
        .map_or(Value::Missing, |b| Value::Number(*b))
}

fn builtin(b: Builtin, scope: &Scope) -> Value {
    let date = scope.local.date();
    match b {
        Builtin::Tier => Value::Tier(scope.tier),
        Builtin::Date => Value::Date(date),
        Builtin::Weekday => Value::Text(weekday_name(date).into()),
        Builtin::Hour => Value::Number(Decimal::from(scope.local.hour())),
        Builtin::Month => Value::Number(Decimal::from(date.month())),
        Builtin::DaysSinceEnroll => {
            Value::Number(Decimal::from((date - scope.enrolled).num_days()))
        }
        Builtin::DaysToBirthday(attribute) => match scope.attributes.get(attribute) {
            Some(Value::Date(birthday)) => {
                Value::Number(Decimal::from(calendar::days_to_birthday(date, *birthday)))
            }
            _ => Value::Missing,
        },
        Builtin::FirstPurchase => Value::Bool(scope.first_purchase),
        Builtin::Referred => Value::Bool(scope.referred),
        Builtin::PreviousTier => scope.previous_tier.map_or(Value::Missing, Value::Tier),
    }
}

fn weekday_name(date: NaiveDate) -> &'static str {
    match date.weekday() {
        chrono::Weekday::Mon => "monday",
        chrono::Weekday::Tue => "tuesday",
        chrono::Weekday::Wed => "wednesday",
        chrono::Weekday::Thu => "thursday",
        chrono::Weekday::Fri => "friday",
        chrono::Weekday::Sat => "saturday",
        chrono::Weekday::Sun => "sunday",
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Tier(x), Value::Tier(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn binary(op: BinaryOp, lhs: &Expr, rhs: &Expr, scope: &Scope) -> Value {
    match condition(op, lhs, rhs, scope) {
        Some(holds) => Value::Bool(holds),
        None => arithmetic(op, &eval(lhs, scope), &eval(rhs, scope)),
    }
}

/// What a logical or comparison operator gives (values that cannot be
/// compared make a comparison false); `None` for arithmetic.
fn condition(op: BinaryOp, lhs: &Expr, rhs: &Expr, scope: &Scope) -> Option<bool> {
    let ordered = |test: fn(std::cmp::Ordering) -> bool| {
        compare(&eval(lhs, scope), &eval(rhs, scope)).is_some_and(test)
    };
    Some(match op {
        BinaryOp::And => holds(lhs, scope) && holds(rhs, scope),
        BinaryOp::Or => holds(lhs, scope) || holds(rhs, scope),
        BinaryOp::Eq => ordered(std::cmp::Ordering::is_eq),
        BinaryOp::Ne => ordered(std::cmp::Ordering::is_ne),
        BinaryOp::Lt => ordered(std::cmp::Ordering::is_lt),
        BinaryOp::Le => ordered(std::cmp::Ordering::is_le),
        BinaryOp::Gt => ordered(std::cmp::Ordering::is_gt),
        BinaryOp::Ge => ordered(std::cmp::Ordering::is_ge),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => return None,
    })
}

fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let result = match (op, a, b) {
        (BinaryOp::Add, Value::Number(x), Value::Number(y)) => x.checked_add(*y).map(Value::Number),
        (BinaryOp::Sub, Value::Number(x), Value::Number(y)) => x.checked_sub(*y).map(Value::Number),
        (BinaryOp::Mul, Value::Number(x), Value::Number(y)) => x.checked_mul(*y).map(Value::Number),
        (BinaryOp::Div, Value::Number(x), Value::Number(y)) => x.checked_div(*y).map(Value::Number),
        (BinaryOp::Add, Value::Date(d), Value::Duration(t))
        | (BinaryOp::Add, Value::Duration(t), Value::Date(d)) => shift(*d, t.count, t.unit, true),
        (BinaryOp::Sub, Value::Date(d), Value::Duration(t)) => shift(*d, t.count, t.unit, false),
        _ => None,
    };
    // Overflow and division by zero leave the value missing: the rule does not fire.
    result.unwrap_or(Value::Missing)
}

fn shift(date: NaiveDate, count: u32, unit: TimeUnit, forward: bool) -> Option<Value> {
    let (days, months) = match unit {
        TimeUnit::Day => (u64::from(count), 0),
        TimeUnit::Week => (7 * u64::from(count), 0),
        TimeUnit::Month => (0, count),
        TimeUnit::Year => (0, count.saturating_mul(12)),
    };
    let shifted = if forward {
        date.checked_add_days(Days::new(days))?
            .checked_add_months(Months::new(months))?
    } else {
        date.checked_sub_days(Days::new(days))?
            .checked_sub_months(Months::new(months))?
    };
    Some(Value::Date(shifted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, day).expect("a date")
    }

    /// A value of each type a field, an attribute or a constant can hold.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-2_i64..3).prop_map(|n| Value::Number(Decimal::from(n))),
            prop::sample::select(vec!["a", "b", "sunday"]).prop_map(|t| Value::Text(t.into())),
            any::<bool>().prop_map(Value::Bool),
            (1_u32..3).prop_map(|d| Value::Date(date(d))),
            (0_usize..3).prop_map(Value::Tier),
            Just(Value::Missing),
        ]
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            value().prop_map(Expr::Const),
            (0_usize..5).prop_map(Expr::Field),
            (0_usize..3).prop_map(Expr::Attribute),
            prop::sample::select(vec![
                Builtin::Date,
                Builtin::Tier,
                Builtin::Hour,
                Builtin::Weekday,
                Builtin::FirstPurchase,
            ])
            .prop_map(Expr::Builtin),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
                (
                    prop::sample::select(&BinaryOp::ALL[..]),
                    inner.clone(),
                    inner.clone()
                )
                    .prop_map(|(op, l, r)| Expr::Binary(
                        op,
                        Box::new(l),
                        Box::new(r)
                    )),
                (inner.clone(), prop::collection::vec(inner, 0..3))
                    .prop_map(|(e, items)| Expr::InList(Box::new(e), items)),
                // A name compared with a constant either way round, as
                // programs write them.
                (
                    prop::sample::select(&BinaryOp::ALL[..]),
                    leaf(),
                    value(),
                    any::<bool>()
                )
                    .prop_map(|(op, read, constant, first)| {
                        let (read, constant) = (Box::new(read), Box::new(Expr::Const(constant)));
                        match first {
                            true => Expr::Binary(op, read, constant),
                            false => Expr::Binary(op, constant, read),
                        }
                    }),
                // A list of constants, as programs write them.
                (
                    leaf(),
                    prop::collection::vec(value().prop_map(Expr::Const), 0..3)
                )
                    .prop_map(|(e, items)| Expr::InList(Box::new(e), items)),
            ]
        })
    }

    /// A scope with these fields and attributes, on Saturday 1 March 2025
    /// at 10:00, in tier 1.
    fn scope<'a>(fields: &'a [Value], attributes: &'a [Value]) -> Scope<'a> {
        Scope {
            fields,
            attributes,
            tier: 1,
            ..Scope::at(date(1).and_hms_opt(10, 0, 0).expect("a time"))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// A condition holds exactly when its value is `true`: `holds`'s
        /// own ways (`not` without negating a value, arithmetic as never
        /// true, `and` and `or` through `holds` again) give `eval`'s
        /// answer. Both decide a comparison with `condition`, so this does
        /// not check comparisons themselves: the example programs' ledger
        /// snapshots and `tests/semantics.rs` (`where` clauses) do.
        #[test]
        fn holds_is_a_true_value(
            e in expr(),
            fields in prop::collection::vec(value(), 4),
            attributes in prop::collection::vec(value(), 2),
        ) {
            let scope = scope(&fields, &attributes);
            prop_assert_eq!(holds(&e, &scope), *eval(&e, &scope) == Value::Bool(true), "{:?}", e);
        }

        /// A condition's predicate decides it as its expression does, on
        /// every shape: comparisons of a field, an attribute or a builtin
        /// with a constant either way round (and of mismatched types or
        /// missing values), `in` lists, `not`, and whatever is left as an
        /// expression.
        #[test]
        fn a_predicate_decides_as_its_expression_holds(
            e in expr(),
            fields in prop::collection::vec(value(), 4),
            attributes in prop::collection::vec(value(), 2),
        ) {
            let scope = scope(&fields, &attributes);
            let predicate = Predicate::of(&e);
            prop_assert_eq!(decide(&predicate, &scope), holds(&e, &scope), "{:?}", predicate);
        }
    }
}
