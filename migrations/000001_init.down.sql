DROP FUNCTION mg_level;
DROP TABLE grants, media, blobs, login_failures, api_tokens, sessions, users;
