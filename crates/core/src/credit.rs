//! Account credits: what sending costs, per account and channel, with a ledger.

/// The channels credits are kept for.
pub const CHANNELS: [&str; 2] = ["email", "sms"];

/// One ledger entry. Entries of an account and channel always sum to its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: String,
    pub account: String,
    pub channel: String,
    /// Credits added (grant, refund) or taken (reservation); 0 when a reservation is
    /// committed.
    pub delta: i64,
    /// `grant`, `reserve`, `commit` or `refund`.
    pub kind: String,
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
