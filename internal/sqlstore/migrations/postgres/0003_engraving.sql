-- Engraving: machines, their history, jobs (the queue), the items of each
-- job, and the burn images of jobs run on a simulated machine.
CREATE TABLE engraving_machines (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    address      TEXT    NOT NULL,
    work_width   DOUBLE PRECISION    NOT NULL,
    work_height  DOUBLE PRECISION    NOT NULL,
    laser_type   TEXT    NOT NULL,
    spot_size    DOUBLE PRECISION    NOT NULL,
    settings     TEXT    NOT NULL DEFAULT '{}',
    info         TEXT    NOT NULL DEFAULT '{}',
    simulated    BOOLEAN NOT NULL DEFAULT FALSE,
    auto_connect BOOLEAN NOT NULL DEFAULT FALSE,
    paused       BOOLEAN NOT NULL DEFAULT FALSE,
    home_required BOOLEAN NOT NULL DEFAULT FALSE,
    pause_reason TEXT    NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ    NOT NULL,
    updated_at   TIMESTAMPTZ    NOT NULL
);

CREATE TABLE engraving_machine_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine_id TEXT    NOT NULL REFERENCES engraving_machines (id),
    kind       TEXT    NOT NULL,
    alarm_code BIGINT  NOT NULL DEFAULT 0,
    detail     TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '',
    job_id     TEXT    NOT NULL DEFAULT '',
    event_id   TEXT    NOT NULL DEFAULT '',
    at         TIMESTAMPTZ    NOT NULL
);
CREATE INDEX engraving_machine_events_machine ON engraving_machine_events (machine_id, id);

CREATE TABLE engraving_jobs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL,
    priority         TEXT    NOT NULL,
    priority_rank    BIGINT  NOT NULL,
    parts            TEXT    NOT NULL,
    laser            TEXT    NOT NULL,
    placement        TEXT    NOT NULL,
    tray             TEXT,
    min_x            DOUBLE PRECISION    NOT NULL,
    min_y            DOUBLE PRECISION    NOT NULL,
    max_x            DOUBLE PRECISION    NOT NULL,
    max_y            DOUBLE PRECISION    NOT NULL,
    module_mm        DOUBLE PRECISION    NOT NULL,
    machine_id       TEXT    NOT NULL DEFAULT '',
    pinned           BOOLEAN NOT NULL DEFAULT FALSE,
    attempt          BIGINT  NOT NULL DEFAULT 1,
    retry_of         TEXT    NOT NULL DEFAULT '',
    lines_total      BIGINT  NOT NULL DEFAULT 0,
    lines_acked      BIGINT  NOT NULL DEFAULT 0,
    parts_done       BIGINT  NOT NULL DEFAULT 0,
    estimate_seconds DOUBLE PRECISION    NOT NULL DEFAULT 0,
    actual_seconds   DOUBLE PRECISION,
    error_code       TEXT    NOT NULL DEFAULT '',
    error_text       TEXT    NOT NULL DEFAULT '',
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    resolution       TEXT    NOT NULL DEFAULT '',
    resolution_note  TEXT    NOT NULL DEFAULT '',
    resolved_by      TEXT    NOT NULL DEFAULT '',
    resolved_at      TIMESTAMPTZ,
    next_job_id      TEXT    NOT NULL DEFAULT '',
    created_by       TEXT    NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ    NOT NULL,
    updated_at       TIMESTAMPTZ    NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    heartbeat_at     TIMESTAMPTZ
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
    png        BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
