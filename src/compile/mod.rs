//! Compile: a checked program's AST lowered to the IR the engine runs.

pub mod calendar;
pub mod ir;
mod lower;
pub mod predicate;

pub use ir::Program;

use crate::diagnostic::Diagnostic;

/// Parses, checks and compiles a program. On errors, returns every
/// diagnostic (warnings included); on success, the program and its warnings.
pub fn compile(source: &str) -> Result<(Program, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = crate::syntax::parse(source).map_err(|_| crate::syntax::syntax_errors(source))?;
    let diagnostics = crate::check::check(&file);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let program = lower::lower(&file, source).map_err(|e| vec![e])?;
    Ok((program, diagnostics))
}
