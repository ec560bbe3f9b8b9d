-- 问题反馈: support tickets as the person and the staff read them (support_tickets_v1, a
-- projection of the SupportTicket aggregate's events).
CREATE TABLE support_tickets_v1 (
    ticket_id         TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL,
    username          TEXT NOT NULL,
    description       TEXT NOT NULL,
    screenshot_sha256 TEXT,
    screenshot_type   TEXT,
    -- open, answered or closed
    status            TEXT NOT NULL,
    opened_at         INTEGER NOT NULL,
    answer            TEXT,
    answered_by       TEXT,
    answered_at       INTEGER,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX support_tickets_v1_account_idx ON support_tickets_v1 (account_id, opened_at);
CREATE INDEX support_tickets_v1_status_idx ON support_tickets_v1 (status, opened_at);
