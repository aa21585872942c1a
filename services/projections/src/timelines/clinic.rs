//! Each clinic's timeline, per clinic.

use super::{EventContext, KindReaders};
use crate::entry::{Audience, Basis, Entry, Reach, EVENT_ITEM};

/// Each clinic's timeline: the dose family of its courses, grants to it, what active consents
/// open, its alerts, and safety alerts of patients it treats. The course's clinic (basis
/// `course`) is the entry's `clinic_id` and reads it from `entries` without a row of its own
/// (`read.rs`); every other reader here gets a row in `entry_readers`.
pub(crate) fn clinic(entry: &Entry, context: &EventContext, readers: &mut KindReaders<'_>) {
    match entry.reach {
        Reach::Record => {
            if let Some(scope) = entry.scope {
                for clinic in context.consents.grantees_with(Audience::Clinic, scope) {
                    readers.insert(clinic, Basis::Consent);
                }
            }
            for clinic in &context.course.clinics {
                readers.insert(*clinic, Basis::Course);
            }
            if let (Some((Audience::Clinic, grantee)), EVENT_ITEM) =
                (context.grantee, entry.item.as_ref())
            {
                readers.insert(grantee, Basis::Grant);
            }
        }
        Reach::ClinicAlert => {
            for clinic in &context.course.clinics {
                readers.insert(*clinic, Basis::Course);
            }
        }
        Reach::SafetyAlert => {
            for clinic in &context.treating_clinics {
                readers.insert(*clinic, Basis::SafetyException);
            }
        }
        Reach::TherapistSuggestion => {}
    }
}
