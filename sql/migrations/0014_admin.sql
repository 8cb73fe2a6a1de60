-- Issue 14, the admin's side: usernames (to find a user by @name), bans, the audit of admin
-- actions, promo codes and their redemptions, and the ledger kinds of admin money moves.
--
-- New ledger kinds (amounts stay >= 0; the kind gives the direction):
--   promo    +available  a promo code redeemed (ref promo:<CODE>:<user>)
--   refund   +available  an admin refunded a job's price (ref refund:job:<id>, once per job)
--   debit    -available  an admin took credits off (/adjust with a negative amount)
--   reversal -available  a Stars top-up refunded: its credits still unspent taken back
--                        (ref reversal:<charge id>, once per payment)
ALTER TYPE ledger_kind ADD VALUE IF NOT EXISTS 'promo';
ALTER TYPE ledger_kind ADD VALUE IF NOT EXISTS 'refund';
ALTER TYPE ledger_kind ADD VALUE IF NOT EXISTS 'debit';
ALTER TYPE ledger_kind ADD VALUE IF NOT EXISTS 'reversal';

-- The Telegram @username as last seen in an update (without the @), and the ban mark.
ALTER TABLE users ADD COLUMN username text;
ALTER TABLE users ADD COLUMN banned_at timestamptz;
CREATE INDEX users_username ON users (lower(username)) WHERE username IS NOT NULL;

-- Every admin action, written in the transaction of the update that did it (so exactly once).
CREATE TABLE admin_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    admin_id bigint NOT NULL,
    action text NOT NULL,  -- grant | adjust | ban | unban | refund_job | refund_stars | newpromo
    target_user bigint,
    job_id bigint,
    detail text
);
CREATE INDEX admin_audit_at ON admin_audit (at DESC, id DESC);

-- Promo codes: `uses` only ever grows by a guarded UPDATE (uses < max_uses, not expired), so
-- concurrent redemptions never pass max_uses; one redemption per user and code (primary key).
CREATE TABLE promo_codes (
    code text PRIMARY KEY CHECK (code = upper(code) AND length(code) BETWEEN 3 AND 32),
    credits bigint NOT NULL CHECK (credits > 0),
    max_uses int NOT NULL CHECK (max_uses > 0),
    uses int NOT NULL DEFAULT 0,
    expires_at timestamptz,
    created_by bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_uses_within_max CHECK (uses >= 0 AND uses <= max_uses)
);
CREATE TABLE promo_redemptions (
    code text NOT NULL REFERENCES promo_codes (code),
    user_id bigint NOT NULL REFERENCES users (id),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, user_id)
);
-- The per-user limit of jobs in flight counts a user's open jobs through this (state is
-- indexed already, so moves stay as cheap); admin stats read a day or a week by time.
CREATE INDEX jobs_user_open ON jobs (user_id) WHERE state NOT IN ('delivered', 'failed');
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX ledger_kind_created ON ledger (kind, created_at);
CREATE INDEX users_created ON users (created_at);

-- Wrong or expired codes a user typed, for the per-user rate limit of /promo.
CREATE TABLE promo_misses (
    user_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promo_misses_user ON promo_misses (user_id, at);
