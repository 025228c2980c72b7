//! A wallet's live buckets, packed one after another in one allocation of
//! bytes (about two dozen bytes a bucket, where a 68-byte struct in a list
//! with room to grow took about 140: a program whose points never expire
//! keeps every award's bucket, and buckets were most of the memory a run
//! added with every event), and decoded as they are read: the settled
//! buckets in spending order, then those waiting for their release in the
//! order of their first work. Each record starts and ends with its length
//! in a byte, so the list reads from either end and a search skips a
//! record after reading one number: an award's bucket, nearly always the
//! last settled, is added and planned without decoding the others, and
//! clock work is the first pending bucket's or among the first expiries,
//! found by its scheduling order before its bucket is read in full.

use super::member::ExactBytes;
use super::packed::{self, Reader};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use smallvec::SmallVec;
use std::ops::Range;

/// One award, as a bucket: the unit of expiry and of FIFO spending. Its
/// instants are `DateTime`s as the engine uses it, `Stamp`s as the list
/// reads it (making a `DateTime` finds its calendar date: most of the
/// cost of reading a record).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket<T = DateTime<Utc>> {
    pub id: u64,
    /// What is left of it.
    pub amount: Decimal,
    pub earned_at: T,
    pub available_at: T,
    pub expires_at: Option<T>,
    /// Its clock work still to do (`Buckets::plan`), in one number: the
    /// scheduling order of the next piece, times two, plus one while that
    /// piece is its release (pending points becoming spendable; its expiry
    /// comes next in the order). Zero: it has no clock work (not planned
    /// yet, or never). Scheduling orders are counts of things scheduled,
    /// far below 2^63.
    work: u64,
}

/// A piece of clock work on a bucket (by its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketWork {
    Release(u64),
    Expire(u64),
}

/// When a piece of clock work is due and its scheduling order: the order
/// one member's work at one instant is done in.
pub type WorkKey<T = DateTime<Utc>> = (T, u64);

/// An instant as a record holds it: seconds since 1970 and nanoseconds,
/// which order as the `DateTime` they stand for does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    seconds: i64,
    nanos: u32,
}

impl From<DateTime<Utc>> for Stamp {
    fn from(t: DateTime<Utc>) -> Stamp {
        Stamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos(),
        }
    }
}

impl Stamp {
    fn dated(self) -> Option<DateTime<Utc>> {
        DateTime::<Utc>::from_timestamp(self.seconds, self.nanos)
    }
}

/// What a bucket's instants are: both kinds order alike, and have a last.
pub trait Moment: Copy + Ord {
    fn last() -> Self;
}

impl Moment for DateTime<Utc> {
    fn last() -> Self {
        DateTime::<Utc>::MAX_UTC
    }
}

impl Moment for Stamp {
    fn last() -> Self {
        Stamp::from(DateTime::<Utc>::MAX_UTC)
    }
}

impl Bucket {
    /// A bucket of `amount` with these dates and no clock work planned.
    pub fn new(
        id: u64,
        amount: Decimal,
        earned_at: DateTime<Utc>,
        available_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Bucket {
        Bucket {
            id,
            amount,
            earned_at,
            available_at,
            expires_at,
            work: 0,
        }
    }

    /// The same bucket holding `amount`.
    pub fn with_amount(&self, amount: Decimal) -> Bucket {
        Bucket { amount, ..*self }
    }

    /// The bucket with its instants as stamps.
    fn stamped(&self) -> Bucket<Stamp> {
        Bucket {
            id: self.id,
            amount: self.amount,
            earned_at: Stamp::from(self.earned_at),
            available_at: Stamp::from(self.available_at),
            expires_at: self.expires_at.map(Stamp::from),
            work: self.work,
        }
    }
}

impl Bucket<Stamp> {
    /// Its record: its length in a byte, then clock work, id (doubled, plus
    /// one if the bucket is plain) and release as varints (`packed`), its
    /// expiry and earn time as seconds from the release unless it is plain,
    /// its amount, and its length again (so the list reads from either
    /// end). A plain bucket never expires by date and was spendable when
    /// earned, as every bucket of points that expire by inactivity or
    /// never (the airline's miles): two bytes less. Ids are a member's
    /// count of its buckets, far below 2^63. Made on the stack, so that
    /// the list it joins grows by its length exactly.
    fn record(&self) -> OneRecord {
        let mut out = OneRecord::new();
        out.push(0);
        let plain = self.expires_at.is_none() && self.earned_at == self.available_at;
        packed::word(self.work, &mut out);
        packed::word(self.id << 1 | u64::from(plain), &mut out);
        packed::stamp(self.available_at.seconds, self.available_at.nanos, &mut out);
        if !plain {
            after(self.available_at, self.expires_at, &mut out);
            after(self.available_at, Some(self.earned_at), &mut out);
        }
        packed::decimal(self.amount, &mut out);
        let len = u8::try_from(out.len() - 1).unwrap_or(u8::MAX);
        out.push(len);
        if let Some(head) = out.first_mut() {
            *head = len;
        }
        out
    }

