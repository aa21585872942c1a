//! The patient's own timeline.

use uuid::Uuid;

use crate::entry::{Basis, Entry, Reach};

/// The patient's own timeline: every recorded event and its safety reminders; not the clinic's
/// alerts.
pub(crate) fn patient(entry: &Entry) -> Vec<(Uuid, Basis)> {
    match entry.reach {
        Reach::Record | Reach::PatientOnly => vec![(entry.patient_id, Basis::SelfRecord)],
        Reach::ClinicAlert | Reach::SafetyAlert | Reach::TherapistSuggestion => Vec::new(),
    }
}
