//! What the hub knows about each kind of webhook source, one module per kind behind one
//! trait: its credential and settings, how a request is verified, how the body splits
//! into events with the provider's identity and type, the hub's name for each type,
//! and, for providers the hub sends messages through, where a status report names the
//! message. Adding a kind is one module, one entry in [`KINDS`] and one variant of
//! [`SourceKind`].

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures::{self as sig, Inbound, VerifyError};

use super::paypal::PaypalCerts;
use crate::http::Problems;

mod github;
mod google_channel;
mod hmac;
mod lemonsqueezy;
mod paddle;
mod paypal;
mod sendgrid;
mod shared_secret;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod telnyx;
mod twilio;

/// Default timestamp tolerance for schemes that sign a timestamp.
pub(crate) const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Every kind, in [`SourceKind::ALL`]'s order.
static KINDS: [&dyn Kind; 14] = [
    &stripe::Stripe,
    &standard_webhooks::StandardWebhooks,
    &twilio::Twilio,
    &telnyx::Telnyx,
    &sendgrid::Sendgrid,
    &paypal::Paypal,
    &github::Github,
    &shopify::Shopify,
    &slack::Slack,
    &paddle::Paddle,
    &lemonsqueezy::LemonSqueezy,
    &shared_secret::SharedSecret,
    &hmac::Hmac,
    &google_channel::GoogleChannel,
];

/// The module of `kind`.
pub(crate) fn kind(kind: SourceKind) -> &'static dyn Kind {
    KINDS
        .iter()
        .copied()
        .find(|k| k.kind() == kind)
        .expect("every source kind has a module")
}

/// The field a kind's credential is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A shared secret (`secret`).
    Secret,
    /// Twilio's auth token (`auth_token`).
    AuthToken,
    /// A provider's public key (`public_key`).
    PublicKey,
}

impl Credential {
    pub(crate) const ALL: [Credential; 3] = [
        Credential::Secret,
        Credential::AuthToken,
        Credential::PublicKey,
    ];

    pub(crate) fn field(self) -> &'static str {
        match self {
            Credential::Secret => "secret",
            Credential::AuthToken => "auth_token",
            Credential::PublicKey => "public_key",
        }
    }

    pub(crate) fn from_field(field: &str) -> Option<Credential> {
        Credential::ALL.into_iter().find(|c| c.field() == field)
    }
}

/// One event found in a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedEvent {
    pub(crate) dedupe_key: String,
    pub(crate) provider_type: Option<String>,
    /// The event's own bytes: the whole body, or one element of a batched body.
    pub(crate) payload: Vec<u8>,
}

/// The request body could not be read as this kind's payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct Malformed(pub(crate) String);

/// A source's settings and credentials do not make a verifier.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct KindError {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

/// What verification may reach beyond the request.
#[derive(Debug, Clone)]
pub(crate) struct VerifyContext {
    pub(crate) paypal: Arc<PaypalCerts>,
}

/// Checks a request's signature.
#[async_trait]
pub(crate) trait Verify: Send + Sync {
    async fn verify(&self, inbound: &Inbound<'_>) -> Result<(), VerifyError>;
}

/// A scheme checked on the request alone.
struct Offline<V>(V);

#[async_trait]
impl<V: sig::Verifier + Send + Sync> Verify for Offline<V> {
    async fn verify(&self, inbound: &Inbound<'_>) -> Result<(), VerifyError> {
        self.0.verify(inbound)
    }
}

fn offline(v: impl sig::Verifier + Send + Sync + 'static) -> Box<dyn Verify> {
    Box::new(Offline(v))
}

/// A kind of webhook source.
pub(crate) trait Kind: Sync {
    fn kind(&self) -> SourceKind;
    /// The credential the kind is verified with: a shared secret unless it says
    /// otherwise; `None` for PayPal (its certificates).
    fn credential(&self) -> Option<Credential> {
        Some(Credential::Secret)
    }
    /// The settings the kind takes (names of [`SourceSettings`] fields): [`COMMON`]
    /// unless it says otherwise.
    fn settings(&self) -> &'static [&'static str] {
        COMMON
    }
    /// Checks what the settings' types alone do not.
    fn check(&self, _settings: &SourceSettings, _p: &mut Problems) {}
    /// Checks a credential given for a new or changed source (stored ones are used as
    /// they are).
    fn check_credential(&self, _credential: &str) -> Result<(), KindError> {
        Ok(())
    }
    /// A verifier accepting any of `credentials` (the current one, then the previous
    /// one during a rotation).
    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        context: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError>;
    /// Request headers worth keeping with the event (identity, type, timing); never
    /// signatures or credentials.
    fn kept_headers(&self) -> &'static [&'static str] {
        &[]
    }
    /// Splits a verified request into events with their identity and provider type;
    /// none when the request reports nothing (Google's `sync` message), which is
    /// answered without storing anything.
    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed>;
    /// Provider types with a name in the hub's vocabulary, and that name.
    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The hub's name for `provider_type` in [`Kind::types`].
    fn listed(&self, provider_type: &str) -> Option<&'static str> {
        self.types()
            .iter()
            .find(|(t, _)| *t == provider_type)
            .map(|(_, hub)| *hub)
    }
    /// Names [`Kind::normalize`] gives from the payload rather than from [`Kind::types`].
    #[cfg(test)]
    fn payload_types(&self) -> &'static [&'static str] {
        &[]
    }
    /// The hub's name for an event of `provider_type`; `None` keeps the provider's own.
    fn normalize(&self, provider_type: &str, _payload: &[u8]) -> Option<&'static str> {
        self.listed(provider_type)
    }
    /// Every name [`Kind::normalize`] may give.
    #[cfg(test)]
    fn hub_types(&self) -> Vec<&'static str> {
        let mut all: Vec<_> = self.types().iter().map(|(_, hub)| *hub).collect();
        all.extend(self.payload_types());
        all
    }
    /// For providers the hub sends messages through: the provider's id of the message
    /// a status report is about.
    fn message_ref(&self, _payload: &[u8]) -> Option<String> {
        None
    }
}

