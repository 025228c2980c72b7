//! `state.csv` (`loyalty run --report state`): every member's book at the
//! run's end — tier, open buckets with their dates, debts — from which a
//! simulation starts (`simulate --from-state`); and reading it back, each
//! row checked against the program, an error naming its line.

use crate::compile::calendar;
use crate::compile::ir::{PointsId, Program};
use crate::engine::opening::{OpenBucket, Opening};
use crate::engine::Engine;
use crate::file_error::FileError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::io::Write;

/// The columns of `state.csv`.
const COLUMNS: [&str; 9] = [
    "as_of",
    "member",
    "enrolled",
    "tier",
    "points",
    "amount",
    "earned",
    "spendable",
    "expires",
];

/// A run's end state, as a simulation takes it up.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The instant the book is as of: the run's `--until`, or its last event.
    pub as_of: DateTime<Utc>,
    /// In member order.
    pub members: Vec<Opening>,
    /// Pools' accounts (`household:smiths`): they hold points, and have no
    /// tier and no habits.
    pub pools: Vec<Opening>,
}

/// Writes each member's open buckets (a row each), debts (a row each, the
/// amount negative, no dates) and, for a member with neither, a row
/// without points that carries the tier; pools' accounts (`kind:id`) as
/// members.
pub fn write_state<W: Write>(engine: &Engine, as_of: DateTime<Utc>, out: W) -> csv::Result<()> {
    let program = engine.program();
    let tz = program.timezone;
    let time = |t: DateTime<Utc>| calendar::rfc3339(tz, t);
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(COLUMNS)?;
    let as_of_text = time(as_of);
    for member in engine.members() {
        let tier = program
            .tiers
            .as_ref()
            .and_then(|t| t.tiers.get(member.tier()))
            .map_or(String::new(), |t| t.name.clone());
        let mut row = |points: &str, amount: String, dates: [String; 3]| {
            let [earned, spendable, expires] = dates;
            csv.write_record([
                as_of_text.as_str(),
                &member.id,
                &time(member.enrolled),
                &tier,
                points,
                &amount,
                &earned,
                &spendable,
                &expires,
            ])
        };
        let mut rows = 0;
        for (wallet, points) in member.wallets.iter().zip(&program.points) {
            for bucket in wallet.buckets() {
                let expires = bucket.expires_at.map(time).unwrap_or_default();
                let dates = [time(bucket.earned_at), time(bucket.available_at), expires];
                row(&points.name, bucket.amount.to_string(), dates)?;
                rows += 1;
            }
            if wallet.debt() > Decimal::ZERO {
                row(
                    &points.name,
                    (-wallet.debt()).to_string(),
                    Default::default(),
                )?;
                rows += 1;
            }
        }
        if rows == 0 {
            row("", String::new(), Default::default())?;
        }
    }
    csv.flush()?;
    Ok(())
}

/// Reads `state.csv` back for `program`: every row's as-of instant the
/// same, names the program knows, amounts and instants that read.
pub fn read_state(program: &Program, text: &str) -> Result<State, FileError> {
    let fail = |line: u64, message: String| {
        FileError::new(Some(usize::try_from(line).unwrap_or(usize::MAX)), message)
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| fail(1, format!("cannot read the header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if header != COLUMNS {
        return Err(fail(
            1,
            format!(
                "the header is `{}`; it must be `{}`",
                header.join(","),
                COLUMNS.join(",")
            ),
        ));
    }
    let mut as_of: Option<DateTime<Utc>> = None;
    let mut members: Vec<Opening> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|error| {
            let line = error.position().map_or(0, |p| p.line());
            match error.kind() {
                csv::ErrorKind::UnequalLengths { len, .. } => fail(
                    line,
                    format!(
                        "the row has {len} fields; it needs {}, as the header",
                        COLUMNS.len()
                    ),
                ),
                _ => fail(line, format!("cannot read the row: {error}")),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or_default();
        let instant = |i: usize| {
            let text = field(i);
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .map_err(|_| {
                    fail(
                        line,
                        format!(
                            "{}: `{text}` is not an instant (RFC 3339)",
                            COLUMNS.get(i).unwrap_or(&"")
                        ),
                    )
                })
        };
        let row_as_of = instant(0)?;
        match as_of {
            None => as_of = Some(row_as_of),
            Some(first) if first != row_as_of => {
                return Err(fail(
                    line,
                    format!(
                        "as_of: {} differs from the first row's {}: a state is one instant's",
                        field(0),
                        calendar::rfc3339(program.timezone, first)
                    ),
                ))
            }
            Some(_) => {}
        }
        let member = field(1);
        if member.is_empty() {
            return Err(fail(line, "member: empty".to_string()));
        }
        let tier_name = field(3);
        let tier = match &program.tiers {
            None if tier_name.is_empty() => 0,
            None => {
                return Err(fail(
                    line,
                    format!("tier: `{tier_name}`, but the program has no tiers"),
                ))
            }
            Some(tiers) => tiers
                .tiers
                .iter()
                .position(|t| t.name == tier_name)
                .ok_or_else(|| {
                    fail(line, format!("tier: the program has no tier `{tier_name}`"))
                })?,
        };
        if members.last().is_none_or(|m| m.member != member) {
            if !seen.insert(member.to_string()) {
                return Err(fail(
                    line,
                    format!("member: `{member}`'s rows must be together"),
                ));
            }
            members.push(Opening {
                member: member.to_string(),
                enrolled: instant(2)?,
                tier,
                buckets: Vec::new(),
                debts: Vec::new(),
            });
        }
        let Some(opening) = members.last_mut() else {
            continue;
        };
        if opening.tier != tier {
            return Err(fail(
                line,
                format!("tier: `{member}` has another tier on an earlier row"),
            ));
        }
        let points = field(4);
        if points.is_empty() {
            continue;
        }
        let p = program
            .points
            .iter()
            .position(|t| t.name == points)
            .map(PointsId)
            .ok_or_else(|| {
                fail(
                    line,
                    format!("points: the program has no points type `{points}`"),
                )
            })?;
        let amount: Decimal = field(5)
            .parse()
            .map_err(|_| fail(line, format!("amount: `{}` is not a number", field(5))))?;
        if amount < Decimal::ZERO {
            opening.debts.push((p, -amount));
            continue;
        }
        let expires = match field(8) {
            "" => None,
            _ => Some(instant(8)?),
        };
        opening.buckets.push((
            p,
            OpenBucket {
                amount,
                earned: instant(6)?,
                spendable: instant(7)?,
                expires,
            },
        ));
    }
    let as_of = as_of.ok_or_else(|| fail(1, "no rows: the state has no as-of instant".into()))?;
    // A pool's account is named `kind:id`, after a kind of pool the program has.
    let (pools, members) = members.into_iter().partition(|m| {
        m.member
            .split_once(':')
            .is_some_and(|(kind, _)| program.pool_index.contains_key(kind))
    });
    Ok(State {
        as_of,
        members,
        pools,
    })
}
