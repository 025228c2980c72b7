//! The pest parser and the builder that turns its parse tree into the AST,
//! with every syntax error rendered through the shared `Diagnostic` type.

use super::ast::*;
use crate::diagnostic::{or_list, Diagnostic};
use chrono::NaiveDate;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::sync::LazyLock;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/loyalty.pest"]
struct LoyaltyParser;

/// How deeply brackets may nest: far beyond any real program, low enough that
/// no recursion over the tree can exhaust the stack.
const MAX_NESTING: usize = 32;
/// How many tokens one expression may hold, for the same reason.
const MAX_EXPRESSION_TOKENS: usize = 1000;

/// A `#` comment, kept aside so the formatter can put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The comment's text, from `#` to the end of the line.
    pub text: String,
    pub span: Span,
}

/// Parses a program.
pub fn parse(source: &str) -> Result<File, Diagnostic> {
    parse_with_comments(source).map(|(file, _)| file)
}

/// Parses a program and returns its comments in source order beside it.
pub fn parse_with_comments(source: &str) -> Result<(File, Vec<Comment>), Diagnostic> {
    check_nesting(source)?;
    let mut pairs = LoyaltyParser::parse(Rule::file, source).map_err(|_| detailed_error(source))?;
    let file = pairs.next().ok_or_else(|| internal(Span::default()))?;
    check_spacing(&file, source)?;
    let comments = file
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| p.as_rule() == Rule::COMMENT)
        .map(|p| Comment {
            text: p.as_str().trim_end().to_string(),
            span: span(&p),
        })
        .collect();
    let mut items = Vec::new();
    for pair in children(file) {
        if pair.as_rule() != Rule::EOI {
            items.push(build_item(pair)?);
        }
    }
    Ok((File { items }, comments))
}

/// The syntax error of a source that failed to parse, with every token pest
/// tried at the failing position. Collecting those halves parsing speed, so
/// it is switched on only once some input has failed; it is never switched
/// off again, since other threads may be parsing with it (the setting is
/// process-wide) and their messages must not depend on timing.
fn detailed_error(source: &str) -> Diagnostic {
    pest::set_error_detail(true);
    match LoyaltyParser::parse(Rule::file, source) {
        Err(error) => syntax_error(&error, source),
        Ok(_) => internal(Span::default()),
    }
}

/// Rejects brackets nested deeper than `MAX_NESTING`, outside strings and comments.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for (i, c) in source.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            in_string = escaped || (c != '"' && c != '\n');
            escaped = !escaped && c == '\\';
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_string = true,
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Diagnostic::error(
                            "too-deep",
                            Span::new(i, i + 1),
                            format!("brackets nest more than {MAX_NESTING} deep"),
                        )
                        .with_help("split the condition into simpler parts"));
                    }
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Every keyword of the grammar, for "did you mean" on syntax errors: the
/// words it quotes, read from the grammar itself so that no keyword it gains
/// is left out.
static KEYWORDS: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| quoted_words(include_str!("../../grammar/loyalty.pest")));

/// Every keyword of the grammar, in alphabetical order: what the page of
/// `loyalty serve` highlights.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS.iter().copied()
}

/// The literals of a pest grammar that are words (lowercase letters and
/// `_`), outside `//` comments.
fn quoted_words(grammar: &str) -> BTreeSet<&str> {
    let mut words = BTreeSet::new();
    let mut chars = grammar.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '/' && grammar.get(at..).is_some_and(|rest| rest.starts_with("//")) {
            chars.find(|(_, c)| *c == '\n');
        } else if c == '"' {
            let mut end = at + 1;
            while let Some((i, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    end = i;
                    break;
                }
            }
            let literal = grammar.get(at + 1..end).unwrap_or_default();
            if !literal.is_empty() && literal.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                words.insert(literal);
            }
        }
    }
    words
}

/// The statements each block takes, by their first word, as the grammar
/// has them (`preview rule` is a `rule`; `member` and `event` blocks hold
/// fields).
const BLOCK_STATEMENTS: &[(&str, &[&str])] = &[
    (
        "program",
        &[
            "currency",
            "timezone",
            "effective",
            "on",
            "accept",
            "reject",
            "survey",
        ],
    ),
    (
        "points",
        &[
            "precision",
            "value",
            "breakage",
            "pending",
            "expire",
            "qualifying",
            "transfers",
            "pool",
            "redeem",
            "cap",
        ],
    ),
    (
        "tiers",
        &[
            "measure",
            "tier",
            "upgrade",
            "downgrade",
            "lifetime",
            "rollover",
            "status",
        ],
    ),
    (
        "rule",
        &[
            "on",
            "earn",
            "cap",
            "limit",
            "budget",
            "round",
            "exclusive",
            "during",
            "min",
            "stop",
            "multiply",
            "expire",
        ],
    ),
    ("perk", &["limit", "cost"]),
    ("reward", &["price", "cost"]),
];

/// The words that start a top-level block.
const BLOCK_WORDS: &[&str] = &[
    "program", "member", "event", "points", "tiers", "rule", "preview", "perk", "reward",
];

/// The first words of the statements a block takes (`preview` is a
/// `rule`); nothing for a block that holds fields or for no block.
pub fn block_statements(block: &str) -> &'static [&'static str] {
    let block = if block == "preview" { "rule" } else { block };
    BLOCK_STATEMENTS
        .iter()
        .find(|(name, _)| *name == block)
        .map_or(&[], |(_, words)| words)
}

/// The words that start a top-level block.
pub fn block_words() -> &'static [&'static str] {
    BLOCK_WORDS
}

