//! The command line describing itself: `loyalty completions SHELL`,
//! `loyalty man [COMMAND]`, and a `--version` that names the commit, from
//! `build.rs`, which falls back to `unknown` without git or a repository.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// `loyalty ARGS`: exit code, stdout, stderr.
fn loyalty(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

const COMMANDS: [&str; 11] = [
    "check",
    "fmt",
    "run",
    "explain",
    "test",
    "diff",
    "simulate",
    "gen",
    "completions",
    "man",
    "serve",
];

#[test]
fn each_shell_gets_a_script_that_knows_the_commands_and_their_options() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, stderr) = loyalty(&["completions", shell]);
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "{shell}");
        for word in COMMANDS.iter().chain(&["detailed-exitcode", "fail-if"]) {
            assert!(script.contains(word), "{shell}: no `{word}` in\n{script}");
        }
    }
    let (code, stdout, stderr) = loyalty(&["completions", "tcsh"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert!(
        stderr.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{stderr}"
    );
}

#[test]
fn bash_completes_a_command_and_an_option() {
    let (_, script, _) = loyalty(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loyalty.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &str| {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _loyalty loyalty \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        Command::new("bash").args(["-c", &line]).output()
    };
    // The script's check, where the machine has bash.
    let Ok(output) = complete("loyalty di") else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&output.stdout), "diff\n");
    let output = complete("loyalty diff --det").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "--detailed-exitcode\n"
    );
}

#[test]
fn the_man_page_is_loyalty_1_and_lists_the_commands() {
    let (code, page, stderr) = loyalty(&["man"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert!(page.contains("\n.TH loyalty 1 "), "{page}");
    assert!(
        page.contains(".SH NAME\nloyalty \\- A rules engine for rewards and tier programs\n"),
        "{page}"
    );
    for command in COMMANDS {
        assert!(
            page.contains(&format!("loyalty\\-{command}(1)")),
            "{command}"
        );
    }
}

#[test]
fn a_command_has_a_page_of_its_own_with_its_options() {
    let (code, page, _) = loyalty(&["man", "diff"]);
    assert_eq!(code, Some(0));
    assert!(page.contains("\n.TH loyalty-diff 1 "), "{page}");
    assert!(
        page.contains(".SH SYNOPSIS\n\\fBloyalty diff\\fR"),
        "{page}"
    );
    assert!(page.contains("\\fB\\-\\-fail\\-if\\fR"), "{page}");

    let (code, stdout, stderr) = loyalty(&["man", "dif"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert_eq!(
        stderr,
        "error: no command `dif`: the commands are `check`, `fmt`, `run`, `explain`, `test`, `diff`, `simulate`, `gen`, `completions`, `man`, `lsp`, `serve`, `help`\n"
    );
}

/// What `git rev-parse --short HEAD` says in the crate's folder, as
/// `build.rs` asks it; `None` without a repository or git.
fn head() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join(".git").exists() {
        return None;
    }
    let output = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    let hash = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !hash.is_empty()).then_some(hash)
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let commit = head().unwrap_or_else(|| "unknown".to_string());
    let expected = format!("loyalty {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let (code, stdout, _) = loyalty(&[flag]);
        assert_eq!((code, stdout.as_str()), (Some(0), expected.as_str()));
    }
    let (_, page, _) = loyalty(&["man"]);
    assert!(page.contains(&format!("(commit {commit})")), "{page}");
}

/// The lines `build.rs` prints, run in `dir` with `path` as `PATH`.
fn build_script(script: &Path, dir: &Path, path: Option<&str>) -> Vec<String> {
    let mut command = Command::new(script);
    command.current_dir(dir);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command.output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_build_script_falls_back_to_unknown_and_watches_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("build-script");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let compiled = Command::new(rustc)
        .args(["--edition", "2021", "-o"])
        .arg(&script)
        .arg(root.join("build.rs"))
        .status();
    // The script's own check, where the machine has a compiler on PATH.
    let Ok(compiled) = compiled else { return };
    assert!(compiled.success());
    let unknown = [
        "cargo:rerun-if-changed=build.rs".to_string(),
        "cargo:rustc-env=LOYALTY_COMMIT=unknown".to_string(),
    ];

    // A tarball: no `.git`.
    let tarball = tempfile::tempdir().unwrap();
    assert_eq!(build_script(&script, tarball.path(), None), unknown);
    // A `.git` that is not a repository.
    std::fs::create_dir(tarball.path().join(".git")).unwrap();
    assert_eq!(build_script(&script, tarball.path(), None), unknown);

    let Some(commit) = head() else { return };
    // No git on PATH.
    assert_eq!(build_script(&script, root, Some("")), unknown);
    // The repository: the commit, and HEAD and its branch watched, each a
    // file that exists.
    let lines = build_script(&script, root, None);
    assert_eq!(
        lines.last().unwrap(),
        &format!("cargo:rustc-env=LOYALTY_COMMIT={commit}")
    );
    let watched: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("cargo:rerun-if-changed="))
        .collect();
    assert!(watched.len() >= 2, "{lines:?}");
    assert!(watched.iter().any(|w| w.ends_with("HEAD")), "{lines:?}");
    for file in watched {
        assert!(root.join(file).exists(), "{file}");
    }
}
