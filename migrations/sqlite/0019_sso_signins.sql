-- Back-channel logout (issue 17): which platforms each xuexin session signed in to, with the
-- logout token's subject and sid, so that ending the session queues a logout to each of them
-- in the message outbox (channel `backchannel`). Only platforms with a back-channel URI.
CREATE TABLE sso_signins (
    session_hash    TEXT   NOT NULL,
    client_id       TEXT   NOT NULL,
    account_id      TEXT   NOT NULL,
    backchannel_uri TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (session_hash, client_id)
) STRICT;
