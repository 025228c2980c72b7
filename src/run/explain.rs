//! One member's story from a run, as `loyalty explain` tells it and the
//! page of `loyalty serve` shows it: the explanation the engine collected,
//! and the member's records that were not applied.

use super::{Records, Run, Sinks};
use crate::compile::ir::Program;
use crate::engine::explain::Explanation;
use crate::engine::replay::Options;
use crate::events::Reject;

/// A member's story and rejects.
pub struct Explained {
    pub explanation: Explanation,
    /// The member's records that were not applied, in the order met.
    pub rejects: Vec<Reject>,
}

/// Replays `records` explaining `member`; `None` when no record enrolled
/// or otherwise made the member.
pub fn explain(
    program: &Program,
    records: Records<'_>,
    options: Options,
    member: &str,
) -> Result<Option<Explained>, csv::Error> {
    let mut finished = Run::new(program, options)
        .explain(member)
        .replay(records, Sinks::none())?;
    if !finished.engine.members().iter().any(|m| m.id == member) {
        return Ok(None);
    }
    let Some(explanation) = finished.engine.take_explanation() else {
        return Ok(None);
    };
    let rejects = finished
        .outcome
        .rejects
        .into_iter()
        .filter(|r| r.member.as_deref() == Some(member))
        .collect();
    Ok(Some(Explained {
        explanation,
        rejects,
    }))
}
