//! Tier period ends that fall at one instant for every member (a calendar
//! or rolling window's: the status year ends for all at once), waiting for
//! the clock to reach their day as a member's slot and scheduling order in
//! 12 bytes, where a queued item (`Due`) takes 40: the airline's million
//! reviews a year ahead were 40 MB of the clock queue to the run's end.
//! When the clock reaches the day, they are queued as any clock work, in
//! the scheduling order they took when they were scheduled, so the order
//! of work is the one an item queued at once would have had.

use super::clock::{day, push_to_pieces};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(super) struct PeriodEnds {
    /// By instant: the members' slots and scheduling orders, in pieces
    /// (`clock::push_to_pieces`).
    waiting: BTreeMap<DateTime<Utc>, Vec<Vec<Waiting>>>,
    /// The UTC day of the first instant waiting (`i64::MAX` for none):
    /// asked before every event, answered without the map.
    first_day: i64,
}

/// A member's period end: its slot and the scheduling order, in three
/// four-byte words (no padding to eight).
#[derive(Debug, Clone, Copy)]
struct Waiting([u32; 3]);

impl Waiting {
    fn new(slot: u32, seq: u64) -> Waiting {
        // The order's halves: `seq as u32` keeps the low one.
        Waiting([slot, seq as u32, (seq >> 32) as u32])
    }

    fn slot(self) -> usize {
        self.0[0] as usize
    }

    fn seq(self) -> u64 {
        u64::from(self.0[1]) | u64::from(self.0[2]) << 32
    }
}

impl Default for PeriodEnds {
    fn default() -> PeriodEnds {
        PeriodEnds {
            waiting: BTreeMap::new(),
            first_day: i64::MAX,
        }
    }
}

impl PeriodEnds {
    /// Member `slot`'s period ends at `at`, in scheduling order `seq`.
    pub fn add(&mut self, at: DateTime<Utc>, slot: u32, seq: u64) {
        push_to_pieces(self.waiting.entry(at).or_default(), Waiting::new(slot, seq));
        self.first_day = self.first_day.min(day(at));
    }

    /// Whether any waits for a day up to `time`'s.
    pub fn any_by(&self, time: DateTime<Utc>) -> bool {
        self.first_day <= day(time)
    }

    /// Takes those waiting for a day up to `time`'s (all with `None`): the
    /// instant, the member's slot and the scheduling order of each.
    pub fn take_by(
        &mut self,
        time: Option<DateTime<Utc>>,
    ) -> impl Iterator<Item = (DateTime<Utc>, usize, u64)> {
        let last = time.map_or(i64::MAX, day);
        let mut taken = Vec::new();
        while let Some(entry) = self.waiting.first_entry() {
            if day(*entry.key()) > last {
                break;
            }
            taken.push(entry.remove_entry());
        }
        self.first_day = self.waiting.keys().next().map_or(i64::MAX, |at| day(*at));
        taken.into_iter().flat_map(|(at, pieces)| {
            pieces
                .into_iter()
                .flatten()
                .map(move |waiting| (at, waiting.slot(), waiting.seq()))
        })
    }

    /// Every one waiting, taken: the instant, the member's slot and the
    /// scheduling order of each.
    pub fn into_all(mut self) -> impl Iterator<Item = (DateTime<Utc>, usize, u64)> {
        self.take_by(None)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiting.values().flatten().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn waiting_members_come_out_by_day_with_their_orders() {
        let at = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let mut ends = PeriodEnds::default();
        assert!(!ends.any_by(at(31, 0)));
        let orders = [1, u64::from(u32::MAX) + 7, u64::MAX];
        for (slot, seq) in (0..8).zip(orders.iter().cycle()) {
            ends.add(at(2, 0), slot, *seq);
        }
        ends.add(at(1, 23), 9, 3);
        ends.add(at(1, 1), 8, 2);
        assert_eq!(ends.len(), 10);
        assert!(!ends.any_by(at(1, 0) - chrono::Duration::seconds(1)));
        assert!(ends.any_by(at(1, 0)));
        let first: Vec<_> = ends.take_by(Some(at(1, 0))).collect();
        assert_eq!(first, [(at(1, 1), 8, 2), (at(1, 23), 9, 3)]);
        assert!(!ends.any_by(at(1, 23)));
        assert!(ends.any_by(at(2, 0)));
        let rest: Vec<_> = ends.take_by(None).collect();
        let expected: Vec<_> = (0..8)
            .zip(orders.iter().cycle())
            .map(|(slot, seq)| (at(2, 0), slot, *seq))
            .collect();
        assert_eq!(rest, expected);
        assert_eq!(ends.len(), 0);
        assert!(!ends.any_by(at(31, 0)));
    }
}
