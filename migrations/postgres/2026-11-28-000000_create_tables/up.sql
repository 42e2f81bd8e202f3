-- The whole schema on PostgreSQL, as the SQLite migrations left it by 2026-11-28.
-- Every timestamp is UTC without a zone, as on SQLite.

-- Where each company's polling resumes, and since when it is monitored.
CREATE TABLE poll_cursors (
    company_id BIGINT PRIMARY KEY NOT NULL,
    changed_after TIMESTAMP NOT NULL,
    monitored_since TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_poll_at TIMESTAMP,
    last_poll_error TEXT,
    proven_at TIMESTAMP,
    baseline_at TIMESTAMP
);

-- The outbox and the history: one row per notice (see the SQLite migrations).
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY NOT NULL,
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
    claimed_by TEXT,
    UNIQUE (company_id, record_id, kind, notice_key)
);
CREATE INDEX notifications_status_due_at ON notifications (status, due_at);
CREATE INDEX notifications_record ON notifications (company_id, record_id);
CREATE INDEX notifications_provider_message_id ON notifications (provider_message_id);

CREATE TABLE bot_records (
    company_id BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, record_id)
);

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
    pushed_at TIMESTAMP,
    PRIMARY KEY (company_id, record_id)
);

CREATE TABLE deliveries (
    provider_message_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_receipts (
    company_id BIGINT PRIMARY KEY NOT NULL,
    last_at TIMESTAMP NOT NULL,
    events BIGINT NOT NULL DEFAULT 0
);

-- Which instance polls which company, until when (the database's clock).
CREATE TABLE company_leases (
    company_id BIGINT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The live instances: each renews its row with its leases.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
