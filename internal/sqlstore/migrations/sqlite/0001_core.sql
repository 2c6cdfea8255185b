-- Core tables: the outbox, idempotency keys, processed events, inventory.

CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    subject        TEXT    NOT NULL DEFAULT '',
    time           TEXT    NOT NULL,
    data           TEXT    NOT NULL DEFAULT '{}',
    traceparent    TEXT    NOT NULL DEFAULT '',
    correlation_id TEXT    NOT NULL DEFAULT '',
    sent_at        TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

CREATE TABLE processed_events (
    consumer   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'done')),
    status_code  INTEGER NOT NULL DEFAULT 0,
    response     TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE lot_counters (
    component_type TEXT    NOT NULL,
    vendor_code    TEXT    NOT NULL,
    lot_number     TEXT    NOT NULL,
    next_serial    INTEGER NOT NULL CHECK (next_serial >= 1),
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (component_type, vendor_code, lot_number)
);

CREATE TABLE batches (
    id                 TEXT    PRIMARY KEY,
    component_type     TEXT    NOT NULL,
    vendor_code        TEXT    NOT NULL,
    lot_number         TEXT    NOT NULL,
    first_serial       INTEGER NOT NULL,
    count              INTEGER NOT NULL CHECK (count >= 1),
    manufacturing_date TEXT,
    warranty_years     INTEGER NOT NULL DEFAULT 0,
    attributes         TEXT    NOT NULL DEFAULT '{}',
    created_by         TEXT    NOT NULL DEFAULT '',
    created_at         TEXT    NOT NULL
);

-- batch_id has no foreign key: a batch and its items are written in one
-- transaction, and a per-row check would double the cost of a 100,000-item
-- batch. A batch's items are found by lot and serial range instead.
CREATE TABLE items (
    uid                TEXT    PRIMARY KEY,
    component_type     TEXT    NOT NULL,
    vendor_code        TEXT    NOT NULL,
    lot_number         TEXT    NOT NULL,
    serial             INTEGER NOT NULL,
    manufacturing_date TEXT,
    warranty_years     INTEGER NOT NULL DEFAULT 0,
    warranty_end       TEXT,
    status             TEXT    NOT NULL,
    location           TEXT    NOT NULL DEFAULT '',
    attributes         TEXT    NOT NULL DEFAULT '{}',
    batch_id           TEXT,
    parent_uid         TEXT    REFERENCES items (uid),
    last_seen_at       TEXT,
    last_seen_location TEXT    NOT NULL DEFAULT '',
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    version            INTEGER NOT NULL DEFAULT 1,
    UNIQUE (component_type, vendor_code, lot_number, serial)
);
CREATE INDEX items_status_uid ON items (status, uid);
CREATE INDEX items_created_uid ON items (created_at, uid);
-- Partial indexes leave new items (no location, status generated) out, so
-- allocating a batch maintains fewer indexes.
CREATE INDEX items_location_uid ON items (location, uid) WHERE location <> '';
CREATE INDEX items_parent ON items (parent_uid) WHERE parent_uid IS NOT NULL;
CREATE INDEX items_available ON items (component_type, vendor_code) WHERE status = 'available';

CREATE TABLE item_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    item_uid   TEXT NOT NULL REFERENCES items (uid),
    kind       TEXT NOT NULL,
    from_value TEXT NOT NULL DEFAULT '',
    to_value   TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    event_id   TEXT NOT NULL DEFAULT '',
    at         TEXT NOT NULL
);
CREATE INDEX item_history_item ON item_history (item_uid, id);
CREATE INDEX item_history_kind_at ON item_history (kind, to_value, at);

CREATE TABLE stock_thresholds (
    component_type TEXT    NOT NULL,
    vendor_code    TEXT    NOT NULL DEFAULT '',
    min_available  INTEGER NOT NULL CHECK (min_available >= 0),
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (component_type, vendor_code)
);

CREATE TABLE stock_alerts (
    id              TEXT    PRIMARY KEY,
    component_type  TEXT    NOT NULL,
    vendor_code     TEXT    NOT NULL DEFAULT '',
    threshold       INTEGER NOT NULL,
    available       INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    raised_at       TEXT    NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT    NOT NULL DEFAULT '',
    resolved_at     TEXT
);
CREATE INDEX stock_alerts_key ON stock_alerts (component_type, vendor_code, state);
