ALTER TABLE api_tokens DROP COLUMN name;
ALTER TABLE users DROP COLUMN session_epoch;
