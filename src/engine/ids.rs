//! A set of ids: the events applied so far, for the duplicate check, and
//! the members a sharded run has enrolled. Millions of short ids as a
//! `HashSet<String>` cost a heap allocation and a 24-byte string each; here
//! every id's bytes go into pieces of one buffer, after its length, and a
//! hash table keeps only where each starts.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
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

/// Each id as its length (4 bytes, little-endian) then its bytes, in pieces
/// that grow to a MiB: one buffer grown by doubling held up to twice the
/// ids' bytes, and three times over while it moved (a tenth of the peak).
#[derive(Default)]
struct Pieces {
    pieces: Vec<Vec<u8>>,
}

impl Pieces {
    /// Appends `id` after its length; where it starts (the piece's index
    /// in the high 32 bits, the offset in it in the low ones).
    fn push(&mut self, len: u32, id: &[u8]) -> u64 {
        let need = 4 + id.len();
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
        piece.extend_from_slice(&len.to_le_bytes());
        piece.extend_from_slice(id);
        (index << 32) | offset
    }

    /// The id whose length starts at `start`.
    fn read(&self, start: u64) -> Option<&[u8]> {
        let piece = self.pieces.get(usize::try_from(start >> 32).ok()?)?;
        let at = usize::try_from(start & u64::from(u32::MAX)).ok()?;
        let len_bytes = piece.get(at..at.checked_add(4)?)?;
        let len = usize::try_from(u32::from_le_bytes(len_bytes.try_into().ok()?)).ok()?;
        let from = at + 4;
        piece.get(from..from.checked_add(len)?)
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
        // An id of 4 GiB or more is not kept (nor could a file hold many).
        let Ok(len) = u32::try_from(id.len()) else {
            return true;
        };
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
        vacant.insert(bytes.push(len, id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

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
}
