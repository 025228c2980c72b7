//! A compact byte encoding of the events and ledger rows a member's
//! late-event history keeps: a few dozen bytes each instead of the several
//! hundred an `Event` or an `Entry` holds in its allocations, since
//! `--stream` keeps every applied event (and, for a program with budgets,
//! every row). The member id is not stored (the history belongs to one
//! member), and a file name is stored as its index in a table shared by all
//! members. Numbers are varints: a decimal its magnitude, after a byte of
//! sign and scale unless it is a whole number not negative (3 bytes for
//! 4.95, 2 for 617), an instant its seconds and
//! nanoseconds (5 bytes), and an id that starts with its member's id keeps
//! only the rest. Kept purchases (`purchases`) are packed with the same
//! encoders.

use super::ledger::{Entry, EntryKind};
use crate::compile::ir::{BuiltinEvent, PointsId, RuleId, Term, Value};
use crate::events::{Body, Event, Item, Origin, ReturnedItem};
use crate::syntax::ast::TimeUnit;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use smallvec::SmallVec;
use std::sync::Arc;
use unsigned_varint as varint;

/// The files events were read from, by index.
#[derive(Debug, Default, Clone)]
pub struct Files(Vec<Arc<str>>);

impl Files {
    fn index(&mut self, file: &Arc<str>) -> u32 {
        // Records come file after file: the last one is nearly always it.
        let found = self
            .0
            .iter()
            .rposition(|f| Arc::ptr_eq(f, file) || **f == **file);
        let index = found.unwrap_or_else(|| {
            self.0.push(file.clone());
            self.0.len() - 1
        });
        u32::try_from(index).unwrap_or(u32::MAX)
    }
}

/// Appends `event` to `out`, with `seq`, its place in the order events
/// were applied (ties at one instant are replayed in it).
pub fn pack(seq: u64, event: &Event, files: &mut Files, out: &mut Vec<u8>) {
    number(usize::try_from(seq).unwrap_or(usize::MAX), out);
    id(&event.id, &event.member, out);
    instant(event.time, out);
    number(event.kind, out);
    number(files.index(&event.origin.file) as usize, out);
    number(event.origin.line, out);
    // The built-in type by its place in `BuiltinEvent::ALL`, after 0 for
    // none: `unpack` takes the body from the values as the reader did.
    let builtin = event.body.builtin();
    number(
        builtin
            .and_then(|b| BuiltinEvent::ALL.iter().position(|a| *a == b))
            .map_or(0, |at| at + 1),
        out,
    );
    let values = event.values();
    number(values.len(), out);
    for value in values.iter() {
        match value {
            Value::Number(n) => {
                out.push(0);
                decimal(*n, out);
            }
            Value::Text(t) => {
                out.push(1);
                text(t, out);
            }
            Value::Date(d) => {
                out.push(2);
                out.extend_from_slice(&d.num_days_from_ce().to_le_bytes());
            }
            Value::Bool(b) => out.push(if *b { 4 } else { 3 }),
            Value::Tier(rank) => {
                out.push(5);
                number(*rank, out);
            }
            Value::Duration(term) => {
                out.push(6);
                out.extend_from_slice(&term.count.to_le_bytes());
                out.push(match term.unit {
                    TimeUnit::Day => 0,
                    TimeUnit::Week => 1,
                    TimeUnit::Month => 2,
                    TimeUnit::Year => 3,
                });
            }
            Value::Missing => out.push(7),
        }
    }
    // A purchase's basket, or the items a return names, after the values
    // (none for other events).
    match &event.body {
        Body::Purchase { items, .. } => {
            number(items.len(), out);
            for item in items {
                text(&item.sku, out);
                text(&item.category, out);
                for n in [item.quantity, item.unit_price, item.discount, item.amount] {
                    decimal(n, out);
                }
            }
        }
        Body::Return(back) => {
            number(back.items.len(), out);
            for item in &back.items {
                text(&item.sku, out);
                decimal(item.quantity, out);
            }
        }
        _ => number(0, out),
    }
}

