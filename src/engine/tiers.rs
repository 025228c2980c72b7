//! Tiers: measures over the tier window, upgrades right after the event that
//! crossed a threshold, requalification at period ends (keep thresholds,
//! downgrade step and grace), lifetime status, and the perks a tier grants.

use super::eval::{self, Scope};
use super::ledger::EntryKind;
use super::member::{Member, StatusMatch, Wallet};
use super::purchases::Purchase;
use super::{unknown_member, DueKind, Engine, Refusal};
use crate::check::suggest;
use crate::compile::calendar;
use crate::compile::ir::{
    Downgrade, Measure, PointsId, Program, Term, TierRank, Tiers, Value, Window,
};
use crate::events::{Event, RejectClass, SetTier};
use crate::syntax::ast::{CalendarUnit, TimeUnit};
use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use smallvec::SmallVec;

/// The tier measures as they stand at `now`.
pub fn current_measures<C: FromIterator<Decimal>>(
    member: &Member,
    program: &Program,
    now: DateTime<Utc>,
) -> C {
    let Some(tiers) = &program.tiers else {
        return std::iter::empty().collect();
    };
    let rolling_since = match tiers.window {
        Window::Rolling(term) => Some(calendar::before(program.timezone, now, term)),
        _ => None,
    };
    tiers
        .measures
        .iter()
        .enumerate()
        .map(|(i, measure)| match (measure, rolling_since) {
            (Measure::Balance(p), _) => member
                .wallets
                .get(p.index())
                .map_or(Decimal::ZERO, |w| w.balance()),
            (_, Some(since)) => member
                .rare
                .iter()
                .flat_map(|rare| &rare.window_entries)
                .filter(|(t, m, _)| *m == i && *t > since)
                .map(|(_, _, v)| *v)
                .sum(),
            (_, None) => member.window.get(i).copied().unwrap_or_default(),
        })
        .collect()
}

/// Adds an event of member `m` to the measures, and the points `earned`
/// on it per type; returns what it added to each, so a return can take it
/// back. Without an event (a referrer's award on another member's event),
/// the points earned alone, at `at`.
pub fn add_measures(
    engine: &mut Engine,
    m: usize,
    event: Option<&Event>,
    earned: &[Decimal],
    at: DateTime<Utc>,
) -> SmallVec<[(usize, Decimal); 4]> {
    let program = engine.program;
    let Some(tiers) = &program.tiers else {
        return SmallVec::new();
    };
    let contributions: SmallVec<[(usize, Decimal); 4]> = tiers
        .measures
        .iter()
        .enumerate()
        .filter_map(|(i, measure)| {
            let value = match measure {
                Measure::PointsEarned(p) => earned.get(p.index()).copied()?,
                Measure::Count(e) if event?.kind == *e => Decimal::ONE,
                Measure::FieldSum(e, f) if event?.kind == *e => match event?.fields.get(*f) {
                    Some(Value::Number(n)) => *n,
                    _ => return None,
                },
                _ => return None,
            };
            (!value.is_zero()).then_some((i, value))
        })
        .collect();
    if let Some(member) = engine.members.get_mut(m) {
        add_to_window(member, tiers, &contributions, at);
    }
    contributions
}

fn add_to_window(
    member: &mut Member,
    tiers: &Tiers,
    contributions: &[(usize, Decimal)],
    at: DateTime<Utc>,
) {
    for (i, value) in contributions {
        if matches!(tiers.window, Window::Rolling(_)) {
            member.rare_mut().window_entries.push_back((at, *i, *value));
        } else if let Some(sum) = member.window.get_mut(*i) {
            *sum += *value;
        }
    }
}