    /// The bucket with its instants as `DateTime`s.
    fn dated(self) -> Option<Bucket> {
        Some(Bucket {
            id: self.id,
            amount: self.amount,
            earned_at: self.earned_at.dated()?,
            available_at: self.available_at.dated()?,
            expires_at: match self.expires_at {
                Some(at) => Some(at.dated()?),
                None => None,
            },
            work: self.work,
        })
    }
}

impl<T: Moment> Bucket<T> {
    /// Sets its next clock work: in scheduling order `seq`, its release if
    /// `releasing`.
    fn set_work(&mut self, seq: u64, releasing: bool) {
        self.work = seq << 1 | u64::from(releasing);
    }

    /// What its clock work depends on.
    fn due(&self) -> Due<T> {
        Due {
            id: self.id,
            work: self.work,
            available_at: self.available_at,
            expires_at: self.expires_at,
        }
    }

    /// Spending order: earliest expiry first (never-expiring last), then earliest earned.
    fn order(&self) -> (T, T, u64) {
        (
            self.expires_at.unwrap_or_else(T::last),
            self.earned_at,
            self.id,
        )
    }
}

/// What a bucket's clock work depends on: the bucket's id, its work
/// (`Bucket::work`), its release and its expiry (the first fields of its
/// record: the wallet's next work is found reading only these).
#[derive(Debug, Clone, Copy)]
struct Due<T> {
    id: u64,
    work: u64,
    available_at: T,
    expires_at: Option<T>,
}

impl<T: Moment> Due<T> {
    /// The scheduling order of the next clock work (zero if none).
    fn seq(&self) -> u64 {
        self.work >> 1
    }

    /// Whether the release is clock work still to do.
    fn releasing(&self) -> bool {
        self.work & 1 == 1
    }

    /// The key of the release, if it waits for one.
    fn release_key(&self) -> Option<WorkKey<T>> {
        self.releasing().then_some((self.available_at, self.seq()))
    }

    /// The key of the expiry, if planned: next in the order after the
    /// release.
    fn expiry_key(&self) -> Option<WorkKey<T>> {
        let seq = self.seq() + u64::from(self.releasing());
        self.expires_at
            .filter(|_| self.work > 0)
            .map(|at| (at, seq))
    }

    /// The first clock work still to do, with its key: the release or the
    /// expiry, which may come first.
    fn first_work(&self) -> Option<(WorkKey<T>, BucketWork)> {
        let release = self
            .release_key()
            .map(|key| (key, BucketWork::Release(self.id)));
        let expiry = self
            .expiry_key()
            .map(|key| (key, BucketWork::Expire(self.id)));
        match (release, expiry) {
            (Some(release), Some(expiry)) => Some(if expiry.0 < release.0 {
                expiry
            } else {
                release
            }),
            (release, expiry) => release.or(expiry),
        }
    }
}

/// The key of a bucket's first clock work, if it has any (the order of
/// the part waiting for releases).
fn first_key<T: Moment>(due: &Due<T>) -> Option<WorkKey<T>> {
    due.first_work().map(|(key, _)| key)
}

/// `to` as `packed::maybe_after` writes it, from `from`: one byte for a
/// release on the second earned, two for an expiry a year on (whole days
/// or hours), four for one at a midnight six months on.
fn after(from: Stamp, to: Option<Stamp>, out: &mut OneRecord) {
    packed::maybe_after(from.seconds, to.map(|to| (to.seconds, to.nanos)), out);
}

/// One record of the list: where it is, and its bytes between its two
/// length bytes, read only as far as asked.
struct Record<'a> {
    at: Range<usize>,
    body: &'a [u8],
}