/// The events in `bytes`, each with its `seq`, in the order packed, as
/// events of `member`; `None` if the bytes were not written by `pack` with
/// these `files`.
pub fn unpack(bytes: &[u8], member: &str, files: &Files) -> Option<Vec<(u64, Event)>> {
    let mut reader = Reader(bytes);
    let mut events = Vec::new();
    while !reader.0.is_empty() {
        events.push(reader.event(member, files)?);
    }
    Some(events)
}

/// Appends `event` as `pack` does, after its member's id: a record of a
/// file of many members' events (the sorted runs of `engine::spill`).
pub fn pack_with_member(seq: u64, event: &Event, files: &mut Files, out: &mut Vec<u8>) {
    text(&event.member, out);
    pack(seq, event, files, out);
}

/// The event packed by `pack_with_member` in `bytes`, with its `seq`;
/// `None` if `bytes` are not one such record.
pub fn unpack_with_member(bytes: &[u8], files: &Files) -> Option<(u64, Event)> {
    let mut reader = Reader(bytes);
    let member = reader.text()?;
    let event = reader.event(&member, files)?;
    reader.0.is_empty().then_some(event)
}

impl Reader<'_> {
    /// One event packed by `pack`, as an event of `member`.
    fn event(&mut self, member: &str, files: &Files) -> Option<(u64, Event)> {
        let reader = self;
        let seq = u64::try_from(reader.number()?).ok()?;
        let id = reader.id(member)?;
        let time = reader.instant()?;
        let kind = reader.number()?;
        let file = files.0.get(reader.number()?)?.clone();
        let line = reader.number()?;
        let builtin = match reader.number()? {
            0 => None,
            code => Some(*BuiltinEvent::ALL.get(code - 1)?),
        };
        let count = reader.number()?;
        let mut fields = Vec::with_capacity(count.min(256));
        for _ in 0..count {
            let value = match reader.take::<1>()?[0] {
                0 => Value::Number(reader.decimal()?),
                1 => Value::Text(reader.text()?.into()),
                2 => Value::Date(NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(
                    reader.take()?,
                ))?),
                3 => Value::Bool(false),
                4 => Value::Bool(true),
                5 => Value::Tier(reader.number()?),
                6 => {
                    let count = u32::from_le_bytes(reader.take()?);
                    let unit = match reader.take::<1>()?[0] {
                        0 => TimeUnit::Day,
                        1 => TimeUnit::Week,
                        2 => TimeUnit::Month,
                        3 => TimeUnit::Year,
                        _ => return None,
                    };
                    Value::Duration(Term { count, unit })
                }
                7 => Value::Missing,
                _ => return None,
            };
            fields.push(value);
        }
        let mut body = Body::take(builtin, &mut fields).ok()?;
        let count = reader.number()?;
        for _ in 0..count {
            match &mut body {
                Body::Purchase { items, .. } => items.push(Item {
                    sku: reader.text()?,
                    category: reader.text()?,
                    quantity: reader.decimal()?,
                    unit_price: reader.decimal()?,
                    discount: reader.decimal()?,
                    amount: reader.decimal()?,
                }),
                Body::Return(back) => back.items.push(ReturnedItem {
                    sku: reader.text()?,
                    quantity: reader.decimal()?,
                }),
                _ => return None,
            }
        }
        let event = Event {
            id,
            time,
            member: member.to_string(),
            kind,
            body,
            fields,
            origin: Origin { file, line },
        };
        Some((seq, event))
    }
}

/// Every kind of ledger row, by its code in the packed form.
const KINDS: [EntryKind; 18] = [
    EntryKind::Earn,
    EntryKind::Pend,
    EntryKind::Release,
    EntryKind::CapCut,
    EntryKind::Spend,
    EntryKind::Expire,
    EntryKind::Reverse,
    EntryKind::TierChange,
    EntryKind::PerkGrant,
    EntryKind::PerkUse,
    EntryKind::TransferOut,
    EntryKind::TransferIn,
    EntryKind::PoolJoin,
    EntryKind::PoolLeave,
    EntryKind::Adjust,
    EntryKind::RedeemCancel,
    EntryKind::Preview,
    EntryKind::Rollover,
];

fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Earn => 0,
        EntryKind::Pend => 1,
        EntryKind::Release => 2,
        EntryKind::CapCut => 3,
        EntryKind::Spend => 4,
        EntryKind::Expire => 5,
        EntryKind::Reverse => 6,
        EntryKind::TierChange => 7,
        EntryKind::PerkGrant => 8,
        EntryKind::PerkUse => 9,
        EntryKind::TransferOut => 10,
        EntryKind::TransferIn => 11,
        EntryKind::PoolJoin => 12,
        EntryKind::PoolLeave => 13,
        EntryKind::Adjust => 14,
        EntryKind::RedeemCancel => 15,
        EntryKind::Preview => 16,
        EntryKind::Rollover => 17,
    }
}

/// Appends a ledger row to `out`.
pub fn pack_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.push(kind_code(entry.kind));
    instant(entry.time, out);
    maybe_number(entry.points.map(PointsId::index), out);
    decimal(entry.amount, out);
    decimal(entry.balance, out);
    maybe_number(entry.rule.map(RuleId::index), out);
    match &entry.event {
        Some(id) => {
            out.push(1);
            text(id, out);
        }
        None => out.push(0),
    }
    text(&entry.note, out);
    match entry.cost {
        Some(cost) => {
            out.push(1);
            decimal(cost, out);
        }
        None => out.push(0),
    }
    match entry.earned {
        Some(t) => {
            out.push(1);
            instant(t, out);
        }
        None => out.push(0),
    }
    maybe_number(entry.tier, out);
    out.push(u8::from(entry.undoes));
}

/// The ledger rows in `bytes`, as rows of `member`; `None` if the bytes
/// were not written by `pack_entry`.
pub fn unpack_entries(bytes: &[u8], member: &str) -> Option<Vec<Entry>> {
    let mut reader = Reader(bytes);
    let mut entries = Vec::new();
    while !reader.0.is_empty() {
        let [code] = reader.take::<1>()?;
        let kind = *KINDS.get(usize::from(code))?;
        let time = reader.instant()?;
        let points = reader.maybe_number()?;
        let amount = reader.decimal()?;
        let balance = reader.decimal()?;
        let rule = reader.maybe_number()?;
        let event = match reader.take::<1>()? {
            [0] => None,
            _ => Some(reader.text()?.into()),
        };
        let note = reader.text()?;
        let cost = match reader.take::<1>()? {
            [0] => None,
            _ => Some(reader.decimal()?),
        };
        let earned = match reader.take::<1>()? {
            [0] => None,
            _ => Some(reader.instant()?),
        };
        let tier = reader.maybe_number()?;
        let undoes = match reader.take::<1>()? {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        entries.push(Entry {
            kind,
            member: member.into(),
            time,
            points: points.map(PointsId),
            amount,
            balance,
            rule: rule.map(RuleId),
            event,
            note,
            cost,
            earned,
            tier,
            undoes,
        });
    }
    Some(entries)
}

/// An instant: its seconds since 1970 (zigzag, so earlier times are small
/// too) and nanoseconds, as `with_nanos` writes them: 5 bytes for a time of
/// these years to the second, instead of 12.
pub(super) fn instant(t: DateTime<Utc>, out: &mut impl Out) {
    stamp(t.timestamp(), t.timestamp_subsec_nanos(), out);
}

/// An instant as seconds since 1970 and nanoseconds, as `instant` writes it.
pub(super) fn stamp(seconds: i64, nanos: u32, out: &mut impl Out) {
    with_nanos(zigzag(seconds), nanos, out);
}

/// An instant as the time from `from`'s seconds to it, in one varint: the
/// count (zigzag) plus one, times four, plus its unit: whole days, whole
/// hours, or seconds (then its nanoseconds follow if not 0); `None` as 0.
/// A return window or a release a number of days on is whole days or (a
/// clock change between) whole hours from a time to the second: one byte
/// for a fortnight, two for a year, where their seconds took four. One
/// byte for an instant in the same second as `from`.
pub(super) fn maybe_after(from: i64, to: Option<(i64, u32)>, out: &mut impl Out) {
    let Some((seconds, nanos)) = to else {
        return word(0, out);
    };
    // Seconds chrono can make are under 2^44 from 1970: no overflow, and
    // the zigzag of their difference is under 2^46.
    let apart = seconds - from;
    let (count, unit) = match apart {
        _ if nanos != 0 => (apart, AFTER_SECONDS_AND_NANOS),
        _ if apart % DAY == 0 => (apart / DAY, AFTER_DAYS),
        _ if apart % HOUR == 0 => (apart / HOUR, AFTER_HOURS),
        _ => (apart, AFTER_SECONDS),
    };
    word((zigzag(count) + 1) << 2 | unit, out);
    if unit == AFTER_SECONDS_AND_NANOS {
        word(u64::from(nanos), out);
    }
}

/// The units of `maybe_after`'s count, in its low two bits.
const AFTER_SECONDS: u64 = 0;
const AFTER_SECONDS_AND_NANOS: u64 = 1;
const AFTER_HOURS: u64 = 2;
const AFTER_DAYS: u64 = 3;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// A number under 2^63 and nanoseconds: the number doubled, plus one if
/// the nanoseconds (not 0) follow, as one varint, then them. Most
/// instants are whole seconds, and their nanoseconds took a byte.
fn with_nanos(n: u64, nanos: u32, out: &mut impl Out) {
    word(n << 1 | u64::from(nanos != 0), out);
    if nanos != 0 {
        word(u64::from(nanos), out);
    }
}

/// A signed number as an unsigned one small when it is near zero either
/// way: 0, −1, 1, −2 … as 0, 1, 2, 3 …
fn zigzag(n: i64) -> u64 {
    (n << 1 ^ n >> 63) as u64
}

/// The signed number `zigzag` made `n` of.
fn unzigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}

