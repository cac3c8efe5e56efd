CREATE INDEX CONCURRENTLY IF NOT EXISTS access_log_views_idx ON access_log (media_id, actor, via, allowed, action, at) INCLUDE (bytes);
