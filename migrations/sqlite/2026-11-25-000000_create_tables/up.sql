-- Where each company's polling resumes, and since when it is monitored: records
-- created before `monitored_since` (YClients' clock) are history, not news.
CREATE TABLE poll_cursors (
    company_id BIGINT PRIMARY KEY NOT NULL,
    changed_after TIMESTAMP NOT NULL,
    monitored_since TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_poll_at TIMESTAMP,
    last_poll_error TEXT
);

-- The outbox and the history: one row per booking and kind, whatever happens.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    company_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
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
    UNIQUE (company_id, record_id, kind)
);
CREATE INDEX notifications_status_due_at ON notifications (status, due_at);

-- Bookings our own bot made: never notified.
CREATE TABLE bot_records (
    company_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, record_id)
);
