//! Typing one record, whatever format it came from: its cells checked
//! against the event type it names and turned into an [`Event`], or a
//! [`Reject`] that says what is wrong.

use super::{echo, value, Body, Event, ItemRow, Origin, Reject, RejectClass};
use crate::check::suggest;
use crate::check::BuiltinEvent;
use crate::compile::ir::{EventType, EventTypeId, Field, Program, Value};
use crate::syntax::ast::FieldType;
use std::borrow::Cow;

/// The fields every record has, whatever its type, in the order typing
/// reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    Id,
    Time,
    Member,
    Type,
}

impl Envelope {
    pub(crate) const ALL: [Envelope; 4] = [
        Envelope::Id,
        Envelope::Time,
        Envelope::Member,
        Envelope::Type,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Envelope::Id => "id",
            Envelope::Time => "time",
            Envelope::Member => "member",
            Envelope::Type => "type",
        }
    }
}

/// A record's cells as typing asks for them: by name in a record that
/// brings its names along (JSON Lines, YAML), by column in a CSV row, its
/// file's header having placed every name once for all rows. Every text is
/// trimmed, and `None` when the cell is absent or empty.
pub(crate) trait Cells {
    /// The first name given twice.
    fn duplicate(&self) -> Option<&str>;
    fn envelope(&self, field: Envelope) -> Result<Option<&str>, String>;
    /// Field `index` of event type `kind`, which is `field`.
    fn field(&self, kind: EventTypeId, index: usize, field: &Field)
        -> Result<Option<&str>, String>;
    /// The first name (in name order) of a cell with text that is neither
    /// an envelope field nor a field of event type `kind`.
    fn stray(&self, kind: EventTypeId, event_type: &EventType) -> Option<&str>;
}

/// One value of a record as its format gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    /// A scalar's text; empty for an empty cell or a null.
    Text(Cow<'a, str>),
    /// A list or an object, which no field can hold.
    Compound,
}

/// The cells of one record by name.
struct Record<'k, 'v> {
    /// Sorted by name (a record's own order among equal names): a sorted
    /// list, not a map, as building a map's nodes for every record was a
    /// twentieth of reading.
    cells: Vec<(&'k str, Cell<'v>)>,
    /// The first name given twice.
    duplicate: Option<&'k str>,
}

impl<'k, 'v> Record<'k, 'v> {
    fn new(cells: impl IntoIterator<Item = (&'k str, Cell<'v>)>) -> Self {
        let cells: Vec<(&'k str, Cell<'v>)> = cells.into_iter().collect();
        // A CSV file's rows come in name order (its reader sorts the
        // columns once): sorting each record was a twelfth of a run.
        if cells
            .windows(2)
            .all(|pair| matches!(pair, [(a, _), (b, _)] if a < b))
        {
            return Record {
                cells,
                duplicate: None,
            };
        }
        let mut cells: Vec<(usize, (&'k str, Cell<'v>))> = cells.into_iter().enumerate().collect();
        cells.sort_by_key(|(_, (name, _))| *name);
        // The name whose second occurrence comes first in the record.
        let duplicate = cells
            .windows(2)
            .filter_map(|pair| match pair {
                [(_, (a, _)), (second, (b, _))] if a == b => Some((*second, *a)),
                _ => None,
            })
            .min()
            .map(|(_, name)| name);
        Record {
            cells: cells.into_iter().map(|(_, cell)| cell).collect(),
            duplicate,
        }
    }

    /// The trimmed text of `name`; `None` when absent or empty. A name given
    /// twice has its last value.
    fn text(&self, name: &str) -> Result<Option<&str>, String> {
        let after = self.cells.partition_point(|(n, _)| *n <= name);
        let found = after
            .checked_sub(1)
            .and_then(|at| self.cells.get(at))
            .filter(|(n, _)| *n == name);
        match found.map(|(_, cell)| cell) {
            None => Ok(None),
            Some(Cell::Text(text)) => Ok(Some(text.trim()).filter(|t| !t.is_empty())),
            Some(Cell::Compound) => Err(format!(
                "field `{name}` holds a list or an object; it takes a single value"
            )),
        }
    }
}

impl Cells for Record<'_, '_> {
    fn duplicate(&self) -> Option<&str> {
        self.duplicate
    }

    fn envelope(&self, field: Envelope) -> Result<Option<&str>, String> {
        self.text(field.name())
    }

    fn field(&self, _: EventTypeId, _: usize, field: &Field) -> Result<Option<&str>, String> {
        self.text(&field.name)
    }

