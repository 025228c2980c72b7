//! The monthly liability table, built from ledger entries as they are
//! written (so a streamed run needs no second pass): per month in the
//! program's zone and per points type, the points issued, spent, expired and
//! reversed, what is outstanding at the month's end, and what that is worth
//! after breakage; plus what redemptions and perk uses cost. See
//! `docs/finance.md`.

use crate::compile::calendar;
use crate::compile::ir::{ExpiryRule, Program};
use crate::currency::Currency;
use crate::engine::ledger::{Entry, EntryKind};
use crate::finance::balances::{BalanceBook, Holdings};
use crate::finance::cohorts::{CohortBook, CohortReport, CohortTotals};
use crate::finance::estimates::Estimates;
use crate::syntax::ast::Period;
use crate::table::{percent, points, Table};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

/// The name of the row that carries the cost of perk uses: perks belong to
/// no points type. Brackets keep it apart from any points type's name.
pub const PERKS: &str = "(perks)";

/// Where the breakage rate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Breakage {
    /// Each points type's `breakage` setting (0 where it has none).
    Program,
    /// One rate for every points type, as a fraction (`0.15`), from `--breakage`.
    Given(Decimal),
    /// Estimated from the replayed history by monthly earning cohort.
    Estimated,
    /// Estimates that change over time (`--breakage-estimates`): each month
    /// the one in force at its end; the program's setting before a points
    /// type's first.
    Estimates(Estimates),
}

/// The columns of `liability.csv` before `currency`.
pub const CSV_COLUMNS: [&str; 10] = [
    "month",
    "points",
    "issued",
    "spent",
    "expired",
    "reversed",
    "outstanding",
    "breakage",
    "liability",
    "cost",
];

/// One month of one points type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityRow {
    /// `2025-01`, in the program's time zone.
    pub month: String,
    pub points: String,
    pub issued: Decimal,
    pub spent: Decimal,
    pub expired: Decimal,
    pub reversed: Decimal,
    /// Live points at the month's end.
    pub outstanding: Decimal,
    /// The breakage rate applied, as a fraction.
    pub breakage: Decimal,
    /// outstanding × value per point × (1 − breakage), in the currency's major
    /// units (USD, not cents), rounded to its minor unit.
    pub liability: Decimal,
    /// What redemptions and perk uses cost in the month.
    pub cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiabilityTable {
    pub currency: Currency,
    pub rows: Vec<LiabilityRow>,
    /// How the breakage rates were obtained, in words, for the report.
    pub breakage_method: String,
}

/// A calendar month as a number: year × 12 + month − 1, so months count up
/// by one and `BTreeMap` keeps them in order.
pub type Month = i64;

/// The month an instant falls in, in the program's zone: `2025-01`.
pub fn month_label(program: &Program, t: DateTime<Utc>) -> String {
    month_name(month_of(program, t))
}

/// The month an instant falls in, in the program's zone, as a number.
pub fn month_of(program: &Program, t: DateTime<Utc>) -> Month {
    calendar::period_key(Period::Month, calendar::local(program.timezone, t).date())
}

fn first_day(month: Month) -> Option<NaiveDate> {
    let year = i32::try_from(month.div_euclid(12)).ok()?;
    let month0 = u32::try_from(month.rem_euclid(12)).ok()?;
    NaiveDate::from_ymd_opt(year, month0 + 1, 1)
}

/// `2025-01` for a month number.
pub fn month_name(month: Month) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// One month's movements of one points type, as positive amounts.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Flows {
    issued: Decimal,
    spent: Decimal,
    expired: Decimal,
    reversed: Decimal,
    cost: Decimal,
}

/// What became of the points earned in one month.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Cohort {
    issued: Decimal,
    reversed: Decimal,
    expired: Decimal,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MonthFlows {
    /// Indexed like the program's points types.
    points: Vec<Flows>,
    perks: Decimal,
}

/// What a builder has collected of its entries' months and cohorts, to be
/// carried to another process and added to another builder
/// ([`LiabilityBuilder::add_flows`]): how the table of a run made in pieces
/// (groups of members run apart) is built from the pieces, exactly as one
/// run builds it. Members' balances and redemptions traced to cohorts are
/// not carried.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LiabilityFlows {
    months: Vec<(Month, MonthFlows)>,
    cohorts: Vec<Vec<(Month, Cohort)>>,
}

