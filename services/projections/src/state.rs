//! What one batch decides from and what it writes, so that applying an ordinary event costs no
//! round trip to PostgreSQL:
//! - **Loaded once per batch** for every patient the batch touches, with one query per table
//!   (`patient_id = ANY(…)`): the patient's consents, courses and therapy sessions, and the
//!   doses the batch's events name. Applying an event reads and updates this state in memory,
//!   so later events of the same batch see what earlier ones did.
//! - **Written in one statement per table** (`flush`): the entries and their readers' rows by
//!   binary `COPY`, the courses, doses, consents and sessions the batch produced as multi-row
//!   `INSERT … SELECT FROM unnest(…)`.
//!
//! The rare events whose effect is a statement over rows already written (a grant's backfill, a
//! revocation's deletes, a correction, the notch streak)
//! flush first and then run their statement, so it sees every earlier event of the batch; a
//! correction then loads its patient's state again from the tables it changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::copy::BinaryCopy;
use crate::entry::{Audience, Basis, Entry};

/// One consent of a patient, active or not.
#[derive(Debug, Clone)]
pub(crate) struct ConsentRecord {
    pub(crate) consent_id: Uuid,
    pub(crate) grantee_id: Uuid,
    pub(crate) audience: Audience,
    /// Shared: every event's `ActiveConsents` holds them.
    pub(crate) scopes: Arc<BTreeSet<String>>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) revoked: bool,
}

impl ConsentRecord {
    /// Not revoked and not expired at `at`.
    pub(crate) fn active_at(&self, at: OffsetDateTime) -> bool {
        !self.revoked && self.expires_at.is_none_or(|expires_at| expires_at > at)
    }
}

/// One course of a patient.
#[derive(Debug, Clone)]
pub(crate) struct CourseRecord {
    pub(crate) course_id: Uuid,
    pub(crate) clinic_id: Uuid,
    pub(crate) path: String,
    pub(crate) started_position: i64,
    pub(crate) ended_position: Option<i64>,
    /// Its first administered dose, corrected ones left out.
    pub(crate) first_administered_at: Option<OffsetDateTime>,
}

/// One scheduling of a therapy session.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) event_id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) at: OffsetDateTime,
    pub(crate) corrected: bool,
    pub(crate) cancelled: bool,
}

/// What the batch knows of one patient.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatientState {
    /// In the order they were granted.
    pub(crate) consents: Vec<ConsentRecord>,
    /// In the order they started.
    pub(crate) courses: Vec<CourseRecord>,
    pub(crate) sessions: Vec<SessionRecord>,
    /// Whether the patient has any entry yet (written, or pending in this batch). Loaded only
    /// for the patients the batch grants a consent to, the only ones it is read for (a grant
    /// to a patient without history has nothing to backfill).
    pub(crate) has_history: bool,
}

/// A consent to insert.
#[derive(Debug, Clone)]
pub(crate) struct NewConsent {
    pub(crate) consent_id: Uuid,
    pub(crate) patient_id: Uuid,
    pub(crate) grantee_id: Uuid,
    pub(crate) grantee_role: &'static str,
    pub(crate) scopes: Vec<String>,
    pub(crate) purpose: String,
    pub(crate) granted_at: OffsetDateTime,
    pub(crate) granted_position: i64,
    pub(crate) expires_at: Option<OffsetDateTime>,
}

/// Writes gathered since the last flush.
#[derive(Debug, Default)]
struct Pending {
    entries: Vec<Entry>,
    /// (index into `entries`, reader kind, reader, basis).
    rows: Vec<(usize, Audience, Uuid, Basis)>,
    /// Keyed (patient, course): the latest state of each course changed.
    courses: BTreeMap<(Uuid, Uuid), CourseRecord>,
    /// Keyed (patient, dose): its course.
    doses: BTreeMap<(Uuid, Uuid), Uuid>,
    consents: Vec<NewConsent>,
    /// Keyed (patient, scheduling event).
    sessions: BTreeMap<(Uuid, Uuid), SessionRecord>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.courses.is_empty()
            && self.doses.is_empty()
            && self.consents.is_empty()
            && self.sessions.is_empty()
    }
}

