//! Applying one commit of the log to every read model, inside the caller's transaction and the
//! batch's state (`state.rs`): the course registry, the four role timelines, derived items,
//! consents and corrections, always in the same order so a replay writes the same rows.

use carelog_eventlog::StoredCommit;
use carelog_schemas::values::Flag;
use carelog_schemas::{EventPayload, RecordedEvent};
use sqlx::PgConnection;

use crate::consents::{self, ActiveConsents};
use crate::courses;
use crate::derived::{derived_items, flags_of};
use crate::describe::{describe, ScopeRule};
use crate::entry::{Audience, Basis, Entry, Reach, EVENT_ITEM};
use crate::state::{BatchState, Wanted};
use crate::timelines::{self, EventContext};
use crate::ProjectionError;

/// Applies every event of one commit: in memory and into the batch's pending writes, except
/// the rare events that need a statement of their own (see `state.rs`).
pub(crate) async fn apply_commit(
    connection: &mut PgConnection,
    state: &mut BatchState,
    stored: &StoredCommit,
) -> Result<(), ProjectionError> {
    let position = crate::to_db_position(stored.position)?;
    for (index, event) in stored
        .commit
        .recorded_events(stored.position)
        .iter()
        .enumerate()
    {
        let event_index = i32::try_from(index).map_err(|_| ProjectionError::Inconsistent {
            position: stored.position,
            reason: "a commit holds more events than an index can count",
        })?;
        apply_event(connection, state, event, position, event_index).await?;
    }
    Ok(())
}

/// Adds what applying `stored` needs loaded: its patient, the doses its events name, and
/// whether it grants a consent.
pub(crate) fn wants(stored: &StoredCommit, wanted: &mut Wanted) {
    let patient_id = *stored.key.patient_id.as_uuid();
    wanted.patients.insert(patient_id);
    for record in stored.commit.events() {
        if let Some(dose_id) = dose_named(&record.payload) {
            wanted.doses.insert((patient_id, *dose_id.as_uuid()));
        }
        if matches!(
            record.payload,
            EventPayload::Consent(carelog_schemas::ConsentEvent::ConsentGranted(_))
        ) {
            wanted.granting.insert(patient_id);
        }
    }
}

/// The dose a dose-family event belongs to (`describe`'s `CourseRule::Dose`).
fn dose_named(payload: &EventPayload) -> Option<carelog_schemas::ids::DoseId> {
    use carelog_schemas::dose::DoseEvent;
    match payload {
        EventPayload::Dose(DoseEvent::PreDoseCheckRecorded(e)) => Some(e.dose_id),
        EventPayload::Dose(DoseEvent::DoseAdministered(e)) => Some(e.dose_id),
        EventPayload::Dose(DoseEvent::VitalsRecorded(e)) => e.dose_id,
        EventPayload::Dose(DoseEvent::SideEffectRecorded(e)) => Some(e.dose_id),
        EventPayload::Dose(DoseEvent::PatientDischarged(e)) => Some(e.dose_id),
        EventPayload::Dose(DoseEvent::DoseCancelled(e)) => Some(e.dose_id),
        _ => None,
    }
}

