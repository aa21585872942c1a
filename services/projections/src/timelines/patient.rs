//! The patient's own timeline.

use sqlx::PgConnection;

use crate::entry::{Audience, Basis, Entry, Reach};

/// The patient's own timeline: every recorded event and its safety reminders; not the clinic's
/// alerts.
pub(crate) async fn patient(
    connection: &mut PgConnection,
    entry: &Entry,
) -> Result<(), sqlx::Error> {
    match entry.reach {
        Reach::Record | Reach::PatientOnly => {
            entry
                .insert(
                    connection,
                    Audience::Patient,
                    entry.patient_id,
                    Basis::SelfRecord,
                )
                .await
        }
        Reach::ClinicAlert | Reach::SafetyAlert | Reach::TherapistSuggestion => Ok(()),
    }
}
