//! A set of ids: the events applied so far, for the duplicate check, and
//! the members a sharded run has enrolled. Millions of short ids as a
//! `HashSet<String>` cost a heap allocation and a 24-byte string each; here
//! every id's bytes go into one buffer, after its length, and a hash table
//! keeps only where each starts.

use hashbrown::HashTable;
use std::hash::BuildHasher;

#[derive(Default)]
pub struct IdSet {
    /// Each id as its length (4 bytes, little-endian) then its bytes.
    bytes: Vec<u8>,
    /// Where each id starts in `bytes`.
    starts: HashTable<usize>,
    hasher: super::FastHash,
}

impl IdSet {
    pub fn contains(&self, id: &str) -> bool {
        self.find(self.hasher.hash_one(id), id)
    }

    fn find(&self, hash: u64, id: &str) -> bool {
        self.starts
            .find(hash, |&start| read(&self.bytes, start) == Some(id))
            .is_some()
    }

    /// Adds `id`, unless it is there already.
    pub fn insert(&mut self, id: &str) {
        let hash = self.hasher.hash_one(id);
        if self.find(hash, id) {
            return;
        }
        // An id longer than 4 GiB cannot be read from any input we accept;
        // it is kept out rather than stored wrongly.
        let Ok(len) = u32::try_from(id.len()) else {
            return;
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(id.as_bytes());
        let Self {
            bytes,
            starts,
            hasher,
        } = self;
        starts.insert_unique(hash, start, |&s| {
            hasher.hash_one(read(bytes, s).unwrap_or_default())
        });
    }
}

/// The id that starts at `start` of `bytes`.
fn read(bytes: &[u8], start: usize) -> Option<&str> {
    let len_bytes = bytes.get(start..start.checked_add(4)?)?;
    let len = usize::try_from(u32::from_le_bytes(len_bytes.try_into().ok()?)).ok()?;
    let from = start + 4;
    std::str::from_utf8(bytes.get(from..from.checked_add(len)?)?).ok()
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
            ids.insert(id);
        }
        ids.insert("e5");
        ids.insert("");
        for id in &many {
            assert!(ids.contains(id), "{id}");
        }
        assert!(ids.contains(""));
        assert!(!ids.contains("e10000"));
        assert!(!ids.contains("e"));
        // "e5" was not stored twice.
        assert_eq!(ids.starts.len(), 10_001);
    }
}
