//! What a built-in event says besides its envelope, typed once, by the
//! reader: a return's purchase and amount, a redeem's reward or points, a
//! transfer's recipient… The engine takes these as they are, with nothing
//! to look up by position and nothing left to check for presence.

use crate::compile::ir::{BuiltinEvent, Value};
use crate::syntax::ast::ItemField;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// A record's built-in values by its type.
///
/// A purchase's `amount` is also the first of the event's fields (its
/// rules' conditions read it there). The other built-in events fire no
/// rules and take no fields of the program's: their values live here
/// alone, and their `fields` are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A type the program declares: fields only.
    Plain,
    /// An `enroll`: its member attributes are its fields; `referred_by`
    /// names the member who referred the new one, if any.
    Enroll {
        referred_by: Option<Box<str>>,
    },
    Purchase {
        amount: Decimal,
        /// Its basket, in the order given (empty when not itemized).
        items: Vec<Item>,
    },
    Return(Box<Return>),
    Redeem(Box<Redeem>),
    UsePerk {
        perk: Box<str>,
    },
    Transfer(Box<Transfer>),
    JoinPool {
        pool: Box<str>,
    },
    LeavePool {
        pool: Box<str>,
    },
    Adjust(Box<Adjust>),
    CancelRedeem {
        /// The id of the `redeem` cancelled.
        redemption: Box<str>,
    },
    /// A `profile`: the member attributes it changes are its fields.
    Profile,
    SetTier(Box<SetTier>),
    /// A row of a basket item, as read: the reader joins it to the
    /// purchase or return before it (`events::basket`).
    Item(Box<ItemRow>),
}

/// An `item` row as read: an item of a purchase gives its `category` and
/// `unit_price` (and a `discount`), one of a return names its `sku` and
/// `quantity` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub sku: String,
    pub quantity: Decimal,
    pub category: Option<String>,
    pub unit_price: Option<Decimal>,
    pub discount: Option<Decimal>,
}

impl ItemRow {
    /// The item of a purchase's basket this row gives (its amount not yet
    /// rounded to the currency); why not.
    pub fn bought(self) -> Result<Item, String> {
        let (Some(category), Some(unit_price)) = (self.category, self.unit_price) else {
            return Err("an item of a purchase needs `category` and `unit_price`".into());
        };
        let discount = self.discount.unwrap_or_default();
        let gross = self
            .quantity
            .checked_mul(unit_price)
            .ok_or("`item`'s quantity × unit_price exceeds the largest number loyalty holds")?;
        if discount > gross {
            return Err(format!(
                "`item`'s discount {discount} is more than its quantity × unit_price, {gross}"
            ));
        }
        Ok(Item {
            sku: self.sku,
            category,
            quantity: self.quantity,
            unit_price,
            discount,
            amount: gross - discount,
        })
    }

    /// The item of a return this row names; why not.
    pub fn returned(self) -> Result<ReturnedItem, String> {
        if self.category.is_some() || self.unit_price.is_some() || self.discount.is_some() {
            return Err(
                "an item of a return names its `sku` and `quantity` only: the purchase has the rest"
                    .into(),
            );
        }
        Ok(ReturnedItem {
            sku: self.sku,
            quantity: self.quantity,
        })
    }
}

/// `quantity` of the item `sku` of a purchase, returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedItem {
    pub sku: String,
    pub quantity: Decimal,
}

/// One line of a purchase's basket: `quantity` of `sku` at `unit_price`,
/// less `discount` on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub category: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Decimal,
    /// quantity × unit price − discount, to the currency's minor unit
    /// (half away from zero, as a cost), set when the item joins its
    /// purchase.
    pub amount: Decimal,
}

impl Item {
    /// The value `item.field` reads.
    pub fn value(&self, field: ItemField) -> Value {
        match field {
            ItemField::Sku => Value::Text(self.sku.as_str().into()),
            ItemField::Category => Value::Text(self.category.as_str().into()),
            ItemField::Quantity => Value::Number(self.quantity),
            ItemField::UnitPrice => Value::Number(self.unit_price),
            ItemField::Discount => Value::Number(self.discount),
            ItemField::Amount => Value::Number(self.amount),
        }
    }
}

/// A `return`: `amount` (greater than 0) of purchase `of`; `items`, the
/// items of its basket brought back, if it names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub of: String,
    pub amount: Decimal,
    pub items: Vec<ReturnedItem>,
}

/// A `redeem`: a reward, or an amount of a points type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    Reward(String),
    /// `points` (greater than 0) of `points_type`.
    Points {
        points: Decimal,
        points_type: String,
    },
}