/// Whether `word` starts a statement of some block.
fn starts_statement(word: &str) -> bool {
    BLOCK_STATEMENTS
        .iter()
        .any(|(_, words)| words.contains(&word))
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Rejects a word glued to the keyword before it (`earnn`, `rulebase`): pest
/// matches a keyword as a prefix, so `rulebase` would otherwise read as
/// `rule base`.
fn check_spacing(file: &Pair<Rule>, source: &str) -> Result<()> {
    for pair in file.clone().into_inner().flatten() {
        let start = pair.as_span().start();
        let before = source.get(..start).unwrap_or_default();
        let after = source.get(start..).unwrap_or_default();
        if before.ends_with(is_word_char) && after.starts_with(is_word_char) {
            let word_start = before.trim_end_matches(is_word_char).len();
            let word_end = after
                .find(|c| !is_word_char(c))
                .map_or(source.len(), |n| start + n);
            let keyword = source.get(word_start..start).unwrap_or_default();
            let rest = source.get(start..word_end).unwrap_or_default();
            return Err(Diagnostic::error(
                "syntax",
                Span::new(word_start, word_end),
                format!("`{keyword}` and `{rest}` run together"),
            )
            .with_help(format!("write a space between them: `{keyword} {rest}`")));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ syntax errors

fn syntax_error(error: &pest::error::Error<Rule>, source: &str) -> Diagnostic {
    let position = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let message_and_expected = match &error.variant {
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error("syntax", found_span(source, position), message.clone())
        }
        ErrorVariant::ParsingError { positives, .. } => positives,
    };
    let mut expected: BTreeSet<String> = message_and_expected
        .iter()
        .filter_map(|r| describe_rule(*r))
        .map(str::to_string)
        .collect();
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            // Literal keywords and punctuation; character ranges and built-in
            // rules are already described by the rule they belong to, and `_`
            // and `.` only come from the lookahead that ends a word.
            let token = token.to_string();
            let token = token.trim();
            let noise = token.is_empty()
                || ["#", "_", ".", "BUILTIN_RULE"].contains(&token)
                || (token.len() > 2 && token.contains(".."));
            if !noise {
                expected.insert(format!("`{token}`"));
            }
        }
    }
    let found_at = found_span(source, position);
    let found = source
        .get(found_at.range())
        .filter(|s| !s.is_empty())
        .map_or_else(|| "the end of the file".to_string(), |s| format!("`{s}`"));
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", or_list(expected.into_iter()))
    };
    let mut diagnostic = Diagnostic::error("syntax", found_at, message);
    if let Some(help) = syntax_help(source, found_at) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// The token at `position`: a word, or one character, or nothing at the end.
fn found_span(source: &str, position: usize) -> Span {
    let rest = source.get(position..).unwrap_or_default();
    let word = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let len = if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    };
    Span::new(position, position + len)
}

fn syntax_help(source: &str, found: Span) -> Option<String> {
    let text = source.get(found.range())?;
    let line_start = source.get(..found.start)?.rfind('\n').map_or(0, |i| i + 1);
    let previous_word = source
        .get(line_start..found.start)?
        .split(|c: char| !is_word_char(c))
        .rfind(|w| !w.is_empty());
    let line = source.get(line_start..found.start)?.trim_start();
    if line.starts_with("cap ")
        && enclosing_block(source, found.start) == Some("points")
        && previous_word.is_some_and(|w| w.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return Some(
            "a points type's cap counts what every rule pays and names no type, \
             `cap 500 per member per day`; to cap one rule's award, write the cap in the `rule` block"
                .into(),
        );
    }
    for word in [Some(text), previous_word].into_iter().flatten() {
        if let Some(keyword) = misspelt_keyword(word) {
            return Some(format!(
                "`{word}` is not a keyword: did you mean `{keyword}`?"
            ));
        }
    }
    if let Some(help) = block_help(source, found, text, previous_word) {
        Some(help)
    } else if starts_statement(text) {
        Some(format!(
            "`{text}` starts a new statement: is the one before it finished?"
        ))
    } else if text.starts_with('\'') {
        Some("text is written in double quotes, like `\"app\"`".into())
    } else if text.chars().any(|c| c.is_ascii_uppercase())
        && text.chars().any(|c| c.is_ascii_lowercase())
    {
        Some("names are written in lowercase, with `_` between words, like `gold_extra`".into())
    } else if text.contains(',') {
        Some("write numbers without separators, like `25000`, and text in double quotes".into())
    } else {
        None
    }
}

/// Help that knows the block the error is in: a statement written in a
/// block that does not take it (`cap` in `points`, `expire` in a `rule`),
/// a `times` table written after the `earn` line, a currency after a
/// tier threshold.
fn block_help(source: &str, found: Span, text: &str, previous: Option<&str>) -> Option<String> {
    let block = enclosing_block(source, found.start)?;
    if text == "times" && block == "rule" {
        return Some(
            "`times` multiplies an `earn`: end the `earn` statement with it, \
             `earn 1 stars per 1 USD of amount times tier { gold: 2 }`, before `round` and the rest"
                .into(),
        );
    }
    let after_number = previous.is_some_and(|w| w.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if block == "tiers"
        && after_number
        && text.len() == 3
        && text.chars().all(|c| c.is_ascii_uppercase())
    {
        return Some(format!(
            "a threshold is a plain number in its measure's unit (a sum of amounts is in the \
             program's currency already): write it without `{text}`"
        ));
    }
    let takes = |block: &str| {
        BLOCK_STATEMENTS
            .iter()
            .any(|(b, words)| *b == block && words.contains(&text))
    };
    if takes(block) {
        return None;
    }
    let homes: Vec<&str> = BLOCK_STATEMENTS
        .iter()
        .filter(|(_, words)| words.contains(&text))
        .map(|(b, _)| *b)
        .collect();
    let home = homes.first()?;
    let why = match (text, block) {
        ("cap", _) => "a cap limits what a rule, or a points type, awards a member".to_string(),
        _ => format!(
            "`{text}` is a statement of {}",
            or_list(homes.iter().map(|b| format!("`{b}`")))
        ),
    };
    Some(format!(
        "{why}: write it in a `{home}` block, not in `{block}`"
    ))
}

/// The top-level block (`rule` for `preview rule`) whose braces hold
/// `position`, if any: the last line before it that starts with a block's
/// word in its first column, if its `{` is still open there.
fn enclosing_block(source: &str, position: usize) -> Option<&'static str> {
    let before = source.get(..position)?;
    let (start, word) = before
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(0))
        .filter_map(|start| {
            let line = before.get(start..)?;
            let word = line.split(|c: char| !is_word_char(c)).next()?;
            let word = BLOCK_WORDS.iter().find(|w| **w == word)?;
            Some((start, *word))
        })
        .max_by_key(|(start, _)| *start)?;
    let mut depth = 0i32;
    for c in before.get(start..)?.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    (depth > 0).then_some(if word == "preview" { "rule" } else { word })
}

