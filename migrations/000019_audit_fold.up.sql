-- Identical requests within a second of the first of them (same item,
-- reader, way in, outcome, action and Range) are written as one row of the
-- read audit: requests counts them, last_at is the time of the last one
-- (NULL: the row is one request, at at) and bytes is their sum. Adding a
-- column with a constant default rewrites nothing, and the checks are NOT
-- VALID (every existing row has requests 1 and no last_at), so this takes
-- its lock on access_log for a moment, however long the table. The views'
-- index gains the new columns in the next two migrations, concurrently.
ALTER TABLE access_log ADD COLUMN requests integer NOT NULL DEFAULT 1;
ALTER TABLE access_log ADD COLUMN last_at timestamptz;
ALTER TABLE access_log ADD CONSTRAINT access_log_requests_check CHECK (requests >= 1) NOT VALID;
ALTER TABLE access_log ADD CONSTRAINT access_log_last_at_check CHECK (last_at >= at) NOT VALID;
