//! Diagnostics shared by every stage: one type for parse errors, checker
//! errors and warnings, rendered rustc-style (through miette) or as JSON.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use serde::Serialize;
use std::ops::Range;

/// A byte range in the source text.
///
/// Spans always compare equal, so that two trees compare by what they say,
/// not where they say it: `parse(fmt(p)) == p` is the formatter's contract.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a program: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable kebab-case name for the class of problem, e.g. `unknown-name`.
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    /// A short note under the underlined text.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic as text: `file:line:col`, the source line, an
    /// underline under the span, the message and the help. `color` adds ANSI
    /// colours for a terminal; without it the text is stable for snapshots.
    pub fn render(&self, file_name: &str, source: &str, color: bool) -> String {
        let severity = match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let start = self.span.start.min(source.len());
        let len = self.span.end.min(source.len()).saturating_sub(start);
        let mut diagnostic = MietteDiagnostic::new(self.message.clone())
            .with_code(self.code)
            .with_severity(severity)
            .with_label(LabeledSpan::new(self.label.clone(), start, len));
        if let Some(help) = &self.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        let report = miette::Report::new(diagnostic)
            .with_source_code(NamedSource::new(file_name, source.to_string()));
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        // Rendering into a String cannot fail; if miette ever did, fall back to plain text.
        if GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false)
            .render_report(&mut out, report.as_ref())
            .is_err()
        {
            out = format!("{}: {}\n", self.code, self.message);
        }
        out
    }

    /// The diagnostic as a JSON-ready record, with 1-based lines and columns.
    pub fn to_record(&self, file_name: &str, source: &str) -> DiagnosticRecord {
        let (line, column) = line_col(source, self.span.start);
        let (end_line, end_column) = line_col(source, self.span.end);
        DiagnosticRecord {
            file: file_name.to_string(),
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            line,
            column,
            end_line,
            end_column,
            label: self.label.clone(),
            help: self.help.clone(),
        }
    }
}

/// A diagnostic as editors and CI tools read it.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticRecord {
    pub file: String,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub label: Option<String>,
    pub help: Option<String>,
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = source.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// Sorts diagnostics by position, errors before warnings at the same place,
/// so output never depends on the order checks ran in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.span.end, a.severity, a.code, &a.message).cmp(&(
            b.span.start,
            b.span.end,
            b.severity,
            b.code,
            &b.message,
        ))
    });
}

/// `a`, `a or b`, `a, b or c`: a list for a message.
pub fn or_list(items: impl Iterator<Item = String>) -> String {
    list(items, "or")
}

/// `a`, `a and b`, `a, b and c`: a list for a message.
pub fn and_list(items: impl Iterator<Item = String>) -> String {
    list(items, "and")
}

fn list(items: impl Iterator<Item = String>, last_word: &str) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {last_word} {last}", rest.join(", ")),
    }
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
