//! Running test files: finding them under folders, replaying each case's
//! events through the program, and comparing the results with the case's
//! expectations and snapshot. Results are returned, never printed.

use super::diff::{Diff, Tag};
use super::model::{self, locate, Case, Events, FileError, Record, TestFile, Until};
use super::snapshot;
use crate::compile::ir::RuleId;
use crate::compile::Program;
use crate::engine::ledger::Entry;
use crate::engine::replay::{Options, Order};
use crate::events::{self, Event, Format, Reject};
use crate::report::{self, LedgerWriter};
use crate::run::{Finished, Run, Sinks};

use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to do with snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Compare with the stored snapshot. A missing one is written when
    /// `write_missing` is set (a developer's first run) and fails otherwise
    /// (CI, or a review that asks first).
    Check { write_missing: bool },
    /// Store every snapshot that is missing or differs.
    Update,
}

/// Which cases of a test file to run, and how.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub mode: SnapshotMode,
    /// Only the cases whose name contains one of these, as written (all
    /// cases when empty).
    pub names: &'a [String],
    /// Stop at the first case that does not pass: the cases after it are
    /// not run.
    pub bail: bool,
}

impl Selection<'_> {
    fn selects(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|part| name.contains(part.as_str()))
    }
}

/// The results of one test file.
#[derive(Debug)]
pub struct FileReport {
    /// The test file, as found under the path it was searched from.
    pub file: PathBuf,
    /// The cases' results, or why the file could not be run.
    pub outcome: Result<Vec<CaseReport>, FileError>,
    /// The cases the selection's names left out.
    pub filtered_out: usize,
    /// What the file tests, when it could be read and its program compiled.
    pub tested: Option<Tested>,
}

impl FileReport {
    /// Whether the file could be run and every case run passed.
    pub fn passed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|cases| cases.iter().all(CaseReport::passed))
    }
}

/// What a test file tests: its program's rules, and the snapshots its
/// cases write (all of them, selected or not).
#[derive(Debug)]
pub struct Tested {
    /// The program's file: the test file's folder joined with `program`.
    pub program: PathBuf,
    /// The program's rules' names, in the program's order.
    pub rules: Vec<String>,
    pub snapshots: Vec<PathBuf>,
}

#[derive(Debug)]
pub struct CaseReport {
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<Failure>,
    /// Set when this run stored the case's snapshot.
    pub written: Option<Written>,
    /// Set when a review declined the case's missing or changed snapshot.
    pub declined: Option<Declined>,
    /// The rules that wrote at least one ledger row, in the program's order.
    pub fired: Vec<RuleId>,
    pub duration: Duration,
    /// Why the case could not be run (its event file cannot be read, its
    /// snapshot cannot be written, or loyalty failed inside): the case's
    /// error, not a failure of what it checks, and not the end of the
    /// file's other cases.
    pub error: Option<FileError>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.error.is_none()
    }

    /// Stores the new snapshot of a failed snapshot comparison, which no
    /// longer fails.
    pub fn accept_snapshot(&mut self) -> std::io::Result<()> {
        let mut kept = Vec::new();
        for failure in std::mem::take(&mut self.failures) {
            match failure {
                Failure::Snapshot {
                    path, new, missing, ..
                } => {
                    snapshot::write(&path, &new)?;
                    self.written = Some(if missing {
                        Written::New
                    } else {
                        Written::Updated
                    });
                }
                other => kept.push(other),
            }
        }
        self.failures = kept;
        Ok(())
    }

    /// Whether the case has a missing or changed snapshot.
    pub fn snapshot_failed(&self) -> bool {
        self.failures
            .iter()
            .any(|f| matches!(f, Failure::Snapshot { .. }))
    }
}

/// Why a review left a snapshot as stored: the case still fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// The change is not wanted.
    Rejected,
    /// Not decided yet.
    Skipped,
}

/// Why a snapshot file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// There was none.
    New,
    /// It differed, and the run was told to update.
    Updated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An expectation that does not hold: what it is, and the difference.
    Expectation { title: String, diff: Diff },
    /// A snapshot that is missing or differs from the result.
    Snapshot {
        path: PathBuf,
        /// No snapshot was stored.
        missing: bool,
        diff: Diff,
        /// The snapshot this run made.
        new: String,
    },
}

