//! The engine: applies a compiled program to events in time order, keeping
//! every member's state and writing the ledger. See `docs/semantics.md` for
//! the contract; in short: the clock advances before each event (expiries,
//! releases, period ends and grace ends due at or before it, in time order),
//! rules run in declaration order against the state before the event, and
//! every change is one ledger entry. Rules also run on events the engine
//! makes itself: members' days and upgrades (`made_events`).

mod adjust;
pub mod buckets;
mod checkpoints;

mod clock;
mod counters;
mod eval;
pub mod explain;
mod ids;
mod late;
pub mod ledger;
mod made_events;
pub mod member;
pub mod opening;
mod packed;
mod period_ends;
mod profile;
mod purchases;
mod referrals;
pub mod replay;
mod rules;
pub mod sharded;
mod slots;
mod spill;
mod tiers;
mod transfers;

use crate::compile::calendar;
use crate::compile::ir::{BuiltinEvent, ExpiryRule, PointsId, PointsType, Program, RuleId, Term};
use crate::events::{Body, Event, Redeem, Reject, RejectClass, Return, ReturnedItem};
use crate::syntax::ast::{Period, TimeUnit};
use buckets::{Bucket, BucketWork, WorkKey};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use explain::Explanation;
use ledger::{Entry, EntryKind, Totals};
use member::{Counter, CounterSlots, Member, Redemption, Wallet};
use purchases::Purchase;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
pub use tiers::{current_measures, Projected};

/// The hasher of the engine's lookups by id, which are hashed on every
/// event: foldhash, several times faster than the standard SipHash on short
/// ids, still seeded per process. Nothing iterates these tables, so output
/// never depends on their order.
type FastHash = foldhash::fast::RandomState;

/// A program-wide budget in one period: (rule, budget, period).
type BudgetKey = (RuleId, usize, i32);

/// Program-wide budget use per (rule, budget, period).
type Budgets = BTreeMap<BudgetKey, Decimal>;

/// Where a piece of clock work falls among all done at one advance of the
/// clock: its time, its member's rank and its place in scheduling order.
pub type ClockOrder = (DateTime<Utc>, u64, u64);

/// An event that passed the checks made before any clock work.
struct Admitted {
    /// Its member's slot (`None` for an enrolment).
    member: Option<usize>,
    /// The clock, if the event is older than it.
    late: Option<DateTime<Utc>>,
}

/// Something the clock must do at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: DateTime<Utc>,
    /// The member's rank (`Member::rank`): at one instant, members' clock
    /// work runs in the order the members joined, which does not depend on
    /// how other members' work was interleaved (so members applied in
    /// separate shards merge back into the same order).
    rank: u64,
    /// Insertion order: one member's ties at one instant are applied in the
    /// order they were scheduled.
    seq: u64,
    /// The member's slot: in four bytes (`limits::MOST_MEMBERS`).
    member: u32,
    /// The member's generation when it was scheduled: a late event's re-run
    /// starts a new one, and the dues of older generations are dropped
    /// when they come up (rather than searched for in the queue).
    generation: u32,
    what: DueKind,
}

// A million members queue a million or more of these: an inactivity check
// or bucket work each, besides what waits outside the queue (`period_ends`;
// docs/performance.md).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Due>() == 40);

impl Due {
    /// The member's slot.
    fn member(&self) -> usize {
        self.member as usize
    }
}

/// A slot as `Due` and the members' index keep it: within
/// `limits::MOST_MEMBERS`, which enrolment keeps to.
fn slot32(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

impl clock::Dated for Due {
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// What clock work does, in 4 bytes (a million members queue a few each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DueKind {
    /// The first clock work of the points type's buckets: a release or an
    /// expiry (`Wallet::bucket_work`).
    Buckets(DuePoints),
    /// Check whether the points type has had no activity for its term.
    Inactivity(DuePoints),
    PeriodEnd,
    GraceEnd,
    /// The member's birthday, enrolment anniversary or a month starts:
    /// the rules on it run.
    MemberDay(made_events::MemberDay),
    /// Points of the type expired at this instant: the rules on expiry run.
    Expired(DuePoints),
}

/// A points type as clock work names it: in two bytes, since a program
/// declares at most `limits::MOST_POINTS_TYPES` (the checker refuses more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DuePoints(u16);

impl DuePoints {
    fn of(p: PointsId) -> DuePoints {
        const _: () = assert!(crate::limits::MOST_POINTS_TYPES <= 1 << 16);
        // Within the checker's bound, as every compiled program is.
        DuePoints(u16::try_from(p.index()).unwrap_or(u16::MAX))
    }

    fn id(self) -> PointsId {
        PointsId(usize::from(self.0))
    }
}

/// Counts of events, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub applied: u64,
}

pub struct Engine<'p> {
    program: &'p Program,
    /// Members and pool accounts by slot, and the slot of each id.
    members: slots::Members,
    due: clock::ClockQueue<Due>,
    /// Period ends shared by many members, queued when the clock reaches
    /// their day (`period_ends`).
    period_ends: period_ends::PeriodEnds,
    seq: u64,
    clock: Option<DateTime<Utc>>,
    /// The ids of the events applied, for the duplicate check; `None` when
    /// the caller checks (a sharded replay's dealer).
    event_ids: Option<ids::RecentIds>,
    /// Program-wide budget use per (rule, budget, period).
    budgets: Budgets,
    /// Where members keep each of the program's counters.
    counter_slots: CounterSlots,
    /// Whether lifetime status counts each points type (`lifetime_counted`),
    /// worked out once rather than on every award.
    lifetime_counted: Box<[bool]>,
    ledger: Vec<Entry>,
    totals: Vec<Totals>,
    counts: Counts,
    explanation: Option<Explanation>,
    /// How much of `ledger` the explanation has seen.
    explained: usize,
    /// The event being applied: the source of every entry written meanwhile
    /// (entries the clock writes have none).
    current_event: Option<CompactString>,
    /// Pool accounts by their slot in `members`.
    pools: BTreeMap<usize, transfers::PoolAccount>,
    /// The pool account each (member, points type) is in.
    memberships: BTreeMap<(usize, PointsId), usize>,
    /// Per member slot, what re-running it for a late event needs; `None`
    /// when late events are rejected.
    history: Option<late::Histories>,
    /// How many bytes of packed events a member's history may hold before
    /// it is folded into a checkpoint, if set (`fold_histories_over`);
    /// else `checkpoints::Checkpoints::due` decides.
    fold_over: Option<usize>,
    /// Whether each member's wallets keep totals of their own: only where
    /// something reads them (96 bytes a wallet a sorted run never reads):
    /// a late event's re-run where rows are kept rather than made again,
    /// which takes the members it replaces out of the program's totals,
    /// `diff` and `simulate` (`keep_member_totals`).
    keeps_member_totals: bool,
    /// The most members and pools it holds: `limits::MOST_MEMBERS` (fewer
    /// in tests).
    most_members: u64,
    /// In a late event's re-run, the slots of the engine it is for that
    /// the re-run does not hold: they count toward `most_members` too.
    slots_elsewhere: u64,
    /// With `mark_clock_work`: for each piece of clock work done, its
    /// place in the clock order and where its rows start in `ledger`.
    marks: Option<Vec<(ClockOrder, usize)>>,
    /// How many events `apply` has been given: the next one's position,
    /// which a member it enrols takes as its rank.
    position: u64,
    /// Per member slot, how many times a late event re-ran it (empty until
    /// one did): see `Due::generation`.
    generations: Vec<u32>,
    /// Members' moves between tiers whose rules `on upgrade` and `on
    /// tier_change` are still to run (`made_events`).
    tier_moves: Vec<made_events::TierMove>,
    /// Members whose next tier period started, and when, whose rules `on
    /// tier_period_start` are still to run (`made_events`).
    period_starts: Vec<(usize, DateTime<Utc>)>,
    /// Purchase amounts less what was returned of them, by the month of the
    /// purchase (`calendar::period_key` of months): kept here rather than
    /// summed over the members' purchases, which a return window forgets.
    sales: BTreeMap<i64, Decimal>,
}

/// Why the engine refused an event: the class of the problem and the
/// sentence that says it.
#[derive(Debug)]
pub(crate) struct Refusal {
    class: RejectClass,
    reason: String,
}

impl Refusal {
    fn new(class: RejectClass, reason: impl Into<String>) -> Refusal {
        Refusal {
            class,
            reason: reason.into(),
        }
    }

    /// The same refusal, its sentence put into another.
    fn restated(self, sentence: impl FnOnce(&str) -> String) -> Refusal {
        Refusal {
            class: self.class,
            reason: sentence(&self.reason),
        }
    }
}

/// `event` rejected for `refusal`.
fn rejected(event: &Event, refusal: Refusal) -> Reject {
    Reject {
        origin: event.origin.clone(),
        id: Some(event.id.clone()),
        member: Some(event.member.clone()),
        class: refusal.class,
        reason: refusal.reason,
    }
}

/// The first checks of `event`, on its time, with the clock at `clock`
/// and late events re-run if `keeps_history`: a late event is rejected
/// when late events are not re-run, and an event too far beyond the clock
/// always. The clock if the event is late. One engine and the sharded
/// dealer, which keeps the clock for its shards, both check here.
fn admit_time(
    program: &Program,
    clock: Option<DateTime<Utc>>,
    keeps_history: bool,
    event: &Event,
) -> Result<Option<DateTime<Utc>>, Reject> {
    let late = clock.filter(|c| event.time < *c);
    if let (Some(clock), false) = (late, keeps_history) {
        return Err(out_of_order(event, clock));
    }
    match beyond_horizon(program, event, clock) {
        Some(reject) => Err(reject),
        None => Ok(late),
    }
}

/// `event` rejected for coming after the clock passed its time, when late
/// events are not re-run.
fn out_of_order(event: &Event, clock: DateTime<Utc>) -> Reject {
    rejected(
        event,
        Refusal::new(
            RejectClass::Time,
            format!(
                "event at {} is earlier than one already applied ({clock}): input must be in time order",
                event.time
            ),
        ),
    )
}

/// The most loyalty counts of anything summed over a run: 10^20. The
/// points issued program-wide (every balance, total, counter and measure of
/// points is at most that), a month's sales and a tier measure's sum of a
/// field stay within it: a record that would take one past it is rejected.
/// With it, and a point's value at most 10^6 (`check`), no sum or product
/// the engine and the finance reports make can overflow a decimal (about
/// 7.9 × 10^28).
pub const LARGEST: Decimal = Decimal::from_parts(0x6310_0000, 0x6BC7_5E2D, 0x5, false, 0);

/// Whether `total + added` stays within [`LARGEST`] either way.
fn within(total: Decimal, added: Decimal) -> bool {
    total
        .checked_add(added)
        .is_some_and(|sum| sum.abs() <= LARGEST)
}

