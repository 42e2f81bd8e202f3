-- The whole booking lifecycle: one outbox row per notice, `notice_key` naming what
-- makes a notice of its kind distinct ('' for `created`, the visit time for a
-- reminder, the notice's revision for a change or cancellation).
CREATE TABLE notifications_lifecycle (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    company_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    notice_key TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    phone TEXT,
    due_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    provider_message_id TEXT,
    message TEXT,
    record_json TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    UNIQUE (company_id, record_id, kind, notice_key)
);
INSERT INTO notifications_lifecycle (id, company_id, record_id, kind, notice_key, status, phone,
    due_at, attempts, last_error, provider_message_id, message, record_json, created_at,
    updated_at, sent_at)
SELECT id, company_id, record_id, kind, '', status, phone, due_at, attempts, last_error,
    provider_message_id, message, record_json, created_at, updated_at, sent_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_lifecycle RENAME TO notifications;
CREATE INDEX notifications_status_due_at ON notifications (status, due_at);
CREATE INDEX notifications_record ON notifications (company_id, record_id);

-- Every booking the daemon knows, with what its client was last told: change
-- detection compares a fresh record with `told_json`, never with the last poll.
CREATE TABLE bookings (
    company_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    audience TEXT NOT NULL,
    record_json TEXT NOT NULL,
    told_json TEXT,
    told_at TIMESTAMP,
    revision INTEGER NOT NULL DEFAULT 0,
    first_seen_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, record_id)
);

-- When (our clock) the last committed poll of the company was asked: every stored
-- booking of the company is current as of then, so a row due before it needs no re-read.
ALTER TABLE poll_cursors ADD COLUMN proven_at TIMESTAMP;
