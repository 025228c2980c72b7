//! The ledger: one entry per change to a member's points, tier or perks, in
//! the order the engine applied them, and the running totals finance checks
//! it against.

use crate::compile::ir::{PointsId, RuleId, TierRank};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// Points awarded and spendable at once.
    Earn,
    /// Points awarded but pending until the return window closes.
    Pend,
    /// Pending points becoming spendable (the balance does not change).
    Release,
    /// Points an award lost to a cap or budget (not added to the balance).
    CapCut,
    Spend,
    Expire,
    /// Points taken back by a return.
    Reverse,
    TierChange,
    PerkGrant,
    PerkUse,
    /// Points given to another member or a pool (negative), and received.
    TransferOut,
    TransferIn,
    /// A member joined or left a pool (no points move).
    PoolJoin,
    PoolLeave,
    /// A manual credit (positive) or debit (negative), the reason as note.
    Adjust,
    /// Points of a cancelled redemption given back (positive), its cost
    /// taken back (negative).
    RedeemCancel,
    /// What a `preview` rule would have awarded (no balance changes).
    Preview,
    /// Qualifying credit carried into the next tier period (a measure, not
    /// a balance).
    Rollover,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Earn => "earn",
            EntryKind::Pend => "pend",
            EntryKind::Release => "release",
            EntryKind::CapCut => "cap_cut",
            EntryKind::Spend => "spend",
            EntryKind::Expire => "expire",
            EntryKind::Reverse => "reverse",
            EntryKind::TierChange => "tier_change",
            EntryKind::PerkGrant => "perk_grant",
            EntryKind::PerkUse => "perk_use",
            EntryKind::TransferOut => "transfer_out",
            EntryKind::TransferIn => "transfer_in",
            EntryKind::PoolJoin => "pool_join",
            EntryKind::PoolLeave => "pool_leave",
            EntryKind::Adjust => "adjust",
            EntryKind::RedeemCancel => "redeem_cancel",
            EntryKind::Preview => "preview",
            EntryKind::Rollover => "rollover",
        }
    }
}

/// One ledger row. Amounts are signed: spends, expiries and reversals are negative.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: EntryKind,
    pub member: CompactString,
    pub time: DateTime<Utc>,
    pub points: Option<PointsId>,
    pub amount: Decimal,
    /// The member's balance of `points` after this entry.
    pub balance: Decimal,
    pub rule: Option<RuleId>,
    /// The id of the event that caused it (none for clock-driven entries).
    pub event: Option<CompactString>,
    /// Details for people: tiers changed between, a cap's cut, a reward's name.
    pub note: String,
    /// What it cost the company (redemptions and perk uses), in the program's currency.
    pub cost: Option<Decimal>,
    /// For an expiry: when the expired points were earned (their cohort); for
    /// a reversal: when the returned purchase earned them.
    pub earned: Option<DateTime<Utc>>,
    /// For a tier change: the member's tier after it.
    pub tier: Option<TierRank>,
    /// This row undoes an earlier one of the same kind (a late event re-ran
    /// its member): its amount and cost are that row's negated, so a
    /// negative `adjust` here takes back a credit, not a debit.
    pub undoes: bool,
}

/// Per points type totals over everything applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub issued: Decimal,
    pub spent: Decimal,
    pub expired: Decimal,
    pub reversed: Decimal,
    /// Received less given by transfers: zero over the whole program.
    pub transferred: Decimal,
    /// What `preview` rules would have issued: never part of a balance.
    pub preview: Decimal,
}

impl Totals {
    /// issued + transferred − spent − expired − reversed: what the members hold.
    pub fn outstanding(&self) -> Decimal {
        self.issued + self.transferred - self.spent - self.expired - self.reversed
    }

    pub fn add(&mut self, other: &Totals) {
        self.combine(other, |a, b| *a += b);
    }

    pub fn subtract(&mut self, other: &Totals) {
        self.combine(other, |a, b| *a -= b);
    }

    fn combine(&mut self, other: &Totals, op: fn(&mut Decimal, Decimal)) {
        op(&mut self.issued, other.issued);
        op(&mut self.spent, other.spent);
        op(&mut self.expired, other.expired);
        op(&mut self.reversed, other.reversed);
        op(&mut self.transferred, other.transferred);
        op(&mut self.preview, other.preview);
    }
}
