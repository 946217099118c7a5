-- Credits per account and channel: the balance available now, and a ledger whose
-- deltas always sum to it (grants add, reservations subtract, refunds add back).
CREATE TABLE credit_balances (
    account    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    balance    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, channel)
);

CREATE TABLE credit_ledger (
    id         TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    delta      BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    reason     TEXT,
    message_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_ledger_by_account ON credit_ledger (account, id);
