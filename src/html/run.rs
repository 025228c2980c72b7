//! `loyalty run --report ... --html`'s page, for a CFO: the headline
//! figures first (closing liability, deferred revenue, breakage in force,
//! rejects), then the liability's roll-forward as a waterfall per month,
//! deferred revenue, upcoming expiries, KPIs and the cohort curves when
//! those reports are asked for, the rejects with the first reasons, the
//! liability and the points' flows over time, the tier mix and the
//! liability table.

use super::chart::{self, Colours, Series, Unit, XAxis};
use super::{
    escape, figure, grouped, html_table, months_of, page, points_types, section, tier_section,
    Facts,
};
use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::events::Reject;
use crate::finance::cohorts::CohortReport;
use crate::finance::deferred::{self, RevenueRow};
use crate::finance::liability::{LiabilityRow, LiabilityTable, PERKS};
use crate::finance::rollforward::{roll_forward, RollForward};
use crate::finance::upcoming::Upcoming;
use crate::report::kpis::{is_share, KpiReport};
use crate::report::tier_mix::TierMix;
use crate::table::{percent, points, Table};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// How many rejects the page lists with their reasons.
const FIRST_REJECTS: usize = 5;

/// What the run made, for its page: the liability table always; the
/// other reports when they were asked for.
pub struct RunReports<'r> {
    pub program: &'r Program,
    /// What was run: program, events, `--until`, breakage.
    pub facts: &'r Facts,
    pub liability: &'r LiabilityTable,
    pub tier_mix: &'r TierMix<'r>,
    pub rejects: &'r [Reject],
    /// The records read.
    pub read: u64,
    /// Deferred revenue's rows, or why it cannot be computed: its
    /// contract liability is a headline figure.
    pub revenue: Option<Result<&'r [RevenueRow], String>>,
    /// `--report deferred-revenue` was asked for: the page has its chart
    /// and table too.
    pub revenue_asked: bool,
    pub upcoming: Option<&'r Upcoming>,
    pub cohorts: Option<&'r CohortReport>,
    /// `--report kpis`'s values, month by month.
    pub kpis: Option<&'r KpiReport>,
}

/// The page for `loyalty run --report ... --html`.
pub fn run_page(reports: &RunReports) -> String {
    let RunReports {
        program,
        facts,
        liability: table,
        ..
    } = *reports;
    let months = months_of(table.rows.iter().map(|r| r.month.as_str()));
    let x = XAxis::months(&months);
    let rolled = roll_forward(program, table);
    let mut body = String::new();
    headline(&mut body, reports, &months, &rolled);
    for p in points_types(rolled.iter().map(|r| r.points.as_str())) {
        let lines: Vec<&RollForward> = rolled.iter().filter(|r| r.points == p).collect();
        roll_forward_section(&mut body, table.currency, &x, &p, &lines);
    }
    if let Some(revenue) = reports.revenue.as_ref().filter(|_| reports.revenue_asked) {
        revenue_section(&mut body, table.currency, revenue.as_deref());
    }
    if let Some(upcoming) = reports.upcoming {
        let content = format!(
            "{}\n<p>{} member(s) projected to move down at their next review (upcoming_tiers.csv lists them).</p>",
            html_table(&upcoming.totals(program)),
            grouped(&upcoming.downgrades.len().to_string())
        );
        section(
            &mut body,
            &format!(
                "Points expiring in the 90 days after {}",
                upcoming.as_of.format("%Y-%m-%d")
            ),
            &content,
        );
    }
    if let Some(kpis) = reports.kpis {
        kpi_section(&mut body, kpis);
    }
    if let Some(cohorts) = reports.cohorts {
        cohort_sections(&mut body, cohorts);
    }
    reject_section(&mut body, reports.rejects);
    flow_sections(&mut body, table, &months, &x);
    tier_section(&mut body, program, &months, Unit::Members, |month| {
        reports
            .tier_mix
            .at(month)
            .into_iter()
            .map(Decimal::from)
            .collect()
    });
    liability_table(&mut body, table);
    page(&program.name, facts, &body)
}

/// The rows of the last month.
fn last_month<'t>(table: &'t LiabilityTable, months: &[String]) -> Vec<&'t LiabilityRow> {
    let last = months.last().cloned().unwrap_or_default();
    table.rows.iter().filter(|r| r.month == last).collect()
}

