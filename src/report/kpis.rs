//! KPIs per month, one definition for a run's real history (`loyalty run
//! --report kpis`) and for each run of a simulation: what a month tallies
//! ([`Tally`]), each member's recent activity and tier ([`MemberKpis`]), and
//! the KPIs made of the tallies and the liability table ([`kpis`]). A run
//! gathers its tallies from the ledger's rows and the events it applied
//! ([`RunKpis`]); a simulation from its synthetic members as they go. See
//! `docs/simulation.md` ("KPIs, per month") for the definitions.

use crate::compile::ir::{BuiltinEvent, Program, TierRank, Value};
use crate::engine::ledger::{Entry, EntryKind};
use crate::events::{Body, Event, Origin, Reject};
use crate::finance::liability::{month_name, month_of, LiabilityRow, Month};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::sync::Mutex;

/// The trailing window of the active-members KPI, in months (about 90 days).
pub const ACTIVE_MONTHS: usize = 3;
/// The trailing window of the repeat-purchase rate, in months.
pub const REPEAT_MONTHS: usize = 12;

/// A survey score at or above this is a promoter's (Reichheld 2003).
const PROMOTER: Decimal = Decimal::from_parts(9, 0, 0, false, 0);
/// A survey score at or below this is a detractor's.
const DETRACTOR: Decimal = Decimal::from_parts(6, 0, 0, false, 0);

/// What the members did in one month, as counts and sums that add up
/// across a simulation's shards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Members enrolled by the month's end, whether they left or not.
    pub enrolled: u64,
    /// Enrolled and not left.
    pub members: u64,
    pub joined: u64,
    pub left: u64,
    /// Members (not left) who earned or redeemed in the trailing [`ACTIVE_MONTHS`].
    pub active: u64,
    /// Members per tier, lowest first, among those who have not left.
    pub tiers: Vec<u64>,
    /// Members with a purchase in the trailing [`REPEAT_MONTHS`], and those with two or more.
    pub purchasers: u64,
    pub repeaters: u64,
    /// Purchases less returns, plus the sales field of other events.
    pub sales: Decimal,
    pub redemptions: u64,
    pub perk_uses: u64,
    /// Perk uses by the user's tier at the use, lowest first.
    pub perk_uses_by_tier: Vec<u64>,
    /// Survey responses, and those of promoters (9–10) and detractors (0–6).
    pub responses: u64,
    pub promoters: u64,
    pub detractors: u64,
    /// Members (not left) by their tier at the previous month's end (`None`
    /// for those who joined in the month) and at this month's end.
    pub migration: BTreeMap<(Option<TierRank>, TierRank), u64>,
    /// Events the engine refused.
    pub rejected: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.enrolled += other.enrolled;
        self.members += other.members;
        self.joined += other.joined;
        self.left += other.left;
        self.active += other.active;
        add_counts(&mut self.tiers, &other.tiers);
        self.purchasers += other.purchasers;
        self.repeaters += other.repeaters;
        self.sales += other.sales;
        self.redemptions += other.redemptions;
        self.perk_uses += other.perk_uses;
        add_counts(&mut self.perk_uses_by_tier, &other.perk_uses_by_tier);
        self.responses += other.responses;
        self.promoters += other.promoters;
        self.detractors += other.detractors;
        for (key, n) in &other.migration {
            *self.migration.entry(*key).or_default() += n;
        }
        self.rejected += other.rejected;
    }

    /// A survey response with this score (0 to 10).
    pub fn response(&mut self, score: Decimal) {
        self.responses += 1;
        self.promoters += u64::from(score >= PROMOTER);
        self.detractors += u64::from(score <= DETRACTOR);
    }
}

/// Adds `other` to `counts` place by place, `counts` grown to fit.
fn add_counts(counts: &mut Vec<u64>, other: &[u64]) {
    if counts.len() < other.len() {
        counts.resize(other.len(), 0);
    }
    for (mine, theirs) in counts.iter_mut().zip(other) {
        *mine += theirs;
    }
}

/// One member's recent activity and tier, as the month-end count needs it.
/// Months are numbered from the first reported (0), and are given in order.
#[derive(Debug, Clone, Default)]
pub struct MemberKpis {
    /// The last month they earned or redeemed in.
    last_active: Option<usize>,
    /// (month, purchases) for recent months, oldest first.
    purchases: VecDeque<(usize, u32)>,
    /// As the ledger's last tier change left it.
    tier: TierRank,
    /// At the last month's end counted; `None` before it.
    counted_tier: Option<TierRank>,
}

