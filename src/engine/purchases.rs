//! The purchases a member keeps for returns, packed one after another in a
//! single allocation of bytes (a few dozen each: a program with a year's
//! return window keeps half of all purchases, and as structs with vectors
//! of their own they were half of a run's memory), and decoded into a
//! `Purchase` only when a return, an adjust or an expiry refers to one.

use super::member::ExactBytes;
use super::packed::{self, is_plain_zero, Reader};
use crate::compile::ir::{PointsId, RuleId};
use crate::syntax::ast::Rounding;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use smallvec::SmallVec;
use std::ops::Range;

/// A kept purchase, as a return changes it (its time, event id and the
/// close of its return window stay in the packed record's head as kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub amount: Decimal,
    pub returned: Decimal,
    pub awards: SmallVec<[PurchaseAward; 4]>,
    /// The rules with a `limit` that fired on it: returned in full, it
    /// gives their firings back.
    pub limited: SmallVec<[RuleId; 4]>,
    /// What the purchase added to each tier measure, to take back on return.
    pub measures: SmallVec<[(usize, Decimal); 4]>,
    /// Its basket, for returns that name items (empty when not itemized).
    pub items: Vec<BoughtItem>,
    pub time: DateTime<Utc>,
    /// The tier period it counted in (`Member::periods`).
    pub period: u64,
}

/// An item of a kept purchase: what a return naming it may take back.
#[derive(Debug, Clone, PartialEq)]
pub struct BoughtItem {
    pub sku: Box<str>,
    pub quantity: Decimal,
    /// The quantity returned so far.
    pub returned: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseAward {
    pub points: PointsId,
    /// The rule that earned it; `None` for an `adjust` credit made for the purchase.
    pub rule: Option<RuleId>,
    pub awarded: Decimal,
    pub reversed: Decimal,
    /// What of its bucket expired: gone already, never taken back again.
    pub expired: Decimal,
    pub bucket: Option<u64>,
    pub rounding: Rounding,
    /// `Some` for an award earned (in part) per basket item.
    pub shares: Option<Box<ItemShares>>,
}

/// What of an award was earned on each basket item, for returns that name
/// items: an award of a rule with per-item `earn` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemShares {
    /// The rule's unrounded award of the points type (all its lines).
    pub raw: Decimal,
    /// What each item gave of it, by its place in the basket (after its
    /// `times` and the cap per item); the rest of `raw` is the rule's
    /// other lines'.
    pub items: Vec<(usize, Decimal)>,
    /// The part of `raw` returned so far.
    pub returned: Decimal,
}

impl ItemShares {
    /// What of an award whose points still live are `live` all returns so
    /// far take back, unrounded, with this one's: each item's part by the
    /// share of it returned (`items`, by place) when the return names
    /// items, else by `money`, the share of the purchase's amount
    /// returned; the other lines' part by `money`.
    pub fn take_back(
        &mut self,
        live: Decimal,
        items: &[Decimal],
        money: Decimal,
        names_items: bool,
    ) -> Decimal {
        let on_items: Decimal = self.items.iter().map(|(_, part)| *part).sum();
        let by_item: Decimal = if names_items {
            self.items
                .iter()
                .map(|(at, part)| *part * items.get(*at).copied().unwrap_or_default())
                .sum()
        } else {
            on_items * money
        };
        // Shares are at most 1: no product here exceeds what it scales.
        self.returned += by_item + (self.raw - on_items) * money;
        if self.raw <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        // Multiply before dividing, as for any return (past the largest
        // decimal, the returned fraction first).
        live.checked_mul(self.returned)
            .and_then(|product| product.checked_div(self.raw))
            .or_else(|| live.checked_mul(self.returned.checked_div(self.raw)?))
            .unwrap_or(live)
            .min(live)
    }
}

/// A member's kept purchases, oldest first. Each is a record of bytes: the
/// length of the rest, the purchase's time and the close of its return
/// window (the one thing read for every purchase, when closed ones are
/// forgotten: `close`), its event id (as `packed::id` writes it: an id that
/// starts with the member's keeps only the rest), then the rest of the
/// `Purchase` (`Purchase::pack`).
#[derive(Debug, Clone)]
pub struct Purchases {
    /// The records, changed only by the methods below, which keep
    /// `first_close`.
    bytes: ExactBytes,
    /// The whole second in which the first purchase's return window
    /// closes (`NEVER_CLOSES` without one). The clock and every purchase
    /// ask whether one has closed, and this answers without reaching into
    /// the records (that read was a cache miss of its own, a fourteenth of
    /// a run's time) unless the window closes in the very second asked
    /// about; in 8 bytes rather than an instant's 16, a million members' 8
    /// MB.
    first_close: i64,
}

