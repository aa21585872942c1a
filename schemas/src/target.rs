//! The target family (therapist with the patient): CBT targets, their practice and notches,
//! and skills sessions (domain §3). "At most one active target per category, two in all" and
//! "a notch only after three done-and-easy practices" need the stream, so the target service
//! enforces them.

use serde::{Deserialize, Serialize};

pub use crate::correction::EntryCorrected;
use crate::ids::{PartyId, SessionId, TargetId};
use crate::timestamp::Timestamp;
use crate::values::{
    CalendarDate, Ease, FreeText, MenuItem, PracticeOutcome, RetireReason, Scope, TargetCategory,
    ValueError,
};

event_family! {
    /// Events of the target family. Variant order is the wire tag: append only.
    pub enum TargetEvent {
        TargetSet => "target_set", version 1,
        TargetPracticed => "target_practiced", version 1,
        TargetNotchedUp => "target_notched_up", version 1,
        TargetRetired => "target_retired", version 1,
        SessionScheduled => "session_scheduled", version 1,
        SessionHeld => "session_held", version 1,
        SessionCancelled => "session_cancelled", version 1,
        EntryCorrected => "entry_corrected", version 1,
    }
}

impl TargetEvent {
    /// The consent scope that governs this event (domain §5): `sessions` for the session
    /// events, `targets` for the rest. `None` for a correction, which is governed by the scope
    /// of the entry it corrects.
    pub fn consent_scope(&self) -> Option<Scope> {
        match self {
            TargetEvent::SessionScheduled(_)
            | TargetEvent::SessionHeld(_)
            | TargetEvent::SessionCancelled(_) => Some(Scope::Sessions),
            TargetEvent::EntryCorrected(_) => None,
            TargetEvent::TargetSet(_)
            | TargetEvent::TargetPracticed(_)
            | TargetEvent::TargetNotchedUp(_)
            | TargetEvent::TargetRetired(_) => Some(Scope::Targets),
        }
    }
}

impl From<TargetEvent> for crate::event::EventPayload {
    fn from(event: TargetEvent) -> Self {
        crate::event::EventPayload::Target(event)
    }
}

/// A target is chosen: a small, trackable skill to practise.
///
/// Its fields are private because they depend on each other: a `menu_item` must come from the
/// menu of the target's `category`. Build one with [`TargetSet::new`]; decoding checks the
/// same rule. JSON is the flat object of the fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TargetSetFields", into = "TargetSetFields")]
pub struct TargetSet {
    target_id: TargetId,
    category: TargetCategory,
    menu_item: Option<MenuItem>,
    description: FreeText,
    plan: FreeText,
}

/// The unchecked shape of [`TargetSet`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSetFields {
    target_id: TargetId,
    category: TargetCategory,
    menu_item: Option<MenuItem>,
    description: FreeText,
    plan: FreeText,
}

impl TargetSet {
    /// `menu_item`, when given, must be on the menu of `category`.
    pub fn new(
        target_id: TargetId,
        category: TargetCategory,
        menu_item: Option<MenuItem>,
        description: FreeText,
        plan: FreeText,
    ) -> Result<Self, ValueError> {
        if let Some(item) = menu_item {
            if item.category() != category {
                return Err(ValueError::MenuItemCategoryMismatch {
                    menu_item: item,
                    menu_category: item.category(),
                    category,
                });
            }
        }
        Ok(Self {
            target_id,
            category,
            menu_item,
            description,
            plan,
        })
    }

    pub fn target_id(&self) -> TargetId {
        self.target_id
    }

    pub fn category(&self) -> TargetCategory {
        self.category
    }

    /// The menu entry the target was picked from, if it was.
    pub fn menu_item(&self) -> Option<MenuItem> {
        self.menu_item
    }

    /// What the target is, in the patient's words.
    pub fn description(&self) -> &FreeText {
        &self.description
    }

    /// How it will be practised, small and trackable ("two minutes of grounding before email,
    /// three days this week").
    pub fn plan(&self) -> &FreeText {
        &self.plan
    }
}

impl TryFrom<TargetSetFields> for TargetSet {
    type Error = ValueError;
    fn try_from(fields: TargetSetFields) -> Result<Self, ValueError> {
        Self::new(
            fields.target_id,
            fields.category,
            fields.menu_item,
            fields.description,
            fields.plan,
        )
    }
}

impl From<TargetSet> for TargetSetFields {
    fn from(value: TargetSet) -> Self {
        TargetSetFields {
            target_id: value.target_id,
            category: value.category,
            menu_item: value.menu_item,
            description: value.description,
            plan: value.plan,
        }
    }
}

/// The patient practised a target on a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPracticed {
    pub target_id: TargetId,
    /// The day of the practice, as the patient counts days.
    pub on: CalendarDate,
    pub outcome: PracticeOutcome,
    pub ease: Ease,
    pub note: Option<FreeText>,
}

/// The target is made one small notch harder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetNotchedUp {
    pub target_id: TargetId,
    /// The target as it reads after the notch.
    pub description: FreeText,
}

/// The target is no longer active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRetired {
    pub target_id: TargetId,
    pub reason: RetireReason,
}

/// A therapy or skills session is planned (ideally 24–72 h after a dose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionScheduled {
    pub session_id: SessionId,
    pub therapist_id: PartyId,
    pub at: Timestamp,
}

/// A session took place: one practice reviewed, one barrier, one next step (seed 000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionHeld {
    pub session_id: SessionId,
    pub practice: FreeText,
    pub barrier: FreeText,
    pub next_step: FreeText,
}

/// A scheduled session will not take place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCancelled {
    pub session_id: SessionId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: &str) -> FreeText {
        FreeText::new(words).expect("valid text")
    }

    #[test]
    fn a_menu_item_must_come_from_the_targets_category() {
        fn check(category: TargetCategory, item: Option<MenuItem>, accepted: bool) {
            let target_id = TargetId::try_from(uuid::Uuid::from_u128(7)).expect("id");
            let built = TargetSet::new(target_id, category, item, text("walk"), text("daily"));
            assert_eq!(built.is_ok(), accepted, "{category} {item:?}");
            let json = serde_json::json!({
                "target_id": target_id,
                "category": category,
                "menu_item": item,
                "description": "walk",
                "plan": "daily",
            });
            let decoded = serde_json::from_value::<TargetSet>(json);
            assert_eq!(decoded.is_ok(), accepted, "{category} {item:?} from JSON");
            if let Ok(target) = built {
                let wire = postcard::to_allocvec(&target).expect("postcard");
                assert_eq!(
                    postcard::from_bytes::<TargetSet>(&wire).expect("decode"),
                    target
                );
            }
        }
        use MenuItem::*;
        use TargetCategory::*;
        check(BehavioralActivation, Some(WalkOutsideWithSupportCall), true);
        check(Cognitive, Some(FactsVersusPredictions), true);
        check(Exposure, Some(SendAvoidedMessage), true);
        check(Sleep, Some(FixedWakeTime), true);
        check(Sleep, None, true);
        check(Sleep, Some(WalkOutsideWithSupportCall), false);
        check(Cognitive, Some(BedForSleepOnly), false);
    }

    #[test]
    fn mismatch_message_names_both_categories() {
        let target_id = TargetId::try_from(uuid::Uuid::from_u128(7)).expect("id");
        let error = TargetSet::new(
            target_id,
            TargetCategory::Exposure,
            Some(MenuItem::FixedWakeTime),
            text("x"),
            text("y"),
        )
        .expect_err("mismatch");
        assert_eq!(
            error.to_string(),
            "menu item fixed_wake_time belongs to the sleep menu, not to exposure"
        );
    }
}
