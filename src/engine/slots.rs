//! Member slots: the engine's members by slot number, kept in chunks of a
//! fixed number of members, so that adding one never moves the others (a
//! single list grown by doubling copied every member, and held the old and
//! the new copy at once, at the run's peak), and found by id through an
//! index of slot numbers that reads each id from its member.

use super::member::Member;
use super::FastHash;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// How many members a chunk holds: a few hundred kilobytes of members, so
/// the last chunk's spare room is small beside a large run and a chunk is
/// still one allocation among many.
const CHUNK: usize = 1024;

/// Values by slot number, `0..len()`, in chunks of `CHUNK`. Only the first
/// chunk grows as a list does (a small run, or a test's, holds a few
/// members); every later one is allocated at its full size once.
#[derive(Debug, Clone)]
pub(super) struct Slots<T> {
    /// Every chunk before the one holding the last value is full; those
    /// after it are empty (`pop` keeps their room).
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, slot: usize) -> Option<&T> {
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// Adds `value` in the next slot, `len()` before the call.
    pub fn push(&mut self, value: T) {
        let at = self.len / CHUNK;
        if self.chunks.len() == at {
            let room = if at == 0 { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(room));
        }
        if let Some(chunk) = self.chunks.get_mut(at) {
            if chunk.len() == chunk.capacity() {
                // The first chunk grows by doubling, up to its full size.
                chunk.reserve_exact(chunk.len().max(4).min(CHUNK - chunk.len()));
            }
            chunk.push(value);
            self.len += 1;
        }
    }

    /// Removes the value in the last slot.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        let value = self.chunks.get_mut(last / CHUNK)?.pop()?;
        self.len = last;
        Some(value)
    }

    /// The values in slot order.
    pub fn iter(&self) -> std::iter::Flatten<std::slice::Iter<'_, Vec<T>>> {
        self.into_iter()
    }

    /// The values in slot order, to change.
    pub fn iter_mut(&mut self) -> std::iter::Flatten<std::slice::IterMut<'_, Vec<T>>> {
        self.chunks.iter_mut().flatten()
    }
}

impl<T> IntoIterator for Slots<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;

    /// The values in slot order, each chunk freed once it is emptied.
    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

impl<'a, T> IntoIterator for &'a Slots<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

/// The engine's members (and pool accounts) by slot, and the slot of each
/// id. The index holds slot numbers only: a member's id is kept once, in
/// the member (it held a copy of each id, a tenth of a member's memory).
/// A member's `id` must not change while it is here.
#[derive(Debug, Clone, Default)]
pub(super) struct Members {
    slots: Slots<Member>,
    /// Slots, by the hash of their member's id, in four bytes each
    /// (`limits::MOST_MEMBERS`).
    index: HashTable<u32>,
    hasher: FastHash,
}

impl Members {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, slot: usize) -> Option<&Member> {
        self.slots.get(slot)
    }

    /// The member in `slot`, to change anything but its id.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Member> {
        self.slots.get_mut(slot)
    }

    /// The slot of the member (or pool) with id `id`.
    pub fn slot(&self, id: &str) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(self.hasher.hash_one(id), |&slot| {
                slots
                    .get(slot as usize)
                    .is_some_and(|member| member.id == id)
            })
            .map(|&slot| slot as usize)
    }

    /// Adds `member` in the next slot, and returns the slot. Its id finds
    /// it from now on, even if an earlier slot's member has the same id (as
    /// a map's insert would).
    pub fn push(&mut self, member: Member) -> usize {
        let slot = self.slots.len();
        let (slots, hasher) = (&self.slots, &self.hasher);
        let id = member.id.as_str();
        self.index
            .entry(
                hasher.hash_one(id),
                |&other| slots.get(other as usize).is_some_and(|m| m.id == id),
                |&other| id_hash(slots, hasher, other),
            )
            .insert(super::slot32(slot));
        self.slots.push(member);
        slot
    }

    /// Removes the member in the last slot.
    pub fn pop(&mut self) -> Option<Member> {
        let member = self.slots.pop()?;
        let slot = self.slots.len();
        if let Ok(entry) = self
            .index
            .find_entry(self.hasher.hash_one(member.id.as_str()), |&s| {
                s as usize == slot
            })
        {
            entry.remove();
        }
        Some(member)
    }

    /// Makes room in the index for `more` members at once.
    pub fn reserve(&mut self, more: usize) {
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .reserve(more, |&slot| id_hash(slots, hasher, slot));
    }

    /// The members in slot order.
    pub fn iter(&self) -> std::iter::Flatten<std::slice::Iter<'_, Vec<Member>>> {
        self.slots.iter()
    }

    /// The members in slot order, to change (never their ids: the index
    /// reads them).
    pub fn iter_mut(&mut self) -> std::iter::Flatten<std::slice::IterMut<'_, Vec<Member>>> {
        self.slots.iter_mut()
    }

    /// Moves `other`'s members into the slots after these, in their order.
    pub fn append(&mut self, other: Members) {
        for member in other.slots {
            self.push(member);
        }
    }
}

