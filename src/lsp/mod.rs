//! `loyalty lsp`: a language server for `.loyalty` files, over standard
//! input and output (`lsp-server`, rust-analyzer's synchronous transport:
//! one thread answering in order, which a checker that takes milliseconds
//! per file does not need more than; `lsp-types` for the messages).
//!
//! It keeps each open file's text (whole-text sync) and answers from it:
//! diagnostics (every one `loyalty check` gives, published on open and on
//! every change, with their help, and a quick fix for each "did you mean"),
//! formatting (the `fmt` printer, whole file), completion (what fits the
//! place: a block's statements, tiers after `tier =`, points types after
//! `earn N`, fields after `where`), the outline of blocks, hover (what a
//! name is, and its declaration), go to definition, find references and
//! rename of every declared name (see `analysis` for how uses are found).

pub mod analysis;

use crate::diagnostic::{Diagnostic, Severity, Span};
use analysis::{Declaration, Kind, Lines};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as types;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the editor's connection failed: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("the editor's connection closed: {0}")]
    Closed(String),
    #[error("a message could not be read or written: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the connection's threads failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the editor on standard input and output until it says `exit`.
pub fn serve_stdio() -> Result<(), Error> {
    let (connection, threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    threads.join()?;
    Ok(())
}

/// What the server can do, as `initialize` answers.
fn capabilities() -> types::ServerCapabilities {
    types::ServerCapabilities {
        text_document_sync: Some(types::TextDocumentSyncCapability::Kind(
            types::TextDocumentSyncKind::FULL,
        )),
        document_formatting_provider: Some(types::OneOf::Left(true)),
        document_symbol_provider: Some(types::OneOf::Left(true)),
        hover_provider: Some(types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(types::OneOf::Left(true)),
        references_provider: Some(types::OneOf::Left(true)),
        rename_provider: Some(types::OneOf::Left(true)),
        completion_provider: Some(types::CompletionOptions {
            trigger_characters: Some(vec![" ".to_string(), ".".to_string()]),
            ..types::CompletionOptions::default()
        }),
        code_action_provider: Some(types::CodeActionProviderCapability::Simple(true)),
        ..types::ServerCapabilities::default()
    }
}

/// Serves one connection: the handshake, then every message until `exit`.
pub fn serve(connection: &Connection) -> Result<(), Error> {
    connection.initialize(serde_json::to_value(capabilities())?)?;
    let mut server = Server {
        connection,
        documents: BTreeMap::new(),
        parsed: BTreeMap::new(),
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                let response = server.answer(request);
                server.send(Message::Response(response))?;
            }
            Message::Notification(notification) => server.notified(notification)?,
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// The open text, the identifier at a position and the declarations it
/// names.
type Named<'t> = (&'t str, Span, Vec<Declaration>);

struct Server<'c> {
    connection: &'c Connection,
    /// The open files' texts, by URI.
    documents: BTreeMap<String, String>,
    /// The last text of each that parsed, as a tree: the names completion
    /// offers while the text being typed does not parse.
    parsed: BTreeMap<String, crate::syntax::ast::File>,
}

/// A request's parameters, or the error response for them.
fn params<P: DeserializeOwned>(request: &Request) -> Result<P, Response> {
    serde_json::from_value(request.params.clone()).map_err(|e| {
        Response::new_err(
            request.id.clone(),
            ErrorCode::InvalidParams as i32,
            format!("{}: {e}", request.method),
        )
    })
}

impl Server<'_> {
    fn send(&self, message: Message) -> Result<(), Error> {
        self.connection
            .sender
            .send(message)
            .map_err(|e| Error::Closed(e.to_string()))
    }

    fn notified(&mut self, notification: Notification) -> Result<(), Error> {
        match notification.method.as_str() {
            "textDocument/didOpen" => {
                let p: types::DidOpenTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                self.changed(p.text_document.uri, p.text_document.text)
            }
            "textDocument/didChange" => {
                let p: types::DidChangeTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                // Whole-text sync: the last change is the text.
                match p.content_changes.into_iter().last() {
                    Some(change) => self.changed(p.text_document.uri, change.text),
                    None => Ok(()),
                }
            }
            "textDocument/didClose" => {
                let p: types::DidCloseTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                self.documents.remove(p.text_document.uri.as_str());
                self.parsed.remove(p.text_document.uri.as_str());
                self.publish(p.text_document.uri, Vec::new())
            }
            _ => Ok(()),
        }
    }

    /// Keeps the new text of `uri` and publishes its diagnostics.
    fn changed(&mut self, uri: types::Uri, text: String) -> Result<(), Error> {
        let diagnostics = diagnostics(&text);
        if let Ok(file) = crate::syntax::parse(&text) {
            self.parsed.insert(uri.as_str().to_string(), file);
        }
        self.documents.insert(uri.as_str().to_string(), text);
        self.publish(uri, diagnostics)
    }

    fn publish(&self, uri: types::Uri, diagnostics: Vec<types::Diagnostic>) -> Result<(), Error> {
        let params = types::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        self.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".to_string(),
            params,
        )))
    }

    fn answer(&self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            "textDocument/formatting" => self.formatting(&request),
            "textDocument/documentSymbol" => self.symbols(&request),
            "textDocument/hover" => self.hover(&request),
            "textDocument/definition" => self.definition(&request),
            "textDocument/references" => self.references(&request),
            "textDocument/rename" => self.rename(&request),
            "textDocument/completion" => self.completion(&request),
            "textDocument/codeAction" => self.code_actions(&request),
            method => {
                return Response::new_err(
                    id,
                    ErrorCode::MethodNotFound as i32,
                    format!("`{method}` is not served"),
                )
            }
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err(response) => response,
        }
    }

    /// The text of an open file, or the error response.
    fn text(&self, request: &Request, uri: &types::Uri) -> Result<&str, Response> {
        self.documents
            .get(uri.as_str())
            .map(String::as_str)
            .ok_or_else(|| {
                Response::new_err(
                    request.id.clone(),
                    ErrorCode::InvalidParams as i32,
                    format!("{} is not open", uri.as_str()),
                )
            })
    }

    fn formatting(&self, request: &Request) -> Result<Value, Response> {
        let p: types::DocumentFormattingParams = params(request)?;
        let text = self.text(request, &p.text_document.uri)?;
        let lines = Lines::new(text);
        // A file that does not parse is left as it is (its diagnostics say why).
        let edits = match crate::syntax::format(text) {
            Ok(formatted) if formatted != text => vec![types::TextEdit {
                range: range(&lines, Span::new(0, text.len())),
                new_text: formatted,
            }],
            _ => Vec::new(),
        };
        Ok(json(edits))
    }

    fn symbols(&self, request: &Request) -> Result<Value, Response> {
        let p: types::DocumentSymbolParams = params(request)?;
        let text = self.text(request, &p.text_document.uri)?;
        let lines = Lines::new(text);
        let symbols: Vec<types::DocumentSymbol> = match crate::syntax::parse(text) {
            Ok(file) => analysis::outline(&file)
                .iter()
                .map(|d| symbol(&lines, d))
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(json(symbols))
    }

    /// The open text at a request's position, the identifier there and the
    /// declarations it names.
    fn named_at(
        &self,
        request: &Request,
        at: &types::TextDocumentPositionParams,
    ) -> Result<Option<Named<'_>>, Response> {
        let text = self.text(request, &at.text_document.uri)?;
        let lines = Lines::new(text);
        let offset = lines.offset(from_lsp(at.position));
        let Some((span, word)) = analysis::identifier_at(text, offset) else {
            return Ok(None);
        };
        let Ok(file) = crate::syntax::parse(text) else {
            return Ok(None);
        };
        let declarations: Vec<Declaration> = analysis::declarations(&file)
            .into_iter()
            .filter(|d| d.name == word)
            .collect();
        Ok((!declarations.is_empty()).then_some((text, span, declarations)))
    }

    fn hover(&self, request: &Request) -> Result<Value, Response> {
        let p: types::HoverParams = params(request)?;
        let at = &p.text_document_position_params;
        let Some((text, span, declarations)) = self.named_at(request, at)? else {
            return self.builtin_hover(request, at);
        };
        let lines = Lines::new(text);
        let shown: Vec<String> = declarations
            .iter()
            .map(|d| {
                let block = text.get(d.span.range()).unwrap_or_default();
                let mut first: Vec<&str> = block.lines().take(12).collect();
                if block.lines().count() > 12 {
                    first.push("…");
                }
                format!(
                    "**{}** `{}`\n\n```loyalty\n{}\n```",
                    d.kind.word(),
                    d.name,
                    first.join("\n")
                )
            })
            .collect();
        Ok(json(types::Hover {
            contents: types::HoverContents::Markup(types::MarkupContent {
                kind: types::MarkupKind::Markdown,
                value: shown.join("\n\n---\n\n"),
            }),
            range: Some(range(&lines, span)),
        }))
    }

    /// Hover over a name the program does not declare: a built-in event
    /// type, or a field of the built-in event a rule is on.
    fn builtin_hover(
        &self,
        request: &Request,
        at: &types::TextDocumentPositionParams,
    ) -> Result<Value, Response> {
        let text = self.text(request, &at.text_document.uri)?;
        let lines = Lines::new(text);
        let offset = lines.offset(from_lsp(at.position));
        let Some((span, word)) = analysis::identifier_at(text, offset) else {
            return Ok(Value::Null);
        };
        let Some(note) = analysis::builtin_note(text, offset, word) else {
            return Ok(Value::Null);
        };
        Ok(json(types::Hover {
            contents: types::HoverContents::Markup(types::MarkupContent {
                kind: types::MarkupKind::Markdown,
                value: note,
            }),
            range: Some(range(&lines, span)),
        }))
    }

    fn definition(&self, request: &Request) -> Result<Value, Response> {
        let p: types::GotoDefinitionParams = params(request)?;
        let at = &p.text_document_position_params;
        let Some((text, _, declarations)) = self.named_at(request, at)? else {
            return Ok(Value::Null);
        };
        let lines = Lines::new(text);
        let locations: Vec<types::Location> = declarations
            .iter()
            .map(|d| types::Location {
                uri: at.text_document.uri.clone(),
                range: range(&lines, d.name_span),
            })
            .collect();
        Ok(json(locations))
    }

    fn references(&self, request: &Request) -> Result<Value, Response> {
        let p: types::ReferenceParams = params(request)?;
        let at = &p.text_document_position;
        let Some((text, span, declarations)) = self.named_at(request, at)? else {
            return Ok(Value::Null);
        };
        let lines = Lines::new(text);
        let name = text.get(span.range()).unwrap_or_default();
        let declared = |s: &Span| declarations.iter().any(|d| d.name_span.start == s.start);
        let locations: Vec<types::Location> = analysis::uses(text, name)
            .into_iter()
            .filter(|s| p.context.include_declaration || !declared(s))
            .map(|s| types::Location {
                uri: at.text_document.uri.clone(),
                range: range(&lines, s),
            })
            .collect();
        Ok(json(locations))
    }

    fn completion(&self, request: &Request) -> Result<Value, Response> {
        let p: types::CompletionParams = params(request)?;
        let at = &p.text_document_position;
        let text = self.text(request, &at.text_document.uri)?;
        let lines = Lines::new(text);
        let offset = lines.offset(from_lsp(at.position));
        let file = self.parsed.get(at.text_document.uri.as_str());
        let items: Vec<types::CompletionItem> = analysis::completions(text, offset, file)
            .into_iter()
            .map(|offer| types::CompletionItem {
                label: offer.label().to_string(),
                kind: Some(match offer {
                    analysis::Offer::Keyword(_) => types::CompletionItemKind::KEYWORD,
                    analysis::Offer::Name(_, Kind::Field | Kind::Attribute) => {
                        types::CompletionItemKind::FIELD
                    }
                    analysis::Offer::Name(..) => types::CompletionItemKind::REFERENCE,
                }),
                detail: match &offer {
                    analysis::Offer::Name(_, kind) => Some(kind.word().to_string()),
                    analysis::Offer::Keyword(_) => None,
                },
                ..types::CompletionItem::default()
            })
            .collect();
        Ok(json(items))
    }

    /// Quick fixes: a diagnostic whose help is "did you mean `X`?" offers
    /// to replace what it underlines with `X`.
    fn code_actions(&self, request: &Request) -> Result<Value, Response> {
        let p: types::CodeActionParams = params(request)?;
        let text = self.text(request, &p.text_document.uri)?;
        let lines = Lines::new(text);
        let wanted = lines.offset(from_lsp(p.range.start))..=lines.offset(from_lsp(p.range.end));
        let actions: Vec<types::CodeActionOrCommand> = crate::check_source(text)
            .iter()
            .filter(|d| wanted.contains(&d.span.start) || d.span.range().contains(wanted.start()))
            .filter_map(|d| {
                let name = suggestion(d.help.as_deref()?)?;
                let found = text.get(d.span.range())?;
                #[allow(clippy::mutable_key_type)] // `Uri` is how lsp-types keys changes.
                let changes = std::collections::HashMap::from([(
                    p.text_document.uri.clone(),
                    vec![types::TextEdit {
                        range: range(&lines, d.span),
                        new_text: name.to_string(),
                    }],
                )]);
                Some(types::CodeActionOrCommand::CodeAction(types::CodeAction {
                    title: format!("replace `{found}` with `{name}`"),
                    kind: Some(types::CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![lsp_diagnostic(&lines, d)]),
                    edit: Some(types::WorkspaceEdit {
                        changes: Some(changes),
                        ..types::WorkspaceEdit::default()
                    }),
                    is_preferred: Some(true),
                    ..types::CodeAction::default()
                }))
            })
            .collect();
        Ok(json(actions))
    }

    fn rename(&self, request: &Request) -> Result<Value, Response> {
        let p: types::RenameParams = params(request)?;
        let at = &p.text_document_position;
        let Some((text, span, _)) = self.named_at(request, at)? else {
            return Err(Response::new_err(
                request.id.clone(),
                ErrorCode::InvalidParams as i32,
                "there is no declared name here to rename".to_string(),
            ));
        };
        let lines = Lines::new(text);
        if !is_name(&p.new_name) {
            return Err(Response::new_err(
                request.id.clone(),
                ErrorCode::InvalidParams as i32,
                format!(
                    "`{}` is not a name: a lowercase letter, then lowercase letters, digits and `_`",
                    p.new_name
                ),
            ));
        }
        let name = text.get(span.range()).unwrap_or_default();
        let edits: Vec<types::TextEdit> = analysis::uses(text, name)
            .into_iter()
            .map(|s| types::TextEdit {
                range: range(&lines, s),
                new_text: p.new_name.clone(),
            })
            .collect();
        #[allow(clippy::mutable_key_type)] // `Uri` is how lsp-types keys changes.
        let changes = std::collections::HashMap::from([(at.text_document.uri.clone(), edits)]);
        Ok(json(types::WorkspaceEdit {
            changes: Some(changes),
            ..types::WorkspaceEdit::default()
        }))
    }
}

