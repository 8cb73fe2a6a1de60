-- Issue 11 (hardening): failed Telegram updates are retried while the node runs, and the
-- wait after an unknown createTask outcome counts from the moment it became unknown.

-- An update is due again at next_attempt_at while it is not handled. A fresh row is due a
-- minute after it arrived: an update whose handling failed without even recording the
-- failure (the database was down) is handed again then, not at the next restart. A failure
-- that is recorded moves it by the backoff; `attempts` counts those failures, and one that
-- keeps failing is parked as poison (poison_at, handled_at set: never handed again).
ALTER TABLE telegram_updates
    ADD COLUMN attempts int NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now() + interval '1 minute',
    ADD COLUMN last_error text,
    ADD COLUMN poison_at timestamptz;
CREATE INDEX telegram_updates_due ON telegram_updates (next_attempt_at)
    WHERE handled_at IS NULL;
CREATE INDEX telegram_updates_poison ON telegram_updates (poison_at DESC, update_id)
    WHERE poison_at IS NOT NULL;

-- When the last createTask attempt began (in_flight) or got its outcome (unknown, created,
-- not_created): a resubmission waits out the grace from then, whoever asks for it.
ALTER TABLE jobs ADD COLUMN submit_outcome_at timestamptz;
