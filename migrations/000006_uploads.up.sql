-- Resumable uploads (tus), one row each from its creation until it expires:
-- whose it is and what it announced, so that every instance answers for it,
-- and, once it is finished, the item it became (the receipt). Its bytes live
-- in tusd's store until then, never here.
CREATE TABLE resumable_uploads (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    -- The store's own name for it when it is not id (tusd's s3store adds
    -- the multipart upload's id).
    store_id    text,
    -- NULL once the account is gone: nobody's, left for the janitor.
    owner_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    size        bigint NOT NULL CHECK (size > 0),
    filename    text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    -- Not references: a folder gone meanwhile refuses the upload when it
    -- finishes, and a receipt still names an item deleted since.
    folder_id   uuid,
    media_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The last write to it; the janitor removes what has been idle too long.
    active_at   timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK ((media_id IS NULL) = (finished_at IS NULL))
);
CREATE INDEX resumable_uploads_active_idx ON resumable_uploads (active_at);