/// A `transfer` of `points` of `points_type` to the member or pool `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub to: String,
    pub points: Decimal,
    pub points_type: String,
}

/// An `adjust`: `points` (signed) of `points_type` for `reason`; a credit
/// may belong to a `purchase` and carry its own `expires` date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjust {
    pub points: Decimal,
    pub points_type: String,
    pub reason: String,
    pub purchase: Option<String>,
    pub expires: Option<NaiveDate>,
}

/// A `set_tier`: the member holds at least `tier` through the day
/// `until`, for `reason` (a status match, a manual upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetTier {
    pub tier: String,
    pub reason: String,
    pub until: NaiveDate,
}

impl Body {
    /// The body of a record of `builtin` type (`None`: a declared type)
    /// whose fields, typed by the type's schema, are `fields`: the built-in
    /// values are taken out of `fields`, but for a purchase's amount, which
    /// stays. The reason when a value the type needs is absent.
    pub fn take(builtin: Option<BuiltinEvent>, fields: &mut Vec<Value>) -> Result<Body, String> {
        let Some(builtin) = builtin else {
            return Ok(Body::Plain);
        };
        match builtin {
            // The attributes, then `referred_by`, last (`compile::lower`).
            BuiltinEvent::Enroll => {
                let referred_by = fields.pop().and_then(present);
                return Ok(Body::Enroll {
                    referred_by: text(referred_by).map(String::into_boxed_str),
                });
            }
            BuiltinEvent::Profile => return Ok(Body::Profile),
            made if made.made_by_loyalty() => {
                return Err(format!(
                    "`{}` events are made by loyalty itself: a record cannot be one",
                    made.name()
                ))
            }
            _ => {}
        }
        if matches!(builtin, BuiltinEvent::Purchase) {
            return match fields.first() {
                Some(Value::Number(amount)) => Ok(Body::Purchase {
                    amount: *amount,
                    items: Vec::new(),
                }),
                _ => Err("`purchase` needs an `amount`".to_owned()),
            };
        }
        // The other built-in types have their schema's fields only, in
        // the order `BuiltinEvent::fields` gives.
        let mut values = std::mem::take(fields).into_iter().map(present);
        let mut next = || values.next().flatten();
        let body = match builtin {
            BuiltinEvent::Purchase
            | BuiltinEvent::Enroll
            | BuiltinEvent::Profile
            | BuiltinEvent::Birthday
            | BuiltinEvent::Anniversary
            | BuiltinEvent::MonthStart
            | BuiltinEvent::Upgrade
            | BuiltinEvent::TierChange
            | BuiltinEvent::Expiry
            | BuiltinEvent::TierPeriodStart => Body::Plain,
            BuiltinEvent::Return => match (text(next()), number(next())) {
                (None, _) => {
                    return Err("`return` needs `of`, the id of the purchase returned".into())
                }
                (Some(of), Some(amount)) if amount > Decimal::ZERO => {
                    Body::Return(Box::new(Return {
                        of,
                        amount,
                        items: Vec::new(),
                    }))
                }
                (Some(_), _) => return Err("`return` needs an `amount` greater than 0".into()),
            },
            BuiltinEvent::Redeem => {
                let redeem =
                    match (text(next()), number(next()), text(next())) {
                        (Some(reward), None, None) => Redeem::Reward(reward),
                        (Some(_), _, _) => return Err(
                            "`redeem` takes a `reward`, or `points` and `points_type`, not both"
                                .into(),
                        ),
                        (None, None, None) => {
                            return Err(
                                "`redeem` needs a `reward`, or `points` and `points_type`".into()
                            )
                        }
                        (None, Some(_), None) => {
                            return Err("`redeem` with `points` needs `points_type`".into())
                        }
                        (None, None, Some(_)) => {
                            return Err("`redeem` with `points_type` needs `points`".into())
                        }
                        (None, Some(points), Some(_)) if points <= Decimal::ZERO => {
                            return Err("`redeem` needs `points` greater than 0".into())
                        }
                        (None, Some(points), Some(points_type)) => Redeem::Points {
                            points,
                            points_type,
                        },
                    };
                Body::Redeem(Box::new(redeem))
            }
            BuiltinEvent::UsePerk => match text(next()) {
                Some(perk) => Body::UsePerk { perk: perk.into() },
                None => return Err("`use_perk` needs `perk`, the perk used".into()),
            },
            BuiltinEvent::Transfer => match (text(next()), number(next()), text(next())) {
                (Some(to), Some(points), Some(points_type)) => Body::Transfer(Box::new(Transfer {
                    to,
                    points,
                    points_type,
                })),
                _ => return Err("`transfer` needs `to`, `points` and `points_type`".into()),
            },
            BuiltinEvent::JoinPool | BuiltinEvent::LeavePool => {
                let Some(pool) = text(next()) else {
                    return Err(format!(
                        "`{}` needs `pool`, the pool's name (`household:smiths`)",
                        builtin.name()
                    ));
                };
                let pool = pool.into();
                match builtin {
                    BuiltinEvent::JoinPool => Body::JoinPool { pool },
                    _ => Body::LeavePool { pool },
                }
            }
            BuiltinEvent::Adjust => match (number(next()), text(next()), text(next())) {
                (Some(points), Some(points_type), Some(reason)) => {
                    let purchase = text(next());
                    let expires = match next() {
                        Some(Value::Date(day)) => Some(day),
                        _ => None,
                    };
                    Body::Adjust(Box::new(Adjust {
                        points,
                        points_type,
                        reason,
                        purchase,
                        expires,
                    }))
                }
                _ => {
                    return Err(
                        "`adjust` needs `points` (signed), `points_type` and a `reason`".into(),
                    )
                }
            },
            BuiltinEvent::CancelRedeem => match text(next()) {
                Some(redemption) => Body::CancelRedeem {
                    redemption: redemption.into(),
                },
                None => {
                    return Err("`cancel_redeem` needs `redemption`, the id of the redeem".into())
                }
            },
            BuiltinEvent::SetTier => {
                match (text(next()), text(next()), next()) {
                    (Some(tier), Some(reason), Some(Value::Date(until))) => {
                        Body::SetTier(Box::new(SetTier {
                            tier,
                            reason,
                            until,
                        }))
                    }
                    _ => return Err(
                        "`set_tier` needs `tier`, a `reason` and `until`, the last day it holds"
                            .into(),
                    ),
                }
            }
            BuiltinEvent::Item => {
                let (sku, category) = (text(next()), text(next()));
                let (quantity, unit_price, discount) =
                    (number(next()), number(next()), number(next()));
                let (Some(sku), Some(quantity)) = (sku, quantity) else {
                    return Err("`item` needs `sku` and `quantity`".into());
                };
                if quantity <= Decimal::ZERO {
                    return Err(format!(
                        "`item` needs a `quantity` greater than 0, not {quantity}"
                    ));
                }
                if [unit_price, discount]
                    .into_iter()
                    .flatten()
                    .any(|n| n < Decimal::ZERO)
                {
                    return Err("`item` cannot have a negative `unit_price` or `discount`".into());
                }
                Body::Item(Box::new(ItemRow {
                    sku,
                    quantity,
                    category,
                    unit_price,
                    discount,
                }))
            }
        };
        Ok(body)
    }

