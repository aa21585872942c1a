-- Set-based batches (see ARCHITECTURE.md "Projections"): a batch decides from state loaded once
-- for all its patients and writes its rows with a few multi-row statements, so the tables it
-- reads must answer per patient, and the look-ups that used to scan the auditor's history per
-- event get small tables of their own.

-- Every look-up of the timeline names the patient: lead the key with it, so one patient's rows
-- of every reader sit together and a batch's inserts touch one index instead of three. A
-- reader's timeline is (patient, audience, viewer), a prefix of the key; a correction finds
-- its event among the patient's rows.
DROP INDEX timeline_entries_in_order;
DROP INDEX timeline_entries_by_event;
ALTER TABLE timeline_entries DROP CONSTRAINT timeline_entries_pkey,
    ADD PRIMARY KEY (patient_id, audience, viewer_id, position, event_index, item);

-- A course's first administered dose (corrected ones left out): Spravato counts the weeks of a
-- course from it.
ALTER TABLE courses ADD COLUMN first_administered_at timestamptz;
UPDATE courses c SET first_administered_at = (
    SELECT min((t.detail->>'administered_at')::timestamptz) FROM timeline_entries t
    WHERE t.patient_id = c.patient_id AND t.audience = 'auditor'
      AND t.viewer_id = '00000000-0000-0000-0000-000000000000' AND t.course_id = c.course_id
      AND t.item = 'event' AND t.kind = 'dose_administered' AND t.correction IS NULL);

-- Therapy sessions as scheduled, one row per scheduling event: a dose's integration window
-- with a live session in it (neither corrected nor cancelled) raises no "window open, no
-- session scheduled" suggestion.
CREATE TABLE sessions (
    patient_id uuid NOT NULL,
    event_id uuid NOT NULL,
    session_id uuid NOT NULL,
    at timestamptz NOT NULL,
    corrected boolean NOT NULL DEFAULT false,
    cancelled boolean NOT NULL DEFAULT false,
    PRIMARY KEY (patient_id, event_id)
);
INSERT INTO sessions (patient_id, event_id, session_id, at, corrected, cancelled)
SELECT s.patient_id, s.event_id, (s.detail->>'session_id')::uuid,
       (s.detail->>'at')::timestamptz, s.correction IS NOT NULL,
       EXISTS (SELECT 1 FROM timeline_entries c
           WHERE c.patient_id = s.patient_id AND c.audience = 'auditor'
             AND c.viewer_id = s.viewer_id AND c.item = 'event'
             AND c.kind = 'session_cancelled'
             AND c.detail->>'session_id' = s.detail->>'session_id')
FROM timeline_entries s
WHERE s.audience = 'auditor' AND s.viewer_id = '00000000-0000-0000-0000-000000000000'
  AND s.item = 'event' AND s.kind = 'session_scheduled';
