-- A folded row stays one row: how many requests it stood for is lost.
ALTER TABLE access_log DROP COLUMN last_at;
ALTER TABLE access_log DROP COLUMN requests;
