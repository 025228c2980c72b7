//! How many rejects a run may have before it fails (`run --max-rejects`):
//! a gate on the input's quality for pipelines that would rather stop
//! than book a month of half-read records.

use rust_decimal::Decimal;
use std::str::FromStr;

/// The most rejects a run may have: a count, or a percentage of the
/// records read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectLimit {
    Count(u64),
    /// Percent of the records read, 0 to 100.
    Percent(Decimal),
}

impl FromStr for RejectLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let wrong = || {
            format!(
                "`{text}` is not a limit on rejects: a count (`10`) or a percentage of the \
                 records read (`0.5%`, at most 100%)"
            )
        };
        match text.strip_suffix('%') {
            Some(percent) => {
                let percent = Decimal::from_str(percent.trim()).map_err(|_| wrong())?;
                if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
                    return Err(wrong());
                }
                Ok(RejectLimit::Percent(percent))
            }
            None => text.parse().map(RejectLimit::Count).map_err(|_| wrong()),
        }
    }
}

impl RejectLimit {
    /// Whether `rejected` of `read` records is past the limit (reaching
    /// it is allowed).
    pub fn exceeded(self, rejected: u64, read: u64) -> bool {
        match self {
            RejectLimit::Count(most) => rejected > most,
            // rejected / read > percent / 100, without dividing.
            RejectLimit::Percent(percent) => {
                Decimal::from(rejected) * Decimal::ONE_HUNDRED > percent * Decimal::from(read)
            }
        }
    }
}

impl std::fmt::Display for RejectLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectLimit::Count(most) => write!(f, "{most}"),
            RejectLimit::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> RejectLimit {
        text.parse().unwrap()
    }

    #[test]
    fn a_count_allows_that_many() {
        assert!(!limit("10").exceeded(10, 1000));
        assert!(limit("10").exceeded(11, 1000));
        assert!(limit("0").exceeded(1, 1));
        assert!(!limit("0").exceeded(0, 1));
    }

    #[test]
    fn a_percentage_is_of_the_records_read_exactly() {
        // 1 of 200 is 0.5%: allowed; 2 of 200 is not.
        assert!(!limit("0.5%").exceeded(1, 200));
        assert!(limit("0.5%").exceeded(2, 200));
        // A third of a percent, with no rounding in between.
        assert!(limit(" 0.333% ").exceeded(1, 300));
        assert!(!limit("100%").exceeded(5, 5));
        assert!(!limit("0%").exceeded(0, 0));
    }

    #[test]
    fn anything_else_is_refused_saying_what_is_accepted() {
        for text in ["", "-1", "ten", "5 %%", "101%", "-1%", "1.5"] {
            let error = text.parse::<RejectLimit>().unwrap_err();
            assert!(error.contains("a count (`10`)"), "{text}: {error}");
        }
    }
}
