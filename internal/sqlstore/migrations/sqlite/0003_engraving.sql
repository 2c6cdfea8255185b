-- Engraving: machines, their history, jobs (the queue), the items of each
-- job, and the burn images of jobs run on a simulated machine.
CREATE TABLE engraving_machines (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    address      TEXT    NOT NULL,
    work_width   REAL    NOT NULL,
    work_height  REAL    NOT NULL,
    laser_type   TEXT    NOT NULL,
    spot_size    REAL    NOT NULL,
    settings     TEXT    NOT NULL DEFAULT '{}',
    info         TEXT    NOT NULL DEFAULT '{}',
    simulated    INTEGER NOT NULL DEFAULT 0,
    auto_connect INTEGER NOT NULL DEFAULT 0,
    paused       INTEGER NOT NULL DEFAULT 0,
    home_required INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);

CREATE TABLE engraving_machine_events (
    id         INTEGER PRIMARY KEY,
    machine_id TEXT    NOT NULL REFERENCES engraving_machines (id),
    kind       TEXT    NOT NULL,
    alarm_code INTEGER NOT NULL DEFAULT 0,
    detail     TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '',
    job_id     TEXT    NOT NULL DEFAULT '',
    event_id   TEXT    NOT NULL DEFAULT '',
    at         TEXT    NOT NULL
);
CREATE INDEX engraving_machine_events_machine ON engraving_machine_events (machine_id, id);

CREATE TABLE engraving_jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL,
    priority         TEXT    NOT NULL,
    priority_rank    INTEGER NOT NULL,
    parts            TEXT    NOT NULL,
    laser            TEXT    NOT NULL,
    placement        TEXT    NOT NULL,
    tray             TEXT,
    min_x            REAL    NOT NULL,
    min_y            REAL    NOT NULL,
    max_x            REAL    NOT NULL,
    max_y            REAL    NOT NULL,
    module_mm        REAL    NOT NULL,
    machine_id       TEXT    NOT NULL DEFAULT '',
    pinned           INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 1,
    retry_of         TEXT    NOT NULL DEFAULT '',
    lines_total      INTEGER NOT NULL DEFAULT 0,
    lines_acked      INTEGER NOT NULL DEFAULT 0,
    parts_done       INTEGER NOT NULL DEFAULT 0,
    estimate_seconds REAL    NOT NULL DEFAULT 0,
    actual_seconds   REAL,
    error_code       TEXT    NOT NULL DEFAULT '',
    error_text       TEXT    NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resolution       TEXT    NOT NULL DEFAULT '',
    resolution_note  TEXT    NOT NULL DEFAULT '',
    resolved_by      TEXT    NOT NULL DEFAULT '',
    resolved_at      TEXT,
    next_job_id      TEXT    NOT NULL DEFAULT '',
    created_by       TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    heartbeat_at     TEXT
);
-- The queue: queued jobs by priority, then first in first out.
CREATE INDEX engraving_jobs_queue ON engraving_jobs (priority_rank DESC, seq) WHERE status = 'queued';
CREATE INDEX engraving_jobs_running ON engraving_jobs (heartbeat_at) WHERE status = 'running';
CREATE INDEX engraving_jobs_status ON engraving_jobs (status, seq);

CREATE TABLE engraving_job_items (
    item_uid TEXT NOT NULL,
    job_id   TEXT NOT NULL REFERENCES engraving_jobs (id),
    PRIMARY KEY (item_uid, job_id)
);

CREATE TABLE engraving_previews (
    job_id     TEXT PRIMARY KEY REFERENCES engraving_jobs (id),
    png        BLOB NOT NULL,
    created_at TEXT NOT NULL
);
