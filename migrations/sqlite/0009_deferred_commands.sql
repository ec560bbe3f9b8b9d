-- Commands a request queues to run after it has answered, so that a known name and an unknown
-- one cost a request the same work (issue 13): a wrong password's failure, an activation-mail
-- resend. Every such request inserts one row, whether or not it names an account
-- (`account_id` NULL: nothing to run). A worker runs and deletes them in order; a crash leaves
-- them for the next worker (at least once).
CREATE TABLE deferred_commands (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    account_id    TEXT,
    payload       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    claimed_until INTEGER
) STRICT;
