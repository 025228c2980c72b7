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

/// What a completion offers: a word of the language, or a declared name
/// (of `Kind`), or a field of an event or the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    Keyword(&'static str),
    Name(String, Kind),
}

impl Offer {
    pub fn label(&self) -> &str {
        match self {
            Offer::Keyword(word) => word,
            Offer::Name(name, _) => name,
        }
    }
}

/// The innermost block open at the end of `head` (its first word, `rule`
/// for `preview rule`), and the text of the current line before the word
/// being typed; `None` for the block at the top level.
fn context(head: &str) -> (Option<&str>, &str) {
    let mut open: Vec<usize> = Vec::new();
    let mut in_string = false;
    let mut in_comment = false;
    for (i, c) in head.char_indices() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '"' => in_string = !in_string,
            _ if in_string => {}
            '#' => in_comment = true,
            '{' => open.push(i),
            '}' => {
                open.pop();
            }
            _ => {}
        }
    }
    let block = open.last().and_then(|&at| {
        let line_start = head.get(..at)?.rfind('\n').map_or(0, |n| n + 1);
        let first = head.get(line_start..at)?.split_whitespace().next()?;
        Some(if first == "preview" { "rule" } else { first })
    });
    let line = head.rsplit('\n').next().unwrap_or_default();
    (block, line)
}

/// What may be written at byte `offset` of `source`, the program's last
/// tree that parsed giving the names: the blocks at the top level; a
/// block's statements at the start of a line in it; tiers after `tier =`
/// (or another comparison); points types after `earn N`; rules after
/// `earn N% of`; event types after `on`; the event's fields, the member's
/// attributes and `tier` after `where`, `and`, `or`, `not` and `of` (as in
/// `per 1 USD of amount`); attributes after `member.`, a basket item's
/// fields after `item.`. Only those that start with the word being typed.
pub fn completions(source: &str, offset: usize, file: Option<&File>) -> Vec<Offer> {
    let offset = offset.min(source.len());
    let head = source.get(..offset).unwrap_or_default();
    let typed_start = head
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        .len();
    let typed = head.get(typed_start..).unwrap_or_default();
    let (block, line) = context(head.get(..typed_start).unwrap_or_default());
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let declared = file.map(declarations).unwrap_or_default();
    let named = |kinds: &[Kind]| -> Vec<Offer> {
        declared
            .iter()
            .filter(|d| kinds.contains(&d.kind))
            .map(|d| Offer::Name(d.name.clone(), d.kind))
            .collect()
    };
    let last = words.last().copied().unwrap_or_default();
    let offers: Vec<Offer> = if line.ends_with("member.") {
        named(&[Kind::Attribute])
    } else if line.ends_with("item.") {
        crate::syntax::ast::ItemField::ALL
            .iter()
            .map(|f| Offer::Keyword(f.name()))
            .collect()
    } else if words.is_empty() {
        match block {
            None => crate::syntax::block_words()
                .iter()
                .map(|w| Offer::Keyword(w))
                .collect(),
            Some(block) => crate::syntax::block_statements(block)
                .iter()
                .map(|w| Offer::Keyword(w))
                .collect(),
        }
    } else if words.len() >= 2
        && words.get(words.len() - 2) == Some(&"tier")
        && ["=", "!=", ">=", "<=", ">", "<"].contains(&last)
    {
        named(&[Kind::Tier])
    } else if words.len() == 2 && words.first() == Some(&"earn") && !last.ends_with('%') {
        named(&[Kind::Points])
    } else if last == "of" && words.iter().any(|w| w.ends_with('%')) {
        named(&[Kind::Rule])
    } else if words == ["on"] {
        let mut events = named(&[Kind::Event]);
        events.extend(
            crate::check::BuiltinEvent::ALL
                .iter()
                .map(|b| Offer::Keyword(b.name())),
        );
        events
    } else if ["where", "and", "or", "not", "of"].contains(&last) {
        event_fields(head, file)
    } else {
        Vec::new()
    };
    let mut offers: Vec<Offer> = offers
        .into_iter()
        .filter(|o| o.label().starts_with(typed))
        .collect();
    offers.dedup();
    offers
}

