//! The reconciliation (`run --report reconciliation`): per month and points
//! type, line by line, from outstanding points × value to the liability —
//! what members owe (negative balances) moved apart as a receivable, not
//! counted as a negative liability — and on to deferred revenue's contract
//! liability. Every line is in cents and each total is the sum of the lines
//! above it; the rounding lines make up the difference to the figures the
//! other reports round. See `docs/finance.md`.

use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::finance::balances::Holdings;
use crate::finance::deferred::RevenueRow;
use crate::finance::liability::{month_name, LiabilityRow, LiabilityTable, Month};
use crate::finance::Error;
use crate::table::{points, Table};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;

/// One line of the reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Outstanding points (liability.csv's) × value.
    Outstanding,
    /// Negative balances × value: added back, to be shown apart.
    Owed,
    /// Positive balances × value (a total).
    Held,
    /// Breakage on the points held.
    Breakage,
    /// The liability for the points held (a total).
    HeldLiability,
    /// What members owe, valued like the liability: a receivable.
    Receivable,
    /// Rounding to liability.csv's minor unit.
    LiabilityRounding,
    /// liability.csv's liability (a total).
    Liability,
    /// Deferred revenue expects a share of all points issued to date to be
    /// redeemed, not of those outstanding.
    ExpectedVsOutstanding,
    /// Points still expected to be redeemed × value (a total).
    ExpectedRedemptions,
    /// The price allocated per point expected to be redeemed is not its
    /// value: below it by the allocation's discount, above it when expiries
    /// left fewer points to redeem than the allocation expected.
    Allocation,
    /// Rounding to deferred_revenue.csv's minor unit.
    DeferredRounding,
    /// deferred_revenue.csv's contract liability (a total).
    Deferred,
}

impl Line {
    /// The name `reconciliation.csv` gives it.
    pub fn code(self) -> &'static str {
        match self {
            Line::Outstanding => "outstanding",
            Line::Owed => "owed",
            Line::Held => "held",
            Line::Breakage => "breakage",
            Line::HeldLiability => "held_liability",
            Line::Receivable => "receivable",
            Line::LiabilityRounding => "liability_rounding",
            Line::Liability => "liability",
            Line::ExpectedVsOutstanding => "expected_vs_outstanding",
            Line::ExpectedRedemptions => "expected_redemptions",
            Line::Allocation => "allocation",
            Line::DeferredRounding => "deferred_rounding",
            Line::Deferred => "deferred",
        }
    }

    /// What it is, for a person.
    pub fn label(self) -> &'static str {
        match self {
            Line::Outstanding => "outstanding points × value",
            Line::Owed => "+ owed: negative balances × value, shown apart",
            Line::Held => "= held: positive balances × value",
            Line::Breakage => "− breakage on the points held",
            Line::HeldLiability => "= liability for the points held",
            Line::Receivable => "− receivable: owed × value × (1 − breakage)",
            Line::LiabilityRounding => "± rounding to the cent",
            Line::Liability => "= liability (liability.csv)",
            Line::ExpectedVsOutstanding => {
                "± deferred revenue's breakage, on all points issued to date"
            }
            Line::ExpectedRedemptions => "= points still expected to be redeemed × value",
            Line::Allocation => {
                "± allocation: the price allocated per expected point, not its value"
            }
            Line::DeferredRounding => "± rounding to the cent",
            Line::Deferred => "= contract liability (deferred_revenue.csv)",
        }
    }
}

/// One line for one month and points type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationLine {
    pub month: String,
    pub points: String,
    pub line: Line,
    /// The points the line counts, when it counts points.
    pub count: Option<Decimal>,
    /// In the currency's major units, to its minor unit.
    pub amount: Decimal,
}

/// The lines of every month, and why deferred revenue's are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub currency: Currency,
    pub lines: Vec<ReconciliationLine>,
    /// Why the lines from the liability to deferred revenue are left out,
    /// when they are.
    pub without_deferred: Option<Error>,
}

/// The deferred revenue rows of points type `points`, or why there are none.
pub type Deferred<'r> = Result<(&'r str, &'r [RevenueRow]), Error>;

