//! Breakage estimated by cohort (`run --report cohorts`): per points type,
//! how much of each monthly earning cohort was redeemed by each month since
//! it was earned (the redemption curve), a chain-ladder projection of what
//! each cohort will never redeem, the breakage that implies, and the
//! liability at ±2 points of it. The ledger does not say which cohort a
//! redemption drew on, so redemptions are traced to cohorts first in,
//! first out, per member. See `docs/finance.md`.

use crate::currency::Currency;
use crate::engine::ledger::{Entry, EntryKind};
use crate::finance::liability::{month_name, Month};
use crate::table::points;
use compact_str::CompactString;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// One member's points of one type, by earning cohort.
#[derive(Debug, Clone, Default)]
struct Lots {
    /// What is held, by cohort, oldest first.
    held: Vec<(Month, Decimal)>,
    /// What was owed (a negative balance): new points repay it first.
    owed: Decimal,
    /// What redemptions took, by cohort, latest last: a cancelled
    /// redemption gives back the latest.
    spent: Vec<(Month, Decimal)>,
}

impl Lots {
    /// Adds `amount` earned in `cohort`, once any debt is repaid; returns
    /// what repaid it.
    fn put(&mut self, cohort: Month, amount: Decimal) -> Decimal {
        let repaid = amount.min(self.owed).max(Decimal::ZERO);
        self.owed -= repaid;
        let amount = amount - repaid;
        if amount > Decimal::ZERO {
            let at = self.held.partition_point(|(c, _)| *c < cohort);
            match self.held.get_mut(at) {
                Some((c, held)) if *c == cohort => *held += amount,
                _ => self.held.insert(at, (cohort, amount)),
            }
        }
        repaid
    }

    /// Takes `amount`, from `cohort` first when given, then oldest first;
    /// what is not there is owed. Returns the parts taken, by cohort, and
    /// what was not there.
    fn take(&mut self, cohort: Option<Month>, amount: Decimal) -> (Vec<(Month, Decimal)>, Decimal) {
        let mut parts = Vec::new();
        let mut left = amount;
        let order: Vec<usize> = cohort
            .and_then(|c| self.held.iter().position(|(held, _)| *held == c))
            .into_iter()
            .chain(0..self.held.len())
            .collect();
        for i in order {
            let Some((c, held)) = self.held.get_mut(i) else {
                continue;
            };
            let taken = left.min(*held);
            if taken > Decimal::ZERO {
                *held -= taken;
                left -= taken;
                parts.push((*c, taken));
            }
        }
        self.held.retain(|(_, held)| *held > Decimal::ZERO);
        self.owed += left;
        (parts, left)
    }
}

/// Redemptions traced to earning cohorts, from the ledger's rows.
#[derive(Debug, Clone, Default)]
pub struct CohortBook {
    /// Per member, per points type.
    members: BTreeMap<CompactString, Vec<Lots>>,
    types: usize,
    /// What a transfer took from its giver, for its receiver.
    in_transit: Vec<(Month, Decimal)>,
    /// Per points type, by (cohort, month of the redemption): points
    /// redeemed, less what cancellations gave back.
    redeemed: Vec<BTreeMap<(Month, Month), Decimal>>,
}

impl CohortBook {
    /// A book for a program with `types` points types.
    pub fn new(types: usize) -> Self {
        CohortBook {
            types,
            redeemed: vec![BTreeMap::new(); types],
            ..CohortBook::default()
        }
    }

