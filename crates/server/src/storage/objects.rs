//! `/v1/storage/{store}/objects…` and `/copy`: streamed writes and reads of objects,
//! their listing (by prefix, with a delimiter) and server-side copies.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use switchyard_core::apikey::Scope;
use switchyard_core::storage::{StoredObject, Visibility};
use switchyard_core::time::now_ms;
use switchyard_providers::storage::object_store::{GetOptions, ObjectStoreExt as _};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::stores::Entry;
use super::stream::{self, WriteError, WriteSpec};
use super::views::ObjectView;
use super::{Storage, event, keys, serve};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Need, require, validate};

pub(super) fn router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Storage), routes!(put)))
        .routes(require(Need::Read(Scope::Storage), routes!(get)))
        .routes(require(Need::Write(Scope::Storage), routes!(delete)))
        .routes(require(Need::Read(Scope::Storage), routes!(list)))
        .routes(require(Need::Write(Scope::Storage), routes!(copy)))
}

const STORE: &str = "The store's name";
const KEY: &str =
    "The object's key: up to 1,024 bytes, `/`-separated segments, no `.` or `..` segment";

/// Who and what a write records.
#[derive(Debug, Clone, Default)]
pub(super) struct Meta {
    pub(super) content_type: String,
    pub(super) owner: Option<String>,
    pub(super) visibility: Option<Visibility>,
}

/// 415 unless the store takes `content_type`.
pub(super) fn check_type(entry: &Entry, content_type: &str) -> Result<(), ApiError> {
    if entry.config.matches_type(content_type) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_type",
        format!(
            "store {:?} takes {}, not {content_type:?}",
            entry.name(),
            entry.config.allowed_types.join(", ")
        ),
    ))
}

/// 413 for `size` over `limit`.
pub(super) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the object is larger than this store's limit of {limit} bytes"),
    )
}

impl Storage {
    /// The object at `key`, from the hub's record; an object a browser put straight
    /// into a cloud bucket (with a signed URL) is recorded the first time it is asked
    /// for.
    pub(super) async fn find(
        &self,
        entry: &Entry,
        key: &str,
    ) -> Result<Option<StoredObject>, ApiError> {
        if let Some(o) = self.store().get_object(entry.name(), key).await? {
            return Ok(Some(o));
        }
        if entry.hub_signed() {
            return Ok(None);
        }
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let got = match entry
            .backend
            .store
            .get_opts(&keys::location(key), head)
            .await
        {
            Ok(got) => got,
            Err(switchyard_providers::storage::object_store::Error::NotFound { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(serve::backend_error(entry, &e)),
        };
        let content_type = got
            .attributes
            .get(&switchyard_providers::storage::object_store::Attribute::ContentType)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let now = now_ms();
        let object = StoredObject {
            store: entry.name().to_string(),
            key: key.to_string(),
            size: got.meta.size as i64,
            content_type,
            etag: got
                .meta
                .e_tag
                .clone()
                .unwrap_or_else(|| format!("\"{}-{}\"", got.meta.size, now)),
            sha256: None,
            visibility: None,
            owner: None,
            grants: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let view = ObjectView::new(&object, entry.config.default_visibility);
        self.store()
            .put_object(&object, Some(&event("storage.object.created", &view)))
            .await?;
        Ok(Some(object))
    }

    /// Streams `body` to `key` and records the object (with its event); `create_only`
    /// holds the key first and is 412 when something is there. Nothing is kept when the
    /// write fails.
    pub(super) async fn write(
        &self,
        entry: &Entry,
        key: &str,
        body: Body,
        meta: Meta,
        limit: Option<u64>,
        create_only: bool,
    ) -> Result<(bool, StoredObject), ApiError> {
        let config = &self.inner.config;
        let now = now_ms();
        if create_only {
            let until = now + config.write_claim.0.as_millis() as i64;
            if !self
                .store()
                .claim_object_key(entry.name(), key, now, until)
                .await?
            {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "already_exists",
                    format!("an object exists at {key:?} (If-None-Match: *)"),
                ));
            }
        }
        // A new version keeps the access settings the write does not name.
        let prior = match create_only {
            true => None,
            false => self.store().get_object(entry.name(), key).await?,
        };
        let (owner, visibility, grants) = match prior {
            Some(p) => (
                meta.owner.or(p.owner),
                meta.visibility.or(p.visibility),
                p.grants,
            ),
            None => (meta.owner, meta.visibility, Vec::new()),
        };
        let spec = WriteSpec {
            limit,
            part_size: config.part_size.0,
            idle: config.idle_timeout.0,
            content_type: entry
                .keeps_attributes()
                .then_some(meta.content_type.as_str()),
        };
        let path = keys::location(key);
        let written = stream::write(entry.backend.store.as_ref(), &path, body, spec).await;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                if create_only {
                    self.store().release_object_key(entry.name(), key).await?;
                }
                return Err(match e {
                    WriteError::TooLarge(limit) => too_large(limit),
                    WriteError::Idle(d) => ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "idle",
                        format!(
                            "the body stalled for {d:?} (storage.idle_timeout); nothing was kept"
                        ),
                    ),
                    WriteError::Body(e) => ApiError::bad_request(
                        "invalid_body",
                        format!("the body could not be read ({e}); nothing was kept"),
                    ),
                    WriteError::Backend(e) => serve::backend_error(entry, &e),
                });
            }
        };
        let object = StoredObject {
            store: entry.name().to_string(),
            key: key.to_string(),
            size: written.size as i64,
            content_type: meta.content_type,
            etag: format!("\"{}\"", written.sha256),
            sha256: Some(written.sha256),
            visibility,
            owner,
            grants,
            created_at: now,
            updated_at: now_ms(),
        };
        let view = ObjectView::new(&object, entry.config.default_visibility);
        let before = self
            .store()
            .put_object(&object, Some(&event("storage.object.created", &view)))
            .await?;
        let replaced = before.is_some();
        let object = match before {
            Some(b) => StoredObject {
                created_at: b.created_at,
                ..object
            },
            None => object,
        };
        Ok((replaced, object))
    }
}

