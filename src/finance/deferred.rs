//! Deferred revenue under IFRS 15 / ASC 606: points that give a customer a
//! material right are a separate performance obligation, so part of each
//! sale's price is allocated to them (by relative standalone selling price)
//! and recognized as revenue as the points are redeemed, with a cumulative
//! catch-up when the redemption estimate changes. The formulas, and the
//! worked example they reproduce, are in `docs/finance.md`.

use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::engine::Engine;
use crate::finance::liability::{month_name, LiabilityBuilder, LiabilityTable};
use crate::finance::Error;
use crate::table::{percent, points, Table};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// What is rounded, and to how many decimal places (half away from zero).
/// Published examples round differently, so this is always explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rounding {
    /// The share of a period's sales allocated to points (`2` rounds 8.84%
    /// to 9%); `None` keeps it exact.
    pub share: Option<u32>,
    /// Each amount allocated, and each cumulative revenue figure (a
    /// period's revenue is the difference of two rounded cumulative figures,
    /// so rounding never drifts); `None` keeps them exact.
    pub amounts: Option<u32>,
}

impl Rounding {
    /// KPMG's choice in Examples 10A and 10B: the allocation ratio in whole
    /// percent, amounts in whole currency units.
    pub const KPMG: Rounding = Rounding {
        share: Some(2),
        amounts: Some(0),
    };
    /// Nothing rounded.
    pub const EXACT: Rounding = Rounding {
        share: None,
        amounts: None,
    };

    /// `loyalty run --report deferred-revenue`: an exact ratio, amounts in
    /// the currency's minor unit (cents for USD, yen for JPY).
    pub fn minor_unit(currency: Currency) -> Rounding {
        Rounding {
            share: None,
            amounts: Some(currency.minor_units()),
        }
    }
}

fn round(amount: Decimal, places: Option<u32>) -> Decimal {
    places.map_or(amount, |dp| {
        amount.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    })
}

/// One reporting period's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub label: String,
    /// The price of the period's sales, the points included.
    pub sales: Decimal,
    pub points_issued: Decimal,
    pub points_redeemed: Decimal,
    pub points_expired: Decimal,
    /// The share of issued points expected ever to be redeemed, as
    /// estimated at the period's end (a fraction: `0.97`).
    pub expected_redemption: Decimal,
}

/// Everything the allocation needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    /// What a point is worth when redeemed, in the currency.
    pub value_per_point: Decimal,
    pub rounding: Rounding,
    pub periods: Vec<Period>,
}

/// One period's allocation and revenue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevenueRow {
    pub period: Period,
    /// The share of the period's sales allocated to its points.
    pub share: Decimal,
    /// sales × share: the price deferred for the period's points.
    pub allocated: Decimal,
    /// Of the points issued to date, those expected to be redeemed.
    pub expected_to_redeem: Decimal,
    pub redeemed_to_date: Decimal,
    /// Revenue from points recognized to date.
    pub cumulative_revenue: Decimal,
    /// Revenue from points recognized in the period.
    pub revenue: Decimal,
    /// Of that revenue, what the change in the estimate since the period
    /// before brought: cumulative revenue at this period's estimate less at
    /// the previous one's (a cumulative catch-up; 0 when it did not change).
    pub catch_up: Decimal,
    /// Allocated to date less recognized to date: the contract liability
    /// at the period's end.
    pub deferred: Decimal,
}

