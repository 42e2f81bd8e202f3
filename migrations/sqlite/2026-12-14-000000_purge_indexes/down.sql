DROP INDEX deliveries_updated_at;
DROP INDEX replies_created_at;
DROP INDEX notifications_updated_at;
