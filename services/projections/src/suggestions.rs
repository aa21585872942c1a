//! The therapist's suggestions (domain §5, §6), for therapists whose consent covers their
//! scope, and the auditor:
//! - **window open, no session scheduled**: raised by an administered dose when no session
//!   (scheduled, not cancelled, not entered in error) falls in its integration window
//!   (+24 h to +72 h); it lands at the window's opening. A session scheduled into the window
//!   later withdraws it, for every reader; when that session is cancelled or entered in error
//!   and no other live session is left in the window, it comes back (to the therapists whose
//!   consent covers it then). Scope `doses`: it reveals when the dose was given.
//! - **notch suggested**: raised by the practice that makes a target's last three practices
//!   (since its last notch, by the day they were done, ties in log order, as the target
//!   service's notch rule counts them; corrected ones left out) all done and easy; once per
//!   streak, none for a retired target. Scope `targets`.
//!
//! Both are decided from the patient's entries (the whole history) as the log is applied, so a rebuild raises and
//! withdraws exactly what the live projection did.

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::target::TargetEvent;
use carelog_schemas::values::{Ease, PracticeOutcome, Scope};
use carelog_schemas::{EventPayload, Family, RecordedEvent, Role};
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::derived::{rfc3339, INTEGRATION_WINDOW, WINDOW_CLOSES_AFTER, WINDOW_OPENS_AFTER};
use crate::entry::{Entry, Reach};
use crate::state::{BatchState, SessionRecord};
use crate::ProjectionError;

pub(crate) const WINDOW_NO_SESSION: &str = "suggestion:window_no_session";
pub(crate) const NOTCH: &str = "suggestion:notch";

/// The suggestions an event raises. Runs after the event's own entries are given.
pub(crate) async fn raise(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    event_entry: &Entry,
) -> Result<Vec<Entry>, ProjectionError> {
    let patient_id = event_entry.patient_id;
    match &event.payload {
        EventPayload::Dose(DoseEvent::DoseAdministered(dose)) => {
            let given_at = dose.administered_at.to_datetime();
            if session_in_window(state, patient_id, given_at) {
                return Ok(Vec::new());
            }
            Ok(vec![window_suggestion(
                event_entry,
                given_at,
                *dose.dose_id.as_uuid(),
            )])
        }
        EventPayload::Target(TargetEvent::TargetPracticed(practice))
            if practice.outcome == PracticeOutcome::Done && practice.ease == Ease::Easy =>
        {
            let target_id = *practice.target_id.as_uuid();
            // Read from the written history: flush the batch's rows first.
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            let practice_key = (event_entry.position, event_entry.event_index);
            let reached =
                streak_just_reached_three(connection, patient_id, target_id, practice_key)
                    .await
                    .map_err(ProjectionError::applying)?;
            if !reached {
                return Ok(Vec::new());
            }
            Ok(vec![Entry {
                item: NOTCH.to_owned(),
                kind: NOTCH.to_owned(),
                scope: Some(Scope::Targets),
                reach: Reach::TherapistSuggestion,
                summary: "Notch suggested: the last three practices were done and easy".to_owned(),
                detail: json!({ "target_id": target_id }),
                ..event_entry.derived_base()
            }])
        }
        _ => Ok(Vec::new()),
    }
}

