//! What the members hold and what they owe at each month's end, per points
//! type: the outstanding points split into positive balances (the
//! liability) and negative ones (debts left by returns of spent points, a
//! receivable). Kept per member by month from the ledger's amounts, so a
//! late event's restated rows count in the months they belong to.

use crate::finance::liability::Month;
use compact_str::CompactString;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Per member, the change of each points type's balance in each month.
#[derive(Debug, Clone, Default)]
pub struct BalanceBook {
    types: usize,
    /// Each member's months in order, with the change per points type.
    members: BTreeMap<CompactString, Vec<(Month, Vec<Decimal>)>>,
}

/// At one month's end, for one points type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// The sum of the positive balances.
    pub held: Decimal,
    /// The sum of the negative balances, as a positive number: what members
    /// owe.
    pub owed: Decimal,
}

impl BalanceBook {
    /// A book for a program with `types` points types.
    pub fn new(types: usize) -> Self {
        BalanceBook {
            types,
            members: BTreeMap::new(),
        }
    }

    /// `member`'s balance of points type `p` changed by `amount` in `month`.
    pub fn add(&mut self, member: &CompactString, p: usize, month: Month, amount: Decimal) {
        let months = self.members.entry(member.clone()).or_default();
        // Rows come in time order, but for a late event's re-run.
        let at = match months.last() {
            Some((last, _)) if *last == month => months.len() - 1,
            Some((last, _)) if *last < month => months.len(),
            _ => months.partition_point(|(m, _)| *m < month),
        };
        if months.get(at).is_none_or(|(m, _)| *m != month) {
            months.insert(at, (month, vec![Decimal::ZERO; self.types]));
        }
        if let Some(change) = months.get_mut(at).and_then(|(_, c)| c.get_mut(p)) {
            *change += amount;
        }
    }

    /// Per month from `first` through `last`, per points type: what the
    /// members held and owed at the month's end.
    pub fn holdings(&self, first: Month, last: Month) -> BTreeMap<Month, Vec<Holdings>> {
        // How held and owed change in each month, over all members.
        let mut changes: BTreeMap<Month, Vec<Holdings>> = BTreeMap::new();
        for months in self.members.values() {
            let mut balance = vec![Decimal::ZERO; self.types];
            for (month, change) in months {
                let moved = changes
                    .entry(*month)
                    .or_insert_with(|| vec![Holdings::default(); self.types]);
                for ((balance, change), moved) in balance.iter_mut().zip(change).zip(moved) {
                    let before = split(*balance);
                    *balance += change;
                    let after = split(*balance);
                    moved.held += after.held - before.held;
                    moved.owed += after.owed - before.owed;
                }
            }
        }
        let mut running = vec![Holdings::default(); self.types];
        // Months before `first` are carried into it.
        for (_, moved) in changes.range(..first) {
            accumulate(&mut running, moved);
        }
        (first..=last)
            .map(|month| {
                if let Some(moved) = changes.get(&month) {
                    accumulate(&mut running, moved);
                }
                (month, running.clone())
            })
            .collect()
    }
}

/// A balance as what it holds and what it owes.
fn split(balance: Decimal) -> Holdings {
    Holdings {
        held: balance.max(Decimal::ZERO),
        owed: (-balance).max(Decimal::ZERO),
    }
}

fn accumulate(running: &mut [Holdings], moved: &[Holdings]) {
    for (total, moved) in running.iter_mut().zip(moved) {
        total.held += moved.held;
        total.owed += moved.owed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_in_debt_counts_as_owed_until_earning_repays_it_even_restated_late() {
        let mut book = BalanceBook::new(1);
        let ann = CompactString::from("ann");
        let bob = CompactString::from("bob");
        book.add(&ann, 0, 10, Decimal::from(100));
        book.add(&ann, 0, 11, Decimal::from(-130));
        book.add(&bob, 0, 11, Decimal::from(40));
        book.add(&ann, 0, 13, Decimal::from(50));
        // A late row of ann's, in month 12, after the month 13 one.
        book.add(&ann, 0, 12, Decimal::from(10));
        let at = |h: &BTreeMap<Month, Vec<Holdings>>, m: Month| {
            let holdings = h
                .get(&m)
                .and_then(|v| v.first())
                .copied()
                .unwrap_or_default();
            (holdings.held, holdings.owed)
        };
        let holdings = book.holdings(10, 14);
        let n = Decimal::from;
        assert_eq!(at(&holdings, 10), (n(100), n(0)));
        assert_eq!(at(&holdings, 11), (n(40), n(30)));
        assert_eq!(at(&holdings, 12), (n(40), n(20)));
        assert_eq!(at(&holdings, 13), (n(70), n(0)));
        assert_eq!(at(&holdings, 14), (n(70), n(0)));
    }
}