/// The limit a write to `entry` streams under: the store's `max_size`, and `extra`.
pub(super) fn limit(entry: &Entry, extra: Option<u64>) -> Option<u64> {
    match (entry.config.max_size, extra) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request("invalid_header", format!("{name}: not text")))
        })
        .transpose()
}

/// `Content-Type`, `X-Switchyard-Owner` and `X-Switchyard-Visibility` of a write.
fn meta_of(entry: &Entry, headers: &HeaderMap) -> Result<Meta, ApiError> {
    let content_type = header(headers, "content-type")?
        .unwrap_or("application/octet-stream")
        .trim()
        .to_string();
    if content_type.is_empty()
        || content_type.len() > 255
        || content_type.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_header",
            "Content-Type: expected a MIME type",
        ));
    }
    check_type(entry, &content_type)?;
    let owner = header(headers, "x-switchyard-owner")?.map(str::to_string);
    if let Some(o) = &owner {
        let mut p = crate::http::Problems::default();
        validate::label(&mut p, "X-Switchyard-Owner", o, 255);
        p.finish()?;
    }
    let visibility = header(headers, "x-switchyard-visibility")?
        .map(|v| {
            Visibility::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_header",
                    format!(
                        "X-Switchyard-Visibility: expected one of {}",
                        Visibility::names()
                    ),
                )
            })
        })
        .transpose()?;
    Ok(Meta {
        content_type,
        owner,
        visibility,
    })
}

