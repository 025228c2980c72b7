//! A member's state: attributes, tier, points buckets per points type,
//! window measures, counters for caps and limits, and the purchases a return
//! can refer to.

use super::buckets::{Bucket, BucketWork, Buckets, WorkKey};
use super::ledger::Totals;
use super::packed::is_plain_zero;
use super::purchases::Purchases;
use crate::compile::ir::{PerkId, PointsId, Program, RuleId, TierRank, Value};
use chrono::{DateTime, NaiveDate, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;
use std::ops::Range;

#[derive(Debug, Clone)]
pub struct Member {
    pub id: CompactString,
    /// The position of the event that enrolled it among the events the
    /// engine was given: the order members' clock work runs in at one
    /// instant.
    pub rank: u64,
    pub enrolled: DateTime<Utc>,
    /// The local date of `enrolled` in the program's zone (looking it up
    /// for every event was a fiftieth of a run).
    pub enrolled_on: NaiveDate,
    /// The member's profile fields, by their place in the program's `member` block.
    pub attributes: Box<[Value]>,
    tier: u16,
    /// The lowest tier the member can fall to (lifetime status).
    floor: u16,
    /// Whether a purchase of the member's was applied (`first purchase`).
    pub purchased: bool,
    /// No tier review is queued: every review would change nothing until
    /// the member's next event, which queues one again (`Engine::wake`).
    pub reviews_paused: bool,
    /// When the current tier period began.
    pub period_started: DateTime<Utc>,
    /// The scheduling order of the period end queued for the current
    /// period: a review queued for a period an upgrade replaced may fall at
    /// the same instant (an upgrade at enrolment, in a qualification year)
    /// and must do nothing (`Engine::is_current`).
    pub period_end_seq: u64,
    /// How many tier periods began after the first: which one a purchase
    /// counted in (a qualification year begun at an upgrade starts at the
    /// very instant of the purchase that made it, which belongs to the
    /// year before). A period is a day at least, and events are dated in
    /// the years 0000 to 9999: a few million periods, in four bytes.
    pub periods: u32,
    /// How many buckets were made for the member: the id of the last
    /// (`Member::next_bucket_id`).
    buckets_made: u64,
    /// One wallet per points type (the program fixes how many).
    pub wallets: Box<[Wallet]>,
    /// Measure sums for the current tier period (calendar and membership windows).
    pub window: Box<[Decimal]>,
    /// Cap, limit, perk and budget counters, in key order (a few a member:
    /// a sorted list is smaller than a map's nodes, and one of its exact
    /// length takes no room to grow nor a capacity).
    pub counters: Box<[(CounterKey, Decimal)]>,
    /// The purchases a return can still refer to, in the order they were
    /// made.
    pub(super) purchases: Purchases,
    /// What most members never have (a status match, a referrer, a drop in
    /// grace, a rollover, redemptions, dated contributions), out of line: `None`
    /// until one is first kept (`Member::rare_mut`).
    pub rare: Option<Box<Rare>>,
}

/// The parts of a member's state most members never use, kept in one
/// allocation of their own so that they take a pointer of the others'.
#[derive(Debug, Clone, Default)]
pub struct Rare {
    /// The last `set_tier`'s hold, if any.
    pub status_match: Option<StatusMatch>,
    /// The slot of the member who referred this one (`referred_by`).
    pub referrer: Option<usize>,
    pub pending_downgrade: Option<(TierRank, DateTime<Utc>)>,
    /// Per measure, what `rollover` carried into the current tier period
    /// (empty when nothing was): it counts toward this period only.
    pub carried: Vec<Decimal>,
    /// Dated measure contributions (rolling windows).
    pub window_entries: VecDeque<(DateTime<Utc>, usize, Decimal)>,
    /// Dated contributions to counters over a term (`over last 30 days`),
    /// by counter index, in time order; kept only inside their term.
    pub counted_events: VecDeque<(DateTime<Utc>, usize, Decimal)>,
    /// Redemptions by event id, for `cancel_redeem`.
    pub redemptions: BTreeMap<String, Redemption>,
    /// Buckets that hold points a cancelled redemption gave back, each
    /// with the bucket an award made that the points came from (`origin`;
    /// empty unless a redemption was cancelled).
    given_back: Vec<(u64, u64)>,
}

/// What a `set_tier` holds: the member is at least `tier` until `lapses`
/// (the start of the day after its `until`); then reviews judge them as
/// any member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMatch {
    pub tier: TierRank,
    pub lapses: DateTime<Utc>,
    /// The record's reason and last day, for explanations.
    pub reason: Box<str>,
    pub until: NaiveDate,
}

impl Member {
    /// About the bytes a copy of the member takes: its record, wallets,
    /// measures, counters, packed buckets and kept purchases (what a
    /// checkpoint of it holds), its rare parts left out.
    pub(super) fn copy_len(&self) -> usize {
        use std::mem::size_of;
        size_of::<Member>()
            + self
                .wallets
                .iter()
                .map(|w| size_of::<Wallet>() + w.buckets_len())
                .sum::<usize>()
            + self.window.len() * size_of::<Decimal>()
            + self.counters.len() * size_of::<(CounterKey, Decimal)>()
            + self.purchases.packed_len()
    }

