//! The formatter: prints a program in one canonical layout, so that diffs in
//! review show changes of meaning, never of taste. Every comment is kept.
//!
//! The canonical form:
//!
//! - Two spaces of indentation. A block (`{ ... }`) holds one statement per
//!   line; an empty block prints as `{}`, and `points x` or `perk x for gold`
//!   without settings print without braces.
//! - Exactly one blank line between top-level items. Inside a block, a blank
//!   line the author left between statements is kept (several collapse to
//!   one); blank lines just inside the braces are dropped.
//! - Consecutive `tier` lines align what follows the tier name, and
//!   consecutive `measure` lines align their `=`, so thresholds read as a
//!   table.
//! - A comment on its own line stays before the item or statement that
//!   follows it, with the blank lines around it. A comment at the end of a
//!   line stays at the end of that line, one space after the code at least;
//!   such comments on consecutive lines of a block start in one column. A
//!   comment inside a construct printed on one line (a condition written over
//!   several lines, a multiplier table, a block header) moves to its own line
//!   just before that statement or item. A comment after a one-line block
//!   (`points x { qualifying } # why`) moves to the line that opens the block.
//! - Numbers print with the digits written (`4.50` stays `4.50`), durations as
//!   `1 month` or `6 months`, text in double quotes with `"` and `\`
//!   escaped, expressions with single spaces around operators and exactly the
//!   parentheses written. A multiplier table prints on one line.
//! - The measure `stars` prints as `stars earned` in a `tiers by` header and
//!   as `sum of stars` in a `measure` statement: the grammar reads both forms
//!   the same way in both places.
//! - Lines never carry trailing whitespace; the file ends with one newline.

use super::ast::*;
use super::{parse_with_comments, Comment};
use crate::diagnostic::Diagnostic;
use rust_decimal::Decimal;

/// Formats a program's text canonically, keeping its comments.
pub fn format(source: &str) -> Result<String, Diagnostic> {
    let (file, comments) = parse_with_comments(source)?;
    Ok(Printer::new(source, &comments).file(&file))
}

/// Prints a program tree in canonical form. Comments and the blank lines an
/// author left are not part of the tree, so they are not printed: use
/// [`format`] to reformat a program's text.
pub fn print(file: &File) -> String {
    Printer::new("", &[]).file(file)
}

// ------------------------------------------------------------------ lines

/// One output line before columns are aligned. A blank line has an empty
/// `head`; a comment on its own line is its `head`.
struct Line {
    depth: usize,
    head: String,
    /// The part of the line aligned in a column with the neighbouring lines
    /// of the same kind.
    tail: Option<(Column, String)>,
    /// A comment at the end of the line.
    comment: Option<String>,
}

/// The kinds of lines whose second part is aligned across consecutive lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    /// `tier gold   from 500`: the threshold after the tier name.
    Tier,
    /// `measure pqp = ...`: the `=` after the measure name.
    Measure,
}

/// A statement or header as printed, before comments are attached.
struct Text {
    head: String,
    tail: Option<(Column, String)>,
}

impl From<String> for Text {
    fn from(head: String) -> Self {
        Text { head, tail: None }
    }
}

impl From<&str> for Text {
    fn from(head: &str) -> Self {
        head.to_string().into()
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Joins the lines, padding aligned columns and end-of-line comments.
fn render(lines: &[Line]) -> String {
    let same_column = |a: &Line, b: &Line| {
        a.depth == b.depth && matches!((&a.tail, &b.tail), (Some((x, _)), Some((y, _))) if x == y)
    };
    let mut texts: Vec<(&Line, String)> = Vec::with_capacity(lines.len());
    for run in lines.chunk_by(same_column) {
        let column = run.iter().map(|line| width(&line.head)).max().unwrap_or(0);
        for line in run {
            let text = match &line.tail {
                Some((_, tail)) => {
                    let pad = column - width(&line.head) + 1;
                    format!("{}{}{tail}", line.head, " ".repeat(pad))
                }
                None => line.head.clone(),
            };
            texts.push((line, text));
        }
    }
    // The `}` of an empty block follows its header at the same depth, but
    // the two are not statements of one block: they do not align.
    let same_comment_run = |a: &(&Line, String), b: &(&Line, String)| {
        a.0.depth == b.0.depth && a.0.comment.is_some() && b.0.comment.is_some() && b.1 != "}"
    };
    let mut out = String::new();
    for run in texts.chunk_by(same_comment_run) {
        let column = run.iter().map(|(_, text)| width(text)).max().unwrap_or(0);
        for (line, text) in run {
            if !text.is_empty() {
                out.push_str(&"  ".repeat(line.depth));
                out.push_str(text);
            }
            if let Some(comment) = &line.comment {
                out.push_str(&" ".repeat(column - width(text) + 1));
                out.push_str(comment);
            }
            out.push('\n');
        }
    }
    out
}

// ------------------------------------------------------------------ comments and layout

/// Whether a blank line goes before the next line printed.
#[derive(Clone, Copy)]
enum Gap {
    /// Never: the first line of a file or of a block.
    None,
    /// Always: between top-level items.
    One,
    /// If the source had one (or more) there.
    Source,
}

/// A block as printed: a header line, statements, a closing brace.
struct Block {
    span: Span,
    header: String,
    /// The span of the header's last part, after which the `{` follows.
    header_last: Span,
    /// `points` and `perk` read better without `{}` when they have no settings.
    braces_optional: bool,
    stmts: Vec<(Span, Text)>,
}

struct Printer<'s> {
    source: &'s str,
    comments: &'s [Comment],
    /// Where each comment's text ends, trailing spaces excluded.
    comment_ends: Vec<usize>,
    /// The first comment not printed yet: comments print strictly in order.
    next: usize,
    /// The end of the last source text printed in the current block, to see
    /// whether the author left a blank line after it. `None` at the start of
    /// a block.
    last: Option<usize>,
    depth: usize,
    lines: Vec<Line>,
}

impl<'s> Printer<'s> {
    fn new(source: &'s str, comments: &'s [Comment]) -> Self {
        Printer {
            source,
            comments,
            comment_ends: comments
                .iter()
                .map(|c| c.span.start + c.text.len())
                .collect(),
            next: 0,
            last: None,
            depth: 0,
            lines: Vec::new(),
        }
    }

