-- The event store: postgres-es's `events` table (same columns, same primary key, so the
-- repository's optimistic concurrency on (aggregate_type, aggregate_id, sequence) holds),
-- plus two columns the repository does not write, filled by defaults:
--   position        an identity, the event's number in the log;
--   transaction_id  the writing transaction's id (xid8).
-- Subscribers read (transaction_id, position) past their checkpoint and only below
-- pg_snapshot_xmin(pg_current_snapshot()), so an event whose transaction commits after a
-- later-numbered one is never skipped.
CREATE TABLE events (
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL CHECK (sequence >= 0),
    event_type     text   NOT NULL,
    event_version  text   NOT NULL,
    payload        json   NOT NULL,
    metadata       json   NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8   NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_position_idx ON events (position);
CREATE INDEX events_global_order_idx ON events (transaction_id, position);

-- Aggregate snapshots: a cache written after a commit, never the truth. A snapshot whose
-- schema_version differs from the code's is ignored and the aggregate is loaded from events.
CREATE TABLE aggregate_snapshots (
    aggregate_type text    NOT NULL,
    aggregate_id   text    NOT NULL,
    sequence       bigint NOT NULL,
    schema_version bigint NOT NULL,
    last_hash      text    NOT NULL,
    payload        json    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
