//! Checkpoints of the late-event history: once the program's `accept late
//! events up to N` puts an instant out of reach of every late event to
//! come, a group of members' events before it are folded into a copy of
//! the group's state at that instant, and a late event's re-run starts
//! from the copy rather than from enrolment. A streamed member's history
//! is then bounded by the lateness bound, not by the events it ever had
//! (docs/semantics.md, "Late events").

use super::member::{Member, Wallet};
use super::transfers::PoolAccount;
use super::{Due, Engine};
use crate::compile::ir::{PointsId, Program, TierRank};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A member's history is folded once its packed events take more than this
/// many bytes (about a hundred events) and more than twice what a copy of
/// the member takes (a checkpoint holds one, its pending clock work and the
/// record around them): a shorter history is the smaller
/// (docs/performance.md).
const FOLD_OVER: usize = 4096;

/// A group of members (and pools) as a scratch engine that held them alone
/// left them at `at`: what it takes to go on from there.
#[derive(Debug)]
pub(super) struct Checkpoint {
    at: DateTime<Utc>,
    /// In the scratch engine's slot order.
    members: Vec<Member>,
    /// Their pending clock work, by scratch slot.
    dues: Vec<Due>,
    /// How much scheduling order the scratch engine had used.
    seq: u64,
    /// How many events it had been given: the rank of the next member it
    /// enrols.
    position: u64,
    pools: BTreeMap<usize, PoolAccount>,
    memberships: BTreeMap<(usize, PointsId), usize>,
}

impl Checkpoint {
    /// What `scratch`, advanced to `at`, holds.
    pub(super) fn of(mut scratch: Engine<'_>, at: DateTime<Utc>) -> Checkpoint {
        let mut dues = scratch.take_all_dues();
        dues.shrink_to_fit();
        Checkpoint {
            at,
            members: scratch.members.into_iter().collect(),
            dues,
            seq: scratch.seq,
            position: scratch.position,
            pools: scratch.pools,
            memberships: scratch.memberships,
        }
    }

    pub(super) fn at(&self) -> DateTime<Utc> {
        self.at
    }

    pub(super) fn position(&self) -> u64 {
        self.position
    }

    /// When `member`'s purchase `id` was made, if the checkpoint keeps it
    /// for returns.
    pub(super) fn purchase_time(&self, member: &str, id: &str) -> Option<DateTime<Utc>> {
        let holder = self.members.iter().find(|m| m.id == member)?;
        Some(holder.purchases.get(member, id)?.time)
    }

    /// Adds what each of its members' rows showed at the checkpoint to
    /// `openings`, in a program with tiers or not.
    pub(super) fn openings(&self, tiers: bool, openings: &mut Openings) {
        for member in &self.members {
            openings.insert(member.id.clone(), Opening::of(member, tiers));
        }
    }

    /// A new engine of `program` in the checkpoint's state, its clock at
    /// the checkpoint's instant (each member's own totals kept if
    /// `member_totals`, as the checkpoint's were).
    pub(super) fn restored<'p>(&self, program: &'p Program, member_totals: bool) -> Engine<'p> {
        let mut engine = Engine::new(program);
        if member_totals {
            engine.keep_member_totals();
        }
        for member in &self.members {
            engine.members.push(member.clone());
        }
        // The slots are the checkpoint's: no seq or slot moves.
        engine.take_dues(self.dues.iter().copied(), self.seq, &[]);
        engine.position = self.position;
        engine.pools = self.pools.clone();
        engine.memberships = self.memberships.clone();
        engine.clock = Some(self.at);
        engine
    }
}

/// What a member's rows showed before a re-run's first: the balance of
/// each points type and the tier, as its last rows before the checkpoint
/// left them (undoing a row writes the balance and tier before it).
#[derive(Debug, Clone, Default)]
pub(super) struct Opening {
    balances: Vec<Decimal>,
    tier: Option<TierRank>,
}

impl Opening {
    /// `member`'s, in a program with tiers or not.
    fn of(member: &Member, tiers: bool) -> Opening {
        Opening {
            balances: member.wallets.iter().map(Wallet::balance).collect(),
            tier: tiers.then_some(member.tier()),
        }
    }

