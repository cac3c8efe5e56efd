CREATE OR REPLACE FUNCTION mg_blob_referenced(sha text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM media WHERE blob = sha)
        OR EXISTS (SELECT 1 FROM derivatives WHERE blob = sha)
        OR EXISTS (SELECT 1 FROM captions WHERE blob = sha)
$$;
DROP INDEX media_poster_idx;
ALTER TABLE media DROP COLUMN poster;
