-- Production lines and accounts (hardening issue items 12-15).
--
-- Access tokens issued before tokens_valid_after are refused (logout
-- everywhere, a password change, a refresh token reuse).
ALTER TABLE users ADD COLUMN tokens_valid_after TEXT;

-- Addresses from which a user logged in successfully: a login from one of
-- them is not slowed down by failures from elsewhere.
CREATE TABLE login_addresses (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address  TEXT NOT NULL,
    last_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
);

-- Stock thresholds and their alerts belong to a production line ('' = the
-- whole plant). SQLite cannot change a primary key: the table is rebuilt.
CREATE TABLE stock_thresholds_new (
    line           TEXT    NOT NULL DEFAULT '',
    component_type TEXT    NOT NULL,
    vendor_code    TEXT    NOT NULL DEFAULT '',
    min_available  INTEGER NOT NULL CHECK (min_available >= 0),
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (line, component_type, vendor_code)
);
INSERT INTO stock_thresholds_new (line, component_type, vendor_code, min_available, updated_at)
    SELECT '', component_type, vendor_code, min_available, updated_at FROM stock_thresholds;
DROP TABLE stock_thresholds;
ALTER TABLE stock_thresholds_new RENAME TO stock_thresholds;
ALTER TABLE stock_alerts ADD COLUMN line TEXT NOT NULL DEFAULT '';
DROP INDEX stock_alerts_key;
CREATE INDEX stock_alerts_key ON stock_alerts (line, component_type, vendor_code, state);

-- Audit entries and the events they come from carry the production lines
-- they concern (a JSON array; '[]' = none).
ALTER TABLE audit_entries ADD COLUMN lines TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbox ADD COLUMN lines TEXT NOT NULL DEFAULT '[]';
