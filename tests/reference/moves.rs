//! The reference's reading of what moves points between accounts and of
//! earning beyond purchases (docs/semantics.md, "Transfers and pools",
//! "Earning", "Input and order"; docs/language.md, "Events", "Preview
//! rules", "`member`"): transfers between members and into and out of
//! pools, `join_pool` and `leave_pool`, member attributes of every type,
//! records of declared types and the rules on them, rules `on enroll`, and
//! rules `on birthday`, `on anniversary` and `on month_start` ("Birthdays,
//! anniversaries and month starts"). Preview rules are paid in `Evaluation::pay` (mod.rs).
//!
//! A pool is an account kept with the members (`members`), as the docs
//! say it is listed: it has a rank in the order accounts were opened
//! (its clock work among a member's at one instant goes by it, as a
//! member's by the order of enrolment: docs/semantics.md says "in the
//! order the members enrolled"; the engine opens a pool as a member when
//! its first `join_pool` comes), holds buckets, expires them, and has
//! the first tier with a measure of nothing.

use super::*;
use gen::moves::{FieldValue, Fields, Move, DAYS, MADE};

/// What an account holds beyond the purchase program's state.
#[derive(Default)]
pub(super) struct Extra {
    /// The attributes beyond `vip` and `region`: the value given, or
    /// `Missing` for an optional one left empty.
    pub attributes: BTreeMap<String, Value>,
    /// The local day of the enrolment.
    pub enrolled: Option<NaiveDate>,
    /// A pool account: the points type it holds and its members.
    pub pool: Option<(String, BTreeSet<String>)>,
    /// A member: the pool it is in, per points type (a kind pools one
    /// type).
    pub pools: BTreeMap<String, String>,
    /// A member: the next birthday and anniversary a rule is on, when
    /// each starts and its place among the member's clock work.
    pub days: BTreeMap<&'static str, (DateTime<Utc>, usize)>,
    /// A member: per points type, the last instant its points expired by
    /// the clock, how many (zero once the rules on expiry ran) and the
    /// place of those rules among the member's clock work.
    pub lapsed: BTreeMap<String, (DateTime<Utc>, Decimal, usize)>,
}

fn value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Number(n) => Value::Number(*n),
        FieldValue::Money(m) => Value::Money(*m),
        FieldValue::Text(t) => Value::Text(t.clone()),
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::Date(d) => Value::Date(*d),
    }
}

/// `transfers` terms: the least moved, the fee (a percentage), and
/// whether given points keep their dates.
struct Terms {
    min: Decimal,
    fee: Decimal,
    keep: bool,
}