impl Default for Purchases {
    fn default() -> Self {
        Purchases {
            bytes: ExactBytes::default(),
            first_close: NEVER_CLOSES,
        }
    }
}

/// `first_close` of purchases without a return window, or of none.
const NEVER_CLOSES: i64 = i64::MAX;

/// `first_close` for a window closing at `closes`: its second, rounded
/// down (no instant chrono can make is `NEVER_CLOSES` seconds away).
fn close_second(closes: Option<DateTime<Utc>>) -> i64 {
    closes.map_or(NEVER_CLOSES, |closes| closes.timestamp())
}

/// Where a record lies among the bytes, and what its header says.
struct Record<'a> {
    /// The whole record.
    at: Range<usize>,
    /// The purchase's time.
    time: DateTime<Utc>,
    closes: Option<DateTime<Utc>>,
    /// Its event id: whether it starts with the member's id, and the rest.
    id: (bool, &'a str),
    /// The record's bytes up to its `Purchase`: kept as they are when a
    /// return changes it.
    head: &'a [u8],
    /// Its `Purchase`, packed.
    body: &'a [u8],
}

impl Purchases {
    /// The bytes the purchases take, packed.
    pub fn packed_len(&self) -> usize {
        self.bytes.len()
    }

    /// Keeps purchase `id` of member `member`, whose return window closes
    /// at `closes` (never without a window).
    pub fn keep(
        &mut self,
        member: &str,
        id: &str,
        closes: Option<DateTime<Utc>>,
        purchase: &Purchase,
    ) {
        if self.bytes.is_empty() {
            self.first_close = close_second(closes);
        }
        let mut rest = Vec::with_capacity(64);
        packed::instant(purchase.time, &mut rest);
        close(purchase.time, closes, &mut rest);
        packed::id(id, member, &mut rest);
        purchase.pack(&mut rest);
        self.bytes.extend(&with_length(&rest));
    }

    /// Forgets the purchases whose return window (`accept returns up to
    /// N`) has closed at `now`. Events come in time order, so a forgotten
    /// purchase could never be returned again.
    pub fn forget(&mut self, now: DateTime<Utc>) {
        // Closing in a later second than `now`'s, nothing has closed.
        if self.first_close > now.timestamp() {
            return;
        }
        let closed = self
            .records()
            .take_while(|r| r.closes.is_some_and(|closes| closes < now))
            .last()
            .map_or(0, |r| r.at.end);
        // With the last purchase goes its room: most members have no
        // purchase open most of the time.
        self.bytes.drain(0..closed);
        self.first_close = close_second(self.record_at(0).and_then(|r| r.closes));
    }

    /// How many purchases are kept.
    pub fn len(&self) -> usize {
        self.records().count()
    }

    /// Purchase `id` of member `member`, if a return can still refer to it.
    pub fn get(&self, member: &str, id: &str) -> Option<Purchase> {
        let record = self.find(member, id)?;
        Purchase::unpack(record.time, record.body)
    }

    /// Changes purchase `id` of member `member` by `change`, if a return
    /// can still refer to it, and returns what `change` did.
    pub fn change<R>(
        &mut self,
        member: &str,
        id: &str,
        change: impl FnOnce(&mut Purchase) -> R,
    ) -> Option<R> {
        let at = self.find(member, id)?.at;
        self.change_at(at, change)
    }

