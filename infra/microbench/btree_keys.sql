-- How much a B-tree key led by a random patient costs against one led by the log position,
-- one on the patient alone (built key afterwards), and no index: 2,000,000 rows of 10,000
-- patients, as the projections' `entries` receive them (BENCHMARKS.md, "Projections").
-- Run against a scratch database, e.g. with `make up` running:
--   PGPASSWORD=carelog psql -h 127.0.0.1 -U carelog carelog -f infra/microbench/btree_keys.sql
-- It creates and drops its own tables (mb_*).
\timing on
DROP TABLE IF EXISTS mb_none, mb_patient_key, mb_position_key, mb_patient_index, mb_patients;
CREATE TABLE mb_patients AS SELECT gen_random_uuid() AS p, i FROM generate_series(0, 9999) i;
CREATE TEMPORARY TABLE mb_rows AS
SELECT p.p AS patient_id, (s * 10000 + p.i)::bigint AS position, 0 AS event_index,
    'event'::text AS item, 'Dose administered: 56 mg esketamine intranasal'::text AS summary,
    '{"dose_id":"0198a6b0-0000-7000-8000-000000000000","amount_mg":56}'::jsonb AS detail
FROM generate_series(0, 199) s, mb_patients p
ORDER BY 2;
CREATE TABLE mb_none (LIKE mb_rows);
CREATE TABLE mb_patient_key (LIKE mb_rows,
    PRIMARY KEY (patient_id, position, event_index, item));
CREATE TABLE mb_position_key (LIKE mb_rows, PRIMARY KEY (position, event_index, item));
CREATE TABLE mb_patient_index (LIKE mb_rows);
CREATE INDEX ON mb_patient_index (patient_id);
\echo no index
INSERT INTO mb_none SELECT * FROM mb_rows;
\echo key led by the patient
INSERT INTO mb_patient_key SELECT * FROM mb_rows;
\echo key led by the position
INSERT INTO mb_position_key SELECT * FROM mb_rows;
\echo index on the patient alone, then the key built
INSERT INTO mb_patient_index SELECT * FROM mb_rows;
ALTER TABLE mb_patient_index ADD PRIMARY KEY (patient_id, position, event_index, item);
SELECT pg_size_pretty(pg_relation_size('mb_patient_key_pkey')) AS patient_key,
    pg_size_pretty(pg_relation_size('mb_position_key_pkey')) AS position_key;
DROP TABLE mb_none, mb_patient_key, mb_position_key, mb_patient_index, mb_patients;
