//! `--html FILE`: one self-contained page (inline CSS and SVG, no scripts,
//! nothing fetched) with a report's tables and charts — liability over time
//! (with its p5–p95 band for a simulation), points issued, spent and
//! expired per month, and the tier mix over time — drawn with plotters'
//! SVG backend. The same report gives the same bytes.

use crate::compile::ir::Program;
use crate::finance::liability::LiabilityTable;
use crate::report::tier_mix::TierMix;
use crate::simulate::Report;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;

/// What the page says was run, as (label, value) lines.
pub type Facts = Vec<(String, String)>;

/// The page for `loyalty run --report ... --html`.
pub fn run_page(program: &Program, facts: &Facts, table: &LiabilityTable, mix: &TierMix) -> String {
    let months = months_of(table.rows.iter().map(|r| r.month.as_str()));
    let types = points_types(table.rows.iter().map(|r| r.points.as_str()));
    let column = |points: &str, f: fn(&crate::finance::liability::LiabilityRow) -> Decimal| {
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
        .map(|(p, values)| Series::line(p, values))
        .collect();
    let mut body = String::new();
    section(
        &mut body,
        &format!("Liability ({})", table.currency),
        &chart(&months, &liability, &[]),
    );
    for p in types.iter().filter(|p| nonzero(&column(p, |r| r.issued))) {
        let flows = [
            Series::line("issued", column(p, |r| r.issued)),
            Series::line("spent", column(p, |r| r.spent)),
            Series::line("expired", column(p, |r| r.expired)),
        ];
        section(
            &mut body,
            &format!("{p}: issued, spent and expired per month"),
            &chart(&months, &flows, &[]),
        );
    }
    tier_section(&mut body, program, &months, |month| {
        mix.at(month).into_iter().map(Decimal::from).collect()
    });
    let (header, rows) = table.cells();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    section(&mut body, "Liability table", &html_table(&header, &rows));
    let _ = writeln!(body, "<p>Breakage: {}</p>", escape(&table.breakage_method));
    page(&program.name, facts, &body)
}

/// The page for `loyalty simulate --html`.
pub fn simulation_page(program: &Program, facts: &Facts, report: &Report) -> String {
    let months: Vec<String> = report.months.iter().map(|m| m.month.clone()).collect();
    let types = points_types(
        report
            .months
            .iter()
            .flat_map(|m| m.liability.iter().map(|l| l.points.as_str())),
    );
    let band =
        |points: &str,
         pick: fn(&crate::simulate::stats::LiabilityBand) -> crate::simulate::stats::Band| {
            let of = |f: fn(&crate::simulate::stats::Band) -> Decimal| -> Vec<Decimal> {
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
            &chart(&months, &[Series::line("p50", p50)], &[(p5, p95)]),
        );
    }
    let issued_any = |p: &str| band(p, |l| l.issued).2.iter().any(|v| !v.is_zero());
    for p in types.iter().filter(|p| issued_any(p)) {
        let flows = [
            Series::line("issued", band(p, |l| l.issued).1),
            Series::line("spent", band(p, |l| l.spent).1),
            Series::line("expired", band(p, |l| l.expired).1),
        ];
        section(
            &mut body,
            &format!("{p}: issued, spent and expired per month (medians)"),
            &chart(&months, &flows, &[]),
        );
    }
    let tier_names: Vec<String> = program
        .tiers
        .as_ref()
        .map(|t| t.tiers.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    tier_section(&mut body, program, &months, |month| {
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
    let mut rows = Vec::new();
    for m in &report.months {
        for l in &m.liability {
            rows.push(vec![
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
    let header = [
        "month",
        "points",
        "issued p5 / p50 / p95",
        "spent",
        "expired",
        "outstanding",
        "liability",
        "cost",
    ];
    section(
        &mut body,
        "Liability per month",
        &html_table(&header, &rows),
    );
    let kpi_rows: Vec<Vec<String>> = report
        .months
        .last()
        .map(|m| {
            m.kpis
                .iter()
                .map(|k| vec![k.name.clone(), band_text(&k.band)])
                .collect()
        })
        .unwrap_or_default();
    let last = months.last().cloned().unwrap_or_default();
    section(
        &mut body,
        &format!("KPIs in {last}"),
        &html_table(&["kpi", "p5 / p50 / p95"], &kpi_rows),
    );
    page(&program.name, facts, &body)
}

/// A chart line: its name and one value per month.
struct Series {
    name: String,
    values: Vec<f64>,
}

impl Series {
    /// Charts are pictures: the exact figures are in the tables, so the
    /// drawing may use floating point.
    fn line(name: &str, values: Vec<Decimal>) -> Series {
        Series {
            name: name.to_string(),
            values: values.iter().map(|v| v.to_f64().unwrap_or(0.0)).collect(),
        }
    }
}

/// The band's colour: the first line's.
const BAND: RGBColor = RGBColor(31, 119, 180);

const PALETTE: [RGBColor; 6] = [
    BAND,
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A line chart over the months, with shaded bands (low, high) under the
/// lines; an empty string when plotters fails (the tables stay).
fn chart(months: &[String], lines: &[Series], bands: &[(Vec<Decimal>, Vec<Decimal>)]) -> String {
    let mut svg = String::new();
    let drawn = draw(&mut svg, months, lines, bands);
    match drawn {
        Ok(()) => svg,
        Err(e) => format!("<p>(chart not drawn: {})</p>", escape(&e)),
    }
}

fn draw(
    svg: &mut String,
    months: &[String],
    lines: &[Series],
    bands: &[(Vec<Decimal>, Vec<Decimal>)],
) -> Result<(), String> {
    let to_f = |v: &Decimal| v.to_f64().unwrap_or(0.0);
    let high = lines
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(bands.iter().flat_map(|(_, h)| h.iter().map(to_f)))
        .fold(0.0_f64, f64::max);
    let low = lines
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(bands.iter().flat_map(|(l, _)| l.iter().map(to_f)))
        .fold(0.0_f64, f64::min);
    let top = if high > low { high * 1.05 } else { low + 1.0 };
    let n = months.len().max(1);
    {
        let root = SVGBackend::with_string(svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0..n - 1, low..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(12.min(n))
            .x_label_formatter(&|i| months.get(*i).cloned().unwrap_or_default())
            .draw()
            .map_err(|e| e.to_string())?;
        for (low, high) in bands {
            let upper: Vec<(usize, f64)> = high.iter().map(to_f).enumerate().collect();
            let lower: Vec<(usize, f64)> = low.iter().map(to_f).enumerate().rev().collect();
            let outline: Vec<(usize, f64)> = upper.into_iter().chain(lower).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    BAND.mix(0.2).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        for (i, series) in lines.iter().enumerate() {
            let color = PALETTE.get(i % PALETTE.len()).copied().unwrap_or(BLACK);
            chart
                .draw_series(LineSeries::new(
                    series.values.iter().copied().enumerate(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(series.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        if !lines.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    // Mark the chart for styling and for the render check.
    *svg = svg.replacen("<svg ", "<svg class=\"chart\" ", 1);
    Ok(())
}

/// The tier-mix chart, one line per tier; a sentence instead for a program
/// without tiers.
fn tier_section(
    body: &mut String,
    program: &Program,
    months: &[String],
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
            Series::line(
                &tier.name,
                per_month
                    .iter()
                    .map(|c| c.get(t).copied().unwrap_or_default())
                    .collect(),
            )
        })
        .collect();
    section(
        body,
        "Tier mix at each month's end",
        &chart(months, &lines, &[]),
    );
}

fn section(body: &mut String, title: &str, content: &str) {
    let _ = writeln!(
        body,
        "<section>\n<h2>{}</h2>\n{content}\n</section>",
        escape(title)
    );
}

fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>");
    out
}

fn band_text(b: &crate::simulate::stats::Band) -> String {
    format!("{} / {} / {}", b.p5, b.p50, b.p95)
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

const STYLE: &str = "body { font-family: sans-serif; margin: 2em; color: #222; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
svg.chart { display: block; margin: 0.5em 0 1.5em; }
";

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