/// Allocates and recognizes, period by period:
///
/// - `ssp_points = points_issued × value_per_point × expected_redemption`;
///   the goods' standalone price is the sales price, so
///   `share = ssp_points / (sales + ssp_points)` and `allocated = sales × share`.
///   An allocation is never re-measured.
/// - `expected_to_redeem = issued_to_date × expected_redemption`, but at
///   least what was redeemed and at most what did not expire;
///   `cumulative_revenue = allocated_to_date × redeemed_to_date /
///   expected_to_redeem` (all of it when nothing is left to redeem), and the
///   period's revenue is the change in it. When the estimate changed, the
///   part of that change due to it is the period's catch-up.
pub fn recognize(input: &Allocation) -> Vec<RevenueRow> {
    let rounding = input.rounding;
    let mut allocated_to_date = Decimal::ZERO;
    let mut issued_to_date = Decimal::ZERO;
    let mut redeemed_to_date = Decimal::ZERO;
    let mut expired_to_date = Decimal::ZERO;
    let mut recognized = Decimal::ZERO;
    let mut previous_estimate = None;
    let mut rows = Vec::with_capacity(input.periods.len());
    for period in &input.periods {
        let ssp_points = period.points_issued * input.value_per_point * period.expected_redemption;
        let share = round(
            ssp_points
                .checked_div(period.sales + ssp_points)
                .unwrap_or_default(),
            rounding.share,
        );
        let allocated = round(period.sales * share, rounding.amounts);
        allocated_to_date += allocated;
        issued_to_date += period.points_issued;
        redeemed_to_date += period.points_redeemed;
        expired_to_date += period.points_expired;
        // What is expected to be redeemed, and recognized to date, if
        // `expected_redemption` is the estimate.
        let measured = |expected_redemption: Decimal| {
            let expected_to_redeem = (issued_to_date * expected_redemption)
                .min(issued_to_date - expired_to_date)
                .max(redeemed_to_date);
            let cumulative = if expected_to_redeem > Decimal::ZERO {
                // Multiply first, exactly; past the largest decimal, the
                // redeemed fraction first (within a rounding of the 28th digit).
                let recognized_to_date = allocated_to_date
                    .checked_mul(redeemed_to_date)
                    .map(|product| product / expected_to_redeem)
                    .unwrap_or_else(|| allocated_to_date * (redeemed_to_date / expected_to_redeem));
                round(recognized_to_date, rounding.amounts)
            } else {
                allocated_to_date
            };
            (expected_to_redeem, cumulative)
        };
        let (expected_to_redeem, cumulative) = measured(period.expected_redemption);
        let catch_up = match previous_estimate {
            Some(before) if before != period.expected_redemption => cumulative - measured(before).1,
            _ => Decimal::ZERO,
        };
        rows.push(RevenueRow {
            period: period.clone(),
            share,
            allocated,
            expected_to_redeem,
            redeemed_to_date,
            cumulative_revenue: cumulative,
            revenue: cumulative - recognized,
            catch_up,
            deferred: allocated_to_date - cumulative,
        });
        recognized = cumulative;
        previous_estimate = Some(period.expected_redemption);
    }
    rows
}

/// The allocation on a replayed history, month by month: sales are the
/// purchases' amounts less what was returned of them, in the month of the
/// purchase; points issued are those earned in the month less what returns
/// took back of them; redeemed and expired points are the month's; the
/// expected redemption is 1 − the breakage rate of the liability table.
/// Needs exactly one points type that can be redeemed and has a value.
pub fn from_run(
    engine: &Engine,
    builder: &LiabilityBuilder,
    table: &LiabilityTable,
    rounding: Rounding,
) -> Result<Allocation, Error> {
    let program = engine.program();
    let (p, points_type, value) = redeemable(program)?;
    let mut periods: BTreeMap<String, Period> = BTreeMap::new();
    let blank = |label: &str| Period {
        label: label.to_string(),
        sales: Decimal::ZERO,
        points_issued: Decimal::ZERO,
        points_redeemed: Decimal::ZERO,
        points_expired: Decimal::ZERO,
        expected_redemption: Decimal::ZERO,
    };
    for row in table.rows.iter().filter(|r| r.points == points_type) {
        let period = periods
            .entry(row.month.clone())
            .or_insert_with(|| blank(&row.month));
        period.points_redeemed += row.spent;
        period.points_expired += row.expired;
    }
    for (month, issued) in builder.net_issued_by_cohort(p) {
        periods
            .entry(month.clone())
            .or_insert_with(|| blank(&month))
            .points_issued += issued;
    }
    for (&month, &sales) in engine.sales_by_month() {
        let month = month_name(month);
        periods
            .entry(month.clone())
            .or_insert_with(|| blank(&month))
            .sales += sales;
    }
    // Each month the estimate in force at its end; a month the table has
    // no row for (sales before the first ledger entry) takes the first.
    let expected_by_month: BTreeMap<&str, Decimal> = table
        .rows
        .iter()
        .filter(|r| r.points == points_type)
        .map(|r| (r.month.as_str(), Decimal::ONE - r.breakage))
        .collect();
    let mut expected = expected_by_month
        .values()
        .next()
        .copied()
        .unwrap_or(Decimal::ONE);
    let mut periods: Vec<Period> = periods.into_values().collect();
    for period in &mut periods {
        if let Some(in_force) = expected_by_month.get(period.label.as_str()) {
            expected = *in_force;
        }
        period.expected_redemption = expected;
    }
    Ok(Allocation {
        value_per_point: value,
        rounding,
        periods,
    })
}