/// Collects ledger entries, then builds the table.
pub struct LiabilityBuilder<'p> {
    program: &'p Program,
    /// Every month some entry fell in, with what moved in it.
    months: BTreeMap<Month, MonthFlows>,
    /// Per points type, by the month the points were earned.
    cohorts: Vec<BTreeMap<Month, Cohort>>,
    /// Members' balances by month, when asked for ([`Self::with_balances`]).
    balances: Option<BalanceBook>,
    /// Redemptions traced to cohorts, when asked for ([`Self::with_cohorts`]).
    redemptions: Option<CohortBook>,
    /// Per points type, what was outstanding before the first entry
    /// ([`Self::with_opening`]).
    opening: Vec<Decimal>,
}

impl<'p> LiabilityBuilder<'p> {
    pub fn new(program: &'p Program) -> Self {
        LiabilityBuilder {
            program,
            months: BTreeMap::new(),
            cohorts: vec![BTreeMap::new(); program.points.len()],
            balances: None,
            redemptions: None,
            opening: vec![Decimal::ZERO; program.points.len()],
        }
    }

    /// Starts from `outstanding` points per points type (indexed like the
    /// program's), held before the first entry: a book carried over from
    /// another run.
    pub fn with_opening(self, outstanding: Vec<Decimal>) -> Self {
        LiabilityBuilder {
            opening: outstanding,
            ..self
        }
    }

    /// Also traces redemptions to the cohorts they drew on, first in, first
    /// out per member, for [`Self::cohorts`]: memory grows with the members,
    /// the cohorts they hold and the redemptions they made.
    pub fn with_cohorts(self) -> Self {
        LiabilityBuilder {
            redemptions: Some(CohortBook::new(self.program.points.len())),
            ..self
        }
    }

    /// Also keeps each member's balances by month, for what members hold
    /// and owe at each month's end ([`Self::holdings`]): memory grows with
    /// the members and the months they were active in.
    pub fn with_balances(self) -> Self {
        LiabilityBuilder {
            balances: Some(BalanceBook::new(self.program.points.len())),
            ..self
        }
    }

    /// The months and cohorts collected so far.
    pub fn flows(&self) -> LiabilityFlows {
        LiabilityFlows {
            months: self.months.iter().map(|(m, f)| (*m, f.clone())).collect(),
            cohorts: self
                .cohorts
                .iter()
                .map(|c| c.iter().map(|(m, c)| (*m, *c)).collect())
                .collect(),
        }
    }

    /// Adds the months and cohorts another builder collected (of other
    /// members' entries) to this one's.
    pub fn add_flows(&mut self, flows: &LiabilityFlows) {
        let points = self.program.points.len();
        for (key, other) in &flows.months {
            let month = self.months.entry(*key).or_insert_with(|| MonthFlows {
                points: vec![Flows::default(); points],
                perks: Decimal::ZERO,
            });
            month.perks += other.perks;
            for (sum, f) in month.points.iter_mut().zip(&other.points) {
                sum.issued += f.issued;
                sum.spent += f.spent;
                sum.expired += f.expired;
                sum.reversed += f.reversed;
                sum.cost += f.cost;
            }
        }
        for (sums, other) in self.cohorts.iter_mut().zip(&flows.cohorts) {
            for (key, c) in other {
                let sum = sums.entry(*key).or_default();
                sum.issued += c.issued;
                sum.reversed += c.reversed;
                sum.expired += c.expired;
            }
        }
    }

