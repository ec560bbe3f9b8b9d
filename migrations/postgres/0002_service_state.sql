-- Ephemeral state that is not history (DESIGN: storage): keys, codes, rate-limit counters,
-- sessions, idempotency records, mail queues. Times are Unix milliseconds; ids are text.

-- Keys the service generates for itself on first start (e.g. the document-number digest key).
CREATE TABLE service_keys (
    name       text   PRIMARY KEY,
    value      text   NOT NULL,
    created_at bigint NOT NULL
);

-- SMS codes: only a keyed hash of the code is stored; single use; bound to phone + purpose.
CREATE TABLE sms_codes (
    id          text    PRIMARY KEY,
    phone       text    NOT NULL,
    purpose     text    NOT NULL,
    code_hash   text    NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    consumed_at bigint
);
CREATE INDEX sms_codes_phone_purpose_idx ON sms_codes (phone, purpose, created_at);

-- Fixed-window counters.
CREATE TABLE rate_limits (
    bucket       text   PRIMARY KEY,
    window_start bigint NOT NULL,
    count        bigint NOT NULL
);

-- Bearer sessions: the token's SHA-256 only.
CREATE TABLE sessions (
    token_hash text   PRIMARY KEY,
    account_id text   NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    revoked_at bigint,
    client_ip  text,
    -- A staff session's role and scope (school code, province, office); NULL for people.
    role       text,
    scope      text,
    -- The log position of the login; reads in this session wait for at least it.
    position   bigint NOT NULL DEFAULT 0,
    -- Opened by an account waiting for identity review: only verification endpoints answer.
    pending_review bigint NOT NULL DEFAULT 0
);
CREATE INDEX sessions_account_idx ON sessions (account_id);

-- Idempotency-Key records: the first response to a key, replayed for repeats.
CREATE TABLE idempotency_keys (
    scope           text   NOT NULL,
    idempotency_key text   NOT NULL,
    request_hash    text   NOT NULL,
    status_code     bigint,
    response_body   text,
    created_at      bigint NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);

-- E-mail link tokens (verification now, password reset later): SHA-256 of the token only.
CREATE TABLE email_tokens (
    token_hash  text   PRIMARY KEY,
    account_id  text   NOT NULL,
    email       text   NOT NULL,
    purpose     text   NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    consumed_at bigint
);
CREATE INDEX email_tokens_account_idx ON email_tokens (account_id, purpose);

-- Mail to send, queued by the mailer (a process manager reading the log) in the same
-- transaction as its checkpoint; the sender delivers with retries. The link token is made at
-- send time, so no clear token ever rests in this table.
CREATE TABLE mail_outbox (
    id              text    PRIMARY KEY,
    kind            text    NOT NULL,
    account_id      text    NOT NULL,
    recipient       text    NOT NULL,
    expires_at      bigint NOT NULL,
    created_at      bigint NOT NULL,
    status          text    NOT NULL DEFAULT 'pending',
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_error      text,
    sent_at         bigint
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);

-- What the capture gateways delivered (development and tests): the "phone" and "mailbox".
CREATE TABLE dev_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel    text   NOT NULL,
    recipient  text   NOT NULL,
    subject    text   NOT NULL,
    body       text   NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX dev_outbox_recipient_idx ON dev_outbox (recipient, id);

-- Where each projector (and process manager) stands in the log.
CREATE TABLE projection_checkpoints (
    projection     text   PRIMARY KEY,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL
);