/// What a batch must load before it is applied.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    pub(crate) patients: BTreeSet<Uuid>,
    /// (patient, dose) pairs the batch's events name.
    pub(crate) doses: BTreeSet<(Uuid, Uuid)>,
    /// Patients the batch grants a consent to.
    pub(crate) granting: BTreeSet<Uuid>,
}

/// What a rebuild worker keeps of its patients between batches, so that a batch loads only the
/// patients and doses it has not seen yet. Sound only where the holder is the only writer of
/// those patients' rows (a rebuild worker in its own schema): the state a batch leaves in
/// memory is what the tables hold after it commits, because every change a batch makes to the
/// state tables is made to its in-memory state too (a correction reloads its patient). A batch
/// that fails, or is applied again commit by commit, empties the cache. Bounded: past
/// `MAX_CACHED_PATIENTS` patients or `MAX_CACHED_DOSES` doses it starts over.
#[derive(Debug, Default)]
pub(crate) struct StateCache {
    patients: HashMap<Uuid, PatientState>,
    doses: HashMap<(Uuid, Uuid), Uuid>,
}

const MAX_CACHED_PATIENTS: usize = 20_000;
const MAX_CACHED_DOSES: usize = 200_000;

impl StateCache {
    pub(crate) fn clear(&mut self) {
        self.patients.clear();
        self.doses.clear();
    }
}

/// The state of one batch: see the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct BatchState {
    patients: HashMap<Uuid, PatientState>,
    /// (patient, dose) → course, for the doses the batch names or schedules.
    doses: HashMap<(Uuid, Uuid), Uuid>,
    pending: Pending,
}

impl BatchState {
    /// Loads what `wanted` names.
    pub(crate) async fn load(
        connection: &mut PgConnection,
        wanted: &Wanted,
    ) -> Result<BatchState, sqlx::Error> {
        BatchState::load_from(connection, wanted, &mut StateCache::default()).await
    }