    fn stray(&self, _: EventTypeId, event_type: &EventType) -> Option<&str> {
        let envelope = Envelope::ALL.map(Envelope::name);
        self.cells
            .iter()
            .find(|(name, cell)| {
                let empty = matches!(cell, Cell::Text(text) if text.trim().is_empty());
                !empty
                    && !envelope.contains(name)
                    && !event_type.fields.iter().any(|f| f.name == *name)
            })
            .map(|(name, _)| *name)
    }
}

/// Types one basket item listed in a purchase's `items`, its cells given
/// by name, by the schema of an `item` row.
pub(crate) fn type_item<'k, 'v>(
    program: &Program,
    cells: impl IntoIterator<Item = (&'k str, Cell<'v>)>,
) -> Result<ItemRow, String> {
    let record = Record::new(cells);
    if let Some(name) = record.duplicate() {
        return Err(format!("field `{}` is given twice", echo(name)));
    }
    let (kind, event_type) = event_type(program, BuiltinEvent::Item.name())?;
    let mut fields = field_values(program, &record, kind, event_type)?;
    match Body::take(event_type.builtin, &mut fields)? {
        Body::Item(item) => Ok(*item),
        _ => Err("an item is typed as an `item` row".to_string()),
    }
}

/// Types one record read at `origin` by `program`'s event schemas, its
/// cells given by name.
pub(crate) fn type_record<'k, 'v>(
    program: &Program,
    origin: Origin,
    cells: impl IntoIterator<Item = (&'k str, Cell<'v>)>,
) -> Result<Event, Reject> {
    type_cells(program, origin, &Record::new(cells))
}

/// Types one record read at `origin` by `program`'s event schemas.
pub(crate) fn type_cells(
    program: &Program,
    origin: Origin,
    cells: &impl Cells,
) -> Result<Event, Reject> {
    typed(program, cells, &origin).map_err(|reason| Reject {
        id: cells
            .envelope(Envelope::Id)
            .ok()
            .flatten()
            .map(|id| echo(id).into_owned()),
        member: cells
            .envelope(Envelope::Member)
            .ok()
            .flatten()
            .map(|member| echo(member).into_owned()),
        origin,
        class: RejectClass::Invalid,
        reason,
    })
}

fn typed(program: &Program, cells: &impl Cells, origin: &Origin) -> Result<Event, String> {
    if let Some(name) = cells.duplicate() {
        return Err(format!("field `{}` is given twice", echo(name)));
    }
    let required = |field: Envelope| {
        cells
            .envelope(field)?
            .ok_or_else(|| format!("missing `{}`", field.name()))
    };
    let id = required(Envelope::Id)?;
    let time = required(Envelope::Time)?;
    let member = required(Envelope::Member)?;
    let (kind, event_type) = event_type(program, required(Envelope::Type)?)?;
    let time = value::instant(time, program.timezone).map_err(|e| format!("field `time`: {e}"))?;
    let mut fields = field_values(program, cells, kind, event_type)?;
    let body = Body::take(event_type.builtin, &mut fields)?;
    check_declared(event_type, &fields)?;
    Ok(Event {
        id: id.to_owned(),
        time,
        member: member.to_owned(),
        kind,
        body,
        fields,
        origin: origin.clone(),
    })
}

/// The values of the fields of `event_type` (type `kind`) in `cells`, in
/// its order; why not, for a cell of another field or a value that does
/// not read as its field's type.
fn field_values(
    program: &Program,
    cells: &impl Cells,
    kind: EventTypeId,
    event_type: &EventType,
) -> Result<Vec<Value>, String> {
    if let Some(name) = cells.stray(kind, event_type) {
        return Err(stray_field(name, event_type));
    }
    event_type
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| field_value(program, field, cells.field(kind, index, field)?))
        .collect()
}

fn event_type<'p>(
    program: &'p Program,
    name: &str,
) -> Result<(EventTypeId, &'p EventType), String> {
    if let Some(found) = program
        .events
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == name)
    {
        return Ok(found);
    }
    let names = program
        .events
        .iter()
        .filter(|e| program.uses(e.builtin))
        .map(|e| e.name.as_str());
    let shown = echo(name);
    Err(match suggest::closest(name, names.clone()) {
        Some(close) => format!("unknown event type `{shown}`; did you mean `{close}`?"),
        None => format!(
            "unknown event type `{shown}`; this program's types are {}",
            quoted_list(names)
        ),
    })
}