    /// The built-in type whose records have bodies of this shape (`None`
    /// for a plain body: the type's fields are all it has), for `take`.
    pub fn builtin(&self) -> Option<BuiltinEvent> {
        Some(match self {
            Body::Plain => return None,
            Body::Enroll { .. } => BuiltinEvent::Enroll,
            Body::Purchase { .. } => BuiltinEvent::Purchase,
            Body::Return(_) => BuiltinEvent::Return,
            Body::Redeem(_) => BuiltinEvent::Redeem,
            Body::UsePerk { .. } => BuiltinEvent::UsePerk,
            Body::Transfer(_) => BuiltinEvent::Transfer,
            Body::JoinPool { .. } => BuiltinEvent::JoinPool,
            Body::LeavePool { .. } => BuiltinEvent::LeavePool,
            Body::Adjust(_) => BuiltinEvent::Adjust,
            Body::CancelRedeem { .. } => BuiltinEvent::CancelRedeem,
            Body::Profile => BuiltinEvent::Profile,
            Body::SetTier(_) => BuiltinEvent::SetTier,
            Body::Item(_) => BuiltinEvent::Item,
        })
    }

    /// The built-in values a record of this body gave, in its schema's
    /// order, `Value::Missing` for those it left out: the fields `take`
    /// took (for a purchase or a plain body, none), which follow the
    /// fields left in the record.
    pub fn values(&self) -> Vec<Value> {
        let text = |t: &str| Value::Text(t.into());
        let maybe = |t: &Option<String>| t.as_deref().map_or(Value::Missing, text);
        match self {
            Body::Enroll { referred_by } => {
                vec![referred_by.as_deref().map_or(Value::Missing, text)]
            }
            Body::Plain | Body::Purchase { .. } | Body::Profile => Vec::new(),
            Body::Return(r) => vec![text(&r.of), Value::Number(r.amount)],
            Body::Redeem(r) => match r.as_ref() {
                Redeem::Reward(reward) => vec![text(reward), Value::Missing, Value::Missing],
                Redeem::Points {
                    points,
                    points_type,
                } => vec![Value::Missing, Value::Number(*points), text(points_type)],
            },
            Body::UsePerk { perk } => vec![text(perk)],
            Body::Transfer(t) => vec![text(&t.to), Value::Number(t.points), text(&t.points_type)],
            Body::JoinPool { pool } | Body::LeavePool { pool } => vec![text(pool)],
            Body::Adjust(a) => vec![
                Value::Number(a.points),
                text(&a.points_type),
                text(&a.reason),
                maybe(&a.purchase),
                a.expires.map_or(Value::Missing, Value::Date),
            ],
            Body::CancelRedeem { redemption } => vec![text(redemption)],
            Body::SetTier(s) => vec![text(&s.tier), text(&s.reason), Value::Date(s.until)],
            Body::Item(row) => vec![
                text(&row.sku),
                maybe(&row.category),
                Value::Number(row.quantity),
                row.unit_price.map_or(Value::Missing, Value::Number),
                row.discount.map_or(Value::Missing, Value::Number),
            ],
        }
    }
}