/// The most syntax errors told for one source.
const MOST_SYNTAX_ERRORS: usize = 20;

/// The syntax errors of `source`, as far as they can be told apart: the
/// first, then the first from the start of the next top-level block after
/// it (a line that starts with a block's word in its first column), and so
/// on, as a compiler recovers at the next item. Empty when it parses.
pub fn syntax_errors(source: &str) -> Vec<Diagnostic> {
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut offset = 0;
    while errors.len() < MOST_SYNTAX_ERRORS {
        let rest = source.get(offset..).unwrap_or_default();
        let Err(mut error) = parse_with_comments(rest) else {
            break;
        };
        let at = error.span.start;
        error.span = Span::new(error.span.start + offset, error.span.end + offset);
        errors.push(error);
        match next_block(rest, at) {
            Some(next) => offset += next,
            None => break,
        }
    }
    errors
}

/// Where the first top-level block after the line of `position` starts.
fn next_block(source: &str, position: usize) -> Option<usize> {
    let line_end = position + source.get(position..)?.find('\n')?;
    source
        .get(line_end..)?
        .match_indices('\n')
        .map(|(i, _)| line_end + i + 1)
        .find(|&start| {
            let line = source.get(start..).unwrap_or_default();
            let word = line
                .split(|c: char| !is_word_char(c))
                .next()
                .unwrap_or_default();
            BLOCK_WORDS.contains(&word)
                && line
                    .get(word.len()..)
                    .is_some_and(|after| after.starts_with([' ', '\t', '{']))
        })
}

/// The keyword a word is a near miss of, if any.
fn misspelt_keyword(word: &str) -> Option<&'static str> {
    if word.len() < 3 || KEYWORDS.contains(&word) {
        return None;
    }
    KEYWORDS
        .iter()
        .filter(|k| k.len() >= 3)
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(distance, _)| *distance <= 1 + word.len() / 6)
        .min()
        .map(|(_, k)| k)
}

fn describe_rule(kind: Rule) -> Option<&'static str> {
    Some(match kind {
        Rule::ident => "a name",
        Rule::number | Rule::number_part => "a number",
        Rule::date => "a date like `2025-01-31`",
        Rule::currency => "a currency code like `USD`",
        Rule::string => "a text in double quotes",
        Rule::percent => "a percentage like `15%`",
        Rule::money => "an amount of money like `4.50 USD`",
        Rule::duration => "a duration like `14 days`",
        Rule::time_unit => "`days`, `weeks`, `months` or `years`",
        Rule::calendar_unit => "`day`, `week`, `month`, `quarter` or `year`",
        Rule::period => "`day`, `week`, `month`, `quarter`, `year` or `lifetime`",
        Rule::field_type => "a field type (`number`, `money`, `text`, `date` or `bool`)",
        Rule::expr => "an expression",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

fn internal(span: Span) -> Diagnostic {
    Diagnostic::error(
        "internal",
        span,
        "the parser met a shape it does not know: this is a bug in loyalty",
    )
}

// ------------------------------------------------------------------ tree walking

type Result<T, E = Diagnostic> = std::result::Result<T, E>;

/// A pair's span without the whitespace and comments pest skipped after its
/// last token (a rule ending in an optional part takes them in).
fn span(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    let mut text = s.as_str();
    loop {
        let trimmed = text.trim_end();
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let comment = trimmed.get(line_start..).and_then(comment_start);
        text = match comment {
            Some(at) => trimmed.get(..line_start + at).unwrap_or(trimmed),
            None => trimmed,
        };
        if comment.is_none() {
            break;
        }
    }
    Span::new(s.start(), s.start() + text.len())
}

/// Where a `#` comment starts in a line, outside any string.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '#' if !in_string => return Some(i),
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && !escaped && c == '\\';
    }
    None
}

/// The children of a pair, without comments.
fn children(pair: Pair<Rule>) -> impl Iterator<Item = Pair<Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::COMMENT)
}

/// The children of a pair, read in order, each of an expected rule.
struct Children<'i> {
    pairs: std::iter::Peekable<std::vec::IntoIter<Pair<'i, Rule>>>,
    span: Span,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i, Rule>) -> Self {
        let span = span(&pair);
        Children {
            pairs: children(pair).collect::<Vec<_>>().into_iter().peekable(),
            span,
        }
    }

    fn next(&mut self) -> Result<Pair<'i, Rule>> {
        self.pairs.next().ok_or_else(|| internal(self.span))
    }

    fn expect(&mut self, kind: Rule) -> Result<Pair<'i, Rule>> {
        match self.pairs.next() {
            Some(p) if p.as_rule() == kind => Ok(p),
            _ => Err(internal(self.span)),
        }
    }

    fn optional(&mut self, kind: Rule) -> Option<Pair<'i, Rule>> {
        self.pairs.next_if(|p| p.as_rule() == kind)
    }

    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.pairs
    }
}

fn ident(pair: Pair<Rule>) -> Ident {
    Spanned::new(pair.as_str().to_string(), span(&pair))
}

/// The largest number a program may write: 10^15, a quadrillion.
const LARGEST_LITERAL: i64 = 1_000_000_000_000_000;

/// The most decimal places a number of a program may have.
const MOST_DECIMALS: u32 = 10;

fn decimal(pair: &Pair<Rule>) -> Result<Number> {
    let text = pair.as_str().trim();
    let text = text.strip_suffix('%').unwrap_or(text);
    let out_of_range = |why: String| {
        Diagnostic::error("number-too-large", span(pair), why).with_help(
            "amounts summed over a run stay within 10^20: constants beyond a quadrillion, or \
             finer than ten decimals, would overflow them",
        )
    };
    let value = Decimal::from_str_exact(text).map_err(|_| {
        out_of_range(format!(
            "`{text}` has more digits than loyalty can compute with exactly"
        ))
    })?;
    if value > Decimal::from(LARGEST_LITERAL) {
        return Err(out_of_range(format!(
            "`{text}` is beyond the largest number a program may write, 10^15"
        )));
    }
    if value.scale() > MOST_DECIMALS {
        return Err(out_of_range(format!(
            "`{text}` has more than {MOST_DECIMALS} decimal places"
        )));
    }
    Ok(Spanned::new(value, span(pair)))
}