    /// Loads what `wanted` names and `cache` does not hold; takes the rest from `cache`.
    pub(crate) async fn load_from(
        connection: &mut PgConnection,
        wanted: &Wanted,
        cache: &mut StateCache,
    ) -> Result<BatchState, sqlx::Error> {
        let mut state = BatchState::default();
        let mut missing = BTreeSet::new();
        for patient_id in &wanted.patients {
            match cache.patients.remove(patient_id) {
                Some(known) => {
                    state.patients.insert(*patient_id, known);
                }
                None => {
                    missing.insert(*patient_id);
                }
            }
        }
        let history_of = wanted.granting.intersection(&missing).copied().collect();
        state
            .load_patients(connection, &missing, &history_of)
            .await?;
        let mut doses = Vec::new();
        for key in &wanted.doses {
            match cache.doses.get(key) {
                Some(course_id) => {
                    state.doses.insert(*key, *course_id);
                }
                None => doses.push(*key),
            }
        }
        if !doses.is_empty() {
            let (dose_patients, dose_ids): (Vec<Uuid>, Vec<Uuid>) = doses.into_iter().unzip();
            let rows: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
                "SELECT d.patient_id, d.dose_id, d.course_id
                 FROM unnest($1::uuid[], $2::uuid[]) AS wanted(patient_id, dose_id)
                 JOIN doses d USING (patient_id, dose_id)",
            )
            .bind(&dose_patients)
            .bind(&dose_ids)
            .fetch_all(&mut *connection)
            .await?;
            for (patient_id, dose_id, course_id) in rows {
                state.doses.insert((patient_id, dose_id), course_id);
            }
        }
        Ok(state)
    }

    /// Loads the consents, courses and sessions of `patients`, and whether each of `history_of`
    /// has any entry yet.
    async fn load_patients(
        &mut self,
        connection: &mut PgConnection,
        patients: &BTreeSet<Uuid>,
        history_of: &BTreeSet<Uuid>,
    ) -> Result<(), sqlx::Error> {
        if patients.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = patients.iter().copied().collect();
        for patient_id in &ids {
            self.patients.insert(*patient_id, PatientState::default());
        }
        let consents: Vec<ConsentRow> = sqlx::query_as(
            "SELECT patient_id, consent_id, grantee_id, grantee_role, scopes, expires_at,
                    revoked_at IS NOT NULL
             FROM consents WHERE patient_id = ANY($1)
             ORDER BY patient_id, granted_position",
        )
        .bind(&ids)
        .fetch_all(&mut *connection)
        .await?;
        for (patient_id, consent_id, grantee_id, role, scopes, expires_at, revoked) in consents {
            let Some(audience) = audience_of_role(&role) else {
                continue;
            };
            self.patient_mut(patient_id).consents.push(ConsentRecord {
                consent_id,
                grantee_id,
                audience,
                scopes: Arc::new(scopes.into_iter().collect()),
                expires_at,
                revoked,
            });
        }
        let courses: Vec<CourseRow> = sqlx::query_as(
            "SELECT patient_id, course_id, clinic_id, path, started_position, ended_position,
                    first_administered_at
             FROM courses WHERE patient_id = ANY($1)
             ORDER BY patient_id, started_position",
        )
        .bind(&ids)
        .fetch_all(&mut *connection)
        .await?;
        for (patient_id, course_id, clinic_id, path, started, ended, first) in courses {
            self.patient_mut(patient_id).courses.push(CourseRecord {
                course_id,
                clinic_id,
                path,
                started_position: started,
                ended_position: ended,
                first_administered_at: first,
            });
        }
        let sessions: Vec<SessionRow> = sqlx::query_as(
            "SELECT patient_id, event_id, session_id, at, corrected, cancelled
             FROM sessions WHERE patient_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *connection)
        .await?;
        for (patient_id, event_id, session_id, at, corrected, cancelled) in sessions {
            self.patient_mut(patient_id).sessions.push(SessionRecord {
                event_id,
                session_id,
                at,
                corrected,
                cancelled,
            });
        }
        if history_of.is_empty() {
            return Ok(());
        }
        let history_ids: Vec<Uuid> = history_of.iter().copied().collect();
        // One index probe per patient (the timeline's key leads with the patient).
        let with_history: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT p FROM unnest($1::uuid[]) AS p
             WHERE EXISTS (SELECT 1 FROM entries t WHERE t.patient_id = p)",
        )
        .bind(&history_ids)
        .fetch_all(&mut *connection)
        .await?;
        for (patient_id,) in with_history {
            self.patient_mut(patient_id).has_history = true;
        }
        Ok(())
    }

    /// Writes what is pending, then loads one patient's state again from the tables (after a
    /// statement changed them behind the batch's back).
    pub(crate) async fn reload_patient(
        &mut self,
        connection: &mut PgConnection,
        patient_id: Uuid,
    ) -> Result<(), sqlx::Error> {
        self.flush(connection).await?;
        let patient = BTreeSet::from([patient_id]);
        self.load_patients(connection, &patient, &patient).await
    }

    /// Hands the batch's state to `cache` for the next batch (after its writes were flushed).
    pub(crate) fn keep_in(self, cache: &mut StateCache) {
        if cache.patients.len() + self.patients.len() > MAX_CACHED_PATIENTS
            || cache.doses.len() + self.doses.len() > MAX_CACHED_DOSES
        {
            cache.clear();
        }
        cache.patients.extend(self.patients);
        cache.doses.extend(self.doses);
    }

    /// The patient's state (empty for a patient the batch did not load: a new one).
    pub(crate) fn patient(&self, patient_id: Uuid) -> &PatientState {
        static EMPTY: PatientState = PatientState {
            consents: Vec::new(),
            courses: Vec::new(),
            sessions: Vec::new(),
            has_history: false,
        };
        self.patients.get(&patient_id).unwrap_or(&EMPTY)
    }

    pub(crate) fn patient_mut(&mut self, patient_id: Uuid) -> &mut PatientState {
        self.patients.entry(patient_id).or_default()
    }

    /// The course of a dose, as scheduled.
    pub(crate) fn course_of_dose(&self, patient_id: Uuid, dose_id: Uuid) -> Option<Uuid> {
        self.doses.get(&(patient_id, dose_id)).copied()
    }

    pub(crate) fn schedule_dose(&mut self, patient_id: Uuid, dose_id: Uuid, course_id: Uuid) {
        self.doses.insert((patient_id, dose_id), course_id);
        self.pending.doses.insert((patient_id, dose_id), course_id);
    }

    /// Records a course's new state, in memory and for the next flush.
    pub(crate) fn put_course(&mut self, patient_id: Uuid, course: CourseRecord) {
        let courses = &mut self.patient_mut(patient_id).courses;
        match courses.iter_mut().find(|c| c.course_id == course.course_id) {
            Some(existing) => *existing = course.clone(),
            None => courses.push(course.clone()),
        }
        self.pending
            .courses
            .insert((patient_id, course.course_id), course);
    }

    pub(crate) fn put_session(&mut self, patient_id: Uuid, session: SessionRecord) {
        let sessions = &mut self.patient_mut(patient_id).sessions;
        match sessions.iter_mut().find(|s| s.event_id == session.event_id) {
            Some(existing) => *existing = session.clone(),
            None => sessions.push(session.clone()),
        }
        self.pending
            .sessions
            .insert((patient_id, session.event_id), session);
    }

    pub(crate) fn grant(&mut self, audience: Audience, consent: NewConsent) {
        let record = ConsentRecord {
            consent_id: consent.consent_id,
            grantee_id: consent.grantee_id,
            audience,
            scopes: Arc::new(consent.scopes.iter().cloned().collect()),
            expires_at: consent.expires_at,
            revoked: false,
        };
        self.patient_mut(consent.patient_id).consents.push(record);
        self.pending.consents.push(consent);
    }

    /// Adds an entry; `give` then hands it to its clinics and therapists.
    pub(crate) fn add_entry(&mut self, entry: Entry) -> usize {
        self.patient_mut(entry.patient_id).has_history = true;
        self.pending.entries.push(entry);
        self.pending.entries.len() - 1
    }

    /// Gives an added entry to one clinic or therapist.
    pub(crate) fn give(&mut self, index: usize, audience: Audience, viewer_id: Uuid, basis: Basis) {
        self.pending.rows.push((index, audience, viewer_id, basis));
    }

    /// Writes everything pending, one statement per table.
    pub(crate) async fn flush(&mut self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        write_courses(connection, &pending.courses).await?;
        write_doses(connection, &pending.doses).await?;
        write_consents(connection, &pending.consents).await?;
        write_sessions(connection, &pending.sessions).await?;
        write_entries(connection, &pending.entries).await?;
        write_readers(connection, &pending.entries, &pending.rows).await?;
        Ok(())
    }
}

type ConsentRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    Vec<String>,
    Option<OffsetDateTime>,
    bool,
);
type CourseRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    i64,
    Option<i64>,
    Option<OffsetDateTime>,
);
type SessionRow = (Uuid, Uuid, Uuid, OffsetDateTime, bool, bool);

pub(crate) fn audience_of_role(role: &str) -> Option<Audience> {
    match role {
        "clinic" => Some(Audience::Clinic),
        "therapist" => Some(Audience::Therapist),
        _ => None,
    }
}

async fn write_courses(
    connection: &mut PgConnection,
    courses: &BTreeMap<(Uuid, Uuid), CourseRecord>,
) -> Result<(), sqlx::Error> {
    if courses.is_empty() {
        return Ok(());
    }
    let patients: Vec<Uuid> = courses.keys().map(|(patient, _)| *patient).collect();
    let ids: Vec<Uuid> = courses.values().map(|c| c.course_id).collect();
    let clinics: Vec<Uuid> = courses.values().map(|c| c.clinic_id).collect();
    let paths: Vec<&str> = courses.values().map(|c| c.path.as_str()).collect();
    let started: Vec<i64> = courses.values().map(|c| c.started_position).collect();
    let ended: Vec<Option<i64>> = courses.values().map(|c| c.ended_position).collect();
    let first: Vec<Option<OffsetDateTime>> =
        courses.values().map(|c| c.first_administered_at).collect();
    sqlx::query(
        "INSERT INTO courses (patient_id, course_id, clinic_id, path, started_position,
             ended_position, first_administered_at)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int8[],
             $6::int8[], $7::timestamptz[])
         ON CONFLICT (patient_id, course_id) DO UPDATE
         SET path = EXCLUDED.path, started_position = EXCLUDED.started_position,
             ended_position = EXCLUDED.ended_position,
             first_administered_at = EXCLUDED.first_administered_at",
    )
    .bind(&patients)
    .bind(&ids)
    .bind(&clinics)
    .bind(&paths)
    .bind(&started)
    .bind(&ended)
    .bind(&first)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn write_doses(
    connection: &mut PgConnection,
    doses: &BTreeMap<(Uuid, Uuid), Uuid>,
) -> Result<(), sqlx::Error> {
    if doses.is_empty() {
        return Ok(());
    }
    let patients: Vec<Uuid> = doses.keys().map(|(patient, _)| *patient).collect();
    let ids: Vec<Uuid> = doses.keys().map(|(_, dose)| *dose).collect();
    let courses: Vec<Uuid> = doses.values().copied().collect();
    // A dose id is scheduled again only after its first scheduling was entered in error (the
    // dose service refuses a reused id otherwise): the latest one holds.
    sqlx::query(
        "INSERT INTO doses (patient_id, dose_id, course_id)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
         ON CONFLICT (patient_id, dose_id) DO UPDATE SET course_id = EXCLUDED.course_id",
    )
    .bind(&patients)
    .bind(&ids)
    .bind(&courses)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn write_consents(
    connection: &mut PgConnection,
    consents: &[NewConsent],
) -> Result<(), sqlx::Error> {
    if consents.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = consents.iter().map(|c| c.consent_id).collect();
    let patients: Vec<Uuid> = consents.iter().map(|c| c.patient_id).collect();
    let grantees: Vec<Uuid> = consents.iter().map(|c| c.grantee_id).collect();
    let roles: Vec<&str> = consents.iter().map(|c| c.grantee_role).collect();
    // Scope names are lower-case words: a comma list per consent, split again in SQL (a 2-D
    // array cannot hold lists of different lengths).
    let scopes: Vec<String> = consents.iter().map(|c| c.scopes.join(",")).collect();
    let purposes: Vec<&str> = consents.iter().map(|c| c.purpose.as_str()).collect();
    let granted_at: Vec<OffsetDateTime> = consents.iter().map(|c| c.granted_at).collect();
    let positions: Vec<i64> = consents.iter().map(|c| c.granted_position).collect();
    let expires_at: Vec<Option<OffsetDateTime>> = consents.iter().map(|c| c.expires_at).collect();
    sqlx::query(
        "INSERT INTO consents (consent_id, patient_id, grantee_id, grantee_role, scopes, purpose,
             granted_at, granted_position, expires_at)
         SELECT id, patient, grantee, role, string_to_array(scopes, ','), purpose, granted_at,
             position, expires_at
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
             $7::timestamptz[], $8::int8[], $9::timestamptz[])
             AS c(id, patient, grantee, role, scopes, purpose, granted_at, position, expires_at)",
    )
    .bind(&ids)
    .bind(&patients)
    .bind(&grantees)
    .bind(&roles)
    .bind(&scopes)
    .bind(&purposes)
    .bind(&granted_at)
    .bind(&positions)
    .bind(&expires_at)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn write_sessions(
    connection: &mut PgConnection,
    sessions: &BTreeMap<(Uuid, Uuid), SessionRecord>,
) -> Result<(), sqlx::Error> {
    if sessions.is_empty() {
        return Ok(());
    }
    let patients: Vec<Uuid> = sessions.keys().map(|(patient, _)| *patient).collect();
    let events: Vec<Uuid> = sessions.values().map(|s| s.event_id).collect();
    let ids: Vec<Uuid> = sessions.values().map(|s| s.session_id).collect();
    let at: Vec<OffsetDateTime> = sessions.values().map(|s| s.at).collect();
    let corrected: Vec<bool> = sessions.values().map(|s| s.corrected).collect();
    let cancelled: Vec<bool> = sessions.values().map(|s| s.cancelled).collect();
    sqlx::query(
        "INSERT INTO sessions (patient_id, event_id, session_id, at, corrected, cancelled)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[],
             $5::bool[], $6::bool[])
         ON CONFLICT (patient_id, event_id) DO UPDATE
         SET corrected = EXCLUDED.corrected, cancelled = EXCLUDED.cancelled",
    )
    .bind(&patients)
    .bind(&events)
    .bind(&ids)
    .bind(&at)
    .bind(&corrected)
    .bind(&cancelled)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// The entries, by binary `COPY`: a plain insert (applying an event twice is a bug that must
