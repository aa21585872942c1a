//! The "notch suggested" suggestion (domain §5, §6), for therapists whose consent covers its
//! scope (`targets`), and the auditor: at most one per target since its last notch, standing
//! exactly while the target's last three practices since that notch (by the day they were
//! done, ties in log order, as the target service's notch rule counts them; corrected ones left
//! out) are all done and easy and the target is not retired. Raised by the event that makes it
//! hold (a practice, or a correction), taken back by one that makes it fail (a practice not
//! done or not easy among the last three, a correction, a retirement). Decided from the
//! patient's entries (the whole history) as the log is applied, so a rebuild raises exactly
//! what the live projection did.
//!
//! Also here: following therapy sessions into the `sessions` table, from which a timeline
//! read decides "window open, no session scheduled" (`derived::read_time_items`).

use carelog_schemas::target::TargetEvent;
use carelog_schemas::values::Scope;
use carelog_schemas::{EventPayload, RecordedEvent};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::entry::{json_text, Entry, Reach};
use crate::state::{BatchState, SessionRecord};
use crate::ProjectionError;

pub(crate) const NOTCH: &str = "suggestion:notch";

/// The suggestions an event raises. Runs after the event's own entries are given. A practice
/// (any outcome, perhaps logged late) or a retirement settles its target's suggestion
/// (`settle_notch`); corrections are settled after they are marked (`after_correction`).
pub(crate) async fn raise(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    event_entry: &Entry,
) -> Result<Vec<Entry>, ProjectionError> {
    let target_id = match &event.payload {
        EventPayload::Target(TargetEvent::TargetPracticed(practice)) => practice.target_id,
        EventPayload::Target(TargetEvent::TargetRetired(retired)) => retired.target_id,
        _ => return Ok(Vec::new()),
    };
    settle_notch(connection, state, *target_id.as_uuid(), event_entry).await
}

/// After a correction is marked (`apply::mark_correction`): a corrected setting, practice,
/// notch or retirement settles its target's suggestion, which may come back or go.
pub(crate) async fn after_correction(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    event_entry: &Entry,
) -> Result<Vec<Entry>, ProjectionError> {
    let Some(corrected) = crate::apply::corrected_event(event) else {
        return Ok(Vec::new());
    };
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let target: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT detail->>'target_id' FROM entries
         WHERE patient_id = $1 AND event_id = $2 AND item = 'event'
           AND kind IN ('target_set', 'target_practiced', 'target_notched_up',
                        'target_retired')",
    )
    .bind(event_entry.patient_id)
    .bind(corrected)
    .fetch_optional(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    match target
        .and_then(|(target,)| target)
        .and_then(|target| target.parse::<Uuid>().ok())
    {
        Some(target_id) => settle_notch(connection, state, target_id, event_entry).await,
        None => Ok(Vec::new()),
    }
}

