//! Strategies for tiers of every kind and what hangs off them (a child of
//! `gen`, whose helpers it uses): `tiers` blocks by one or two header
//! measures with `from A or B` thresholds, or by named measures with
//! `when` conditions (now and then a ratio of two measures, false while
//! the divisor is zero); every measure the generated events can feed
//! (points earned of a type, `balance of` a type, `count of purchase`,
//! `sum of purchase.amount` (spend) and `sum of purchase.qty`, the count of
//! a declared event type and the sum of one of its number or money
//! fields); every window
//! (calendar units, anchored `from DATE`, rolling terms, membership and
//! qualification years); keep, step, grace, lifetime, rollover and the
//! upgrade policies, each written or left to its default; a `status match
//! up to` line; perks with their limits; rewards priced per tier; `redeem
//! at least/at most` bounds; and the records for them: perk uses and
//! `set_tier` records.

use super::*;

/// The perks a program may declare, in this order; a stream may name any
/// (one the program lacks is an unknown perk).
pub const PERKS: [&str; 3] = ["refill", "lounge", "upgrade"];

/// What a measure counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceSpec {
    /// Points of a type earned: an index into the types rules earn.
    Earned(usize),
    Balance(usize),
    Count,
    /// `sum of purchase.amount`: spend, in USD.
    Amount,
    Qty,
    /// A declared event type's count (`false`) or the sum of one of its
    /// number or money fields (`true`), picked by the index among those
    /// the program declares (none: a count of purchases).
    Declared(usize, bool),
    /// What `Declared` became: `count of E` ...
    EventCount(usize),
    /// ... or `sum of E.F`, and whether F is money.
    EventSum(usize, usize, bool),
}

impl SourceSpec {
    /// A threshold step of a sensible size for what it counts.
    fn step() -> impl Strategy<Value = Decimal> {
        prop_oneof![positive(12, 0), positive(400, 0)]
    }

    /// How far below a tier's `from` its `keep` is: from 0 (`keep` as
    /// high as `from`) up, `keep 0` included once the measure is small.
    fn shrink(self, k: Decimal) -> Decimal {
        match self {
            SourceSpec::Count | SourceSpec::EventCount(_) => k % Decimal::from(4),
            SourceSpec::Qty | SourceSpec::EventSum(_, _, false) => k % Decimal::from(9),
            _ => k,
        }
    }

    fn scale(self, step: Decimal) -> Decimal {
        match self {
            SourceSpec::Earned(_) | SourceSpec::Balance(_) => step,
            // A few events, a few items (nights, friends), a few hundred
            // dollars.
            SourceSpec::Count | SourceSpec::EventCount(_) | SourceSpec::Declared(..) => {
                (step % Decimal::from(4)).max(Decimal::ONE)
            }
            SourceSpec::Qty | SourceSpec::EventSum(_, _, false) => {
                (step % Decimal::from(9)).max(Decimal::ONE)
            }
            SourceSpec::Amount | SourceSpec::EventSum(_, _, true) => step,
        }
    }

    /// Whether it sums money (its thresholds are then amounts).
    fn money(self) -> bool {
        matches!(self, SourceSpec::Amount | SourceSpec::EventSum(_, _, true))
    }
}

/// The event types a program declares that a measure may count, each with
/// its number and money fields (and whether each is money).
pub type Measurable = Vec<(String, Vec<(String, bool)>)>;

fn source() -> impl Strategy<Value = SourceSpec> {
    prop_oneof![
        4 => (0usize..3).prop_map(SourceSpec::Earned),
        1 => (0usize..3).prop_map(SourceSpec::Balance),
        2 => Just(SourceSpec::Count),
        2 => Just(SourceSpec::Amount),
        1 => Just(SourceSpec::Qty),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(e, sum)| SourceSpec::Declared(e, sum)),
    ]
}

#[derive(Debug, Clone)]
pub enum WindowSpec {
    Calendar(CalendarUnit, Option<NaiveDate>),
    Rolling(u32, TimeUnit),
    Membership,
    Qualification,
}

/// One tier above the first: per measure its step above the tier below
/// and how far below its `from` its `keep` is (no keep: none); for a
/// `when` tier, its atoms (measure, strict) joined by `and` or `or`, and
/// maybe one more, `mI / mJ >= 1` (false while mJ is zero: a comparison
/// with a division by zero is false).
#[derive(Debug, Clone)]
struct TierSpec {
    steps: Vec<Decimal>,
    keep: Option<Vec<Decimal>>,
    atoms: Vec<(usize, bool)>,
    and: bool,
    ratio: Option<(usize, usize)>,
}

