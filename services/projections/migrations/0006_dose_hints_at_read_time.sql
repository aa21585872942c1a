-- The next-dose-due hints are no longer stored: a timeline read makes them from the dose's
-- entry and its course's path and first dose (`schedule.rs`), as it already made the missed-dose
-- hints from them, so the weeks of a Spravato course count from its real first dose even when a
-- dose is recorded late, and a rebuild writes a fifth fewer rows. Their stored rows go; reading
-- ignores any a projector of the previous release still writes during an upgrade.
DELETE FROM entry_readers WHERE item = 'next_dose_due';
DELETE FROM entries WHERE item = 'next_dose_due';
