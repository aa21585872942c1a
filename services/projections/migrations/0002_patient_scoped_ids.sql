-- Ids of courses, doses and consents are chosen by the callers and checked unique per patient
-- by the command services; key them per patient here too, so that another patient's use of the
-- same id can never hide an event (skipped insert) or park a commit (unique violation).
ALTER TABLE courses DROP CONSTRAINT courses_pkey, ADD PRIMARY KEY (patient_id, course_id);
ALTER TABLE doses DROP CONSTRAINT doses_pkey, ADD PRIMARY KEY (patient_id, dose_id);
ALTER TABLE consents DROP CONSTRAINT consents_pkey, ADD PRIMARY KEY (patient_id, consent_id);
