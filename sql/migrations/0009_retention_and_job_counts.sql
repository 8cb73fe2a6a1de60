-- Tables that grow forever, and a /status that stays fast as they grow.
--
-- 1. Job counts kept as work moves. /status counted jobs by state and model with a scan of
--    `jobs` (418 ms at 1,000,000 jobs in flight, bench P3). Statement-level triggers append
--    the net change of each statement to `job_count_deltas` (insert-only: concurrent moves
--    never wait on a shared counter row, and two transactions cannot deadlock on counters);
--    the janitor folds the deltas into `job_counts` (`job_counts_fold`). The counts read by
--    /status are `job_counts` + the unfolded deltas, in one snapshot: exact at any moment.
--    Statement-level with transition tables, so a bulk UPDATE of a million jobs adds a few
--    delta rows, not a million (transition tables cannot have a column list, so the UPDATE
--    trigger runs for every UPDATE of jobs and keeps only rows whose state changed).
CREATE TABLE job_counts (
    state job_state NOT NULL,
    model_id text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (state, model_id)
);
CREATE TABLE job_count_deltas (
    state job_state NOT NULL,
    model_id text NOT NULL,
    n bigint NOT NULL
);

CREATE FUNCTION trt_job_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO job_count_deltas (state, model_id, n)
        SELECT state, model_id, count(*) FROM new_jobs GROUP BY state, model_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO job_count_deltas (state, model_id, n)
        SELECT state, model_id, -count(*) FROM old_jobs GROUP BY state, model_id;
    ELSE
        INSERT INTO job_count_deltas (state, model_id, n)
        SELECT d.state, d.model_id, sum(d.n)
        FROM old_jobs AS o
        JOIN new_jobs AS w ON w.id = o.id
        CROSS JOIN LATERAL (VALUES (o.state, o.model_id, -1), (w.state, w.model_id, 1))
            AS d (state, model_id, n)
        WHERE o.state <> w.state OR o.model_id <> w.model_id
        GROUP BY d.state, d.model_id
        HAVING sum(d.n) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION trt_job_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_count_deltas;
    DELETE FROM job_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION trt_job_count();
CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION trt_job_count();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION trt_job_count();
CREATE TRIGGER jobs_count_truncate AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION trt_job_count_truncate();

-- The jobs already there. CREATE TRIGGER above locks out writers of `jobs` until this
-- migration commits, so no move falls between the triggers and this count.
INSERT INTO job_counts (state, model_id, n)
SELECT state, model_id, count(*) FROM jobs GROUP BY state, model_id;

-- 2. The most recent failures (status_failed_jobs): read from the end of an index instead of
--    sorting every failed job ever (jobs are kept forever).
CREATE INDEX jobs_failed_recent ON jobs ((COALESCE(finished_at, updated_at)), id)
    WHERE state = 'failed';

-- Jobs past their deadline (jobs_past_deadline, every janitor sweep): found in deadline
-- order, so the sweep reads only the jobs past it. It went through every job due a poll
-- instead, and with 1,000,000 in flight the poller (10 per second) leaves nearly all of them
-- due: 22 ms at 59,000 due and growing with them, 0.07 ms with this index.
CREATE INDEX jobs_deadline ON jobs (deadline_at)
    WHERE state IN ('created', 'submitting', 'submitted', 'running');

-- Orphans by status for /status (orphans_stats): an index-only count of the orphan rows
-- instead of a scan of the whole callback inbox (40 ms with the 200,000 callbacks a busy
-- node keeps within the retention; 2.5 ms with this index). The predicate is the query's.
CREATE INDEX callback_inbox_orphans ON callback_inbox (status, received_at)
    WHERE status IN ('parked', 'claimed', 'expired');

-- 3. Retention (TRT_RETENTION_DAYS): the janitor deletes, in small batches and oldest first,
--    rows that are done with and older than the retention. Each purge query walks one of
--    these indexes from its oldest entry; the partial ones hold only purgeable kinds of rows,
--    so rows that must stay (unhandled updates, open outbox rows, pending, parked or claimed
--    callbacks) are never even visited. Plain CREATE INDEX: migrations run before the node
--    starts, so the short write lock it takes stalls nothing.
CREATE INDEX telegram_updates_handled ON telegram_updates (handled_at)
    WHERE handled_at IS NOT NULL;
CREATE INDEX outbox_done ON outbox ((COALESCE(sent_at, created_at)))
    WHERE status IN ('sent', 'failed');
CREATE INDEX callback_inbox_done ON callback_inbox ((COALESCE(handled_at, received_at)))
    WHERE status IN ('applied', 'rejected', 'malformed', 'expired');
CREATE INDEX job_events_at ON job_events (at);
