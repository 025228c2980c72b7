//! From runs to the report: each run's shards merged in a fixed order, the
//! run's KPIs per month, and per month the 5th, 50th and 95th percentiles
//! across runs of every column of the liability table and every KPI; then
//! the report as CSV, JSON and a table for people.

use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::finance::diff::{MemberOutcome, Outcome};
use crate::finance::liability::LiabilityRow;
pub use crate::finance::spread::{percentile, Band};
use crate::report::kpis::{kpis, Tally};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// What a shard produced, or a run: its shards' results added up.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// The liability table: per month and points type, months in order,
    /// points in the program's order.
    pub rows: Vec<LiabilityRow>,
    pub breakage_method: String,
    /// One per month simulated.
    pub tallies: Vec<Tally>,
    /// Each member's end state by id, when asked for (for comparing two
    /// programs).
    pub members: BTreeMap<String, MemberOutcome>,
}

/// Adds up a run's shards, in shard order. Flows, outstanding points, cost
/// and liability are sums (each shard's liability rounded to the cent
/// first); the breakage rate is the program's, the same in every shard.
pub fn merge(program: &Program, shards: Vec<RunResult>) -> RunResult {
    let order = |points: &str| {
        program
            .points
            .iter()
            .position(|p| p.name == points)
            .unwrap_or(usize::MAX)
    };
    let mut rows: BTreeMap<(String, usize, String), LiabilityRow> = BTreeMap::new();
    let mut run = RunResult::default();
    for shard in shards {
        for row in shard.rows {
            let key = (row.month.clone(), order(&row.points), row.points.clone());
            match rows.get_mut(&key) {
                None => {
                    rows.insert(key, row);
                }
                Some(sum) => {
                    sum.issued += row.issued;
                    sum.spent += row.spent;
                    sum.expired += row.expired;
                    sum.reversed += row.reversed;
                    sum.outstanding += row.outstanding;
                    sum.liability += row.liability;
                    sum.cost += row.cost;
                }
            }
        }
        if run.tallies.len() < shard.tallies.len() {
            run.tallies.resize(shard.tallies.len(), Tally::default());
        }
        for (sum, tally) in run.tallies.iter_mut().zip(&shard.tallies) {
            sum.add(tally);
        }
        run.members.extend(shard.members);
        if run.breakage_method.is_empty() {
            run.breakage_method = shard.breakage_method;
        }
    }
    run.rows = rows.into_values().collect();
    run
}

impl RunResult {
    /// The run as `loyalty diff` compares it: its liability table's totals
    /// and its members' end states (kept only with `keep_members`).
    pub fn outcome(&self, program: &Program) -> Outcome {
        let rejected = self.tallies.iter().map(|t| t.rejected).sum();
        Outcome::of(program, &self.rows, rejected, self.members.clone())
    }
}

/// The liability table's columns for one month and points type, across runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityBand {
    pub points: String,
    /// The rate applied (the program's; the same in every run).
    pub breakage: Decimal,
    pub issued: Band,
    pub spent: Band,
    pub expired: Band,
    pub reversed: Band,
    pub outstanding: Band,
    pub liability: Band,
    pub cost: Band,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiBand {
    pub name: String,
    #[serde(flatten)]
    pub band: Band,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthReport {
    pub month: String,
    pub liability: Vec<LiabilityBand>,
    pub kpis: Vec<KpiBand>,
}

/// What `loyalty simulate` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub program: String,
    pub currency: Currency,
    pub seed: u64,
    pub runs: u64,
    /// Members ever enrolled in one run.
    pub population: u64,
    pub breakage_method: String,
    pub months: Vec<MonthReport>,
}

