//! Manual adjustments: a credit or debit of points with a reason code, as a
//! service agent or a batch correction makes them. A credit may belong to a
//! purchase (a return of that purchase then takes it back in proportion, as
//! it does the rules' awards) or be goodwill (never taken back), and may
//! carry its own expiry date.

use super::ledger::EntryKind;
use super::purchases::PurchaseAward;
use super::{points_named, too_large, unknown_member, within, Engine, Refusal};
use crate::compile::calendar;
use crate::events::{Adjust, Event, RejectClass};
use crate::syntax::ast::Rounding;
use chrono::Duration;
use rust_decimal::Decimal;

impl Engine<'_> {
    /// `adjust`: `points` (signed) of `points_type`, for `reason`.
    pub(super) fn adjust(
        &mut self,
        m: usize,
        adjust: &Adjust,
        event: &Event,
    ) -> Result<(), Refusal> {
        let program = self.program;
        let Adjust {
            points: amount,
            points_type: type_name,
            reason,
            purchase,
            expires,
        } = adjust;
        let (amount, expires) = (*amount, *expires);
        let (p, points) = points_named(program, type_name)?;
        if points.qualifying {
            return Err(Refusal::new(RejectClass::NotAllowed, format!(
                "`{type_name}` are qualifying points: tier measures come from earning rules, not adjustments"
            )));
        }
        if amount.is_zero() || amount.round_dp(points.precision) != amount {
            return Err(Refusal::new(RejectClass::NotAllowed, format!(
                "an adjust moves a non-zero amount of {type_name} with at most {} decimals, not {amount}",
                points.precision
            )));
        }
        let now = event.time;
        if amount < Decimal::ZERO {
            if purchase.is_some() || expires.is_some() {
                return Err(Refusal::new(
                    RejectClass::NotAllowed,
                    "a debit names no `purchase` and no `expires`: those are for credits",
                ));
            }
            let debit = -amount;
            let wallet = self.wallet(m, p).ok_or_else(unknown_member)?;
            let balance = wallet.balance();
            if debit > balance {
                return Err(Refusal::new(
                    RejectClass::Balance,
                    format!("a debit of {debit} {type_name} is beyond the balance of {balance}"),
                ));
            }
            wallet.take_back(debit, None);
            self.count(m, p, |t| t.reversed += debit);
            self.record(m, EntryKind::Adjust, now, Some(p), amount).note = reason.clone();
            self.touch(m, p, now);
            return Ok(());
        }
        let issued = self
            .totals
            .get(p.index())
            .map_or(Decimal::ZERO, |t| t.issued);
        if !within(issued, amount) {
            return Err(too_large(&format!("the {type_name} issued")));
        }
        if let Some(id) = &purchase {
            self.open_purchase(m, id, now, "adjust for")?;
        }
        // An override expires at the end of its day, in the program's zone.
        let expires_at = match expires {
            Some(day) => {
                let at = calendar::start_of_day(program.timezone, day + Duration::days(1));
                if at <= now {
                    return Err(Refusal::new(
                        RejectClass::NotAllowed,
                        format!("an adjust expiring on {day} would be expired already"),
                    ));
                }
                Some(at)
            }
            None => calendar::expiry(program.timezone, points.expiry, now),
        };
        let bucket = self.new_bucket(m, amount, now, now, expires_at);
        let kept = self.wallet(m, p).ok_or_else(unknown_member)?.add(bucket);
        if let Some(bucket) = kept {
            self.schedule_bucket(m, p, bucket, false);
        }
        self.count(m, p, |t| t.issued += amount);
        self.touch(m, p, now);
        let note = match &purchase {
            Some(id) => format!("{reason} (for purchase {id})"),
            None => reason.clone(),
        };
        self.record(m, EntryKind::Adjust, now, Some(p), amount).note = note;
        if let (Some(id), Some(member)) = (purchase.as_deref(), self.members.get_mut(m)) {
            let credit = PurchaseAward {
                points: p,
                rule: None,
                awarded: amount,
                reversed: Decimal::ZERO,
                expired: Decimal::ZERO,
                bucket: kept,
                // A credit is taken back in proportion, rounded down like
                // the rules' default.
                rounding: Rounding::Down,
                shares: None,
            };
            member
                .purchases
                .change(&member.id, id, |purchase| purchase.awards.push(credit));
        }
        self.balance_raised(m, p, now);
        Ok(())
    }
}

impl Engine<'_> {
    /// `cancel_redeem`: the redemption's points go back into buckets with
    /// the dates they were taken from; those whose expiry has passed
    /// meanwhile expire at once.
    pub(super) fn cancel_redeem(
        &mut self,
        m: usize,
        id: &str,
        event: &Event,
    ) -> Result<(), Refusal> {
        let member = self.members.get_mut(m).ok_or_else(unknown_member)?;
        let member_id = member.id.clone();
        let redemptions = member.rare.as_deref_mut().map(|rare| &mut rare.redemptions);
        let redemption = redemptions.and_then(|r| r.get_mut(id)).ok_or_else(|| {
            Refusal::new(
                RejectClass::UnknownName,
                format!("cancel of unknown redemption `{id}` for member `{member_id}`"),
            )
        })?;
        if redemption.cancelled {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("redemption `{id}` is already cancelled"),
            ));
        }
        redemption.cancelled = true;
        let redemption = redemption.clone();
        let (p, now) = (redemption.points, event.time);
        let amount: Decimal = redemption.parts.iter().map(|b| b.amount).sum();
        let mut expired = Vec::new();
        let mut restored = Vec::new();
        for part in redemption.parts {
            let bucket = self.new_bucket(
                m,
                part.amount,
                part.earned_at,
                part.available_at,
                part.expires_at,
            );
            if let Some(member) = self.members.get_mut(m) {
                member.note_given_back(part.id, bucket.id);
            }
            if bucket.expires_at.is_some_and(|at| at <= now) {
                expired.push(bucket);
            } else {
                restored.push(bucket);
            }
        }
        // All of it comes back first, so the balance column adds up, then
        // what has expired meanwhile goes.
        for bucket in expired.iter().cloned().chain(restored) {
            let expires_at = bucket.expires_at;
            let kept = self.wallet(m, p).ok_or_else(unknown_member)?.add(bucket);
            // What has expired meanwhile goes below, with no clock work.
            if let Some(bucket) = kept.filter(|_| expires_at.is_some_and(|at| at > now)) {
                self.schedule_bucket(m, p, bucket, false);
            }
        }
        self.count(m, p, |t| t.spent -= amount);
        self.touch(m, p, now);
        let entry = self.record(m, EntryKind::RedeemCancel, now, Some(p), amount);
        entry.note = format!("{id} cancelled ({})", redemption.note);
        entry.cost = redemption.cost.map(|c| -c);
        for bucket in expired {
            if let Some(gone) = self.wallet(m, p).and_then(|w| w.remove(bucket.id)) {
                self.expired(m, p, &gone, now, format!("expired while {id} held it"));
            }
        }
        self.balance_raised(m, p, now);
        Ok(())
    }
}
