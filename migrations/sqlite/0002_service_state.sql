-- Ephemeral state that is not history (DESIGN: storage): keys, codes, rate-limit counters,
-- sessions, idempotency records, mail queues. Times are Unix milliseconds; ids are TEXT.

-- Keys the service generates for itself on first start (e.g. the document-number digest key).
CREATE TABLE service_keys (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- SMS codes: only a keyed hash of the code is stored; single use; bound to phone + purpose.
CREATE TABLE sms_codes (
    id          TEXT    PRIMARY KEY,
    phone       TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    code_hash   TEXT    NOT NULL,
    created_at  INTEGER  NOT NULL,
    expires_at  INTEGER  NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER
) STRICT;
CREATE INDEX sms_codes_phone_purpose_idx ON sms_codes (phone, purpose, created_at);

-- Fixed-window counters.
CREATE TABLE rate_limits (
    bucket       TEXT   PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
) STRICT;

-- Bearer sessions: the token's SHA-256 only.
CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,
    account_id TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    client_ip  TEXT,
    -- A staff session's role and scope (school code, province, office); NULL for people.
    role       TEXT,
    scope      TEXT,
    -- The log position of the login; reads in this session wait for at least it.
    position   INTEGER NOT NULL DEFAULT 0,
    -- Opened by an account waiting for identity review: only verification endpoints answer.
    pending_review INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sessions_account_idx ON sessions (account_id);

-- Idempotency-Key records: the first response to a key, replayed for repeats.
CREATE TABLE idempotency_keys (
    scope           TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    request_hash    TEXT   NOT NULL,
    status_code     INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
) STRICT;

-- E-mail link tokens (verification now, password reset later): SHA-256 of the token only.
CREATE TABLE email_tokens (
    token_hash  TEXT   PRIMARY KEY,
    account_id  TEXT   NOT NULL,
    email       TEXT   NOT NULL,
    purpose     TEXT   NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
) STRICT;
CREATE INDEX email_tokens_account_idx ON email_tokens (account_id, purpose);

-- Mail to send, queued by the mailer (a process manager reading the log) in the same
-- transaction as its checkpoint; the sender delivers with retries. The link token is made at
-- send time, so no clear token ever rests in this table.
CREATE TABLE mail_outbox (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    expires_at      INTEGER  NOT NULL,
    created_at      INTEGER  NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER  NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER
) STRICT;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);

-- What the capture gateways delivered (development and tests): the "phone" and "mailbox".
CREATE TABLE dev_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT   NOT NULL,
    recipient  TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX dev_outbox_recipient_idx ON dev_outbox (recipient, id);

-- Where each projector (and process manager) stands in the log.
CREATE TABLE projection_checkpoints (
    projection     TEXT   PRIMARY KEY,
    transaction_id INTEGER NOT NULL,
    position       INTEGER NOT NULL
) STRICT;
