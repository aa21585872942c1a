//! The patient's own timeline: every recorded event of their record (and, made when it is read,
//! the safety reminder after each dose: `derived::read_time_items`); not the clinic's alerts,
//! nor the therapist's suggestions. The patient reads `entries` directly, filtered by `reach`,
//! so this rule is applied when the timeline is read.

use crate::entry::Reach;

/// Whether the patient sees entries of this reach.
pub(crate) fn reaches_patient(reach: Reach) -> bool {
    match reach {
        Reach::Record => true,
        Reach::ClinicAlert | Reach::SafetyAlert | Reach::TherapistSuggestion => false,
    }
}