/// fail loudly as a unique violation, never be hidden by `ON CONFLICT`).
async fn write_entries(
    connection: &mut PgConnection,
    entries: &[Entry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut copy = BinaryCopy::with_capacity(entries.len() * 600);
    // In key order: consecutive inserts land near each other in the key's B-tree.
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_unstable_by(|a, b| {
        (a.patient_id, a.position, a.event_index, &a.item).cmp(&(
            b.patient_id,
            b.position,
            b.event_index,
            &b.item,
        ))
    });
    for entry in order {
        copy.row(18);
        copy.uuid(entry.patient_id);
        copy.int8(entry.position);
        copy.int4(entry.event_index);
        copy.text(&entry.item);
        copy.uuid(entry.event_id);
        copy.text(entry.family);
        copy.text(&entry.kind);
        copy.optional_text(entry.scope.map(|scope| scope.as_str()));
        copy.text(entry.reach.as_str());
        copy.optional_uuid(entry.course_id);
        copy.optional_uuid(entry.clinic_id);
        copy.text(entry.actor_role);
        copy.uuid(entry.actor_id);
        copy.optional_uuid(entry.related_party);
        copy.timestamptz(entry.occurred_at);
        copy.timestamptz(entry.recorded_at);
        copy.text(&entry.summary);
        copy.jsonb(&entry.detail);
    }
    copy_in(
        connection,
        "COPY entries (patient_id, position, event_index, item, event_id, family, kind, scope,
             reach, course_id, clinic_id, actor_role, actor_id, related_party, occurred_at,
             recorded_at, summary, detail)
         FROM STDIN (FORMAT binary)",
        copy,
    )
    .await
}