/// Takes a returned share of a purchase back out of the measures: points
/// earned by what was reversed (`reversed` per points type), counts only
/// when the purchase is returned in full, field sums in proportion. A
/// purchase from a period already closed no longer counts.
pub fn take_back_measures(
    member: &mut Member,
    program: &Program,
    purchase: &Purchase,
    returned_now: Decimal,
    reversed: &[Decimal],
) {
    let Some(tiers) = &program.tiers else { return };
    let fully_returned = purchase.returned >= purchase.amount;
    let taken: Vec<(usize, Decimal)> = purchase
        .measures
        .iter()
        .filter_map(|(i, value)| match tiers.measures.get(*i) {
            Some(Measure::Count(_)) => fully_returned.then_some((*i, -*value)),
            Some(Measure::PointsEarned(p)) => {
                Some((*i, -reversed.get(p.index()).copied().unwrap_or_default()))
            }
            Some(_) => Some((
                *i,
                -(*value * returned_now)
                    .checked_div(purchase.amount)
                    .unwrap_or(*value),
            )),
            None => None,
        })
        .collect();
    let in_this_period = purchase.period == u64::from(member.periods);
    if matches!(tiers.window, Window::Rolling(_)) || in_this_period {
        add_to_window(member, tiers, &taken, purchase.time);
    }
}

/// The highest tier whose threshold the measures meet (0 if none).
fn qualified(tiers: &Tiers, scope: &Scope) -> TierRank {
    tiers
        .tiers
        .iter()
        .enumerate()
        .rev()
        .find(|(_, t)| t.qualify.as_ref().is_none_or(|q| eval::holds(q, scope)))
        .map_or(0, |(rank, _)| rank)
}

/// Whether the measures keep a member in `rank` (its keep threshold, or its own).
fn keeps(tiers: &Tiers, rank: TierRank, scope: &Scope) -> bool {
    tiers.tiers.get(rank).is_none_or(|t| {
        t.keep
            .as_ref()
            .or(t.qualify.as_ref())
            .is_none_or(|q| eval::holds(q, scope))
    })
}

/// Whether every review of `member` from now on would change nothing and
/// write nothing until its next event: it is at its floor (no review can
/// move it down), has no drop waiting, and either its measures are all zero
/// or they cannot matter (upgrades come with events, and nothing rolls
/// over). Nothing but an event raises a measure, and a `when` tier's
/// condition is only asked at a review with `upgrade at period end`.
fn reviews_idle(tiers: &Tiers, member: &Member, measures: &[Decimal]) -> bool {
    let upgrades_at_review = !tiers.upgrade_immediately;
    let measures_matter = upgrades_at_review || tiers.rollover.iter().any(Option::is_some);
    let when_tier = tiers.tiers.iter().any(|t| t.values.is_none());
    member.tier() == member.floor()
        && member.pending_downgrade().is_none()
        && !(upgrades_at_review && when_tier)
        && (!measures_matter || measures.iter().all(Decimal::is_zero))
}

/// A scope over the measures only (tier thresholds see nothing else).
/// What a review at a period end decides for a member in `current`: the
/// tier, and the grace a downgrade waits for.
fn review(
    tiers: &Tiers,
    current: TierRank,
    floor: TierRank,
    scope: &Scope,
) -> (TierRank, Option<Term>) {
    let reached = qualified(tiers, scope);
    let mut target = current;
    if !tiers.upgrade_immediately && reached > current {
        target = reached;
    }
    match (keeps(tiers, current, scope), tiers.downgrade) {
        (false, Downgrade::AtPeriodEnd { step, grace }) => {
            let lowest = step.map_or(0, |s| current.saturating_sub(s as usize));
            (reached.max(lowest).max(floor).min(current), grace)
        }
        _ => (target, None),
    }
}

/// A member the next review would move down if nothing more happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Projected {
    pub member: String,
    pub tier: TierRank,
    pub to: TierRank,
    /// When it drops: the period end that reviews it, or for a member
    /// already in a grace period, the grace's end.
    pub at: DateTime<Utc>,
    /// The measures as they would stand then.
    pub measures: Vec<Decimal>,
}