    /// A fresh member: no points, the lowest tier, no purchases; `points`
    /// wallets and `measures` tier measures.
    pub fn new(
        id: &str,
        rank: u64,
        time: DateTime<Utc>,
        enrolled_on: NaiveDate,
        attributes: Vec<Value>,
        points: usize,
        measures: usize,
    ) -> Member {
        Member {
            id: id.into(),
            rank,
            enrolled: time,
            enrolled_on,
            attributes: attributes.into_boxed_slice(),
            tier: 0,
            floor: 0,
            purchased: false,
            reviews_paused: false,
            period_started: time,
            period_end_seq: 0,
            periods: 0,
            buckets_made: 0,
            wallets: vec![Wallet::default(); points].into_boxed_slice(),
            window: vec![Decimal::ZERO; measures].into_boxed_slice(),
            counters: Box::default(),
            purchases: Purchases::default(),
            rare: None,
        }
    }

    /// The member's tier.
    pub fn tier(&self) -> TierRank {
        usize::from(self.tier)
    }

    /// Moves the member to tier `tier`.
    pub fn set_tier(&mut self, tier: TierRank) {
        self.tier = rank16(tier);
    }

    /// The lowest tier the member can fall to (lifetime status).
    pub fn floor(&self) -> TierRank {
        usize::from(self.floor)
    }

    /// Raises the member's floor to tier `tier`.
    pub fn set_floor(&mut self, tier: TierRank) {
        self.floor = rank16(tier);
    }

    /// The lowest tier a review at `at` may leave the member in: lifetime
    /// status, or a status match that has not lapsed, whichever is higher.
    pub fn floor_at(&self, at: DateTime<Utc>) -> TierRank {
        self.status_match()
            .filter(|held| at < held.lapses)
            .map_or(self.floor(), |held| held.tier.max(self.floor()))
    }

    /// The id of a new bucket of the member's. Ids are the member's own:
    /// they name a bucket among the member's (the award a return reverses,
    /// the bucket a cancelled redemption gave back), never among all, and
    /// a member's few make a byte or two in the packed buckets and the
    /// purchases that refer to them, where ids counted across the run took
    /// four at a few million awards. Made in the order of the member's
    /// buckets, as the run's were.
    pub fn next_bucket_id(&mut self) -> u64 {
        self.buckets_made += 1;
        self.buckets_made
    }

    /// The member's rare parts, made (empty) if it has none yet.
    pub fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The last `set_tier`'s hold, if any.
    pub fn status_match(&self) -> Option<&StatusMatch> {
        self.rare.as_ref()?.status_match.as_ref()
    }

    /// The slot of the member who referred this one, if any.
    pub fn referrer(&self) -> Option<usize> {
        self.rare.as_ref()?.referrer
    }

    /// Sets the member's referrer (nothing is allocated for none).
    pub fn set_referrer(&mut self, referrer: Option<usize>) {
        if referrer.is_some() || self.rare.is_some() {
            self.rare_mut().referrer = referrer;
        }
    }

    /// The drop to a lower tier that waits for its grace to end, and when
    /// the grace ends.
    pub fn pending_downgrade(&self) -> Option<(TierRank, DateTime<Utc>)> {
        self.rare.as_ref()?.pending_downgrade
    }

    /// Per measure, what `rollover` carried into the current tier period
    /// (empty when nothing was).
    pub fn carried(&self) -> &[Decimal] {
        self.rare.as_ref().map_or(&[], |rare| &rare.carried)
    }

    /// Bucket `to` holds points a cancelled redemption gave back from
    /// bucket `from`.
    pub fn note_given_back(&mut self, from: u64, to: u64) {
        let origin = self.origin(from);
        self.rare_mut().given_back.push((to, origin));
    }

    /// The bucket an award made that the points of bucket `id` belong to:
    /// `id` itself, or for points a cancelled redemption gave back, the
    /// bucket they were first taken from. What expires of them expired of
    /// that award, and a return does not take it again.
    pub fn origin(&self, id: u64) -> u64 {
        self.rare
            .iter()
            .flat_map(|rare| &rare.given_back)
            .find(|(bucket, _)| *bucket == id)
            .map_or(id, |(_, origin)| *origin)
    }

    /// The member's wallet of points type `p`.
    pub fn wallet(&self, p: PointsId) -> Option<&Wallet> {
        self.wallets.get(p.index())
    }

