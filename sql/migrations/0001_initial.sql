-- TRT node schema, version 1.
-- Money is in whole bot credits (bigint). Every state change of a job is guarded twice:
-- by the caller's `WHERE state = ANY(allowed)` and by the trigger below against
-- job_transitions, so no code path can make a move the state machine does not allow.

CREATE TYPE job_state AS ENUM (
    'created', 'submitting', 'submitted', 'running', 'succeeded', 'delivering',
    'delivered', 'failed'
);
CREATE TYPE job_cause AS ENUM (
    'user', 'submit', 'callback', 'poll', 'timeout', 'restart', 'delivery', 'operator'
);
CREATE TYPE ledger_kind AS ENUM ('grant', 'topup', 'hold', 'capture', 'release');
CREATE TYPE inbox_status AS ENUM (
    'pending',    -- stored, not yet applied by the job actor
    'applied',    -- the job actor handled it
    'parked',     -- no job matches yet (orphan)
    'claimed',    -- an orphan whose job appeared; handed to it
    'expired',    -- an orphan nobody claimed within its TTL; kept for inspection
    'rejected',   -- failed authentication (bad token format or signature); changed nothing
    'malformed'   -- authenticated but not understood; recorded, polling covers the job
);
CREATE TYPE outbox_status AS ENUM ('pending', 'sending', 'sent', 'failed');

CREATE TABLE job_transitions (
    from_state job_state NOT NULL,
    to_state job_state NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO job_transitions (from_state, to_state) VALUES
    ('created', 'submitting'), ('created', 'failed'),
    ('submitting', 'submitted'), ('submitting', 'running'), ('submitting', 'succeeded'),
    ('submitting', 'failed'),
    ('submitted', 'running'), ('submitted', 'succeeded'), ('submitted', 'failed'),
    ('running', 'succeeded'), ('running', 'failed'),
    ('succeeded', 'delivering'), ('succeeded', 'failed'),
    ('delivering', 'delivered'), ('delivering', 'failed');

CREATE TABLE users (
    id bigint PRIMARY KEY,                          -- Telegram user id
    language text,
    available bigint NOT NULL DEFAULT 0 CONSTRAINT users_available_nonnegative CHECK (available >= 0),
    held bigint NOT NULL DEFAULT 0 CONSTRAINT users_held_nonnegative CHECK (held >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    kind ledger_kind NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    ref text NOT NULL CONSTRAINT ledger_ref_unique UNIQUE,   -- replays are no-ops
    job_id bigint,
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_user ON ledger (user_id, id);

CREATE TABLE free_usage (
    user_id bigint NOT NULL REFERENCES users (id),
    day date NOT NULL,
    used int NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    chat_id bigint NOT NULL,
    model_id text NOT NULL,
    family text NOT NULL,
    input jsonb NOT NULL,
    price bigint NOT NULL CHECK (price >= 0),
    free boolean NOT NULL DEFAULT false,
    state job_state NOT NULL DEFAULT 'created',
    cause job_cause NOT NULL DEFAULT 'user',       -- cause of the latest change
    detail text,                                    -- words for the latest change
    failure text,                                   -- why it ended failed
    callback_token text NOT NULL UNIQUE,
    idempotency_key text UNIQUE,
    submit_attempts int NOT NULL DEFAULT 0,
    submit_outcome text,                            -- last attempt: in_flight | created | not_created | unknown
    submit_unknown int NOT NULL DEFAULT 0,          -- earlier attempts whose outcome stayed unknown
    result_urls jsonb,
    expected_seconds int NOT NULL,
    deadline_at timestamptz NOT NULL,
    next_check_at timestamptz NOT NULL DEFAULT now(), -- when the poller or janitor looks next
    poll_count int NOT NULL DEFAULT 0,
    status_outbox_id bigint,                        -- the progress message, edited as we go
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX jobs_in_flight ON jobs (next_check_at)
    WHERE state IN ('created', 'submitting', 'submitted', 'running');
CREATE INDEX jobs_user ON jobs (user_id, id DESC);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_events (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL,
    from_state job_state,
    to_state job_state NOT NULL,
    cause job_cause NOT NULL,
    detail text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE FUNCTION trt_job_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'created' THEN
            RAISE EXCEPTION 'illegal transition: new job in state %', NEW.state;
        END IF;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM job_transitions
                   WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION 'illegal transition: job % from % to %', OLD.id, OLD.state, NEW.state;
    END IF;
    NEW.updated_at := now();
    IF NEW.state IN ('delivered', 'failed') THEN
        NEW.finished_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION trt_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events (job_id, from_state, to_state, cause, detail)
    VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state, NEW.cause, NEW.detail);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_guard_insert BEFORE INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION trt_job_guard();
CREATE TRIGGER jobs_guard_update BEFORE UPDATE OF state ON jobs
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION trt_job_guard();
CREATE TRIGGER jobs_event_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION trt_job_event();
CREATE TRIGGER jobs_event_update AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION trt_job_event();

-- Every KIE task id ever created for a job: by a createTask answer, or discovered through a
-- callback or a resubmission. A result from any of them completes the job.
CREATE TABLE kie_tasks (
    task_id text PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES jobs (id),
    attempt int,
    found_by text NOT NULL,                         -- submit | callback | poll
    state text NOT NULL DEFAULT 'pending',
    result_urls jsonb,
    fail_code text,
    fail_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kie_tasks_job ON kie_tasks (job_id);

CREATE TABLE callback_inbox (
    id bigserial PRIMARY KEY,
    token text,
    task_id text,
    dedup_key text NOT NULL CONSTRAINT callback_inbox_dedup UNIQUE,
    body bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}',
    status inbox_status NOT NULL,
    job_id bigint,
    reason text,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at timestamptz
);
CREATE INDEX callback_inbox_open ON callback_inbox (status, received_at)
    WHERE status IN ('pending', 'parked');
CREATE INDEX callback_inbox_task ON callback_inbox (task_id) WHERE status = 'parked';
CREATE INDEX callback_inbox_token ON callback_inbox (token) WHERE status = 'parked';

CREATE TABLE telegram_updates (
    update_id bigint PRIMARY KEY,
    chat_id bigint,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at timestamptz
);
CREATE INDEX telegram_updates_unhandled ON telegram_updates (update_id) WHERE handled_at IS NULL;

CREATE TABLE node_state (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_sessions (
    chat_id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    state jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    chat_id bigint NOT NULL,
    job_id bigint,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    dedup_key text CONSTRAINT outbox_dedup UNIQUE,
    status outbox_status NOT NULL DEFAULT 'pending',
    attempts int NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL DEFAULT now(),
    message_ids jsonb,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX outbox_open ON outbox (not_before, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_job ON outbox (job_id);
