//! `loyalty diff --fail-if`: thresholds on how far a change moves the
//! diff's overall figures (`liability>+5%`, `cost>1000`), for CI gates.
//!
//! A threshold is `MEASURE OP CHANGE`:
//!
//! - MEASURE: `liability`, `cost`, `rejected` (records), or `NAME issued`
//!   for a points type (`stars issued`), as the diff's Overall table
//!   names them;
//! - OP: `>`, `>=`, `<` or `<=`;
//! - CHANGE: a decimal with an optional sign, the change new − old in the
//!   figure's unit (money in the programs' currency, points, records); with
//!   `%`, relative to the old figure. From an old figure of 0, any rise is
//!   a relative change above every limit, and any fall one below.
//!
//! Exact decimals throughout: `liability>+5%` is crossed by 5.01%, not 5%.

use super::diff::{Diff, Figure, Line};
use crate::currency::Currency;
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::str::FromStr;

/// What a threshold is, for error messages and `--help`.
pub const GRAMMAR: &str = "MEASURE OP CHANGE, with MEASURE one of `liability`, `cost`, \
    `rejected` or `NAME issued` (a points type), OP one of `>`, `>=`, `<`, `<=`, and CHANGE \
    a decimal with an optional sign, and `%` for a change relative to the old figure: \
    `liability>+5%`, `cost>=1000`, `stars issued<-10%`";

/// A limit on the change of one overall figure of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// As written, to name it.
    pub text: String,
    figure: Figure,
    /// The comparisons that cross it: `>=` is `[Greater, Equal]`.
    crossed_when: Vec<Ordering>,
    limit: Decimal,
    relative: bool,
}

/// A threshold that cannot be read, or names a figure the diff does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("--fail-if `{text}`: {why}; a threshold is {GRAMMAR}")]
    Syntax { text: String, why: String },
    #[error(
        "--fail-if `{text}`: these programs have no measure `{measure}`; they have {}",
        accepted.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
    )]
    NoMeasure {
        text: String,
        measure: String,
        accepted: Vec<String>,
    },
}

/// A threshold a diff crossed, and the figure that crossed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossed<'a> {
    pub threshold: &'a Threshold,
    pub line: &'a Line,
    /// The diff's currency, which its money is shown in.
    pub currency: Currency,
}

impl std::fmt::Display for Crossed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--fail-if `{}` crossed: {}",
            self.threshold.text,
            self.line.summary(self.currency)
        )
    }
}

/// How a measure is named in a threshold.
fn name(figure: &Figure) -> String {
    match figure {
        Figure::Issued(points) => format!("{points} issued"),
        Figure::Liability => "liability".to_string(),
        Figure::Cost => "cost".to_string(),
        Figure::Rejected => "rejected".to_string(),
    }
}

impl FromStr for Threshold {
    type Err = Error;

    fn from_str(text: &str) -> Result<Threshold, Error> {
        let syntax = |why: String| Error::Syntax {
            text: text.to_string(),
            why,
        };
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| syntax("no comparison (`>`, `>=`, `<` or `<=`)".to_string()))?;
        let (measure, rest) = text.split_at(at);
        let mut crossed_when = vec![if rest.starts_with('>') {
            Ordering::Greater
        } else {
            Ordering::Less
        }];
        let mut change = rest.get(1..).unwrap_or_default();
        if let Some(after) = change.strip_prefix('=') {
            crossed_when.push(Ordering::Equal);
            change = after;
        }
        let figure = match measure.trim() {
            "" => return Err(syntax("no measure before the comparison".to_string())),
            "liability" => Figure::Liability,
            "cost" => Figure::Cost,
            "rejected" => Figure::Rejected,
            other => match other.strip_suffix(" issued").map(str::trim) {
                Some(points) if !points.is_empty() && !points.contains(char::is_whitespace) => {
                    Figure::Issued(points.to_string())
                }
                _ => return Err(syntax(format!("`{other}` is not a measure"))),
            },
        };
        let change = change.trim();
        let (number, relative) = match change.strip_suffix('%') {
            Some(number) => (number.trim_end(), true),
            None => (change, false),
        };
        if number.is_empty() {
            return Err(syntax("no change after the comparison".to_string()));
        }
        let limit = Decimal::from_str(number).map_err(|_| {
            syntax(format!(
                "`{change}` is not a change such as `+5%` or `1000`"
            ))
        })?;
        Ok(Threshold {
            text: text.to_string(),
            figure,
            crossed_when,
            limit,
            relative,
        })
    }
}

