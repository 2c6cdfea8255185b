-- Scanning: scan events, sessions, their expected sets and the items seen.

CREATE TABLE scan_sessions (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL DEFAULT '',
    location       TEXT    NOT NULL DEFAULT '',
    expected       JSONB   NOT NULL DEFAULT '{}',
    status         TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
    expected_count BIGINT  NOT NULL DEFAULT 0,
    created_by     TEXT    NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,
    closed_by      TEXT    NOT NULL DEFAULT '',
    reconciliation JSONB
);
CREATE INDEX scan_sessions_open ON scan_sessions (created_at) WHERE status = 'open';

CREATE TABLE scan_session_expected (
    session_id TEXT NOT NULL REFERENCES scan_sessions (id) ON DELETE CASCADE,
    uid        TEXT NOT NULL,
    PRIMARY KEY (session_id, uid)
);

-- One row per distinct item seen in a session: the primary key decides
-- which scan was first and which are duplicates, also across processes.
CREATE TABLE scan_session_items (
    session_id TEXT NOT NULL REFERENCES scan_sessions (id) ON DELETE CASCADE,
    uid        TEXT NOT NULL,
    scan_id    TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, uid)
);

-- Scan ids are UUIDv7: their text order is time order, the listing's cursor.
CREATE TABLE scans (
    id            TEXT    PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    payload       TEXT    NOT NULL,
    verdict       TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    item_uid      TEXT    NOT NULL DEFAULT '',
    format        TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL,
    device        TEXT    NOT NULL DEFAULT '',
    location      TEXT    NOT NULL DEFAULT '',
    actor         TEXT    NOT NULL DEFAULT '',
    session_id    TEXT    NOT NULL DEFAULT '',
    unexpected    BOOLEAN NOT NULL DEFAULT FALSE,
    image_sha256  TEXT    NOT NULL DEFAULT '',
    grade         JSONB,
    grade_overall SMALLINT
);
CREATE INDEX scans_item ON scans (item_uid, id) WHERE item_uid <> '';
CREATE INDEX scans_session ON scans (session_id, id) WHERE session_id <> '';
CREATE INDEX scans_at ON scans (at);
