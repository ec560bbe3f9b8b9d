-- Student records: read models, the binder's state and task queue, and stored photos.

-- The school registry as read models see it.
CREATE TABLE schools_v1 (
    code     text PRIMARY KEY,
    name     text NOT NULL,
    province text NOT NULL
);

-- One row per record. `fields` is the record's field map as JSON text (the ID number only as
-- digest and mask); the other columns are what lists filter and sort by.
CREATE TABLE student_records_v1 (
    record_id           text   PRIMARY KEY,
    kind                text   NOT NULL,
    school_code         text   NOT NULL,
    name                text   NOT NULL,
    number_digest       text   NOT NULL,
    class_name          text   NOT NULL,
    enrolment_year      bigint NOT NULL,
    student_number      text   NOT NULL,
    certificate_number  text   NOT NULL,
    graduation_year     bigint NOT NULL,
    account_id          text,
    fields              text   NOT NULL,
    photos              text   NOT NULL,
    pending_corrections text   NOT NULL,
    created_at          bigint NOT NULL,
    updated_at          bigint NOT NULL,
    version             bigint NOT NULL
);
CREATE INDEX student_records_v1_school_idx ON student_records_v1 (school_code, enrolment_year, class_name);
CREATE INDEX student_records_v1_account_idx ON student_records_v1 (account_id);
CREATE INDEX student_records_v1_digest_idx ON student_records_v1 (number_digest);
CREATE INDEX student_records_v1_certificate_idx ON student_records_v1 (certificate_number);

-- Every change of a record, with the values before and after (学籍信息变更记录).
CREATE TABLE record_changes_v1 (
    record_id   text   NOT NULL,
    sequence    bigint NOT NULL,
    at          bigint NOT NULL,
    actor       text   NOT NULL,
    change_type text   NOT NULL,
    details     text   NOT NULL,
    PRIMARY KEY (record_id, sequence)
);

-- The latest conclusion per record and check type (核对类型 / 核对结论).
CREATE TABLE record_checks_v1 (
    record_id  text   NOT NULL,
    check_type text   NOT NULL,
    conclusion text   NOT NULL,
    correction text,
    account_id text   NOT NULL,
    checked_at bigint NOT NULL,
    PRIMARY KEY (record_id, check_type)
);

-- The binder's view of people and records, kept in its own transaction so that its decisions
-- follow the log exactly, whichever of account and record came first.
CREATE TABLE binder_people_v1 (
    account_id    text   PRIMARY KEY,
    number_digest text   NOT NULL,
    name          text   NOT NULL,
    active        bigint NOT NULL
);
CREATE INDEX binder_people_v1_digest_idx ON binder_people_v1 (number_digest);

CREATE TABLE binder_records_v1 (
    record_id     text PRIMARY KEY,
    number_digest text NOT NULL,
    name          text NOT NULL,
    account_id    text
);
CREATE INDEX binder_records_v1_digest_idx ON binder_records_v1 (number_digest);

-- Commands that process managers (the record binder, identity transfers) decided on; a loop
-- carries them out with retries. Every kind is idempotent, so doing one twice changes nothing.
CREATE TABLE process_tasks (
    id              text   PRIMARY KEY,
    kind            text   NOT NULL,
    payload         text   NOT NULL,
    status          text   NOT NULL DEFAULT 'pending',
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_error      text,
    created_at      bigint NOT NULL
);
CREATE INDEX process_tasks_due_idx ON process_tasks (status, next_attempt_at);

-- Uploaded images (record photos; identity-review photos), outside the event log. Events name
-- them by SHA-256.
CREATE TABLE blobs (
    sha256       text   PRIMARY KEY,
    content_type text   NOT NULL,
    size         bigint NOT NULL,
    bytes        bytea  NOT NULL,
    created_at   bigint NOT NULL
);
