//! Member updates: a `profile` record changes the member attributes it
//! gives and leaves the others; a birthday, once known, stays.

use super::made_events::MemberDay;
use super::{unknown_member, Engine, Refusal};
use crate::compile::ir::Value;
use crate::events::{Event, RejectClass};

impl Engine<'_> {
    /// `profile`: the attributes the record gives replace the member's; a
    /// `birthday` already known may be given again but not changed (the
    /// birthday rules would pay twice a year). Nothing given is rejected.
    pub(super) fn update_profile(&mut self, m: usize, event: &Event) -> Result<(), Refusal> {
        let program = self.program;
        let member = self.members.get_mut(m).ok_or_else(unknown_member)?;
        let given: Vec<(usize, &Value)> = event
            .fields
            .iter()
            .enumerate()
            .filter(|(_, value)| **value != Value::Missing)
            .collect();
        if given.is_empty() {
            return Err(Refusal::new(
                RejectClass::Invalid,
                "a `profile` gives no member attribute to change",
            ));
        }
        for &(i, value) in &given {
            let named_birthday = program.birthday() == Some(i);
            match member.attributes.get(i) {
                Some(Value::Date(known)) if named_birthday && value != &Value::Date(*known) => {
                    return Err(Refusal::new(
                        RejectClass::NotAllowed,
                        format!("the birthday is known already ({known}) and cannot change"),
                    ))
                }
                _ => {}
            }
        }
        let birthday = program.birthday();
        let knew_birthday =
            birthday.and_then(|i| member.attributes.get(i)) != Some(&Value::Missing);
        for (i, value) in given {
            if let Some(slot) = member.attributes.get_mut(i) {
                *slot = value.clone();
            }
        }
        // A birthday made known now is celebrated from the next one.
        if !knew_birthday {
            self.schedule_member_day(m, MemberDay::Birthday, event.time);
        }
        Ok(())
    }
}