impl Failure {
    /// One line saying what failed.
    pub fn title(&self) -> String {
        match self {
            Failure::Expectation { title, .. } => title.clone(),
            Failure::Snapshot {
                path,
                missing: true,
                ..
            } => format!(
                "snapshot `{}` is missing: run `loyalty test --update` and commit it",
                path.display()
            ),
            Failure::Snapshot { path, .. } => format!(
                "snapshot `{}` differs (- stored, + this run): if the change is intended, run `loyalty test --update` (or `--review`)",
                path.display()
            ),
        }
    }

    pub fn diff(&self) -> &Diff {
        match self {
            Failure::Expectation { diff, .. } | Failure::Snapshot { diff, .. } => diff,
        }
    }
}

/// How many cases passed, failed and could not be run, how many files were
/// broken, how many snapshots were stored, and how many cases the names
/// left out, over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub broken_files: usize,
    pub snapshots_written: usize,
    pub filtered_out: usize,
}

impl Tally {
    pub fn of(reports: &[FileReport]) -> Tally {
        let mut tally = Tally::default();
        for report in reports {
            tally.filtered_out += report.filtered_out;
            match &report.outcome {
                Err(_) => tally.broken_files += 1,
                Ok(cases) => {
                    for case in cases {
                        if case.error.is_some() {
                            tally.errors += 1;
                        } else if case.passed() {
                            tally.passed += 1;
                        } else {
                            tally.failed += 1;
                        }
                        if case.written.is_some() {
                            tally.snapshots_written += 1;
                        }
                    }
                }
            }
        }
        tally
    }
}

/// The test files under `paths`: each path that is a file is taken as a
/// test file; each folder is searched, with its subfolders, for files named
/// `*.test.yaml` or `*.test.yml`, skipping hidden folders and `target`.
/// Files come in path order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SearchError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(SearchError::at(path))?;
        if metadata.is_dir() {
            let mut found = Vec::new();
            search(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// A file or folder that could not be read while looking for test files.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{}`: {source}", path.display())]
pub struct SearchError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl SearchError {
    fn at(path: &Path) -> impl Fn(std::io::Error) -> SearchError + '_ {
        move |source| SearchError {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn search(folder: &Path, found: &mut Vec<PathBuf>) -> Result<(), SearchError> {
    let entries = std::fs::read_dir(folder).map_err(SearchError::at(folder))?;
    for entry in entries {
        let entry = entry.map_err(SearchError::at(folder))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(SearchError::at(&path))?;
        if kind.is_dir() {
            if !name.starts_with('.') && name != "target" {
                search(&path, found)?;
            }
        } else if name.ends_with(".test.yaml") || name.ends_with(".test.yml") {
            found.push(path);
        }
    }
    Ok(())
}

/// Runs every case of one test file, each on its own: a case that cannot
/// be run is that case's error, and the others still run.
pub fn run_file(file: &Path, mode: SnapshotMode) -> FileReport {
    let all = Selection {
        mode,
        names: &[],
        bail: false,
    };
    run_selected(file, &all, &mut |_| {})
}

/// Runs the cases of one test file that `selection` selects, as
/// [`run_file`] does; `each` is given each case's report as soon as the
/// case has run (to review its snapshot), before `bail` looks at it.
pub fn run_selected(
    file: &Path,
    selection: &Selection,
    each: &mut dyn FnMut(&mut CaseReport),
) -> FileReport {
    let (outcome, filtered_out, tested) = match isolated(|| run_cases(file, selection, each)) {
        Ok(ran) => (Ok(ran.cases), ran.filtered_out, Some(ran.tested)),
        Err(error) => (Err(error), 0, None),
    };
    FileReport {
        file: file.to_path_buf(),
        outcome,
        filtered_out,
        tested,
    }
}

/// The cases of a file that ran, how many the names left out, and what the
/// file tests.
struct Ran {
    cases: Vec<CaseReport>,
    filtered_out: usize,
    tested: Tested,
}

/// Runs `work`; a panic in it (a bug in loyalty) is returned as an error,
/// so that it fails one case or file, not the whole run.
fn isolated<T>(work: impl FnOnce() -> Result<T, FileError>) -> Result<T, FileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|m| m.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(FileError::new(
            None,
            format!("internal error: loyalty panicked ({message}); please report it with this test file"),
        ))
    })
}

fn run_cases(
    file: &Path,
    selection: &Selection,
    each: &mut dyn FnMut(&mut CaseReport),
) -> Result<Ran, FileError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| FileError::new(None, format!("cannot read the test file: {e}")))?;
    let test_file = model::parse(&text)?;
    let folder = file.parent().unwrap_or(Path::new(""));
    let program = load_program(folder, &test_file, &text)?;
    check_names(&test_file, &text)?;
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let context = Context {
        file,
        folder,
        file_name: &file_name,
        text: &text,
        test_file: &test_file,
        program: &program,
        mode: selection.mode,
    };
    let tested = Tested {
        program: folder.join(&test_file.program),
        rules: program.rules.iter().map(|rule| rule.name.clone()).collect(),
        snapshots: test_file
            .tests
            .iter()
            .filter(|case| case.snapshot)
            .map(|case| snapshot::path(file, &case.name))
            .collect(),
    };
    let mut cases = Vec::new();
    let mut filtered_out = 0;
    for (index, case) in test_file.tests.iter().enumerate() {
        if !selection.selects(&case.name) {
            filtered_out += 1;
            continue;
        }
        let started = Instant::now();
        let mut report = isolated(|| context.run(index, case)).unwrap_or_else(|error| CaseReport {
            name: case.name.clone(),
            failures: Vec::new(),
            written: None,
            declined: None,
            fired: Vec::new(),
            duration: started.elapsed(),
            error: Some(error),
        });
        each(&mut report);
        let stop = selection.bail && !report.passed();
        cases.push(report);
        if stop {
            break;
        }
    }
    Ok(Ran {
        cases,
        filtered_out,
        tested,
    })
}

