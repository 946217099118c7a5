//! What a provider's failure is for the caller: a problem document naming the provider.

use axum::http::StatusCode;
use switchyard_providers::payments::PaymentError;

use crate::http::ApiError;
use crate::http::problem::ProviderProblem;

/// `e`, which `provider` answered, as the caller's problem:
///
/// - the provider refused the request: 422 `provider_rejected` with its code, message
///   and parameter;
/// - it cannot do this at all: 422 `not_supported` naming the operation;
/// - down, slow, 5xx after the retries, 429, or refusing the hub's credentials: 503
///   `provider_unavailable` with `Retry-After` (the provider's own after a 429).
pub(super) fn provider_error(provider: &str, e: PaymentError) -> ApiError {
    let named = ProviderProblem {
        provider: provider.to_string(),
        ..ProviderProblem::default()
    };
    let unavailable = |detail: String, secs: u64| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            detail,
        )
        .retry_after(secs.max(1))
    };
    match e {
        PaymentError::Rejected {
            code,
            message,
            param,
        } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_rejected",
            format!("{provider} refused the request: {message}"),
        )
        .naming_provider(ProviderProblem {
            provider_code: code,
            provider_message: Some(message),
            provider_param: param,
            ..named
        }),
        PaymentError::NotFound(message) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_rejected",
            format!("{provider} does not know the object: {message}"),
        )
        .naming_provider(ProviderProblem {
            provider_code: Some("not_found".into()),
            provider_message: Some(message),
            ..named
        }),
        PaymentError::NotSupported { operation, .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_supported",
            format!("{provider} does not support {operation}"),
        )
        .naming_provider(ProviderProblem {
            operation: Some(operation.to_string()),
            ..named
        }),
        PaymentError::RateLimited { retry_after } => unavailable(
            format!("{provider} is limiting the hub's requests; retry later"),
            retry_after.map_or(1, |d| d.as_secs()),
        )
        .naming_provider(named),
        PaymentError::Unavailable {
            ref detail,
            retry_after,
        } => unavailable(
            format!("{provider} is unavailable; retry later (with the same Idempotency-Key)"),
            retry_after.map_or(5, |d| d.as_secs()),
        )
        .caused_by(detail.clone())
        .naming_provider(named),
        PaymentError::Unauthorized(detail) => unavailable(
            format!("{provider} refused the hub's credentials; the hub's operators have been told"),
            60,
        )
        .caused_by(detail)
        .naming_provider(named),
    }
}

/// 422 `not_supported`: `provider` cannot do `operation`.
pub(super) fn not_supported(provider: &str, operation: &'static str) -> ApiError {
    provider_error(
        provider,
        PaymentError::NotSupported {
            operation,
            provider: "",
        },
    )
}
