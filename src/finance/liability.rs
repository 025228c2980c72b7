//! The monthly liability table, built from ledger entries as they are
//! written (so a streamed run needs no second pass).
//!
//! Interface only: the implementation is being written (issue 4).

use crate::compile::ir::Program;
use crate::engine::ledger::Entry;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// Where the breakage rate comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Breakage {
    /// Each points type's `breakage` setting (0 where it has none).
    Program,
    /// One rate for every points type, as a fraction (`0.15`), from `--breakage`.
    Given(Decimal),
    /// Estimated from the replayed history by monthly earning cohort.
    Estimated,
}

/// One month of one points type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityRow {
    /// `2025-01`, in the program's time zone.
    pub month: String,
    pub points: String,
    pub issued: Decimal,
    pub spent: Decimal,
    pub expired: Decimal,
    pub reversed: Decimal,
    /// Live points at the month's end.
    pub outstanding: Decimal,
    /// The breakage rate applied, as a fraction.
    pub breakage: Decimal,
    /// outstanding × value per point × (1 − breakage), in the currency's minor units.
    pub liability: Decimal,
    /// What redemptions and perk uses cost in the month.
    pub cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityTable {
    pub currency: String,
    pub rows: Vec<LiabilityRow>,
    /// How the breakage rates were obtained, in words, for the report.
    pub breakage_method: String,
}

/// Collects ledger entries, then builds the table.
pub struct LiabilityBuilder<'p> {
    program: &'p Program,
}

impl<'p> LiabilityBuilder<'p> {
    pub fn new(program: &'p Program) -> Self {
        LiabilityBuilder { program }
    }

    pub fn add(&mut self, _entries: &[Entry]) {}

    pub fn finish(self, _until: DateTime<Utc>, _breakage: Breakage) -> LiabilityTable {
        LiabilityTable {
            currency: self.program.currency.clone(),
            rows: Vec::new(),
            breakage_method: String::new(),
        }
    }
}
