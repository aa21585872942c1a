-- The read models of the projections. Every table lives in the projections' own schema
-- (search_path), so a rebuild can create the same tables in a fresh schema and swap it in.

-- The last log position applied. Written in the same transaction as the rows it covers.
CREATE TABLE checkpoint (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO checkpoint (position) VALUES (0);

-- Messages that could not be decoded or applied: parked with their position and the error,
-- never retried automatically and never skipped silently.
CREATE TABLE dead_letters (
    position bigint PRIMARY KEY,
    subject text NOT NULL,
    error text NOT NULL,
    payload bytea NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now()
);

-- Courses and doses: which clinic treats which course, which course a dose belongs to.
CREATE TABLE courses (
    course_id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    clinic_id uuid NOT NULL,
    path text NOT NULL,
    started_position bigint NOT NULL,
    ended_position bigint
);
CREATE INDEX courses_by_patient ON courses (patient_id);

CREATE TABLE doses (
    dose_id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    course_id uuid NOT NULL
);

-- Every consent ever granted, with its revocation. Active = not revoked and not expired.
CREATE TABLE consents (
    consent_id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    grantee_id uuid NOT NULL,
    grantee_role text NOT NULL CHECK (grantee_role IN ('clinic', 'therapist')),
    scopes text[] NOT NULL,
    purpose text NOT NULL,
    granted_at timestamptz NOT NULL,
    granted_position bigint NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_position bigint
);
CREATE INDEX consents_by_grantee ON consents (patient_id, grantee_id);

-- Every role's timeline of every patient. One row per (reader, patient, event, item): `item`
-- is 'event' for the event itself, or the name of a derived item ('integration_window',
-- 'safety_reminder', 'alert:<flag>', 'safety_alert:<flag>').
--   audience  patient | clinic | therapist | auditor
--   viewer_id the reading party: the patient's own id, the clinic's or therapist's party id,
--             the nil uuid for auditors (they read by role)
--   scope     the consent scope governing the entry; NULL when no consent can open it
--   basis     why this reader has the row: self | role | course | consent | own | grant |
--             safety_exception; only 'consent' and 'own' rows go away with a consent
-- The auditor's rows mirror the log up to the checkpoint, with every derived item: grants
-- backfill from them.
CREATE TABLE timeline_entries (
    audience text NOT NULL CHECK (audience IN ('patient', 'clinic', 'therapist', 'auditor')),
    viewer_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    position bigint NOT NULL,
    event_index integer NOT NULL,
    item text NOT NULL,
    event_id uuid NOT NULL,
    family text NOT NULL,
    kind text NOT NULL,
    scope text,
    basis text NOT NULL,
    course_id uuid,
    actor_role text NOT NULL,
    actor_id uuid NOT NULL,
    related_party uuid,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    summary text NOT NULL,
    detail jsonb NOT NULL,
    correction text,
    PRIMARY KEY (audience, viewer_id, patient_id, position, event_index, item)
);
CREATE INDEX timeline_entries_in_order
    ON timeline_entries (audience, viewer_id, patient_id, occurred_at, position, event_index, item);
CREATE INDEX timeline_entries_by_event ON timeline_entries (event_id);
