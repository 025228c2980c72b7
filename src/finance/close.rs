//! Closed periods (`run --close-through DAY --booked DIR`): the months a
//! previous close booked stay as it booked them, read back from its
//! reports; whatever the events now say differently about them (an event
//! that arrived late, a return of a closed month's purchase, a revised
//! estimate) is booked as an adjustment in the first open month, with the
//! difference shown. The run reports both views: as restated (the usual
//! files) and as booked (`*_booked.csv`). See `docs/finance.md`.

use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::file_error::FileError;
use crate::finance::deferred::{self, Period, RevenueRow};
use crate::finance::liability::{LiabilityRow, LiabilityTable, PERKS};
use crate::finance::Error;
use crate::table::{points, signed};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;

/// The last month `--close-through DAY` closes (`2025-01`): DAY must be the
/// last day of its month.
pub fn closed_through(day: NaiveDate) -> Result<String, Error> {
    match day.succ_opt() {
        Some(next) if next.day() == 1 => Ok(day.format("%Y-%m").to_string()),
        _ => Err(Error::NotMonthEnd(day)),
    }
}

/// A row of a report read back, its fields by column name.
struct Record {
    line: usize,
    fields: BTreeMap<String, String>,
}

impl Record {
    fn text(&self, column: &str) -> &str {
        self.fields.get(column).map_or("", String::as_str)
    }

    /// A column the report may not have (a booked view's adjustments): 0
    /// without it.
    fn optional(&self, column: &str) -> Result<Decimal, FileError> {
        if self.fields.contains_key(column) {
            self.decimal(column)
        } else {
            Ok(Decimal::ZERO)
        }
    }

    fn decimal(&self, column: &str) -> Result<Decimal, FileError> {
        let text = self.text(column);
        text.parse().map_err(|_| {
            FileError::new(
                Some(self.line),
                format!("`{text}` in column `{column}` is not a number"),
            )
        })
    }

    /// A month as the reports write it, `2025-01`.
    fn month(&self, column: &str) -> Result<String, FileError> {
        let text = self.text(column);
        match NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d") {
            Ok(_) if text.len() == 7 => Ok(text.to_string()),
            _ => Err(FileError::new(
                Some(self.line),
                format!("`{text}` in column `{column}` is not a month (YYYY-MM)"),
            )),
        }
    }
}

/// The records of a CSV report, which must have the `required` columns.
fn records(text: &str, required: &[&str]) -> Result<Vec<Record>, FileError> {
    let line_of = |error: &csv::Error| error.position().map_or(1, |p| p.line());
    let fail = |error: csv::Error| {
        FileError::new(
            usize::try_from(line_of(&error)).ok(),
            format!("cannot read it: {error}"),
        )
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(fail)?
        .iter()
        .map(str::to_string)
        .collect();
    if let Some(missing) = required.iter().find(|c| !header.iter().any(|h| h == *c)) {
        return Err(FileError::new(
            Some(1),
            format!("no column `{missing}`: not the report `loyalty run` writes"),
        ));
    }
    // Each column's figures, added up without their signs, stay far from
    // the largest decimal (what the booked views add to them stays within
    // it): no report loyalty writes comes near.
    let largest = Decimal::from_i128_with_scale(10_i128.pow(27), 0);
    let mut sizes: BTreeMap<&str, Decimal> = BTreeMap::new();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(fail)?;
            let line = record
                .position()
                .and_then(|p| usize::try_from(p.line()).ok())
                .unwrap_or_default();
            for (column, text) in header.iter().zip(record.iter()) {
                let Ok(value) = text.parse::<Decimal>() else {
                    continue;
                };
                let size = sizes.entry(column).or_default();
                *size = size.saturating_add(value.abs());
                if *size > largest {
                    return Err(FileError::new(
                        Some(line),
                        format!(
                            "column `{column}` adds up past 10^27: not a report loyalty writes"
                        ),
                    ));
                }
            }
            Ok(Record {
                line,
                fields: header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_string))
                    .collect(),
            })
        })
        .collect()
}