/// Makes the target's "notch suggested" agree with its history now: there is one since its
/// last notch or setting (not corrected) exactly when its last three practices since then — by
/// the day they were done, ties in log order, as the target service's notch rule counts them,
/// corrected ones left out — are all done and easy, and the target is set and not retired. A missing
/// one is raised at `event_entry` (the event that completed the streak); one that no longer
/// holds is taken back, for every reader. Reads the written history: flushes first.
async fn settle_notch(
    connection: &mut PgConnection,
    state: &mut BatchState,
    target_id: Uuid,
    event_entry: &Entry,
) -> Result<Vec<Entry>, ProjectionError> {
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::applying)?;
    let patient_id = event_entry.patient_id;
    let target = target_id.to_string();
    // The streak counts from the target's last notch, or its setting (set again under the
    // same id after the first was corrected, it starts afresh, as the target service counts).
    let since_notch = "(SELECT coalesce(max(position), 0) FROM entries
         WHERE patient_id = $1 AND item = 'event'
           AND kind IN ('target_notched_up', 'target_set')
           AND correction IS NULL AND detail->>'target_id' = $2)";
    let (holds, suggested, marked): (bool, bool, bool) = sqlx::query_as(&format!(
        "WITH since AS (SELECT {since_notch} AS position),
         suggestions AS (
             SELECT s.correction IS NULL AS standing FROM entries s, since
             WHERE s.patient_id = $1 AND s.item = '{NOTCH}' AND s.detail->>'target_id' = $2
               AND s.position > since.position)
         SELECT
             (SELECT count(*) = 3 AND coalesce(bool_and(easy), false) FROM (
                 SELECT detail->>'outcome' = 'done' AND detail->>'ease' = 'easy' AS easy
                 FROM entries t, since
                 WHERE t.patient_id = $1 AND t.item = 'event' AND t.kind = 'target_practiced'
                   AND t.correction IS NULL AND t.detail->>'target_id' = $2
                   AND t.position > since.position
                 ORDER BY (t.detail->>'on')::date DESC, t.position DESC, t.event_index DESC
                 LIMIT 3) last_three)
             AND NOT EXISTS (SELECT 1 FROM entries
                 WHERE patient_id = $1 AND item = 'event' AND kind = 'target_retired'
                   AND correction IS NULL AND detail->>'target_id' = $2)
             AND EXISTS (SELECT 1 FROM entries
                 WHERE patient_id = $1 AND item = 'event' AND kind = 'target_set'
                   AND correction IS NULL AND detail->>'target_id' = $2),
             EXISTS (SELECT 1 FROM suggestions WHERE standing),
             EXISTS (SELECT 1 FROM suggestions WHERE NOT standing)"
    ))
    .bind(patient_id)
    .bind(&target)
    .fetch_one(&mut *connection)
    .await
    .map_err(ProjectionError::applying)?;
    // One marked corrected with the event that raised it goes in any case (a streak that
    // still holds gets a fresh one, below).
    if !holds && suggested || marked {
        let suggestion = format!(
            "s.patient_id = $1 AND s.item = '{NOTCH}' AND s.detail->>'target_id' = $2
             AND s.position > {since_notch} AND (s.correction IS NOT NULL OR NOT $3)"
        );
        // The entry and its readers' rows, in one statement.
        sqlx::query(&format!(
            "WITH gone AS (
                 DELETE FROM entries s WHERE {suggestion}
                 RETURNING s.patient_id, s.position, s.event_index, s.item)
             DELETE FROM entry_readers r USING gone g
             WHERE r.patient_id = g.patient_id AND r.position = g.position
               AND r.event_index = g.event_index AND r.item = g.item"
        ))
        .bind(patient_id)
        .bind(&target)
        .bind(holds)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::applying)?;
    }
    if holds && !suggested {
        return Ok(vec![Entry {
            item: NOTCH.into(),
            kind: NOTCH.into(),
            scope: Some(Scope::Targets),
            reach: Reach::TherapistSuggestion,
            summary: "Notch suggested: the last three practices were done and easy".to_owned(),
            detail: json_text(&json!({ "target_id": target_id })),
            ..event_entry.derived_base()
        }]);
    }
    Ok(Vec::new())
}

/// Follows therapy sessions (scheduled, cancelled) into the batch's state and the `sessions`
/// table, where a timeline read looks for a live session in a dose's integration window.
pub(crate) fn follow_sessions(state: &mut BatchState, event: &RecordedEvent) {
    let patient_id = *event.envelope.patient_id.as_uuid();
    match &event.payload {
        EventPayload::Target(TargetEvent::SessionScheduled(session)) => {
            state.put_session(
                patient_id,
                SessionRecord {
                    event_id: *event.envelope.event_id.as_uuid(),
                    session_id: *session.session_id.as_uuid(),
                    at: session.at.to_datetime(),
                    corrected: false,
                    cancelled: false,
                },
            );
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
            for session in cancelled {
                state.put_session(patient_id, session);
            }
        }
        _ => {}
    }
}
