//! "Did you mean": the declared name closest to a typo, and the diagnostic
//! for an unknown name that carries it.

use crate::diagnostic::Diagnostic;
use crate::syntax::ast::Span;

/// The candidate closest to `name`, if it is close enough to be a typo.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    // One edit in three characters; names of one or two characters are too
    // short for any edit to suggest a real match.
    let length = name.chars().count();
    let limit = if length < 3 { 0 } else { (length / 3).max(1) };
    candidates
        .into_iter()
        .filter(|c| *c != name)
        // No fewer edits than the lengths differ by: a name much longer or
        // shorter is not compared letter by letter (for a huge value in an
        // event record, that took seconds a megabyte).
        .filter(|c| c.chars().count().abs_diff(length) <= limit)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, c)| c)
}

/// An unknown-name error for `name`: `message` says what is unknown; the help suggests
/// the closest of `candidates`, or lists them (as `plural`) when few.
pub fn unknown<'c>(
    name: &str,
    span: Span,
    message: String,
    plural: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Diagnostic {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let diagnostic = Diagnostic::error("unknown-name", span, message).with_label("not declared");
    if let Some(close) = closest(name, candidates.iter().copied()) {
        diagnostic.with_help(format!("did you mean `{close}`?"))
    } else if candidates.is_empty() {
        diagnostic.with_help(format!("this program declares no {plural}"))
    } else if candidates.len() <= 8 {
        let listed: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
        diagnostic.with_help(format!("declared {plural}: {}", listed.join(", ")))
    } else {
        diagnostic.with_help(format!(
            "declare it, or use one of the {} {plural}",
            candidates.len()
        ))
    }
}