    /// Follows `e`, an entry of points type `p` in `month`; `earned` is the
    /// month its points were earned in, when the ledger says (an expiry, a
    /// return).
    pub fn add(&mut self, e: &Entry, p: usize, month: Month, earned: Option<Month>) {
        if matches!(
            e.kind,
            EntryKind::Release | EntryKind::CapCut | EntryKind::Preview
        ) || e.amount.is_zero()
        {
            return;
        }
        let types = self.types;
        let Some(lots) = self
            .members
            .entry(e.member.clone())
            .or_insert_with(|| vec![Lots::default(); types])
            .get_mut(p)
        else {
            return;
        };
        let Some(redeemed) = self.redeemed.get_mut(p) else {
            return;
        };
        let mut count = |cohort: Month, amount: Decimal| {
            if !amount.is_zero() {
                *redeemed.entry((cohort, month)).or_default() += amount;
            }
        };
        let spending = matches!(e.kind, EntryKind::Spend | EntryKind::RedeemCancel);
        if spending && e.amount < Decimal::ZERO {
            // A redemption: the oldest points first.
            let (parts, _) = lots.take(None, -e.amount);
            for (cohort, taken) in &parts {
                count(*cohort, *taken);
            }
            lots.spent.extend(parts);
        } else if spending {
            // A redemption cancelled (or undone): the latest parts back.
            let mut left = e.amount;
            while left > Decimal::ZERO {
                let Some((cohort, taken)) = lots.spent.pop() else {
                    count(month, lots.put(month, left));
                    break;
                };
                let back = left.min(taken);
                if taken > back {
                    lots.spent.push((cohort, taken - back));
                }
                count(cohort, -back);
                count(cohort, lots.put(cohort, back));
                left -= back;
            }
        } else if e.amount > Decimal::ZERO {
            let parts = if e.kind == EntryKind::TransferIn {
                take_from(&mut self.in_transit, e.amount)
            } else {
                Vec::new()
            };
            // Points that repay a debt pay for a redemption made before
            // they were earned: they count as redeemed from their cohort.
            let given: Decimal = parts.iter().map(|(_, a)| *a).sum();
            for (cohort, amount) in parts {
                count(cohort, lots.put(cohort, amount));
            }
            let cohort = earned.unwrap_or(month);
            count(cohort, lots.put(cohort, e.amount - given));
        } else {
            // Expiries and returns name their cohort; an award undone for
            // a late event takes back its own month's; the rest (debits,
            // transfers out) go in spending order.
            let own = match e.kind {
                EntryKind::Earn | EntryKind::Pend | EntryKind::Adjust if e.undoes => Some(month),
                _ => earned,
            };
            let (parts, short) = lots.take(own, -e.amount);
            // A return of points already redeemed leaves a debt: those
            // points of its cohort are taken back rather than redeemed, and
            // the points that repay the debt count as redeemed instead.
            if let Some(cohort) = own {
                count(cohort, -short);
            }
            if e.kind == EntryKind::TransferOut {
                self.in_transit = parts;
            }
        }
    }
}

/// Takes `amount` from the front of `parts`.
fn take_from(parts: &mut Vec<(Month, Decimal)>, amount: Decimal) -> Vec<(Month, Decimal)> {
    let mut taken = Vec::new();
    let mut left = amount;
    for (cohort, part) in parts.iter_mut() {
        let t = left.min(*part);
        if t > Decimal::ZERO {
            *part -= t;
            left -= t;
            taken.push((*cohort, t));
        }
    }
    parts.retain(|(_, part)| *part > Decimal::ZERO);
    taken
}

/// What became of one cohort's points, from the liability builder.
#[derive(Debug, Clone, Copy, Default)]
pub struct CohortTotals {
    /// Issued less reversed.
    pub issued: Decimal,
    pub expired: Decimal,
}

/// One monthly earning cohort's redemption curve and projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortCurve {
    /// The month its points were earned in, `2025-01`.
    pub cohort: String,
    /// Points issued less reversed.
    pub issued: Decimal,
    pub expired: Decimal,
    /// Points redeemed by the end of each month since the cohort's: index
    /// 0 is its own month.
    pub redeemed: Vec<Decimal>,
    /// The same as shares of `issued`, to four decimals.
    pub share: Vec<Decimal>,
    /// Points it is projected never to redeem.
    pub unredeemed_ultimate: Decimal,
}