    /// Notes that `amount` points of bucket `bucket`, of type `points`,
    /// earned at `earned`, expired: a return of the purchase whose award
    /// made the bucket does not take them again.
    pub fn expired(
        &mut self,
        points: PointsId,
        bucket: u64,
        earned: DateTime<Utc>,
        amount: Decimal,
    ) {
        // A purchase's awards are earned at its time, a credit for it
        // later: if the oldest kept is newer than the bucket, no kept
        // purchase made it (points that outlive the return window). Read
        // through every kept purchase at each expiry, a member buying every
        // few minutes spent a sixth of their run here.
        let oldest = self.record_at(0).map(|r| r.time);
        if oldest.is_none_or(|time| time > earned) {
            return;
        }
        let of_bucket = |a: &PurchaseAward| a.points == points && a.bucket == Some(bucket);
        // The newest purchase with such an award (a bucket is made by one
        // award: there is at most one).
        let found = self
            .records()
            .filter(|r| Purchase::has_award(r.body, of_bucket))
            .last()
            .map(|r| r.at);
        if let Some(at) = found {
            self.change_at(at, |purchase| {
                if let Some(award) = purchase.awards.iter_mut().find(|a| of_bucket(a)) {
                    award.expired += amount;
                }
            });
        }
    }

    /// The newest purchase with event id `id` among member `member`'s.
    fn find(&self, member: &str, id: &str) -> Option<Record<'_>> {
        self.records()
            .filter(|r| match r.id {
                (true, rest) => id.strip_prefix(member) == Some(rest),
                (false, whole) => id == whole,
            })
            .last()
    }

    /// Changes the purchase whose record lies `at` by `change`.
    fn change_at<R>(
        &mut self,
        at: Range<usize>,
        change: impl FnOnce(&mut Purchase) -> R,
    ) -> Option<R> {
        let (record, done) = {
            let Record {
                time, head, body, ..
            } = self.record_at(at.start)?;
            let mut purchase = Purchase::unpack(time, body)?;
            let done = change(&mut purchase);
            let mut rest = head.to_vec();
            purchase.pack(&mut rest);
            (with_length(&rest), done)
        };
        self.bytes.splice(at, &record);
        Some(done)
    }

    /// The records, oldest first.
    fn records(&self) -> impl Iterator<Item = Record<'_>> {
        let mut start = 0;
        std::iter::from_fn(move || {
            let record = self.record_at(start)?;
            start = record.at.end;
            Some(record)
        })
    }

    /// The record that starts at byte `start`, if one does.
    fn record_at(&self, start: usize) -> Option<Record<'_>> {
        let mut reader = Reader(self.bytes.get(start..)?);
        let len = reader.number()?;
        let rest = reader.0.get(..len)?;
        let end = start + (self.bytes.len() - start - reader.0.len()) + len;
        let mut reader = Reader(rest);
        let time = reader.instant()?;
        let closes = match reader.maybe_after(time.timestamp())? {
            Some((seconds, nanos)) => Some(DateTime::<Utc>::from_timestamp(seconds, nanos)?),
            None => None,
        };
        let id = reader.id_parts()?;
        let (head, body) = rest.split_at(rest.len() - reader.0.len());
        Some(Record {
            at: start..end,
            time,
            closes,
            id,
            head,
            body,
        })
    }
}

/// A record as the list keeps it: its length (2 bytes up to 16 KB), then
/// `rest`; on the stack unless it is long.
fn with_length(rest: &[u8]) -> SmallVec<[u8; 64]> {
    let mut record = SmallVec::new();
    packed::word(rest.len() as u64, &mut record);
    record.extend_from_slice(rest);
    record
}

/// The close of the return window of a purchase made at `time`, as
/// `packed::maybe_after` writes it: 2 bytes for a window of a year, where
/// the instant took 7.
fn close(time: DateTime<Utc>, closes: Option<DateTime<Utc>>, out: &mut Vec<u8>) {
    let closes = closes.map(|t| (t.timestamp(), t.timestamp_subsec_nanos()));
    packed::maybe_after(time.timestamp(), closes, out);
}

/// How a rounding is packed.
const ROUNDINGS: [Rounding; 4] = [
    Rounding::Down,
    Rounding::Up,
    Rounding::HalfUp,
    Rounding::HalfEven,
];

/// Which of a packed purchase's parts that are often zero or empty are
/// there (a flag each, in a byte before them): most purchases have none
/// of them, and each took a byte or two.
const RETURNED: u8 = 1;
const LIMITED: u8 = 1 << 1;
const MEASURES: u8 = 1 << 2;
const ITEMS: u8 = 1 << 3;
const PERIOD: u8 = 1 << 4;