/// `downgrade at period end`'s step and grace.
type Downgrade = (Option<u32>, Option<(u32, TimeUnit)>);

#[derive(Debug, Clone)]
pub struct TiersSpec {
    /// Header measures (`by`), or named measures with `when` tiers.
    sources: Vec<SourceSpec>,
    when: bool,
    window: WindowSpec,
    tiers: Vec<TierSpec>,
    /// `from start` for the first tier, else `from 0`.
    from_start: bool,
    /// No line, `upgrade immediately` or `upgrade at period end`.
    upgrade: Option<bool>,
    /// No line (at period end by default), `never`, or `at period end`
    /// with a step and a grace.
    downgrade: Option<Option<Downgrade>>,
    /// `lifetime T after N P earned`: tier, amount, earned type index.
    lifetime: Vec<(usize, Decimal, usize)>,
    /// Per header measure, a rollover cap; whether a single measure's line
    /// names it.
    rollover: Vec<Option<Decimal>>,
    name_rollover: bool,
    /// The second tier's first `from` is rule 0's first award when that is
    /// a whole fixed number and the first measure counts its points.
    exact: bool,
    /// `status match up to T`: T's index among the tiers above the first.
    status_match: Option<usize>,
}

fn window() -> impl Strategy<Value = WindowSpec> {
    let unit = prop_oneof![
        1 => Just(CalendarUnit::Day),
        2 => Just(CalendarUnit::Week),
        4 => Just(CalendarUnit::Month),
        3 => Just(CalendarUnit::Quarter),
        3 => Just(CalendarUnit::Year),
    ];
    const ANCHORS: [(i32, u32, u32); 7] = [
        (2024, 1, 31),
        (2024, 2, 29),
        (2023, 11, 30),
        (2024, 4, 1),
        (2024, 3, 10),
        (2024, 10, 27),
        (2025, 2, 1),
    ];
    prop_oneof![
        4 => (unit.clone(), proptest::option::weighted(0.4, proptest::sample::select(&ANCHORS[..])))
            .prop_map(|(u, a)| WindowSpec::Calendar(u, a.map(|(y, m, d)| date(y, m, d)))),
        2 => prop_oneof![
            (1u32..13).prop_map(|n| (n, TimeUnit::Month)),
            (1u32..60).prop_map(|n| (n, TimeUnit::Day)),
            (1u32..9).prop_map(|n| (n, TimeUnit::Week)),
        ]
        .prop_map(|(n, u)| WindowSpec::Rolling(n, u)),
        1 => Just(WindowSpec::Membership),
        2 => Just(WindowSpec::Qualification),
    ]
}

pub fn tiers() -> impl Strategy<Value = TiersSpec> {
    (1usize..=3, any::<bool>()).prop_flat_map(|(measures, when)| {
        // Two header measures at most; one to three named ones.
        let measures = if when { measures } else { measures.min(2) };
        let tier = (
            proptest::collection::vec(SourceSpec::step(), measures),
            proptest::option::of(proptest::collection::vec(0i64..120, measures)),
            proptest::collection::vec((0..measures, any::<bool>()), 1..3),
            any::<bool>(),
            proptest::option::weighted(0.2, (0..measures, 0..measures)),
        )
            .prop_map(|(steps, keep, atoms, and, ratio)| TierSpec {
                steps,
                keep: keep.map(|k| k.into_iter().map(Decimal::from).collect()),
                atoms,
                and,
                ratio,
            });
        let grace = prop_oneof![
            (1u32..4).prop_map(|n| (n, TimeUnit::Month)),
            (1u32..45).prop_map(|n| (n, TimeUnit::Day)),
        ];
        (
            proptest::collection::vec(source(), measures),
            window(),
            proptest::collection::vec(tier, 1..TIERS.len()),
            any::<bool>(),
            proptest::option::weighted(0.5, any::<bool>()),
            proptest::option::weighted(
                0.85,
                proptest::option::weighted(
                    0.85,
                    (
                        proptest::option::of(1u32..3),
                        proptest::option::weighted(0.5, grace),
                    ),
                ),
            ),
            proptest::collection::vec((0usize..3, positive(600, 0), 0usize..3), 0..3),
            proptest::collection::vec(proptest::option::weighted(0.4, positive(300, 0)), measures),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(prop_oneof![
                Just(WindowSpec::Calendar(CalendarUnit::Week, None)),
                Just(WindowSpec::Calendar(CalendarUnit::Day, None)),
                (3u32..20).prop_map(|n| WindowSpec::Rolling(n, TimeUnit::Day)),
            ]),
            proptest::option::weighted(0.5, 0usize..2),
        )
            .prop_map(
                move |(
                    sources,
                    mut window,
                    tiers,
                    from_start,
                    upgrade,
                    downgrade,
                    lifetime,
                    rollover,
                    name_rollover,
                    exact,
                    short,
                    status_match,
                )| {
                    // A grace often spans several reviews: a later one
                    // may then lower (never raise) the drop it waits on.
                    if let (Some(short), Some(Some((_, Some(_))))) = (short, downgrade) {
                        window = short;
                    }
                    TiersSpec {
                        sources,
                        when,
                        window,
                        tiers,
                        from_start,
                        upgrade,
                        downgrade,
                        lifetime,
                        rollover,
                        name_rollover,
                        exact,
                        status_match,
                    }
                },
            )
    })
}