/// The points type a record names: its id and its definition.
fn points_named<'p>(
    program: &'p Program,
    name: &str,
) -> Result<(PointsId, &'p PointsType), Refusal> {
    program
        .points_index
        .get(name)
        .and_then(|&p| Some((p, program.points.get(p.index())?)))
        .ok_or_else(|| {
            Refusal::new(
                RejectClass::UnknownName,
                format!("unknown points type `{name}`"),
            )
        })
}

/// The refusal of an event whose member has no slot: never, once admitted.
fn unknown_member() -> Refusal {
    Refusal::new(RejectClass::UnknownMember, "unknown member")
}

/// The refusal of a record that would take `what` past [`LARGEST`].
fn too_large(what: &str) -> Refusal {
    Refusal::new(
        RejectClass::TooLarge,
        format!("{what} would exceed {LARGEST}, the most loyalty counts"),
    )
}

/// How many years past the clock (or, before the first record, past the
/// program's `effective` day) a record may be dated: a record further
/// ahead is taken for a mistyped year, since applying it would move every
/// member's clock through the centuries between.
pub const HORIZON_YEARS: u32 = 100;

/// `event` rejected for a time beyond the horizon, if it is.
fn beyond_horizon(
    program: &Program,
    event: &Event,
    clock: Option<DateTime<Utc>>,
) -> Option<Reject> {
    let tz = program.timezone;
    let from = clock.or_else(|| program.effective.map(|day| calendar::start_of_day(tz, day)))?;
    // A hundred calendar years are at least 36,524 days: nearer than that
    // (every record of a real stream), no calendar is asked.
    if event.time < from + chrono::Duration::days(36_524) {
        return None;
    }
    let term = Term {
        count: HORIZON_YEARS,
        unit: TimeUnit::Year,
    };
    let horizon = calendar::after(tz, from, term);
    let what = if clock.is_some() {
        "the last record applied"
    } else {
        "the program's effective day"
    };
    (event.time > horizon).then(|| {
        let day = |t| calendar::local(tz, t).date();
        rejected(
            event,
            Refusal::new(
                RejectClass::Time,
                format!(
                    "event on {} is more than {HORIZON_YEARS} years after {what} ({}): is its year mistyped?",
                    day(event.time),
                    day(from)
                ),
            ),
        )
    })
}

/// `event` rejected for an id already applied.
fn duplicate(program: &Program, event: &Event) -> Reject {
    rejected(
        event,
        Refusal::new(
            RejectClass::Duplicate,
            format!(
                "duplicate event id `{}`: a record with this id was applied within {} of this one",
                event.id, program.duplicate_window
            ),
        ),
    )
}

/// For each points type of `program`, whether lifetime status counts it (a
/// `lifetime` line of the `tiers` block names it): then its wallets keep
/// what they ever earned (`Activity::lifetime_earned`).
fn lifetime_counted(program: &Program) -> Box<[bool]> {
    (0..program.points.len())
        .map(|p| {
            (program.tiers.iter()).any(|tiers| tiers.lifetime.iter().any(|l| l.points.index() == p))
        })
        .collect()
}

/// Whether `event` copies a kept record: one with its id, the later of the
/// two no more than the program's duplicate window after the earlier.
fn is_copy(program: &Program, ids: &ids::RecentIds, event: &Event) -> bool {
    ids.times(&event.id).any(|kept| {
        let (earlier, later) = if kept <= event.time {
            (kept, event.time)
        } else {
            (event.time, kept)
        };
        later <= calendar::after(program.timezone, earlier, program.duplicate_window)
    })
}

/// Before when a kept id can no longer be copied by a record still to
/// come, with the clock at `clock` and late events re-run if
/// `keeps_history` (then records may come as late as the program's bound;
/// `None` without a bound). Two days early, for the calendar's clamped
/// month ends and skipped hours: keeping an id longer changes nothing.
fn ids_cutoff(
    program: &Program,
    clock: Option<DateTime<Utc>>,
    keeps_history: bool,
) -> Option<DateTime<Utc>> {
    let clock = clock?;
    let earliest = if keeps_history {
        calendar::before(program.timezone, clock, program.late_limit?)
    } else {
        clock
    };
    calendar::before(program.timezone, earliest, program.duplicate_window)
        .checked_sub_signed(chrono::Duration::days(2))
}

/// Whether each budget's use in `used` is within its amount.
fn budgets_held(program: &Program, used: &Budgets) -> bool {
    used.iter()
        .all(|(key, used)| budget_amount(program, key).is_some_and(|amount| *used <= amount))
}

/// The amount of the budget a key of `Budgets` is of.
fn budget_amount(program: &Program, (rule, i, _): &BudgetKey) -> Option<Decimal> {
    let rule = program.rules.get(rule.index())?;
    Some(rule.budgets.get(*i)?.amount)
}

impl<'p> Engine<'p> {
    pub fn new(program: &'p Program) -> Self {
        Engine {
            program,
            members: slots::Members::default(),
            due: clock::ClockQueue::default(),
            period_ends: period_ends::PeriodEnds::default(),
            seq: 0,
            position: 0,
            marks: None,
            clock: None,
            event_ids: Some(ids::RecentIds::default()),
            budgets: BTreeMap::new(),
            counter_slots: CounterSlots::new(program),
            lifetime_counted: lifetime_counted(program),
            ledger: Vec::new(),
            totals: vec![Totals::default(); program.points.len()],
            counts: Counts::default(),
            explanation: None,
            explained: 0,
            current_event: None,
            pools: BTreeMap::new(),
            memberships: BTreeMap::new(),
            history: None,
            fold_over: None,
            keeps_member_totals: false,
            most_members: crate::limits::MOST_MEMBERS,
            slots_elsewhere: 0,
            generations: Vec::new(),
            tier_moves: Vec::new(),
            period_starts: Vec::new(),
            sales: BTreeMap::new(),
        }
    }

    /// Where a member keeps `counter` (`Member::counted` reads it).
    pub fn counter_key(&self, counter: Counter) -> member::CounterKey {
        self.counter_slots.key(counter)
    }

    /// Keeps each member's own totals per points type (`Wallet::totals`),
    /// for what reads them (`diff`'s and `simulate`'s points issued per
    /// member). A run that accepts late events and keeps its members' rows
    /// (`late::Histories::keep_rows`) keeps them anyway.
    pub fn keep_member_totals(&mut self) {
        self.keeps_member_totals = true;
    }

    /// Whether each member's own totals are kept.
    pub fn keeps_member_totals(&self) -> bool {
        self.keeps_member_totals
    }

    /// Whether every program-wide budget's use is within its amount: after
    /// a sorted replay in shards (each shard's use counted, `absorb`), that
    /// every budget held across all of them. If so, no award was cut, in
    /// any shard or in one engine applying every event in order: use only
    /// grows in a sorted replay (only a late re-run gives it back), so no
    /// use before the end took a budget past its amount; and a shard that
    /// cut an award had used the whole budget itself, so none held unless
    /// the others used none of it, and then one engine cuts the same.
    pub fn budgets_held(&self) -> bool {
        budgets_held(self.program, &self.budgets)
    }

    /// What each program-wide budget gave so far, by (rule, budget, period).
    fn budget_use(&self) -> &Budgets {
        &self.budgets
    }

    /// Records, for one member, why each rule did or did not fire.
    pub fn explain(&mut self, member: &str) {
        self.explanation = Some(Explanation::new(member));
    }

    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// Applies one event, or rejects it. A record rejected for what it is
    /// (a duplicate id, an unknown type or member, a second enrolment)
    /// changes nothing; one rejected against the member's state (a balance,
    /// a purchase, a perk) is judged at its time, so the clock has moved to it.
    pub fn apply(&mut self, event: &Event) -> Result<(), Reject> {
        let result = self.try_apply(event);
        self.position += 1;
        self.current_event = None;
        self.observe_entries();
        match &result {
            Ok(()) => {
                self.counts.applied += 1;
                self.remember_event(event);
            }
            Err(reject) => {
                // A rejected record moved no one to run rules on.
                self.tier_moves.clear();
                self.period_starts.clear();
                if let Some(explanation) = self.explanation_of(&event.member) {
                    explanation.rejected(event, &reject.reason);
                }
            }
        }
        result
    }

    /// Does, in pieces, the clock work the next `apply(event)` would do
    /// before the event itself (none if the event would be rejected or is
    /// late): stops once the ledger holds `rows` rows, and says whether
    /// more is due, for the caller to drain the ledger and call again. A
    /// month end's expiries for every member are then never all in memory
    /// at once.
    fn clock_work_before(&mut self, event: &Event, rows: usize) -> bool {
        // Mostly nothing is due: then the checks are left to `apply`.
        self.queue_period_ends(Some(event.time));
        if !self.due.any_through(event.time) {
            return false;
        }
        match self.admit(event) {
            Ok(Admitted { late: None, .. }) => self.advance_some(event.time, rows),
            _ => false,
        }
    }

    /// Whether `event` would be applied as it is, and how: the checks made
    /// before any clock work.
    fn admit(&self, event: &Event) -> Result<Admitted, Reject> {
        let reject = |class, reason: String| rejected(event, Refusal::new(class, reason));
        let late = admit_time(self.program, self.clock, self.keeps_history(), event)?;
        if self
            .event_ids
            .as_ref()
            .is_some_and(|ids| is_copy(self.program, ids, event))
        {
            return Err(duplicate(self.program, event));
        }
        let builtin = self
            .program
            .events
            .get(event.kind)
            .map(|t| t.builtin)
            .ok_or_else(|| reject(RejectClass::Invalid, "unknown event type".to_string()))?;
        let enroll = builtin == Some(BuiltinEvent::Enroll);
        let member = match (self.members.slot(&event.member), enroll) {
            (Some(m), _) if self.is_pool(m) && builtin != Some(BuiltinEvent::Transfer) => {
                return Err(reject(
                    RejectClass::NotAllowed,
                    format!(
                        "`{}` is a pool: its only events are transfers to its members",
                        event.member
                    ),
                ))
            }
            (Some(_), true) => {
                return Err(reject(
                    RejectClass::Duplicate,
                    format!("member `{}` is already enrolled", event.member),
                ))
            }
            (None, true) => {
                self.room_for_a_slot(&event.member)
                    .map_err(|refusal| rejected(event, refusal))?;
                None
            }
            (Some(m), false) => Some(m),
            (None, false) => {
                return Err(reject(
                    RejectClass::UnknownMember,
                    format!(
                        "unknown member `{}`: no enroll event came before this one",
                        event.member
                    ),
                ))
            }
        };
        Ok(Admitted { member, late })
    }