impl<'a> Record<'a> {
    /// The record whose body is `body` at `at`.
    fn new(at: Range<usize>, body: &'a [u8]) -> Record<'a> {
        Record { at, body }
    }

    /// Its clock work: its first number.
    fn work(&self) -> Option<u64> {
        Reader(self.body).word()
    }

    /// Whether its bucket has work planned in scheduling order `seq`: its
    /// release at its order, or its expiry at that order or the next.
    fn may_have_work(&self, seq: u64) -> bool {
        self.work()
            .is_some_and(|work| work > 0 && seq.abs_diff(work >> 1) <= 1)
    }

    /// Whether its bucket waits for its release: its work's lowest bit,
    /// in its first byte.
    fn releasing(&self) -> bool {
        self.body.first().is_some_and(|byte| byte & 1 == 1)
    }

    /// Its bucket's id: its second number, halved.
    fn id(&self) -> Option<u64> {
        let mut reader = Reader(self.body);
        reader.word()?;
        Some(reader.word()? >> 1)
    }

    /// What its bucket's clock work depends on, with instants as stamps.
    fn due(&self) -> Option<Due<Stamp>> {
        self.due_and_plain().map(|(due, ..)| due)
    }

    /// What `due` gives, a reader after it, and whether the bucket is
    /// plain (its earn time is its release, and is not in the record: the
    /// reader is then at its amount, else at its earn time).
    fn due_and_plain(&self) -> Option<(Due<Stamp>, Reader<'a>, bool)> {
        let mut reader = Reader(self.body);
        let work = reader.word()?;
        let id = reader.word()?;
        let plain = id & 1 == 1;
        let (seconds, nanos) = reader.stamp()?;
        let available_at = Stamp { seconds, nanos };
        let expires_at = if plain {
            None
        } else {
            read_after(&mut reader, available_at)?
        };
        let due = Due {
            id: id >> 1,
            work,
            available_at,
            expires_at,
        };
        Some((due, reader, plain))
    }

    /// Its bucket but its amount, with instants as stamps, and a reader at
    /// its amount.
    fn dates(&self) -> Option<(Bucket<Stamp>, Reader<'a>)> {
        let (due, mut reader, plain) = self.due_and_plain()?;
        let earned_at = if plain {
            due.available_at
        } else {
            read_after(&mut reader, due.available_at)??
        };
        let bucket = Bucket {
            id: due.id,
            amount: Decimal::ZERO,
            earned_at,
            available_at: due.available_at,
            expires_at: due.expires_at,
            work: due.work,
        };
        Some((bucket, reader))
    }

    /// Its bucket, with instants as stamps.
    fn stamped(&self) -> Option<Bucket<Stamp>> {
        let (bucket, mut reader) = self.dates()?;
        Some(Bucket {
            amount: reader.decimal()?,
            ..bucket
        })
    }

    /// Its bucket.
    fn bucket(&self) -> Option<Bucket> {
        self.stamped()?.dated()
    }
}

/// Reads what `after` wrote.
fn read_after(reader: &mut Reader, from: Stamp) -> Option<Option<Stamp>> {
    let to = reader.maybe_after(from.seconds)?;
    Some(to.map(|(seconds, nanos)| Stamp { seconds, nanos }))
}

/// The most bytes a record takes, its two length bytes included
/// (`the_longest_record_fits_its_length_bytes`); most take about two dozen.
const LONGEST_RECORD: usize = 90;

/// How often `Buckets::next_work` reads a bucket it passes over in full,
/// to learn whether the buckets left expire too late to come first (any
/// number gives the same work; the tests' small lists read often).
const CHECK_EVERY: usize = if cfg!(test) { 3 } else { 16 };

/// One record, made on the stack (room for the longest: `smallvec` takes
/// arrays of some lengths only).
type OneRecord = SmallVec<[u8; 96]>;
const _: () = assert!(LONGEST_RECORD <= 96);

/// Live buckets, packed in two parts: the settled ones first (spendable,
/// or never pending) in spending order, then those that wait for their
/// release (their work's lowest bit set: the part is the records from the
/// last that have it) in the order of their first work. A wallet's next
/// clock work is then the first pending bucket's or among its first
/// expiries, found without reading the others, however many buckets the
/// member keeps: read through every bucket, a member buying every few
/// minutes took a minute for a year of purchases (docs/performance.md).
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    bytes: ExactBytes,
}

impl Buckets {
    /// The bytes the buckets take, packed.
    pub fn packed_len(&self) -> usize {
        self.bytes.len()
    }

