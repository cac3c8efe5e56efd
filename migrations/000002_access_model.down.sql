DROP TRIGGER sessions_data_notify ON sessions;
DROP TRIGGER sessions_delete_notify ON sessions;
DROP TRIGGER api_tokens_notify ON api_tokens;
DROP TRIGGER users_notify ON users;
DROP TABLE access_log, links;
DROP FUNCTION mg_notify CASCADE;
DELETE FROM grants WHERE folder_id IS NOT NULL OR subject_type <> 'user';
DROP INDEX grants_media_subject_idx, grants_folder_subject_idx, grants_subject_idx;
ALTER TABLE grants DROP CONSTRAINT grants_target_check, DROP CONSTRAINT grants_subject_check, DROP COLUMN folder_id;
ALTER TABLE grants ALTER COLUMN media_id SET NOT NULL, ALTER COLUMN subject_id SET NOT NULL;
ALTER TABLE grants ADD CONSTRAINT grants_subject_type_check CHECK (subject_type IN ('user'));
ALTER TABLE grants ADD PRIMARY KEY (media_id, subject_type, subject_id);
CREATE INDEX grants_subject_idx ON grants (subject_type, subject_id);
ALTER TABLE media DROP COLUMN folder_id;
CREATE OR REPLACE FUNCTION mg_level(principal uuid, principal_role text, item uuid) RETURNS smallint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
    ELSE COALESCE(GREATEST(
        (SELECT 3::smallint FROM media m WHERE m.id = item AND m.owner_id = principal),
        (SELECT max(g.permission) FROM grants g
          WHERE g.media_id = item AND g.subject_type = 'user' AND g.subject_id = principal)
    ), 0::smallint) END
$$;
DROP FUNCTION mg_folder_level, mg_subject_match;
DROP TABLE folders, group_members, groups;