/// Compiles the program the test file names; its errors make the test file
/// broken, with the program's diagnostics in the message.
fn load_program(folder: &Path, test_file: &TestFile, text: &str) -> Result<Program, FileError> {
    let line = locate(text, None, "program");
    let path = folder.join(&test_file.program);
    let source = std::fs::read_to_string(&path).map_err(|e| {
        FileError::new(
            line,
            format!("program: cannot read `{}`: {e}", test_file.program),
        )
    })?;
    crate::compile::compile(&source)
        .map(|(program, _warnings)| program)
        .map_err(|diagnostics| {
            let rendered: String = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render(&test_file.program, &source, false))
                .collect();
            FileError::new(
                line,
                format!(
                    "program: `{}` has errors (see `loyalty check`):\n{rendered}",
                    test_file.program
                ),
            )
        })
}

/// Case names must differ, and so must the snapshot files they name.
fn check_names(test_file: &TestFile, text: &str) -> Result<(), FileError> {
    for (index, case) in test_file.tests.iter().enumerate() {
        let earlier = test_file
            .tests
            .iter()
            .take(index)
            .find(|other| snapshot::slug(&other.name) == snapshot::slug(&case.name));
        if let Some(other) = earlier {
            return Err(FileError::new(
                locate(text, Some(index), "name"),
                format!(
                    "tests[{index}].name: `{}` is too close to the earlier test `{}`: their snapshots would share a file",
                    case.name, other.name
                ),
            ));
        }
    }
    Ok(())
}

/// What every case of a file shares.
struct Context<'a> {
    file: &'a Path,
    folder: &'a Path,
    file_name: &'a str,
    text: &'a str,
    test_file: &'a TestFile,
    program: &'a Program,
    mode: SnapshotMode,
}

/// What a replay gave, in the forms the reports write.
struct Results {
    ledger: String,
    rejects: String,
    summary: String,
    /// Member → points type → balance, and member → tier, from the engine.
    members: Vec<MemberState>,
    /// The rules that wrote a ledger row.
    fired: Vec<RuleId>,
}

struct MemberState {
    id: String,
    balances: Vec<(String, rust_decimal::Decimal)>,
    tier: Option<String>,
}

impl<'a> Context<'a> {
    fn run(&self, index: usize, case: &Case) -> Result<CaseReport, FileError> {
        let started = Instant::now();
        let results = self.replay(index, case)?;
        let mut failures = Vec::new();
        expect::balances(case, &results.members, self.program, &mut failures);
        expect::tiers(case, &results.members, self.program, &mut failures);
        expect::ledger(case, &results.ledger, &mut failures);
        expect::rejects(case, &results.rejects, &mut failures);
        let mut written = None;
        if case.snapshot {
            let snapshot_failure = self.snapshot(case, &results, &mut written)?;
            failures.extend(snapshot_failure);
        }
        Ok(CaseReport {
            name: case.name.clone(),
            failures,
            written,
            declined: None,
            fired: results.fired,
            duration: started.elapsed(),
            error: None,
        })
    }

