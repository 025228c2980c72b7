//! Earning: the rules on an event, evaluated in declaration order against
//! the member's state before the event; awards rounded per rule and points
//! type, cut by caps and budgets, exclusive groups resolved best-of.

use super::eval::{self, Scope};
use super::explain::RuleOutcome;
use super::ledger::EntryKind;
use super::member::{Counter, Member};
use super::purchases::{BoughtItem, ItemShares, Purchase, PurchaseAward};
use super::{tiers, too_large, within, Engine, Refusal};
use crate::compile::calendar;
use crate::compile::ir::{
    Award, AwardAmount, Budget, Condition, EventType, Expr, Items, Limit, Measure, Per, PointsId,
    Program, Rule, RuleId, TierRank, Value,
};
use crate::diagnostic::and_list;
use crate::events::{Body, Event, RejectClass};
use crate::syntax::ast::{Period, Rounding};
use rust_decimal::{Decimal, RoundingStrategy};
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// Rounds to `precision` decimal places with a rule's rounding mode.
pub fn round(value: Decimal, precision: u32, mode: Rounding) -> Decimal {
    let strategy = match mode {
        Rounding::Down => RoundingStrategy::ToZero,
        Rounding::Up => RoundingStrategy::AwayFromZero,
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
    };
    value.round_dp_with_strategy(precision, strategy)
}

/// One rule's proposed award of one points type on one event.
#[derive(Debug, Clone)]
struct Proposal {
    rule: RuleId,
    points: PointsId,
    raw: Decimal,
    /// Rounded, before caps.
    rounded: Decimal,
    /// After caps and budgets.
    awarded: Decimal,
    /// Why and by how much it was cut.
    cuts: Vec<(Decimal, String)>,
    /// How it was computed, for an explanation (empty when the member is
    /// not being explained).
    arithmetic: String,
    /// What each basket item gave of `raw`, by its place in the basket.
    item_parts: Vec<(usize, Decimal)>,
}