/// The same of a packed award (its rounding, `ROUNDINGS`' index, is in the
/// byte's low two bits).
const RULE: u8 = 1 << 2;
const REVERSED: u8 = 1 << 3;
const EXPIRED: u8 = 1 << 4;
const BUCKET: u8 = 1 << 5;
const SHARES: u8 = 1 << 6;
/// The award's rule and points type are in one byte, a nibble each: both
/// are under 16, as in most programs (a byte less an award).
const SMALL_IDS: u8 = 1 << 7;

/// The decimal `pack` wrote if it is `there`, else the zero it left out.
fn decimal_or_zero(reader: &mut Reader, there: bool) -> Option<Decimal> {
    if there {
        reader.decimal()
    } else {
        Some(Decimal::ZERO)
    }
}

/// `flag` if `there`, else nothing.
fn flag(there: bool, flag: u8) -> u8 {
    if there {
        flag
    } else {
        0
    }
}

impl Purchase {
    /// Appends the purchase but its time (which the record's head holds) to
    /// `out`: which parts are there, its amount and awards first (which an
    /// expiry reads of every kept purchase), then those parts.
    fn pack(&self, out: &mut Vec<u8>) {
        let flags = flag(!is_plain_zero(self.returned), RETURNED)
            | flag(!self.limited.is_empty(), LIMITED)
            | flag(!self.measures.is_empty(), MEASURES)
            | flag(!self.items.is_empty(), ITEMS)
            | flag(self.period != 0, PERIOD);
        out.push(flags);
        packed::decimal(self.amount, out);
        if flags & RETURNED != 0 {
            packed::decimal(self.returned, out);
        }
        packed::number(self.awards.len(), out);
        for award in &self.awards {
            award.pack(out);
        }
        if flags & LIMITED != 0 {
            packed::number(self.limited.len(), out);
            for rule in &self.limited {
                packed::number(rule.index(), out);
            }
        }
        if flags & MEASURES != 0 {
            packed::number(self.measures.len(), out);
            for (measure, value) in &self.measures {
                packed::number(*measure, out);
                packed::decimal(*value, out);
            }
        }
        if flags & ITEMS != 0 {
            packed::number(self.items.len(), out);
            for item in &self.items {
                packed::text(&item.sku, out);
                packed::decimal(item.quantity, out);
                packed::decimal(item.returned, out);
            }
        }
        if flags & PERIOD != 0 {
            packed::word(self.period, out);
        }
    }

    /// The purchase made at `time` that `pack` wrote as `bytes`; `None` if
    /// it did not.
    fn unpack(time: DateTime<Utc>, bytes: &[u8]) -> Option<Purchase> {
        let mut reader = Reader(bytes);
        let (flags, amount, returned) = Purchase::unpack_amounts(&mut reader)?;
        let awards = (0..reader.number()?)
            .map(|_| PurchaseAward::unpack(&mut reader))
            .collect::<Option<_>>()?;
        let mut limited = SmallVec::new();
        if flags & LIMITED != 0 {
            for _ in 0..reader.number()? {
                limited.push(RuleId(reader.number()?));
            }
        }
        let mut measures = SmallVec::new();
        if flags & MEASURES != 0 {
            for _ in 0..reader.number()? {
                measures.push((reader.number()?, reader.decimal()?));
            }
        }
        let mut items = Vec::new();
        if flags & ITEMS != 0 {
            for _ in 0..reader.number()? {
                items.push(BoughtItem {
                    sku: reader.text()?.into(),
                    quantity: reader.decimal()?,
                    returned: reader.decimal()?,
                });
            }
        }
        let period = if flags & PERIOD != 0 {
            reader.word()?
        } else {
            0
        };
        let purchase = Purchase {
            amount,
            returned,
            awards,
            limited,
            measures,
            items,
            time,
            period,
        };
        reader.0.is_empty().then_some(purchase)
    }

    /// The flags, amount and amount returned at the front of a packed
    /// purchase.
    fn unpack_amounts(reader: &mut Reader) -> Option<(u8, Decimal, Decimal)> {
        let [flags] = reader.take::<1>()?;
        let amount = reader.decimal()?;
        let returned = decimal_or_zero(reader, flags & RETURNED != 0)?;
        Some((flags, amount, returned))
    }

