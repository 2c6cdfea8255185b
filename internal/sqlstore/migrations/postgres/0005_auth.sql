-- Identity: users, refresh token families and tokens (hashes only), API keys
-- (prefix and hash only). Lists are JSON arrays stored as text.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE, -- lower-cased by the service
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'supervisor', 'admin')),
    lines         TEXT    NOT NULL DEFAULT '[]',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE refresh_families (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_families_user ON refresh_families (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY, -- hex SHA-256 of the token
    family_id   TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    replaced_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL, -- hex SHA-256 of the whole key
    name         TEXT NOT NULL,
    owner_id     TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'supervisor', 'admin')),
    scopes       TEXT NOT NULL DEFAULT '[]',
    lines        TEXT NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_owner ON api_keys (owner_id);
