-- Every timeline entry is stored once (`entries`); the patient, the auditor and the clinic of
-- the entry's course read it there, and the other clinics and therapists have a narrow row
-- each (`entry_readers`) naming the entry and why they may read it. Until now every reader had a full copy of the entry, so the text and
-- detail of an event were written four or five times (see ARCHITECTURE.md "Projections").

-- One row per (event, item): the auditor's full history, as the auditor's rows were.
--   reach     who an entry can reach at all: record | patient_only | clinic_alert |
--             safety_alert | therapist_suggestion (see `entry::Reach`). The patient reads
--             `record` and `patient_only` entries of their own record; the auditor reads all.
--   clinic_id the clinic of the entry's course: it reads the `record` and `clinic_alert`
--             entries naming it (basis `course`) without a row in `entry_readers`.
CREATE TABLE entries (
    patient_id uuid NOT NULL,
    position bigint NOT NULL,
    event_index integer NOT NULL,
    item text NOT NULL,
    event_id uuid NOT NULL,
    family text NOT NULL,
    kind text NOT NULL,
    scope text,
    reach text NOT NULL CHECK (reach IN ('record', 'patient_only', 'clinic_alert',
        'safety_alert', 'therapist_suggestion')),
    course_id uuid,
    clinic_id uuid,
    actor_role text NOT NULL,
    actor_id uuid NOT NULL,
    related_party uuid,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    summary text NOT NULL,
    detail jsonb NOT NULL,
    correction text,
    PRIMARY KEY (patient_id, position, event_index, item)
);

-- One row per (clinic or therapist, entry it may read), but for the course's clinic. `basis` as before: only 'consent' and
-- 'own' rows depend on a consent; the entry's scope is read from `entries`.
CREATE TABLE entry_readers (
    patient_id uuid NOT NULL,
    audience text NOT NULL CHECK (audience IN ('clinic', 'therapist')),
    viewer_id uuid NOT NULL,
    position bigint NOT NULL,
    event_index integer NOT NULL,
    item text NOT NULL,
    basis text NOT NULL,
    PRIMARY KEY (patient_id, audience, viewer_id, position, event_index, item)
);

-- The course's clinic of an entry: its clinic row of basis 'course' (at most one per entry in
-- practice; should there be two, the lowest id becomes `clinic_id` and the other keeps its
-- row). One join, not a look-up per entry: the old key cannot be probed past `viewer_id`.
CREATE TEMPORARY TABLE course_clinics ON COMMIT DROP AS
SELECT DISTINCT ON (patient_id, position, event_index, item)
    patient_id, position, event_index, item, viewer_id AS clinic_id
FROM timeline_entries
WHERE audience = 'clinic' AND basis = 'course'
ORDER BY patient_id, position, event_index, item, viewer_id;

INSERT INTO entries (patient_id, position, event_index, item, event_id, family, kind, scope,
    reach, course_id, clinic_id, actor_role, actor_id, related_party, occurred_at, recorded_at,
    summary, detail, correction)
SELECT t.patient_id, t.position, t.event_index, t.item, t.event_id, t.family, t.kind, t.scope,
    CASE
        WHEN t.item = 'safety_reminder' THEN 'patient_only'
        WHEN t.item LIKE 'alert:%' THEN 'clinic_alert'
        WHEN t.item LIKE 'safety_alert:%' THEN 'safety_alert'
        WHEN t.item LIKE 'suggestion:%' THEN 'therapist_suggestion'
        ELSE 'record'
    END,
    t.course_id, c.clinic_id, t.actor_role, t.actor_id, t.related_party, t.occurred_at,
    t.recorded_at, t.summary, t.detail, t.correction
FROM timeline_entries t
LEFT JOIN course_clinics c USING (patient_id, position, event_index, item)
WHERE t.audience = 'auditor';

INSERT INTO entry_readers (patient_id, audience, viewer_id, position, event_index, item, basis)
SELECT r.patient_id, r.audience, r.viewer_id, r.position, r.event_index, r.item, r.basis
FROM timeline_entries r
LEFT JOIN course_clinics c USING (patient_id, position, event_index, item)
WHERE r.audience IN ('clinic', 'therapist')
  AND NOT (r.basis = 'course' AND r.viewer_id IS NOT DISTINCT FROM c.clinic_id);

DROP TABLE timeline_entries;
