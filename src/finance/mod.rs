//! Finance: what the points cost. Liability per month and points type from
//! the ledger, breakage, deferred revenue, and the cost of a change to a
//! program.

pub mod deferred;
pub mod diff;
pub mod liability;
pub mod upcoming;

use rust_decimal::{Decimal, RoundingStrategy};

/// What outstanding points are worth: outstanding × value per point ×
/// (1 − breakage), rounded to cents half to even, as `summary.json` has
/// always rounded its liability (so the two reports agree to the cent).
pub fn liability(outstanding: Decimal, value: Decimal, breakage: Decimal) -> Decimal {
    (outstanding * value * (Decimal::ONE - breakage))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}
