//! `POST /in/{source_id}`: a request is checked against its source's scheme on the raw
//! bytes as received, split into events with the provider's identity for each, and
//! handed to the group-commit writer. The answer is sent only after that commit: 200
//! `accepted` or `duplicate` (or `ignored` for a request that carries no event, with
//! nothing stored), 400 malformed, 401 rejected signature or timestamp, 404 unknown or
//! disabled source, 413 too large, 503 when the hub cannot verify or store now (the
//! provider retries).

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use switchyard_core::event::{NewEvent, Stored};
use switchyard_core::time::now_ms;
use switchyard_signatures::{Inbound, VerifyError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Intake;
use super::kinds::{self, Kind};
use super::loaded::Loaded;
use crate::http::{ApiError, ApiPath, ApiResult};

pub(super) fn router() -> OpenApiRouter<Intake> {
    OpenApiRouter::new().routes(routes!(receive))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntakeReply {
    /// `accepted` (stored now), `duplicate` (stored before; nothing changed) or
    /// `ignored` (the request carries no event, such as the `sync` message opening a
    /// Google channel; nothing is stored).
    pub(crate) status: &'static str,
    /// The (first) event's id; absent when `ignored`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) event_id: Option<String>,
    /// For providers that batch several events in one request (SendGrid): each event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) events: Vec<IntakeEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntakeEvent {
    pub(crate) status: &'static str,
    pub(crate) event_id: String,
}

fn status_of(stored: &Stored) -> &'static str {
    match stored {
        Stored::Inserted(_) => "accepted",
        Stored::Duplicate(_) => "duplicate",
    }
}

/// Receive a provider webhook. No API key: the provider's signature is the credential.
#[utoipa::path(post, path = "/in/{source_id}", tag = "intake", operation_id = "intake.receive",
    params(("source_id" = String, Path, description = "The source's id, `src_…`")),
    request_body(content = String, description = "The provider's request, as it sent it.", content_type = "*/*"),
    responses(
        (status = 200, body = IntakeReply),
        (status = 400, description = "A body this kind's provider would not send (`malformed_webhook`), or an unreadable body", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature or its timestamp is refused (`unauthorized`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No enabled source with this id (`unknown_source`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the source's limit (`body_too_large`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
    ))]
async fn receive(
    State(intake): State<Intake>,
    ApiPath(source_id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<IntakeReply>> {
    let inner = &intake.inner;
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
    let loaded = inner
        .sources
        .get(&inner.store, &inner.vault, &inner.verify, &source_id)
        .await?
        .ok_or_else(unknown)?;
    let kind = loaded.source.kind;
    let module = kinds::kind(kind);
    let limit = loaded
        .source
        .settings
        .body_limit
        .unwrap_or(inner.body_limit);
    let body = read_body(body, &headers, limit)
        .await
        .inspect_err(|_| intake.reject(&source_id, "too_large"))?;

    let url = public_url(&intake, &loaded, &headers, &uri);
    let inbound = Inbound {
        headers: &headers,
        body: &body,
        url: &url,
        now: now_ms() / 1000,
    };
    if let Err(e) = loaded.verifier.verify(&inbound).await {
        intake.reject(&source_id, e.reason());
        tracing::warn!(
            source_id,
            kind = kind.as_str(),
            reason = e.reason(),
            "webhook rejected: {e}"
        );
        return Err(match e {
            // The hub's side: its key or the provider's certificate is unavailable.
            VerifyError::BadKey(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "verification_unavailable",
                "the hub cannot verify this source's requests now; retry later",
            )
            .retry_after(60)
            .caused_by(e),
            e if e.is_malformed_request() => {
                ApiError::bad_request("malformed_webhook", e.to_string())
            }
            e => ApiError::unauthorized(format!("webhook rejected: {e}")),
        });
    }

    let parsed = module.parse(&headers, &body).map_err(|e| {
        intake.reject(&source_id, "malformed_body");
        ApiError::bad_request("malformed_webhook", e.0)
    })?;
    if parsed.is_empty() {
        return Ok(axum::Json(IntakeReply {
            status: "ignored",
            event_id: None,
            events: Vec::new(),
        }));
    }
    let kept = kept_headers(module, &headers);
    let received_at = now_ms();
    let mut events = Vec::with_capacity(parsed.len());
    for p in parsed {
        let event_type = hub_type(module, p.provider_type.as_deref(), &p.payload);
        for (what, text) in [
            ("id", Some(p.dedupe_key.as_str())),
            ("type", p.provider_type.as_deref()),
        ] {
            if text.is_some_and(|t| t.chars().any(char::is_control)) {
                intake.reject(&source_id, "malformed_body");
                return Err(ApiError::bad_request(
                    "malformed_webhook",
                    format!("the event's {what} holds a control character"),
                ));
            }
        }
        events.push(NewEvent {
            id: switchyard_core::new_id("evt"),
            source_id: Some(source_id.clone()),
            source_kind: Some(kind),
            dedupe_key: Some(p.dedupe_key),
            event_type,
            provider_type: p.provider_type,
            payload: p.payload,
            headers: kept.clone(),
            received_at,
        });
    }

    let stored = inner.writer.store(events).await?;
    for s in &stored {
        inner.metrics.intake.inc(&[&source_id, status_of(s)]);
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
        event_id: Some(first.id().to_string()),
        events,
    }))
}

impl Intake {
    fn reject(&self, source_id: &str, reason: &str) {
        self.inner
            .metrics
            .intake_rejections
            .inc(&[source_id, reason]);
    }
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
    if crate::http::limits::declares_over(headers, limit) {
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
fn public_url(intake: &Intake, loaded: &Loaded, headers: &HeaderMap, uri: &http::Uri) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(url) = &loaded.source.settings.public_url {
        return match uri.query() {
            Some(q) if !url.contains('?') => format!("{url}?{q}"),
            _ => url.clone(),
        };
    }
    if let Some(base) = &intake.inner.address.public_url {
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

fn kept_headers(module: &dyn Kind, headers: &HeaderMap) -> String {
    let mut map = serde_json::Map::new();
    for name in module
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

/// The event's type in the hub's vocabulary (`payment.checkout.completed`), or the
/// provider's own type where the hub has no name for it.
fn hub_type(module: &dyn Kind, provider_type: Option<&str>, payload: &[u8]) -> String {
    let Some(provider_type) = provider_type else {
        return "webhook".into();
    };
    module
        .normalize(provider_type, payload)
        .unwrap_or(provider_type)
        .to_string()
}