impl TiersSpec {
    /// How many tiers the block declares.
    pub fn count(&self) -> usize {
        self.tiers.len() + 1
    }

    /// The block. `earned` are the points types some rule earns (a
    /// measure of points counts one of them, or `check` finds its tiers
    /// unreachable); `first_award` rule 0's first fixed award and its type;
    /// `declared` the event types a measure may count.
    pub fn block(
        &self,
        earned: &[usize],
        first_award: Option<(Decimal, usize)>,
        declared: &Measurable,
    ) -> TiersDecl {
        let points = |i: usize| {
            let p = earned.get(i % earned.len().max(1)).copied().unwrap_or(0);
            ident(POINTS.get(p).copied().unwrap_or("stars"))
        };
        // A declared type's count or the sum of one of its fields.
        let resolve = |s: &SourceSpec| match *s {
            SourceSpec::Declared(pick, sum) if !declared.is_empty() => {
                let e = pick % declared.len();
                let fields = declared.get(e).map_or(&[][..], |(_, f)| f.as_slice());
                match fields.get(pick / declared.len() % fields.len().max(1)) {
                    Some((_, money)) if sum => {
                        SourceSpec::EventSum(e, pick / declared.len() % fields.len(), *money)
                    }
                    _ => SourceSpec::EventCount(e),
                }
            }
            SourceSpec::Declared(..) => SourceSpec::Count,
            other => other,
        };
        let event = |e: usize| declared.get(e).map_or("purchase", |(n, _)| n.as_str());
        let field = |e: usize, f: usize| {
            declared
                .get(e)
                .and_then(|(_, fields)| fields.get(f))
                .map_or("amount", |(n, _)| n.as_str())
        };
        // Each measure counts something else (a measure twice would be one
        // column twice): a repeated one gives way to a count or a sum.
        let column = |s: &SourceSpec| match s {
            SourceSpec::Earned(i) => format!("earned {}", points(*i).node),
            SourceSpec::Balance(i) => format!("balance {}", points(*i).node),
            other => format!("{other:?}"),
        };
        let mut kinds: Vec<SourceSpec> = Vec::new();
        for s in &self.sources {
            let fallback = [SourceSpec::Count, SourceSpec::Amount, SourceSpec::Qty];
            let taken = |s: &SourceSpec| kinds.iter().any(|k| column(k) == column(s));
            let s = std::iter::once(resolve(s))
                .chain(fallback)
                .find(|s| !taken(s))
                .unwrap_or(*s);
            kinds.push(s);
        }
        let sources: Vec<MeasureSource> = kinds
            .iter()
            .map(|s| match s {
                SourceSpec::Earned(i) => MeasureSource::PointsEarned(points(*i)),
                SourceSpec::Balance(i) => MeasureSource::Balance(points(*i)),
                SourceSpec::Count => MeasureSource::Count(ident("purchase")),
                SourceSpec::Amount => MeasureSource::FieldSum {
                    event: ident("purchase"),
                    field: ident("amount"),
                },
                SourceSpec::Qty => MeasureSource::FieldSum {
                    event: ident("purchase"),
                    field: ident("qty"),
                },
                SourceSpec::EventCount(e) | SourceSpec::Declared(e, _) => {
                    MeasureSource::Count(ident(event(*e)))
                }
                SourceSpec::EventSum(e, f, _) => MeasureSource::FieldSum {
                    event: ident(event(*e)),
                    field: ident(field(*e, *f)),
                },
            })
            .collect();
        let mut stmts = Vec::new();
        let names: Vec<String> = (0..sources.len()).map(|i| format!("m{i}")).collect();
        if self.when {
            for (name, source) in names.iter().zip(&sources) {
                stmts.push(TierStmt::Measure {
                    name: ident(name),
                    source: spanned(source.clone()),
                });
            }
        }
        stmts.push(TierStmt::Tier(TierDef {
            name: ident(TIERS[0]),
            qualify: if self.from_start {
                Threshold::Start
            } else {
                Threshold::Values(vec![num(Decimal::ZERO)])
            },
            keep: None,
        }));
        // Each measure's `from` so far.
        let mut from: Vec<Decimal> = vec![Decimal::ZERO; sources.len()];
        for (t, tier) in self.tiers.iter().enumerate() {
            for (i, (f, step)) in from.iter_mut().zip(&tier.steps).enumerate() {
                let mut step = kinds.get(i).map_or(*step, |s| s.scale(*step));
                // One purchase lands on the threshold.
                if let (0, 0, true, Some((award, p)), Some(SourceSpec::Earned(e))) =
                    (t, i, self.exact, first_award, kinds.first())
                {
                    if earned.get(e % earned.len().max(1)) == Some(&p) && award >= Decimal::ONE {
                        step = award.trunc();
                    }
                }
                *f += step;
            }
            let keep: Option<Vec<Decimal>> = tier.keep.as_ref().map(|k| {
                from.iter()
                    .zip(k)
                    .zip(&kinds)
                    .map(|((f, k), s)| (*f - s.shrink(*k)).max(Decimal::ZERO))
                    .collect()
            });
            let name = ident(TIERS.get(t + 1).copied().unwrap_or("gold"));
            let (qualify, keep) = if self.when {
                let money = |i: usize| kinds.get(i).is_some_and(|k| k.money());
                let measure = |i: usize| super::name(names.get(i).map_or("m0", String::as_str));
                let cond = |values: &[Decimal]| {
                    let mut atoms: Vec<Expr> = tier
                        .atoms
                        .iter()
                        .map(|(i, strict)| {
                            let value = values.get(*i).copied().unwrap_or_default();
                            let bound = if money(*i) {
                                expr(ExprKind::Money(usd(value)))
                            } else {
                                expr(ExprKind::Number(value))
                            };
                            let op = if *strict { BinaryOp::Gt } else { BinaryOp::Ge };
                            binary(op, measure(*i), bound)
                        })
                        .collect();
                    // Money over a number is money; a number over money is
                    // no type: divide the money one by the other.
                    if let Some((i, j)) = tier.ratio {
                        let (i, j) = if money(j) && !money(i) {
                            (j, i)
                        } else {
                            (i, j)
                        };
                        let one = if money(i) && !money(j) {
                            expr(ExprKind::Money(usd(Decimal::ONE)))
                        } else {
                            expr(ExprKind::Number(Decimal::ONE))
                        };
                        let ratio = binary(BinaryOp::Div, measure(i), measure(j));
                        atoms.push(binary(BinaryOp::Ge, ratio, one));
                    }
                    let op = if tier.and {
                        BinaryOp::And
                    } else {
                        BinaryOp::Or
                    };
                    atoms
                        .into_iter()
                        .reduce(|a, b| binary(op, a, b))
                        .unwrap_or_else(|| expr(ExprKind::Bool(true)))
                };
                (
                    Threshold::When(cond(&from)),
                    keep.map(|k| Threshold::When(cond(&k))),
                )
            } else {
                (
                    Threshold::Values(from.iter().map(|v| num(*v)).collect()),
                    keep.map(|k| Threshold::Values(k.into_iter().map(num).collect())),
                )
            };
            stmts.push(TierStmt::Tier(TierDef {
                name,
                qualify,
                keep,
            }));
        }
        if let Some(immediately) = self.upgrade {
            stmts.push(TierStmt::Upgrade(if immediately {
                UpgradePolicy::Immediately
            } else {
                UpgradePolicy::AtPeriodEnd
            }));
        }
        if let Some(policy) = self.downgrade {
            stmts.push(TierStmt::Downgrade(match policy {
                None => DowngradePolicy::Never,
                Some((step, grace)) => DowngradePolicy::AtPeriodEnd(
                    step.map(|n| DowngradeOption::Step(num(Decimal::from(n))))
                        .into_iter()
                        .chain(grace.map(|(n, u)| DowngradeOption::Grace(duration(n, u))))
                        .map(spanned)
                        .collect(),
                ),
            }));
        }
        for (tier, amount, p) in &self.lifetime {
            stmts.push(TierStmt::Lifetime {
                tier: ident(TIERS.get(tier % self.count()).copied().unwrap_or("green")),
                amount: num(*amount),
                points: points(*p),
            });
        }
        if let (Some(n), true) = (self.status_match, self.count() > 1) {
            let rank = 1 + n % (self.count() - 1);
            stmts.push(TierStmt::StatusMatch {
                tier: ident(TIERS.get(rank).copied().unwrap_or("silver")),
            });
        }
        // Rollover needs header measures, `from` thresholds and a window
        // that starts afresh.
        let rolls = !self.when && !matches!(self.window, WindowSpec::Rolling(..));
        for (i, cap) in self.rollover.iter().enumerate().filter(|_| rolls) {
            let (Some(cap), Some(source)) = (cap, sources.get(i)) else {
                continue;
            };
            let named = self.name_rollover || sources.len() > 1;
            stmts.push(TierStmt::Rollover {
                measure: named.then(|| ident(&source.column())),
                cap: num(kinds.get(i).map_or(*cap, |s| s.scale(*cap))),
            });
        }
        let window = match self.window {
            WindowSpec::Calendar(unit, anchor) => Window::Calendar(unit, anchor),
            WindowSpec::Rolling(n, unit) => Window::Rolling(duration(n, unit)),
            WindowSpec::Membership => Window::Membership,
            WindowSpec::Qualification => Window::Qualification,
        };
        TiersDecl {
            by: if self.when {
                Vec::new()
            } else {
                sources.into_iter().map(spanned).collect()
            },
            window: spanned(window),
            stmts: stmts.into_iter().map(spanned).collect(),
            span: Span::default(),
        }
    }
}

