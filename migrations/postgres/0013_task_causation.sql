-- Read-your-writes through the process managers. A task remembers the command it descends
-- from: root_request, the request id of the command's events (the events a task writes carry
-- it on, so a chain of tasks keeps it), and root_position, the position of the event that
-- started the chain. It also records the position its own command committed
-- (result_position), so a query given ?settled=POSITION waits for every consequence of the
-- command at that position.
ALTER TABLE process_tasks ADD COLUMN root_request text;
ALTER TABLE process_tasks ADD COLUMN root_position bigint;
ALTER TABLE process_tasks ADD COLUMN result_position bigint;
CREATE INDEX process_tasks_root_request_idx ON process_tasks (root_request);
