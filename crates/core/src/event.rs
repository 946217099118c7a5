//! Events (everything that happened) as stored, and the hub's vocabulary of event types.

use crate::source::SourceKind;

crate::text_enum! {
    /// Where an event is in processing.
    pub enum EventState {
        /// Stored; waiting for processing.
        Received = "received",
        Processed = "processed",
        Failed = "failed",
    }
}

/// The `source_id` of events published by the application (and by the hub itself).
pub const APP_SOURCE: &str = "app";

/// An event to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub source_id: Option<String>,
    /// The kind of the source at intake (the source may be deleted later); `None` for
    /// events the application or the hub published.
    pub source_kind: Option<SourceKind>,
    /// The provider's identity of the event; unique per source.
    pub dedupe_key: Option<String>,
    pub provider_type: Option<String>,
    pub event_type: String,
    pub payload: Vec<u8>,
    /// The request headers worth keeping, as a JSON object.
    pub headers: String,
    pub received_at: i64,
}

impl NewEvent {
    /// An event published by the application or the hub: de-duplicated on `key` when
    /// given, processed and delivered like any provider event.
    pub fn published(
        event_type: &str,
        data: &serde_json::Value,
        key: Option<String>,
        now: i64,
    ) -> NewEvent {
        let id = crate::new_id("evt");
        NewEvent {
            dedupe_key: Some(key.unwrap_or_else(|| id.clone())),
            id,
            source_id: Some(APP_SOURCE.into()),
            source_kind: None,
            provider_type: None,
            event_type: event_type.into(),
            payload: serde_json::to_vec(data).expect("JSON values serialize"),
            headers: "{}".into(),
            received_at: now,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub source_id: Option<String>,
    pub source_kind: Option<SourceKind>,
    pub dedupe_key: Option<String>,
    pub provider_type: Option<String>,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub headers: String,
    pub state: EventState,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// What storing one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new row, in state `received` (queued for processing).
    Inserted(String),
    /// The source already had an event with this identity: its id.
    Duplicate(String),
}

impl Stored {
    pub fn id(&self) -> &str {
        match self {
            Stored::Inserted(id) | Stored::Duplicate(id) => id,
        }
    }
}

/// Filters for listing events; every field optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source_id: Option<String>,
    pub event_type: Option<String>,
    /// Received at or after (epoch ms).
    pub since: Option<i64>,
    /// Received before (epoch ms).
    pub until: Option<i64>,
}

/// One type of the hub's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
}

const fn t(name: &'static str, description: &'static str) -> EventType {
    EventType { name, description }
}

/// Every event type the hub gives events: the names provider events are normalized to,
/// and the events the hub publishes itself. A provider event the hub has no name for
/// keeps the provider's own type.
pub const HUB_EVENT_TYPES: &[EventType] = &[
    t(
        "storage.object.created",
        "An object was written to a store (uploaded, copied or a direct upload completed).",
    ),
    t(
        "storage.object.deleted",
        "An object was deleted from a store.",
    ),
    t(
        "payment.checkout.approved",
        "A buyer approved a checkout; it is not captured yet.",
    ),
    t(
        "payment.checkout.pending",
        "A buyer finished a checkout whose payment has not settled yet.",
    ),
    t("payment.checkout.completed", "A checkout was paid."),
    t(
        "payment.checkout.failed",
        "A checkout's payment failed after the buyer finished.",
    ),
    t("payment.checkout.expired", "A checkout expired unpaid."),
    t(
        "payment.subscription.created",
        "A subscription was created.",
    ),
    t(
        "payment.subscription.updated",
        "A subscription changed (plan, status, renewal).",
    ),
    t("payment.subscription.canceled", "A subscription ended."),
    t("payment.invoice.paid", "A recurring payment succeeded."),
    t(
        "payment.invoice.payment_failed",
        "A recurring payment failed.",
    ),
    t("payment.intent.succeeded", "A payment succeeded."),
    t("payment.intent.failed", "A payment failed or was denied."),
    t(
        "payment.refunded",
        "A payment was refunded, in full or in part.",
    ),
    t("payment.dispute.created", "A payment was disputed."),
    t(
        "payment.account.updated",
        "A connected account changed (onboarding, charges or payouts enabled).",
    ),
    t(
        "message.accepted",
        "The provider accepted a message for delivery.",
    ),
    t(
        "message.sent",
        "A message was handed to a provider (published by the hub).",
    ),
    t(
        "message.failed",
        "A message could not be sent or delivered.",
    ),
    t(
        "message.deferred",
        "The recipient's server deferred a message; it is retried.",
    ),
    t("message.delivered", "A message reached the recipient."),
    t("message.bounced", "A message bounced or was undeliverable."),
    t("message.opened", "The recipient opened an email."),
    t(
        "message.read",
        "The recipient read an SMS (where the carrier reports it).",
    ),
    t(
        "message.clicked",
        "The recipient clicked a link in an email.",
    ),
    t(
        "message.complained",
        "The recipient marked an email as spam.",
    ),
    t("message.unsubscribed", "The recipient unsubscribed."),
    t("message.received", "An inbound SMS arrived."),
    t(
        "calendar.changed",
        "A watched Google Calendar resource changed or was deleted.",
    ),
    t(
        "endpoint.disabled",
        "The hub disabled an endpoint that kept failing (published by the hub).",
    ),
    t(
        "connection.needs_auth",
        "A connection's OAuth grant was refused (`invalid_grant`): it must be authorized again (published by the hub).",
    ),
];

/// Whether `name` is one of the hub's event types.
pub fn is_hub_type(name: &str) -> bool {
    HUB_EVENT_TYPES.iter().any(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_lists_each_type_once() {
        let mut names: Vec<_> = HUB_EVENT_TYPES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a type is listed twice");
        assert!(
            names
                .iter()
                .all(|n| crate::delivery::valid_pattern(n) && !n.contains('*'))
        );
    }
}
