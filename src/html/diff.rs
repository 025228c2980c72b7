//! `loyalty diff --html`'s page: the overall figures under both programs
//! as headline figures (the new figure, the old and the change), then the
//! diff's tables — overall, by tier, and the members whose balances moved
//! most — as `diff` prints them.

use super::{escape, figure, grouped, html_table, page, section, Facts};
use crate::finance::diff::{
    members_heading, tables, Diff, NO_MEMBER_MOVED, OVERALL_HEADING, TIERS_HEADING,
};

/// The page for `loyalty diff --html`, titled `title` (what was compared
/// on what).
pub fn diff_page(title: &str, facts: &Facts, diff: &Diff) -> String {
    let mut body = String::new();
    let mut figures = String::from("<div class=\"headline\">\n");
    for line in &diff.overall {
        let [measure, old, new, change, relative] = line.cells();
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
    section(&mut body, TIERS_HEADING, &html_table(&tables.tiers));
    let members = match &tables.members {
        Some(table) => html_table(table),
        None => format!("<p>{}</p>", escape(NO_MEMBER_MOVED)),
    };
    section(&mut body, &members_heading(), &members);
    page(title, facts, &body)
}
