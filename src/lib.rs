//! `loyalty`: a rules engine for configurable rewards and tier programs.
//!
//! The pipeline, one module per stage: [`syntax`] parses `.loyalty` text into
//! an AST and formats it back; [`check`] resolves names and types and reports
//! every mistake as a [`Diagnostic`].

pub mod check;
pub mod compile;
pub mod diagnostic;
pub mod engine;
pub mod events;
pub mod finance;
pub mod gen;
pub mod html;
pub mod limits;
pub mod report;
pub mod run;
pub mod simulate;
pub mod syntax;
pub mod table;
pub mod testing;

pub use diagnostic::{Diagnostic, Severity};

/// Parses and checks a program's text: the syntax error, or every error and
/// warning the checker found, sorted by position. Empty means clean.
pub fn check_source(source: &str) -> Vec<Diagnostic> {
    match syntax::parse(source) {
        Ok(file) => check::check(&file),
        Err(syntax_error) => vec![syntax_error],
    }
}
