-- Production lines and accounts (hardening issue items 12-15).
--
-- Access tokens issued before tokens_valid_after are refused (logout
-- everywhere, a password change, a refresh token reuse).
ALTER TABLE users ADD COLUMN tokens_valid_after TEXT;
