DROP INDEX CONCURRENTLY IF EXISTS access_log_viewings_idx;
