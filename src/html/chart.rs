//! The pages' charts, drawn as inline SVG by plotters: lines over months
//! or ages (with shaded p5–p95 bands), the liability's roll-forward as a
//! waterfall per month, and bars side by side (a diff's old and new). Axes are titled with their units, figures have
//! thousands separators and shares are in percent, months are labelled
//! every month (every quarter past a year), and the legend is HTML beside
//! the chart, off the lines. Charts are pictures of the tables: they may
//! draw with floating point.

use super::{escape, grouped};
use crate::currency::Currency;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;

/// A chart line: its name and one value per position on the x axis.
pub(super) struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn line(name: &str, values: &[Decimal]) -> Series {
        Series {
            name: name.to_string(),
            values: values.iter().map(to_f64).collect(),
        }
    }
}

fn to_f64(value: &Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// What the y axis measures: its title and how its figures are written.
pub(super) enum Unit {
    /// Money in this currency.
    Money(Currency),
    Points,
    Members,
    /// A fraction, written as a percentage.
    Share,
}

impl Unit {
    fn title(&self) -> String {
        match self {
            Unit::Money(currency) => currency.to_string(),
            Unit::Points => "points".to_string(),
            Unit::Members => "members".to_string(),
            Unit::Share => "%".to_string(),
        }
    }

    /// A tick's label on an axis spanning `span`: as many decimals as the
    /// span needs, thousands separated.
    fn label(&self, value: f64, span: f64) -> String {
        let (value, span, suffix) = match self {
            Unit::Share => (value * 100.0, span * 100.0, "%"),
            _ => (value, span, ""),
        };
        let decimals = if span >= 20.0 {
            0
        } else if span >= 2.0 {
            1
        } else {
            2
        };
        // No `-0` at the axis' zero.
        let value = if value.abs() < 1e-9 { 0.0 } else { value };
        format!("{}{suffix}", grouped(&format!("{value:.decimals$}")))
    }
}

/// The x axis: its title and a label per position (empty ones not shown).
pub(super) struct XAxis {
    pub title: String,
    pub labels: Vec<String>,
}

impl XAxis {
    /// Months (`2025-01`): each labelled up to a year of them, only each
    /// quarter's first (January, April, July, October) past that.
    pub fn months(months: &[String]) -> XAxis {
        let quarters = months.len() > 12;
        let labels = months
            .iter()
            .map(|m| {
                let quarter_start = ["-01", "-04", "-07", "-10"].iter().any(|q| m.ends_with(q));
                if !quarters || quarter_start {
                    m.clone()
                } else {
                    String::new()
                }
            })
            .collect();
        XAxis {
            title: "month".to_string(),
            labels,
        }
    }

    /// Months since a cohort's own (0 is its month): each labelled up to
    /// 12, every third past that.
    pub fn ages(count: usize) -> XAxis {
        let every = if count > 13 { 3 } else { 1 };
        XAxis {
            title: "months since earning".to_string(),
            labels: (0..count)
                .map(|age| {
                    if age % every == 0 {
                        age.to_string()
                    } else {
                        String::new()
                    }
                })
                .collect(),
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

/// The waterfall's steps, in order: issued green, redeemed blue, expired
/// orange, reversed red, adjustments purple.
const STEP_COLOURS: [RGBColor; 5] = [
    RGBColor(44, 160, 44),
    BAND,
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

fn step_colour(slot: usize) -> RGBColor {
    STEP_COLOURS.get(slot).copied().unwrap_or(BLACK)
}

fn palette(i: usize) -> RGBColor {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or(BLACK)
}

/// From light to dark blue: `i` of `n` lines in order (older cohorts
/// lighter).
fn ramp(i: usize, n: usize) -> RGBColor {
    let t = if n > 1 {
        i as f64 / (n - 1) as f64
    } else {
        1.0
    };
    let mix = |from: u8, to: u8| (f64::from(from) + (f64::from(to) - f64::from(from)) * t) as u8;
    RGBColor(mix(158, 8), mix(202, 48), mix(225, 107))
}

/// How lines are coloured: each its own, or a ramp through them in order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Colours {
    Distinct,
    Ramp,
}

/// Lines over the x axis, with shaded bands (low, high) under them, and
/// their legend.
pub(super) fn lines(
    x: &XAxis,
    y: &Unit,
    lines: &[Series],
    bands: &[(Vec<Decimal>, Vec<Decimal>)],
    colours: Colours,
) -> String {
    let colour = |i| match colours {
        Colours::Distinct => palette(i),
        Colours::Ramp => ramp(i, lines.len()),
    };
    let values = lines.iter().flat_map(|s| s.values.iter().copied()).chain(
        bands
            .iter()
            .flat_map(|(low, high)| low.iter().chain(high).map(to_f64)),
    );
    let drawn = frame(x, y, values, |chart| {
        for (low, high) in bands {
            let upper = high.iter().map(to_f64).enumerate();
            let lower = low.iter().map(to_f64).enumerate().rev();
            let outline: Vec<(f64, f64)> = upper.chain(lower).map(|(i, v)| (i as f64, v)).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    BAND.mix(0.2).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        for (i, series) in lines.iter().enumerate() {
            let points = series
                .values
                .iter()
                .enumerate()
                .map(|(x, v)| (x as f64, *v));
            chart
                .draw_series(LineSeries::new(points, colour(i).stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    with_legend(drawn, &keys(lines, colour))
}

/// The legend's keys for `series`: each name with its colour.
fn keys(series: &[Series], colour: impl Fn(usize) -> RGBColor) -> Vec<(String, RGBColor)> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), colour(i)))
        .collect()
}

/// One month of a waterfall: where it starts, its steps up (positive) or
/// down (negative), and where it ends.
pub(super) struct Month {
    pub opening: Decimal,
    pub steps: Vec<Decimal>,
    pub closing: Decimal,
}

/// A waterfall per month: from the opening level each step is a bar up or
/// down, then the closing level is a grey bar from zero; a line joins the
/// closings. `steps` names the steps, in order.
pub(super) fn waterfall(x: &XAxis, y: &Unit, steps: &[&str], months: &[Month]) -> String {
    let slots = steps.len() + 1;
    let width = 0.84 / slots as f64;
    let left = |month: usize, slot: usize| month as f64 - 0.42 + slot as f64 * width;
    let closing_at = |month: usize| left(month, steps.len()) + width * 0.45;
    let mut levels = Vec::new();
    for m in months {
        let mut level = m.opening;
        levels.push(level);
        for step in &m.steps {
            level += *step;
            levels.push(level);
        }
        levels.push(m.closing);
    }
    let grey = RGBColor(120, 120, 120);
    let drawn = frame(x, y, levels.iter().map(to_f64), |chart| {
        for (i, m) in months.iter().enumerate() {
            let mut level = to_f64(&m.opening);
            for (slot, step) in m.steps.iter().enumerate() {
                let next = level + to_f64(step);
                let bar = [(left(i, slot), level), (left(i, slot) + width * 0.9, next)];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        bar,
                        step_colour(slot).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                level = next;
            }
            let closing = to_f64(&m.closing);
            let bar = [
                (left(i, steps.len()), 0.0),
                (left(i, steps.len()) + width * 0.9, closing),
            ];
            chart
                .draw_series(std::iter::once(Rectangle::new(bar, grey.filled())))
                .map_err(|e| e.to_string())?;
        }
        let joined = months
            .iter()
            .enumerate()
            .map(|(i, m)| (closing_at(i), to_f64(&m.closing)));
        chart
            .draw_series(LineSeries::new(joined, BLACK.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    let keys: Vec<(String, RGBColor)> = steps
        .iter()
        .enumerate()
        .map(|(slot, name)| (name.to_string(), step_colour(slot)))
        .chain(std::iter::once(("closing".to_string(), grey)))
        .collect();
    with_legend(drawn, &keys)
}

/// Bars side by side per position on the x axis, one per series (old and
/// new), and their legend.
pub(super) fn bars(x: &XAxis, y: &Unit, groups: &[Series]) -> String {
    let width = 0.8 / groups.len().max(1) as f64;
    let values = groups.iter().flat_map(|s| s.values.iter().copied());
    let drawn = frame(x, y, values, |chart| {
        for (g, series) in groups.iter().enumerate() {
            let colour = palette(g);
            let rectangles = series.values.iter().enumerate().map(|(i, v)| {
                let left = i as f64 - 0.4 + g as f64 * width;
                Rectangle::new([(left, 0.0), (left + width * 0.9, *v)], colour.filled())
            });
            chart.draw_series(rectangles).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    with_legend(drawn, &keys(groups, palette))
}

type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The chart's frame — axes, titles, y grid and x labels — around what
/// `draw` puts in it, for `values` on the y axis (zero always shown).
fn frame(
    x: &XAxis,
    y: &Unit,
    values: impl Iterator<Item = f64>,
    draw: impl FnOnce(&mut Plot<'_, '_>) -> Result<(), String>,
) -> Result<String, String> {
    let (low, high) = values.fold((0.0_f64, 0.0_f64), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    let pad = (high - low) * 0.05;
    let (low, top) = if high > low {
        (if low < 0.0 { low - pad } else { low }, high + pad)
    } else {
        (low, low + 1.0)
    };
    let span = top - low;
    let n = x.labels.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), low..top)
            .map_err(|e| e.to_string())?;
        let label = |v: &f64| y.label(*v, span);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&label)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc(x.title.clone())
            .y_desc(y.title())
            .draw()
            .map_err(|e| e.to_string())?;
        // The x labels at their positions (plotters' own would fall
        // between months).
        let style =
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, text) in x.labels.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            let (px, py) = chart.backend_coord(&(i as f64, low));
            root.draw(&Text::new(text.clone(), (px, py + 6), style.clone()))
                .map_err(|e| e.to_string())?;
        }
        draw(&mut chart)?;
        root.present().map_err(|e| e.to_string())?;
    }
    // Mark the chart for styling and for the render check.
    Ok(svg.replacen("<svg ", "<svg class=\"chart\" ", 1))
}

/// The chart with its legend under it: a coloured key per line, in HTML
/// so it never covers a line; a sentence instead when plotters failed (the
/// tables stay).
fn with_legend(drawn: Result<String, String>, keys: &[(String, RGBColor)]) -> String {
    let mut out = match drawn {
        Ok(svg) => svg,
        Err(e) => return format!("<p>(chart not drawn: {})</p>", escape(&e)),
    };
    out.push_str("\n<ul class=\"legend\">");
    for (name, RGBColor(r, g, b)) in keys {
        let _ = write!(
            out,
            "<li><span style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}</li>",
            escape(name)
        );
    }
    out.push_str("</ul>");
    out
}