fn date(pair: &Pair<Rule>) -> Result<Spanned<NaiveDate>> {
    NaiveDate::parse_from_str(pair.as_str(), "%Y-%m-%d")
        .map(|d| Spanned::new(d, span(pair)))
        .map_err(|_| {
            Diagnostic::error(
                "invalid-date",
                span(pair),
                format!("`{}` is not a date in the calendar", pair.as_str()),
            )
            .with_help("dates are written year-month-day, like `2025-02-28`")
        })
}

fn string(pair: Pair<Rule>) -> Result<Spanned<String>> {
    let s = span(&pair);
    let text = Children::of(pair).expect(Rule::string_text)?;
    let mut out = String::new();
    let mut escaped = false;
    for c in text.as_str().chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    Ok(Spanned::new(out, s))
}

fn money(pair: Pair<Rule>) -> Result<Money> {
    let mut c = Children::of(pair);
    let amount = decimal(&c.expect(Rule::number)?)?;
    let currency = ident(c.expect(Rule::currency)?);
    Ok(Money { amount, currency })
}

fn duration(pair: Pair<Rule>) -> Result<Duration> {
    let s = span(&pair);
    let mut c = Children::of(pair);
    let count = decimal(&c.expect(Rule::number)?)?;
    let unit = match c.expect(Rule::time_unit)?.as_str().trim_end_matches('s') {
        "day" => TimeUnit::Day,
        "week" => TimeUnit::Week,
        "month" => TimeUnit::Month,
        _ => TimeUnit::Year,
    };
    Ok(Duration {
        count,
        unit,
        span: s,
    })
}

fn calendar_unit(pair: Pair<Rule>) -> Spanned<CalendarUnit> {
    let unit = match pair.as_str() {
        "day" => CalendarUnit::Day,
        "week" => CalendarUnit::Week,
        "month" => CalendarUnit::Month,
        "quarter" => CalendarUnit::Quarter,
        _ => CalendarUnit::Year,
    };
    Spanned::new(unit, span(&pair))
}

fn period(pair: Pair<Rule>) -> Spanned<Period> {
    let p = match pair.as_str() {
        "day" => Period::Day,
        "week" => Period::Week,
        "month" => Period::Month,
        "quarter" => Period::Quarter,
        "year" => Period::Year,
        _ => Period::Lifetime,
    };
    Spanned::new(p, span(&pair))
}

/// `per member per <period>` / `per <period>`: the period inside.
fn inner_period(pair: Pair<Rule>) -> Result<Spanned<Period>> {
    Ok(period(Children::of(pair).expect(Rule::period)?))
}

// ------------------------------------------------------------------ items

fn build_item(pair: Pair<Rule>) -> Result<Item> {
    let s = span(&pair);
    Ok(match pair.as_rule() {
        Rule::program => Item::Program(program(pair, s)?),
        Rule::member => Item::Member(MemberDecl {
            fields: children(pair).map(field).collect::<Result<_>>()?,
            span: s,
        }),
        Rule::event_decl => {
            let mut c = Children::of(pair);
            let name = ident(c.expect(Rule::ident)?);
            Item::Event(EventDecl {
                name,
                fields: c.rest().map(field).collect::<Result<_>>()?,
                span: s,
            })
        }
        Rule::points => Item::Points(points(pair, s)?),
        Rule::tiers => Item::Tiers(tiers(pair, s)?),
        Rule::rule_decl => Item::Rule(rule(pair, s)?),
        Rule::perk => Item::Perk(perk(pair, s)?),
        Rule::reward => Item::Reward(reward(pair, s)?),
        _ => return Err(internal(s)),
    })
}

fn program(pair: Pair<Rule>, s: Span) -> Result<ProgramDecl> {
    let mut c = Children::of(pair);
    let name = string(c.expect(Rule::string)?)?;
    let mut settings = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        let kind = stmt.as_rule();
        let mut c = Children::of(stmt);
        let setting = match kind {
            Rule::currency_stmt => ProgramSetting::Currency(ident(c.expect(Rule::currency)?)),
            Rule::timezone_stmt => ProgramSetting::Timezone(string(c.expect(Rule::string)?)?),
            Rule::effective_stmt => ProgramSetting::Effective(date(&c.expect(Rule::date)?)?),
            Rule::overspent_stmt => ProgramSetting::Overspent(match c.next()?.as_rule() {
                Rule::go_negative => OverspentPolicy::GoNegative,
                _ => OverspentPolicy::WriteOff,
            }),
            Rule::late_stmt => ProgramSetting::AcceptLate(duration(c.expect(Rule::duration)?)?),
            Rule::returns_stmt => {
                ProgramSetting::AcceptReturns(duration(c.expect(Rule::duration)?)?)
            }
            Rule::duplicates_stmt => {
                ProgramSetting::DuplicateWindow(duration(c.expect(Rule::duration)?)?)
            }
            Rule::survey_stmt => ProgramSetting::Survey {
                event: ident(c.expect(Rule::ident)?),
                field: ident(c.expect(Rule::ident)?),
            },
            _ => return Err(internal(ss)),
        };
        settings.push(Spanned::new(setting, ss));
    }
    Ok(ProgramDecl {
        name,
        settings,
        span: s,
    })
}

fn field(pair: Pair<Rule>) -> Result<FieldDecl> {
    let s = span(&pair);
    let mut c = Children::of(pair);
    let name = ident(c.expect(Rule::ident)?);
    let optional = c.optional(Rule::optional).is_some();
    let ty_pair = c.expect(Rule::field_type)?;
    let ty = match ty_pair.as_str() {
        "number" => FieldType::Number,
        "money" => FieldType::Money,
        "text" => FieldType::Text,
        "date" => FieldType::Date,
        _ => FieldType::Bool,
    };
    Ok(FieldDecl {
        name,
        optional,
        ty: Spanned::new(ty, span(&ty_pair)),
        span: s,
    })
}