/// Whether the practice at `practice` (position, event index) makes the target's last three
/// practices since its last notch done and easy, the one before them (if any) not: one
/// suggestion per streak. "Last" by the day they were done, ties in log order — the order the
/// target service's notch rule uses — so a late-logged practice lands in its place, and one
/// landing before the last three raises nothing.
async fn streak_just_reached_three(
    connection: &mut PgConnection,
    patient_id: Uuid,
    target_id: Uuid,
    practice: (i64, i32),
) -> Result<bool, sqlx::Error> {
    let target = target_id.to_string();
    let rows: Vec<(bool, i64, i32)> = sqlx::query_as(
        "SELECT detail->>'outcome' = 'done' AND detail->>'ease' = 'easy', position, event_index
         FROM entries
         WHERE patient_id = $1 AND item = 'event'
           AND kind = 'target_practiced' AND correction IS NULL AND detail->>'target_id' = $2
           AND position > (SELECT coalesce(max(position), 0) FROM entries
               WHERE patient_id = $1 AND item = 'event'
                 AND kind = 'target_notched_up' AND detail->>'target_id' = $2)
           AND NOT EXISTS (SELECT 1 FROM entries r
               WHERE r.patient_id = $1 AND r.item = 'event'
                 AND r.kind = 'target_retired' AND r.detail->>'target_id' = $2)
         ORDER BY (detail->>'on')::date DESC, position DESC, event_index DESC
         LIMIT 4",
    )
    .bind(patient_id)
    .bind(&target)
    .fetch_all(&mut *connection)
    .await?;
    let among_last_three = rows
        .iter()
        .take(3)
        .any(|(_, position, index)| (*position, *index) == practice);
    let easy: Vec<bool> = rows.into_iter().map(|(easy, _, _)| easy).collect();
    Ok(among_last_three
        && easy.len() >= 3
        && easy[..3].iter().all(|easy| *easy)
        && easy.get(3) != Some(&true))
}

/// Withdraws, for every reader, the "window open, no session scheduled" suggestions whose
/// window holds `at` (a live session is now there). The caller has flushed.
pub(crate) async fn withdraw_windows(
    connection: &mut PgConnection,
    patient_id: Uuid,
    at: OffsetDateTime,
) -> Result<(), ProjectionError> {
    // The entry and its readers' rows go together.
    sqlx::query(
        "WITH withdrawn AS (
             DELETE FROM entries
             WHERE patient_id = $1 AND item = $2
               AND (detail->>'opens_at')::timestamptz <= $3
               AND (detail->>'closes_at')::timestamptz >= $3
             RETURNING patient_id, position, event_index, item)
         DELETE FROM entry_readers r USING withdrawn w
         WHERE r.patient_id = w.patient_id AND r.position = w.position
           AND r.event_index = w.event_index AND r.item = w.item",
    )
    .bind(patient_id)
    .bind(WINDOW_NO_SESSION)
    .bind(at)
    .execute(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    Ok(())
}

/// Whether a live session of the patient falls in the integration window of a dose given at
/// `given_at`.
fn session_in_window(state: &BatchState, patient_id: Uuid, given_at: OffsetDateTime) -> bool {
    let window = (given_at + WINDOW_OPENS_AFTER)..=(given_at + WINDOW_CLOSES_AFTER);
    state
        .patient(patient_id)
        .sessions
        .iter()
        .any(|session| session.live() && window.contains(&session.at))
}

/// "Window open, no session scheduled" for the dose of `base` (its entry, or its integration
/// window's), given at `given_at`.
fn window_suggestion(base: &Entry, given_at: OffsetDateTime, dose_id: Uuid) -> Entry {
    let (opens_at, closes_at) = (
        given_at + WINDOW_OPENS_AFTER,
        given_at + WINDOW_CLOSES_AFTER,
    );
    Entry {
        item: WINDOW_NO_SESSION.to_owned(),
        kind: WINDOW_NO_SESSION.to_owned(),
        scope: Some(Scope::Doses),
        reach: Reach::TherapistSuggestion,
        occurred_at: opens_at,
        summary: format!(
            "Integration window open until {}, no session scheduled",
            rfc3339(closes_at)
        ),
        detail: json!({
            "dose_id": dose_id,
            "opens_at": rfc3339(opens_at),
            "closes_at": rfc3339(closes_at),
        }),
        clinic_id: None,
        ..base.derived_base()
    }
}