    pub fn add(&mut self, entries: &[Entry]) {
        let program = self.program;
        for e in entries {
            let key = month_of(program, e.time);
            let month = self.months.entry(key).or_insert_with(|| MonthFlows {
                points: vec![Flows::default(); program.points.len()],
                perks: Decimal::ZERO,
            });
            // Costs are summed as the ledger shows them, in minor units, so
            // the table adds up to the ledger's column.
            let cost = e
                .cost
                .map(|c| program.currency.round(c))
                .unwrap_or_default();
            if e.kind == EntryKind::PerkUse {
                month.perks += cost;
                continue;
            }
            let Some(p) = e.points else { continue };
            if let Some(book) = &mut self.balances {
                // Releases, cap cuts and previews change no balance.
                if !matches!(
                    e.kind,
                    EntryKind::Release | EntryKind::CapCut | EntryKind::Preview
                ) {
                    book.add(&e.member, p.index(), key, e.amount);
                }
            }
            if let Some(book) = &mut self.redemptions {
                book.add(e, p.index(), key, e.earned.map(|t| month_of(program, t)));
            }
            let (Some(flows), Some(cohorts)) = (
                month.points.get_mut(p.index()),
                self.cohorts.get_mut(p.index()),
            ) else {
                continue;
            };
            // Expiries and reversals belong to the cohort the points were
            // earned in, which the ledger names.
            let cohort = month_of(program, e.earned.unwrap_or(e.time));
            match e.kind {
                EntryKind::Earn | EntryKind::Pend => {
                    flows.issued += e.amount;
                    cohorts.entry(cohort).or_default().issued += e.amount;
                }
                // A cancelled redemption gives its points back and takes
                // its cost back (a negative cost).
                EntryKind::Spend | EntryKind::RedeemCancel => {
                    flows.spent -= e.amount;
                    flows.cost += cost;
                }
                EntryKind::Expire => {
                    flows.expired -= e.amount;
                    cohorts.entry(cohort).or_default().expired -= e.amount;
                }
                // A manual credit is issued; a debit is taken back. Undoing
                // one negates its amount: undone, a credit is issued less.
                EntryKind::Adjust if (e.amount > Decimal::ZERO) != e.undoes => {
                    flows.issued += e.amount;
                    cohorts.entry(cohort).or_default().issued += e.amount;
                }
                EntryKind::Reverse | EntryKind::Adjust => {
                    flows.reversed -= e.amount;
                    cohorts.entry(cohort).or_default().reversed -= e.amount;
                }
                // Releases and cap cuts change no balance; tier, perk and
                // pool entries carry no points; a transfer's two entries
                // cancel out (the giver's and the receiver's points are
                // outstanding all the same).
                EntryKind::Release
                | EntryKind::CapCut
                | EntryKind::TierChange
                | EntryKind::PerkGrant
                | EntryKind::PerkUse
                | EntryKind::TransferOut
                | EntryKind::TransferIn
                | EntryKind::PoolJoin
                | EntryKind::PoolLeave
                | EntryKind::Preview
                | EntryKind::Rollover => {}
            }
        }
    }

    /// The table from the first month with an entry through the month of
    /// `until`, every month in between included.
    pub fn finish(&self, until: DateTime<Utc>, breakage: Breakage) -> LiabilityTable {
        let program = self.program;
        let mut rates: Vec<Rate> = (0..program.points.len())
            .map(|p| self.rate(p, until, &breakage))
            .collect();
        let mut rows = Vec::new();
        if let Some((first, last)) = self.span(until) {
            let mut outstanding = self.opening.clone();
            outstanding.resize(program.points.len(), Decimal::ZERO);
            for month in first..=last {
                let flows = self.months.get(&month);
                for (p, (points, rate)) in program.points.iter().zip(&mut rates).enumerate() {
                    let f = flows
                        .and_then(|f| f.points.get(p))
                        .copied()
                        .unwrap_or_default();
                    let Some(held) = outstanding.get_mut(p) else {
                        continue;
                    };
                    *held += f.issued - f.spent - f.expired - f.reversed;
                    let value = points.value.filter(|_| !points.qualifying);
                    let worth = |breakage| {
                        value
                            .map(|v| super::liability(program.currency, *held, v, breakage))
                            .unwrap_or_default()
                    };
                    let breakage = rate.at(month);
                    let before = rate.at(month - 1);
                    if month > first && breakage != before && value.is_some() {
                        let change = worth(breakage) - worth(before);
                        rate.catch_ups.push(format!(
                            "{} {} {}",
                            month_name(month),
                            crate::table::signed(change, |a| program.currency.format(a)),
                            program.currency
                        ));
                    }
                    rows.push(LiabilityRow {
                        month: month_name(month),
                        points: points.name.clone(),
                        issued: f.issued,
                        spent: f.spent,
                        expired: f.expired,
                        reversed: f.reversed,
                        outstanding: *held,
                        breakage,
                        liability: worth(breakage),
                        cost: f.cost,
                    });
                }
                if !program.perks.is_empty() {
                    rows.push(LiabilityRow {
                        month: month_name(month),
                        points: PERKS.to_string(),
                        issued: Decimal::ZERO,
                        spent: Decimal::ZERO,
                        expired: Decimal::ZERO,
                        reversed: Decimal::ZERO,
                        outstanding: Decimal::ZERO,
                        breakage: Decimal::ZERO,
                        liability: Decimal::ZERO,
                        cost: flows.map(|f| f.perks).unwrap_or_default(),
                    });
                }
            }
        }
        let source = match breakage {
            Breakage::Program => "the program's `breakage` settings".to_string(),
            Breakage::Given(rate) => format!("--breakage {} for every points type", percent(rate)),
            Breakage::Estimated => {
                "estimated from the replayed history by monthly earning cohort".to_string()
            }
            Breakage::Estimates(_) => {
                "--breakage-estimates, each month the estimate in force at its end".to_string()
            }
        };
        let details: Vec<String> = rates
            .into_iter()
            .map(|r| {
                if r.catch_ups.is_empty() {
                    r.how
                } else {
                    format!(
                        "{} (catch-up on the liability: {})",
                        r.how,
                        r.catch_ups.join(", ")
                    )
                }
            })
            .collect();
        LiabilityTable {
            currency: program.currency,
            rows,
            breakage_method: format!("{source}: {}", details.join("; ")),
        }
    }

