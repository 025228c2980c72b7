//! Points that change hands: transfers between members, and pools — shared
//! accounts (households) that members join, give points to and take points
//! from. Points move with their earn and expiry dates (`keep expiry`) or are
//! earned anew at the transfer (`restart expiry`); either way the program's
//! outstanding points do not change, only whose they are (a fee is spent).

use super::buckets::Bucket;
use super::ledger::EntryKind;
use super::member::Member;
use super::{points_named, unknown_member, Engine, Refusal};
use crate::compile::calendar;
use crate::compile::ir::{PointsId, Transfers, Value};
use crate::engine::rules;
use crate::events::{Event, RejectClass, Transfer};
use crate::syntax::ast::Rounding;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// A pool account: the member slot that holds its points, and who is in it.
#[derive(Debug, Clone)]
pub(super) struct PoolAccount {
    pub points: PointsId,
    pub members: BTreeSet<usize>,
}

/// Who gives and who receives, and on what terms.
enum Route<'p> {
    /// Between two members: the points type's `transfers` terms apply.
    Members(&'p Transfers),
    /// A member's points into their pool, or the pool's out to a member of
    /// it: no minimum and no fee.
    Pool,
}

impl<'p> Engine<'p> {
    /// Whether member slot `m` is a pool account rather than a member.
    pub(super) fn is_pool(&self, m: usize) -> bool {
        self.pools.contains_key(&m)
    }

    /// `Err` when the engine holds the most members and pools it can
    /// (`limits::MOST_MEMBERS`): a slot past them could not be named in four
    /// bytes.
    pub(super) fn room_for_a_slot(&self, id: &str) -> Result<(), Refusal> {
        if self.members.len() as u64 + self.slots_elsewhere >= self.most_members {
            return Err(Refusal::new(
                RejectClass::TooLarge,
                format!(
                    "the run holds the most members and pools it can ({}), and `{id}` would be one more",
                    self.most_members
                ),
            ));
        }
        Ok(())
    }

    /// Adds a fresh member slot (a member, or a pool account) for `id`:
    /// no points, the lowest tier, no purchases. Returns the slot.
    pub(super) fn add_slot(
        &mut self,
        id: &str,
        time: DateTime<Utc>,
        attributes: Vec<Value>,
    ) -> usize {
        let program = self.program;
        let measures = program.tiers.as_ref().map_or(0, |t| t.measures.len());
        self.members.push(Member::new(
            id,
            self.position,
            time,
            calendar::local(program.timezone, time).date(),
            attributes,
            program.points.len(),
            measures,
        ))
    }