    /// Whether the purchase packed as `bytes` has an award that is `wanted`
    /// (reading its awards only).
    fn has_award(bytes: &[u8], wanted: impl Fn(&PurchaseAward) -> bool) -> bool {
        let mut reader = Reader(bytes);
        let awards = Purchase::unpack_amounts(&mut reader)
            .and_then(|_| reader.number())
            .unwrap_or_default();
        (0..awards).any(|_| PurchaseAward::unpack(&mut reader).is_some_and(|a| wanted(&a)))
    }
}

impl PurchaseAward {
    /// Appends the award to `out`: which parts are there and its rounding
    /// in a byte, its points type and rule (in one byte if both are under
    /// 16), then those parts.
    fn pack(&self, out: &mut Vec<u8>) {
        let rounding = ROUNDINGS.iter().position(|r| *r == self.rounding);
        let points = self.points.index();
        let small = self.rule.filter(|rule| rule.index() < 16 && points < 16);
        let flags = rounding.unwrap_or_default() as u8
            | flag(self.rule.is_some(), RULE)
            | flag(!is_plain_zero(self.reversed), REVERSED)
            | flag(!is_plain_zero(self.expired), EXPIRED)
            | flag(self.bucket.is_some(), BUCKET)
            | flag(self.shares.is_some(), SHARES)
            | flag(small.is_some(), SMALL_IDS);
        out.push(flags);
        match (small, self.rule) {
            (Some(rule), _) => out.push((rule.index() << 4 | points) as u8),
            (None, rule) => {
                packed::number(points, out);
                if let Some(rule) = rule {
                    packed::number(rule.index(), out);
                }
            }
        }
        packed::decimal(self.awarded, out);
        if flags & REVERSED != 0 {
            packed::decimal(self.reversed, out);
        }
        if flags & EXPIRED != 0 {
            packed::decimal(self.expired, out);
        }
        if let Some(bucket) = self.bucket {
            packed::word(bucket, out);
        }
        if let Some(shares) = &self.shares {
            packed::decimal(shares.raw, out);
            packed::number(shares.items.len(), out);
            for (at, part) in &shares.items {
                packed::number(*at, out);
                packed::decimal(*part, out);
            }
            packed::decimal(shares.returned, out);
        }
    }