/// The hash of the id of the member in `slot` (the index's key).
fn id_hash(slots: &Slots<Member>, hasher: &FastHash, slot: u32) -> u64 {
    hasher.hash_one(slots.get(slot as usize).map_or("", |m| m.id.as_str()))
}

impl IntoIterator for Members {
    type Item = Member;
    type IntoIter = <Slots<Member> as IntoIterator>::IntoIter;

    /// The members in slot order.
    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter()
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Member;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<Member>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_values_across_chunks_in_slot_order() {
        let mut slots = Slots::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            assert_eq!(slots.len(), i);
            slots.push(i);
        }
        assert_eq!(slots.len(), n);
        for i in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, n - 1] {
            assert_eq!(slots.get(i), Some(&i));
        }
        assert_eq!(slots.get(n), None);
        assert!(slots.iter().copied().eq(0..n));
        if let Some(value) = slots.get_mut(CHUNK) {
            *value = 0;
        }
        assert_eq!(slots.get(CHUNK), Some(&0));
        for value in slots.iter_mut() {
            *value += 1;
        }
        assert_eq!(slots.get(CHUNK), Some(&1));
        assert!(slots.iter().copied().skip(CHUNK + 1).eq(CHUNK + 2..n + 1));
        // Every chunk after the first is allocated once, at its full size.
        assert!(slots.chunks.iter().skip(1).all(|c| c.capacity() == CHUNK));
    }

    #[test]
    fn pop_takes_the_last_slot_and_push_refills_it() {
        let mut slots = Slots::default();
        for i in 0..=CHUNK {
            slots.push(i);
        }
        assert_eq!(slots.pop(), Some(CHUNK));
        assert_eq!(slots.pop(), Some(CHUNK - 1));
        assert_eq!(slots.len(), CHUNK - 1);
        assert_eq!(slots.get(CHUNK - 1), None);
        slots.push(7);
        slots.push(8);
        assert_eq!(slots.get(CHUNK - 1), Some(&7));
        assert_eq!(slots.get(CHUNK), Some(&8));
        assert!(slots.iter().copied().eq((0..CHUNK - 1).chain([7, 8])));
        let mut empty: Slots<usize> = Slots::default();
        assert_eq!(empty.pop(), None);
    }

    fn member(id: &str) -> Member {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
        let time = day.and_time(chrono::NaiveTime::MIN).and_utc();
        Member::new(id, 0, time, day, Vec::new(), 1, 1)
    }

    #[test]
    fn members_are_found_by_id_after_they_are_added_appended_and_popped() {
        let ids: Vec<String> = (0..CHUNK + 10).map(|i| format!("m{i}")).collect();
        let mut members = Members::default();
        let mut other = Members::default();
        for (i, id) in ids.iter().enumerate() {
            let to = if i < 700 { &mut members } else { &mut other };
            to.push(member(id));
        }
        assert_eq!(other.slot("m700"), Some(0));
        members.append(other);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(members.slot(id), Some(i));
        }
        assert_eq!(members.slot("m"), None);
        let last = members.pop().map(|m| m.id);
        assert_eq!(last.as_deref(), ids.last().map(String::as_str));
        assert_eq!(members.slot(&ids[CHUNK + 9]), None);
        assert_eq!(members.slot(&ids[CHUNK + 8]), Some(CHUNK + 8));
        members.push(member("again"));
        assert_eq!(members.slot("again"), Some(CHUNK + 9));
        // A second member of an id is the one its id finds, as in a map.
        members.push(member("m3"));
        assert_eq!(members.slot("m3"), Some(CHUNK + 10));
        members.pop();
        assert_eq!(members.slot("m3"), None);
        assert!(members
            .iter()
            .map(|m| m.id.as_str())
            .eq(ids[..CHUNK + 9].iter().map(String::as_str).chain(["again"])));
    }
}
