-- A session closed with apply = true is marked until its reconciliation is
-- applied and stored, so that a restart finishes a close a crash interrupted.
ALTER TABLE scan_sessions ADD COLUMN apply_pending BOOLEAN NOT NULL DEFAULT FALSE;
