//! Provider clients: email, SMS, payments and object storage.
//!
//! Each provider is one module under [`email`], [`sms`] or [`payments`] with a config struct, the wire
//! structs it sends and the mapping of its answers. A provider is chosen by a
//! `kind`-tagged config enum ([`email::EmailProviderConfig`], [`sms::SmsProviderConfig`],
//! [`payments::PaymentProviderConfig`])
//! whose `build` returns the trait object the hub sends through.
//!
//! [`storage`] builds object stores (S3, R2, MinIO, GCS, a local directory, memory) from
//! a [`storage::StoreConfig`] on `object_store`'s clients, with presigned URLs and
//! multipart uploads for the cloud kinds.
//!
//! [`auth`] reads identity providers' public documents (key sets, discovery documents)
//! for the hub's verification of their tokens.
//!
//! What every HTTP provider shares (timeouts, authentication headers, the mapping of
//! HTTP statuses to [`SendError`], `Retry-After`, request tracing) lives once in a
//! private HTTP layer; providers only describe their request and read their answer.
//! Messaging providers never retry on their own: a [`SendError`] tells the caller whether
//! to retry, fail over or give up. Payment providers retry idempotent calls (each carries
//! an idempotency key derived from the hub's id of the object) before giving up.
//!
//! Secrets (API keys, tokens, SMTP passwords) are held in [`switchyard_core::Secret`] and
//! never appear in `Debug` output, serialized configuration, errors or traces.
#![forbid(unsafe_code)]

pub mod auth;
mod config;
pub mod connectors;
pub mod email;
mod error;
mod http;
pub mod payments;
pub mod sms;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::Env;
pub use error::{ConfigError, SendError};
pub use http::{client as http_client, client_builder as http_client_builder};

/// What a provider reports for a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    /// The provider's id for the message, which its status webhooks name. `None` when the
    /// provider accepted the message without an id the hub could read.
    pub provider_message_id: Option<String>,
}