/// The one points type members redeem that has a value per point.
pub fn redeemable(program: &Program) -> Result<(usize, &str, Decimal), Error> {
    let found: Vec<(usize, &str, Decimal)> = program
        .points
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.qualifying)
        .filter_map(|(p, t)| Some((p, t.name.as_str(), t.value?)))
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::NoValuedPoints),
        several => Err(Error::SeveralValuedPoints {
            names: several
                .iter()
                .map(|(_, name, _)| name.to_string())
                .collect(),
        }),
    }
}

/// The columns of `deferred_revenue.csv` (without `catch_up`).
pub const CSV_COLUMNS: [&str; 13] = [
    "period",
    "sales",
    "points_issued",
    "points_redeemed",
    "points_expired",
    "expected_redemption",
    "share",
    "allocated",
    "expected_to_redeem",
    "redeemed_to_date",
    "revenue",
    "cumulative_revenue",
    "deferred",
];

/// The columns, with `catch_up` after `revenue` when asked for.
fn columns(catch_up: bool) -> Vec<&'static str> {
    CSV_COLUMNS
        .iter()
        .flat_map(|c| {
            std::iter::once(*c).chain((catch_up && *c == "revenue").then_some("catch_up"))
        })
        .collect()
}

fn cells(
    r: &RevenueRow,
    catch_up: bool,
    currency: Currency,
    fraction: impl Fn(Decimal) -> String,
) -> Vec<String> {
    let money = |amount| currency.format(amount);
    let p = &r.period;
    let mut cells = vec![
        p.label.clone(),
        money(p.sales),
        points(p.points_issued),
        points(p.points_redeemed),
        points(p.points_expired),
        fraction(p.expected_redemption),
        fraction(r.share),
        money(r.allocated),
        points(r.expected_to_redeem),
        points(r.redeemed_to_date),
        money(r.revenue),
    ];
    if catch_up {
        cells.push(money(r.catch_up));
    }
    cells.extend([money(r.cumulative_revenue), money(r.deferred)]);
    cells
}

/// The rows as CSV: money to `currency`'s minor unit, rates as fractions;
/// with a `catch_up` column when `catch_up` (estimates that change over
/// time).
pub fn write_csv<W: Write>(
    rows: &[RevenueRow],
    catch_up: bool,
    currency: Currency,
    out: W,
) -> csv::Result<()> {
    write_csv_with(rows, catch_up, currency, &[], |_| Vec::new(), out)
}

/// As [`write_csv`], with the columns `extra` last: `cells(i)` gives the
/// `i`th row's.
pub fn write_csv_with<W: Write>(
    rows: &[RevenueRow],
    catch_up: bool,
    currency: Currency,
    extra: &[&str],
    more: impl Fn(usize) -> Vec<String>,
    out: W,
) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(columns(catch_up).iter().chain(extra))?;
    for (i, r) in rows.iter().enumerate() {
        csv.write_record(
            cells(r, catch_up, currency, |d| d.normalize().to_string())
                .into_iter()
                .chain(more(i)),
        )?;
    }
    csv.flush()?;
    Ok(())
}

/// The rows for a person, rates in percent.
pub fn text(rows: &[RevenueRow], catch_up: bool, currency: Currency) -> String {
    text_with(rows, catch_up, currency, &[], |_| Vec::new())
}

/// As [`text`], with the columns `extra` last: `cells(i)` gives the `i`th
/// row's.
pub fn text_with(
    rows: &[RevenueRow],
    catch_up: bool,
    currency: Currency,
    extra: &[&str],
    more: impl Fn(usize) -> Vec<String>,
) -> String {
    table_with(rows, catch_up, currency, extra, more).text()
}

