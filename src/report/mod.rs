//! Reports: the ledger, member end states, rejects and the summary, written
//! as CSV and JSON to any writer, and the short table a person reads.

use crate::compile::calendar;
use crate::compile::ir::{PointsType, Program};
use crate::currency::Currency;
use crate::engine::ledger::{Entry, Totals};
use crate::engine::member::Member;
use crate::engine::replay::Outcome;
use crate::engine::{Counts, Engine};
use crate::events::Reject;
use crate::table::Table;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};

pub mod kpis;
pub mod output;
pub mod parquet;
pub mod state;
pub mod tier_mix;

/// Appends `n` to `out` exactly as its `Display` writes it: a whole number
/// (most points amounts and balances) through `itoa`, which was a twentieth
/// of a run through the formatter.
fn write_decimal(out: &mut String, n: Decimal) {
    // `Display` writes a negative zero as `-0`, and a whole number with a
    // scale (`5.00`) with its decimals.
    if n.scale() == 0 && !(n.is_zero() && n.is_sign_negative()) {
        out.push_str(itoa::Buffer::new().format(n.mantissa()));
    } else {
        // Writing into a `String` cannot fail.
        let _ = std::fmt::Write::write_fmt(out, format_args!("{n}"));
    }
}

/// Ledger entries as the lines of `ledger.csv`, formatted into a byte buffer
/// (no header): a sharded replay formats each shard's rows on its own
/// thread and merges the bytes.
pub struct LedgerLines<'p> {
    program: &'p Program,
    lines: Vec<u8>,
    /// The last row's time and how it was written: rows come in runs of one
    /// instant (an event's, a month end's), and converting and formatting
    /// a time for each was a few percent of a run.
    last_time: Option<(DateTime<Utc>, String)>,
    /// The row being written's amount and balance, formatted into the same
    /// two buffers each time rather than into new strings.
    amount: String,
    balance: String,
}

impl<'p> LedgerLines<'p> {
    pub fn new(program: &'p Program) -> Self {
        LedgerLines {
            program,
            lines: Vec::new(),
            last_time: None,
            amount: String::new(),
            balance: String::new(),
        }
    }

    /// Formats `entries`; returns how many bytes their lines took.
    pub fn add(&mut self, entries: &[Entry]) -> csv::Result<usize> {
        let before = self.lines.len();
        let program = self.program;
        for e in entries {
            let points = e
                .points
                .and_then(|p| program.points.get(p.index()))
                .map(|t| t.name.as_str());
            let rule = e
                .rule
                .and_then(|r| program.rules.get(r.index()))
                .map(|r| r.name.as_str());
            self.amount.clear();
            self.balance.clear();
            if e.points.is_some() {
                write_decimal(&mut self.amount, e.amount);
                write_decimal(&mut self.balance, e.balance);
            }
            if self.last_time.as_ref().is_none_or(|(t, _)| *t != e.time) {
                self.last_time = Some((e.time, calendar::rfc3339(program.timezone, e.time)));
            }
            let time = self
                .last_time
                .as_ref()
                .map_or("", |(_, text)| text.as_str());
            let cost = e
                .cost
                .map(|c| program.currency.format(c))
                .unwrap_or_default();
            let earned = e
                .earned
                .map(|t| calendar::rfc3339(program.timezone, t))
                .unwrap_or_default();
            let fields = [
                e.kind.name(),
                &e.member,
                time,
                points.unwrap_or_default(),
                &self.amount,
                &self.balance,
                rule.unwrap_or_default(),
                e.event.as_deref().unwrap_or_default(),
                &cost,
                &e.note,
                &earned,
            ];
            // Names are identifiers, and times and numbers are written
            // here: only ids and notes can hold what CSV quotes.
            let text = [&e.member, e.event.as_deref().unwrap_or_default(), &e.note];
            write_row(&mut self.lines, &fields, text.iter().any(quoted))?;
        }
        Ok(self.lines.len().saturating_sub(before))
    }