/// Perks, tier prices and redemption bounds.
#[derive(Debug, Clone)]
pub struct ExtrasSpec {
    /// Per perk: its tiers (all; a tier and above; a list), its limit and
    /// whether it has a cost.
    perks: Vec<PerkSpec>,
    /// Per reward (by points type), lines of `price N P for T, ...`.
    prices: Vec<Vec<(Decimal, Vec<usize>)>>,
    /// Per points type, `redeem at least A, at most B` (either or both).
    bounds: Vec<Option<(Option<u32>, Option<u32>)>>,
}

/// A perk's tiers, its limit, and whether it has a cost.
type PerkSpec = (PerkTiers, Option<(u32, Period)>, bool);

#[derive(Debug, Clone)]
enum PerkTiers {
    All,
    AndAbove(usize),
    List(Vec<usize>),
}

pub fn extras() -> impl Strategy<Value = ExtrasSpec> {
    let perk_tiers = prop_oneof![
        Just(PerkTiers::All),
        (0..TIERS.len()).prop_map(PerkTiers::AndAbove),
        proptest::collection::vec(0..TIERS.len(), 1..3).prop_map(PerkTiers::List),
    ];
    let price_line = (
        positive(60, 0),
        proptest::collection::vec(0..TIERS.len(), 1..3),
    );
    let bound = (
        proptest::option::of(1u32..60),
        proptest::option::of(0u32..300),
    );
    (
        proptest::collection::vec(
            (
                perk_tiers,
                proptest::option::weighted(0.7, (1u32..3, period())),
                any::<bool>(),
            ),
            0..=PERKS.len(),
        ),
        proptest::collection::vec(proptest::collection::vec(price_line, 0..3), POINTS.len()),
        proptest::collection::vec(proptest::option::weighted(0.3, bound), POINTS.len()),
    )
        .prop_map(|(perks, prices, bounds)| ExtrasSpec {
            perks,
            prices,
            bounds,
        })
}

