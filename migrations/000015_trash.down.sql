-- Back to 000004's decision functions; what is in the trash is purged
-- first (rows only: Recover removes the blobs nothing refers to any more).
DELETE FROM media WHERE deleted_at IS NOT NULL OR (SELECT t FROM mg_folder_trashed(folder_id) t);
DELETE FROM folders WHERE id IN (SELECT s.id FROM folders f CROSS JOIN LATERAL mg_trash_subtree(f.id) s WHERE f.deleted_at IS NOT NULL);
DELETE FROM access_log WHERE action IN ('trash', 'restore', 'purge');
ALTER TABLE access_log DROP CONSTRAINT access_log_action_check;
ALTER TABLE access_log ADD CONSTRAINT access_log_action_check CHECK (action IN ('read', 'replace'));

CREATE OR REPLACE FUNCTION mg_folder_level(principal uuid, principal_role text, folder uuid) RETURNS SETOF smallint
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
            (SELECT max(g.permission) FROM chain c CROSS JOIN mg_subjects(principal) s
               JOIN grants g ON g.folder_id = c.id AND g.subject_type = s.type
                AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id)
        ), 0::smallint) END
$$;

CREATE OR REPLACE FUNCTION mg_level(principal uuid, principal_role text, item uuid) RETURNS SETOF smallint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
    ELSE COALESCE((
        SELECT GREATEST(
            CASE WHEN m.owner_id = principal THEN 3::smallint END,
            (SELECT max(g.permission) FROM mg_subjects(principal) s
               JOIN grants g ON g.media_id = m.id AND g.subject_type = s.type
                AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id),
            (SELECT l FROM mg_folder_level(principal, principal_role, m.folder_id) l))
        FROM media m WHERE m.id = item
    ), 0::smallint) END
$$;

DROP FUNCTION mg_trash_subtree(uuid);
DROP FUNCTION mg_trash_path(uuid);
DROP FUNCTION mg_media_trashed(uuid);
DROP FUNCTION mg_folder_trashed(uuid);
DROP FUNCTION mg_item_access(uuid, text, uuid);
DROP FUNCTION mg_folder_access(uuid, text, uuid);

DROP INDEX folders_sibling_name_idx;
CREATE UNIQUE INDEX folders_sibling_name_idx
    ON folders (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name));
DROP INDEX folders_deleted_idx;
DROP INDEX media_deleted_idx;
ALTER TABLE folders DROP COLUMN deleted_path, DROP COLUMN deleted_by, DROP COLUMN deleted_at;
ALTER TABLE media DROP COLUMN deleted_path, DROP COLUMN deleted_by, DROP COLUMN deleted_at;
