//! Build script: gives the crate `LOYALTY_COMMIT`, the short hash of the
//! git commit it is built from, for `loyalty --version`; `unknown` when
//! git or the repository is absent (a build from a tarball).
//!
//! It runs again only when the commit can have changed: when `.git/HEAD`
//! or the branch it points to moves. Without a repository it runs again
//! only when it changes itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = if Path::new(".git").exists() {
        watch_head();
        git(&["rev-parse", "--short", "HEAD"])
    } else {
        None
    };
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LOYALTY_COMMIT={commit}");
}

/// What `git ARGS` prints, trimmed; `None` if git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// Asks cargo to run the script again when HEAD, or the branch it points
/// to, moves. Git finds the files (a worktree's HEAD is in its own folder,
/// its branches in the main repository's); only files that exist are
/// named, as cargo runs a script again on every build while a file it
/// watches is missing. A branch packed into `packed-refs` is watched there,
/// with the folder its loose ref would be written to.
fn watch_head() {
    let watch = |path: &Path| {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    };
    let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) else {
        return;
    };
    watch(Path::new(&head));
    // `None` for a detached HEAD, which names its commit itself.
    let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) else {
        return;
    };
    let Some(loose) = git(&["rev-parse", "--git-path", &branch]).map(PathBuf::from) else {
        return;
    };
    if loose.exists() {
        watch(&loose);
    } else {
        if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
            watch(Path::new(&packed));
        }
        if let Some(folder) = loose.parent() {
            watch(folder);
        }
    }
}
