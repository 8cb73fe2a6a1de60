-- The operator's word on the catalog, changed without a deploy (/model on|off, /price): one
-- row per model an admin has touched. `enabled` false takes the model out of menus, search
-- and /gen (jobs already confirmed finish); `price` set replaces the price the catalog derives
-- from KIE's cost (NULL: the catalog's). Who changed the row last, and when, is kept with it.
CREATE TABLE model_settings (
    model_id text PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT true,
    price bigint CHECK (price IS NULL OR price >= 1),
    changed_by bigint NOT NULL,                     -- the admin's Telegram user id
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- The "popular" list counts the last days' confirmed jobs per model: only recent rows are
-- read, and the model id comes from the index itself.
CREATE INDEX jobs_created_model ON jobs (created_at, model_id);
