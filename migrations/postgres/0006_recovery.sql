-- Recovery and account management.

-- Image captchas: a keyed hash of the answer, single use, five minutes.
CREATE TABLE captchas (
    id          text   PRIMARY KEY,
    answer_hash text   NOT NULL,
    expires_at  bigint NOT NULL,
    consumed_at bigint
);

-- Password recovery tokens, hashed. `start` (after username + captcha) opens the methods the
-- account has bound; `reset` (after a method succeeded, or from the e-mailed link) allows one
-- new password. Each names the account's credential generation, so any reset or change of the
-- password kills every token made before it.
CREATE TABLE recovery_tickets (
    ticket_hash text   PRIMARY KEY,
    account_id  text   NOT NULL,
    stage       text   NOT NULL,
    method      text,
    generation  bigint NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    consumed_at bigint
);
CREATE INDEX recovery_tickets_account_idx ON recovery_tickets (account_id);

-- OAuth `state` of a WeChat or Alipay login or bind, bound to the browser that started it
-- (a cookie whose hash is kept here) and, for a bind, to the logged-in account.
CREATE TABLE oauth_states (
    state_hash   text   PRIMARY KEY,
    provider     text   NOT NULL,
    purpose      text   NOT NULL,
    account_id   text,
    browser_hash text   NOT NULL,
    expires_at   bigint NOT NULL,
    consumed_at  bigint
);

-- The messenger's own view of where to reach each account (kept in its transaction).
CREATE TABLE messenger_contacts (
    account_id     text   PRIMARY KEY,
    phone          text,
    email          text,
    email_verified bigint NOT NULL DEFAULT 0
);

-- Account view: which external logins are linked (`wechat,alipay`).
ALTER TABLE account_view_v1 ADD COLUMN linked_providers text NOT NULL DEFAULT '';

-- Name changes of resident-ID holders waiting for a reviewer (part of the account view).
CREATE TABLE name_change_requests_v1 (
    account_id      text   PRIMARY KEY,
    current_name    text   NOT NULL,
    new_name        text   NOT NULL,
    reason          text   NOT NULL,
    document_masked text   NOT NULL,
    requested_at    bigint NOT NULL
);

-- The mail outbox becomes the message outbox (mail and SMS notices; the messenger process
-- manager, messenger_v1, replaces mail_queue_v1 and queues into it).
ALTER TABLE mail_outbox RENAME TO message_outbox;
ALTER TABLE message_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
-- What a message needs beyond its kind (e.g. a reset link's credential generation).
ALTER TABLE message_outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
DROP INDEX mail_outbox_due_idx;
CREATE INDEX message_outbox_due_idx ON message_outbox (status, next_attempt_at);
