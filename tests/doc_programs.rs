//! Every `loyalty` code block in `README.md` and `docs/*.md` is what users
//! copy from, so each one is tested, and none is skipped:
//!
//! - a block fenced ` ```loyalty ` is a whole program: it must check
//!   without a single error or warning;
//! - a block fenced ` ```loyalty fragment ` shows part of a program (a rule,
//!   a points type, a `tiers` block) without the declarations it refers to:
//!   it must parse;
//! - either must already be in the layout `loyalty fmt` prints.
//!
//! A fence with any other info string starting with `loyalty` is reported,
//! so a block cannot drop out of the test by a typo in its fence.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use std::path::Path;

/// What a block's fence says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Program,
    Fragment,
}

/// One `loyalty` block of a Markdown file.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    /// The 1-based line of its opening fence.
    line: usize,
    /// `Err` with the info string when the fence names no kind this test knows.
    kind: Result<Kind, String>,
    /// Its lines, without the fence's indentation, each ending in a newline.
    text: String,
}

/// The `loyalty` blocks of a Markdown text, fenced with backticks, at any
/// indentation (as in a list item).
fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(usize, &str, Block)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let indent = line.len() - trimmed.len();
                    let kind = match info.trim() {
                        "loyalty" => Ok(Kind::Program),
                        "loyalty fragment" => Ok(Kind::Fragment),
                        other => Err(other.to_string()),
                    };
                    let text = String::new();
                    open = Some((
                        indent,
                        info.trim(),
                        Block {
                            line: i + 1,
                            kind,
                            text,
                        },
                    ));
                }
            }
            Some((indent, info, mut block)) => {
                if trimmed.starts_with("```") && trimmed.trim_end().trim_matches('`').is_empty() {
                    if info.split_whitespace().next() == Some("loyalty") {
                        found.push(block);
                    }
                } else {
                    let at = line.len() - line.trim_start().len();
                    block.text.push_str(&line[indent.min(at)..]);
                    block.text.push('\n');
                    open = Some((indent, info, block));
                }
            }
        }
    }
    found
}

/// `README.md` and every Markdown file in `docs/`, as paths from the crate root.
fn documents() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    docs.insert(0, "README.md".to_string());
    docs
}

/// What is wrong with one block, if anything.
fn problem(block: &Block) -> Option<String> {
    let source = &block.text;
    let kind = match &block.kind {
        Ok(kind) => *kind,
        Err(info) => {
            return Some(format!(
                "the fence says `{info}`: write `loyalty` for a whole program or \
                 `loyalty fragment` for part of one"
            ))
        }
    };
    let formatted = match loyalty::syntax::format(source) {
        Ok(formatted) => formatted,
        Err(diagnostic) => return Some(diagnostic.render("block", source, false)),
    };
    if kind == Kind::Program {
        let found: String = loyalty::check_source(source)
            .iter()
            .map(|d| d.render("block", source, false))
            .collect();
        if !found.is_empty() {
            return Some(found);
        }
    }
    (formatted != *source).then(|| {
        let diff = similar::TextDiff::from_lines(source.as_str(), formatted.as_str());
        format!(
            "not formatted as `loyalty fmt` prints it (- the doc, + fmt):\n{}",
            diff.unified_diff()
        )
    })
}

#[test]
fn every_loyalty_block_in_the_docs_checks_and_is_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    let mut programs = 0;
    let mut fragments = 0;
    for doc in documents() {
        let markdown = std::fs::read_to_string(root.join(&doc)).unwrap();
        for block in blocks(&markdown) {
            match block.kind {
                Ok(Kind::Program) => programs += 1,
                Ok(Kind::Fragment) => fragments += 1,
                Err(_) => {}
            }
            if let Some(problem) = problem(&block) {
                problems.push(format!("{doc}:{}: {problem}", block.line));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} doc blocks fail:\n\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The README and the language reference each show a whole program.
    assert!(programs >= 2, "only {programs} whole programs in the docs");
    assert!(fragments >= 10, "only {fragments} fragments in the docs");
}

#[test]
fn blocks_are_found_by_their_fences() {
    let markdown = "\
text
```loyalty
program \"X\" {
}
```
```sh
loyalty check x.loyalty
```
1. In a list:

   ```loyalty fragment
   points stars

   rule base {
   }
   ```
```loyalty fragmnet
rule x {}
```
";
    let text = |s: &str| s.to_string();
    assert_eq!(
        blocks(markdown),
        [
            Block {
                line: 2,
                kind: Ok(Kind::Program),
                text: text("program \"X\" {\n}\n"),
            },
            Block {
                line: 11,
                kind: Ok(Kind::Fragment),
                text: text("points stars\n\nrule base {\n}\n"),
            },
            Block {
                line: 17,
                kind: Err(text("loyalty fragmnet")),
                text: text("rule x {}\n"),
            },
        ]
    );
}

#[test]
fn a_bad_block_is_a_problem() {
    let block = |kind, text: &str| Block {
        line: 1,
        kind,
        text: text.to_string(),
    };
    // A fragment only has to parse; a program has to check.
    let rule = "rule base {\n  on purchase\n  earn 1 stars\n}\n";
    assert_eq!(problem(&block(Ok(Kind::Fragment), rule)), None);
    assert!(problem(&block(Ok(Kind::Program), rule)).is_some());
    let syntax = "rule base {\n  on purchase\n  earn\n}\n";
    assert!(problem(&block(Ok(Kind::Fragment), syntax)).is_some());
    let layout = "rule base { on purchase\n  earn 1 stars\n}\n";
    let found = problem(&block(Ok(Kind::Fragment), layout)).unwrap();
    assert!(found.starts_with("not formatted"), "{found}");
    assert!(problem(&block(Err("loyalty-ish".into()), rule)).is_some());
}
