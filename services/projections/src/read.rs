//! Reading a timeline: one reader's entries of one patient, ordered by `occurred_at` (late
//! events land in their place), with consent checked again at the instant of reading, so an
//! expired consent shows nothing even before the sweep removes its rows.

use carelog_schemas::{PartyId, PatientId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::consents::{consent_covers, READS_ENTRY};
use crate::database::from_db_position;
use crate::derived::{read_time_items, DoseItemReaders};
use crate::entry::{Reach, EVENT_ITEM};
use crate::schedule::{self, CourseSchedule, DoseFacts};
use crate::timelines::reaches_patient;
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
    /// The reader's visible entries of patient `$1` at `$2` as a `FROM … WHERE …` clause over
    /// `entries t` (and `entry_readers r`), with the column `basis`.
    fn visible(&self) -> String {
        match self {
            // The whole history, by role.
            Reader::Auditor => {
                "SELECT t.*, 'role' AS basis FROM entries t WHERE t.patient_id = $1".to_owned()
            }
            // Their own record only: `$3` is the reading patient.
            Reader::Patient(_) => {
                let reaches: Vec<String> = Reach::ALL
                    .into_iter()
                    .filter(|reach| reaches_patient(*reach))
                    .map(|reach| format!("'{}'", reach.as_str()))
                    .collect();
                format!(
                    "SELECT t.*, 'self' AS basis FROM entries t
                     WHERE t.patient_id = $1 AND $3::uuid = $1 AND t.reach IN ({})",
                    reaches.join(", ")
                )
            }
            // A clinic: also its course's entries, by `clinic_id` (no rows of their own).
            Reader::Clinic(_) => format!(
                "{rows}
                 UNION ALL
                 SELECT t.*, 'course' AS basis FROM entries t
                 WHERE t.patient_id = $1 AND t.clinic_id = $3 AND t.reach IN ('{record}', '{alert}')",
                rows = Reader::rows(),
                record = Reach::Record.as_str(),
                alert = Reach::ClinicAlert.as_str(),
            ),
            Reader::Therapist(_) => Reader::rows(),
        }
    }

    /// The reader's rows in `entry_readers`, those resting on a consent only while one covers
    /// them at `$2`.
    fn rows() -> String {
        format!(
            "SELECT t.*, r.basis FROM entry_readers r JOIN entries t ON {READS_ENTRY}
             WHERE r.patient_id = $1 AND r.audience = $4 AND r.viewer_id = $3
               AND (r.basis NOT IN ('consent', 'own') OR {covers})",
            covers = consent_covers("$2"),
        )
    }

    /// Who of them reads a dose's items beyond its integration window (`derived.rs`).
    fn dose_items(&self) -> DoseItemReaders {
        DoseItemReaders {
            safety_reminder: matches!(self, Reader::Patient(_) | Reader::Auditor),
            window_suggestion: matches!(self, Reader::Therapist(_) | Reader::Auditor),
        }
    }

    /// (`$3`, `$4`) of `visible`: the reading party and its kind.
    fn party(&self) -> (Uuid, &'static str) {
        match self {
            Reader::Patient(patient) => (*patient.as_uuid(), "patient"),
            Reader::Clinic(clinic) => (*clinic.as_uuid(), "clinic"),
            Reader::Therapist(therapist) => (*therapist.as_uuid(), "therapist"),
            Reader::Auditor => (Uuid::nil(), "auditor"),
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

impl TimelineEntry {
    /// The instant the entry's detail holds in `field` (RFC 3339), if it holds one.
    pub(crate) fn detail_instant(&self, field: &str) -> Option<OffsetDateTime> {
        self.detail
            .get(field)
            .and_then(serde_json::Value::as_str)
            .and_then(|text| carelog_schemas::Timestamp::parse_rfc3339(text).ok())
            .map(|at| at.to_datetime())
    }
}

/// A row of the timeline's statement: an entry, whether a live session falls in its
/// integration window (meaningful for administered doses only), and for the doses' entries
/// their course's path and first dose (the next dose due).
#[derive(sqlx::FromRow)]
struct Row {
    position: i64,
    event_index: i32,
    item: String,
    event_id: Uuid,
    family: String,
    kind: String,
    scope: Option<String>,
    basis: String,
    occurred_at: OffsetDateTime,
    recorded_at: OffsetDateTime,
    summary: String,
    detail: String,
    correction: Option<String>,
    window_has_session: bool,
    course_id: Option<Uuid>,
    course_path: Option<String>,
    course_first_dose: Option<OffsetDateTime>,
}

/// The reader's timeline of one patient as it stands at `now`.
pub async fn timeline(
    pool: &PgPool,
    reader: Reader,
    patient_id: PatientId,
    now: OffsetDateTime,
) -> Result<Vec<TimelineEntry>, ProjectionError> {
    let (party, kind) = reader.party();
    // The visible entries (but stored rows of the items made here, which a projector of an
    // earlier release may still write during an upgrade); for each administered dose whether a
    // live session falls in its integration window, and for each dose its course's schedule
    // (for the items made from them below).
    let statement = format!(
        "WITH visible AS ({visible})
         SELECT v.position, v.event_index, v.item, v.event_id, v.family, v.kind, v.scope,
                v.basis, v.occurred_at, v.recorded_at, v.summary, v.detail::text AS detail,
                v.correction,
                v.item = 'event' AND v.kind = 'dose_administered' AND EXISTS (
                    SELECT 1 FROM sessions s
                    WHERE s.patient_id = $1 AND NOT s.cancelled AND NOT s.corrected
                      AND s.at >= (v.detail->>'administered_at')::timestamptz + interval '{opens}'
                      AND s.at <= (v.detail->>'administered_at')::timestamptz + interval '{closes}')
                AS window_has_session,
                v.course_id, c.path AS course_path, c.first_administered_at AS course_first_dose
         FROM visible v
         LEFT JOIN courses c ON v.item = 'event'
             AND v.kind IN ('dose_administered', 'dose_scheduled')
             AND c.patient_id = $1 AND c.course_id = v.course_id
         WHERE v.item NOT IN ({made_here})",
        visible = reader.visible(),
        made_here = crate::derived::READ_TIME_ITEMS
            .iter()
            .chain(&[schedule::NEXT_DOSE_DUE])
            .map(|item| format!("'{item}'"))
            .collect::<Vec<_>>()
            .join(", "),
        opens = interval(crate::derived::WINDOW_OPENS_AFTER),
        closes = interval(crate::derived::WINDOW_CLOSES_AFTER),
    );
    // The entries and the facts that decide the missed doses, as of one snapshot: a batch
    // committed in between must not judge a hint against a history the timeline does not show.
    let mut snapshot = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(ProjectionError::database("read a timeline"))?;
    let rows: Vec<Row> = sqlx::query_as(&statement)
        .bind(patient_id.as_uuid())
        .bind(now)
        .bind(party)
        .bind(kind)
        .fetch_all(&mut *snapshot)
        .await
        .map_err(ProjectionError::database("read a timeline"))?;
    let mut timeline = Vec::with_capacity(rows.len() * 2);
    let mut due = Vec::new();
    for row in rows {
        let entry = TimelineEntry {
            position: from_db_position(row.position),
            event_index: row.event_index,
            item: row.item,
            event_id: row.event_id,
            family: row.family,
            kind: row.kind,
            scope: row.scope,
            basis: row.basis,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
            summary: row.summary,
            detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
            correction: row.correction,
        };
        timeline.extend(read_time_items(
            &entry,
            reader.dose_items(),
            row.window_has_session,
        ));
        if let (Some(course_id), Some(path)) = (row.course_id, row.course_path.as_deref()) {
            let course = CourseSchedule {
                course_id,
                path,
                first_administered_at: row.course_first_dose,
            };
            due.extend(schedule::next_dose_due(&entry, course));
        }
        timeline.push(entry);
    }
    if due.iter().any(|hint| hint.overdue(now)) {
        let facts = dose_facts(&mut snapshot, patient_id).await?;
        timeline.extend(due.iter().filter_map(|hint| hint.missed(now, &facts)));
    }
    snapshot
        .commit()
        .await
        .map_err(ProjectionError::database("read a timeline"))?;
    timeline.extend(due.into_iter().map(|hint| hint.hint));
    // By `occurred_at`, then log order; an event before the items derived from it, those by
    // name (byte order, as the database's C collation orders them).
    timeline.sort_by(|a, b| {
        (a.occurred_at, a.position, a.event_index)
            .cmp(&(b.occurred_at, b.position, b.event_index))
            .then_with(|| (a.item != EVENT_ITEM).cmp(&(b.item != EVENT_ITEM)))
            .then_with(|| a.item.cmp(&b.item))
    });
    Ok(timeline)
}

/// What of the patient's whole history decides whether a dose was missed (`schedule.rs`): the
/// uncorrected administered doses, cancellations and course ends, whoever reads the hint.
async fn dose_facts(
    connection: &mut sqlx::PgConnection,
    patient_id: PatientId,
) -> Result<DoseFacts, ProjectionError> {
    #[derive(sqlx::FromRow)]
    struct Fact {
        kind: String,
        course_id: Uuid,
        administered_at: Option<OffsetDateTime>,
        cancelled_dose: Option<Uuid>,
        occurred_at: OffsetDateTime,
        corrected: bool,
    }
    // Course starts corrected too: a course whose every start is corrected was withdrawn.
    let rows: Vec<Fact> = sqlx::query_as(
        "SELECT kind, course_id, (detail->>'administered_at')::timestamptz AS administered_at,
                CASE WHEN kind = 'dose_cancelled' THEN (detail->>'dose_id')::uuid END
                    AS cancelled_dose,
                occurred_at, correction IS NOT NULL AS corrected
         FROM entries
         WHERE patient_id = $1 AND item = 'event'
           AND (correction IS NULL OR kind = 'course_started')
           AND kind = ANY($2) AND course_id IS NOT NULL",
    )
    .bind(patient_id.as_uuid())
    .bind(&schedule::DOSE_FACT_KINDS[..])
    .fetch_all(connection)
    .await
    .map_err(ProjectionError::database("read a patient's doses"))?;
    let mut facts = DoseFacts::default();
    let mut standing = Vec::new();
    for fact in rows {
        let course = fact.course_id;
        match (
            fact.kind.as_str(),
            fact.administered_at,
            fact.cancelled_dose,
        ) {
            ("dose_administered", Some(at), _) => facts.given.push((course, at)),
            ("dose_cancelled", _, Some(dose)) => facts.cancelled.push((course, dose)),
            ("course_ended", _, _) => facts.ended.push((course, fact.occurred_at)),
            ("course_started", _, _) if fact.corrected => facts.withdrawn.push(course),
            ("course_started", _, _) => standing.push(course),
            _ => {}
        }
    }
    facts.withdrawn.retain(|course| !standing.contains(course));
    Ok(facts)
}

/// A span as a PostgreSQL interval literal.
fn interval(span: time::Duration) -> String {
    format!("{} seconds", span.whole_seconds())
}
