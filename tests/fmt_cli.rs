//! `loyalty fmt` as a user runs it: folders searched for `*.loyalty` files
//! in path order, `--check` and `--diff` printing the unified diff without
//! writing, files rewritten in place keeping their permissions and links,
//! and files that cannot be read named without stopping the others.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

const MESSY: &str = "program \"T\" {currency EUR timezone \"Europe/Paris\"}\n";
const TIDY: &str = "program \"T\" {\n  currency EUR\n  timezone \"Europe/Paris\"\n}\n";
const MESSY_POINTS: &str = "program \"P\" {currency EUR timezone \"Europe/Paris\"}\n\
                            points stars { value 0.01 EUR }\n";
const TIDY_POINTS: &str = "program \"P\" {\n  currency EUR\n  timezone \"Europe/Paris\"\n}\n\n\
                           points stars {\n  value 0.01 EUR\n}\n";

/// `loyalty fmt ARGS` run in `dir`, with `stdin` on its standard input.
fn fmt(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::loyalty_in(dir, &[&["fmt"], args].concat(), stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder of programs: two messy ones nested (`z/deep/a.loyalty` and
/// `b.loyalty`), a tidy one, a messy one in a hidden folder, one under
/// `target/`, and a text file that is not a program.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("programs/z/deep/a.loyalty", MESSY_POINTS);
    write("programs/b.loyalty", MESSY);
    write("programs/tidy.loyalty", TIDY);
    write("programs/.hidden/c.loyalty", MESSY);
    write("programs/target/d.loyalty", MESSY);
    write("programs/notes.txt", MESSY);
    dir
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

/// What `--check` and `--diff` print for the tree: the messy programs in
/// path order, each diff's headers naming the file.
const TREE_DIFF: &str = "\
--- programs/b.loyalty
+++ programs/b.loyalty
@@ -1 +1,4 @@
-program \"T\" {currency EUR timezone \"Europe/Paris\"}
+program \"T\" {
+  currency EUR
+  timezone \"Europe/Paris\"
+}
--- programs/z/deep/a.loyalty
+++ programs/z/deep/a.loyalty
@@ -1,2 +1,8 @@
-program \"P\" {currency EUR timezone \"Europe/Paris\"}
-points stars { value 0.01 EUR }
+program \"P\" {
+  currency EUR
+  timezone \"Europe/Paris\"
+}
+
+points stars {
+  value 0.01 EUR
+}
";

#[test]
fn check_prints_the_diff_of_a_folder_and_fails_without_writing() {
    let dir = tree();
    let output = fmt(dir.path(), &["--check", "programs"], "");
    assert_eq!(text(&output.stdout), TREE_DIFF);
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(read(dir.path(), "programs/b.loyalty"), MESSY);
    assert_eq!(read(dir.path(), "programs/z/deep/a.loyalty"), MESSY_POINTS);
}

#[test]
fn diff_prints_the_diff_and_succeeds_without_writing() {
    let dir = tree();
    let output = fmt(dir.path(), &["--diff", "programs"], "");
    assert_eq!(text(&output.stdout), TREE_DIFF);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(read(dir.path(), "programs/b.loyalty"), MESSY);
}

#[test]
fn the_diff_applies_with_patch() {
    let dir = tree();
    let output = fmt(dir.path(), &["--diff", "programs"], "");
    let patch = Command::new("patch")
        .args(["-p0", "--quiet"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .spawn();
    // `patch` is a check of the format, where the machine has it.
    let Ok(mut patch) = patch else { return };
    std::io::Write::write_all(&mut patch.stdin.take().unwrap(), &output.stdout).unwrap();
    assert!(patch.wait().unwrap().success());
    assert_eq!(read(dir.path(), "programs/b.loyalty"), TIDY);
    assert_eq!(read(dir.path(), "programs/z/deep/a.loyalty"), TIDY_POINTS);
}

#[test]
fn a_folder_is_formatted_in_place_in_path_order_and_then_passes_check() {
    let dir = tree();
    let output = fmt(dir.path(), &["programs"], "");
    assert_eq!(
        text(&output.stdout),
        "formatted: programs/b.loyalty\nformatted: programs/z/deep/a.loyalty\n"
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(read(dir.path(), "programs/b.loyalty"), TIDY);
    assert_eq!(read(dir.path(), "programs/z/deep/a.loyalty"), TIDY_POINTS);
    // Hidden folders, `target/` and other files are left alone.
    assert_eq!(read(dir.path(), "programs/.hidden/c.loyalty"), MESSY);
    assert_eq!(read(dir.path(), "programs/target/d.loyalty"), MESSY);
    assert_eq!(read(dir.path(), "programs/notes.txt"), MESSY);
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("programs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".hidden",
            "b.loyalty",
            "notes.txt",
            "target",
            "tidy.loyalty",
            "z"
        ]
    );

    let again = fmt(dir.path(), &["--check", "programs"], "");
    assert_eq!(text(&again.stdout), "");
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn a_file_given_by_name_is_formatted_whatever_its_name_and_once() {
    let dir = tree();
    let output = fmt(
        dir.path(),
        &[
            "--check",
            "programs/notes.txt",
            "programs/b.loyalty",
            "programs",
        ],
        "",
    );
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("--- programs/notes.txt\n"), "{stdout}");
    assert_eq!(stdout.matches("--- programs/b.loyalty\n").count(), 1);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn standard_input_is_printed_formatted_or_diffed() {
    let dir = tempfile::tempdir().unwrap();
    let output = fmt(dir.path(), &["-"], MESSY);
    assert_eq!(text(&output.stdout), TIDY);
    assert_eq!(output.status.code(), Some(0));

    let output = fmt(dir.path(), &["--check", "-"], MESSY);
    assert!(
        text(&output.stdout).starts_with("--- <stdin>\n+++ <stdin>\n@@ -1 +1,4 @@\n"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(output.status.code(), Some(1));

    let output = fmt(dir.path(), &["--check", "-"], TIDY);
    assert_eq!(text(&output.stdout), "");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn unreadable_paths_are_named_after_the_others_are_formatted() {
    let dir = tree();
    std::fs::write(dir.path().join("programs/latin1.loyalty"), b"# caf\xe9\n").unwrap();
    let output = fmt(dir.path(), &["missing", "programs", "missing.loyalty"], "");
    let stderr = text(&output.stderr);
    let not_found = std::fs::File::open("/no/such/file")
        .unwrap_err()
        .to_string();
    assert_eq!(
        stderr,
        format!(
            "error: cannot read `missing`: {not_found}\n\
             error: cannot read `programs/latin1.loyalty`: stream did not contain valid UTF-8\n\
             error: cannot read `missing.loyalty`: {not_found}\n"
        )
    );
    assert_eq!(output.status.code(), Some(2));
    // The readable programs were formatted all the same.
    assert_eq!(read(dir.path(), "programs/b.loyalty"), TIDY);
    assert_eq!(read(dir.path(), "programs/z/deep/a.loyalty"), TIDY_POINTS);
}

#[test]
fn a_syntax_error_is_reported_on_stderr_and_the_file_left_alone() {
    let dir = tree();
    std::fs::write(dir.path().join("programs/broken.loyalty"), "program {\n").unwrap();
    let output = fmt(dir.path(), &["programs"], "");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("programs/broken.loyalty:1:9"), "{stderr}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(read(dir.path(), "programs/broken.loyalty"), "program {\n");
    assert_eq!(read(dir.path(), "programs/b.loyalty"), TIDY);
}

#[cfg(unix)]
#[test]
fn rewriting_keeps_the_permissions_and_the_symbolic_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree();
    let b = dir.path().join("programs/b.loyalty");
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("z/deep/a.loyalty", dir.path().join("programs/link.loyalty"))
        .unwrap();
    let output = fmt(
        dir.path(),
        &["programs/b.loyalty", "programs/link.loyalty"],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let link = dir.path().join("programs/link.loyalty");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(dir.path(), "programs/z/deep/a.loyalty"), TIDY_POINTS);
}
