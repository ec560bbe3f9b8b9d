-- Where the NATS JetStream relay stands in the log: advanced only after JetStream acknowledged
-- every event up to it. Kept apart from projection checkpoints (a relay waiting for NATS is not
-- a projection lagging).
CREATE TABLE relay_checkpoints (
    relay          TEXT   PRIMARY KEY,
    transaction_id INTEGER NOT NULL,
    position       INTEGER NOT NULL
) STRICT;
