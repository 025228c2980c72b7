//! Baskets: the items of a purchase (or of a return, which names the
//! items it brings back) joined to it. In CSV (and Parquet or Arrow) an
//! item is a row of its own, of type `item`, right after its record and
//! with its id, member and time; JSON Lines and YAML list the items in the
//! record's `items`. A basket is taken whole or not at all: a rejected
//! item rejects its record too, and so do a purchase's items that add up
//! to more than its amount.

use super::record::{type_item, Cell};
use super::{echo, Body, Event, ItemRow, Reject, RejectClass};
use crate::compile::ir::Program;
use std::collections::VecDeque;

/// The field of a JSON Lines or YAML purchase (or return) that lists its
/// items.
pub(super) const ITEMS: &str = "items";

/// Adds the item of `row` to the basket of `record`, a purchase (its
/// amount rounded to the program's currency) or a return; why not, if it
/// cannot be.
pub(super) fn add(program: &Program, record: &mut Event, row: ItemRow) -> Result<(), String> {
    let id = echo(&record.id).into_owned();
    let twice = format!(
        "sku `{}` is in the basket of `{id}` twice: give it once, with its quantity",
        echo(&row.sku)
    );
    match &mut record.body {
        Body::Purchase { amount, items } => {
            if items.iter().any(|other| other.sku == row.sku) {
                return Err(twice);
            }
            let mut item = row.bought()?;
            item.amount = program.currency.round(item.amount);
            items
                .iter()
                .try_fold(item.amount, |sum, other| sum.checked_add(other.amount))
                .filter(|total| total <= amount)
                .ok_or_else(|| {
                    format!(
                        "the items of `{id}` add up to more than its amount, {}",
                        program.currency.format(*amount)
                    )
                })?;
            items.push(item);
        }
        Body::Return(back) => {
            if back.items.iter().any(|other| other.sku == row.sku) {
                return Err(twice);
            }
            back.items.push(row.returned()?);
        }
        _ => {
            return Err(format!(
                "items belong to a purchase or a return, and `{id}` is neither"
            ))
        }
    }
    Ok(())
}

/// The purchase or return `typed` with the items its `items` list gives
/// (JSON Lines, YAML), each by its cells, `None` for an entry that is not
/// a map. A bad item rejects the record, naming it.
pub(super) fn listed<'k, 'v, C>(
    program: &Program,
    typed: Result<Event, Reject>,
    items: Vec<Option<C>>,
) -> Result<Event, Reject>
where
    C: IntoIterator<Item = (&'k str, Cell<'v>)>,
{
    let mut purchase = typed?;
    for (n, cells) in items.into_iter().enumerate() {
        let added = cells
            .ok_or_else(|| "it is not a map of fields".to_string())
            .and_then(|cells| type_item(program, cells))
            .and_then(|item| add(program, &mut purchase, item));
        if let Err(reason) = added {
            return Err(rejected(
                &purchase,
                format!("item {} of `items`: {reason}", n + 1),
            ));
        }
    }
    Ok(purchase)
}

/// The records of a file of rows (CSV, Parquet, Arrow), in order.
pub(super) trait Rows: Iterator<Item = Result<Event, Reject>> {
    /// Whether its rows may be basket items: it has a `sku` column (once
    /// known).
    fn itemized(&self) -> bool;
}

/// The records of a file of rows with each purchase's `item` rows joined
/// to it. A purchase is held back until the row after it shows whether its
/// basket goes on, but only in a file with a `sku` column: without one no
/// row can be an item, and records go out as they are read.
pub(super) struct Baskets<'p, R> {
    records: R,
    program: &'p Program,
    /// The last purchase read (or a rejected record with an id), whose
    /// item rows may follow, and the item rows rejected after it.
    held: Option<(Result<Event, Reject>, Vec<Reject>)>,
    ready: VecDeque<Result<Event, Reject>>,
}

impl<'p, R: Rows> Baskets<'p, R> {
    pub(super) fn new(program: &'p Program, records: R) -> Self {
        Baskets {
            records,
            program,
            held: None,
            ready: VecDeque::new(),
        }
    }

    /// Hands the held record, and the item rows rejected after it, on.
    fn release(&mut self) {
        if let Some((record, rejected)) = self.held.take() {
            self.ready.push_back(record);
            self.ready.extend(rejected.into_iter().map(Err));
        }
    }

    /// Takes in the next record read.
    fn take(&mut self, record: Result<Event, Reject>) {
        let held_id = self.held.as_ref().and_then(|(held, _)| match held {
            Ok(event) => Some(event.id.as_str()),
            Err(reject) => reject.id.as_deref(),
        });
        let same_id = |id: Option<&str>| id.is_some() && id == held_id;
        match record {
            Ok(row) if matches!(row.body, Body::Item(_)) => {
                if !same_id(Some(&row.id)) {
                    self.release();
                    let reason = format!(
                        "an `item` row follows the purchase or return it belongs to, with its id, but no record `{}` is just before it",
                        echo(&row.id)
                    );
                    self.ready.push_back(Err(rejected(&row, reason)));
                    return;
                }
                let Some((held, rejects)) = self.held.as_mut() else {
                    return;
                };
                let reason = match held {
                    Err(_) => Some(format!("its purchase `{}` is rejected", echo(&row.id))),
                    Ok(purchase) if purchase.member != row.member || purchase.time != row.time => {
                        Some("an `item` row has its purchase's member and time".to_string())
                    }
                    Ok(purchase) => {
                        let Body::Item(item) = &row.body else { return };
                        add(self.program, purchase, item.as_ref().clone()).err()
                    }
                };
                if let Some(reason) = reason {
                    let reject = rejected(&row, reason);
                    refuse_basket(held);
                    rejects.push(reject);
                }
            }
            // A bad row with the held purchase's id: one of its items.
            Err(reject) if same_id(reject.id.as_deref()) => {
                if let Some((held, rejects)) = self.held.as_mut() {
                    refuse_basket(held);
                    rejects.push(reject);
                }
            }
            record => {
                self.release();
                let holds = match &record {
                    Ok(event) => matches!(event.body, Body::Purchase { .. } | Body::Return(_)),
                    Err(reject) => reject.id.is_some(),
                };
                if holds && self.records.itemized() {
                    self.held = Some((record, Vec::new()));
                } else {
                    self.ready.push_back(record);
                }
            }
        }
    }
}

impl<R: Rows> Iterator for Baskets<'_, R> {
    type Item = Result<Event, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(record);
            }
            match self.records.next() {
                Some(record) => self.take(record),
                None => {
                    self.release();
                    return self.ready.pop_front();
                }
            }
        }
    }
}

/// A reject of `event`, typed but not applicable, for `reason`.
fn rejected(event: &Event, reason: String) -> Reject {
    Reject {
        origin: event.origin.clone(),
        id: Some(echo(&event.id).into_owned()),
        member: Some(echo(&event.member).into_owned()),
        class: RejectClass::Invalid,
        reason,
    }
}

/// Rejects a held purchase one of whose item rows is rejected (the reject
/// after it says which and why): its basket would be incomplete. (No line
/// number: a CSV file counts its header as a line, a Parquet file does
/// not, and the reason is the same in both.)
fn refuse_basket(held: &mut Result<Event, Reject>) {
    if let Ok(purchase) = held {
        let reason = "an item of its basket is rejected (below), so the basket is incomplete";
        *held = Err(rejected(purchase, reason.to_string()));
    }
}
