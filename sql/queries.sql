-- Named queries of the TRT node. Each block starts with a `-- name: <name> --` line.

-- ============================== users and the credit ledger ==============================

-- name: user_ensure --
INSERT INTO users (id, language) VALUES (%(user_id)s, %(language)s)
ON CONFLICT (id) DO NOTHING
RETURNING id

-- name: user_get --
SELECT id, language, available, held, created_at FROM users WHERE id = %(user_id)s

-- name: ledger_apply --
-- The entry and the balance change happen together or not at all; a replayed reference
-- inserts nothing, so the UPDATE finds no row and the balance does not move again.
WITH entry AS (
    INSERT INTO ledger (user_id, kind, amount, ref, job_id, note)
    VALUES (%(user_id)s, %(kind)s, %(amount)s, %(ref)s, %(job_id)s, %(note)s)
    ON CONFLICT (ref) DO NOTHING
    RETURNING user_id
)
UPDATE users AS u
SET available = u.available + %(d_available)s, held = u.held + %(d_held)s
FROM entry
WHERE u.id = entry.user_id
RETURNING u.available, u.held

-- name: ledger_entries --
SELECT id, kind, amount, ref, job_id, note, created_at
FROM ledger WHERE user_id = %(user_id)s ORDER BY id

-- name: free_use --
-- One more free generation today, if the limit allows it (a limit of 0 allows none: the
-- first one of the day must be refused too, not only the ones after it).
INSERT INTO free_usage (user_id, day, used)
SELECT %(user_id)s, current_date, 1 WHERE %(limit)s > 0
ON CONFLICT (user_id, day) DO UPDATE SET used = free_usage.used + 1
WHERE free_usage.used < %(limit)s
RETURNING used

-- name: free_return --
UPDATE free_usage SET used = used - 1
WHERE user_id = %(user_id)s AND day = %(day)s AND used > 0

-- ======================================== jobs ===========================================

-- name: job_insert --
INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, free, callback_token,
                  idempotency_key, expected_seconds, deadline_at, files)
