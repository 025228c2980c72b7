//! The error of a file a person writes (a test file, a scenario, breakage
//! estimates) or a report read back: a message and, when known, the line and
//! column it is about.

use serde::Serialize;
use std::path::Path;

/// A file that could not be read, or whose content does not fit what it is
/// for. The message starts with the field's path when there is one
/// (`tests[1].expect: ...`, `members.initial: ...`). Serialized as
/// `loyalty test --format json` writes it: `line`, `column`, `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", line.map(|line| format!("line {line}: ")).unwrap_or_default())]
pub struct FileError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl FileError {
    /// An error on `line` (or the whole file), at no particular column.
    pub fn new(line: Option<usize>, message: String) -> FileError {
        FileError {
            line,
            column: None,
            message,
        }
    }

    /// `file:line:column`, as far as the place is known.
    pub fn place(&self, file: &Path) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", file.display()),
            (Some(line), None) => format!("{}:{line}", file.display()),
            _ => file.display().to_string(),
        }
    }
}