/// An age-to-age factor: how the points not yet redeemed at one age carry
/// to the next, over the cohorts seen at both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    pub from_age: i64,
    /// To six decimals (the projection uses it exact).
    pub factor: Decimal,
    pub cohorts: usize,
}

/// The liability of the last month at one breakage rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sensitivity {
    pub breakage: Decimal,
    pub liability: Decimal,
}

/// One points type's curves and fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointsFit {
    pub points: String,
    pub cohorts: Vec<CohortCurve>,
    pub factors: Vec<Factor>,
    /// Points issued less reversed over every cohort.
    pub issued: Decimal,
    /// Of them, projected ever to be redeemed.
    pub redeemed_ultimate: Decimal,
    /// `redeemed_ultimate / issued`, to four decimals.
    pub ultimate_redemption_rate: Decimal,
    /// 1 − the ultimate redemption rate.
    pub breakage: Decimal,
    /// Outstanding points at the last month's end.
    pub outstanding: Decimal,
    /// The liability at the fitted breakage, and 2 points below and above.
    pub sensitivity: Vec<Sensitivity>,
}

/// The cohorts report of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortReport {
    /// The last month, `2026-03`.
    pub as_of: String,
    pub currency: Currency,
    /// How the ultimate redemption rate is fitted, in words.
    pub method: String,
    pub points: Vec<PointsFit>,
}

/// How the fit is made, for the report.
pub const METHOD: &str = "chain-ladder on the points not yet redeemed: per monthly earning \
    cohort and month since earning (0 = the cohort's month), the points issued less reversed \
    less those redeemed by that month's end; age-to-age factors are volume-weighted (the sum \
    over the cohorts seen at both ages of the later figure over the earlier); each cohort's \
    latest figure times the factors of the ages after it is what it will never redeem, at \
    least what has expired; no development after the oldest age seen (a tail factor of 1); \
    redemptions traced to cohorts first in, first out per member";

impl CohortBook {
    /// The fit of points type `p` (named `name`) as of the end of `last`:
    /// `totals` are its cohorts' points issued less reversed and expired,
    /// `outstanding` the points held at the end, and `liability` what they
    /// are worth at a breakage.
    pub fn fit(
        &self,
        p: usize,
        name: &str,
        liability: impl Fn(Decimal) -> Decimal,
        totals: &BTreeMap<Month, CohortTotals>,
        last: Month,
        outstanding: Decimal,
    ) -> PointsFit {
        let redeemed = self.redeemed.get(p);
        // Not yet redeemed, by cohort and age, through `last`.
        let triangle: Vec<(Month, CohortTotals, Vec<Decimal>, Vec<Decimal>)> = totals
            .iter()
            .filter(|(cohort, t)| **cohort <= last && t.issued > Decimal::ZERO)
            .map(|(&cohort, &t)| {
                let mut to_date = Decimal::ZERO;
                let cumulative: Vec<Decimal> = (cohort..=last)
                    .map(|month| {
                        to_date += redeemed
                            .and_then(|r| r.get(&(cohort, month)))
                            .copied()
                            .unwrap_or_default();
                        to_date
                    })
                    .collect();
                // A cohort a return took back after it was spent can show
                // more redeemed than kept: nothing is left of it then.
                let left = cumulative
                    .iter()
                    .map(|r| (t.issued - r).max(Decimal::ZERO))
                    .collect();
                (cohort, t, cumulative, left)
            })
            .collect();
        let oldest = triangle
            .iter()
            .map(|(_, _, _, l)| l.len())
            .max()
            .unwrap_or(0);
        let factors: Vec<(Decimal, usize)> = (1..oldest)
            .map(|to| {
                let seen: Vec<&Vec<Decimal>> = triangle
                    .iter()
                    .map(|(_, _, _, l)| l)
                    .filter(|l| l.len() > to)
                    .collect();
                let sum = |age: usize| -> Decimal { seen.iter().filter_map(|l| l.get(age)).sum() };
                let factor = sum(to).checked_div(sum(to - 1)).unwrap_or(Decimal::ONE);
                (factor, seen.len())
            })
            .collect();
        let mut cohorts = Vec::new();
        let (mut issued, mut never) = (Decimal::ZERO, Decimal::ZERO);
        for (cohort, t, cumulative, left) in &triangle {
            let latest = left.last().copied().unwrap_or(t.issued);
            // A product past the largest decimal: at most all of it.
            let unredeemed = factors
                .iter()
                .skip(left.len().saturating_sub(1))
                .try_fold(latest, |projected, (f, _)| projected.checked_mul(*f))
                .unwrap_or(t.issued)
                .max(t.expired)
                .min(t.issued);
            issued += t.issued;
            never += unredeemed;
            cohorts.push(CohortCurve {
                cohort: month_name(*cohort),
                issued: t.issued,
                expired: t.expired,
                redeemed: cumulative.clone(),
                share: cumulative
                    .iter()
                    .map(|r| rounded(r / t.issued, 4))
                    .collect(),
                unredeemed_ultimate: rounded(unredeemed, 4),
            });
        }
        let rate = rounded(
            (issued - never)
                .checked_div(issued)
                .unwrap_or_default()
                .clamp(Decimal::ZERO, Decimal::ONE),
            4,
        );
        let breakage = Decimal::ONE - rate;
        let two_points = Decimal::new(2, 2);
        let sensitivity = [breakage - two_points, breakage, breakage + two_points]
            .into_iter()
            .map(|b| b.clamp(Decimal::ZERO, Decimal::ONE))
            .map(|b| Sensitivity {
                breakage: b,
                liability: liability(b),
            })
            .collect();
        PointsFit {
            points: name.to_string(),
            cohorts,
            factors: factors
                .iter()
                .enumerate()
                .map(|(age, (factor, seen))| Factor {
                    from_age: i64::try_from(age).unwrap_or(i64::MAX),
                    factor: rounded(*factor, 6),
                    cohorts: *seen,
                })
                .collect(),
            issued,
            redeemed_ultimate: rounded(issued - never, 4),
            ultimate_redemption_rate: rate,
            breakage,
            outstanding,
            sensitivity,
        }
    }
}

