//! What a change to a program costs: the outcomes of two programs replayed
//! on the same events (`run::diff` replays them), and the difference in
//! points issued, liability and cost, overall and per tier, with the
//! members whose balances moved most.

use crate::compile::ir::Program;
use crate::currency::Currency;
use crate::engine::member::{Member, Wallet};
use crate::finance::liability::LiabilityRow;
use crate::finance::spread::ChangeSpread;
use crate::finance::Error;
use crate::table::{percent, points, signed, Table};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many members the diff lists.
pub const TOP_MEMBERS: usize = 10;

/// One points type as a program defines it, for valuing balances.
#[derive(Debug, Clone, PartialEq)]
pub struct PointsOutcome {
    pub name: String,
    pub issued: Decimal,
    /// At the end, from the liability table (each program's own breakage).
    pub liability: Decimal,
    /// `None` for points that carry no liability (qualifying, or no value).
    pub value: Option<Decimal>,
    pub breakage: Decimal,
}

/// One member at the end of a replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberOutcome {
    /// `None` for a program without tiers.
    pub tier: Option<String>,
    /// By points type name.
    pub issued: BTreeMap<String, Decimal>,
    pub balance: BTreeMap<String, Decimal>,
    /// What the member's redemptions and perk uses cost.
    pub cost: Decimal,
}

/// What one program made of the events.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub program: String,
    pub currency: Currency,
    /// In the program's order.
    pub points: Vec<PointsOutcome>,
    /// Tier names, lowest first.
    pub tiers: Vec<String>,
    pub cost: Decimal,
    pub rejected: u64,
    pub members: BTreeMap<String, MemberOutcome>,
}

impl MemberOutcome {
    /// A member's end state as `program` defines it; `None` (a member not
    /// enrolled yet) gives zero balances and no tier. Points issued are
    /// read from the member's own totals: the engine must have kept them
    /// (`Engine::keep_member_totals`).
    pub fn of(program: &Program, state: Option<&Member>, cost: Decimal) -> MemberOutcome {
        let by_type = |f: &dyn Fn(&Wallet) -> Decimal| {
            program
                .points
                .iter()
                .enumerate()
                .map(|(p, t)| {
                    let amount = state
                        .and_then(|m| m.wallets.get(p))
                        .map_or(Decimal::ZERO, f);
                    (t.name.clone(), amount)
                })
                .collect()
        };
        MemberOutcome {
            tier: state.and_then(|m| {
                program
                    .tiers
                    .as_ref()
                    .and_then(|t| t.tiers.get(m.tier()))
                    .map(|t| t.name.clone())
            }),
            issued: by_type(&|w| w.totals().map_or(Decimal::ZERO, |t| t.issued)),
            balance: by_type(&|w| w.balance()),
            cost,
        }
    }
}

impl Outcome {
    /// What a program made of some events, from its liability table (each
    /// points type's issued sum, and liability and breakage at the last
    /// month) and its members' end states.
    pub fn of(
        program: &Program,
        rows: &[LiabilityRow],
        rejected: u64,
        members: BTreeMap<String, MemberOutcome>,
    ) -> Outcome {
        let points = program
            .points
            .iter()
            .map(|t| {
                let rows = || rows.iter().filter(|r| r.points == t.name);
                let last = rows().next_back();
                PointsOutcome {
                    name: t.name.clone(),
                    issued: rows().map(|r| r.issued).sum(),
                    liability: last.map(|r| r.liability).unwrap_or_default(),
                    value: t.value.filter(|_| !t.qualifying),
                    breakage: last.map(|r| r.breakage).unwrap_or_default(),
                }
            })
            .collect();
        Outcome {
            program: program.name.clone(),
            currency: program.currency,
            points,
            tiers: program
                .tiers
                .as_ref()
                .map(|t| t.tiers.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default(),
            cost: rows.iter().map(|r| r.cost).sum(),
            rejected,
            members,
        }
    }
}

/// How a measure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Points,
    Money,
    Count,
}

