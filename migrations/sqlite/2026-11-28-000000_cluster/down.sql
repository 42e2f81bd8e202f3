ALTER TABLE notifications DROP COLUMN claimed_by;
DROP TABLE instances;
DROP TABLE company_leases;
