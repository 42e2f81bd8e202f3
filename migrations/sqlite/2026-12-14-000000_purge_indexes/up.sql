-- Retention's hourly purge looks for rows older than the cutoff that no stored
-- booking holds: by these columns it reads only the old rows, not every row.
CREATE INDEX notifications_updated_at ON notifications (updated_at);
CREATE INDEX replies_created_at ON replies (created_at);
CREATE INDEX deliveries_updated_at ON deliveries (updated_at);