/// Why a record with a value for `name`, a field its type does not have,
/// is rejected. (An empty value is just absent, as in a CSV column that
/// other types use.)
fn stray_field(name: &str, event_type: &EventType) -> String {
    let declared = || event_type.fields.iter().map(|f| f.name.as_str());
    let type_name = &event_type.name;
    let shown = echo(name);
    match suggest::closest(name, declared()) {
        Some(close) => format!("`{type_name}` has no field `{shown}`; did you mean `{close}`?"),
        None if event_type.fields.is_empty() => {
            format!("`{type_name}` has no field `{shown}`; it has no fields")
        }
        None => format!(
            "`{type_name}` has no field `{shown}`; its fields are {}",
            quoted_list(declared())
        ),
    }
}

fn field_value(program: &Program, field: &Field, text: Option<&str>) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Missing);
    };
    let shown = || echo(text);
    let value = match field.ty {
        FieldType::Number => value::decimal(text)
            .map(Value::Number)
            .ok_or_else(|| format!("`{}` is not a number (expected one like 3 or 2.5)", shown())),
        FieldType::Money => value::money(text, program.currency).map(Value::Number),
        FieldType::Text => Ok(Value::Text(text.into())),
        FieldType::Date => value::date(text)
            .map(Value::Date)
            .ok_or_else(|| format!("`{}` is not a date (expected YYYY-MM-DD)", shown())),
        FieldType::Bool => value::boolean(text)
            .map(Value::Bool)
            .ok_or_else(|| format!("`{}` is not a bool (expected true or false)", shown())),
    };
    value.map_err(|reason| format!("field `{}`: {reason}", field.name))
}