fn points(pair: Pair<Rule>, s: Span) -> Result<PointsDecl> {
    let mut c = Children::of(pair);
    let name = ident(c.expect(Rule::ident)?);
    let mut settings = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        let kind = stmt.as_rule();
        let mut c = Children::of(stmt);
        let setting = match kind {
            Rule::precision_stmt => PointsSetting::Precision(decimal(&c.expect(Rule::number)?)?),
            Rule::value_stmt => PointsSetting::Value(money(c.expect(Rule::money)?)?),
            Rule::breakage_stmt => PointsSetting::Breakage(decimal(&c.expect(Rule::percent)?)?),
            Rule::pending_stmt => PointsSetting::Pending(duration(c.expect(Rule::duration)?)?),
            Rule::qualifying_stmt => PointsSetting::Qualifying,
            Rule::expire_stmt => PointsSetting::Expire(expiry(c.next()?)?),
            Rule::transfers_stmt => PointsSetting::Transfers(
                c.rest()
                    .map(|option| {
                        let os = span(&option);
                        let kind = option.as_rule();
                        let mut c = Children::of(option);
                        let option = match kind {
                            Rule::transfer_min => {
                                TransferOption::Min(decimal(&c.expect(Rule::number)?)?)
                            }
                            Rule::transfer_fee => {
                                TransferOption::Fee(decimal(&c.expect(Rule::percent)?)?)
                            }
                            Rule::keep_expiry => TransferOption::Expiry(TransferExpiry::Keep),
                            Rule::restart_expiry => TransferOption::Expiry(TransferExpiry::Restart),
                            _ => return Err(internal(os)),
                        };
                        Ok(Spanned::new(option, os))
                    })
                    .collect::<Result<_>>()?,
            ),
            Rule::redeem_stmt => PointsSetting::Redeem(
                c.rest()
                    .map(|limit| {
                        let ls = span(&limit);
                        let kind = limit.as_rule();
                        let n = decimal(&Children::of(limit).expect(Rule::number)?)?;
                        let limit = if kind == Rule::at_least {
                            RedeemLimit::AtLeast(n)
                        } else {
                            RedeemLimit::AtMost(n)
                        };
                        Ok(Spanned::new(limit, ls))
                    })
                    .collect::<Result<_>>()?,
            ),
            Rule::pool_stmt => PointsSetting::Pool {
                kind: ident(c.expect(Rule::ident)?),
                most: c.rest().next().map(|n| decimal(&n)).transpose()?,
            },
            Rule::points_cap_stmt => PointsSetting::Cap {
                amount: decimal(&c.expect(Rule::number)?)?,
                period: inner_period(c.expect(Rule::per_member_period)?)?,
            },
            _ => return Err(internal(ss)),
        };
        settings.push(Spanned::new(setting, ss));
    }
    Ok(PointsDecl {
        name,
        settings,
        span: s,
    })
}

fn expiry(pair: Pair<Rule>) -> Result<Expiry> {
    let kind = pair.as_rule();
    let mut c = Children::of(pair);
    Ok(match kind {
        Rule::never => Expiry::Never,
        Rule::expire_inactivity => Expiry::Inactivity(duration(c.expect(Rule::duration)?)?),
        Rule::expire_calendar => Expiry::EndOf {
            unit: calendar_unit(c.expect(Rule::calendar_unit)?),
            plus: c.optional(Rule::number).map(|p| decimal(&p)).transpose()?,
        },
        Rule::expire_after_earn => Expiry::AfterEarn {
            term: duration(c.expect(Rule::duration)?)?,
            end_of: c
                .optional(Rule::end_of)
                .map(|p| {
                    Children::of(p)
                        .expect(Rule::calendar_unit)
                        .map(calendar_unit)
                })
                .transpose()?,
        },
        _ => return Err(internal(c.span)),
    })
}

// ------------------------------------------------------------------ tiers

fn tiers(pair: Pair<Rule>, s: Span) -> Result<TiersDecl> {
    let mut c = Children::of(pair);
    let by = match c.optional(Rule::tiers_by) {
        Some(p) => children(p).map(measure_source).collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let window_pair = c.next()?;
    let ws = span(&window_pair);
    let window_rule = window_pair.as_rule();
    let mut wc = Children::of(window_pair);
    let window = match window_rule {
        Rule::calendar_window => {
            let unit = calendar_unit(wc.expect(Rule::calendar_unit)?).node;
            let from = match wc.optional(Rule::date) {
                Some(d) => Some(date(&d)?.node),
                None => None,
            };
            Window::Calendar(unit, from)
        }
        Rule::rolling_window => Window::Rolling(duration(wc.expect(Rule::duration)?)?),
        Rule::membership_window => Window::Membership,
        Rule::qualification_window => Window::Qualification,
        _ => return Err(internal(ws)),
    };
    let mut stmts = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        stmts.push(Spanned::new(tier_stmt(stmt)?, ss));
    }
    Ok(TiersDecl {
        by,
        window: Spanned::new(window, ws),
        stmts,
        span: s,
    })
}

fn measure_source(pair: Pair<Rule>) -> Result<Spanned<MeasureSource>> {
    let s = span(&pair);
    let kind = pair.as_rule();
    let mut c = Children::of(pair);
    let source = match kind {
        Rule::count_of => MeasureSource::Count(ident(c.expect(Rule::ident)?)),
        Rule::field_sum => MeasureSource::FieldSum {
            event: ident(c.expect(Rule::ident)?),
            field: ident(c.expect(Rule::ident)?),
        },
        Rule::points_sum | Rule::points_earned => {
            MeasureSource::PointsEarned(ident(c.expect(Rule::ident)?))
        }
        Rule::balance_of => MeasureSource::Balance(ident(c.expect(Rule::ident)?)),
        _ => return Err(internal(s)),
    };
    Ok(Spanned::new(source, s))
}

