//! What the language server knows of one program's text: its declared
//! names (from the syntax tree: points types, tiers, rules, rewards, perks,
//! event types and fields, member attributes), the outline of its blocks,
//! the names used at each place, and positions as editors count them
//! (lines, and UTF-16 code units within a line).
//!
//! A name's uses are found in the text: every identifier outside strings
//! and comments that spells a declared name. The language has one space of
//! names per kind, and a tier and a rule may share a name; an identifier is
//! taken as a use of every declaration it spells (see `declarations`).

use crate::diagnostic::Span;
use crate::syntax::ast::{File, Ident, Item, TierStmt};

/// What kind of thing a declaration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Program,
    Member,
    Event,
    Field,
    Attribute,
    Points,
    Tiers,
    Tier,
    Rule,
    Perk,
    Reward,
}

impl Kind {
    /// As the language says it.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Program => "program",
            Kind::Member => "member block",
            Kind::Event => "event type",
            Kind::Field => "event field",
            Kind::Attribute => "member attribute",
            Kind::Points => "points type",
            Kind::Tiers => "tiers block",
            Kind::Tier => "tier",
            Kind::Rule => "rule",
            Kind::Perk => "perk",
            Kind::Reward => "reward",
        }
    }
}

/// One declared name: what it is, where its name is written, and the
/// block (or line) that declares it.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub name: String,
    pub kind: Kind,
    pub name_span: Span,
    pub span: Span,
    /// The declarations inside it (a tiers block's tiers, an event's
    /// fields), for the outline.
    pub children: Vec<Declaration>,
}

fn declared(name: &Ident, kind: Kind, span: Span) -> Declaration {
    Declaration {
        name: name.node.clone(),
        kind,
        name_span: name.span,
        span,
        children: Vec::new(),
    }
}

/// The program's blocks, in the order written, each with what it declares.
pub fn outline(file: &File) -> Vec<Declaration> {
    file.items
        .iter()
        .map(|item| match item {
            Item::Program(p) => Declaration {
                name: p.name.node.clone(),
                kind: Kind::Program,
                name_span: p.name.span,
                span: p.span,
                children: Vec::new(),
            },
            Item::Member(m) => Declaration {
                name: "member".to_string(),
                kind: Kind::Member,
                name_span: m.span,
                span: m.span,
                children: m
                    .fields
                    .iter()
                    .map(|f| declared(&f.name, Kind::Attribute, f.span))
                    .collect(),
            },
            Item::Event(e) => Declaration {
                children: e
                    .fields
                    .iter()
                    .map(|f| declared(&f.name, Kind::Field, f.span))
                    .collect(),
                ..declared(&e.name, Kind::Event, e.span)
            },
            Item::Points(p) => declared(&p.name, Kind::Points, p.span),
            Item::Tiers(t) => Declaration {
                name: "tiers".to_string(),
                kind: Kind::Tiers,
                name_span: t.span,
                span: t.span,
                children: t
                    .stmts
                    .iter()
                    .filter_map(|s| match &s.node {
                        TierStmt::Tier(tier) => Some(declared(&tier.name, Kind::Tier, s.span)),
                        _ => None,
                    })
                    .collect(),
            },
            Item::Rule(r) => declared(&r.name, Kind::Rule, r.span),
            Item::Perk(p) => declared(&p.name, Kind::Perk, p.span),
            Item::Reward(r) => declared(&r.name, Kind::Reward, r.span),
        })
        .collect()
}

/// Every named declaration, blocks and what they hold, in text order (the
/// program's name, a string, and the unnamed member and tiers blocks are
/// not names a program refers to).
pub fn declarations(file: &File) -> Vec<Declaration> {
    let mut all = Vec::new();
    for block in outline(file) {
        all.extend(block.children.iter().cloned());
        if !matches!(block.kind, Kind::Program | Kind::Member | Kind::Tiers) {
            all.push(Declaration {
                children: Vec::new(),
                ..block
            });
        }
    }
    all.sort_by_key(|d| d.name_span.start);
    all
}

/// The identifiers of `source` outside strings and comments, with their
/// spans: where a name may be used.
pub fn identifiers(source: &str) -> Vec<(Span, &str)> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'#' => {
                while bytes.get(i).is_some_and(|&b| b != b'\n') {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while let Some(&b) = bytes.get(i) {
                    i += 1;
                    match b {
                        b'\\' => i += 1,
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    i += 1;
                }
                let word = source.get(start..i).unwrap_or_default();
                if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                    found.push((Span::new(start, i), word));
                }
            }
            _ => i += 1,
        }
    }
    found
}

/// The identifier at byte `offset` (touching it from either side).
pub fn identifier_at(source: &str, offset: usize) -> Option<(Span, &str)> {
    identifiers(source)
        .into_iter()
        .find(|(span, _)| span.start <= offset && offset <= span.end)
}

/// The spans of every use of `name` (its declarations included).
pub fn uses(source: &str, name: &str) -> Vec<Span> {
    identifiers(source)
        .into_iter()
        .filter(|(_, word)| *word == name)
        .map(|(span, _)| span)
        .collect()
}

/// A position as an editor gives it: a line (from 0) and a character, in
/// UTF-16 code units, within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

/// The position of byte `offset` in `source` (clamped to its end and to a
/// character boundary).
pub fn position(source: &str, offset: usize) -> Position {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count();
    let character: usize = before
        .get(line_start..)
        .unwrap_or_default()
        .chars()
        .map(char::len_utf16)
        .sum();
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character: u32::try_from(character).unwrap_or(u32::MAX),
    }
}

/// The byte offset of `position` in `source`: a character past the line's
/// end is its end, a line past the last is the text's end.
pub fn offset(source: &str, position: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match source.get(line_start..).and_then(|rest| rest.find('\n')) {
            Some(i) => line_start += i + 1,
            None => return source.len(),
        }
    }
    let line = source.get(line_start..).unwrap_or_default();
    let line = line.split('\n').next().unwrap_or_default();
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= position.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_start + line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_come_back_as_offsets() {
        let source = "ab\n# ünï 😀 x\nlast";
        for offset_ in [0, 1, 2, 3, 7, 9, 14, 16, source.len()] {
            if !source.is_char_boundary(offset_) {
                continue;
            }
            assert_eq!(
                offset(source, position(source, offset_)),
                offset_,
                "{offset_}"
            );
        }
        // 😀 is two UTF-16 units: `x` is at character 9 of line 1.
        let x = source.find('x').unwrap_or_default();
        assert_eq!(
            position(source, x),
            Position {
                line: 1,
                character: 9
            }
        );
        assert_eq!(
            offset(
                source,
                Position {
                    line: 1,
                    character: 99
                }
            ),
            source.find("\nlast").unwrap_or_default()
        );
        assert_eq!(
            offset(
                source,
                Position {
                    line: 9,
                    character: 0
                }
            ),
            source.len()
        );
    }

    #[test]
    fn identifiers_skip_strings_and_comments() {
        let source = "rule gold { # gold here\n  note \"gold \\\" gold\"\n  tier = gold\n}";
        let words: Vec<&str> = identifiers(source).into_iter().map(|(_, w)| w).collect();
        assert_eq!(words, ["rule", "gold", "note", "tier", "gold"]);
        assert_eq!(uses(source, "gold").len(), 2);
        assert_eq!(identifier_at(source, 7).map(|(_, w)| w), Some("gold"));
        assert_eq!(identifier_at(source, 9).map(|(_, w)| w), Some("gold"));
    }
}
