-- Push: WhatsApp's delivery statuses, and YClients' salon webhooks.

-- What Meta reported after accepting a message: sent → delivered → read, or failed
-- (with Meta's error code and title). Only ever moves forward. Keyed by Meta's
-- message id, not by our row: a status may arrive before `sent` is committed.
CREATE TABLE deliveries (
    provider_message_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX notifications_provider_message_id ON notifications (provider_message_id);

-- When a webhook last told us about the booking: it came by push, so the notifier
-- asks YClients rather than wait for a poll to prove it current.
ALTER TABLE bookings ADD COLUMN pushed_at TIMESTAMP;

-- Per company, when its last webhook came and how many came.
CREATE TABLE webhook_receipts (
    company_id BIGINT PRIMARY KEY NOT NULL,
    last_at TIMESTAMP NOT NULL,
    events BIGINT NOT NULL DEFAULT 0
);
