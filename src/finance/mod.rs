//! Finance: what the points cost. Liability per month and points type from
//! the ledger and its roll-forward, breakage (estimated, revised over time,
//! or fitted by cohort),
//! deferred revenue, what members owe and the reconciliation, closed
//! periods, and the cost of a change to a program.

pub mod balances;
pub mod close;
pub mod cohorts;
pub mod deferred;
pub mod diff;
pub mod estimates;
pub mod liability;
pub mod reconcile;
pub mod rollforward;
pub mod spread;
pub mod threshold;
pub mod upcoming;

use crate::currency::Currency;
use rust_decimal::Decimal;

/// What outstanding points are worth: outstanding × value per point ×
/// (1 − breakage), rounded to the currency's minor unit half to even, as
/// `summary.json` has always rounded its liability (so the two reports
/// agree to the cent).
pub fn liability(
    currency: Currency,
    outstanding: Decimal,
    value: Decimal,
    breakage: Decimal,
) -> Decimal {
    currency.round_even(outstanding * value * (Decimal::ONE - breakage))
}

/// A percentage from 0 to 100 as people write it (`18` or `18%`), as a
/// fraction (`0.18`); `None` for anything else.
pub fn parse_percent(text: &str) -> Option<Decimal> {
    let number = text.strip_suffix('%').unwrap_or(text);
    number
        .parse::<Decimal>()
        .ok()
        .filter(|pct| *pct >= Decimal::ZERO && *pct <= Decimal::ONE_HUNDRED)
        .map(|pct| pct / Decimal::ONE_HUNDRED)
}

/// Why a finance report cannot be made for these programs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `diff`: the two programs' costs are in different currencies.
    #[error(
        "the programs count money in different currencies ({old} and {new}): their costs cannot be compared"
    )]
    DifferentCurrencies { old: String, new: String },
    /// Deferred revenue: no points type can be redeemed and has a value.
    #[error(
        "deferred revenue needs a points type that can be redeemed and has a `value`: this program has none"
    )]
    NoValuedPoints,
    /// Deferred revenue: several points types can, and the allocation
    /// between them is not supported.
    #[error(
        "deferred revenue is computed for one points type, and this program has {} with a value ({}): the allocation between several is not supported",
        names.len(),
        names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
    )]
    SeveralValuedPoints { names: Vec<String> },
    /// `--close-through` is not a month's last day.
    #[error("--close-through {0}: books close by whole months; give the last day of one")]
    NotMonthEnd(chrono::NaiveDate),
    /// The booked report stops before the months to close.
    #[error(
        "the booked {report} ends at {last}, but --close-through closes {through}: \
         give the folder of the close that booked it"
    )]
    BookedTooShort {
        report: &'static str,
        last: String,
        through: String,
    },
    /// The run has no month after the closed ones to book adjustments in.
    #[error(
        "--close-through closes every month of the run (through {through}): \
         the adjustments need an open month after it (a later --until)"
    )]
    NoOpenMonth { through: String },
}