/// Where the encoders below write: a list of records, or one record made
/// on the stack (to learn its length before it joins a list).
pub(super) trait Out {
    fn push(&mut self, byte: u8);
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl Out for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

impl<A: smallvec::Array<Item = u8>> Out for SmallVec<A> {
    fn push(&mut self, byte: u8) {
        SmallVec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        SmallVec::extend_from_slice(self, bytes);
    }
}

/// A decimal in a varint or two, instead of 16 bytes. A whole number of
/// scale 0 and not negative (most points) is its magnitude doubled, in one
/// varint: 2 bytes for 617 miles, where a byte of sign and scale and two of
/// magnitude took 3. Any other is a byte with its low bit set (so it is
/// not such a varint's first), its sign in bit 6 and its scale (at most
/// 28) in bits 1 to 5, then its magnitude: 3 bytes for 4.95.
pub(super) fn decimal(d: Decimal, out: &mut impl Out) {
    let magnitude = d.mantissa().unsigned_abs();
    if d.scale() == 0 && !d.is_sign_negative() {
        // Under 2^96: doubled, under 2^97.
        wide(magnitude << 1, out);
    } else {
        out.push(u8::from(d.is_sign_negative()) << 6 | (d.scale() as u8) << 1 | 1);
        wide(magnitude, out);
    }
}

/// An event id: a member's ids often start with the member's own
/// (`m0001587-3`), so such an id keeps only the rest.
pub(super) fn id(id: &str, member: &str, out: &mut Vec<u8>) {
    match id.strip_prefix(member) {
        Some(rest) if !member.is_empty() => {
            number(rest.len() << 1 | 1, out);
            out.extend_from_slice(rest.as_bytes());
        }
        _ => {
            number(id.len() << 1, out);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

/// A number of up to 128 bits as a varint (7 bits a byte, low bits first).
pub(super) fn wide(n: u128, out: &mut impl Out) {
    out.extend_from_slice(varint::encode::u128(n, &mut varint::encode::u128_buffer()));
}

/// A number of up to 64 bits as the varint `wide` writes, a byte at a time
/// (without `wide`'s buffer: a bucket is packed again at each change).
pub(super) fn word(mut n: u64, out: &mut impl Out) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// `None` as 0, `Some(n)` as n + 1.
pub(super) fn maybe_number(n: Option<usize>, out: &mut Vec<u8>) {
    number(n.map_or(0, |n| n.saturating_add(1)), out);
}

/// A count or index, in 1 to 9 bytes (7 bits a byte, low bits first).
pub(super) fn number(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(varint::encode::usize(
        n,
        &mut varint::encode::usize_buffer(),
    ));
}

pub(super) fn text(t: &str, out: &mut Vec<u8>) {
    number(t.len(), out);
    out.extend_from_slice(t.as_bytes());
}

/// Reads what the functions above wrote, from the front of its bytes.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub(super) fn number(&mut self) -> Option<usize> {
        let (n, rest) = varint::decode::usize(self.0).ok()?;
        self.0 = rest;
        Some(n)
    }

    /// A number `wide` or `number` wrote that fits 64 bits, read without
    /// `wide`'s checks of 128-bit numbers (a bucket's clock work reads
    /// several for each bucket of its wallet).
    #[inline(always)]
    pub(super) fn word(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            // The tenth byte holds the 64th bit only.
            if i == 9 && byte > 1 {
                return None;
            }
            n |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.0 = self.0.get(i + 1..)?;
                return Some(n);
            }
        }
        None
    }

