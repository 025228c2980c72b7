//! Baskets for the differential test: purchases' items (now and then a basket the engine must reject whole) and a rule earning per item.

use super::{binary, dec, expr, ident, num, positive, rounding, spanned, POINTS};
use loyalty::syntax::ast::*;
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

/// The categories items are in, and the rules' `where` names.
const CATEGORIES: [&str; 3] = ["fuel", "coffee", "books"];

/// One item of a purchase's basket, as the record writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenItem {
    pub sku: String,
    pub category: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Left out of the record when `None` (0).
    pub discount: Option<Decimal>,
}

impl GenItem {
    /// The item as an element of the record's `items`.
    pub fn json(&self) -> serde_json::Value {
        let text = |s: String| serde_json::Value::String(s);
        let mut fields = serde_json::Map::new();
        fields.insert("sku".into(), text(self.sku.clone()));
        fields.insert("category".into(), text(self.category.clone()));
        fields.insert("quantity".into(), text(self.quantity.to_string()));
        fields.insert("unit_price".into(), text(self.unit_price.to_string()));
        if let Some(d) = self.discount {
            fields.insert("discount".into(), text(d.to_string()));
        }
        serde_json::Value::Object(fields)
    }

    /// Quantity × unit price, before the discount.
    fn gross(&self) -> Decimal {
        self.quantity * self.unit_price
    }
}

/// A basket before it is records: its items, what the purchase adds that
/// is not itemized, and the fault it is generated with, if any.
#[derive(Debug, Clone)]
pub struct BasketSpec {
    items: Vec<ItemSpec>,
    /// 0, 0.50 or 12.00 more than the items (rounded up to the cent).
    extra: u8,
    /// 0: none; 1: the amount a cent below the items' sum; 2: a sku given
    /// twice; 3: a discount above quantity × unit price.
    fault: u8,
}

#[derive(Debug, Clone)]
struct ItemSpec {
    category: usize,
    quantity: Decimal,
    unit_price: Decimal,
    /// A discount, in percent of quantity × unit price (cents cut down).
    discount: Option<u32>,
}

pub fn basket() -> impl Strategy<Value = BasketSpec> {
    let item = (
        0..CATEGORIES.len(),
        prop_oneof![
            Just(Decimal::ONE),
            Just(Decimal::TWO),
            Just(Decimal::from(3)),
            Just(dec(5, 1)),
            Just(dec(425, 1)),
        ],
        positive(30000, 3),
        proptest::option::weighted(0.3, 0u32..=100),
    )
        .prop_map(|(category, quantity, unit_price, discount)| ItemSpec {
            category,
            quantity,
            unit_price,
            discount,
        });
    (
        proptest::collection::vec(item, 1..=4),
        0u8..3,
        prop_oneof![9 => Just(0u8), 1 => 1u8..=3],
    )
        .prop_map(|(items, extra, fault)| BasketSpec {
            items,
            extra,
            fault,
        })
}

impl BasketSpec {
    /// The items and the purchase's amount: the items' amounts, each
    /// rounded up to the cent (so at least what they are in any currency),
    /// summed, plus the extra; or what the fault makes of them.
    pub fn resolve(&self) -> (Vec<GenItem>, Decimal) {
        let mut items: Vec<GenItem> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let gross = s.quantity * s.unit_price;
                GenItem {
                    sku: format!("S{i}"),
                    category: CATEGORIES.get(s.category).copied().unwrap_or("fuel").into(),
                    quantity: s.quantity,
                    unit_price: s.unit_price,
                    discount: s.discount.map(|p| {
                        (gross * Decimal::from(p) / Decimal::ONE_HUNDRED)
                            .round_dp_with_strategy(2, RoundingStrategy::ToZero)
                    }),
                }
            })
            .collect();
        match self.fault {
            2 if items.len() > 1 => {
                if let Some(sku) = items.first().map(|i| i.sku.clone()) {
                    if let Some(last) = items.last_mut() {
                        last.sku = sku;
                    }
                }
            }
            3 => {
                if let Some(first) = items.first_mut() {
                    first.discount = Some(first.gross().round_dp(2) + dec(1, 2));
                }
            }
            _ => {}
        }
        let sum: Decimal = items
            .iter()
            .map(|i| {
                (i.gross() - i.discount.unwrap_or_default())
                    .round_dp_with_strategy(2, RoundingStrategy::AwayFromZero)
            })
            .sum();
        let amount = match (self.fault, self.extra) {
            (1, _) => sum - dec(1, 2),
            (_, 1) => sum + dec(50, 2),
            (_, 2) => sum + Decimal::from(12),
            _ => sum,
        };
        (items, amount.max(dec(1, 2)))
    }
}

/// The items a return names: of `basket`'s items the `n`th (wrapping),
/// `k` saying how much: 1 all of it, 2 half of it, 3 one of a sku the
/// basket lacks, 4 one more than it had.
pub fn named(basket: &[GenItem], n: usize, k: u8) -> Vec<(String, Decimal)> {
    let Some(item) = basket.get(n % basket.len().max(1)) else {
        return vec![("PUZZLE".into(), Decimal::ONE)];
    };
    let quantity = match k {
        1 => item.quantity,
        2 => item.quantity / Decimal::TWO,
        _ => item.quantity + Decimal::ONE,
    };
    let sku = if k == 3 { "PUZZLE" } else { &item.sku };
    vec![(sku.to_string(), quantity)]
}