impl ExtrasSpec {
    /// The perk blocks, for a program of `tiers` tiers (none: every perk
    /// is for all tiers).
    pub fn perks(&self, tiers: usize) -> Vec<PerkDecl> {
        let tier = |t: usize| ident(TIERS.get(t % tiers.max(1)).copied().unwrap_or("green"));
        self.perks
            .iter()
            .zip(PERKS)
            .map(|((set, limit, cost), name)| {
                let set = match set {
                    _ if tiers == 0 => TierSet::All,
                    PerkTiers::All => TierSet::All,
                    PerkTiers::AndAbove(t) => TierSet::AndAbove(tier(*t)),
                    PerkTiers::List(list) => {
                        let mut ranks: Vec<usize> = list.iter().map(|t| t % tiers).collect();
                        ranks.sort_unstable();
                        ranks.dedup();
                        TierSet::List(ranks.into_iter().map(tier).collect())
                    }
                };
                let mut settings = Vec::new();
                if let Some((count, period)) = limit {
                    settings.push(PerkSetting::Limit {
                        count: num(Decimal::from(*count)),
                        period: spanned(*period),
                    });
                }
                if *cost {
                    settings.push(PerkSetting::Cost(usd(dec(450, 2))));
                }
                PerkDecl {
                    name: ident(name),
                    tiers: spanned(set),
                    settings: settings.into_iter().map(spanned).collect(),
                    span: Span::default(),
                }
            })
            .collect()
    }

