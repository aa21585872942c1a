//! Applying one commit of the log to every read model, inside the caller's transaction: the
//! course registry, the four role timelines, derived items, consents and corrections, always in
//! the same order so a replay writes the same rows.

use carelog_eventlog::StoredCommit;
use carelog_schemas::{EventPayload, RecordedEvent};
use sqlx::PgConnection;

use crate::consents::{self, ActiveConsents};
use crate::courses;
use crate::derived::derived_items;
use crate::describe::{describe, ScopeRule};
use crate::entry::{Entry, Reach, EVENT_ITEM};
use crate::timelines::{self, EventContext};
use crate::ProjectionError;

/// Applies every event of one commit.
pub(crate) async fn apply_commit(
    connection: &mut PgConnection,
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
        apply_event(connection, event, position, event_index)
            .await
            .map_err(ProjectionError::database(
                "apply an event to the read models",
            ))?;
    }
    Ok(())
}

async fn apply_event(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    position: i64,
    event_index: i32,
) -> Result<(), sqlx::Error> {
    let envelope = &event.envelope;
    let patient_id = *envelope.patient_id.as_uuid();
    let description = describe(&event.payload);
    let scope = match description.scope {
        ScopeRule::Fixed(scope) => Some(scope),
        ScopeRule::Unscoped => None,
        ScopeRule::SameAs(corrected) => scope_of(connection, patient_id, corrected).await?,
    };
    let course = courses::apply(connection, event, position, description.course).await?;
    let event_entry = Entry {
        patient_id,
        position,
        event_index,
        item: EVENT_ITEM.to_owned(),
        event_id: *envelope.event_id.as_uuid(),
        family: envelope.family.as_str(),
        kind: envelope.event_type.clone(),
        scope,
        course_id: course.course_id,
        actor_role: envelope.actor.role.as_str(),
        actor_id: *envelope.actor.party_id.as_uuid(),
        related_party: description.related_party.map(|party| *party.as_uuid()),
        occurred_at: envelope.occurred_at.to_datetime(),
        recorded_at: envelope.recorded_at.to_datetime(),
        summary: description.summary,
        detail: event.payload.data_to_json(),
        reach: Reach::Record,
    };
    let derived = derived_items(event, &event_entry);
    let treating_clinics = if derived.iter().any(|item| item.reach == Reach::SafetyAlert) {
        courses::treating_clinics(connection, patient_id).await?
    } else {
        Vec::new()
    };
    let context = EventContext {
        course,
        treating_clinics,
        grantee: consents::grantee_of(connection, event).await?,
        consents: ActiveConsents::load(connection, patient_id, envelope.recorded_at.to_datetime())
            .await?,
    };
    for entry in std::iter::once(&event_entry).chain(derived.iter()) {
        timelines::auditor(connection, entry).await?;
        timelines::patient(connection, entry).await?;
        timelines::clinic(connection, entry, &context).await?;
        timelines::therapist(connection, entry, &context).await?;
    }
    // Derived from the history including this event's own entries.
    let later = crate::schedule::next_dose_due(connection, event, &event_entry)
        .await?
        .into_iter()
        .chain(crate::suggestions::raise(connection, event, &event_entry).await?);
    for entry in later {
        timelines::auditor(connection, &entry).await?;
        timelines::patient(connection, &entry).await?;
        timelines::clinic(connection, &entry, &context).await?;
        timelines::therapist(connection, &entry, &context).await?;
    }
    crate::suggestions::withdraw(connection, event).await?;
    consents::apply(connection, event, position).await?;
    mark_correction(connection, event).await?;
    Ok(())
}

/// The scope of an earlier event of the same patient, from the auditor's history.
async fn scope_of(
    connection: &mut PgConnection,
    patient_id: uuid::Uuid,
    event_id: carelog_schemas::EventId,
) -> Result<Option<carelog_schemas::values::Scope>, sqlx::Error> {
    let scope: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT scope FROM timeline_entries
         WHERE audience = 'auditor' AND event_id = $1 AND patient_id = $2 AND item = 'event'",
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

/// Marks every reader's entries of a corrected event (the event stays, as the log keeps it).
async fn mark_correction(
    connection: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), sqlx::Error> {
    let correction = match &event.payload {
        EventPayload::Dose(carelog_schemas::dose::DoseEvent::EntryCorrected(c))
        | EventPayload::Consent(carelog_schemas::consent::ConsentEvent::EntryCorrected(c))
        | EventPayload::Target(carelog_schemas::target::TargetEvent::EntryCorrected(c))
        | EventPayload::Observation(
            carelog_schemas::observation::ObservationEvent::EntryCorrected(c),
        ) => c,
        _ => return Ok(()),
    };
    sqlx::query(
        "UPDATE timeline_entries SET correction = $3 WHERE event_id = $1 AND patient_id = $2",
    )
    .bind(correction.corrects.as_uuid())
    .bind(event.envelope.patient_id.as_uuid())
    .bind(correction.kind.as_str())
    .execute(&mut *connection)
    .await?;
    Ok(())
}
