-- A job whose result is text (speech-to-text: KIE answers a transcript, not a file URL) keeps
-- the text here; `result_urls` stays empty. Delivered as a message, and as a file when long.
ALTER TABLE jobs ADD COLUMN result_text text;
