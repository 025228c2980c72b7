//! Property tests of the formatter: random valid program trees print to text
//! that parses back to the same tree and that the formatter leaves alone;
//! comments inserted between any two tokens of a program survive formatting,
//! in order, and the result is a fixed point.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use loyalty::syntax::ast::*;
use loyalty::syntax::{format, parse, parse_with_comments, print, Comment};
use proptest::prelude::*;
use rust_decimal::Decimal;

// ------------------------------------------------------------------ leaves

fn spanned<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

/// Names that are not keywords, some starting like one (`or_else`,
/// `ontime`), to catch a keyword matched as the prefix of a name, and
/// `optional`, a word of the grammar that is still a name.
const NAMES: &[&str] = &[
    "stars",
    "gold",
    "x",
    "fare_class",
    "tier_2",
    "or_else",
    "not_yet",
    "in_app",
    "ontime",
    "earned_miles",
    "a1",
    "optional",
];

fn name() -> impl Strategy<Value = String> {
    proptest::sample::select(NAMES).prop_map(str::to_string)
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(spanned)
}

fn currency() -> impl Strategy<Value = Ident> {
    proptest::sample::select(&["USD", "EUR", "CNY"][..]).prop_map(|c| spanned(c.to_string()))
}

/// A non-negative decimal with 0 to 4 digits after the point, as written.
fn decimal() -> impl Strategy<Value = Decimal> {
    (0i64..100_000, 0u32..5).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

fn number() -> impl Strategy<Value = Number> {
    decimal().prop_map(spanned)
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(&['a', 'Z', ' ', '"', '\\', '#', '{', ')', '[', 'é'][..]),
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1990i32..2100, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn money() -> impl Strategy<Value = Money> {
    (number(), currency()).prop_map(|(amount, currency)| Money { amount, currency })
}

fn duration() -> impl Strategy<Value = Duration> {
    let unit = prop_oneof![
        Just(TimeUnit::Day),
        Just(TimeUnit::Week),
        Just(TimeUnit::Month),
        Just(TimeUnit::Year),
    ];
    // Counts of exactly 1 print in the singular: make them common.
    let count = prop_oneof![Just(Decimal::ONE), decimal()];
    (count, unit).prop_map(|(count, unit)| Duration {
        count: spanned(count),
        unit,
        span: Span::default(),
    })
}

fn calendar_unit() -> impl Strategy<Value = CalendarUnit> {
    prop_oneof![
        Just(CalendarUnit::Day),
        Just(CalendarUnit::Week),
        Just(CalendarUnit::Month),
        Just(CalendarUnit::Quarter),
        Just(CalendarUnit::Year),
    ]
}

fn period() -> impl Strategy<Value = Spanned<Period>> {
    prop_oneof![
        Just(Period::Day),
        Just(Period::Week),
        Just(Period::Month),
        Just(Period::Quarter),
        Just(Period::Year),
        Just(Period::Lifetime),
    ]
    .prop_map(spanned)
}

// ------------------------------------------------------------------ expressions

fn boxed(kind: ExprKind) -> Box<Expr> {
    Box::new(spanned(kind))
}

/// How tightly an expression's printed form holds together, loosest first,
/// as the parser's operator table orders them: `or` < `and` < `not` <
/// comparisons < `in` < `+ -` < `* /` < unary `-` < a primary.
fn strength(e: &Expr) -> u8 {
    match &e.node {
        ExprKind::Binary { op, .. } => binary_strength(*op),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        ExprKind::InList { .. } | ExprKind::InRange { .. } => 5,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => 8,
        _ => 9,
    }
}

fn binary_strength(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Add | BinaryOp::Sub => 6,
        BinaryOp::Mul | BinaryOp::Div => 7,
        _ => 4,
    }
}

/// Wraps `e` in parentheses unless it holds at least `min` tightly.
fn at_least(e: Expr, min: u8) -> Box<Expr> {
    if strength(&e) < min {
        boxed(ExprKind::Paren(Box::new(e)))
    } else {
        Box::new(e)
    }
}

/// Adds the parentheses the parser needs to read the tree back as built:
/// operands of a left-associative operator hold at least as tightly on the
/// left and strictly more tightly on the right.
fn parenthesize(e: Expr) -> Expr {
    let kind = match e.node {
        ExprKind::Binary { op, lhs, rhs } => {
            let own = binary_strength(op);
            ExprKind::Binary {
                op,
                lhs: at_least(parenthesize(*lhs), own),
                rhs: at_least(parenthesize(*rhs), own + 1),
            }
        }
        ExprKind::Unary { op, expr } => {
            let min = if op == UnaryOp::Not { 3 } else { 8 };
            ExprKind::Unary {
                op,
                expr: at_least(parenthesize(*expr), min),
            }
        }
        ExprKind::InList { expr, items } => ExprKind::InList {
            expr: at_least(parenthesize(*expr), 5),
            items: items.into_iter().map(parenthesize).collect(),
        },
        ExprKind::InRange { expr, low, high } => ExprKind::InRange {
            expr: at_least(parenthesize(*expr), 5),
            low,
            high,
        },
        ExprKind::Paren(inner) => ExprKind::Paren(Box::new(parenthesize(*inner))),
        primary => primary,
    };
    spanned(kind)
}

fn primary() -> impl Strategy<Value = Expr> {
    prop_oneof![
        decimal().prop_map(ExprKind::Number),
        money().prop_map(ExprKind::Money),
        decimal().prop_map(ExprKind::Percent),
        date().prop_map(ExprKind::Date),
        duration().prop_map(ExprKind::Duration),
        text().prop_map(ExprKind::Text),
        any::<bool>().prop_map(ExprKind::Bool),
        name().prop_map(ExprKind::Name),
        ident().prop_map(ExprKind::MemberAttr),
        ident().prop_map(ExprKind::ItemField),
        ident().prop_map(ExprKind::Balance),
        Just(ExprKind::FirstPurchase),
        (counted(), counter_window()).prop_map(|(source, window)| {
            ExprKind::Counter(Box::new(CounterRef {
                source: spanned(source),
                window: spanned(window),
            }))
        }),
    ]
    .prop_map(spanned)
}

/// What a counter counts: events, or a field of them summed.
fn counted() -> impl Strategy<Value = MeasureSource> {
    prop_oneof![
        ident().prop_map(MeasureSource::Count),
        (ident(), ident()).prop_map(|(event, field)| MeasureSource::FieldSum { event, field }),
    ]
}

fn counter_window() -> impl Strategy<Value = CounterWindow> {
    prop_oneof![
        calendar_unit().prop_map(CounterWindow::This),
        duration().prop_map(CounterWindow::Last),
    ]
}

/// A bound of `in A .. B`: the grammar allows a date, money or a number.
fn range_bound() -> impl Strategy<Value = Box<Expr>> {
    prop_oneof![
        date().prop_map(ExprKind::Date),
        money().prop_map(ExprKind::Money),
        decimal().prop_map(ExprKind::Number),
    ]
    .prop_map(boxed)
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    proptest::sample::select(&BinaryOp::ALL[..])
}

fn expr() -> impl Strategy<Value = Expr> {
    primary()
        .prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| ExprKind::Paren(Box::new(e))),
                (
                    prop_oneof![Just(UnaryOp::Not), Just(UnaryOp::Neg)],
                    inner.clone()
                )
                    .prop_map(|(op, e)| ExprKind::Unary {
                        op,
                        expr: Box::new(e)
                    }),
                (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| {
                    ExprKind::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    }
                }),
                (
                    inner.clone(),
                    proptest::collection::vec(inner.clone(), 1..3)
                )
                    .prop_map(|(e, items)| ExprKind::InList {
                        expr: Box::new(e),
                        items,
                    }),
                (inner, range_bound(), range_bound()).prop_map(|(e, low, high)| {
                    ExprKind::InRange {
                        expr: Box::new(e),
                        low,
                        high,
                    }
                }),
            ]
            .prop_map(spanned)
        })
        .prop_map(parenthesize)
}