    /// The counter for `key`, created at zero. Creating one for a new period
    /// drops the same counter's earlier periods: events are applied in time
    /// order, so those are never read again. Budget shares are kept (a late
    /// event gives them back).
    #[allow(clippy::indexing_slicing)] // `at` is in bounds: found, or just inserted there
    pub fn counter(&mut self, key: CounterKey) -> &mut Decimal {
        let at = match self.counters.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => at,
            Err(at) => {
                let from = key.first_period().map_or(at, |first| {
                    self.counters.partition_point(|(k, _)| *k < first)
                });
                // A new key is rare (one a counter and period): the list
                // is made again at its new length.
                let mut counters = std::mem::take(&mut self.counters).into_vec();
                counters.drain(from..at);
                counters.reserve_exact(1);
                counters.insert(from, (key, Decimal::ZERO));
                self.counters = counters.into_boxed_slice();
                from
            }
        };
        &mut self.counters[at].1
    }

    /// The purchases a return can still refer to.
    pub fn purchases(&self) -> &Purchases {
        &self.purchases
    }

    /// What counter `key` has counted (zero if it has not been created).
    pub fn counted(&self, key: CounterKey) -> Decimal {
        self.counters
            .binary_search_by(|(k, _)| k.cmp(&key))
            .ok()
            .and_then(|at| self.counters.get(at))
            .map_or(Decimal::ZERO, |(_, n)| *n)
    }

    /// Takes one back from counter `key`, if it is still kept (a counter
    /// of a past period may be gone; it limits nothing any more).
    pub fn uncount(&mut self, key: CounterKey) {
        if let Ok(at) = self.counters.binary_search_by(|(k, _)| k.cmp(&key)) {
            if let Some((_, n)) = self.counters.get_mut(at) {
                *n = (*n - Decimal::ONE).max(Decimal::ZERO);
            }
        }
    }
}

/// One of a member's packed lists (its buckets, its kept purchases, its
/// late-event history) in an allocation of exactly its length: 16 bytes
/// in the member where a `Vec` took 24, and no room kept to grow into,
/// where growing by an eighth at a time kept up to that much (growing by
/// half took 1.18 GB rather than 1.14 at a million members). mimalloc
/// grows and shrinks a block in place within its size class, so most
/// changes copy nothing; the airline's million members took 49 MB less
/// (docs/performance.md, fifteenth round).
#[derive(Debug, Clone, Default)]
pub(super) struct ExactBytes(Box<[u8]>);

impl std::ops::Deref for ExactBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl ExactBytes {
    /// Puts `with` in place of the bytes `at`.
    pub fn splice(&mut self, at: Range<usize>, with: &[u8]) {
        self.edit(|bytes| {
            bytes.reserve_exact(with.len().saturating_sub(at.len()));
            bytes.splice(at, with.iter().copied());
        });
    }

    /// Appends `with`.
    pub fn extend(&mut self, with: &[u8]) {
        self.edit(|bytes| {
            bytes.reserve_exact(with.len());
            bytes.extend_from_slice(with);
        });
    }

    /// Removes the bytes `at`.
    pub fn drain(&mut self, at: Range<usize>) {
        self.edit(|bytes| {
            bytes.drain(at);
        });
    }

    /// Changes the bytes as a vector, whose length is then the
    /// allocation's: `change` grows it with `reserve_exact`, or the
    /// vector's doubling leaves its room in the block.
    fn edit(&mut self, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::mem::take(&mut self.0).into_vec();
        change(&mut bytes);
        self.0 = bytes.into_boxed_slice();
    }
}

/// What a cap, limit or perk counts, in which period
/// (`calendar::period_number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// Times a rule fired, for its limit number `usize`.
    Fired(RuleId, usize, i32),
    /// Points a rule awarded under its cap number `usize`.
    Capped(RuleId, usize, i32),
    /// Times a perk was used.
    PerkUsed(PerkId, i32),
    /// The member's use of a program-wide budget (rule, budget, period).
    Budget((RuleId, usize, i32)),
    /// Points of a type all rules awarded under the type's cap number `usize`.
    PointsCapped(PointsId, usize, i32),
    /// What the program's counter number `usize` counted in a calendar
    /// period (keyed by the period's first day).
    Events(usize, i32),
}

/// A counter as a member keeps it: its slot (`CounterSlots`) and period,
/// 8 bytes where the `Counter` is 32. Slots of budgets have the top bit
/// set: their past periods are kept (a late event gives them back), where
/// the others' are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CounterKey {
    slot: u32,
    period: i32,
}

/// The top bit of a budget's slot.
const BUDGET: u32 = 1 << 31;

impl CounterKey {
    /// The same counter in the earliest period there can be, for counters
    /// whose past periods can be dropped.
    fn first_period(self) -> Option<CounterKey> {
        (self.slot & BUDGET == 0).then_some(CounterKey {
            period: i32::MIN,
            ..self
        })
    }
}

/// Each limit, cap, perk limit, budget and counter of a program numbered
/// once, when an engine is made for it, so that a member keeps a counter
/// in 24 bytes (its key and count) rather than 48 (the `Counter` and
/// count): counters were 82 MB of a million coffee members' 1.02 GB. A
/// slot is the first slot of its rule's (perk's, points type's) kind plus
/// its index among them. A program has far fewer than 2^31 of each kind:
/// each is a clause of its source.
#[derive(Debug, Clone, Default)]
pub struct CounterSlots {
    /// Per rule, the slot of its first limit.
    fired: Vec<u32>,
    /// Per rule, the slot of its first cap.
    capped: Vec<u32>,
    /// The slot of the first perk.
    perk_used: u32,
    /// Per points type, the slot of its first cap.
    points_capped: Vec<u32>,
    /// The slot of the program's first counter.
    events: u32,
    /// Per rule, the slot of its first budget, top bit set.
    budgets: Vec<u32>,
}

