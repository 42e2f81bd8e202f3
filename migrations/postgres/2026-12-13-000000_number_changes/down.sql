DROP INDEX number_changes_company;
DROP TABLE number_changes;