    pub(super) fn wide(&mut self) -> Option<u128> {
        let (n, rest) = varint::decode::u128(self.0).ok()?;
        self.0 = rest;
        Some(n)
    }

    pub(super) fn instant(&mut self) -> Option<DateTime<Utc>> {
        let (seconds, nanos) = self.stamp()?;
        DateTime::<Utc>::from_timestamp(seconds, nanos)
    }

    /// The seconds and nanoseconds `stamp` wrote.
    pub(super) fn stamp(&mut self) -> Option<(i64, u32)> {
        let (n, nanos) = self.with_nanos()?;
        Some((unzigzag(n), nanos))
    }

    /// The seconds and nanoseconds `maybe_after` wrote, `from` the same
    /// seconds (not checked for chrono's range).
    pub(super) fn maybe_after(&mut self, from: i64) -> Option<Option<(i64, u32)>> {
        let n = self.word()?;
        if n == 0 {
            return Some(None);
        }
        let count = unzigzag((n >> 2).checked_sub(1)?);
        let (apart, nanos) = match n & 3 {
            AFTER_SECONDS => (count, 0),
            AFTER_SECONDS_AND_NANOS => (count, u32::try_from(self.word()?).ok()?),
            AFTER_HOURS => (count.checked_mul(HOUR)?, 0),
            _ => (count.checked_mul(DAY)?, 0),
        };
        Some(Some((from.checked_add(apart)?, nanos)))
    }

    fn with_nanos(&mut self) -> Option<(u64, u32)> {
        let n = self.word()?;
        let nanos = if n & 1 == 1 {
            u32::try_from(self.word()?).ok()?
        } else {
            0
        };
        Some((n >> 1, nanos))
    }

    pub(super) fn decimal(&mut self) -> Option<Decimal> {
        let head = *self.0.first()?;
        if head & 1 == 0 {
            let magnitude = i128::try_from(self.wide()? >> 1).ok()?;
            return Decimal::try_from_i128_with_scale(magnitude, 0).ok();
        }
        let [head] = self.take::<1>()?;
        let magnitude = i128::try_from(self.wide()?).ok()?;
        let scale = u32::from(head >> 1 & 0x1f);
        let mut d = Decimal::try_from_i128_with_scale(magnitude, scale).ok()?;
        d.set_sign_negative(head & 0x40 != 0);
        Some(d)
    }

    fn id(&mut self, member: &str) -> Option<String> {
        let (after_member, text) = self.id_parts()?;
        Some(if after_member {
            format!("{member}{text}")
        } else {
            text.to_string()
        })
    }