VALUES (%(user_id)s, %(chat_id)s, %(model_id)s, %(family)s, %(input)s, %(price)s, %(free)s,
        %(callback_token)s, %(idempotency_key)s, %(expected_seconds)s,
        now() + make_interval(secs => %(max_seconds)s), %(files)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *

-- name: job_by_idempotency_key --
SELECT * FROM jobs WHERE idempotency_key = %(idempotency_key)s

-- name: job_get --
SELECT * FROM jobs WHERE id = %(job_id)s

-- name: job_move --
-- The guarded move: no row comes back when the job is no longer in an allowed state.
UPDATE jobs
SET state = %(to)s::job_state,
    cause = %(cause)s::job_cause,
    detail = %(detail)s,
    failure = COALESCE(%(failure)s, failure),
    result_urls = COALESCE(%(result_urls)s, result_urls),
    result_text = COALESCE(%(result_text)s, result_text),
    result_ids = COALESCE(%(result_ids)s, result_ids),
    next_check_at = COALESCE(now() + make_interval(secs => %(check_in)s::float8), next_check_at),
    submitted_at = CASE WHEN %(to)s::text IN ('submitted', 'running', 'succeeded')
                        THEN COALESCE(submitted_at, now()) ELSE submitted_at END
WHERE id = %(job_id)s AND state = ANY(%(allowed)s::job_state[])
RETURNING *

-- name: job_begin_attempt --
-- `check_in` covers the whole call and the grace after it: the job is not due while its
-- createTask may be in flight. Never while an earlier attempt's task may still show up: an
-- unknown outcome waits `unknown_grace` from the moment it became unknown, an attempt still
-- marked in flight (the node died during the call) waits `in_flight_hold` from its start.
UPDATE jobs
SET state = 'submitting', cause = 'submit', detail = %(detail)s,
    submit_attempts = submit_attempts + 1, submit_outcome = 'in_flight',
    submit_outcome_at = now(),
    submit_unknown = submit_unknown
        + CASE WHEN submit_outcome IN ('in_flight', 'unknown') THEN 1 ELSE 0 END,
    next_check_at = now() + make_interval(secs => %(check_in)s::float8)
WHERE id = %(job_id)s AND state IN ('created', 'submitting')
  AND COALESCE(submit_outcome_at <= now() - make_interval(secs => CASE submit_outcome
                   WHEN 'unknown' THEN %(unknown_grace)s::float8
                   WHEN 'in_flight' THEN %(in_flight_hold)s::float8
                   ELSE 0 END), true)
RETURNING *

-- name: job_set_outcome --
UPDATE jobs
SET submit_outcome = %(outcome)s, submit_outcome_at = now(), detail = %(detail)s,
    next_check_at = now() + make_interval(secs => %(check_in)s::float8)
WHERE id = %(job_id)s
RETURNING *

-- name: job_replace_files --
-- Stale uploads redone (before createTask): the new URLs in the input and the file records,
-- only while no createTask is under way and only over the records the re-upload started from.
UPDATE jobs
SET input = %(input)s, files = %(files)s
WHERE id = %(job_id)s AND state IN ('created', 'submitting') AND files = %(old_files)s
  AND submit_outcome IS DISTINCT FROM 'created'
RETURNING *

-- name: job_reupload_retry --
-- A re-upload of a stale input failed for now: counts as a submit attempt (the same limit
-- and backoff as createTask's), handed again after the backoff, never after the deadline.
UPDATE jobs
SET submit_attempts = submit_attempts + 1, detail = %(detail)s,
    next_check_at = LEAST(now() + make_interval(secs => %(check_in)s::float8), deadline_at)
WHERE id = %(job_id)s AND state IN ('created', 'submitting')
  AND submit_outcome IS DISTINCT FROM 'created'

-- name: job_postpone --
-- A submit that cannot call createTask yet (no token in the local rate limiter): hand it
-- again later, no attempt counted — never later than its deadline, and not at all once the
-- deadline has passed (no row: the caller ends the job instead).
UPDATE jobs
SET next_check_at = LEAST(now() + make_interval(secs => %(check_in)s::float8), deadline_at)
WHERE id = %(job_id)s AND state IN ('created', 'submitting') AND deadline_at > now()

-- name: job_note --
-- An event that is not a state change (a resubmission, a late result after the end).
INSERT INTO job_events (job_id, from_state, to_state, cause, detail)
SELECT id, state, state, %(cause)s::job_cause, %(detail)s FROM jobs WHERE id = %(job_id)s

-- name: job_events --
SELECT from_state, to_state, cause, detail, at FROM job_events
WHERE job_id = %(job_id)s ORDER BY id

-- name: purge_job_events --
-- Retention: events of jobs that ended (delivered or failed) before the cutoff, oldest
-- first, at most `limit` (the job rows themselves are kept, like the ledger). Never an event
-- of a job in flight, however old.
DELETE FROM job_events
WHERE ctid = ANY(ARRAY(
    SELECT e.ctid FROM job_events AS e JOIN jobs AS j ON j.id = e.job_id
    WHERE e.at < now() - make_interval(secs => %(older_than)s)
      AND j.state IN ('delivered', 'failed')
      AND j.finished_at < now() - make_interval(secs => %(older_than)s)
    ORDER BY e.at LIMIT %(limit)s FOR UPDATE OF e SKIP LOCKED))

-- name: jobs_of_user --
SELECT * FROM jobs WHERE user_id = %(user_id)s ORDER BY id DESC LIMIT %(limit)s

-- name: job_cancel_candidate --
SELECT id FROM jobs WHERE user_id = %(user_id)s AND state = 'created' ORDER BY id DESC LIMIT 1

-- ======================================= KIE tasks =======================================

-- name: task_record --
INSERT INTO kie_tasks (task_id, job_id, attempt, found_by, state, result_urls, fail_code,
                       fail_message)
VALUES (%(task_id)s, %(job_id)s, %(attempt)s, %(found_by)s, %(state)s, %(result_urls)s,
        %(fail_code)s, %(fail_message)s)
ON CONFLICT (task_id) DO UPDATE
SET state = CASE WHEN kie_tasks.state IN ('success', 'failed') THEN kie_tasks.state
                 ELSE EXCLUDED.state END,
    result_urls = COALESCE(kie_tasks.result_urls, EXCLUDED.result_urls),
    fail_code = COALESCE(kie_tasks.fail_code, EXCLUDED.fail_code),
    fail_message = COALESCE(kie_tasks.fail_message, EXCLUDED.fail_message),
    attempt = COALESCE(kie_tasks.attempt, EXCLUDED.attempt),
    updated_at = now()
WHERE kie_tasks.job_id = EXCLUDED.job_id
RETURNING task_id, state, (xmax = 0) AS inserted

-- name: tasks_of_job --
SELECT task_id, attempt, found_by, state, result_urls, fail_code, fail_message, created_at
FROM kie_tasks WHERE job_id = %(job_id)s ORDER BY created_at, task_id

-- ==================================== callback inbox =====================================

-- name: inbox_insert --
-- Stored before the HTTP answer. The gateway has already authenticated the URL's token and
-- passes its job; without one, a recorded task id finds the job; with neither, the callback
-- is parked as an orphan. `status` overrides for rejected and malformed bodies.
-- Only a tokenless callback (authenticated by KIE's HMAC) is matched by its task id: a token
-- naming no job authenticates nothing, so the task id in its body must not pick a job either.
-- `body` is all of it, or only its first KB for a rejected one; `body_size` and `body_sha256`
-- are always of all the bytes received, `source` the sender's address.
INSERT INTO callback_inbox (token, task_id, dedup_key, body, headers, status, job_id, reason,
                            body_size, body_sha256, source)
SELECT %(token)s, %(task_id)s, %(dedup_key)s, %(body)s, %(headers)s,
       CASE WHEN %(status)s::inbox_status IS NOT NULL THEN %(status)s::inbox_status
            WHEN target.job_id IS NULL THEN 'parked'::inbox_status
            ELSE 'pending'::inbox_status END,
       target.job_id, %(reason)s, %(body_size)s, %(body_sha256)s, %(source)s
FROM (SELECT COALESCE(%(job_id)s::bigint,
                      (SELECT job_id FROM kie_tasks
                       WHERE task_id = %(task_id)s AND %(token)s::text IS NULL)) AS job_id
     ) AS target
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id, status, job_id,
          (SELECT chat_id FROM jobs WHERE jobs.id = callback_inbox.job_id) AS chat_id

-- name: job_secret --
SELECT id, callback_token, family FROM jobs WHERE id = %(job_id)s

-- name: inbox_pending --
-- One stored callback its job's owner was woken for (not applied yet).
SELECT id, job_id, body FROM callback_inbox
WHERE id = %(inbox_id)s AND status IN ('pending', 'claimed') AND handled_at IS NULL

-- name: inbox_mark --
UPDATE callback_inbox
SET status = %(status)s, handled_at = now(), reason = COALESCE(%(reason)s, reason)
WHERE id = %(inbox_id)s AND status IN ('pending', 'claimed')

-- name: inbox_stale --
-- Stored but not applied (the node died in between, or the job actor failed): hand again.
SELECT id, job_id, body FROM callback_inbox
WHERE status IN ('pending', 'claimed') AND handled_at IS NULL
  AND received_at < now() - make_interval(secs => %(older_than)s)
  AND (%(parts)s::int[] IS NULL OR EXISTS (
        SELECT 1 FROM jobs WHERE jobs.id = callback_inbox.job_id
                             AND trt_part(jobs.chat_id) = ANY(%(parts)s::int[])))
ORDER BY id LIMIT %(limit)s

-- name: orphans_claim --
-- Parked callbacks whose job has appeared since (by token or by a recorded task id).
-- Tokens are "<job id>.<secret>"; a parked one is claimed only by the job with both. A task
-- id claims only tokenless (HMAC-authenticated) callbacks, as in inbox_insert.
UPDATE callback_inbox AS c
SET status = 'claimed', job_id = COALESCE(j.id, t.job_id)
FROM callback_inbox AS o
LEFT JOIN jobs AS j
       ON o.token ~ '^[0-9]{1,18}[.]' AND j.id = split_part(o.token, '.', 1)::bigint
      AND j.callback_token = split_part(o.token, '.', 2)
LEFT JOIN kie_tasks AS t ON o.token IS NULL AND t.task_id = o.task_id
WHERE c.id = o.id AND o.status = 'parked' AND COALESCE(j.id, t.job_id) IS NOT NULL
RETURNING c.id, c.job_id, c.body

-- name: orphans_expire --
-- Parked past their TTL: kept as a record (digest, size, first KB), the body goes.
UPDATE callback_inbox
SET status = 'expired', handled_at = now(), body = substring(body FROM 1 FOR 1024),
    body_size = COALESCE(body_size, octet_length(body)),
    body_sha256 = COALESCE(body_sha256, encode(sha256(body), 'hex'))
WHERE status = 'parked' AND received_at < now() - make_interval(secs => %(ttl)s)

-- name: orphans_usage --
-- Rows and bytes the parked callbacks hold (index callback_inbox_parked), and when the cap
-- last expired one (NULL: never), with the database's clock to compare it with.
SELECT count(*) AS n, COALESCE(sum(body_size), 0)::bigint AS bytes,
       (SELECT max(handled_at) FROM callback_inbox
        WHERE reason = 'over the orphan cap') AS capped_at,
       now() AS now
FROM callback_inbox WHERE status = 'parked'

-- name: orphans_lock --
-- One enforcer of the orphan cap at a time (the gateway's threads, the janitor), until the
-- transaction ends: a claim and a trim never cross.
SELECT pg_advisory_xact_lock(hashtext('trt.orphan_cap'))

-- name: orphans_trim --
-- Over the cap: the oldest parked callbacks are expired until at most `keep_rows` rows and
-- `keep_bytes` bytes are left (the newest). Each stays as a record: digest, size, first KB.
UPDATE callback_inbox AS c
SET status = 'expired', handled_at = now(), reason = 'over the orphan cap',
    body = substring(c.body FROM 1 FOR 1024)
FROM (SELECT id, count(*) OVER newest AS n, sum(body_size) OVER newest AS bytes
      FROM callback_inbox WHERE status = 'parked'
      WINDOW newest AS (ORDER BY received_at DESC, id DESC ROWS UNBOUNDED PRECEDING)) AS r
WHERE c.id = r.id AND c.status = 'parked'
  AND (r.n > %(keep_rows)s OR r.bytes > %(keep_bytes)s)

-- name: orphans_stats --
SELECT status::text AS status, count(*) AS n, min(received_at) AS oldest
FROM callback_inbox WHERE status IN ('parked', 'claimed', 'expired') GROUP BY status

-- name: purge_callbacks --
-- Retention: callbacks done with (applied, rejected, malformed, expired orphans) whose last
-- change is older than the cutoff, oldest first, at most `limit`. Pending, parked and claimed
-- ones are not in the index's predicate: they stay whatever their age.
DELETE FROM callback_inbox
WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM callback_inbox
    WHERE status IN ('applied', 'rejected', 'malformed', 'expired')
      AND COALESCE(handled_at, received_at) < now() - make_interval(secs => %(older_than)s)
    ORDER BY COALESCE(handled_at, received_at) LIMIT %(limit)s FOR UPDATE SKIP LOCKED))

-- ================================= janitor and poller ====================================

-- name: jobs_due_submit --
-- Oldest confirmed first (when KIE's createTask budget is short, jobs are sent in the order
-- users confirmed them). Leased for `lease` seconds so the next sweep does not hand the same
-- job again.
UPDATE jobs SET next_check_at = now() + make_interval(secs => %(lease)s)
WHERE id IN (
    SELECT id FROM jobs
    WHERE state IN ('created', 'submitting') AND next_check_at <= now() AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
    ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id

-- name: jobs_past_deadline --
UPDATE jobs SET next_check_at = now() + make_interval(secs => %(lease)s)
WHERE id IN (
    SELECT id FROM jobs
    WHERE state IN ('created', 'submitting', 'submitted', 'running')
      AND deadline_at <= now() AND next_check_at <= now() AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
    ORDER BY deadline_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id

-- name: jobs_due_poll --
-- When more jobs are due than KIE's status budget allows, the ones expected to be done first
-- are asked first: a job early in its task waits, not one whose result is probably ready
-- (ordered by due time alone, every job slips by the same backlog and results are seen late).
-- The choice is made among the 500 longest-due jobs so the sort stays small with 100,000 due.
UPDATE jobs SET next_check_at = now() + make_interval(secs => %(lease)s),
                poll_count = poll_count + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE id IN (SELECT id FROM jobs
                 WHERE state IN ('submitted', 'running') AND next_check_at <= now()
                   AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
                 ORDER BY next_check_at LIMIT 500)
    ORDER BY COALESCE(submitted_at, created_at) + make_interval(secs => expected_seconds),
             next_check_at
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, family, expected_seconds, poll_count,
          EXTRACT(EPOCH FROM now() - COALESCE(submitted_at, created_at))::float8 AS age,
          (SELECT coalesce(array_agg(task_id ORDER BY created_at), '{}')
           FROM kie_tasks WHERE kie_tasks.job_id = jobs.id
             AND kie_tasks.state NOT IN ('success', 'failed')) AS task_ids

-- name: jobs_schedule --
UPDATE jobs SET next_check_at = now() + make_interval(secs => d.delay)
FROM unnest(%(job_ids)s::bigint[], %(delays)s::float8[]) AS d(job_id, delay)
WHERE jobs.id = d.job_id AND jobs.state IN ('submitted', 'running')

-- ======================================= outbox ==========================================

-- name: outbox_insert --
-- `delay` > 0: the row is due that many seconds from now (a job's progress message, sent only
-- if the job still runs then).
INSERT INTO outbox (chat_id, job_id, kind, payload, dedup_key, not_before)
VALUES (%(chat_id)s, %(job_id)s, %(kind)s, %(payload)s, %(dedup_key)s,
        now() + make_interval(secs => %(delay)s::float8))
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id

-- name: outbox_deferred_rewrite --
-- A job's progress message not due yet (never tried): it will show this text when it goes.
UPDATE outbox SET payload = %(payload)s
WHERE id = %(id)s AND status = 'pending' AND attempts = 0 AND not_before > now()
RETURNING id

-- name: outbox_deferred_drop --
-- A job's progress message not due yet (never tried) when the job already has its outcome:
-- settled without sending (message_ids stay null: nothing ever edits it).
UPDATE outbox SET status = 'sent', sent_at = now(),
                  error = 'not needed: the job ended before its progress message was due'
WHERE id = %(id)s AND status = 'pending' AND attempts = 0 AND not_before > now()
RETURNING id

-- name: purge_outbox --
-- Retention: outbox rows that are over (sent, or given up as failed) and older than the
-- cutoff, oldest first, at most `limit`. Pending and sending rows stay whatever their age.
DELETE FROM outbox
WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM outbox
    WHERE status IN ('sent', 'failed')
      AND COALESCE(sent_at, created_at) < now() - make_interval(secs => %(older_than)s)
    ORDER BY COALESCE(sent_at, created_at) LIMIT %(limit)s FOR UPDATE SKIP LOCKED))

-- name: job_set_status_message --
UPDATE jobs SET status_outbox_id = %(outbox_id)s WHERE id = %(job_id)s

-- =================================== Telegram intake =====================================

-- name: updates_lock --
-- Taken before updates_store, in its transaction: two nodes polling one bot into one database
-- (a mistake, but Telegram hands both the same batch for a moment) store an update once.
SELECT pg_advisory_xact_lock(29799, mod(%(bot_id)s::bigint, 2147483647)::int)

-- name: updates_store --
-- One getUpdates batch of bot `bot_id` (`update_id` in the batch is Telegram's id). An update
-- this bot sent in the last 24 h (Telegram sends an unconfirmed one again) inserts nothing;
-- the same id seen longer ago is a new update (Telegram reuses ids after a week without
-- updates). Returns the new rows' inbox ids (`update_id`), in Telegram's order.
INSERT INTO telegram_updates (bot_id, telegram_update_id, chat_id, payload)
SELECT %(bot_id)s, u.update_id, u.chat_id, u.payload
FROM jsonb_to_recordset(%(updates)s::jsonb) AS u(update_id bigint, chat_id bigint, payload jsonb)
WHERE NOT EXISTS (
    SELECT 1 FROM telegram_updates AS seen
    WHERE seen.bot_id = %(bot_id)s AND seen.telegram_update_id = u.update_id
      AND seen.received_at > now() - interval '24 hours')
ORDER BY u.update_id
RETURNING update_id, chat_id

-- name: updates_adopt --
-- Rows stored before migration 0007 have no bot id; the ones that can still be sent again
-- (the last 24 h) belong to the bot whose token was in use, the one starting now.
UPDATE telegram_updates SET bot_id = %(bot_id)s
WHERE bot_id IS NULL AND received_at > now() - interval '24 hours'

-- name: updates_unhandled --
SELECT update_id, chat_id FROM telegram_updates
WHERE handled_at IS NULL AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[])) ORDER BY update_id LIMIT %(limit)s

-- name: update_get --
SELECT update_id, chat_id, payload, handled_at FROM telegram_updates
WHERE update_id = %(update_id)s FOR UPDATE

-- name: update_handled --
UPDATE telegram_updates SET handled_at = now() WHERE update_id = %(update_id)s

-- name: update_failed --
-- A failed handling of an update (its transaction rolled back). A `counted` failure adds an
-- attempt; the update is due again after `delays[attempts]` seconds (the backoff, one entry
-- per attempt), or, at `max_attempts`, parked as poison: handled_at is set with poison_at, so
-- nothing hands it again (not even a restart) and the chat's later updates go on.
UPDATE telegram_updates AS u
SET attempts = u.attempts + f.step,
    last_error = %(error)s,
    next_attempt_at = now() + make_interval(
        secs => (%(delays)s::float8[])[GREATEST(u.attempts + f.step, 1)]),
    poison_at = CASE WHEN u.attempts + f.step >= %(max_attempts)s THEN now() END,
    handled_at = CASE WHEN u.attempts + f.step >= %(max_attempts)s THEN now() END
FROM (SELECT CASE WHEN %(counted)s THEN 1 ELSE 0 END AS step) AS f
WHERE u.update_id = %(update_id)s AND u.handled_at IS NULL
RETURNING u.attempts, u.poison_at IS NOT NULL AS poison

-- name: updates_due --
-- Updates not handled when due: a failed one after its backoff, or one whose failure could
-- not even be recorded (the database was down) a minute after it arrived. Leased for
-- `lease` seconds; a row its chat actor is handling right now is locked, hence skipped.
UPDATE telegram_updates SET next_attempt_at = now() + make_interval(secs => %(lease)s)
WHERE update_id IN (
    SELECT update_id FROM telegram_updates
    WHERE handled_at IS NULL AND next_attempt_at <= now() AND chat_id IS NOT NULL
      AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING update_id, chat_id

-- name: purge_updates --
-- Retention: Telegram updates handled before the cutoff, oldest first, at most `limit`.
-- Unhandled ones stay whatever their age.
DELETE FROM telegram_updates
WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM telegram_updates
    WHERE handled_at < now() - make_interval(secs => %(older_than)s)
    ORDER BY handled_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED))