impl CounterSlots {
    pub fn new(program: &Program) -> CounterSlots {
        let mut next = 0;
        let fired = firsts(&mut next, program.rules.iter().map(|r| r.limits.len()));
        let capped = firsts(&mut next, program.rules.iter().map(|r| r.caps.len()));
        let points_capped = firsts(&mut next, program.points.iter().map(|p| p.caps.len()));
        let perk_used = next;
        let events = perk_used.saturating_add(index(program.perks.len()));
        let mut next = BUDGET;
        let budgets = firsts(&mut next, program.rules.iter().map(|r| r.budgets.len()));
        CounterSlots {
            fired,
            capped,
            perk_used,
            points_capped,
            events,
            budgets,
        }
    }

    /// Where a member keeps `counter`.
    pub fn key(&self, counter: Counter) -> CounterKey {
        let at = |firsts: &[u32], id: usize, i: usize| {
            firsts
                .get(id)
                .map_or(u32::MAX, |first| first.saturating_add(index(i)))
        };
        let (slot, period) = match counter {
            Counter::Fired(rule, i, period) => (at(&self.fired, rule.index(), i), period),
            Counter::Capped(rule, i, period) => (at(&self.capped, rule.index(), i), period),
            Counter::PerkUsed(perk, period) => (self.perk_used.saturating_add(index(perk)), period),
            Counter::PointsCapped(points, i, period) => {
                (at(&self.points_capped, points.index(), i), period)
            }
            Counter::Events(i, period) => (self.events.saturating_add(index(i)), period),
            Counter::Budget((rule, i, period)) => (at(&self.budgets, rule.index(), i), period),
        };
        CounterKey { slot, period }
    }

    /// The budget whose member's share `key` counts (rule, budget and
    /// period), if it is a budget's.
    pub fn budget(&self, key: CounterKey) -> Option<(RuleId, usize, i32)> {
        if key.slot & BUDGET == 0 {
            return None;
        }
        // The last rule whose budgets start at or before the slot.
        let rule = self
            .budgets
            .partition_point(|first| *first <= key.slot)
            .checked_sub(1)?;
        let first = self.budgets.get(rule)?;
        let i = key.slot.checked_sub(*first)?;
        Some((RuleId(rule), i as usize, key.period))
    }
}

/// The first slot of each of `counts` clauses, numbered from `next` on.
fn firsts(next: &mut u32, counts: impl Iterator<Item = usize>) -> Vec<u32> {
    counts
        .map(|count| {
            let first = *next;
            *next = next.saturating_add(index(count));
            first
        })
        .collect()
}

/// An index among a program's clauses as a slot offset.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// A tier's rank as a member keeps it, in two bytes: a program declares
/// at most `limits::MOST_TIERS` tiers (the checker refuses more).
fn rank16(tier: TierRank) -> u16 {
    const _: () = assert!(crate::limits::MOST_TIERS <= 1 << 16);
    u16::try_from(tier).unwrap_or(u16::MAX)
}

/// A member's holding of one points type: what every wallet uses inline
/// (80 bytes), what some points types use in an allocation of their own
/// (`Activity`), what few wallets use out of line (`RareWallet`).
#[derive(Debug, Clone, Default)]
pub struct Wallet {
    /// Live buckets in spending order, packed (changed only through the
    /// methods below, which keep `held`).
    buckets: Buckets,
    /// What the buckets hold together: the balance is asked for every
    /// ledger row, and summing the buckets each time was a twentieth of the
    /// engine's time.
    held: Decimal,
    /// Points reversed after they were spent: a debt new earning pays
    /// first. `None` (zero) until one is owed, as in most wallets; then in
    /// an allocation of its own, not among the wallet's rare parts: the
    /// balance is read for every ledger row, and reading the debt where
    /// the wallet kept its totals was a cache miss each time (a twentieth
    /// of a `--stream` run). Kept once owed, paid or not, so that `debt()`
    /// gives what the inline field held, a zero of another scale (`0.0`)
    /// included.
    debt: Option<Box<Decimal>>,
    /// The scheduling order of the clock work last queued for its buckets
    /// (unique: it names the item): the one current item (`is_queued`).
    /// The queue holds an item per wallet for its buckets' first work, not
    /// one per release and expiry; an item whose work went (a bucket spent
    /// or taken back) finds the next work when it comes up, and a bucket
    /// whose work comes earlier queues an item of its own (`planned`).
    /// Orders, not keys: a wallet of every points type has these, and most
    /// have no bucket work.
    bucket_work: Option<NonZeroU64>,
    /// The scheduling order of the item an earlier piece of bucket work put
    /// aside, still in the queue: when its work is the first again, it is
    /// current again rather than queued twice (a release 14 days on coming
    /// before an expiry 6 months on, after every award, queued that expiry
    /// again and again). An item that came up stale never comes back: its
    /// work went.
    put_back: Option<NonZeroU64>,
    /// What only a points type that lifetime status counts, or that
    /// expires by inactivity, keeps: `None` for the others, and until it is
    /// first kept (`Wallet::activity_mut`). Inline, it was 40 of a wallet's
    /// 128 bytes, a million coffee members' 40 MB.
    activity: Option<Box<Activity>>,
    /// What most wallets never have, out of line: `None` until one is kept.
    rare: Option<Box<RareWallet>>,
}