// ------------------------------------------------------------------ items

fn program() -> impl Strategy<Value = Item> {
    let setting = prop_oneof![
        currency().prop_map(ProgramSetting::Currency),
        text().prop_map(|t| ProgramSetting::Timezone(spanned(t))),
        date().prop_map(|d| ProgramSetting::Effective(spanned(d))),
        Just(ProgramSetting::Overspent(OverspentPolicy::GoNegative)),
        Just(ProgramSetting::Overspent(OverspentPolicy::WriteOff)),
        duration().prop_map(ProgramSetting::AcceptLate),
        duration().prop_map(ProgramSetting::AcceptReturns),
    ];
    (
        text(),
        proptest::collection::vec(setting.prop_map(spanned), 0..5),
    )
        .prop_map(|(name, settings)| {
            Item::Program(ProgramDecl {
                name: spanned(name),
                settings,
                span: Span::default(),
            })
        })
}

fn fields() -> impl Strategy<Value = Vec<FieldDecl>> {
    let ty = prop_oneof![
        Just(FieldType::Number),
        Just(FieldType::Money),
        Just(FieldType::Text),
        Just(FieldType::Date),
        Just(FieldType::Bool),
    ];
    proptest::collection::vec(
        (ident(), any::<bool>(), ty).prop_map(|(name, optional, ty)| FieldDecl {
            name,
            optional,
            ty: spanned(ty),
            span: Span::default(),
        }),
        0..4,
    )
}