/// The fields the program declares without `optional`: a record must give
/// each of them.
fn check_declared(event_type: &EventType, fields: &[Value]) -> Result<(), String> {
    match event_type
        .fields
        .iter()
        .zip(fields)
        .find(|(field, value)| field.required && **value == Value::Missing)
    {
        Some((field, _)) => Err(format!(
            "missing `{}`, which every `{}` needs (it is not declared `optional`)",
            field.name, event_type.name
        )),
        None => Ok(()),
    }
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::tests::{program, utc, PROGRAM};
    use crate::events::Redeem;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn origin() -> Origin {
        Origin {
            file: "events.csv".into(),
            line: 7,
        }
    }

    fn typed(pairs: &[(&str, &str)]) -> Result<Event, Reject> {
        let program = program(PROGRAM);
        let cells = pairs
            .iter()
            .map(|(k, v)| (*k, Cell::Text(Cow::Borrowed(*v))));
        type_record(&program, origin(), cells)
    }

    /// The reason a record with these cells is rejected, after checking
    /// the reject carries the record's place, id and member.
    fn reason(pairs: &[(&str, &str)]) -> String {
        let reject = typed(pairs).unwrap_err();
        assert_eq!(reject.origin, origin());
        let cell = |name: &str| {
            pairs
                .iter()
                .find(|(k, v)| *k == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        };
        assert_eq!(reject.id, cell("id"));
        assert_eq!(reject.member, cell("member"));
        reject.reason
    }

    fn with(pairs: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all = vec![
            ("id", "e1"),
            ("time", "2025-03-01 10:00"),
            ("member", "m1"),
            ("type", "purchase"),
            ("amount", "12.50"),
        ];
        for (name, value) in pairs {
            match all.iter_mut().find(|(k, _)| k == name) {
                Some(cell) => cell.1 = value,
                None => all.push((name, value)),
            }
        }
        all
    }

    fn number(text: &str) -> Value {
        Value::Number(Decimal::from_str(text).unwrap())
    }

    #[test]
    fn a_purchase_is_typed_by_its_schema() {
        let event = typed(&with(&[("store", " Downtown "), ("amount", "12.50 USD")])).unwrap();
        assert_eq!(
            event,
            Event {
                id: "e1".into(),
                time: utc("2025-03-01T15:00:00Z"),
                member: "m1".into(),
                kind: 0,
                body: Body::Purchase {
                    amount: Decimal::new(1250, 2),
                    items: Vec::new(),
                },
                fields: vec![number("12.50"), Value::Text("Downtown".into())],
                origin: origin(),
            }
        );
    }

    #[test]
    fn empty_fields_are_missing() {
        let event = typed(&with(&[("store", "  ")])).unwrap();
        assert_eq!(event.fields, vec![number("12.50"), Value::Missing]);
    }

    #[test]
    fn an_enroll_carries_the_member_attributes() {
        let event = typed(&[
            ("id", "e0"),
            ("time", "2025-01-01"),
            ("member", "m1"),
            ("type", "enroll"),
            ("birthday", "1990-05-17"),
            ("vip", "TRUE"),
        ])
        .unwrap();
        assert_eq!(event.kind, 1);
        assert_eq!(
            event.fields,
            vec![
                Value::Date(NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()),
                Value::Bool(true),
                Value::Missing,
            ]
        );
    }

    #[test]
    fn a_declared_type_reads_numbers_and_money() {
        let event = typed(&[
            ("id", "s1"),
            ("time", "2025-03-01T10:00:00Z"),
            ("member", "m1"),
            ("type", "stay"),
            ("nights", "-2.5"),
            ("rate", "120"),
        ])
        .unwrap();
        assert_eq!(event.kind, crate::check::BuiltinEvent::ALL.len());
        assert_eq!(event.fields, vec![number("-2.5"), number("120")]);
    }

    #[test]
    fn each_envelope_field_is_required() {
        for name in Envelope::ALL.map(Envelope::name) {
            let mut pairs = with(&[]);
            pairs.retain(|(k, _)| *k != name);
            assert_eq!(reason(&pairs), format!("missing `{name}`"));
            assert_eq!(reason(&with(&[(name, " ")])), format!("missing `{name}`"));
        }
    }

    #[test]
    fn a_declared_field_is_required_unless_optional() {
        let stay = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![
                ("id", "s1"),
                ("time", "2025-03-01"),
                ("member", "m1"),
                ("type", "stay"),
            ];
            all.extend_from_slice(pairs);
            all
        };
        let expected = "missing `nights`, which every `stay` needs (it is not declared `optional`)";
        assert_eq!(reason(&stay(&[("rate", "120")])), expected);
        assert_eq!(reason(&stay(&[("nights", "  ")])), expected);
        // `rate` is optional.
        let event = typed(&stay(&[("nights", "2")])).unwrap();
        assert_eq!(event.fields, vec![number("2"), Value::Missing]);
    }

    #[test]
    fn an_unknown_type_suggests_the_closest() {
        assert_eq!(
            reason(&with(&[("type", "purchse")])),
            "unknown event type `purchse`; did you mean `purchase`?"
        );
        assert_eq!(
            reason(&with(&[("type", "refund")])),
            "unknown event type `refund`; this program's types are `purchase`, `enroll`, \
             `return`, `redeem`, `use_perk`, `adjust`, `cancel_redeem`, `profile`, `stay`"
        );
    }

    #[test]
    fn a_field_of_another_type_is_rejected_unless_empty() {
        assert_eq!(
            reason(&with(&[("nights", "2")])),
            "`purchase` has no field `nights`; its fields are `amount`, `store`"
        );
        assert_eq!(
            reason(&with(&[("stor", "x")])),
            "`purchase` has no field `stor`; did you mean `store`?"
        );
        assert!(typed(&with(&[("nights", "")])).is_ok());
    }

    #[test]
    fn unparseable_values_name_the_field_value_and_kind() {
        let cases = [
            (("amount", "12,50"), "field `amount`: `12,50` is not money (expected an amount like 4.50 or 4.50 USD)"),
            (("amount", "3 EUR"), "field `amount`: `3 EUR` is not in this program's currency, USD"),
            (("amount", "-3"), "field `amount`: `-3` is negative; money never is"),
            (("time", "2025-02-0108:00"), "field `time`: `2025-02-0108:00` is not a time (expected 2025-03-01T10:00:00+01:00 or 2025-03-01T10:00:00Z, or in America/New_York 2025-03-01T10:00:00, 2025-03-01 10:00:00, 2025-03-01T10:00, 2025-03-01 10:00 or 2025-03-01; seconds may have a fraction, 10:00:00.5)"),
        ];
        for ((name, value), expected) in cases {
            assert_eq!(reason(&with(&[(name, value)])), expected);
        }
        let enroll = |name, value| {
            reason(&[
                ("id", "e0"),
                ("time", "2025-01-01"),
                ("member", "m1"),
                ("type", "enroll"),
                (name, value),
            ])
        };
        assert_eq!(
            enroll("birthday", "17/05/1990"),
            "field `birthday`: `17/05/1990` is not a date (expected YYYY-MM-DD)"
        );
        assert_eq!(
            enroll("vip", "yes"),
            "field `vip`: `yes` is not a bool (expected true or false)"
        );
        let stay = reason(&[
            ("id", "s1"),
            ("time", "2025-01-01"),
            ("member", "m1"),
            ("type", "stay"),
            ("nights", "two"),
        ]);
        assert_eq!(
            stay,
            "field `nights`: `two` is not a number (expected one like 3 or 2.5)"
        );
    }

    #[test]
    fn a_time_the_clocks_skip_is_read_forward_by_the_gap() {
        // New York jumps from 02:00 to 03:00: 02:30 is 03:30 -04:00.
        let event = typed(&with(&[("time", "2025-03-09 02:30")])).unwrap();
        assert_eq!(event.time, utc("2025-03-09T07:30:00Z"));
    }

    #[test]
    fn a_list_or_object_is_no_value() {
        let program = program(PROGRAM);
        let mut cells: Vec<_> = with(&[])
            .into_iter()
            .map(|(k, v)| (k, Cell::Text(Cow::Borrowed(v))))
            .collect();
        cells.push(("store", Cell::Compound));
        let reject = type_record(&program, origin(), cells).unwrap_err();
        assert_eq!(
            reject.reason,
            "field `store` holds a list or an object; it takes a single value"
        );
    }

    #[test]
    fn a_field_given_twice_is_rejected() {
        let mut pairs = with(&[]);
        pairs.push(("amount", "3"));
        assert_eq!(reason(&pairs), "field `amount` is given twice");
    }

    fn builtin(kind: &str, pairs: &[(&str, &str)]) -> Result<Event, Reject> {
        let mut all = vec![
            ("id", "x1"),
            ("time", "2025-03-01"),
            ("member", "m1"),
            ("type", kind),
        ];
        all.extend_from_slice(pairs);
        typed(&all)
    }

    fn builtin_reason(kind: &str, pairs: &[(&str, &str)]) -> String {
        builtin(kind, pairs).unwrap_err().reason
    }

    #[test]
    fn built_in_events_need_their_fields() {
        assert_eq!(
            builtin_reason("purchase", &[]),
            "`purchase` needs an `amount`"
        );
        assert!(builtin("purchase", &[("amount", "0")]).is_ok());

        assert_eq!(
            builtin_reason("return", &[("amount", "5")]),
            "`return` needs `of`, the id of the purchase returned"
        );
        for amount in ["", "0"] {
            assert_eq!(
                builtin_reason("return", &[("of", "e1"), ("amount", amount)]),
                "`return` needs an `amount` greater than 0"
            );
        }
        let ret = builtin("return", &[("of", "e1"), ("amount", "5")]).unwrap();
        assert_eq!(
            ret.body,
            Body::Return(Box::new(crate::events::Return {
                of: "e1".into(),
                amount: Decimal::from(5),
                items: Vec::new(),
            }))
        );
        assert!(ret.fields.is_empty());

        assert_eq!(
            builtin_reason("use_perk", &[]),
            "`use_perk` needs `perk`, the perk used"
        );
        assert!(builtin("use_perk", &[("perk", "lounge")]).is_ok());
    }

    #[test]
    fn a_redeem_names_a_reward_or_points_and_their_type() {
        let reward = builtin("redeem", &[("reward", "mug")]).unwrap();
        assert_eq!(
            reward.body,
            Body::Redeem(Box::new(Redeem::Reward("mug".into())))
        );
        let points = builtin("redeem", &[("points", "500"), ("points_type", "pts")]).unwrap();
        assert_eq!(
            points.body,
            Body::Redeem(Box::new(Redeem::Points {
                points: Decimal::from(500),
                points_type: "pts".into()
            }))
        );
        assert_eq!(
            points.values().as_ref(),
            [Value::Missing, number("500"), Value::Text("pts".into())]
        );
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[],
                "`redeem` needs a `reward`, or `points` and `points_type`",
            ),
            (
                &[("points", "5")],
                "`redeem` with `points` needs `points_type`",
            ),
            (
                &[("points_type", "pts")],
                "`redeem` with `points_type` needs `points`",
            ),
            (
                &[("points", "0"), ("points_type", "pts")],
                "`redeem` needs `points` greater than 0",
            ),
            (
                &[("points", "-5"), ("points_type", "pts")],
                "`redeem` needs `points` greater than 0",
            ),
            (
                &[("reward", "mug"), ("points", "5")],
                "`redeem` takes a `reward`, or `points` and `points_type`, not both",
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(builtin_reason("redeem", pairs), expected, "{pairs:?}");
        }
    }
}
