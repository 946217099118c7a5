//! Domain types shared by every Switchyard crate: prefixed ids, API keys, the secret
//! vault's sealing, durations, timestamps and the in-memory metrics registry.
//!
//! Nothing here performs I/O.
#![forbid(unsafe_code)]

pub mod apikey;
pub mod credit;
pub mod delivery;
pub mod duration;
pub mod event;
pub mod id;
pub mod message;
pub mod metrics;
pub mod provider;
pub mod secret;
pub mod time;
pub mod vault;

pub use id::new_id;
pub use secret::Secret;