    /// An id as `id` wrote it, without copying: whether it starts with the
    /// member's id, and the text after it (else the whole id).
    pub(super) fn id_parts(&mut self) -> Option<(bool, &'a str)> {
        let head = self.number()?;
        let len = head >> 1;
        if len > self.0.len() {
            return None;
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Some((head & 1 == 1, std::str::from_utf8(bytes).ok()?))
    }

    pub(super) fn maybe_number(&mut self) -> Option<Option<usize>> {
        Some(self.number()?.checked_sub(1))
    }

    pub(super) fn text(&mut self) -> Option<String> {
        let len = self.number()?;
        if len > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(head.to_vec()).ok()
    }
}

/// Whether `d` is `Decimal::ZERO` to its scale and sign: what a part left
/// out comes back as (a zero of another scale, `0.00`, is kept: it prints
/// otherwise).
pub(super) fn is_plain_zero(d: Decimal) -> bool {
    d.serialize() == Decimal::ZERO.serialize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, fields: Vec<Value>, file: &Arc<str>) -> Event {
        with_body(id, Body::Plain, fields, file)
    }

    fn with_body(id: &str, body: Body, fields: Vec<Value>, file: &Arc<str>) -> Event {
        Event {
            id: id.to_string(),
            time: DateTime::<Utc>::from_timestamp(1_735_700_000, 123_456_789).unwrap(),
            member: "ann".to_string(),
            kind: 300,
            body,
            fields,
            origin: Origin {
                file: file.clone(),
                line: 1_000_000,
            },
        }
    }

    proptest::proptest! {
        /// `word` writes 64-bit numbers as `wide` does, and reads every
        /// one `wide` and `number` write, as `wide` reads it, and nothing
        /// wider.
        #[test]
        fn words_read_as_wide_numbers_do(n: u64, wider in (1u128 << 64)..=u128::MAX) {
            let mut bytes = Vec::new();
            wide(u128::from(n), &mut bytes);
            let mut by_word = Vec::new();
            word(n, &mut by_word);
            proptest::prop_assert_eq!(&by_word, &bytes);
            number(n as usize, &mut bytes);
            wide(wider, &mut bytes);
            let mut reader = Reader(&bytes);
            proptest::prop_assert_eq!((reader.word(), reader.word()), (Some(n), Some(n)));
            proptest::prop_assert_eq!(reader.word(), None);
            let mut alone = Vec::new();
            wide(u128::from(n), &mut alone);
            let mut cut = Reader(alone.get(..alone.len() - 1).unwrap_or_default());
            proptest::prop_assert_eq!(cut.word(), None);
        }
    }

    proptest::proptest! {
        /// A decimal comes back with its value, scale and sign (a negative
        /// zero, a zero of scale 2 included), after one another; a whole
        /// number not negative takes no byte of sign and scale.
        #[test]
        fn decimals_come_back_as_they_were(
            parts in proptest::collection::vec(
                (proptest::prop_oneof![0u128..200, 0u128..(1 << 96)], 0u32..=28, proptest::bool::ANY),
                1..6,
            ),
        ) {
            let decimals: Vec<Decimal> = parts
                .iter()
                .map(|&(magnitude, scale, negative)| {
                    let mut d = Decimal::from_i128_with_scale(magnitude as i128, scale);
                    d.set_sign_negative(negative);
                    d
                })
                .collect();
            let mut bytes = Vec::new();
            for d in &decimals {
                let before = bytes.len();
                decimal(*d, &mut bytes);
                let mut alone = Vec::new();
                wide(d.mantissa().unsigned_abs() << 1, &mut alone);
                if d.scale() == 0 && !d.is_sign_negative() {
                    proptest::prop_assert_eq!(bytes.len() - before, alone.len());
                }
            }
            let mut reader = Reader(&bytes);
            for d in &decimals {
                let back = reader.decimal();
                proptest::prop_assert_eq!(back.map(|b| b.serialize()), Some(d.serialize()));
            }
            proptest::prop_assert!(reader.0.is_empty());
        }
    }

