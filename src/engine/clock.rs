//! The queue of clock work: what is due, taken in order (for the engine:
//! time, member rank, scheduling order). Most work is scheduled months
//! ahead (expiries) and much of it falls on one instant (month ends), so
//! work for a later day waits unsorted in a list per day, and a day's list
//! is sorted once when the clock reaches that day. Only work scheduled for a
//! day already reached goes into a heap, which stays small. A heap of every
//! due item (millions) cost a cache miss per level at every pop: a sixth of
//! the engine's time.

use chrono::{DateTime, Utc};
use dary_heap::QuaternaryHeap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

/// Something due at an instant.
pub(super) trait Dated {
    fn at(&self) -> DateTime<Utc>;
}

/// The UTC day of an instant: the unit work is grouped by.
pub(super) fn day(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// The most items one piece of a day's list holds (a few in unit tests, so
/// they make days of several pieces).
const PIECE: usize = if cfg!(test) { 3 } else { 4096 };

/// Adds `item` to a list kept in pieces of at most `PIECE` items (a list
/// of millions, grown by doubling, was moved and held twice over, and its
/// freed copies kept by the allocator); a first piece starts small.
pub(super) fn push_to_pieces<T>(pieces: &mut Vec<Vec<T>>, item: T) {
    match pieces.last_mut() {
        Some(piece) if piece.len() < PIECE => piece.push(item),
        _ => {
            let mut piece = Vec::with_capacity(if pieces.is_empty() {
                PIECE.min(4)
            } else {
                PIECE
            });
            piece.push(item);
            pieces.push(piece);
        }
    }
}

pub(super) struct ClockQueue<T> {
    /// The items of the days reached, in order, from the lists of later
    /// days as they were reached.
    ready: VecDeque<T>,
    /// Items scheduled for a day already reached.
    late: QuaternaryHeap<Reverse<T>>,
    /// Items for later days, by day, in pieces of at most `PIECE` items (a
    /// month end's list grows to millions: grown by doubling, it was moved
    /// and held twice over, and its freed copies kept by the allocator).
    later: BTreeMap<i64, Vec<Vec<T>>>,
    /// The last day reached: its items and every earlier day's are in
    /// `ready` or `late`, every later day's in `later`.
    reached: Option<i64>,
}

impl<T> Default for ClockQueue<T> {
    fn default() -> Self {
        ClockQueue {
            ready: VecDeque::new(),
            late: QuaternaryHeap::new(),
            later: BTreeMap::new(),
            reached: None,
        }
    }
}

impl<T: Ord + Copy + Dated> ClockQueue<T> {
    pub fn push(&mut self, item: T) {
        let day = day(item.at());
        if self.reached.is_some_and(|reached| day <= reached) {
            self.late.push(Reverse(item));
        } else {
            push_to_pieces(self.later.entry(day).or_default(), item);
        }
    }

    /// Whether an item is due at or before `time`.
    pub fn any_through(&mut self, time: DateTime<Utc>) -> bool {
        self.reach(day(time));
        let first = match self.first_from_ready() {
            Some(true) => self.ready.front(),
            Some(false) => self.late.peek().map(|Reverse(item)| item),
            None => None,
        };
        first.is_some_and(|item| item.at() <= time)
    }

    /// Whether the first item (of the days reached) is in `ready` rather
    /// than in `late`; `None` if there is none.
    fn first_from_ready(&self) -> Option<bool> {
        match (self.ready.front(), self.late.peek()) {
            (Some(ready), Some(Reverse(late))) => Some(ready <= late),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        }
    }

    /// Removes and returns the first item, if it is due at or before `time`.
    pub fn pop_through(&mut self, time: DateTime<Utc>) -> Option<T> {
        self.reach(day(time));
        let from_ready = self.first_from_ready()?;
        if from_ready {
            let item = self
                .ready
                .front()
                .is_some_and(|item| item.at() <= time)
                .then(|| self.ready.pop_front())
                .flatten();
            // The room of a busy day's last item goes with it, though no
            // day is reached for months (the airline's reviews for every
            // member kept 30 MB from March to the run's end).
            if self.ready.is_empty() && self.ready.capacity() > PIECE {
                self.ready = VecDeque::new();
            }
            item
        } else {
            self.late
                .peek()
                .is_some_and(|Reverse(item)| item.at() <= time)
                .then(|| self.late.pop().map(|Reverse(item)| item))
                .flatten()
        }
    }

    /// Sorts the lists of the days up to `day` into `ready`, in day order:
    /// each day's items come after every earlier day's.
    fn reach(&mut self, day: i64) {
        if self.reached.is_some_and(|reached| reached >= day) {
            return;
        }
        while let Some(entry) = self.later.first_entry() {
            if *entry.key() > day {
                break;
            }
            let pieces = entry.remove();
            let mut items = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
            for piece in pieces {
                items.extend(piece);
            }
            items.sort_unstable();
            if self.ready.is_empty() {
                self.ready = items.into();
            } else {
                // What is left of a busy day (a review for every member at
                // a period's end) keeps its room no longer.
                let len = self.ready.len() + items.len();
                if self.ready.capacity() > 2 * len {
                    self.ready.shrink_to(len);
                }
                self.ready.extend(items);
            }
        }
        self.reached = Some(day);
    }

    /// Every item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.ready
            .iter()
            .chain(self.late.iter().map(|Reverse(item)| item))
            .chain(self.later.values().flatten().flatten())
    }

    /// Every item, in no particular order, each piece of a day's list
    /// freed once its items are taken.
    pub fn into_items(self) -> impl Iterator<Item = T> {
        self.ready
            .into_iter()
            .chain(self.late.into_iter().map(|Reverse(item)| item))
            .chain(self.later.into_values().flatten().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BinaryHeap;

    /// An item: due at a time, then ordered by a tie-breaker.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Item(DateTime<Utc>, u32);

    impl Dated for Item {
        fn at(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// A queue operation: schedule an item `offset` seconds after the
    /// clock (ties likely: few distinct offsets), or advance the clock.
    #[derive(Debug, Clone)]
    enum Op {
        Push(i64, u32),
        Advance(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (prop_oneof![Just(0_i64), Just(3_600), Just(86_399), Just(86_400),
                              Just(30 * 86_400), 0_i64..200 * 86_400], 0_u32..4)
                .prop_map(|(offset, tie)| Op::Push(offset, tie)),
            1 => prop_oneof![Just(0_i64), Just(1), 0_i64..40 * 86_400].prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Whatever is scheduled when, items come out as from one heap of
        /// them all: in order, each once, none before its time (and the
        /// queue says whether one is due as the heap would).
        #[test]
        fn items_come_out_in_order_as_from_one_heap(ops in prop::collection::vec(op(), 1..300)) {
            let start = DateTime::parse_from_rfc3339("2025-01-31T23:00:00Z").unwrap().to_utc();
            let mut clock = start;
            let mut queue = ClockQueue::default();
            let mut model = BinaryHeap::new();
            for op in ops {
                match op {
                    Op::Push(offset, tie) => {
                        let item = Item(clock + chrono::Duration::seconds(offset), tie);
                        queue.push(item);
                        model.push(Reverse(item));
                    }
                    Op::Advance(by) => {
                        clock += chrono::Duration::seconds(by);
                        loop {
                            let expected = model
                                .peek()
                                .filter(|Reverse(item)| item.0 <= clock)
                                .map(|Reverse(item)| *item);
                            prop_assert_eq!(queue.any_through(clock), expected.is_some());
                            if expected.is_some() {
                                model.pop();
                            }
                            prop_assert_eq!(queue.pop_through(clock), expected);
                            if expected.is_none() {
                                break;
                            }
                        }
                    }
                }
                let mut held: Vec<Item> = queue.iter().copied().collect();
                let mut modelled: Vec<Item> = model.iter().map(|Reverse(item)| *item).collect();
                held.sort();
                modelled.sort();
                prop_assert_eq!(held, modelled);
            }
            let mut left: Vec<Item> = queue.into_items().collect();
            left.sort();
            let mut modelled: Vec<Item> = model.into_iter().map(|Reverse(item)| item).collect();
            modelled.sort();
            prop_assert_eq!(left, modelled);
        }
    }

    /// A queue of 10,000 items at one midnight, and the midnight.
    fn busy_day() -> (DateTime<Utc>, ClockQueue<Item>) {
        let midnight = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut queue = ClockQueue::default();
        for tie in 0..10_000 {
            queue.push(Item(midnight, tie));
        }
        (midnight, queue)
    }

    /// A day of many items (a period's end: a review for every member)
    /// does not leave its room behind once they are done, though items of
    /// the day are still waiting when the next day is reached.
    #[test]
    fn a_busy_day_gives_its_room_back() {
        let (midnight, mut queue) = busy_day();
        queue.push(Item(midnight - chrono::Duration::days(1), 0));
        let evening = midnight + chrono::Duration::hours(20);
        queue.push(Item(evening, 0));
        queue.push(Item(midnight + chrono::Duration::days(1), 0));
        // The day before (its items are still waiting when the busy day
        // comes), then the busy day.
        assert!(queue.any_through(midnight - chrono::Duration::hours(1)));
        while queue.pop_through(midnight).is_some() {}
        assert_eq!(queue.ready.len(), 1, "the evening's item waits");
        assert!(queue.ready.capacity() >= 10_000);
        assert_eq!(
            queue.pop_through(midnight + chrono::Duration::days(1)),
            Some(Item(evening, 0))
        );
        assert!(
            queue.ready.capacity() < 100,
            "room for {}",
            queue.ready.capacity()
        );
    }

    /// Nor when nothing is due for months after it: the room goes with
    /// its last item.
    #[test]
    fn a_busy_day_before_a_quiet_season_gives_its_room_back() {
        let (midnight, mut queue) = busy_day();
        queue.push(Item(midnight + chrono::Duration::days(300), 0));
        while queue
            .pop_through(midnight + chrono::Duration::days(30))
            .is_some()
        {}
        assert_eq!(queue.ready.capacity(), 0);
    }
}
