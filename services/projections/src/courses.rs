//! The course registry: which clinic treats which course, which course each dose belongs to.
//! It answers "the clinic of the course" for dose-family events and "the treating clinics"
//! for the safety exception, from the batch's state (`state.rs`).

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::values::RED_FLAG_WINDOW_HOURS;
use carelog_schemas::{EventPayload, RecordedEvent};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::describe::CourseRule;
use crate::state::{BatchState, CourseRecord};
use crate::ProjectionError;

/// The course a dose-family event belongs to and the clinics that see it by that right.
#[derive(Debug, Clone, Default)]
pub(crate) struct CourseContext {
    pub(crate) course_id: Option<Uuid>,
    /// Clinic of the course (for vitals outside a dosing visit: the recording clinic, when it
    /// has an open course).
    pub(crate) clinics: Vec<Uuid>,
}

/// Records courses and doses, then finds the event's course and its clinic. A dose given also
/// moves its course's first administered dose.
pub(crate) async fn apply(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    position: i64,
    rule: CourseRule,
) -> Result<CourseContext, ProjectionError> {
    let patient_id = *event.envelope.patient_id.as_uuid();
    match &event.payload {
        EventPayload::Dose(DoseEvent::CourseStarted(started)) => {
            let course_id = *started.course_id.as_uuid();
            // A course id is started once, unless its start was corrected: the dose service
            // then lets the same clinic record the start again under the same id (the
            // amended start), and the course opens anew; its doses so far stay its doses.
            // An ended course started again stays ended (the dose service keeps it so): the
            // amended start of a finished course.
            let (first_administered_at, ended_position) = match course(state, patient_id, course_id)
            {
                None => (None, None),
                Some(known) => {
                    let first = known.first_administered_at;
                    // Only its own clinic starts it again (the dose service refuses another).
                    let same_clinic = known.clinic_id == *started.clinic_id.as_uuid();
                    let history = if same_clinic {
                        Some(start_corrected(connection, state, patient_id, course_id).await?)
                    } else {
                        None
                    };
                    match history {
                        Some(history) if history.corrected => (first, history.ended),
                        _ => {
                            return Err(ProjectionError::Inconsistent {
                                position: crate::from_db_position(position),
                                reason: "the patient already has a course with this id",
                            })
                        }
                    }
                }
            };
            state.put_course(
                patient_id,
                CourseRecord {
                    course_id,
                    clinic_id: *started.clinic_id.as_uuid(),
                    path: started.path.as_str().to_owned(),
                    started_position: position,
                    ended_position,
                    first_administered_at,
                },
            );
        }
        EventPayload::Dose(DoseEvent::DoseScheduled(scheduled)) => state.schedule_dose(
            patient_id,
            *scheduled.dose_id.as_uuid(),
            *scheduled.course_id.as_uuid(),
        ),
        EventPayload::Dose(DoseEvent::CourseEnded(ended)) => {
            if let Some(course) = course(state, patient_id, *ended.course_id.as_uuid()) {
                if course.ended_position.is_none() {
                    let ended = CourseRecord {
                        ended_position: Some(position),
                        ..course.clone()
                    };
                    state.put_course(patient_id, ended);
                }
            }
        }
        _ => {}
    }
    let rows: Vec<(Uuid, Uuid)> = match rule {
        CourseRule::NotDoseFamily => Vec::new(),
        CourseRule::Course(course_id) => course(state, patient_id, *course_id.as_uuid())
            .map(|c| (c.course_id, c.clinic_id))
            .into_iter()
            .collect(),
        CourseRule::Dose(dose_id) => state
            .course_of_dose(patient_id, *dose_id.as_uuid())
            .and_then(|course_id| course(state, patient_id, course_id))
            .map(|c| (c.course_id, c.clinic_id))
            .into_iter()
            .collect(),
        // Only the recording clinic's own courses: another clinic treating the same patient
        // has no right to this clinic's records (domain §5).
        CourseRule::RecorderOpenCourses => {
            let recorder = *event.envelope.actor.party_id.as_uuid();
            state
                .patient(patient_id)
                .courses
                .iter()
                .filter(|c| c.clinic_id == recorder && c.ended_position.is_none())
                .map(|c| (c.course_id, c.clinic_id))
                .collect()
        }
        // A correction (rare): the course of the corrected event, from the written history.
        CourseRule::SameAs(event_id) => {
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            sqlx::query_as(
                "SELECT c.course_id, c.clinic_id FROM entries t
                 JOIN courses c ON c.course_id = t.course_id AND c.patient_id = t.patient_id
                 WHERE t.patient_id = $2 AND t.event_id = $1 AND t.item = 'event'",
            )
            .bind(event_id.as_uuid())
            .bind(patient_id)
            .fetch_all(&mut *connection)
            .await
            .map_err(ProjectionError::applying)?
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
    if let (EventPayload::Dose(DoseEvent::DoseAdministered(dose)), Some(course_id)) =
        (&event.payload, course_id)
    {
        let given_at = dose.administered_at.to_datetime();
        if let Some(course) = course(state, patient_id, course_id) {
            if course
                .first_administered_at
                .is_none_or(|first| given_at < first)
            {
                let course = CourseRecord {
                    first_administered_at: Some(given_at),
                    ..course.clone()
                };
                state.put_course(patient_id, course);
            }
        }
    }
    Ok(CourseContext { course_id, clinics })
}

/// Whether every recorded start of the course was corrected (amended or entered in error), so
/// that it may be started again. Rare: read from the written history.
async fn start_corrected(
    connection: &mut PgConnection,
    state: &mut BatchState,
    patient_id: Uuid,
    course_id: Uuid,
) -> Result<StartCorrected, ProjectionError> {
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let (standing, ended): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'course_started'),
                min(position) FILTER (WHERE kind = 'course_ended')
         FROM entries
         WHERE patient_id = $1 AND course_id = $2 AND item = 'event'
           AND kind IN ('course_started', 'course_ended') AND correction IS NULL",
    )
    .bind(patient_id)
    .bind(course_id)
    .fetch_one(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    Ok(StartCorrected {
        corrected: standing == 0,
        ended,
    })
}

/// What the history says of a course started again: whether every start of it so far was
/// corrected, and where it was ended, if an end of it stands.
struct StartCorrected {
    corrected: bool,
    ended: Option<i64>,
}

/// One course of the patient.
pub(crate) fn course(
    state: &BatchState,
    patient_id: Uuid,
    course_id: Uuid,
) -> Option<&CourseRecord> {
    state
        .patient(patient_id)
        .courses
        .iter()
        .find(|c| c.course_id == course_id)
}

/// The clinics that gave the patient a dose (not corrected) in the red-flag window before
/// `at` (domain §4: a red-flag symptom within 72 h of a dose; the clinic is to contact the
/// patient), whether or not their course has ended since. Reads the written history: flushes
/// first.
pub(crate) async fn dosing_clinics(
    connection: &mut PgConnection,
    state: &mut BatchState,
    patient_id: Uuid,
    at: OffsetDateTime,
) -> Result<Vec<Uuid>, ProjectionError> {
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let courses: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT course_id FROM entries
         WHERE patient_id = $1 AND item = 'event' AND kind = 'dose_administered'
           AND correction IS NULL AND course_id IS NOT NULL
           AND (detail->>'administered_at')::timestamptz BETWEEN $2 - $3 * interval '1 hour' AND $2",
    )
    .bind(patient_id)
    .bind(at)
    .bind(RED_FLAG_WINDOW_HOURS as f64)
    .fetch_all(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    Ok(courses
        .into_iter()
        .filter_map(|(course_id,)| course(state, patient_id, course_id).map(|c| c.clinic_id))
        .collect())
}

/// The clinics treating the patient now: those of its open courses. The safety exception
/// (domain §5) reaches them whatever the patient consented to.
pub(crate) fn treating_clinics(state: &BatchState, patient_id: Uuid) -> Vec<Uuid> {
    let mut clinics: Vec<Uuid> = state
        .patient(patient_id)
        .courses
        .iter()
        .filter(|c| c.ended_position.is_none())
        .map(|c| c.clinic_id)
        .collect();
    clinics.sort();
    clinics.dedup();
    clinics
}