    /// Seconds chrono can make an instant of.
    fn chrono_seconds() -> std::ops::RangeInclusive<i64> {
        DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp()
    }

    proptest::proptest! {
        /// An instant after another comes back as it was, whatever unit
        /// its distance is written in, and its reading takes its bytes
        /// alone.
        #[test]
        fn an_instant_after_another_comes_back(
            from in chrono_seconds(),
            to in proptest::option::of((chrono_seconds(), 0u32..1_000_000_000)),
            whole in proptest::option::of((-400_000i64..400_000, proptest::bool::ANY)),
        ) {
            // Whole days or hours from `from` (most of what is kept), when asked.
            let to = match whole {
                Some((count, days)) => {
                    let seconds = from + count * if days { DAY } else { HOUR };
                    chrono_seconds().contains(&seconds).then_some((seconds, 0))
                }
                None => to,
            };
            let mut bytes = Vec::new();
            maybe_after(from, to, &mut bytes);
            bytes.push(0xff);
            let mut reader = Reader(&bytes);
            proptest::prop_assert_eq!(reader.maybe_after(from), Some(to));
            proptest::prop_assert_eq!(reader.0, &[0xff][..]);
        }
    }

    #[test]
    fn an_instant_whole_days_or_hours_on_takes_a_byte_or_two() {
        let from = 1_740_000_000;
        let len = |to: Option<(i64, u32)>| {
            let mut bytes = Vec::new();
            maybe_after(from, to, &mut bytes);
            bytes.len()
        };
        assert_eq!(len(None), 1);
        assert_eq!(len(Some((from, 0))), 1);
        assert_eq!(len(Some((from + 365 * DAY, 0))), 2);
        assert_eq!(len(Some((from + 30 * DAY + HOUR, 0))), 2);
        assert_eq!(len(Some((from + 14 * DAY, 0))), 1);
        assert_eq!(len(Some((from - 14 * DAY, 0))), 1);
        // Not whole hours: seconds, as before; nanoseconds follow.
        assert_eq!(len(Some((from + 365 * DAY + 1, 0))), 4);
        assert_eq!(len(Some((from + 365 * DAY, 5))), 5);
    }

