//! Webhook sources as stored: where a provider's webhooks arrive, the scheme they are
//! verified with, and the settings that are not secret. What each kind means (how it is
//! verified, how its events are identified and named) belongs to intake.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::text_enum! {
    /// The verification scheme (and payload conventions) of a source.
    pub enum SourceKind {
        Stripe = "stripe",
        StandardWebhooks = "standard_webhooks",
        Twilio = "twilio",
        Telnyx = "telnyx",
        Sendgrid = "sendgrid",
        Paypal = "paypal",
        Github = "github",
        Shopify = "shopify",
        Slack = "slack",
        Paddle = "paddle",
        Lemonsqueezy = "lemonsqueezy",
        SharedSecret = "shared_secret",
        Hmac = "hmac",
        GoogleChannel = "google_channel",
    }
}

crate::text_enum! {
    /// The digest of an `hmac` source.
    pub enum HmacAlgorithm { Sha256 = "sha256", Sha512 = "sha512" }
}

crate::text_enum! {
    /// How an `hmac` source's signature is written.
    pub enum HmacEncoding { Hex = "hex", Base64 = "base64" }
}

/// A webhook source as stored. Credentials are not here: they live sealed in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub kind: SourceKind,
    pub settings: SourceSettings,
    pub enabled: bool,
    /// Until when the previous credential is still accepted (rotation overlap).
    pub previous_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The settings of a source that are not secret. Which of them a kind takes is up to the
/// kind; the others stay unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Settings)]
pub struct SourceSettings {
    /// Accepted clock difference for signed timestamps, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// Largest accepted body in bytes (default: `http.body_limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<usize>,
    /// Twilio and Telnyx: the public URL the provider calls for this source, when it
    /// differs from `{public_url}/in/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// PayPal: the id of the webhook as configured at PayPal (covered by the signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// shared_secret and hmac: the header carrying the secret or signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// hmac: `sha256` (default) or `sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<HmacAlgorithm>,
    /// hmac: `hex` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<HmacEncoding>,
    /// hmac: a prefix before the signature in the header, e.g. `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// hmac: a header carrying the signed unix timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// hmac: the signed content, with `{timestamp}` and `{body}` placeholders
    /// (default `{body}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl SourceSettings {
    /// The settings' field names, as the API spells them.
    pub const FIELDS: [&'static str; 10] = [
        "tolerance_secs",
        "body_limit",
        "public_url",
        "webhook_id",
        "header",
        "algorithm",
        "encoding",
        "prefix",
        "timestamp_header",
        "template",
    ];

    /// The settings as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("settings serialize")
    }

    /// Settings read back from the store.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The names of the settings that are set.
    pub fn set_fields(&self) -> Vec<&'static str> {
        let value = serde_json::to_value(self).expect("settings serialize");
        Self::FIELDS
            .into_iter()
            .filter(|f| value.get(f).is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_listed_once() {
        let all = SourceSettings {
            tolerance_secs: Some(1),
            body_limit: Some(1),
            public_url: Some("x".into()),
            webhook_id: Some("x".into()),
            header: Some("x".into()),
            algorithm: Some(HmacAlgorithm::Sha512),
            encoding: Some(HmacEncoding::Base64),
            prefix: Some("x".into()),
            timestamp_header: Some("x".into()),
            template: Some("x".into()),
        };
        assert_eq!(all.set_fields(), SourceSettings::FIELDS);
        assert!(SourceSettings::default().set_fields().is_empty());
        let back = SourceSettings::from_json(&all.to_json()).unwrap();
        assert_eq!(back, all);
        assert!(SourceSettings::from_json(r#"{"secret": "x"}"#).is_err());
    }
}