// What a million members hold is the sum of these: a field added to one
// is a decision, not an accident (docs/performance.md's memory model).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<Member>() == 184);
    assert!(std::mem::size_of::<Wallet>() == 72);
    assert!(std::mem::size_of::<(CounterKey, Decimal)>() == 24);
};

/// What a wallet keeps of its activity for the points types that read it:
/// lifetime status (a `tiers` block's `lifetime` line) and expiry after a
/// term without activity.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Points of this type the member's rules ever awarded, less what
    /// returns took back of them (lifetime status).
    pub lifetime_earned: Decimal,
    /// The last activity, for a points type that expires after a term
    /// without any.
    pub last: Option<DateTime<Utc>>,
    /// When the waiting inactivity check is due: the one check that is
    /// current (`Engine::is_current`). An activity whose term ends earlier
    /// than it (a later day clamped to a shorter month's end: 28 December
    /// 00:30 and 31 December 00:00 both end on 28 February, the second
    /// earlier) queues a check of its own there, and the other goes stale.
    pub inactivity_due: Option<DateTime<Utc>>,
    /// While an inactivity check waits in the clock queue, the scheduling
    /// order of the check the latest activity asked for. Activity does not
    /// queue a check of its own while one waits: the waiting one, come due,
    /// is put off to the latest activity's time in that activity's place in
    /// the order (a check per activity filled the queue: most of a 2-year
    /// term's work was stale).
    pub inactivity_check: Option<NonZeroU64>,
}

/// The parts of a wallet most wallets never use: points expiring for rules
/// on expiry, and the wallet's own totals, kept only where something reads
/// them (`Engine::keep_member_totals`).
#[derive(Debug, Clone, Default)]
struct RareWallet {
    expiring: Option<(DateTime<Utc>, Decimal)>,
    totals: Option<Totals>,
}

impl Wallet {
    /// Every live point, pending ones included, less the debt.
    pub fn balance(&self) -> Decimal {
        self.held - self.debt()
    }

    /// Points reversed after they were spent: a debt new earning pays first.
    pub fn debt(&self) -> Decimal {
        self.debt.as_deref().copied().unwrap_or_default()
    }

    /// Adds `amount` to the debt.
    pub fn owe(&mut self, amount: Decimal) {
        **self.debt.get_or_insert_with(Box::default) += amount;
    }

    /// Points that expired by the clock at an instant, whose rules on
    /// expiry are still to run then (`made_events`); zero once they ran.
    pub fn expiring(&self) -> Option<(DateTime<Utc>, Decimal)> {
        self.rare.as_ref()?.expiring
    }

    /// Sets what `expiring` says.
    pub fn set_expiring(&mut self, expiring: (DateTime<Utc>, Decimal)) {
        self.rare_mut().expiring = Some(expiring);
    }

    /// The wallet's own totals, if they are kept
    /// (`Engine::keeps_member_totals`).
    pub fn totals(&self) -> Option<&Totals> {
        self.rare.as_ref()?.totals.as_ref()
    }

    /// The wallet's own totals, kept from now on (zero if they were not).
    pub fn totals_mut(&mut self) -> &mut Totals {
        self.rare_mut().totals.get_or_insert_with(Totals::default)
    }