impl MemberKpis {
    /// A member who is in `tier` before the first month (carried over
    /// from another run's end state).
    pub fn in_tier(tier: TierRank) -> MemberKpis {
        MemberKpis {
            tier,
            counted_tier: Some(tier),
            ..MemberKpis::default()
        }
    }

    /// A ledger row of the member's in `month`: earning or redeeming makes
    /// them active, a tier change moves them, and redemptions and perk uses
    /// are counted (a row that undoes one takes it back).
    pub fn entry(&mut self, tally: &mut Tally, month: usize, e: &Entry) {
        let sign = |n: &mut u64| {
            if e.undoes {
                *n = n.saturating_sub(1);
            } else {
                *n += 1;
            }
        };
        match e.kind {
            EntryKind::Earn | EntryKind::Pend => self.last_active = Some(month),
            EntryKind::Spend => {
                self.last_active = Some(month);
                sign(&mut tally.redemptions);
            }
            EntryKind::TierChange => self.tier = e.tier.unwrap_or(self.tier),
            EntryKind::PerkUse => {
                sign(&mut tally.perk_uses);
                if tally.perk_uses_by_tier.len() <= self.tier {
                    tally.perk_uses_by_tier.resize(self.tier + 1, 0);
                }
                if let Some(n) = tally.perk_uses_by_tier.get_mut(self.tier) {
                    sign(n);
                }
            }
            _ => {}
        }
    }

    /// A purchase (or an event that counts as one) in `month`.
    pub fn purchase(&mut self, month: usize) {
        match self.purchases.back_mut() {
            Some((m, count)) if *m == month => *count += 1,
            _ => self.purchases.push_back((month, 1)),
        }
    }

    /// Counts the member at the end of `month`: active, tier, tier move and
    /// purchases, among the members when they `stay` (have not left).
    pub fn close(&mut self, tally: &mut Tally, month: usize, stays: bool) {
        tally.members += u64::from(stays);
        tally.active +=
            u64::from(stays && self.last_active.is_some_and(|m| m + ACTIVE_MONTHS > month));
        if stays {
            if let Some(count) = tally.tiers.get_mut(self.tier) {
                *count += 1;
                *tally
                    .migration
                    .entry((self.counted_tier, self.tier))
                    .or_default() += 1;
            }
        }
        self.counted_tier = Some(self.tier);
        while self
            .purchases
            .front()
            .is_some_and(|(m, _)| m + REPEAT_MONTHS <= month)
        {
            self.purchases.pop_front();
        }
        let purchases: u32 = self.purchases.iter().map(|(_, n)| n).sum();
        tally.purchasers += u64::from(purchases >= 1);
        tally.repeaters += u64::from(purchases >= 2);
    }
}

/// A month's tally, ready for the month-end counts: a count per tier.
pub fn empty_tally(program: &Program) -> Tally {
    Tally {
        tiers: vec![0; program.tiers.as_ref().map_or(0, |t| t.tiers.len())],
        ..Tally::default()
    }
}

/// The survey score a program reads from `event`, if the event is of the
/// program's survey type and gives one.
pub fn survey_score(program: &Program, event: &Event) -> Option<Decimal> {
    let survey = program.survey.filter(|s| s.event == event.kind)?;
    match event.fields.get(survey.field) {
        Some(Value::Number(score)) => Some(*score),
        _ => None,
    }
}

/// Whether the KPI `name` is a fraction (`active_share`, `tier_share:gold`,
/// `redemption_rate:stars`, `breakage_to_date:stars`,
/// `repeat_purchase_rate`), which people read as a percentage.
pub fn is_share(name: &str) -> bool {
    let kind = name.split(':').next().unwrap_or(name);
    matches!(
        kind,
        "active_share"
            | "tier_share"
            | "redemption_rate"
            | "breakage_to_date"
            | "repeat_purchase_rate"
    )
}