impl Threshold {
    /// Whether programs with these points types (a name may come twice)
    /// have the threshold's measure: every other measure every diff has.
    pub fn fits<'a>(&self, points: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        let mut figures: Vec<Figure> = Vec::new();
        for points in points {
            let figure = Figure::Issued(points.to_string());
            if !figures.contains(&figure) {
                figures.push(figure);
            }
        }
        figures.extend([Figure::Liability, Figure::Cost, Figure::Rejected]);
        self.find(figures.iter())
    }

    /// Whether the threshold's figure is among `figures`; if not, the error
    /// names those there are.
    fn find<'a>(&self, figures: impl Iterator<Item = &'a Figure> + Clone) -> Result<(), Error> {
        if figures.clone().any(|f| *f == self.figure) {
            return Ok(());
        }
        Err(Error::NoMeasure {
            text: self.text.clone(),
            measure: name(&self.figure),
            accepted: figures.map(name).collect(),
        })
    }

    /// The figure of `diff` that crosses this threshold, if it does.
    pub fn crossed<'a>(&'a self, diff: &'a Diff) -> Result<Option<Crossed<'a>>, Error> {
        self.find(diff.overall.iter().map(|l| &l.figure))?;
        Ok(diff
            .overall
            .iter()
            .find(|l| l.figure == self.figure)
            .filter(|line| self.crossed_when.contains(&self.compare(line)))
            .map(|line| Crossed {
                threshold: self,
                line,
                currency: diff.currency,
            }))
    }

    /// The line's change against the limit: exact, and for a relative
    /// change from 0 (or one past what a decimal holds), the change's sign.
    fn compare(&self, line: &Line) -> Ordering {
        let change = line.change();
        if !self.relative {
            return change.cmp(&self.limit);
        }
        let percent = change
            .checked_div(line.old.abs())
            .and_then(|fraction| fraction.checked_mul(Decimal::ONE_HUNDRED));
        match percent {
            Some(percent) => percent.cmp(&self.limit),
            None if change.is_zero() => Decimal::ZERO.cmp(&self.limit),
            None => change.cmp(&Decimal::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finance::diff::Unit;

    fn line(figure: Figure, old: &str, new: &str) -> Line {
        Line {
            measure: name(&figure),
            figure,
            unit: Unit::Money,
            old: old.parse().unwrap_or_default(),
            new: new.parse().unwrap_or_default(),
        }
    }

    fn diff(lines: Vec<Line>) -> Diff {
        Diff {
            currency: Currency::of("EUR").unwrap(),
            overall: lines,
            tiers: Vec::new(),
            members: Vec::new(),
        }
    }

    fn crossed(threshold: &str, old: &str, new: &str) -> bool {
        let threshold: Threshold = threshold.parse().unwrap_or_else(|e| panic!("{e}"));
        let figure = threshold.figure.clone();
        let diff = diff(vec![line(figure, old, new)]);
        threshold
            .crossed(&diff)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    }

    #[test]
    fn relative_and_absolute_limits_are_exact() {
        assert!(!crossed("liability>+5%", "100", "105"));
        assert!(crossed("liability>=+5%", "100", "105"));
        assert!(crossed("liability>+5%", "100", "105.01"));
        assert!(crossed("liability > 5 %", "-100", "-94.99"));
        assert!(!crossed("cost>+1000", "500", "1500"));
        assert!(crossed("cost>+1000", "500", "1500.01"));
        assert!(crossed("stars issued<-10%", "1000", "899"));
        assert!(!crossed("stars issued<-10%", "1000", "900"));
        assert!(crossed("rejected<=0", "3", "3"));
    }

    #[test]
    fn from_zero_a_rise_is_above_every_relative_limit() {
        assert!(crossed("liability>+1000%", "0", "0.01"));
        assert!(!crossed("liability>+5%", "0", "0"));
        assert!(crossed("liability<-1000%", "0", "-0.01"));
        assert!(!crossed("liability<-5%", "0", "0.01"));
        // Past what a decimal holds: the sign decides.
        assert!(crossed(
            "cost>5%",
            "0.0000000000000000000000000001",
            "7000000000000"
        ));
    }

    #[test]
    fn bad_thresholds_say_what_is_accepted() {
        for (text, why) in [
            ("liability", "no comparison (`>`, `>=`, `<` or `<=`)"),
            ("liabilty>5%", "`liabilty` is not a measure"),
            (">5%", "no measure before the comparison"),
            ("cost>", "no change after the comparison"),
            ("cost>%", "no change after the comparison"),
            ("cost>+x", "`+x` is not a change such as `+5%` or `1000`"),
            ("cost>1,000", "`1,000` is not a change"),
            ("cost=>5", "`cost=` is not a measure"),
            ("cost>5 EUR", "`5 EUR` is not a change"),
        ] {
            let error = text
                .parse::<Threshold>()
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("--fail-if `{text}`: {why}")),
                "{error}"
            );
            assert!(
                error.contains("a threshold is MEASURE OP CHANGE"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_points_type_the_programs_lack_is_named_with_the_measures() {
        let threshold: Threshold = "star issued>0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            threshold.fits(["stars", "status", "stars"]).map_err(|e| e.to_string()),
            Err("--fail-if `star issued>0`: these programs have no measure `star issued`; they have `stars issued`, `status issued`, `liability`, `cost`, `rejected`".to_string())
        );
        assert_eq!(threshold.fits(["star"]), Ok(()));
    }
}