    fn rare_mut(&mut self) -> &mut RareWallet {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Its lifetime earning and inactivity clock, if kept (`Activity`).
    pub fn activity(&self) -> Option<&Activity> {
        self.activity.as_deref()
    }

    /// Its lifetime earning and inactivity clock, kept from now on: only
    /// for a points type that lifetime status counts or that expires by
    /// inactivity.
    pub fn activity_mut(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    /// Points that can be spent at `now`.
    pub fn available(&self, now: DateTime<Utc>) -> Decimal {
        self.buckets
            .iter()
            .filter(|b| b.available_at <= now)
            .map(|b| b.amount)
            .sum::<Decimal>()
            - self.debt()
    }

    pub fn pending(&self, now: DateTime<Utc>) -> Decimal {
        self.buckets
            .iter()
            .filter(|b| b.available_at > now)
            .map(|b| b.amount)
            .sum()
    }

    /// Adds an award; a debt takes its share first. Returns the id of the
    /// bucket the rest went to, if any.
    pub fn add(&mut self, mut bucket: Bucket) -> Option<u64> {
        let debt = self.debt();
        let paid = debt.min(bucket.amount);
        let left = debt - paid;
        match &mut self.debt {
            Some(debt) => **debt = left,
            None if !is_plain_zero(left) => self.debt = Some(Box::new(left)),
            None => {}
        }
        bucket.amount -= paid;
        if bucket.amount.is_zero() {
            return None;
        }
        self.held += bucket.amount;
        self.buckets.insert(bucket);
        Some(bucket.id)
    }

    /// Takes `amount` from available buckets in spending order. The caller
    /// has checked the available balance.
    pub fn spend(&mut self, amount: Decimal, now: DateTime<Utc>) {
        self.withdraw(amount, now);
    }

    /// Takes `amount` from available buckets in spending order and returns
    /// what it took from each, as buckets with their dates. The caller has checked the available balance.
    pub fn withdraw(&mut self, amount: Decimal, now: DateTime<Utc>) -> Vec<Bucket> {
        let (taken, left) = self.buckets.rewrite(|buckets| {
            let mut taken = Vec::new();
            let mut left = amount;
            for bucket in buckets.iter_mut().filter(|b| b.available_at <= now) {
                let part = left.min(bucket.amount);
                bucket.amount -= part;
                left -= part;
                taken.push(bucket.with_amount(part));
                if left.is_zero() {
                    break;
                }
            }
            buckets.retain(|b| !b.amount.is_zero());
            (taken, left)
        });
        self.held -= amount - left;
        taken
    }

    /// Takes back `amount`, from bucket `preferred` first (the purchase's
    /// own), then in spending order, pending points included. Returns what
    /// could not be taken because the points were spent.
    pub fn take_back(&mut self, amount: Decimal, preferred: Option<u64>) -> Decimal {
        let left = self.buckets.rewrite(|buckets| {
            let mut left = amount;
            let preferred_first = buckets
                .iter()
                .position(|b| Some(b.id) == preferred)
                .into_iter()
                .chain(0..buckets.len());
            for i in preferred_first {
                if let Some(bucket) = buckets.get_mut(i) {
                    let taken = left.min(bucket.amount);
                    bucket.amount -= taken;
                    left -= taken;
                }
                if left.is_zero() {
                    break;
                }
            }
            buckets.retain(|b| !b.amount.is_zero());
            left
        });
        self.held -= amount - left;
        left
    }

    /// Removes a bucket, returning it with what was left in it.
    pub fn remove(&mut self, id: u64) -> Option<Bucket> {
        let bucket = self.buckets.remove(id);
        self.took(bucket)
    }

    /// Removes the first bucket in spending order, if any.
    pub fn remove_first(&mut self) -> Option<Bucket> {
        let bucket = self.buckets.remove_first();
        self.took(bucket)
    }

    /// A bucket was removed: what it held is held no more.
    fn took(&mut self, bucket: Option<Bucket>) -> Option<Bucket> {
        self.held -= bucket?.amount;
        bucket
    }

    /// The bytes the wallet's buckets take, packed.
    pub(super) fn buckets_len(&self) -> usize {
        self.buckets.packed_len()
    }

    /// Live buckets in spending order.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.buckets.iter()
    }

    /// What the live bucket `id` holds, if it is here.
    pub fn held_in(&self, id: u64) -> Option<Decimal> {
        self.buckets.amount(id)
    }

    /// Plans the clock work of bucket `id`, in scheduling order from
    /// `seq`: its release first if `releases`, then its expiry if it
    /// expires. Returns how many places in the order it took and the key of
    /// its first work (`None` if it has none, or no such bucket is here).
    pub fn plan(&mut self, id: u64, seq: u64, releases: bool) -> (u64, Option<WorkKey>) {
        self.buckets.plan(id, seq, releases)
    }

    /// Whether the item of bucket work in scheduling order `seq` is the
    /// current one.
    pub fn is_queued(&self, seq: u64) -> bool {
        self.bucket_work.is_some_and(|queued| queued.get() == seq)
    }

    /// Work keyed `first` was planned: the key of the item to queue, if
    /// one must be, made the current item: `first` if it comes before the
    /// current item's work; if that work went (the current item would find
    /// it gone, and is not put aside), the buckets' first work.
    pub fn planned(&mut self, first: WorkKey) -> Option<WorkKey> {
        let first = match self.bucket_work.map(|queued| self.key_of(queued.get())) {
            Some(Some(queued)) if queued < first => return None,
            Some(None) => {
                self.bucket_work = None;
                self.next_work()?.0
            }
            _ => first,
        };
        self.first_work(first).then_some(first)
    }

    /// The key of the bucket work in scheduling order `seq`, if it is still
    /// to do.
    fn key_of(&self, seq: u64) -> Option<WorkKey> {
        self.buckets.key_of(seq)
    }

    /// Work keyed `key` is now its buckets' first (planned before the
    /// current item's, or the current item came up): makes it the current
    /// item and says whether it must be queued.
    pub fn first_work(&mut self, key: WorkKey) -> bool {
        let seq = NonZeroU64::new(key.1);
        if self.bucket_work == seq {
            return false;
        }
        if self.put_back == seq {
            self.put_back = None;
            self.bucket_work = seq;
            return false;
        }
        if let Some(queued) = std::mem::replace(&mut self.bucket_work, seq) {
            self.put_back = Some(queued);
        }
        true
    }

    /// Its items but the current one were left out of the queue (a shard's
    /// stale clock work is not merged): none is put aside.
    pub fn drop_put_back(&mut self) {
        self.put_back = None;
    }

    /// The first clock work of its buckets, by key.
    pub fn next_work(&self) -> Option<(WorkKey, BucketWork)> {
        self.buckets.next_work()
    }

    /// The clock work keyed `key`, the current item's (`bucket_work`, which
    /// came up and is current no more), if it is still to do (else it went: its bucket was spent, taken back or
    /// expired). Nothing comes before the current item's work, so this is
    /// the buckets' first. A release is marked done here, leaving the
    /// bucket's expiry next.
    pub fn take_work(&mut self, key: WorkKey) -> Option<BucketWork> {
        self.bucket_work = None;
        self.buckets.take_work(key)
    }

    /// Moves every scheduling order it holds `offset` places on (its
    /// buckets' clock work and inactivity check joining another engine's
    /// queue after that engine's own).
    pub fn offset_seqs(&mut self, offset: u64) {
        let inactivity_check = self
            .activity
            .iter_mut()
            .flat_map(|a| &mut a.inactivity_check);
        let seqs = inactivity_check
            .chain(&mut self.bucket_work)
            .chain(&mut self.put_back);
        for seq in seqs {
            *seq = seq.saturating_add(offset);
        }
        self.buckets.offset_seqs(offset);
    }
}

/// A redemption a `cancel_redeem` may reverse: the parts it took, with
/// their dates, so the points go back where they came from.
#[derive(Debug, Clone)]
pub struct Redemption {
    pub points: PointsId,
    pub parts: Vec<Bucket>,
    pub cost: Option<Decimal>,
    pub note: String,
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A program whose first rule has no limit (so that slots are not all
    /// the first rule's), whose second has two limits, a cap and a budget,
    /// and with a perk limit and a counter.
    const COUNTED: &str = r#"program "T" {
  currency USD
  timezone "UTC"
}
points pts {
  value 0.01 USD
  cap 500 per member per day
}
perk lounge for all tiers {
  limit 2 per year
}
rule base {
  on purchase
  earn 1 pts per 1 USD of amount
}
rule bonus {
  on purchase where count of purchase in this week = 2
  earn 5 pts
  limit 1 per member per day
  limit 3 per member per month
  cap 10 pts per member per day
  budget 100 pts in total
  budget 50 pts per month
}
"#;

