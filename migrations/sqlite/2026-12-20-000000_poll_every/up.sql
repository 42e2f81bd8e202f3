-- How often each salon is polled now (DESIGN: "On time without webhooks"): its
-- interval, or less while its bookings are busy; written with each poll for
-- `status` and the pages.
ALTER TABLE poll_cursors ADD COLUMN poll_every_ms BIGINT;
