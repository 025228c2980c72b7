//! `loyalty diff --html`'s page: the overall figures under both programs
//! as headline figures (the new figure, the old and the change), then the
//! diff's tables — overall, by tier (with the liability and cost of each
//! tier under both programs as bars), and the members whose balances moved
//! most — as `diff` prints them.

use super::chart::{self, Series, Unit, XAxis};
use super::{escape, figure, grouped, html_table, page, section, Facts};
use crate::finance::diff::{
    members_heading, tables, Diff, Figure, Line, NO_MEMBER_MOVED, OVERALL_HEADING, TIERS_HEADING,
};
use rust_decimal::Decimal;

/// The page for `loyalty diff --html`, titled `title` (what was compared
/// on what).
pub fn diff_page(title: &str, facts: &Facts, diff: &Diff) -> String {
    let mut body = String::new();
    let mut figures = String::from("<div class=\"headline\">\n");
    for line in &diff.overall {
        let [measure, old, new, change, relative] = line.cells(diff.currency);
        figure(
            &mut figures,
            &measure,
            &grouped(&new),
            &format!("was {}: {} ({relative})", grouped(&old), grouped(&change)),
        );
    }
    figures.push_str("</div>");
    section(&mut body, "What changes", &figures);
    let tables = tables(diff);
    section(&mut body, OVERALL_HEADING, &html_table(&tables.overall));
    let tiers = XAxis {
        title: "tier at the end under the old program".to_string(),
        labels: diff.tiers.iter().map(|t| t.tier.clone()).collect(),
    };
    let mut charts = String::new();
    for (figure, what) in [(Figure::Liability, "liability"), (Figure::Cost, "cost")] {
        let side = |pick: fn(&Line) -> Decimal| -> Vec<Decimal> {
            diff.tiers
                .iter()
                .map(|t| {
                    t.lines
                        .iter()
                        .find(|l| l.figure == figure)
                        .map_or(Decimal::ZERO, pick)
                })
                .collect()
        };
        let (old, new) = (side(|l| l.old), side(|l| l.new));
        if old.iter().chain(&new).all(Decimal::is_zero) {
            continue;
        }
        charts.push_str(&format!(
            "<h3>{what} by tier, {}</h3>\n{}\n",
            escape(diff.currency.code()),
            chart::bars(
                &tiers,
                &Unit::Money(diff.currency),
                &[Series::line("old", &old), Series::line("new", &new)],
            )
        ));
    }
    section(
        &mut body,
        TIERS_HEADING,
        &format!("{charts}{}", html_table(&tables.tiers)),
    );
    let members = match &tables.members {
        Some(table) => html_table(table),
        None => format!("<p>{}</p>", escape(NO_MEMBER_MOVED)),
    };
    section(&mut body, &members_heading(), &members);
    page(title, facts, &body)
}
