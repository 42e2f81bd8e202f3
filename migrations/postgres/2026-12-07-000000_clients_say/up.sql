-- The client's say (DESIGN: "The client's say"). A client who asked us to stop
-- (by a reply, or at the desk) is opted out of every salon that messages them
-- from the same sender: one row per salon, so a salon's page shows its own.
CREATE TABLE optouts (
    company_id BIGINT NOT NULL,
    phone TEXT NOT NULL,
    -- reply | command
    source TEXT NOT NULL,
    -- How it came: the sender the reply reached, or the command.
    via TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    PRIMARY KEY (company_id, phone)
);
CREATE INDEX optouts_phone ON optouts (phone);
-- Phones whose every trace was erased (`forget`), as a keyed hash only: their
-- later bookings are skipped, never stored.
CREATE TABLE forgotten_phones (
    hash TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- The daemon's own secrets (the key of those hashes), made once at migrate.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
-- What retention purged, kept as numbers: per day (of the row's creation), salon,
-- what (a notification's kind, or `reply`) and status (or a reply's reading).
CREATE TABLE purged_counts (
    day TEXT NOT NULL,
    company_id BIGINT NOT NULL,
    what TEXT NOT NULL,
    status TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, company_id, what, status)
);
-- Counters that the command line and every instance add to (opt-outs by hand,
-- erasures, purges): `/metrics` reads them, so they count whoever acted.
CREATE TABLE counters (
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (name, labels)
);
-- When the visit is (UTC), for retention; filled as bookings are written, and
-- for older rows by the first purge.
ALTER TABLE bookings ADD COLUMN visit_at TIMESTAMP;
CREATE INDEX bookings_visit_at ON bookings (visit_at);