/// The rows of a `liability.csv` (or `liability_booked.csv`, with its
/// adjustments) a previous run of `program` wrote.
pub fn read_liability(
    program: &Program,
    text: &str,
) -> Result<Vec<(LiabilityRow, LiabilityAdjustment)>, FileError> {
    let mut required = crate::finance::liability::CSV_COLUMNS.to_vec();
    required.push("currency");
    records(text, &required)?
        .iter()
        .map(|r| {
            let fail = |message: String| Err(FileError::new(Some(r.line), message));
            if r.text("currency") != program.currency.code() {
                return fail(format!(
                    "the currency is `{}`; the program counts {}",
                    r.text("currency"),
                    program.currency
                ));
            }
            let points = r.text("points");
            let known = if points == PERKS {
                !program.perks.is_empty()
            } else {
                program.points.iter().any(|t| t.name == points)
            };
            if !known {
                return fail(format!("the program has no points type `{points}`"));
            }
            let row = LiabilityRow {
                month: r.month("month")?,
                points: points.to_string(),
                issued: r.decimal("issued")?,
                spent: r.decimal("spent")?,
                expired: r.decimal("expired")?,
                reversed: r.decimal("reversed")?,
                outstanding: r.decimal("outstanding")?,
                breakage: r.decimal("breakage")?,
                liability: r.decimal("liability")?,
                cost: r.decimal("cost")?,
            };
            let [points, liability, cost] = LIABILITY_ADJUSTMENTS.map(|c| r.optional(c));
            Ok((
                row,
                LiabilityAdjustment {
                    points: points?,
                    liability: liability?,
                    cost: cost?,
                },
            ))
        })
        .collect()
}

/// The rows of a `deferred_revenue.csv` (or `deferred_revenue_booked.csv`,
/// with its adjustments) a previous run wrote; `catch_up` is 0 where it
/// has no such column.
pub fn read_revenue(text: &str) -> Result<Vec<(RevenueRow, RevenueAdjustment)>, FileError> {
    records(text, &deferred::CSV_COLUMNS)?
        .iter()
        .map(|r| {
            let row = RevenueRow {
                period: Period {
                    label: r.month("period")?,
                    sales: r.decimal("sales")?,
                    points_issued: r.decimal("points_issued")?,
                    points_redeemed: r.decimal("points_redeemed")?,
                    points_expired: r.decimal("points_expired")?,
                    expected_redemption: r.decimal("expected_redemption")?,
                },
                share: r.decimal("share")?,
                allocated: r.decimal("allocated")?,
                expected_to_redeem: r.decimal("expected_to_redeem")?,
                redeemed_to_date: r.decimal("redeemed_to_date")?,
                cumulative_revenue: r.decimal("cumulative_revenue")?,
                revenue: r.decimal("revenue")?,
                catch_up: r.optional("catch_up")?,
                deferred: r.decimal("deferred")?,
            };
            let [allocated, revenue] = REVENUE_ADJUSTMENTS.map(|c| r.optional(c));
            Ok((
                row,
                RevenueAdjustment {
                    allocated: allocated?,
                    revenue: revenue?,
                },
            ))
        })
        .collect()
}

/// What the events now say about the closed months, booked in the first
/// open one, for one points type (or the `(perks)` row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiabilityAdjustment {
    /// Outstanding points at the close, restated less booked.
    pub points: Decimal,
    /// The liability at the close, restated less booked.
    pub liability: Decimal,
    /// The cost of the closed months, restated less booked.
    pub cost: Decimal,
}

/// The liability table as booked, and each row's adjustment (zero but in
/// the first open month).
#[derive(Debug, Clone, PartialEq)]
pub struct BookedLiability {
    pub table: LiabilityTable,
    pub adjustments: Vec<LiabilityAdjustment>,
    /// The first open month, where the adjustments are booked.
    pub adjusted_in: String,
}

/// The movements of the closed months, summed per points type.
#[derive(Debug, Clone, Copy, Default)]
struct ClosedFlows {
    issued: Decimal,
    spent: Decimal,
    expired: Decimal,
    reversed: Decimal,
    cost: Decimal,
    /// The last closed month's outstanding points and liability.
    outstanding: Decimal,
    liability: Decimal,
}

fn closed_flows<'r>(
    rows: impl Iterator<Item = &'r LiabilityRow>,
    through: &str,
) -> BTreeMap<&'r str, ClosedFlows> {
    let mut flows: BTreeMap<&str, ClosedFlows> = BTreeMap::new();
    for r in rows.filter(|r| r.month.as_str() <= through) {
        let f = flows.entry(r.points.as_str()).or_default();
        f.issued += r.issued;
        f.spent += r.spent;
        f.expired += r.expired;
        f.reversed += r.reversed;
        f.cost += r.cost;
        if r.month == through {
            f.outstanding = r.outstanding;
            f.liability = r.liability;
        }
    }
    flows
}

/// Checks that the booked `report`'s months (`labels`) reach `through`.
pub fn covers<'l>(
    report: &'static str,
    labels: impl Iterator<Item = &'l str>,
    through: &str,
) -> Result<(), Error> {
    match labels.max() {
        Some(last) if last >= through => Ok(()),
        last => Err(Error::BookedTooShort {
            report,
            last: last.unwrap_or("nothing").to_string(),
            through: through.to_string(),
        }),
    }
}

