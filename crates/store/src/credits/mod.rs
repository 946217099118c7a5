//! Account credits: per account and channel balances, and the ledger that sums to them.

use async_trait::async_trait;
use switchyard_core::credit::{LedgerEntry, Reservation};
use switchyard_core::message::Channel;

use crate::{Page, Result};

pub(crate) mod sql;

#[async_trait]
pub trait CreditStore: Send + Sync {
    /// Adds `amount` (negative to take some back) to an account's channel, creating its
    /// credit record (and so metering it) if needed; returns the new balance. A balance
    /// never goes below zero: such a change is refused with `Ok(None)`.
    async fn grant_credits(
        &self,
        account: &str,
        channel: Channel,
        amount: i64,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Option<i64>>;
    /// Balances of an account's metered channels.
    async fn credit_balances(&self, account: &str) -> Result<Vec<(Channel, i64)>>;
    /// Takes `n` credits for `message_id` if the balance allows, atomically: of many
    /// concurrent reservations against a balance of K, exactly those fitting in K succeed.
    async fn reserve_credits(
        &self,
        account: &str,
        channel: Channel,
        n: i64,
        message_id: &str,
        now: i64,
    ) -> Result<Reservation>;
    /// Settles a reservation: `commit` records that the credits were spent; otherwise
    /// they are refunded to the balance.
    async fn settle_credits(
        &self,
        account: &str,
        channel: Channel,
        n: i64,
        message_id: &str,
        commit: bool,
        now: i64,
    ) -> Result<()>;
    /// An account's ledger, newest first.
    async fn credit_ledger(&self, account: &str, page: &Page) -> Result<Vec<LedgerEntry>>;
}
