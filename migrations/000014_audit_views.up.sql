-- The read audit records, beside who and when, how the reader got in (via)
-- and how many bytes the answer carried; the media page groups a playback's
-- requests into one row at read time (see internal/audit).
ALTER TABLE access_log ADD COLUMN via text NOT NULL DEFAULT '';
ALTER TABLE access_log ADD COLUMN bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0);
-- The grouping reads an item's rows in this order (its window's partitions,
-- then time), from the index alone: no sort of the item's rows.
CREATE INDEX access_log_views_idx ON access_log (media_id, actor, via, allowed, action, at) INCLUDE (bytes);

-- mg_via names what gives principal its level on item, for the audit: admin,
-- owner, owner of folder F, or the grant's subject (user:EMAIL, group:NAME,
-- everyone), followed by "on folder F" when the grant is on a folder above
-- the item. The strongest wins, as in mg_level; among equals the item's own
-- grant before a folder's, the nearest folder first, a user before a group
-- before everyone. NULL when nothing does (any more).
CREATE FUNCTION mg_via(principal uuid, principal_role text, item uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (id, name, owner_id, parent_id, depth) AS (
        SELECT f.id, f.name, f.owner_id, f.parent_id, 1
        FROM media m JOIN folders f ON f.id = m.folder_id WHERE m.id = item
        UNION ALL
        SELECT f.id, f.name, f.owner_id, f.parent_id, c.depth + 1
        FROM folders f JOIN chain c ON f.id = c.parent_id
        WHERE c.depth < 1000
    ),
    reasons (via, level, depth, kind) AS (
        SELECT 'admin', 4::smallint, 0, 0 WHERE principal_role = 'admin'
        UNION ALL
        SELECT 'owner', 3::smallint, 0, 0 FROM media m WHERE m.id = item AND m.owner_id = principal
        UNION ALL
        SELECT 'owner of folder ' || c.name, 3::smallint, c.depth, 0 FROM chain c WHERE c.owner_id = principal
        UNION ALL
        SELECT CASE g.subject_type
                   WHEN 'user' THEN 'user:' || (SELECT u.email FROM users u WHERE u.id = g.subject_id)
                   WHEN 'group' THEN 'group:' || (SELECT gr.name FROM groups gr WHERE gr.id = g.subject_id)
                   ELSE 'everyone' END
               || COALESCE(' on folder ' || c.name, ''),
               g.permission, COALESCE(c.depth, 0),
               CASE g.subject_type WHEN 'user' THEN 1 WHEN 'group' THEN 2 ELSE 3 END
        FROM mg_subjects(principal) s
        JOIN grants g ON g.subject_type = s.type AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id
        LEFT JOIN chain c ON c.id = g.folder_id
        WHERE g.media_id = item OR c.id IS NOT NULL
    )
    SELECT via FROM reasons ORDER BY level DESC, depth, kind LIMIT 1
$$;