-- name: state_get --
SELECT value FROM node_state WHERE key = %(key)s

-- name: state_set --
INSERT INTO node_state (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()

-- name: session_load --
SELECT state FROM chat_sessions WHERE chat_id = %(chat_id)s FOR UPDATE

-- name: session_save --
INSERT INTO chat_sessions (chat_id, user_id, state) VALUES (%(chat_id)s, %(user_id)s, %(state)s)
ON CONFLICT (chat_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()

-- name: bot_stats --
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM jobs) AS jobs,
       (SELECT count(*) FROM jobs WHERE state = 'delivered') AS delivered,
       (SELECT count(*) FROM jobs WHERE state = 'failed') AS failed,
       (SELECT count(*) FROM jobs WHERE state NOT IN ('delivered', 'failed')) AS in_flight,
       (SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'capture') AS credits_spent,
       (SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'topup') AS credits_bought

-- ====================================== status ===========================================

-- name: status_jobs --
-- Jobs by state and model from the counters (migration 0009), not a scan of jobs: the folded
-- counts plus the deltas not folded yet, in one snapshot, so exact at any moment.
SELECT state::text AS state, model_id, sum(n)::bigint AS n
FROM (SELECT state, model_id, n FROM job_counts
      UNION ALL
      SELECT state, model_id, n FROM job_count_deltas) AS c
GROUP BY state, model_id
HAVING sum(n) <> 0

-- name: job_counts_fold --
-- The janitor folds up to `limit` deltas into job_counts in one statement (a reader sees the
-- deltas or their sum, never both). SKIP LOCKED: two folds take disjoint deltas, and they
-- update counter rows in one order, so they cannot deadlock.
WITH taken AS (
    DELETE FROM job_count_deltas
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM job_count_deltas
                           LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
    RETURNING state, model_id, n)
INSERT INTO job_counts AS c (state, model_id, n)
SELECT state, model_id, sum(n) FROM taken GROUP BY state, model_id ORDER BY state, model_id
ON CONFLICT (state, model_id) DO UPDATE SET n = c.n + EXCLUDED.n

-- name: status_tables --
-- Each table of the node's schema: rows (≈: the planner's estimate, scaled to the table's
-- current size as the planner does; NULL until the table was first analysed) and bytes on
-- disk with its indexes and TOAST. Catalog reads only: no table is scanned.
SELECT c.relname AS name,
       CASE WHEN c.reltuples < 0 THEN NULL
            WHEN c.relpages = 0 THEN c.reltuples
            ELSE round(c.reltuples / c.relpages
                       * (pg_relation_size(c.oid) / current_setting('block_size')::int))
       END::bigint AS rows,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_class AS c
WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace
ORDER BY bytes DESC, name

-- name: status_depths --
SELECT (SELECT count(*) FROM callback_inbox WHERE status = 'pending') AS callback_inbox,
       (SELECT count(*) FROM telegram_updates WHERE handled_at IS NULL) AS telegram_inbox,
       (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')) AS outbox,
       (SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs
         WHERE state NOT IN ('delivered', 'failed')) AS oldest_in_flight_s,
       (SELECT max(update_id) FROM telegram_updates) AS last_update_id

-- name: status_callback_abuse --
-- The callback abuse limits at work, from partial indexes (no scan of the inbox): rejected
-- records kept, orphans expired over the cap, parked orphans and their bytes, and the
-- inbox's bytes on disk (indexes and TOAST included).
SELECT (SELECT count(*) FROM callback_inbox WHERE status = 'rejected') AS rejected_records,
       (SELECT count(*) FROM callback_inbox
        WHERE reason = 'over the orphan cap') AS expired_over_cap,
       (SELECT count(*) FROM callback_inbox WHERE status = 'parked') AS parked,
       (SELECT COALESCE(sum(body_size), 0) FROM callback_inbox
        WHERE status = 'parked')::bigint AS parked_bytes,
       pg_total_relation_size('callback_inbox') AS inbox_bytes

-- ===== delivery =====

-- name: delivery_epoch --
-- A new delivery actor incarnation's epoch: it claims rows with it, and only it may settle
-- them (every settle below is guarded on it).
SELECT nextval('delivery_epoch') AS epoch

-- name: delivery_requeue --
-- At start: rows a killed delivery actor had claimed go back to the queue. The one that was
-- on the wire at the kill may reach the chat twice; nothing is lost.
UPDATE outbox SET status = 'pending', claim_epoch = NULL
WHERE status = 'sending' AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
  AND claim_epoch IS DISTINCT FROM %(epoch)s

-- name: delivery_claim --
-- Due rows, marked sending. `answers` picks the answers to callback and pre-checkout queries
-- (never paced, never ordered) or everything else. A message row waits while an older message
-- of its chat waits for its retry time (per-chat order survives retries and restarts), and at
-- most `per_chat` rows of one chat are open at once (a chat with a huge backlog cannot crowd
-- the others out of memory). Each row's class (`priority`, trt_actors.domain.outbox.Priority):
-- 0 an answer to what a user just did (text without a job, invoice, the progress message at
-- confirm), 1 a job's result or follow-up, 2 a progress edit, 3 a broadcast. Chats go by
-- urgency, the most urgent class among their pending rows (a row pending longer than
-- `starve_after` seconds counts as 0: nothing starves), then oldest first; only chats of
-- urgency <= `max_priority`. A progress message not due yet (`status`, never tried: sent
-- only if its job still runs then) holds nothing back. A chat's rows are always taken as a prefix, oldest first, so its
-- order never changes.
UPDATE outbox SET status = 'sending', attempts = attempts + 1, claim_epoch = %(epoch)s
FROM (
    SELECT x.id, due.priority FROM outbox AS x
    JOIN (
        SELECT o.id, o.urgency, o.priority FROM (
            SELECT id, chat_id, status, not_before, priority,
                   row_number() OVER (PARTITION BY chat_id ORDER BY id) AS place,
                   min(CASE WHEN created_at < now() - make_interval(secs => %(starve_after)s)
                            THEN 0 ELSE priority END)
                       FILTER (WHERE status = 'pending') OVER (PARTITION BY chat_id) AS urgency
            FROM (SELECT *, CASE WHEN kind IN ('result', 'resend')
                                   OR (kind = 'text' AND job_id IS NOT NULL) THEN 1
                                 WHEN kind = 'status_edit' THEN 2
                                 WHEN kind = 'broadcast' THEN 3
                                 ELSE 0 END AS priority
                  FROM outbox) AS classed
            WHERE status IN ('pending', 'sending') AND (%(parts)s::int[] IS NULL OR trt_part(chat_id) = ANY(%(parts)s::int[]))
              AND (kind IN ('answer_callback', 'answer_precheckout')) = %(answers)s
        ) AS o
        WHERE o.status = 'pending' AND o.not_before <= now()
          AND o.urgency <= %(max_priority)s
          AND (%(answers)s OR o.place <= %(per_chat)s)
          AND (%(answers)s OR NOT EXISTS (
                SELECT 1 FROM outbox AS e
                WHERE e.status = 'pending' AND e.not_before > now() AND e.chat_id = o.chat_id
                  AND e.id < o.id AND e.kind NOT IN ('answer_callback', 'answer_precheckout')
                  AND NOT (e.kind = 'status' AND e.attempts = 0)))
    ) AS due ON due.id = x.id
    ORDER BY due.urgency, x.id
    LIMIT %(limit)s
    FOR UPDATE OF x SKIP LOCKED) AS claimed
WHERE outbox.id = claimed.id
RETURNING outbox.id, chat_id, job_id, kind, payload, attempts, message_ids, claimed.priority

-- name: delivery_superseded --
-- Coalescing progress edits: a status_edit with a later one of the same progress message
-- still to send is settled as sent without sending (only the latest edit goes out; its
-- message_ids stay null, so delivery_status_message never picks it).
UPDATE outbox SET status = 'sent', sent_at = now(), error = 'superseded by a later edit'
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s
  AND EXISTS (
    SELECT 1 FROM outbox AS n
    WHERE n.job_id = %(job_id)s AND n.kind = 'status_edit' AND n.id > %(id)s
      AND n.status IN ('pending', 'sending')
      AND n.payload ->> 'status_outbox_id' = %(status_outbox_id)s::text)
RETURNING id

-- name: delivery_owned --
-- Before sending: the row is still this incarnation's (locked for the job's move).
SELECT id FROM outbox
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s
FOR UPDATE

