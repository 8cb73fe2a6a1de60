-- The files a user sent as inputs, kept with the job: per file its field, its index in a
-- list field (0 for a single one), KIE's upload URL (also in `input`), Telegram's file_id
-- (stays valid) and when it was uploaded (unix seconds). KIE keeps uploads about 24 h: a job
-- that reaches createTask later uploads the file again from the file_id and replaces both.
ALTER TABLE jobs ADD COLUMN files jsonb NOT NULL DEFAULT '[]'::jsonb;
