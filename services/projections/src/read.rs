//! Reading a timeline: one reader's entries of one patient, ordered by `occurred_at` (late
//! events land in their place), with consent checked again at the instant of reading, so an
//! expired consent shows nothing even before the sweep removes its rows.

use carelog_schemas::{PartyId, PatientId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::consents::consent_covers;
use crate::database::from_db_position;
use crate::entry::AUDITOR_VIEWER;
use crate::ProjectionError;

/// Who is reading (domain §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Patient(PatientId),
    Clinic(PartyId),
    Therapist(PartyId),
    Auditor,
}

impl Reader {
    fn audience_and_viewer(&self) -> (&'static str, Uuid) {
        match self {
            Reader::Patient(patient) => ("patient", *patient.as_uuid()),
            Reader::Clinic(clinic) => ("clinic", *clinic.as_uuid()),
            Reader::Therapist(therapist) => ("therapist", *therapist.as_uuid()),
            Reader::Auditor => ("auditor", AUDITOR_VIEWER),
        }
    }
}

/// One entry of a timeline as its reader may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Log position of the commit holding the event.
    pub position: u64,
    /// The event's index within its commit.
    pub event_index: i32,
    /// `event` for the recorded event, else the derived item (`integration_window`, …).
    pub item: String,
    pub event_id: Uuid,
    pub family: String,
    /// The event type, or the derived item's name.
    pub kind: String,
    /// The consent scope governing the entry, if any.
    pub scope: Option<String>,
    /// Why the reader sees it: self, role, course, consent, own, grant, safety_exception.
    pub basis: String,
    pub occurred_at: OffsetDateTime,
    pub recorded_at: OffsetDateTime,
    pub summary: String,
    pub detail: serde_json::Value,
    /// `amended` or `entered_in_error` once a later event corrected it.
    pub correction: Option<String>,
}

type Row = (
    i64,
    i32,
    String,
    Uuid,
    String,
    String,
    Option<String>,
    String,
    OffsetDateTime,
    OffsetDateTime,
    String,
    String,
    Option<String>,
);

/// The reader's timeline of one patient as it stands at `now`.
pub async fn timeline(
    pool: &PgPool,
    reader: Reader,
    patient_id: PatientId,
    now: OffsetDateTime,
) -> Result<Vec<TimelineEntry>, ProjectionError> {
    let (audience, viewer_id) = reader.audience_and_viewer();
    // The stored rows, and the missed-dose hints their next-dose-due rows turn into at `now`.
    let statement = format!(
        "SELECT * FROM (
             SELECT position, event_index, item, event_id, family, kind, scope, basis,
                    occurred_at, recorded_at, summary, detail::text, correction
             FROM timeline_entries t
             WHERE t.audience = $1 AND t.viewer_id = $2 AND t.patient_id = $3
               AND (t.basis NOT IN ('consent', 'own') OR {covers})
             UNION ALL
             SELECT position, event_index, '{missed}', event_id, family, '{missed}', scope, basis,
                    (detail->>'due_by')::timestamptz, recorded_at,
                    'Missed dose: it was due by ' || (detail->>'due_by'), detail::text, NULL
             FROM timeline_entries t
             WHERE t.audience = $1 AND t.viewer_id = $2 AND t.patient_id = $3
               AND (t.basis NOT IN ('consent', 'own') OR {covers}) AND {is_missed}
         ) timeline
         ORDER BY occurred_at, position, event_index, item <> 'event', item",
        covers = consent_covers("$4"),
        missed = crate::schedule::MISSED_DOSE,
        is_missed = crate::schedule::missed("t", "$4"),
    );
    let rows: Vec<Row> = sqlx::query_as(&statement)
        .bind(audience)
        .bind(viewer_id)
        .bind(patient_id.as_uuid())
        .bind(now)
        .fetch_all(pool)
        .await
        .map_err(ProjectionError::database("read a timeline"))?;
    Ok(rows
        .into_iter()
        .map(
            |(
                position,
                event_index,
                item,
                event_id,
                family,
                kind,
                scope,
                basis,
                occurred_at,
                recorded_at,
                summary,
                detail,
                correction,
            )| TimelineEntry {
                position: from_db_position(position),
                event_index,
                item,
                event_id,
                family,
                kind,
                scope,
                basis,
                occurred_at,
                recorded_at,
                summary,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                correction,
            },
        )
        .collect())
}