/// The reconciliation of every month of `table` and every points type that
/// carries a liability; `holdings` are what members held and owed at each
/// month's end (`LiabilityBuilder::holdings`), `deferred` the deferred
/// revenue rows of the one points type they are computed for.
pub fn reconcile(
    program: &Program,
    table: &LiabilityTable,
    holdings: &BTreeMap<Month, Vec<Holdings>>,
    deferred: Deferred<'_>,
) -> Reconciliation {
    let rows: BTreeMap<(&str, &str), &LiabilityRow> = table
        .rows
        .iter()
        .map(|r| ((r.month.as_str(), r.points.as_str()), r))
        .collect();
    let (revenue, without_deferred): (BTreeMap<(&str, &str), &RevenueRow>, _) = match deferred {
        Ok((name, rows)) => (
            rows.iter()
                .map(|r| ((r.period.label.as_str(), name), r))
                .collect(),
            None,
        ),
        Err(why) => (BTreeMap::new(), Some(why)),
    };
    let round = |amount| program.currency.round(amount);
    let mut lines = Vec::new();
    for (&month, types) in holdings {
        let label = month_name(month);
        for (points_type, holding) in program.points.iter().zip(types) {
            let (Some(value), false) = (points_type.value, points_type.qualifying) else {
                continue;
            };
            let key = (label.as_str(), points_type.name.as_str());
            let Some(row) = rows.get(&key) else {
                continue;
            };
            let mut push = |line: Line, count: Option<Decimal>, amount: Decimal| {
                // No "-0.00" for a zero that came out of a negation.
                let amount = if amount.is_zero() {
                    Decimal::ZERO
                } else {
                    amount
                };
                lines.push(ReconciliationLine {
                    month: label.clone(),
                    points: points_type.name.clone(),
                    line,
                    count,
                    amount,
                });
                amount
            };
            let (held, owed) = (holding.held, holding.owed);
            let outstanding = push(
                Line::Outstanding,
                Some(row.outstanding),
                round(row.outstanding * value),
            );
            let added = push(Line::Owed, Some(owed), round(owed * value));
            let held_value = push(Line::Held, Some(held), outstanding + added);
            let breakage = push(Line::Breakage, None, -round(held * value * row.breakage));
            let held_liability = push(Line::HeldLiability, None, held_value + breakage);
            let receivable = push(
                Line::Receivable,
                Some(owed),
                -round(owed * value * (Decimal::ONE - row.breakage)),
            );
            push(
                Line::LiabilityRounding,
                None,
                row.liability - held_liability - receivable,
            );
            push(Line::Liability, None, row.liability);
            let Some(r) = revenue.get(&key) else {
                continue;
            };
            let expected = r.expected_to_redeem - r.redeemed_to_date;
            let expected_value = round(expected * value);
            push(
                Line::ExpectedVsOutstanding,
                Some(expected - row.outstanding),
                expected_value - row.liability,
            );
            push(Line::ExpectedRedemptions, Some(expected), expected_value);
            let allocated_to_date = r.deferred + r.cumulative_revenue;
            let at_allocated_price = round(
                allocated_to_date
                    .checked_mul(expected)
                    .and_then(|product| product.checked_div(r.expected_to_redeem))
                    .unwrap_or_else(|| {
                        expected
                            * allocated_to_date
                                .checked_div(r.expected_to_redeem)
                                .unwrap_or_default()
                    }),
            );
            push(Line::Allocation, None, at_allocated_price - expected_value);
            push(
                Line::DeferredRounding,
                None,
                r.deferred - at_allocated_price,
            );
            push(Line::Deferred, None, r.deferred);
        }
    }
    Reconciliation {
        currency: program.currency,
        lines,
        without_deferred,
    }
}

impl Reconciliation {
    /// Every line as CSV: month, points, line, count, amount, currency.
    pub fn write_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["month", "points", "line", "count", "amount", "currency"])?;
        for l in &self.lines {
            csv.write_record([
                l.month.as_str(),
                &l.points,
                l.line.code(),
                &l.count.map(points).unwrap_or_default(),
                &self.currency.format(l.amount),
                self.currency.code(),
            ])?;
        }
        csv.flush()?;
        Ok(())
    }

    /// The last month's lines for a person, and why deferred revenue's are
    /// left out when they are.
    pub fn text(&self) -> String {
        let last = self
            .lines
            .last()
            .map(|l| l.month.as_str())
            .unwrap_or_default();
        let mut table = Table::new(&["points", "line", "count", self.currency.code()]).labels(2);
        for l in self.lines.iter().filter(|l| l.month == last) {
            table.push(vec![
                l.points.clone(),
                l.line.label().to_string(),
                l.count.map(points).unwrap_or_default(),
                self.currency.format(l.amount),
            ]);
        }
        let mut text = format!("at the end of {last}\n\n{}", table.text());
        if let Some(why) = &self.without_deferred {
            text.push_str(&format!("\nno lines to deferred revenue: {why}\n"));
        }
        text
    }
}
