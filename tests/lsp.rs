//! `loyalty lsp` spoken to over standard input and output, as an editor
//! does: the handshake, diagnostics on open and after a change (exact
//! ranges), formatting, the outline, hover, definition, references, rename,
//! and a clean shutdown.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

struct Editor {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: u64,
}

impl Editor {
    fn start() -> Editor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Editor {
            child,
            input,
            output,
            next_id: 1,
        }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.input.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.output.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.output.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (notifications that come
    /// first are passed over).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    /// The next diagnostics published.
    fn diagnostics(&mut self) -> Vec<Value> {
        loop {
            let message = self.receive();
            if message["method"] == "textDocument/publishDiagnostics" {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

const URI: &str = "file:///work/cafe.loyalty";

const PROGRAM: &str = r#"program "Cafe" {
  currency USD
  timezone "UTC"
}

points stars

tiers by stars earned over calendar year {
  tier green from 0
  tier gold from 100
}

rule base {
  on purchase
  earn 1 stars per 1 USD of amount
}

rule gold_bonus {
  on purchase where tier = gold
  earn 10% of base
}
"#;

fn position(line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": character}})
}

fn range(line: u32, start: u32, end: u32) -> Value {
    json!({"start": {"line": line, "character": start}, "end": {"line": line, "character": end}})
}

#[test]
fn an_editor_gets_diagnostics_formatting_navigation_and_rename() {
    let mut editor = Editor::start();
    let init = editor.request("initialize", json!({"capabilities": {}}));
    let capabilities = &init["result"]["capabilities"];
    assert_eq!(capabilities["textDocumentSync"], 1, "{init}");
    assert_eq!(capabilities["renameProvider"], true);
    editor.notify("initialized", json!({}));

    // Two mistakes: an unknown points type and an unknown tier (which also
    // leaves gold unreachable).
    let bad = PROGRAM
        .replace("earn 1 stars per", "earn 1 starz per")
        .replace("tier = gold", "tier = glod");
    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "loyalty", "version": 1, "text": bad}}),
    );
    let diagnostics = editor.diagnostics();
    let found: Vec<(String, Value, String)> = diagnostics
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["range"].clone(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(found.len(), 3, "{diagnostics:?}");
    assert_eq!(found[0].0, "unreachable-tier");
    assert_eq!(found[0].1, range(9, 7, 11));
    assert_eq!(found[1].0, "unknown-name");
    assert_eq!(found[1].1, range(14, 9, 14));
    assert_eq!(
        found[1].2,
        "unknown points type `starz`\nhelp: did you mean `stars`?"
    );
    assert_eq!(found[2].1, range(18, 27, 31));
    assert!(diagnostics
        .iter()
        .all(|d| d["severity"] == 1 && d["source"] == "loyalty"));

    // Each "did you mean" is a quick fix.
    let actions = editor.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": range(14, 10, 10), "context": {"diagnostics": []}}),
    );
    let actions = actions["result"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["title"], "replace `starz` with `stars`");
    assert_eq!(
        actions[0]["edit"]["changes"][URI],
        json!([{"range": range(14, 9, 14), "newText": "stars"}])
    );

