//! Pacing: a slot under every rate limit of the connector that applies to the path,
//! reserved through the store so that every node shares it; a short wait, else 429
//! with `Retry-After`.

use std::time::Duration;

use axum::http::StatusCode;
use switchyard_core::time::now_ms;
use switchyard_providers::connectors::LimitScope;
use switchyard_store::connectors::Reservation;

use super::Connectors;
use super::proxy::Target;
use crate::http::ApiError;

/// Reserved slots are further apart than the limit asks — by a hundredth of the
/// window, at least this much — so that two calls sent a window apart cannot arrive
/// closer than that at the upstream, whatever the store's and the network's delays.
const LIMIT_MARGIN_MS: i64 = 50;

/// The window slots are reserved in for a limit of `window_ms`.
fn padded(window_ms: i64) -> i64 {
    window_ms.saturating_add(LIMIT_MARGIN_MS.max(window_ms / 100))
}
/// A slot under every limit whose path prefix matches, or 429 with `Retry-After`.
pub(super) async fn wait_for_slots(
    connectors: &Connectors,
    target: &Target,
    path: &str,
) -> Result<(), ApiError> {
    let max_wait =
        i64::try_from(connectors.inner.config.max_rate_wait.0.as_millis()).unwrap_or(i64::MAX);
    let mut latest = 0;
    for (i, limit) in target.connector.limits.iter().enumerate() {
        if limit
            .path_prefix
            .as_deref()
            .is_some_and(|p| !path.starts_with(p))
        {
            continue;
        }
        let name = &target.connector.def.name;
        let key = match limit.scope {
            LimitScope::Connector => format!("{name}:{i}"),
            LimitScope::Connection => format!("{name}:{i}:{}", target.connection.id),
        };
        let window = padded(limit.window_ms);
        let now = now_ms();
        match connectors
            .store()
            .reserve_rate(&key, limit.requests, window, now, max_wait)
            .await?
        {
            Reservation::At(at) => latest = latest.max(at),
            Reservation::Full(earliest) => {
                let secs = u64::try_from((earliest - now + 999) / 1000)
                    .unwrap_or(1)
                    .max(1);
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "{name} allows {} calls per {} ms; the next slot is in {secs} s",
                        limit.requests, limit.window_ms
                    ),
                )
                .retry_after(secs));
            }
        }
    }
    let wait = latest - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_padded_by_a_hundredth_and_at_least_the_margin() {
        assert_eq!(padded(1_000), 1_050);
        assert_eq!(padded(60_000), 60_600);
    }
}
