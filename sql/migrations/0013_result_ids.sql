-- KIE's ids of a job's results, where a follow-up names one (Suno: each track's `id`, what an
-- extend takes as `audioId`), in `result_urls` order. Empty for results that have none.
ALTER TABLE jobs ADD COLUMN result_ids jsonb;
