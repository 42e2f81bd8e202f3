-- The config each daemon runs (DESIGN: "Live configuration"): when it was loaded
-- and the SHA-256 of its file, written at start and at each reload, for `status`.
CREATE TABLE running_configs (
    instance_id TEXT PRIMARY KEY NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    fingerprint TEXT NOT NULL,
    reloads BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
