-- A staff session is opened before its second factor (TOTP or a recovery code): until it has
-- passed it, it reaches no staff page and no staff endpoint (issue 16).
ALTER TABLE sessions ADD COLUMN factor_pending INTEGER NOT NULL DEFAULT 0;
