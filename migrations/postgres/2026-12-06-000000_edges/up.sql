-- When monitoring of a company began is now registered at the first process's start
-- (its row exists before the first poll: changed_after stays at the epoch until then).
-- What lifecycle settings a company's stored notices were planned with: when they
-- differ at a poll, its stored future bookings are planned again once.
ALTER TABLE poll_cursors ADD COLUMN planned_with TEXT;
-- The settings every instance must share, as each instance last reported them.
ALTER TABLE instances ADD COLUMN settings TEXT;
ALTER TABLE instances ADD COLUMN settings_fingerprint TEXT;
