//! `--html FILE`: one self-contained page (inline CSS and SVG, no scripts,
//! nothing fetched) per report — `run`'s for a CFO (headline figures, the
//! liability's roll-forward, deferred revenue, upcoming expiries, KPIs,
//! cohort curves, rejects, the tier mix and the liability table),
//! `simulate`'s (with p5–p95 bands) and `diff`'s. Figures have thousands
//! separators and rates are in percent. The same report gives the same
//! bytes.

mod chart;
mod diff;
mod run;
mod simulation;

pub use diff::diff_page;
pub use run::{run_page, RunReports};
pub use simulation::simulation_page;

use crate::compile::ir::Program;
use crate::table::Table;
use chart::{Colours, Series, Unit, XAxis};
use rust_decimal::Decimal;
use std::fmt::Write;

/// What the page says was run, as (label, value) lines.
pub type Facts = Vec<(String, String)>;

/// The tier-mix chart, one line per tier, in `unit` (members or shares);
/// a sentence instead for a program without tiers.
fn tier_section(
    body: &mut String,
    program: &Program,
    months: &[String],
    unit: Unit,
    at: impl Fn(&str) -> Vec<Decimal>,
) {
    let Some(tiers) = &program.tiers else {
        section(
            body,
            "Tier mix",
            "<p>The program has no tiers, so there is no tier mix to show.</p>",
        );
        return;
    };
    let per_month: Vec<Vec<Decimal>> = months.iter().map(|m| at(m)).collect();
    let lines: Vec<Series> = tiers
        .tiers
        .iter()
        .enumerate()
        .map(|(t, tier)| {
            let values: Vec<Decimal> = per_month
                .iter()
                .map(|c| c.get(t).copied().unwrap_or_default())
                .collect();
            Series::line(&tier.name, &values)
        })
        .collect();
    section(
        body,
        "Tier mix at each month's end",
        &chart::lines(
            &XAxis::months(months),
            &unit,
            &lines,
            &[],
            Colours::Distinct,
        ),
    );
}

fn section(body: &mut String, title: &str, content: &str) {
    let _ = writeln!(
        body,
        "<section>\n<h2>{}</h2>\n{content}\n</section>",
        escape(title)
    );
}

/// A table: its label columns as text, its figures right-aligned with
/// thousands separators; in a box that scrolls sideways when wider than
/// the page.
fn html_table(table: &Table) -> String {
    let mut out = String::from("<div class=\"table\"><table>\n<thead><tr>");
    for h in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if i < table.labels {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            } else {
                let _ = write!(out, "<td class=\"num\">{}</td>", escape(&grouped(cell)));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>");
    out
}

/// Figures as people read them, thousands separated by commas: `12,345.50`,
/// `-1,200`, `1,234.00%`, `1,200 → 900`; words as they are.
pub fn grouped(text: &str) -> String {
    text.split(' ').map(group).collect::<Vec<_>>().join(" ")
}

/// One word: grouped if it is a figure.
fn group(text: &str) -> String {
    let (sign, unsigned) = match text.strip_prefix(['+', '-']) {
        Some(rest) => (&text[..1], rest),
        None => ("", text),
    };
    let (number, suffix) = match unsigned.strip_suffix('%') {
        Some(number) => (number, "%"),
        None => (unsigned, ""),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return text.to_string();
    }
    let mut out = String::from(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(suffix);
    out
}

/// Distinct months in order.
fn months_of<'a>(months: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut all: Vec<String> = months.map(str::to_string).collect();
    all.sort();
    all.dedup();
    all
}

/// Distinct points types in the order they first appear.
fn points_types<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for name in names {
        if !types.iter().any(|t| t == name) {
            types.push(name.to_string());
        }
    }
    types
}

fn page(title: &str, facts: &Facts, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<dl>\n",
        title = escape(title),
    );
    for (label, value) in facts {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
    }
    let _ = write!(out, "</dl>\n{body}</body>\n</html>\n");
    out
}

const STYLE: &str = "body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
div.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart { display: block; margin: 0.5em 0 0; max-width: 100%; height: auto; }
ul.legend { list-style: none; padding: 0; margin: 0.3em 0 1.5em; display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; font-size: 0.85em; }
ul.legend span { display: inline-block; width: 1.4em; height: 0.7em; margin-right: 0.4em; vertical-align: middle; }
div.headline { display: flex; flex-wrap: wrap; gap: 1em; margin: 1em 0 2em; }
div.figure { border: 1px solid #ccc; border-radius: 6px; padding: 0.8em 1.2em; min-width: 12em; }
div.figure .label { font-size: 0.85em; color: #555; }
div.figure .value { font-size: 1.6em; font-weight: bold; margin: 0.2em 0; font-variant-numeric: tabular-nums; }
div.figure .note { font-size: 0.8em; color: #555; }
";

/// One headline figure: what it is, the figure, and a line under it.
fn figure(out: &mut String, label: &str, value: &str, note: &str) {
    let _ = writeln!(
        out,
        "<div class=\"figure\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
        escape(label),
        escape(value),
        escape(note)
    );
}

/// Text made safe for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn figures_get_thousands_separators_and_text_stays() {
        assert_eq!(grouped("1234567.50"), "1,234,567.50");
        assert_eq!(grouped("-1200"), "-1,200");
        assert_eq!(grouped("+3400"), "+3,400");
        assert_eq!(grouped("123"), "123");
        assert_eq!(grouped("12345.00%"), "12,345.00%");
        assert_eq!(grouped("1200 → 900"), "1,200 → 900");
        for text in ["2025-01", "new", "gold → silver", "", "-", "1.", "12a"] {
            assert_eq!(grouped(text), text);
        }
    }
}