    fn file(mut self, file: &File) -> String {
        for (i, item) in file.items.iter().enumerate() {
            let gap = if i == 0 { Gap::None } else { Gap::One };
            self.block(item_block(item), gap);
        }
        self.own_line_comments(usize::MAX, Gap::Source);
        render(&self.lines)
    }

    fn push(&mut self, head: String, tail: Option<(Column, String)>, comment: Option<String>) {
        self.lines.push(Line {
            depth: self.depth,
            head,
            tail,
            comment,
        });
    }

    fn gap(&mut self, gap: Gap, next_start: usize) {
        let blank = match gap {
            Gap::None => false,
            Gap::One => true,
            Gap::Source => self.last.is_some_and(|last| {
                self.source
                    .get(last..next_start)
                    .is_some_and(|between| between.matches('\n').count() >= 2)
            }),
        };
        if blank {
            self.lines.push(Line {
                depth: 0,
                head: String::new(),
                tail: None,
                comment: None,
            });
        }
    }

    /// The next comment not printed yet, if it starts before `limit`.
    fn comment_before(&self, limit: usize) -> Option<&'s Comment> {
        self.comments
            .get(self.next)
            .filter(|c| c.span.start < limit)
    }

    /// Takes the next comment and returns its text and the end of that text.
    fn take_comment(&mut self, comment: &Comment) -> (String, usize) {
        let end = self
            .comment_ends
            .get(self.next)
            .copied()
            .unwrap_or(comment.span.end);
        self.next += 1;
        (comment.text.clone(), end)
    }

    /// Prints the comments before `limit` on their own lines, keeping the
    /// blank lines between them; `gap` says whether one goes before the first.
    /// Returns the gap to put before what follows.
    fn own_line_comments(&mut self, limit: usize, mut gap: Gap) -> Gap {
        while let Some(comment) = self.comment_before(limit) {
            self.gap(gap, comment.span.start);
            let (text, end) = self.take_comment(comment);
            self.push(text, None, None);
            self.last = Some(end);
            gap = Gap::Source;
        }
        gap
    }

    /// The comments before a statement or item starting at `start`: those
    /// above it, then those inside its first line (before `inside_end`), which
    /// cannot stay where they were because that line is printed whole.
    fn leading(&mut self, start: usize, inside_end: usize, gap: Gap) {
        let gap = self.own_line_comments(start, gap);
        self.gap(gap, start);
        while let Some(comment) = self.comment_before(inside_end) {
            let (text, _) = self.take_comment(comment);
            self.push(text, None, None);
        }
    }

    /// The next comment if it ends the source line at `from`, with nothing
    /// but spaces before it; it is taken, with the end of its text.
    fn trailing(&mut self, from: usize) -> Option<(String, usize)> {
        let comment = self.comments.get(self.next)?;
        let between = self.source.get(from..comment.span.start)?;
        if between.chars().all(|c| c == ' ' || c == '\t') {
            Some(self.take_comment(comment))
        } else {
            None
        }
    }

    /// Where a span's code ends. Spans of rules ending in an optional or
    /// repeated part also cover the spaces and comments after them.
    fn code_end(&self, span: Span) -> usize {
        let mut end = span.end;
        loop {
            let Some(text) = self.source.get(span.start..end) else {
                return span.end;
            };
            end = span.start + text.trim_end().len();
            match self.comment_ends.binary_search(&end) {
                Ok(i) => match self.comments.get(i) {
                    Some(comment) if comment.span.start >= span.start => end = comment.span.start,
                    _ => return end,
                },
                Err(_) => return end,
            }
        }
    }

    /// The position of the `{` after `from`, past spaces and comments.
    fn open_brace(&self, from: usize) -> Option<usize> {
        let mut pos = from;
        loop {
            match self.source.as_bytes().get(pos)? {
                b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
                b'#' => pos += self.source.get(pos..)?.find('\n')?,
                b'{' => return Some(pos),
                _ => return None,
            }
        }
    }

    fn same_line(&self, from: usize, to: usize) -> bool {
        self.source
            .get(from..to)
            .is_some_and(|text| !text.contains('\n'))
    }