/// Percentiles across runs, per month. A run without a row for a month and
/// points type (nothing had happened yet) counts as zeros.
pub fn report(
    program: &Program,
    months: &[String],
    runs: &[RunResult],
    header: (u64, u64),
) -> Report {
    let (seed, population) = header;
    let per_run_kpis: Vec<_> = runs
        .iter()
        .map(|r| kpis(program, months, &r.rows, &r.tallies))
        .collect();
    let names: Vec<String> = program
        .points
        .iter()
        .map(|p| p.name.clone())
        .chain(
            runs.iter()
                .flat_map(|r| &r.rows)
                .map(|r| r.points.clone())
                .filter(|p| !program.points.iter().any(|t| &t.name == p)),
        )
        .fold(Vec::new(), |mut names, p| {
            if !names.contains(&p) {
                names.push(p);
            }
            names
        });
    let month_reports = months
        .iter()
        .enumerate()
        .map(|(m, month)| {
            let liability = names
                .iter()
                .filter_map(|points| {
                    let rows: Vec<Option<&LiabilityRow>> = runs
                        .iter()
                        .map(|r| {
                            r.rows
                                .iter()
                                .find(|row| &row.month == month && &row.points == points)
                        })
                        .collect();
                    let breakage = rows.iter().flatten().next()?.breakage;
                    let band = |f: fn(&LiabilityRow) -> Decimal| {
                        Band::of(rows.iter().map(|r| r.map_or(Decimal::ZERO, f)).collect())
                    };
                    Some(LiabilityBand {
                        points: points.clone(),
                        breakage,
                        issued: band(|r| r.issued),
                        spent: band(|r| r.spent),
                        expired: band(|r| r.expired),
                        reversed: band(|r| r.reversed),
                        outstanding: band(|r| r.outstanding),
                        liability: band(|r| r.liability),
                        cost: band(|r| r.cost),
                    })
                })
                .collect();
            let kpi_names: Vec<String> = per_run_kpis
                .first()
                .and_then(|k| k.get(m))
                .map(|k| k.iter().map(|(n, _)| n.clone()).collect())
                .unwrap_or_default();
            let kpis = kpi_names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let values = per_run_kpis
                        .iter()
                        .map(|k| {
                            k.get(m)
                                .and_then(|k| k.get(i))
                                .map_or(Decimal::ZERO, |(_, v)| *v)
                        })
                        .collect();
                    KpiBand {
                        name,
                        band: Band::of(values),
                    }
                })
                .collect();
            MonthReport {
                month: month.clone(),
                liability,
                kpis,
            }
        })
        .collect();
    Report {
        program: program.name.clone(),
        currency: program.currency,
        seed,
        runs: runs.len() as u64,
        population,
        breakage_method: runs
            .first()
            .map(|r| r.breakage_method.clone())
            .unwrap_or_default(),
        months: month_reports,
    }
}

const LIABILITY_COLUMNS: [&str; 7] = [
    "issued",
    "spent",
    "expired",
    "reversed",
    "outstanding",
    "liability",
    "cost",
];

fn columns(b: &LiabilityBand) -> [Band; 7] {
    [
        b.issued,
        b.spent,
        b.expired,
        b.reversed,
        b.outstanding,
        b.liability,
        b.cost,
    ]
}

