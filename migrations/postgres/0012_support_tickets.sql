-- 问题反馈: support tickets as the person and the staff read them (support_tickets_v1, a
-- projection of the SupportTicket aggregate's events).
CREATE TABLE support_tickets_v1 (
    ticket_id         text PRIMARY KEY,
    account_id        text NOT NULL,
    username          text NOT NULL,
    description       text NOT NULL,
    screenshot_sha256 text,
    screenshot_type   text,
    -- open, answered or closed
    status            text NOT NULL,
    opened_at         bigint NOT NULL,
    answer            text,
    answered_by       text,
    answered_at       bigint,
    updated_at        bigint NOT NULL
);
CREATE INDEX support_tickets_v1_account_idx ON support_tickets_v1 (account_id, opened_at);
CREATE INDEX support_tickets_v1_status_idx ON support_tickets_v1 (status, opened_at);