    /// The table's months: from the first with an entry through the month
    /// of `until` (or of the last entry, when later).
    fn span(&self, until: DateTime<Utc>) -> Option<(Month, Month)> {
        let first = self.months.keys().next().copied()?;
        let last = self.months.keys().next_back().copied()?;
        Some((first, last.max(month_of(self.program, until))))
    }

    /// What the members held and owed at the end of each of the table's
    /// months, per points type (indexed like the program's); `None` unless
    /// the builder keeps balances ([`Self::with_balances`]).
    pub fn holdings(&self, until: DateTime<Utc>) -> Option<BTreeMap<Month, Vec<Holdings>>> {
        let book = self.balances.as_ref()?;
        Some(
            self.span(until)
                .map(|(first, last)| book.holdings(first, last))
                .unwrap_or_default(),
        )
    }

    /// The redemption curves by cohort and their chain-ladder fit, for
    /// every points type that carries a liability, as of `table`'s last
    /// month; `None` unless the builder traces redemptions
    /// ([`Self::with_cohorts`]).
    pub fn cohorts(&self, table: &LiabilityTable, until: DateTime<Utc>) -> Option<CohortReport> {
        let book = self.redemptions.as_ref()?;
        let last = self.span(until).map(|(_, last)| last);
        let points = self
            .program
            .points
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.qualifying)
            .filter_map(|(p, t)| Some((p, t, t.value?)))
            .map(|(p, t, value)| {
                let totals = self
                    .cohorts
                    .get(p)
                    .into_iter()
                    .flatten()
                    .map(|(month, c)| {
                        (
                            *month,
                            CohortTotals {
                                issued: c.issued - c.reversed,
                                expired: c.expired,
                            },
                        )
                    })
                    .collect();
                let outstanding = table
                    .rows
                    .iter()
                    .rfind(|r| r.points == t.name)
                    .map_or(Decimal::ZERO, |r| r.outstanding);
                let currency = self.program.currency;
                book.fit(
                    p,
                    &t.name,
                    |b| super::liability(currency, outstanding, value, b),
                    &totals,
                    last.unwrap_or_default(),
                    outstanding,
                )
            })
            .collect();
        Some(CohortReport {
            as_of: last.map(month_name).unwrap_or_default(),
            currency: self.program.currency,
            method: crate::finance::cohorts::METHOD.to_string(),
            points,
        })
    }

    /// Points of type `p` issued less reversed, by the month they were
    /// earned in (`2025-01`): a return takes points back from the month of
    /// its purchase.
    pub fn net_issued_by_cohort(&self, p: usize) -> Vec<(String, Decimal)> {
        self.cohorts
            .get(p)
            .into_iter()
            .flatten()
            .map(|(month, c)| (month_name(*month), c.issued - c.reversed))
            .collect()
    }

    /// The breakage rate of points type `p`, and how it was obtained.
    fn rate(&self, p: usize, until: DateTime<Utc>, breakage: &Breakage) -> Rate {
        let program = self.program;
        let Some(points) = program.points.get(p) else {
            return Rate::default();
        };
        let from_program = || {
            let rate = points.breakage.unwrap_or_default();
            let setting = if points.breakage.is_some() {
                ""
            } else {
                " (no `breakage` setting)"
            };
            (rate, format!("{}{setting}", percent(rate)))
        };
        let mut changes = Vec::new();
        let (rate, how) = match breakage {
            Breakage::Program => from_program(),
            Breakage::Estimates(estimates) => {
                let (rate, how) = from_program();
                changes = estimates
                    .of(p)
                    .iter()
                    .map(|e| (e.month(), e.breakage))
                    .collect();
                let how = match estimates.of(p).first() {
                    Some(first) => {
                        std::iter::once(format!("the program's {how} before {}", first.from))
                            .chain(
                                estimates
                                    .of(p)
                                    .iter()
                                    .map(|e| format!("{} from {}", percent(e.breakage), e.from)),
                            )
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                    None => format!("the program's {how} (no estimate in the file)"),
                };
                (rate, how)
            }
            Breakage::Given(rate) => (*rate, percent(*rate)),
            Breakage::Estimated => match self.estimate(p, until) {
                Ok(estimate) => estimate,
                Err(why) => {
                    let (rate, how) = from_program();
                    (rate, format!("the program's {how}, as {why}"))
                }
            },
        };
        let valued = if points.qualifying {
            " (qualifying: no liability)"
        } else if points.value.is_none() {
            " (no value per point: no liability)"
        } else {
            ""
        };
        Rate {
            rate,
            changes,
            how: format!("{}: {how}{valued}", points.name),
            catch_ups: Vec::new(),
        }
    }

    /// The share of points (issued less reversed) that expired, over the
    /// monthly earning cohorts whose every point's expiry date is at or
    /// before `until`; or why there is no such cohort.
    fn estimate(&self, p: usize, until: DateTime<Utc>) -> Result<(Decimal, String), String> {
        let program = self.program;
        let tz = program.timezone;
        let expiry = program
            .points
            .get(p)
            .map_or(ExpiryRule::Never, |points| points.expiry);
        match expiry {
            ExpiryRule::Never => return Err("they never expire".to_string()),
            ExpiryRule::Inactivity(_) => {
                return Err(
                    "they expire after inactivity, which no cohort's age decides".to_string(),
                )
            }
            ExpiryRule::AfterEarn { .. } | ExpiryRule::EndOf { .. } => {}
        }
        // The last points of a cohort are earned at the month's last instant
        // and expire last.
        // Rules may give their awards an expiry of their own: a cohort has
        // matured once its points are past every expiry they may carry.
        let expiries: Vec<ExpiryRule> = std::iter::once(expiry)
            .chain(
                program
                    .rules
                    .iter()
                    .filter(|r| r.awards.iter().any(|a| a.points.index() == p))
                    .filter_map(|r| r.expiry),
            )
            .collect();
        let matured = |month: Month| {
            first_day(month + 1)
                .map(|next| calendar::start_of_day(tz, next) - chrono::Duration::nanoseconds(1))
                .is_some_and(|last| {
                    expiries
                        .iter()
                        .all(|rule| calendar::expiry(tz, *rule, last).is_some_and(|at| at <= until))
                })
        };
        let until_day = calendar::local(tz, until).date();
        let cohorts: Vec<(Month, &Cohort)> = self
            .cohorts
            .get(p)
            .into_iter()
            .flatten()
            .filter(|(month, c)| matured(**month) && c.issued > c.reversed)
            .map(|(month, c)| (*month, c))
            .collect();
        let (Some((first, _)), Some((last, _))) = (cohorts.first(), cohorts.last()) else {
            return Err(format!(
                "no earning cohort's expiry has run out by {until_day}"
            ));
        };
        let kept: Decimal = cohorts.iter().map(|(_, c)| c.issued - c.reversed).sum();
        let expired: Decimal = cohorts.iter().map(|(_, c)| c.expired).sum();
        let rate = (expired / kept)
            .clamp(Decimal::ZERO, Decimal::ONE)
            .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
        let span = if first == last {
            format!("the earning cohort {}", month_name(*first))
        } else {
            format!(
                "the {} earning cohorts {} to {}",
                cohorts.len(),
                month_name(*first),
                month_name(*last)
            )
        };
        Ok((
            rate,
            format!(
                "{} ({} of the {} points issued less reversed in {span} expired; their expiry ran out by {until_day})",
                percent(rate),
                points(expired),
                points(kept)
            ),
        ))
    }
}