    /// How many bytes of lines are waiting to be taken.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the lines formatted so far; the next are formatted into
    /// `reuse` (cleared first), so no buffer is allocated again.
    pub fn take(&mut self, mut reuse: Vec<u8>) -> Vec<u8> {
        reuse.clear();
        std::mem::replace(&mut self.lines, reuse)
    }
}

impl crate::engine::sharded::Format for LedgerLines<'_> {
    fn add(&mut self, rows: &[Entry]) -> std::io::Result<usize> {
        Ok(LedgerLines::add(self, rows)?)
    }

    fn take(&mut self, reuse: Vec<u8>) -> std::io::Result<Vec<u8>> {
        Ok(LedgerLines::take(self, reuse))
    }
}

/// Whether csv's default writer quotes `field`: it holds the delimiter,
/// the quote or a line break (see `csv_core::WriterBuilder::build`).
fn quoted(field: &&str) -> bool {
    field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// Appends one row of `fields` to `lines`, exactly as csv's writer writes
/// it, given whether any field is `quoted`. A row with none (nearly every
/// ledger row) is joined straight on: the writer gathers a record and
/// checks every byte of it against its quoting table, which was a sixth of
/// a run's instructions. Any other row goes through a writer of its own.
fn write_row(lines: &mut Vec<u8>, fields: &[&str], quotes: bool) -> csv::Result<()> {
    // A row of one empty field is written as `""`: leave it to the writer.
    if quotes || fields.iter().all(|f| f.is_empty()) {
        let mut writer = csv::Writer::from_writer(lines);
        writer.write_record(fields)?;
        return Ok(writer.flush()?);
    }
    lines.reserve(fields.iter().map(|f| f.len() + 1).sum());
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            lines.push(b',');
        }
        lines.extend_from_slice(field.as_bytes());
    }
    lines.push(b'\n');
    Ok(())
}

/// Writes ledger entries as CSV, header first, as they come.
pub struct LedgerWriter<'p, W: Write> {
    lines: LedgerLines<'p>,
    out: W,
    /// The buffer the lines were last written from, emptied.
    spare: Vec<u8>,
    /// Empties `out`, so that the ledger can be written again from its
    /// header (`LedgerWriter::starting_over`).
    start_over: Option<fn(&mut W) -> io::Result<()>>,
}

/// Writes the ledger's header line.
fn write_ledger_header(out: &mut impl Write) -> csv::Result<()> {
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record([
        "kind", "member", "time", "points", "amount", "balance", "rule", "event", "cost", "note",
        "earned",
    ])?;
    out.write_all(&header.into_inner().map_err(|e| e.into_error())?)?;
    Ok(())
}

/// How many bytes of lines the writer gathers before it writes them out.
const WRITE_AT: usize = 256 * 1024;

impl<'p, W: Write> LedgerWriter<'p, W> {
    pub fn new(program: &'p Program, mut out: W) -> csv::Result<Self> {
        write_ledger_header(&mut out)?;
        Ok(LedgerWriter {
            lines: LedgerLines::new(program),
            out,
            spare: Vec::new(),
            start_over: None,
        })
    }

    /// The same writer, able to start the ledger over (`start_over`) by
    /// emptying its output with `empty`. A run whose members share budgets
    /// alone then writes its shards' lines here as they come, rather than
    /// into a temporary file copied here once every budget held (a second
    /// pass over the whole ledger, a gigabyte at a million members).
    pub fn starting_over(self, empty: fn(&mut W) -> io::Result<()>) -> Self {
        LedgerWriter {
            start_over: Some(empty),
            ..self
        }
    }

    /// Whether the ledger can be started over.
    pub fn can_start_over(&self) -> bool {
        self.start_over.is_some()
    }

    /// Drops everything written, if the writer can start over (else does
    /// nothing), and writes the header again.
    pub fn start_over(&mut self) -> csv::Result<()> {
        let Some(empty) = self.start_over else {
            return Ok(());
        };
        self.lines = LedgerLines::new(self.lines.program);
        empty(&mut self.out)?;
        write_ledger_header(&mut self.out)
    }

