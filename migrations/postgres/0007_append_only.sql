-- The event log is append-only: UPDATE, DELETE and TRUNCATE of events are refused for every
-- role, the service's included. (An owner can still disable the trigger; `xuexin audit
-- verify` then names every row that was changed.)
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only (% refused)', TG_OP;
END
$$;

CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