    fn try_apply(&mut self, event: &Event) -> Result<(), Reject> {
        let reject = |refusal| rejected(event, refusal);
        let Admitted { member, late } = self.admit(event)?;
        if let Some(clock) = late {
            self.apply_late(event, member, clock).map_err(reject)?;
            self.keep_id(event);
            return Ok(());
        }
        // Only now, so a record rejected for what it is leaves the clock
        // where the last applied event put it.
        self.advance_to(event.time);
        // Reviews paused while nothing could change resume with the
        // member's events (a transfer's recipient's too).
        for m in member.into_iter().chain(self.counterpart(event)) {
            self.wake_reviews(m, event.time);
        }
        self.explained = self.ledger.len();
        self.current_event = Some(event.id.as_str().into());
        let program = self.program;
        if let Some(explanation) = self.explanation_of(&event.member) {
            explanation.event(event, program);
        }
        let Some(m) = member else {
            // Admitted without a member: an enrolment.
            let referrer = self.referrer_named(event).map_err(reject)?;
            let rows = self.ledger.len();
            let m = self.enroll(event);
            if let Some(member) = self.members.get_mut(m) {
                member.set_referrer(referrer);
            }
            if let Err(reason) = self.earn(m, event, None) {
                self.unenroll(m, rows);
                return Err(reject(reason));
            }
            self.fire_tier_events();
            self.keep_id(event);
            return Ok(());
        };
        match &event.body {
            Body::Return(r) => self.return_purchase(m, r, event),
            Body::Redeem(r) => self.redeem(m, r, event),
            Body::UsePerk { perk } => self.use_perk(m, perk, event),
            Body::Transfer(t) => self.transfer(m, t, event),
            Body::JoinPool { pool } => self.join_pool(m, pool, event),
            Body::LeavePool { pool } => self.leave_pool(m, pool, event),
            Body::Adjust(a) => self.adjust(m, a, event),
            Body::CancelRedeem { redemption } => self.cancel_redeem(m, redemption, event),
            Body::Profile => self.update_profile(m, event),
            Body::SetTier(set) => self.match_status(m, set, event),
            // The readers of rows join item rows to their purchase; an
            // `item` record of JSON Lines or YAML has none to join.
            Body::Item(_) => Err(Refusal::new(
                RejectClass::Invalid,
                "an `item` record is a row of a CSV, Parquet or Arrow file right after its purchase; JSON Lines and YAML list a purchase's `items`".to_string(),
            )),
            Body::Purchase { .. } | Body::Plain | Body::Enroll { .. } => self.earn(m, event, None),
        }
        .map_err(reject)?;
        self.fire_tier_events();
        self.keep_id(event);
        Ok(())
    }

    /// Applies everything due at or before `time`, in time order.
    pub fn advance_to(&mut self, time: DateTime<Utc>) {
        self.advance_some(time, usize::MAX);
    }

    /// Applies what is due at or before `time`, in time order, until the
    /// ledger holds `rows` rows; says whether it stopped with more due (the
    /// clock is then at the last work done).
    fn advance_some(&mut self, time: DateTime<Utc>, rows: usize) -> bool {
        let mut worked = false;
        let mut more = false;
        while let Some(due) = self.pop_due_through(time) {
            worked = true;
            if !self.is_current(&due) {
                continue;
            }
            let bucket_work = match due.what {
                DueKind::Buckets(p) => {
                    match self.take_bucket_work(due.member(), p.id(), (due.at, due.seq)) {
                        Some(work) => Some(work),
                        None => continue,
                    }
                }
                _ => None,
            };
            // Purchases whose returns have closed are forgotten when the
            // member's clock work comes too, not only at its next purchase
            // or return (which may never come).
            if let Some(member) = self.members.get_mut(due.member()) {
                member.purchases.forget(due.at);
            }
            if let Some(marks) = self.marks.as_mut() {
                // Work that wrote nothing needs no mark (a sharded replay
                // leaves it out): the next takes its place. A month end's
                // reviews that change no tier were a mark each, 42 MB of a
                // million members' two-thread run at its peak.
                let at = self.ledger.len();
                if marks.last().is_some_and(|&(_, last)| last == at) {
                    marks.pop();
                }
                marks.push(((due.at, due.rank, due.seq), at));
            }
            self.clock = Some(due.at);
            match due.what {
                DueKind::Buckets(p) => {
                    if let Some(work) = bucket_work {
                        self.do_bucket_work(due.member(), p.id(), work, due.at);
                    }
                }
                DueKind::Inactivity(p) => {
                    self.expire_inactive(due.member(), p.id(), due.at, due.seq)
                }
                DueKind::PeriodEnd => self.period_end(due.member(), due.at),
                DueKind::GraceEnd => self.grace_end(due.member(), due.at),
                DueKind::MemberDay(day) => self.celebrate(due.member(), day, due.at),
                DueKind::Expired(p) => self.fire_expiry(due.member(), p.id(), due.at),
            }
            self.fire_tier_events();
            if self.ledger.len() >= rows {
                more = true;
                break;
            }
        }
        if !more && self.clock.is_none_or(|c| c < time) {
            self.clock = Some(time);
        }
        if worked {
            self.observe_entries();
        }
        more
    }

    /// Passes the ledger entries written since the last call to the
    /// explanation and, when late events are re-run, to the histories.
    fn observe_entries(&mut self) {
        let start = self.explained.min(self.ledger.len());
        self.explained = self.ledger.len();
        self.remember_entries(start);
        if let Some(explanation) = self.explanation.as_mut() {
            for entry in self.ledger.iter().skip(start) {
                if entry.member == explanation.member {
                    explanation.entry(entry);
                }
            }
        }
    }

    /// Whether clock work queued before is still wanted now that it comes
    /// up: the one place stale work is dropped, rather than searched for
    /// in the queue when it goes stale. Work queued for a member before a
    /// late event's re-run of it is of an older generation; a period end
    /// is stale once the period restarted (a qualification year restarts
    /// at each upgrade), and a grace end once the drop it waited for was
    /// settled or put at another date, and an inactivity check once its
    /// wallet waits for another (an activity whose term ends earlier queued
    /// its own; otherwise the one check moves itself to the latest
    /// activity's date when it comes up, `expire_inactive`), and a wallet's
    /// bucket work once an earlier piece queued an item of its own
    /// (`Wallet::bucket_work`).
    fn is_current(&self, due: &Due) -> bool {
        if due.generation != self.generation(due.member()) {
            return false;
        }
        let Some(member) = self.members.get(due.member()) else {
            return false;
        };
        match due.what {
            DueKind::PeriodEnd => {
                tiers::period_end_of(self.program, member) == Some(due.at)
                    && member.period_end_seq == due.seq
            }
            DueKind::GraceEnd => member
                .pending_downgrade()
                .is_some_and(|(_, until)| until == due.at),
            DueKind::Inactivity(p) => member
                .wallets
                .get(p.id().index())
                .and_then(Wallet::activity)
                .is_some_and(|activity| activity.inactivity_due == Some(due.at)),
            DueKind::Buckets(p) => member
                .wallets
                .get(p.id().index())
                .is_some_and(|wallet| wallet.is_queued(due.seq)),
            DueKind::MemberDay(_) | DueKind::Expired(_) => true,
        }
    }

    /// Plans the clock work of bucket `id` of member `m`'s points type `p`
    /// (its release if `releases`, its expiry if it expires) in the
    /// scheduling order it takes now, and queues it if it comes before the
    /// wallet's queued bucket work (`Wallet::planned`).
    fn schedule_bucket(&mut self, m: usize, p: PointsId, id: u64, releases: bool) {
        let seq = self.seq + 1;
        let Some(wallet) = self.wallet(m, p) else {
            return;
        };
        let (taken, first) = wallet.plan(id, seq, releases);
        let first = first.and_then(|first| wallet.planned(first));
        self.seq += taken;
        if let Some((at, seq)) = first {
            self.queue(at, m, seq, DueKind::Buckets(DuePoints::of(p)));
        }
    }

    /// Queues the first clock work of member `m`'s buckets of points type
    /// `p`, if they have any (and it is not queued already).
    fn queue_bucket_work(&mut self, m: usize, p: PointsId) {
        let Some(wallet) = self.wallet(m, p) else {
            return;
        };
        let Some(((at, seq), _)) = wallet.next_work() else {
            return;
        };
        if wallet.first_work((at, seq)) {
            self.queue(at, m, seq, DueKind::Buckets(DuePoints::of(p)));
        }
    }

    /// The bucket work keyed `key` of member `m`'s points type `p`, come
    /// up, if it is still to do; if it went, the wallet's next is queued.
    fn take_bucket_work(&mut self, m: usize, p: PointsId, key: WorkKey) -> Option<BucketWork> {
        let work = self.wallet(m, p)?.take_work(key);
        if work.is_none() {
            self.queue_bucket_work(m, p);
        }
        work
    }

    /// Does a piece of bucket work at `at`, then queues the wallet's next.
    fn do_bucket_work(&mut self, m: usize, p: PointsId, work: BucketWork, at: DateTime<Utc>) {
        match work {
            BucketWork::Release(bucket) => self.release(m, p, bucket, at),
            BucketWork::Expire(bucket) => self.expire_bucket(m, p, bucket, at),
        }
        self.queue_bucket_work(m, p);
    }

    fn schedule(&mut self, at: DateTime<Utc>, member: usize, what: DueKind) {
        self.seq += 1;
        self.queue(at, member, self.seq, what);
    }

    /// The first clock work due at or before `time`, taken from the queue,
    /// with the period ends of the days up to `time`'s queued first.
    fn pop_due_through(&mut self, time: DateTime<Utc>) -> Option<Due> {
        self.queue_period_ends(Some(time));
        self.due.pop_through(time)
    }

    /// Queues the period ends waiting for a day up to `time`'s (every one
    /// with `None`) that are still their member's current one. A member's
    /// period end is current while its scheduling order is the member's
    /// (`is_current`), which changes only to a new order (a new period, a
    /// late event's re-run, a slot another member took), so one that is
    /// not would be dropped when it came up, and is dropped now.
    fn queue_period_ends(&mut self, time: Option<DateTime<Utc>>) {
        if time.is_some_and(|time| !self.period_ends.any_by(time)) {
            return;
        }
        for (at, m, seq) in self.period_ends.take_by(time) {
            if self
                .members
                .get(m)
                .is_some_and(|member| member.period_end_seq == seq)
            {
                self.queue(at, m, seq, DueKind::PeriodEnd);
            }
        }
    }

    /// Every piece of clock work still to do, the period ends waiting for
    /// their day among it, in no particular order, taken out of this engine:
    /// what another takes over (`take_dues`) with its members.
    fn take_all_dues(&mut self) -> Vec<Due> {
        self.queue_period_ends(None);
        std::mem::take(&mut self.due).into_items().collect()
    }

