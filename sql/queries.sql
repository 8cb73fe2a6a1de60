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
INSERT INTO free_usage (user_id, day, used) VALUES (%(user_id)s, current_date, 1)
ON CONFLICT (user_id, day) DO UPDATE SET used = free_usage.used + 1
WHERE free_usage.used < %(limit)s
RETURNING used

-- name: free_return --
UPDATE free_usage SET used = used - 1
WHERE user_id = %(user_id)s AND day = %(day)s AND used > 0

-- ======================================== jobs ===========================================

-- name: job_insert --
INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, free, callback_token,
                  idempotency_key, expected_seconds, deadline_at)
VALUES (%(user_id)s, %(chat_id)s, %(model_id)s, %(family)s, %(input)s, %(price)s, %(free)s,
        %(callback_token)s, %(idempotency_key)s, %(expected_seconds)s,
        now() + make_interval(secs => %(max_seconds)s))
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
    next_check_at = COALESCE(now() + make_interval(secs => %(check_in)s::float8), next_check_at),
    submitted_at = CASE WHEN %(to)s::text IN ('submitted', 'running', 'succeeded')
                        THEN COALESCE(submitted_at, now()) ELSE submitted_at END
WHERE id = %(job_id)s AND state = ANY(%(allowed)s::job_state[])
RETURNING *

-- name: job_begin_attempt --
UPDATE jobs
SET state = 'submitting', cause = 'submit', detail = %(detail)s,
    submit_attempts = submit_attempts + 1, submit_outcome = 'in_flight',
    submit_unknown = submit_unknown
        + CASE WHEN submit_outcome IN ('in_flight', 'unknown') THEN 1 ELSE 0 END,
    next_check_at = now() + make_interval(secs => %(check_in)s::float8)
WHERE id = %(job_id)s AND state IN ('created', 'submitting')
RETURNING *

-- name: job_set_outcome --
UPDATE jobs
SET submit_outcome = %(outcome)s, detail = %(detail)s,
    next_check_at = now() + make_interval(secs => %(check_in)s::float8)
WHERE id = %(job_id)s
RETURNING *

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
INSERT INTO callback_inbox (token, task_id, dedup_key, body, headers, status, job_id, reason)
SELECT %(token)s, %(task_id)s, %(dedup_key)s, %(body)s, %(headers)s,
       CASE WHEN %(status)s::inbox_status IS NOT NULL THEN %(status)s::inbox_status
            WHEN target.job_id IS NULL THEN 'parked'::inbox_status
            ELSE 'pending'::inbox_status END,
       target.job_id, %(reason)s
FROM (SELECT COALESCE(%(job_id)s::bigint,
                      (SELECT job_id FROM kie_tasks
                       WHERE task_id = %(task_id)s AND %(token)s::text IS NULL)) AS job_id
     ) AS target
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id, status, job_id

-- name: job_secret --
SELECT id, callback_token, family FROM jobs WHERE id = %(job_id)s

-- name: inbox_mark --
UPDATE callback_inbox
SET status = %(status)s, handled_at = now(), reason = COALESCE(%(reason)s, reason)
WHERE id = %(inbox_id)s AND status IN ('pending', 'claimed')

-- name: inbox_stale --
-- Stored but not applied (the node died in between, or the job actor failed): hand again.
SELECT id, job_id, body FROM callback_inbox
WHERE status IN ('pending', 'claimed') AND handled_at IS NULL
  AND received_at < now() - make_interval(secs => %(older_than)s)
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
UPDATE callback_inbox SET status = 'expired', handled_at = now()
WHERE status = 'parked' AND received_at < now() - make_interval(secs => %(ttl)s)

-- name: orphans_stats --
SELECT status::text AS status, count(*) AS n, min(received_at) AS oldest
FROM callback_inbox WHERE status IN ('parked', 'claimed', 'expired') GROUP BY status

-- ================================= janitor and poller ====================================

