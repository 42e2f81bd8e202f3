-- A client's WhatsApp number changed (Meta's `system` message `user_changed_number`):
-- not a reply, but the staff's page notes it once, so that the booking's phone can
-- be corrected in YClients. The salon is the one whose sender was told, or else the
-- one that last wrote to the old number.
CREATE TABLE number_changes (
    old_phone TEXT NOT NULL,
    new_phone TEXT NOT NULL,
    company_id BIGINT,
    sender TEXT,
    changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (old_phone, new_phone)
);
CREATE INDEX number_changes_company ON number_changes (company_id, created_at);
