ALTER TABLE poll_cursors DROP COLUMN baseline_at;