impl Program<'_> {
    fn settings(&self, points: &str) -> &[Spanned<PointsSetting>] {
        self.points
            .iter()
            .find(|p| p.name == points)
            .map_or(&[][..], |p| p.decl.settings.as_slice())
    }

    fn terms(&self, points: &str) -> Option<Terms> {
        self.settings(points).iter().find_map(|s| match &s.node {
            PointsSetting::Transfers(options) => {
                let mut terms = Terms {
                    min: Decimal::ZERO,
                    fee: Decimal::ZERO,
                    keep: true,
                };
                for o in options {
                    match &o.node {
                        TransferOption::Min(n) => terms.min = n.node,
                        TransferOption::Fee(p) => terms.fee = p.node,
                        TransferOption::Expiry(e) => terms.keep = *e == TransferExpiry::Keep,
                    }
                }
                Some(terms)
            }
            _ => None,
        })
    }

    /// The points type a pool kind pools, and how many members a pool of
    /// it may have.
    fn pool_kind(&self, kind: &str) -> Option<(String, Option<usize>)> {
        self.points.iter().find_map(|p| {
            p.decl.settings.iter().find_map(|s| match &s.node {
                PointsSetting::Pool { kind: k, most } if k.node == kind => Some((
                    p.name.clone(),
                    most.as_ref()
                        .and_then(|n| usize::try_from(n.node.mantissa()).ok()),
                )),
                _ => None,
            })
        })
    }

    /// The fields a record of `event` declares (`enroll`: the member's
    /// attributes; `profile`: the same, every one optional), each with
    /// whether it is `optional`; `None` for a type the program does not
    /// declare.
    fn schema(&self, event: &str) -> Option<Vec<(String, bool)>> {
        if event == "profile" {
            let attributes = self.schema("enroll").unwrap_or_default();
            return Some(attributes.into_iter().map(|(n, _)| (n, true)).collect());
        }
        let fields = |fields: &[FieldDecl]| -> Vec<(String, bool)> {
            fields
                .iter()
                .map(|f| (f.name.node.clone(), f.optional))
                .collect()
        };
        self.file.items.iter().find_map(|item| match item {
            Item::Member(m) if event == "enroll" => Some(fields(&m.fields)),
            Item::Event(d) if d.name.node == event => Some(fields(&d.fields)),
            _ => None,
        })
    }

    /// Whether a record of `event` gives every field it must and no other
    /// (docs/semantics.md, "Input and order": a required field left absent
    /// or empty, or an unknown one, makes the record invalid).
    fn fits(&self, event: &str, given: &[(String, bool)]) -> bool {
        let Some(schema) = self.schema(event) else {
            return false;
        };
        // A field given empty is not given (docs/semantics.md: empty is
        // absent), so an empty one the type lacks is no unknown field.
        let declared = given
            .iter()
            .all(|(name, present)| !present || schema.iter().any(|(n, _)| n == name));
        let required = schema
            .iter()
            .filter(|(_, optional)| !optional)
            .all(|(n, _)| given.iter().any(|(name, present)| name == n && *present));
        declared && required
    }

    /// The tiers' names, lowest first.
    pub(super) fn tier_names(&self) -> Vec<String> {
        self.tiers
            .as_ref()
            .map(super::tiers::Model::names)
            .unwrap_or_default()
    }
}

/// Each declared field with its value: given, or `Missing`.
fn values(schema: &[(String, bool)], fields: &Fields) -> BTreeMap<String, Value> {
    schema
        .iter()
        .map(|(n, _)| {
            let v = fields
                .iter()
                .find(|(f, _)| f == n)
                .and_then(|(_, v)| v.as_ref())
                .map_or(Value::Missing, value);
            (n.clone(), v)
        })
        .collect()
}

/// Days from `day` to the next birthday (0 on it); a 29 February birthday
/// falls on 28 February in other years (docs/semantics.md, "The clock").
fn days_to_birthday(day: NaiveDate, birthday: NaiveDate) -> i64 {
    let on = |year: i32| {
        NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
    };
    on(day.year())
        .filter(|b| *b >= day)
        .or_else(|| on(day.year() + 1))
        .map_or(0, |next| (next - day).num_days())
}

/// Whether a record reads as its type: an enrolment and a record of a
/// declared type give their fields as declared (docs/semantics.md, "Input
/// and order": a required field left absent or empty, an unknown one, an
/// unknown type make it invalid). An invalid record is rejected as it is
/// read, whatever its time (after `--until` too: it is no event).
pub(super) fn readable(program: &Program, e: &GenEvent) -> bool {
    let given = |fields: &Fields| -> Vec<(String, bool)> {
        fields
            .iter()
            .map(|(n, v)| (n.clone(), v.is_some()))
            .collect()
    };
    match &e.kind {
        Kind::Enroll { attributes, .. } => {
            let mut fields = given(attributes);
            fields.push(("vip".to_string(), true));
            fields.push(("region".to_string(), true));
            program.fits("enroll", &fields)
        }
        Kind::Move(Move::Declared { event, fields }) => program.fits(event, &given(fields)),
        Kind::Move(Move::Profile { fields }) => program.fits("profile", &given(fields)),
        _ => true,
    }
}

