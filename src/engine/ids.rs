//! Sets of ids: the members a sharded run has enrolled (`IdSet`), and the
//! events applied lately, each with its time, for the duplicate check
//! (`RecentIds`, which forgets those older than the program's window).
//! Millions of short ids as a `HashSet<String>` cost a heap allocation and
//! a 24-byte string each; here every id's bytes go into pieces of one
//! buffer, after its length, and a hash table keeps only where each starts.

use super::packed::{self, Reader};
use chrono::{DateTime, Utc};
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::hash::BuildHasher;

#[derive(Default)]
pub struct IdSet {
    bytes: Pieces,
    /// Where each id starts in `bytes`.
    starts: HashTable<u64>,
    hasher: super::FastHash,
}

/// The most bytes a piece holds, unless one id needs more.
const PIECE: usize = 1 << 20;

/// Each record as its length (a varint: a byte up to 127) then its bytes,
/// in pieces that grow to a MiB: one buffer grown by doubling held up to
/// twice the ids' bytes, and three times over while it moved (a tenth of
/// the peak). `RecentIds` drops the oldest pieces; a record's start names
/// its piece by its number since the first ever made, so the starts of
/// those after stay as they were.
#[derive(Default)]
struct Pieces {
    /// Oldest first.
    pieces: VecDeque<Vec<u8>>,
    /// How many pieces were dropped: the number of the first.
    dropped: u64,
}

impl Pieces {
    /// Appends `record` after its length; where it starts (`start`), and
    /// whether it began a piece.
    fn push(&mut self, record: &[u8]) -> (u64, bool) {
        let mut head = SmallVec::<[u8; 10]>::new();
        packed::word(record.len() as u64, &mut head);
        let need = head.len() + record.len();
        let begins = self
            .pieces
            .back()
            .is_none_or(|piece| piece.capacity() - piece.len() < need);
        if begins {
            let last = self.pieces.back().map_or(0, Vec::capacity);
            let size = last.saturating_mul(2).clamp(256, PIECE).max(need);
            self.pieces.push_back(Vec::with_capacity(size));
        }
        // A run makes fewer than 2^32 pieces: most hold a MiB.
        let number = self.dropped + self.pieces.len().saturating_sub(1) as u64;
        let Some(piece) = self.pieces.back_mut() else {
            return (u64::MAX, begins);
        };
        let offset = piece.len() as u64;
        piece.extend_from_slice(&head);
        piece.extend_from_slice(record);
        (start(number, offset), begins)
    }

    /// The record whose length starts at `start`.
    fn read(&self, start: u64) -> Option<&[u8]> {
        let number = (start >> 32).checked_sub(self.dropped)?;
        let piece = self.pieces.get(usize::try_from(number).ok()?)?;
        let at = usize::try_from(start & u64::from(u32::MAX)).ok()?;
        let mut reader = Reader(piece.get(at..)?);
        let len = reader.number()?;
        reader.0.get(..len)
    }

    /// Drops the oldest piece: its bytes, and the number its records'
    /// starts have in their high 32 bits.
    fn drop_first(&mut self) -> Option<(u64, Vec<u8>)> {
        let piece = self.pieces.pop_front()?;
        self.dropped += 1;
        Some((self.dropped - 1, piece))
    }
}

/// Where the record at `offset` in piece `number` starts, as `Pieces`
/// names it: the number in the high 32 bits, the offset in the low ones.
fn start(number: u64, offset: u64) -> u64 {
    (number << 32) | offset
}

/// The records of piece `number`, `piece`, each with where it starts.
fn records(number: u64, piece: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut reader = Reader(piece);
    std::iter::from_fn(move || {
        let offset = (piece.len() - reader.0.len()) as u64;
        let len = reader.number()?;
        let (record, rest) = reader.0.split_at_checked(len)?;
        reader.0 = rest;
        Some((start(number, offset), record))
    })
}

impl IdSet {
    pub fn contains(&self, id: &str) -> bool {
        let id = id.as_bytes();
        self.starts
            .find(self.hasher.hash_one(id), |&start| {
                self.bytes.read(start) == Some(id)
            })
            .is_some()
    }

    /// Adds `id`; `false` if it was there already. One hash and one probe
    /// of the table (the dealer of a sharded run asks this for every event).
    pub fn insert(&mut self, id: &str) -> bool {
        let id = id.as_bytes();
        // An id of 4 GiB or more is not kept (nor could a file hold many):
        // where it starts in its own piece would not fit 32 bits.
        if u32::try_from(id.len()).is_err() {
            return true;
        }
        let Self {
            bytes,
            starts,
            hasher,
        } = self;
        let entry = starts.entry(
            hasher.hash_one(id),
            |&start| bytes.read(start) == Some(id),
            |&start| hasher.hash_one(bytes.read(start).unwrap_or_default()),
        );
        let Entry::Vacant(vacant) = entry else {
            return false;
        };
        vacant.insert(bytes.push(id).0);
        true
    }
}

