-- Production lines (issue 6): items, their batches, machines, engraving jobs
-- and scanning sessions carry the line they belong to ('' = none). A user or
-- API key restricted to lines sees and touches only those.
ALTER TABLE batches ADD COLUMN line TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN line TEXT NOT NULL DEFAULT '';
ALTER TABLE engraving_machines ADD COLUMN line TEXT NOT NULL DEFAULT '';
ALTER TABLE engraving_jobs ADD COLUMN line TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_sessions ADD COLUMN line TEXT NOT NULL DEFAULT '';
-- Restricted listings filter on the line; new items without one stay out of the index.
CREATE INDEX items_line_uid ON items (line, uid) WHERE line <> '';