    pub fn write(&mut self, entries: &[Entry]) -> csv::Result<()> {
        self.lines.add(entries)?;
        if self.lines.len() >= WRITE_AT {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes lines formatted elsewhere (`LedgerLines`), after the rows
    /// written before.
    pub fn write_lines(&mut self, lines: &[u8]) -> csv::Result<()> {
        if !self.lines.is_empty() {
            self.write_out()?;
        }
        Ok(self.out.write_all(lines)?)
    }

    fn write_out(&mut self) -> csv::Result<()> {
        let lines = self.lines.take(std::mem::take(&mut self.spare));
        self.out.write_all(&lines)?;
        self.spare = lines;
        Ok(())
    }

    /// Writes what is left and flushes; returns the writer written to.
    pub fn finish(mut self) -> csv::Result<W> {
        self.write_out()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes each member's end state: tier, balance and pending points per
/// points type, and the tier measures.
pub fn write_members<W: Write>(engine: &Engine, now: DateTime<Utc>, out: W) -> csv::Result<()> {
    write_members_on(engine, now, out, 1)
}

/// Members formatted at a time by `write_members_on`'s threads together:
/// a few MB of rows held at once, whatever the number of members.
const MEMBERS_AT_A_TIME: usize = 1 << 16;

/// `write_members`, the rows formatted on `threads` threads (the same
/// bytes): each formats its share of every `MEMBERS_AT_A_TIME` members,
/// written in member order.
pub fn write_members_on<W: Write>(
    engine: &Engine,
    now: DateTime<Utc>,
    out: W,
    threads: usize,
) -> csv::Result<()> {
    let program = engine.program();
    let mut csv = csv::Writer::from_writer(out);
    let mut header = vec!["member".to_string(), "tier".to_string()];
    for p in &program.points {
        header.push(format!("{}_balance", p.name));
        header.push(format!("{}_pending", p.name));
    }
    if let Some(tiers) = &program.tiers {
        header.extend(tiers.measure_names.iter().cloned());
    }
    csv.write_record(&header)?;
    let members = engine.members();
    if threads <= 1 {
        for member in members {
            csv.write_record(member_row(program, member, now))?;
        }
        csv.flush()?;
        return Ok(());
    }
    let mut out = csv.into_inner().map_err(|e| e.into_error())?;
    for block in members.chunks(MEMBERS_AT_A_TIME) {
        let share = block.len().div_ceil(threads).max(1);
        let rows = |part: &[&Member]| -> csv::Result<Vec<u8>> {
            let mut csv = csv::Writer::from_writer(Vec::new());
            for member in part {
                csv.write_record(member_row(program, member, now))?;
            }
            csv.into_inner().map_err(|e| e.into_error().into())
        };
        let formatted: Vec<csv::Result<Vec<u8>>> = std::thread::scope(|scope| {
            let mut parts = block.chunks(share);
            let first = parts.next().unwrap_or_default();
            let others: Vec<_> = parts.map(|part| scope.spawn(move || rows(part))).collect();
            let mut formatted = vec![rows(first)];
            formatted.extend(others.into_iter().map(|other| {
                other
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            }));
            formatted
        });
        for bytes in formatted {
            out.write_all(&bytes?)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn member_row(program: &Program, member: &Member, now: DateTime<Utc>) -> Vec<String> {
    let tier = program
        .tiers
        .as_ref()
        .and_then(|t| t.tiers.get(member.tier()))
        .map_or(String::new(), |t| t.name.clone());
    let mut row = vec![member.id.to_string(), tier];
    for wallet in &member.wallets {
        row.push(wallet.balance().to_string());
        row.push(wallet.pending(now).to_string());
    }
    row.extend(
        crate::engine::current_measures::<Vec<Decimal>>(member, program, now)
            .iter()
            .map(Decimal::to_string),
    );
    row
}

pub fn write_rejects<W: Write>(rejects: &[Reject], out: W) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["file", "line", "id", "member", "reason"])?;
    for r in rejects {
        csv.write_record([
            &*r.origin.file,
            &r.origin.line.to_string(),
            r.id.as_deref().unwrap_or_default(),
            r.member.as_deref().unwrap_or_default(),
            &r.reason,
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// The run's totals, as finance reconciles them. Read back (`Deserialize`)
/// to add up the summaries of a run made in pieces: [`merge_summaries`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub program: String,
    pub currency: Currency,
    pub events: EventCounts,
    /// The record whose reject stopped a `--strict` run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<StoppedAt>,
    pub points: Vec<PointsSummary>,
}

/// Records read = applied + rejected + after `--until` + not applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventCounts {
    pub read: u64,
    pub applied: u64,
    pub rejected: u64,
    /// The rejects by class (`RejectClass::name`), the classes with any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected_by_class: BTreeMap<String, u64>,
    pub after_until: u64,
    /// Only when `--strict` stopped the run: records read but not applied
    /// (the records after the stop were not read, and are not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoppedAt {
    pub file: String,
    pub line: usize,
    pub id: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointsSummary {
    pub points: String,
    pub issued: Decimal,
    pub spent: Decimal,
    pub expired: Decimal,
    pub reversed: Decimal,
    /// issued − spent − expired − reversed, which equals the sum of balances.
    pub outstanding: Decimal,
    /// Of the outstanding points, those not yet spendable.
    pub pending: Decimal,
    /// outstanding × value per point × (1 − breakage), when the value is known.
    pub liability: Option<Decimal>,
    /// What `preview` rules would have issued, and what that is worth at
    /// the point's value (left out when no preview rule awarded anything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Preview>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preview {
    pub issued: Decimal,
    pub value: Option<Decimal>,
}

pub fn summary(engine: &Engine, outcome: &Outcome, now: DateTime<Utc>) -> Summary {
    let program = engine.program();
    let Counts { applied, .. } = engine.counts();
    let members = engine.members();
    let points = program
        .points
        .iter()
        .zip(engine.totals())
        .enumerate()
        .map(|(p, (points, totals))| {
            let pending = members
                .iter()
                .filter_map(|m| m.wallets.get(p))
                .map(|w| w.pending(now))
                .sum();
            points_summary(program.currency, points, totals, pending)
        })
        .collect();
    Summary {
        program: program.name.clone(),
        currency: program.currency,
        events: EventCounts {
            read: outcome.read,
            applied,
            // Records the reader rejected plus events the engine rejected.
            rejected: outcome.rejects.len() as u64,
            rejected_by_class: rejects_by_class(&outcome.rejects),
            after_until: outcome.after_until,
            not_applied: outcome.not_applied,
        },
        // A stopped run has one reject: the one that stopped it.
        stopped_at: outcome
            .not_applied
            .and(outcome.rejects.first())
            .map(|r| StoppedAt {
                file: r.origin.file.to_string(),
                line: r.origin.line,
                id: r.id.clone(),
                reason: r.reason.clone(),
            }),
        points,
    }
}

/// How many of `rejects` are of each class, the classes with any.
fn rejects_by_class(rejects: &[Reject]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for reject in rejects {
        *counts.entry(reject.class.name().to_string()).or_insert(0) += 1;
    }
    counts
}

/// The summary of one run made in pieces, each piece a group of members
/// that no other piece's events touch (`engine::sharded::split`), from the
/// pieces' summaries: counts and points add up, and each points type's
/// liability and preview value are worked out again from the added-up
/// points, as one run works them out (never a sum of rounded parts). A
/// points type a part does not list counts as zero there.
pub fn merge_summaries(program: &Program, parts: &[Summary]) -> Summary {
    let mut events = EventCounts {
        read: 0,
        applied: 0,
        rejected: 0,
        rejected_by_class: BTreeMap::new(),
        after_until: 0,
        not_applied: None,
    };
    let mut totals = vec![Totals::default(); program.points.len()];
    let mut pending = vec![Decimal::ZERO; program.points.len()];
    for part in parts {
        events.read += part.events.read;
        events.applied += part.events.applied;
        events.rejected += part.events.rejected;
        events.after_until += part.events.after_until;
        for (class, count) in &part.events.rejected_by_class {
            *events.rejected_by_class.entry(class.clone()).or_insert(0) += count;
        }
        if let Some(not_applied) = part.events.not_applied {
            *events.not_applied.get_or_insert(0) += not_applied;
        }
        for points in &part.points {
            let Some(p) = program.points.iter().position(|t| t.name == points.points) else {
                continue;
            };
            if let (Some(sum), Some(held)) = (totals.get_mut(p), pending.get_mut(p)) {
                sum.issued += points.issued;
                sum.spent += points.spent;
                sum.expired += points.expired;
                sum.reversed += points.reversed;
                // What a part's members hold beyond their flows came to
                // them by transfer: zero over the whole program.
                sum.transferred += points.outstanding
                    - (points.issued - points.spent - points.expired - points.reversed);
                sum.preview += points.preview.as_ref().map_or(Decimal::ZERO, |p| p.issued);
                *held += points.pending;
            }
        }
    }
    Summary {
        program: program.name.clone(),
        currency: program.currency,
        events,
        stopped_at: parts.iter().find_map(|p| p.stopped_at.clone()),
        points: program
            .points
            .iter()
            .zip(&totals)
            .zip(&pending)
            .map(|((points, totals), pending)| {
                points_summary(program.currency, points, totals, *pending)
            })
            .collect(),
    }
}

fn points_summary(
    currency: Currency,
    points: &PointsType,
    totals: &Totals,
    pending: Decimal,
) -> PointsSummary {
    let outstanding = totals.outstanding();
    let value = points.value.filter(|_| !points.qualifying);
    let breakage = points.breakage.unwrap_or_default();
    let liability = value.map(|v| crate::finance::liability(currency, outstanding, v, breakage));
    PointsSummary {
        points: points.name.clone(),
        issued: totals.issued,
        spent: totals.spent,
        expired: totals.expired,
        reversed: totals.reversed,
        outstanding,
        pending,
        liability,
        preview: (!totals.preview.is_zero()).then(|| Preview {
            issued: totals.preview,
            value: value.map(|v| currency.round(totals.preview * v)),
        }),
    }
}

/// The summary as a short table for a terminal.
pub fn summary_table(summary: &Summary) -> String {
    let liability = format!("liability {}", summary.currency);
    let mut table = Table::new(&[
        "points",
        "issued",
        "spent",
        "expired",
        "reversed",
        "outstanding",
        "pending",
        &liability,
    ]);
    for p in &summary.points {
        table.push(vec![
            p.points.clone(),
            p.issued.to_string(),
            p.spent.to_string(),
            p.expired.to_string(),
            p.reversed.to_string(),
            p.outstanding.to_string(),
            p.pending.to_string(),
            p.liability.map_or("-".to_string(), |l| l.to_string()),
        ]);
    }
    let e = &summary.events;
    let stopped = match (&summary.stopped_at, e.not_applied) {
        (Some(at), Some(n)) => format!(
            "; --strict stopped at {} line {}, with {n} read and not applied",
            at.file, at.line
        ),
        _ => String::new(),
    };
    let classes = if e.rejected_by_class.is_empty() {
        String::new()
    } else {
        let counts: Vec<String> = e
            .rejected_by_class
            .iter()
            .map(|(class, n)| format!("{n} {}", class.replace('_', " ")))
            .collect();
        format!(" ({})", counts.join(", "))
    };
    format!(
        "{}: {} events read, {} applied, {} rejected{classes}{}{stopped}\n\n{}",
        summary.program,
        e.read,
        e.applied,
        e.rejected,
        if e.after_until > 0 {
            format!(", {} after --until (not applied)", e.after_until)
        } else {
            String::new()
        },
        table.text()
    ) + &preview_lines(summary)
}

/// A line per points type that `preview` rules would have issued.
fn preview_lines(summary: &Summary) -> String {
    summary
        .points
        .iter()
        .filter_map(|p| {
            let preview = p.preview.as_ref()?;
            let worth = preview
                .value
                .map(|v| format!(", worth {v} {}", summary.currency))
                .unwrap_or_default();
            Some(format!(
                "\npreview rules would have issued {} {}{worth} (not awarded)",
                preview.issued, p.points
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ledger::EntryKind;
    use proptest::prelude::{any, Just, Strategy};
    use proptest::prop_oneof;

    proptest::proptest! {
        /// Rows written by `write_row`, joined directly or through the
        /// writer, are exactly what csv's writer makes of them: fields
        /// with any of the bytes it quotes, quoted rows among plain ones.
        #[test]
        fn rows_are_written_as_the_csv_writer_writes_them(
            rows in (1..5usize).prop_flat_map(|width| proptest::collection::vec(
                proptest::collection::vec("[a ,\"\r\n\\'#-]{0,3}", width),
                1..5,
            )),
        ) {
            let mut lines = Vec::new();
            let mut reference = csv::Writer::from_writer(Vec::new());
            for row in &rows {
                let fields: Vec<&str> = row.iter().map(String::as_str).collect();
                write_row(&mut lines, &fields, fields.iter().any(quoted)).expect("writes");
                reference.write_record(&fields).expect("writes");
            }
            let written = String::from_utf8(lines).expect("UTF-8");
            let expected = String::from_utf8(reference.into_inner().expect("flushes")).expect("UTF-8");
            proptest::prop_assert_eq!(written, expected);
        }
    }

    #[test]
    fn ledger_lines_quote_what_needs_quoting() {
        let source = "program \"T\" {\n  currency USD\n  timezone \"UTC\"\n}\n\
            points pts\n\
            rule base {\n  on purchase\n  earn 1 pts per 1 USD of amount\n}\n";
        let (program, _) = crate::compile::compile(source).expect("compiles");
        let time = DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .expect("a time")
            .to_utc();
        let entry = |member: &str, event: Option<&str>, note: &str| Entry {
            kind: EntryKind::Earn,
            member: member.into(),
            time,
            points: Some(crate::compile::ir::PointsId(0)),
            amount: Decimal::new(125, 1),
            balance: Decimal::from(-3),
            rule: Some(crate::compile::ir::RuleId(0)),
            event: event.map(Into::into),
            note: note.to_owned(),
            cost: Some(Decimal::new(5, 1)),
            earned: None,
            tier: None,
            undoes: false,
        };
        let entries = [
            entry("m1", Some("e1"), ""),
            entry("a,b", Some("say \"hi\""), "two\nlines"),
            Entry {
                kind: EntryKind::Expire,
                earned: Some(time - chrono::Duration::days(59)),
                ..entry(" x ", None, "ok")
            },
        ];
        let mut lines = LedgerLines::new(&program);
        let bytes = lines.add(&entries).expect("formats");
        let text = String::from_utf8(lines.take(Vec::new())).expect("UTF-8");
        assert_eq!(bytes, text.len());
        assert_eq!(
            text,
            "earn,m1,2025-03-01T10:00:00+00:00,pts,12.5,-3,base,e1,0.50,,\n\
             earn,\"a,b\",2025-03-01T10:00:00+00:00,pts,12.5,-3,base,\"say \"\"hi\"\"\",0.50,\"two\nlines\",\n\
             expire, x ,2025-03-01T10:00:00+00:00,pts,12.5,-3,base,,0.50,ok,2025-01-01T10:00:00+00:00\n"
        );
    }

    proptest::proptest! {
        /// Whole or not, signed or not, zero (negative zero too) or not:
        /// written as `Display` writes it.
        #[test]
        fn a_decimal_is_written_as_display_writes_it(
            lo in prop_oneof![0u32..3, any::<u32>()],
            mid in prop_oneof![Just(0u32), any::<u32>()],
            hi in prop_oneof![Just(0u32), any::<u32>()],
            negative in any::<bool>(),
            scale in prop_oneof![Just(0u32), 0u32..=28],
        ) {
            let mut n = Decimal::from_parts(lo, mid, hi, false, scale);
            n.set_sign_negative(negative);
            let mut written = String::from("before ");
            write_decimal(&mut written, n);
            proptest::prop_assert_eq!(written, format!("before {n}"));
        }
    }
}
