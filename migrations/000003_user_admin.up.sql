-- session_epoch is copied into a session at login; bumping it (a password
-- change, "sign out everywhere") ends every session of the user at once.
ALTER TABLE users ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN name text NOT NULL DEFAULT '';
