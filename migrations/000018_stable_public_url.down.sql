ALTER TABLE media DROP CONSTRAINT media_one_public_name_check;
ALTER TABLE media DROP COLUMN withdrawn_public_name;
