-- Back-channel logout (issue 17): which platforms each xuexin session signed in to, with the
-- logout token's subject and sid, so that ending the session queues a logout to each of them
-- in the message outbox (channel `backchannel`). Only platforms with a back-channel URI.
CREATE TABLE sso_signins (
    session_hash    text   NOT NULL,
    client_id       text   NOT NULL,
    account_id      text   NOT NULL,
    backchannel_uri text   NOT NULL,
    payload         text   NOT NULL,
    created_at      bigint NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);
