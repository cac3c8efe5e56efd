-- Identical requests within a second of each other (same item,
-- reader, way in, outcome, action and Range) are written as one row of the
-- read audit: requests counts them, last_at is the time of the last one
-- (NULL: the row is one request, at at) and bytes is their sum. The views'
-- index carries the new columns, so the grouping still reads the index alone.
ALTER TABLE access_log ADD COLUMN requests integer NOT NULL DEFAULT 1 CHECK (requests >= 1);
ALTER TABLE access_log ADD COLUMN last_at timestamptz CHECK (last_at >= at);
DROP INDEX access_log_views_idx;
CREATE INDEX access_log_views_idx ON access_log (media_id, actor, via, allowed, action, at) INCLUDE (bytes, requests, last_at);