/// The four headline figures, as of the last month.
fn headline(body: &mut String, reports: &RunReports, months: &[String], rolled: &[RollForward]) {
    let table = reports.liability;
    let currency = table.currency;
    let money = |amount| currency.format(amount);
    let last = last_month(table, months);
    let as_of = months.last().cloned().unwrap_or_default();
    let mut figures = String::from("<div class=\"headline\">\n");
    let closing: Decimal = last.iter().map(|r| r.liability).sum();
    let per_type: Vec<String> = last
        .iter()
        .filter(|r| rolled.iter().any(|l| l.points == r.points))
        .map(|r| format!("{} {}", r.points, grouped(&money(r.liability))))
        .collect();
    figure(
        &mut figures,
        &format!("Closing liability, {as_of}"),
        &format!("{} {currency}", grouped(&money(closing))),
        &per_type.join("; "),
    );
    match &reports.revenue {
        Some(Ok(rows)) => {
            let last = rows.last();
            figure(
                &mut figures,
                "Deferred revenue (contract liability)",
                &format!(
                    "{} {currency}",
                    grouped(&money(last.map_or(Decimal::ZERO, |r| r.deferred)))
                ),
                &format!(
                    "revenue from points recognized to date: {} {currency}",
                    grouped(&money(last.map_or(Decimal::ZERO, |r| r.cumulative_revenue)))
                ),
            );
        }
        Some(Err(why)) => figure(&mut figures, "Deferred revenue", "not computed", why),
        None => figure(
            &mut figures,
            "Deferred revenue",
            "not asked for",
            "add --report deferred-revenue",
        ),
    }
    let valued: Vec<&&LiabilityRow> = last
        .iter()
        .filter(|r| rolled.iter().any(|l| l.points == r.points))
        .collect();
    let (rates, note) = match valued.as_slice() {
        [] => (
            "none".to_string(),
            "no points type carries a liability".to_string(),
        ),
        [one] => (percent(one.breakage), one.points.clone()),
        _ => (
            valued
                .iter()
                .map(|r| format!("{} {}", r.points, percent(r.breakage)))
                .collect::<Vec<_>>()
                .join(", "),
            "per points type".to_string(),
        ),
    };
    figure(&mut figures, "Breakage in force", &rates, &note);
    let rejected = reports.rejects.len();
    figure(
        &mut figures,
        "Rejected records",
        &grouped(&rejected.to_string()),
        &format!(
            "of {} read{}",
            grouped(&reports.read.to_string()),
            if reports.read > 0 {
                format!(
                    " ({})",
                    percent(Decimal::from(rejected) / Decimal::from(reports.read))
                )
            } else {
                String::new()
            }
        ),
    );
    figures.push_str("</div>");
    section(body, &format!("Headline, as of {as_of}"), &figures);
}

/// The steps of the roll-forward, between opening and closing.
const STEPS: [&str; 5] = [
    "+ issued",
    "− redeemed",
    "− expired",
    "− reversed",
    "± adjustments",
];

/// One points type's roll-forward: the waterfall per month, and the table.
fn roll_forward_section(
    body: &mut String,
    currency: Currency,
    x: &XAxis,
    points: &str,
    lines: &[&RollForward],
) {
    let months: Vec<chart::Month> = lines
        .iter()
        .map(|l| chart::Month {
            opening: l.opening,
            steps: vec![
                l.issued,
                -l.redeemed,
                -l.expired,
                -l.reversed,
                l.adjustments(),
            ],
            closing: l.closing,
        })
        .collect();
    let money = |amount| currency.format(amount);
    let mut table = Table::new(&[
        "month",
        &format!("opening {currency}"),
        "+ issued",
        "− redeemed",
        "− expired",
        "− reversed",
        "± estimate change",
        "± rounding",
        "= closing",
    ]);
    for l in lines {
        table.push(vec![
            l.month.clone(),
            money(l.opening),
            money(l.issued),
            money(l.redeemed),
            money(l.expired),
            money(l.reversed),
            money(l.estimate),
            money(l.rounding),
            money(l.closing),
        ]);
    }
    let content = format!(
        "{}\n<p>Each month: opening + issued − redeemed − expired − reversed ± adjustments = closing, \
         the points valued at the month's value × (1 − breakage). The adjustments are the change \
         of the breakage estimate on the opening points and what rounding to the currency's minor unit leaves.</p>\n{}",
        chart::waterfall(x, &Unit::Money(currency), &STEPS, &months),
        html_table(&table)
    );
    section(
        body,
        &format!("{points}: liability roll-forward ({currency})"),
        &content,
    );
}

