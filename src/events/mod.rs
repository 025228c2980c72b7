//! Events: the records a program is applied to, read from CSV, JSON Lines or
//! YAML and typed by the program's declared event schemas. A record that
//! cannot be typed becomes a [`Reject`] with its line and reason; reading
//! goes on.

use crate::compile::ir::{EventTypeId, Value};
use chrono::{DateTime, Utc};

/// One typed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// The instant it happened.
    pub time: DateTime<Utc>,
    pub member: String,
    pub kind: EventTypeId,
    /// One value per field of the event type, in the type's field order;
    /// `Value::Missing` where the record left a field empty.
    pub fields: Vec<Value>,
    /// Where it was read from, for rejects found later by the engine.
    pub origin: Origin,
}

/// A record's place in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    /// 1-based line (for CSV the header is line 1; for YAML the line where the record starts).
    pub line: usize,
}

/// A record that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub origin: Origin,
    pub id: Option<String>,
    pub member: Option<String>,
    pub reason: String,
}