/// A return's `items`, as JSON.
pub fn returned(items: &[(String, Decimal)]) -> serde_json::Value {
    serde_json::Value::Array(
        items
            .iter()
            .map(
                |(sku, quantity)| serde_json::json!({"sku": sku, "quantity": quantity.to_string()}),
            )
            .collect(),
    )
}

/// A rule earning per item, written after every other rule (so that no
/// share or multiplier names it): one or two per-item lines of one points
/// type, maybe a line on the whole purchase, maybe a cap per item.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    points: usize,
    lines: Vec<LineSpec>,
    /// `earn N P`: a line that is not per item.
    flat: Option<Decimal>,
    /// `cap N P per item`, with one per-item line only: with two, the docs
    /// could be read as capping each line's award on the item or their sum.
    cap: Option<Decimal>,
    round: Option<Rounding>,
}

#[derive(Debug, Clone)]
struct LineSpec {
    rate: Decimal,
    base: Base,
    /// `where item.category = C` (or `!=`).
    filter: Option<(bool, usize)>,
}

#[derive(Debug, Clone)]
enum Base {
    /// No `per`: the rate on each item (a per-item line by its `where`,
    /// so it has one).
    None,
    /// `per [full] N USD of item.amount`.
    Amount(Decimal, bool),
    /// `per [full] N items`.
    Items(u32, bool),
}

pub fn rule(points: usize) -> impl Strategy<Value = RuleSpec> {
    let line = (
        positive(50, 1),
        prop_oneof![
            1 => Just(Base::None),
            3 => (prop_oneof![Just(Decimal::ONE), Just(dec(25, 1)), Just(Decimal::TEN)], any::<bool>())
                .prop_map(|(u, f)| Base::Amount(u, f)),
            2 => (1u32..=3, any::<bool>()).prop_map(|(u, f)| Base::Items(u, f)),
        ],
        proptest::option::weighted(0.6, (any::<bool>(), 0..CATEGORIES.len())),
    )
        .prop_map(|(rate, base, filter)| LineSpec { rate, base, filter });
    (
        0..points,
        proptest::collection::vec(line, 1..=2),
        proptest::option::weighted(0.3, positive(20, 0)),
        proptest::option::weighted(0.4, positive(300, 1)),
        proptest::option::weighted(0.5, rounding()),
    )
        .prop_map(|(points, mut lines, flat, cap, round)| {
            if cap.is_some() {
                lines.truncate(1);
            }
            RuleSpec {
                points,
                lines,
                flat,
                cap,
                round,
            }
        })
}

fn item_field(name: &str) -> Expr {
    expr(ExprKind::ItemField(ident(name)))
}

impl RuleSpec {
    /// The rule, named `basket`.
    pub fn decl(&self) -> RuleDecl {
        let points = POINTS.get(self.points).copied().unwrap_or("stars");
        let mut stmts = vec![RuleStmt::On {
            event: ident("purchase"),
            condition: None,
        }];
        for line in &self.lines {
            let per = |unit: Decimal, full: bool, currency, base, items| PerClause {
                full,
                unit: num(unit),
                currency,
                base,
                items,
                span: Span::default(),
            };
            let per = match line.base {
                Base::None => None,
                Base::Amount(unit, full) => Some(per(
                    unit,
                    full,
                    Some(ident("USD")),
                    item_field("amount"),
                    false,
                )),
                Base::Items(n, full) => Some(per(
                    Decimal::from(n),
                    full,
                    None,
                    item_field("quantity"),
                    true,
                )),
            };
            // A line with no `per` is per item by its `where` only.
            let filter = match (line.filter, &per) {
                (Some(f), _) => Some(f),
                (None, None) => Some((false, 0)),
                (None, Some(_)) => None,
            };
            let filter = filter.map(|(not, c)| {
                Box::new(binary(
                    if not { BinaryOp::Ne } else { BinaryOp::Eq },
                    item_field("category"),
                    expr(ExprKind::Text(
                        CATEGORIES.get(c).copied().unwrap_or("fuel").into(),
                    )),
                ))
            });
            stmts.push(RuleStmt::Earn(Earn {
                award: Award::Amount {
                    amount: expr(ExprKind::Number(line.rate)),
                    points: ident(points),
                    per,
                    filter,
                },
                multiplier: None,
                to_referrer: false,
            }));
        }
        if let Some(n) = self.flat {
            stmts.push(RuleStmt::Earn(Earn {
                award: Award::Amount {
                    amount: expr(ExprKind::Number(n)),
                    points: ident(points),
                    per: None,
                    filter: None,
                },
                multiplier: None,
                to_referrer: false,
            }));
        }
        if let Some(cap) = self.cap {
            stmts.push(RuleStmt::Cap {
                amount: num(cap),
                points: ident(points),
                scope: CapScope::PerItem,
            });
        }
        if let Some(mode) = self.round {
            stmts.push(RuleStmt::Round(mode));
        }
        RuleDecl {
            preview: false,
            name: ident("basket"),
            stmts: stmts.into_iter().map(spanned).collect(),
            span: Span::default(),
        }
    }
}