fn revenue_section(body: &mut String, currency: Currency, revenue: Result<&[RevenueRow], &String>) {
    let rows = match revenue {
        Ok(rows) => rows,
        Err(why) => {
            section(
                body,
                "Deferred revenue (IFRS 15)",
                &format!("<p>{}</p>", escape(why)),
            );
            return;
        }
    };
    let months: Vec<String> = rows.iter().map(|r| r.period.label.clone()).collect();
    let column = |f: fn(&RevenueRow) -> Decimal| -> Vec<Decimal> { rows.iter().map(f).collect() };
    let lines = [
        Series::line("contract liability (deferred)", &column(|r| r.deferred)),
        Series::line("revenue from points in the month", &column(|r| r.revenue)),
    ];
    let catch_up = rows.iter().any(|r| !r.catch_up.is_zero());
    let content = format!(
        "{}\n{}",
        chart::lines(
            &XAxis::months(&months),
            &Unit::Money(currency),
            &lines,
            &[],
            Colours::Distinct
        ),
        html_table(&deferred::table_with(rows, catch_up, currency, &[], |_| {
            Vec::new()
        }))
    );
    section(
        body,
        &format!("Deferred revenue (IFRS 15), {currency}"),
        &content,
    );
}

/// The KPIs, one row each (in the report's order), a column per month;
/// fractions in percent.
fn kpi_section(body: &mut String, kpis: &KpiReport) {
    let header: Vec<&str> = std::iter::once("kpi")
        .chain(kpis.months.iter().map(String::as_str))
        .collect();
    let mut table = Table::new(&header);
    let names = kpis
        .kpis
        .first()
        .into_iter()
        .flatten()
        .map(|(name, _)| name);
    for name in names {
        let mut row = vec![name.clone()];
        row.extend(kpis.kpis.iter().map(|month| {
            month
                .iter()
                .find(|(n, _)| n == name)
                .map_or(String::new(), |(_, value)| {
                    if is_share(name) {
                        percent(*value)
                    } else {
                        points(*value)
                    }
                })
        }));
        table.push(row);
    }
    section(body, "KPIs at the end of each month", &html_table(&table));
}

/// Per points type: the cohorts' redemption curves, the fit and its
/// sensitivity.
fn cohort_sections(body: &mut String, report: &CohortReport) {
    for fit in &report.points {
        let ages = fit.cohorts.iter().map(|c| c.share.len()).max().unwrap_or(0);
        let lines: Vec<Series> = fit
            .cohorts
            .iter()
            .map(|c| Series::line(&c.cohort, &c.share))
            .collect();
        let mut summary = Table::new(&["", "figure"]);
        summary.push(vec![
            "points issued less reversed".to_string(),
            points(fit.issued),
        ]);
        summary.push(vec![
            "projected ever to be redeemed".to_string(),
            points(fit.redeemed_ultimate),
        ]);
        summary.push(vec![
            "ultimate redemption rate".to_string(),
            percent(fit.ultimate_redemption_rate),
        ]);
        summary.push(vec!["breakage".to_string(), percent(fit.breakage)]);
        let mut sensitivity = Table::new(&["breakage", &format!("liability {}", report.currency)]);
        for s in &fit.sensitivity {
            sensitivity.push(vec![
                percent(s.breakage),
                report.currency.format(s.liability),
            ]);
        }
        let content = format!(
            "{}\n<p>The share of each monthly earning cohort's points redeemed by each month since \
             it was earned (lighter lines are older cohorts).</p>\n{}\n<p>The liability of {} at \
             the fitted breakage and 2 points either side:</p>\n{}\n<p>Method: {}.</p>",
            chart::lines(
                &XAxis::ages(ages),
                &Unit::Share,
                &lines,
                &[],
                Colours::Ramp
            ),
            html_table(&summary),
            escape(&report.as_of),
            html_table(&sensitivity),
            escape(&report.method)
        );
        section(
            body,
            &format!(
                "{}: redemption by earning cohort, as of {}",
                fit.points, report.as_of
            ),
            &content,
        );
    }
}

