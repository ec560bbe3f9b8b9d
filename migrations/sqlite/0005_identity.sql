-- Duplicate-ID claims: what claimants and reviewers read.

-- One row per claim (identity + claimant): its status, the manual review, real-person checks.
CREATE TABLE identity_claims_v1 (
    identity_id            TEXT   NOT NULL,
    claimant               TEXT   NOT NULL,
    holder                 TEXT   NOT NULL,
    document_type          TEXT   NOT NULL,
    document_masked        TEXT   NOT NULL,
    status                 TEXT   NOT NULL,
    approved_by            TEXT,
    review_status          TEXT,
    review_reason          TEXT,
    review_requested_at    INTEGER,
    photo_sha256           TEXT,
    liveness_failures      INTEGER NOT NULL DEFAULT 0,
    manual_review_required INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    PRIMARY KEY (identity_id, claimant)
) STRICT;
CREATE INDEX identity_claims_v1_review_idx ON identity_claims_v1 (review_status, review_requested_at);
CREATE INDEX identity_claims_v1_claimant_idx ON identity_claims_v1 (claimant);

-- Classmate-assistance requests: the invited classmate's inbox.
CREATE TABLE assist_requests_v1 (
    request_id  TEXT   PRIMARY KEY,
    identity_id TEXT   NOT NULL,
    claimant    TEXT   NOT NULL,
    classmate   TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_at  INTEGER NOT NULL,
    answered_at INTEGER
) STRICT;
CREATE INDEX assist_requests_v1_classmate_idx ON assist_requests_v1 (classmate, created_at);

-- Real-person check sessions started with the provider: which claim each belongs to.
CREATE TABLE liveness_sessions (
    session_id  TEXT   PRIMARY KEY,
    identity_id TEXT   NOT NULL,
    claimant    TEXT   NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
