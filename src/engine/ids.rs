//! A set of ids: the events applied so far, for the duplicate check, and
//! the members a sharded run has enrolled. Millions of short ids as a
//! `HashSet<String>` cost a heap allocation and a 24-byte string each; here
//! every id's bytes go into one buffer, after its length, and a hash table
//! keeps only where each starts.

use hashbrown::hash_table::Entry;
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
        let id = id.as_bytes();
        self.starts
            .find(self.hasher.hash_one(id), |&start| {
                read(&self.bytes, start) == Some(id)
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
            |&start| read(bytes, start) == Some(id),
            |&start| hasher.hash_one(read(bytes, start).unwrap_or_default()),
        );
        let Entry::Vacant(vacant) = entry else {
            return false;
        };
        vacant.insert(bytes.len());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(id);
        true
    }
}

/// The id whose length starts at `start`.
fn read(bytes: &[u8], start: usize) -> Option<&[u8]> {
    let len_bytes = bytes.get(start..start.checked_add(4)?)?;
    let len = usize::try_from(u32::from_le_bytes(len_bytes.try_into().ok()?)).ok()?;
    let from = start + 4;
    bytes.get(from..from.checked_add(len)?)
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
}
