//! Explanations for one member, written for a marketer: for each event,
//! which rules fired with their arithmetic (rate × base, rounding, cap cut),
//! which did not and which part of their condition was false, and the tier
//! changes and expiries in between.

use super::ledger::{Entry, EntryKind};
use crate::compile::calendar;
use crate::compile::ir::{PointsId, Program, RuleId, Value};
use crate::events::{Body, Event};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What happened to one rule on one event.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    pub rule: RuleId,
    pub fired: Option<Fired>,
    /// Why it did not fire.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub points: PointsId,
    pub arithmetic: String,
    /// Before rounding.
    pub raw: Decimal,
    pub rounded: Decimal,
    pub awarded: Decimal,
    pub cuts: Vec<String>,
    /// The referrer it was paid to (`earn ... to referrer`), if not the member.
    pub paid_to: Option<String>,
    /// When the award expires, for a rule with an `expire` of its own.
    pub expires: Option<DateTime<Utc>>,
}

impl RuleOutcome {
    pub fn skipped(rule: RuleId, reason: String) -> Self {
        RuleOutcome {
            rule,
            fired: None,
            reason: Some(reason),
        }
    }

    pub fn fired(
        rule: RuleId,
        points: PointsId,
        arithmetic: String,
        raw: Decimal,
        rounded: Decimal,
        awarded: Decimal,
        cuts: Vec<String>,
    ) -> Self {
        RuleOutcome {
            rule,
            fired: Some(Fired {
                points,
                arithmetic,
                raw,
                rounded,
                awarded,
                cuts,
                paid_to: None,
                expires: None,
            }),
            reason: None,
        }
    }

    /// Says the award went to referrer `to`.
    pub fn paid_to(&mut self, to: &str) {
        if let Some(fired) = self.fired.as_mut() {
            fired.paid_to = Some(to.to_string());
        }
    }