    /// The award `pack` wrote at the front of `reader`'s bytes (the fields
    /// are read in their order).
    fn unpack(reader: &mut Reader) -> Option<PurchaseAward> {
        let [flags] = reader.take::<1>()?;
        let there = |wanted: u8| flags & wanted != 0;
        let (points, rule) = if there(SMALL_IDS) {
            let [ids] = reader.take::<1>()?;
            (usize::from(ids & 0xf), Some(RuleId(usize::from(ids >> 4))))
        } else {
            let points = reader.number()?;
            (
                points,
                there(RULE).then(|| reader.number().map(RuleId)).flatten(),
            )
        };
        if there(RULE) != rule.is_some() {
            return None;
        }
        Some(PurchaseAward {
            rounding: *ROUNDINGS.get(usize::from(flags & 0b11))?,
            points: PointsId(points),
            rule,
            awarded: reader.decimal()?,
            reversed: decimal_or_zero(reader, there(REVERSED))?,
            expired: decimal_or_zero(reader, there(EXPIRED))?,
            bucket: if there(BUCKET) {
                Some(reader.word()?)
            } else {
                None
            },
            shares: if there(SHARES) {
                Some(Box::new(ItemShares {
                    raw: reader.decimal()?,
                    items: (0..reader.number()?)
                        .map(|_| Some((reader.number()?, reader.decimal()?)))
                        .collect::<Option<_>>()?,
                    returned: reader.decimal()?,
                }))
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    const MEMBER: &str = "m0001587";

    /// Any decimal: every mantissa of 96 bits, scale and sign, the extremes
    /// often.
    pub(in crate::engine) fn decimal() -> impl Strategy<Value = Decimal> {
        let any = (any::<u128>(), 0u32..=28, any::<bool>()).prop_map(|(m, scale, negative)| {
            let mut d = Decimal::from_i128_with_scale((m >> 32) as i128, scale);
            d.set_sign_negative(negative);
            d
        });
        prop_oneof![
            any,
            Just(Decimal::ZERO),
            Just(Decimal::MAX),
            Just(Decimal::MIN),
            Just(Decimal::new(1, 28)),
            Just(-Decimal::ZERO),
            Just(Decimal::new(-5, 28)),
            (0i64..100_000, 0u32..3).prop_map(|(n, scale)| Decimal::new(n, scale)),
        ]
    }

    /// Instants from before 1900 to past 9999, to the nanosecond, and as
    /// often in whole seconds.
    pub(in crate::engine) fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let nanos = prop_oneof![Just(0), 0u32..1_000_000_000];
        (-3_000_000_000i64..400_000_000_000, nanos)
            .prop_map(|(s, ns)| DateTime::<Utc>::from_timestamp(s, ns).unwrap_or_default())
    }

    fn award() -> impl Strategy<Value = PurchaseAward> {
        let shares = (
            decimal(),
            prop::collection::vec((0usize..1000, decimal()), 0..4),
            decimal(),
        )
            .prop_map(|(raw, items, returned)| {
                Box::new(ItemShares {
                    raw,
                    items,
                    returned,
                })
            });
        (
            // Points types and rules on either side of 16, where the two
            // stop sharing a byte.
            (
                prop_oneof![0usize..3, 14usize..18],
                prop::option::of(prop_oneof![0usize..20, 0usize..400]),
            ),
            (decimal(), decimal(), decimal()),
            // Few buckets, so that awards of several purchases share one.
            prop::option::of(prop_oneof![0u64..6, Just(u64::MAX)]),
            prop::sample::select(ROUNDINGS.to_vec()),
            prop::option::of(shares),
        )
            .prop_map(
                |((points, rule), (awarded, reversed, expired), bucket, rounding, shares)| {
                    PurchaseAward {
                        points: PointsId(points),
                        rule: rule.map(RuleId),
                        awarded,
                        reversed,
                        expired,
                        bucket,
                        rounding,
                        shares,
                    }
                },
            )
    }

    fn purchase() -> impl Strategy<Value = Purchase> {
        let item =
            ("\\PC{0,6}", decimal(), decimal()).prop_map(|(sku, quantity, returned)| BoughtItem {
                sku: sku.into(),
                quantity,
                returned,
            });
        (
            (decimal(), decimal()),
            // Past the four awards, limits and measures kept inline too.
            prop::collection::vec(award(), 0..6),
            prop::collection::vec((0usize..1000).prop_map(RuleId), 0..6),
            prop::collection::vec((0usize..1000, decimal()), 0..6),
            prop::collection::vec(item, 0..3),
            (instant(), prop_oneof![Just(0), any::<u64>()]),
        )
            .prop_map(
                |((amount, returned), awards, limited, measures, items, (time, period))| Purchase {
                    amount,
                    returned,
                    awards: awards.into(),
                    limited: limited.into(),
                    measures: measures.into(),
                    items,
                    time,
                    period,
                },
            )
    }

    /// Event ids: the member's own followed by more, the member's alone,
    /// others (some that start with part of it), few enough to repeat.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u8..4).prop_map(|n| format!("{MEMBER}-{n}")),
            Just(MEMBER.to_string()),
            Just("m000158".to_string()),
            Just(String::new()),
            "\\PC{0,12}",
        ]
    }

    #[derive(Debug, Clone)]
    enum Step {
        Keep(String, Option<DateTime<Utc>>, Box<Purchase>),
        Forget(DateTime<Utc>),
        /// Points type, bucket, amount, and the seconds from the time of
        /// the purchase whose award made the bucket to its earn time.
        Expired(usize, u64, Decimal, i64),
        Return(String, Decimal),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (id(), prop::option::of(instant()), purchase())
                .prop_map(|(id, closes, p)| Step::Keep(id, closes, Box::new(p))),
            1 => instant().prop_map(Step::Forget),
            2 => (0usize..3, 0u64..6, 0i64..1000, prop_oneof![Just(0), 0i64..1_000_000])
                .prop_map(|(p, b, n, later)| Step::Expired(p, b, Decimal::new(n, 1), later)),
            1 => (id(), 0i64..1000).prop_map(|(id, n)| Step::Return(id, Decimal::new(n, 2))),
        ]
    }

