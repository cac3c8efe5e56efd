-- access_log_viewings_idx (000020) replaces 000014's index.
DROP INDEX CONCURRENTLY IF EXISTS access_log_views_idx;
