//! Member slots: the engine's members by slot number, kept in chunks of a
//! fixed number of members, so that adding one never moves the others (a
//! single list grown by doubling copied every member, and held the old and
//! the new copy at once, at the run's peak).

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

    /// Moves `other`'s values into the slots after this one's, in their
    /// order; each of `other`'s chunks is freed once it is emptied.
    pub fn append(&mut self, other: Slots<T>) {
        for value in other {
            self.push(value);
        }
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

    #[test]
    fn append_puts_the_other_values_after_these_in_order() {
        let mut slots = Slots::default();
        let mut other = Slots::default();
        for i in 0..CHUNK + 3 {
            slots.push(i);
        }
        for i in 0..2 * CHUNK {
            other.push(CHUNK + 3 + i);
        }
        slots.append(other);
        assert_eq!(slots.len(), 3 * CHUNK + 3);
        assert!(slots.iter().copied().eq(0..3 * CHUNK + 3));
        assert_eq!(slots.get(2 * CHUNK), Some(&(2 * CHUNK)));
    }
}