    /// Every record, decoded, in order: its id, close and purchase.
    fn kept(purchases: &Purchases) -> Vec<(String, Option<DateTime<Utc>>, Purchase)> {
        purchases
            .records()
            .map(|r| {
                let id = match r.id {
                    (true, rest) => format!("{MEMBER}{rest}"),
                    (false, whole) => whole.to_string(),
                };
                (id, r.closes, Purchase::unpack(r.time, r.body).unwrap())
            })
            .collect()
    }

    proptest! {
        /// Whatever is kept, forgotten and changed, the records decode to
        /// what a list of the purchases themselves holds, in its order, to
        /// the last digit and scale; a lookup finds the newest of an id.
        #[test]
        fn kept_purchases_come_back_as_they_were_packed(
            steps in prop::collection::vec(step(), 0..24)
        ) {
            let mut purchases = Purchases::default();
            let mut model: Vec<(String, Option<DateTime<Utc>>, Purchase)> = Vec::new();
            for step in steps {
                match step {
                    Step::Keep(id, closes, mut purchase) => {
                        // Kept in time order, as events come.
                        if let Some((_, _, last)) = model.last() {
                            purchase.time = purchase.time.max(last.time);
                        }
                        purchases.keep(MEMBER, &id, closes, &purchase);
                        model.push((id, closes, *purchase));
                    }
                    Step::Forget(now) => {
                        purchases.forget(now);
                        let closed = model
                            .iter()
                            .take_while(|(_, closes, _)| {
                                closes.is_some_and(|closes| closes < now)
                            })
                            .count();
                        model.drain(..closed);
                    }
                    Step::Expired(p, bucket, amount, later) => {
                        let of_bucket =
                            |a: &PurchaseAward| a.points == PointsId(p) && a.bucket == Some(bucket);
                        let award = model
                            .iter_mut()
                            .rev()
                            .flat_map(|(_, _, purchase)| {
                                let time = purchase.time;
                                purchase.awards.iter_mut().map(move |a| (time, a))
                            })
                            .find(|(_, a)| of_bucket(a));
                        // Earned when its purchase was, or later (a credit
                        // made for the purchase); any time if no kept
                        // purchase made it.
                        let made = award.as_ref().map_or(DateTime::UNIX_EPOCH, |(time, _)| *time);
                        let Some(earned) = made.checked_add_signed(chrono::TimeDelta::seconds(later)) else {
                            continue;
                        };
                        if let Some((_, award)) = award {
                            let Some(sum) = award.expired.checked_add(amount) else {
                                continue;
                            };
                            award.expired = sum;
                        }
                        purchases.expired(PointsId(p), bucket, earned, amount);
                    }
                    Step::Return(id, amount) => {
                        let newest = model.iter_mut().rev().find(|(i, _, _)| *i == id);
                        let Some((_, _, purchase)) = newest else {
                            prop_assert!(purchases.get(MEMBER, &id).is_none());
                            continue;
                        };
                        let Some(sum) = purchase.returned.checked_add(amount) else {
                            continue;
                        };
                        purchase.returned = sum;
                        purchase.items.push(BoughtItem {
                            sku: "back".into(),
                            quantity: amount,
                            returned: amount,
                        });
                        let changed = purchases.change(MEMBER, &id, |kept| {
                            kept.returned = sum;
                            kept.items.push(BoughtItem {
                                sku: "back".into(),
                                quantity: amount,
                                returned: amount,
                            });
                            kept.clone()
                        });
                        prop_assert_eq!(changed.as_ref(), Some(&*purchase));
                    }
                }
                let back = kept(&purchases);
                prop_assert_eq!(&back, &model);
                // Decimals come back with their scale and sign, not just equal.
                prop_assert_eq!(format!("{back:?}"), format!("{model:?}"));
                let first = model.first().and_then(|(_, c, _)| *c);
                prop_assert_eq!(purchases.first_close, close_second(first));
                for (id, _, _) in &model {
                    let newest = model.iter().rev().find(|(i, _, _)| i == id).map(|(_, _, p)| p);
                    let found = purchases.get(MEMBER, id);
                    prop_assert_eq!(found.as_ref(), newest);
                }
            }
        }
    }

