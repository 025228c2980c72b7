//! What a test run leaves unused: the rules no case exercised, and the
//! snapshot files no test writes (stale), with a way to delete the latter.

use super::runner::FileReport;
use super::snapshot;
use crate::report::output;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A program's rules that no case run fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unexercised {
    /// The program's file, as the first test file naming it gives it.
    pub program: PathBuf,
    /// The rules' names, in the program's order.
    pub rules: Vec<String>,
}

/// Per program (in the order the test files name them), the rules that
/// wrote no ledger row in any case run of any test file testing it. A
/// program whose rules all fired is left out; so are broken test files.
pub fn rules(reports: &[FileReport]) -> Vec<Unexercised> {
    let mut programs: Vec<Exercised> = Vec::new();
    for report in reports {
        let (Some(tested), Ok(cases)) = (&report.tested, &report.outcome) else {
            continue;
        };
        let key = std::fs::canonicalize(&tested.program).unwrap_or_else(|_| tested.program.clone());
        let at = match programs.iter().position(|known| known.key == key) {
            Some(at) => at,
            None => {
                programs.push(Exercised {
                    key,
                    program: tested.program.clone(),
                    rules: tested
                        .rules
                        .iter()
                        .map(|name| (name.clone(), false))
                        .collect(),
                });
                programs.len() - 1
            }
        };
        let Some(program) = programs.get_mut(at) else {
            continue;
        };
        for rule in cases.iter().flat_map(|case| &case.fired) {
            if let Some((_, fired)) = program.rules.get_mut(rule.index()) {
                *fired = true;
            }
        }
    }
    programs
        .into_iter()
        .filter_map(|Exercised { program, rules, .. }| {
            let rules: Vec<String> = rules
                .into_iter()
                .filter(|(_, fired)| !fired)
                .map(|(name, _)| name)
                .collect();
            (!rules.is_empty()).then_some(Unexercised { program, rules })
        })
        .collect()
}

/// A program's rules, and whether a case run fired each.
struct Exercised {
    /// The program's file as the system knows it (`./a` and `a` are one).
    key: PathBuf,
    /// As the first test file naming it gives it.
    program: PathBuf,
    rules: Vec<(String, bool)>,
}

/// The stale snapshots beside the test files run, in path order: the
/// `.snap` files in a test file's snapshot folder that none of its tests
/// writes (whether selected or not), and every `.snap` file in a snapshot
/// folder whose test file is gone. A broken test file's folder is left
/// alone, as is the folder of a test file that was not run.
pub fn snapshots(reports: &[FileReport]) -> Vec<PathBuf> {
    let mut stale = BTreeSet::new();
    let mut folders = BTreeSet::new();
    for report in reports {
        let folder = match report.file.parent() {
            Some(folder) if folder != Path::new("") => folder,
            _ => Path::new("."),
        };
        folders.insert(folder.to_path_buf());
        if let Some(tested) = &report.tested {
            let written = snap_files(&snapshot::folder(&report.file));
            stale.extend(written.filter(|path| !tested.snapshots.contains(path)));
        }
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(snapshot::FOLDER) else {
                continue;
            };
            let orphan = [".test.yaml", ".test.yml", ".yaml", ".yml"]
                .iter()
                .all(|suffix| !folder.join(format!("{stem}{suffix}")).exists());
            if orphan && entry.path().is_dir() {
                stale.extend(snap_files(&entry.path()));
            }
        }
    }
    stale.into_iter().collect()
}

/// The `.snap` files in `folder` (none if it cannot be read).
fn snap_files(folder: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "snap") && path.is_file())
}

/// Deletes the stale snapshots, and each folder they leave empty.
pub fn delete(stale: &[PathBuf]) -> Result<(), output::Error> {
    let failed = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| output::Error {
            action,
            path,
            source,
        }
    };
    for path in stale {
        std::fs::remove_file(path).map_err(failed("remove", path))?;
    }
    let folders: BTreeSet<&Path> = stale.iter().filter_map(|path| path.parent()).collect();
    for folder in folders {
        let mut entries = std::fs::read_dir(folder).map_err(failed("read", folder))?;
        if entries.next().is_none() {
            std::fs::remove_dir(folder).map_err(failed("remove", folder))?;
        }
    }
    Ok(())
}