/// A points type's breakage rate over the months, and how it was obtained.
#[derive(Debug, Clone, Default)]
struct Rate {
    /// The rate before the first change (every month's, without changes).
    rate: Decimal,
    /// Later rates, each with the first month whose end it is in force at.
    changes: Vec<(Month, Decimal)>,
    how: String,
    /// What each change did to the liability in the month it took effect.
    catch_ups: Vec<String>,
}

impl Rate {
    /// The rate in force at the end of `month`.
    fn at(&self, month: Month) -> Decimal {
        self.changes
            .iter()
            .rev()
            .find(|(from, _)| *from <= month)
            .map_or(self.rate, |(_, rate)| *rate)
    }
}

impl LiabilityRow {
    /// The row's cells, breakage shown by `breakage`, money to the minor
    /// unit of `currency`.
    fn cells(&self, currency: Currency, breakage: impl Fn(Decimal) -> String) -> Vec<String> {
        vec![
            self.month.clone(),
            self.points.clone(),
            points(self.issued),
            points(self.spent),
            points(self.expired),
            points(self.reversed),
            points(self.outstanding),
            breakage(self.breakage),
            currency.format(self.liability),
            currency.format(self.cost),
        ]
    }
}

impl LiabilityTable {
    /// The rows as CSV: amounts of money to the minor unit, breakage as a
    /// fraction.
    pub fn write_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        self.write_csv_with(&[], |_| Vec::new(), out)
    }

    /// As [`Self::write_csv`], with the columns `extra` before `currency`:
    /// `cells(i)` gives the `i`th row's.
    pub fn write_csv_with<W: Write>(
        &self,
        extra: &[&str],
        cells: impl Fn(usize) -> Vec<String>,
        out: W,
    ) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(
            CSV_COLUMNS
                .iter()
                .chain(extra)
                .chain(std::iter::once(&"currency")),
        )?;
        for (i, r) in self.rows.iter().enumerate() {
            csv.write_record(
                r.cells(self.currency, |b| b.normalize().to_string())
                    .into_iter()
                    .chain(cells(i))
                    .chain(std::iter::once(self.currency.to_string())),
            )?;
        }
        csv.flush()?;
        Ok(())
    }

    /// The table for a person, with the breakage method under it.
    pub fn text(&self) -> String {
        self.text_with(&[], |_| Vec::new())
    }

    /// As [`Self::text`], with the columns `extra` last: `cells(i)` gives
    /// the `i`th row's.
    pub fn text_with(&self, extra: &[&str], cells: impl Fn(usize) -> Vec<String>) -> String {
        let (header, rows) = self.cells();
        let header: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        let mut table = Table::new(&header).labels(2);
        for (i, mut row) in rows.into_iter().enumerate() {
            row.extend(cells(i));
            table.push(row);
        }
        format!("{}\nbreakage: {}\n", table.text(), self.breakage_method)
    }

    /// The header and rows as people read them (breakage in percent, money
    /// to its minor unit), for the terminal and the HTML page.
    pub fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        // The CSV's names, money with its currency.
        let header = CSV_COLUMNS
            .iter()
            .take(8)
            .map(|h| h.to_string())
            .chain([
                format!("liability {}", self.currency),
                format!("cost {}", self.currency),
            ])
            .collect();
        let rows = self
            .rows
            .iter()
            .map(|r| r.cells(self.currency, percent))
            .collect();
        (header, rows)
    }
}
