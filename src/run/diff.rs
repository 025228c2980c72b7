//! The replays `loyalty diff` compares: a program run over events, valued
//! with its own breakage settings, with what each member cost; and, for
//! `loyalty serve`, the same replay's totals and liability table.

use super::{Records, Run, Sinks};
use crate::compile::ir::Program;
use crate::engine::ledger::Entry;
use crate::engine::replay::{Options, Order};
use crate::finance::diff::{MemberOutcome, Outcome};
use crate::finance::liability::{Breakage, LiabilityBuilder, LiabilityTable};
use crate::report::{self, Summary};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One replay as a comparison needs it, and as `loyalty run` reports it.
pub struct Replayed {
    pub outcome: Outcome,
    /// The totals `loyalty run` prints and writes to summary.json.
    pub summary: Summary,
    /// The liability by month, with the program's own breakage.
    pub liability: LiabilityTable,
}

/// Replays the records (sorted by time) through the program up to `until`
/// (default: the last event) and values the result with the program's own
/// breakage settings.
pub fn outcome(
    program: &Program,
    records: Records<'_>,
    until: Option<DateTime<Utc>>,
) -> Result<Outcome, csv::Error> {
    replay(program, records, until).map(|replayed| replayed.outcome)
}

/// [`outcome`], with the run's totals and liability table.
pub fn replay(
    program: &Program,
    records: Records<'_>,
    until: Option<DateTime<Utc>>,
) -> Result<Replayed, csv::Error> {
    let mut costs: BTreeMap<String, Decimal> = BTreeMap::new();
    let options = Options {
        order: Order::Sort,
        until,
        strict: false,
    };
    let mut cost = |rows: &[Entry]| {
        for e in rows.iter().filter(|e| e.cost.is_some()) {
            *costs.entry(e.member.to_string()).or_default() += e
                .cost
                .map(|c| program.currency.round(c))
                .unwrap_or_default();
        }
        Ok(())
    };
    let sinks = Sinks {
        liability: Some(LiabilityBuilder::new(program)),
        ..Sinks::rows(&mut cost)
    };
    // The members' points issued are read from their own totals.
    let finished = Run::new(program, options)
        .member_totals()
        .replay(records, sinks)?;
    let engine = finished.engine;
    let rejected = finished.outcome.rejects.len() as u64;
    let now = engine.clock().unwrap_or_default();
    let summary = report::summary(&engine, &finished.outcome, now);
    // The sinks give back the builder they were given.
    let liability = finished
        .sinks
        .liability
        .unwrap_or_else(|| LiabilityBuilder::new(program))
        .finish(until.unwrap_or(now), Breakage::Program);
    let members = engine
        .members()
        .into_iter()
        .map(|m| {
            let cost = costs.get(m.id.as_str()).copied().unwrap_or_default();
            (m.id.to_string(), MemberOutcome::of(program, Some(m), cost))
        })
        .collect();
    Ok(Replayed {
        outcome: Outcome::of(program, &liability.rows, rejected, members),
        summary,
        liability,
    })
}