impl Engine<'_> {
    /// Fires the rules on an event and applies what they award, then the
    /// event's effect on tier measures and tiers. On a move between tiers,
    /// `moved` gives the tier left and the tier reached: the rules read
    /// them as `previous_tier` and `tier` (an earlier rule on the same
    /// record may have moved the member on since). An award that cannot be
    /// computed, or a sum it would take past [`LARGEST`], is an error
    /// before anything changes.
    pub(super) fn earn(
        &mut self,
        m: usize,
        event: &Event,
        moved: Option<(TierRank, TierRank)>,
    ) -> Result<(), Refusal> {
        let program = self.program;
        let Some(event_type) = program.events.get(event.kind) else {
            return Ok(());
        };
        let Some(member) = self.members.get(m) else {
            return Ok(());
        };
        let tz = program.timezone;
        let local = calendar::local(tz, event.time);
        // The few values an event's rules see are kept on the stack
        // (`SmallVec`): allocating them was about 1 % of a run.
        let balances: SmallVec<[Decimal; 4]> = member.wallets.iter().map(|w| w.balance()).collect();
        let measures: SmallVec<[Decimal; 4]> = tiers::current_measures(member, program, event.time);
        let counters = self.counters_at(m, event, local.date());
        let (purchase_amount, basket) = match &event.body {
            Body::Purchase { amount, items } => (Some(*amount), items.as_slice()),
            _ => (None, [].as_slice()),
        };
        let referrer = member.referrer();
        let scope = Scope {
            fields: &event.fields,
            attributes: &member.attributes,
            tier: moved.map_or(member.tier(), |(_, to)| to),
            local,
            enrolled: member.enrolled_on,
            balances: &balances,
            measures: &measures,
            counters: &counters,
            first_purchase: purchase_amount.is_some() && !member.purchased,
            referred: referrer.is_some(),
            basket,
            item: None,
            previous_tier: moved.map(|(from, _)| from),
        };
        // The rules' outcomes are told only in an explanation of this
        // member: their texts are not written otherwise.
        let explaining = self
            .explanation
            .as_ref()
            .is_some_and(|e| e.member == event.member);

        let mut outcomes: Vec<RuleOutcome> = Vec::new();
        let mut fired: SmallVec<[RuleId; 8]> = SmallVec::new();
        // A rule with `stop` that fires leaves the rules after it unevaluated.
        let mut stopped_by: Option<&str> = None;
        for &rule_id in &event_type.rules {
            let Some(rule) = program.rules.get(rule_id.index()) else {
                continue;
            };
            if let Some(stopper) = stopped_by {
                if explaining {
                    let told = format!(
                        "not evaluated: rule `{stopper}` fired and stops the rules after it"
                    );
                    outcomes.push(RuleOutcome::skipped(rule_id, told));
                }
                continue;
            }
            match self.why_not(m, rule, rule_id, &scope, purchase_amount) {
                Some(Unfired::NoAmount(award)) if !reads_missing(award, &scope) => {
                    return Err(Refusal::new(
                        RejectClass::TooLarge,
                        format!(
                            "rule `{}` cannot compute its award: an `earn` amount divides by zero \
                         or exceeds the largest number loyalty holds",
                            rule.name
                        ),
                    ));
                }
                Some(reason) if explaining => {
                    let told = reason.told(program, event_type, &scope);
                    outcomes.push(RuleOutcome::skipped(rule_id, told));
                }
                Some(_) => {}
                None => {
                    fired.push(rule_id);
                    if rule.stop {
                        stopped_by = Some(rule.name.as_str());
                    }
                }
            }
        }
        // A share of a rule that loses its exclusive group is nothing, and a
        // share may itself decide a group: propose again until the losers
        // stop changing (at most once per rule, so it always ends).
        let mut losers: SmallVec<[RuleId; 4]> = SmallVec::new();
        let mut proposals;
        let mut rounds = 0;
        loop {
            proposals = self.propose(m, &fired, &losers, &scope, explaining)?;
            let settled = exclusive_losers(program.rules.as_slice(), &fired, &proposals);
            rounds += 1;
            let done = settled == losers || rounds > fired.len();
            losers = settled;
            if done {
                break;
            }
        }
        for proposal in proposals.iter_mut().filter(|p| is_in(&losers, p.rule)) {
            proposal.awarded = Decimal::ZERO;
        }
        self.cut_to_points_caps(m, &mut proposals, local.date());
        // The month the purchase's sales count in, asked of the calendar once.
        let sale = purchase_amount.map(|amount| {
            let month = calendar::period_key(Period::Month, local.date());
            (month, amount)
        });
        self.room_for(event, &proposals, &measures, sale)?;

        let mut purchase_awards: SmallVec<[PurchaseAward; 4]> = SmallVec::new();
        let mut limited: SmallVec<[RuleId; 4]> = SmallVec::new();
        let mut earned_now: SmallVec<[Decimal; 4]> =
            SmallVec::from_elem(Decimal::ZERO, program.points.len());
        // What the rules paying the referrer gave them, per type.
        let mut referrer_earned: SmallVec<[Decimal; 4]> = earned_now.clone();
        for rule_id in fired {
            let Some(rule) = program.rules.get(rule_id.index()) else {
                continue;
            };
            if is_in(&losers, rule_id) {
                if explaining {
                    outcomes.push(RuleOutcome::skipped(
                        rule_id,
                        "another rule of its exclusive group awarded more".to_string(),
                    ));
                }
                continue;
            }
            self.count_firing(m, rule, rule_id, local.date());
            // A return does not take back what the referrer was paid, nor
            // the firing that paid it.
            if !rule.limits.is_empty() && !rule.to_referrer {
                limited.push(rule_id);
            }
            // `why_not` made sure a rule paying the referrer has one.
            let paid = match (rule.to_referrer, referrer) {
                (true, Some(r)) => r,
                _ => m,
            };
            for proposal in of_rule(&proposals, rule_id) {
                if explaining {
                    let mut outcome = RuleOutcome::fired(
                        rule_id,
                        proposal.points,
                        proposal.arithmetic.clone(),
                        proposal.raw,
                        proposal.rounded,
                        proposal.awarded,
                        proposal.cuts.iter().map(|(_, why)| why.clone()).collect(),
                    );
                    if paid != m {
                        let to = self.members.get(paid).map(|r| r.id.as_str());
                        outcome.paid_to(to.unwrap_or_default());
                    }
                    let own = rule.expiry.is_some();
                    if let Some(points) =
                        program.points.get(proposal.points.index()).filter(|_| own)
                    {
                        let expiry = program.award_expiry(rule_id, points);
                        if let Some(at) = calendar::expiry(program.timezone, expiry, event.time) {
                            outcome.expires(at);
                        }
                    }
                    outcomes.push(outcome);
                }
                for (cut, why) in &proposal.cuts {
                    let entry = self.record(
                        paid,
                        EntryKind::CapCut,
                        event.time,
                        Some(proposal.points),
                        *cut,
                    );
                    entry.rule = Some(rule_id);
                    entry.note = why.clone();
                }
                if proposal.awarded.is_zero() {
                    continue;
                }
                self.use_limits(
                    paid,
                    rule,
                    rule_id,
                    proposal.points,
                    proposal.awarded,
                    local.date(),
                );
                if rule.preview {
                    // What it would have awarded: a row and a total, and
                    // nothing else.
                    let would = proposal.awarded;
                    self.count(m, proposal.points, |t| t.preview += would);
                    let entry = self.record(
                        m,
                        EntryKind::Preview,
                        event.time,
                        Some(proposal.points),
                        proposal.awarded,
                    );
                    entry.rule = Some(rule_id);
                    continue;
                }
                if paid != m {
                    // Paused reviews resume before the award raises a measure.
                    self.wake_reviews(paid, event.time);
                    self.award(paid, proposal.points, proposal.awarded, rule_id, event);
                    if let Some(earned) = referrer_earned.get_mut(proposal.points.index()) {
                        *earned += proposal.awarded;
                    }
                    continue;
                }
                let bucket = self.award(m, proposal.points, proposal.awarded, rule_id, event);
                if let Some(earned) = earned_now.get_mut(proposal.points.index()) {
                    *earned += proposal.awarded;
                }
                purchase_awards.push(PurchaseAward {
                    points: proposal.points,
                    rule: Some(rule_id),
                    awarded: proposal.awarded,
                    reversed: Decimal::ZERO,
                    expired: Decimal::ZERO,
                    bucket,
                    rounding: rule.rounding,
                    shares: (!proposal.item_parts.is_empty()).then(|| {
                        Box::new(ItemShares {
                            raw: proposal.raw,
                            items: proposal.item_parts.clone(),
                            returned: Decimal::ZERO,
                        })
                    }),
                });
            }
        }
        if let Some(explanation) = self.explanation.as_mut().filter(|_| explaining) {
            outcomes.sort_by_key(|o| o.rule);
            explanation.rules(outcomes);
        }
        let contributions = tiers::add_measures(self, m, Some(event), &earned_now, event.time);
        self.count_event(m, event, local.date());
        if let Some(amount) = purchase_amount {
            if let Some(member) = self.members.get_mut(m) {
                member.purchased = true;
                member.purchases.forget(event.time);
                let closes = program
                    .return_window
                    .map(|w| calendar::after(tz, event.time, w));
                let purchase = Purchase {
                    amount,
                    returned: Decimal::ZERO,
                    items: basket
                        .iter()
                        .map(|item| BoughtItem {
                            sku: item.sku.as_str().into(),
                            quantity: item.quantity,
                            returned: Decimal::ZERO,
                        })
                        .collect(),
                    awards: purchase_awards,
                    limited,
                    measures: contributions,
                    time: event.time,
                    period: u64::from(member.periods),
                };
                member
                    .purchases
                    .keep(&member.id, &event.id, closes, &purchase);
            }
            if let Some((month, amount)) = sale {
                *self.sales.entry(month).or_default() += amount;
            }
        }
        self.after_event(m, event.time);
        if let Some(r) = referrer.filter(|_| referrer_earned.iter().any(|e| !e.is_zero())) {
            tiers::add_measures(self, r, None, &referrer_earned, event.time);
            self.after_event(r, event.time);
        }
        Ok(())
    }

    /// Whether what `event` adds keeps every sum within [`LARGEST`]: the
    /// points issued program-wide (and what `preview` rules would have
    /// issued), the tier measures that sum one of its fields, and its
    /// month's sales.
    fn room_for(
        &self,
        event: &Event,
        proposals: &[Proposal],
        measures: &[Decimal],
        sale: Option<(i64, Decimal)>,
    ) -> Result<(), Refusal> {
        let program = self.program;
        for (p, points) in program.points.iter().enumerate() {
            let totals = self.totals.get(p);
            for preview in [false, true] {
                let added: Decimal = proposals
                    .iter()
                    .filter(|x| x.points == PointsId(p))
                    .filter(|x| {
                        program.rules.get(x.rule.index()).is_some_and(|r| r.preview) == preview
                    })
                    .map(|x| x.awarded)
                    .sum();
                let so_far =
                    totals.map_or(
                        Decimal::ZERO,
                        |t| if preview { t.preview } else { t.issued },
                    );
                if !within(so_far, added) {
                    let what = if preview {
                        "that preview rules would issue"
                    } else {
                        "issued"
                    };
                    return Err(too_large(&format!("the {} {what}", points.name)));
                }
            }
        }
        if let Some(tiers) = &program.tiers {
            for (i, measure) in tiers.measures.iter().enumerate() {
                let Measure::FieldSum(e, f) = measure else {
                    continue;
                };
                let value = match event.fields.get(*f) {
                    Some(Value::Number(n)) if *e == event.kind => *n,
                    _ => continue,
                };
                let so_far = measures.get(i).copied().unwrap_or_default();
                if !within(so_far, value) {
                    let name = tiers.measure_names.get(i).map_or("", String::as_str);
                    return Err(too_large(&format!("the tier measure {name}")));
                }
            }
        }
        if let Some((month, amount)) = sale {
            if !within(self.sales.get(&month).copied().unwrap_or_default(), amount) {
                return Err(too_large("the month's sales"));
            }
        }
        Ok(())
    }

    /// The awards of the rules that fired, rounded and cut by caps and
    /// budgets; shares of `losers` count as nothing.
    fn propose(
        &self,
        m: usize,
        fired: &[RuleId],
        losers: &[RuleId],
        scope: &Scope,
        explaining: bool,
    ) -> Result<SmallVec<[Proposal; 4]>, Refusal> {
        let program = self.program;
        let mut proposals: SmallVec<[Proposal; 4]> = SmallVec::new();
        for &rule_id in fired {
            let Some(rule) = program.rules.get(rule_id.index()) else {
                continue;
            };
            let awards = raw_awards(
                program, rule, rule_id, scope, &proposals, losers, explaining,
            )
            .ok_or_else(|| {
                Refusal::new(
                    RejectClass::TooLarge,
                    format!(
                        "rule `{}` cannot compute its award: it exceeds the largest number \
                         loyalty holds",
                        rule.name
                    ),
                )
            })?;
            for (points, raw, arithmetic, item_parts) in awards {
                let precision = program
                    .points
                    .get(points.index())
                    .map_or(0, |t| t.precision);
                let rounded = round(raw.max(Decimal::ZERO), precision, rule.rounding);
                let (awarded, cuts) =
                    self.cut(m, rule, rule_id, points, rounded, scope.local.date());
                proposals.push(Proposal {
                    rule: rule_id,
                    points,
                    raw,
                    rounded,
                    awarded,
                    cuts,
                    arithmetic,
                    item_parts,
                });
            }
        }
        Ok(proposals)
    }

    /// Why a rule does not fire on this event, or `None` if it does.
    fn why_not<'r>(
        &self,
        m: usize,
        rule: &'r Rule,
        rule_id: RuleId,
        scope: &Scope,
        purchase_amount: Option<Decimal>,
    ) -> Option<Unfired<'r>> {
        let date = scope.local.date();
        if let Some(effective) = self.program.effective.filter(|day| date < *day) {
            return Some(Unfired::BeforeEffective(effective));
        }
        if let Some((from, to)) = rule.during {
            if date < from || date > to {
                return Some(Unfired::Outside(from, to));
            }
        }
        if let Some(min) = rule.min_spend {
            if purchase_amount.is_none_or(|a| a < min) {
                return Some(Unfired::BelowMinimum(min));
            }
        }
        if let Some(failed) = rule
            .conditions
            .iter()
            .find(|c| !eval::decide(&c.predicate, scope))
        {
            return Some(Unfired::False(failed));
        }
        let member = self.members.get(m)?;
        if rule.to_referrer && member.referrer().is_none() {
            return Some(Unfired::NoReferrer);
        }
        // Limits before amounts: an amount that cannot be computed rejects
        // the record, and only a rule that would fire needs one.
        for (i, limit) in rule.limits.iter().enumerate() {
            let Some(holder) = self.limit_holder(m, limit) else {
                continue;
            };
            let key = Counter::Fired(rule_id, i, calendar::period_number(limit.period, date));
            let fired = holder.counted(self.counter_slots.key(key));
            if fired >= Decimal::from(limit.count) {
                return Some(Unfired::LimitReached(limit));
            }
        }
        if let Some(award) = rule.awards.iter().find(|a| !has_amount(a, scope)) {
            return Some(Unfired::NoAmount(award));
        }
        // A rule that earns only on basket items fires on a basket with
        // an item to earn on.
        let nothing_to_earn_on = |award: &Award| {
            award
                .items
                .as_ref()
                .is_some_and(|items| basket_items(items, scope).next().is_none())
        };
        if !rule.awards.is_empty() && rule.awards.iter().all(nothing_to_earn_on) {
            return Some(Unfired::NoItem(&rule.awards));
        }
        None
    }

    /// An award cut to what caps and budgets leave.
    fn cut(
        &self,
        m: usize,
        rule: &Rule,
        rule_id: RuleId,
        points: PointsId,
        rounded: Decimal,
        date: chrono::NaiveDate,
    ) -> (Decimal, Vec<(Decimal, String)>) {
        let mut awarded = rounded;
        let mut cuts = Vec::new();
        let Some(member) = self.members.get(m) else {
            return (awarded, cuts);
        };
        for (i, cap) in rule
            .caps
            .iter()
            .enumerate()
            .filter(|(_, c)| c.points == points)
        {
            let used = cap.period.map_or(Decimal::ZERO, |period| {
                let key = Counter::Capped(rule_id, i, calendar::period_number(period, date));
                member.counted(self.counter_slots.key(key))
            });
            let room = (cap.amount - used).max(Decimal::ZERO);
            if awarded > room {
                let scope = cap
                    .period
                    .map_or("event".to_string(), |p| format!("member per {}", p.name()));
                cuts.push((
                    awarded - room,
                    format!("cap {} per {scope}: {awarded} cut to {room}", cap.amount),
                ));
                awarded = room;
            }
        }
        for (i, budget) in rule
            .budgets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.points == points)
        {
            let used = self
                .budgets
                .get(&budget_key(rule_id, i, budget, date))
                .copied()
                .unwrap_or_default();
            let room = (budget.amount - used).max(Decimal::ZERO);
            if awarded > room {
                cuts.push((
                    awarded - room,
                    format!(
                        "budget of {} exhausted: {awarded} cut to {room}",
                        budget.amount
                    ),
                ));
                awarded = room;
            }
        }
        (awarded, cuts)
    }

    /// Cuts the live awards, in rule order, to what each points type's
    /// caps per member leave (`cap 500 per member per day` in `points`):
    /// the last of the event's cuts, after the rules' own caps, budgets and
    /// exclusive groups. Preview rules are not cut: they change nothing.
    fn cut_to_points_caps(&self, m: usize, proposals: &mut [Proposal], date: chrono::NaiveDate) {
        let program = self.program;
        let Some(member) = self.members.get(m) else {
            return;
        };
        if program.points.iter().all(|p| p.caps.is_empty()) {
            return;
        }
        // What the member, and their referrer, were awarded on the event
        // so far: each one's caps count their own awards.
        let referrer = member.referrer().and_then(|r| self.members.get(r));
        let mut awarded_on_event: SmallVec<[Decimal; 4]> =
            SmallVec::from_elem(Decimal::ZERO, program.points.len());
        let mut paid_to_referrer = awarded_on_event.clone();
        for proposal in proposals.iter_mut() {
            let Some(rule) = program.rules.get(proposal.rule.index()) else {
                continue;
            };
            let (holder, on_event) = match (rule.to_referrer, referrer) {
                _ if rule.preview => continue,
                (true, Some(referrer)) => (referrer, &mut paid_to_referrer),
                (true, None) => continue,
                (false, _) => (member, &mut awarded_on_event),
            };
            let Some(points) = program.points.get(proposal.points.index()) else {
                continue;
            };
            let Some(so_far) = on_event.get_mut(proposal.points.index()) else {
                continue;
            };
            for (i, (amount, period)) in points.caps.iter().enumerate() {
                let key = self.counter_slots.key(Counter::PointsCapped(
                    proposal.points,
                    i,
                    calendar::period_number(*period, date),
                ));
                let room = (*amount - holder.counted(key) - *so_far).max(Decimal::ZERO);
                if proposal.awarded > room {
                    let awarded = proposal.awarded;
                    proposal.cuts.push((
                        awarded - room,
                        format!(
                            "{} cap {amount} per member per {}: {awarded} cut to {room}",
                            points.name,
                            period.name()
                        ),
                    ));
                    proposal.awarded = room;
                }
            }
            *so_far += proposal.awarded;
        }
    }

    fn count_firing(&mut self, m: usize, rule: &Rule, rule_id: RuleId, date: chrono::NaiveDate) {
        let referrer = self.members.get(m).and_then(Member::referrer);
        for (i, limit) in rule.limits.iter().enumerate() {
            let holder = if limit.per_referrer {
                referrer
            } else {
                Some(m)
            };
            let Some(member) = holder.and_then(|h| self.members.get_mut(h)) else {
                continue;
            };
            let key = Counter::Fired(rule_id, i, calendar::period_number(limit.period, date));
            *member.counter(self.counter_slots.key(key)) += Decimal::ONE;
        }
    }

    /// Whose firings `limit` counts for member `m`: theirs, or for `limit
    /// N per referrer` their referrer's (none for a member referred by no
    /// one: the limit does not apply).
    fn limit_holder(&self, m: usize, limit: &Limit) -> Option<&Member> {
        let member = self.members.get(m)?;
        match limit.per_referrer {
            true => self.members.get(member.referrer()?),
            false => Some(member),
        }
    }

    fn use_limits(
        &mut self,
        m: usize,
        rule: &Rule,
        rule_id: RuleId,
        points: PointsId,
        awarded: Decimal,
        date: chrono::NaiveDate,
    ) {
        if let Some(member) = self.members.get_mut(m) {
            for (i, cap) in rule
                .caps
                .iter()
                .enumerate()
                .filter(|(_, c)| c.points == points)
            {
                if let Some(period) = cap.period {
                    let key = Counter::Capped(rule_id, i, calendar::period_number(period, date));
                    *member.counter(self.counter_slots.key(key)) += awarded;
                }
            }
        }
        if let Some(member) = self.members.get_mut(m).filter(|_| !rule.preview) {
            let caps = self
                .program
                .points
                .get(points.index())
                .map(|t| t.caps.as_slice());
            for (i, (_, period)) in caps.unwrap_or_default().iter().enumerate() {
                let key = Counter::PointsCapped(points, i, calendar::period_number(*period, date));
                *member.counter(self.counter_slots.key(key)) += awarded;
            }
        }
        for (i, budget) in rule
            .budgets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.points == points)
        {
            let key = budget_key(rule_id, i, budget, date);
            *self.budgets.entry(key).or_default() += awarded;
            // The member's share, so re-running the member (a late event)
            // can give it back first.
            if let Some(member) = self.members.get_mut(m) {
                *member.counter(self.counter_slots.key(Counter::Budget(key))) += awarded;
            }
        }
    }
}