/// The fields a condition of the rule being written may name: those of
/// the event type after its `on`, the member's attributes as `member.X`,
/// and `tier`.
fn event_fields(head: &str, file: Option<&File>) -> Vec<Offer> {
    let on = rule_event(head);
    let mut offers = Vec::new();
    if let Some(on) = on {
        if let Some(builtin) = crate::check::BuiltinEvent::ALL
            .iter()
            .find(|b| b.name() == on)
        {
            offers.extend(
                builtin
                    .fields()
                    .iter()
                    .map(|(name, _)| Offer::Name((*name).to_string(), Kind::Field)),
            );
        }
        for item in file.map(|f| f.items.as_slice()).unwrap_or_default() {
            if let Item::Event(event) = item {
                if event.name.node == on {
                    offers.extend(
                        event
                            .fields
                            .iter()
                            .map(|f| Offer::Name(f.name.node.clone(), Kind::Field)),
                    );
                }
            }
        }
    }
    for item in file.map(|f| f.items.as_slice()).unwrap_or_default() {
        if let Item::Member(member) = item {
            offers.extend(
                member
                    .fields
                    .iter()
                    .map(|f| Offer::Name(format!("member.{}", f.name.node), Kind::Attribute)),
            );
        }
    }
    offers.push(Offer::Keyword("tier"));
    offers
}

/// The event type after the `on` of the rule `head` ends in.
fn rule_event(head: &str) -> Option<&str> {
    head.rsplit('\n')
        .map(str::trim_start)
        .take_while(|line| !line.starts_with("rule") && !line.starts_with("preview"))
        .find_map(|line| line.strip_prefix("on "))
        .and_then(|rest| rest.split_whitespace().next())
}

fn type_word(ty: crate::syntax::ast::FieldType) -> &'static str {
    use crate::syntax::ast::FieldType;
    match ty {
        FieldType::Number => "number",
        FieldType::Money => "money",
        FieldType::Text => "text",
        FieldType::Date => "date",
        FieldType::Bool => "bool",
    }
}

/// What a built-in name at byte `offset` is, in Markdown: an event type
/// every program has (with its fields), or a field of the built-in event
/// the rule around `offset` is on.
pub fn builtin_note(source: &str, offset: usize, word: &str) -> Option<String> {
    use crate::check::BuiltinEvent;
    let fields = |event: BuiltinEvent| -> Vec<String> {
        event
            .fields()
            .iter()
            .map(|(name, ty)| format!("`{name}`: {}", type_word(*ty)))
            .collect()
    };
    if let Some(event) = BuiltinEvent::ALL.iter().find(|b| b.name() == word) {
        let fields = fields(*event);
        return Some(format!(
            "**built-in event type** `{word}`{}",
            if event.from_clock() {
                ", made by the clock at the start of each member's day".to_string()
            } else if *event == BuiltinEvent::Upgrade {
                ", made when a member moves up a tier".to_string()
            } else if event.from_tier_move() {
                ", made when a member moves up or down a tier".to_string()
            } else if *event == BuiltinEvent::TierPeriodStart {
                ", made when a member's next tier period starts".to_string()
            } else if event.made_by_loyalty() {
                format!(
                    ", made when a member's points expire, with {}",
                    fields.join(", ")
                )
            } else if fields.is_empty() {
                String::new()
            } else {
                format!(", with {}", fields.join(", "))
            }
        ));
    }
    let on = rule_event(source.get(..offset)?)?;
    let event = BuiltinEvent::ALL.iter().find(|b| b.name() == on)?;
    let (_, ty) = event.fields().iter().find(|(name, _)| *name == word)?;
    Some(format!(
        "**field** `{word}` of the built-in event `{on}`: {}",
        type_word(*ty)
    ))
}

/// A position as an editor gives it: a line (from 0) and a character, in
/// UTF-16 code units, within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

