-- Fewer index entries for each message written.
--
-- The send queue is indexed by its own column, `due_at` (the next attempt's time while a
-- message waits to be sent, NULL once it is sent or has failed), and no index names the
-- status. Claiming a message then changes no indexed column: PostgreSQL writes the
-- claimed row as a heap-only tuple, next to the old one and with no new index entries,
-- and the pages keep room for it.
ALTER TABLE messages ADD COLUMN due_at BIGINT;
UPDATE messages SET due_at = next_attempt_at WHERE status IN ('queued', 'sending');
DROP INDEX messages_due;
DROP INDEX messages_by_status;
CREATE INDEX messages_due ON messages (due_at, id) WHERE due_at IS NOT NULL;
ALTER TABLE messages SET (fillfactor = 70);

-- Messages without an idempotency key or an account have no entry in those indexes.
ALTER TABLE messages DROP CONSTRAINT messages_idempotency_key_key;
CREATE UNIQUE INDEX messages_by_key ON messages (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX messages_by_account;
CREATE INDEX messages_by_account ON messages (account, id) WHERE account IS NOT NULL;