/// The name a "did you mean `X`?" help suggests.
fn suggestion(help: &str) -> Option<&str> {
    help.strip_prefix("did you mean `")?.strip_suffix("`?")
}

/// The diagnostics of a program's text as the editor shows them: what the
/// server publishes after every change.
pub fn diagnostics(text: &str) -> Vec<types::Diagnostic> {
    let lines = Lines::new(text);
    crate::check_source(text)
        .iter()
        .map(|d| lsp_diagnostic(&lines, d))
        .collect()
}

/// Whether `name` is an identifier of the language (keywords are refused
/// by `check` on the renamed text).
fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn from_lsp(position: types::Position) -> analysis::Position {
    analysis::Position {
        line: position.line,
        character: position.character,
    }
}

fn to_lsp(position: analysis::Position) -> types::Position {
    types::Position {
        line: position.line,
        character: position.character,
    }
}

fn range(lines: &Lines, span: Span) -> types::Range {
    types::Range {
        start: to_lsp(lines.position(span.start)),
        end: to_lsp(lines.position(span.end)),
    }
}

/// A checker's diagnostic as the editor shows it: its message, its help
/// after it, its label as the related note at the same place.
fn lsp_diagnostic(lines: &Lines, d: &Diagnostic) -> types::Diagnostic {
    let message = match &d.help {
        Some(help) => format!("{}\nhelp: {help}", d.message),
        None => d.message.clone(),
    };
    types::Diagnostic {
        range: range(lines, d.span),
        severity: Some(match d.severity {
            Severity::Error => types::DiagnosticSeverity::ERROR,
            Severity::Warning => types::DiagnosticSeverity::WARNING,
        }),
        code: Some(types::NumberOrString::String(d.code.to_string())),
        source: Some("loyalty".to_string()),
        message,
        ..types::Diagnostic::default()
    }
}

fn symbol_kind(kind: Kind) -> types::SymbolKind {
    match kind {
        Kind::Program => types::SymbolKind::MODULE,
        Kind::Member | Kind::Event => types::SymbolKind::STRUCT,
        Kind::Field | Kind::Attribute => types::SymbolKind::FIELD,
        Kind::Points => types::SymbolKind::CONSTANT,
        Kind::Tiers => types::SymbolKind::ENUM,
        Kind::Tier => types::SymbolKind::ENUM_MEMBER,
        Kind::Rule => types::SymbolKind::FUNCTION,
        Kind::Perk | Kind::Reward => types::SymbolKind::OBJECT,
    }
}

#[allow(deprecated)] // `deprecated` is a field lsp-types still requires.
fn symbol(lines: &Lines, d: &Declaration) -> types::DocumentSymbol {
    types::DocumentSymbol {
        name: d.name.clone(),
        detail: Some(d.kind.word().to_string()),
        kind: symbol_kind(d.kind),
        tags: None,
        deprecated: None,
        range: range(lines, d.span),
        selection_range: range(lines, d.name_span),
        children: (!d.children.is_empty())
            .then(|| d.children.iter().map(|c| symbol(lines, c)).collect()),
    }
}