/// Where each line of a text starts: positions and offsets are found by
/// halving rather than by reading the text from its start (a diagnostic
/// each on a file of thousands of lines).
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Lines<'t> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    /// The text of line `line` (from 0), without its line break.
    fn line(&self, line: usize) -> (usize, &'t str) {
        let start = self.starts.get(line).copied().unwrap_or(self.text.len());
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        (start, self.text.get(start..end).unwrap_or_default())
    }

    /// The position of byte `offset` (clamped to the text's end and to a
    /// character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let (start, text) = self.line(line);
        let character: usize = text
            .char_indices()
            .take_while(|(i, _)| start + i < offset)
            .map(|(_, c)| c.len_utf16())
            .sum();
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            character: u32::try_from(character).unwrap_or(u32::MAX),
        }
    }

    /// The byte offset of `position`: a character past the line's end is
    /// its end, a line past the last is the text's end.
    pub fn offset(&self, position: Position) -> usize {
        let line = position.line as usize;
        if line >= self.starts.len() {
            return self.text.len();
        }
        let (start, text) = self.line(line);
        let mut units = 0;
        for (i, c) in text.char_indices() {
            if units >= position.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_come_back_as_offsets() {
        let source = "ab\n# ünï 😀 x\n\nlast";
        let lines = Lines::new(source);
        for offset in (0..=source.len()).filter(|&o| source.is_char_boundary(o)) {
            assert_eq!(lines.offset(lines.position(offset)), offset, "{offset}");
        }
        let at = |line, character| Position { line, character };
        // 😀 is two UTF-16 units: `x` is at character 9 of line 1.
        let x = source.find('x').unwrap_or_default();
        assert_eq!(lines.position(x), at(1, 9));
        assert_eq!(lines.position(source.len()), at(3, 4));
        assert_eq!(
            lines.offset(at(1, 99)),
            source.find("\n\n").unwrap_or_default()
        );
        assert_eq!(
            lines.offset(at(2, 5)),
            source.find("\nlast").unwrap_or_default()
        );
        assert_eq!(lines.offset(at(9, 0)), source.len());
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

    const PROGRAM: &str = "program \"P\" {\n  currency USD\n  timezone \"UTC\"\n}\nmember {\n  vip: bool\n}\nevent visit {\n  shop: text\n}\npoints stars\npoints miles\ntiers by stars earned over calendar year {\n  tier green from 0\n  tier gold from 100\n}\nrule base {\n  on purchase\n  earn 1 stars per 1 USD of amount\n}\n";

    fn offered(before: &str) -> Vec<String> {
        let file = crate::syntax::parse(PROGRAM).ok();
        let source = format!("{PROGRAM}{before}");
        completions(&source, source.len(), file.as_ref())
            .iter()
            .map(|o| o.label().to_string())
            .collect()
    }

    #[test]
    fn built_in_names_are_explained() {
        let source = format!("{PROGRAM}rule r {{\n  on purchase where amount > 5 USD\n");
        let at = |word: &str| source.rfind(word).unwrap_or_default();
        assert_eq!(
            builtin_note(&source, at("amount"), "amount").as_deref(),
            Some("**field** `amount` of the built-in event `purchase`: money")
        );
        assert_eq!(
            builtin_note(&source, at("purchase"), "purchase").as_deref(),
            Some("**built-in event type** `purchase`, with `amount`: money")
        );
        assert_eq!(builtin_note(&source, at("where"), "where"), None);
        assert_eq!(
            builtin_note(&source, 0, "birthday").as_deref(),
            Some("**built-in event type** `birthday`, made by the clock at the start of each member's day")
        );
        assert_eq!(
            builtin_note(&source, 0, "tier_change").as_deref(),
            Some(
                "**built-in event type** `tier_change`, made when a member moves up or down a tier"
            )
        );
        assert_eq!(
            builtin_note(&source, 0, "tier_period_start").as_deref(),
            Some("**built-in event type** `tier_period_start`, made when a member's next tier period starts")
        );
        assert_eq!(
            builtin_note(&source, 0, "expiry").as_deref(),
            Some("**built-in event type** `expiry`, made when a member's points expire, with `expired`: number, `points_type`: text")
        );
        let on_expiry = format!("{PROGRAM}rule r {{\n  on expiry where expired > 5\n");
        assert_eq!(
            builtin_note(
                &on_expiry,
                on_expiry.rfind("expired").unwrap_or_default(),
                "expired"
            )
            .as_deref(),
            Some("**field** `expired` of the built-in event `expiry`: number")
        );
    }

    #[test]
    fn completions_offer_what_fits_the_place() {
        assert_eq!(
            offered("rule r {\n  on purchase where tier = g"),
            ["green", "gold"]
        );
        assert_eq!(
            offered("rule r {\n  on purchase\n  earn 5 "),
            ["stars", "miles"]
        );
        assert_eq!(offered("rule r {\n  on purchase\n  earn 5% of "), ["base"]);
        assert_eq!(
            offered("rule r {\n  on visit where s"),
            ["shop"],
            "the declared event's fields"
        );
        assert_eq!(
            offered("rule r {\n  on purchase where "),
            ["amount", "member.vip", "tier"]
        );
        assert_eq!(offered("rule r {\n  on v"), ["visit"]);
        assert_eq!(
            offered("rule r {\n  on purchase\n  e"),
            ["earn", "exclusive", "expire"]
        );
        assert_eq!(offered("points p {\n  ex"), ["expire"]);
        assert_eq!(offered("re"), ["reward"]);
        assert_eq!(offered("rule r {\n  on purchase where member."), ["vip"]);
        assert_eq!(
            offered("rule r {\n  on purchase\n  earn 2 stars per 1 USD of item."),
            [
                "sku",
                "category",
                "quantity",
                "unit_price",
                "discount",
                "amount"
            ]
        );
        assert_eq!(
            offered("rule r {\n  on purchase\n  earn 1 stars per item where item.c"),
            ["category"]
        );
        assert!(offered("# rule r {\nrule r {\n  on purchase where \"{ x").is_empty());
    }
}