    /// `transfer`: the event's member (or pool) gives `points` of
    /// `points_type` to the account named by `to`.
    pub(super) fn transfer(
        &mut self,
        from: usize,
        transfer: &Transfer,
        event: &Event,
    ) -> Result<(), Refusal> {
        let program = self.program;
        let Transfer {
            to,
            points: amount,
            points_type: type_name,
        } = transfer;
        let amount = *amount;
        let (p, points) = points_named(program, type_name)?;
        if amount <= Decimal::ZERO || amount.round_dp(points.precision) != amount {
            return Err(Refusal::new(RejectClass::NotAllowed, format!(
                "a transfer moves a positive amount of {type_name} with at most {} decimals, not {amount}",
                points.precision
            )));
        }
        // Said before the recipient is looked up: that is the reason
        // whoever `to` names (a sharded replay may not know them).
        if points.transfers.is_none() && program.pool_index.is_empty() {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("the program does not let members transfer {type_name}"),
            ));
        }
        let to_slot = self.members.slot(to).ok_or_else(|| {
            Refusal::new(
                RejectClass::UnknownName,
                format!("transfer to unknown member or pool `{to}`"),
            )
        })?;
        if to_slot == from {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("`{to}` cannot transfer to itself"),
            ));
        }
        let route = self.route(from, to_slot, p)?;
        let fee = match route {
            Route::Members(terms) => {
                if amount < terms.min {
                    return Err(Refusal::new(
                        RejectClass::NotAllowed,
                        format!(
                            "transfer of {amount} {type_name} is below the minimum of {}",
                            terms.min
                        ),
                    ));
                }
                // The fee is rounded up to the points' precision: never less
                // than the share the program asks.
                rules::round(amount * terms.fee, points.precision, Rounding::Up)
            }
            Route::Pool => Decimal::ZERO,
        };
        let now = event.time;
        let wallet = self.wallet(from, p).ok_or_else(unknown_member)?;
        let available = wallet.available(now);
        if amount
            .checked_add(fee)
            .is_none_or(|total| total > available)
        {
            let fee_text = if fee.is_zero() {
                String::new()
            } else {
                format!(" and its fee of {fee}")
            };
            return Err(Refusal::new(RejectClass::Balance, format!(
                "transfer of {amount} {type_name}{fee_text} is beyond the available balance of {available}"
            )));
        }
        let parts = wallet.withdraw(amount, now);
        let keep = match route {
            Route::Members(terms) => terms.keep_expiry,
            Route::Pool => true,
        };
        let (giver, receiver) = (self.account_name(from), self.account_name(to_slot));
        self.count(from, p, |t| t.transferred -= amount);
        self.record(from, EntryKind::TransferOut, now, Some(p), -amount)
            .note = format!("to {receiver}");
        self.receive(to_slot, p, parts, keep, now);
        self.count(to_slot, p, |t| t.transferred += amount);
        self.record(to_slot, EntryKind::TransferIn, now, Some(p), amount)
            .note = format!("from {giver}");
        if !fee.is_zero() {
            if let Some(wallet) = self.wallet(from, p) {
                wallet.spend(fee, now);
            }
            self.count(from, p, |t| t.spent += fee);
            self.record(from, EntryKind::Spend, now, Some(p), -fee).note =
                format!("transfer fee ({receiver})");
        }
        self.touch(from, p, now);
        self.touch(to_slot, p, now);
        self.balance_raised(to_slot, p, now);
        Ok(())
    }

    /// Which kind of transfer goes from `from` to `to` in points type `p`,
    /// or why none may.
    fn route(&self, from: usize, to: usize, p: PointsId) -> Result<Route<'p>, Refusal> {
        let program: &'p crate::compile::ir::Program = self.program;
        let type_name = program
            .points
            .get(p.index())
            .map_or("", |t| t.name.as_str());
        let pool_of = |account: usize| self.pools.get(&account);
        let in_pool = |member: usize, account: usize| self.membership(member, p) == Some(account);
        match (pool_of(from), pool_of(to)) {
            (Some(_), Some(_)) => Err(Refusal::new(
                RejectClass::NotAllowed,
                "points move between a pool and its members, not between pools",
            )),
            (Some(pool), None) | (None, Some(pool)) if pool.points != p => {
                let holds = program
                    .points
                    .get(pool.points.index())
                    .map_or("", |t| t.name.as_str());
                Err(Refusal::new(
                    RejectClass::NotAllowed,
                    format!("the pool holds {holds}, not {type_name}"),
                ))
            }
            (Some(_), None) if !in_pool(to, from) => Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "`{}` is not in pool `{}`: a pool gives only to its members",
                    self.account_name(to),
                    self.account_name(from)
                ),
            )),
            (None, Some(_)) if !in_pool(from, to) => Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "`{}` is not in pool `{}`: join it first",
                    self.account_name(from),
                    self.account_name(to)
                ),
            )),
            (Some(_), None) | (None, Some(_)) => Ok(Route::Pool),
            (None, None) => program
                .points
                .get(p.index())
                .and_then(|t| t.transfers.as_ref())
                .map(Route::Members)
                .ok_or_else(|| {
                    Refusal::new(
                        RejectClass::NotAllowed,
                        format!("the program does not let members transfer {type_name}"),
                    )
                }),
        }
    }

    fn account_name(&self, m: usize) -> String {
        self.members
            .get(m)
            .map(|a| a.id.to_string())
            .unwrap_or_default()
    }

    /// Adds the parts taken from a giver to a receiver: as they were (the
    /// same earn and expiry dates, spendable at once), or as one bucket
    /// earned now under the points type's expiry rule.
    fn receive(
        &mut self,
        m: usize,
        p: PointsId,
        parts: Vec<Bucket>,
        keep: bool,
        now: DateTime<Utc>,
    ) {
        let program = self.program;
        let dated: Vec<(Decimal, DateTime<Utc>, Option<DateTime<Utc>>)> = if keep {
            parts
                .iter()
                .map(|b| (b.amount, b.earned_at, b.expires_at))
                .collect()
        } else {
            let expiry = program.points.get(p.index()).map(|t| t.expiry);
            let expires_at = expiry.and_then(|rule| calendar::expiry(program.timezone, rule, now));
            vec![(parts.iter().map(|b| b.amount).sum(), now, expires_at)]
        };
        for (amount, earned_at, expires_at) in dated {
            let bucket = self.new_bucket(m, amount, earned_at, now, expires_at);
            let kept = self.wallet(m, p).and_then(|w| w.add(bucket));
            if let Some(bucket) = kept {
                self.schedule_bucket(m, p, bucket, false);
            }
        }
    }

    /// `join_pool`: the member joins pool `kind:id`, which is opened by its
    /// first member.
    pub(super) fn join_pool(&mut self, m: usize, pool: &str, event: &Event) -> Result<(), Refusal> {
        let (name, p) = self.pool_named(pool)?;
        if let Some(account) = self.membership(m, p) {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "already in pool `{}`: leave it first",
                    self.account_name(account)
                ),
            ));
        }
        let account = match self.members.slot(&name) {
            Some(account) if self.is_pool(account) => account,
            Some(_) => {
                return Err(Refusal::new(
                    RejectClass::NotAllowed,
                    format!("`{name}` is a member, not a pool"),
                ))
            }
            None => {
                self.room_for_a_slot(&name)?;
                let account = self.add_slot(&name, event.time, Vec::new());
                self.pools.insert(
                    account,
                    PoolAccount {
                        points: p,
                        members: BTreeSet::new(),
                    },
                );
                account
            }
        };
        let most = self
            .program
            .points
            .get(p.index())
            .and_then(|t| t.pool.as_ref())
            .and_then(|pool| pool.most_members);
        let pool = self
            .pools
            .get_mut(&account)
            .ok_or_else(|| Refusal::new(RejectClass::UnknownName, "unknown pool"))?;
        if let Some(most) = most.filter(|most| pool.members.len() >= *most as usize) {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("pool `{name}` is full: at most {most} members"),
            ));
        }
        pool.members.insert(m);
        self.memberships.insert((m, p), account);
        self.record(m, EntryKind::PoolJoin, event.time, None, Decimal::ZERO)
            .note = name;
        Ok(())
    }

    /// `leave_pool`: the member leaves; the pool keeps its points.
    pub(super) fn leave_pool(
        &mut self,
        m: usize,
        pool: &str,
        event: &Event,
    ) -> Result<(), Refusal> {
        let (name, p) = self.pool_named(pool)?;
        let account = self
            .members
            .slot(&name)
            .filter(|a| self.membership(m, p) == Some(*a))
            .ok_or_else(|| {
                Refusal::new(RejectClass::NotAllowed, format!("not in pool `{name}`"))
            })?;
        if let Some(pool) = self.pools.get_mut(&account) {
            pool.members.remove(&m);
        }
        self.memberships.remove(&(m, p));
        self.record(m, EntryKind::PoolLeave, event.time, None, Decimal::ZERO)
            .note = name;
        Ok(())
    }

    /// The pool a `join_pool` or `leave_pool` names, and the points type
    /// its kind pools.
    fn pool_named(&self, name: &str) -> Result<(String, PointsId), Refusal> {
        let program = self.program;
        let kinds: Vec<&str> = program.pool_index.keys().map(String::as_str).collect();
        if kinds.is_empty() {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                "the program has no pools",
            ));
        }
        let (kind, id) = name.split_once(':').unwrap_or((name, ""));
        let p = program
            .pool_index
            .get(kind)
            .copied()
            .filter(|_| !id.is_empty());
        p.map(|p| (name.to_owned(), p)).ok_or_else(|| {
            Refusal::new(
                RejectClass::UnknownName,
                format!(
                    "`{name}` is not a pool name: `kind:id` with kind {}",
                    kinds.join(" or ")
                ),
            )
        })
    }

    /// The pool member `m` is in for points type `p`.
    fn membership(&self, m: usize, p: PointsId) -> Option<usize> {
        self.memberships.get(&(m, p)).copied()
    }
}