/// Every form of `expire`, for points types and rules.
fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        Just(Expiry::Never),
        (duration(), proptest::option::of(calendar_unit())).prop_map(|(term, end_of)| {
            Expiry::AfterEarn {
                term,
                end_of: end_of.map(spanned),
            }
        }),
        duration().prop_map(Expiry::Inactivity),
        (calendar_unit(), proptest::option::of(number())).prop_map(|(unit, plus)| {
            Expiry::EndOf {
                unit: spanned(unit),
                plus,
            }
        }),
    ]
}

fn points() -> impl Strategy<Value = Item> {
    let setting = prop_oneof![
        number().prop_map(PointsSetting::Precision),
        money().prop_map(PointsSetting::Value),
        number().prop_map(PointsSetting::Breakage),
        duration().prop_map(PointsSetting::Pending),
        Just(PointsSetting::Qualifying),
        expiry().prop_map(PointsSetting::Expire),
        proptest::collection::vec(transfer_option(), 0..4).prop_map(PointsSetting::Transfers),
        (ident(), proptest::option::of(number()))
            .prop_map(|(kind, most)| PointsSetting::Pool { kind, most }),
        proptest::collection::vec(
            prop_oneof![
                number().prop_map(RedeemLimit::AtLeast),
                number().prop_map(RedeemLimit::AtMost),
            ]
            .prop_map(spanned),
            1..3
        )
        .prop_map(PointsSetting::Redeem),
        (number(), period()).prop_map(|(amount, period)| PointsSetting::Cap { amount, period }),
    ];
    (
        ident(),
        proptest::collection::vec(setting.prop_map(spanned), 0..4),
    )
        .prop_map(|(name, settings)| {
            Item::Points(PointsDecl {
                name,
                settings,
                span: Span::default(),
            })
        })
}

fn transfer_option() -> impl Strategy<Value = Spanned<TransferOption>> {
    prop_oneof![
        number().prop_map(TransferOption::Min),
        number().prop_map(TransferOption::Fee),
        Just(TransferOption::Expiry(TransferExpiry::Keep)),
        Just(TransferOption::Expiry(TransferExpiry::Restart)),
    ]
    .prop_map(spanned)
}

