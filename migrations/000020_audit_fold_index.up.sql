-- The grouping into viewings reads an item's rows in its window's order from
-- the index alone, now with the folded rows' count and last time. Built
-- without blocking the audit's writes (one statement per file: CONCURRENTLY
-- cannot run in a transaction).
CREATE INDEX CONCURRENTLY IF NOT EXISTS access_log_viewings_idx ON access_log (media_id, actor, via, allowed, action, at) INCLUDE (bytes, requests, last_at);
