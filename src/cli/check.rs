//! `loyalty check`: diagnostics for each file, as text or JSON.

use super::{display_name, out, progress, read, Error, Format};
use loyalty::diagnostic::{plural, DiagnosticRecord, Severity};
use loyalty::engine::sharded::{split, Split};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Program files (`.loyalty`); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// How to print diagnostics: `human` (source excerpts, for people) or
    /// `json` (one document, for editors and CI).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Serialize)]
struct JsonReport {
    files: usize,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<DiagnosticRecord>,
    /// How each program without errors may be split among machines.
    splits: Vec<FileSplit>,
}

#[derive(Serialize)]
struct FileSplit {
    file: String,
    #[serde(flatten)]
    split: Split,
}

/// Checks every file that can be read and reports them all, then names the
/// files that could not be read (exit code 2).
pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let color = super::colour_stdout();
    let mut records = Vec::new();
    let mut rendered = String::new();
    let mut unreadable = Vec::new();
    let mut splits = Vec::new();
    for path in &args.files {
        let source = match read(path) {
            Ok(source) => source,
            Err(error) => {
                unreadable.push(error);
                continue;
            }
        };
        let name = display_name(path);
        let diagnostics = loyalty::check_source(&source);
        progress::detail(&format!(
            "checked {name}: {} diagnostics",
            diagnostics.len()
        ));
        for diagnostic in diagnostics {
            rendered.push_str(&diagnostic.render(&name, &source, color));
            rendered.push('\n');
            records.push(diagnostic.to_record(&name, &source));
        }
        if let Ok((program, _)) = loyalty::compile::compile(&source) {
            splits.push(FileSplit {
                file: name,
                split: split(&program),
            });
        }
    }
    let errors = records
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .count();
    let warnings = records.len() - errors;
    let checked = args.files.len() - unreadable.len();
    match args.format {
        Format::Human => {
            out(&rendered)?;
            out(&format!(
                "checked {}: {}, {}\n",
                plural(checked, "file"),
                plural(errors, "error"),
                plural(warnings, "warning")
            ))?;
        }
        Format::Json => {
            let report = JsonReport {
                files: checked,
                errors,
                warnings,
                diagnostics: records,
                splits,
            };
            let json = serde_json::to_string_pretty(&report).map_err(Error::CheckJson)?;
            out(&format!("{json}\n"))?;
        }
    }
    if !unreadable.is_empty() {
        Err(Error::Unreadable(unreadable))
    } else if errors > 0 {
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