fn tier_stmt(pair: Pair<Rule>) -> Result<TierStmt> {
    let kind = pair.as_rule();
    let mut c = Children::of(pair);
    Ok(match kind {
        Rule::measure_stmt => TierStmt::Measure {
            name: ident(c.expect(Rule::ident)?),
            source: measure_source(c.next()?)?,
        },
        Rule::tier_def => TierStmt::Tier(TierDef {
            name: ident(c.expect(Rule::ident)?),
            qualify: threshold(c.next()?)?,
            keep: c
                .optional(Rule::keep)
                .map(|p| Children::of(p).next().and_then(threshold))
                .transpose()?,
        }),
        Rule::upgrade_stmt => TierStmt::Upgrade(match c.next()?.as_rule() {
            Rule::immediately => UpgradePolicy::Immediately,
            _ => UpgradePolicy::AtPeriodEnd,
        }),
        Rule::downgrade_stmt => {
            if c.optional(Rule::never).is_some() {
                TierStmt::Downgrade(DowngradePolicy::Never)
            } else {
                c.expect(Rule::at_period_end)?;
                let mut options = Vec::new();
                for option in c.rest() {
                    let os = span(&option);
                    let kind = option.as_rule();
                    let mut oc = Children::of(option);
                    let option = match kind {
                        Rule::step_opt => {
                            DowngradeOption::Step(decimal(&oc.expect(Rule::number)?)?)
                        }
                        _ => DowngradeOption::Grace(duration(oc.expect(Rule::duration)?)?),
                    };
                    options.push(Spanned::new(option, os));
                }
                TierStmt::Downgrade(DowngradePolicy::AtPeriodEnd(options))
            }
        }
        Rule::lifetime_stmt => TierStmt::Lifetime {
            tier: ident(c.expect(Rule::ident)?),
            amount: decimal(&c.expect(Rule::number)?)?,
            points: ident(c.expect(Rule::ident)?),
        },
        Rule::rollover_stmt => TierStmt::Rollover {
            measure: c.optional(Rule::ident).map(ident),
            cap: decimal(&c.expect(Rule::number)?)?,
        },
        Rule::status_match_stmt => TierStmt::StatusMatch {
            tier: ident(c.expect(Rule::ident)?),
        },
        _ => return Err(internal(c.span)),
    })
}

fn threshold(pair: Pair<Rule>) -> Result<Threshold> {
    Ok(match pair.as_rule() {
        Rule::from_start => Threshold::Start,
        Rule::when_cond => Threshold::When(expr(Children::of(pair).expect(Rule::expr)?)?),
        Rule::from_values | Rule::keep_values => {
            Threshold::Values(children(pair).map(|p| decimal(&p)).collect::<Result<_>>()?)
        }
        _ => return Err(internal(span(&pair))),
    })
}

// ------------------------------------------------------------------ rules

fn rule(pair: Pair<Rule>, s: Span) -> Result<RuleDecl> {
    let mut c = Children::of(pair);
    let preview = c.pairs.next_if(|p| p.as_rule() == Rule::preview).is_some();
    let name = ident(c.expect(Rule::ident)?);
    let mut stmts = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        stmts.push(Spanned::new(rule_stmt(stmt)?, ss));
    }
    Ok(RuleDecl {
        preview,
        name,
        stmts,
        span: s,
    })
}

fn rule_stmt(pair: Pair<Rule>) -> Result<RuleStmt> {
    let kind = pair.as_rule();
    let mut c = Children::of(pair);
    Ok(match kind {
        Rule::on_stmt => RuleStmt::On {
            event: ident(c.expect(Rule::ident)?),
            condition: c.optional(Rule::expr).map(expr).transpose()?,
        },
        Rule::earn_stmt => RuleStmt::Earn(Earn {
            award: award(c.next()?)?,
            multiplier: c.optional(Rule::multiplier).map(multiplier).transpose()?,
            to_referrer: c.optional(Rule::to_referrer).is_some(),
        }),
        Rule::cap_stmt => RuleStmt::Cap {
            amount: decimal(&c.expect(Rule::number)?)?,
            points: ident(c.expect(Rule::ident)?),
            scope: {
                let scope = c.next()?;
                match scope.as_rule() {
                    Rule::per_event => CapScope::PerEvent,
                    Rule::per_item => CapScope::PerItem,
                    _ => CapScope::PerMember(inner_period(scope)?),
                }
            },
        },
        Rule::limit_stmt => {
            let count = decimal(&c.expect(Rule::number)?)?;
            match c.optional(Rule::per_referrer) {
                Some(_) => RuleStmt::LimitPerReferrer { count },
                None => RuleStmt::Limit {
                    count,
                    period: inner_period(c.expect(Rule::per_member_period)?)?,
                },
            }
        }
        Rule::budget_stmt => RuleStmt::Budget {
            amount: decimal(&c.expect(Rule::number)?)?,
            points: ident(c.expect(Rule::ident)?),
            period: c.optional(Rule::per_period).map(inner_period).transpose()?,
        },
        Rule::round_stmt => RuleStmt::Round(match c.next()?.as_rule() {
            Rule::round_half_up => Rounding::HalfUp,
            Rule::round_half_even => Rounding::HalfEven,
            Rule::round_up => Rounding::Up,
            _ => Rounding::Down,
        }),
        Rule::group_stmt => RuleStmt::Group {
            name: ident(c.expect(Rule::ident)?),
            by_order: c.optional(Rule::by_order).is_some(),
        },
        Rule::during_stmt => RuleStmt::During {
            from: date(&c.expect(Rule::date)?)?,
            to: date(&c.expect(Rule::date)?)?,
        },
        Rule::min_spend_stmt => RuleStmt::MinSpend(money(c.expect(Rule::money)?)?),
        Rule::stop_stmt => RuleStmt::Stop,
        Rule::expire_stmt => RuleStmt::Expire(expiry(c.next()?)?),
        Rule::multiply_stmt => RuleStmt::Multiply {
            points: ident(c.expect(Rule::ident)?),
            factor: decimal(&c.expect(Rule::number)?)?,
        },
        _ => return Err(internal(c.span)),
    })
}