    // Fixing the points type leaves the tier.
    let better = PROGRAM.replace("tier = gold", "tier = glod");
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": better}]}),
    );
    let diagnostics = editor.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0]["message"],
        "unknown tier `glod`\nhelp: did you mean `gold`?"
    );

    // Formatting: the fmt printer's text, as one edit of the whole file.
    let messy = PROGRAM.replace(
        "rule base {\n  on purchase",
        "rule base {\n      on purchase   ",
    );
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": messy}]}),
    );
    assert_eq!(editor.diagnostics(), Vec::<Value>::new());
    let formatted = editor.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = formatted["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{formatted}");
    assert_eq!(
        edits[0]["newText"].as_str().unwrap(),
        loyalty::syntax::format(&messy).unwrap()
    );
    assert_eq!(
        edits[0]["range"]["start"],
        json!({"line": 0, "character": 0})
    );
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 4}, "contentChanges": [{"text": PROGRAM}]}),
    );
    editor.diagnostics();

    // The outline: the blocks, the tiers inside theirs.
    let symbols = editor.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let names: Vec<&str> = symbols["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cafe", "stars", "tiers", "base", "gold_bonus"]);
    let tiers: Vec<&str> = symbols["result"][2]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["green", "gold"]);

    // Definition of `gold` from its use in the rule (line 18), and of
    // `base` from the share (line 19): where each is declared.
    let definition = editor.request("textDocument/definition", position(18, 29));
    assert_eq!(
        definition["result"],
        json!([{"uri": URI, "range": range(9, 7, 11)}])
    );
    let definition = editor.request("textDocument/definition", position(19, 15));
    assert_eq!(definition["result"][0]["range"], range(12, 5, 9));
    // A keyword names nothing.
    let nothing = editor.request("textDocument/definition", position(14, 3));
    assert_eq!(nothing["result"], Value::Null);

    // References to `stars`: its declaration, the tiers' measure, the rule.
    let mut at = position(5, 8);
    at["context"] = json!({"includeDeclaration": true});
    let references = editor.request("textDocument/references", at.clone());
    let lines: Vec<u64> = references["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [5, 7, 14]);
    at["context"] = json!({"includeDeclaration": false});
    let references = editor.request("textDocument/references", at);
    assert_eq!(references["result"].as_array().unwrap().len(), 2);

    // Hover over a use of `stars`: what it is, and its declaration.
    let hover = editor.request("textDocument/hover", position(14, 10));
    let shown = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(shown.starts_with("**points type** `stars`"), "{shown}");
    assert!(shown.contains("points stars"), "{shown}");

    // A built-in field: its event and type.
    let hover = editor.request("textDocument/hover", position(14, 30));
    assert_eq!(
        hover["result"]["contents"]["value"],
        "**field** `amount` of the built-in event `purchase`: money"
    );

    // Rename `base` everywhere; a name that is not one is refused.
    let mut rename = position(12, 6);
    rename["newName"] = json!("everyday");
    let renamed = editor.request("textDocument/rename", rename.clone());
    let edits = renamed["result"]["changes"][URI].as_array().unwrap();
    let places: Vec<Value> = edits.iter().map(|e| e["range"].clone()).collect();
    assert_eq!(places, [range(12, 5, 9), range(19, 14, 18)]);
    assert!(edits.iter().all(|e| e["newText"] == "everyday"));
    rename["newName"] = json!("Every Day");
    let refused = editor.request("textDocument/rename", rename);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not a name"),
        "{refused}"
    );

    // Completion at three places: a rule's statements at the start of a
    // line, tiers after `tier =`, points types after `earn 1`.
    let labels = |editor: &mut Editor, line, character| -> Vec<String> {
        let offered = editor.request("textDocument/completion", position(line, character));
        offered["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["label"].as_str().unwrap().to_string())
            .collect()
    };
    let statements = labels(&mut editor, 14, 2);
    assert!(
        statements.len() >= 10 && statements.contains(&"earn".to_string()),
        "{statements:?}"
    );
    assert!(!statements.contains(&"tier".to_string()), "{statements:?}");
    assert_eq!(labels(&mut editor, 18, 27), ["green", "gold"]);
    assert_eq!(labels(&mut editor, 14, 9), ["stars"]);
    assert_eq!(
        labels(&mut editor, 18, 29),
        ["gold"],
        "`go` typed: only gold"
    );

    let shutdown = editor.request("shutdown", Value::Null);
    assert_eq!(shutdown["result"], Value::Null);
    editor.notify("exit", Value::Null);
    let status = editor.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Every word of the grammar (`grammar/loyalty.pest`) is highlighted by the
/// editors' TextMate grammar, so a statement added to the language cannot
/// be left plain; and the VS Code extension names that grammar.
#[test]
fn the_textmate_grammar_highlights_every_word_of_the_language() {
    let pest = include_str!("../grammar/loyalty.pest");
    let textmate: Value = serde_json::from_str(include_str!(
        "../editors/vscode/syntaxes/loyalty.tmLanguage.json"
    ))
    .unwrap();
    let patterns: Vec<regex::Regex> = textmate["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["match"].as_str())
        .map(|m| regex::Regex::new(m).unwrap())
        .collect();
    let mut words: Vec<&str> = pest
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    words.sort_unstable();
    words.dedup();
    assert!(words.len() > 100, "{words:?}");
    let plain: Vec<&&str> = words
        .iter()
        .filter(|w| {
            !patterns
                .iter()
                .any(|p| p.find(w).is_some_and(|m| m.as_str() == **w))
        })
        .collect();
    assert!(plain.is_empty(), "not highlighted: {plain:?}");
    let manifest: Value =
        serde_json::from_str(include_str!("../editors/vscode/package.json")).unwrap();
    assert_eq!(
        manifest["contributes"]["grammars"][0]["scopeName"],
        textmate["scopeName"]
    );
}