    fn block(&mut self, block: Block, gap: Gap) {
        let end = self.code_end(block.span);
        let open = self.open_brace(self.code_end(block.header_last));
        // `end` is just past the `}` of a block written with braces.
        let close = open.map(|_| end.saturating_sub(1));
        self.leading(block.span.start, open.unwrap_or(end), gap);
        let header_comment = match (open, close) {
            // Nothing can sit between braces on one line: a comment would
            // swallow the `}`. One after the `}` describes the whole block.
            (Some(open), Some(close)) if self.same_line(open, close) => self.trailing(close + 1),
            (Some(open), _) => self.trailing(open + 1),
            (None, _) => self.trailing(end),
        };
        let body_comments = close.is_some_and(|close| self.comment_before(close).is_some());
        if block.stmts.is_empty() && !body_comments {
            let close_comment = close.and_then(|close| self.trailing(close + 1));
            let braces = if block.braces_optional { "" } else { " {}" };
            match (header_comment, close_comment) {
                (Some((open_text, _)), Some((close_text, close_end))) => {
                    self.push(format!("{} {{", block.header), None, Some(open_text));
                    self.push("}".to_string(), None, Some(close_text));
                    self.last = Some(close_end);
                }
                (open_comment, close_comment) => {
                    let comment = open_comment.or(close_comment);
                    self.last = Some(comment.as_ref().map_or(end, |(_, end)| *end));
                    let head = format!("{}{braces}", block.header);
                    self.push(head, None, comment.map(|(text, _)| text));
                }
            }
            return;
        }
        self.push(
            format!("{} {{", block.header),
            None,
            header_comment.map(|(text, _)| text),
        );
        self.depth += 1;
        self.last = None;
        for (i, (span, text)) in block.stmts.into_iter().enumerate() {
            self.statement(span, text, if i == 0 { Gap::None } else { Gap::Source });
        }
        if let Some(close) = close {
            self.own_line_comments(close, Gap::Source);
        }
        self.depth -= 1;
        let close_comment = close.and_then(|close| self.trailing(close + 1));
        self.last = Some(close_comment.as_ref().map_or(end, |(_, end)| *end));
        self.push("}".to_string(), None, close_comment.map(|(text, _)| text));
    }

    fn statement(&mut self, span: Span, text: Text, gap: Gap) {
        let end = self.code_end(span);
        self.leading(span.start, end, gap);
        let comment = self.trailing(end);
        self.last = Some(comment.as_ref().map_or(end, |(_, end)| *end));
        self.push(text.head, text.tail, comment.map(|(text, _)| text));
    }
}

// ------------------------------------------------------------------ items

fn item_block(item: &Item) -> Block {
    let block = |header: String, header_last: Span, stmts: Vec<(Span, Text)>| Block {
        span: item.span(),
        header,
        header_last,
        braces_optional: false,
        stmts,
    };
    match item {
        Item::Program(p) => block(
            format!("program {}", quoted(&p.name.node)),
            p.name.span,
            p.settings
                .iter()
                .map(|s| (s.span, program_setting(&s.node)))
                .collect(),
        ),
        Item::Member(m) => block(
            "member".to_string(),
            Span::new(m.span.start, m.span.start + "member".len()),
            fields(&m.fields),
        ),
        Item::Event(e) => block(
            format!("event {}", e.name.node),
            e.name.span,
            fields(&e.fields),
        ),
        Item::Points(p) => Block {
            braces_optional: true,
            ..block(
                format!("points {}", p.name.node),
                p.name.span,
                p.settings
                    .iter()
                    .map(|s| (s.span, points_setting(&s.node)))
                    .collect(),
            )
        },
        Item::Tiers(t) => {
            let mut header = "tiers".to_string();
            for (i, source) in t.by.iter().enumerate() {
                header.push_str(if i == 0 { " by " } else { " or by " });
                header.push_str(&header_measure(&source.node));
            }
            header.push_str(" over ");
            header.push_str(&window(&t.window.node));
            block(
                header,
                t.window.span,
                t.stmts
                    .iter()
                    .map(|s| (s.span, tier_stmt(&s.node)))
                    .collect(),
            )
        }
        Item::Rule(r) => block(
            format!(
                "{}rule {}",
                if r.preview { "preview " } else { "" },
                r.name.node
            ),
            r.name.span,
            r.stmts
                .iter()
                .map(|s| (s.span, rule_stmt(&s.node).into()))
                .collect(),
        ),
        Item::Perk(p) => Block {
            braces_optional: true,
            ..block(
                format!("perk {} for {}", p.name.node, tier_set(&p.tiers.node)),
                p.tiers.span,
                p.settings
                    .iter()
                    .map(|s| (s.span, perk_setting(&s.node).into()))
                    .collect(),
            )
        },
        Item::Reward(r) => block(
            format!("reward {}", r.name.node),
            r.name.span,
            r.settings
                .iter()
                .map(|s| (s.span, reward_setting(&s.node).into()))
                .collect(),
        ),
    }
}

fn program_setting(setting: &ProgramSetting) -> Text {
    match setting {
        ProgramSetting::Currency(c) => format!("currency {}", c.node).into(),
        ProgramSetting::Timezone(tz) => format!("timezone {}", quoted(&tz.node)).into(),
        ProgramSetting::Effective(d) => format!("effective {}", date(d.node)).into(),
        ProgramSetting::Overspent(OverspentPolicy::GoNegative) => {
            "on overspent return go negative".into()
        }
        ProgramSetting::Overspent(OverspentPolicy::WriteOff) => {
            "on overspent return write off".into()
        }
        ProgramSetting::AcceptLate(d) => format!("accept late events up to {}", duration(d)).into(),
        ProgramSetting::DuplicateWindow(d) => {
            format!("reject duplicate ids within {}", duration(d)).into()
        }
        ProgramSetting::AcceptReturns(d) => format!("accept returns up to {}", duration(d)).into(),
        ProgramSetting::Survey { event, field } => {
            format!("survey {}.{}", event.node, field.node).into()
        }
    }
}

