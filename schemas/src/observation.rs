//! The observation family (patient, therapist or clinic): ratings, notes, symptoms and scored
//! questionnaires (domain §3). The safety alerts of §4 (PHQ-9 item 9, red-flag symptoms within
//! 72 h of a dose) are decided by the observation service and carried here as flags.

use serde::{Deserialize, Serialize};

pub use crate::correction::EntryCorrected;
use crate::ids::ObservationId;
use crate::values::{Flags, ObservationValue, ScaleScore, Scope};

event_family! {
    /// Events of the observation family. Variant order is the wire tag: append only.
    pub enum ObservationEvent {
        ObservationRecorded => "observation_recorded", version 1,
        ScaleScored => "scale_scored", version 1,
        EntryCorrected => "entry_corrected", version 1,
    }
}

impl ObservationEvent {
    /// The consent scope that governs this event (domain §5): `scores` for a scored
    /// questionnaire, `observations` for the rest. `None` for a correction, which is governed
    /// by the scope of the entry it corrects.
    pub fn consent_scope(&self) -> Option<Scope> {
        match self {
            ObservationEvent::ObservationRecorded(_) => Some(Scope::Observations),
            ObservationEvent::ScaleScored(_) => Some(Scope::Scores),
            ObservationEvent::EntryCorrected(_) => None,
        }
    }
}

impl From<ObservationEvent> for crate::event::EventPayload {
    fn from(event: ObservationEvent) -> Self {
        crate::event::EventPayload::Observation(event)
    }
}

/// Something observed about the patient. Kind and value are one field (`{"mood": 7}`), so
/// they cannot disagree. Flags: `red_flag_symptom_within_72h`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationRecorded {
    pub observation_id: ObservationId,
    pub value: ObservationValue,
    pub flags: Flags,
}

/// A questionnaire was scored. The score carries instrument, items and total and can only hold
/// a well-formed questionnaire. Flags: `phq9_item9_positive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleScored {
    pub score: ScaleScore,
    pub flags: Flags,
}