/// The KPIs of one history per month, as (name, value), the same names in
/// the same order every month: from its liability table's `rows` and its
/// tallies, one per month of `months`. See `docs/simulation.md` for the
/// definitions.
pub fn kpis(
    program: &Program,
    months: &[String],
    rows: &[LiabilityRow],
    tallies: &[Tally],
) -> Vec<Vec<(String, Decimal)>> {
    let redeemable: Vec<&str> = program
        .points
        .iter()
        .filter(|p| !p.qualifying)
        .map(|p| p.name.as_str())
        .collect();
    let tiers: Vec<&str> = program
        .tiers
        .as_ref()
        .map(|t| t.tiers.iter().map(|t| t.name.as_str()).collect())
        .unwrap_or_default();
    // Cumulative issued less reversed, spent and expired per points type.
    let mut to_date: BTreeMap<&str, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    months
        .iter()
        .zip(tallies)
        .map(|(month, t)| {
            let rows: Vec<&LiabilityRow> = rows.iter().filter(|r| &r.month == month).collect();
            let mut issued: BTreeMap<&str, Decimal> = BTreeMap::new();
            for row in &rows {
                let sums = to_date.entry(row.points.as_str()).or_default();
                sums.0 += row.issued - row.reversed;
                sums.1 += row.spent;
                sums.2 += row.expired;
                *issued.entry(row.points.as_str()).or_default() += row.issued;
            }
            let cost: Decimal = rows.iter().map(|r| r.cost).sum();
            let count = |n: u64| Decimal::from(n);
            let mut kpis = vec![
                ("members".to_string(), count(t.members)),
                ("enrolled".to_string(), count(t.enrolled)),
                ("joined".to_string(), count(t.joined)),
                ("left".to_string(), count(t.left)),
                ("active_members".to_string(), count(t.active)),
                (
                    "active_share".to_string(),
                    ratio(count(t.active), count(t.members)),
                ),
            ];
            for (tier, n) in tiers.iter().zip(&t.tiers) {
                kpis.push((
                    format!("tier_share:{tier}"),
                    ratio(count(*n), count(t.members)),
                ));
            }
            for points in &redeemable {
                let (net, spent, expired) = to_date.get(points).copied().unwrap_or_default();
                kpis.push((format!("redemption_rate:{points}"), ratio(spent, net)));
                kpis.push((format!("breakage_to_date:{points}"), ratio(expired, net)));
            }
            kpis.extend([
                ("redemptions".to_string(), count(t.redemptions)),
                ("perk_uses".to_string(), count(t.perk_uses)),
                ("sales".to_string(), t.sales),
                ("cost".to_string(), cost),
                (
                    "cost_per_member".to_string(),
                    program.currency.round(ratio_exact(cost, count(t.members))),
                ),
                (
                    "cost_pct_of_sales".to_string(),
                    ratio(cost * Decimal::ONE_HUNDRED, t.sales),
                ),
                (
                    "repeat_purchase_rate".to_string(),
                    ratio(count(t.repeaters), count(t.purchasers)),
                ),
                ("rejected".to_string(), count(t.rejected)),
            ]);
            for points in &redeemable {
                let issued = issued.get(points).copied().unwrap_or_default();
                kpis.push((
                    format!("points_per_member:{points}"),
                    ratio(issued, count(t.members)),
                ));
                kpis.push((
                    format!("points_per_sales_unit:{points}"),
                    ratio(issued, t.sales),
                ));
            }
            if !program.perks.is_empty() {
                for (r, tier) in tiers.iter().enumerate() {
                    let uses = t.perk_uses_by_tier.get(r).copied().unwrap_or_default();
                    kpis.push((format!("perk_uses:{tier}"), count(uses)));
                }
            }
            if program.survey.is_some() {
                kpis.push(("survey_responses".to_string(), count(t.responses)));
                kpis.push((
                    "nps".to_string(),
                    ratio(
                        (count(t.promoters) - count(t.detractors)) * Decimal::ONE_HUNDRED,
                        count(t.responses),
                    ),
                ));
            }
            kpis
        })
        .collect()
}

fn ratio_exact(a: Decimal, b: Decimal) -> Decimal {
    a.checked_div(b).unwrap_or_default()
}

/// a ÷ b to 4 places (half to even); 0 when b is 0.
fn ratio(a: Decimal, b: Decimal) -> Decimal {
    ratio_exact(a, b).round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven)
}

/// What an applied event adds to the KPIs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fact {
    Enroll,
    Purchase(Decimal),
    Return(Decimal),
    Score(Decimal),
    Other,
}

/// An event as read, kept until the run says whether it was applied.
#[derive(Debug, Clone)]
struct Observed {
    origin: Origin,
    member: CompactString,
    time: DateTime<Utc>,
    fact: Fact,
}

/// The events a run reads, as the KPIs need them: gathered on the thread
/// that reads them, before the engine says which it refused.
#[derive(Debug, Default)]
pub struct RunEvents {
    observed: Vec<Observed>,
}