/// A date a duration later (`+`) or earlier (`-`), on the calendar: a
/// month after 31 January is the last day of February (docs/language.md:
/// "a date plus a duration is a date").
pub(super) fn shift(op: BinaryOp, date: &Value, term: &Value) -> Value {
    let (Value::Date(day), Value::Duration(term)) = (date, term) else {
        return Value::Missing;
    };
    let day = day.and_time(NaiveTime::MIN);
    let shifted = if op == BinaryOp::Add {
        add(day, term)
    } else {
        let n = u32::try_from(term.count.node.mantissa()).unwrap_or(0);
        match term.unit {
            TimeUnit::Day => day.checked_sub_signed(Duration::days(i64::from(n))),
            TimeUnit::Week => day.checked_sub_signed(Duration::weeks(i64::from(n))),
            TimeUnit::Month => day.checked_sub_months(chrono::Months::new(n)),
            TimeUnit::Year => day.checked_sub_months(chrono::Months::new(12 * n)),
        }
    };
    shifted.map_or(Value::Missing, |t| Value::Date(t.date()))
}

impl Facts<'_> {
    /// An event field, an attribute, or a built-in name of days.
    pub(super) fn named(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.fields.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.member.extra.attributes.get(name) {
            return Some(v.clone());
        }
        let today = self.local.date();
        match name {
            // Days between the local dates (docs/language.md: "days since
            // the member enrolled"; a calendar question, so asked in the
            // program's zone).
            "days_since_enroll" => self
                .member
                .extra
                .enrolled
                .map(|d| Value::Number(Decimal::from((today - d).num_days()))),
            "days_to_birthday" => Some(match self.member.extra.attributes.get("birthday") {
                Some(Value::Date(b)) => Value::Number(Decimal::from(days_to_birthday(today, *b))),
                _ => Value::Missing,
            }),
            _ => None,
        }
    }
}