fn fields(fields: &[FieldDecl]) -> Vec<(Span, Text)> {
    fields
        .iter()
        .map(|f| {
            let ty = match f.ty.node {
                FieldType::Number => "number",
                FieldType::Money => "money",
                FieldType::Text => "text",
                FieldType::Date => "date",
                FieldType::Bool => "bool",
            };
            let optional = if f.optional { "optional " } else { "" };
            (f.span, format!("{}: {optional}{ty}", f.name.node).into())
        })
        .collect()
}

/// An `expire` statement, of a points type or of a rule.
fn expire(expiry: &Expiry) -> String {
    match expiry {
        Expiry::Never => "expire never".into(),
        Expiry::AfterEarn { term, end_of } => {
            let end_of = end_of
                .as_ref()
                .map(|unit| format!(" at end of {}", unit.node.name()))
                .unwrap_or_default();
            format!("expire {} after earn{end_of}", duration(term))
        }
        Expiry::Inactivity(d) => format!("expire after {} without activity", duration(d)),
        Expiry::EndOf { unit, plus } => {
            let plus = plus
                .as_ref()
                .map(|n| format!(" + {}", n.node))
                .unwrap_or_default();
            format!("expire at end of {}{plus}", unit.node.name())
        }
    }
}

fn points_setting(setting: &PointsSetting) -> Text {
    match setting {
        PointsSetting::Precision(n) => format!("precision {}", n.node).into(),
        PointsSetting::Value(m) => format!("value {}", money(m)).into(),
        PointsSetting::Breakage(p) => format!("breakage {}%", p.node).into(),
        PointsSetting::Pending(d) => format!("pending {}", duration(d)).into(),
        PointsSetting::Qualifying => "qualifying".into(),
        PointsSetting::Expire(e) => expire(e).into(),
        PointsSetting::Transfers(options) => {
            let options: Vec<String> = options
                .iter()
                .map(|o| match &o.node {
                    TransferOption::Min(n) => format!("min {}", n.node),
                    TransferOption::Fee(p) => format!("fee {}%", p.node),
                    TransferOption::Expiry(e) => e.name().to_string(),
                })
                .collect();
            if options.is_empty() {
                "transfers".into()
            } else {
                format!("transfers {}", options.join(", ")).into()
            }
        }
        PointsSetting::Redeem(limits) => {
            let limits: Vec<String> = limits
                .iter()
                .map(|l| match &l.node {
                    RedeemLimit::AtLeast(n) => format!("at least {}", n.node),
                    RedeemLimit::AtMost(n) => format!("at most {}", n.node),
                })
                .collect();
            format!("redeem {}", limits.join(", ")).into()
        }
        PointsSetting::Pool { kind, most } => {
            let most = most
                .as_ref()
                .map(|n| format!(", at most {} members", n.node))
                .unwrap_or_default();
            format!("pool {}{most}", kind.node).into()
        }
        PointsSetting::Cap { amount, period } => {
            format!("cap {} per member per {}", amount.node, period.node.name()).into()
        }
    }
}

fn header_measure(source: &MeasureSource) -> String {
    match source {
        MeasureSource::PointsEarned(points) => format!("{} earned", points.node),
        other => measure(other),
    }
}

fn measure(source: &MeasureSource) -> String {
    match source {
        MeasureSource::PointsEarned(points) => format!("sum of {}", points.node),
        MeasureSource::Balance(points) => format!("balance of {}", points.node),
        MeasureSource::Count(event) => format!("count of {}", event.node),
        MeasureSource::FieldSum { event, field } => format!("sum of {}.{}", event.node, field.node),
    }
}

fn window(window: &Window) -> String {
    match window {
        Window::Calendar(unit, None) => format!("calendar {}", unit.name()),
        Window::Calendar(unit, Some(from)) => format!("calendar {} from {from}", unit.name()),
        Window::Rolling(d) => format!("rolling {}", duration(d)),
        Window::Membership => "membership year".to_string(),
        Window::Qualification => "qualification year".to_string(),
    }
}