    pub(super) fn balance(&self, points: Option<PointsId>) -> Decimal {
        points
            .and_then(|p| self.balances.get(p.index()))
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn tier(&self) -> Option<TierRank> {
        self.tier
    }
}

/// Each member's opening, by id: the members a re-run starts with.
pub(super) type Openings = BTreeMap<CompactString, Opening>;

/// The checkpoints of an engine's histories, and which members start from
/// each.
#[derive(Debug)]
pub(super) struct Checkpoints {
    /// By number, in the order they were made.
    made: BTreeMap<u64, Checkpoint>,
    /// The member slots whose histories were looked at for folding.
    folded: BTreeMap<usize, Fold>,
    next: u64,
    /// Histories longer than this are folded, if set (`FOLD_OVER` and the
    /// member's size if not).
    fold_over: Option<usize>,
}

/// A member's last fold.
#[derive(Debug, Clone, Copy)]
struct Fold {
    /// The checkpoint it starts from, if the fold made one.
    checkpoint: Option<u64>,
    /// The bytes its history kept: the next fold waits until they have
    /// doubled, so that a member with many events within the bound is not
    /// folded again at each.
    kept: usize,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints::new(None)
    }
}

impl Checkpoints {
    /// None yet; histories longer than `fold_over` bytes are to be folded
    /// (by default, as `FOLD_OVER` says).
    pub(super) fn new(fold_over: Option<usize>) -> Checkpoints {
        Checkpoints {
            made: BTreeMap::new(),
            folded: BTreeMap::new(),
            next: 0,
            fold_over,
        }
    }

    /// Whether member slot `m`'s history, of `bytes` bytes, is to be
    /// folded, a copy of the member taking `copy()` bytes.
    pub(super) fn due(&self, m: usize, bytes: usize, copy: impl FnOnce() -> usize) -> bool {
        let over = match self.fold_over {
            Some(over) => bytes > over,
            None => bytes > FOLD_OVER && bytes > copy().saturating_mul(2),
        };
        over && self
            .folded
            .get(&m)
            .is_none_or(|fold| bytes > fold.kept.saturating_mul(2))
    }

    /// Notes that member slot `m`'s history, `bytes` bytes, had nothing to
    /// fold.
    pub(super) fn nothing_to_fold(&mut self, m: usize, bytes: usize) {
        self.folded
            .entry(m)
            .or_insert(Fold {
                checkpoint: None,
                kept: 0,
            })
            .kept = bytes;
    }

    /// The checkpoints `slots` start from, in the order made.
    pub(super) fn of<'c>(&'c self, slots: &[usize]) -> Vec<&'c Checkpoint> {
        let mut numbers: Vec<u64> = slots
            .iter()
            .filter_map(|m| self.folded.get(m)?.checkpoint)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers.iter().filter_map(|n| self.made.get(n)).collect()
    }

    /// Keeps `checkpoint` as the one a group starts from, in place of those
    /// its members had: `slots` are its members, each with the bytes its
    /// history kept.
    pub(super) fn replace(&mut self, slots: &[(usize, usize)], checkpoint: Checkpoint) {
        let number = self.next;
        self.next += 1;
        for &(m, kept) in slots {
            let fold = Fold {
                checkpoint: Some(number),
                kept,
            };
            if let Some(old) = self.folded.insert(m, fold).and_then(|f| f.checkpoint) {
                // Groups only ever join: every member that started from the
                // old checkpoint is in this group, and starts from the new.
                self.made.remove(&old);
            }
        }
        self.made.insert(number, checkpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::{Checkpoints, FOLD_OVER};

    #[test]
    fn a_history_is_folded_once_longer_than_4_kb_and_twice_its_member() {
        let none = Checkpoints::new(None);
        let small = || 1_000;
        assert!(!none.due(0, FOLD_OVER, small));
        assert!(none.due(0, FOLD_OVER + 1, small));
        // A member whose copy is large keeps a history up to twice it.
        assert!(!none.due(0, 8_000, || 4_000));
        assert!(none.due(0, 8_001, || 4_000));
        // Set, the bound is the number of bytes alone.
        let set = Checkpoints::new(Some(0));
        assert!(set.due(0, 1, || 4_000));
        assert!(!set.due(0, 0, || 4_000));
    }

    #[test]
    fn a_fold_that_kept_much_waits_until_the_history_has_doubled() {
        let mut checkpoints = Checkpoints::new(None);
        checkpoints.nothing_to_fold(3, 5_000);
        assert!(!checkpoints.due(3, 10_000, || 0));
        assert!(checkpoints.due(3, 10_001, || 0));
        // Other members are not held back.
        assert!(checkpoints.due(4, 5_000, || 0));
    }
}
