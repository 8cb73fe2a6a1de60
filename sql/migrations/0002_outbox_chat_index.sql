-- Delivery claims rows per chat in id order; with a large backlog it must not scan every
-- open row for each chat.
CREATE INDEX outbox_open_chat ON outbox (chat_id, id) WHERE status IN ('pending', 'sending');