/// The liability as booked: the `booked` rows of the months through
/// `through`, then the `restated` table's, the first open month's flows
/// with the closed months' differences added (so each row's outstanding is
/// still the one before plus its flows) and shown apart.
pub fn book_liability(
    restated: &LiabilityTable,
    booked: &[(LiabilityRow, LiabilityAdjustment)],
    through: &str,
) -> Result<BookedLiability, Error> {
    covers(
        "liability",
        booked.iter().map(|(r, _)| r.month.as_str()),
        through,
    )?;
    let Some(adjusted_in) = restated
        .rows
        .iter()
        .map(|r| r.month.as_str())
        .find(|m| *m > through)
    else {
        return Err(Error::NoOpenMonth {
            through: through.to_string(),
        });
    };
    let now = closed_flows(restated.rows.iter(), through);
    let then = closed_flows(booked.iter().map(|(r, _)| r), through);
    let (mut rows, mut adjustments): (Vec<LiabilityRow>, Vec<LiabilityAdjustment>) = booked
        .iter()
        .filter(|(r, _)| r.month.as_str() <= through)
        .cloned()
        .unzip();
    for r in restated.rows.iter().filter(|r| r.month.as_str() > through) {
        let mut row = r.clone();
        let mut adjustment = LiabilityAdjustment::default();
        if r.month == adjusted_in {
            let now = now.get(r.points.as_str()).copied().unwrap_or_default();
            let then = then.get(r.points.as_str()).copied().unwrap_or_default();
            row.issued += now.issued - then.issued;
            row.spent += now.spent - then.spent;
            row.expired += now.expired - then.expired;
            row.reversed += now.reversed - then.reversed;
            row.cost += now.cost - then.cost;
            adjustment = LiabilityAdjustment {
                points: now.outstanding - then.outstanding,
                liability: now.liability - then.liability,
                cost: now.cost - then.cost,
            };
        }
        rows.push(row);
        adjustments.push(adjustment);
    }
    Ok(BookedLiability {
        table: LiabilityTable {
            rows,
            ..restated.clone()
        },
        adjustments,
        adjusted_in: adjusted_in.to_string(),
    })
}

/// What the events now say about the closed months' deferred revenue,
/// booked in the first open month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevenueAdjustment {
    /// Allocated to date at the close, restated less booked.
    pub allocated: Decimal,
    /// Revenue recognized to date at the close, restated less booked.
    pub revenue: Decimal,
}

/// Deferred revenue as booked, and each row's adjustment.
#[derive(Debug, Clone, PartialEq)]
pub struct BookedRevenue {
    pub rows: Vec<RevenueRow>,
    pub adjustments: Vec<RevenueAdjustment>,
    pub adjusted_in: String,
}

/// Deferred revenue as booked: the `booked` rows of the months through
/// `through`, then the `restated` rows; the first open month's sales,
/// points and allocation with the closed months' differences added, and
/// its revenue the restated revenue to date less what was booked to date
/// (so the contract liability is the restated one, reached from the
/// booked one).
pub fn book_revenue(
    restated: &[RevenueRow],
    booked: &[(RevenueRow, RevenueAdjustment)],
    through: &str,
) -> Result<BookedRevenue, Error> {
    covers(
        "deferred revenue",
        booked.iter().map(|(r, _)| r.period.label.as_str()),
        through,
    )?;
    let Some(adjusted_in) = restated
        .iter()
        .map(|r| r.period.label.as_str())
        .find(|m| *m > through)
    else {
        return Err(Error::NoOpenMonth {
            through: through.to_string(),
        });
    };
    let closed = |rows: &mut dyn Iterator<Item = &RevenueRow>| {
        let mut sums = Period {
            label: String::new(),
            sales: Decimal::ZERO,
            points_issued: Decimal::ZERO,
            points_redeemed: Decimal::ZERO,
            points_expired: Decimal::ZERO,
            expected_redemption: Decimal::ZERO,
        };
        let mut to_date = RevenueAdjustment::default();
        for r in rows.filter(|r| r.period.label.as_str() <= through) {
            sums.sales += r.period.sales;
            sums.points_issued += r.period.points_issued;
            sums.points_redeemed += r.period.points_redeemed;
            sums.points_expired += r.period.points_expired;
            to_date = RevenueAdjustment {
                allocated: r.deferred + r.cumulative_revenue,
                revenue: r.cumulative_revenue,
            };
        }
        (sums, to_date)
    };
    let (now, now_to_date) = closed(&mut restated.iter());
    let (then, then_to_date) = closed(&mut booked.iter().map(|(r, _)| r));
    let (mut rows, mut adjustments): (Vec<RevenueRow>, Vec<RevenueAdjustment>) = booked
        .iter()
        .filter(|(r, _)| r.period.label.as_str() <= through)
        .cloned()
        .unzip();
    for r in restated
        .iter()
        .filter(|r| r.period.label.as_str() > through)
    {
        let mut row = r.clone();
        let mut adjustment = RevenueAdjustment::default();
        if r.period.label == adjusted_in {
            adjustment = RevenueAdjustment {
                allocated: now_to_date.allocated - then_to_date.allocated,
                revenue: now_to_date.revenue - then_to_date.revenue,
            };
            row.period.sales += now.sales - then.sales;
            row.period.points_issued += now.points_issued - then.points_issued;
            row.period.points_redeemed += now.points_redeemed - then.points_redeemed;
            row.period.points_expired += now.points_expired - then.points_expired;
            row.allocated += adjustment.allocated;
            row.revenue += adjustment.revenue;
        }
        rows.push(row);
        adjustments.push(adjustment);
    }
    Ok(BookedRevenue {
        rows,
        adjustments,
        adjusted_in: adjusted_in.to_string(),
    })
}

