-- An editor's choice of poster for an item (a frame they picked, or an
-- image they uploaded), instead of the pipeline's.
ALTER TABLE media ADD COLUMN poster text REFERENCES blobs (sha256);
CREATE INDEX media_poster_idx ON media (poster) WHERE poster IS NOT NULL;

CREATE OR REPLACE FUNCTION mg_blob_referenced(sha text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM media WHERE blob = sha OR poster = sha)
        OR EXISTS (SELECT 1 FROM derivatives WHERE blob = sha)
        OR EXISTS (SELECT 1 FROM captions WHERE blob = sha)
$$;
