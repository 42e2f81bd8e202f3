ALTER TABLE instances DROP COLUMN settings_fingerprint;
ALTER TABLE instances DROP COLUMN settings;
ALTER TABLE poll_cursors DROP COLUMN planned_with;