    fn replay(&self, index: usize, case: &Case) -> Result<Results, FileError> {
        let program = self.program;
        let records = self.records(index, case)?;
        let until = case.until.map(|until| until.instant(program.timezone));
        let mut ledger_bytes = Vec::new();
        let ledger = LedgerWriter::new(program, &mut ledger_bytes).map_err(internal)?;
        let options = Options {
            order: if case.stream {
                Order::Stream
            } else {
                Order::Sort
            },
            until,
            strict: false,
        };
        let mut fired = vec![false; program.rules.len()];
        let (engine, outcome) = {
            let mut mark = |rows: &[Entry]| -> std::io::Result<()> {
                for rule in rows.iter().filter_map(|row| row.rule) {
                    if let Some(fired) = fired.get_mut(rule.index()) {
                        *fired = true;
                    }
                }
                Ok(())
            };
            let sinks = Sinks {
                ledger: Some(ledger),
                liability: None,
                tier_mix: None,
                rows: Some(&mut mark),
            };
            let Finished {
                engine,
                outcome,
                sinks,
                ..
            } = Run::new(program, options)
                .replay(records, sinks)
                .map_err(internal)?;
            if let Some(ledger) = sinks.ledger {
                ledger.finish().map_err(internal)?;
            }
            (engine, outcome)
        };
        let now = engine.clock().unwrap_or_default();
        let mut rejects = Vec::new();
        report::write_rejects(&outcome.rejects, &mut rejects).map_err(internal)?;
        let summary = report::summary(&engine, &outcome, now);
        let summary = serde_json::to_string_pretty(&summary).map_err(internal)? + "\n";
        let members = engine
            .members()
            .into_iter()
            .map(|member| MemberState {
                id: member.id.to_string(),
                balances: program
                    .points
                    .iter()
                    .zip(&member.wallets)
                    .map(|(points, wallet)| (points.name.clone(), wallet.balance()))
                    .collect(),
                tier: program
                    .tiers
                    .as_ref()
                    .and_then(|t| t.tiers.get(member.tier()))
                    .map(|t| t.name.clone()),
            })
            .collect();
        Ok(Results {
            ledger: String::from_utf8_lossy(&ledger_bytes).into_owned(),
            rejects: String::from_utf8_lossy(&rejects).into_owned(),
            summary,
            members,
            fired: fired
                .iter()
                .enumerate()
                .filter(|(_, fired)| **fired)
                .map(|(index, _)| RuleId(index))
                .collect(),
        })
    }

    /// The case's records, read and typed by the event readers: from its
    /// event file, or its inline records as JSON Lines, one record a line, so
    /// that a reject's line is the record's place in the list.
    fn records(
        &self,
        index: usize,
        case: &Case,
    ) -> Result<Box<dyn Iterator<Item = Result<Event, Reject>> + 'a>, FileError> {
        match &case.events {
            Events::File(name) => {
                let place = || locate(self.text, Some(index), "events");
                let path = self.folder.join(name);
                let format = Format::from_path(&path).ok_or_else(|| {
                    FileError::new(
                        place(),
                        format!("tests[{index}].events: cannot tell the format of `{name}`: name it .csv, .jsonl or .yaml"),
                    )
                })?;
                let file = std::fs::File::open(&path).map_err(|e| {
                    FileError::new(
                        place(),
                        format!("tests[{index}].events: cannot read `{name}`: {e}"),
                    )
                })?;
                Ok(events::read(
                    self.program,
                    format,
                    BufReader::new(file),
                    name,
                ))
            }
            Events::Inline(records) => {
                let lines = json_lines(records).map_err(internal)?;
                Ok(events::read(
                    self.program,
                    Format::Jsonl,
                    Cursor::new(lines.into_bytes()),
                    INLINE,
                ))
            }
        }
    }

    /// Compares (or stores) the case's snapshot.
    fn snapshot(
        &self,
        case: &Case,
        results: &Results,
        written: &mut Option<Written>,
    ) -> Result<Option<Failure>, FileError> {
        let path = snapshot::path(self.file, &case.name);
        let new = snapshot::Contents {
            test_file: self.file_name,
            case: &case.name,
            program: &self.test_file.program,
            until: case.until.map(|u| match u {
                Until::Day(day) => day.to_string(),
                Until::Instant(t) => t.to_rfc3339(),
            }),
            ledger: &results.ledger,
            rejects: &results.rejects,
            summary: &results.summary,
        }
        .text();
        let cannot = |e: std::io::Error| {
            FileError::new(
                None,
                format!("cannot read or write snapshot `{}`: {e}", path.display()),
            )
        };
        let stored = snapshot::read(&path).map_err(cannot)?;
        let store = match (&stored, self.mode) {
            (Some(stored), _) if *stored == new => return Ok(None),
            (
                None,
                SnapshotMode::Update
                | SnapshotMode::Check {
                    write_missing: true,
                },
            ) => Written::New,
            (Some(_), SnapshotMode::Update) => Written::Updated,
            (None, SnapshotMode::Check { .. }) => {
                let mut diff = Diff::default();
                diff.push(Tag::Heading, "the snapshot this run made:");
                diff.0.extend(Diff::between("", &new, "new snapshot", 1).0);
                return Ok(Some(Failure::Snapshot {
                    path,
                    missing: true,
                    diff,
                    new,
                }));
            }
            (Some(stored), SnapshotMode::Check { .. }) => {
                return Ok(Some(Failure::Snapshot {
                    diff: snapshot::compare(stored, &new),
                    path,
                    missing: false,
                    new,
                }))
            }
        };
        snapshot::write(&path, &new).map_err(cannot)?;
        *written = Some(store);
        Ok(None)
    }
}

