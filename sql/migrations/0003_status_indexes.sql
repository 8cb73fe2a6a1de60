-- /status with many jobs (bench P3: 100,000 waiting on KIE).
--
-- status_depths asks for the oldest job not yet ended: without an index that matches its
-- predicate it reads the whole table (40 ms at 100,000 jobs); with this partial index it
-- reads one entry (0.1 ms). The predicate is written exactly as in the query, so the
-- planner can prove the index applies.
CREATE INDEX jobs_open_age ON jobs (created_at) WHERE state NOT IN ('delivered', 'failed');

-- status_jobs counts jobs by state and model: an index-only scan of this narrow index
-- instead of a scan of the wide table once autovacuum has marked the pages all-visible
-- (12 ms instead of 30-50 ms at 100,000 jobs). State changes are never HOT updates (state
-- is indexed already), so one more index costs one more index entry per move.
CREATE INDEX jobs_state_model ON jobs (state, model_id);
