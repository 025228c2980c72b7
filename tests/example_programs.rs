//! The bundled example programs must parse and check without a single
//! error or warning: they are what users copy from. (The programs shown in
//! the README and the docs are tested in `doc_programs.rs`.)

use std::path::Path;

/// The seven programs the README promises in `programs/`.
const EXAMPLES: [&str; 7] = [
    "bean_stars",
    "northwind_miles",
    "meridian_cards",
    "harbor_hotels",
    "cartwheel",
    "sakura_kissa",
    "fuel_stop",
];

/// Every finding on `source`, rendered, so a failure shows what to fix.
fn findings(name: &str, source: &str) -> String {
    loyalty::check_source(source)
        .iter()
        .map(|d| d.render(name, source, false))
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
fn a_broken_program_is_not_reported_clean() {
    // Guards the test above: a syntax error must produce findings.
    assert!(!findings("broken", "program \"X\" { currency }").is_empty());
}