/// The "window open, no session scheduled" suggestions to raise again once the session at `at`
/// no longer counts (cancelled, entered in error): for every dose whose window holds `at`,
/// is not corrected, has no suggestion now and no other live session.
pub(crate) async fn restore_windows(
    connection: &mut PgConnection,
    state: &mut BatchState,
    patient_id: Uuid,
    at: OffsetDateTime,
) -> Result<Vec<Entry>, ProjectionError> {
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let windows: Vec<WindowRow> = sqlx::query_as(&format!(
        "SELECT w.position, w.event_index, w.event_id, w.actor_role, w.actor_id,
                w.related_party, w.course_id, w.recorded_at,
                (w.detail->>'administered_at')::timestamptz, (w.detail->>'dose_id')::uuid
         FROM entries w
         WHERE w.patient_id = $1 AND w.item = '{INTEGRATION_WINDOW}' AND w.correction IS NULL
           AND (w.detail->>'opens_at')::timestamptz <= $2
           AND (w.detail->>'closes_at')::timestamptz >= $2
           AND NOT EXISTS (SELECT 1 FROM entries s
               WHERE s.patient_id = w.patient_id AND s.position = w.position
                 AND s.event_index = w.event_index AND s.item = '{WINDOW_NO_SESSION}')
         ORDER BY w.position, w.event_index"
    ))
    .bind(patient_id)
    .bind(at)
    .fetch_all(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    let mut restored = Vec::new();
    for (
        position,
        event_index,
        event_id,
        role,
        actor_id,
        related,
        course,
        recorded_at,
        given_at,
        dose_id,
    ) in windows
    {
        if session_in_window(state, patient_id, given_at) {
            continue;
        }
        // Written from `Role::as_str`, so always one of them; never skip a suggestion quietly.
        let actor_role = Role::ALL
            .iter()
            .map(Role::as_str)
            .find(|name| *name == role)
            .ok_or(ProjectionError::Inconsistent {
                position: crate::from_db_position(position),
                reason: "an integration window's entry names an unknown actor role",
            })?;
        let base = Entry {
            patient_id,
            position,
            event_index,
            item: String::new(),
            event_id,
            family: Family::Dose.as_str(),
            kind: String::new(),
            scope: None,
            course_id: course,
            clinic_id: None,
            actor_role,
            actor_id,
            related_party: related,
            occurred_at: given_at,
            recorded_at,
            summary: String::new(),
            detail: serde_json::Value::Null,
            reach: Reach::TherapistSuggestion,
        };
        restored.push(window_suggestion(&base, given_at, dose_id));
    }
    Ok(restored)
}

type WindowRow = (
    i64,
    i32,
    Uuid,
    String,
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    OffsetDateTime,
    OffsetDateTime,
    Uuid,
);

/// Follows therapy sessions (scheduled, cancelled) and withdraws what a session makes untrue:
/// a session scheduled into an open integration window withdraws its "window open, no session
/// scheduled" suggestion, for every reader. Returns the suggestions a cancellation brings
/// back (`restore_windows`).
pub(crate) async fn follow_sessions(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
) -> Result<Vec<Entry>, ProjectionError> {
    let patient_id = *event.envelope.patient_id.as_uuid();
    match &event.payload {
        EventPayload::Target(TargetEvent::SessionScheduled(session)) => {
            let at = session.at.to_datetime();
            state.put_session(
                patient_id,
                SessionRecord {
                    event_id: *event.envelope.event_id.as_uuid(),
                    session_id: *session.session_id.as_uuid(),
                    at,
                    corrected: false,
                    cancelled: false,
                },
            );
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            withdraw_windows(connection, patient_id, at).await?;
        }
        EventPayload::Target(TargetEvent::SessionCancelled(cancelled)) => {
            let session_id = *cancelled.session_id.as_uuid();
            let cancelled: Vec<SessionRecord> = state
                .patient(patient_id)
                .sessions
                .iter()
                .filter(|session| session.session_id == session_id && !session.cancelled)
                .map(|session| SessionRecord {
                    cancelled: true,
                    ..session.clone()
                })
                .collect();
            let mut restored = Vec::new();
            for session in cancelled {
                let at = session.at;
                state.put_session(patient_id, session);
                restored.extend(restore_windows(connection, state, patient_id, at).await?);
            }
            return Ok(restored);
        }
        _ => {}
    }
    Ok(Vec::new())
}
