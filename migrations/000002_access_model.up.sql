-- Groups, folders with inherited grants, share links, the read audit, and
-- the notifications that keep every instance's caches exact.

CREATE TABLE groups (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND name <> 'everyone'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

-- Folders form a tree; an item lives in one folder or at the root (NULL).
CREATE TABLE folders (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    parent_id  uuid REFERENCES folders (id),
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id <> id)
);
CREATE UNIQUE INDEX folders_sibling_name_idx
    ON folders (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name));
CREATE INDEX folders_parent_idx ON folders (parent_id);

ALTER TABLE media ADD COLUMN folder_id uuid REFERENCES folders (id);
CREATE INDEX media_folder_idx ON media (folder_id, created_at DESC, id DESC);

-- Grants now name a user, a group or everyone (every signed-in user), on
-- one item or one folder (and so on everything below it).
ALTER TABLE grants DROP CONSTRAINT grants_pkey;
ALTER TABLE grants DROP CONSTRAINT grants_subject_type_check;
ALTER TABLE grants ALTER COLUMN media_id DROP NOT NULL;
ALTER TABLE grants ALTER COLUMN subject_id DROP NOT NULL;
ALTER TABLE grants ADD COLUMN folder_id uuid REFERENCES folders (id) ON DELETE CASCADE;
ALTER TABLE grants ADD CONSTRAINT grants_subject_check CHECK (
    (subject_type IN ('user', 'group') AND subject_id IS NOT NULL)
    OR (subject_type = 'everyone' AND subject_id IS NULL));
ALTER TABLE grants ADD CONSTRAINT grants_target_check CHECK ((media_id IS NULL) <> (folder_id IS NULL));
CREATE UNIQUE INDEX grants_media_subject_idx
    ON grants (media_id, subject_type, COALESCE(subject_id, '00000000-0000-0000-0000-000000000000'))
    WHERE media_id IS NOT NULL;
CREATE UNIQUE INDEX grants_folder_subject_idx
    ON grants (folder_id, subject_type, COALESCE(subject_id, '00000000-0000-0000-0000-000000000000'))
    WHERE folder_id IS NOT NULL;
DROP INDEX grants_subject_idx;
CREATE INDEX grants_subject_idx ON grants (subject_type, subject_id);

-- mg_subject_match: does a grant to (subject_type, subject_id) reach principal?
CREATE FUNCTION mg_subject_match(subject_type text, subject_id uuid, principal uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT subject_type = 'everyone'
        OR (subject_type = 'user' AND subject_id = principal)
        OR (subject_type = 'group' AND EXISTS (
            SELECT 1 FROM group_members gm WHERE gm.group_id = subject_id AND gm.user_id = principal))
$$;

-- mg_folder_level: the principal's level on a folder, from the grants on it
-- and on every folder above it, and from owning any of them.
CREATE FUNCTION mg_folder_level(principal uuid, principal_role text, folder uuid) RETURNS smallint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (id, owner_id, parent_id, depth) AS (
        SELECT f.id, f.owner_id, f.parent_id, 0 FROM folders f WHERE f.id = folder
        UNION ALL
        SELECT f.id, f.owner_id, f.parent_id, c.depth + 1
        FROM folders f JOIN chain c ON f.id = c.parent_id
        WHERE c.depth < 1000 -- a guard; moves refuse cycles
    )
    SELECT CASE
        WHEN folder IS NULL THEN 0::smallint
        WHEN principal_role = 'admin' THEN 3::smallint
        ELSE COALESCE(GREATEST(
            (SELECT 3::smallint FROM chain WHERE owner_id = principal LIMIT 1),
            (SELECT max(g.permission) FROM grants g JOIN chain c ON g.folder_id = c.id
              WHERE mg_subject_match(g.subject_type, g.subject_id, principal))
        ), 0::smallint) END
$$;

-- mg_level is the access rule for an item: admins bypass, owners manage, and
-- the strongest grant on the item or on any folder above it wins.
CREATE OR REPLACE FUNCTION mg_level(principal uuid, principal_role text, item uuid) RETURNS smallint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
    ELSE COALESCE((
        SELECT GREATEST(
            CASE WHEN m.owner_id = principal THEN 3::smallint END,
            (SELECT max(g.permission) FROM grants g
              WHERE g.media_id = m.id AND mg_subject_match(g.subject_type, g.subject_id, principal)),
            CASE WHEN m.folder_id IS NOT NULL THEN mg_folder_level(principal, principal_role, m.folder_id) END)
        FROM media m WHERE m.id = item
    ), 0::smallint) END
$$;

-- Share links: view-only, on one item or one folder. Only the token's
-- SHA-256 is kept.
CREATE TABLE links (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE,
    media_id      uuid REFERENCES media (id) ON DELETE CASCADE,
    folder_id     uuid REFERENCES folders (id) ON DELETE CASCADE,
    password_hash text,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((media_id IS NULL) <> (folder_id IS NULL))
);
CREATE INDEX links_media_idx ON links (media_id);
CREATE INDEX links_folder_idx ON links (folder_id);

-- The read audit: every decision on the streaming path.
CREATE TABLE access_log (
    at         timestamptz NOT NULL,
    media_id   uuid NOT NULL,
    actor      text NOT NULL, -- a user's email or link:<id>
    allowed    boolean NOT NULL,
    byte_range text NOT NULL DEFAULT ''
);
CREATE INDEX access_log_media_idx ON access_log (media_id, at DESC);

-- Invalidation: any change that can alter a decision notifies every
-- instance, which flushes its caches. Statement-level triggers mean no code
-- path can forget; the notification is delivered at commit.
CREATE FUNCTION mg_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mediagate_invalidate', TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER grants_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER groups_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER group_members_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER folders_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON folders
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER media_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON media
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER links_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('acl');
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('all');
CREATE TRIGGER api_tokens_notify AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('auth');
-- Sessions change on every request (idle timeout); only a delete (logout,
-- token renewal) or a change of the data itself matters to a cache.
CREATE TRIGGER sessions_delete_notify AFTER DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION mg_notify('auth');
CREATE TRIGGER sessions_data_notify AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (OLD.data IS DISTINCT FROM NEW.data) EXECUTE FUNCTION mg_notify('auth');
