-- When the company's baseline of future bookings was read. A database from before
-- the lifecycle has cursors but no baseline: its first poll after the upgrade reads
-- one, so changes to and reminders for bookings made before it work too.
ALTER TABLE poll_cursors ADD COLUMN baseline_at TIMESTAMP;