fn award(pair: Pair<Rule>) -> Result<Award> {
    let kind = pair.as_rule();
    let mut c = Children::of(pair);
    Ok(match kind {
        Rule::earn_percent => Award::PercentOf {
            percent: decimal(&c.expect(Rule::percent)?)?,
            rule: ident(c.expect(Rule::ident)?),
            points: c.optional(Rule::ident).map(ident),
        },
        Rule::earn_amount => Award::Amount {
            amount: expr(c.expect(Rule::expr)?)?,
            points: ident(c.expect(Rule::ident)?),
            per: c.optional(Rule::per_clause).map(per_clause).transpose()?,
            filter: c
                .optional(Rule::item_filter)
                .map(|f| expr(Children::of(f).expect(Rule::expr)?).map(Box::new))
                .transpose()?,
        },
        _ => return Err(internal(c.span)),
    })
}

fn per_clause(pair: Pair<Rule>) -> Result<PerClause> {
    let s = span(&pair);
    let mut c = Children::of(pair);
    let full = c.optional(Rule::full).is_some();
    if let Some(count) = c.optional(Rule::item_count) {
        // `per 2 items` is `per 2 of item.quantity`, written as a count.
        let mut cc = Children::of(count);
        let unit = match cc.optional(Rule::number) {
            Some(number) => decimal(&number)?,
            None => Spanned::new(Decimal::ONE, s),
        };
        let word = span(&cc.expect(Rule::item_word)?);
        let quantity = Spanned::new("quantity".to_string(), word);
        return Ok(PerClause {
            full,
            unit,
            currency: None,
            base: Spanned::new(ExprKind::ItemField(quantity), word),
            items: true,
            span: s,
        });
    }
    Ok(PerClause {
        full,
        unit: decimal(&c.expect(Rule::number)?)?,
        currency: c.optional(Rule::currency).map(ident),
        base: expr(c.expect(Rule::expr)?)?,
        items: false,
        span: s,
    })
}

fn multiplier(pair: Pair<Rule>) -> Result<Multiplier> {
    let s = span(&pair);
    let mut c = Children::of(pair);
    let key = ident(c.expect(Rule::ident)?);
    let mut entries = Vec::new();
    for entry in c.rest() {
        let mut ec = Children::of(entry);
        let key_pair = ec.next()?;
        let ks = span(&key_pair);
        let key = match key_pair.as_rule() {
            Rule::string => TableKey::Text(string(key_pair)?.node),
            Rule::else_key => TableKey::Else,
            Rule::ident => TableKey::Name(key_pair.as_str().to_string()),
            _ => TableKey::Number(decimal(&key_pair)?.node),
        };
        entries.push(TableEntry {
            key: Spanned::new(key, ks),
            factor: decimal(&ec.expect(Rule::number)?)?,
        });
    }
    Ok(Multiplier {
        key,
        entries,
        span: s,
    })
}

// ------------------------------------------------------------------ perks, rewards

fn perk(pair: Pair<Rule>, s: Span) -> Result<PerkDecl> {
    let mut c = Children::of(pair);
    let name = ident(c.expect(Rule::ident)?);
    let set_pair = c.next()?;
    let set_span = span(&set_pair);
    let tiers = match set_pair.as_rule() {
        Rule::tiers_all => TierSet::All,
        Rule::tier_and_above => {
            TierSet::AndAbove(ident(Children::of(set_pair).expect(Rule::ident)?))
        }
        _ => TierSet::List(children(set_pair).map(ident).collect()),
    };
    let mut settings = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        let setting = match stmt.as_rule() {
            Rule::perk_limit => {
                let mut c = Children::of(stmt);
                PerkSetting::Limit {
                    count: decimal(&c.expect(Rule::number)?)?,
                    period: inner_period(c.expect(Rule::per_period)?)?,
                }
            }
            _ => PerkSetting::Cost(cost(stmt)?),
        };
        settings.push(Spanned::new(setting, ss));
    }
    Ok(PerkDecl {
        name,
        tiers: Spanned::new(tiers, set_span),
        settings,
        span: s,
    })
}

fn cost(pair: Pair<Rule>) -> Result<Money> {
    money(Children::of(pair).expect(Rule::money)?)
}

fn reward(pair: Pair<Rule>, s: Span) -> Result<RewardDecl> {
    let mut c = Children::of(pair);
    let name = ident(c.expect(Rule::ident)?);
    let mut settings = Vec::new();
    for stmt in c.rest() {
        let ss = span(&stmt);
        let setting = match stmt.as_rule() {
            Rule::price_stmt => {
                let mut c = Children::of(stmt);
                RewardSetting::Price {
                    amount: decimal(&c.expect(Rule::number)?)?,
                    points: ident(c.expect(Rule::ident)?),
                    tiers: c
                        .rest()
                        .flat_map(|list| children(list).map(ident).collect::<Vec<_>>())
                        .collect(),
                }
            }
            _ => RewardSetting::Cost(cost(stmt)?),
        };
        settings.push(Spanned::new(setting, ss));
    }
    Ok(RewardDecl {
        name,
        settings,
        span: s,
    })
}

// ------------------------------------------------------------------ expressions

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left))
        .op(Op::postfix(Rule::in_list) | Op::postfix(Rule::in_range))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
});

