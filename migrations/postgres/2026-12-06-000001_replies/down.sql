DROP INDEX notifications_phone_updated;
DROP TABLE replies;
