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
/// the peak).
#[derive(Default)]
struct Pieces {
    pieces: Vec<Vec<u8>>,
}

impl Pieces {
    /// Appends `record` after its length; where it starts (the piece's
    /// index in the high 32 bits, the offset in it in the low ones).
    fn push(&mut self, record: &[u8]) -> u64 {
        let mut head = SmallVec::<[u8; 10]>::new();
        packed::word(record.len() as u64, &mut head);
        let need = head.len() + record.len();
        if self
            .pieces
            .last()
            .is_none_or(|piece| piece.capacity() - piece.len() < need)
        {
            let last = self.pieces.last().map_or(0, Vec::capacity);
            let size = last.saturating_mul(2).clamp(256, PIECE).max(need);
            self.pieces.push(Vec::with_capacity(size));
        }
        let index = self.pieces.len().saturating_sub(1) as u64;
        let Some(piece) = self.pieces.last_mut() else {
            return u64::MAX;
        };
        let offset = piece.len() as u64;
        piece.extend_from_slice(&head);
        piece.extend_from_slice(record);
        (index << 32) | offset
    }

    /// The record whose length starts at `start`.
    fn read(&self, start: u64) -> Option<&[u8]> {
        let piece = self.pieces.get(usize::try_from(start >> 32).ok()?)?;
        let at = usize::try_from(start & u64::from(u32::MAX)).ok()?;
        let mut reader = Reader(piece.get(at..)?);
        let len = reader.number()?;
        reader.0.get(..len)
    }
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
        vacant.insert(bytes.push(id));
        true
    }
}

/// The fewest ids kept before `RecentIds` first looks for ones to forget.
const FIRST_SWEEP: usize = 1 << 16;

/// The ids of events applied, each with its time, kept while a later
/// record could still be a copy of them. One id may be kept several times
/// (copies further apart than the window are not duplicates). Each record
/// is its time (`packed::instant`: 5 bytes, where it took 12) then its id
/// in the pieces; the memory held is at most about twice that of the ids in
/// the window, since the ids are swept whenever their number has doubled.
pub struct RecentIds {
    bytes: Pieces,
    starts: HashTable<u64>,
    hasher: super::FastHash,
    /// How many ids there will be when the next sweep is due.
    next_sweep: usize,
}

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds {
            bytes: Pieces::default(),
            starts: HashTable::new(),
            hasher: super::FastHash::default(),
            next_sweep: FIRST_SWEEP,
        }
    }
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

    /// Keeps `id` at `time`. When the ids have doubled since the last
    /// sweep, forgets those before `cutoff()` (`None`: keep them all).
    pub fn insert(
        &mut self,
        id: &str,
        time: DateTime<Utc>,
        cutoff: impl FnOnce() -> Option<DateTime<Utc>>,
    ) {
        if self.starts.len() >= self.next_sweep {
            if let Some(cutoff) = cutoff() {
                self.forget_before(cutoff);
            }
            self.next_sweep = (2 * self.starts.len()).max(FIRST_SWEEP);
        }
        let record = record(id.as_bytes(), time);
        // A record of 4 GiB or more is not kept (nor could a file hold many).
        if u32::try_from(record.len()).is_err() {
            return;
        }
        let start = self.bytes.push(&record);
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

    /// Keeps only the records at or after `cutoff`, in fresh pieces.
    fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        let mut kept = RecentIds {
            hasher: self.hasher.clone(),
            next_sweep: usize::MAX,
            ..RecentIds::default()
        };
        for &start in &self.starts {
            if let Some((id, time)) = self.read(start).filter(|(_, time)| *time >= cutoff) {
                if let Ok(id) = std::str::from_utf8(id) {
                    kept.insert(id, time, || None);
                }
            }
        }
        kept.next_sweep = self.next_sweep;
        *self = kept;
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
    fn recent_ids_forget_those_before_the_cutoff_once_they_doubled() {
        let mut ids = RecentIds::default();
        let n = super::FIRST_SWEEP as i64;
        // One id a day for n days: the sweep is due at the n-th insert.
        for day in 0..n {
            ids.insert(&format!("e{day}"), at(day), || Some(at(n - 10)));
        }
        assert_eq!(ids.starts.len(), super::FIRST_SWEEP, "no sweep yet");
        ids.insert("last", at(n), || Some(at(n - 10)));
        // Days n-10 .. n-1 kept, and the one inserted.
        assert_eq!(ids.starts.len(), 11);
        assert_eq!(ids.times("e0").count(), 0);
        assert_eq!(ids.times(&format!("e{}", n - 11)).count(), 0);
        assert_eq!(
            ids.times(&format!("e{}", n - 10)).collect::<Vec<_>>(),
            [at(n - 10)]
        );
        assert_eq!(ids.times("last").collect::<Vec<_>>(), [at(n)]);
        // No cutoff (any lateness accepted): nothing is forgotten.
        let mut all = RecentIds::default();
        for day in 0..=n {
            all.insert(&format!("e{day}"), at(day), || None);
        }
        assert_eq!(all.starts.len(), super::FIRST_SWEEP + 1);
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
