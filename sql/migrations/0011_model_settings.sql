-- Placeholder for issue 13's 0011_model_settings.sql (branch issue13), which replaces this
-- file when it lands: the numbering must stay 1..n without gaps, and issue 14's migrations
-- are 0012 and 0013.
SELECT 1;