    /// Queues clock work in scheduling order `seq`, taken before.
    fn queue(&mut self, at: DateTime<Utc>, member: usize, seq: u64, what: DueKind) {
        let generation = self.generation(member);
        let rank = self.members.get(member).map_or(0, |m| m.rank);
        self.due.push(Due {
            at,
            rank,
            seq,
            member: slot32(member),
            generation,
            what,
        });
    }

    /// The clock work queued (stale items among it: `is_current` tells
    /// while the members are here), and the period ends waiting for their
    /// day apart, taken out of this engine: what another takes over with
    /// its members (`absorb`, `split`). Queued together, a million members'
    /// period ends took 40 bytes each rather than 12, at a sharded run's
    /// peak.
    fn take_clock_work(&mut self) -> (clock::ClockQueue<Due>, period_ends::PeriodEnds) {
        // Only current items go: no wallet's item is put aside any more.
        for wallet in self.members.iter_mut().flat_map(|m| m.wallets.iter_mut()) {
            wallet.drop_put_back();
        }
        (
            std::mem::take(&mut self.due),
            std::mem::take(&mut self.period_ends),
        )
    }

    /// Queues another engine's clock work here, for members now in slots
    /// `slots[its slot]`, whose state it left is here already: its
    /// scheduling order (`seqs` taken) kept, after this engine's own.
    fn take_dues(&mut self, dues: impl Iterator<Item = Due>, seqs: u64, slots: &[usize]) {
        let offset = self.seq;
        self.offset_seqs(slots.iter().copied(), offset);
        for due in dues {
            let slot = slots.get(due.member()).copied().unwrap_or(due.member());
            self.queue(due.at, slot, offset + due.seq, due.what);
        }
        self.seq += seqs;
    }

    /// Moves the scheduling orders members in `slots` keep of their queued
    /// work `offset` on, as their work's are when it joins this queue.
    fn offset_seqs(&mut self, slots: impl Iterator<Item = usize>, offset: u64) {
        // An offset of none (the first shard gathered) rewrites no bucket
        // list.
        if offset == 0 {
            return;
        }
        for slot in slots {
            if let Some(member) = self.members.get_mut(slot) {
                member.period_end_seq = member.period_end_seq.saturating_add(offset);
                for wallet in &mut member.wallets {
                    wallet.offset_seqs(offset);
                }
            }
        }
    }

    /// How many ledger rows wait to be drained.
    fn ledger_len(&self) -> usize {
        self.ledger.len()
    }

    /// Keeps, from now on, where each piece of clock work's rows start (see
    /// `drain_marks_into`): a sharded replay merges shards' rows with it.
    fn mark_clock_work(&mut self) {
        self.marks.get_or_insert_with(Vec::new);
    }

    /// Moves the marks made since the last call into `marks` (cleared
    /// first): each piece of clock work's order and the index, in the rows
    /// written since the ledger was last drained, where its rows start.
    fn drain_marks_into(&mut self, marks: &mut Vec<(ClockOrder, usize)>) {
        marks.clear();
        if let Some(own) = self.marks.as_mut() {
            std::mem::swap(own, marks);
        }
    }

    /// Leaves the duplicate-id check to the caller: no ids are kept.
    fn leave_ids_to_caller(&mut self) {
        self.event_ids = None;
    }

    /// Checks ids again from here on, starting from `ids`: those of the
    /// events a caller that checked them (`leave_ids_to_caller`) applied.
    fn check_ids_from(&mut self, ids: ids::RecentIds) {
        self.event_ids = Some(ids);
    }

    fn keep_id(&mut self, event: &Event) {
        let (program, clock, keeps_history) = (self.program, self.clock, self.keeps_history());
        if let Some(ids) = self.event_ids.as_mut() {
            ids.insert(&event.id, event.time, || {
                ids_cutoff(program, clock, keeps_history)
            });
        }
    }

    /// Sets the position the next event has among all events given to any
    /// engine of a sharded replay (a member it enrols takes it as its rank).
    fn set_position(&mut self, position: u64) {
        self.position = position;
    }

    /// Takes over the members, clock work, totals, counts and sales of
    /// `shards`, engines that applied other members' events of the same
    /// program, so that one engine holds a sharded replay's end state for
    /// the reports, or, in a sorted replay, applies the rest of its events
    /// (`sharded::replay_sharded`'s handover). Event ids (the dealer
    /// checked them: `check_ids_from`) and late-event histories are not
    /// taken over.
    fn absorb(&mut self, shards: Vec<Engine<'p>>) {
        // Room for every shard's ids at once: grown shard by shard, the
        // index was copied, and held twice, at the run's peak.
        let members = shards.iter().map(|shard| shard.members.len()).sum();
        self.members.reserve(members);
        for shard in shards {
            self.absorb_one(shard);
        }
    }

    fn absorb_one(&mut self, mut shard: Engine<'p>) {
        let first = self.members.len();
        // After this engine's own scheduling orders, as `take_dues` puts
        // another's (not through it: the shard's items are filtered while
        // its members are still there, and keep the ranks they carry).
        let offset = self.seq;
        let (queued, period_ends) = shard.take_clock_work();
        // The shard's current items join the queue (and no other) one by
        // one, while its members are there to say which are current:
        // gathered into one list first, a million members' items were held
        // at 40 bytes each, at the run's peak.
        for due in queued.into_items().filter(|due| shard.is_current(due)) {
            let member = first + due.member();
            self.due.push(Due {
                member: slot32(member),
                seq: offset + due.seq,
                generation: self.generation(member),
                ..due
            });
        }
        for (at, m, seq) in period_ends.into_all() {
            self.period_ends.add(at, slot32(first + m), offset + seq);
        }
        self.members.append(shard.members);
        self.offset_seqs(first..self.members.len(), offset);
        self.seq += shard.seq;
        // A referrer is in its referred member's shard (`sharded`): its slot
        // moved as theirs did.
        for slot in first..self.members.len() {
            if let Some(member) = self.members.get_mut(slot) {
                let referrer = member.referrer().map(|r| r + first);
                member.set_referrer(referrer);
            }
        }
        for (total, more) in self.totals.iter_mut().zip(&shard.totals) {
            total.add(more);
        }
        for (month, sales) in shard.sales {
            *self.sales.entry(month).or_default() += sales;
        }
        for (key, used) in shard.budgets {
            *self.budgets.entry(key).or_default() += used;
        }
        self.counts.applied += shard.counts.applied;
        self.clock = self.clock.max(shard.clock);
    }

    /// Deals this engine's members out into `shards`, new engines of the
    /// same program, as `absorb` would gather them back: each member to the
    /// shard `shard_of` gives it (given its referrer's shard, if it has a
    /// referrer), with its clock work, its scheduling orders and its
    /// referrer's slot there (a referrer is in an earlier slot: it enrolled
    /// first). The program's totals, sales, count of events and the use of
    /// each budget not in `spent` go to the first shard; every shard holds
    /// each budget in `spent` as spent (at its amount), so that each cuts
    /// every award from it whole, as this engine would. Returns the ids
    /// this engine checked, taken out of it.
    fn split(
        &mut self,
        shards: &mut [Engine<'p>],
        shard_of: impl Fn(&Member, Option<usize>) -> usize,
        spent: &[BudgetKey],
    ) -> Option<ids::RecentIds> {
        let (queued, period_ends) = self.take_clock_work();
        let current: Vec<Due> = queued
            .into_items()
            .filter(|due| self.is_current(due))
            .collect();
        let last = shards.len().saturating_sub(1);
        // Each slot's shard and slot there.
        let mut moved: Vec<(usize, usize)> = Vec::with_capacity(self.members.len());
        for mut member in std::mem::take(&mut self.members) {
            let referrer = member.referrer().and_then(|r| moved.get(r).copied());
            let shard = shard_of(&member, referrer.map(|(shard, _)| shard)).min(last);
            member.set_referrer(referrer.map(|(_, slot)| slot));
            let slot = shards.get_mut(shard).map_or(0, |s| s.members.push(member));
            moved.push((shard, slot));
        }
        for due in current {
            let Some(&(shard, slot)) = moved.get(due.member()) else {
                continue;
            };
            if let Some(engine) = shards.get_mut(shard) {
                engine.queue(due.at, slot, due.seq, due.what);
            }
        }
        for (at, m, seq) in period_ends.into_all() {
            let Some(&(shard, slot)) = moved.get(m) else {
                continue;
            };
            if let Some(engine) = shards.get_mut(shard) {
                engine.period_ends.add(at, slot32(slot), seq);
            }
        }
        let mut budgets = std::mem::take(&mut self.budgets);
        for engine in shards.iter_mut() {
            engine.seq = self.seq;
            engine.clock = self.clock;
            engine.hold_spent(spent);
        }
        budgets.retain(|key, _| !spent.contains(key));
        if let Some(first) = shards.first_mut() {
            first.totals = std::mem::take(&mut self.totals);
            first.sales = std::mem::take(&mut self.sales);
            first.counts = self.counts;
            first.budgets.extend(budgets);
        }
        self.totals = vec![Totals::default(); self.program.points.len()];
        self.counts = Counts::default();
        self.event_ids.take()
    }

    /// Holds each budget in `spent` as spent, at its amount: one engine's
    /// use of a budget spent before its members were dealt into shards,
    /// each of which holds it so (`split`), so that their sum is not it.
    fn hold_spent(&mut self, spent: &[BudgetKey]) {
        for key in spent {
            if let Some(amount) = budget_amount(self.program, key) {
                self.budgets.insert(*key, amount);
            }
        }
    }

    /// Ledger entries written since the last call, in the order applied.
    pub fn drain_ledger(&mut self) -> Vec<Entry> {
        self.explained = 0;
        std::mem::take(&mut self.ledger)
    }

    /// Moves the entries written since the last call into `rows` (cleared
    /// first); the engine writes on into `rows`' old buffer, so neither
    /// buffer is allocated again (month ends write a row per member at once).
    fn drain_ledger_into(&mut self, rows: &mut Vec<Entry>) {
        self.explained = 0;
        rows.clear();
        std::mem::swap(&mut self.ledger, rows);
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Totals per points type.
    pub fn totals(&self) -> &[Totals] {
        &self.totals
    }

    /// Purchase amounts less what was returned of them, by the month of the
    /// purchase in the program's zone (the number `calendar::period_key`
    /// gives months), in month order.
    pub fn sales_by_month(&self) -> &BTreeMap<i64, Decimal> {
        &self.sales
    }

    /// Adds `amount` (negative for a return) to the sales of the month
    /// `purchased` falls in.
    fn count_sale(&mut self, purchased: DateTime<Utc>, amount: Decimal) {
        let date = calendar::local(self.program.timezone, purchased).date();
        *self
            .sales
            .entry(calendar::period_key(Period::Month, date))
            .or_default() += amount;
    }

    /// Members in the order of their ids.
    pub fn members(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.iter().collect();
        // Ids are unique, so an unstable sort gives the one order.
        members.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        members
    }

    /// One member's state by id (a simulation asks for balances and tiers
    /// after every event, so `members()`'s sorted copy would be too slow).
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(self.members.slot(id)?)
    }

    /// How many items of clock work (a wallet's first release or expiry,
    /// inactivity checks, tier reviews, grace ends, member days; stale ones
    /// included) wait in the queue: what a clock move may have to do.
    pub fn queued_clock_work(&self) -> usize {
        self.due.iter().count() + self.period_ends.len()
    }

    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.clock
    }

