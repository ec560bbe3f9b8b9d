-- Read-your-writes through the process managers: a task remembers the position of the
-- command's event it descends from (root_position: the event that queued it, or that event's
-- own root when a task wrote it) and the position its own command committed
-- (result_position), so a query given ?settled=POSITION can wait for every consequence.
ALTER TABLE process_tasks ADD COLUMN root_position bigint;
ALTER TABLE process_tasks ADD COLUMN result_position bigint;
CREATE INDEX process_tasks_root_idx ON process_tasks (root_position);
