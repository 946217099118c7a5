//! Signed URLs. Cloud stores sign with their backend's own scheme (SigV4, GCS V4)
//! against the endpoint browsers use. `local` and `memory` stores are signed by the
//! hub (`signer.rs`): the URL points at `/s/{store}/{key}`, served here. Query strings
//! of signed URLs are never logged (the request log names the route, not the URL).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::config::MAX_EXPIRY;
use super::objects::{Meta, check_type, limit, too_large};
use super::signer::{Grant, Refused};
use super::stores::Entry;
use super::{Storage, keys, serve};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, Need, Problems, require};

pub(super) fn router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new().routes(require(Need::Write(Scope::Storage), routes!(create)))
}

pub(super) fn public_router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new()
        .routes(routes!(signed_get))
        .routes(routes!(signed_put))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum SignedMethod {
    Get,
    Put,
}

impl SignedMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    key: String,
    method: SignedMethod,
    /// Seconds, up to 604,800 (7 days); default `storage.signed_url_expiry`.
    expires_in: Option<u64>,
    /// For `PUT`: the type the upload must declare (and, for cloud stores, that the
    /// backend records).
    content_type: Option<String>,
    /// For `PUT` to `local` and `memory` stores: the most bytes the URL accepts (never
    /// above the store's `max_size`). Cloud schemes cannot pin a size: use a direct
    /// upload, which checks it on completion.
    max_size: Option<u64>,
}

/// A URL that can be used without an API key until it expires.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedUrl {
    pub(crate) url: String,
    pub(crate) method: SignedMethod,
    /// Headers the request must send as given.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) expires_at: String,
}

/// How long a URL asked for with `expires_in` lives; 422 naming `field` past 7 days.
pub(super) fn expiry(
    p: &mut Problems,
    field: &str,
    asked: Option<u64>,
    default: Duration,
) -> Duration {
    match asked {
        None => default,
        Some(0) => {
            p.add(field, "expected seconds above zero");
            default
        }
        Some(s) if Duration::from_secs(s) > MAX_EXPIRY => {
            p.add(field, "at most 604800 seconds (7 days)");
            default
        }
        Some(s) => Duration::from_secs(s),
    }
}

/// What a signed URL is asked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    pub(super) method: SignedMethod,
    pub(super) key: &'a str,
    pub(super) ttl: Duration,
    pub(super) content_type: Option<&'a str>,
    /// Enforced by the hub's own URLs only.
    pub(super) max_size: Option<u64>,
    /// The direct upload the bytes are for.
    pub(super) upload: Option<&'a str>,
}

impl Storage {
    /// A URL for `ask`.
    pub(super) async fn sign(&self, entry: &Entry, ask: Ask<'_>) -> Result<SignedUrl, ApiError> {
        let Ask {
            method,
            key,
            ttl,
            content_type,
            max_size,
            upload,
        } = ask;
        let expires_at_ms = now_ms() + ttl.as_millis() as i64;
        let mut headers = BTreeMap::new();
        if let (SignedMethod::Put, Some(ct)) = (method, content_type) {
            headers.insert("Content-Type".to_string(), ct.to_string());
        }
        let url = if entry.hub_signed() {
            self.inner.signer.sign(&Grant {
                method: method.as_str(),
                store: entry.name().to_string(),
                key: key.to_string(),
                expires: expires_at_ms / 1000,
                content_type: content_type.map(str::to_string),
                max_size,
                upload: upload.map(str::to_string),
            })
        } else {
            let verb = match method {
                SignedMethod::Get => Method::GET,
                SignedMethod::Put => Method::PUT,
            };
            let ct = content_type.filter(|_| method == SignedMethod::Put);
            entry
                .backend
                .presign(
                    verb,
                    &entry.backend.full_path(&keys::location(key)),
                    ttl,
                    ct,
                    &[],
                )
                .await
                .map_err(|e| serve::backend_error(entry, &e))?
                .to_string()
        };
        Ok(SignedUrl {
            url,
            method,
            headers,
            expires_at: rfc3339(expires_at_ms),
        })
    }
}

/// Sign a URL for reading or writing one object without an API key: the backend's
/// own presigned URL for cloud stores (signed for `public_endpoint`), the hub's for
/// `local` and `memory` stores.
#[utoipa::path(post, path = "/v1/storage/{store}/signed-urls", tag = "storage", operation_id = "storage.signed_urls.create",
    params(("store" = String, Path, description = "The store's name")),
    request_body = SignRequest,
    responses((status = 201, body = SignedUrl)))]
