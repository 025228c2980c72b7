//! Plain tables for reports: aligned text for a terminal, or Markdown to
//! paste into a pull request, from the same rows; and points, percentages
//! and changes as reports write them (money is [`crate::currency`]'s). The
//! ground floor of the reports: the ledger's, finance's and the
//! simulation's tables all use it, and it uses none of them.

use rust_decimal::{Decimal, RoundingStrategy};

/// A header and rows of cells; the first `labels` columns are text
/// (left-aligned), the others are figures (right-aligned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub labels: usize,
}

impl Table {
    /// A table with one label column.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
            labels: 1,
        }
    }

    /// The same table with its first `labels` columns as text.
    pub fn labels(self, labels: usize) -> Self {
        Table { labels, ..self }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Columns padded to their widest cell, two spaces apart.
    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.lines()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in self.lines() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    if i < self.labels {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table (figures right-aligned).
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| if i < self.labels { "---" } else { "---:" }.to_string())
            .collect();
        let mut out = line(&self.header);
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    fn lines(&self) -> impl Iterator<Item = &Vec<String>> {
        std::iter::once(&self.header).chain(&self.rows)
    }
}

/// A number of points without trailing zeros (`12`, `12.5`).
pub fn points(amount: Decimal) -> String {
    amount.normalize().to_string()
}

/// A fraction as a percentage with two decimals (`0.15` is `15.00%`).
pub fn percent(fraction: Decimal) -> String {
    let percent = (fraction * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{percent:.2}%")
}

/// A change with its sign: `+12`, `-3.50`, `0`.
pub fn signed(change: Decimal, show: impl Fn(Decimal) -> String) -> String {
    if change > Decimal::ZERO {
        format!("+{}", show(change))
    } else {
        show(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&["points", "issued"]);
        t.push(vec!["stars".into(), "1200".into()]);
        t.push(vec!["a|b".into(), "7".into()]);
        t
    }

    #[test]
    fn text_aligns_names_left_and_figures_right() {
        assert_eq!(
            table().text(),
            "points  issued\nstars     1200\na|b          7\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes_and_right_aligns_figures() {
        assert_eq!(
            table().markdown(),
            "| points | issued |\n|---|---:|\n| stars | 1200 |\n| a\\|b | 7 |\n"
        );
    }

    #[test]
    fn figures_keep_their_sign_and_units() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(signed(d("12.50"), points), "+12.5");
        assert_eq!(signed(d("-3.5"), points), "-3.5");
        assert_eq!(signed(Decimal::ZERO, points), "0");
        assert_eq!(percent(d("0.12345")), "12.35%");
        assert_eq!(percent(d("0.00005")), "0.01%");
    }
}
