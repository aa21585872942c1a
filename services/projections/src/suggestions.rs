//! The "notch suggested" suggestion (domain §5, §6), for therapists whose consent covers its
//! scope (`targets`), and the auditor: raised by the practice that makes a target's last three
//! practices (since its last notch, by the day they were done, ties in log order, as the target
//! service's notch rule counts them; corrected ones left out) all done and easy; once per
//! streak, none for a retired target. A practice not done or not easy that lands among the last
//! three (logged late), or the correction of one of the three, breaks the streak and takes its
//! suggestion back. It is decided from the
//! patient's entries (the whole history) as the log is applied, so a rebuild raises exactly
//! what the live projection did.
//!
//! Also here: following therapy sessions into the `sessions` table, from which a timeline
//! read decides "window open, no session scheduled" (`derived::read_time_items`).

use carelog_schemas::target::TargetEvent;
use carelog_schemas::values::{Ease, PracticeOutcome, Scope};
use carelog_schemas::{EventPayload, RecordedEvent};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::entry::{json_text, Entry, Reach};
use crate::state::{BatchState, SessionRecord};
use crate::ProjectionError;

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
                item: NOTCH.into(),
                kind: NOTCH.into(),
                scope: Some(Scope::Targets),
                reach: Reach::TherapistSuggestion,
                summary: "Notch suggested: the last three practices were done and easy".to_owned(),
                detail: json_text(&json!({ "target_id": target_id })),
                ..event_entry.derived_base()
            }])
        }
        // A practice not done or not easy, perhaps logged late: if it lands among the last
        // three, the streak a suggestion stands for is broken, and the suggestion goes.
        EventPayload::Target(TargetEvent::TargetPracticed(practice)) => {
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            withdraw_if_streak_broken(connection, patient_id, *practice.target_id.as_uuid())
                .await
                .map_err(ProjectionError::applying)?;
            Ok(Vec::new())
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

/// Removes the target's suggestion of its current streak (raised since its last notch), for
/// every reader, unless its last three practices since that notch (by day, ties in log order,
/// corrected ones left out) are still all done and easy: after a practice not done or not easy,
/// and after a practice is corrected (`apply::mark_correction`).
pub(crate) async fn withdraw_if_streak_broken(
    connection: &mut PgConnection,
    patient_id: Uuid,
    target_id: Uuid,
) -> Result<(), sqlx::Error> {
    let target = target_id.to_string();
    let since_notch = "(SELECT coalesce(max(position), 0) FROM entries
         WHERE patient_id = $1 AND item = 'event'
           AND kind = 'target_notched_up' AND detail->>'target_id' = $2)";
    let (holds,): (bool,) = sqlx::query_as(&format!(
        "SELECT count(*) = 3 AND coalesce(bool_and(easy), false) FROM (
             SELECT detail->>'outcome' = 'done' AND detail->>'ease' = 'easy' AS easy
             FROM entries
             WHERE patient_id = $1 AND item = 'event' AND kind = 'target_practiced'
               AND correction IS NULL AND detail->>'target_id' = $2
               AND position > {since_notch}
             ORDER BY (detail->>'on')::date DESC, position DESC, event_index DESC
             LIMIT 3) last_three"
    ))
    .bind(patient_id)
    .bind(&target)
    .fetch_one(&mut *connection)
    .await?;
    if holds {
        return Ok(());
    }
    let suggestion = format!(
        "s.patient_id = $1 AND s.item = '{NOTCH}' AND s.detail->>'target_id' = $2
         AND s.position > {since_notch}"
    );
    sqlx::query(&format!(
        "DELETE FROM entry_readers r USING entries s
         WHERE {suggestion} AND r.patient_id = s.patient_id AND r.position = s.position
           AND r.event_index = s.event_index AND r.item = s.item"
    ))
    .bind(patient_id)
    .bind(&target)
    .execute(&mut *connection)
    .await?;
    sqlx::query(&format!("DELETE FROM entries s WHERE {suggestion}"))
        .bind(patient_id)
        .bind(&target)
        .execute(&mut *connection)
        .await?;
    Ok(())
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
