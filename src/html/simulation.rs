//! `loyalty simulate --html`'s page: per points type the liability's
//! median with its p5–p95 band and the medians of points issued, spent and
//! expired per month, the tier mix, the liability table and the last
//! month's KPIs.

use super::chart::{self, Colours, Series, Unit, XAxis};
use super::{html_table, page, points_types, section, tier_section, Facts};
use crate::compile::ir::Program;
use crate::simulate::stats::{Band, LiabilityBand};
use crate::simulate::Report;
use crate::table::Table;
use rust_decimal::Decimal;

/// The page for `loyalty simulate --html`.
pub fn simulation_page(program: &Program, facts: &Facts, report: &Report) -> String {
    let months: Vec<String> = report.months.iter().map(|m| m.month.clone()).collect();
    let x = XAxis::months(&months);
    let types = points_types(
        report
            .months
            .iter()
            .flat_map(|m| m.liability.iter().map(|l| l.points.as_str())),
    );
    let band = |points: &str, pick: fn(&LiabilityBand) -> Band| {
        let of = |f: fn(&Band) -> Decimal| -> Vec<Decimal> {
            report
                .months
                .iter()
                .map(|m| {
                    m.liability
                        .iter()
                        .find(|l| l.points == points)
                        .map_or(Decimal::ZERO, |l| f(&pick(l)))
                })
                .collect()
        };
        (of(|b| b.p5), of(|b| b.p50), of(|b| b.p95))
    };
    let mut body = String::new();
    for p in &types {
        let (p5, p50, p95) = band(p, |l| l.liability);
        if p50.iter().all(Decimal::is_zero) && p95.iter().all(Decimal::is_zero) {
            continue;
        }
        section(
            &mut body,
            &format!("{p}: liability ({}), median and p5–p95", report.currency),
            &chart::lines(
                &x,
                &Unit::Money(report.currency),
                &[Series::line("median (p50)", &p50)],
                &[(p5, p95)],
                Colours::Distinct,
            ),
        );
    }
    let issued_any = |p: &str| band(p, |l| l.issued).2.iter().any(|v| !v.is_zero());
    for p in types.iter().filter(|p| issued_any(p)) {
        let flows = [
            Series::line("issued", &band(p, |l| l.issued).1),
            Series::line("spent", &band(p, |l| l.spent).1),
            Series::line("expired", &band(p, |l| l.expired).1),
        ];
        section(
            &mut body,
            &format!("{p}: issued, spent and expired per month (medians)"),
            &chart::lines(&x, &Unit::Points, &flows, &[], Colours::Distinct),
        );
    }
    let tier_names: Vec<String> = program
        .tiers
        .as_ref()
        .map(|t| t.tiers.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    tier_section(&mut body, program, &months, Unit::Share, |month| {
        let kpis = report.months.iter().find(|m| m.month == month);
        tier_names
            .iter()
            .map(|name| {
                kpis.and_then(|m| {
                    m.kpis
                        .iter()
                        .find(|k| k.name == format!("tier_share:{name}"))
                })
                .map_or(Decimal::ZERO, |k| k.band.p50)
            })
            .collect()
    });
    let mut table = Table::new(&[
        "month",
        "points",
        "issued p5 / p50 / p95",
        "spent",
        "expired",
        "outstanding",
        "liability",
        "cost",
    ])
    .labels(2);
    for m in &report.months {
        for l in &m.liability {
            table.push(vec![
                m.month.clone(),
                l.points.clone(),
                band_text(&l.issued),
                band_text(&l.spent),
                band_text(&l.expired),
                band_text(&l.outstanding),
                band_text(&l.liability),
                band_text(&l.cost),
            ]);
        }
    }
    section(&mut body, "Liability per month", &html_table(&table));
    let mut kpis = Table::new(&["kpi", "p5 / p50 / p95"]);
    for k in report.months.last().iter().flat_map(|m| &m.kpis) {
        kpis.push(vec![k.name.clone(), band_text(&k.band)]);
    }
    let last = months.last().cloned().unwrap_or_default();
    section(&mut body, &format!("KPIs in {last}"), &html_table(&kpis));
    page(&program.name, facts, &body)
}

fn band_text(b: &Band) -> String {
    format!("{} / {} / {}", b.p5, b.p50, b.p95)
}
