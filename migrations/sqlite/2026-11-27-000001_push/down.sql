DROP TABLE webhook_receipts;
ALTER TABLE bookings DROP COLUMN pushed_at;
DROP INDEX notifications_provider_message_id;
DROP TABLE deliveries;