impl Evaluation<'_> {
    /// Whether a record is admitted: a record for a pool is a transfer
    /// out of it (rejected before the clock moves, as an unknown member).
    pub(super) fn admissible(&self, e: &GenEvent) -> bool {
        let pool = self
            .members
            .get(&e.member)
            .is_some_and(|m| m.extra.pool.is_some());
        !pool || matches!(e.kind, Kind::Move(Move::Transfer { .. }))
    }

    /// A new member's attributes, its joining `tier_change`, and the rules
    /// on enrolment (after that row, as the engine writes it); false if
    /// the rules reject the record (the caller takes the member out
    /// again: an enrolment so rejected enrols nobody).
    pub(super) fn enrolled(&mut self, e: &GenEvent, t: DateTime<Utc>, attributes: &Fields) -> bool {
        let schema = self.program.schema("enroll").unwrap_or_default();
        let local = self.program.local(t);
        if let Some(m) = self.members.get_mut(&e.member) {
            m.extra.attributes = values(&schema, attributes);
            m.extra.attributes.remove("vip");
            m.extra.attributes.remove("region");
            m.extra.enrolled = Some(local.date());
        }
        for day in MADE.iter().take(DAYS) {
            self.queue_day(&e.member, day, t);
        }
        self.fire(e, t, "enroll", BTreeMap::new())
    }

    /// Whether a rule is on events of type `event`.
    fn rules_on(&self, event: &str) -> bool {
        self.program.rules.iter().any(|r| {
            r.stmts
                .iter()
                .any(|s| matches!(&s.node, RuleStmt::On { event: on, .. } if on.node == event))
        })
    }

    /// docs/semantics.md, "Upgrades" and "Tier changes": member moved from
    /// tier `from` to `to` at `t`; the rules on it run once what moved
    /// them is done.
    pub(super) fn tier_moved(&mut self, member: &str, t: DateTime<Utc>, from: usize, to: usize) {
        if (to > from && self.rules_on("upgrade")) || self.rules_on("tier_change") {
            self.tier_moves.push((member.to_string(), t, from, to));
        }
    }

    /// docs/semantics.md, "Tier periods": the member's next tier period
    /// started at `t`; the rules on it run once what started it is done.
    pub(super) fn period_started(&mut self, member: &str, t: DateTime<Utc>) {
        if self.rules_on("tier_period_start") {
            self.period_starts.push((member.to_string(), t));
        }
    }

    /// The rules on the moves noted, in order (on the upgrade, then on the
    /// tier change, each reading the tier the move reached), then on the
    /// periods started, and on those they make.
    pub(super) fn fire_tier_moves(&mut self) {
        while !self.tier_moves.is_empty() || !self.period_starts.is_empty() {
            for (member, at, from, to) in std::mem::take(&mut self.tier_moves) {
                let reached = BTreeMap::from([("tier".to_string(), Value::Tier(to))]);
                if to > from && self.rules_on("upgrade") {
                    self.made_event(&member, "upgrade", at, reached.clone());
                }
                if self.rules_on("tier_change") {
                    let mut moved = reached;
                    moved.insert("previous_tier".to_string(), Value::Tier(from));
                    self.made_event(&member, "tier_change", at, moved);
                }
            }
            for (member, at) in std::mem::take(&mut self.period_starts) {
                self.made_event(&member, "tier_period_start", at, BTreeMap::new());
            }
        }
    }

    /// docs/semantics.md, "Expiries": `amount` points of a member's type
    /// expired by the clock at `at`; the first at that instant places the
    /// rules on expiry, which read the sum, unless they ran already then.
    pub(super) fn lapsed(
        &mut self,
        member: &str,
        points: &str,
        amount: Decimal,
        at: DateTime<Utc>,
    ) {
        if amount.is_zero() || !self.rules_on("expiry") {
            return;
        }
        let seq = self.seq;
        let Some(m) = self
            .members
            .get_mut(member)
            .filter(|m| m.extra.pool.is_none())
        else {
            return;
        };
        match m.extra.lapsed.get_mut(points) {
            Some((when, sum, _)) if *when == at => {
                if !sum.is_zero() {
                    *sum += amount;
                }
            }
            _ => {
                m.extra.lapsed.insert(points.to_string(), (at, amount, seq));
                self.seq += 1;
            }
        }
    }

    /// The rules on expiry for the points of type `points` the member lost
    /// at `at`: `expired` and `points_type` their fields.
    pub(super) fn lapse(&mut self, member: &str, points: &str, at: DateTime<Utc>) {
        let Some((_, sum, _)) = self
            .members
            .get_mut(member)
            .and_then(|m| m.extra.lapsed.get_mut(points))
        else {
            return;
        };
        let expired = std::mem::take(sum);
        let fields = BTreeMap::from([
            ("expired".to_string(), Value::Number(expired)),
            ("points_type".to_string(), Value::Text(points.to_string())),
        ]);
        self.made_event(member, "expiry", at, fields);
    }

    /// The rules on an event loyalty made, of type `kind`, for `member` at
    /// `at`, with the values `fields` gives: its rows' `event` is the kind
    /// and the local day.
    fn made_event(
        &mut self,
        member: &str,
        kind: &str,
        at: DateTime<Utc>,
        fields: BTreeMap<String, Value>,
    ) {
        let local = self.program.local(at);
        let e = GenEvent {
            id: format!("{kind}:{}", local.date()),
            time: local,
            member: member.to_string(),
            kind: Kind::Move(Move::Declared {
                event: kind.to_string(),
                fields: Fields::new(),
            }),
        };
        self.fire(&e, at, kind, fields);
    }

    /// docs/semantics.md, "Birthdays, anniversaries and month starts":
    /// queues the member's first `day` (`birthday`, `anniversary` or
    /// `month_start`) whose local midnight is after `after`, if a rule is
    /// on it and the day is known.
    fn queue_day(&mut self, member: &str, day: &'static str, after: DateTime<Utc>) {
        let on_it = self.rules_on(day);
        let Some(m) = self.members.get(member).filter(|_| on_it) else {
            return;
        };
        let local = self.program.local(after).date();
        // The same day in this year and the next (28 February for a 29
        // February in other years).
        let yearly = |date: NaiveDate| -> Vec<NaiveDate> {
            (local.year()..=local.year() + 1)
                .filter_map(|y| {
                    NaiveDate::from_ymd_opt(y, date.month(), date.day())
                        .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))
                })
                .collect()
        };
        let candidates = match (day, m.extra.attributes.get("birthday"), m.extra.enrolled) {
            ("birthday", Some(Value::Date(d)), _) => yearly(*d),
            ("anniversary", _, Some(d)) => yearly(d),
            ("month_start", _, _) => {
                let (y, mo) = (local.year(), local.month());
                let (y, mo) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
                NaiveDate::from_ymd_opt(y, mo, 1).into_iter().collect()
            }
            _ => return,
        };
        let starts = candidates
            .into_iter()
            .map(|kept| self.program.instant(kept.and_time(NaiveTime::MIN)))
            .find(|at| *at > after);
        let seq = self.seq;
        self.seq += 1;
        if let (Some(at), Some(m)) = (starts, self.members.get_mut(member)) {
            m.extra.days.insert(day, (at, seq));
        }
    }

    /// The member's `day` started at `at`: the rules on it fire on an
    /// event named by the day (its rows' `event`), then the next is queued.
    pub(super) fn celebrate(&mut self, member: &str, day: &'static str, at: DateTime<Utc>) {
        if let Some(m) = self.members.get_mut(member) {
            m.extra.days.remove(day);
        }
        self.made_event(member, day, at, BTreeMap::new());
        self.queue_day(member, day, at);
    }

    /// The rules on an event other than a purchase, on the member's state
    /// before it: paid, and their awards and the event measured for the
    /// tier; false if the record is rejected ([`Evaluation::decide`]).
    fn fire(
        &mut self,
        e: &GenEvent,
        t: DateTime<Utc>,
        event: &str,
        fields: BTreeMap<String, Value>,
    ) -> bool {
        let facts = self.facts(&e.member, t, event, fields.clone());
        let fired = match self.decide(facts.as_ref()) {
            Ok(fired) => fired,
            Err(why) => return self.refused(why),
        };
        if event == "enroll" {
            self.joined(&e.member, t, &e.id);
        }
        let paid = self.pay(e, t, fired);
        let earned: Vec<(String, Decimal)> = paid
            .awards
            .iter()
            .map(|a| (a.points.clone(), a.amount))
            .collect();
        self.measured(&e.member, t, &e.id, (event, &fields), &earned);
        self.measured_referrer(e, t, &paid.to_referrer);
        true
    }

    /// A transfer, a pool move, or a record of a declared type; false if
    /// it is rejected.
    pub(super) fn moved(&mut self, e: &GenEvent, t: DateTime<Utc>, m: &Move) -> bool {
        match m {
            Move::Transfer {
                to,
                points,
                points_type,
            } => self.transfer(e, t, to, *points, points_type),
            Move::JoinPool { pool } => self.join(e, t, pool),
            Move::LeavePool { pool } => self.leave(e, t, pool),
            Move::Declared { event, fields } => {
                let schema = self.program.schema(event).unwrap_or_default();
                self.fire(e, t, event, values(&schema, fields))
            }
            Move::Profile { fields } => self.profile(e, t, fields),
        }
    }

    /// docs/semantics.md, "Member updates and status match": the
    /// attributes given replace the member's (`vip` and `region` are never
    /// given here); none given, or a birthday other than a known one,
    /// rejects the record.
    fn profile(&mut self, e: &GenEvent, t: DateTime<Utc>, fields: &Fields) -> bool {
        let given: Vec<(String, Value)> = fields
            .iter()
            .filter_map(|(n, v)| Some((n.clone(), value(v.as_ref()?))))
            .collect();
        let Some(m) = self.members.get_mut(&e.member) else {
            return false;
        };
        let known = m.extra.attributes.get("birthday");
        let changed = given.iter().any(|(n, v)| {
            n == "birthday" && matches!(known, Some(Value::Date(_))) && known != Some(v)
        });
        if given.is_empty() || changed {
            return false;
        }
        let told = matches!(known, Some(Value::Date(_)));
        m.extra.attributes.extend(given);
        // A birthday made known now: the next one that starts after it.
        if !told {
            self.queue_day(&e.member, "birthday", t);
        }
        true
    }

    /// docs/semantics.md, "Transfers and pools": checked in order (the
    /// type, the amount, the recipient, the route, the minimum, the
    /// available balance with the fee); the points taken from the giver's
    /// available buckets in spending order, received as they were (`keep
    /// expiry`, and always through a pool) or as one bucket earned now
    /// (`restart expiry`), a debt paid first; `transfer_out`, `transfer_in`,
    /// then the fee (rounded up) as a `spend`; activity on both sides.
    fn transfer(
        &mut self,
        e: &GenEvent,
        t: DateTime<Utc>,
        to: &str,
        amount: Decimal,
        points: &str,
    ) -> bool {
        if !self.program.points.iter().any(|p| p.name == points) {
            return false;
        }
        let precision = self.program.precision(points);
        if amount <= Decimal::ZERO || amount.round_dp(precision) != amount || to == e.member {
            return false;
        }
        let (Some(giver), Some(receiver)) = (self.members.get(&e.member), self.members.get(to))
        else {
            return false;
        };
        let in_pool =
            |m: &Member, pool: &str| m.extra.pools.get(points).map(String::as_str) == Some(pool);
        let terms = match (&giver.extra.pool, &receiver.extra.pool) {
            (Some(_), Some(_)) => return false,
            (Some((held, _)), None) => {
                if held != points || !in_pool(receiver, &e.member) {
                    return false;
                }
                None
            }
            (None, Some((held, _))) => {
                if held != points || !in_pool(giver, to) {
                    return false;
                }
                None
            }
            (None, None) => match self.program.terms(points) {
                Some(terms) => Some(terms),
                None => return false,
            },
        };
        let (fee, keep) = match terms {
            None => (Decimal::ZERO, true),
            Some(terms) => {
                if amount < terms.min {
                    return false;
                }
                let fee = round(
                    amount * terms.fee / Decimal::ONE_HUNDRED,
                    precision,
                    Rounding::Up,
                );
                (fee, terms.keep)
            }
        };
        let Some(w) = self
            .members
            .get_mut(&e.member)
            .and_then(|m| m.wallets.get_mut(points))
        else {
            return false;
        };
        if amount + fee > w.available() {
            return false;
        }
        let available = |w: &Wallet| -> Vec<usize> {
            w.spending_order()
                .into_iter()
                .filter(|&i| w.buckets.get(i).is_some_and(|b| !b.pending))
                .collect()
        };
        let order = available(w);
        let parts: Vec<(Decimal, DateTime<Utc>, Option<DateTime<Utc>>)> = w
            .take(amount, &order)
            .into_iter()
            .filter_map(|(seq, part)| {
                let b = w.buckets.iter().find(|b| b.seq == seq)?;
                Some((part, b.earned, b.expires))
            })
            .collect();
        self.points_row(&e.member, t, "transfer_out", points, -amount, None, &e.id);
        if keep {
            for (part, earned, expires) in parts {
                self.receive(to, points, part, earned, expires, t);
            }
        } else {
            let expires = self.program.expiry(points, t);
            self.receive(to, points, amount, t, expires, t);
        }
        self.points_row(to, t, "transfer_in", points, amount, None, &e.id);
        if fee > Decimal::ZERO {
            if let Some(w) = self
                .members
                .get_mut(&e.member)
                .and_then(|m| m.wallets.get_mut(points))
            {
                let order = available(w);
                w.take(fee, &order);
            }
            self.points_row(&e.member, t, "spend", points, -fee, None, &e.id);
        }
        self.active(&e.member, points, t);
        self.active(to, points, t);
        self.balance_raised(to, points, t, &e.id);
        true
    }

    /// A bucket given to `member`, spendable at once, a debt paid from it
    /// first.
    fn receive(
        &mut self,
        member: &str,
        points: &str,
        amount: Decimal,
        earned: DateTime<Utc>,
        expires: Option<DateTime<Utc>>,
        t: DateTime<Utc>,
    ) {
        let seq = self.seq;
        self.seq += 1;
        if let Some(w) = self
            .members
            .get_mut(member)
            .and_then(|m| m.wallets.get_mut(points))
        {
            let paid = w.debt.min(amount);
            w.debt -= paid;
            w.buckets.push(Bucket {
                seq,
                amount: amount - paid,
                earned,
                available: t,
                pending: false,
                expires,
                expired: Decimal::ZERO,
                origin: seq,
            });
        }
    }

    /// A `pool_join` or `pool_leave` row: no points, and a note not
    /// compared (tests/differential.rs).
    fn pool_row(&mut self, member: &str, t: DateTime<Utc>, kind: &str, event: &str) {
        self.note_row(member, t, kind, "", event);
    }

    /// The points type of pool `name` (`kind:id`, the kind declared).
    fn pool_points(&self, name: &str) -> Option<(String, Option<usize>)> {
        let (kind, id) = name.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        self.program.pool_kind(kind)
    }

    /// `join_pool`: rejected for a name that is no pool's, a member already
    /// in a pool of the kind, a member's name, a full pool; the first
    /// member opens it.
    fn join(&mut self, e: &GenEvent, t: DateTime<Utc>, pool: &str) -> bool {
        let Some((points, most)) = self.pool_points(pool) else {
            return false;
        };
        if self
            .members
            .get(&e.member)
            .is_none_or(|m| m.extra.pools.contains_key(&points))
        {
            return false;
        }
        match self.members.get(pool).map(|a| &a.extra.pool) {
            Some(None) => return false,
            Some(Some((_, members))) if most.is_some_and(|n| members.len() >= n) => return false,
            Some(Some(_)) => {}
            None => {
                let mut account = self.account(t);
                account.extra.pool = Some((points.clone(), BTreeSet::new()));
                self.members.insert(pool.to_string(), account);
            }
        }
        if let Some((_, members)) = self
            .members
            .get_mut(pool)
            .and_then(|a| a.extra.pool.as_mut())
        {
            members.insert(e.member.clone());
        }
        if let Some(m) = self.members.get_mut(&e.member) {
            m.extra.pools.insert(points, pool.to_string());
        }
        self.pool_row(&e.member, t, "pool_join", &e.id);
        true
    }

    /// `leave_pool`: rejected unless the member is in that pool, which
    /// keeps its points.
    fn leave(&mut self, e: &GenEvent, t: DateTime<Utc>, pool: &str) -> bool {
        let Some((points, _)) = self.pool_points(pool) else {
            return false;
        };
        let Some(m) = self.members.get_mut(&e.member) else {
            return false;
        };
        if m.extra.pools.get(&points).map(String::as_str) != Some(pool) {
            return false;
        }
        m.extra.pools.remove(&points);
        if let Some((_, members)) = self
            .members
            .get_mut(pool)
            .and_then(|a| a.extra.pool.as_mut())
        {
            members.remove(&e.member);
        }
        self.pool_row(&e.member, t, "pool_leave", &e.id);
        true
    }
}