async fn apply_event(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    position: i64,
    event_index: i32,
) -> Result<(), ProjectionError> {
    let envelope = &event.envelope;
    let patient_id = *envelope.patient_id.as_uuid();
    let had_history = state.patient(patient_id).has_history;
    let description = describe(&event.payload);
    let scope = match description.scope {
        ScopeRule::Fixed(scope) => Some(scope),
        ScopeRule::Unscoped => None,
        ScopeRule::SameAs(corrected) => {
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            scope_of(connection, patient_id, corrected)
                .await
                .map_err(ProjectionError::applying)?
        }
    };
    let course = courses::apply(connection, state, event, position, description.course).await?;
    let event_entry = Entry {
        patient_id,
        position,
        event_index,
        item: EVENT_ITEM.into(),
        event_id: *envelope.event_id.as_uuid(),
        family: envelope.family.as_str(),
        kind: event.payload.event_type().into(),
        scope,
        course_id: course.course_id,
        clinic_id: None, // `give` names it
        actor_role: envelope.actor.role.as_str(),
        actor_id: *envelope.actor.party_id.as_uuid(),
        related_party: description.related_party.map(|party| *party.as_uuid()),
        occurred_at: envelope.occurred_at.to_datetime(),
        recorded_at: envelope.recorded_at.to_datetime(),
        summary: description.summary,
        detail: data_json(event, position)?,
        reach: Reach::Record,
    };
    let derived = derived_items(event, &event_entry);
    let treating_clinics = if derived.iter().any(|item| item.reach == Reach::SafetyAlert) {
        let mut clinics = courses::treating_clinics(state, patient_id);
        if flags_of(&event.payload).contains(Flag::RedFlagSymptomWithin72h) {
            // The clinics whose doses it follows, though their course has ended since.
            let occurred_at = envelope.occurred_at.to_datetime();
            clinics
                .extend(courses::dosing_clinics(connection, state, patient_id, occurred_at).await?);
            clinics.sort();
            clinics.dedup();
        }
        clinics
    } else {
        Vec::new()
    };
    let context = EventContext {
        course,
        treating_clinics,
        grantee: consents::grantee_of(state, event),
        consents: ActiveConsents::at(
            &state.patient(patient_id).consents,
            envelope.recorded_at.to_datetime(),
        ),
    };
    // What the suggestions need of the event's entry, without its detail.
    let base = event_entry.derived_base();
    give(state, &context, event_entry);
    for entry in derived {
        give(state, &context, entry);
    }
    for entry in crate::suggestions::raise(connection, state, event, &base).await? {
        give(state, &context, entry);
    }
    crate::suggestions::follow_sessions(state, event);
    consents::apply(connection, state, event, position, had_history).await?;
    mark_correction(connection, state, event, position).await?;
    // A corrected practice, notch or retirement: its target's suggestion may come or go.
    for entry in crate::suggestions::after_correction(connection, state, event, &base).await? {
        give(state, &context, entry);
    }
    Ok(())
}

/// An event's data as JSON text for its entry's `detail`.
fn data_json(event: &RecordedEvent, position: i64) -> Result<Vec<u8>, ProjectionError> {
    let mut text = Vec::with_capacity(256);
    event
        .payload
        .write_data_json(&mut text)
        .map_err(|_| ProjectionError::Inconsistent {
            position: crate::from_db_position(position),
            reason: "an event's data cannot be written as JSON",
        })?;
    Ok(text)
}

/// Stores an entry and hands it to every clinic and therapist who may see it (the patient and
/// the auditor read the entries themselves).
fn give(state: &mut BatchState, context: &EventContext, mut entry: Entry) {
    let mut readers = timelines::readers(&entry, context);
    // The clinic reading the entry by its course right reads it by the entry's `clinic_id`
    // instead of a row of its own (see `timelines/clinic.rs`); there is at most one.
    if let Some(at) = readers
        .iter()
        .position(|(audience, _, basis)| (*audience, *basis) == (Audience::Clinic, Basis::Course))
    {
        entry.clinic_id = Some(readers.remove(at).1);
    }
    let index = state.add_entry(entry);
    for (audience, viewer_id, basis) in readers {
        state.give(index, audience, viewer_id, basis);
    }
}

/// The scope of an earlier event of the same patient, from its entry.
async fn scope_of(
    connection: &mut PgConnection,
    patient_id: uuid::Uuid,
    event_id: carelog_schemas::EventId,
) -> Result<Option<carelog_schemas::values::Scope>, sqlx::Error> {
    let scope: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT scope FROM entries WHERE patient_id = $2 AND event_id = $1 AND item = 'event'",
    )
    .bind(event_id.as_uuid())
    .bind(patient_id)
    .fetch_optional(&mut *connection)
    .await?;
    Ok(scope.and_then(|(scope,)| scope).and_then(|name| {
        carelog_schemas::values::Scope::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == name)
    }))
}

