//! Members carried over from another run's end state, so that a simulation
//! starts from today's book (`simulate --from-state`): each enrolled when
//! they were, in the tier they reached, holding the buckets they held (their
//! releases and expiries queued) and owing what they owed. Nothing is
//! written to the ledger: the points were issued before.

use super::tiers::next_period_end;
use super::Engine;
use crate::compile::ir::{PointsId, TierRank, Value};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// One member's state at the as-of instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub member: String,
    pub enrolled: DateTime<Utc>,
    pub tier: TierRank,
    pub buckets: Vec<(PointsId, OpenBucket)>,
    /// Per points type, points reversed after they were spent.
    pub debts: Vec<(PointsId, Decimal)>,
}

/// Points held from one award.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenBucket {
    pub amount: Decimal,
    pub earned: DateTime<Utc>,
    /// When the points become spendable (after `earned` while pending).
    pub spendable: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
}

impl Opening {
    /// Adds what the member holds (buckets less debts) to `held`, per
    /// points type (indexed like the program's).
    pub fn add_holdings(&self, held: &mut [Decimal]) {
        for (p, bucket) in &self.buckets {
            if let Some(sum) = held.get_mut(p.index()) {
                *sum += bucket.amount;
            }
        }
        for (p, debt) in &self.debts {
            if let Some(sum) = held.get_mut(p.index()) {
                *sum -= *debt;
            }
        }
    }
}

impl Engine<'_> {
    /// Adds `opening`'s member as they were at `as_of`: their attributes
    /// unknown (missing), their tier period starting at `as_of`, and
    /// activity on each points type they hold at `as_of` (an inactivity
    /// term runs from there).
    pub fn open(&mut self, opening: &Opening, as_of: DateTime<Utc>) {
        let program = self.program;
        let missing = vec![Value::Missing; program.member_attributes.len()];
        let m = self.add_slot(&opening.member, opening.enrolled, missing);
        if program.tiers.is_some() {
            let next = self.members.get_mut(m).map(|member| {
                member.set_tier(opening.tier);
                member.period_started = as_of;
                next_period_end(program, as_of, member)
            });
            if let Some(next) = next {
                self.schedule_period_end(m, next);
            }
        }
        for (p, open) in &opening.buckets {
            let bucket = self.new_bucket(m, open.amount, open.earned, open.spendable, open.expires);
            let Some(id) = self.wallet(m, *p).and_then(|w| w.add(bucket)) else {
                continue;
            };
            self.schedule_bucket(m, *p, id, open.spendable > as_of);
        }
        for (p, debt) in &opening.debts {
            if let Some(wallet) = self.wallet(m, *p) {
                wallet.owe(*debt);
            }
        }
        let held: Vec<PointsId> = opening.buckets.iter().map(|(p, _)| *p).collect();
        for p in held {
            self.touch(m, p, as_of);
        }
    }
}