/// The rejects counted by class, and the first few with their reasons.
fn reject_section(body: &mut String, rejects: &[Reject]) {
    if rejects.is_empty() {
        section(body, "Rejected records", "<p>No record was rejected.</p>");
        return;
    }
    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rejects {
        *by_class.entry(r.class.name()).or_insert(0) += 1;
    }
    let mut counts = Table::new(&["class", "records"]);
    for (class, count) in by_class {
        counts.push(vec![class.to_string(), count.to_string()]);
    }
    let mut first = Table::new(&["file", "line", "class", "reason"]).labels(4);
    for r in rejects.iter().take(FIRST_REJECTS) {
        first.push(vec![
            r.origin.file.to_string(),
            r.origin.line.to_string(),
            r.class.name().to_string(),
            r.reason.clone(),
        ]);
    }
    let content = format!(
        "{}\n<p>The first {} (rejects.csv lists them all):</p>\n{}",
        html_table(&counts),
        rejects.len().min(FIRST_REJECTS),
        html_table(&first)
    );
    section(
        body,
        &format!("Rejected records: {}", grouped(&rejects.len().to_string())),
        &content,
    );
}

/// The liability per points type over the months, and per points type the
/// points issued, spent and expired.
fn flow_sections(body: &mut String, table: &LiabilityTable, months: &[String], x: &XAxis) {
    let types = points_types(table.rows.iter().map(|r| r.points.as_str()));
    let column = |points: &str, f: fn(&LiabilityRow) -> Decimal| {
        months
            .iter()
            .map(|m| {
                table
                    .rows
                    .iter()
                    .find(|r| &r.month == m && r.points == points)
                    .map_or(Decimal::ZERO, f)
            })
            .collect::<Vec<Decimal>>()
    };
    // Types that carry no liability (qualifying points, perks' costs) and
    // types nothing was issued in would only draw flat lines at zero.
    let nonzero = |values: &[Decimal]| values.iter().any(|v| !v.is_zero());
    let liability: Vec<Series> = types
        .iter()
        .map(|p| (p, column(p, |r| r.liability)))
        .filter(|(_, values)| nonzero(values))
        .map(|(p, values)| Series::line(p, &values))
        .collect();
    section(
        body,
        &format!("Liability ({})", table.currency),
        &chart::lines(
            x,
            &Unit::Money(table.currency),
            &liability,
            &[],
            Colours::Distinct,
        ),
    );
    for p in types.iter().filter(|p| nonzero(&column(p, |r| r.issued))) {
        let flows = [
            Series::line("issued", &column(p, |r| r.issued)),
            Series::line("spent", &column(p, |r| r.spent)),
            Series::line("expired", &column(p, |r| r.expired)),
        ];
        section(
            body,
            &format!("{p}: points issued, spent and expired per month"),
            &chart::lines(x, &Unit::Points, &flows, &[], Colours::Distinct),
        );
    }
}

/// The liability table, without the `(perks)` rows of months no perk was
/// used in (all zero), and the breakage method.
fn liability_table(body: &mut String, table: &LiabilityTable) {
    let (header, rows) = table.cells();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut shown = Table::new(&header).labels(2);
    for (row, cells) in table.rows.iter().zip(rows) {
        if row.points == PERKS && row.cost.is_zero() {
            continue;
        }
        shown.push(cells);
    }
    let content = format!(
        "{}\n<p>Breakage: {}</p>",
        html_table(&shown),
        escape(&table.breakage_method)
    );
    section(body, "Liability table", &content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpis_are_a_row_each_a_column_per_month_shares_in_percent() {
        let d = |text: &str| text.parse::<Decimal>().unwrap();
        let mut body = String::new();
        kpi_section(
            &mut body,
            &KpiReport {
                months: vec!["2025-01".into(), "2025-02".into()],
                tallies: Vec::new(),
                kpis: vec![
                    vec![
                        ("active_members".into(), d("1200")),
                        ("redemption_rate:stars".into(), d("0.125")),
                    ],
                    vec![("active_members".into(), d("1250"))],
                ],
            },
        );
        assert!(body.contains("<th>kpi</th><th>2025-01</th><th>2025-02</th>"));
        assert!(body.contains(
            "<tr><td>active_members</td><td class=\"num\">1,200</td><td class=\"num\">1,250</td></tr>"
        ));
        // A month without the figure is an empty cell.
        assert!(body.contains(
            "<tr><td>redemption_rate:stars</td><td class=\"num\">12.50%</td><td class=\"num\"></td></tr>"
        ));
    }
}
