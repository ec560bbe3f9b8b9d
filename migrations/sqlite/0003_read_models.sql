-- Read models. Each is owned by one projector and can be emptied and rebuilt from the log;
-- the version suffix changes when a fold changes, so a rebuild fills a new table.

-- Login index: phone / e-mail / document-number digest -> account.
CREATE TABLE login_index_v1 (
    login_key  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    account_id TEXT NOT NULL
) STRICT;
CREATE INDEX login_index_v1_account_idx ON login_index_v1 (account_id);

-- Account view: what /me shows. Phone and document number are kept masked only.
CREATE TABLE account_view_v1 (
    account_id             TEXT    PRIMARY KEY,
    status                 TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    phone_masked           TEXT,
    document_type          TEXT    NOT NULL,
    document_masked        TEXT    NOT NULL,
    email                  TEXT,
    email_verified         INTEGER NOT NULL,
    security_questions_set INTEGER NOT NULL,
    registration_channel   TEXT    NOT NULL,
    locked_until           INTEGER,
    last_login_at          INTEGER,
    created_at             INTEGER  NOT NULL,
    registered_at          INTEGER,
    updated_at             INTEGER  NOT NULL,
    version                INTEGER  NOT NULL
) STRICT;

-- Registrations whose saga has started and not ended: what recovery resumes after a crash.
CREATE TABLE registration_sagas_v1 (
    account_id TEXT   PRIMARY KEY,
    started_at INTEGER NOT NULL
) STRICT;