    #[test]
    fn events_come_back_as_they_were_packed() {
        let a: Arc<str> = "a.csv".into();
        let b: Arc<str> = "b.jsonl".into();
        let events = [
            event(
                "e1",
                vec![
                    Value::Number(Decimal::new(-12345, 2)),
                    Value::Text("dîner à 20 €".into()),
                    Value::Date(NaiveDate::from_ymd_opt(1990, 2, 28).unwrap()),
                    Value::Bool(true),
                    Value::Bool(false),
                    Value::Tier(2),
                    Value::Duration(Term {
                        count: 14,
                        unit: TimeUnit::Month,
                    }),
                    Value::Missing,
                ],
                &a,
            ),
            event("", Vec::new(), &b),
            event("e3", vec![Value::Text("".into())], &a),
            // Past the 24 bytes a text keeps inline.
            event(
                "e4",
                vec![Value::Text("a note longer than twenty-four bytes".into())],
                &a,
            ),
            // Ids that start with the member's keep only the rest.
            event("ann-17", vec![Value::Number(-Decimal::ZERO)], &a),
            event("ann", vec![Value::Number(Decimal::MAX)], &a),
            event("annex", vec![Value::Number(Decimal::new(1, 28))], &a),
            event("an", vec![Value::Number(Decimal::MIN)], &a),
            // Built-in bodies, whose values are not in the fields (but a
            // purchase's amount).
            with_body(
                "p1",
                Body::Purchase {
                    amount: Decimal::new(495, 2),
                    items: Vec::new(),
                },
                vec![Value::Number(Decimal::new(495, 2)), Value::Missing],
                &a,
            ),
            // A basket, and a return naming some of it.
            with_body(
                "p2",
                Body::Purchase {
                    amount: Decimal::new(8243, 2),
                    items: vec![Item {
                        sku: "DIESEL".into(),
                        category: "fuel".into(),
                        quantity: Decimal::new(425, 1),
                        unit_price: Decimal::new(1749, 3),
                        discount: Decimal::ZERO,
                        amount: Decimal::new(7433, 2),
                    }],
                },
                vec![Value::Number(Decimal::new(8243, 2))],
                &a,
            ),
            with_body(
                "r2",
                Body::Return(Box::new(crate::events::Return {
                    of: "p2".into(),
                    amount: Decimal::new(1749, 2),
                    items: vec![ReturnedItem {
                        sku: "DIESEL".into(),
                        quantity: Decimal::TEN,
                    }],
                })),
                Vec::new(),
                &a,
            ),
            with_body(
                "a1",
                Body::Adjust(Box::new(crate::events::Adjust {
                    points: Decimal::new(-5, 0),
                    points_type: "stars".into(),
                    reason: "goodwill".into(),
                    purchase: None,
                    expires: NaiveDate::from_ymd_opt(2026, 1, 31),
                })),
                Vec::new(),
                &b,
            ),
        ];
        let mut files = Files::default();
        let mut bytes = Vec::new();
        for (seq, e) in events.iter().enumerate() {
            pack(seq as u64 * 1000, e, &mut files, &mut bytes);
        }
        assert_eq!(files.0.len(), 2);
        let back = unpack(&bytes, "ann", &files).unwrap();
        let seqs: Vec<u64> = back.iter().map(|(seq, _)| *seq).collect();
        let packed: Vec<u64> = (0..events.len() as u64).map(|n| n * 1000).collect();
        assert_eq!(seqs, packed);
        let back: Vec<Event> = back.into_iter().map(|(_, e)| e).collect();
        assert_eq!(back, events);
        // Decimals come back with their sign and scale, not just equal.
        let shown = |e: &[Event]| format!("{:?}", e.iter().map(|e| &e.fields).collect::<Vec<_>>());
        assert_eq!(shown(&back), shown(&events));
        // Cut short, the bytes are refused rather than misread.
        assert!(unpack(&bytes[..bytes.len() - 1], "ann", &files).is_none());
    }

    #[test]
    fn every_row_kind_has_its_own_code() {
        for (code, kind) in KINDS.iter().enumerate() {
            assert_eq!(usize::from(kind_code(*kind)), code);
        }
    }

    #[test]
    fn rows_come_back_as_they_were_packed() {
        let at = DateTime::<Utc>::from_timestamp(1_735_700_000, 5).unwrap();
        let full = Entry {
            kind: EntryKind::Rollover,
            member: "ann".into(),
            time: at,
            points: Some(PointsId(0)),
            amount: Decimal::new(-150, 1),
            balance: Decimal::new(99_999_999_999, 4),
            rule: Some(RuleId(200)),
            event: Some("e-7".into()),
            note: "undone for late event e9: reward coffee".to_string(),
            cost: Some(Decimal::new(-150, 2)),
            earned: Some(at),
            tier: Some(3),
            undoes: true,
        };
        let bare = Entry {
            kind: EntryKind::Earn,
            points: None,
            rule: None,
            event: None,
            note: String::new(),
            cost: None,
            earned: None,
            tier: None,
            undoes: false,
            ..full.clone()
        };
        // Times before 1970 and far ahead, to the nanosecond.
        let early = Entry {
            time: DateTime::<Utc>::from_timestamp(-2_208_988_800, 999_999_999).unwrap(),
            earned: Some(DateTime::<Utc>::from_timestamp(253_402_300_799, 1).unwrap()),
            amount: Decimal::new(-5, 0),
            balance: -Decimal::ZERO,
            ..full.clone()
        };
        let mut bytes = Vec::new();
        pack_entry(&full, &mut bytes);
        pack_entry(&bare, &mut bytes);
        pack_entry(&early, &mut bytes);
        let back = unpack_entries(&bytes, "ann").unwrap();
        assert_eq!(format!("{back:?}"), format!("{:?}", [&full, &bare, &early]));
        assert_eq!(back, [full, bare, early]);
        assert!(unpack_entries(&bytes[..bytes.len() - 1], "ann").is_none());
    }
}
