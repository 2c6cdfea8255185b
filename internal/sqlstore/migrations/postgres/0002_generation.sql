-- Generated batches: the recipe of their codes and, for background batches,
-- the progress of the artifact.
CREATE TABLE generation_batches (
    batch_id   TEXT    PRIMARY KEY,
    spec       JSONB   NOT NULL,
    format     TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    done       BIGINT NOT NULL DEFAULT 0,
    total      BIGINT NOT NULL,
    error      TEXT    NOT NULL DEFAULT '',
    artifact   TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX generation_batches_unfinished ON generation_batches (created_at) WHERE status IN ('queued', 'running');
