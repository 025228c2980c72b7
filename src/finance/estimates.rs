//! Breakage estimates that change over time (`run --breakage-estimates
//! FILE`): per points type, the rate in force from a day on, read from a CSV
//! file `from,points,breakage` (or `from,points,expected_redemption`). Each
//! month of the finance reports uses the estimate in force at its end, so a
//! revised estimate is a catch-up in the month it takes effect and earlier
//! months keep theirs. See `docs/finance.md`.

use crate::compile::calendar;
use crate::compile::ir::Program;
use crate::file_error::FileError;
use crate::finance::liability::Month;
use crate::finance::parse_percent;
use crate::syntax::ast::Period;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One estimate: from `from` on (a day in the program's zone), the share of
/// the points type's points that will never be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub from: NaiveDate,
    /// A fraction: `0.03`.
    pub breakage: Decimal,
}

impl Estimate {
    /// The month whose end is the first the estimate is in force at.
    pub fn month(&self) -> Month {
        calendar::period_key(Period::Month, self.from)
    }
}

/// The estimates of a file, per points type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimates {
    /// Indexed like the program's points types; each by date, in order.
    by_type: Vec<Vec<Estimate>>,
}

/// What the third column gives.
#[derive(Clone, Copy)]
enum Measure {
    Breakage,
    ExpectedRedemption,
}

impl Estimates {
    /// Reads `text`, a CSV file with the header `from,points,breakage` (or
    /// `from,points,expected_redemption`) and a row per estimate: a day
    /// (`2025-03-01`), a points type of `program` that carries a liability,
    /// and a percentage from 0 to 100 (`15` or `15%`). Rows are in date
    /// order, one per points type and day. The error names the line.
    pub fn read(program: &Program, text: &str) -> Result<Estimates, FileError> {
        let fail = |line: u64, message: String| {
            Err(FileError::new(
                Some(usize::try_from(line).unwrap_or(usize::MAX)),
                message,
            ))
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = match reader.headers() {
            Ok(header) => header.iter().map(str::to_string).collect(),
            Err(error) => return fail(1, format!("cannot read the header: {error}")),
        };
        let measure = match header.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["from", "points", "breakage"] => Measure::Breakage,
            ["from", "points", "expected_redemption"] => Measure::ExpectedRedemption,
            _ => {
                return fail(
                    1,
                    format!(
                        "the header is `{}`; it must be `from,points,breakage` or \
                         `from,points,expected_redemption`",
                        header.join(",")
                    ),
                )
            }
        };
        let mut by_type: Vec<Vec<Estimate>> = vec![Vec::new(); program.points.len()];
        let mut last: Option<NaiveDate> = None;
        for record in reader.records() {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    let line = error.position().map_or(0, |p| p.line());
                    return match error.kind() {
                        csv::ErrorKind::UnequalLengths { len, .. } => fail(
                            line,
                            format!("the row has {len} fields; it needs 3, as the header"),
                        ),
                        _ => fail(line, format!("cannot read the row: {error}")),
                    };
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            let [from, points, rate] = [0, 1, 2].map(|i| record.get(i).unwrap_or_default());
            let Ok(from) = NaiveDate::parse_from_str(from, "%Y-%m-%d") else {
                return fail(line, format!("`{from}` is not a day (YYYY-MM-DD)"));
            };
            if let Some(last) = last.filter(|last| from < *last) {
                return fail(
                    line,
                    format!(
                        "{from} comes after {last}: estimates are listed by date, earliest first"
                    ),
                );
            }
            last = Some(from);
            let Some(p) = program.points.iter().position(|t| t.name == points) else {
                let names: Vec<String> = program
                    .points
                    .iter()
                    .map(|t| format!("`{}`", t.name))
                    .collect();
                return fail(
                    line,
                    format!(
                        "no points type `{points}`: the program has {}",
                        names.join(", ")
                    ),
                );
            };
            if program.points.get(p).is_some_and(|t| t.qualifying) {
                return fail(
                    line,
                    format!("`{points}` are qualifying points, which carry no liability"),
                );
            }
            let Some(fraction) = parse_percent(rate) else {
                return fail(
                    line,
                    format!("`{rate}` is not a percentage from 0 to 100 (`15` or `15%`)"),
                );
            };
            let breakage = match measure {
                Measure::Breakage => fraction,
                Measure::ExpectedRedemption => Decimal::ONE - fraction,
            };
            let Some(estimates) = by_type.get_mut(p) else {
                continue;
            };
            if estimates.last().is_some_and(|e| e.from == from) {
                return fail(
                    line,
                    format!("a second estimate for `{points}` from {from}: one per day"),
                );
            }
            estimates.push(Estimate { from, breakage });
        }
        if by_type.iter().all(Vec::is_empty) {
            return fail(
                1,
                "no estimates: the file has a header and no rows".to_string(),
            );
        }
        Ok(Estimates { by_type })
    }

