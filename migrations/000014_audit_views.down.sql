DROP FUNCTION mg_via(uuid, text, uuid);
DROP INDEX access_log_views_idx;
ALTER TABLE access_log DROP COLUMN bytes;
ALTER TABLE access_log DROP COLUMN via;
