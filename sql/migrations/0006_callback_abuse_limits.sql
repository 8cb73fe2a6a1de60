-- Callback abuse limits (issue 11, defect 3): nobody can fill the disk through the callback URL.
--
-- A rejected (forged) callback keeps a record, not its body: the first KB, the size and the
-- sha256 of what was received, the sender's address. Parked orphans keep their whole body (a
-- job may still claim them) within a cap of rows and bytes; over it the oldest are expired
-- and become the same kind of record (reason 'over the orphan cap'). Rows stored before this
-- migration have no size, digest or source (NULL), except those this migration shrinks.
ALTER TABLE callback_inbox
    ADD COLUMN body_size integer,   -- bytes received (`body` may hold only the first KB)
    ADD COLUMN body_sha256 text,    -- hex sha256 of all the bytes received
    ADD COLUMN source text;         -- the sender's address, as the gateway saw it

-- Existing parked rows count against the cap by their size; rejected and expired rows
-- already stored shrink to the record new ones get (only rows over 1 KB are rewritten).
UPDATE callback_inbox
SET body_size = octet_length(body), body_sha256 = encode(sha256(body), 'hex'),
    body = CASE WHEN status = 'parked' THEN body ELSE substring(body FROM 1 FOR 1024) END
WHERE status = 'parked' OR (status IN ('rejected', 'expired') AND octet_length(body) > 1024);

-- The cap is checked after each orphan is parked: rows and bytes of the parked ones, oldest
-- first, from the index alone (parked rows are few: at most the cap).
CREATE INDEX callback_inbox_parked ON callback_inbox (received_at, id) INCLUDE (body_size)
    WHERE status = 'parked';
-- /status counts the rejected records and the orphans expired over the cap; the janitor
-- reads when the cap last expired one (for the alert).
CREATE INDEX callback_inbox_rejected ON callback_inbox (received_at) WHERE status = 'rejected';
CREATE INDEX callback_inbox_capped ON callback_inbox (handled_at)
    WHERE reason = 'over the orphan cap';
