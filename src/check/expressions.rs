//! Type checking of expressions: conditions, awards and tier thresholds,
//! against the declared event fields, member attributes and measures.

use super::declarations::{BuiltinEvent, EventSchema, Symbols, BUILTIN_NAMES};
use super::suggest;
use super::Checker;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use rust_decimal::Decimal;

/// The type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Number,
    Money,
    Text,
    Date,
    Bool,
    Percent,
    Duration,
    Tier,
    /// Already reported: checks that meet it stay silent, so one mistake
    /// gives one diagnostic.
    Unknown,
}

impl Ty {
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Number => "a number",
            Ty::Money => "money",
            Ty::Text => "text",
            Ty::Date => "a date",
            Ty::Bool => "true or false",
            Ty::Percent => "a percentage",
            Ty::Duration => "a duration",
            Ty::Tier => "a tier",
            Ty::Unknown => "unknown",
        }
    }

    fn of_field(ty: FieldType) -> Ty {
        match ty {
            FieldType::Number => Ty::Number,
            FieldType::Money => Ty::Money,
            FieldType::Text => Ty::Text,
            FieldType::Date => Ty::Date,
            FieldType::Bool => Ty::Bool,
        }
    }

    /// Numbers and percentages mix freely (`50%` is `0.5`).
    fn numeric(self) -> bool {
        matches!(self, Ty::Number | Ty::Percent)
    }
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// What names an expression can see.
#[derive(Clone, Copy)]
pub enum Scope<'s, 'a> {
    /// A rule's condition or award, on an event of this type (`None` when the
    /// rule's event is unknown, already reported).
    Event(Option<(&'s str, &'s EventSchema<'a>)>),
    /// A tier threshold: the measures of the tiers block.
    Measures,
}

pub struct Types<'s, 'a, 'c> {
    pub symbols: &'s Symbols<'a>,
    pub scope: Scope<'s, 'a>,
    pub checker: &'c mut Checker,
    /// `item.x` may be read: an `earn` line of a rule on `purchase`.
    pub items_visible: bool,
    /// An `item.x` was read (the line earns on each basket item).
    pub item_read: bool,
}

impl Types<'_, '_, '_> {
    /// Checks a condition: it must be true or false.
    pub fn condition(&mut self, expr: &Expr) {
        let ty = self.infer(expr);
        if ty != Ty::Bool && ty != Ty::Unknown {
            self.mismatch(
                expr.span,
                format!(
                    "a condition must be true or false, but this is {}",
                    ty.describe()
                ),
                "a condition compares things, like `amount >= 10 USD` or `tier >= gold`",
            );
        }
    }

