//! Messages (email and SMS accepted for sending), their send attempts and status
//! history, provider status reports, and templates.

use async_trait::async_trait;
use switchyard_core::message::{
    Channel, Message, SendAttempt, SendResult, Status, StatusEntry, Template,
};

use crate::{Page, Result, StoreError};

pub(crate) mod batch_sql;
pub(crate) mod messages_sql;
pub(crate) mod status_sql;
pub(crate) mod templates_sql;

/// Filters for listing messages; times are milliseconds since the epoch, on `created_at`.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    pub account: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Credits to reserve for a message in the transaction that stores it.
#[derive(Debug, Clone)]
pub struct Charge {
    pub account: String,
    pub credits: i64,
    /// An account without a credit record may not send (`credits.required`).
    pub required: bool,
}

/// What [`MessageStore::record_sends_processed`] did.
#[derive(Debug, Clone, Default)]
pub struct RecordedSends {
    /// Per result, in order: `false` if its claim was no longer current.
    pub recorded: Vec<bool>,
    /// Published events processed in the transaction.
    pub processed: u64,
    /// The messages claimed after the outcomes.
    pub claimed: Vec<Message>,
}

/// What [`MessageStore::accept_message`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Acceptance {
    /// Stored (with its credits reserved) and queued.
    Accepted(Message),
    /// A message with the same idempotency key exists; nothing was stored.
    Existing(Message),
    /// Not enough credits; nothing was stored.
    Insufficient { balance: i64 },
}

/// A provider's report about a message the hub sent, found in a processed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub event_id: String,
    /// The provider's id of the message, as its send returned it.
    pub provider_message_id: String,
    pub status: Status,
    pub at: i64,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a queued message, reserving `charge` in the same transaction. A message
    /// whose `idempotency_key` is taken is not stored: the existing one is returned,
    /// also to requests racing on that key. The message is stored `queued`, with no
    /// attempts and `credits` as reserved (0 when the account is not metered); storing
    /// it wakes the sender ([`crate::JobQueue::work_notifier`]).
    async fn accept_message(
        &self,
        message: &Message,
        charge: Option<&Charge>,
    ) -> Result<Acceptance> {
        let batch = [(message.clone(), charge.cloned())];
        let mut answers = self.accept_messages(&batch).await?;
        answers
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no answer for an accepted message".into()))
    }
    /// [`MessageStore::accept_message`] for many messages in one transaction (a group
    /// commit); one answer per message, in order.
    async fn accept_messages(&self, batch: &[(Message, Option<Charge>)])
    -> Result<Vec<Acceptance>>;
    /// Claims up to `limit` messages due at `now` (queued, or sending with an expired
    /// lease): each is leased until `lease_until`, moved to `sending` and its
    /// `attempts` incremented (the value returned fences [`MessageStore::record_send`]).
    async fn claim_messages(&self, limit: u32, now: i64, lease_until: i64) -> Result<Vec<Message>>;
    /// Holds a claim longer: its lease now ends at `lease_until`. `false` (and nothing
    /// changed) when the claim (`attempt`) is no longer current.
    async fn extend_message_lease(&self, id: &str, attempt: i64, lease_until: i64) -> Result<bool>;
    /// Records the attempts and outcome of a claim; `false` (and nothing changed) when
    /// the claim is no longer current. Sent: commits the credits, publishes
    /// `message.sent` and applies status reports that arrived before the provider id
    /// was known. Failed: refunds the credits and publishes `message.failed`. Retry:
    /// releases the lease until `at`.
    async fn record_send(&self, result: &SendResult, now: i64) -> Result<bool> {
        let mut recorded = self.record_sends(std::slice::from_ref(result), now).await?;
        recorded
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no answer for a recorded send".into()))
    }
    /// [`MessageStore::record_send`] for many claims in one transaction; one answer per
    /// result, in order.
    async fn record_sends(&self, results: &[SendResult], now: i64) -> Result<Vec<bool>>;
    /// [`MessageStore::record_sends`], with the `message.sent` / `message.failed` events
    /// it publishes processed by `stages` in the same transaction (as
    /// [`crate::EventStore::insert_processed`] does): stored `processed`, with their
    /// deliveries. If a stage fails, the outcomes are recorded with the events left
    /// `received` for the processors. Then, still in the same transaction, claims what
    /// [`MessageStore::claim_messages`] claims at `now` for `next`.
    async fn record_sends_processed(
        &self,
        results: &[SendResult],
        now: i64,
        stages: &[std::sync::Arc<dyn crate::intake::Stage>],
        next: crate::Claim,
    ) -> Result<RecordedSends>;
    async fn get_message(&self, id: &str) -> Result<Option<Message>>;
    /// Newest first.
    async fn list_messages(&self, filter: &MessageFilter, page: &Page) -> Result<Vec<Message>>;
    /// Oldest first.
    async fn message_history(&self, id: &str) -> Result<Vec<StatusEntry>>;
    /// Oldest first.
    async fn message_attempts(&self, id: &str) -> Result<Vec<SendAttempt>>;
    /// The earliest time a waiting message that no claim holds becomes due, if any. A
    /// message whose claim's lease ran out is claimable but not counted here: claim
    /// loops poll at least once a second.
    async fn next_message_due(&self) -> Result<Option<i64>>;
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates or replaces a template; `true` when it was created.
    async fn put_template(&self, template: &Template) -> Result<bool>;
    async fn get_template(&self, name: &str) -> Result<Option<Template>>;
    /// By name, starting after `page.cursor` (a name).
    async fn list_templates(&self, page: &Page) -> Result<Vec<Template>>;
    async fn delete_template(&self, name: &str) -> Result<bool>;
}
