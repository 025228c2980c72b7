//! The formatter's contract on real programs: every example program under
//! `programs/` is already formatted, and a deliberately messy one formats to
//! the reviewed snapshot.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::panic)]

use loyalty::syntax::{format, parse, parse_with_comments};
use std::path::{Path, PathBuf};

fn comment_texts(source: &str) -> Vec<String> {
    let (_, comments) = parse_with_comments(source).unwrap();
    comments.into_iter().map(|c| c.text).collect()
}

/// Idempotence, the round trip and the comments, for one program's text.
fn assert_contract(name: &str, source: &str) -> String {
    let formatted = format(source).unwrap_or_else(|e| panic!("{name}: {}", e.message));
    assert_eq!(
        format(&formatted).unwrap(),
        formatted,
        "{name}: formatting twice changes it"
    );
    assert_eq!(
        parse(&formatted).unwrap(),
        parse(source).unwrap(),
        "{name}: the program changed"
    );
    assert_eq!(
        comment_texts(&formatted),
        comment_texts(source),
        "{name}: comments changed"
    );
    formatted
}

/// The example programs, read at run time: the directory may be empty or
/// missing while they are being written.
fn example_programs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "loyalty"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn example_programs_are_formatted() {
    for path in example_programs() {
        let name = path.display().to_string();
        let source = std::fs::read_to_string(&path).unwrap();
        let formatted = assert_contract(&name, &source);
        assert!(
            formatted == source,
            "{name} is not formatted: run `loyalty fmt {name}`\n--- formatted:\n{formatted}"
        );
    }
}

#[test]
fn a_messy_program_formats_to_the_snapshot() {
    let source = include_str!("fmt/messy.loyalty");
    insta::assert_snapshot!("messy", assert_contract("messy.loyalty", source));
}
