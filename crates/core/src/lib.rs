//! Domain types shared by every Switchyard crate: prefixed ids, API keys, sources and
//! events, deliveries, messages, credits, payments, stored objects and their access rules, the provider registry's records, the secret
//! vault's sealing, durations, timestamps and the in-memory metrics registry.
//!
//! Nothing here performs I/O.
#![forbid(unsafe_code)]

pub mod text_enum;

pub mod apikey;
pub mod auth;
pub mod connector;
pub mod credit;
pub mod delivery;
pub mod duration;
pub mod event;
pub mod form;
pub mod id;
pub mod message;
pub mod metrics;
pub mod payment;
pub mod provider;
pub mod schema;
pub mod secret;
pub mod source;
pub mod storage;
pub mod time;
pub mod vault;

pub use id::new_id;
pub use secret::Secret;
