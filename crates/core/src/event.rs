//! Sources (where provider webhooks arrive) and events (everything that happened), as
//! stored. Interpretation of kinds and payloads lives with the intake code.

/// A webhook source as stored. Credentials are not here: they live sealed in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub name: String,
    /// The verification scheme, e.g. `stripe`, `standard_webhooks`, `twilio`.
    pub kind: String,
    /// Non-secret settings as JSON (tolerance, header names, public URL override…).
    pub settings: String,
    pub enabled: bool,
    /// Until when the previous credential is still accepted (rotation overlap).
    pub previous_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An event to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub source_id: Option<String>,
    /// The kind of the source at intake (the source may be deleted later).
    pub source_kind: Option<String>,
    /// The provider's identity of the event; unique per source.
    pub dedupe_key: Option<String>,
    pub provider_type: Option<String>,
    pub event_type: String,
    pub payload: Vec<u8>,
    /// The request headers worth keeping, as a JSON object.
    pub headers: String,
    pub received_at: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub source_id: Option<String>,
    pub source_kind: Option<String>,
    pub dedupe_key: Option<String>,
    pub provider_type: Option<String>,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub headers: String,
    /// `received`, `processed` or `failed`.
    pub state: String,
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