-- name: delivery_mine --
-- Before sending a row no job moves with: still this incarnation's (read only, no lock).
SELECT id FROM outbox
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s

-- name: delivery_sent --
-- Settled only by the incarnation that holds the claim (a stale one's "sent" is refused).
UPDATE outbox SET status = 'sent', sent_at = now(), message_ids = %(message_ids)s,
                  maybe_sent = %(maybe_sent)s
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s
RETURNING id

-- name: delivery_retry --
-- A failed attempt that may succeed later: the row stays claimed in memory; not_before keeps
-- the backoff if the actor restarts meanwhile.
UPDATE outbox
SET attempts = attempts + 1, error = %(error)s,
    not_before = now() + make_interval(secs => %(delay)s::float8)
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s
RETURNING attempts

-- name: delivery_failed --
UPDATE outbox SET status = 'failed', error = %(error)s
WHERE id = %(id)s AND status = 'sending' AND claim_epoch = %(epoch)s
RETURNING id, job_id, kind

-- name: delivery_fail_chat --
-- The chat refuses the bot (blocked, gone): every message still queued for it fails too
-- (waiting ones, and those this incarnation claimed; never another incarnation's).
UPDATE outbox SET status = 'failed', error = %(error)s
WHERE chat_id = %(chat_id)s
  AND (status = 'pending' OR (status = 'sending' AND claim_epoch = %(epoch)s))
  AND kind NOT IN ('answer_callback', 'answer_precheckout')
RETURNING id, job_id, kind

-- name: delivery_status_message --
-- The progress message a status_edit should edit: the latest sent row that showed it (the
-- status row itself, an earlier edit, or a replacement sent when it could not be edited).
SELECT message_ids FROM outbox
WHERE status = 'sent' AND message_ids IS NOT NULL
  AND (id = %(status_outbox_id)s
       OR (job_id = %(job_id)s AND kind = 'status_edit'
           AND payload ->> 'status_outbox_id' = %(status_outbox_id)s::text))
ORDER BY id DESC
LIMIT 1

-- name: result_resends --
-- A delivered job's result as its owner may ask for it again (the follow-up's button): the
-- parts whose send timed out (null: none recorded), and how many re-sends were queued.
SELECT (SELECT maybe_sent FROM outbox
        WHERE job_id = %(job_id)s AND kind = 'result' AND status = 'sent'
        ORDER BY id DESC LIMIT 1) AS maybe_sent,
       (SELECT count(*) FROM outbox WHERE job_id = %(job_id)s AND kind = 'resend') AS resends

-- ===== status (metrics) =====

-- name: status_failed_jobs --
-- The most recent failures, for "last failures" on /status and the dashboard.
SELECT id, model_id, failure, detail, cause::text AS cause,
       EXTRACT(EPOCH FROM COALESCE(finished_at, updated_at))::float8 AS at
FROM jobs WHERE state = 'failed'
ORDER BY COALESCE(finished_at, updated_at) DESC, id DESC
LIMIT %(limit)s

-- name: status_telegram --
-- Intake lag: the newest stored update (primary key; its id as Telegram numbered it) and the
-- oldest not yet handled (partial index), both without scanning the table.
SELECT newest.telegram_update_id AS last_update_id,
       EXTRACT(EPOCH FROM now() - newest.received_at)::float8 AS last_update_age_s,
       (SELECT EXTRACT(EPOCH FROM now() - received_at)::float8 FROM telegram_updates
         WHERE handled_at IS NULL ORDER BY update_id LIMIT 1) AS oldest_unhandled_s
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT telegram_update_id, received_at FROM telegram_updates
                   ORDER BY update_id DESC LIMIT 1) AS newest ON true

-- name: status_poison_updates --
-- Updates parked as poison (partial index: only those rows are read), the newest first.
SELECT count(*) AS count,
       (SELECT coalesce(array_agg(n.update_id ORDER BY n.poison_at DESC, n.update_id DESC),
                        '{}')
        FROM (SELECT update_id, poison_at FROM telegram_updates WHERE poison_at IS NOT NULL
              ORDER BY poison_at DESC, update_id DESC LIMIT %(limit)s) AS n) AS newest