fn tier_stmt(stmt: &TierStmt) -> Text {
    match stmt {
        TierStmt::Measure { name, source } => Text {
            head: format!("measure {}", name.node),
            tail: Some((Column::Measure, format!("= {}", measure(&source.node)))),
        },
        TierStmt::Tier(tier) => {
            let mut tail = threshold(&tier.qualify, "from ");
            if let Some(keep) = &tier.keep {
                tail.push_str(" keep ");
                tail.push_str(&threshold(keep, ""));
            }
            Text {
                head: format!("tier {}", tier.name.node),
                tail: Some((Column::Tier, tail)),
            }
        }
        TierStmt::Upgrade(UpgradePolicy::Immediately) => "upgrade immediately".into(),
        TierStmt::Upgrade(UpgradePolicy::AtPeriodEnd) => "upgrade at period end".into(),
        TierStmt::Downgrade(DowngradePolicy::Never) => "downgrade never".into(),
        TierStmt::Downgrade(DowngradePolicy::AtPeriodEnd(options)) => {
            let mut text = "downgrade at period end".to_string();
            for option in options {
                text.push_str(", ");
                text.push_str(&match &option.node {
                    DowngradeOption::Step(n) => {
                        let levels = if n.node == Decimal::ONE {
                            "level"
                        } else {
                            "levels"
                        };
                        format!("at most {} {levels}", n.node)
                    }
                    DowngradeOption::Grace(d) => format!("after {} grace", duration(d)),
                });
            }
            text.into()
        }
        TierStmt::Lifetime {
            tier,
            amount,
            points,
        } => format!(
            "lifetime {} after {} {} earned",
            tier.node, amount.node, points.node
        )
        .into(),
        TierStmt::Rollover { measure, cap } => match measure {
            Some(measure) => format!("rollover {} up to {}", measure.node, cap.node),
            None => format!("rollover up to {}", cap.node),
        }
        .into(),
        TierStmt::StatusMatch { tier } => format!("status match up to {}", tier.node).into(),
    }
}

/// `from start`, `from 25000 or 30`, `when ...`; `values_prefix` is what
/// precedes values (`from ` to qualify, nothing after `keep`).
fn threshold(threshold: &Threshold, values_prefix: &str) -> String {
    match threshold {
        Threshold::Start => "from start".to_string(),
        Threshold::Values(values) => {
            let values: Vec<String> = values.iter().map(|v| v.node.to_string()).collect();
            format!("{values_prefix}{}", values.join(" or "))
        }
        Threshold::When(condition) => format!("when {}", expr(condition)),
    }
}

fn rule_stmt(stmt: &RuleStmt) -> String {
    match stmt {
        RuleStmt::On { event, condition } => match condition {
            Some(condition) => format!("on {} where {}", event.node, expr(condition)),
            None => format!("on {}", event.node),
        },
        RuleStmt::Earn(earn) => {
            let mut text = format!("earn {}", award(&earn.award));
            if let Some(m) = &earn.multiplier {
                let entries: Vec<String> = m.entries.iter().map(table_entry).collect();
                text.push_str(&format!(
                    " times {} {{ {} }}",
                    m.key.node,
                    entries.join(", ")
                ));
            }
            if earn.to_referrer {
                text.push_str(" to referrer");
            }
            text
        }
        RuleStmt::Cap {
            amount,
            points,
            scope,
        } => {
            let scope = match scope {
                CapScope::PerEvent => "per event".to_string(),
                CapScope::PerItem => "per item".to_string(),
                CapScope::PerMember(p) => format!("per member per {}", p.node.name()),
            };
            format!("cap {} {} {scope}", amount.node, points.node)
        }
        RuleStmt::Limit { count, period: p } => {
            format!("limit {} per member per {}", count.node, p.node.name())
        }
        RuleStmt::LimitPerReferrer { count } => format!("limit {} per referrer", count.node),
        RuleStmt::Budget {
            amount,
            points,
            period: p,
        } => {
            let scope = p.as_ref().map_or_else(
                || "in total".to_string(),
                |p| format!("per {}", p.node.name()),
            );
            format!("budget {} {} {scope}", amount.node, points.node)
        }
        RuleStmt::Round(rounding) => match rounding {
            Rounding::Down => "round down",
            Rounding::Up => "round up",
            Rounding::HalfUp => "round half up",
            Rounding::HalfEven => "round half even",
        }
        .to_string(),
        RuleStmt::Group { name, by_order } => format!(
            "exclusive group {}{}",
            name.node,
            if *by_order { " by order" } else { "" }
        ),
        RuleStmt::During { from, to } => format!("during {} .. {}", date(from.node), date(to.node)),
        RuleStmt::MinSpend(m) => format!("min spend {}", money(m)),
        RuleStmt::Stop => "stop".to_string(),
        RuleStmt::Expire(e) => expire(e),
        RuleStmt::Multiply { points, factor } => {
            format!("multiply {} by {}", points.node, factor.node)
        }
    }
}

fn award(award: &Award) -> String {
    match award {
        Award::PercentOf {
            percent,
            rule,
            points,
        } => match points {
            Some(points) => format!("{}% of {} {}", percent.node, rule.node, points.node),
            None => format!("{}% of {}", percent.node, rule.node),
        },
        Award::Amount {
            amount,
            points,
            per,
            filter,
        } => {
            let mut text = format!("{} {}", expr(amount), points.node);
            if let Some(per) = per {
                text.push_str(" per ");
                if per.full {
                    text.push_str("full ");
                }
                if per.items && per.unit.node == Decimal::ONE {
                    text.push_str("item");
                } else if per.items {
                    text.push_str(&format!("{} items", per.unit.node));
                } else {
                    text.push_str(&per.unit.node.to_string());
                    if let Some(currency) = &per.currency {
                        text.push(' ');
                        text.push_str(&currency.node);
                    }
                    text.push_str(" of ");
                    text.push_str(&expr(&per.base));
                }
            }
            if let Some(filter) = filter {
                text.push_str(&format!(" where {}", expr(filter)));
            }
            text
        }
    }
}

fn table_entry(entry: &TableEntry) -> String {
    let key = match &entry.key.node {
        TableKey::Text(text) => quoted(text),
        TableKey::Name(name) => name.clone(),
        TableKey::Number(n) => n.to_string(),
        TableKey::Else => "else".to_string(),
    };
    format!("{key}: {}", entry.factor.node)
}

