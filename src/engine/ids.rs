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

/// The fewest records a generation of `RecentIds` takes before it is
/// sealed.
const SMALLEST_GENERATION: usize = 1 << 14;

/// The ids of events applied, each with its time, kept while a later
/// record could still be a copy of them. One id may be kept several times
/// (copies further apart than the window are not duplicates). Each record
/// is its time (`packed::instant`: 5 bytes, where it took 12) then its id
/// in the pieces.
///
/// Records are kept in generations, oldest first, and go into the newest.
/// Once that one holds a third as many as the older ones still kept (and
/// at least `SMALLEST_GENERATION`), it is sealed and a new one begun, and
/// every sealed generation whose latest record is before `cutoff()` is
/// dropped whole. A generation is never swept record by record: sweeping
/// read every record and inserted the kept ones again into a table grown
/// from nothing, a seventh of the engine's instructions on the peer rules
/// (docs/performance.md). With about three generations in the window and
/// one being filled, the records held are at most about twice those in
/// the window, as when the ids were swept whenever their number doubled.
pub struct RecentIds {
    /// Oldest first; never empty: the last takes new records.
    generations: Vec<Generation>,
    hasher: super::FastHash,
    /// How many records the newest generation takes before it is sealed.
    seal_at: usize,
}

/// Records of `RecentIds` and where each starts, by the hash of its id.
#[derive(Default)]
struct Generation {
    bytes: Pieces,
    starts: HashTable<u64>,
    /// The latest time among its records.
    latest: Option<DateTime<Utc>>,
}

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds {
            generations: vec![Generation::default()],
            hasher: super::FastHash::default(),
            seal_at: SMALLEST_GENERATION,
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

impl Generation {
    /// The id and time of the record that starts at `start`.
    fn read(&self, start: u64) -> Option<(&[u8], DateTime<Utc>)> {
        id_and_time(self.bytes.read(start)?)
    }
}

impl RecentIds {
    /// The times of the kept records with `id`, in no particular order.
    pub fn times<'a>(&'a self, id: &'a str) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        let id = id.as_bytes();
        let hash = self.hasher.hash_one(id);
        self.generations.iter().flat_map(move |generation| {
            generation
                .starts
                .iter_hash(hash)
                .filter_map(move |&start| generation.read(start).filter(|(i, _)| *i == id))
                .map(|(_, time)| time)
        })
    }

    /// How many records are kept.
    fn len(&self) -> usize {
        self.generations.iter().map(|g| g.starts.len()).sum()
    }

    /// Keeps `id` at `time`. When the newest generation is full, seals it
    /// and drops the generations whose records are all before `cutoff()`
    /// (`None`: keeps them all, and fills the newest further).
    pub fn insert(
        &mut self,
        id: &str,
        time: DateTime<Utc>,
        cutoff: impl FnOnce() -> Option<DateTime<Utc>>,
    ) {
        if self.newest_len() >= self.seal_at {
            match cutoff() {
                Some(cutoff) => self.seal(cutoff),
                None => self.seal_at = self.seal_at.saturating_mul(2),
            }
        }
        let record = record(id.as_bytes(), time);
        // A record of 4 GiB or more is not kept (nor could a file hold many).
        if u32::try_from(record.len()).is_err() {
            return;
        }
        let hash = self.hasher.hash_one(id.as_bytes());
        let Self {
            generations,
            hasher,
            ..
        } = self;
        let Some(Generation {
            bytes,
            starts,
            latest,
        }) = generations.last_mut()
        else {
            return;
        };
        let start = bytes.push(&record);
        starts.insert_unique(hash, start, |&start| {
            hasher.hash_one(record_id(bytes.read(start).unwrap_or_default()))
        });
        *latest = (*latest).max(Some(time));
    }

    fn newest_len(&self) -> usize {
        self.generations.last().map_or(0, |g| g.starts.len())
    }

    /// Seals the newest generation, begins one with room for as many
    /// records, and drops the sealed ones whose latest record is before
    /// `cutoff`.
    fn seal(&mut self, cutoff: DateTime<Utc>) {
        let sealed = self.newest_len();
        self.generations
            .retain(|g| g.latest.is_some_and(|latest| latest >= cutoff));
        let older = self.len();
        self.seal_at = (older / 3).max(SMALLEST_GENERATION);
        self.generations.push(Generation {
            starts: HashTable::with_capacity(sealed.max(self.seal_at)),
            ..Generation::default()
        });
    }

    /// Forgets one record of `id` at `time`, if one is kept.
    pub fn remove(&mut self, id: &str, time: DateTime<Utc>) {
        let wanted = record(id.as_bytes(), time);
        let hash = self.hasher.hash_one(id.as_bytes());
        for Generation { bytes, starts, .. } in self.generations.iter_mut().rev() {
            let found = starts.find_entry(hash, |&start| bytes.read(start) == Some(&wanted[..]));
            if let Ok(entry) = found {
                entry.remove();
                return;
            }
        }
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

    /// One id a day for `days` days, each inserted with `window` days
    /// before it as the cutoff; after each, `check(ids, day)`.
    fn daily(days: i64, window: i64, mut check: impl FnMut(&RecentIds, i64)) -> RecentIds {
        let mut ids = RecentIds::default();
        for day in 0..days {
            ids.insert(&format!("e{day}"), at(day), || Some(at(day - window)));
            check(&ids, day);
        }
        ids
    }

    #[test]
    fn recent_ids_drop_a_generation_once_all_of_it_is_before_the_cutoff() {
        let g = super::SMALLEST_GENERATION as i64;
        // The first generation fills, is sealed at the next insert and
        // kept: its last days are inside the window.
        let ids = daily(g + 1, 10, |_, _| {});
        assert_eq!(ids.generations.len(), 2);
        assert_eq!(ids.len() as i64, g + 1);
        assert_eq!(ids.times("e0").collect::<Vec<_>>(), [at(0)]);
        // At the second generation's seal, the first is all before the
        // cutoff and goes, the second stays.
        let ids = daily(2 * g + 1, 10, |_, _| {});
        assert_eq!(ids.generations.len(), 2);
        assert_eq!(ids.len() as i64, g + 1);
        assert_eq!(ids.times("e0").count(), 0);
        assert_eq!(ids.times(&format!("e{}", g - 1)).count(), 0);
        assert_eq!(ids.times(&format!("e{g}")).collect::<Vec<_>>(), [at(g)]);
        // No cutoff (any lateness accepted): nothing is forgotten.
        let mut all = RecentIds::default();
        for day in 0..=2 * g {
            all.insert(&format!("e{day}"), at(day), || None);
        }
        assert_eq!(all.len() as i64, 2 * g + 1);
        assert_eq!(all.generations.len(), 1);
        assert_eq!(all.times("e0").collect::<Vec<_>>(), [at(0)]);
    }

    /// Whatever the window, every record inside it is kept, and the
    /// records held are never much more than twice those in the window.
    #[test]
    fn recent_ids_keep_the_window_and_at_most_about_twice_it() {
        for window in [10, 40_000, 100_000] {
            let mut most = 0_f64;
            let ids = daily(400_000, window, |ids, day| {
                let in_window = (day + 1).min(window + 1);
                let held = ids.len() as i64;
                assert!(held >= in_window, "day {day}: {held} held");
                if day > 2 * window {
                    most = most.max(held as f64 / in_window as f64);
                }
            });
            for day in 400_000 - window - 1..400_000 {
                assert_eq!(ids.times(&format!("e{day}")).count(), 1, "e{day}");
            }
            let floor = super::SMALLEST_GENERATION as f64 / window as f64;
            assert!(
                most <= 2.1_f64.max(2.0 * floor + 1.0),
                "window {window}: {most:.2}×"
            );
        }
    }

    /// A recent id of a generated stream (`m0001587-12`, to the second)
    /// takes its length, its time in 5 bytes and its 11 bytes.
    #[test]
    fn a_recent_id_takes_17_bytes() {
        let mut ids = RecentIds::default();
        let time = chrono::DateTime::from_timestamp(1_767_000_000, 0).unwrap_or_default();
        ids.insert("m0001587-12", time, || None);
        let held: usize = ids.generations[0].bytes.pieces.iter().map(Vec::len).sum();
        assert_eq!(held, 1 + 5 + 11);
    }
}