    pub fn infer(&mut self, expr: &Expr) -> Ty {
        match &expr.node {
            ExprKind::Number(_) => Ty::Number,
            ExprKind::Money(money) => {
                self.checker.check_amount(money, self.symbols);
                Ty::Money
            }
            ExprKind::Percent(_) => Ty::Percent,
            ExprKind::Date(_) => Ty::Date,
            ExprKind::Duration(_) => Ty::Duration,
            ExprKind::Text(_) => Ty::Text,
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Name(name) => self.name(name, expr.span),
            ExprKind::MemberAttr(attr) => self.member_attr(attr),
            ExprKind::ItemField(field) => self.item_field(field),
            ExprKind::Balance(points) => self.balance(points),
            ExprKind::FirstPurchase => self.first_purchase(expr.span),
            ExprKind::Counter(counter) => self.counter(&counter.source, &counter.window, expr.span),
            ExprKind::Paren(inner) => self.infer(inner),
            ExprKind::Unary { op, expr: inner } => self.unary(*op, inner),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, expr.span),
            ExprKind::InList {
                expr: subject,
                items,
            } => {
                if self.is_tier(subject) {
                    self.infer(subject);
                    items.iter().for_each(|item| self.tier_name(item));
                } else {
                    let subject_ty = self.infer(subject);
                    for item in items {
                        let item_ty = self.infer(item);
                        self.comparable(BinaryOp::Eq, subject, subject_ty, item, item_ty);
                    }
                }
                Ty::Bool
            }
            ExprKind::InRange {
                expr: subject,
                low,
                high,
            } => {
                let subject_ty = self.infer(subject);
                for bound in [low, high] {
                    let bound_ty = self.infer(bound);
                    self.comparable(BinaryOp::Le, subject, subject_ty, bound, bound_ty);
                }
                check_range(low, high, self.checker);
                Ty::Bool
            }
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Ty {
        match self.scope {
            Scope::Measures => match self.symbols.measures.get(name) {
                Some(source) => self.measure_type(&source.node),
                None => {
                    self.checker.report(suggest::unknown(
                        name,
                        span,
                        format!("unknown measure `{name}`"),
                        "measures",
                        self.symbols.measures.keys().copied(),
                    ));
                    Ty::Unknown
                }
            },
            Scope::Event(event) => {
                if let Some(ty) = event.and_then(|(_, schema)| schema.fields.get(name)) {
                    return Ty::of_field(*ty);
                }
                if let Some(ty) = self.symbols.member.get(name) {
                    return Ty::of_field(*ty);
                }
                if let Some(ty) = self.builtin(name, span) {
                    return ty;
                }
                if event.is_none() {
                    // The rule's event is unknown (reported already): so are its fields.
                    return Ty::Unknown;
                }
                let event_name = event.map_or("the event", |(name, _)| name);
                let declared: Vec<&str> = event
                    .iter()
                    .flat_map(|(_, schema)| schema.fields.keys().copied())
                    .chain(self.symbols.member.keys().copied())
                    .collect();
                let message = format!(
                    "unknown name `{name}`: not a field of `{event_name}`, a member attribute or a built-in name"
                );
                let mut diagnostic = match suggest::closest(name, BUILTIN_NAMES.iter().copied()) {
                    Some(builtin) if suggest::closest(name, declared.iter().copied()).is_none() => {
                        suggest::unknown(name, span, message, "names", [builtin])
                    }
                    _ => suggest::unknown(name, span, message, "fields and attributes", declared),
                };
                if self.symbols.tier_rank(name).is_some() {
                    diagnostic = diagnostic.with_help(format!(
                        "`{name}` is a tier: compare it with `tier`, like `tier >= {name}`"
                    ));
                } else if self.symbols.measures.contains_key(name) {
                    let top = self
                        .symbols
                        .tiers
                        .last()
                        .map_or("gold", |t| t.node.as_str());
                    diagnostic = diagnostic.with_help(format!(
                        "`{name}` is a tier measure, which only the tiers' `when` conditions read: a rule reads the tier it reached, like `tier >= {top}`"
                    ));
                }
                self.checker.report(diagnostic);
                Ty::Unknown
            }
        }
    }

    fn builtin(&mut self, name: &str, span: Span) -> Option<Ty> {
        Some(match name {
            "tier" => self.tier(span, name),
            "previous_tier" => self.previous_tier(span),
            "date" => Ty::Date,
            "weekday" => Ty::Text,
            "hour" | "month" | "days_since_enroll" => Ty::Number,
            "referred" => Ty::Bool,
            "days_to_birthday" => {
                if !knows_birthday(self.symbols) {
                    self.checker.report(missing_birthday(
                        span,
                        "`days_to_birthday`",
                        "no birthday to count to",
                    ));
                    return Some(Ty::Unknown);
                }
                Ty::Number
            }
            _ => return None,
        })
    }

    /// `tier` or `previous_tier`: tiers, if the program has them.
    fn tier(&mut self, span: Span, name: &str) -> Ty {
        if self.symbols.tiers.is_empty() {
            self.checker.report(
                Diagnostic::error("unknown-name", span, "this program has no tiers")
                    .with_label("no `tiers` block")
                    .with_help(format!(
                        "declare tiers in a `tiers ... {{ }}` block to use `{name}`"
                    )),
            );
            Ty::Unknown
        } else {
            Ty::Tier
        }
    }

    /// `previous_tier`: the tier a member left, in a rule on tier changes
    /// (no other event moves the member).
    fn previous_tier(&mut self, span: Span) -> Ty {
        if let Scope::Event(Some((event, schema))) = self.scope {
            if schema.builtin != Some(BuiltinEvent::TierChange) {
                self.checker.report(
                    Diagnostic::error(
                        "wrong-event",
                        span,
                        format!(
                            "`previous_tier` is the tier a member left, but this rule is on `{event}`"
                        ),
                    )
                    .with_label("only for tier changes")
                    .with_help("write the rule `on tier_change`"),
                );
                return Ty::Unknown;
            }
        }
        self.tier(span, "previous_tier")
    }

    /// `first purchase`: in a rule on purchases (on another event it would
    /// never hold; a tier condition judges measures, not one event).
    fn first_purchase(&mut self, span: Span) -> Ty {
        match self.scope {
            Scope::Measures => self.checker.report(
                Diagnostic::error("counter", span, "a tier condition cannot use `first purchase`")
                    .with_label("not a measure")
                    .with_help("tiers are judged on their measures; a rule on purchases can read `first purchase`"),
            ),
            Scope::Event(Some((event, _))) if event != "purchase" => self.checker.report(
                Diagnostic::error(
                    "wrong-event",
                    span,
                    format!("`first purchase` needs a purchase, but this rule is on `{event}`"),
                )
                .with_label("only for purchases")
                .with_help("write the rule `on purchase`"),
            ),
            Scope::Event(_) => {}
        }
        Ty::Bool
    }

    fn member_attr(&mut self, attr: &Ident) -> Ty {
        match self.symbols.member.get(attr.node.as_str()) {
            Some(ty) if matches!(self.scope, Scope::Event(_)) => Ty::of_field(*ty),
            _ => {
                self.checker.report(suggest::unknown(
                    &attr.node,
                    attr.span,
                    format!("unknown member attribute `{}`", attr.node),
                    "member attributes",
                    self.symbols.member.keys().copied(),
                ));
                Ty::Unknown
            }
        }
    }

    /// `item.category`: a field of a basket item, in an `earn` line of a
    /// rule on `purchase`.
    fn item_field(&mut self, field: &Ident) -> Ty {
        if !self.items_visible {
            self.checker.report(
                Diagnostic::error(
                    "item",
                    field.span,
                    format!(
                        "`item.{}` is read only in an `earn` line of a rule on `purchase`",
                        field.node
                    ),
                )
                .with_label("no item here")
                .with_help("an `earn` line earns on each item of a purchase's basket: `earn 2 stars per 1 USD of item.amount where item.category = \"coffee\"`"),
            );
            return Ty::Unknown;
        }
        match ItemField::named(&field.node) {
            Some(known) => {
                self.item_read = true;
                Ty::of_field(known.ty())
            }
            None => {
                self.checker.report(suggest::unknown(
                    &field.node,
                    field.span,
                    format!("unknown item field `{}`", field.node),
                    "item fields",
                    ItemField::ALL.iter().map(|f| f.name()),
                ));
                Ty::Unknown
            }
        }
    }

    fn balance(&mut self, points: &Ident) -> Ty {
        if self.symbols.points.contains_key(points.node.as_str()) {
            Ty::Number
        } else {
            self.checker.report(unknown_points(points, self.symbols));
            Ty::Unknown
        }
    }

    /// `count of E in this U`, `sum of E.F over last N`: in a rule, of an
    /// event type rules fire on, over a window of whole units.
    fn counter(
        &mut self,
        source: &Spanned<MeasureSource>,
        window: &Spanned<CounterWindow>,
        span: Span,
    ) -> Ty {
        super::tiers::check_source(source, self.symbols, self.checker);
        if let CounterWindow::Last(term) = &window.node {
            self.checker
                .check_whole_positive(&term.count, "a counter's window");
        }
        if matches!(self.scope, Scope::Measures) {
            self.checker.report(
                Diagnostic::error("counter", span, "a tier condition cannot use a counter")
                    .with_label("only in rules")
                    .with_help("tiers count over their own window: declare a measure, like `measure visits = count of purchase`"),
            );
            return Ty::Unknown;
        }
        let event = match &source.node {
            MeasureSource::Count(event) | MeasureSource::FieldSum { event, .. } => Some(event),
            MeasureSource::PointsEarned(_) | MeasureSource::Balance(_) => None,
        };
        let builtin = event
            .and_then(|e| self.symbols.events.get(e.node.as_str()))
            .and_then(|schema| schema.builtin)
            .filter(|b| !b.fires_rules());
        if let (Some(event), Some(builtin)) = (event, builtin) {
            self.checker.report(
                Diagnostic::error(
                    "counter",
                    event.span,
                    format!("a counter cannot count `{}` events", builtin.name()),
                )
                .with_label("not counted")
                .with_help("counters count purchases, enrolments and declared events, the events rules fire on"),
            );
        }
        self.measure_type(&source.node)
    }

    fn measure_type(&self, source: &MeasureSource) -> Ty {
        match source {
            MeasureSource::FieldSum { event, field } => self
                .symbols
                .events
                .get(event.node.as_str())
                .and_then(|schema| schema.fields.get(field.node.as_str()))
                .map_or(Ty::Unknown, |ty| Ty::of_field(*ty)),
            _ => Ty::Number,
        }
    }

    fn unary(&mut self, op: UnaryOp, inner: &Expr) -> Ty {
        let ty = self.infer(inner);
        match (op, ty) {
            (_, Ty::Unknown) => Ty::Unknown,
            (UnaryOp::Not, Ty::Bool) => Ty::Bool,
            (UnaryOp::Neg, Ty::Number | Ty::Money | Ty::Percent) => ty,
            (UnaryOp::Not, _) => {
                self.mismatch(
                    inner.span,
                    format!("`not` needs true or false, but this is {}", ty.describe()),
                    "`not` turns a condition around, like `not channel = \"app\"`",
                );
                Ty::Unknown
            }
            (UnaryOp::Neg, _) => {
                self.mismatch(
                    inner.span,
                    format!("`-` needs a number or money, but this is {}", ty.describe()),
                    "only numbers and money can be negative",
                );
                Ty::Unknown
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span) -> Ty {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                for side in [lhs, rhs] {
                    let ty = self.infer(side);
                    if ty != Ty::Bool && ty != Ty::Unknown {
                        self.mismatch(
                            side.span,
                            format!(
                                "`{}` joins conditions, but this is {}",
                                op.symbol(),
                                ty.describe()
                            ),
                            "each side of `and` / `or` must be a condition, like `amount >= 10 USD`",
                        );
                    }
                }
                Ty::Bool
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => {
                if self.is_tier(lhs) {
                    self.infer(lhs);
                    self.tier_name(rhs);
                } else if self.is_tier(rhs) {
                    self.infer(rhs);
                    self.tier_name(lhs);
                } else {
                    let (lt, rt) = (self.infer(lhs), self.infer(rhs));
                    self.comparable(op, lhs, lt, rhs, rt);
                }
                Ty::Bool
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                let (lt, rt) = (self.infer(lhs), self.infer(rhs));
                if op == BinaryOp::Div && is_literal_zero(rhs) {
                    self.checker.report(
                        Diagnostic::error("zero-rate", rhs.span, "this divides by zero")
                            .with_label("zero"),
                    );
                    return Ty::Unknown;
                }
                match arithmetic(op, lt, rt) {
                    Some(ty) => ty,
                    None => {
                        self.mismatch(
                            span,
                            format!(
                                "cannot compute {} `{}` {}",
                                lt.describe(),
                                op.symbol(),
                                rt.describe()
                            ),
                            "arithmetic works on numbers and money: money + money, money × number, money ÷ number",
                        );
                        Ty::Unknown
                    }
                }
            }
        }
    }

    /// Whether this is the built-in `tier` or `previous_tier` (compared
    /// with tier names, or with each other, by rank).
    fn is_tier(&self, expr: &Expr) -> bool {
        let ExprKind::Name(name) = &expr.node else {
            return false;
        };
        ["tier", "previous_tier"].contains(&name.as_str())
            && matches!(self.scope, Scope::Event(Some((_, schema))) if !schema.fields.contains_key(name.as_str()))
            && !self.symbols.member.contains_key(name.as_str())
            && !self.symbols.tiers.is_empty()
    }

    /// Checks that an expression names a tier (or is `tier` or
    /// `previous_tier` itself).
    fn tier_name(&mut self, expr: &Expr) {
        if self.is_tier(expr) {
            self.infer(expr);
            return;
        }
        match &expr.node {
            ExprKind::Name(name) if self.symbols.tier_rank(name).is_some() => {}
            ExprKind::Name(name) => self.checker.report(suggest::unknown(
                name,
                expr.span,
                format!("unknown tier `{name}`"),
                "tiers",
                self.symbols.tiers.iter().map(|t| t.node.as_str()),
            )),
            _ => self.mismatch(
                expr.span,
                "`tier` is compared with a tier's name".to_string(),
                "write a tier's name, like `tier >= gold`",
            ),
        }
    }

    /// Reports a comparison between types that cannot be compared.
    fn comparable(&mut self, op: BinaryOp, lhs: &Expr, lt: Ty, rhs: &Expr, rt: Ty) {
        let ordering = !matches!(op, BinaryOp::Eq | BinaryOp::Ne);
        match (lt, rt) {
            (Ty::Unknown, _) | (_, Ty::Unknown) => {}
            (Ty::Money, Ty::Number) | (Ty::Number, Ty::Money) => {
                let (plain, money) = if lt == Ty::Number {
                    (lhs, rhs)
                } else {
                    (rhs, lhs)
                };
                let currency = self.symbols.currency.unwrap_or("USD");
                let help = match (&plain.node, &money.node) {
                    (ExprKind::Number(n), _) => {
                        format!("compare money with money: write `{n} {currency}`")
                    }
                    (_, ExprKind::Money(m)) => format!(
                        "this is a plain number: drop the currency and write `{}`",
                        m.amount.node
                    ),
                    _ => "compare money with money, and numbers with numbers".to_string(),
                };
                self.checker.report(
                    Diagnostic::error(
                        "currency-mismatch",
                        plain.span,
                        "money is compared with a plain number",
                    )
                    .with_label("no currency")
                    .with_help(help),
                );
            }
            _ if lt == rt || (lt.numeric() && rt.numeric()) => {
                if ordering && matches!(lt, Ty::Text | Ty::Bool) {
                    self.mismatch(
                        lhs.span.to(rhs.span),
                        format!("`{}` cannot order {}", op.symbol(), lt.describe()),
                        "`<`, `<=`, `>` and `>=` compare numbers, money and dates; use `=` or `in [...]` for text",
                    );
                } else {
                    self.weekday(lhs, rhs);
                    self.weekday(rhs, lhs);
                }
            }
            _ => self.mismatch(
                lhs.span.to(rhs.span),
                format!("cannot compare {} with {}", lt.describe(), rt.describe()),
                "both sides of a comparison must be of one kind: numbers, money, text, dates",
            ),
        }
    }

    /// `weekday = "sundy"`: a text that no weekday is called.
    fn weekday(&mut self, subject: &Expr, value: &Expr) {
        let is_weekday = matches!(&subject.node, ExprKind::Name(n) if n == "weekday")
            && matches!(self.scope, Scope::Event(Some((_, schema))) if !schema.fields.contains_key("weekday"))
            && !self.symbols.member.contains_key("weekday");
        if let (true, ExprKind::Text(day)) = (is_weekday, &value.node) {
            if !WEEKDAYS.contains(&day.as_str()) {
                let mut diagnostic = Diagnostic::error(
                    "invalid-value",
                    value.span,
                    format!("`{day}` is not a weekday"),
                )
                .with_label("not a day of the week");
                diagnostic = match suggest::closest(&day.to_lowercase(), WEEKDAYS) {
                    Some(close) => diagnostic.with_help(format!("did you mean `\"{close}\"`?")),
                    None => diagnostic.with_help("weekdays are written \"monday\" to \"sunday\""),
                };
                self.checker.report(diagnostic);
            }
        }
    }

    fn mismatch(&mut self, span: Span, message: String, help: &str) {
        self.checker.report(
            Diagnostic::error("type-mismatch", span, message)
                .with_label("wrong kind of value")
                .with_help(help.to_string()),
        );
    }
}

/// The result type of arithmetic, if it makes sense.
fn arithmetic(op: BinaryOp, lt: Ty, rt: Ty) -> Option<Ty> {
    use Ty::*;
    Some(match (op, lt, rt) {
        (_, Unknown, _) | (_, _, Unknown) => Unknown,
        (BinaryOp::Add | BinaryOp::Sub, Money, Money) => Money,
        (BinaryOp::Add | BinaryOp::Sub, Date, Duration) => Date,
        (BinaryOp::Add, Duration, Date) => Date,
        (BinaryOp::Add | BinaryOp::Sub, Percent, Percent) => Percent,
        (BinaryOp::Mul, Money, l) | (BinaryOp::Mul, l, Money) if l.numeric() => Money,
        (BinaryOp::Div, Money, r) if r.numeric() => Money,
        (BinaryOp::Div, Money, Money) => Number,
        (_, l, r) if l.numeric() && r.numeric() => Number,
        _ => return None,
    })
}

fn is_literal_zero(expr: &Expr) -> bool {
    match &expr.node {
        ExprKind::Number(n) | ExprKind::Percent(n) => n.is_zero(),
        ExprKind::Money(m) => m.amount.node.is_zero(),
        ExprKind::Paren(inner) => is_literal_zero(inner),
        _ => false,
    }
}

/// A literal range (`2025-03-07 .. 2025-03-01`) that ends before it starts.
fn check_range(low: &Expr, high: &Expr, checker: &mut Checker) {
    let literal = |e: &Expr| -> Option<(Option<Decimal>, Option<chrono::NaiveDate>)> {
        match &e.node {
            ExprKind::Number(n) => Some((Some(*n), None)),
            ExprKind::Money(m) => Some((Some(m.amount.node), None)),
            ExprKind::Date(d) => Some((None, Some(*d))),
            _ => None,
        }
    };
    let empty = match (literal(low), literal(high)) {
        (Some((Some(a), _)), Some((Some(b), _))) => a > b,
        (Some((_, Some(a))), Some((_, Some(b)))) => a > b,
        _ => false,
    };
    if empty {
        checker.report(
            Diagnostic::error(
                "empty-range",
                low.span.to(high.span),
                "this range ends before it starts",
            )
            .with_label("nothing is in it")
            .with_help("write the earlier bound first: `FROM .. TO`"),
        );
    }
}

/// An unknown points type, with a suggestion.
pub fn unknown_points(points: &Ident, symbols: &Symbols) -> Diagnostic {
    suggest::unknown(
        &points.node,
        points.span,
        format!("unknown points type `{}`", points.node),
        "points types",
        symbols.points.keys().copied(),
    )
}

/// Whether the program's members have a birthday: a `birthday: date`
/// attribute (optional or not).
pub(super) fn knows_birthday(symbols: &Symbols) -> bool {
    symbols.member.get("birthday") == Some(&FieldType::Date)
}

/// `what` (a built-in name, a rule's event) needs the members' birthday.
pub(super) fn missing_birthday(span: Span, what: &str, label: &str) -> Diagnostic {
    Diagnostic::error(
        "missing-attribute",
        span,
        format!("{what} needs a `birthday` member attribute"),
    )
    .with_label(label)
    .with_help("declare it: `member { birthday: date }`")
}
