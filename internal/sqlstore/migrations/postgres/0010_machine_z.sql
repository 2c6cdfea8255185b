-- A machine with a usable Z axis cuts a job's depth as a Z step per pass;
-- without one, depth is ignored (the column says which).
ALTER TABLE engraving_machines ADD COLUMN has_z BOOLEAN NOT NULL DEFAULT FALSE;