/// Whether an `earn` line's amount has a value on this event (on each
/// basket item it earns on): a rate or a base that reads a missing field,
/// or divides by zero, has none.
fn has_amount(award: &Award, scope: &Scope) -> bool {
    match &award.amount {
        AwardAmount::Rate { amount, per } => {
            let valued = |scope: &Scope| {
                eval::number(amount, scope).is_some()
                    && per
                        .as_ref()
                        .is_none_or(|per| eval::number(&per.base, scope).is_some())
            };
            match &award.items {
                None => valued(scope),
                Some(items) => basket_items(items, scope).all(|(_, s)| valued(&s)),
            }
        }
        AwardAmount::ShareOf { .. } | AwardAmount::Multiply { .. } => true,
    }
}

/// The basket items an `earn` line earns on, each item its `where` holds
/// for, by its place in the basket and as the scope it is computed in.
fn basket_items<'a>(
    items: &'a Items,
    scope: &Scope<'a>,
) -> impl Iterator<Item = (usize, Scope<'a>)> {
    let scope = *scope;
    scope
        .basket
        .iter()
        .enumerate()
        .filter_map(move |(at, item)| {
            let on_item = Scope {
                item: Some(item),
                ..scope
            };
            let holds = items
                .filter
                .as_ref()
                .is_none_or(|f| eval::decide(&f.predicate, &on_item));
            holds.then_some((at, on_item))
        })
}

