//! Source definitions: what `POST /v1/sources` accepts per kind, what is stored as
//! plain settings, what is sealed in the vault, and how a verifier is built from them.

use http::HeaderName;
use serde::{Deserialize, Serialize};
use switchyard_core::provider::SourceKind;
use switchyard_signatures as sig;

use crate::problem::FieldError;

/// Default timestamp tolerance for schemes that sign a timestamp.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Non-secret settings of a source, stored as JSON beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Accepted clock difference for signed timestamps, in seconds (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// Largest accepted body in bytes (default: `http.body_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<usize>,
    /// Twilio: the public URL Twilio calls for this source, when it differs from
    /// `{public_url}/in/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// PayPal: the id of the webhook as configured at PayPal (covered by the signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// shared_secret and hmac: the header carrying the secret or signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// hmac: `sha256` (default) or `sha512`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// hmac: `hex` (default) or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// hmac: a prefix before the signature in the header, e.g. `sha256=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// hmac: a header carrying the signed unix timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// hmac: the signed content, with `{timestamp}` and `{body}` placeholders
    /// (default `{body}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// The name of the credential field each kind takes.
pub fn credential_field(kind: SourceKind) -> Option<&'static str> {
    match kind {
        SourceKind::Twilio => Some("auth_token"),
        SourceKind::Telnyx | SourceKind::Sendgrid => Some("public_key"),
        SourceKind::Paypal => None,
        _ => Some("secret"),
    }
}

/// Checks that `settings` and `credential` make a working verifier for `kind`.
pub fn validate(
    kind: SourceKind,
    settings: &Settings,
    credential: Option<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    };
    match (credential_field(kind), credential) {
        (Some(field), None) => error(field, "is required for this kind"),
        (Some(field), Some(c)) if c.trim().is_empty() => error(field, "must not be empty"),
        _ => {}
    }
    match kind {
        SourceKind::Paypal if settings.webhook_id.as_deref().is_none_or(str::is_empty) => error(
            "webhook_id",
            "is required for paypal: the webhook id PayPal shows for this endpoint",
        ),
        SourceKind::SharedSecret | SourceKind::Hmac => match settings.header.as_deref() {
            None => error("header", "is required for this kind"),
            Some(h) if HeaderName::from_bytes(h.as_bytes()).is_err() => {
                error("header", "is not a valid header name")
            }
            _ => {}
        },
        _ => {}
    }
    // The verifier refuses every request when the template and the timestamp header
    // disagree; say so now rather than answer 401 to each genuine request.
    if kind == SourceKind::Hmac {
        let template = settings.template.as_deref().unwrap_or("{body}");
        let signs_time = template.contains("{timestamp}");
        if !template.contains("{body}") {
            error("template", "must contain {body}");
        }
        match (signs_time, settings.timestamp_header.is_some()) {
            (true, false) => error(
                "timestamp_header",
                "is required when the template signs {timestamp}",
            ),
            (false, true) => error(
                "template",
                "must contain {timestamp} when timestamp_header is set",
            ),
            _ => {}
        }
    }
    if let Some(h) = &settings.timestamp_header
        && HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        error("timestamp_header", "is not a valid header name");
    }
    if !matches!(
        settings.algorithm.as_deref(),
        None | Some("sha256" | "sha512")
    ) {
        error("algorithm", "expected sha256 or sha512");
    }
    if !matches!(settings.encoding.as_deref(), None | Some("hex" | "base64")) {
        error("encoding", "expected hex or base64");
    }
    if let Some(url) = &settings.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        error("public_url", "expected an http:// or https:// URL");
    }
    if settings.body_limit == Some(0) {
        error("body_limit", "must be greater than zero");
    }
    if errors.is_empty()
        && let Some(c) = credential
        && let Err(e) = build(kind, settings, vec![c.to_string()])
    {
        errors.push(FieldError {
            field: credential_field(kind).unwrap_or("kind").into(),
            message: e,
        });
    }
    errors
}

/// Builds the verifier for a source accepting any of `credentials`.
pub fn build(
    kind: SourceKind,
    settings: &Settings,
    credentials: Vec<String>,
) -> Result<Box<dyn sig::Verifier + Send + Sync>, String> {
    let tolerance = settings.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS);
    let header = || -> Result<HeaderName, String> {
        HeaderName::from_bytes(settings.header.as_deref().unwrap_or_default().as_bytes())
            .map_err(|e| e.to_string())
    };
    let check = |r: Result<(), sig::VerifyError>| r.map_err(|e| e.to_string());
    Ok(match kind {
        SourceKind::Stripe => Box::new(sig::stripe::Stripe {
            secrets: credentials,
            tolerance_secs: tolerance,
        }),
        SourceKind::StandardWebhooks => {
            for c in &credentials {
                check(sig::standard::sign(c, "msg_check", 0, b"").map(|_| ()))?;
            }
            Box::new(sig::standard::StandardWebhooks {
                secrets: credentials,
                tolerance_secs: tolerance,
            })
        }
        SourceKind::Twilio => Box::new(sig::twilio::Twilio {
            auth_tokens: credentials,
        }),
        SourceKind::Telnyx => Box::new(sig::telnyx::Telnyx {
            public_keys: credentials,
            tolerance_secs: tolerance,
        }),
        SourceKind::Sendgrid => Box::new(sig::sendgrid::SendGrid {
            public_keys: credentials,
            tolerance_secs: settings.tolerance_secs,
        }),
        SourceKind::Paypal => {
            return Err("paypal sources are verified by the PayPal certificate check".into());
        }
        SourceKind::Github => Box::new(sig::github::GitHub {
            secrets: credentials,
        }),
        SourceKind::Shopify => Box::new(sig::shopify::Shopify {
            secrets: credentials,
        }),
        SourceKind::Slack => Box::new(sig::slack::Slack {
            secrets: credentials,
            tolerance_secs: tolerance,
        }),
        SourceKind::Paddle => Box::new(sig::paddle::Paddle {
            secrets: credentials,
            tolerance_secs: tolerance,
        }),
        SourceKind::Lemonsqueezy => Box::new(sig::lemonsqueezy::LemonSqueezy {
            secrets: credentials,
        }),
        SourceKind::SharedSecret => Box::new(sig::shared_secret::SharedSecret {
            header: header()?,
            secrets: credentials,
        }),
        SourceKind::Hmac => Box::new(sig::hmac_generic::GenericHmac {
            header: header()?,
            algorithm: match settings.algorithm.as_deref() {
                Some("sha512") => sig::hmac_generic::Algorithm::Sha512,
                _ => sig::hmac_generic::Algorithm::Sha256,
            },
            encoding: match settings.encoding.as_deref() {
                Some("base64") => sig::hmac_generic::Encoding::Base64,
                _ => sig::hmac_generic::Encoding::Hex,
            },
            prefix: settings.prefix.clone(),
            timestamp_header: settings
                .timestamp_header
                .as_deref()
                .map(|h| HeaderName::from_bytes(h.as_bytes()).map_err(|e| e.to_string()))
                .transpose()?,
            template: settings.template.clone(),
            secrets: credentials,
            tolerance_secs: tolerance,
        }),
    })
}
