-- Issue 14, growth: referrals, who a broadcast reaches, broadcasts and their recipients,
-- the Telegram file_ids of delivered results (for /history), and the alerts pushed to admins.
--
-- New ledger kind (amount >= 0, the kind gives the direction):
--   referral +available  an inviter's bonus for the first paid job an invitee got delivered
--                        (ref referral:<invitee>, so at most once per invitee)
ALTER TYPE ledger_kind ADD VALUE IF NOT EXISTS 'referral';

-- Who invited whom: one row per invitee, written once, when the invitee is created (a user
-- who already existed is never bound). `paid_job_id` is set by the guarded UPDATE that pays
-- the inviter (paid_job_id IS NULL), in the transaction of the job's delivery.
CREATE TABLE referrals (
    invitee bigint PRIMARY KEY REFERENCES users (id),
    inviter bigint NOT NULL REFERENCES users (id),
    bound_at timestamptz NOT NULL DEFAULT now(),
    paid_job_id bigint,
    paid_at timestamptz,
    CONSTRAINT referrals_not_self CHECK (invitee <> inviter)
);
CREATE INDEX referrals_inviter ON referrals (inviter);

-- Who a broadcast skips: users who opted out with /stop (until /start) and chats where
-- Telegram answered 403 (blocked the bot; until they /start it again).
CREATE TABLE audience (
    user_id bigint PRIMARY KEY,
    stopped_at timestamptz,
    blocked_at timestamptz
);

-- A broadcast: its message, the admin's chat (progress is edited there), and the recipients
-- chosen when it was confirmed. A recipient row is queued (outbox_id set) in the same
-- transaction as its outbox row (dedup key bc:<broadcast>:<user>), so a kill -9 never queues
-- one twice; the outbox row says whether it was sent or failed.
CREATE TABLE broadcasts (
    id bigserial PRIMARY KEY,
    admin_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    payload jsonb NOT NULL,               -- {"text"} or {"photo", "caption"}
    dedup_key text NOT NULL CONSTRAINT broadcasts_dedup UNIQUE,
    total int NOT NULL DEFAULT 0,
    progress_outbox_id bigint,            -- the admin's progress message
    shown text,                           -- the progress text last queued
    shown_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX broadcasts_running ON broadcasts (id) WHERE finished_at IS NULL;
CREATE TABLE broadcast_recipients (
    broadcast_id bigint NOT NULL REFERENCES broadcasts (id),
    user_id bigint NOT NULL,
    outbox_id bigint,                     -- null: not queued yet
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX broadcast_recipients_waiting ON broadcast_recipients (broadcast_id, user_id)
    WHERE outbox_id IS NULL;

-- Telegram's file_ids of a delivered result, one per part, recorded with the send: /history
-- sends them again long after KIE's URLs expired.
CREATE TABLE result_files (
    job_id bigint NOT NULL,
    part int NOT NULL,
    media text NOT NULL,                  -- photo | video | audio | document | animation
    file_id text NOT NULL,
    PRIMARY KEY (job_id, part)
);

-- Alerts pushed to the admins: `active` is the condition as last seen, `notified` what the
-- admins were last told. A change is pushed when they differ and the last push of this key
-- is older than the minimum interval (a flapping condition is told once per interval).
CREATE TABLE alert_pushes (
    key text PRIMARY KEY,
    active boolean NOT NULL,
    notified boolean NOT NULL DEFAULT false,
    message text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    pushed_at timestamptz,
    pushes int NOT NULL DEFAULT 0
);