impl Report {
    /// `liability.csv`: one row per month and points type, each column's
    /// p5, p50 and p95 side by side.
    pub fn write_liability_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec!["month".to_string(), "points".into(), "breakage".into()];
        for column in LIABILITY_COLUMNS {
            for p in ["p5", "p50", "p95"] {
                header.push(format!("{column}_{p}"));
            }
        }
        csv.write_record(&header)?;
        for month in &self.months {
            for band in &month.liability {
                let mut row = vec![
                    month.month.clone(),
                    band.points.clone(),
                    band.breakage.to_string(),
                ];
                for b in columns(band) {
                    row.extend([b.p5.to_string(), b.p50.to_string(), b.p95.to_string()]);
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// `kpis.csv`: one row per month and KPI.
    pub fn write_kpis_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["month", "kpi", "p5", "p50", "p95"])?;
        for month in &self.months {
            for k in &month.kpis {
                csv.write_record([
                    month.month.as_str(),
                    &k.name,
                    &k.band.p5.to_string(),
                    &k.band.p50.to_string(),
                    &k.band.p95.to_string(),
                ])?;
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// The liability per month (median flows, liability with its band) and
    /// the last month's KPIs, as aligned text.
    pub fn text(&self) -> String {
        let mut liability = vec![[
            "month",
            "points",
            "issued",
            "spent",
            "expired",
            "outstanding",
            "liability p5",
            "p50",
            "p95",
            "cost",
        ]
        .map(String::from)
        .to_vec()];
        for month in &self.months {
            for b in month.liability.iter().filter(|b| {
                b.issued.p95 > Decimal::ZERO
                    || b.cost.p95 > Decimal::ZERO
                    || b.outstanding.p95 > Decimal::ZERO
            }) {
                liability.push(vec![
                    month.month.clone(),
                    b.points.clone(),
                    b.issued.p50.to_string(),
                    b.spent.p50.to_string(),
                    b.expired.p50.to_string(),
                    b.outstanding.p50.to_string(),
                    b.liability.p5.to_string(),
                    b.liability.p50.to_string(),
                    b.liability.p95.to_string(),
                    b.cost.p50.to_string(),
                ]);
            }
        }
        let mut text = format!(
            "{}: {} runs of {} members, seed {} (medians; liability with its 5th-95th percentile band, in {})\n\n",
            self.program, self.runs, self.population, self.seed, self.currency
        );
        text.push_str(&aligned(&liability));
        if let Some(last) = self.months.last() {
            let mut kpis = vec![["kpi", "p5", "p50", "p95"].map(String::from).to_vec()];
            for k in &last.kpis {
                kpis.push(vec![
                    k.name.clone(),
                    k.band.p5.to_string(),
                    k.band.p50.to_string(),
                    k.band.p95.to_string(),
                ]);
            }
            text.push_str(&format!("\nKPIs in {}\n\n", last.month));
            text.push_str(&aligned(&kpis));
        }
        text
    }
}

/// Rows as columns: the first left-aligned, the others right-aligned.
fn aligned(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(cell.chars().count()),
                None => widths.push(cell.chars().count()),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        month: &str,
        points: &str,
        issued: i64,
        spent: i64,
        outstanding: i64,
        cost: i64,
    ) -> LiabilityRow {
        LiabilityRow {
            month: month.to_string(),
            points: points.to_string(),
            issued: Decimal::from(issued),
            spent: Decimal::from(spent),
            expired: Decimal::ZERO,
            reversed: Decimal::ZERO,
            outstanding: Decimal::from(outstanding),
            breakage: Decimal::new(15, 2),
            liability: Decimal::from(outstanding) / Decimal::from(100),
            cost: Decimal::from(cost),
        }
    }

    #[test]
    fn shards_add_up_in_month_and_program_order_and_feed_the_kpis() {
        let program = crate::compile::compile(
            r#"program "T" { currency USD  timezone "UTC" }
               points a { value 0.01 USD }
               points b { value 0.01 USD }
               rule r { on purchase  earn 1 a per 1 USD of amount }"#,
        )
        .unwrap()
        .0;
        let tally = |members, sales| Tally {
            members,
            sales: Decimal::from(sales),
            ..Tally::default()
        };
        let first = RunResult {
            rows: vec![
                row("2026-01", "(perks)", 0, 0, 0, 5),
                row("2026-01", "b", 10, 0, 10, 0),
                row("2026-01", "a", 100, 20, 80, 2),
                row("2026-02", "a", 50, 30, 100, 3),
            ],
            tallies: vec![tally(3, 400), tally(3, 100)],
            ..RunResult::default()
        };
        let second = RunResult {
            rows: vec![
                row("2026-02", "a", 100, 0, 100, 0),
                row("2026-01", "a", 0, 0, 0, 0),
            ],
            tallies: vec![tally(1, 100), tally(2, 0)],
            ..RunResult::default()
        };
        let run = merge(&program, vec![first, second]);
        let outline: Vec<(&str, &str, Decimal, Decimal)> = run
            .rows
            .iter()
            .map(|r| (r.month.as_str(), r.points.as_str(), r.issued, r.outstanding))
            .collect();
        let d = Decimal::from;
        assert_eq!(
            outline,
            vec![
                ("2026-01", "a", d(100), d(80)),
                ("2026-01", "b", d(10), d(10)),
                ("2026-01", "(perks)", d(0), d(0)),
                ("2026-02", "a", d(150), d(200)),
            ]
        );
        assert_eq!(run.rows[3].liability, d(2));
        assert_eq!(run.tallies, vec![tally(4, 500), tally(5, 100)]);

        let months = ["2026-01".to_string(), "2026-02".to_string()];
        let kpis = kpis(&program, &months, &run.rows, &run.tallies);
        let get = |m: usize, name: &str| kpis[m].iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get(0, "redemption_rate:a"), Decimal::new(2, 1));
        // 50 spent of 250 issued to date.
        assert_eq!(get(1, "redemption_rate:a"), Decimal::new(2, 1));
        assert_eq!(get(0, "cost"), d(7));
        assert_eq!(get(0, "cost_per_member"), Decimal::new(175, 2));
        assert_eq!(get(0, "cost_pct_of_sales"), Decimal::new(14, 1));
        assert_eq!(get(1, "cost_pct_of_sales"), d(3));
    }

    #[test]
    fn aligned_pads_columns() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["bbb".to_string(), "22".to_string()],
        ];
        assert_eq!(aligned(&rows), "a     1\nbbb  22\n");
    }
}