    /// The estimates of points type `p`, by date.
    pub fn of(&self, p: usize) -> &[Estimate] {
        self.by_type.get(p).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        let source = "program \"T\" {\n  currency USD\n  timezone \"UTC\"\n}\n\
                      points stars {\n  value 0.01 USD\n}\n\
                      points status {\n  qualifying\n}\n";
        crate::compile::compile(source)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .0
    }

    fn error(text: &str) -> String {
        Estimates::read(&program(), text)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn estimates_are_read_by_type_and_date_as_fractions() {
        let estimates = Estimates::read(
            &program(),
            "from,points,expected_redemption\n2025-01-01,stars,97\n2025-07-15, stars ,99%\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let of: Vec<(String, Decimal)> = estimates
            .of(0)
            .iter()
            .map(|e| (e.from.to_string(), e.breakage))
            .collect();
        assert_eq!(
            of,
            [
                ("2025-01-01".to_string(), "0.03".parse().unwrap_or_default()),
                ("2025-07-15".to_string(), "0.01".parse().unwrap_or_default()),
            ]
        );
        assert!(estimates.of(1).is_empty());
        assert_eq!(estimates.of(0)[1].month(), 2025 * 12 + 6);
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line_and_reason() {
        for (text, message) in [
            (
                "from,points,rate\n",
                "line 1: the header is `from,points,rate`; it must be `from,points,breakage` or `from,points,expected_redemption`",
            ),
            (
                "from,points,breakage\n",
                "line 1: no estimates: the file has a header and no rows",
            ),
            (
                "from,points,breakage\n2025-01-01,miles,10\n",
                "line 2: no points type `miles`: the program has `stars`, `status`",
            ),
            (
                "from,points,breakage\n2025-01-01,status,10\n",
                "line 2: `status` are qualifying points, which carry no liability",
            ),
            (
                "from,points,breakage\n2025-01-01,stars,120\n",
                "line 2: `120` is not a percentage from 0 to 100 (`15` or `15%`)",
            ),
            (
                "from,points,breakage\n2025-01-01,stars,-1\n",
                "line 2: `-1` is not a percentage from 0 to 100 (`15` or `15%`)",
            ),
            (
                "from,points,breakage\n2025-01-01,stars,ten\n",
                "line 2: `ten` is not a percentage from 0 to 100 (`15` or `15%`)",
            ),
            (
                "from,points,breakage\n2025-02-30,stars,10\n",
                "line 2: `2025-02-30` is not a day (YYYY-MM-DD)",
            ),
            (
                "from,points,breakage\n2025-03-01,stars,10\n2025-01-01,stars,12\n",
                "line 3: 2025-01-01 comes after 2025-03-01: estimates are listed by date, earliest first",
            ),
            (
                "from,points,breakage\n2025-03-01,stars,10\n2025-03-01,stars,12\n",
                "line 3: a second estimate for `stars` from 2025-03-01: one per day",
            ),
            (
                "from,points,breakage\n2025-03-01,stars\n",
                "line 2: the row has 2 fields; it needs 3, as the header",
            ),
        ] {
            assert_eq!(error(text), message, "{text}");
        }
    }
}