fn expr(pair: Pair<Rule>) -> Result<Expr> {
    let s = span(&pair);
    if pair.clone().into_inner().flatten().count() > MAX_EXPRESSION_TOKENS {
        return Err(Diagnostic::error(
            "too-long",
            s,
            format!("this expression has more than {MAX_EXPRESSION_TOKENS} parts"),
        )
        .with_help("split it into several rules or measures"));
    }
    PRATT
        .map_primary(primary)
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let op_kind = if op.as_rule() == Rule::op_not {
                UnaryOp::Not
            } else {
                UnaryOp::Neg
            };
            Ok(Spanned::new(
                ExprKind::Unary {
                    op: op_kind,
                    expr: Box::new(rhs.clone()),
                },
                span(&op).to(rhs.span),
            ))
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let op = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                Rule::op_eq => BinaryOp::Eq,
                Rule::op_ne => BinaryOp::Ne,
                Rule::op_lt => BinaryOp::Lt,
                Rule::op_le => BinaryOp::Le,
                Rule::op_gt => BinaryOp::Gt,
                Rule::op_ge => BinaryOp::Ge,
                Rule::op_add => BinaryOp::Add,
                Rule::op_sub => BinaryOp::Sub,
                Rule::op_mul => BinaryOp::Mul,
                _ => BinaryOp::Div,
            };
            let s = lhs.span.to(rhs.span);
            Ok(Spanned::new(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                s,
            ))
        })
        .map_postfix(|lhs, op| {
            let lhs = lhs?;
            let s = lhs.span.to(span(&op));
            let kind = if op.as_rule() == Rule::in_list {
                ExprKind::InList {
                    expr: Box::new(lhs),
                    items: children(op).map(expr).collect::<Result<_>>()?,
                }
            } else {
                let mut c = Children::of(op);
                ExprKind::InRange {
                    expr: Box::new(lhs),
                    low: Box::new(primary(c.next()?)?),
                    high: Box::new(primary(c.next()?)?),
                }
            };
            Ok(Spanned::new(kind, s))
        })
        .parse(children(pair))
}

fn primary(pair: Pair<Rule>) -> Result<Expr> {
    let s = span(&pair);
    let kind = match pair.as_rule() {
        Rule::paren => ExprKind::Paren(Box::new(expr(Children::of(pair).expect(Rule::expr)?)?)),
        Rule::date => ExprKind::Date(date(&pair)?.node),
        Rule::money => ExprKind::Money(money(pair)?),
        Rule::duration => ExprKind::Duration(duration(pair)?),
        Rule::percent => ExprKind::Percent(decimal(&pair)?.node),
        Rule::number => ExprKind::Number(decimal(&pair)?.node),
        Rule::string => ExprKind::Text(string(pair)?.node),
        Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
        Rule::member_attr => ExprKind::MemberAttr(ident(Children::of(pair).expect(Rule::ident)?)),
        Rule::item_field => ExprKind::ItemField(ident(Children::of(pair).expect(Rule::ident)?)),
        Rule::balance_ref => ExprKind::Balance(ident(Children::of(pair).expect(Rule::ident)?)),
        Rule::first_purchase => ExprKind::FirstPurchase,
        Rule::counter_ref => {
            let mut c = Children::of(pair);
            let source = measure_source(c.next()?)?;
            let window = c.next()?;
            let ws = span(&window);
            let window = match window.as_rule() {
                Rule::this_period => {
                    let unit = Children::of(window).expect(Rule::calendar_unit)?;
                    CounterWindow::This(calendar_unit(unit).node)
                }
                _ => CounterWindow::Last(duration(Children::of(window).expect(Rule::duration)?)?),
            };
            ExprKind::Counter(Box::new(CounterRef {
                source,
                window: Spanned::new(window, ws),
            }))
        }
        Rule::name => ExprKind::Name(pair.as_str().to_string()),
        _ => return Err(internal(s)),
    };
    Ok(Spanned::new(kind, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_every_statement_keyword_are_suggested() {
        let cases = [
            ("tranfers", "transfers"),
            ("redem", "redeem"),
            ("pooll", "pool"),
            ("preveiw", "preview"),
            ("rolover", "rollover"),
            ("restrat", "restart"),
            ("expiy", "expiry"),
            ("fea", "fee"),
            ("leats", "least"),
            ("lsat", "last"),
            ("memebrs", "members"),
        ];
        for (typo, keyword) in cases {
            assert_eq!(misspelt_keyword(typo), Some(keyword), "{typo}");
        }
        let error = parse("points pts {\n  tranfers min 10\n}\n").unwrap_err();
        assert_eq!(
            error.help.as_deref(),
            Some("`tranfers` is not a keyword: did you mean `transfers`?")
        );
    }

    #[test]
    fn the_block_statements_are_the_grammars() {
        let grammar = include_str!("../../grammar/loyalty.pest");
        // A rule's definition: what follows `name = {` (or `@{`) on its line.
        let definition = |name: &str| {
            grammar.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?.trim_start();
                let rest = rest.strip_prefix('=')?.trim_start();
                Some(rest.trim_start_matches('@').to_string())
            })
        };
        let first_word = |text: &str| {
            let start = text.find('"')? + 1;
            let end = start + text.get(start..)?.find('"')?;
            text.get(start..end).map(str::to_string)
        };
        for (block, rule) in [
            ("program", "program"),
            ("points", "points"),
            ("tiers", "tiers"),
            ("rule", "rule_decl"),
            ("perk", "perk"),
            ("reward", "reward"),
        ] {
            // The statements are the alternatives of `"{" ~ ( ... )*`.
            let text = definition(rule).unwrap();
            let from = text.find("\"{\" ~ (").unwrap() + "\"{\" ~ (".len();
            let to = from + text[from..].find(")*").unwrap();
            let words: BTreeSet<String> = text[from..to]
                .split('|')
                .map(|alternative| first_word(&definition(alternative.trim()).unwrap()).unwrap())
                .collect();
            let table: BTreeSet<String> = BLOCK_STATEMENTS
                .iter()
                .find(|(b, _)| *b == block)
                .unwrap()
                .1
                .iter()
                .map(|w| w.to_string())
                .collect();
            assert_eq!(table, words, "the statements of `{block}`");
        }
    }

    #[test]
    fn the_keywords_are_the_words_the_grammar_quotes() {
        let grammar = r#"
// A "comment" is no keyword.
rule = { "rule" ~ ident ~ "{" ~ "}" }   // "nor" is this one
text = { "\"" ~ ("\\" ~ "\"" | "a_b")* ~ "\"" ~ "Upper" ~ ".." ~ "x2" }
"#;
        assert_eq!(
            quoted_words(grammar).into_iter().collect::<Vec<_>>(),
            ["a_b", "rule"]
        );
        // The grammar's own: the words of a few statements, no punctuation.
        for word in ["transfers", "members", "on", "days", "quarter", "bool"] {
            assert!(KEYWORDS.contains(word), "{word}");
        }
        assert!(KEYWORDS
            .iter()
            .all(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert!(!KEYWORDS.contains("app"), "a word from a comment");
    }
}
