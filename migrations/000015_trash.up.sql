-- The trash: deleting an item or a folder marks it (deleted_at, by whom,
-- and the folder path it was deleted from, for the trash's listing); a
-- janitor purges it after the retention. A marked item, and everything
-- below a marked folder, is out of every decision: mg_level and
-- mg_folder_level answer 0 for it, admins included, so every path that
-- decides through them fails closed. Share links check the same marks
-- (mg_media_trashed, mg_folder_trashed). Rows stay until the purge, so
-- grants, links and the public name come back with a restore, and
-- mg_blob_referenced still counts a trashed item's blobs.
ALTER TABLE media ADD COLUMN deleted_at timestamptz,
    ADD COLUMN deleted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN deleted_path text,
    ADD CHECK ((deleted_at IS NULL) = (deleted_path IS NULL));
ALTER TABLE folders ADD COLUMN deleted_at timestamptz,
    ADD COLUMN deleted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN deleted_path text,
    ADD CHECK ((deleted_at IS NULL) = (deleted_path IS NULL));
CREATE INDEX media_deleted_idx ON media (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX folders_deleted_idx ON folders (deleted_at) WHERE deleted_at IS NOT NULL;

-- A trashed folder leaves its name free; restoring it where the name was
-- taken meanwhile is a conflict.
DROP INDEX folders_sibling_name_idx;
CREATE UNIQUE INDEX folders_sibling_name_idx
    ON folders (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name))
    WHERE deleted_at IS NULL;

-- The trash's audit entries.
ALTER TABLE access_log DROP CONSTRAINT access_log_action_check;
ALTER TABLE access_log ADD CONSTRAINT access_log_action_check
    CHECK (action IN ('read', 'replace', 'trash', 'restore', 'purge'));

-- mg_folder_access walks up from folder once: the principal's level from
-- owning it or a folder above it and from the grants on them (0 for NULL,
-- the root), as 000004's mg_folder_level, and whether it or a folder above
-- it is in the trash. One row.
CREATE FUNCTION mg_folder_access(principal uuid, principal_role text, folder uuid)
RETURNS TABLE (level smallint, trashed boolean)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (id, owner_id, parent_id, deleted, depth) AS (
        SELECT f.id, f.owner_id, f.parent_id, f.deleted_at IS NOT NULL, 0 FROM folders f WHERE f.id = folder
        UNION ALL
        SELECT f.id, f.owner_id, f.parent_id, f.deleted_at IS NOT NULL, c.depth + 1
        FROM folders f JOIN chain c ON f.id = c.parent_id
        WHERE c.depth < 1000 -- a guard; moves refuse cycles
    )
    SELECT CASE
        WHEN folder IS NULL THEN 0::smallint
        WHEN principal_role = 'admin' THEN 3::smallint
        ELSE COALESCE(GREATEST(
            (SELECT 3::smallint FROM chain WHERE owner_id = principal LIMIT 1),
            (SELECT max(g.permission) FROM chain c CROSS JOIN mg_subjects(principal) s
               JOIN grants g ON g.folder_id = c.id AND g.subject_type = s.type
                AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id)
        ), 0::smallint) END,
        EXISTS (SELECT 1 FROM chain WHERE deleted)
$$;

-- mg_item_access is the same for an item: its level as if nothing were in
-- the trash (admins bypass, owners manage, the strongest grant on it or on a
-- folder above it wins), and whether it or a folder above it is in the
-- trash. No row for an item that does not exist. The trash's own
-- operations use the level; everything else asks mg_level.
CREATE FUNCTION mg_item_access(principal uuid, principal_role text, item uuid)
RETURNS TABLE (level smallint, trashed boolean)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
        ELSE COALESCE(GREATEST(
            CASE WHEN m.owner_id = principal THEN 3::smallint END,
            (SELECT max(g.permission) FROM mg_subjects(principal) s
               JOIN grants g ON g.media_id = m.id AND g.subject_type = s.type
                AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id),
            fa.level), 0::smallint) END,
        m.deleted_at IS NOT NULL OR fa.trashed
    FROM media m CROSS JOIN LATERAL mg_folder_access(principal, principal_role, m.folder_id) fa
    WHERE m.id = item
$$;

-- mg_folder_level: the principal's level on a folder; 0 for the root, for
-- a folder in the trash and for one below it.
CREATE OR REPLACE FUNCTION mg_folder_level(principal uuid, principal_role text, folder uuid) RETURNS SETOF smallint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN a.trashed THEN 0::smallint ELSE a.level END
    FROM mg_folder_access(principal, principal_role, folder) a
$$;

-- mg_level is the access rule for an item: admins bypass, owners manage, and
-- the strongest grant on the item or on any folder above it wins; 0 for an
-- item that does not exist, is in the trash or lies below a folder that is.
CREATE OR REPLACE FUNCTION mg_level(principal uuid, principal_role text, item uuid) RETURNS SETOF smallint
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT CASE WHEN a.trashed THEN 0::smallint ELSE a.level END
        FROM mg_item_access(principal, principal_role, item) a), 0::smallint)
$$;

-- mg_folder_trashed: whether folder or a folder above it is in the trash
-- (false for NULL, the root).
CREATE FUNCTION mg_folder_trashed(folder uuid) RETURNS SETOF boolean
LANGUAGE sql STABLE AS $$
    SELECT a.trashed FROM mg_folder_access(NULL, '', folder) a
$$;

-- mg_media_trashed: whether item is in the trash or below a folder that is
-- (false for an item that does not exist, and for NULL).
CREATE FUNCTION mg_media_trashed(item uuid) RETURNS SETOF boolean
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT m.deleted_at IS NOT NULL OR (SELECT t FROM mg_folder_trashed(m.folder_id) t)
        FROM media m WHERE m.id = item), false)
$$;

-- mg_trash_path: the names from the root down to folder, joined by "/"
-- ("" for NULL): where a trash entry was deleted from.
CREATE FUNCTION mg_trash_path(folder uuid) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (name, parent_id, depth) AS (
        SELECT f.name, f.parent_id, 0 FROM folders f WHERE f.id = folder
        UNION ALL
        SELECT f.name, f.parent_id, c.depth + 1 FROM folders f JOIN chain c ON f.id = c.parent_id
        WHERE c.depth < 1000
    )
    SELECT COALESCE(string_agg(name, '/' ORDER BY depth DESC), '') FROM chain
$$;

-- mg_trash_subtree: folder and the folders below it that are not in the
-- trash on their own (a folder trashed by itself inside it is its own trash
-- entry): what a trash entry holds.
CREATE FUNCTION mg_trash_subtree(folder uuid) RETURNS TABLE (id uuid)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE tree (id, depth) AS (
        SELECT f.id, 0 FROM folders f WHERE f.id = folder
        UNION ALL
        SELECT f.id, t.depth + 1 FROM folders f JOIN tree t ON f.parent_id = t.id
        WHERE f.deleted_at IS NULL AND t.depth < 1000
    )
    SELECT id FROM tree
$$;