    /// The `price N P for T, ...` lines of the reward in `points` (the
    /// `p`th type), each tier priced once, for a program of `tiers` tiers.
    pub fn tier_prices(&self, p: usize, points: &str, tiers: usize) -> Vec<RewardSetting> {
        let mut priced = Vec::new();
        let mut lines = Vec::new();
        for (amount, list) in self.prices.get(p).into_iter().flatten() {
            let mut names = Vec::new();
            for t in list.iter().filter(|t| **t < tiers) {
                if !priced.contains(t) {
                    priced.push(*t);
                    names.push(ident(TIERS.get(*t).copied().unwrap_or("green")));
                }
            }
            if !names.is_empty() {
                lines.push(RewardSetting::Price {
                    amount: num(*amount),
                    points: ident(points),
                    tiers: names,
                });
            }
        }
        lines
    }

    /// The `redeem` line of the `p`th points type, if any.
    pub fn bounds(&self, p: usize) -> Option<PointsSetting> {
        let (least, most) = self.bounds.get(p).copied().flatten()?;
        let most = most.map(|m| m.max(least.unwrap_or(1)));
        let limits: Vec<Spanned<RedeemLimit>> = least
            .map(|n| RedeemLimit::AtLeast(num(Decimal::from(n))))
            .into_iter()
            .chain(most.map(|n| RedeemLimit::AtMost(num(Decimal::from(n.max(1))))))
            .map(spanned)
            .collect();
        (!limits.is_empty()).then_some(PointsSetting::Redeem(limits))
    }
}

fn perk_use() -> impl Strategy<Value = KindSpec> {
    (0..PERKS.len() + 1).prop_map(KindSpec::UsePerk)
}

/// Records of the kinds this module adds, to mix into a stream: perk
/// uses and status matches (to a tier, or one no program has; through a
/// day from the day before the record's to a few months after).
pub(super) fn kinds() -> impl Strategy<Value = KindSpec> {
    prop_oneof![
        3 => perk_use(),
        2 => (0..TIERS.len() + 1, -1i64..120).prop_map(|(n, days)| KindSpec::SetTier(n, days)),
    ]
}

/// The perk a `use_perk` names: one of [`PERKS`], or one no program has.
pub fn perk_name(n: usize) -> String {
    PERKS.get(n).copied().unwrap_or("nope").to_string()
}

/// Runs of purchases (or of records of a declared type) by one member, a
/// few days or weeks apart: tiers need a member's events dense enough that
/// a period's measure crosses a threshold, fails a review, then earns a
/// little during a grace.
fn bursts() -> impl Strategy<Value = Vec<EventSpec>> {
    let purchase = (positive(20000, 2), (0i64..6).prop_map(Decimal::from))
        .prop_map(|(amount, qty)| KindSpec::Purchase(amount, qty, None, None));
    let declared = (0..moves::EVENTS.len()).prop_flat_map(moves::declared_values);
    let burst = (
        0..MEMBERS.len(),
        day(),
        time_of_day(),
        2usize..7,
        proptest::sample::select(&[1i64, 3, 7, 12, 30][..]),
        prop_oneof![3 => purchase, 1 => declared.prop_map(KindSpec::Move)],
    );
    proptest::collection::vec(burst, 0..3).prop_map(|bursts| {
        bursts
            .into_iter()
            .flat_map(|(member, start, time, count, gap, kind)| {
                (0..count).map(move |k| EventSpec {
                    member,
                    day: start + Duration::days(gap * k as i64),
                    time,
                    kind: kind.clone(),
                })
            })
            .collect()
    })
}

/// A stream of [`super::stream`]'s records, with runs of purchases by one
/// member mixed in.
pub fn stream() -> impl Strategy<Value = Vec<EventSpec>> {
    (super::stream(), bursts()).prop_map(|(mut stream, bursts)| {
        stream.extend(bursts);
        stream
    })
}
