-- The media pipeline (jobs in River, on its own migration track): what
-- probing a blob's content found, and the files derived from it (posters,
-- grid thumbnails, a faststart rendition). Both are functions of the
-- content, so they belong to the blob and every item with that blob shares
-- them; they are reached only through an item, under the item's decision.
CREATE TABLE blob_info (
    blob        text PRIMARY KEY REFERENCES blobs (sha256) ON DELETE CASCADE,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'failed')),
    reason      text NOT NULL DEFAULT '', -- why it failed, in words for editors
    kind        text NOT NULL DEFAULT '' CHECK (kind IN ('', 'video', 'audio', 'image')),
    duration    double precision,         -- seconds
    width       integer,
    height      integer,
    rotation    integer,
    video_codec text NOT NULL DEFAULT '',
    audio_codec text NOT NULL DEFAULT '',
    bitrate     bigint,
    job_id      bigint,                   -- River's job, while one is due
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A derived file is a blob of its own (content-addressed, deduplicated,
-- stored like any other), kept while its source blob is.
CREATE TABLE derivatives (
    source text NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    kind   text NOT NULL CHECK (kind IN ('poster', 'thumb', 'stream')),
    blob   text NOT NULL REFERENCES blobs (sha256),
    PRIMARY KEY (source, kind)
);
CREATE INDEX derivatives_blob_idx ON derivatives (blob);

-- Captions an editor attached to an item (WebVTT, converted from SRT).
CREATE TABLE captions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    media_id   uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    lang       text NOT NULL CHECK (lang ~ '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$'),
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    blob       text NOT NULL REFERENCES blobs (sha256),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX captions_media_idx ON captions (media_id);
CREATE INDEX captions_blob_idx ON captions (blob);

-- Whether anything still needs a blob: an item's content, a derived file
-- of a blob that is kept, or a caption.
CREATE FUNCTION mg_blob_referenced(sha text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM media WHERE blob = sha)
        OR EXISTS (SELECT 1 FROM derivatives WHERE blob = sha)
        OR EXISTS (SELECT 1 FROM captions WHERE blob = sha)
$$;
