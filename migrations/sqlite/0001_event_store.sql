-- The event store: sqlite-es's `events` table (same columns; its key is kept as a UNIQUE
-- constraint, so the repository's optimistic concurrency holds), plus `position` as the
-- rowid alias. SQLite has one writer at a time, so rowid order is commit order; AUTOINCREMENT
-- keeps positions from ever being reused.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 0),
    event_type     TEXT    NOT NULL,
    event_version  TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- Aggregate snapshots: a cache written after a commit, never the truth.
CREATE TABLE aggregate_snapshots (
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    last_hash      TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;
