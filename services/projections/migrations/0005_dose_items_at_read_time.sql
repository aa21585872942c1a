-- An administered dose's integration window, the patient's safety reminder after it, and the
-- therapist's "window open, no session scheduled" are no longer stored: a timeline read makes
-- them from the dose's entry (and the `sessions` table), the same for every reader who may see
-- them (see ARCHITECTURE.md "Projections"). Their stored rows go; reading shows the same items.
-- `entries.reach` keeps allowing 'patient_only' (only the reminder had it): a projector of the
-- previous release still running against this schema (a rolling upgrade, or a rebuild swapped
-- in under it) must not have its dose commits refused, and reads ignore what it stores
-- (`read.rs`).
DELETE FROM entry_readers
WHERE item IN ('integration_window', 'safety_reminder', 'suggestion:window_no_session');

DELETE FROM entries
WHERE item IN ('integration_window', 'safety_reminder', 'suggestion:window_no_session');
