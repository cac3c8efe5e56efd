-- Users, sessions and API tokens.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    role          text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The table alexedwards/scs/pgxstore expects.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed logins, counted per account and per client to throttle guessing.
CREATE TABLE login_failures (
    key       text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);

-- Content-addressed files: one row per distinct content, stored once on disk
-- under private/<sha[0:2]>/<sha[2:4]>/<sha>.
CREATE TABLE blobs (
    sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint NOT NULL CHECK (size >= 0),
    content_type text NOT NULL,
    extension    text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Media items: a user's name for a blob, with an owner.
CREATE TABLE media (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    filename   text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    blob       text NOT NULL REFERENCES blobs (sha256),
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    public_name text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_created_idx ON media (created_at DESC, id DESC);
CREATE INDEX media_owner_idx ON media (owner_id);
CREATE INDEX media_blob_idx ON media (blob);

-- Grants: a subject's permission on an item (1 view, 2 edit, 3 manage).
-- subject_type leaves room for groups and everyone; media_id for folders.
CREATE TABLE grants (
    media_id     uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    subject_type text NOT NULL CHECK (subject_type IN ('user')),
    subject_id   uuid NOT NULL,
    permission   smallint NOT NULL CHECK (permission BETWEEN 1 AND 3),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media_id, subject_type, subject_id)
);
CREATE INDEX grants_subject_idx ON grants (subject_type, subject_id);

-- mg_level is the access rule: the permission (0 none, 1 view, 2 edit,
-- 3 manage) that a principal has on an item. Admins bypass, owners manage,
-- and the strongest grant wins. Every decision and every listing calls it, so
-- the rule is written once.
CREATE FUNCTION mg_level(principal uuid, principal_role text, item uuid) RETURNS smallint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
    ELSE COALESCE(GREATEST(
        (SELECT 3::smallint FROM media m WHERE m.id = item AND m.owner_id = principal),
        (SELECT max(g.permission) FROM grants g
          WHERE g.media_id = item AND g.subject_type = 'user' AND g.subject_id = principal)
    ), 0::smallint) END
$$;
