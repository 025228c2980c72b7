//! Baskets in the reference: a purchase's items read whole or rejected, and `earn` lines computed per item (docs/semantics.md, "Baskets").

use super::gen::baskets::GenItem;
use super::gen::{GenEvent, Kind};
use super::{Facts, Program, Purchase, Uncomputable, Value};
use loyalty::syntax::ast::*;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeSet;

/// `item.amount`: quantity × unit price − discount, rounded to the
/// currency's minor unit half away from zero.
fn amount(item: &GenItem, decimals: u32) -> Decimal {
    (item.quantity * item.unit_price - item.discount.unwrap_or_default())
        .round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
}

impl Program<'_> {
    /// Whether a purchase's basket is taken (any other record: true): no
    /// sku twice, quantities above zero, prices and discounts not below
    /// zero, no discount above quantity × unit price, and the items'
    /// amounts adding up to at most the purchase's.
    pub(super) fn whole_basket(&self, e: &GenEvent) -> bool {
        let Kind::Purchase {
            amount: paid,
            items,
            ..
        } = &e.kind
        else {
            return true;
        };
        let mut skus = BTreeSet::new();
        let mut sum = Decimal::ZERO;
        for item in items {
            let discount = item.discount.unwrap_or_default();
            if !skus.insert(&item.sku)
                || item.quantity <= Decimal::ZERO
                || item.unit_price < Decimal::ZERO
                || discount < Decimal::ZERO
                || discount > item.quantity * item.unit_price
            {
                return false;
            }
            sum += amount(item, self.money_decimals);
        }
        sum <= *paid
    }
}

/// Whether an expression reads a field of the item.
fn reads_item(e: &Expr) -> bool {
    match &e.node {
        ExprKind::ItemField(_) => true,
        ExprKind::Paren(inner) | ExprKind::Unary { expr: inner, .. } => reads_item(inner),
        ExprKind::Binary { lhs, rhs, .. } => reads_item(lhs) || reads_item(rhs),
        ExprKind::InList { expr, items } => reads_item(expr) || items.iter().any(reads_item),
        ExprKind::InRange { expr, low, high } => {
            reads_item(expr) || reads_item(low) || reads_item(high)
        }
        _ => false,
    }
}

/// Whether an `earn ... of` line earns per item: it reads `item.` fields,
/// counts `per item`, or has a `where`.
pub(super) fn per_item(amount: &Expr, per: Option<&PerClause>, filter: Option<&Expr>) -> bool {
    filter.is_some() || reads_item(amount) || per.is_some_and(|p| p.items || reads_item(&p.base))
}

impl<'m> Facts<'m> {
    /// A field of the item the line is on (none: missing).
    pub(super) fn item_field(&self, name: &str) -> Value {
        let Some(item) = self.item else {
            return Value::Missing;
        };
        match name {
            "sku" => Value::Text(item.sku.clone()),
            "category" => Value::Text(item.category.clone()),
            "quantity" => Value::Number(item.quantity),
            "unit_price" => Value::Money(item.unit_price),
            "discount" => Value::Money(item.discount.unwrap_or_default()),
            "amount" => Value::Money(amount(item, self.program.money_decimals)),
            _ => Value::Missing,
        }
    }

    /// A per-item line on the basket: on each item its `where` holds for,
    /// the line's value times its table's factor, below zero nothing, cut
    /// to `cap` (the rule's least cap per item of the line's type): what
    /// each such item (by sku) gives, unrounded (none: no item to earn
    /// on); `None` when the line reads a field left empty (the rule does
    /// not fire).
    pub(super) fn per_item_line(
        &self,
        amount: &Expr,
        per: Option<&PerClause>,
        filter: Option<&Expr>,
        table: Option<&Multiplier>,
        cap: Option<Decimal>,
    ) -> Result<Option<Vec<(String, Decimal)>>, Uncomputable> {
        let mut parts = Vec::new();
        for item in self.items {
            let on = Facts {
                item: Some(item),
                ..self.clone()
            };
            if filter.is_some_and(|f| on.eval(f) != Value::Bool(true)) {
                continue;
            }
            let Some(value) = on.line_value(amount, per)? else {
                return Ok(None);
            };
            let factor = table.map_or(Decimal::ONE, |m| on.factor(m));
            let value = value
                .checked_mul(factor)
                .ok_or(Uncomputable)?
                .max(Decimal::ZERO);
            let value = cap.map_or(value, |cap| value.min(cap));
            parts.push((item.sku.clone(), value));
        }
        Ok(Some(parts))
    }
}

/// The least `cap N P per item` of a rule, for points type `points`.
pub(super) fn cap_per_item(rule: &RuleDecl, points: &str) -> Option<Decimal> {
    rule.stmts
        .iter()
        .filter_map(|s| match &s.node {
            RuleStmt::Cap {
                amount,
                points: p,
                scope: CapScope::PerItem,
            } if p.node == points => Some(amount.node),
            _ => None,
        })
        .min()
}

/// Whether a return may bring back `items` (sku, quantity) of `purchase`,
/// and if so counts them returned: each a sku of its basket, above zero,
/// no more than is left of it (docs/semantics.md, "Returns naming items").
pub(super) fn take_back(purchase: &mut Purchase, items: &[(String, Decimal)]) -> bool {
    let fits = items.iter().all(|(sku, quantity)| {
        *quantity > Decimal::ZERO
            && purchase
                .items
                .iter()
                .any(|(s, bought, back)| s == sku && *back + *quantity <= *bought)
    });
    if !fits {
        return false;
    }
    for (sku, quantity) in items {
        if let Some(item) = purchase.items.iter_mut().find(|(s, _, _)| s == sku) {
            item.2 += *quantity;
        }
    }
    purchase.named |= !items.is_empty();
    true
}

/// What of award `a` the purchase's returns so far give back, when they
/// name items and the award was earned on items: each item's part by the
/// share of its quantity returned plus the rest of the unrounded award by
/// the money share, and the unrounded award it is a share of (the caller
/// multiplies before dividing: 7 × 0.5 / 7 is exactly 0.5). `None`: the
/// money share (docs/semantics.md, "Returns without items", and awards
/// with no per-item lines).
pub(super) fn share_back(purchase: &Purchase, a: usize) -> Option<(Decimal, Decimal)> {
    let (raw, parts) = purchase.awards.get(a)?.parts.as_ref()?;
    if !purchase.named || raw.is_zero() {
        return None;
    }
    let mut items = Decimal::ZERO;
    for (sku, part) in parts {
        let (_, bought, back) = purchase.items.iter().find(|(s, _, _)| s == sku)?;
        // The share of the item returned first: all of it gives back
        // exactly its part (part × back ÷ bought rounds at the 28th digit
        // and can fall short of it).
        items += *part * (*back / *bought);
    }
    // The other lines' part: the award less the items' parts summed (as
    // the award summed them), so that a rule earning on items alone has
    // none, where subtracting each part in turn left a 28th-digit crumb.
    let on_items: Decimal = parts.iter().map(|(_, part)| *part).sum();
    let rest = *raw - on_items;
    Some((items + rest * purchase.returned / purchase.amount, *raw))
}
