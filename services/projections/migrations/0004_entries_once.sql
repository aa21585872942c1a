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

INSERT INTO entries (patient_id, position, event_index, item, event_id, family, kind, scope,
    reach, course_id, clinic_id, actor_role, actor_id, related_party, occurred_at, recorded_at,
    summary, detail, correction)
SELECT patient_id, position, event_index, item, event_id, family, kind, scope,
    CASE
        WHEN item = 'safety_reminder' THEN 'patient_only'
        WHEN item LIKE 'alert:%' THEN 'clinic_alert'
        WHEN item LIKE 'safety_alert:%' THEN 'safety_alert'
        WHEN item LIKE 'suggestion:%' THEN 'therapist_suggestion'
        ELSE 'record'
    END,
    course_id,
    (SELECT c.viewer_id FROM timeline_entries c
     WHERE c.patient_id = t.patient_id AND c.audience = 'clinic' AND c.basis = 'course'
       AND c.position = t.position AND c.event_index = t.event_index AND c.item = t.item
     LIMIT 1),
    actor_role, actor_id, related_party, occurred_at, recorded_at, summary, detail, correction
FROM timeline_entries t
WHERE audience = 'auditor';

INSERT INTO entry_readers (patient_id, audience, viewer_id, position, event_index, item, basis)
SELECT patient_id, audience, viewer_id, position, event_index, item, basis
FROM timeline_entries
WHERE audience IN ('clinic', 'therapist') AND basis <> 'course';

DROP TABLE timeline_entries;