/// The rows as people read them (rates in percent), with the columns
/// `extra` last: for the terminal and the HTML page.
pub fn table_with(
    rows: &[RevenueRow],
    catch_up: bool,
    currency: Currency,
    extra: &[&str],
    more: impl Fn(usize) -> Vec<String>,
) -> Table {
    let header: Vec<&str> = columns(catch_up)
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let mut table = Table::new(&header);
    for (i, r) in rows.iter().enumerate() {
        let mut row = cells(r, catch_up, currency, percent);
        row.extend(more(i));
        table.push(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn period(sales: &str, issued: &str, redeemed: &str, expired: &str, rate: &str) -> Period {
        Period {
            label: String::new(),
            sales: d(sales),
            points_issued: d(issued),
            points_redeemed: d(redeemed),
            points_expired: d(expired),
            expected_redemption: d(rate),
        }
    }

    #[test]
    fn expiry_releases_what_is_left_and_nothing_is_recognized_twice() {
        // 1,000 points worth 1 come with 1,500 of sales and half are
        // expected to be redeemed: ssp 500, share 500 / 2,000, 375
        // allocated. 300 are redeemed, then the other 700 expire.
        let rows = recognize(&Allocation {
            value_per_point: Decimal::ONE,
            rounding: Rounding::EXACT,
            periods: vec![
                period("1500", "1000", "0", "0", "0.5"),
                period("0", "0", "300", "0", "0.5"),
                period("0", "0", "0", "700", "0.5"),
            ],
        });
        assert_eq!(rows[0].share, d("0.25"));
        assert_eq!(rows[0].allocated, d("375"));
        assert_eq!(rows[0].revenue, Decimal::ZERO);
        assert_eq!(rows[1].expected_to_redeem, d("500"));
        assert_eq!(rows[1].revenue, d("225"));
        assert_eq!(rows[1].deferred, d("150"));
        assert_eq!(rows[2].expected_to_redeem, d("300"));
        assert_eq!(rows[2].revenue, d("150"));
        assert_eq!(rows[2].deferred, Decimal::ZERO);
    }

    #[test]
    fn redemptions_beyond_the_estimate_recognize_no_more_than_allocated() {
        let rows = recognize(&Allocation {
            value_per_point: Decimal::ONE,
            rounding: Rounding::minor_unit(Currency::of("EUR").unwrap()),
            periods: vec![
                period("900", "100", "0", "0", "0.8"),
                period("0", "0", "95", "0", "0.8"),
            ],
        });
        assert_eq!(rows[1].expected_to_redeem, d("95"));
        assert_eq!(rows[1].cumulative_revenue, rows[0].allocated);
        assert_eq!(rows[1].deferred, Decimal::ZERO);
    }

    #[test]
    fn a_period_without_sales_or_points_allocates_nothing() {
        let rows = recognize(&Allocation {
            value_per_point: Decimal::ONE,
            rounding: Rounding::minor_unit(Currency::of("EUR").unwrap()),
            periods: vec![period("0", "0", "0", "0", "0.9")],
        });
        assert_eq!(rows[0].share, Decimal::ZERO);
        assert_eq!(rows[0].allocated, Decimal::ZERO);
        assert_eq!(rows[0].revenue, Decimal::ZERO);
    }

    #[test]
    fn deferred_revenue_needs_exactly_one_points_type_with_a_value() {
        let program = |points: &str| {
            let source =
                format!("program \"p\" {{\n  currency EUR\n  timezone \"UTC\"\n}}\n{points}");
            crate::compile::compile(&source).unwrap().0
        };
        let valued = |name: &str| format!("points {name} {{\n  value 0.01 EUR\n}}\n");
        let none = program("points beans {\n}\n");
        assert_eq!(
            redeemable(&none).unwrap_err().to_string(),
            "deferred revenue needs a points type that can be redeemed and has a `value`: this program has none"
        );
        let one = program(&valued("beans"));
        assert_eq!(redeemable(&one).unwrap().1, "beans");
        let two = program(&(valued("beans") + &valued("stars")));
        assert_eq!(
            redeemable(&two).unwrap_err().to_string(),
            "deferred revenue is computed for one points type, and this program has 2 with a value (`beans`, `stars`): the allocation between several is not supported"
        );
    }
}