/// The ids of events applied, each with its time, kept while a later
/// record could still be a copy of them. One id may be kept several times
/// (copies further apart than the window are not duplicates). Each record
/// is its time (`packed::instant`: 5 bytes, where it took 12) then its id
/// in the pieces.
///
/// Whenever a piece is begun, the oldest pieces whose records are all
/// before `cutoff()` are dropped, and their records taken out of the
/// table: the records held are those in the window and at most two pieces
/// (2 MiB) more. The ids were swept whenever their number doubled, by
/// reading every record and inserting the kept ones again into a table
/// grown from nothing: twice the window at most, and a seventh of the
/// engine's instructions on the peer rules (docs/performance.md).
#[derive(Default)]
pub struct RecentIds {
    bytes: Pieces,
    starts: HashTable<u64>,
    hasher: super::FastHash,
    /// The latest time among each piece's records, oldest piece first.
    latest: VecDeque<DateTime<Utc>>,
}

/// A record of `RecentIds`: `time` then `id`, made on the stack (one is
/// made for every event) unless the id is long.
fn record(id: &[u8], time: DateTime<Utc>) -> SmallVec<[u8; 64]> {
    let mut record = SmallVec::new();
    packed::instant(time, &mut record);
    record.extend_from_slice(id);
    record
}

/// The id and time of a record of `RecentIds`.
fn id_and_time(record: &[u8]) -> Option<(&[u8], DateTime<Utc>)> {
    let mut reader = Reader(record);
    let time = reader.instant()?;
    Some((reader.0, time))
}

impl RecentIds {
    /// The id and time of the record that starts at `start`.
    fn read(&self, start: u64) -> Option<(&[u8], DateTime<Utc>)> {
        id_and_time(self.bytes.read(start)?)
    }

    /// The times of the kept records with `id`, in no particular order.
    pub fn times<'a>(&'a self, id: &'a str) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        let id = id.as_bytes();
        self.starts
            .iter_hash(self.hasher.hash_one(id))
            .filter_map(move |&start| self.read(start).filter(|(i, _)| *i == id))
            .map(|(_, time)| time)
    }

    /// Keeps `id` at `time`. When that begins a piece, forgets the records
    /// of the oldest pieces whose records are all before `cutoff()`
    /// (`None`: keeps them all).
    pub fn insert(
        &mut self,
        id: &str,
        time: DateTime<Utc>,
        cutoff: impl FnOnce() -> Option<DateTime<Utc>>,
    ) {
        let record = record(id.as_bytes(), time);
        // A record of 4 GiB or more is not kept (nor could a file hold many).
        if u32::try_from(record.len()).is_err() {
            return;
        }
        let (start, began) = self.bytes.push(&record);
        if began {
            self.latest.push_back(time);
        } else if let Some(latest) = self.latest.back_mut() {
            *latest = (*latest).max(time);
        }
        let hash = self.hasher.hash_one(id.as_bytes());
        let Self {
            bytes,
            starts,
            hasher,
            ..
        } = self;
        starts.insert_unique(hash, start, |&start| {
            hasher.hash_one(record_id(bytes.read(start).unwrap_or_default()))
        });
        if began {
            if let Some(cutoff) = cutoff() {
                self.forget_before(cutoff);
            }
        }
    }

    /// Drops the oldest pieces, but the newest, while all their records
    /// are before `cutoff`, and takes their records out of the table.
    fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        while self.latest.len() > 1 && self.latest.front().is_some_and(|&t| t < cutoff) {
            self.latest.pop_front();
            let Some((number, piece)) = self.bytes.drop_first() else {
                return;
            };
            for (start, record) in records(number, &piece) {
                let hash = self.hasher.hash_one(record_id(record));
                if let Ok(entry) = self.starts.find_entry(hash, |&s| s == start) {
                    entry.remove();
                }
            }
        }
    }

    /// Forgets one record of `id` at `time`, if one is kept.
    pub fn remove(&mut self, id: &str, time: DateTime<Utc>) {
        let Self {
            bytes,
            starts,
            hasher,
            ..
        } = self;
        let wanted = record(id.as_bytes(), time);
        let found = starts.find_entry(hasher.hash_one(id.as_bytes()), |&start| {
            bytes.read(start) == Some(&wanted[..])
        });
        if let Ok(entry) = found {
            entry.remove();
        }
    }

    /// How many records are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// The id of a record of `RecentIds` (its bytes after the time).
