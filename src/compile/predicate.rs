//! Conditions resolved at compile time into the checks they make: what each
//! comparison reads (a field, an attribute, the event's date, …) and the
//! constant it is compared with are known before any event, so the engine
//! decides a condition without evaluating each of its steps into a value.
//! Whatever has no such form is kept as the expression and evaluated as
//! written; a predicate holds exactly when its expression does.

use super::ir::{Builtin, Expr, Value};
use crate::syntax::ast::BinaryOp;
use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub enum Predicate {
    /// What `read` reads, compared with a constant: holds when both have
    /// a value of one type and their order is one `order` admits.
    Compare {
        read: Place,
        order: Admits,
        constant: Value,
    },
    /// What `read` reads is one of the constants (`in [...]`); a missing
    /// value is none of them.
    OneOf {
        read: Place,
        constants: Vec<Value>,
    },
    All(Box<Predicate>, Box<Predicate>),
    Any(Box<Predicate>, Box<Predicate>),
    /// Holds when the predicate does not: only of a predicate whose
    /// expression is always true or false, never missing.
    Not(Box<Predicate>),
    /// Evaluated as written.
    Expr(Expr),
}

/// What a comparison reads, resolved to its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A field of the event being applied, by index in its type's fields.
    Field(usize),
    /// A member attribute, by index.
    Attribute(usize),
    /// A name the engine computes (`date`, `tier`, `hour`, …).
    Builtin(Builtin),
}

/// The orders of a comparison's two sides that make it true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admits {
    less: bool,
    equal: bool,
    greater: bool,
}

impl Admits {
    /// What `read op constant` admits; `None` for an operator that does
    /// not compare.
    fn of(op: BinaryOp) -> Option<Admits> {
        let admits = |less, equal, greater| {
            Some(Admits {
                less,
                equal,
                greater,
            })
        };
        match op {
            BinaryOp::Eq => admits(false, true, false),
            BinaryOp::Ne => admits(true, false, true),
            BinaryOp::Lt => admits(true, false, false),
            BinaryOp::Le => admits(true, true, false),
            BinaryOp::Gt => admits(false, false, true),
            BinaryOp::Ge => admits(false, true, true),
            BinaryOp::Or
            | BinaryOp::And
            | BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div => None,
        }
    }

    /// The same comparison with its sides swapped (`constant op read`
    /// read as `read op' constant`).
    fn swapped(self) -> Admits {
        Admits {
            less: self.greater,
            equal: self.equal,
            greater: self.less,
        }
    }

    pub fn admits(self, order: Ordering) -> bool {
        match order {
            Ordering::Less => self.less,
            Ordering::Equal => self.equal,
            Ordering::Greater => self.greater,
        }
    }
}

impl Predicate {
    /// The predicate of a condition written as `expr`.
    pub fn of(expr: &Expr) -> Predicate {
        match expr {
            Expr::Binary(BinaryOp::And, lhs, rhs) => {
                Predicate::All(Box::new(Self::of(lhs)), Box::new(Self::of(rhs)))
            }
            Expr::Binary(BinaryOp::Or, lhs, rhs) => {
                Predicate::Any(Box::new(Self::of(lhs)), Box::new(Self::of(rhs)))
            }
            Expr::Binary(op, lhs, rhs) => {
                let compared = Admits::of(*op).and_then(|order| {
                    match (read(lhs), &**lhs, read(rhs), &**rhs) {
                        (Some(read), _, None, Expr::Const(constant)) => {
                            Some((read, order, constant))
                        }
                        (None, Expr::Const(constant), Some(read), _) => {
                            Some((read, order.swapped(), constant))
                        }
                        _ => None,
                    }
                });
                match compared {
                    Some((read, order, constant)) => Predicate::Compare {
                        read,
                        order,
                        constant: constant.clone(),
                    },
                    None => Predicate::Expr(expr.clone()),
                }
            }
            Expr::InList(subject, items) => {
                let constants: Option<Vec<Value>> = items
                    .iter()
                    .map(|item| match item {
                        Expr::Const(constant) => Some(constant.clone()),
                        _ => None,
                    })
                    .collect();
                match (read(subject), constants) {
                    (Some(read), Some(constants)) => Predicate::OneOf { read, constants },
                    _ => Predicate::Expr(expr.clone()),
                }
            }
            Expr::Not(inner) if always_true_or_false(inner) => {
                Predicate::Not(Box::new(Self::of(inner)))
            }
            _ => Predicate::Expr(expr.clone()),
        }
    }
}

/// Where `expr` reads from, if it is a name with a place.
fn read(expr: &Expr) -> Option<Place> {
    match expr {
        Expr::Field(i) => Some(Place::Field(*i)),
        Expr::Attribute(i) => Some(Place::Attribute(*i)),
        Expr::Builtin(b) => Some(Place::Builtin(*b)),
        _ => None,
    }
}

/// Whether `expr`'s value is always `true` or `false`, never missing: a
/// comparison, `and`, `or`, `in`, or `not` of one of these.
fn always_true_or_false(expr: &Expr) -> bool {
    match expr {
        Expr::Binary(op, _, _) => !matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ),
        Expr::InList(..) | Expr::InRange(..) | Expr::Const(Value::Bool(_)) => true,
        Expr::Not(inner) => always_true_or_false(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;

    /// Whether any part of `predicate` is left to be evaluated as written.
    fn as_written(predicate: &Predicate) -> bool {
        match predicate {
            Predicate::Compare { .. } | Predicate::OneOf { .. } => false,
            Predicate::All(lhs, rhs) | Predicate::Any(lhs, rhs) => {
                as_written(lhs) || as_written(rhs)
            }
            Predicate::Not(inner) => as_written(inner),
            Predicate::Expr(_) => true,
        }
    }

    /// The peer rules' conditions (a member attribute, a field and the date,
    /// each against a constant, under `and` and `not`) are resolved whole,
    /// and a comparison of two names is left as written.
    #[test]
    fn conditions_of_names_and_constants_are_resolved_whole() {
        let peer = compile(include_str!("../../benches/peer_rules.loyalty"))
            .expect("the peer rules compile")
            .0;
        let conditions: Vec<&Predicate> = peer
            .rules
            .iter()
            .flat_map(|r| r.conditions.iter().map(|c| &c.predicate))
            .collect();
        assert_eq!(conditions.len(), 8);
        assert!(conditions.iter().all(|p| !as_written(p)), "{conditions:#?}");
        let two_names = Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Field(0)),
            Box::new(Expr::Attribute(0)),
        );
        assert!(as_written(&Predicate::of(&two_names)));
    }
}
