//! The course registry: which clinic treats which course, which course each dose belongs to.
//! It answers "the clinic of the course" for dose-family events and "the treating clinics"
//! for the safety exception.

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::{EventPayload, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::describe::CourseRule;

/// The course a dose-family event belongs to and the clinics that see it by that right.
#[derive(Debug, Clone, Default)]
pub(crate) struct CourseContext {
    pub(crate) course_id: Option<Uuid>,
    /// Clinic of the course (for vitals outside a dosing visit: the recording clinic, when it
    /// has an open course).
    pub(crate) clinics: Vec<Uuid>,
}

/// Records courses and doses, then finds the event's course and its clinic.
pub(crate) async fn apply(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    position: i64,
    rule: CourseRule,
) -> Result<CourseContext, sqlx::Error> {
    let patient_id = *event.envelope.patient_id.as_uuid();
    match &event.payload {
        EventPayload::Dose(DoseEvent::CourseStarted(started)) => {
            sqlx::query(
                "INSERT INTO courses (course_id, patient_id, clinic_id, path, started_position)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(started.course_id.as_uuid())
            .bind(patient_id)
            .bind(started.clinic_id.as_uuid())
            .bind(started.path.as_str())
            .bind(position)
            .execute(&mut *connection)
            .await?;
        }
        EventPayload::Dose(DoseEvent::DoseScheduled(scheduled)) => {
            // A dose id is scheduled again only after its first scheduling was entered in
            // error (the dose service refuses a reused id otherwise): the latest one holds.
            sqlx::query(
                "INSERT INTO doses (dose_id, patient_id, course_id) VALUES ($1, $2, $3)
                 ON CONFLICT (patient_id, dose_id) DO UPDATE SET course_id = EXCLUDED.course_id",
            )
            .bind(scheduled.dose_id.as_uuid())
            .bind(patient_id)
            .bind(scheduled.course_id.as_uuid())
            .execute(&mut *connection)
            .await?;
        }
        EventPayload::Dose(DoseEvent::CourseEnded(ended)) => {
            sqlx::query(
                "UPDATE courses SET ended_position = $3
                 WHERE course_id = $1 AND patient_id = $2 AND ended_position IS NULL",
            )
            .bind(ended.course_id.as_uuid())
            .bind(patient_id)
            .bind(position)
            .execute(&mut *connection)
            .await?;
        }
        _ => {}
    }
    let rows: Vec<(Uuid, Uuid)> =
        match rule {
            CourseRule::NotDoseFamily => Vec::new(),
            CourseRule::Course(course_id) => sqlx::query_as(
                "SELECT course_id, clinic_id FROM courses WHERE course_id = $1 AND patient_id = $2",
            )
            .bind(course_id.as_uuid())
            .bind(patient_id)
            .fetch_all(&mut *connection)
            .await?,
            CourseRule::Dose(dose_id) => {
                sqlx::query_as(
                    "SELECT c.course_id, c.clinic_id FROM doses d
                 JOIN courses c ON c.course_id = d.course_id AND c.patient_id = d.patient_id
                 WHERE d.dose_id = $1 AND d.patient_id = $2",
                )
                .bind(dose_id.as_uuid())
                .bind(patient_id)
                .fetch_all(&mut *connection)
                .await?
            }
            // Only the recording clinic's own courses: another clinic treating the same patient
            // has no right to this clinic's records (domain §5).
            CourseRule::RecorderOpenCourses => {
                sqlx::query_as(
                    "SELECT course_id, clinic_id FROM courses
                 WHERE patient_id = $1 AND clinic_id = $2 AND ended_position IS NULL
                 ORDER BY started_position",
                )
                .bind(patient_id)
                .bind(event.envelope.actor.party_id.as_uuid())
                .fetch_all(&mut *connection)
                .await?
            }
            CourseRule::SameAs(event_id) => {
                sqlx::query_as(
                    "SELECT c.course_id, c.clinic_id FROM timeline_entries t
                 JOIN courses c ON c.course_id = t.course_id AND c.patient_id = t.patient_id
                 WHERE t.audience = 'auditor' AND t.event_id = $1 AND t.patient_id = $2
                   AND t.item = 'event'",
                )
                .bind(event_id.as_uuid())
                .bind(patient_id)
                .fetch_all(&mut *connection)
                .await?
            }
        };
    let mut clinics: Vec<Uuid> = rows.iter().map(|(_, clinic)| *clinic).collect();
    clinics.sort();
    clinics.dedup();
    // One course, or none when several open courses of the recording clinic share an
    // outside-visit record.
    let course_id = match rows.as_slice() {
        [(course_id, _)] => Some(*course_id),
        _ => None,
    };
    Ok(CourseContext { course_id, clinics })
}

/// The patient's open courses (started, not ended), oldest first.
async fn open_courses(
    connection: &mut PgConnection,
    patient_id: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT course_id, clinic_id FROM courses
         WHERE patient_id = $1 AND ended_position IS NULL
         ORDER BY started_position",
    )
    .bind(patient_id)
    .fetch_all(&mut *connection)
    .await
}

/// The clinics treating the patient now: those of its open courses. The safety exception
/// (domain §5) reaches them whatever the patient consented to.
pub(crate) async fn treating_clinics(
    connection: &mut PgConnection,
    patient_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut clinics: Vec<Uuid> = open_courses(connection, patient_id)
        .await?
        .into_iter()
        .map(|(_, clinic)| clinic)
        .collect();
    clinics.sort();
    clinics.dedup();
    Ok(clinics)
}