fn record_id(record: &[u8]) -> &[u8] {
    id_and_time(record).map_or(&[], |(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::{IdSet, RecentIds};

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut ids = IdSet::default();
        let many: Vec<String> = (0..10_000).map(|i| format!("e{i}")).collect();
        for id in &many {
            assert!(!ids.contains(id));
            assert!(ids.insert(id), "{id} is new");
        }
        assert!(!ids.insert("e5"), "e5 was there");
        assert!(ids.insert(""));
        assert!(!ids.insert(""));
        for id in &many {
            assert!(ids.contains(id), "{id}");
        }
        assert!(ids.contains(""));
        assert!(!ids.contains("e10000"));
        assert!(!ids.contains("e"));
        // "e5" was not stored twice.
        assert_eq!(ids.starts.len(), 10_001);
    }

    #[test]
    fn ids_over_many_pieces_and_longer_than_one_are_found() {
        let mut ids = IdSet::default();
        let long = "x".repeat(super::PIECE + 10);
        let many: Vec<String> = (0..300_000).map(|i| format!("event-{i:08}")).collect();
        for (i, id) in many.iter().enumerate() {
            assert!(ids.insert(id));
            if i == 150_000 {
                assert!(ids.insert(&long));
            }
        }
        assert!(
            ids.bytes.pieces.len() > 4,
            "{} pieces",
            ids.bytes.pieces.len()
        );
        assert!(many.iter().all(|id| ids.contains(id)));
        assert!(ids.contains(&long));
        assert!(!ids.contains(&long[1..]));
        assert!(!ids.insert(&many[299_999]));
    }

    fn at(day: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(day * 86_400 + 7, 250).unwrap_or_default()
    }

    #[test]
    fn recent_ids_keep_every_time_of_an_id_and_forget_one_at_a_time() {
        let mut ids = RecentIds::default();
        ids.insert("a", at(1), || None);
        ids.insert("a", at(40), || None);
        ids.insert("ab", at(2), || None);
        let mut times: Vec<_> = ids.times("a").collect();
        times.sort();
        assert_eq!(times, [at(1), at(40)]);
        assert_eq!(ids.times("ab").collect::<Vec<_>>(), [at(2)]);
        assert_eq!(ids.times("b").count(), 0);
        ids.remove("a", at(2));
        assert_eq!(ids.times("a").count(), 2, "no record of `a` at day 2");
        ids.remove("a", at(1));
        assert_eq!(ids.times("a").collect::<Vec<_>>(), [at(40)]);
        ids.remove("ab", at(2));
        assert_eq!(ids.times("ab").count(), 0);
    }

    #[test]
    fn recent_ids_drop_a_piece_once_all_of_it_is_before_the_cutoff() {
        // A week's window, 100,000 ids a day: a piece (a MiB) holds about
        // 70,000 records (length, time and id: 14 or 15 bytes).
        let per_day = 100_000;
        let mut ids = RecentIds::default();
        for day in 0..20 {
            for i in 0..per_day {
                let time = at(day) + chrono::Duration::seconds(i);
                ids.insert(&format!("e{day}-{i}"), time, || Some(at(day - 7)));
            }
        }
        assert!(
            ids.bytes.dropped > 10,
            "{} pieces dropped",
            ids.bytes.dropped
        );
        assert_eq!(ids.latest.len(), ids.bytes.pieces.len());
        // Days 12 to 19 are kept, day 11 and before are (nearly) gone.
        for day in 12..20 {
            for i in [0, per_day / 2, per_day - 1] {
                assert_eq!(ids.times(&format!("e{day}-{i}")).count(), 1, "e{day}-{i}");
            }
        }
        assert_eq!(ids.times("e0-0").count(), 0);
        assert_eq!(ids.times("e10-99999").count(), 0);
        let held = ids.len() as i64;
        assert!((8 * per_day..9 * per_day).contains(&held), "{held} held");
        // No cutoff (any lateness accepted): nothing is forgotten.
        let mut all = RecentIds::default();
        for i in 0..3 * per_day {
            all.insert(&format!("e{i}"), at(i / per_day), || None);
        }
        assert_eq!(all.len() as i64, 3 * per_day);
        assert_eq!(all.bytes.dropped, 0);
        assert_eq!(all.times("e0").collect::<Vec<_>>(), [at(0)]);
    }

    /// Whatever the window, every record inside it is kept, and no more
    /// than two pieces' more are held.
    #[test]
    fn recent_ids_keep_the_window_and_at_most_two_pieces_more() {
        for window in [10, 40_000, 200_000] {
            let mut ids = RecentIds::default();
            let days = 600_000;
            for day in 0..days {
                ids.insert(&format!("e{day}"), at(day), || Some(at(day - window)));
                let in_window = (day + 1).min(window + 1) as usize;
                let held = ids.len();
                assert!(held >= in_window, "day {day}: {held} held");
                // A record takes 1 + 5 + 2 bytes at least.
                assert!(
                    held <= in_window + 2 * super::PIECE / 8,
                    "day {day}: {held} held, {in_window} in the window"
                );
            }
            for day in days - window - 1..days {
                assert_eq!(ids.times(&format!("e{day}")).count(), 1, "e{day}");
            }
        }
    }

    /// A recent id of a generated stream (`m0001587-12`, to the second)
    /// takes its length, its time in 5 bytes and its 11 bytes.
    #[test]
    fn a_recent_id_takes_17_bytes() {
        let mut ids = RecentIds::default();
        let time = chrono::DateTime::from_timestamp(1_767_000_000, 0).unwrap_or_default();
        ids.insert("m0001587-12", time, || None);
        let held: usize = ids.bytes.pieces.iter().map(Vec::len).sum();
        assert_eq!(held, 1 + 5 + 11);
    }
}
