DROP TABLE instances;
DROP TABLE company_leases;
DROP TABLE webhook_receipts;
DROP TABLE deliveries;
DROP TABLE bookings;
DROP TABLE bot_records;
DROP TABLE notifications;
DROP TABLE poll_cursors;