    /// The buckets in spending order: the two parts merged.
    pub fn iter(&self) -> impl Iterator<Item = Bucket> + '_ {
        let pending = self.pending_from();
        let mut settled = self
            .records_in(0..pending)
            .map_while(|r| r.stamped())
            .peekable();
        let mut waiting: Vec<Bucket<Stamp>> = self
            .records_in(pending..self.bytes.len())
            .map_while(|r| r.stamped())
            .collect();
        waiting.sort_by_key(Bucket::order);
        let mut waiting = waiting.into_iter().peekable();
        std::iter::from_fn(move || {
            let waiting_first = match (settled.peek(), waiting.peek()) {
                (Some(s), Some(w)) => w.order() < s.order(),
                (settled, _) => settled.is_none(),
            };
            let next = if waiting_first {
                waiting.next()
            } else {
                settled.next()
            };
            next?.dated()
        })
    }

    /// What the bucket `id` holds, if it is here.
    pub fn amount(&self, id: u64) -> Option<Decimal> {
        Some(self.find(id)?.stamped()?.amount)
    }

    /// Where the part that waits for releases starts.
    fn pending_from(&self) -> usize {
        self.records_back()
            .take_while(Record::releasing)
            .last()
            .map_or(self.bytes.len(), |r| r.at.start)
    }

    /// The records that lie in `part` (which starts and ends at records),
    /// first to last.
    fn records_in(&self, part: Range<usize>) -> impl Iterator<Item = Record<'_>> + '_ {
        let mut start = part.start;
        std::iter::from_fn(move || {
            let body = usize::from(*self.bytes.get(start).filter(|_| start < part.end)?);
            let at = start..start + body + 2;
            let record = Record::new(at.clone(), self.bytes.get(start + 1..at.end - 1)?);
            start = at.end;
            Some(record)
        })
    }

    /// Its records, last to first.
    fn records_back(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        self.records_back_in(0..self.bytes.len())
    }

    /// The records that lie in `part`, last to first.
    fn records_back_in(&self, part: Range<usize>) -> impl Iterator<Item = Record<'_>> + '_ {
        let mut end = part.end;
        std::iter::from_fn(move || {
            if end <= part.start {
                return None;
            }
            let body = usize::from(*self.bytes.get(end.checked_sub(1)?)?);
            let at = end
                .checked_sub(body + 2)
                .filter(|start| *start >= part.start)?..end;
            let record = Record::new(at.clone(), self.bytes.get(at.start + 1..end - 1)?);
            end = at.start;
            Some(record)
        })
    }

    /// The record of bucket `id`: among the settled, read from both ends
    /// in turn, the last first (an award's and a release's bucket is nearly
    /// always the last, an expiry's the first), then among those waiting
    /// for releases.
    fn find(&self, id: u64) -> Option<Record<'_>> {
        let pending = self.pending_from();
        let (mut back, mut front) = (
            self.records_back_in(0..pending),
            self.records_in(0..pending),
        );
        let (mut low, mut high) = (0, pending);
        let mut from_back = true;
        while low < high {
            let record = if from_back { back.next() } else { front.next() };
            let Some(record) = record else {
                break;
            };
            if record.id() == Some(id) {
                return Some(record);
            }
            if from_back {
                high = record.at.start;
            } else {
                low = record.at.end;
            }
            from_back = !from_back;
        }
        self.records_in(pending..self.bytes.len())
            .find(|r| r.id() == Some(id))
    }

    /// Adds a bucket in its place in spending order, in its part.
    pub fn insert(&mut self, bucket: Bucket) {
        self.insert_stamped(&bucket.stamped());
    }

    /// Adds a bucket in its part, after every bucket there it does not
    /// come before (searched from the last, where an award nearly always
    /// goes).
    fn insert_stamped(&mut self, bucket: &Bucket<Stamp>) {
        let pending = self.pending_from();
        let at = if bucket.due().releasing() {
            let key = first_key(&bucket.due());
            self.records_back_in(pending..self.bytes.len())
                .take_while(|r| r.due().is_some_and(|due| first_key(&due) > key))
                .last()
                .map_or(self.bytes.len(), |r| r.at.start)
        } else {
            let order = bucket.order();
            self.records_back_in(0..pending)
                .take_while(|r| r.dates().is_some_and(|(b, _)| b.order() > order))
                .last()
                .map_or(pending, |r| r.at.start)
        };
        self.put(at..at, bucket);
    }

    /// Writes `bucket`'s record in place of the bytes `at` (a record, or
    /// none to insert it there).
    fn put(&mut self, at: Range<usize>, bucket: &Bucket<Stamp>) {
        let record = bucket.record();
        self.bytes.splice(at, &record);
    }

    /// Writes `bucket`'s record in place of the record `at`, which held
    /// it waiting for its release if `was_releasing`: in its place in the
    /// other part if that changed, or in the part waiting for releases
    /// (ordered by the work that changed).
    fn replace(&mut self, at: Range<usize>, bucket: &Bucket<Stamp>, was_releasing: bool) {
        if !bucket.due().releasing() && !was_releasing {
            self.put(at, bucket);
        } else {
            self.bytes.drain(at);
            self.insert_stamped(bucket);
        }
    }

    /// Removes the record that lies `at` and returns its bucket.
    fn remove_at(&mut self, at: Range<usize>) -> Option<Bucket> {
        let bucket = self.records_in(at.clone()).next()?.bucket();
        self.bytes.drain(at);
        bucket
    }

    /// Removes the bucket `id` and returns it.
    pub fn remove(&mut self, id: u64) -> Option<Bucket> {
        let at = self.find(id)?.at;
        self.remove_at(at)
    }

    /// Removes the first bucket in spending order and returns it: the
    /// first of either part.
    pub fn remove_first(&mut self) -> Option<Bucket> {
        let pending = self.pending_from();
        let first_settled = self.records_in(0..pending).next();
        let (_, at) = first_settled
            .into_iter()
            .chain(self.records_in(pending..self.bytes.len()))
            .filter_map(|r| Some((r.stamped()?.order(), r.at)))
            .min_by_key(|(order, _)| *order)?;
        self.remove_at(at)
    }

    /// Changes the buckets as a list, kept in spending order (for work
    /// that changes several at once: spending, taking back).
    pub fn rewrite<R>(&mut self, change: impl FnOnce(&mut Vec<Bucket>) -> R) -> R {
        let mut list: Vec<Bucket> = self.iter().collect();
        let result = change(&mut list);
        let mut bytes = Vec::new();
        let (mut waiting, settled): (Vec<&Bucket>, Vec<&Bucket>) =
            list.iter().partition(|b| b.due().releasing());
        waiting.sort_by_key(|b| first_key(&b.due()));
        for bucket in settled.into_iter().chain(waiting) {
            bytes.extend_from_slice(&bucket.stamped().record());
        }
        // Into the allocation the buckets had, not a new one: gathering a
        // sharded run's members rewrites every list (`offset_seqs`), and
        // new ones took 60 MB more at a million airline members' peak.
        self.bytes.splice(0..self.bytes.len(), &bytes);
        result
    }

    /// Plans the clock work of bucket `id`, in scheduling order from
    /// `seq`: its release first if `releases`, then its expiry if it
    /// expires. Returns how many places in the order it took and the key of
    /// its first work (`None` if it has none, or no such bucket is here).
    pub fn plan(&mut self, id: u64, seq: u64, releases: bool) -> (u64, Option<WorkKey>) {
        let found = self.find(id);
        let Some((at, mut bucket)) = found.and_then(|r| Some((r.at.clone(), r.stamped()?))) else {
            return (0, None);
        };
        let taken = u64::from(releases) + u64::from(bucket.expires_at.is_some());
        if taken == 0 && bucket.work == 0 {
            // No work, as its record says already (an award spendable at
            // once that never expires): writing it again was a tenth of
            // earning such awards.
            return (0, None);
        }
        let was_releasing = bucket.due().releasing();
        bucket.set_work(if taken == 0 { 0 } else { seq }, releases);
        self.replace(at, &bucket, was_releasing);
        let first = bucket
            .due()
            .first_work()
            .and_then(|((at, seq), _)| Some((at.dated()?, seq)));
        (taken, first)
    }

    /// The records that may hold clock work in scheduling order `seq`:
    /// those waiting for their release, then the others (from the first,
    /// where the next expiries are).
    fn records_with_work(&self, seq: u64) -> impl Iterator<Item = Record<'_>> + '_ {
        let pending = self.pending_from();
        self.records_in(pending..self.bytes.len())
            .chain(self.records_in(0..pending))
            .filter(move |r| r.may_have_work(seq))
    }

    /// The key of the clock work in scheduling order `seq`, if it is still
    /// to do.
    pub fn key_of(&self, seq: u64) -> Option<WorkKey> {
        let (at, seq) = self
            .records_with_work(seq)
            .filter_map(|r| r.due())
            .flat_map(|due| [due.release_key(), due.expiry_key()])
            .flatten()
            .find(|(_, s)| *s == seq)?;
        Some((at.dated()?, seq))
    }

    /// The first clock work of the buckets, by key: of those waiting for
    /// their release, the first's; of the settled, an expiry, and they are
    /// in spending order, by expiry first. So a settled bucket is passed
    /// over on its scheduling order alone when it cannot come first (its
    /// expiry is at or past one read before it, itself at or past the
    /// first work found, and its order later), and the search ends at the
    /// first bucket that expires later than the first work found, or
    /// never (looked for at every `CHECK_EVERY`th bucket passed over): the
    /// buckets of later months are not read.
    pub fn next_work(&self) -> Option<(WorkKey, BucketWork)> {
        let pending = self.pending_from();
        let mut first = self
            .records_in(pending..self.bytes.len())
            .next()
            .and_then(|r| r.due()?.first_work());
        // The latest expiry read among the settled: none after is earlier.
        let mut floor = None;
        for (n, record) in self.records_in(0..pending).enumerate() {
            let work = record.work().unwrap_or(0);
            let cannot_come_first = work == 0
                || first.is_some_and(|((at, seq), _)| floor >= Some(at) && work >> 1 >= seq);
            if cannot_come_first && n % CHECK_EVERY != 0 {
                continue;
            }
            let Some(due) = record.due() else {
                continue;
            };
            let Some(expires) = due.expires_at else {
                break;
            };
            if first.is_some_and(|((at, _), _)| expires > at) {
                break;
            }
            floor = Some(expires);
            if let Some(work) = due.first_work() {
                if first.is_none_or(|(key, _)| work.0 < key) {
                    first = Some(work);
                }
            }
        }
        let ((at, seq), work) = first?;
        Some(((at.dated()?, seq), work))
    }

    /// The clock work keyed `key` (the buckets' first), if it is still to
    /// do; a release is marked done, its bucket settled, leaving its
    /// expiry next.
    pub fn take_work(&mut self, key: WorkKey) -> Option<BucketWork> {
        let key = (Stamp::from(key.0), key.1);
        let (place, bucket, mut amount) = self.records_with_work(key.1).find_map(|r| {
            let (bucket, amount) = r.dates()?;
            let due = bucket.due();
            let now = due.release_key() == Some(key) || due.expiry_key() == Some(key);
            now.then(|| (r.at.clone(), bucket, amount))
        })?;
        if bucket.due().release_key() != Some(key) {
            return Some(BucketWork::Expire(bucket.id));
        }
        let mut released = Bucket {
            amount: amount.decimal()?,
            ..bucket
        };
        released.set_work(key.1 + 1, false);
        self.replace(place, &released, true);
        Some(BucketWork::Release(released.id))
    }

    /// Moves every bucket's scheduling order `offset` places on.
    pub fn offset_seqs(&mut self, offset: u64) {
        self.rewrite(|buckets| {
            for bucket in buckets.iter_mut().filter(|b| b.work > 0) {
                let due = bucket.due();
                bucket.set_work(due.seq().saturating_add(offset), due.releasing());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::purchases::tests::{decimal, instant};
    use proptest::prelude::*;

    /// Any instant, or often one of a few (buckets that expire or are
    /// released at one instant, as at a month end).
    fn day() -> impl Strategy<Value = DateTime<Utc>> {
        let few = (0i64..4).prop_map(|d| {
            DateTime::<Utc>::from_timestamp(1_767_225_600 + d * 86_400, 0).unwrap_or_default()
        });
        prop_oneof![few, instant()]
    }

    /// Buckets whose dates and scheduling orders often tie, plain ones
    /// (earned at their release, never expiring) among them; their ids
    /// are under 2^63, as a member's count of its buckets is.
    fn bucket() -> impl Strategy<Value = Bucket> {
        (
            (
                prop_oneof![0u64..8, 0u64..1 << 63],
                decimal(),
                day(),
                any::<bool>(),
            ),
            (day(), prop::option::of(day())),
            (prop_oneof![0u64..8, 0u64..1 << 62], any::<bool>()),
        )
            .prop_map(
                |((id, amount, earned_at, at_release), (available_at, expires_at), work)| {
                    let earned_at = if at_release { available_at } else { earned_at };
                    let mut bucket = Bucket::new(id, amount, earned_at, available_at, expires_at);
                    bucket.set_work(work.0, work.1);
                    bucket
                },
            )
    }

    /// A change to a wallet's buckets (a bucket by its place in the list).
    #[derive(Debug, Clone)]
    enum Step {
        Insert(Bucket),
        Plan(usize, u64, bool),
        Remove(usize),
        RemoveFirst,
        SetAmount(usize, Decimal),
        KeyOf(usize),
        TakeNextWork,
        Offset(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => bucket().prop_map(Step::Insert),
            2 => (0usize..8, 1u64..1 << 40, any::<bool>()).prop_map(|(i, s, r)| Step::Plan(i, s, r)),
            1 => (0usize..8).prop_map(Step::Remove),
            1 => Just(Step::RemoveFirst),
            1 => (0usize..8, decimal()).prop_map(|(i, d)| Step::SetAmount(i, d)),
            1 => (0usize..8).prop_map(Step::KeyOf),
            2 => Just(Step::TakeNextWork),
            1 => (0u64..1 << 20).prop_map(Step::Offset),
        ]
    }

    // The model: the list of buckets the wallet kept before they were
    // packed, and its methods as they were.

    fn model_plan(
        model: &mut [Bucket],
        id: u64,
        seq: u64,
        releases: bool,
    ) -> (u64, Option<WorkKey>) {
        let Some(bucket) = model.iter_mut().find(|b| b.id == id) else {
            return (0, None);
        };
        let taken = u64::from(releases) + u64::from(bucket.expires_at.is_some());
        bucket.set_work(if taken == 0 { 0 } else { seq }, releases);
        (taken, bucket.due().first_work().map(|(key, _)| key))
    }

    fn model_key_of(model: &[Bucket], seq: u64) -> Option<WorkKey> {
        model
            .iter()
            .flat_map(|b| [b.due().release_key(), b.due().expiry_key()])
            .flatten()
            .find(|(_, s)| *s == seq)
    }

    fn model_next_work(model: &[Bucket]) -> Option<(WorkKey, BucketWork)> {
        let mut first: Option<(WorkKey, BucketWork)> = None;
        for work in model.iter().filter_map(|b| b.due().first_work()) {
            if first.is_none_or(|(key, _)| work.0 < key) {
                first = Some(work);
            }
        }
        first
    }

    fn model_take_work(model: &mut [Bucket], key: WorkKey) -> Option<BucketWork> {
        for bucket in model {
            if bucket.due().release_key() == Some(key) {
                bucket.set_work(key.1 + 1, false);
                return Some(BucketWork::Release(bucket.id));
            }
            if bucket.due().expiry_key() == Some(key) {
                return Some(BucketWork::Expire(bucket.id));
            }
        }
        None
    }

    /// The places in the scheduling order a bucket's planned work takes:
    /// its release's, if it waits for one, and its expiry's.
    fn places(bucket: &Bucket) -> Range<u64> {
        let due = bucket.due();
        let start = if bucket.work == 0 { 0 } else { due.seq() };
        start..start + u64::from(bucket.work > 0) + u64::from(due.releasing())
    }

    /// Whether `bucket`'s work would take a place another bucket's takes
    /// (never in a wallet: each piece of work takes a place of its own).
    fn takes_a_taken_place(model: &[Bucket], bucket: &Bucket) -> bool {
        let mine = places(bucket);
        model
            .iter()
            .filter(|b| b.id != bucket.id)
            .map(places)
            .any(|theirs| theirs.start < mine.end && mine.start < theirs.end)
    }

    proptest! {
        /// Packed buckets are the list they stand for, read from either
        /// end, the settled part in spending order before the part waiting
        /// for releases in the order of their first work, and
        /// their clock work is the list's, whatever their amounts and
        /// dates.
        #[test]
        fn packed_buckets_are_the_list_they_stand_for(steps in prop::collection::vec(step(), 0..32)) {
            let mut buckets = Buckets::default();
            let mut model: Vec<Bucket> = Vec::new();
            for step in steps {
                let id_at = |i: usize| model.get(i).map(|b| b.id);
                match step {
                    Step::Insert(bucket) => {
                        // Ids and work places are unique in a wallet.
                        if model.iter().all(|b| b.id != bucket.id)
                            && !takes_a_taken_place(&model, &bucket)
                        {
                            let at = model.partition_point(|b| b.order() <= bucket.order());
                            model.insert(at, bucket);
                            buckets.insert(bucket);
                        }
                    }
                    Step::Plan(i, seq, releases) => {
                        let id = id_at(i).unwrap_or(u64::MAX);
                        let mut planned = model.get(i).copied();
                        if let Some(bucket) = &mut planned {
                            let taken = u64::from(releases) + u64::from(bucket.expires_at.is_some());
                            bucket.set_work(if taken == 0 { 0 } else { seq }, releases);
                        }
                        if planned.is_some_and(|b| takes_a_taken_place(&model, &b)) {
                            continue;
                        }
                        let expected = model_plan(&mut model, id, seq, releases);
                        prop_assert_eq!(buckets.plan(id, seq, releases), expected);
                    }
                    Step::Remove(i) => {
                        if let Some(id) = id_at(i) {
                            let expected = model.remove(i);
                            prop_assert_eq!(buckets.remove(id), Some(expected));
                        }
                    }
                    Step::RemoveFirst => {
                        let expected = (!model.is_empty()).then(|| model.remove(0));
                        prop_assert_eq!(buckets.remove_first(), expected);
                    }
                    Step::SetAmount(i, amount) => {
                        if let Some(bucket) = model.get_mut(i) {
                            bucket.amount = amount;
                        }
                        model.retain(|b| !b.amount.is_zero());
                        buckets.rewrite(|list| {
                            if let Some(bucket) = list.get_mut(i) {
                                bucket.amount = amount;
                            }
                            list.retain(|b| !b.amount.is_zero());
                        });
                    }
                    Step::KeyOf(i) => {
                        let seq = model.get(i).map_or(1, |b| b.due().seq() + u64::from(i % 2 == 1));
                        prop_assert_eq!(buckets.key_of(seq), model_key_of(&model, seq));
                    }
                    Step::TakeNextWork => {
                        let next = model_next_work(&model);
                        prop_assert_eq!(buckets.next_work(), next);
                        if let Some((key, _)) = next {
                            let expected = model_take_work(&mut model, key);
                            prop_assert_eq!(buckets.take_work(key), expected);
                        }
                    }
                    Step::Offset(offset) => {
                        for bucket in model.iter_mut().filter(|b| b.work > 0) {
                            let due = bucket.due();
                bucket.set_work(due.seq().saturating_add(offset), due.releasing());
                        }
                        buckets.offset_seqs(offset);
                    }
                }
                let forward: Vec<Bucket> = buckets.iter().collect();
                prop_assert_eq!(&forward, &model);
                let (mut waiting, settled): (Vec<Bucket>, Vec<Bucket>) =
                    model.iter().partition(|b| b.due().releasing());
                waiting.sort_by_key(|b| first_key(&b.due()));
                let parts: Vec<Bucket> = settled.into_iter().chain(waiting).collect();
                let packed: Vec<Bucket> = buckets
                    .records_in(0..buckets.bytes.len())
                    .filter_map(|r| r.bucket())
                    .collect();
                prop_assert_eq!(&packed, &parts);
                let mut backward: Vec<Bucket> =
                    buckets.records_back().filter_map(|r| r.bucket()).collect();
                backward.reverse();
                prop_assert_eq!(&backward, &parts);
            }
        }

        /// A bucket's clock work, kept in one number, comes back as it was
        /// planned, and moved on by an offset keeps whether the release
        /// waits.
        #[test]
        fn a_buckets_work_comes_back_as_planned(
            seq in 1_u64..1 << 62,
            offset in 0_u64..1 << 61,
            releases: bool,
            expires: bool,
        ) {
            let day = |d: i64| DateTime::<Utc>::from_timestamp(1_735_689_600 + d * 86_400, 0).unwrap();
            let mut buckets = Buckets::default();
            buckets.insert(Bucket::new(1, Decimal::TEN, day(1), day(1), expires.then(|| day(20))));
            let (taken, first) = buckets.plan(1, seq, releases);
            prop_assert_eq!(taken, u64::from(releases) + u64::from(expires));
            let planned = buckets.iter().next().unwrap();
            prop_assert_eq!(planned.due().seq(), if taken == 0 { 0 } else { seq });
            prop_assert_eq!(planned.due().releasing(), releases);
            prop_assert_eq!(first.is_some(), taken > 0);
            buckets.offset_seqs(offset);
            let moved = buckets.iter().next().unwrap();
            prop_assert_eq!(moved.due().seq(), if taken == 0 { 0 } else { seq + offset });
            prop_assert_eq!(moved.due().releasing(), releases);
            let expiry = moved.expires_at.map(|at| (at, seq + offset + u64::from(releases)));
            prop_assert_eq!(moved.due().expiry_key(), expiry);
        }
    }

    /// Gathering a sharded run rewrites every member's lists: one whose
    /// length stays keeps its allocation, not a new one (60 MB of a
    /// million airline members' peak).
    #[test]
    fn a_rewrite_of_the_same_length_keeps_the_allocation() {
        let day = |d: i64| DateTime::<Utc>::from_timestamp(1_735_689_600 + d * 86_400, 0).unwrap();
        let mut buckets = Buckets::default();
        for id in 1..=3 {
            buckets.insert(Bucket::new(id, Decimal::TEN, day(1), day(1), Some(day(20))));
            buckets.plan(id, 1000 * id, false);
        }
        let (before, len) = (buckets.bytes.as_ptr(), buckets.packed_len());
        buckets.offset_seqs(7);
        assert_eq!(buckets.packed_len(), len);
        assert_eq!(buckets.bytes.as_ptr(), before);
        let seqs: Vec<u64> = buckets.iter().map(|b| b.due().seq()).collect();
        assert_eq!(seqs, [1007, 2007, 3007]);
    }

    fn record_of(bucket: &Bucket) -> Vec<u8> {
        bucket.stamped().record().to_vec()
    }

    #[test]
    fn the_longest_record_fits_its_length_bytes() {
        let far = DateTime::<Utc>::MAX_UTC;
        // The longest id: a member's count of its buckets is under 2^63.
        let mut bucket = Bucket::new(
            u64::MAX >> 1,
            Decimal::MIN,
            DateTime::<Utc>::MIN_UTC,
            far,
            Some(far),
        );
        bucket.set_work(u64::MAX >> 1, true);
        let bytes = record_of(&bucket);
        assert!(bytes.len() <= LONGEST_RECORD, "{} bytes", bytes.len());
        let mut buckets = Buckets::default();
        buckets.bytes.extend(&bytes);
        assert_eq!(buckets.iter().collect::<Vec<_>>(), [bucket]);
    }

    #[test]
    fn an_award_of_these_years_takes_21_bytes() {
        let earned = DateTime::<Utc>::from_timestamp(1_740_000_000, 0).unwrap();
        let expires = DateTime::<Utc>::from_timestamp(1_740_000_000 + 366 * 86_400, 0);
        let mut bucket = Bucket::new(12_000_000, Decimal::new(1250, 2), earned, earned, expires);
        bucket.set_work(30_000_000, false);
        // Lengths 2, work 4, id 4, release 5, expiry 2 (366 days on),
        // earn time 1, amount 3.
        assert_eq!(record_of(&bucket).len(), 21);
    }

    #[test]
    fn a_plain_award_leaves_out_its_expiry_and_earn_time() {
        let earned = DateTime::<Utc>::from_timestamp(1_740_000_000, 0).unwrap();
        let miles = Bucket::new(3, Decimal::from(617), earned, earned, None);
        // Lengths 2, work 1, id and plain 1, release 5, amount 2.
        assert_eq!(record_of(&miles).len(), 11);
        let mut buckets = Buckets::default();
        buckets.bytes.extend(&record_of(&miles));
        assert_eq!(buckets.iter().collect::<Vec<_>>(), [miles]);
        // Earned a second before its release, it is not plain.
        let pending = Bucket::new(
            3,
            Decimal::from(617),
            earned,
            earned + chrono::Duration::seconds(1),
            None,
        );
        assert_eq!(record_of(&pending).len(), 13);
    }
}
