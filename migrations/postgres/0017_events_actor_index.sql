-- Events by actor (the staff console's "my latest actions", the audit log's actor filter):
-- without it each such read scans the whole log.
CREATE INDEX events_actor_idx ON events ((metadata->>'actor'), position);