async fn create(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiJson(req): ApiJson<SignRequest>,
) -> ApiResult<(StatusCode, axum::Json<SignedUrl>)> {
    let entry = storage.entry(&store).await?;
    let key = keys::checked("key", &req.key)?;
    let mut p = Problems::default();
    let ttl = expiry(
        &mut p,
        "expires_in",
        req.expires_in,
        storage.inner.config.signed_url_expiry.0,
    );
    if let (Some(asked), Some(cap)) = (req.max_size, entry.config.max_size)
        && asked > cap
    {
        p.add(
            "max_size",
            format!("above the store's max_size of {cap} bytes"),
        );
    }
    if req.method == SignedMethod::Get && (req.content_type.is_some() || req.max_size.is_some()) {
        p.add("method", "content_type and max_size are for PUT");
    }
    p.finish()?;
    match req.method {
        SignedMethod::Get => {
            if storage.find(&entry, key).await?.is_none() {
                return Err(ApiError::not_found("object", key));
            }
        }
        SignedMethod::Put => {
            if let Some(ct) = &req.content_type {
                check_type(&entry, ct)?;
            }
        }
    }
    let max_size = match req.method {
        SignedMethod::Put => limit(&entry, req.max_size),
        SignedMethod::Get => None,
    };
    let ask = Ask {
        method: req.method,
        key,
        ttl,
        content_type: req.content_type.as_deref(),
        max_size,
        upload: None,
    };
    let url = storage.sign(&entry, ask).await?;
    Ok((StatusCode::CREATED, axum::Json(url)))
}

fn refusal(r: Refused) -> ApiError {
    let (code, detail) = match r {
        Refused::Malformed => ("signature_invalid", "the URL is not one the hub signed"),
        Refused::Forged => (
            "signature_invalid",
            "the URL's signature does not match; it was altered or not signed by this hub",
        ),
        Refused::Expired => (
            "signature_expired",
            "the URL has expired; ask for a new one",
        ),
    };
    ApiError::new(StatusCode::FORBIDDEN, code, detail)
}

async fn checked(
    storage: &Storage,
    method: &'static str,
    store: &str,
    key: &str,
    query: Option<&str>,
) -> Result<(Entry, Grant), ApiError> {
    let grant = storage
        .inner
        .signer
        .check(method, store, key, query, now_ms())
        .map_err(refusal)?;
    let entry = storage
        .entry(store)
        .await
        .map_err(|_| refusal(Refused::Forged))?;
    if !entry.hub_signed() || keys::problem(key).is_some() {
        return Err(refusal(Refused::Forged));
    }
    Ok((entry, grant))
}

/// Read an object with a URL the hub signed (`local` and `memory` stores).
#[utoipa::path(get, path = "/s/{store}/{*key}", tag = "storage", operation_id = "storage.signed.get",
    params(("store" = String, Path, description = "The store's name"), ("key" = String, Path, description = "The object's key")),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 403, description = "Altered or forged (`signature_invalid`) or expired (`signature_expired`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn signed_get(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (entry, _) = checked(&storage, "GET", &store, &key, query.as_deref()).await?;
    let object = storage
        .find(&entry, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("object", &key))?;
    serve::object(&entry, &object, &method, &headers, "private, no-cache").await
}

/// Write an object with a URL the hub signed (`local` and `memory` stores): the
/// body streams under the URL's size limit and must have its content type.
#[utoipa::path(put, path = "/s/{store}/{*key}", tag = "storage", operation_id = "storage.signed.put",
    params(("store" = String, Path, description = "The store's name"), ("key" = String, Path, description = "The object's key")),
    request_body(content = Vec<u8>, description = "The object's bytes", content_type = "application/octet-stream"),
    responses((status = 201, description = "Written"),
        (status = 403, description = "Altered or forged (`signature_invalid`) or expired (`signature_expired`), or a content type other than the signed one", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the URL allows (`too_large`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn signed_put(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (entry, grant) = checked(&storage, "PUT", &store, &key, query.as_deref()).await?;
    let declared = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    if let Some(ct) = &grant.content_type
        && *ct != declared
    {
        return Err(ApiError::forbidden(format!(
            "the URL was signed for Content-Type {ct:?}, not {declared:?}"
        )));
    }
    check_type(&entry, &declared)?;
    let limit = limit(&entry, grant.max_size);
    if let Some(limit) = limit
        && crate::http::limits::declares_over(&headers, limit.try_into().unwrap_or(usize::MAX))
    {
        return Err(too_large(limit));
    }
    let meta = Meta {
        content_type: declared,
        ..Meta::default()
    };
    match grant.upload {
        Some(upload) => {
            storage
                .receive_upload(&entry, &upload, &key, body, limit)
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => {
            storage
                .write(&entry, &key, body, meta, limit, false)
                .await?;
            Ok(StatusCode::CREATED.into_response())
        }
    }
}
