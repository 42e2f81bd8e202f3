DROP TABLE bot_records;
DROP TABLE notifications;
DROP TABLE poll_cursors;
