-- The browser or program a session was opened from (its User-Agent, at most 256 characters),
-- so that 账号管理 can list the account's sessions by device, address and time.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