impl Engine<'_> {
    /// Members whose tier the next period end would lower, if nothing more
    /// happened after `now`, in id order.
    pub fn projected_downgrades(&self, now: DateTime<Utc>) -> Vec<Projected> {
        let program = self.program;
        let Some(tiers) = &program.tiers else {
            return Vec::new();
        };
        let mut out: Vec<Projected> = self
            .members
            .iter()
            .enumerate()
            .filter(|(m, _)| !self.is_pool(*m))
            .filter_map(|(_, member)| {
                // A member in a grace already drops when it ends; the
                // others at the next review.
                let (at, pending) = match member.pending_downgrade() {
                    Some((to, until)) => (until, Some(to.max(member.floor_at(until)))),
                    None => (next_period_end(program, now, member), None),
                };
                let measures: Vec<Decimal> = current_measures(member, program, at);
                let scope = measures_scope(&measures, calendar::local(program.timezone, at));
                let to = pending
                    .unwrap_or_else(|| review(tiers, member.tier(), member.floor_at(at), &scope).0);
                (to < member.tier()).then(|| Projected {
                    member: member.id.to_string(),
                    tier: member.tier(),
                    to,
                    at,
                    measures: measures.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.member.cmp(&b.member));
        out
    }
}

/// Whether every member's tier periods end at the same instants (a
/// calendar window's, or a rolling window's month ends), so their period
/// ends wait together (`period_ends`) rather than a queued item each.
fn shared_period_ends(program: &Program) -> bool {
    matches!(
        program.tiers.as_ref().map(|t| t.window),
        Some(Window::Calendar(..) | Window::Rolling(_)) | None
    )
}

/// The end of `member`'s current tier period, if the program has tiers.
pub(super) fn period_end_of(program: &Program, member: &Member) -> Option<DateTime<Utc>> {
    program.tiers.as_ref()?;
    Some(next_period_end(program, member.period_started, member))
}

/// The end of the tier period that `from` falls in, for `member`.
pub(super) fn next_period_end(
    program: &Program,
    from: DateTime<Utc>,
    member: &Member,
) -> DateTime<Utc> {
    let tz = program.timezone;
    let date = calendar::local(tz, from).date();
    let start = |date| calendar::start_of_day(tz, date);
    let anniversary_of = |anchor| {
        // Each anniversary counts from the anchor itself, so one clamped
        // to 28 February returns to 29 February in leap years. The first
        // after `from` is at most a year past `from`'s year's: counting
        // starts there, not at the first (a member's years are many).
        let anchor = calendar::local(tz, anchor);
        let years = date.year().saturating_sub(anchor.year()).saturating_sub(1);
        (u32::try_from(years).unwrap_or(0).max(1)..=u32::MAX)
            .map(|count| {
                let term = Term {
                    count,
                    unit: TimeUnit::Year,
                };
                calendar::instant(tz, calendar::add_term(anchor, term))
            })
            .find(|anniversary| *anniversary > from)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    match program.tiers.as_ref().map(|t| t.window) {
        Some(Window::Calendar(unit, None)) => start(calendar::next_unit_start(unit, date, 0)),
        Some(Window::Calendar(unit, Some(anchor))) => {
            start(calendar::next_anchored_start(unit, anchor, date))
        }
        // A rolling window is reviewed at every month end.
        Some(Window::Rolling(_)) | None => {
            start(calendar::next_unit_start(CalendarUnit::Month, date, 0))
        }
        Some(Window::Membership) => anniversary_of(member.enrolled),
        Some(Window::Qualification) => anniversary_of(member.period_started),
    }
}

fn measures_scope<'a>(measures: &'a [Decimal], local: chrono::NaiveDateTime) -> Scope<'a> {
    Scope {
        measures,
        ..Scope::at(local)
    }
}

impl Engine<'_> {
    /// Queues member `m`'s period end at `at`, the one current from now on.
    pub(super) fn schedule_period_end(&mut self, m: usize, at: DateTime<Utc>) {
        self.seq += 1;
        let seq = self.seq;
        if shared_period_ends(self.program) {
            self.period_ends.add(at, super::slot32(m), seq);
        } else {
            self.queue(at, m, seq, DueKind::PeriodEnd);
        }
        if let Some(member) = self.members.get_mut(m) {
            member.period_end_seq = seq;
        }
    }

    /// A new member: the lowest tier, its perks, and the first period end.
    pub(super) fn joined(&mut self, m: usize, event: &Event) {
        let program = self.program;
        let Some(tiers) = &program.tiers else { return };
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        member.period_started = event.time;
        let next = next_period_end(program, event.time, member);
        let name = tiers.tiers.first().map_or("", |t| t.name.as_str());
        let entry = self.record(m, EntryKind::TierChange, event.time, None, Decimal::ZERO);
        entry.note = format!("joined at {name}");
        entry.tier = Some(0);
        self.grant_perks(m, None, 0, event.time);
        self.schedule_period_end(m, next);
    }

    /// After an event that raised member `m`'s balance of `p` without
    /// running rules (an adjust credit, a cancelled redemption, points
    /// received): with a `balance of p` measure, judged as after an event
    /// that ran rules. A pool has no tier.
    pub(super) fn balance_raised(&mut self, m: usize, p: PointsId, now: DateTime<Utc>) {
        let measured = self
            .program
            .tiers
            .as_ref()
            .is_some_and(|tiers| tiers.measures.contains(&Measure::Balance(p)));
        if measured && !self.is_pool(m) {
            self.after_event(m, now);
        }
    }

    /// After an event: lifetime status, immediate upgrades, and a pending
    /// downgrade called off when the member requalifies.
    pub(super) fn after_event(&mut self, m: usize, now: DateTime<Utc>) {
        let program = self.program;
        let Some(tiers) = &program.tiers else { return };
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        for lifetime in &tiers.lifetime {
            let earned = member
                .wallets
                .get(lifetime.points.index())
                .and_then(Wallet::activity)
                .map_or(Decimal::ZERO, |activity| activity.lifetime_earned);
            if earned >= lifetime.threshold && member.floor() < lifetime.tier {
                member.set_floor(lifetime.tier);
            }
        }
        let measures: SmallVec<[Decimal; 4]> = current_measures(member, program, now);
        let scope = measures_scope(&measures, calendar::local(program.timezone, now));
        let current = member.tier();
        let mut target = member.floor().max(current);
        if tiers.upgrade_immediately {
            target = target.max(qualified(tiers, &scope));
        }
        if member.pending_downgrade().is_some()
            && (target > current || keeps(tiers, current, &scope))
        {
            member.rare_mut().pending_downgrade = None;
        }
        if target > current {
            let why = if target == member.floor() && qualified(tiers, &scope) < target {
                "lifetime status"
            } else {
                "threshold reached"
            };
            self.set_tier(m, target, now, why);
            // A qualification year starts at the upgrade.
            if tiers.window == Window::Qualification {
                let reached = qualified(tiers, &scope);
                self.start_period(m, now, &measures, reached);
            }
        }
    }

    /// A tier period ends: requalify on the period's measures, then start afresh.
    pub(super) fn period_end(&mut self, m: usize, at: DateTime<Utc>) {
        let program = self.program;
        let Some(tiers) = &program.tiers else { return };
        let Some(member) = self.members.get(m) else {
            return;
        };
        let measures: SmallVec<[Decimal; 4]> = current_measures(member, program, at);
        let scope = measures_scope(&measures, calendar::local(program.timezone, at));
        let current = member.tier();
        let reached = qualified(tiers, &scope);
        let (target, grace) = review(tiers, current, member.floor_at(at), &scope);
        let unmatched = review(tiers, current, member.floor(), &scope).0;
        let waiting = member.pending_downgrade();
        self.explain_held(m, at, unmatched, target);
        match grace.map(|g| calendar::after(program.timezone, at, g)) {
            Some(until) if target < current => {
                // A drop already waiting keeps its date: a rolling window
                // is reviewed every month, and a later review must not push
                // the drop further (it may only lower its target).
                if let Some(member) = self.members.get_mut(m) {
                    member.rare_mut().pending_downgrade = Some(match waiting {
                        Some((to, when)) => (to.min(target), when),
                        None => (target, until),
                    });
                }
                if waiting.is_none() {
                    self.schedule(until, m, DueKind::GraceEnd);
                }
            }
            _ if target != current => {
                let why = if target > current {
                    "requalified upward"
                } else {
                    "not requalified"
                };
                self.set_tier(m, target, at, why);
            }
            _ => {}
        }
        self.start_period(m, at, &measures, reached);
    }

    /// Starts a member's next tier period at `at`: the measures start
    /// afresh but for what `rollover` carries over (surplus above the
    /// threshold of the tier `reached`, up to the cap, each with a ledger
    /// row), and the period's end is scheduled.
    fn start_period(
        &mut self,
        m: usize,
        at: DateTime<Utc>,
        measures: &[Decimal],
        reached: TierRank,
    ) {
        let program = self.program;
        let Some(tiers) = &program.tiers else { return };
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        let mut carried = Vec::new();
        if let Window::Rolling(term) = tiers.window {
            let since = calendar::before(program.timezone, at, term);
            if let Some(rare) = member.rare.as_deref_mut() {
                let entries = &mut rare.window_entries;
                while entries.front().is_some_and(|(t, _, _)| *t <= since) {
                    entries.pop_front();
                }
            }
        } else {
            member.window.iter_mut().for_each(|v| *v = Decimal::ZERO);
            let carried_in = (member.rare.as_deref_mut())
                .map(|rare| std::mem::take(&mut rare.carried))
                .unwrap_or_default();
            let floor = tiers.tiers.get(reached).and_then(|t| t.values.as_ref());
            let thresholds = floor.into_iter().flatten().zip(&tiers.rollover);
            for (i, (threshold, cap)) in thresholds.enumerate() {
                let Some(cap) = cap else { continue };
                let held = measures.get(i).copied().unwrap_or_default();
                // What was carried in counted toward the period that ends,
                // and is gone with it: the surplus carried is at most what
                // the period itself added.
                let own = held - carried_in.get(i).copied().unwrap_or_default();
                let carry = (held - threshold).min(own).min(*cap);
                if let (true, Some(slot)) = (carry > Decimal::ZERO, member.window.get_mut(i)) {
                    *slot = carry;
                    carried.push((i, carry));
                }
            }
            if !carried.is_empty() {
                let mut kept = vec![Decimal::ZERO; member.window.len()];
                for &(i, carry) in &carried {
                    if let Some(slot) = kept.get_mut(i) {
                        *slot = carry;
                    }
                }
                member.rare_mut().carried = kept;
            }
        }
        member.period_started = at;
        member.periods = member.periods.saturating_add(1);
        let next = next_period_end(program, at, member);
        let idle = reviews_idle(
            tiers,
            member,
            &current_measures::<SmallVec<[Decimal; 4]>>(member, program, at),
        );
        member.reviews_paused = idle;
        for (i, carry) in carried {
            let name = tiers.measure_names.get(i).map_or("", String::as_str);
            let entry = self.record(m, EntryKind::Rollover, at, None, carry);
            // As a person writes it (1, not the 1.0 a balance of tenths
            // leaves): the note is read, not summed.
            entry.note = format!("{} {name} carried into the next period", carry.normalize());
        }
        if next > at && !idle {
            self.schedule_period_end(m, next);
        }
        // A rolling window is reviewed at month ends, but has no periods.
        // The rules on a start wake paused reviews, as any event of the
        // member does: the next start comes too.
        if !matches!(tiers.window, Window::Rolling(_)) {
            self.note_period_start(m, at);
        }
    }

    /// Before an event of member `m` at `now`: if its reviews were paused,
    /// the period is brought to the one `now` falls in (the reviews skipped
    /// would each have changed nothing but the period's start) and its end
    /// queued, as if every review had run.
    pub(super) fn wake_reviews(&mut self, m: usize, now: DateTime<Utc>) {
        let program = self.program;
        let Some(member) = self.members.get_mut(m).filter(|m| m.reviews_paused) else {
            return;
        };
        member.reviews_paused = false;
        loop {
            let end = next_period_end(program, member.period_started, member);
            if end > now || end <= member.period_started {
                break;
            }
            member.period_started = end;
            member.periods = member.periods.saturating_add(1);
        }
        let next = next_period_end(program, member.period_started, member);
        self.schedule_period_end(m, next);
    }

    pub(super) fn grace_end(&mut self, m: usize, at: DateTime<Utc>) {
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        // The drop this grace end was queued for (`Engine::is_current`).
        let Some((target, _)) =
            (member.rare.as_deref_mut()).and_then(|rare| rare.pending_downgrade.take())
        else {
            return;
        };
        // Lifetime status reached during the grace is a floor too, and so
        // is a status match that holds at its end.
        let unmatched = target.max(member.floor());
        let target = target.max(member.floor_at(at));
        let tier = member.tier();
        self.explain_held(m, at, unmatched, target);
        if target < tier {
            self.set_tier(m, target, at, "not requalified, after grace");
        }
    }

    /// `set_tier`: member `m` holds at least the tier through the `until`
    /// day (a status match, a manual upgrade), moving up to it at once if
    /// below; the tier rules go on as before (measures, upgrades above it,
    /// reviews, which cannot drop the member below it while it holds). A
    /// later `set_tier` replaces it.
    pub(super) fn match_status(
        &mut self,
        m: usize,
        set: &SetTier,
        event: &Event,
    ) -> Result<(), Refusal> {
        let program = self.program;
        let Some((tiers, highest)) = program
            .tiers
            .as_ref()
            .and_then(|t| Some((t, t.status_match?)))
        else {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                "the program takes no `set_tier`: its tiers have no `status match up to` line",
            ));
        };
        let name = |rank: TierRank| tiers.tiers.get(rank).map_or("?", |t| t.name.as_str());
        let Some(rank) = tiers.tiers.iter().position(|t| t.name == set.tier) else {
            let names = tiers.tiers.iter().map(|t| t.name.as_str());
            let hint = suggest::closest(&set.tier, names)
                .map(|close| format!("; did you mean `{close}`?"))
                .unwrap_or_default();
            return Err(Refusal::new(
                RejectClass::UnknownName,
                format!("unknown tier `{}`{hint}", set.tier),
            ));
        };
        if rank > highest {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!(
                    "a status match goes up to `{}`, not `{}`",
                    name(highest),
                    set.tier
                ),
            ));
        }
        let now = event.time;
        let lapses = calendar::start_of_day(program.timezone, set.until + chrono::Days::new(1));
        if lapses <= now {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("a status match until {} would be over already", set.until),
            ));
        }
        let member = self.members.get_mut(m).ok_or_else(unknown_member)?;
        member.rare_mut().status_match = Some(StatusMatch {
            tier: rank,
            lapses,
            reason: set.reason.as_str().into(),
            until: set.until,
        });
        if rank > member.tier() {
            let why = format!("status match: {}, until {}", set.reason, set.until);
            self.set_tier(m, rank, now, &why);
        }
        Ok(())
    }

    /// Tells an explanation of member `m` that its status match held it at
    /// `target` at `at`, where the tier rules alone gave `unmatched`.
    fn explain_held(&mut self, m: usize, at: DateTime<Utc>, unmatched: TierRank, target: TierRank) {
        let program = self.program;
        let (Some(tiers), Some(member)) = (&program.tiers, self.members.get(m)) else {
            return;
        };
        let Some(held) = member.status_match().filter(|_| unmatched < target) else {
            return;
        };
        let name = tiers.tiers.get(target).map_or("?", |t| t.name.as_str());
        let text = format!(
            "tier: {name} held by the status match ({}) until {}",
            held.reason, held.until
        );
        if let Some(explanation) = self.explanation.as_mut().filter(|e| e.member == member.id) {
            explanation.note(at, text);
        }
    }

    fn set_tier(&mut self, m: usize, to: TierRank, at: DateTime<Utc>, why: &str) {
        let program = self.program;
        let Some(tiers) = &program.tiers else { return };
        let Some(member) = self.members.get_mut(m) else {
            return;
        };
        let from = member.tier();
        member.set_tier(to);
        let name = |rank: TierRank| tiers.tiers.get(rank).map_or("?", |t| t.name.as_str());
        let note = format!("{} → {} ({why})", name(from), name(to));
        let entry = self.record(m, EntryKind::TierChange, at, None, Decimal::ZERO);
        entry.note = note;
        entry.tier = Some(to);
        self.grant_perks(m, Some(from), to, at);
        self.note_tier_move(m, from, to, at);
    }

    /// Records the perks a member gains by moving from one tier to another.
    fn grant_perks(&mut self, m: usize, from: Option<TierRank>, to: TierRank, at: DateTime<Utc>) {
        let program = self.program;
        for perk in &program.perks {
            let had = from.is_some_and(|f| perk.tiers.contains(&f));
            if perk.tiers.contains(&to) && !had {
                self.record(m, EntryKind::PerkGrant, at, None, Decimal::ZERO)
                    .note = perk.name.clone();
            }
        }
    }
}