/// Write an object, streaming the body to the store's backend. `If-None-Match: *`
/// writes only if nothing is at the key. The store's `max_size` and `allowed_types`
/// apply while the body streams; a refused body leaves nothing behind.
#[utoipa::path(put, path = "/v1/storage/{store}/objects/{*key}", tag = "storage", operation_id = "storage.objects.put",
    params(("store" = String, Path, description = STORE), ("key" = String, Path, description = KEY),
        ("Content-Type" = Option<String>, Header, description = "Recorded and served back; default `application/octet-stream`"),
        ("X-Switchyard-Visibility" = Option<Visibility>, Header, description = "Default: the store's `default_visibility`"),
        ("X-Switchyard-Owner" = Option<String>, Header, description = "The application's user id that owns the object"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only; 412 when an object is there")),
    request_body(content = Vec<u8>, description = "The object's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = ObjectView), (status = 200, description = "Replaced an object", body = ObjectView),
        (status = 412, description = "`If-None-Match: *` and an object is there (`already_exists`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the store's `max_size` (`too_large`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A type the store's `allowed_types` refuses (`unsupported_type`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn put(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let entry = storage.entry(&store).await?;
    let key = keys::checked("key", &key)?;
    let meta = meta_of(&entry, &headers)?;
    let create_only = match header(&headers, "if-none-match")? {
        None => false,
        Some("*") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_header",
                "If-None-Match: only `*` (create only) is supported on writes",
            ));
        }
    };
    let limit = limit(&entry, None);
    if let Some(limit) = limit
        && crate::http::limits::declares_over(&headers, limit.try_into().unwrap_or(usize::MAX))
    {
        return Err(too_large(limit));
    }
    let (replaced, object) = storage
        .write(&entry, key, body, meta, limit, create_only)
        .await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let view = ObjectView::new(&object, entry.config.default_visibility);
    Ok((status, axum::Json(view)).into_response())
}