FROM telegram_updates WHERE poison_at IS NOT NULL

-- name: status_outbox --
-- Open outbox rows only (the partial index outbox_open): what waits and for how long.
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'sending') AS sending,
       EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_open_s
FROM outbox WHERE status IN ('pending', 'sending')

-- name: session_load_owner --
SELECT s.state, s.user_id, u.language
FROM chat_sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.chat_id = %(chat_id)s FOR UPDATE OF s

-- =============================== operator's model settings ===============================

-- name: model_settings_all --
SELECT model_id, enabled, price, changed_by, changed_at FROM model_settings ORDER BY model_id

-- name: model_set_enabled --
INSERT INTO model_settings (model_id, enabled, changed_by)
VALUES (%(model_id)s, %(enabled)s, %(changed_by)s)
ON CONFLICT (model_id) DO UPDATE
SET enabled = EXCLUDED.enabled, changed_by = EXCLUDED.changed_by, changed_at = now()
RETURNING model_id, enabled, price, changed_by, changed_at

-- name: model_set_price --
-- `price` NULL goes back to the catalog's price.
INSERT INTO model_settings (model_id, price, changed_by)
VALUES (%(model_id)s, %(price)s, %(changed_by)s)
ON CONFLICT (model_id) DO UPDATE
SET price = EXCLUDED.price, changed_by = EXCLUDED.changed_by, changed_at = now()
RETURNING model_id, enabled, price, changed_by, changed_at

-- name: models_popular --
-- Confirmed jobs per model over the last `days` days (index jobs_created_model), most first.
SELECT model_id, count(*) AS jobs
FROM jobs WHERE created_at > now() - make_interval(days => %(days)s)
GROUP BY model_id ORDER BY count(*) DESC, model_id LIMIT %(limit)s
-- ============================ issue 14: admin, promo codes, limits ==========================

-- name: user_seen --
-- The @username as last seen (written only when it changed: no write on most updates).
UPDATE users SET username = %(username)s
WHERE id = %(user_id)s AND username IS DISTINCT FROM %(username)s

-- name: user_by_username --
SELECT id FROM users WHERE lower(username) = lower(%(username)s) ORDER BY id LIMIT 1

-- name: user_card --
SELECT id, username, language, available, held, created_at, banned_at,
       (SELECT coalesce(sum(amount), 0) FROM ledger l
         WHERE l.user_id = u.id AND l.kind = 'topup') AS bought,
       (SELECT count(*) FROM jobs j WHERE j.user_id = u.id) AS jobs
FROM users u WHERE id = %(user_id)s

-- name: user_lock --
-- The user's row, locked until the transaction ends (a debit computed from the balance).
SELECT available, held FROM users WHERE id = %(user_id)s FOR UPDATE

-- name: user_banned --
SELECT banned_at IS NOT NULL AS banned FROM users WHERE id = %(user_id)s

-- name: user_ban --
UPDATE users SET banned_at = now() WHERE id = %(user_id)s AND banned_at IS NULL RETURNING id

-- name: user_unban --
UPDATE users SET banned_at = NULL WHERE id = %(user_id)s AND banned_at IS NOT NULL RETURNING id

-- name: ledger_recent --
SELECT id, kind::text AS kind, amount, ref, job_id, note, created_at
FROM ledger WHERE user_id = %(user_id)s ORDER BY id DESC LIMIT %(limit)s

-- name: ledger_by_ref --
SELECT id, user_id, kind::text AS kind, amount, ref, job_id, note, created_at
FROM ledger WHERE ref = %(ref)s

-- name: ledger_entry --
SELECT id, user_id, kind::text AS kind, amount, ref, job_id, note, created_at
FROM ledger WHERE id = %(id)s

-- name: user_topups --
-- The user's Stars top-ups, newest first, each with the credits a refund reversed (if any).
SELECT t.id, t.amount, t.ref, t.created_at, r.amount AS reversed
FROM ledger t
LEFT JOIN ledger r ON r.ref = 'reversal:' || substr(t.ref, length('topup:') + 1)
WHERE t.user_id = %(user_id)s AND t.kind = 'topup'
ORDER BY t.id DESC LIMIT %(limit)s

-- name: audit_add --
INSERT INTO admin_audit (admin_id, action, target_user, job_id, detail)
VALUES (%(admin_id)s, %(action)s, %(target_user)s, %(job_id)s, %(detail)s)

-- name: audit_recent --
SELECT id, at, admin_id, action, target_user, job_id, detail
FROM admin_audit ORDER BY at DESC, id DESC LIMIT %(limit)s

-- name: promo_create --
INSERT INTO promo_codes (code, credits, max_uses, expires_at, created_by)
VALUES (%(code)s, %(credits)s, %(max_uses)s,
        CASE WHEN %(days)s::int IS NULL THEN NULL
             ELSE now() + make_interval(days => %(days)s::int) END,
        %(admin_id)s)
ON CONFLICT (code) DO NOTHING
RETURNING code, expires_at

-- name: promo_get --
SELECT code, credits, max_uses, uses, expires_at, expires_at <= now() AS expired
FROM promo_codes WHERE code = %(code)s

-- name: promo_mark --
-- This user's one redemption of the code (a second one inserts nothing).
INSERT INTO promo_redemptions (code, user_id) VALUES (%(code)s, %(user_id)s)
ON CONFLICT (code, user_id) DO NOTHING
RETURNING code

-- name: promo_use --
-- One more use, only while uses < max_uses and not expired: the row lock serialises
-- concurrent redemptions and each re-checks the guard, so max_uses is never passed.
UPDATE promo_codes SET uses = uses + 1
WHERE code = %(code)s AND uses < max_uses AND (expires_at IS NULL OR expires_at > now())
RETURNING credits, max_uses - uses AS remaining

-- name: promo_miss --
INSERT INTO promo_misses (user_id) VALUES (%(user_id)s)

-- name: promo_misses_recent --
SELECT count(*) AS n FROM promo_misses
WHERE user_id = %(user_id)s AND at > now() - make_interval(secs => %(window_s)s)

-- name: promo_misses_forget --
-- A user's misses older than the window count for nothing: each /promo deletes them, so a
-- user keeps at most `promo_misses_per_hour` rows.
DELETE FROM promo_misses
WHERE user_id = %(user_id)s AND at <= now() - make_interval(secs => %(window_s)s)

-- name: user_job_load --
-- For the per-user limits at confirm, reading a bounded number of rows however many jobs the
-- user has: jobs in flight (partial index jobs_user_open), and how many of the newest
-- `per_minute` jobs were confirmed in the last minute (enough to know if the limit is hit).
SELECT (SELECT count(*) FROM jobs
         WHERE user_id = %(user_id)s AND state NOT IN ('delivered', 'failed')) AS in_flight,
       (SELECT count(*) FROM (SELECT created_at FROM jobs WHERE user_id = %(user_id)s
                              ORDER BY id DESC LIMIT %(per_minute)s) AS newest
         WHERE created_at > now() - interval '1 minute') AS last_minute

