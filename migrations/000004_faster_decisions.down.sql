-- Back to 000002's definitions.
DROP FUNCTION mg_level(uuid, text, uuid);
DROP FUNCTION mg_folder_level(uuid, text, uuid);
DROP FUNCTION mg_subjects(uuid);

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