    /// The explanation being made, if it is of `member`.
    fn explanation_of(&mut self, member: &str) -> Option<&mut Explanation> {
        self.explanation.as_mut().filter(|e| e.member == member)
    }

    pub fn take_explanation(&mut self) -> Option<Explanation> {
        self.explanation.take()
    }

    // ------------------------------------------------------------ ledger

    fn record(
        &mut self,
        m: usize,
        kind: EntryKind,
        time: DateTime<Utc>,
        points: Option<PointsId>,
        amount: Decimal,
    ) -> &mut Entry {
        let (member, balance) = match self.members.get(m) {
            Some(member) => (
                member.id.clone(),
                points
                    .and_then(|p| member.wallet(p))
                    .map_or(Decimal::ZERO, Wallet::balance),
            ),
            None => (CompactString::default(), Decimal::ZERO),
        };
        // A zero is written `0`, never `-0`.
        let entry = Entry {
            kind,
            member,
            time,
            points,
            amount: if amount.is_zero() {
                Decimal::ZERO
            } else {
                amount
            },
            balance: if balance.is_zero() {
                Decimal::ZERO
            } else {
                balance
            },
            rule: None,
            event: self.current_event.clone(),
            note: String::new(),
            cost: None,
            earned: None,
            tier: None,
            undoes: false,
        };
        self.ledger.push(entry);
        let last = self.ledger.len() - 1;
        // The entry was pushed just above.
        #[allow(clippy::indexing_slicing)]
        &mut self.ledger[last]
    }

    fn wallet(&mut self, m: usize, p: PointsId) -> Option<&mut Wallet> {
        self.members
            .get_mut(m)
            .and_then(|member| member.wallets.get_mut(p.index()))
    }

    /// Adds to both the member's and the program's totals.
    fn count(&mut self, m: usize, p: PointsId, update: impl Fn(&mut Totals)) {
        if self.keeps_member_totals {
            if let Some(wallet) = self.wallet(m, p) {
                update(wallet.totals_mut());
            }
        }
        if let Some(totals) = self.totals.get_mut(p.index()) {
            update(totals);
        }
    }

    // ------------------------------------------------------------ events

    fn enroll(&mut self, event: &Event) -> usize {
        let m = self.add_slot(&event.member, event.time, event.fields.clone());
        self.joined(m, event);
        for day in made_events::MemberDay::ALL {
            self.schedule_member_day(m, day, event.time);
        }
        m
    }

    /// Takes back the enrolment of member `m`, the last added, whose
    /// earning failed: its slot, the rows written since the ledger held
    /// `rows`, and (by a new generation) the clock work it queued.
    fn unenroll(&mut self, m: usize, rows: usize) {
        self.members.pop();
        self.ledger.truncate(rows);
        if self.generations.len() <= m {
            self.generations.resize(m + 1, 0);
        }
        if let Some(generation) = self.generations.get_mut(m) {
            *generation += 1;
        }
    }

    /// Adds the points a rule awarded as a bucket, with its expiry and
    /// pending release scheduled. Returns the bucket's id.
    fn award(
        &mut self,
        m: usize,
        p: PointsId,
        amount: Decimal,
        rule: RuleId,
        event: &Event,
    ) -> Option<u64> {
        let program = self.program;
        let points = program.points.get(p.index())?;
        let tz = program.timezone;
        let now = event.time;
        let available_at = points
            .pending
            .map_or(now, |term| calendar::after(tz, now, term));
        let expires_at = calendar::expiry(tz, program.award_expiry(rule, points), now);
        let bucket = self.new_bucket(m, amount, now, available_at, expires_at);
        let kept = self.wallet(m, p)?.add(bucket);
        self.count(m, p, |t| t.issued += amount);
        let counted = self.lifetime_counted.get(p.index()) == Some(&true);
        if let Some(wallet) = self.wallet(m, p).filter(|_| counted) {
            wallet.activity_mut().lifetime_earned += amount;
        }
        self.touch(m, p, now);
        let kind = if available_at > now {
            EntryKind::Pend
        } else {
            EntryKind::Earn
        };
        let entry = self.record(m, kind, now, Some(p), amount);
        entry.rule = Some(rule);
        if let Some(bucket) = kept {
            self.schedule_bucket(m, p, bucket, available_at > now);
        }
        kept
    }

