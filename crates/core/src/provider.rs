//! The provider registry's records: providers configured through the API, for every
//! capability that sends through providers. Their settings, credentials included, are
//! sealed in the vault; a record is what may be listed.

crate::text_enum! {
    /// What a provider is for; each capability with providers registers its own.
    pub enum Capability {
        /// Email providers (messaging).
        Email = "email",
        /// SMS providers (messaging).
        Sms = "sms",
        /// Payment providers (payments).
        Payments = "payments",
        /// Object stores (storage).
        Storage = "storage",
    }
}

/// A provider configured through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    pub capability: Capability,
    pub name: String,
    /// The provider's kind within its capability, e.g. `smtp` or `twilio`.
    pub kind: String,
    pub priority: i64,
    pub created_at: i64,
    pub updated_at: i64,
}
