-- Read models. Each is owned by one projector and can be emptied and rebuilt from the log;
-- the version suffix changes when a fold changes, so a rebuild fills a new table.

-- Login index: phone / e-mail / document-number digest -> account.
CREATE TABLE login_index_v1 (
    login_key  text PRIMARY KEY,
    kind       text NOT NULL,
    account_id text NOT NULL
);
CREATE INDEX login_index_v1_account_idx ON login_index_v1 (account_id);

-- Account view: what /me shows. Phone and document number are kept masked only.
CREATE TABLE account_view_v1 (
    account_id             text    PRIMARY KEY,
    status                 text    NOT NULL,
    name                   text    NOT NULL,
    phone_masked           text,
    document_type          text    NOT NULL,
    document_masked        text    NOT NULL,
    email                  text,
    email_verified         boolean NOT NULL,
    security_questions_set boolean NOT NULL,
    registration_channel   text    NOT NULL,
    locked_until           bigint,
    last_login_at          bigint,
    created_at             bigint NOT NULL,
    registered_at          bigint,
    updated_at             bigint NOT NULL,
    version                bigint NOT NULL
);

-- Registrations whose saga has started and not ended: what recovery resumes after a crash.
CREATE TABLE registration_sagas_v1 (
    account_id text   PRIMARY KEY,
    started_at bigint NOT NULL
);
