//! The bundled example programs, and the complete programs shown in the
//! README and the language reference, must parse and check without a single
//! error or warning: they are what users copy from.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

/// The five programs the README promises in `programs/`.
const EXAMPLES: [&str; 5] = [
    "bean_stars",
    "northwind_miles",
    "meridian_cards",
    "harbor_hotels",
    "cartwheel",
];

/// Every finding on `source`, rendered, so a failure shows what to fix.
fn findings(name: &str, source: &str) -> String {
    loyalty::check_source(source)
        .iter()
        .map(|d| d.render(name, source, false))
        .collect()
}

/// The ```loyalty blocks of a Markdown file that are whole programs.
fn complete_programs(markdown: &str) -> Vec<&str> {
    markdown
        .split("```loyalty\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .filter(|block| block.contains("program \""))
        .collect()
}

#[test]
fn every_example_program_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in EXAMPLES {
        let path = root.join("programs").join(format!("{name}.loyalty"));
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let found = findings(&path.display().to_string(), &source);
        assert!(found.is_empty(), "{name}.loyalty:\n{found}");
    }
}

#[test]
fn no_example_program_is_left_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("programs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "loyalty"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn programs_in_the_documentation_check_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "docs/language.md"] {
        let markdown = std::fs::read_to_string(root.join(doc)).unwrap();
        let programs = complete_programs(&markdown);
        assert!(!programs.is_empty(), "{doc} shows no complete program");
        for (i, source) in programs.iter().enumerate() {
            let found = findings(&format!("{doc}, program {}", i + 1), source);
            assert!(found.is_empty(), "{doc}, program {}:\n{found}", i + 1);
        }
    }
}

#[test]
fn a_broken_program_is_not_reported_clean() {
    // Guards the tests above: a syntax error must produce findings.
    assert!(!findings("broken", "program \"X\" { currency }").is_empty());
}