impl Unit {
    /// An amount as the report shows this unit: money to `currency`'s
    /// minor unit.
    pub fn show(self, amount: Decimal, currency: Currency) -> String {
        match self {
            Unit::Points | Unit::Count => points(amount),
            Unit::Money => currency.format(amount),
        }
    }
}

/// Which figure a line holds, whatever its label says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// The points of this type issued.
    Issued(String),
    Liability,
    Cost,
    Rejected,
}

/// One measure under both programs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub figure: Figure,
    /// The label the report shows: `stars issued`, `liability USD`.
    pub measure: String,
    pub unit: Unit,
    pub old: Decimal,
    pub new: Decimal,
}

impl Line {
    pub fn change(&self) -> Decimal {
        self.new - self.old
    }

    /// The line as a sentence's part: `liability USD 7.34 → 11.12 (+3.78,
    /// +51.50%)`.
    pub fn summary(&self, currency: Currency) -> String {
        let [measure, old, new, change, relative] = self.cells(currency);
        format!("{measure} {old} → {new} ({change}, {relative})")
    }

    /// The line as the report's cells: the measure, the old and new
    /// figures, the change and the change relative to the old figure;
    /// money to `currency`'s minor unit.
    pub fn cells(&self, currency: Currency) -> [String; 5] {
        let show = |amount| self.unit.show(amount, currency);
        let change = self.change();
        let relative = if self.old.is_zero() {
            if change.is_zero() {
                percent(Decimal::ZERO)
            } else {
                "new".to_string()
            }
        } else {
            signed(change / self.old.abs(), percent)
        };
        [
            self.measure.clone(),
            show(self.old),
            show(self.new),
            signed(change, show),
            relative,
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierDiff {
    /// The members' tier at the end under the old program.
    pub tier: String,
    pub members: usize,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberDiff {
    pub member: String,
    pub old_tier: Option<String>,
    pub new_tier: Option<String>,
    /// Per points type: the balance under each program.
    pub balances: Vec<(String, Decimal, Decimal)>,
    /// The sum over points types of how far the balance moved.
    pub moved: Decimal,
}

/// `diff --format json` gives it as it is: exact decimals as strings, a
/// member's balances as `[points type, old, new]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub currency: Currency,
    pub overall: Vec<Line>,
    pub tiers: Vec<TierDiff>,
    /// The members whose balances moved most, most first (none unchanged).
    pub members: Vec<MemberDiff>,
}

impl Diff {
    /// True when no figure changed.
    pub fn is_zero(&self) -> bool {
        self.members.is_empty()
            && self
                .overall
                .iter()
                .chain(self.tiers.iter().flat_map(|t| &t.lines))
                .all(|l| l.change().is_zero())
    }
}

/// The tier a member is grouped under when the old program has no tiers.
const ALL_MEMBERS: &str = "(all members)";
/// The group of members the old replay does not know.
const NOT_IN_OLD: &str = "(not in the old run)";

/// Compares two replays of the same events. Both programs must count money
/// in the same currency.
pub fn compare(old: &Outcome, new: &Outcome) -> Result<Diff, Error> {
    if old.currency != new.currency {
        return Err(Error::DifferentCurrencies {
            old: old.currency.to_string(),
            new: new.currency.to_string(),
        });
    }
    let currency = old.currency;
    // Points types by name: the old program's first, then any the new one adds.
    let mut names: Vec<&str> = old.points.iter().map(|p| p.name.as_str()).collect();
    for p in &new.points {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let find = |outcome: &'_ Outcome, name: &str| -> Option<PointsOutcome> {
        outcome.points.iter().find(|p| p.name == name).cloned()
    };
    let liability_line = |old_value: Decimal, new_value: Decimal| Line {
        figure: Figure::Liability,
        measure: format!("liability {currency}"),
        unit: Unit::Money,
        old: old_value,
        new: new_value,
    };
    let cost_line = |old_value: Decimal, new_value: Decimal| Line {
        figure: Figure::Cost,
        measure: format!("cost {currency}"),
        unit: Unit::Money,
        old: old_value,
        new: new_value,
    };
    let issued_line = |name: &str, old_value: Decimal, new_value: Decimal| Line {
        figure: Figure::Issued(name.to_string()),
        measure: format!("{name} issued"),
        unit: Unit::Points,
        old: old_value,
        new: new_value,
    };

    let mut overall: Vec<Line> = names
        .iter()
        .map(|name| {
            let issued = |o: &Outcome| find(o, name).map(|p| p.issued).unwrap_or_default();
            issued_line(name, issued(old), issued(new))
        })
        .collect();
    let liability = |o: &Outcome| o.points.iter().map(|p| p.liability).sum::<Decimal>();
    overall.push(liability_line(liability(old), liability(new)));
    overall.push(cost_line(old.cost, new.cost));
    overall.push(Line {
        figure: Figure::Rejected,
        measure: "rejected records".to_string(),
        unit: Unit::Count,
        old: Decimal::from(old.rejected),
        new: Decimal::from(new.rejected),
    });

    // Members grouped by their tier under the old program, in tier order.
    let group_of = |id: &str| match old.members.get(id) {
        Some(m) => m.tier.clone().unwrap_or_else(|| ALL_MEMBERS.to_string()),
        None => NOT_IN_OLD.to_string(),
    };
    let mut ids: Vec<&String> = old.members.keys().collect();
    ids.extend(
        new.members
            .keys()
            .filter(|id| !old.members.contains_key(*id)),
    );
    let mut groups: Vec<String> = old.tiers.clone();
    groups.push(ALL_MEMBERS.to_string());
    groups.push(NOT_IN_OLD.to_string());
    let tiers = groups
        .into_iter()
        .filter_map(|group| {
            let members: Vec<&String> = ids
                .iter()
                .copied()
                .filter(|id| group_of(id) == group)
                .collect();
            if members.is_empty() {
                return None;
            }
            let side = |o: &Outcome| {
                let of = |name: &str, f: fn(&MemberOutcome) -> &BTreeMap<String, Decimal>| {
                    members
                        .iter()
                        .filter_map(|id| o.members.get(*id))
                        .filter_map(|m| f(m).get(name))
                        .sum::<Decimal>()
                };
                let issued: Vec<Decimal> = names.iter().map(|n| of(n, |m| &m.issued)).collect();
                let liability: Decimal = o
                    .points
                    .iter()
                    .filter_map(|p| {
                        let value = p.value?;
                        Some(super::liability(
                            o.currency,
                            of(&p.name, |m| &m.balance),
                            value,
                            p.breakage,
                        ))
                    })
                    .sum();
                let cost: Decimal = members
                    .iter()
                    .filter_map(|id| o.members.get(*id))
                    .map(|m| m.cost)
                    .sum();
                (issued, liability, cost)
            };
            let (old_issued, old_liability, old_cost) = side(old);
            let (new_issued, new_liability, new_cost) = side(new);
            let mut lines: Vec<Line> = names
                .iter()
                .zip(old_issued.into_iter().zip(new_issued))
                .map(|(name, (o, n))| issued_line(name, o, n))
                .collect();
            lines.push(liability_line(old_liability, new_liability));
            lines.push(cost_line(old_cost, new_cost));
            Some(TierDiff {
                tier: group,
                members: members.len(),
                lines,
            })
        })
        .collect();

    let mut members: Vec<MemberDiff> = ids
        .iter()
        .map(|id| {
            let (o, n) = (old.members.get(*id), new.members.get(*id));
            let balance = |m: Option<&MemberOutcome>, name: &str| {
                m.and_then(|m| m.balance.get(name))
                    .copied()
                    .unwrap_or_default()
            };
            let balances: Vec<(String, Decimal, Decimal)> = names
                .iter()
                .map(|name| (name.to_string(), balance(o, name), balance(n, name)))
                .collect();
            MemberDiff {
                member: (*id).clone(),
                old_tier: o.and_then(|m| m.tier.clone()),
                new_tier: n.and_then(|m| m.tier.clone()),
                moved: balances.iter().map(|(_, a, b)| (*b - *a).abs()).sum(),
                balances,
            }
        })
        .filter(|m| !m.moved.is_zero() || m.old_tier != m.new_tier)
        .collect();
    // Stable: equal moves keep the members' id order.
    members.sort_by_key(|m| std::cmp::Reverse(m.moved));
    members.truncate(TOP_MEMBERS);
    Ok(Diff {
        currency,
        overall,
        tiers,
        members,
    })
}

/// The diff's tables, as every rendering of it shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub overall: Table,
    /// By tier (each member's tier at the end under the old program).
    pub tiers: Table,
    /// The members whose balances moved most; `None` when no member's
    /// balance or tier changed.
    pub members: Option<Table>,
}

/// The headings of [`Tables`]' three tables.
pub const OVERALL_HEADING: &str = "Overall";
pub const TIERS_HEADING: &str = "By tier (each member's tier at the end under the old program)";
/// Said instead of the members' table when it has no rows.
pub const NO_MEMBER_MOVED: &str = "No member's balance or tier changed.";

/// The heading of the members' table.
pub fn members_heading() -> String {
    format!("Members whose balances moved most (at most {TOP_MEMBERS})")
}

/// The diff's tables: overall, by tier, and the members who moved most.
pub fn tables(diff: &Diff) -> Tables {
    let mut overall = Table::new(&["measure", "old", "new", "change", "change %"]);
    for line in &diff.overall {
        overall.push(line.cells(diff.currency).into());
    }
    let mut tiers = Table::new(&["tier", "measure", "old", "new", "change", "change %"]).labels(2);
    for tier in &diff.tiers {
        let members = if tier.members == 1 {
            "member"
        } else {
            "members"
        };
        let label = format!("{} ({} {members})", tier.tier, tier.members);
        for line in &tier.lines {
            let mut cells = vec![label.clone()];
            cells.extend(line.cells(diff.currency));
            tiers.push(cells);
        }
    }
    Tables {
        overall,
        tiers,
        members: (!diff.members.is_empty()).then(|| members_table(&diff.members)),
    }
}

fn members_table(moved: &[MemberDiff]) -> Table {
    let mut header = vec!["member".to_string(), "tier".to_string()];
    if let Some(first) = moved.first() {
        header.extend(first.balances.iter().map(|(name, _, _)| name.clone()));
    }
    header.push("moved".to_string());
    let mut members = Table {
        header,
        rows: Vec::new(),
        labels: 2,
    };
    let arrow = |old: &str, new: &str| {
        if old == new {
            old.to_string()
        } else {
            format!("{old} → {new}")
        }
    };
    for m in moved {
        let mut cells = vec![
            m.member.clone(),
            arrow(
                m.old_tier.as_deref().unwrap_or("-"),
                m.new_tier.as_deref().unwrap_or("-"),
            ),
        ];
        cells.extend(
            m.balances
                .iter()
                .map(|(_, old, new)| arrow(&points(*old), &points(*new))),
        );
        cells.push(points(m.moved));
        members.push(cells);
    }
    members
}

/// The diff as a report: aligned text, or Markdown for a pull request; a
/// spread across paired runs (`diff --scenario`) first, under the title.
pub fn render(diff: &Diff, spread: Option<&ChangeSpread>, title: &str, markdown: bool) -> String {
    let table = |t: &Table| if markdown { t.markdown() } else { t.text() };
    let heading = |text: &str| {
        if markdown {
            format!("#### {text}\n\n")
        } else {
            format!("{text}\n\n")
        }
    };
    let mut out = if markdown {
        format!("### {title}\n\n")
    } else {
        format!("{title}\n\n")
    };
    if let Some(spread) = spread {
        out.push_str(&spread.render(diff.currency, markdown));
        out.push('\n');
    }
    let tables = tables(diff);
    out.push_str(&heading(OVERALL_HEADING));
    out.push_str(&table(&tables.overall));
    out.push('\n');
    out.push_str(&heading(TIERS_HEADING));
    out.push_str(&table(&tables.tiers));
    out.push('\n');
    out.push_str(&heading(&members_heading()));
    match &tables.members {
        Some(members) => out.push_str(&table(members)),
        None => {
            out.push_str(NO_MEMBER_MOVED);
            out.push('\n');
        }
    }
    out
}