    /// A bucket of member `m`'s with the member's next id.
    fn new_bucket(
        &mut self,
        m: usize,
        amount: Decimal,
        earned_at: DateTime<Utc>,
        available_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Bucket {
        let id = self.members.get_mut(m).map_or(0, Member::next_bucket_id);
        Bucket::new(id, amount, earned_at, available_at, expires_at)
    }

    /// Activity on a points type: restarts its inactivity clock (a type
    /// that does not expire by inactivity keeps none).
    fn touch(&mut self, m: usize, p: PointsId, now: DateTime<Utc>) {
        let program = self.program;
        if let Some(ExpiryRule::Inactivity(term)) = program.points.get(p.index()).map(|t| t.expiry)
        {
            // Activity at the instant of the last (an event's second award,
            // a second event of that instant) keeps the place the first took
            // in the order of clock work.
            let mut placed = false;
            if let Some(wallet) = self.wallet(m, p) {
                let activity = wallet.activity_mut();
                placed = activity.inactivity_check.is_some() && activity.last == Some(now);
                activity.last = Some(now);
            }
            if placed {
                return;
            }
            self.seq += 1;
            let seq = self.seq;
            let at = calendar::after(program.timezone, now, term);
            let Some(wallet) = self.wallet(m, p) else {
                return;
            };
            let activity = wallet.activity_mut();
            activity.inactivity_check = NonZeroU64::new(seq);
            // The waiting check is put off to this activity's term when it
            // comes due; a term ending before it needs a check of its own.
            if activity.inactivity_due.is_none_or(|waiting| at < waiting) {
                activity.inactivity_due = Some(at);
                self.queue(at, m, seq, DueKind::Inactivity(DuePoints::of(p)));
            }
        }
    }

    fn return_purchase(&mut self, m: usize, r: &Return, event: &Event) -> Result<(), Refusal> {
        let (of, amount) = (r.of.as_str(), r.amount);
        let purchase = self.open_purchase(m, of, event.time, "return of")?;
        let left = purchase.amount - purchase.returned;
        if amount > left {
            return Err(Refusal::new(
                RejectClass::Balance,
                format!(
                    "return of {amount} is more than the {left} left to return of purchase `{of}` ({} bought, {} returned before)",
                    purchase.amount, purchase.returned
                ),
            ));
        }
        // The items it names: each one of the purchase's, and no more of
        // it than is left.
        for back in &r.items {
            let Some(item) = purchase.items.iter().find(|i| *i.sku == *back.sku) else {
                return Err(Refusal::new(
                    RejectClass::UnknownName,
                    format!("purchase `{of}` has no item `{}`", back.sku),
                ));
            };
            let left = item.quantity - item.returned;
            if back.quantity > left {
                return Err(Refusal::new(
                    RejectClass::Balance,
                    format!(
                        "return of {} {} is more than the {left} left to return of purchase `{of}` ({} bought, {} returned before)",
                        back.quantity, back.sku, item.quantity, item.returned
                    ),
                ));
            }
        }
        let of = of.to_string();
        self.reverse(m, &of, amount, &r.items, event);
        Ok(())
    }

    /// The purchase `of` of member `m` that a return or an adjust (`what`)
    /// at `now` may refer to: made by the member and, if the program has a
    /// return window, not closed by it.
    fn open_purchase(
        &mut self,
        m: usize,
        of: &str,
        now: DateTime<Utc>,
        what: &str,
    ) -> Result<Purchase, Refusal> {
        let program = self.program;
        let member = self.members.get_mut(m).ok_or_else(unknown_member)?;
        member.purchases.forget(now);
        let unknown = match program.return_window {
            Some(window) => format!(
                "{what} unknown purchase `{of}` for member `{}`, or one made too long ago: \
                 the program accepts returns up to {window} after the purchase",
                member.id,
            ),
            None => format!("{what} unknown purchase `{of}` for member `{}`", member.id),
        };
        member
            .purchases
            .get(&member.id, of)
            .ok_or(Refusal::new(RejectClass::UnknownName, unknown))
    }

    fn redeem(&mut self, m: usize, redeem: &Redeem, event: &Event) -> Result<(), Refusal> {
        let program = self.program;
        let (p, amount, cost, note) = match redeem {
            Redeem::Reward(name) => {
                let reward = program
                    .reward_index
                    .get(name)
                    .and_then(|r| program.rewards.get(*r))
                    .ok_or_else(|| {
                        Refusal::new(RejectClass::UnknownName, format!("unknown reward `{name}`"))
                    })?;
                // The member's tier may have a price of its own.
                let tier = self.members.get(m).map(Member::tier);
                let price = reward
                    .tier_prices
                    .iter()
                    .find(|(rank, _)| Some(*rank) == tier)
                    .map_or(reward.price, |(_, price)| *price);
                (reward.points, price, reward.cost, format!("reward {name}"))
            }
            Redeem::Points {
                points: amount,
                points_type: points,
            } => {
                let (p, named) = points_named(program, points)?;
                let cost = match named.value {
                    Some(v) => Some(
                        v.checked_mul(*amount)
                            .ok_or_else(|| too_large("the redemption's cost"))?,
                    ),
                    None => None,
                };
                (p, *amount, cost, String::new())
            }
        };
        let points = program
            .points
            .get(p.index())
            .ok_or_else(|| Refusal::new(RejectClass::UnknownName, "unknown points type"))?;
        if points.qualifying {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "`{}` are qualifying points and cannot be redeemed",
                    points.name
                ),
            ));
        }
        if amount.round_dp(points.precision) != amount {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "a redeem takes {} with at most {} decimals, not {amount}",
                    points.name, points.precision
                ),
            ));
        }
        if let Some(least) = points.redeem_min.filter(|least| amount < *least) {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "redeem of {amount} {} is below the least of {least} per redemption",
                    points.name
                ),
            ));
        }
        if let Some(most) = points.redeem_max.filter(|most| amount > *most) {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "redeem of {amount} {} is above the most of {most} per redemption",
                    points.name
                ),
            ));
        }
        let now = event.time;
        let wallet = self.wallet(m, p).ok_or_else(unknown_member)?;
        let available = wallet.available(now);
        if amount > available {
            let pending = wallet.pending(now);
            let waiting = if pending.is_zero() {
                String::new()
            } else {
                format!(" ({pending} more are pending)")
            };
            return Err(Refusal::new(
                RejectClass::Balance,
                format!(
                    "redeem of {amount} {} is beyond the available balance of {available}{waiting}",
                    points.name
                ),
            ));
        }
        let parts = wallet.withdraw(amount, now);
        self.count(m, p, |t| t.spent += amount);
        self.touch(m, p, now);
        let entry = self.record(m, EntryKind::Spend, now, Some(p), -amount);
        entry.note = note.clone();
        entry.cost = cost;
        if let Some(member) = self.members.get_mut(m) {
            member.rare_mut().redemptions.insert(
                event.id.clone(),
                Redemption {
                    points: p,
                    parts,
                    cost,
                    note,
                    cancelled: false,
                },
            );
        }
        Ok(())
    }

    fn use_perk(&mut self, m: usize, name: &str, event: &Event) -> Result<(), Refusal> {
        let program = self.program;
        let (id, perk) = program
            .perk_index
            .get(name)
            .and_then(|id| Some((*id, program.perks.get(*id)?)))
            .ok_or_else(|| {
                Refusal::new(RejectClass::UnknownName, format!("unknown perk `{name}`"))
            })?;
        let member = self.members.get_mut(m).ok_or_else(unknown_member)?;
        if !perk.tiers.contains(&member.tier()) {
            let tier = program
                .tiers
                .as_ref()
                .and_then(|t| t.tiers.get(member.tier()))
                .map_or("no tier", |t| t.name.as_str());
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("perk `{name}` is not granted to tier `{tier}`"),
            ));
        }
        if let Some(limit) = perk.limit {
            let date = calendar::local(program.timezone, event.time).date();
            let counter = self.counter_slots.key(Counter::PerkUsed(
                id,
                calendar::period_number(limit.period, date),
            ));
            let used = member.counter(counter);
            if *used >= Decimal::from(limit.count) {
                return Err(Refusal::new(
                    RejectClass::NotAllowed,
                    format!(
                        "perk `{name}` is used up: its limit is {} per {}",
                        limit.count,
                        limit.period.name()
                    ),
                ));
            }
            *used += Decimal::ONE;
        }
        let entry = self.record(m, EntryKind::PerkUse, event.time, None, Decimal::ZERO);
        entry.note = name.to_owned();
        entry.cost = perk.cost;
        Ok(())
    }

    /// Takes back the share `amount` of purchase `of` from what it earned.
    fn reverse(
        &mut self,
        m: usize,
        of: &str,
        amount: Decimal,
        items: &[ReturnedItem],
        event: &Event,
    ) {
        let program = self.program;
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        let changed = member.purchases.change(&member.id, of, |purchase| {
            purchase.returned += amount;
            // The share of each of its items returned now, by its place.
            let item_shares: Vec<Decimal> = purchase
                .items
                .iter_mut()
                .map(|item| {
                    let back: Decimal = items
                        .iter()
                        .filter(|b| *b.sku == *item.sku)
                        .map(|b| b.quantity)
                        .sum();
                    item.returned += back;
                    back.checked_div(item.quantity).unwrap_or_default()
                })
                .collect();
            let money_share = amount.checked_div(purchase.amount).unwrap_or_default();
            // Until a return names items, every award goes back by the
            // money share alone, multiplied before it is divided (the
            // items' shares still count the money returned, for a later
            // return that names some).
            let named = purchase.items.iter().any(|item| !item.returned.is_zero());
            let mut reversals = Vec::new();
            for award in &mut purchase.awards {
                let precision = program
                    .points
                    .get(award.points.index())
                    .map_or(0, |t| t.precision);
                // Points of the award that expired are gone already: the return
                // takes back its share of the rest only.
                let live = award.awarded - award.expired;
                // Cumulative rounding: partial returns add up to exactly the award.
                // Multiply before dividing: 120 × 40 / 120 is exactly 40.
                // (Past the largest decimal, the returned fraction first: within
                // a rounding of the 28th digit, which the points' precision
                // rounds away.)
                let by_items = award.shares.as_deref_mut().map(|shares| {
                    shares.take_back(live, &item_shares, money_share, !items.is_empty())
                });
                let share = match by_items.filter(|_| named) {
                    Some(share) => share,
                    None => live
                        .checked_mul(purchase.returned)
                        .and_then(|product| product.checked_div(purchase.amount))
                        .or_else(|| {
                            let fraction = purchase.returned.checked_div(purchase.amount)?;
                            live.checked_mul(fraction)
                        })
                        .unwrap_or(live),
                };
                let due = rules::round(share, precision, award.rounding).min(live);
                let this_time = (due - award.reversed).max(Decimal::ZERO);
                award.reversed = award.reversed.max(due);
                if !this_time.is_zero() {
                    reversals.push((award.points, award.rule, this_time, award.bucket));
                }
            }
            (purchase.clone(), reversals)
        });
        let Some((purchase, reversals)) = changed else {
            return;
        };
        if purchase.returned >= purchase.amount {
            // Returned in full, the purchase is undone: the limits its
            // rules used count it no more.
            let date = calendar::local(program.timezone, purchase.time).date();
            for rule_id in &purchase.limited {
                let limits = program
                    .rules
                    .get(rule_id.index())
                    .map(|r| r.limits.as_slice());
                for (i, limit) in limits.unwrap_or_default().iter().enumerate() {
                    let period = calendar::period_number(limit.period, date);
                    member.uncount(self.counter_slots.key(Counter::Fired(*rule_id, i, period)));
                }
            }
        }
        // Only what rules earned counts toward tiers: an adjust credit made
        // for the purchase is taken back from the balance alone.
        let mut reversed_points = vec![Decimal::ZERO; program.points.len()];
        for (p, _, points, _) in reversals.iter().filter(|r| r.1.is_some()) {
            if let Some(total) = reversed_points.get_mut(p.index()) {
                *total += *points;
            }
        }
        tiers::take_back_measures(member, program, &purchase, amount, &reversed_points);
        self.count_sale(purchase.time, -amount);
        let write_off = program.overspent == crate::syntax::ast::OverspentPolicy::WriteOff;
        for (p, rule, points, bucket) in reversals {
            let Some(wallet) = self.wallet(m, p) else {
                continue;
            };
            let short = wallet.take_back(points, bucket);
            let (reversed, note) = if short.is_zero() {
                (points, String::new())
            } else if write_off {
                (
                    points - short,
                    format!("{short} already spent: written off"),
                )
            } else {
                wallet.owe(short);
                (
                    points,
                    format!("{short} already spent: the balance goes negative"),
                )
            };
            self.count(m, p, |t| t.reversed += reversed);
            let counted = self.lifetime_counted.get(p.index()) == Some(&true);
            if let Some(wallet) = self.wallet(m, p).filter(|_| rule.is_some() && counted) {
                wallet.activity_mut().lifetime_earned -= reversed;
            }
            let entry = self.record(m, EntryKind::Reverse, event.time, Some(p), -reversed);
            entry.rule = rule;
            entry.note = note;
            entry.earned = Some(purchase.time);
        }
    }

    // ------------------------------------------------------------ clock

    fn release(&mut self, m: usize, p: PointsId, bucket: u64, at: DateTime<Utc>) {
        let amount = self.wallet(m, p).and_then(|w| w.held_in(bucket));
        if let Some(amount) = amount.filter(|a| !a.is_zero()) {
            self.record(m, EntryKind::Release, at, Some(p), amount);
        }
    }

    fn expire_bucket(&mut self, m: usize, p: PointsId, bucket: u64, at: DateTime<Utc>) {
        if let Some(bucket) = self.wallet(m, p).and_then(|w| w.remove(bucket)) {
            self.expired(m, p, &bucket, at, String::new());
            self.note_expiry(m, p, bucket.amount, at);
        }
    }

    /// An inactivity check queued in scheduling order `seq` comes due at `at`.
    fn expire_inactive(&mut self, m: usize, p: PointsId, at: DateTime<Utc>, seq: u64) {
        let program = self.program;
        let Some(ExpiryRule::Inactivity(term)) = program.points.get(p.index()).map(|t| t.expiry)
        else {
            return;
        };
        let Some(wallet) = self.wallet(m, p) else {
            return;
        };
        let activity = wallet.activity_mut();
        let latest = activity.inactivity_check.take();
        activity.inactivity_due = None;
        let due = activity
            .last
            .map(|last| calendar::after(program.timezone, last, term));
        // There was activity since this check was queued: the check is put
        // off to the latest activity's term (a later one: an earlier one
        // queued its own, and this one would not be current), in that
        // activity's scheduling order, so that clock work scheduled between
        // the two at the same instant comes first.
        let put_off = due != Some(at) || latest.is_some_and(|latest| latest.get() > seq);
        if put_off {
            if let (Some(due), Some(latest)) = (due.filter(|due| *due >= at), latest) {
                activity.inactivity_check = Some(latest);
                activity.inactivity_due = Some(due);
                self.queue(due, m, latest.get(), DueKind::Inactivity(DuePoints::of(p)));
            }
            return;
        }
        let note = format!("no activity for {term}");
        // One entry per bucket, in spending order, so each keeps its earn date.
        while let Some(bucket) = self.wallet(m, p).and_then(Wallet::remove_first) {
            self.expired(m, p, &bucket, at, note.clone());
            self.note_expiry(m, p, bucket.amount, at);
        }
    }

    /// Records points of a bucket lost to expiry (the bucket is already out
    /// of the wallet), with the bucket's earn time for cohort analysis.
    fn expired(&mut self, m: usize, p: PointsId, bucket: &Bucket, at: DateTime<Utc>, note: String) {
        let amount = bucket.amount;
        if amount.is_zero() {
            return;
        }
        self.count(m, p, |t| t.expired += amount);
        // A return of the purchase that earned them does not take them
        // again (nor, given back by a cancelled redemption, their part).
        if let Some(member) = self.members.get_mut(m) {
            let origin = member.origin(bucket.id);
            member
                .purchases
                .expired(p, origin, bucket.earned_at, amount);
        }
        let entry = self.record(m, EntryKind::Expire, at, Some(p), -amount);
        entry.note = note;
        entry.earned = Some(bucket.earned_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// A program in UTC with `header`'s settings and `points`' body for
    /// its one points type, earned at 1 a dollar.
    pub(super) fn program(header: &str, points: &str) -> Program {
        let source = format!(
            "program \"T\" {{\n  currency USD\n  timezone \"UTC\"\n{header}}}\n\
             points pts {{\n{points}}}\n\
             rule base {{\n  on purchase\n  earn 1 pts per 1 USD of amount\n}}\n"
        );
        crate::compile::compile(&source).expect("compiles").0
    }

    /// The events of `records` (`id,time,member,type,amount` lines).
    pub(super) fn events(program: &Program, records: &str) -> Vec<Event> {
        let csv = format!("id,time,member,type,amount\n{records}");
        let format = crate::events::Format::Csv;
        crate::events::read(program, format, csv.as_bytes(), "t.csv")
            .map(|event| event.expect("typed"))
            .collect()
    }

    /// An engine that has applied `ann`'s enrolment on 1 January 2025 and
    /// her purchases of 10 USD at 10:00 on each of `days` (`2025-02-01`).
    fn after_purchases<'p>(program: &'p Program, days: &[String]) -> Engine<'p> {
        let mut records = String::from("e0,2025-01-01 09:00,ann,enroll,\n");
        for (i, day) in days.iter().enumerate() {
            records += &format!("p{i},{day} 10:00,ann,purchase,10\n");
        }
        let mut engine = Engine::new(program);
        for event in events(program, &records) {
            engine.apply(&event).expect("applied");
        }
        engine
    }

    #[test]
    fn activity_keeps_one_inactivity_check_queued_per_wallet() {
        let program = program("", "  expire after 3 months without activity\n");
        let days: Vec<String> = (1..=28).map(|day| format!("2025-02-{day:02}")).collect();
        let mut engine = after_purchases(&program, &days);
        let checks = |engine: &Engine| {
            engine
                .due
                .iter()
                .filter(|due| matches!(due.what, DueKind::Inactivity(_)))
                .map(|due| due.at)
                .collect::<Vec<_>>()
        };
        let first = Utc.with_ymd_and_hms(2025, 5, 1, 10, 0, 0).unwrap();
        assert_eq!(checks(&engine), [first]);
        // Come due, the check is put off to the last purchase's.
        engine.advance_to(first);
        let last = Utc.with_ymd_and_hms(2025, 5, 28, 10, 0, 0).unwrap();
        assert_eq!(checks(&engine), [last]);
        assert_eq!(
            engine.members.get(0).unwrap().wallets[0].balance(),
            Decimal::from(280)
        );
        engine.advance_to(last);
        assert!(checks(&engine).is_empty());
        assert_eq!(
            engine.members.get(0).unwrap().wallets[0].balance(),
            Decimal::ZERO
        );
    }

    #[test]
    fn an_enrolment_past_the_most_members_is_refused() {
        let program = program("", "");
        let mut engine = Engine::new(&program);
        engine.most_members = 2;
        let records = "e0,2025-01-01 09:00,ann,enroll,\n\
                       e1,2025-01-01 09:00,bob,enroll,\n\
                       e2,2025-01-01 09:00,cy,enroll,\n\
                       p0,2025-01-02 09:00,bob,purchase,10\n";
        let outcomes: Vec<_> = events(&program, records)
            .iter()
            .map(|event| engine.apply(event).map_err(|r| (r.class, r.reason)))
            .collect();
        assert!(outcomes[..2].iter().all(Result::is_ok));
        assert_eq!(
            outcomes[2],
            Err((
                RejectClass::TooLarge,
                "the run holds the most members and pools it can (2), and `cy` would be one more"
                    .to_string()
            ))
        );
        assert!(outcomes[3].is_ok(), "the members enrolled go on");
        assert_eq!(engine.members.len(), 2);
    }

    #[test]
    fn a_late_events_re_run_makes_no_pool_past_the_most_members() {
        let program = program("", "  transfers\n  pool household\n");
        let mut engine = Engine::new(&program);
        engine.accept_late_events();
        engine.most_members = 3;
        let csv = "id,time,member,type,amount,pool\n\
                   e0,2025-01-01 09:00,ann,enroll,,\n\
                   e1,2025-01-01 09:00,bob,enroll,,\n\
                   e2,2025-01-01 09:00,cy,enroll,,\n\
                   p0,2025-01-05 09:00,ann,purchase,50,\n\
                   j0,2025-01-03 09:00,ann,join_pool,,household:h\n";
        let format = crate::events::Format::Csv;
        let outcomes: Vec<_> = crate::events::read(&program, format, csv.as_bytes(), "t.csv")
            .map(|event| {
                engine
                    .apply(&event.expect("typed"))
                    .map_err(|r| (r.class, r.reason))
            })
            .collect();
        // The late joining's re-run would make the pool a fourth slot.
        assert_eq!(
            outcomes[4],
            Err((
                RejectClass::TooLarge,
                "the run holds the most members and pools it can (3), and `household:h` would be one more"
                    .to_string()
            ))
        );
        assert!(outcomes[..4].iter().all(Result::is_ok));
        assert_eq!(engine.members.len(), 3);
        assert_eq!(
            engine.members.get(0).unwrap().wallets[0].balance(),
            Decimal::from(50),
            "the refused late event changed nothing"
        );
    }

    #[test]
    fn clock_work_forgets_purchases_whose_returns_have_closed() {
        let program = program(
            "  accept returns up to 30 days\n",
            "  pending 14 days\n  expire 6 months after earn\n",
        );
        let mut engine = after_purchases(&program, &["2025-02-01".to_string()]);
        let kept = |engine: &Engine| {
            engine
                .members
                .get(0)
                .unwrap()
                .purchases
                .get("ann", "p0")
                .is_some()
        };
        assert!(kept(&engine));
        // The release, 14 days on, is within the 30 days: kept.
        engine.advance_to(Utc.with_ymd_and_hms(2025, 2, 20, 0, 0, 0).unwrap());
        assert!(kept(&engine));
        // The expiry, 6 months on, forgets it, room and all.
        engine.advance_to(Utc.with_ymd_and_hms(2025, 8, 2, 0, 0, 0).unwrap());
        assert_eq!(engine.members.get(0).unwrap().purchases.packed_len(), 0);
    }

    #[test]
    fn a_members_buckets_are_numbered_by_the_member_not_the_run() {
        // Bob's award after 300 of Ann's is his bucket 1, packed and
        // referred to by his purchase in as many bytes as if he were alone.
        let program = program("  accept returns up to 30 days\n", "");
        let bob = "b0,2025-03-01 09:00,bob,enroll,\nb1,2025-03-01 10:00,bob,purchase,10\n";
        let mut ann = String::from("a0,2025-01-01 09:00,ann,enroll,\n");
        for i in 0..300 {
            ann += &format!(
                "a{},2025-02-{:02} 10:00,ann,purchase,10\n",
                i + 1,
                i / 12 + 1
            );
        }
        let bob_after = |records: String| {
            let mut engine = Engine::new(&program);
            for event in events(&program, &records) {
                engine.apply(&event).expect("applied");
            }
            let slot = engine.members.slot("bob").expect("enrolled");
            let member = engine.members.get(slot).expect("a member");
            let ids: Vec<u64> = member.wallets[0].buckets().map(|b| b.id).collect();
            (ids, member.copy_len())
        };
        let (ids, alone) = bob_after(bob.to_string());
        assert_eq!(ids, [1]);
        assert_eq!(bob_after(ann + bob), (ids, alone));
    }

    /// A program in UTC with bronze and silver (from 100 points earned)
    /// over the calendar year, its tiers block ending with `moves`.
    fn calendar_tiers(moves: &str) -> Program {
        let source = format!(
            "program \"T\" {{\n  currency USD\n  timezone \"UTC\"\n}}\n\
             points pts {{\n}}\n\
             tiers by pts earned over calendar year {{\n  tier bronze from start\n  \
             tier silver from 100\n{moves}}}\n\
             rule base {{\n  on purchase\n  earn 1 pts per 1 USD of amount\n}}\n"
        );
        crate::compile::compile(&source).expect("compiles").0
    }

    /// Applies `records` (CSV lines) to `engine`.
    fn apply_records(engine: &mut Engine, records: &str) {
        for event in events(engine.program, records) {
            engine.apply(&event).expect("applied");
        }
    }

    /// The tier changes `engine` makes up to `at`: member, kind, time and
    /// the tier after.
    fn tier_changes_to(
        engine: &mut Engine,
        at: DateTime<Utc>,
    ) -> Vec<(
        String,
        EntryKind,
        DateTime<Utc>,
        Option<crate::compile::ir::TierRank>,
    )> {
        engine.advance_to(at);
        engine
            .drain_ledger()
            .into_iter()
            .map(|e| (e.member.to_string(), e.kind, e.time, e.tier))
            .collect()
    }

    /// How many period ends wait in the clock queue.
    fn queued_ends(engine: &Engine) -> usize {
        engine
            .due
            .iter()
            .filter(|due| due.what == DueKind::PeriodEnd)
            .count()
    }

    /// Cat enrols first and Ann last; each reaches silver in 2025 only, in
    /// the other order (`silver_for_2025`'s program).
    const SILVER_IN_2025: &str =
        "e1,2025-01-02 09:00,cat,enroll,\ne2,2025-01-03 09:00,bob,enroll,\n\
        e3,2025-01-04 09:00,ann,enroll,\np1,2025-05-01 10:00,ann,purchase,150\n\
        p2,2025-05-02 10:00,bob,purchase,150\np3,2025-05-03 10:00,cat,purchase,150\n";

    /// Calendar-year tiers, upgraded at once and dropped at a period's end.
    fn silver_for_2025() -> Program {
        calendar_tiers("  upgrade immediately\n  downgrade at period end\n")
    }

    /// Moves `engine`, after `SILVER_IN_2025`, to the end of 2026: 2025's
    /// reviews keep everyone silver (then `between` looks at the engine),
    /// and 2026's drop them in the order they joined.
    fn kept_then_dropped_in_rank_order(engine: &mut Engine, between: impl Fn(&Engine)) {
        let year_end = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert!(tier_changes_to(engine, year_end).is_empty());
        between(engine);
        let next = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let drops = tier_changes_to(engine, next);
        let drop = |m: &str| (m.to_string(), EntryKind::TierChange, next, Some(0));
        assert_eq!(drops, [drop("cat"), drop("bob"), drop("ann")]);
    }

    #[test]
    fn a_calendar_years_period_ends_wait_outside_the_queue_and_come_in_rank_order() {
        let program = silver_for_2025();
        let mut engine = Engine::new(&program);
        apply_records(&mut engine, SILVER_IN_2025);
        assert_eq!((queued_ends(&engine), engine.period_ends.len()), (0, 3));
        assert_eq!(engine.queued_clock_work(), 3);
        engine.drain_ledger();
        // 2026's reviews wait, one a member.
        kept_then_dropped_in_rank_order(&mut engine, |engine| {
            assert_eq!((queued_ends(engine), engine.period_ends.len()), (0, 3));
        });
    }

    #[test]
    fn period_ends_dealt_into_shards_and_gathered_back_wait_outside_the_queue() {
        let program = silver_for_2025();
        let mut engine = Engine::new(&program);
        apply_records(&mut engine, SILVER_IN_2025);
        engine.drain_ledger();
        // Bob to the second shard, Cat and Ann to the first.
        let mut shards = [Engine::new(&program), Engine::new(&program)];
        engine.split(
            &mut shards,
            |member, _| usize::from(member.id == "bob"),
            &[],
        );
        let waiting = |shard: &Engine| (queued_ends(shard), shard.period_ends.len());
        assert_eq!(shards.each_ref().map(waiting), [(0, 2), (0, 1)]);
        let mut gathered = Engine::new(&program);
        gathered.absorb(shards.into());
        assert_eq!(waiting(&gathered), (0, 3));
        kept_then_dropped_in_rank_order(&mut gathered, |_| {});
    }

    #[test]
    fn clock_work_that_writes_nothing_leaves_no_mark_but_the_last() {
        let program = silver_for_2025();
        let mut engine = Engine::new(&program);
        engine.mark_clock_work();
        apply_records(&mut engine, SILVER_IN_2025);
        engine.drain_ledger();
        let mut marks = Vec::new();
        engine.drain_marks_into(&mut marks);
        // 2025's three reviews keep everyone silver: no rows, one mark.
        engine.advance_to(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        engine.drain_marks_into(&mut marks);
        assert_eq!((engine.ledger_len(), marks.len()), (0, 1));
        // 2026's drop all three, a row and a mark each.
        engine.advance_to(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        engine.drain_marks_into(&mut marks);
        let starts: Vec<usize> = marks.iter().map(|&(_, at)| at).collect();
        assert_eq!((engine.ledger_len(), starts), (3, vec![0, 1, 2]));
    }

    #[test]
    fn period_ends_scheduled_out_of_rank_order_still_come_in_it() {
        let program = calendar_tiers("  upgrade at period end\n");
        // Cat enrols first and Ann last, and nobody buys in 2025: the
        // reviews at its end change nothing and pause. Buying in 2026 in
        // the other order wakes them, so their 2026 ends are scheduled Ann's
        // first and Cat's last, and must still come in the order they
        // joined.
        let records = "e1,2025-01-02 09:00,cat,enroll,\ne2,2025-01-03 09:00,bob,enroll,\n\
                       e3,2025-01-04 09:00,ann,enroll,\n";
        let mut engine = Engine::new(&program);
        apply_records(&mut engine, records);
        assert_eq!((queued_ends(&engine), engine.period_ends.len()), (0, 3));
        assert_eq!(engine.queued_clock_work(), 3);
        engine.advance_to(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        assert_eq!((queued_ends(&engine), engine.period_ends.len()), (0, 0));
        let purchases = "p1,2026-05-01 10:00,ann,purchase,150\n\
                         p2,2026-05-02 10:00,bob,purchase,150\n\
                         p3,2026-05-03 10:00,cat,purchase,150\n";
        apply_records(&mut engine, purchases);
        assert_eq!((queued_ends(&engine), engine.period_ends.len()), (0, 3));
        engine.drain_ledger();
        let next = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let ups = tier_changes_to(&mut engine, next);
        let up = |m: &str| (m.to_string(), EntryKind::TierChange, next, Some(1));
        assert_eq!(ups, [up("cat"), up("bob"), up("ann")]);
    }

    /// A change to the buckets of member `0`, `1` or `2` (each with one
    /// points type): an award at the clock, released and expiring some
    /// seconds on (ties likely: few distinct offsets), points taken from a
    /// bucket (by its place among those awarded), or the clock moving on.
    #[derive(Debug, Clone)]
    enum BucketOp {
        Award(usize, Option<i64>, Option<i64>),
        Take(usize, usize, bool),
        Advance(i64),
    }

    fn bucket_op() -> impl Strategy<Value = BucketOp> {
        let offset = || {
            prop::option::of(prop_oneof![
                Just(0_i64),
                Just(86_400),
                Just(14 * 86_400),
                0_i64..60 * 86_400
            ])
        };
        prop_oneof![
            3 => (0_usize..3, offset(), offset()).prop_map(|(m, r, e)| BucketOp::Award(m, r, e)),
            1 => (0_usize..3, 0_usize..20, any::<bool>()).prop_map(|(m, b, all)| BucketOp::Take(m, b, all)),
            2 => prop_oneof![Just(0_i64), Just(86_400), 0_i64..30 * 86_400].prop_map(BucketOp::Advance),
        ]
    }

    proptest! {
        /// The clock work on buckets, one queued item per wallet, is done
        /// as the queue of an item per release and per expiry did it: in
        /// the order of time, member rank and scheduling order, skipping
        /// the work of buckets spent or taken back meanwhile.
        #[test]
        fn bucket_work_comes_in_the_order_of_an_item_per_award(
            ops in prop::collection::vec(bucket_op(), 1..120),
        ) {
            let program = program("", "");
            let mut records = String::new();
            for (i, m) in ["ann", "bob", "cat"].iter().enumerate() {
                records += &format!("e{i},2025-01-01 09:00,{m},enroll,\n");
            }
            let mut engine = Engine::new(&program);
            for event in events(&program, &records) {
                engine.apply(&event).expect("applied");
            }
            engine.drain_ledger();
            let p = PointsId(0);
            let mut clock = Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap();
            // The old scheme: an item per piece of work, by (time, rank, seq).
            let mut model: Vec<(DateTime<Utc>, usize, u64, BucketWork)> = Vec::new();
            let mut amounts: BTreeMap<(usize, u64), Decimal> = BTreeMap::new();
            let mut awarded: [Vec<u64>; 3] = Default::default();
            let mut expected = Vec::new();
            for op in ops {
                match op {
                    BucketOp::Award(m, release, expiry) => {
                        let amount = Decimal::from(awarded.iter().map(Vec::len).sum::<usize>() + 1);
                        let available = clock + chrono::Duration::seconds(release.unwrap_or(0));
                        let expires = expiry.map(|e| clock + chrono::Duration::seconds(e));
                        let bucket = engine.new_bucket(m, amount, clock, available, expires);
                        let id = engine.wallet(m, p).and_then(|w| w.add(bucket)).expect("added");
                        let mut seq = engine.seq;
                        engine.schedule_bucket(m, p, id, release.is_some());
                        if release.is_some() {
                            seq += 1;
                            model.push((available, m, seq, BucketWork::Release(id)));
                        }
                        if let Some(at) = expires {
                            seq += 1;
                            model.push((at, m, seq, BucketWork::Expire(id)));
                        }
                        prop_assert_eq!(engine.seq, seq);
                        amounts.insert((m, id), amount);
                        awarded[m].push(id);
                    }
                    BucketOp::Take(m, nth, all) => {
                        let Some(&id) = awarded[m].get(nth) else { continue };
                        let Some(left) = amounts.get_mut(&(m, id)) else { continue };
                        let taken = if all { *left } else { Decimal::ONE.min(*left) };
                        let wallet = engine.wallet(m, p).expect("a wallet");
                        prop_assert_eq!(wallet.take_back(taken, Some(id)), Decimal::ZERO);
                        *left -= taken;
                        if left.is_zero() {
                            amounts.remove(&(m, id));
                        }
                    }
                    BucketOp::Advance(by) => {
                        clock += chrono::Duration::seconds(by);
                        engine.advance_to(clock);
                        model.sort_by_key(|(at, m, seq, _)| (*at, *m, *seq));
                        let due = model.partition_point(|(at, ..)| *at <= clock);
                        for (at, m, _, work) in model.drain(..due) {
                            let member = ["ann", "bob", "cat"][m];
                            match work {
                                BucketWork::Release(id) => {
                                    if let Some(amount) = amounts.get(&(m, id)) {
                                        expected.push((member, EntryKind::Release, at, *amount));
                                    }
                                }
                                BucketWork::Expire(id) => {
                                    if let Some(amount) = amounts.remove(&(m, id)) {
                                        expected.push((member, EntryKind::Expire, at, -amount));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let done: Vec<_> = engine
                .drain_ledger()
                .into_iter()
                .map(|e| (e.member, e.kind, e.time, e.amount))
                .collect();
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(m, kind, at, amount)| (CompactString::from(m), kind, at, amount))
                .collect();
            prop_assert_eq!(done, expected);
            // One piece of bucket work per wallet, at most, is current (an
            // item put aside and then forgotten may be queued twice).
            let current: std::collections::BTreeSet<(usize, WorkKey)> = engine
                .due
                .iter()
                .filter(|due| matches!(due.what, DueKind::Buckets(_)) && engine.is_current(due))
                .map(|due| (due.member(), (due.at, due.seq)))
                .collect();
            prop_assert!(current.len() <= 3);
        }
    }

    /// A program whose points expire at the end of the month after they
    /// are earned, and events of `members`: each enrols on 1 January 2025
    /// and buys for 10 USD on 10 January (their points all expire at the
    /// end of February); then `ann` buys again on 5 March.
    pub(super) fn month_end(members: &[&str]) -> (Program, Vec<Event>) {
        let program = program("", "  expire 1 month after earn at end of month\n");
        let mut records = String::new();
        for m in members {
            records += &format!("{m}0,2025-01-01 09:00,{m},enroll,\n");
        }
        for m in members {
            records += &format!("{m}1,2025-01-10 10:00,{m},purchase,10\n");
        }
        records += "last,2025-03-05 10:00,ann,purchase,1\n";
        let events = events(&program, &records);
        (program, events)
    }

    #[test]
    fn clock_work_before_an_event_comes_in_pieces_and_makes_the_same_rows() {
        let (program, all) = month_end(&["ann", "bob", "cat", "dan", "eve"]);
        let (last, before) = all.split_last().unwrap();
        let mut whole = Engine::new(&program);
        let mut pieces = Engine::new(&program);
        for event in before {
            whole.apply(event).unwrap();
            pieces.apply(event).unwrap();
        }
        whole.drain_ledger();
        pieces.drain_ledger();
        whole.apply(last).unwrap();
        // Every member's points expire at the end of February: five rows,
        // two at a time.
        let mut rows = Vec::new();
        let mut sizes = Vec::new();
        while pieces.clock_work_before(last, 2) {
            sizes.push(pieces.ledger_len());
            rows.extend(pieces.drain_ledger());
        }
        pieces.apply(last).unwrap();
        rows.extend(pieces.drain_ledger());
        assert_eq!(sizes, [2, 2]);
        let whole = whole.drain_ledger();
        assert_eq!(whole.len(), 6, "five expiries and the purchase's earn");
        assert_eq!(rows, whole);
        // A record that will be rejected does no clock work.
        let mut fresh = Engine::new(&program);
        for event in before {
            fresh.apply(event).unwrap();
        }
        let unknown = events(&program, "y,2025-03-05 10:00,zed,purchase,1\n");
        assert!(!fresh.clock_work_before(&unknown[0], 2));
        assert_eq!(fresh.clock(), before.last().map(|e| e.time));
    }
}