-- name: jobs_due_submit --
-- Oldest confirmed first (when KIE's createTask budget is short, jobs are sent in the order
-- users confirmed them). Leased for `lease` seconds so the next sweep does not hand the same
-- job again.
UPDATE jobs SET next_check_at = now() + make_interval(secs => %(lease)s)
WHERE id IN (
    SELECT id FROM jobs
    WHERE state IN ('created', 'submitting') AND next_check_at <= now()
    ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id

-- name: jobs_past_deadline --
UPDATE jobs SET next_check_at = now() + make_interval(secs => %(lease)s)
WHERE id IN (
    SELECT id FROM jobs
    WHERE state IN ('created', 'submitting', 'submitted', 'running')
      AND deadline_at <= now() AND next_check_at <= now()
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
INSERT INTO outbox (chat_id, job_id, kind, payload, dedup_key)
VALUES (%(chat_id)s, %(job_id)s, %(kind)s, %(payload)s, %(dedup_key)s)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id

-- name: job_set_status_message --
UPDATE jobs SET status_outbox_id = %(outbox_id)s WHERE id = %(job_id)s

-- =================================== Telegram intake =====================================

-- name: updates_store --
-- One getUpdates batch; a replayed update id inserts nothing.
INSERT INTO telegram_updates (update_id, chat_id, payload)
SELECT u.update_id, u.chat_id, u.payload
FROM jsonb_to_recordset(%(updates)s::jsonb) AS u(update_id bigint, chat_id bigint, payload jsonb)
ON CONFLICT (update_id) DO NOTHING
RETURNING update_id, chat_id

-- name: updates_unhandled --
SELECT update_id, chat_id FROM telegram_updates
WHERE handled_at IS NULL ORDER BY update_id LIMIT %(limit)s

-- name: update_get --
SELECT update_id, chat_id, payload, handled_at FROM telegram_updates
WHERE update_id = %(update_id)s FOR UPDATE

-- name: update_handled --
UPDATE telegram_updates SET handled_at = now() WHERE update_id = %(update_id)s

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
SELECT state::text AS state, model_id, count(*) AS n FROM jobs GROUP BY state, model_id

-- name: status_depths --
SELECT (SELECT count(*) FROM callback_inbox WHERE status = 'pending') AS callback_inbox,
       (SELECT count(*) FROM telegram_updates WHERE handled_at IS NULL) AS telegram_inbox,
       (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')) AS outbox,
       (SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs
         WHERE state NOT IN ('delivered', 'failed')) AS oldest_in_flight_s,
       (SELECT max(update_id) FROM telegram_updates) AS last_update_id

-- ===== delivery =====

-- name: delivery_requeue --
-- At start: rows a killed delivery actor had claimed go back to the queue. The one that was
-- on the wire at the kill may reach the chat twice; nothing is lost.
UPDATE outbox SET status = 'pending' WHERE status = 'sending'

-- name: delivery_claim --
-- Due rows, oldest first, marked sending. `answers` picks the answers to callback and
-- pre-checkout queries (never paced, never ordered) or everything else. A message row waits
-- while an older message of its chat waits for its retry time (per-chat order survives
-- retries and restarts), and at most `per_chat` rows of one chat are open at once (a chat
-- with a huge backlog cannot crowd the others out of memory).
UPDATE outbox SET status = 'sending', attempts = attempts + 1
WHERE id IN (
    SELECT id FROM outbox
    WHERE id IN (
        SELECT o.id FROM (
            SELECT id, chat_id, status, not_before,
                   row_number() OVER (PARTITION BY chat_id ORDER BY id) AS place
            FROM outbox
            WHERE status IN ('pending', 'sending')
              AND (kind IN ('answer_callback', 'answer_precheckout')) = %(answers)s
        ) AS o
        WHERE o.status = 'pending' AND o.not_before <= now()
          AND (%(answers)s OR o.place <= %(per_chat)s)
          AND (%(answers)s OR NOT EXISTS (
                SELECT 1 FROM outbox AS e
                WHERE e.status = 'pending' AND e.not_before > now() AND e.chat_id = o.chat_id
                  AND e.id < o.id AND e.kind NOT IN ('answer_callback', 'answer_precheckout'))))
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING id, chat_id, job_id, kind, payload, attempts, message_ids

-- name: delivery_sent --
UPDATE outbox SET status = 'sent', sent_at = now(), message_ids = %(message_ids)s
WHERE id = %(id)s AND status IN ('pending', 'sending')
RETURNING id

-- name: delivery_retry --
-- A failed attempt that may succeed later: the row stays claimed in memory; not_before keeps
-- the backoff if the actor restarts meanwhile.
UPDATE outbox
SET attempts = attempts + 1, error = %(error)s,
    not_before = now() + make_interval(secs => %(delay)s::float8)
WHERE id = %(id)s AND status IN ('pending', 'sending')
RETURNING attempts

-- name: delivery_failed --
UPDATE outbox SET status = 'failed', error = %(error)s
WHERE id = %(id)s AND status IN ('pending', 'sending')
RETURNING id, job_id, kind

-- name: delivery_fail_chat --
-- The chat refuses the bot (blocked, gone): every message still queued for it fails too.
UPDATE outbox SET status = 'failed', error = %(error)s
WHERE chat_id = %(chat_id)s AND status IN ('pending', 'sending')
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

-- ===== status (metrics) =====

-- name: status_failed_jobs --
-- The most recent failures, for "last failures" on /status and the dashboard.
SELECT id, model_id, failure, detail, cause::text AS cause,
       EXTRACT(EPOCH FROM COALESCE(finished_at, updated_at))::float8 AS at
FROM jobs WHERE state = 'failed'
ORDER BY COALESCE(finished_at, updated_at) DESC, id DESC
LIMIT %(limit)s

-- name: status_telegram --
-- Intake lag: the newest stored update (primary key) and the oldest not yet handled (partial
-- index), both without scanning the table.
SELECT newest.update_id AS last_update_id,
       EXTRACT(EPOCH FROM now() - newest.received_at)::float8 AS last_update_age_s,
       (SELECT EXTRACT(EPOCH FROM now() - received_at)::float8 FROM telegram_updates
         WHERE handled_at IS NULL ORDER BY update_id LIMIT 1) AS oldest_unhandled_s
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT update_id, received_at FROM telegram_updates
                   ORDER BY update_id DESC LIMIT 1) AS newest ON true

-- name: status_outbox --
-- Open outbox rows only (the partial index outbox_open): what waits and for how long.
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'sending') AS sending,
       EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_open_s
FROM outbox WHERE status IN ('pending', 'sending')