/// Why a rule did not fire, told in words only when explained.
enum Unfired<'r> {
    /// Before the program's `effective` day.
    BeforeEffective(chrono::NaiveDate),
    Outside(chrono::NaiveDate, chrono::NaiveDate),
    BelowMinimum(Decimal),
    /// A condition that does not hold.
    False(&'r Condition),
    /// An `earn` line whose amount has no value.
    NoAmount(&'r Award),
    LimitReached(&'r Limit),
    /// A rule paying the referrer, for a member referred by no one.
    NoReferrer,
    /// A rule that earns only on basket items (these `earn` lines), and
    /// none of the purchase's is one to earn on.
    NoItem(&'r [Award]),
}

impl Unfired<'_> {
    /// In words, naming the fields and member attributes the record left
    /// empty that a false condition or an amount without a value read.
    fn told(&self, program: &Program, event_type: &EventType, scope: &Scope) -> String {
        let missing = |exprs: &[&Expr]| {
            let mut found = Vec::new();
            for expr in exprs {
                eval::missing(expr, scope, &mut found);
            }
            let names = found.iter().filter_map(|read| {
                let field = match read {
                    eval::Read::Field(i) => event_type.fields.get(*i),
                    eval::Read::Attribute(i) => program.member_attributes.get(*i),
                };
                field.map(|f| format!("`{}`", f.name))
            });
            let names: Vec<String> = names.collect();
            let verb = if names.len() == 1 { "is" } else { "are" };
            (!names.is_empty()).then(|| format!("{} {verb} missing", and_list(names.into_iter())))
        };
        match self {
            Unfired::BeforeEffective(day) => format!("the program takes effect on {day}"),
            Unfired::Outside(from, to) => format!("outside its window {from} .. {to}"),
            Unfired::BelowMinimum(min) => {
                format!("the purchase is below the minimum spend of {min}")
            }
            Unfired::False(condition) => match missing(&[&condition.expr]) {
                Some(missing) => format!("`{}` is false ({missing})", condition.text),
                None => format!("`{}` is false", condition.text),
            },
            Unfired::NoAmount(award) => {
                let exprs: Vec<&Expr> = match &award.amount {
                    AwardAmount::Rate { amount, per } => {
                        [Some(amount), per.as_ref().map(|p| &p.base)]
                            .into_iter()
                            .flatten()
                            .collect()
                    }
                    AwardAmount::ShareOf { .. } | AwardAmount::Multiply { .. } => Vec::new(),
                };
                let why = missing(&exprs).unwrap_or_else(|| {
                    "an `earn` amount has no value (a division by zero or an overflow)".to_string()
                });
                format!("nothing to earn: {why}")
            }
            Unfired::LimitReached(limit) if limit.per_referrer => {
                format!("its limit of {} per referrer is reached", limit.count)
            }
            Unfired::LimitReached(limit) => format!(
                "its limit of {} per {} is reached",
                limit.count,
                limit.period.name()
            ),
            Unfired::NoReferrer => "it pays the referrer, and no one referred the member".into(),
            Unfired::NoItem(_) if scope.basket.is_empty() => {
                "nothing to earn: the purchase lists no items".into()
            }
            Unfired::NoItem(awards) => {
                let filters = awards
                    .iter()
                    .filter_map(|a| a.items.as_ref()?.filter.as_ref())
                    .map(|f| format!("`{}`", f.text));
                format!(
                    "nothing to earn: no item of the basket matches {}",
                    crate::diagnostic::or_list(filters)
                )
            }
        }
    }
}

/// Where a budget's use is counted: per rule, budget and period.
fn budget_key(
    rule: RuleId,
    index: usize,
    budget: &Budget,
    date: chrono::NaiveDate,
) -> (RuleId, usize, i32) {
    (
        rule,
        index,
        budget
            .period
            .map_or(0, |p| calendar::period_number(p, date)),
    )
}

/// A rule's unrounded awards per points type (summed over its `earn` lines),
/// with the arithmetic for explanations when `explaining` (left empty
/// otherwise: writing it out was a tenth of earning's time).
fn raw_awards(
    program: &Program,
    rule: &Rule,
    rule_id: RuleId,
    scope: &Scope,
    earlier: &[Proposal],
    losers: &[RuleId],
    explaining: bool,
) -> Option<SmallVec<[RawAward; 2]>> {
    let told = |text: &dyn Fn() -> String| if explaining { text() } else { String::new() };
    let mut awards: SmallVec<[RawAward; 2]> = SmallVec::new();
    for award in &rule.awards {
        let mut item_parts: Vec<(usize, Decimal)> = Vec::new();
        let (raw, arithmetic) = match (&award.amount, &award.items) {
            (AwardAmount::Rate { amount, per }, Some(items)) => {
                // Each item's award, after its `times` and the rule's cap
                // per item, summed unrounded: the rule rounds once.
                let cap = rule
                    .item_caps
                    .iter()
                    .filter(|c| c.points == award.points)
                    .map(|c| c.amount)
                    .min();
                let mut total = Decimal::ZERO;
                let mut parts: Vec<String> = Vec::new();
                for (at, on_item) in basket_items(items, scope) {
                    let Some((raw, how)) = rate(amount, per.as_ref(), &on_item, explaining)? else {
                        continue;
                    };
                    let (raw, how) = times(award, raw, how, &on_item, explaining)?;
                    let raw = raw.max(Decimal::ZERO);
                    let (raw, how) = match cap {
                        Some(cap) if raw > cap => (cap, told(&|| format!("{how}, cut to {cap}"))),
                        _ => (raw, how),
                    };
                    total = total.checked_add(raw)?;
                    item_parts.push((at, raw));
                    if let Some(item) = on_item.item.filter(|_| explaining) {
                        parts.push(format!("{how} on item {}", item.sku));
                    }
                }
                (total, told(&|| parts.join(" + ")))
            }
            (AwardAmount::Rate { amount, per }, None) => {
                let Some((raw, how)) = rate(amount, per.as_ref(), scope, explaining)? else {
                    continue;
                };
                times(award, raw, how, scope, explaining)?
            }
            (
                AwardAmount::ShareOf {
                    fraction,
                    rule: other,
                },
                _,
            ) => {
                let base: Decimal = of_rule(earlier, *other)
                    .iter()
                    .filter(|p| p.points == award.points && p.rule != rule_id)
                    .filter(|p| !is_in(losers, p.rule))
                    .map(|p| p.awarded)
                    .sum();
                let how = told(&|| {
                    format!(
                        "{}% of {base}",
                        (fraction * Decimal::ONE_HUNDRED).normalize()
                    )
                });
                times(award, fraction.checked_mul(base)?, how, scope, explaining)?
            }
            (AwardAmount::Multiply { factor }, _) => {
                // What the live earning rules before it awarded: not preview
                // rules, not group losers, not other multipliers (so
                // multipliers add up rather than compound).
                let base: Decimal = earlier
                    .iter()
                    .filter(|p| p.points == award.points && !is_in(losers, p.rule))
                    .filter(|p| {
                        program
                            .rules
                            .get(p.rule.index())
                            .is_some_and(|r| !r.preview && !r.multiplies() && !r.to_referrer)
                    })
                    .map(|p| p.awarded)
                    .sum();
                let extra = factor.checked_sub(Decimal::ONE)?;
                let how =
                    told(&|| format!("({factor} - 1) × {base} earned by the rules before it"));
                times(award, extra.checked_mul(base)?, how, scope, explaining)?
            }
        };
        match awards.iter_mut().find(|(p, _, _, _)| *p == award.points) {
            Some((_, total, how, parts)) => {
                *total = total.checked_add(raw)?;
                if explaining {
                    how.push_str(&format!(" + {arithmetic}"));
                }
                // An item on several lines gave their sum.
                for (at, part) in item_parts {
                    match parts.iter_mut().find(|(a, _)| *a == at) {
                        Some((_, sum)) => *sum = sum.checked_add(part)?,
                        None => parts.push((at, part)),
                    }
                }
            }
            None => awards.push((award.points, raw, arithmetic, item_parts)),
        }
    }
    Some(awards)
}

/// A rule's unrounded award of a points type: the type, the amount, how
/// it was computed (for explanations) and what each basket item gave of
/// it, by its place in the basket.
type RawAward = (PointsId, Decimal, String, Vec<(usize, Decimal)>);

/// An `earn` line's rate times what it is per, on `scope` (with how, when
/// `explaining`): `None` when it overflows or divides by zero, `Some(None)`
/// when it reads a missing field.
fn rate(
    amount: &Expr,
    per: Option<&Per>,
    scope: &Scope,
    explaining: bool,
) -> Option<Option<(Decimal, String)>> {
    let told = |text: &dyn Fn() -> String| if explaining { text() } else { String::new() };
    let Some(rate) = eval::number(amount, scope) else {
        return Some(None);
    };
    let Some(per) = per else {
        return Some(Some((rate, told(&|| format!("{rate}")))));
    };
    let Some(base) = eval::number(&per.base, scope) else {
        return Some(None);
    };
    let units = base.checked_div(per.unit)?;
    if per.full {
        let units = units.trunc();
        let how = told(&|| format!("{rate} × {units} full steps of {} in {base}", per.unit));
        return Some(Some((rate.checked_mul(units)?, how)));
    }
    let how = told(&|| format!("{rate} × {base} / {}", per.unit));
    // Multiply before dividing: 3.3 × 1 / 3 is exactly 1.1, where 3.3 ×
    // (1 / 3) is 1.0999…9, which rounding down pays as 1.0. Past the
    // largest decimal, the steps first (within a rounding of the 28th
    // digit, which the points' precision rounds away).
    let award = rate
        .checked_mul(base)
        .and_then(|product| product.checked_div(per.unit))
        .or_else(|| rate.checked_mul(units))?;
    Some(Some((award, how)))
}

/// `raw` times the line's `times` table factor on `scope` (a key not in
/// the table uses `else`, or earns nothing); `None` on overflow.
fn times(
    award: &Award,
    raw: Decimal,
    how: String,
    scope: &Scope,
    explaining: bool,
) -> Option<(Decimal, String)> {
    let Some(table) = &award.multiplier else {
        return Some((raw, how));
    };
    let key = eval::eval(&table.key, scope);
    let factor = table
        .entries
        .iter()
        .find(|(k, _)| *k == *key)
        .map(|(_, f)| *f)
        .or(table.otherwise)
        .unwrap_or_default();
    let how = if explaining {
        format!("{how} × {factor}")
    } else {
        how
    };
    Some((raw.checked_mul(factor)?, how))
}

/// Whether an `earn` amount without a value reads a field or attribute the
/// record left empty (otherwise its arithmetic failed).
fn reads_missing(award: &Award, scope: &Scope) -> bool {
    let mut found = Vec::new();
    if let AwardAmount::Rate { amount, per } = &award.amount {
        eval::missing(amount, scope, &mut found);
        if let Some(per) = per {
            eval::missing(&per.base, scope, &mut found);
        }
    }
    !found.is_empty()
}

/// The rules that lose their exclusive group: of the rules of a group that
/// fired, the one with the largest award wins (the first written on a tie).
/// In rule order (the order the rules fired in), as [`is_in`] and
/// [`of_rule`] need.
fn exclusive_losers(
    rules: &[Rule],
    fired: &[RuleId],
    proposals: &[Proposal],
) -> SmallVec<[RuleId; 4]> {
    let total =
        |rule: RuleId| -> Decimal { of_rule(proposals, rule).iter().map(|p| p.awarded).sum() };
    let mut losers = SmallVec::new();
    let mut winners: BTreeMap<usize, (RuleId, Decimal)> = BTreeMap::new();
    for &rule_id in fired {
        let Some(rule) = rules.get(rule_id.index()) else {
            continue;
        };
        let Some(group) = rule.group else {
            continue;
        };
        let award = total(rule_id);
        match winners.get_mut(&group) {
            None => {
                winners.insert(group, (rule_id, award));
            }
            Some(best) => {
                // By order, the first written (fired in rule order) keeps it.
                if !rule.group_by_order && award > best.1 {
                    losers.push(best.0);
                    *best = (rule_id, award);
                } else {
                    losers.push(rule_id);
                }
            }
        }
    }
    losers.sort_unstable();
    losers
}

/// Whether `rule` is among `rules`, sorted.
fn is_in(rules: &[RuleId], rule: RuleId) -> bool {
    rules.binary_search(&rule).is_ok()
}

/// The proposals of `rule`: proposals are made in rule order, so a rule's
/// are together and found by halving (a scan for each of many rules made an
/// event's cost grow with the square of the rules).
fn of_rule(proposals: &[Proposal], rule: RuleId) -> &[Proposal] {
    let from = proposals.partition_point(|p| p.rule < rule);
    let to = proposals.partition_point(|p| p.rule <= rule);
    proposals.get(from..to).unwrap_or_default()
}
