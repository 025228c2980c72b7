//! The liability's roll-forward, per month and points type with a value:
//! the opening liability (the month before's closing) plus the points
//! issued, less those redeemed, expired and reversed, each valued at the
//! month's value × (1 − breakage), plus the change of the breakage estimate
//! on the opening points and what rounding to the minor unit leaves, is the
//! closing liability of `liability.csv`. See `docs/finance.md`.

use crate::compile::ir::Program;
use crate::finance::liability::LiabilityTable;
use rust_decimal::Decimal;

/// One month of one points type, in the currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollForward {
    /// `2025-01`.
    pub month: String,
    pub points: String,
    /// The month before's closing liability (0 in the table's first month).
    pub opening: Decimal,
    /// Points issued × value × (1 − breakage), to the minor unit: added.
    pub issued: Decimal,
    /// Points spent, valued alike: taken off.
    pub redeemed: Decimal,
    /// Points expired, valued alike: taken off.
    pub expired: Decimal,
    /// Points reversed by returns, valued alike: taken off.
    pub reversed: Decimal,
    /// The opening points at this month's breakage less at the month
    /// before's: the catch-up of a changed estimate (0 when it did not).
    pub estimate: Decimal,
    /// What rounding each figure to the minor unit leaves, so the lines add up.
    pub rounding: Decimal,
    /// `liability.csv`'s liability at the month's end.
    pub closing: Decimal,
}

impl RollForward {
    /// Every adjustment that is not a flow of points: the estimate's
    /// change and the rounding.
    pub fn adjustments(&self) -> Decimal {
        self.estimate + self.rounding
    }
}

/// The roll-forward of every points type that carries a liability (has a
/// `value` and is not qualifying), in the table's order: month by month,
/// and within a month by points type.
pub fn roll_forward(program: &Program, table: &LiabilityTable) -> Vec<RollForward> {
    // Per points type: (outstanding, breakage, liability) at the end of
    // the month before.
    let mut before: Vec<Option<(Decimal, Decimal, Decimal)>> = vec![None; program.points.len()];
    let mut lines = Vec::new();
    for row in &table.rows {
        let Some((p, value)) = program.points.iter().enumerate().find_map(|(p, points)| {
            (points.name == row.points && !points.qualifying)
                .then_some(points.value)
                .flatten()
                .map(|value| (p, value))
        }) else {
            continue;
        };
        let Some(last) = before.get_mut(p) else {
            continue;
        };
        let (held, breakage, opening) =
            last.unwrap_or((Decimal::ZERO, row.breakage, Decimal::ZERO));
        let worth = |points| super::liability(program.currency, points, value, row.breakage);
        let issued = worth(row.issued);
        let redeemed = worth(row.spent);
        let expired = worth(row.expired);
        let reversed = worth(row.reversed);
        let estimate = worth(held) - super::liability(program.currency, held, value, breakage);
        let rounding = row.liability - opening - issued + redeemed + expired + reversed - estimate;
        *last = Some((row.outstanding, row.breakage, row.liability));
        lines.push(RollForward {
            month: row.month.clone(),
            points: row.points.clone(),
            opening,
            issued,
            redeemed,
            expired,
            reversed,
            estimate,
            rounding,
            closing: row.liability,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::finance::liability::LiabilityRow;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn row(
        month: &str,
        flows: [&str; 4],
        outstanding: &str,
        breakage: &str,
        liability: &str,
    ) -> LiabilityRow {
        LiabilityRow {
            month: month.into(),
            points: "stars".into(),
            issued: d(flows[0]),
            spent: d(flows[1]),
            expired: d(flows[2]),
            reversed: d(flows[3]),
            outstanding: d(outstanding),
            breakage: d(breakage),
            liability: d(liability),
            cost: Decimal::ZERO,
        }
    }

    #[test]
    fn a_changed_estimate_is_its_own_line_and_rounding_closes_the_gap() {
        let source = "program \"T\" {\n  currency USD\n  timezone \"UTC\"\n}\n\
                      points stars {\n  value 0.01 USD\n  breakage 20%\n}\n";
        let program = compile(source).unwrap().0;
        let table = LiabilityTable {
            currency: program.currency,
            rows: vec![
                // 1001 × 0.01 × 0.8 = 8.008 → 8.01.
                row("2025-01", ["1001", "0", "0", "0"], "1001", "0.2", "8.01"),
                // 1001 at 10%: 9.009 → 9.01, of which 1.00 the new estimate;
                // 500 spent at 10%: 4.50.
                row("2025-02", ["0", "500", "0", "0"], "501", "0.1", "4.51"),
                // 15 × 0.01 × 0.9 = 0.135 → 0.14, but 516 → 4.644 → 4.64.
                row("2025-03", ["15", "0", "0", "0"], "516", "0.1", "4.64"),
            ],
            breakage_method: String::new(),
        };
        let lines = roll_forward(&program, &table);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            (
                lines[0].opening,
                lines[0].issued,
                lines[0].estimate,
                lines[0].rounding
            ),
            (d("0"), d("8.01"), d("0"), d("0"))
        );
        let feb = &lines[1];
        assert_eq!(
            (feb.opening, feb.redeemed, feb.estimate),
            (d("8.01"), d("4.50"), d("1.00"))
        );
        // 8.01 − 4.50 + 1.00 = 4.51: nothing left to round.
        assert_eq!((feb.rounding, feb.closing), (d("0"), d("4.51")));
        let mar = &lines[2];
        assert_eq!(
            (mar.opening, mar.issued, mar.estimate),
            (d("4.51"), d("0.14"), d("0"))
        );
        assert_eq!((mar.rounding, mar.adjustments()), (d("-0.01"), d("-0.01")));
    }
}
