//! The OpenAPI document: assembled from the capabilities' routes (each declared once,
//! for the router and the document together), completed with the answers every route
//! gives, served at `/openapi.json`, and rendered for people at `/docs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

use super::access::operations_mut;

#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Self-hosted integrations hub: provider webhooks taken in and verified, events delivered to the application, email and SMS sent through failover providers with credits, payments with a local mirror, behind one API.\n\nEvery `/v1` route takes `Authorization: Bearer sk_…`; the scopes a route accepts are its security requirements (any one of them suffices). Errors are RFC 9457 problem documents with a stable `code`."
    ),
    components(schemas(super::problem::Problem, super::problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics (no authentication)."),
        (name = "keys", description = "API keys."),
        (name = "sources", description = "Webhook sources: where providers send events."),
        (name = "intake", description = "Provider webhooks (authenticated by the provider's signature)."),
        (name = "events", description = "The event log, and events published by the application."),
        (name = "endpoints", description = "Where the application receives events: endpoints, deliveries, attempts, replay."),
        (name = "accounts", description = "Account credits for sending email and SMS, and their ledger."),
        (name = "messages", description = "Email and SMS: sending, and the communications log with status histories."),
        (name = "templates", description = "Message templates (minijinja), checked when saved."),
        (name = "payments", description = "Payments through Stripe or PayPal: customers, checkouts, subscriptions, refunds, connected accounts, and the local mirror that answers from the hub."),
        (name = "storage", description = "Object storage over S3, R2, MinIO, GCS, local disk and memory: streamed objects, listings, access rules, public objects, signed URLs and direct uploads."),
        (name = "providers", description = "Providers of every capability: those in use, and those configured through the API."),
        (name = "auth", description = "Tokens of the hub's user pools and of other identity providers (Stack Auth, Supabase, Auth0, Clerk, Google, OIDC), verified."),
    )
)]
struct Frame;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_…")
                    .description(Some(
                        "An API key. Each route lists the scopes that may call it; `admin` may call every route.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Why a route may answer a status, as the document describes it.
struct Answers(BTreeMap<u16, BTreeSet<&'static str>>);

impl Answers {
    fn add(&mut self, status: u16, why: &'static str) {
        self.0.entry(status).or_default().insert(why);
    }
}

/// The served document: the frame, the capabilities' paths, and on every operation the
/// problem answers the shared layers give. Panics (at start) if two operations share an
/// id, as a generated client could not tell them apart.
pub(crate) fn document(paths: OpenApi, own_idempotency: &[&str]) -> OpenApi {
    let mut doc = Frame::openapi();
    doc.merge(paths);
    // A route's trailing wildcard (`{*key}`, a key with slashes) is a plain parameter
    // in the document.
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (template(&path), item))
        .collect();
    let mut ids = BTreeMap::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        // One handler for several methods (the proxy): one operation per method, each
        // its id followed by the method.
        let mut seen = BTreeMap::new();
        for (_, op) in operations_mut(item) {
            *seen.entry(op.operation_id.clone()).or_insert(0) += 1;
        }
        for (method, op) in operations_mut(item) {
            if seen.get(&op.operation_id).is_some_and(|&n| n > 1)
                && let Some(id) = &mut op.operation_id
            {
                id.push('.');
                id.push_str(&method.as_str().to_ascii_lowercase());
            }
        }
        for (method, op) in operations_mut(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operation id {id:?} of {method} {path} is also {other}'s");
            }
            let own = own_idempotency.contains(&path.as_str());
            complete(path, &method, own, op);
        }
    }
    doc
}

/// The document's template of a route's path: `{*key}` is written `{key}`.
pub(crate) fn template(route: &str) -> String {
    route.replace("{*", "{")
}

fn complete(path: &str, method: &Method, own_idempotency: bool, op: &mut Operation) {
    let mut answers = Answers(BTreeMap::new());
    let api = path.starts_with("/v1/");
    if api {
        answers.add(
            401,
            "a missing, unknown, expired or revoked API key (`unauthorized`)",
        );
        answers.add(
            403,
            "an API key without a scope this route accepts (`forbidden`)",
        );
        answers.add(
            400,
            "a percent-encoded control character in the path or query (`invalid_characters`), or a query parameter the route does not declare (`invalid_query`)",
        );
    }
    if api || path.starts_with("/in/") {
        answers.add(503, "the store is unavailable (`unavailable`), or the request outlasted `http.request_timeout` (`timeout`); retry");
    }
    let params = op.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(p) => Some(p.parameter_in.clone()),
        RefOr::Ref(_) => None,
    });
    for location in params.collect::<Vec<_>>() {
        match location {
            ParameterIn::Path => {
                answers.add(400, "a path segment that cannot be read (`invalid_path`)");
                answers.add(404, "no such resource (`not_found`)");
            }
            ParameterIn::Query => {
                answers.add(400, "a bad or unknown query parameter, or a cursor of another list (`invalid_query`)");
            }
            _ => {}
        }
    }
    if op.request_body.is_some() && api {
        answers.add(400, "a body that is not JSON (`malformed_json`)");
        answers.add(413, "a body over the route's limit (`body_too_large`)");
        answers.add(
            415,
            "a body without `Content-Type: application/json` (`unsupported_media_type`)",
        );
        answers.add(422, "a body of the wrong shape (`invalid_body`), holding a NUL character (`invalid_characters`), or with invalid fields (`validation_failed`, naming each)");
    }
    if api && method == Method::POST {
        answers.add(422, "an `Idempotency-Key` that is not 1 to 255 visible ASCII characters (`validation_failed`)");
        if !own_idempotency {
            answers.add(409, "an `Idempotency-Key` used for another request (`idempotency_key_reused`) or still in progress (`idempotency_key_in_use`)");
        }
    }
    for (status, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason());
            response.description = reason.unwrap_or("Answer").to_string();
        }
    }
    for (status, reasons) in answers.0 {
        let key = status.to_string();
        let reasons: Vec<&str> = reasons.into_iter().collect();
        let description = match op.responses.responses.get(&key) {
            Some(RefOr::T(existing)) if !existing.description.is_empty() => {
                format!("{}; or {}", existing.description, reasons.join("; "))
            }
            _ => capitalize(&reasons.join("; ")),
        };
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
            )
            .build();
        op.responses.responses.insert(key, RefOr::T(response));
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

const DOCS_PAGE: &str = include_str!("../../assets/redoc/index.html");
const REDOC: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

/// `/openapi.json`, and the reference rendered for people at `/docs` (Redoc, served by
/// the hub itself: nothing is loaded from elsewhere).
pub(crate) fn routes(doc: &OpenApi) -> Router {
    let json: Arc<str> = doc.to_json().expect("the document serializes").into();
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .route("/docs", get(|| async { axum::response::Html(DOCS_PAGE) }))
        .route(
            "/docs/redoc.standalone.js",
            get(|| async {
                let mut response = REDOC.into_response();
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/javascript; charset=utf-8"),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                );
                response
            }),
        )
}