fn rounded(value: Decimal, places: u32) -> Decimal {
    value
        .round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

impl CohortReport {
    /// `cohorts.csv`: the curves, a row per points type, cohort and age.
    pub fn write_csv<W: Write>(&self, out: W) -> csv::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["points", "cohort", "age", "issued", "redeemed", "share"])?;
        for fit in &self.points {
            for c in &fit.cohorts {
                for (age, (redeemed, share)) in c.redeemed.iter().zip(&c.share).enumerate() {
                    csv.write_record([
                        fit.points.as_str(),
                        &c.cohort,
                        &age.to_string(),
                        &points(c.issued),
                        &points(*redeemed),
                        &share.to_string(),
                    ])?;
                }
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// `cohorts.json`: everything, decimals as strings, indented.
    pub fn write_json<W: Write>(&self, mut out: W) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut out, self)?;
        out.write_all(b"\n")
    }

    /// The fit for a person: per points type the rate, the breakage and
    /// the liability's sensitivity, then the method.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for fit in &self.points {
            let sensitivity: Vec<String> = fit
                .sensitivity
                .iter()
                .map(|s| {
                    format!(
                        "{} at {}",
                        self.currency.format(s.liability),
                        crate::table::percent(s.breakage)
                    )
                })
                .collect();
            text.push_str(&format!(
                "{}: {} cohorts, {} of {} points projected to be redeemed: ultimate redemption \
                 rate {}, breakage {}; liability {} {}\n",
                fit.points,
                fit.cohorts.len(),
                points(fit.redeemed_ultimate),
                points(fit.issued),
                crate::table::percent(fit.ultimate_redemption_rate),
                crate::table::percent(fit.breakage),
                self.currency,
                sensitivity.join(", ")
            ));
        }
        text.push_str(&format!("method: {}\n", self.method));
        text
    }
}