fn measure_source() -> impl Strategy<Value = Spanned<MeasureSource>> {
    prop_oneof![
        ident().prop_map(MeasureSource::PointsEarned),
        ident().prop_map(MeasureSource::Balance),
        counted(),
    ]
    .prop_map(spanned)
}

fn values() -> impl Strategy<Value = Threshold> {
    proptest::collection::vec(number(), 1..4).prop_map(Threshold::Values)
}

fn tiers() -> impl Strategy<Value = Item> {
    let window = prop_oneof![
        (calendar_unit(), proptest::option::of(date()))
            .prop_map(|(unit, from)| Window::Calendar(unit, from)),
        duration().prop_map(Window::Rolling),
        Just(Window::Membership),
        Just(Window::Qualification),
    ];
    let qualify = prop_oneof![
        Just(Threshold::Start),
        values(),
        expr().prop_map(Threshold::When)
    ];
    let keep = proptest::option::of(prop_oneof![values(), expr().prop_map(Threshold::When)]);
    let option = prop_oneof![
        number().prop_map(DowngradeOption::Step),
        duration().prop_map(DowngradeOption::Grace),
    ];
    let stmt = prop_oneof![
        (ident(), measure_source()).prop_map(|(name, source)| TierStmt::Measure { name, source }),
        (ident(), qualify, keep).prop_map(|(name, qualify, keep)| TierStmt::Tier(TierDef {
            name,
            qualify,
            keep
        })),
        Just(TierStmt::Upgrade(UpgradePolicy::Immediately)),
        Just(TierStmt::Upgrade(UpgradePolicy::AtPeriodEnd)),
        Just(TierStmt::Downgrade(DowngradePolicy::Never)),
        proptest::collection::vec(option.prop_map(spanned), 0..3)
            .prop_map(|options| TierStmt::Downgrade(DowngradePolicy::AtPeriodEnd(options))),
        (ident(), number(), ident()).prop_map(|(tier, amount, points)| TierStmt::Lifetime {
            tier,
            amount,
            points
        }),
        (proptest::option::of(ident()), number())
            .prop_map(|(measure, cap)| TierStmt::Rollover { measure, cap }),
        ident().prop_map(|tier| TierStmt::StatusMatch { tier }),
    ];
    (
        proptest::collection::vec(measure_source(), 0..3),
        window.prop_map(spanned),
        proptest::collection::vec(stmt.prop_map(spanned), 0..5),
    )
        .prop_map(|(by, window, stmts)| {
            Item::Tiers(TiersDecl {
                by,
                window,
                stmts,
                span: Span::default(),
            })
        })
}

fn earn() -> impl Strategy<Value = Earn> {
    let of = (
        any::<bool>(),
        number(),
        proptest::option::of(currency()),
        expr(),
    )
        .prop_map(|(full, unit, currency, base)| PerClause {
            full,
            unit,
            currency,
            base,
            items: false,
            span: Span::default(),
        });
    // `per [full] N items`: the base is the item's quantity.
    let items = (any::<bool>(), number()).prop_map(|(full, unit)| PerClause {
        full,
        unit,
        currency: None,
        base: spanned(ExprKind::ItemField(spanned("quantity".to_string()))),
        items: true,
        span: Span::default(),
    });
    let per = prop_oneof![of, items];
    let award = prop_oneof![
        (number(), ident(), proptest::option::of(ident())).prop_map(|(percent, rule, points)| {
            Award::PercentOf {
                percent,
                rule,
                points,
            }
        }),
        (
            expr(),
            ident(),
            proptest::option::of(per),
            proptest::option::of(expr())
        )
            .prop_map(|(amount, points, per, filter)| Award::Amount {
                amount,
                points,
                per,
                filter: filter.map(Box::new),
            }),
    ];
    let key = prop_oneof![
        text().prop_map(TableKey::Text),
        name().prop_map(TableKey::Name),
        decimal().prop_map(TableKey::Number),
        Just(TableKey::Else),
    ];
    let entry = (key, number()).prop_map(|(key, factor)| TableEntry {
        key: spanned(key),
        factor,
    });
    let multiplier =
        (ident(), proptest::collection::vec(entry, 1..4)).prop_map(|(key, entries)| Multiplier {
            key,
            entries,
            span: Span::default(),
        });
    (award, proptest::option::of(multiplier), any::<bool>()).prop_map(
        |(award, multiplier, to_referrer)| Earn {
            award,
            multiplier,
            to_referrer,
        },
    )
}

