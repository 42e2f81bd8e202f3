-- Many instances (on PostgreSQL): which instance polls which company, until when;
-- the live instances; and which instance is sending a row. One process on SQLite
-- holds every company, but the tables are the same on both backends.
CREATE TABLE company_leases (
    company_id BIGINT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