impl RunEvents {
    /// `records` as they are, each event observed into `into` on the way.
    pub fn observing<'r>(
        into: &'r Mutex<RunEvents>,
        program: &'r Program,
        records: impl Iterator<Item = Result<Event, Reject>> + 'r,
    ) -> impl Iterator<Item = Result<Event, Reject>> + 'r {
        records.inspect(move |record| {
            if let (Ok(event), Ok(mut events)) = (record, into.lock()) {
                events.observe(program, event);
            }
        })
    }

    fn observe(&mut self, program: &Program, event: &Event) {
        let builtin = program.events.get(event.kind).and_then(|t| t.builtin);
        let fact = match &event.body {
            _ if builtin == Some(BuiltinEvent::Enroll) => Fact::Enroll,
            Body::Purchase { amount, .. } => Fact::Purchase(*amount),
            Body::Return(ret) => Fact::Return(ret.amount),
            _ => survey_score(program, event).map_or(Fact::Other, Fact::Score),
        };
        self.observed.push(Observed {
            origin: event.origin.clone(),
            member: event.member.as_str().into(),
            time: event.time,
            fact,
        });
    }
}

/// A member's months in a run, as the ledger and the events told them.
#[derive(Debug, Clone, Default)]
struct History {
    enrolled: Option<Month>,
    /// Per month: earned or redeemed, purchases, the tier at its end (if it changed).
    months: BTreeMap<Month, (bool, u32, Option<TierRank>)>,
    /// As the ledger's rows have left it so far.
    activity: MemberKpis,
}

/// A run's KPIs in the making: the ledger's rows as they are written (the
/// events come apart, in [`RunEvents`]).
#[derive(Debug)]
pub struct RunKpis<'p> {
    program: &'p Program,
    members: HashMap<CompactString, History>,
    /// Redemptions and perk uses per month.
    counted: BTreeMap<Month, Tally>,
}

/// A run's KPIs per month, and its tier migration.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiReport {
    pub months: Vec<String>,
    pub tallies: Vec<Tally>,
    /// Per month, (name, value) (see [`kpis`]).
    pub kpis: Vec<Vec<(String, Decimal)>>,
}

