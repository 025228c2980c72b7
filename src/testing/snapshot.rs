//! Snapshots: a case's whole result as readable text in a file beside its
//! test file, `<stem>.snapshots/<case>.snap`. A short header says what
//! made it; then come `ledger.csv`, `rejects.csv` and `summary.json`
//! exactly as `loyalty run` writes them. Nothing in it depends on the
//! machine or the moment (no absolute paths, no run times), so a snapshot
//! changes only when the results do, and its diff in a pull request is the
//! rule change's effect.

use super::diff::{Diff, Tag};
use crate::report::output::AtomicFile;
use std::path::{Path, PathBuf};

/// The line that starts each part of a snapshot, before the part's name.
const PART: &str = "=== ";

/// The first line of every snapshot.
const TITLE: &str = "# loyalty test snapshot: written by `loyalty test`, reviewed in pull requests";

/// What a snapshot holds.
pub struct Contents<'a> {
    /// The test file's name, without its folder.
    pub test_file: &'a str,
    pub case: &'a str,
    /// The program's path as the test file gives it.
    pub program: &'a str,
    /// `until` as written, if given.
    pub until: Option<String>,
    pub ledger: &'a str,
    pub rejects: &'a str,
    pub summary: &'a str,
}

impl Contents<'_> {
    pub fn text(&self) -> String {
        let mut text = format!(
            "{TITLE}\n# file: {}\n# test: {}\n# program: {}\n",
            self.test_file, self.case, self.program
        );
        if let Some(until) = &self.until {
            text.push_str(&format!("# until: {until}\n"));
        }
        for (name, part) in [
            ("ledger.csv", self.ledger),
            ("rejects.csv", self.rejects),
            ("summary.json", self.summary),
        ] {
            text.push_str(&format!("\n{PART}{name}\n{part}"));
            if !part.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }
}

/// Where the snapshot of `case` in `test_file` is kept.
pub fn path(test_file: &Path, case: &str) -> PathBuf {
    folder(test_file).join(format!("{}.snap", slug(case)))
}

/// The folder of `test_file`'s snapshots: `<stem>.snapshots` beside it.
pub fn folder(test_file: &Path) -> PathBuf {
    let name = test_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = [".test.yaml", ".test.yml", ".yaml", ".yml"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(&name);
    test_file.with_file_name(format!("{stem}{FOLDER}"))
}

/// How the name of a folder of snapshots ends.
pub const FOLDER: &str = ".snapshots";

/// A case's name as a file name: lowercase letters, digits and `_`.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_');
    if slug.is_empty() {
        "test".to_string()
    } else {
        slug.to_string()
    }
}

/// The stored snapshot, if there is one. Line ends are read as `\n`
/// whatever a checkout made of them.
pub fn read(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.replace("\r\n", "\n"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores a snapshot, creating its folder: written whole under a
/// temporary name, then renamed into place, so a failure never leaves half
/// a snapshot.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    AtomicFile::replace(path, text.as_bytes()).map_err(std::io::Error::other)
}

/// The difference between a stored snapshot and a new one, part by part:
/// for each part that changed, a heading that counts the rows (or lines)
/// removed and added, then the changed lines with their place.
pub fn compare(stored: &str, new: &str) -> Diff {
    let old_parts = parts(stored);
    let new_parts = parts(new);
    let mut names: Vec<&str> = new_parts.iter().map(|(name, _)| *name).collect();
    for (name, _) in &old_parts {
        if !names.contains(name) {
            names.push(name);
        }
    }
    let mut diff = Diff::default();
    for name in names {
        let find = |parts: &[(&str, String)]| {
            parts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.clone())
                .unwrap_or_default()
        };
        let (old, new) = (find(&old_parts), find(&new_parts));
        if old == new {
            continue;
        }
        let changes = Diff::between(&old, &new, name, 1);
        let (removed, added) = changes.counts();
        let unit = if name.ends_with(".csv") {
            "row"
        } else {
            "line"
        };
        diff.push(
            Tag::Heading,
            format!(
                "{name}: {} removed, {} added",
                crate::diagnostic::plural(removed, unit),
                crate::diagnostic::plural(added, unit)
            ),
        );
        diff.0.extend(changes.0);
    }
    diff
}

/// A snapshot cut into its parts: the header (named `header`), then each
/// `=== name` part without its blank separator line.
fn parts(text: &str) -> Vec<(&str, String)> {
    let mut parts: Vec<(&str, String)> = vec![("header", String::new())];
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix(PART) {
            parts.push((name.trim_end(), String::new()));
        } else if let Some((_, part)) = parts.last_mut() {
            part.push_str(line);
        }
    }
    // The blank line before each `===` belongs to the layout, not the part.
    let last = parts.len().saturating_sub(1);
    for (i, (_, part)) in parts.iter_mut().enumerate() {
        if i < last && part.ends_with("\n\n") {
            part.pop();
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<'a>(ledger: &'a str, summary: &'a str) -> Contents<'a> {
        Contents {
            test_file: "shop.test.yaml",
            case: "Returns, partial",
            program: "shop.loyalty",
            until: Some("2025-12-31".into()),
            ledger,
            rejects: "file,line,id,member,reason\n",
            summary,
        }
    }

    #[test]
    fn snapshots_live_beside_the_test_file_named_after_the_case() {
        assert_eq!(
            path(Path::new("programs/shop.test.yaml"), "Returns, partial"),
            Path::new("programs/shop.snapshots/returns_partial.snap")
        );
        assert_eq!(slug("  Gold & up: 2×  "), "gold_up_2");
        assert_eq!(slug("!!!"), "test");
    }

    #[test]
    fn the_text_has_a_header_and_three_parts() {
        let text = contents("kind,member\nearn,ann\n", "{}").text();
        assert_eq!(
            text,
            format!(
                "{TITLE}\n# file: shop.test.yaml\n# test: Returns, partial\n# program: shop.loyalty\n# until: 2025-12-31\n\
                 \n=== ledger.csv\nkind,member\nearn,ann\n\
                 \n=== rejects.csv\nfile,line,id,member,reason\n\
                 \n=== summary.json\n{{}}\n"
            )
        );
        let names: Vec<&str> = parts(&text).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["header", "ledger.csv", "rejects.csv", "summary.json"]
        );
    }

    #[test]
    fn a_changed_row_is_named_in_its_part() {
        let old = contents("kind,member,amount\nearn,ann,4\nearn,bob,6\n", "{}").text();
        let new = contents("kind,member,amount\nearn,ann,5\nearn,bob,6\n", "{}").text();
        let diff = compare(&old, &new);
        assert_eq!(
            diff.render(0, false),
            "ledger.csv: 1 row removed, 1 row added\n\
             @@ ledger.csv line 1 @@\n  kind,member,amount\n- earn,ann,4\n+ earn,ann,5\n  earn,bob,6\n"
        );
        assert!(compare(&old, &old).0.is_empty());
    }

    #[test]
    fn written_snapshots_read_back_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snapshots").join("b.snap");
        assert_eq!(read(&path).unwrap(), None);
        write(&path, "x\r\ny\n").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some("x\ny\n"));
    }
}
