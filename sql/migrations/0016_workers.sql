-- Several worker processes, or several nodes, on one database (issue 16).
--
-- Chats, and the jobs they start, fall into 64 partitions (`trt_part`). Each partition is a
-- lease held by one worker at a time; so are the node-wide singletons (Telegram intake, the
-- janitor's global sweeps, the broadcaster, the alert pusher). A lease has an epoch, new at
-- every acquisition (a sequence: unique across leases), kept while its owner renews it.
--
-- Fencing lives here, like the state machine: a worker's connections carry the epochs it
-- holds (`trt.fence`, ',12,57,'); a write to `jobs` or `chat_sessions` by a connection that
-- carries a fence is refused (SQLSTATE TRT02) unless the row's partition is leased, unexpired,
-- under one of those epochs. A worker paused past its lease, or one that lost a partition,
-- changes nothing of it. A connection without a fence (tools, tests of single parts) is not
-- checked. The epoch a job's move was written under is kept in its event.

CREATE FUNCTION trt_part(chat_id bigint) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (((chat_id % 64) + 64) % 64)::int $$;

CREATE TABLE workers (
    id text PRIMARY KEY,                 -- <node>/<slot>/<pid>
    node text NOT NULL,
    host text NOT NULL,
    pid int NOT NULL,
    slot int,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    info jsonb NOT NULL DEFAULT '{}'     -- what the worker publishes for /status
);

CREATE SEQUENCE lease_epochs;

CREATE TABLE leases (
    name text PRIMARY KEY,               -- 'part:0'..'part:63', 'intake', 'janitor', ...
    owner text,                          -- workers.id
    epoch bigint UNIQUE,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at timestamptz
);
INSERT INTO leases (name) SELECT 'part:' || p FROM generate_series(0, 63) AS p;
INSERT INTO leases (name) VALUES ('intake'), ('janitor'), ('broadcaster'), ('alerts');

-- Every epoch ever granted: when it began and when it ended (released, or expired and taken
-- over). The chaos suite checks every fenced event against it.
CREATE TABLE lease_history (
    epoch bigint PRIMARY KEY,
    name text NOT NULL,
    owner text NOT NULL,
    acquired_at timestamptz NOT NULL,
    ended_at timestamptz
);

ALTER TABLE job_events
    ADD COLUMN epoch bigint DEFAULT nullif(current_setting('trt.epoch', true), '')::bigint;

CREATE FUNCTION trt_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fence text := current_setting('trt.fence', true);
    held bigint;
BEGIN
    IF fence IS NULL OR fence = '' THEN
        RETURN NEW;
    END IF;
    SELECT epoch INTO held FROM leases
    WHERE name = 'part:' || trt_part(NEW.chat_id) AND expires_at > clock_timestamp();
    IF held IS NULL OR position(',' || held || ',' IN fence) = 0 THEN
        RAISE EXCEPTION 'stale lease: partition % of chat % is not this worker''s',
                        trt_part(NEW.chat_id), NEW.chat_id
            USING ERRCODE = 'TRT02';
    END IF;
    PERFORM set_config('trt.epoch', held::text, true);
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_fence BEFORE INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION trt_fence();
CREATE TRIGGER chat_sessions_fence BEFORE INSERT OR UPDATE ON chat_sessions
    FOR EACH ROW EXECUTE FUNCTION trt_fence();