fn rule() -> impl Strategy<Value = Item> {
    let rounding = prop_oneof![
        Just(Rounding::Down),
        Just(Rounding::Up),
        Just(Rounding::HalfUp),
        Just(Rounding::HalfEven),
    ];
    let scope = prop_oneof![
        Just(CapScope::PerEvent),
        Just(CapScope::PerItem),
        period().prop_map(CapScope::PerMember)
    ];
    let stmt = prop_oneof![
        (ident(), proptest::option::of(expr()))
            .prop_map(|(event, condition)| RuleStmt::On { event, condition }),
        earn().prop_map(RuleStmt::Earn),
        (number(), ident(), scope).prop_map(|(amount, points, scope)| RuleStmt::Cap {
            amount,
            points,
            scope
        }),
        (number(), period()).prop_map(|(count, period)| RuleStmt::Limit { count, period }),
        number().prop_map(|count| RuleStmt::LimitPerReferrer { count }),
        (number(), ident(), proptest::option::of(period())).prop_map(|(amount, points, period)| {
            RuleStmt::Budget {
                amount,
                points,
                period,
            }
        }),
        rounding.prop_map(RuleStmt::Round),
        (ident(), any::<bool>()).prop_map(|(name, by_order)| RuleStmt::Group { name, by_order }),
        (date(), date()).prop_map(|(from, to)| RuleStmt::During {
            from: spanned(from),
            to: spanned(to)
        }),
        money().prop_map(RuleStmt::MinSpend),
        Just(RuleStmt::Stop),
        (ident(), number()).prop_map(|(points, factor)| RuleStmt::Multiply { points, factor }),
        expiry().prop_map(RuleStmt::Expire),
    ];
    (
        any::<bool>(),
        ident(),
        proptest::collection::vec(stmt.prop_map(spanned), 0..6),
    )
        .prop_map(|(preview, name, stmts)| {
            Item::Rule(RuleDecl {
                preview,
                name,
                stmts,
                span: Span::default(),
            })
        })
}

fn perk() -> impl Strategy<Value = Item> {
    let tiers = prop_oneof![
        Just(TierSet::All),
        ident().prop_map(TierSet::AndAbove),
        proptest::collection::vec(ident(), 1..4).prop_map(TierSet::List),
    ];
    let setting = prop_oneof![
        (number(), period()).prop_map(|(count, period)| PerkSetting::Limit { count, period }),
        money().prop_map(PerkSetting::Cost),
    ];
    (
        ident(),
        tiers,
        proptest::collection::vec(setting.prop_map(spanned), 0..3),
    )
        .prop_map(|(name, tiers, settings)| {
            Item::Perk(PerkDecl {
                name,
                tiers: spanned(tiers),
                settings,
                span: Span::default(),
            })
        })
}

fn reward() -> impl Strategy<Value = Item> {
    let setting = prop_oneof![
        (number(), ident(), proptest::collection::vec(ident(), 0..3)).prop_map(
            |(amount, points, tiers)| RewardSetting::Price {
                amount,
                points,
                tiers
            }
        ),
        money().prop_map(RewardSetting::Cost),
    ];
    (
        ident(),
        proptest::collection::vec(setting.prop_map(spanned), 0..3),
    )
        .prop_map(|(name, settings)| {
            Item::Reward(RewardDecl {
                name,
                settings,
                span: Span::default(),
            })
        })
}