    #[test]
    fn a_counter_of_a_new_period_drops_that_counters_past_periods_only() {
        let program = crate::compile::compile(COUNTED).expect("compiles").0;
        let slots = CounterSlots::new(&program);
        let key = |counter| slots.key(counter);
        let bonus = RuleId(1);
        let mut member = Member::new("ann", 0, at(1), at(1).date_naive(), Vec::new(), 0, 0);
        *member.counter(key(Counter::Fired(bonus, 0, 10))) += Decimal::ONE;
        *member.counter(key(Counter::Fired(bonus, 1, 10))) += Decimal::ONE;
        *member.counter(key(Counter::Budget((bonus, 1, 10)))) += Decimal::TEN;
        *member.counter(key(Counter::Fired(bonus, 0, 10))) += Decimal::ONE;
        *member.counter(key(Counter::PerkUsed(0, 10))) += Decimal::ONE;
        assert_eq!(
            member.counted(key(Counter::Fired(bonus, 0, 10))),
            Decimal::TWO
        );
        *member.counter(key(Counter::Fired(bonus, 0, 11))) += Decimal::ONE;
        *member.counter(key(Counter::Budget((bonus, 1, 11)))) += Decimal::ONE;
        *member.counter(key(Counter::PerkUsed(0, 11))) += Decimal::ONE;
        let kept: Vec<CounterKey> = member.counters.iter().map(|(k, _)| *k).collect();
        let mut expected = [
            Counter::Fired(bonus, 0, 11),
            Counter::Fired(bonus, 1, 10),
            Counter::PerkUsed(0, 11),
            Counter::Budget((bonus, 1, 10)),
            Counter::Budget((bonus, 1, 11)),
        ]
        .map(key);
        expected.sort();
        assert_eq!(kept, expected);
        // Budgets are told apart from the rest, and read back.
        let budgets: Vec<_> = kept.iter().filter_map(|k| slots.budget(*k)).collect();
        assert_eq!(budgets, [(bonus, 1, 10), (bonus, 1, 11)]);
    }

    #[test]
    fn every_counter_of_a_program_has_a_slot_of_its_own() {
        let program = crate::compile::compile(COUNTED).expect("compiles").0;
        let slots = CounterSlots::new(&program);
        let (base, bonus) = (RuleId(0), RuleId(1));
        let counters = [
            Counter::Fired(bonus, 0, 1),
            Counter::Fired(bonus, 1, 1),
            Counter::Capped(bonus, 0, 1),
            Counter::PointsCapped(PointsId(0), 0, 1),
            Counter::PerkUsed(0, 1),
            Counter::Events(0, 1),
            Counter::Budget((bonus, 0, 1)),
            Counter::Budget((bonus, 1, 1)),
        ];
        let keys: std::collections::BTreeSet<_> =
            counters.iter().map(|c| slots.key(*c).slot).collect();
        assert_eq!(keys.len(), counters.len(), "{keys:?}");
        assert_eq!(slots.fired, [0, 0]);
        assert_eq!(slots.key(Counter::Fired(base, 0, 1)).slot, 0);
        for counter in &counters {
            let key = slots.key(*counter);
            let budget = match counter {
                Counter::Budget(budget) => Some(*budget),
                _ => None,
            };
            assert_eq!(slots.budget(key), budget, "{counter:?}");
            assert_eq!(key.first_period().is_none(), budget.is_some());
        }
    }

