-- The events the login index reads (`LoginName`, `Identity`) in its order: whether any lies
-- past its stored checkpoint is then one index probe (`login_index::lookup_current`), not a
-- scan of every event after the checkpoint. The predicate must stay the one the query names
-- (login_index.rs).
CREATE INDEX events_login_index_types_idx ON events (position)
    WHERE aggregate_type IN ('LoginName', 'Identity');
