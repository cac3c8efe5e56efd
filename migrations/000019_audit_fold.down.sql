-- A folded row stays one row: how many requests it stood for is lost.
DROP INDEX access_log_views_idx;
ALTER TABLE access_log DROP COLUMN last_at;
ALTER TABLE access_log DROP COLUMN requests;
CREATE INDEX access_log_views_idx ON access_log (media_id, actor, via, allowed, action, at) INCLUDE (bytes);
