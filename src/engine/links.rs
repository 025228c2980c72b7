//! Which accounts affect each other: a transfer links giver and receiver, a
//! pool links itself and every member who joins it. Linked accounts must be
//! applied by the same engine when members are split into shards, so each
//! account is named by its group: the smallest id linked to it, directly or
//! through others (a union-find over the records, path-compressed).

use crate::compile::ir::{builtin_field, EventKind, Program, Value};
use crate::events::Event;
use std::collections::BTreeMap;

/// The groups of linked accounts seen in some records.
#[derive(Debug, Clone, Default)]
pub struct Links {
    parent: BTreeMap<String, String>,
}

impl Links {
    /// The links the records make: `transfer` (member and `to`), and
    /// `join_pool` / `leave_pool` (member and `pool`).
    pub fn of<'e>(program: &Program, events: impl IntoIterator<Item = &'e Event>) -> Links {
        let mut links = Links::default();
        for event in events {
            let field = match program.events.get(event.kind).map(|t| t.kind) {
                Some(EventKind::Transfer) => builtin_field::TRANSFER_TO,
                Some(EventKind::JoinPool | EventKind::LeavePool) => builtin_field::POOL_POOL,
                _ => continue,
            };
            if let Some(Value::Text(other)) = event.fields.get(field) {
                links.link(&event.member, other);
            }
        }
        links
    }

    /// The group of an account: the smallest id it is linked to (itself
    /// when it is linked to none).
    pub fn group<'a>(&'a self, id: &'a str) -> &'a str {
        let mut at = id;
        while let Some(parent) = self.parent.get(at) {
            if parent == at {
                break;
            }
            at = parent;
        }
        at
    }

    fn root(&mut self, id: &str) -> String {
        let root = self.group(id).to_string();
        // Path compression: point everything on the way at the root.
        let mut at = id.to_string();
        while at != root {
            let next = self.parent.get(&at).cloned().unwrap_or_else(|| root.clone());
            self.parent.insert(at, root.clone());
            at = next;
        }
        root
    }

    fn link(&mut self, a: &str, b: &str) {
        let (a, b) = (self.root(a), self.root(b));
        // The smaller id names the group, so groups do not depend on the
        // order the links came in.
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        self.parent.insert(high, low.clone());
        self.parent.entry(low.clone()).or_insert(low);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::events::Origin;

    fn event(program: &Program, kind: &str, member: &str, other: &str) -> Event {
        let (k, t) = program
            .events
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == kind)
            .unwrap();
        let mut fields = vec![Value::Missing; t.fields.len()];
        fields[0] = Value::Text(other.to_string());
        Event {
            id: format!("{kind}-{member}-{other}"),
            time: chrono::DateTime::UNIX_EPOCH,
            member: member.to_string(),
            kind: k,
            fields,
            origin: Origin {
                file: String::new(),
                line: 0,
            },
        }
    }

    #[test]
    fn transfers_and_pools_join_groups_named_by_their_smallest_id() {
        let program = compile(
            "program \"P\" { currency USD  timezone \"UTC\" }
             points pts { transfers  pool household }
             rule base { on purchase  earn 1 pts per 1 USD of amount }",
        )
        .unwrap()
        .0;
        let events = [
            event(&program, "transfer", "zoe", "yan"),
            event(&program, "join_pool", "yan", "household:a"),
            event(&program, "join_pool", "bob", "household:a"),
            event(&program, "transfer", "kim", "lee"),
            event(&program, "purchase", "amy", "ignored"),
        ];
        let links = Links::of(&program, &events);
        for id in ["zoe", "yan", "household:a", "bob"] {
            assert_eq!(links.group(id), "bob", "{id}");
        }
        assert_eq!(links.group("kim"), "kim");
        assert_eq!(links.group("lee"), "kim");
        assert_eq!(links.group("amy"), "amy");
        let reversed = Links::of(&program, events.iter().rev());
        for id in ["zoe", "yan", "household:a", "bob", "kim", "lee", "amy"] {
            assert_eq!(reversed.group(id), links.group(id), "{id}");
        }
    }
}
