//! Finance: what the points cost. Liability per month and points type from
//! the ledger, breakage, and deferred revenue.

pub mod liability;
