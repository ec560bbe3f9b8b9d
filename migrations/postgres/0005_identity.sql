-- Duplicate-ID claims: what claimants and reviewers read.

-- One row per claim (identity + claimant): its status, the manual review, real-person checks.
CREATE TABLE identity_claims_v1 (
    identity_id            text   NOT NULL,
    claimant               text   NOT NULL,
    holder                 text   NOT NULL,
    document_type          text   NOT NULL,
    document_masked        text   NOT NULL,
    status                 text   NOT NULL,
    approved_by            text,
    review_status          text,
    review_reason          text,
    review_requested_at    bigint,
    photo_sha256           text,
    liveness_failures      bigint NOT NULL DEFAULT 0,
    manual_review_required bigint NOT NULL DEFAULT 0,
    created_at             bigint NOT NULL,
    updated_at             bigint NOT NULL,
    PRIMARY KEY (identity_id, claimant)
);
CREATE INDEX identity_claims_v1_review_idx ON identity_claims_v1 (review_status, review_requested_at);
CREATE INDEX identity_claims_v1_claimant_idx ON identity_claims_v1 (claimant);

-- Classmate-assistance requests: the invited classmate's inbox.
CREATE TABLE assist_requests_v1 (
    request_id  text   PRIMARY KEY,
    identity_id text   NOT NULL,
    claimant    text   NOT NULL,
    classmate   text   NOT NULL,
    status      text   NOT NULL,
    created_at  bigint NOT NULL,
    answered_at bigint
);
CREATE INDEX assist_requests_v1_classmate_idx ON assist_requests_v1 (classmate, created_at);

-- Real-person check sessions started with the provider: which claim each belongs to.
CREATE TABLE liveness_sessions (
    session_id  text   PRIMARY KEY,
    identity_id text   NOT NULL,
    claimant    text   NOT NULL,
    created_at  bigint NOT NULL
);
