//! `loyalty fmt`: rewrites programs in canonical form, or prints the unified
//! diff of what it would change.

use super::{display_name, out, progress, read, Error};
use loyalty::report::output;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Program files, or folders searched with their subfolders for
    /// `*.loyalty` files (skipping hidden folders and `target`), in path
    /// order; `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write nothing; print the unified diff of what would change and exit
    /// with 1 if any file is not formatted.
    #[arg(long)]
    check: bool,
    /// Write nothing; print the unified diff of what would change.
    #[arg(long)]
    diff: bool,
}

/// Formats every program that can be read, then names the files and
/// folders that could not be read or written (exit code 2). A program with
/// a syntax error is reported on standard error and left alone (exit code 1).
pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let color = super::colour_stderr();
    let mut failed = false;
    let mut errors = Vec::new();
    for path in programs(&args.paths) {
        let read = path.and_then(|path| read(&path).map(|source| (path, source)));
        let (path, source) = match read {
            Ok(read) => read,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let name = display_name(&path);
        let formatted = match loyalty::syntax::format(&source) {
            Ok(formatted) => formatted,
            Err(diagnostic) => {
                eprint!("{}", diagnostic.render(&name, &source, color));
                failed = true;
                continue;
            }
        };
        if formatted == source {
            progress::detail(&format!("already formatted: {name}"));
        }
        if args.check || args.diff {
            if formatted != source {
                out(&unified_diff(&name, &source, &formatted))?;
                failed |= args.check;
            }
        } else if path == Path::new("-") {
            out(&formatted)?;
        } else if formatted != source {
            match output::rewrite(&path, formatted.as_bytes()) {
                Ok(()) => out(&format!("formatted: {name}\n"))?,
                Err(error) => errors.push(Error::Output(error)),
            }
        }
    }
    if !errors.is_empty() {
        Err(Error::Unreadable(errors))
    } else if failed {
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// The diff from `source` to `formatted`, both headers naming the file, so
/// that `patch -p0` applies it.
fn unified_diff(name: &str, source: &str, formatted: &str) -> String {
    similar::TextDiff::from_lines(source, formatted)
        .unified_diff()
        .header(name, name)
        .to_string()
}

/// The programs `paths` name, in order: each file (or `-`) as given, and
/// each folder's `*.loyalty` files, searched with its subfolders, in path
/// order; each once. A path or folder that cannot be read is an error in
/// its place.
fn programs(paths: &[PathBuf]) -> Vec<Result<PathBuf, Error>> {
    let mut found: Vec<Result<PathBuf, Error>> = Vec::new();
    for path in paths {
        let mut files = Vec::new();
        if path == Path::new("-") {
            files.push((path.clone(), None));
        } else {
            match std::fs::metadata(path) {
                Ok(metadata) if metadata.is_dir() => {
                    search(path, &mut files);
                    files.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Ok(_) => files.push((path.clone(), None)),
                Err(error) => files.push((path.clone(), Some(error))),
            }
        }
        for (file, error) in files {
            if let Some(source) = error {
                found.push(Err(Error::Read { path: file, source }));
            } else if !found.iter().any(|f| f.as_ref().is_ok_and(|f| *f == file)) {
                found.push(Ok(file));
            }
        }
    }
    found
}

/// Adds the `*.loyalty` files under `folder` to `found`, skipping hidden
/// folders and `target`; a folder that cannot be read is added with why.
fn search(folder: &Path, found: &mut Vec<(PathBuf, Option<std::io::Error>)>) {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => return found.push((folder.to_path_buf(), Some(error))),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => return found.push((folder.to_path_buf(), Some(error))),
        };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A symbolic link to a folder is not followed (it may loop).
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            if !name.starts_with('.') && name != "target" {
                search(&path, found);
            }
        } else if name.ends_with(".loyalty") {
            found.push((path, None));
        }
    }
}