    #[test]
    fn rare_parts_are_allocated_only_when_one_is_kept() {
        let mut member = Member::new("ann", 0, at(1), at(1).date_naive(), Vec::new(), 1, 1);
        member.set_referrer(None);
        assert!(member.rare.is_none());
        assert_eq!((member.referrer(), member.origin(7)), (None, 7));
        assert!(member.carried().is_empty() && member.pending_downgrade().is_none());
        member.note_given_back(7, 9);
        assert_eq!((member.origin(9), member.origin(7)), (7, 7));
        member.set_referrer(Some(3));
        assert_eq!(member.referrer(), Some(3));
        member.set_referrer(None);
        assert_eq!((member.referrer(), member.origin(9)), (None, 7));
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, day, 0, 0, 0).unwrap()
    }

    fn bucket(id: u64, amount: i64, earned: u32, expires: Option<u32>) -> Bucket {
        Bucket::new(
            id,
            Decimal::from(amount),
            at(earned),
            at(earned),
            expires.map(at),
        )
    }

    #[test]
    fn spends_earliest_expiry_first_then_earliest_earned() {
        let mut wallet = Wallet::default();
        wallet.add(bucket(1, 10, 1, None));
        wallet.add(bucket(2, 10, 2, Some(20)));
        wallet.add(bucket(3, 10, 3, Some(10)));
        wallet.spend(Decimal::from(15), at(5));
        let left: Vec<(u64, Decimal)> = wallet.buckets().map(|b| (b.id, b.amount)).collect();
        assert_eq!(left, vec![(2, Decimal::from(5)), (1, Decimal::from(10))]);
    }

    #[test]
    fn debt_is_paid_before_new_points_count() {
        let mut wallet = Wallet::default();
        wallet.owe(Decimal::from(4));
        assert_eq!(wallet.add(bucket(1, 3, 1, None)), None);
        assert_eq!(wallet.balance(), Decimal::from(-1));
        wallet.add(bucket(2, 5, 2, None));
        assert_eq!(wallet.balance(), Decimal::from(4));
    }

    #[test]
    fn a_paid_debt_keeps_its_scale_and_no_debt_is_a_plain_zero() {
        let scaled = |bucket: Bucket, amount: &str| bucket.with_amount(amount.parse().unwrap());
        let mut never = Wallet::default();
        never.add(scaled(bucket(1, 0, 1, None), "2"));
        assert_eq!(never.balance().to_string(), "2");
        assert_eq!(never.debt().serialize(), Decimal::ZERO.serialize());
        let mut paid = Wallet::default();
        paid.owe("1.5".parse().unwrap());
        assert_eq!(paid.add(scaled(bucket(1, 0, 1, None), "1.5")), None);
        assert_eq!(paid.debt().to_string(), "0.0");
        paid.add(scaled(bucket(2, 0, 2, None), "2"));
        // As when the debt was a field of every wallet: `2 - 0.0`, which
        // rust_decimal gives as `2`.
        let before = Decimal::from(2) - "0.0".parse::<Decimal>().unwrap();
        assert_eq!(paid.balance().to_string(), before.to_string());
    }

    #[test]
    fn take_back_prefers_the_purchase_bucket_and_reports_the_shortfall() {
        let mut wallet = Wallet::default();
        wallet.add(bucket(1, 10, 1, None));
        wallet.add(bucket(2, 4, 2, None));
        assert_eq!(
            wallet.take_back(Decimal::from(6), Some(2)),
            Decimal::from(0)
        );
        assert_eq!(wallet.balance(), Decimal::from(8));
        assert_eq!(wallet.take_back(Decimal::from(10), None), Decimal::from(2));
    }

    proptest::proptest! {
        /// Splices, appends and removals give the bytes a vector's would.
        #[test]
        fn exact_bytes_change_as_a_vector_does(
            ops in proptest::collection::vec(
                (0..3u8, 0..64usize, 0..64usize, proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
                0..60,
            )
        ) {
            let mut exact = ExactBytes::default();
            let mut model: Vec<u8> = Vec::new();
            for (op, a, b, with) in ops {
                let (start, end) = (a.min(model.len()), b.min(model.len()));
                let at = start.min(end)..start.max(end);
                match op {
                    0 => {
                        exact.splice(at.clone(), &with);
                        model.splice(at, with);
                    }
                    1 => {
                        exact.extend(&with);
                        model.extend_from_slice(&with);
                    }
                    _ => {
                        exact.drain(at.clone());
                        model.drain(at);
                    }
                }
                proptest::prop_assert_eq!(&*exact, &model[..]);
            }
        }
    }
}