-- name: admin_stats --
-- Users, money and failure rate since a moment (today's and the week's /admin stats).
SELECT (SELECT count(*) FROM users WHERE created_at >= %(since)s) AS new_users,
       (SELECT count(DISTINCT user_id) FROM jobs WHERE created_at >= %(since)s) AS active_users,
       (SELECT coalesce(sum(amount), 0) FROM ledger
         WHERE kind = 'topup' AND created_at >= %(since)s) AS credits_sold,
       (SELECT coalesce(sum(amount), 0) FROM ledger
         WHERE kind = 'capture' AND created_at >= %(since)s) AS credits_spent,
       (SELECT coalesce(sum(amount), 0) FROM ledger
         WHERE kind = 'promo' AND created_at >= %(since)s) AS credits_promo

-- name: admin_stats_jobs --
SELECT model_id, state::text AS state, count(*) AS n
FROM jobs WHERE created_at >= %(since)s
GROUP BY model_id, state ORDER BY model_id, state

-- ============ issue 14, growth: referrals, broadcasts, result file_ids, alerts ============

-- name: referral_bind --
-- A new user who came through an inviter's link: bound once (primary key), never to
-- themselves (CHECK), only to an inviter who exists and whom they did not invite themselves.
INSERT INTO referrals (invitee, inviter)
SELECT %(invitee)s, u.id FROM users AS u
WHERE u.id = %(inviter)s AND u.id <> %(invitee)s
  AND NOT EXISTS (SELECT 1 FROM referrals AS r
                  WHERE r.invitee = %(inviter)s AND r.inviter = %(invitee)s)
ON CONFLICT (invitee) DO NOTHING
RETURNING inviter

-- name: referral_pay --
-- The invitee's first paid job was delivered: the one guarded UPDATE that wins pays (two
-- deliveries racing: the second waits for the first's commit, then finds paid_job_id set).
UPDATE referrals SET paid_job_id = %(job_id)s, paid_at = now()
WHERE invitee = %(user_id)s AND paid_job_id IS NULL
RETURNING inviter

-- name: referral_counts --
SELECT count(*) AS invited, count(paid_job_id) AS paid
FROM referrals WHERE inviter = %(user_id)s

-- name: audience_stop --
INSERT INTO audience (user_id, stopped_at) VALUES (%(user_id)s, now())
ON CONFLICT (user_id) DO UPDATE SET stopped_at = now()

-- name: audience_start --
-- /start: back in the audience (opted in again; a user who writes has unblocked the bot).
UPDATE audience SET stopped_at = NULL, blocked_at = NULL
WHERE user_id = %(user_id)s AND (stopped_at IS NOT NULL OR blocked_at IS NOT NULL)

-- name: audience_blocked --
-- Telegram answered 403 (blocked, deactivated) for this private chat.
INSERT INTO audience (user_id, blocked_at) VALUES (%(user_id)s, now())
ON CONFLICT (user_id) DO UPDATE SET blocked_at = now()

-- name: broadcast_create --
INSERT INTO broadcasts (admin_id, chat_id, payload, dedup_key)
VALUES (%(admin_id)s, %(chat_id)s, %(payload)s, %(dedup_key)s)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id

-- name: broadcast_fill --
-- The recipients, chosen at the confirm: every user not opted out, not blocked, not banned.
WITH chosen AS (
    INSERT INTO broadcast_recipients (broadcast_id, user_id)
    SELECT %(id)s, u.id FROM users AS u
    LEFT JOIN audience AS a ON a.user_id = u.id
    WHERE a.stopped_at IS NULL AND a.blocked_at IS NULL AND u.banned_at IS NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE broadcasts SET total = (SELECT count(*) FROM chosen)
WHERE id = %(id)s
RETURNING total

-- name: broadcast_progress_message --
UPDATE broadcasts SET progress_outbox_id = %(outbox_id)s, shown = %(text)s, shown_at = now()
WHERE id = %(id)s

-- name: broadcast_running --
SELECT id, chat_id, admin_id, payload, total, progress_outbox_id, shown,
       EXTRACT(EPOCH FROM now() - COALESCE(shown_at, created_at))::float8 AS shown_age_s
FROM broadcasts WHERE finished_at IS NULL ORDER BY id

-- name: broadcast_room --
-- What the outbox holds now (partial index outbox_open): broadcast rows open, and other
-- messages due and not yet claimed. A broadcast row is queued only when no other message
-- waits, and only a few at a time, so a result never queues behind a broadcast.
SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox
                              WHERE status IN ('pending', 'sending') AND kind = 'broadcast'
                              LIMIT 1000) AS b) AS mine,
       EXISTS (SELECT 1 FROM outbox
               WHERE status IN ('pending', 'sending') AND status = 'pending'
                 AND kind <> 'broadcast' AND not_before <= now())::int AS others

-- name: broadcast_queue --
-- The next recipients into the outbox, each with its dedup key, and the recipient marked
-- queued in the same statement: a kill -9 before the commit queued nothing, after it all.
WITH picked AS (
    SELECT r.user_id FROM broadcast_recipients AS r
    WHERE r.broadcast_id = %(id)s AND r.outbox_id IS NULL
    ORDER BY r.user_id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), queued AS (
    INSERT INTO outbox (chat_id, kind, payload, dedup_key)
    SELECT p.user_id, 'broadcast', b.payload, 'bc:' || b.id || ':' || p.user_id
    FROM picked AS p CROSS JOIN broadcasts AS b WHERE b.id = %(id)s
    ON CONFLICT (dedup_key) DO UPDATE SET dedup_key = EXCLUDED.dedup_key
    RETURNING id, chat_id
)
UPDATE broadcast_recipients AS r SET outbox_id = q.id
FROM queued AS q
WHERE r.broadcast_id = %(id)s AND r.user_id = q.chat_id
RETURNING r.user_id

-- name: broadcast_progress --
SELECT count(*) FILTER (WHERE o.status = 'sent') AS sent,
       count(*) FILTER (WHERE o.status = 'failed') AS blocked,
       count(*) FILTER (WHERE r.outbox_id IS NULL
                        OR o.status IN ('pending', 'sending')) AS left_
FROM broadcast_recipients AS r LEFT JOIN outbox AS o ON o.id = r.outbox_id
WHERE r.broadcast_id = %(id)s

-- name: broadcast_shown --
UPDATE broadcasts SET shown = %(text)s, shown_at = now(),
                      finished_at = CASE WHEN %(done)s THEN now() END
WHERE id = %(id)s AND finished_at IS NULL

-- name: purge_broadcast_recipients --
-- Retention: the recipients of broadcasts finished before the cutoff (the broadcast row, with
-- its total and last progress text, is kept).
DELETE FROM broadcast_recipients
WHERE ctid = ANY(ARRAY(
    SELECT r.ctid FROM broadcast_recipients AS r JOIN broadcasts AS b ON b.id = r.broadcast_id
    WHERE b.finished_at < now() - make_interval(secs => %(older_than)s)
    LIMIT %(limit)s FOR UPDATE OF r SKIP LOCKED))

-- name: result_files_store --
INSERT INTO result_files (job_id, part, media, file_id)
SELECT %(job_id)s, f.part, f.media, f.file_id
FROM jsonb_to_recordset(%(files)s) AS f(part int, media text, file_id text)
ON CONFLICT DO NOTHING

