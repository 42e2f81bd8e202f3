DROP INDEX notifications_phone_sent;
DROP TABLE replies;
