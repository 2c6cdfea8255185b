-- Audit log: hash-chained entries, the chain head (one row, locked by every
-- append so the chain never forks) and signed checkpoints. before/after are
-- TEXT on both databases: the exact bytes are hashed, and JSONB would
-- re-encode them.

CREATE TABLE audit_entries (
    seq         INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id   TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT,
    request_id  TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_entries_time ON audit_entries (time);
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, seq);
CREATE INDEX audit_entries_object ON audit_entries (object_type, object_id, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    size      INTEGER NOT NULL,
    root      TEXT NOT NULL,
    time      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL, -- hex Ed25519 signature
    PRIMARY KEY (size, time)
);