/// The correction an event is, if it is one.
fn correction_of(event: &RecordedEvent) -> Option<&carelog_schemas::EntryCorrected> {
    match &event.payload {
        EventPayload::Dose(carelog_schemas::dose::DoseEvent::EntryCorrected(c))
        | EventPayload::Consent(carelog_schemas::consent::ConsentEvent::EntryCorrected(c))
        | EventPayload::Target(carelog_schemas::target::TargetEvent::EntryCorrected(c))
        | EventPayload::Observation(
            carelog_schemas::observation::ObservationEvent::EntryCorrected(c),
        ) => Some(c),
        _ => None,
    }
}

/// The event a correction names, if `event` is one.
pub(crate) fn corrected_event(event: &RecordedEvent) -> Option<uuid::Uuid> {
    correction_of(event).map(|correction| *correction.corrects.as_uuid())
}

/// Marks the entries of a corrected event, for every reader (the event stays, as the log keeps
/// it), and what the correction changes in the state tables: a course end entered in error
/// reopens its course, a corrected course start ends its course at the correction (its clinic
/// no longer treats the patient, as the dose service no longer counts the course; a start
/// recorded again with the same course id opens it anew unless an end of it stands,
/// `courses::apply`), a corrected
/// cancellation puts its session back, a corrected session no longer counts (both seen by the
/// window suggestion when a timeline is read), a corrected dose no longer counts as its
/// course's first. The patient's state is loaded again afterwards.
async fn mark_correction(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    position: i64,
) -> Result<(), ProjectionError> {
    let Some(correction) = correction_of(event) else {
        return Ok(());
    };
    let patient_id = *event.envelope.patient_id.as_uuid();
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let corrected = *correction.corrects.as_uuid();
    // A cancellation corrected: its session stands again.
    sqlx::query(
        "UPDATE sessions s SET cancelled = false
         FROM entries c
         WHERE c.patient_id = $1 AND c.event_id = $2 AND c.item = 'event'
           AND c.kind = 'session_cancelled' AND c.correction IS NULL
           AND s.patient_id = c.patient_id
           AND s.session_id = (c.detail->>'session_id')::uuid AND s.cancelled",
    )
    .bind(patient_id)
    .bind(corrected)
    .execute(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    sqlx::query("UPDATE entries SET correction = $3 WHERE patient_id = $2 AND event_id = $1")
        .bind(corrected)
        .bind(patient_id)
        .bind(correction.kind.as_str())
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::applying)?;
    sqlx::query("UPDATE sessions SET corrected = true WHERE patient_id = $2 AND event_id = $1")
        .bind(corrected)
        .bind(patient_id)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::applying)?;
    // A course start corrected (amended or entered in error): the course ends here.
    sqlx::query(
        "UPDATE courses c SET ended_position = $3
         FROM entries t
         WHERE t.patient_id = $1 AND t.event_id = $2 AND t.item = 'event'
           AND t.kind = 'course_started' AND c.patient_id = t.patient_id
           AND c.course_id = t.course_id AND c.started_position = t.position
           AND c.ended_position IS NULL",
    )
    .bind(patient_id)
    .bind(corrected)
    .bind(position)
    .execute(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    if correction.kind == carelog_schemas::CorrectionKind::EnteredInError {
        // A course end entered in error: the course is open again, so its clinic treats the
        // patient (safety exception) and its hints count again.
        sqlx::query(
            "UPDATE courses c SET ended_position = NULL
             FROM entries t
             WHERE t.patient_id = $1 AND t.event_id = $2 AND t.item = 'event'
               AND t.kind = 'course_ended' AND c.patient_id = t.patient_id
               AND c.course_id = t.course_id AND c.ended_position = t.position",
        )
        .bind(patient_id)
        .bind(corrected)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::applying)?;
    }
    sqlx::query(
        "UPDATE courses c SET first_administered_at = (
             SELECT min((t.detail->>'administered_at')::timestamptz) FROM entries t
             WHERE t.patient_id = c.patient_id AND t.course_id = c.course_id
               AND t.item = 'event'
               AND t.kind = 'dose_administered' AND t.correction IS NULL)
         WHERE c.patient_id = $1",
    )
    .bind(patient_id)
    .execute(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    state
        .reload_patient(connection, patient_id)
        .await
        .map_err(ProjectionError::applying)
}