    /// Notes when the award expires, by its rule's own `expire`.
    pub fn expires(&mut self, at: DateTime<Utc>) {
        if let Some(fired) = self.fired.as_mut() {
            fired.expires = Some(at);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Line {
    Event(Event),
    Rejected(String),
    Rules(Vec<RuleOutcome>),
    Entry(Entry),
    /// What the clock did that wrote no row (a status match holding a
    /// tier at a review), at its time.
    Note(DateTime<Utc>, String),
}

/// The story of one member, collected while the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub member: String,
    lines: Vec<Line>,
}

impl Explanation {
    pub fn new(member: &str) -> Self {
        Explanation {
            member: member.to_string(),
            lines: Vec::new(),
        }
    }

    pub(super) fn event(&mut self, event: &Event, _program: &Program) {
        self.lines.push(Line::Event(event.clone()));
    }

    /// An event that was not applied, and why.
    pub(super) fn rejected(&mut self, event: &Event, reason: &str) {
        let shown = self.lines.iter().rev().find_map(|l| match l {
            Line::Event(e) => Some(e.id == event.id && e.origin == event.origin),
            _ => None,
        });
        if shown != Some(true) {
            self.lines.push(Line::Event(event.clone()));
        }
        self.lines.push(Line::Rejected(reason.to_string()));
    }

    pub(super) fn rules(&mut self, outcomes: Vec<RuleOutcome>) {
        self.lines.push(Line::Rules(outcomes));
    }

    pub(super) fn entry(&mut self, entry: &Entry) {
        self.lines.push(Line::Entry(entry.clone()));
    }

    pub(super) fn note(&mut self, at: DateTime<Utc>, text: String) {
        self.lines.push(Line::Note(at, text));
    }

    /// The explanation as text.
    pub fn render(&self, program: &Program) -> String {
        let tz = program.timezone;
        let points_name = |p| points_name(program, p);
        let rule_name = |r| rule_name(program, r);
        let mut out = String::new();
        let _ = writeln!(out, "member {}", self.member);
        for line in &self.lines {
            match line {
                Line::Event(event) => {
                    let (kind, given) = given(program, event);
                    let fields: Vec<String> = given
                        .iter()
                        .map(|(name, v)| format!("{name} {}", show(v)))
                        .collect();
                    let _ = writeln!(
                        out,
                        "\n{}  {kind} {}{}",
                        calendar::local(tz, event.time).format("%Y-%m-%d %H:%M"),
                        event.id,
                        if fields.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", fields.join(", "))
                        }
                    );
                }
                Line::Rejected(reason) => {
                    let _ = writeln!(out, "  ✗ rejected: {reason}");
                }
                Line::Rules(outcomes) => {
                    for outcome in outcomes {
                        let name = rule_name(outcome.rule);
                        match (&outcome.fired, &outcome.reason) {
                            (Some(f), _) => {
                                let rounding = if f.raw == f.rounded {
                                    String::new()
                                } else {
                                    format!("{}, rounded to ", f.raw.normalize())
                                };
                                let mut text = format!(
                                    "  ✓ {name}: {} = {rounding}{} {}",
                                    f.arithmetic,
                                    f.rounded,
                                    points_name(f.points)
                                );
                                for cut in &f.cuts {
                                    let _ = write!(text, "; {cut}");
                                }
                                if f.awarded != f.rounded {
                                    let _ = write!(text, " → {} awarded", f.awarded);
                                }
                                if let Some(to) = &f.paid_to {
                                    let _ = write!(text, ", paid to referrer {to}");
                                }
                                if let Some(at) = f.expires {
                                    let at = calendar::local(tz, at).format("%Y-%m-%d %H:%M");
                                    let _ = write!(text, ", expiring {at} (the rule's own)");
                                }
                                let _ = writeln!(out, "{text}");
                            }
                            (None, Some(reason)) => {
                                let _ = writeln!(out, "  ✗ {name}: {reason}");
                            }
                            (None, None) => {}
                        }
                    }
                }
                Line::Entry(entry) => {
                    let time = calendar::local(tz, entry.time).format("%Y-%m-%d %H:%M");
                    let points = entry.points.map(points_name).unwrap_or_default();
                    let text = match entry.kind {
                        // A referrer's award comes with another member's
                        // event: it has no rule outcome of theirs to show.
                        EntryKind::Earn | EntryKind::Pend
                            if entry.rule.is_some_and(|r| pays_referrer(program, r)) =>
                        {
                            format!(
                                "earns {} {points} by rule {}: event {} of a member they referred",
                                entry.amount,
                                entry.rule.map(rule_name).unwrap_or_default(),
                                entry.event.as_deref().unwrap_or_default()
                            )
                        }
                        EntryKind::Earn | EntryKind::Pend | EntryKind::CapCut => continue,
                        EntryKind::Release => format!("{} {points} become spendable", entry.amount),
                        EntryKind::Expire => {
                            format!("{} {points} expire{}", -entry.amount, aside(&entry.note))
                        }
                        EntryKind::Spend => {
                            format!("spends {} {points} {}", -entry.amount, entry.note)
                        }
                        EntryKind::Reverse => {
                            format!(
                                "{} {points} taken back{}",
                                -entry.amount,
                                aside(&entry.note)
                            )
                        }
                        EntryKind::TierChange => format!("tier: {}", entry.note),
                        EntryKind::PerkGrant => format!("gains perk {}", entry.note),
                        EntryKind::PerkUse => format!("uses perk {}", entry.note),
                        EntryKind::TransferOut => {
                            format!("gives {} {points} {}", -entry.amount, entry.note)
                        }
                        EntryKind::TransferIn => {
                            format!("receives {} {points} {}", entry.amount, entry.note)
                        }
                        EntryKind::PoolJoin => format!("joins pool {}", entry.note),
                        EntryKind::PoolLeave => format!("leaves pool {}", entry.note),
                        EntryKind::Adjust => {
                            format!("adjusted by {} {points} ({})", entry.amount, entry.note)
                        }
                        EntryKind::Rollover => format!("rollover: {}", entry.note),
                        EntryKind::Preview => format!(
                            "would earn {} {points} by preview rule {}",
                            entry.amount,
                            entry.rule.map(rule_name).unwrap_or_default()
                        ),
                        EntryKind::RedeemCancel => {
                            format!("gets {} {points} back: {}", entry.amount, entry.note)
                        }
                    };
                    let balance = if entry.points.is_some() {
                        format!(" (balance {})", entry.balance)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(out, "  {time}  {}{balance}", text.trim_end());
                }
                Line::Note(at, text) => {
                    let time = calendar::local(tz, *at).format("%Y-%m-%d %H:%M");
                    let _ = writeln!(out, "  {time}  {text}");
                }
            }
        }
        out
    }
}

/// One member's story as one document (`explain --format json`): each
/// event with its fields, the rules that fired with their arithmetic as
/// fields, why the others did not, and the ledger rows written from it
/// to the next event (its own and the clock's). Exact decimals are
/// strings, as in summary.json.
#[derive(Debug, Serialize)]
pub struct Story {
    pub member: String,
    pub events: Vec<StoryEvent>,
}

#[derive(Debug, Serialize)]
pub struct StoryEvent {
    /// Local time, RFC 3339.
    pub time: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The values the record gave, by field name.
    pub fields: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    pub rules: Vec<StoryRule>,
    pub rows: Vec<StoryRow>,
    /// What the clock did after it that wrote no row (a status match
    /// holding a tier at a review).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<StoryNote>,
}

#[derive(Debug, Serialize)]
pub struct StoryNote {
    /// Local time, RFC 3339.
    pub time: String,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct StoryRule {
    pub rule: String,
    pub fired: bool,
    /// For a rule that fired: the points type, the arithmetic in words,
    /// the amount before and after rounding, the cuts (caps, limits) and
    /// what was awarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arithmetic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounded: Option<Decimal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awarded: Option<Decimal>,
    /// For one that paid the member's referrer: who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_to: Option<String>,
    /// For one with an `expire` of its own: when its award expires (local
    /// time, RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// For one that did not: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StoryRow {
    pub time: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<String>,
    pub amount: Decimal,
    /// The balance after, for a row of a points type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Explanation {
    /// The explanation as one document.
    pub fn story(&self, program: &Program) -> Story {
        let tz = program.timezone;
        let points_name = |p| points_name(program, p).to_string();
        let rule_name = |r| rule_name(program, r).to_string();
        let mut events: Vec<StoryEvent> = Vec::new();
        for line in &self.lines {
            match line {
                Line::Event(event) => {
                    let (kind, given) = given(program, event);
                    let fields = given
                        .iter()
                        .map(|(name, v)| (name.to_string(), plain(v)))
                        .collect();
                    events.push(StoryEvent {
                        time: calendar::rfc3339(tz, event.time),
                        id: event.id.clone(),
                        kind: kind.to_string(),
                        fields,
                        rejected: None,
                        rules: Vec::new(),
                        rows: Vec::new(),
                        notes: Vec::new(),
                    });
                }
                Line::Rejected(reason) => {
                    if let Some(event) = events.last_mut() {
                        event.rejected = Some(reason.clone());
                    }
                }
                Line::Rules(outcomes) => {
                    let told = outcomes.iter().map(|outcome| {
                        let fired = outcome.fired.as_ref();
                        StoryRule {
                            rule: rule_name(outcome.rule),
                            fired: fired.is_some(),
                            points: fired.map(|f| points_name(f.points)),
                            arithmetic: fired.map(|f| f.arithmetic.clone()),
                            raw: fired.map(|f| f.raw.normalize()),
                            rounded: fired.map(|f| f.rounded),
                            cuts: fired.map(|f| f.cuts.clone()).unwrap_or_default(),
                            awarded: fired.map(|f| f.awarded),
                            paid_to: fired.and_then(|f| f.paid_to.clone()),
                            expires: fired
                                .and_then(|f| f.expires)
                                .map(|at| calendar::rfc3339(tz, at)),
                            why_not: outcome.reason.clone().filter(|_| fired.is_none()),
                        }
                    });
                    if let Some(event) = events.last_mut() {
                        event.rules.extend(told);
                    }
                }
                Line::Entry(entry) => {
                    let row = StoryRow {
                        time: calendar::rfc3339(tz, entry.time),
                        kind: entry.kind.name(),
                        points: entry.points.map(points_name),
                        amount: entry.amount,
                        balance: entry.points.map(|_| entry.balance),
                        rule: entry.rule.map(rule_name),
                        note: entry.note.clone(),
                    };
                    if let Some(event) = events.last_mut() {
                        event.rows.push(row);
                    }
                }
                Line::Note(at, text) => {
                    if let Some(event) = events.last_mut() {
                        event.notes.push(StoryNote {
                            time: calendar::rfc3339(tz, *at),
                            note: text.clone(),
                        });
                    }
                }
            }
        }
        Story {
            member: self.member.clone(),
            events,
        }
    }
}

fn points_name(program: &Program, p: PointsId) -> &str {
    program
        .points
        .get(p.index())
        .map_or("points", |t| t.name.as_str())
}

/// Whether rule `r` pays the member's referrer.
fn pays_referrer(program: &Program, r: RuleId) -> bool {
    program.rules.get(r.index()).is_some_and(|t| t.to_referrer)
}

fn rule_name(program: &Program, r: RuleId) -> &str {
    program
        .rules
        .get(r.index())
        .map_or("?", |t| t.name.as_str())
}

/// An event's type name, and the values the record gave, by field name
/// in the type's order; then its basket's (or a return's) items, as
/// `sku × quantity`, if it lists them.
fn given<'a>(program: &'a Program, event: &Event) -> (&'a str, Vec<(&'a str, Value)>) {
    let Some(event_type) = program.events.get(event.kind) else {
        return ("event", Vec::new());
    };
    let mut given: Vec<(&str, Value)> = event_type
        .fields
        .iter()
        .zip(event.values().iter())
        .filter(|(_, v)| **v != Value::Missing)
        .map(|(f, v)| (f.name.as_str(), v.clone()))
        .collect();
    let items: Vec<(&str, Decimal)> = match &event.body {
        Body::Purchase { items, .. } => items.iter().map(|i| (&*i.sku, i.quantity)).collect(),
        Body::Return(back) => back.items.iter().map(|i| (&*i.sku, i.quantity)).collect(),
        _ => Vec::new(),
    };
    if !items.is_empty() {
        let listed: Vec<String> = items
            .iter()
            .map(|(sku, n)| format!("{sku} × {n}"))
            .collect();
        given.push(("items", Value::Text(listed.join(", ").into())));
    }
    (event_type.name.as_str(), given)
}

/// A value as a document gives it: text without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::Text(t) => t.to_string(),
        other => show(other),
    }
}

/// A ledger note as an aside after a sentence, or nothing.
fn aside(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::Text(t) => format!("\"{t}\""),
        Value::Date(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tier(t) => format!("tier {t}"),
        Value::Duration(t) => format!("{} {:?}", t.count, t.unit),
        Value::Missing => "(none)".to_string(),
    }
}
