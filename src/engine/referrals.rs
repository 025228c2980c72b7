//! Referrals: an `enroll` naming `referred_by` links the new member to the
//! member who referred them, for rules that pay the referrer (`earn ... to
//! referrer`, `limit N per referrer`) and for `referred` in conditions.

use super::{Engine, Refusal};
use crate::events::{Body, Event, RejectClass};

impl Engine<'_> {
    /// The slot of the member an enrolment names as its referrer, if it
    /// names one; refused for the new member themself, an id no member
    /// has enrolled with, or a pool.
    pub(super) fn referrer_named(&self, event: &Event) -> Result<Option<usize>, Refusal> {
        let Body::Enroll {
            referred_by: Some(referrer),
        } = &event.body
        else {
            return Ok(None);
        };
        if **referrer == *event.member {
            return Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("`{referrer}` cannot refer themself"),
            ));
        }
        match self.members.slot(referrer) {
            Some(r) if self.is_pool(r) => Err(Refusal::new(
                RejectClass::NotAllowed,
                format!("`{referrer}` is a pool: only a member can refer another"),
            )),
            Some(r) => Ok(Some(r)),
            None => Err(Refusal::new(
                RejectClass::UnknownName,
                format!("unknown referrer `{referrer}`: no member of that id has enrolled"),
            )),
        }
    }
}