fn tier_set(set: &TierSet) -> String {
    match set {
        TierSet::All => "all tiers".to_string(),
        TierSet::AndAbove(tier) => format!("{} and above", tier.node),
        TierSet::List(tiers) => tiers
            .iter()
            .map(|t| t.node.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn perk_setting(setting: &PerkSetting) -> String {
    match setting {
        PerkSetting::Limit { count, period: p } => {
            format!("limit {} per {}", count.node, p.node.name())
        }
        PerkSetting::Cost(m) => format!("cost {}", money(m)),
    }
}

fn reward_setting(setting: &RewardSetting) -> String {
    match setting {
        RewardSetting::Price {
            amount,
            points,
            tiers,
        } => {
            let tiers: Vec<&str> = tiers.iter().map(|t| t.node.as_str()).collect();
            let tiers = if tiers.is_empty() {
                String::new()
            } else {
                format!(" for {}", tiers.join(", "))
            };
            format!("price {} {}{tiers}", amount.node, points.node)
        }
        RewardSetting::Cost(m) => format!("cost {}", money(m)),
    }
}

// ------------------------------------------------------------------ literals, expressions

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn date(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn money(money: &Money) -> String {
    format!("{} {}", money.amount.node, money.currency.node)
}

fn duration(duration: &Duration) -> String {
    let count = duration.count.node;
    let unit = duration.unit.name();
    let plural = if count == Decimal::ONE { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

fn expr(e: &Expr) -> String {
    match &e.node {
        ExprKind::Number(n) => n.to_string(),
        ExprKind::Money(m) => money(m),
        ExprKind::Percent(p) => format!("{p}%"),
        ExprKind::Date(d) => date(*d),
        ExprKind::Duration(d) => duration(d),
        ExprKind::Text(text) => quoted(text),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(name) => name.clone(),
        ExprKind::MemberAttr(attr) => format!("member.{}", attr.node),
        ExprKind::ItemField(field) => format!("item.{}", field.node),
        ExprKind::Balance(points) => format!("balance of {}", points.node),
        ExprKind::FirstPurchase => "first purchase".to_string(),
        ExprKind::Counter(counter) => {
            let CounterRef { source, window } = counter.as_ref();
            let window = match &window.node {
                CounterWindow::This(unit) => format!("in this {}", unit.name()),
                CounterWindow::Last(term) => format!("over last {}", duration(term)),
            };
            format!("{} {window}", measure(&source.node))
        }
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr: operand,
        } => format!("not {}", expr(operand)),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr: operand,
        } => format!("-{}", expr(operand)),
        ExprKind::Binary { op, lhs, rhs } => format!("{} {} {}", expr(lhs), op.symbol(), expr(rhs)),
        ExprKind::InList {
            expr: subject,
            items,
        } => {
            let items: Vec<String> = items.iter().map(expr).collect();
            format!("{} in [{}]", expr(subject), items.join(", "))
        }
        ExprKind::InRange {
            expr: subject,
            low,
            high,
        } => format!("{} in {} .. {}", expr(subject), expr(low), expr(high)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    fn comment_texts(source: &str) -> Vec<String> {
        let (_, comments) = parse_with_comments(source).unwrap();
        comments.into_iter().map(|c| c.text).collect()
    }

    /// Formats `input`, expects `expected`, and checks the contract on the
    /// way: a fixed point, the same tree, the same comments in order.
    fn assert_formats(input: &str, expected: &str) {
        let formatted = format(input).unwrap();
        assert_eq!(formatted, expected);
        assert_eq!(format(&formatted).unwrap(), formatted, "not a fixed point");
        assert_eq!(parse(&formatted).unwrap(), parse(input).unwrap());
        assert_eq!(comment_texts(&formatted), comment_texts(input));
    }

    /// Every construct of the grammar, in canonical form, without comments
    /// or blank lines inside blocks (so that `print` reproduces it too).
    const EVERY_CONSTRUCT: &str = r#"program "Every \"construct\" \\ here" {
  currency USD
  timezone "America/New_York"
  effective 2025-01-01
  on overspent return go negative
  on overspent return write off
}

member {
  birthday: date
  region: optional text
  vip: bool
  age: number
  spent: money
}

event flight {
  distance: number
  fare_class: optional text
}

points stars {
  precision 0
  value 0.035 USD
  breakage 15%
  pending 14 days
  expire 6 months after earn at end of month
}

points miles {
  qualifying
  expire never
}

points credits {
  expire 1 year after earn
  expire after 24 months without activity
  expire at end of quarter
  expire at end of year + 1
}

points bonus

tiers by stars earned or by balance of miles or by count of flight or by sum of flight.distance over calendar year {
  tier green from start
  tier gold  from 500 or 3 keep 450 or 2
  upgrade immediately
  downgrade at period end, at most 1 level, after 1 month grace
  lifetime gold after 1000000 stars earned
}

tiers over rolling 12 months {
  measure pqp     = sum of stars
  measure bal     = balance of miles
  measure flights = count of flight
  measure km      = sum of flight.distance
  tier member   from start
  tier silver   when pqp >= 5000 and flights >= 15 or pqp >= 6000 keep when pqp >= 4000
  tier platinum when km > 100000 keep 90000
  upgrade at period end
  downgrade at period end, at most 2 levels
}

tiers over membership year {
  tier base from start
  downgrade never
}

tiers over calendar month {
  tier one from 0
  downgrade at period end
}

rule base {
  on purchase
  earn 2 stars per 1 USD of amount
  round down
}

rule steps {
  on purchase where channel = "app" and date in 2025-03-01 .. 2025-03-07
  earn 1 stars per full 20 USD of amount - 1 USD
  earn 3 stars per 2 of quantity
  round up
}

rule bonus_share {
  on flight where not tier < gold or member.vip = true
  earn 50% of base
  earn 100% of steps miles times fare_class { "F": 3, "J": 2.50, else: 0.5 }
  earn 2 miles times region { north: 2, south: 1 }
  earn 2.5% miles times quantity { 1: 1, 2: 1.5 }
  round half up
}

rule limits {
  on purchase where amount in [10 USD, 20 USD] and quantity in 1 .. 10 or amount in 5 USD .. 50 USD
  earn -(1 + 2) * 3 / 4 - -5 stars
  cap 150 stars per member per day
  cap 10 stars per event
  limit 1 per member per week
  budget 100000 stars in total
  budget 500 stars per lifetime
  round half even
  exclusive group welcome
  during 2025-03-01 .. 2025-03-07
  min spend 10 USD
}

rule conditions {
  on purchase where balance of stars != 0 and (days_since_enroll <= 30 or (hour > 17)) and false = not vip
  earn 1 stars
  limit 3 per member per month
  budget 10 stars per quarter
  cap 5 stars per member per year
  cap 7 stars per member per lifetime
}

rule literals {
  on purchase where date >= 2025-01-01 and days_to_birthday < 7 days and weekday in ["Sat", "Sun"] and 15% > 0.5
  earn 1 stars
}

perk lounge for gold and above {
  limit 4 per year
  cost 12.50 USD
}

perk wifi for all tiers

perk drink for green, gold {
  limit 1 per day
}

reward free_drink {
  price 150 stars
  cost 2.20 USD
}
"#;

    #[test]
    fn every_construct_is_already_canonical() {
        assert_formats(EVERY_CONSTRUCT, EVERY_CONSTRUCT);
    }

    #[test]
    fn print_reproduces_a_program_without_comments() {
        assert_eq!(print(&parse(EVERY_CONSTRUCT).unwrap()), EVERY_CONSTRUCT);
    }

    #[test]
    fn a_one_line_program_is_spread_over_lines() {
        let flat: String = EVERY_CONSTRUCT
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_formats(&flat, EVERY_CONSTRUCT);
    }

    #[test]
    fn empty_files_stay_empty() {
        assert_formats("", "");
        assert_formats("\n\n  \n", "");
    }

    #[test]
    fn blank_lines_between_items_become_exactly_one() {
        assert_formats(
            "\n\npoints a\npoints b\n\n\n\npoints c\n\n",
            "points a\n\npoints b\n\npoints c\n",
        );
    }

    #[test]
    fn blank_lines_inside_blocks_collapse_and_vanish_at_the_edges() {
        assert_formats(
            "rule r {\n\n  on purchase\n\n\n\n  earn 1 stars\n  round up\n\n}\n",
            "rule r {\n  on purchase\n\n  earn 1 stars\n  round up\n}\n",
        );
    }

    #[test]
    fn statements_on_one_line_get_a_line_each() {
        assert_formats(
            "reward r { price 150 stars  cost 2.20 USD }",
            "reward r {\n  price 150 stars\n  cost 2.20 USD\n}\n",
        );
    }

    #[test]
    fn an_optional_field_keeps_its_word() {
        assert_formats(
            "event fuel { litres :optional   number optional: optional text\n}",
            "event fuel {\n  litres: optional number\n  optional: optional text\n}\n",
        );
    }

    #[test]
    fn empty_blocks_print_as_braces_or_not_at_all() {
        assert_formats(
            "member {\n}\nreward r { }\npoints p { }\nperk k for all tiers {\n\n}\n",
            "member {}\n\nreward r {}\n\npoints p\n\nperk k for all tiers\n",
        );
    }

    #[test]
    fn own_line_comments_keep_their_blank_line_grouping() {
        assert_formats(
            "# file header\n\n# about a\npoints a\n# about b, first\n\n\n# about b, second\n\npoints b\n",
            "# file header\n\n# about a\npoints a\n\n# about b, first\n\n# about b, second\n\npoints b\n",
        );
    }

    #[test]
    fn own_line_comments_inside_a_block_stay_before_their_statement() {
        assert_formats(
            "rule r {\n    # first\n  on purchase\n\n      # second\n\n  earn 1 stars\n}\n",
            "rule r {\n  # first\n  on purchase\n\n  # second\n\n  earn 1 stars\n}\n",
        );
    }

    #[test]
    fn trailing_comments_on_consecutive_lines_align() {
        assert_formats(
            "points stars {\n  precision 0 # a\n  value 0.035 USD   # b\n  qualifying # c\n}\n",
            "points stars {\n  precision 0     # a\n  value 0.035 USD # b\n  qualifying      # c\n}\n",
        );
    }

    #[test]
    fn a_line_without_a_comment_or_a_blank_line_breaks_the_alignment() {
        assert_formats(
            "points stars {\n  precision 0 # a\n  qualifying\n  value 0.035 USD # b\n\n  pending 14 days # c\n  expire never # d\n}\n",
            "points stars {\n  precision 0 # a\n  qualifying\n  value 0.035 USD # b\n\n  pending 14 days # c\n  expire never    # d\n}\n",
        );
    }

    #[test]
    fn alignment_does_not_cross_blocks() {
        assert_formats(
            "rule long_name { # header\n  on x # body\n}\n",
            "rule long_name { # header\n  on x # body\n}\n",
        );
    }

    #[test]
    fn tier_names_and_measure_names_align_in_runs() {
        assert_formats(
            "tiers over calendar year {\n  measure a = count of flight\n  measure long = sum of stars\n  tier x from 0\n  tier middle from 5 # m\n  # break\n  tier top from 9\n}\n",
            "tiers over calendar year {\n  measure a    = count of flight\n  measure long = sum of stars\n  tier x      from 0\n  tier middle from 5 # m\n  # break\n  tier top from 9\n}\n",
        );
    }

    #[test]
    fn a_comment_inside_a_multi_line_statement_moves_before_it() {
        assert_formats(
            "rule r {\n  on purchase # before\n  on flight where a = 1 # inside\n    and b = 2 # after\n  earn 1 stars times k { # table\n    \"a\": 1, # entry\n    else: 2 }\n}\n",
            "rule r {\n  on purchase # before\n  # inside\n  on flight where a = 1 and b = 2 # after\n  # table\n  # entry\n  earn 1 stars times k { \"a\": 1, else: 2 }\n}\n",
        );
    }

    #[test]
    fn a_comment_inside_a_header_moves_before_the_item() {
        assert_formats(
            "# above\n\ntiers by stars # why stars\n  or by count of flight\n  over calendar year { tier a from 0 }\nperk p for a, # first\n  b\n",
            "# above\n\n# why stars\ntiers by stars earned or by count of flight over calendar year {\n  tier a from 0\n}\n\n# first\nperk p for a, b\n",
        );
    }

    #[test]
    fn comments_at_the_ends_of_block_lines_stay_there() {
        assert_formats(
            "rule r { # opens\n  on purchase\n  # last in the block\n\n} # closes\n# end of file\n",
            "rule r { # opens\n  on purchase\n  # last in the block\n} # closes\n# end of file\n",
        );
    }

    #[test]
    fn a_comment_after_a_one_line_block_moves_to_its_first_line() {
        assert_formats(
            "points status { qualifying }   # never redeemed\nreward r { price 1 stars } # cheap\n",
            "points status { # never redeemed\n  qualifying\n}\n\nreward r { # cheap\n  price 1 stars\n}\n",
        );
    }

    #[test]
    fn comments_in_empty_blocks_are_kept() {
        assert_formats(
            "member { # none yet\n} # really\nreward r {\n  # to do\n}\npoints p { } # braces go\npoints q { # these too\n}\n",
            "member { # none yet\n} # really\n\nreward r {\n  # to do\n}\n\npoints p # braces go\n\npoints q # these too\n",
        );
        assert_formats("member {} # one line\n", "member {} # one line\n");
    }

    #[test]
    fn comments_at_the_end_of_the_file_stay_at_the_end() {
        assert_formats(
            "points a\n\n\n# gone\n# for good\n\n\n# really\n",
            "points a\n\n# gone\n# for good\n\n# really\n",
        );
        assert_formats("# only a comment   \n\n\n", "# only a comment\n");
    }

    #[test]
    fn a_braceless_item_keeps_its_trailing_comment() {
        assert_formats(
            "perk wifi for all tiers   # free\npoints p# tight\n",
            "perk wifi for all tiers # free\n\npoints p # tight\n",
        );
    }

    #[test]
    fn text_is_re_escaped() {
        assert_formats(
            r#"program "say \"hi\" \\ # not a comment" { timezone "a\\b" }"#,
            "program \"say \\\"hi\\\" \\\\ # not a comment\" {\n  timezone \"a\\\\b\"\n}\n",
        );
    }

    #[test]
    fn parentheses_are_kept_as_written_and_none_added() {
        assert_formats(
            "rule r { on x where ((a))and(b or c)=(not d) earn -( -1 )*2 stars }",
            "rule r {\n  on x where ((a)) and (b or c) = (not d)\n  earn -(-1) * 2 stars\n}\n",
        );
    }

    #[test]
    fn numbers_keep_their_digits_and_durations_their_number() {
        assert_formats(
            "points p { value 4.50 USD precision 0.0 pending 1 days expire 6 month after earn }\n\
             tiers over rolling 1.0 years { downgrade at period end, at most 1.0 levels, after 2 week grace }",
            "points p {\n  value 4.50 USD\n  precision 0.0\n  pending 1 day\n  expire 6 months after earn\n}\n\n\
             tiers over rolling 1.0 year {\n  downgrade at period end, at most 1.0 level, after 2 weeks grace\n}\n",
        );
    }

    #[test]
    fn crlf_line_endings_become_lf() {
        assert_formats(
            "points a { # x\r\n  qualifying\r\n\r\n\r\n  precision 0\r\n}\r\n",
            "points a { # x\n  qualifying\n\n  precision 0\n}\n",
        );
    }

    #[test]
    fn syntax_errors_are_reported_not_formatted() {
        let error = format("rule r { earn }").unwrap_err();
        assert_eq!(error.code, "syntax");
    }
}
