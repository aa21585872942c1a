-- An administered dose's integration window, the patient's safety reminder after it, and the
-- therapist's "window open, no session scheduled" are no longer stored: a timeline read makes
-- them from the dose's entry (and the `sessions` table), the same for every reader who may see
-- them (see ARCHITECTURE.md "Projections"). Their stored rows go; reading shows the same items.
DELETE FROM entry_readers
WHERE item IN ('integration_window', 'safety_reminder', 'suggestion:window_no_session');

DELETE FROM entries
WHERE item IN ('integration_window', 'safety_reminder', 'suggestion:window_no_session');

-- Only the safety reminder was 'patient_only'.
ALTER TABLE entries DROP CONSTRAINT entries_reach_check;
ALTER TABLE entries ADD CONSTRAINT entries_reach_check
    CHECK (reach IN ('record', 'clinic_alert', 'safety_alert', 'therapist_suggestion'));
