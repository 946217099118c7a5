-- Fewer index entries for each message written.
--
-- The send queue is indexed by its own column, `due_at` (the next attempt's time while a
-- message waits to be sent, NULL once it is sent or has failed), and no index names the
-- status: claiming a message changes no index.
ALTER TABLE messages ADD COLUMN due_at BIGINT;
UPDATE messages SET due_at = next_attempt_at WHERE status IN ('queued', 'sending');
DROP INDEX messages_due;
DROP INDEX messages_by_status;
CREATE INDEX messages_due ON messages (due_at, id) WHERE due_at IS NOT NULL;

-- Messages without an account have no entry in the account's index.
DROP INDEX messages_by_account;
CREATE INDEX messages_by_account ON messages (account, id) WHERE account IS NOT NULL;
