DROP INDEX bookings_visit_at;
ALTER TABLE bookings DROP COLUMN visit_at;
DROP TABLE counters;
DROP TABLE purged_counts;
DROP TABLE secrets;
DROP TABLE forgotten_phones;
DROP TABLE optouts;