-- name: result_files_of_user --
-- The user's newest delivered results with their stored file_ids, for /history.
SELECT j.id, j.model_id, j.created_at,
       jsonb_agg(jsonb_build_object('media', f.media, 'file_id', f.file_id)
                 ORDER BY f.part) AS files
FROM jobs AS j JOIN result_files AS f ON f.job_id = j.id
WHERE j.user_id = %(user_id)s AND j.state = 'delivered'
GROUP BY j.id
ORDER BY j.id DESC
LIMIT %(limit)s

-- name: alert_rows --
SELECT key, active, notified, message FROM alert_pushes

-- name: alert_observe --
-- The condition as seen now; `changed_at` moves only when it changes.
INSERT INTO alert_pushes (key, active, message) VALUES (%(key)s, %(active)s, %(message)s)
ON CONFLICT (key) DO UPDATE SET
    active = EXCLUDED.active,
    message = CASE WHEN EXCLUDED.active THEN EXCLUDED.message ELSE alert_pushes.message END,
    changed_at = CASE WHEN alert_pushes.active <> EXCLUDED.active THEN now()
                      ELSE alert_pushes.changed_at END

-- name: alert_notify --
-- Tell the admins what changed, at most once per `min_interval` seconds per key; the guard
-- makes it once per change even if two pushers raced.
UPDATE alert_pushes
SET notified = active, pushed_at = now(), pushes = pushes + 1
WHERE key = %(key)s AND notified <> active
  AND (pushed_at IS NULL OR pushed_at <= now() - make_interval(secs => %(min_interval)s))
RETURNING key, active, message, pushes

-- name: alert_model_failures --
-- Per model over the window: jobs that ended, and those that failed for KIE's or our
-- reasons (a user's cancel, or a user who blocked the bot, is not the model's failure).
SELECT model_id, count(*) AS ended,
       count(*) FILTER (WHERE state = 'failed'
                        AND COALESCE(failure, '') NOT IN ('cancelled', 'undeliverable'))
           AS failed
FROM jobs
WHERE finished_at > now() - make_interval(secs => %(window_s)s)
  AND state IN ('delivered', 'failed')
GROUP BY model_id

-- name: alert_poison_recent --
SELECT count(*) AS count FROM telegram_updates
WHERE poison_at IS NOT NULL AND poison_at > now() - make_interval(secs => %(window_s)s)

-- ============================== workers and leases (issue 16) ==============================

-- name: worker_beat --
-- A worker's heartbeat, with what it publishes for /status.
INSERT INTO workers (id, node, host, pid, slot, info)
VALUES (%(id)s, %(node)s, %(host)s, %(pid)s, %(slot)s, %(info)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), info = EXCLUDED.info
RETURNING (SELECT count(*) FROM workers
           WHERE heartbeat_at > now() - make_interval(secs => %(ttl)s) AND id <> %(id)s)
          + 1 AS live

-- name: workers_of_host --
SELECT id, pid FROM workers WHERE host = %(host)s AND id <> %(id)s

-- name: worker_gone --
-- A worker that is known to be dead (its process is gone, or it stopped): its leases end
-- now, so the others take them at once instead of after their expiry.
WITH ended AS (
    UPDATE leases SET expires_at = clock_timestamp()
    WHERE owner = %(id)s AND expires_at > clock_timestamp()
    RETURNING epoch
), history AS (
    UPDATE lease_history SET ended_at = clock_timestamp()
    WHERE epoch IN (SELECT epoch FROM ended) AND ended_at IS NULL
)
DELETE FROM workers WHERE id = %(id)s

-- name: workers_forget --
-- Rows of workers silent for a day (/status lists the others).
DELETE FROM workers WHERE heartbeat_at < now() - interval '1 day'

-- name: leases_renew --
-- The leases this worker holds under these epochs, extended. A lease that expired but that
-- nobody took since is still this worker's (no one else wrote under it in between).
UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
WHERE owner = %(owner)s AND epoch = ANY(%(epochs)s)
RETURNING name, epoch

-- name: leases_acquire --
-- Up to `limit` of `names` that nobody holds (never held, released or expired), each under a
-- new epoch; the epoch it replaces ends when it expired.
WITH picked AS (
    SELECT name, epoch AS old, expires_at AS old_expiry FROM leases
    WHERE name = ANY(%(names)s) AND expires_at <= clock_timestamp()
    ORDER BY name LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), ended AS (
    UPDATE lease_history AS h SET ended_at = picked.old_expiry
    FROM picked WHERE h.epoch = picked.old AND h.ended_at IS NULL
), taken AS (
    UPDATE leases AS l
    SET owner = %(owner)s, epoch = nextval('lease_epochs'), acquired_at = clock_timestamp(),
        expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
    FROM picked WHERE l.name = picked.name
    RETURNING l.name, l.epoch, l.acquired_at
)
INSERT INTO lease_history (epoch, name, owner, acquired_at)
SELECT epoch, name, %(owner)s, acquired_at FROM taken
RETURNING name, epoch

-- name: leases_release --
WITH ended AS (
    UPDATE leases SET expires_at = clock_timestamp()
    WHERE owner = %(owner)s AND epoch = ANY(%(epochs)s) AND expires_at > clock_timestamp()
    RETURNING epoch
)
UPDATE lease_history SET ended_at = clock_timestamp()
WHERE epoch IN (SELECT epoch FROM ended) AND ended_at IS NULL

-- name: leases_view --
-- /status: every lease, its owner and how long it has left.
SELECT l.name, l.owner, l.epoch, w.pid, w.slot, w.node,
       EXTRACT(EPOCH FROM l.expires_at - clock_timestamp())::float8 AS left_s
FROM leases AS l LEFT JOIN workers AS w ON w.id = l.owner
WHERE l.expires_at > clock_timestamp()
ORDER BY l.name

-- name: workers_view --
SELECT id, node, host, pid, slot, info,
       EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 AS heartbeat_age_s,
       EXTRACT(EPOCH FROM now() - started_at)::float8 AS uptime_s
FROM workers ORDER BY node, slot, id

-- name: wake --
-- Wake-ups for the workers that own what these name (LISTEN trt_wake), sent at commit.
SELECT count(pg_notify('trt_wake', p)) AS n FROM unnest(%(payloads)s::text[]) AS p

-- name: partitions_busy --
-- Of the partitions this worker is giving back, those it still works in: a send its
-- delivery (epoch `epoch`) has on the wire, or a createTask begun in the last `call_s`
-- seconds (the longest a call can take). Given back only once idle, so the new owner never
-- sends a result again or creates a second task for a call still under way.
SELECT DISTINCT trt_part(chat_id) AS part FROM outbox
WHERE status = 'sending' AND claim_epoch = %(epoch)s AND trt_part(chat_id) = ANY(%(parts)s)
UNION
SELECT DISTINCT trt_part(chat_id) FROM jobs
WHERE state = 'submitting' AND submit_outcome = 'in_flight'
  AND submit_outcome_at > now() - make_interval(secs => %(call_s)s)
  AND trt_part(chat_id) = ANY(%(parts)s)
