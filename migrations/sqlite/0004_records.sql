-- Student records: read models, the binder's state and task queue, and stored photos.

-- The school registry as read models see it.
CREATE TABLE schools_v1 (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    province TEXT NOT NULL
) STRICT;

-- One row per record. `fields` is the record's field map as JSON TEXT (the ID number only as
-- digest and mask); the other columns are what lists filter and sort by.
CREATE TABLE student_records_v1 (
    record_id           TEXT   PRIMARY KEY,
    kind                TEXT   NOT NULL,
    school_code         TEXT   NOT NULL,
    name                TEXT   NOT NULL,
    number_digest       TEXT   NOT NULL,
    class_name          TEXT   NOT NULL,
    enrolment_year      INTEGER NOT NULL,
    student_number      TEXT   NOT NULL,
    certificate_number  TEXT   NOT NULL,
    graduation_year     INTEGER NOT NULL,
    account_id          TEXT,
    fields              TEXT   NOT NULL,
    photos              TEXT   NOT NULL,
    pending_corrections TEXT   NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL
) STRICT;
CREATE INDEX student_records_v1_school_idx ON student_records_v1 (school_code, enrolment_year, class_name);
CREATE INDEX student_records_v1_account_idx ON student_records_v1 (account_id);
CREATE INDEX student_records_v1_digest_idx ON student_records_v1 (number_digest);
CREATE INDEX student_records_v1_certificate_idx ON student_records_v1 (certificate_number);

-- Every change of a record, with the values before and after (学籍信息变更记录).
CREATE TABLE record_changes_v1 (
    record_id   TEXT   NOT NULL,
    sequence    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT   NOT NULL,
    change_type TEXT   NOT NULL,
    details     TEXT   NOT NULL,
    PRIMARY KEY (record_id, sequence)
) STRICT;

-- The latest conclusion per record and check type (核对类型 / 核对结论).
CREATE TABLE record_checks_v1 (
    record_id  TEXT   NOT NULL,
    check_type TEXT   NOT NULL,
    conclusion TEXT   NOT NULL,
    correction TEXT,
    account_id TEXT   NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (record_id, check_type)
) STRICT;

-- The binder's view of people and records, kept in its own transaction so that its decisions
-- follow the log exactly, whichever of account and record came first.
CREATE TABLE binder_people_v1 (
    account_id    TEXT   PRIMARY KEY,
    number_digest TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    active        INTEGER NOT NULL
) STRICT;
CREATE INDEX binder_people_v1_digest_idx ON binder_people_v1 (number_digest);

CREATE TABLE binder_records_v1 (
    record_id     TEXT PRIMARY KEY,
    number_digest TEXT NOT NULL,
    name          TEXT NOT NULL,
    account_id    TEXT
) STRICT;
CREATE INDEX binder_records_v1_digest_idx ON binder_records_v1 (number_digest);

-- Commands that process managers (the record binder, identity transfers) decided on; a loop
-- carries them out with retries. Every kind is idempotent, so doing one twice changes nothing.
CREATE TABLE process_tasks (
    id              TEXT   PRIMARY KEY,
    kind            TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX process_tasks_due_idx ON process_tasks (status, next_attempt_at);

-- Uploaded images (record photos; identity-review photos), outside the event log. Events name
-- them by SHA-256.
CREATE TABLE blobs (
    sha256       TEXT   PRIMARY KEY,
    content_type TEXT   NOT NULL,
    size         INTEGER NOT NULL,
    bytes        BLOB  NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
