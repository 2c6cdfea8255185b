-- Identity: users, refresh token families and tokens (hashes only), API keys
-- (prefix and hash only). Lists are JSON arrays stored as text.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE, -- lower-cased by the service
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'supervisor', 'admin')),
    lines         TEXT    NOT NULL DEFAULT '[]',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE refresh_families (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_families_user ON refresh_families (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY, -- hex SHA-256 of the token
    family_id   TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
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
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_owner ON api_keys (owner_id);