/// The clinics' and therapists' rows, by binary `COPY`, plain inserts as the entries.
async fn write_readers(
    connection: &mut PgConnection,
    entries: &[Entry],
    rows: &[(usize, Audience, Uuid, Basis)],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = BinaryCopy::with_capacity(rows.len() * 100);
    // In key order, as the entries.
    let mut order: Vec<&(usize, Audience, Uuid, Basis)> = rows.iter().collect();
    order.sort_unstable_by(|a, b| {
        let key = |&&(index, audience, viewer_id, _): &&(usize, Audience, Uuid, Basis)| {
            let entry = &entries[index];
            (
                entry.patient_id,
                audience,
                viewer_id,
                entry.position,
                entry.event_index,
                entry.item.as_ref(),
            )
        };
        key(a).cmp(&key(b))
    });
    for &&(index, audience, viewer_id, basis) in &order {
        let entry = &entries[index];
        copy.row(7);
        copy.uuid(entry.patient_id);
        copy.text(audience.as_str());
        copy.uuid(viewer_id);
        copy.int8(entry.position);
        copy.int4(entry.event_index);
        copy.text(&entry.item);
        copy.text(basis.as_str());
    }
    copy_in(
        connection,
        "COPY entry_readers (patient_id, audience, viewer_id, position, event_index, item, basis)
         FROM STDIN (FORMAT binary)",
        copy,
    )
    .await
}

async fn copy_in(
    connection: &mut PgConnection,
    statement: &str,
    copy: BinaryCopy,
) -> Result<(), sqlx::Error> {
    let mut sink = connection.copy_in_raw(statement).await?;
    if let Err(error) = sink.send(copy.finish()).await {
        // Leave the connection usable: end the COPY before reporting.
        let _ = sink.abort("the batch's rows could not be sent").await;
        return Err(error);
    }
    let written = sink.finish().await?;
    tracing::trace!(rows = written, "copied rows");
    Ok(())
}