    /// Cut short anywhere, a packed purchase is refused, not misread.
    #[test]
    fn a_purchase_cut_short_does_not_decode() {
        let at = DateTime::<Utc>::from_timestamp(253_402_300_799, 999_999_999).unwrap();
        let purchase = Purchase {
            amount: Decimal::MAX,
            returned: Decimal::new(1, 28),
            awards: [PurchaseAward {
                points: PointsId(1),
                rule: Some(RuleId(7)),
                awarded: Decimal::MIN,
                reversed: -Decimal::ZERO,
                expired: Decimal::new(5, 1),
                bucket: Some(u64::MAX),
                rounding: Rounding::HalfEven,
                shares: Some(Box::new(ItemShares {
                    raw: Decimal::new(12345, 3),
                    items: vec![(0, Decimal::ONE), (2, Decimal::new(-7, 28))],
                    returned: Decimal::ZERO,
                })),
            }]
            .into_iter()
            .collect(),
            limited: [RuleId(3)].into_iter().collect(),
            measures: [(1, Decimal::new(495, 2))].into_iter().collect(),
            items: vec![BoughtItem {
                sku: "café".into(),
                quantity: Decimal::new(425, 1),
                returned: Decimal::ZERO,
            }],
            time: at,
            period: u64::MAX,
        };
        let mut bytes = Vec::new();
        purchase.pack(&mut bytes);
        assert_eq!(Purchase::unpack(at, &bytes), Some(purchase));
        for end in 0..bytes.len() {
            assert_eq!(Purchase::unpack(at, &bytes[..end]), None, "cut at {end}");
        }
    }

    /// The first close is kept to the second: within that second, whether
    /// the window has closed is read from the record, to the nanosecond.
    #[test]
    fn a_window_closing_within_the_second_asked_about_is_read_exactly() {
        let second = 1_735_700_000;
        let at = |nanos| DateTime::<Utc>::from_timestamp(second, nanos).unwrap();
        let purchase = Purchase {
            amount: Decimal::ONE,
            returned: Decimal::ZERO,
            awards: SmallVec::new(),
            limited: SmallVec::new(),
            measures: SmallVec::new(),
            items: Vec::new(),
            time: at(0),
            period: 0,
        };
        let mut purchases = Purchases::default();
        purchases.keep(MEMBER, "p1", Some(at(500_000_000)), &purchase);
        purchases.keep(MEMBER, "p2", None, &purchase);
        purchases.forget(at(200_000_000));
        purchases.forget(at(500_000_000));
        assert_eq!(
            purchases.len(),
            2,
            "open until its instant, which is not past"
        );
        purchases.forget(at(500_000_001));
        assert_eq!(purchases.len(), 1, "closed a nanosecond after");
        assert!(purchases.get(MEMBER, "p2").is_some());
        purchases.forget(DateTime::<Utc>::MAX_UTC);
        assert_eq!(purchases.len(), 1, "without a window, never forgotten");
    }

    /// An airline card purchase (one award, nothing else) takes a few dozen
    /// bytes.
    #[test]
    fn a_common_purchase_takes_a_few_dozen_bytes() {
        let at = DateTime::<Utc>::from_timestamp(1_735_700_000, 0).unwrap();
        let purchase = Purchase {
            amount: Decimal::new(12345, 2),
            returned: Decimal::ZERO,
            awards: [PurchaseAward {
                points: PointsId(0),
                rule: Some(RuleId(4)),
                awarded: Decimal::from(60),
                reversed: Decimal::ZERO,
                expired: Decimal::ZERO,
                bucket: Some(3),
                rounding: Rounding::Down,
                shares: None,
            }]
            .into_iter()
            .collect(),
            limited: SmallVec::new(),
            measures: SmallVec::new(),
            items: Vec::new(),
            time: at,
            period: 0,
        };
        let mut purchases = Purchases::default();
        let closes = at + chrono::TimeDelta::days(365);
        purchases.keep(MEMBER, &format!("{MEMBER}-12"), Some(closes), &purchase);
        // What is zero or empty takes no byte: its flag says so.
        // A whole number of points takes no byte of sign and scale; a
        // bucket is numbered among its member's.
        let award = 1 + 1 + 1 + 1; // flags, points and rule, 60, bucket 3
        let expected = 1 // the record's length
            + 5 // the time: whole seconds
            + 2 // the close a year on: its days from the time
            + 1 + 3 // `-12` after the member's id
            + 1 + 3 // flags, 123.45
            + 1 + award;
        assert_eq!(purchases.bytes.len(), expected);
    }
}
