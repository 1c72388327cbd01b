-- The claim takes jobs in (priority, run_at, id) order: the ready index carries the id
-- too, so that a claim reads its LIMIT rows off the index instead of sorting every
-- queued job that shares a run_at (a bulk enqueue gives thousands the same one).
DROP INDEX jobs_ready_idx;
CREATE INDEX jobs_ready_idx ON jobs (queue, priority, run_at, id) WHERE state = 'queued';
