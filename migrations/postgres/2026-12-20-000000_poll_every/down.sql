ALTER TABLE poll_cursors DROP COLUMN poll_every_ms;