/// The `file` of rejects from inline records; their `line` is the record's
/// place in the list, 1 for the first.
pub const INLINE: &str = "inline";

/// Inline records as JSON Lines, every value a JSON string (or null), so
/// the readers type the text as written; a purchase's `items` a list of
/// such objects.
fn json_lines(records: &[Record]) -> serde_json::Result<String> {
    let mut lines = String::new();
    for record in records {
        lines.push_str(&serde_json::to_string(&json_object(record))?);
        lines.push('\n');
    }
    Ok(lines)
}

fn json_object(Record(fields, items): &Record) -> serde_json::Value {
    let mut object: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_ref()
                .map_or(serde_json::Value::Null, |v| v.clone().into());
            (name.clone(), value)
        })
        .collect();
    if let Some(items) = items {
        let items = items.iter().map(json_object).collect();
        object.insert("items".to_string(), serde_json::Value::Array(items));
    }
    serde_json::Value::Object(object)
}

/// A failure writing to memory, which does not happen; reported rather than
/// unwrapped all the same.
fn internal(e: impl std::fmt::Display) -> FileError {
    FileError::new(None, format!("internal error: {e}"))
}

mod expect {
    //! Comparing a replay's results with a case's expectations.

    use super::{Failure, MemberState};
    use crate::check::suggest::closest;
    use crate::compile::Program;
    use crate::testing::diff::{Diff, Tag};
    use crate::testing::model::{self, Case, LEDGER_COLUMNS, REJECT_COLUMNS};
    use chrono::DateTime;

    pub(super) fn balances(
        case: &Case,
        members: &[MemberState],
        program: &Program,
        failures: &mut Vec<Failure>,
    ) {
        let mut diff = Diff::default();
        let mut wrong = false;
        for (id, expected) in &case.expect.balances {
            let member = members.iter().find(|m| m.id == *id);
            for (points, model::Number(want)) in expected {
                let label = format!("{id} {points}");
                let got = match member {
                    None => Err(no_member(id, members)),
                    Some(member) => member
                        .balances
                        .iter()
                        .find(|(name, _)| name == points)
                        .map(|(_, balance)| *balance)
                        .ok_or_else(|| {
                            unknown(
                                "points type",
                                points,
                                program.points.iter().map(|p| p.name.as_str()),
                            )
                        }),
                };
                match got {
                    Ok(got) if got == *want => diff.push(Tag::Same, format!("{label}: {want}")),
                    got => {
                        wrong = true;
                        diff.push(Tag::Expected, format!("{label}: {want}"));
                        diff.push(
                            Tag::Actual,
                            format!("{label}: {}", got.map_or_else(|e| e, |g| g.to_string())),
                        );
                    }
                }
            }
        }
        if wrong {
            failures.push(Failure::Expectation {
                title: "balances differ (- expected, + actual)".to_string(),
                diff,
            });
        }
    }

