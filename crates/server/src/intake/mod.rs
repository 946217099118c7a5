//! Webhook intake: `POST /in/{source_id}`.
//!
//! A request is checked against its source's scheme on the raw bytes as received, split
//! into events with the provider's identity for each, and handed to the group-commit
//! writer, which stores the events and their processing jobs in one transaction. The
//! answer is sent only after that commit: 200 `accepted` or `duplicate`, 400 malformed,
//! 401 rejected signature or timestamp, 404 unknown or disabled source, 413 too large.

pub mod paypal;
pub mod process;
pub mod sources;
pub mod spec;
pub(crate) mod ttl;
pub mod writer;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use switchyard_core::event::{NewEvent, Stored};
use switchyard_core::provider::{self, SourceKind};
use switchyard_core::time::now_ms;
use switchyard_signatures::Inbound;

use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

pub use sources::SourceCache;
pub use writer::Writer;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntakeReply {
    /// `accepted` (stored now) or `duplicate` (stored before; nothing changed).
    pub status: &'static str,
    pub event_id: String,
    /// For providers that batch several events in one request (SendGrid): each event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<IntakeEvent>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntakeEvent {
    pub status: &'static str,
    pub event_id: String,
}

fn status_of(stored: &Stored) -> &'static str {
    match stored {
        Stored::Inserted(_) => "accepted",
        Stored::Duplicate(_) => "duplicate",
    }
}

/// Receive a provider webhook. No API key: the provider's signature is the credential.
#[utoipa::path(post, path = "/in/{source_id}", tag = "intake",
    responses(
        (status = 200, body = IntakeReply),
        (status = 400, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<IntakeReply>> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no enabled source {source_id:?}"),
        )
    };
    if !switchyard_core::id::has_prefix(&source_id, "src") {
        return Err(unknown());
    }
    let loaded = state
        .intake
        .sources
        .get(&state, &source_id)
        .await?
        .ok_or_else(unknown)?;
    let limit = loaded
        .settings
        .body_limit
        .unwrap_or(state.config.http.body_limit.0);
    let body = read_body(body, &headers, limit)
        .await
        .inspect_err(|_| reject(&state, &source_id, "too_large"))?;

    let url = public_url(&state, &loaded, &headers, &uri);
    let inbound = Inbound {
        headers: &headers,
        body: &body,
        url: &url,
        now: now_ms() / 1000,
    };
    if let Err(e) = loaded.verify(&state, &inbound).await {
        reject(&state, &source_id, e.reason());
        tracing::warn!(
            source_id,
            kind = loaded.kind.as_str(),
            reason = e.reason(),
            "webhook rejected: {e}"
        );
        return Err(if e.is_malformed_request() {
            ApiError::bad_request("malformed_webhook", e.to_string())
        } else {
            ApiError::unauthorized(format!("webhook rejected: {e}"))
        });
    }

    let parsed = provider::parse(loaded.kind, &headers, &body).map_err(|e| {
        reject(&state, &source_id, "malformed_body");
        ApiError::bad_request("malformed_webhook", e.0)
    })?;
    if parsed.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_webhook",
            "the request carries no event",
        ));
    }
    let kept = kept_headers(loaded.kind, &headers);
    let received_at = now_ms();
    let events: Vec<NewEvent> = parsed
        .into_iter()
        .map(|p| NewEvent {
            id: switchyard_core::new_id("evt"),
            source_id: Some(source_id.clone()),
            source_kind: Some(loaded.kind.as_str().to_string()),
            dedupe_key: Some(p.dedupe_key),
            event_type: hub_type(loaded.kind, p.provider_type.as_deref(), &p.payload),
            provider_type: p.provider_type,
            payload: p.payload,
            headers: kept.clone(),
            received_at,
        })
        .collect();

    // The write runs in its own task: if the provider hangs up now, the batch still
    // commits and the events are processed like any other.
    let writer = state.intake.writer.clone();
    let stored = tokio::spawn(async move { writer.store(events).await })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            tracing::error!(error = %e, "intake store failed");
            ApiError::unavailable("the event could not be stored; retry")
        })?;
    for s in &stored {
        state.metrics.intake.inc(&[&source_id, status_of(s)]);
    }
    let first = &stored[0];
    let events = if stored.len() > 1 {
        stored
            .iter()
            .map(|s| IntakeEvent {
                status: status_of(s),
                event_id: s.id().to_string(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let all_duplicates = stored.iter().all(|s| matches!(s, Stored::Duplicate(_)));
    Ok(axum::Json(IntakeReply {
        status: if all_duplicates {
            "duplicate"
        } else {
            "accepted"
        },
        event_id: first.id().to_string(),
        events,
    }))
}

fn reject(state: &AppState, source_id: &str, reason: &str) {
    state.metrics.intake_rejections.inc(&[source_id, reason]);
}

async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds this source's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let length_error = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if length_error {
            too_large()
        } else {
            ApiError::bad_request("unreadable_body", e.to_string())
        }
    })
}

/// The URL the provider called, as it signed it (Twilio signs the full URL).
fn public_url(
    state: &AppState,
    loaded: &sources::Loaded,
    headers: &HeaderMap,
    uri: &http::Uri,
) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(url) = &loaded.settings.public_url {
        return match uri.query() {
            Some(q) if !url.contains('?') => format!("{url}?{q}"),
            _ => url.clone(),
        };
    }
    if let Some(base) = &state.config.public_url {
        return format!("{}{path_and_query}", base.trim_end_matches('/'));
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}{path_and_query}")
}

fn kept_headers(kind: SourceKind, headers: &HeaderMap) -> String {
    let mut map = serde_json::Map::new();
    for name in kind
        .kept_headers()
        .iter()
        .chain(&["content-type", "user-agent"])
    {
        if let Some(v) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            map.insert(
                (*name).to_string(),
                serde_json::Value::String(v.to_string()),
            );
        }
    }
    serde_json::Value::Object(map).to_string()
}

/// Intake's shared parts, held in the app state.
#[derive(Debug, Clone)]
pub struct Intake {
    pub writer: Writer,
    pub sources: Arc<SourceCache>,
    pub paypal: Arc<paypal::PaypalCerts>,
}

/// The event's type in the hub's vocabulary (`payment.checkout.completed`), or the
/// provider's own type where the hub has no name for it.
fn hub_type(kind: SourceKind, provider_type: Option<&str>, payload: &[u8]) -> String {
    let Some(provider_type) = provider_type else {
        return "webhook".into();
    };
    provider::normalize(kind, provider_type, payload)
        .unwrap_or(provider_type)
        .to_string()
}