impl<'p> RunKpis<'p> {
    pub fn new(program: &'p Program) -> Self {
        RunKpis {
            program,
            members: HashMap::new(),
            counted: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, entries: &[Entry]) {
        for e in entries {
            let month = month_of(self.program, e.time);
            let history = self.members.entry(e.member.clone()).or_default();
            let tally = self.counted.entry(month).or_default();
            // Month 0: a row's own month is all `entry` is told here; the
            // trailing windows are counted again in `finish`.
            history.activity.entry(tally, 0, e);
            let facts = history.months.entry(month).or_default();
            facts.0 |= matches!(e.kind, EntryKind::Earn | EntryKind::Pend | EntryKind::Spend);
            if e.kind == EntryKind::TierChange {
                facts.2 = e.tier;
            }
        }
    }

    /// The KPIs of every month from the first with anything in it through
    /// `until`'s, with the liability table's `rows`. `events` are those the
    /// run read; those it rejected and those after `until` count only as
    /// rejected, or not at all.
    pub fn finish(
        mut self,
        events: RunEvents,
        rejects: &[Reject],
        rows: &[LiabilityRow],
        until: DateTime<Utc>,
    ) -> KpiReport {
        let program = self.program;
        let refused: BTreeSet<&Origin> = rejects.iter().map(|r| &r.origin).collect();
        let last = month_of(program, until);
        for o in events.observed.into_iter().filter(|o| o.time <= until) {
            let month = month_of(program, o.time);
            let tally = self.counted.entry(month).or_default();
            if refused.contains(&o.origin) {
                tally.rejected += 1;
                continue;
            }
            match o.fact {
                Fact::Enroll => {
                    let history = self.members.entry(o.member).or_default();
                    history.enrolled.get_or_insert(month);
                }
                Fact::Purchase(amount) => {
                    tally.sales += amount;
                    let history = self.members.entry(o.member).or_default();
                    history.months.entry(month).or_default().1 += 1;
                }
                Fact::Return(amount) => tally.sales -= amount,
                Fact::Score(score) => tally.response(score),
                Fact::Other => {}
            }
        }
        let first = self
            .counted
            .keys()
            .next()
            .copied()
            .into_iter()
            .chain(self.members.values().filter_map(|h| h.enrolled))
            .min()
            .unwrap_or(last)
            .min(last);
        let numbers: Vec<Month> = (first..=last).collect();
        let mut tallies: Vec<Tally> = numbers
            .iter()
            .map(|m| {
                let mut tally = empty_tally(program);
                if let Some(counted) = self.counted.get(m) {
                    tally.add(counted);
                }
                tally
            })
            .collect();
        let mut members: Vec<(&CompactString, &History)> = self
            .members
            .iter()
            .filter(|(_, h)| h.enrolled.is_some())
            .collect();
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (_, history) in members {
            let mut activity = MemberKpis::default();
            for (i, (month, tally)) in numbers.iter().zip(&mut tallies).enumerate() {
                if history.enrolled.is_some_and(|e| e > *month) {
                    continue;
                }
                tally.enrolled += 1;
                tally.joined += u64::from(history.enrolled == Some(*month));
                if let Some(&(active, purchases, tier)) = history.months.get(month) {
                    if active {
                        activity.last_active = Some(i);
                    }
                    for _ in 0..purchases {
                        activity.purchase(i);
                    }
                    activity.tier = tier.unwrap_or(activity.tier);
                }
                activity.close(tally, i, true);
            }
        }
        let months: Vec<String> = numbers.iter().map(|m| month_name(*m)).collect();
        KpiReport {
            kpis: kpis(program, &months, rows, &tallies),
            months,
            tallies,
        }
    }
}

impl KpiReport {
    /// `kpis.csv`: one row per month and KPI (`month,kpi,value`).
    pub fn write_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["month", "kpi", "value"])?;
        for (month, kpis) in self.months.iter().zip(&self.kpis) {
            for (name, value) in kpis {
                csv.write_record([month, name, &value.to_string()])?;
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// `tier_migration.csv`: per month, members by their tier at the
    /// previous month's end (`(joined)` for those who joined in the month)
    /// and at this month's end; the pairs with members, in tier order.
    pub fn write_migration_csv<W: Write>(&self, program: &Program, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["month", "from", "to", "members"])?;
        for (month, rows) in self.months.iter().zip(self.migration(program)) {
            for (from, to, n) in rows {
                csv.write_record([month.as_str(), &from, &to, &n.to_string()])?;
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// Per month, (from, to, members) by tier name.
    fn migration(&self, program: &Program) -> Vec<Vec<(String, String, u64)>> {
        let name = |rank: TierRank| {
            program
                .tiers
                .as_ref()
                .and_then(|t| t.tiers.get(rank))
                .map_or(String::new(), |t| t.name.clone())
        };
        self.tallies
            .iter()
            .map(|t| {
                t.migration
                    .iter()
                    .map(|((from, to), n)| {
                        let from = from.map_or("(joined)".to_string(), name);
                        (from, name(*to), *n)
                    })
                    .collect()
            })
            .collect()
    }

    /// The last month's KPIs, and the tier moves of the last month, as
    /// aligned text.
    pub fn text(&self, program: &Program) -> String {
        let mut text = String::new();
        if let (Some(month), Some(kpis)) = (self.months.last(), self.kpis.last()) {
            let mut table = crate::table::Table::new(&["kpi", month]);
            for (name, value) in kpis {
                table.push(vec![name.clone(), value.to_string()]);
            }
            text.push_str(&table.text());
        }
        let moves = self.migration(program);
        if let (Some(month), Some(moves)) = (self.months.last(), moves.last()) {
            if program.tiers.is_some() {
                let mut table = crate::table::Table::new(&["from", "to", "members"]);
                for (from, to, n) in moves {
                    table.push(vec![from.clone(), to.clone(), n.to_string()]);
                }
                text.push_str(&format!("\ntier migration in {month}\n\n{}", table.text()));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_round_to_four_places_and_zero_on_nothing() {
        assert_eq!(ratio(Decimal::ONE, Decimal::from(3)), Decimal::new(3333, 4));
        assert_eq!(ratio(Decimal::ONE, Decimal::ZERO), Decimal::ZERO);
    }

    #[test]
    fn scores_of_nine_and_ten_promote_and_up_to_six_detract() {
        let mut tally = Tally::default();
        for score in [0, 6, 7, 8, 9, 10] {
            tally.response(Decimal::from(score));
        }
        assert_eq!(
            (tally.responses, tally.promoters, tally.detractors),
            (6, 2, 2)
        );
    }
}
