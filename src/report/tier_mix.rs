//! The tier mix over time: members per tier at each month's end, tallied
//! from the ledger's tier changes as a run writes them (for `--html`).

use crate::compile::ir::{Program, TierRank};
use crate::engine::ledger::{Entry, EntryKind};
use crate::finance::liability::month_label;
use std::collections::{BTreeMap, HashMap};

/// Members per tier at each month's end, from the ledger's tier changes.
#[derive(Debug, Clone)]
pub struct TierMix<'p> {
    program: &'p Program,
    tiers: HashMap<String, TierRank>,
    counts: Vec<u64>,
    /// The counts after the last change in each month that had one.
    months: BTreeMap<String, Vec<u64>>,
}

impl<'p> TierMix<'p> {
    pub fn new(program: &'p Program) -> Self {
        let tiers = program.tiers.as_ref().map_or(0, |t| t.tiers.len());
        TierMix {
            program,
            tiers: HashMap::new(),
            counts: vec![0; tiers],
            months: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, entries: &[Entry]) {
        for e in entries.iter().filter(|e| e.kind == EntryKind::TierChange) {
            let Some(to) = e.tier else { continue };
            if let Some(from) = self.tiers.insert(e.member.to_string(), to) {
                if let Some(n) = self.counts.get_mut(from) {
                    *n = n.saturating_sub(1);
                }
            }
            if let Some(n) = self.counts.get_mut(to) {
                *n += 1;
            }
            self.months
                .insert(month_label(self.program, e.time), self.counts.clone());
        }
    }

    /// Members per tier at the end of `month`: as the last change at or
    /// before it left them.
    pub fn at(&self, month: &str) -> Vec<u64> {
        self.months
            .range(..=month.to_string())
            .next_back()
            .map_or_else(|| vec![0; self.counts.len()], |(_, c)| c.clone())
    }
}
