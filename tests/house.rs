//! The house: every top-level module of `src/` imports only modules below
//! it in the pipeline `diagnostic → syntax → check → compile → events →
//! engine → report/finance → run → simulate/testing/gen → html/lsp/serve →
//! cli`, with the ground-floor `table`, `limits` and `file_error` under everything
//! that uses them. A module not in the list fails the test until it is
//! given its floor.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

/// Each module's floor; a module may import modules of a lower floor, and
/// of its own floor only one way (no circle).
const FLOORS: &[(&str, u32)] = &[
    ("table", 0),
    ("currency", 0),
    ("limits", 0),
    ("diagnostic", 0),
    ("file_error", 0),
    ("syntax", 1),
    ("check", 2),
    ("compile", 3),
    ("events", 4),
    ("engine", 5),
    ("report", 6),
    ("finance", 6),
    ("run", 7),
    ("simulate", 8),
    ("testing", 8),
    ("gen", 8),
    ("html", 9),
    ("lsp", 9),
    ("serve", 9),
    ("cli", 10),
    ("main", 10),
];

/// The text of a module (its file, or every file of its folder), without
/// its unit tests.
fn text_of(src: &Path, module: &str) -> String {
    let file = src.join(format!("{module}.rs"));
    let mut files = Vec::new();
    if file.is_file() {
        files.push(file);
    } else {
        let mut dirs = vec![src.join(module)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            code.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `text` names as `crate::NAME` or `loyalty::NAME`.
fn imports(text: &str, modules: &BTreeMap<String, u32>) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["crate::", "loyalty::"] {
        for (at, _) in text.match_indices(prefix) {
            let name: String = text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if modules.contains_key(&name) && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let floors: BTreeMap<String, u32> = FLOORS.iter().map(|(m, f)| (m.to_string(), *f)).collect();
    let mut modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| name != "lib")
        .collect();
    modules.sort();
    modules.dedup();
    let unknown: Vec<&String> = modules
        .iter()
        .filter(|m| !floors.contains_key(*m))
        .collect();
    assert!(
        unknown.is_empty(),
        "give these modules a floor: {unknown:?}"
    );
    let mut wrong = Vec::new();
    let mut edges = Vec::new();
    for module in &modules {
        let floor = floors[module];
        for import in imports(&text_of(&src, module), &floors) {
            if import == *module {
                continue;
            }
            edges.push((module.clone(), import.clone()));
            if floors[&import] > floor {
                wrong.push(format!("{module} imports {import}, a floor above it"));
            }
        }
    }
    for (a, b) in &edges {
        if a < b && edges.contains(&(b.clone(), a.clone())) {
            wrong.push(format!("{a} and {b} import each other"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    let floors: BTreeMap<String, u32> = FLOORS.iter().map(|(m, f)| (m.to_string(), *f)).collect();
    let found = imports(
        "use crate::engine::Engine;\nlet x = loyalty::cli::run();\ncrate::enginex;",
        &floors,
    );
    assert_eq!(found, ["engine", "cli"]);
}