fn file() -> impl Strategy<Value = File> {
    let item = prop_oneof![
        program(),
        fields().prop_map(|fields| Item::Member(MemberDecl {
            fields,
            span: Span::default()
        })),
        (ident(), fields()).prop_map(|(name, fields)| Item::Event(EventDecl {
            name,
            fields,
            span: Span::default()
        })),
        points(),
        tiers(),
        rule(),
        perk(),
        reward(),
    ];
    proptest::collection::vec(item, 0..6).prop_map(|items| File { items })
}

proptest! {
    #[test]
    fn printed_trees_parse_back_and_are_formatted(file in file()) {
        let text = print(&file);
        let parsed = parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{}\n{text}", e.message)))?;
        prop_assert_eq!(&parsed, &file, "printed as:\n{}", text);
        prop_assert_eq!(format(&text).unwrap(), text);
    }
}

#[test]
fn parenthesize_adds_exactly_the_needed_parentheses() {
    let name = |n: &str| spanned(ExprKind::Name(n.to_string()));
    let binary = |op, l: Expr, r: Expr| {
        spanned(ExprKind::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        })
    };
    let not = |e: Expr| {
        spanned(ExprKind::Unary {
            op: UnaryOp::Not,
            expr: Box::new(e),
        })
    };
    // (a or b) and not (c - (d - e)) = f
    let tree = binary(
        BinaryOp::And,
        binary(BinaryOp::Or, name("a"), name("b")),
        not(binary(
            BinaryOp::Eq,
            binary(
                BinaryOp::Sub,
                name("c"),
                binary(BinaryOp::Sub, name("d"), name("e")),
            ),
            name("f"),
        )),
    );
    let on = RuleStmt::On {
        event: spanned("x".to_string()),
        condition: Some(parenthesize(tree)),
    };
    let file = File {
        items: vec![Item::Rule(RuleDecl {
            preview: false,
            name: spanned("r".to_string()),
            stmts: vec![spanned(on)],
            span: Span::default(),
        })],
    };
    assert_eq!(
        print(&file),
        "rule r {\n  on x where (a or b) and not c - (d - e) = f\n}\n"
    );
}

// ------------------------------------------------------------------ comments anywhere

/// Where a comment may be inserted into `source`: before a whitespace
/// character outside text and outside comments (a comment's final newline
/// included, else the insertion would extend that comment).
fn comment_positions(source: &str) -> Vec<usize> {
    let mut positions = Vec::new();
    let (mut in_text, mut in_comment, mut escaped) = (false, false, false);
    for (i, c) in source.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_text {
            in_text = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '#' {
            in_comment = true;
        } else if c == '"' {
            in_text = true;
        } else if c.is_whitespace() {
            positions.push(i);
        }
    }
    positions
}

const MESSY: &str = include_str!("fmt/messy.loyalty");

proptest! {
    // Each case formats a whole program twice: fewer cases keep this quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn comments_between_any_tokens_are_kept_in_order(
        at in proptest::sample::subsequence(comment_positions(MESSY), 1..10),
    ) {
        let mut source = MESSY.to_string();
        for (n, position) in at.iter().enumerate().rev() {
            source.insert_str(*position, &format!(" #c{n}\n"));
        }
        let (file, comments) = parse_with_comments(&source).unwrap();
        let formatted = format(&source).unwrap();
        let (formatted_file, formatted_comments) = parse_with_comments(&formatted).unwrap();
        prop_assert_eq!(format(&formatted).unwrap(), formatted.clone(), "not a fixed point:\n{}", source);
        prop_assert_eq!(formatted_file, file);
        let texts = |comments: Vec<Comment>| comments.into_iter().map(|c| c.text).collect::<Vec<_>>();
        prop_assert_eq!(texts(formatted_comments), texts(comments));
    }
}