/// Read an object (`HEAD` answers the same headers without the bytes). One `Range`
/// (`bytes=…`) is 206; `If-None-Match` with its `ETag` is 304.
#[utoipa::path(get, path = "/v1/storage/{store}/objects/{*key}", tag = "storage", operation_id = "storage.objects.get",
    params(("store" = String, Path, description = STORE), ("key" = String, Path, description = KEY),
        ("Range" = Option<String>, Header, description = "`bytes=start-end`, `bytes=start-` or `bytes=-suffix`"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a copy the caller holds")),
    responses((status = 200, description = "The bytes, with `Content-Type`, `Content-Length`, `ETag`, `X-Switchyard-Sha256`", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for, with `Content-Range`"),
        (status = 304, description = "The caller's copy is current"),
        (status = 416, description = "The range starts past the end (`range_not_satisfiable`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn get(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let entry = storage.entry(&store).await?;
    let key = keys::checked("key", &key)?;
    let object = storage
        .find(&entry, key)
        .await?
        .ok_or_else(|| ApiError::not_found("object", key))?;
    serve::object(&entry, &object, &method, &headers, "private, no-cache").await
}

/// Delete an object: its record at once, then its bytes.
#[utoipa::path(delete, path = "/v1/storage/{store}/objects/{*key}", tag = "storage", operation_id = "storage.objects.delete",
    params(("store" = String, Path, description = STORE), ("key" = String, Path, description = KEY)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let entry = storage.entry(&store).await?;
    let key = keys::checked("key", &key)?;
    storage.remove(&entry, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl Storage {
    /// Forgets the object at `key` (with its event), then deletes its bytes.
    pub(super) async fn remove(&self, entry: &Entry, key: &str) -> Result<(), ApiError> {
        let Some(object) = self.find(entry, key).await? else {
            return Err(ApiError::not_found("object", key));
        };
        let view = ObjectView::new(&object, entry.config.default_visibility);
        let gone = self
            .store()
            .delete_object(
                entry.name(),
                key,
                Some(&event("storage.object.deleted", &view)),
            )
            .await?;
        if gone.is_none() {
            return Err(ApiError::not_found("object", key));
        }
        match entry.backend.store.delete(&keys::location(key)).await {
            Ok(()) | Err(switchyard_providers::storage::object_store::Error::NotFound { .. }) => {
                Ok(())
            }
            Err(e) => {
                tracing::warn!(store = entry.name(), error = %e, "an object's record is gone but its bytes could not be deleted");
                Ok(())
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only keys starting with this.
    prefix: Option<String>,
    /// Keys holding this after the prefix are rolled up into `prefixes` (usually `/`).
    delimiter: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Objects and prefixes per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of a listing.
#[derive(Debug, serde::Serialize, ToSchema)]
struct Listing {
    data: Vec<ObjectView>,
    /// Common prefixes up to and including the delimiter, like folders.
    prefixes: Vec<String>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// List objects in key order (bytewise), from the hub's record (the same fields on
/// every backend). With `delimiter`, keys holding it after `prefix` are rolled up into
/// `prefixes`; objects and prefixes together fill `limit`.
#[utoipa::path(get, path = "/v1/storage/{store}/objects", tag = "storage", operation_id = "storage.objects.list",
    params(("store" = String, Path, description = STORE), ListQuery),
    responses((status = 200, body = Listing)))]
async fn list(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<axum::Json<Listing>> {
    let entry = storage.entry(&store).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit: expected a number from 1 to 1000",
        ));
    }
    let prefix = q.prefix.unwrap_or_default();
    if let Some(why) = keys::prefix_problem(&prefix) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("prefix: the prefix {why}"),
        ));
    }
    let delimiter = q.delimiter.filter(|d| !d.is_empty());
    if delimiter
        .as_ref()
        .is_some_and(|d| d.len() > 16 || d.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "delimiter: up to 16 characters, usually `/`",
        ));
    }
    let mut after = q
        .cursor
        .as_deref()
        .map(|c| keys::after(c, &prefix))
        .transpose()?;
    let mut data = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    // Every item's cursor, to resume after it.
    let mut cursors: Vec<String> = Vec::new();
    let want = limit as usize + 1;
    'pages: while cursors.len() < want {
        let batch = storage
            .store()
            .list_objects(&store, &prefix, after.as_deref(), limit + 1)
            .await?;
        let full = batch.len() > limit as usize;
        for o in batch {
            let common = delimiter.as_deref().and_then(|d| {
                o.key[prefix.len()..]
                    .find(d)
                    .map(|at| o.key[..prefix.len() + at + d.len()].to_string())
            });
            match common {
                Some(common) => {
                    let resume = keys::past(&common);
                    if prefixes.last() != Some(&common) {
                        prefixes.push(common);
                        cursors.push(resume.clone());
                    }
                    after = Some(resume);
                    if cursors.len() >= want {
                        break 'pages;
                    }
                    // Skip the rest of this prefix with a new query.
                    continue 'pages;
                }
                None => {
                    after = Some(o.key.clone());
                    cursors.push(o.key.clone());
                    data.push(o);
                    if cursors.len() >= want {
                        break 'pages;
                    }
                }
            }
        }
        if !full {
            break;
        }
    }
    let next_cursor = if cursors.len() > limit as usize {
        // Drop the extra item, whichever list it is in.
        let extra = cursors.pop();
        if prefixes.last().map(|p| keys::past(p)) == extra {
            prefixes.pop();
        } else {
            data.pop();
        }
        cursors.last().map(|c| keys::cursor(c))
    } else {
        None
    };
    let default = entry.config.default_visibility;
    Ok(axum::Json(Listing {
        data: data.iter().map(|o| ObjectView::new(o, default)).collect(),
        prefixes,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CopyRequest {
    /// The key copied.
    from: String,
    /// The key written; what it held is replaced.
    to: String,
}

/// Copy an object within a store, on the backend (the bytes do not pass through the
/// hub); the copy has the original's type, digest, owner, visibility and grants.
#[utoipa::path(post, path = "/v1/storage/{store}/copy", tag = "storage", operation_id = "storage.objects.copy",
    params(("store" = String, Path, description = STORE)),
    request_body = CopyRequest,
    responses((status = 201, body = ObjectView)))]
async fn copy(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiJson(req): ApiJson<CopyRequest>,
) -> ApiResult<(StatusCode, axum::Json<ObjectView>)> {
    let entry = storage.entry(&store).await?;
    let from = keys::checked("from", &req.from)?;
    let to = keys::checked("to", &req.to)?;
    if from == to {
        return Err(ApiError::invalid_field("to", "is the same key as `from`"));
    }
    let source = storage
        .find(&entry, from)
        .await?
        .ok_or_else(|| ApiError::invalid_field("from", format!("no object at {from:?}")))?;
    entry
        .backend
        .store
        .copy(&keys::location(from), &keys::location(to))
        .await
        .map_err(|e| serve::backend_error(&entry, &e))?;
    let now = now_ms();
    let copied = StoredObject {
        key: to.to_string(),
        created_at: now,
        updated_at: now,
        ..source
    };
    let view = ObjectView::new(&copied, entry.config.default_visibility);
    storage
        .store()
        .put_object(&copied, Some(&event("storage.object.created", &view)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}
