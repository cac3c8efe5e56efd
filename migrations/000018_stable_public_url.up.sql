-- A published item keeps one public URL for its life: while it is
-- unpublished its name waits in withdrawn_public_name (nothing serves it, and
-- Recover and fsck, which read public_name, keep no file for it), and
-- publishing again moves it back. A new URL replaces both.
ALTER TABLE media ADD COLUMN withdrawn_public_name text UNIQUE;
ALTER TABLE media ADD CONSTRAINT media_one_public_name_check
    CHECK (public_name IS NULL OR withdrawn_public_name IS NULL);
