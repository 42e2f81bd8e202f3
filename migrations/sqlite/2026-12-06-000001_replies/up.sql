-- What clients wrote back: each inbound message once (by the provider and its id),
-- with the booking and notice it answers and what it means. The effects it calls
-- for (the visit confirmed in YClients, the staff told, an answer to the client)
-- are rows of the outbox, with the outbox's promises.
CREATE TABLE replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    provider TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    client_name TEXT,
    body TEXT,
    message_type TEXT NOT NULL,
    sender TEXT,
    company_id BIGINT,
    record_id BIGINT,
    notification_id BIGINT,
    matched_by TEXT NOT NULL,
    intent TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (provider, provider_message_id)
);
CREATE INDEX replies_phone ON replies (phone, created_at);
CREATE INDEX replies_company ON replies (company_id, created_at);
CREATE INDEX notifications_phone_updated ON notifications (phone, updated_at);