    pub(super) fn tiers(
        case: &Case,
        members: &[MemberState],
        program: &Program,
        failures: &mut Vec<Failure>,
    ) {
        let mut diff = Diff::default();
        let mut wrong = false;
        let names: Vec<&str> = program
            .tiers
            .iter()
            .flat_map(|t| t.tiers.iter().map(|tier| tier.name.as_str()))
            .collect();
        for (id, want) in &case.expect.tiers {
            let got = match members.iter().find(|m| m.id == *id) {
                None => Err(no_member(id, members)),
                Some(_) if !names.contains(&want.as_str()) => {
                    Err(unknown("tier", want, names.iter().copied()))
                }
                Some(member) => Ok(member.tier.clone().unwrap_or_default()),
            };
            match got {
                Ok(got) if got == *want => diff.push(Tag::Same, format!("{id}: {want}")),
                got => {
                    wrong = true;
                    diff.push(Tag::Expected, format!("{id}: {want}"));
                    diff.push(Tag::Actual, format!("{id}: {}", got.unwrap_or_else(|e| e)));
                }
            }
        }
        if wrong {
            failures.push(Failure::Expectation {
                title: "tiers differ (- expected, + actual)".to_string(),
                diff,
            });
        }
    }

    fn no_member(id: &str, members: &[MemberState]) -> String {
        let ids = members.iter().map(|m| m.id.as_str());
        match closest(id, ids) {
            Some(close) => format!("no member `{id}` (did you mean `{close}`?)"),
            None => format!("no member `{id}` enrolled"),
        }
    }