/// Settings every kind takes.
const COMMON: &[&str] = &["body_limit"];

/// `COMMON` plus the tolerance of a signed timestamp.
const TIMED: &[&str] = &["body_limit", "tolerance_secs"];

fn tolerance(settings: &SourceSettings) -> u64 {
    settings.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)
}

fn header_name(field: &'static str, value: Option<&str>) -> Result<HeaderName, KindError> {
    HeaderName::from_bytes(value.unwrap_or_default().as_bytes()).map_err(|_| KindError {
        field,
        message: "is not a valid header name".into(),
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn json(body: &[u8]) -> Result<Value, Malformed> {
    serde_json::from_slice(body).map_err(|e| Malformed(format!("the body is not valid JSON: {e}")))
}

fn string_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

fn form_value<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()))
        .filter(|v| !v.is_empty())
}

fn is_form(headers: &HeaderMap) -> bool {
    header(headers, "content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// The whole body as one event, identified by `key` or else by its digest.
fn one(
    body: &[u8],
    key: Option<String>,
    provider_type: Option<String>,
) -> Result<Vec<ParsedEvent>, Malformed> {
    Ok(vec![ParsedEvent {
        dedupe_key: key.unwrap_or_else(|| digest(body)),
        provider_type,
        payload: body.to_vec(),
    }])
}

/// The conventions of senders with a shared secret and no scheme of their own: a JSON
/// body's `id` identifies the event and `type` (or `event_type`, `event`) names it; any
/// other body is identified by its digest.
fn generic(body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
    let v = serde_json::from_slice::<Value>(body).ok();
    let get = |p: &str| v.as_ref().and_then(|v| string_at(v, p)).map(str::to_string);
    one(
        body,
        get("/id"),
        get("/type")
            .or_else(|| get("/event_type"))
            .or_else(|| get("/event")),
    )
}

/// `header` is required and must be a header name.
fn check_header(settings: &SourceSettings, p: &mut Problems) {
    match settings.header.as_deref() {
        None => p.add("header", "is required for this kind"),
        Some(h) if HeaderName::from_bytes(h.as_bytes()).is_err() => {
            p.add("header", "is not a valid header name")
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_module_in_order() {
        assert_eq!(KINDS.len(), SourceKind::ALL.len());
        for (module, kind) in KINDS.iter().zip(SourceKind::ALL) {
            assert_eq!(module.kind(), *kind);
        }
    }

    #[test]
    fn every_normalization_is_in_the_hub_vocabulary() {
        for module in KINDS {
            for name in module.hub_types() {
                assert!(
                    switchyard_core::event::is_hub_type(name),
                    "{}: {name} is not in HUB_EVENT_TYPES",
                    module.kind()
                );
            }
            for (provider_type, hub) in module.types() {
                assert_eq!(module.normalize(provider_type, b"{}"), Some(*hub));
            }
        }
    }

    #[test]
    fn every_setting_a_kind_takes_exists() {
        for module in KINDS {
            for field in module.settings() {
                assert!(
                    SourceSettings::FIELDS.contains(field),
                    "{}: {field}",
                    module.kind()
                );
            }
            assert!(module.settings().contains(&"body_limit"));
        }
    }
}
