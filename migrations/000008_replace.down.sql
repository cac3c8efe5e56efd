ALTER TABLE access_log DROP COLUMN action;
