-- The event log is append-only: UPDATE and DELETE of events are refused. (Whoever can write
-- the file can drop the triggers; `xuexin audit verify` then names every row that was changed.)
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only (UPDATE refused)');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only (DELETE refused)');
END;
