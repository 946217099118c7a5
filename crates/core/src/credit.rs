//! Account credits: what sending costs, per account and channel, with a ledger.

use crate::message::Channel;

crate::text_enum! {
    /// What a ledger entry records.
    pub enum LedgerKind {
        /// Credits added (or, negative, taken back) by the application.
        Grant = "grant",
        /// Credits taken for a message when it was accepted.
        Reserve = "reserve",
        /// A reservation spent: the message was sent (delta 0).
        Commit = "commit",
        /// A reservation returned: the message failed.
        Refund = "refund",
    }
}

/// One ledger entry. Entries of an account and channel always sum to its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: String,
    pub account: String,
    pub channel: Channel,
    /// Credits added (grant, refund) or taken (reservation); 0 when a reservation is
    /// committed.
    pub delta: i64,
    pub kind: LedgerKind,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    pub created_at: i64,
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Taken from the balance; this is what is left.
    Reserved { balance: i64 },
    /// The account has no credit record for the channel: sending is not metered.
    Unmetered,
    /// Not enough: this is the balance, unchanged.
    Insufficient { balance: i64 },
}

/// Whether `account` is a valid account name: 1 to 100 letters, digits or `_ - . : @`.
pub fn valid_account(account: &str) -> bool {
    (1..=100).contains(&account.len())
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'))
}
