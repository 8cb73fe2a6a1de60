-- Delivery hardening (issue 11, defects 7 and 8a).
--
-- Fencing: each delivery actor incarnation takes the next epoch at start and claims outbox
-- rows with it; marking a row sent, retried or failed requires the row to be 'sending' under
-- that epoch. A stopped incarnation whose last database call lands after its successor
-- claimed the row changes nothing (see delivery_sent / delivery_failed in queries.sql).
CREATE SEQUENCE delivery_epoch;
ALTER TABLE outbox ADD COLUMN claim_epoch bigint;

-- The result parts (their URLs) whose send timed out after Telegram had the whole request:
-- most likely in the chat, not sent again; the user got a button to ask for them again.
ALTER TABLE outbox ADD COLUMN maybe_sent jsonb;
