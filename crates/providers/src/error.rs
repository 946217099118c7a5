//! The errors of sending a message and of building a provider from its configuration.

use std::time::Duration;

/// Why a provider did not take a message. The variant tells the caller what to do next;
/// the text is for people and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider refused this message for good (bad recipient, invalid content): do
    /// not retry, do not fail over. The string is the provider's reason.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Temporary: connection error, timeout, 5xx. Retry later or try the next provider.
    #[error("transient failure: {0}")]
    Transient(String),
    /// 429 or equivalent, with the provider's `Retry-After` if it gave one.
    #[error("rate limited{}: {detail}", retry_hint(.retry_after))]
    RateLimited {
        retry_after: Option<Duration>,
        detail: String,
    },
    /// Credentials refused (401/403) or the provider is misconfigured: this provider
    /// cannot send anything; try the next provider.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// This provider cannot send this message (e.g. MMS media on the console provider):
    /// try the next provider.
    #[error("not supported: {0}")]
    NotSupported(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {}s)", d.as_secs()),
        None => String::new(),
    }
}

impl SendError {
    /// Whether sending the same message again (later, or through another provider) may
    /// succeed: everything but [`SendError::Rejected`].
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Rejected(_))
    }

    /// A stable machine name for the variant, for logs, metrics and the attempt log.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Rejected(_) => "rejected",
            SendError::Transient(_) => "transient",
            SendError::RateLimited { .. } => "rate_limited",
            SendError::Unauthorized(_) => "unauthorized",
            SendError::NotSupported(_) => "not_supported",
        }
    }
}

/// A provider configuration that cannot be built. Names the channel, the provider, the
/// key and, for keys with an environment default, the variable that would supply it;
/// never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{channel} provider \"{provider}\": {key} is not set{}", env_hint(.env))]
    Missing {
        channel: &'static str,
        provider: String,
        key: &'static str,
        /// The environment variable read when the key is absent, if any.
        env: Option<&'static str>,
    },
    /// Like [`ConfigError::Missing`], for a key whose variable's name is built from the
    /// configuration (a storage `env_prefix`, e.g. `MEDIA_S3_BUCKET`).
    #[error("{channel} provider \"{provider}\": {key} is not set (set it or {env})")]
    MissingVar {
        channel: &'static str,
        provider: String,
        key: &'static str,
        env: String,
    },
    #[error("{channel} provider \"{provider}\": {key} is invalid: {reason}")]
    Invalid {
        channel: &'static str,
        provider: String,
        key: &'static str,
        reason: String,
    },
}

fn env_hint(env: &Option<&'static str>) -> String {
    match env {
        Some(var) => format!(" (set it or {var})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rejections_are_final() {
        let all = [
            SendError::Rejected("bad".into()),
            SendError::Transient("down".into()),
            SendError::RateLimited {
                retry_after: None,
                detail: "slow down".into(),
            },
            SendError::Unauthorized("key".into()),
            SendError::NotSupported("mms".into()),
        ];
        let kinds: Vec<_> = all.iter().map(|e| (e.kind(), e.is_retryable())).collect();
        assert_eq!(
            kinds,
            [
                ("rejected", false),
                ("transient", true),
                ("rate_limited", true),
                ("unauthorized", true),
                ("not_supported", true),
            ]
        );
    }

    #[test]
    fn messages_name_the_key_and_the_variable() {
        let e = ConfigError::Missing {
            channel: "email",
            provider: "sendgrid".into(),
            key: "api_key",
            env: Some("SENDGRID_API_KEY"),
        };
        assert_eq!(
            e.to_string(),
            "email provider \"sendgrid\": api_key is not set (set it or SENDGRID_API_KEY)"
        );
        let e = ConfigError::MissingVar {
            channel: "storage",
            provider: "media".into(),
            key: "bucket",
            env: "MEDIA_S3_BUCKET".into(),
        };
        assert_eq!(
            e.to_string(),
            "storage provider \"media\": bucket is not set (set it or MEDIA_S3_BUCKET)"
        );
        let e = SendError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            detail: "too many".into(),
        };
        assert_eq!(e.to_string(), "rate limited (retry after 7s): too many");
    }
}
