//! The spread of a figure across runs: its 5th, 50th and 95th percentiles
//! by the nearest-rank method ([`Band`]), for a simulation's report; and
//! the spread of each overall figure's change across paired runs of two
//! programs ([`ChangeSpread`], `loyalty diff --scenario`).

use crate::currency::Currency;
use crate::finance::diff::{Diff, Unit};
use crate::table::{signed, Table};
use rust_decimal::Decimal;
use serde::Serialize;

/// The 5th, 50th and 95th percentiles of some values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Band {
    pub p5: Decimal,
    pub p50: Decimal,
    pub p95: Decimal,
}

/// The `p`th percentile of `sorted` (ascending) by the nearest-rank method:
/// the value at rank ⌈p/100 × n⌉, so always one of the values; 0 for none.
pub fn percentile(sorted: &[Decimal], p: u32) -> Decimal {
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

impl Band {
    pub fn of(mut values: Vec<Decimal>) -> Band {
        values.sort();
        Band {
            p5: percentile(&values, 5),
            p50: percentile(&values, 50),
            p95: percentile(&values, 95),
        }
    }
}

/// One overall figure's change (new − old) across paired runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpreadLine {
    /// As the diff's Overall table names it: `stars issued`, `liability USD`.
    pub measure: String,
    pub unit: Unit,
    pub change: Band,
}

/// Each overall figure's change across paired runs, in the diffs' order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeSpread {
    pub runs: u64,
    pub lines: Vec<SpreadLine>,
}

impl ChangeSpread {
    /// The spread of `diffs`, one per pair of runs; a figure a diff lacks
    /// counts as no change in it.
    pub fn of(diffs: &[Diff]) -> ChangeSpread {
        let lines = diffs
            .first()
            .map(|first| {
                first
                    .overall
                    .iter()
                    .map(|line| {
                        let changes = diffs
                            .iter()
                            .map(|d| {
                                d.overall
                                    .iter()
                                    .find(|l| l.figure == line.figure)
                                    .map_or(Decimal::ZERO, |l| l.change())
                            })
                            .collect();
                        SpreadLine {
                            measure: line.measure.clone(),
                            unit: line.unit,
                            change: Band::of(changes),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ChangeSpread {
            runs: diffs.len() as u64,
            lines,
        }
    }

    /// The spread as a table under its heading: aligned text, or Markdown;
    /// money to `currency`'s minor unit.
    pub fn render(&self, currency: Currency, markdown: bool) -> String {
        let mut table = Table::new(&["measure", "change p5", "p50", "p95"]);
        for line in &self.lines {
            let cell = |n: Decimal| signed(n, |n| line.unit.show(n, currency));
            table.push(vec![
                line.measure.clone(),
                cell(line.change.p5),
                cell(line.change.p50),
                cell(line.change.p95),
            ]);
        }
        let heading = format!(
            "Change over {} paired runs (5th, 50th and 95th percentiles)",
            self.runs
        );
        if markdown {
            format!("#### {heading}\n\n{}", table.markdown())
        } else {
            format!("{heading}\n\n{}", table.text())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimals(values: impl IntoIterator<Item = i64>) -> Vec<Decimal> {
        values.into_iter().map(Decimal::from).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let hundred = decimals(1..=100);
        assert_eq!(percentile(&hundred, 5), Decimal::from(5));
        assert_eq!(percentile(&hundred, 50), Decimal::from(50));
        assert_eq!(percentile(&hundred, 95), Decimal::from(95));
        let twenty = decimals((1..=20).map(|n| n * 10));
        assert_eq!(percentile(&twenty, 5), Decimal::from(10));
        assert_eq!(percentile(&twenty, 50), Decimal::from(100));
        assert_eq!(percentile(&twenty, 95), Decimal::from(190));
        assert_eq!(percentile(&decimals([7]), 5), Decimal::from(7));
        assert_eq!(percentile(&decimals([7]), 95), Decimal::from(7));
        assert_eq!(percentile(&[], 50), Decimal::ZERO);
    }

    #[test]
    fn bands_sort_their_values_first() {
        let band = Band::of(decimals([30, 10, 20, 50, 40]));
        assert_eq!(
            band,
            Band {
                p5: Decimal::from(10),
                p50: Decimal::from(30),
                p95: Decimal::from(50)
            }
        );
    }
}