    fn unknown<'n>(what: &str, name: &str, names: impl Iterator<Item = &'n str>) -> String {
        let names: Vec<&str> = names.collect();
        match closest(name, names.iter().copied()) {
            Some(close) => format!("the program has no {what} `{name}` (did you mean `{close}`?)"),
            None => format!(
                "the program has no {what} `{name}` (it has {})",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub(super) fn ledger(case: &Case, ledger: &str, failures: &mut Vec<Failure>) {
        let wanted: Vec<&[(&str, String)]> =
            case.expect.ledger.iter().map(|r| r.0.as_slice()).collect();
        rows("ledger", &LEDGER_COLUMNS, &wanted, ledger, failures);
    }

    pub(super) fn rejects(case: &Case, rejects: &str, failures: &mut Vec<Failure>) {
        let wanted: Vec<&[(&str, String)]> =
            case.expect.rejects.iter().map(|r| r.0.as_slice()).collect();
        rows("rejects", &REJECT_COLUMNS, &wanted, rejects, failures);
    }

    /// Looks for each wanted row in `csv`, in order: each must match a row
    /// after the one the previous wanted row matched.
    fn rows(
        what: &str,
        columns: &[&str],
        wanted: &[&[(&str, String)]],
        csv: &str,
        failures: &mut Vec<Failure>,
    ) {
        if wanted.is_empty() {
            return;
        }
        let actual = read_csv(csv);
        let mut next = 0;
        for want in wanted {
            let matches = |row: &Vec<String>| {
                want.iter().all(|(column, value)| {
                    cell(columns, row, column).is_some_and(|c| same(column, value, c))
                })
            };
            if let Some(at) = actual.iter().skip(next).position(matches) {
                next += at + 1;
                continue;
            }
            let shown = |row: &Vec<String>| {
                want.iter()
                    .map(|(column, _)| {
                        format!(
                            "{column}={}",
                            cell(columns, row, column).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let expected = want
                .iter()
                .map(|(column, value)| format!("{column}={value}"))
                .collect::<Vec<_>>()
                .join(" ");
            let mut diff = Diff::default();
            diff.push(Tag::Expected, expected);
            let title = if let Some(at) = actual.iter().take(next).position(matches) {
                let row = actual.get(at).map(shown).unwrap_or_default();
                diff.push(
                    Tag::Actual,
                    format!(
                        "{row} ({what}.csv line {}, before the row matched above it)",
                        at + 2
                    ),
                );
                format!("{what} row out of order: it comes before the row matched for the expectation above it")
            } else {
                let score = |row: &Vec<String>| {
                    want.iter()
                        .filter(|(column, value)| {
                            cell(columns, row, column).is_some_and(|c| same(column, value, c))
                        })
                        .count()
                };
                // The closest row: most columns equal, the first on a tie.
                let best = actual
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, row)| (score(row), std::cmp::Reverse(*i)));
                match best {
                    Some((i, row)) if score(row) > 0 => diff.push(
                        Tag::Actual,
                        format!("{} (closest: {what}.csv line {})", shown(row), i + 2),
                    ),
                    _ => diff.push(
                        Tag::Actual,
                        format!("(no {what} row shares a column value)"),
                    ),
                }
                format!("no {what} row matches (- expected, + closest actual)")
            };
            failures.push(Failure::Expectation { title, diff });
        }
    }

    /// The cell of `column` in `row`.
    fn cell<'r>(columns: &[&str], row: &'r [String], column: &str) -> Option<&'r str> {
        let at = columns.iter().position(|c| *c == column)?;
        row.get(at).map(String::as_str)
    }

    /// Whether a cell matches what was expected of it: numbers as numbers,
    /// notes and reasons as a part of the text, times as instants (RFC 3339)
    /// or as the start of the local time (`2025-03-01` is any time that day).
    pub(super) fn same(column: &str, want: &str, got: &str) -> bool {
        let want = want.trim();
        match column {
            "note" | "reason" => got.contains(want),
            "amount" | "balance" | "cost" | "line" => {
                match (model::decimal(want), model::decimal(got)) {
                    (Some(want), Some(got)) => want == got,
                    _ => want == got,
                }
            }
            "time" | "earned" => match (
                DateTime::parse_from_rfc3339(want),
                DateTime::parse_from_rfc3339(got),
            ) {
                (Ok(want), Ok(got)) => want == got,
                _ => got.starts_with(&want.replacen(' ', "T", 1)),
            },
            _ => want == got,
        }
    }

    /// The data rows of a CSV text the reports wrote (header left out).
    fn read_csv(text: &str) -> Vec<Vec<String>> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .filter_map(Result::ok)
            .map(|record| record.iter().map(str::to_owned).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::expect::same;
    use super::*;

    #[test]
    fn a_panic_is_an_error_of_its_own() {
        let error = isolated(|| -> Result<(), FileError> { panic!("boom") }).unwrap_err();
        assert!(
            error.message.contains("loyalty panicked (boom)"),
            "{error:?}"
        );
        let error =
            isolated(|| -> Result<(), FileError> { std::panic::panic_any(format!("boom {}", 2)) })
                .unwrap_err();
        assert!(error.message.contains("(boom 2)"), "{error:?}");
        assert_eq!(isolated(|| Ok(1)), Ok(1));
    }

    #[test]
    fn cells_match_by_their_column_kind() {
        assert!(same("amount", "4.5", "4.50"));
        assert!(!same("amount", "4", "40"));
        assert!(same("cost", "", ""));
        assert!(same("note", "gold", "green → gold (threshold reached)"));
        assert!(same("time", "2025-03-01", "2025-03-01T10:00:00-05:00"));
        assert!(same(
            "time",
            "2025-03-01 10:00",
            "2025-03-01T10:00:00-05:00"
        ));
        assert!(!same(
            "time",
            "2025-03-01 11:00",
            "2025-03-01T10:00:00-05:00"
        ));
        assert!(same(
            "time",
            "2025-03-01T15:00:00Z",
            "2025-03-01T10:00:00-05:00"
        ));
        assert!(!same("kind", "ear", "earn"));
    }

    #[test]
    fn keys_are_found_in_their_case() {
        let text = "# tests\nprogram: p.loyalty\ntests:\n  - name: a\n    events: a.csv\n  - name: b\n    snapshot: true\n    events: b.csv\n";
        assert_eq!(locate(text, None, "program"), Some(2));
        assert_eq!(locate(text, Some(0), "events"), Some(5));
        assert_eq!(locate(text, Some(1), "events"), Some(8));
        assert_eq!(locate(text, Some(1), "until"), Some(6), "the case's line");
        assert_eq!(locate(text, Some(2), "events"), None);
    }

    #[test]
    fn inline_records_become_json_lines_of_text() {
        let records = [Record(
            vec![
                ("id".into(), Some("e1".into())),
                ("amount".into(), Some("4.50".into())),
                ("store".into(), None),
            ],
            None,
        )];
        assert_eq!(
            json_lines(&records).unwrap(),
            "{\"amount\":\"4.50\",\"id\":\"e1\",\"store\":null}\n"
        );
    }
}
