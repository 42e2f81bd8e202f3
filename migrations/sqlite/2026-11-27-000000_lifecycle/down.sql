DROP TABLE bookings;
DELETE FROM notifications WHERE kind <> 'created';
CREATE TABLE notifications_created (
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
INSERT INTO notifications_created SELECT id, company_id, record_id, kind, status, phone, due_at,
    attempts, last_error, provider_message_id, message, record_json, created_at, updated_at, sent_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_created RENAME TO notifications;
CREATE INDEX notifications_status_due_at ON notifications (status, due_at);
ALTER TABLE poll_cursors DROP COLUMN proven_at;