/// The columns the booked views add.
const LIABILITY_ADJUSTMENTS: [&str; 3] = ["adjustment", "adjustment_liability", "adjustment_cost"];
const REVENUE_ADJUSTMENTS: [&str; 2] = ["adjustment_allocated", "adjustment_revenue"];

impl LiabilityAdjustment {
    fn cells(&self, currency: Currency) -> Vec<String> {
        vec![
            points(self.points),
            currency.format(self.liability),
            currency.format(self.cost),
        ]
    }

    fn is_zero(&self) -> bool {
        self.points.is_zero() && self.liability.is_zero() && self.cost.is_zero()
    }
}

impl BookedLiability {
    fn cells(&self, i: usize) -> Vec<String> {
        self.adjustments
            .get(i)
            .map(|a| a.cells(self.table.currency))
            .unwrap_or_default()
    }

    /// `liability_booked.csv`: `liability.csv`'s columns and the
    /// adjustments before `currency`.
    pub fn write_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        self.table
            .write_csv_with(&LIABILITY_ADJUSTMENTS, |i| self.cells(i), out)
    }

    /// The table for a person, and what was adjusted.
    pub fn text(&self) -> String {
        let adjusted: Vec<String> = self
            .table
            .rows
            .iter()
            .zip(&self.adjustments)
            .filter(|(_, a)| !a.is_zero())
            .map(|(r, a)| {
                let currency = self.table.currency;
                let money = |amount| currency.format(amount);
                format!(
                    "{}: {} points, {} {currency} liability, {} {currency} cost",
                    r.points,
                    signed(a.points, points),
                    signed(a.liability, money),
                    signed(a.cost, money),
                )
            })
            .collect();
        format!(
            "{}\n{}\n",
            self.table
                .text_with(&LIABILITY_ADJUSTMENTS, |i| self.cells(i)),
            adjustments_line(&self.adjusted_in, &adjusted)
        )
    }
}

impl BookedRevenue {
    fn cells(&self, i: usize, currency: Currency) -> Vec<String> {
        self.adjustments
            .get(i)
            .map(|a| vec![currency.format(a.allocated), currency.format(a.revenue)])
            .unwrap_or_default()
    }

    /// `deferred_revenue_booked.csv`: `deferred_revenue.csv`'s columns and
    /// the adjustments.
    pub fn write_csv<W: Write>(
        &self,
        catch_up: bool,
        currency: Currency,
        out: W,
    ) -> csv::Result<()> {
        deferred::write_csv_with(
            &self.rows,
            catch_up,
            currency,
            &REVENUE_ADJUSTMENTS,
            |i| self.cells(i, currency),
            out,
        )
    }

    /// The table for a person, and what was adjusted.
    pub fn text(&self, catch_up: bool, currency: Currency) -> String {
        let money = |amount| currency.format(amount);
        let adjusted: Vec<String> = self
            .adjustments
            .iter()
            .filter(|a| !a.allocated.is_zero() || !a.revenue.is_zero())
            .map(|a| {
                format!(
                    "{} {currency} allocated, {} {currency} revenue",
                    signed(a.allocated, money),
                    signed(a.revenue, money)
                )
            })
            .collect();
        format!(
            "{}\n{}\n",
            deferred::text_with(&self.rows, catch_up, currency, &REVENUE_ADJUSTMENTS, |i| {
                self.cells(i, currency)
            }),
            adjustments_line(&self.adjusted_in, &adjusted)
        )
    }
}

/// What the events changed in the closed months, booked in `adjusted_in`.
fn adjustments_line(adjusted_in: &str, adjusted: &[String]) -> String {
    if adjusted.is_empty() {
        format!("adjustments booked in {adjusted_in}: none, the closed months are as booked")
    } else {
        format!(
            "adjustments for the closed months, booked in {adjusted_in}: {}",
            adjusted.join("; ")
        )
    }
}