/// A value the record gave (not `Missing`).
fn present(value: Value) -> Option<Value> {
    Some(value).filter(|v| *v != Value::Missing)
}

fn text(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::Text(text)) => Some(text.into()),
        _ => None,
    }
}

fn number(value: Option<Value>) -> Option<Decimal> {
    match value {
        Some(Value::Number(number)) => Some(number),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::FieldType;

    /// A value of `ty` for a built-in field.
    fn sample(ty: FieldType, n: usize) -> Value {
        match ty {
            FieldType::Number | FieldType::Money => Value::Number(Decimal::from(n + 1)),
            FieldType::Text => Value::Text(format!("t{n}").into()),
            FieldType::Date => Value::Date(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()),
            FieldType::Bool => Value::Bool(true),
        }
    }

    /// Taking a body and giving back its values is the identity on records
    /// that give every built-in field a body can hold: the fields are read
    /// in the schema's order. (No record is of a type loyalty makes.)
    #[test]
    fn values_give_back_what_take_took() {
        for builtin in BuiltinEvent::ALL
            .into_iter()
            .filter(|b| !b.made_by_loyalty())
        {
            let schema = builtin.fields();
            let mut all: Vec<Value> = schema
                .iter()
                .enumerate()
                .map(|(n, (_, ty))| sample(*ty, n))
                .collect();
            if builtin == BuiltinEvent::Redeem {
                // A reward, or points: not both.
                all[1] = Value::Missing;
                all[2] = Value::Missing;
            }
            let mut fields = all.clone();
            let body = Body::take(Some(builtin), &mut fields).unwrap();
            assert_eq!(body.builtin(), Some(builtin));
            match body {
                Body::Plain | Body::Purchase { .. } | Body::Profile => {
                    assert_eq!(fields, all, "{builtin:?}")
                }
                Body::Enroll { .. } => {
                    assert_eq!([fields, body.values()].concat(), all, "{builtin:?}")
                }
                _ => {
                    assert!(fields.is_empty(), "{builtin:?}");
                    assert_eq!(body.values(), all, "{builtin:?}");
                }
            }
        }
    }

    #[test]
    fn no_record_is_of_a_type_loyalty_makes() {
        for made in BuiltinEvent::ALL
            .into_iter()
            .filter(|b| b.made_by_loyalty())
        {
            let refused = Body::take(Some(made), &mut Vec::new()).unwrap_err();
            assert!(refused.contains("made by loyalty itself"), "{refused}");
        }
    }

    #[test]
    fn a_redeem_of_points_keeps_them_and_their_type() {
        let mut fields = vec![
            Value::Missing,
            Value::Number(Decimal::from(250)),
            Value::Text("stars".into()),
        ];
        let body = Body::take(Some(BuiltinEvent::Redeem), &mut fields).unwrap();
        assert_eq!(
            body,
            Body::Redeem(Box::new(Redeem::Points {
                points: Decimal::from(250),
                points_type: "stars".into()
            }))
        );
    }

    #[test]
    fn absent_values_a_type_needs_are_named() {
        let mut fields = vec![Value::Text("p1".into()), Value::Missing];
        assert_eq!(
            Body::take(Some(BuiltinEvent::Transfer), &mut fields),
            Err("`transfer` needs `to`, `points` and `points_type`".into())
        );
        let mut fields = vec![Value::Missing];
        assert_eq!(
            Body::take(Some(BuiltinEvent::LeavePool), &mut fields),
            Err("`leave_pool` needs `pool`, the pool's name (`household:smiths`)".into())
        );
    }
}
