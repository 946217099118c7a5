//! Why a payment provider call did not succeed, in terms of what the caller does next.

use std::time::Duration;

use crate::http::{Failure, fallback_detail};

/// A failed payment call. Texts never contain a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused the request (a declined card, an invalid parameter): the
    /// same request will be refused again. `code`, `message` and `param` are the
    /// provider's own.
    #[error("the provider refused the request: {message}")]
    Rejected {
        code: Option<String>,
        message: String,
        param: Option<String>,
    },
    /// The provider does not know the object.
    #[error("not found at the provider: {0}")]
    NotFound(String),
    /// The provider refused the hub's credentials: a settings problem on the hub's side.
    #[error("the provider refused the hub's credentials: {0}")]
    Unauthorized(String),
    /// 429: too many requests; try again after `retry_after`.
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// No answer, a timeout, or 5xx after the retries: try again later. A call that
    /// timed out may have been carried out.
    #[error("the provider is unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The provider cannot do this at all.
    #[error("{provider} does not support {operation}")]
    NotSupported {
        operation: &'static str,
        provider: &'static str,
    },
}

impl PaymentError {
    /// Whether trying again later (with the same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PaymentError::RateLimited { .. } | PaymentError::Unavailable { .. }
        )
    }

    /// A stable machine name for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            PaymentError::Rejected { .. } => "rejected",
            PaymentError::NotFound(_) => "not_found",
            PaymentError::Unauthorized(_) => "unauthorized",
            PaymentError::RateLimited { .. } => "rate_limited",
            PaymentError::Unavailable { .. } => "unavailable",
            PaymentError::NotSupported { .. } => "not_supported",
        }
    }

    /// A 2xx answer whose body cannot be read: the object may exist, so the call counts
    /// as not answered (the sweeper asks again with the same key).
    pub(crate) fn unreadable(provider: &str, e: &serde_json::Error) -> Self {
        PaymentError::Unavailable {
            detail: format!("{provider} answered in a form the hub cannot read: {e}"),
            retry_after: None,
        }
    }
}

/// What a provider's error body says: its code, message and the parameter at fault.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Explained {
    pub code: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
}

/// Maps a failed call, reading the provider's error body with `explain`.
pub(crate) fn from_failure(failure: Failure, explain: fn(&[u8]) -> Explained) -> PaymentError {
    let retry_after = failure.retry_after();
    let (status, body) = match failure {
        Failure::Status { status, body, .. } => (status, body),
        Failure::Transport { detail, .. } => {
            return PaymentError::Unavailable {
                detail,
                retry_after: None,
            };
        }
        Failure::Build(detail) => {
            return PaymentError::Rejected {
                code: None,
                message: detail,
                param: None,
            };
        }
    };
    let explained = explain(&body);
    let message = explained
        .message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| fallback_detail(status, &body));
    match status.as_u16() {
        401 | 403 => PaymentError::Unauthorized(format!("HTTP {}: {message}", status.as_u16())),
        404 => PaymentError::NotFound(message),
        429 => PaymentError::RateLimited { retry_after },
        400..=499 => PaymentError::Rejected {
            code: explained.code,
            message,
            param: explained.param,
        },
        code => PaymentError::Unavailable {
            detail: format!("HTTP {code}: {message}"),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, StatusCode};

    fn explain(body: &[u8]) -> Explained {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        Explained {
            code: v["code"].as_str().map(str::to_string),
            message: v["message"].as_str().map(str::to_string),
            param: v["param"].as_str().map(str::to_string),
        }
    }

    fn status(code: u16, body: &str, retry_after: Option<&str>) -> Failure {
        let mut headers = HeaderMap::new();
        if let Some(r) = retry_after {
            headers.insert("retry-after", r.parse().unwrap());
        }
        Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn failures_map_to_what_the_caller_does_next() {
        let card = r#"{"code":"card_declined","message":"Your card was declined.","param":"card"}"#;
        assert_eq!(
            from_failure(status(402, card, None), explain),
            PaymentError::Rejected {
                code: Some("card_declined".into()),
                message: "Your card was declined.".into(),
                param: Some("card".into()),
            }
        );
        assert_eq!(
            from_failure(status(429, "", Some("7")), explain),
            PaymentError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            from_failure(status(401, "{}", None), explain).kind(),
            "unauthorized"
        );
        assert_eq!(
            from_failure(status(404, "{}", None), explain).kind(),
            "not_found"
        );
        let down = from_failure(status(503, "", Some("2")), explain);
        assert!(down.is_retryable());
        assert_eq!(down.kind(), "unavailable");
        let lost = Failure::Transport {
            timed_out: true,
            detail: "timed out after 1s".into(),
        };
        assert!(from_failure(lost, explain).is_retryable());
        assert!(!from_failure(status(400, card, None), explain).is_retryable());
    }
}
