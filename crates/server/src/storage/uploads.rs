//! Direct uploads: the browser puts the bytes straight into the store's backend with
//! URLs the hub signed (one per part for a large object on a cloud store), then the
//! application asks the hub to complete the upload, which checks what arrived against
//! what was declared and records the object, or deletes it. Uploads never completed
//! are swept after their expiry.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::storage::{StoredObject, Upload, UploadState, Visibility};
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_providers::storage::object_store::multipart::PartId;
use switchyard_providers::storage::object_store::{self, GetOptions, ObjectStoreExt as _};
use tokio::sync::watch;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::objects::{check_type, too_large};
use super::signed::{Ask, SignedMethod, expiry};
use super::stores::Entry;
use super::stream::{self, WriteError, WriteSpec};
use super::views::ObjectView;
use super::{Storage, event, keys, serve};
use crate::http::{
    ApiBody, ApiError, ApiJson, ApiPath, ApiResult, FieldError, Need, Problems, extract, require,
    validate,
};

pub(super) fn router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Storage), routes!(create)))
        .routes(require(Need::Write(Scope::Storage), routes!(complete)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UploadRequest {
    /// Default: `uploads/<upload id>`. A key holding an object is refused.
    key: Option<String>,
    content_type: String,
    /// The exact size in bytes; checked on completion.
    size: u64,
    /// Hex SHA-256 of the bytes; checked on completion when given.
    sha256: Option<String>,
    owner: Option<String>,
    visibility: Option<Visibility>,
    /// Seconds the URLs stay valid, up to 604,800; default `storage.upload_expiry`.
    expires_in: Option<u64>,
}

/// One part's URL of a large upload.
#[derive(Debug, Serialize, ToSchema)]
struct PartUrl {
    part_number: u32,
    url: String,
    /// Bytes this part must hold.
    size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
struct UploadAnswer {
    /// `upl_…`: complete the upload with it.
    id: String,
    key: String,
    /// Where the bytes go in one request; `null` when they go in `parts`.
    url: Option<String>,
    method: SignedMethod,
    /// Headers each request must send as given.
    headers: std::collections::BTreeMap<String, String>,
    /// For large objects on cloud stores: one URL per part, each answered with an
    /// `ETag` to pass to `complete`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<PartUrl>,
    expires_at: String,
}

/// Start a direct upload: checks the declared size and type against the store's
/// limits, records the upload as pending and answers the URL (or part URLs) the
/// browser puts the bytes to. Nothing passes through the application or the hub on
/// cloud stores.
#[utoipa::path(post, path = "/v1/storage/{store}/uploads", tag = "storage", operation_id = "storage.uploads.create",
    params(("store" = String, Path, description = "The store's name")),
    request_body = UploadRequest,
    responses((status = 201, body = UploadAnswer),
        (status = 409, description = "An object exists at the key (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the store's `max_size` (`too_large`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A type the store refuses (`unsupported_type`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiJson(req): ApiJson<UploadRequest>,
) -> ApiResult<(StatusCode, axum::Json<UploadAnswer>)> {
    let entry = storage.entry(&store).await?;
    let config = &storage.inner.config;
    let id = switchyard_core::new_id("upl");
    let key = req.key.clone().unwrap_or_else(|| format!("uploads/{id}"));
    let mut p = Problems::default();
    if let Some(why) = keys::problem(&key) {
        p.add("key", format!("the key {why}"));
    }
    if req.content_type.trim().is_empty() || req.content_type.len() > 255 {
        p.add("content_type", "expected a MIME type");
    }
    if let Some(sha) = &req.sha256
        && !(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        p.add("sha256", "expected 64 hex digits");
    }
    if let Some(o) = &req.owner {
        validate::label(&mut p, "owner", o, 255);
    }
    let ttl = expiry(&mut p, "expires_in", req.expires_in, config.upload_expiry.0);
    p.finish()?;
    check_type(&entry, &req.content_type)?;
    if let Some(cap) = entry.config.max_size
        && req.size > cap
    {
        return Err(too_large(cap));
    }
    if storage.store().get_object(&store, &key).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "an object exists at {key:?}; delete it first or upload to another key"
        )));
    }
    let part_size = config.part_size.0 as u64;
    let multipart = !entry.hub_signed() && req.size > part_size;
    let parts = if multipart {
        req.size.div_ceil(part_size)
    } else {
        1
    };
    if parts > 10_000 {
        return Err(ApiError::invalid_field(
            "size",
            "more than 10,000 parts of storage.part_size; raise storage.part_size",
        ));
    }
    let mut multipart_id = None;
    if multipart {
        let m = entry
            .backend
            .multipart()
            .ok_or_else(|| ApiError::internal("a cloud store without multipart uploads"))?;
        let made = m
            .create_multipart(&entry.backend.full_path(&keys::location(&key)))
            .await
            .map_err(|e| serve::backend_error(&entry, &e))?;
        multipart_id = Some(made);
    }
    let now = now_ms();
    let upload = Upload {
        id: id.clone(),
        store: store.clone(),
        key: key.clone(),
        content_type: req.content_type.clone(),
        size: req.size as i64,
        sha256: req.sha256.map(|s| s.to_ascii_lowercase()),
        owner: req.owner,
        visibility: req.visibility,
        multipart_id: multipart_id.clone(),
        parts: parts as i64,
        state: UploadState::Pending,
        expires_at: now + ttl.as_millis() as i64,
        created_at: now,
    };
    storage.store().insert_upload(&upload).await?;
    let (url, headers, part_urls) = match &multipart_id {
        None => {
            let ask = Ask {
                method: SignedMethod::Put,
                key: &key,
                ttl,
                content_type: Some(&req.content_type),
                max_size: Some(req.size),
                upload: Some(&id),
            };
            let signed = storage.sign(&entry, ask).await?;
            (Some(signed.url), signed.headers, Vec::new())
        }
        Some(mid) => {
            let mut urls = Vec::new();
            for n in 1..=parts {
                let number = n.to_string();
                let url = entry
                    .backend
                    .presign(
                        http::Method::PUT,
                        &entry.backend.full_path(&keys::location(&key)),
                        ttl,
                        None,
                        &[("partNumber", number.as_str()), ("uploadId", mid.as_str())],
                    )
                    .await
                    .map_err(|e| serve::backend_error(&entry, &e))?;
                let size = if n == parts {
                    req.size - part_size * (parts - 1)
                } else {
                    part_size
                };
                urls.push(PartUrl {
                    part_number: n as u32,
                    url: url.to_string(),
                    size,
                });
            }
            (None, Default::default(), urls)
        }
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(UploadAnswer {
            id,
            key,
            url,
            method: SignedMethod::Put,
            headers,
            parts: part_urls,
            expires_at: rfc3339(upload.expires_at),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    /// For an upload in parts: each part's number and the `ETag` its PUT answered.
    #[serde(default)]
    parts: Vec<CompletedPart>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CompletedPart {
    part_number: u32,
    etag: String,
}

/// Complete a direct upload: the hub checks the stored object's size, type and (when
/// declared) SHA-256, and records it — or deletes it and answers 422 naming what
/// differs. Completing a completed upload answers its object again.
#[utoipa::path(post, path = "/v1/storage/{store}/uploads/{id}/complete", tag = "storage", operation_id = "storage.uploads.complete",
    params(("store" = String, Path, description = "The store's name"), ("id" = String, Path, description = "The upload's id, `upl_…`")),
    request_body = CompleteRequest,
    responses((status = 200, body = ObjectView),
        (status = 409, description = "Nothing has arrived at the upload's URL yet (`upload_missing`); the upload stays pending", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The upload expired (`upload_expired`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "What arrived differs from what was declared (`upload_rejected`); it was deleted", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn complete(
    State(storage): State<Storage>,
    ApiPath((store, id)): ApiPath<(String, String)>,
    ApiBody(body): ApiBody,
) -> ApiResult<axum::Json<ObjectView>> {
    let parts = extract::optional_json::<CompleteRequest>(&body)?
        .map(|b| b.parts)
        .unwrap_or_default();
    let entry = storage.entry(&store).await?;
    let upload = storage
        .store()
        .get_upload(&id)
        .await?
        .filter(|u| u.store == store)
        .ok_or_else(|| ApiError::not_found("upload", &id))?;
    let default = entry.config.default_visibility;
    if upload.state == UploadState::Complete {
        let object = storage
            .store()
            .get_object(&store, &upload.key)
            .await?
            .ok_or_else(|| ApiError::not_found("object", &upload.key))?;
        return Ok(axum::Json(ObjectView::new(&object, default)));
    }
    if upload.expires_at < now_ms() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "upload_expired",
            "the upload expired before it was completed; start a new one",
        ));
    }
    let path = keys::location(&upload.key);
    if let Some(mid) = &upload.multipart_id {
        if parts.len() as i64 != upload.parts
            || parts
                .iter()
                .enumerate()
                .any(|(i, p)| p.part_number as usize != i + 1)
        {
            return Err(ApiError::invalid_field(
                "parts",
                format!(
                    "expected parts 1 to {} in order, each with its ETag",
                    upload.parts
                ),
            ));
        }
        let ids = parts
            .into_iter()
            .map(|p| PartId { content_id: p.etag })
            .collect();
        let m = entry
            .backend
            .multipart()
            .ok_or_else(|| ApiError::internal("multipart store"))?;
        if let Err(e) = m
            .complete_multipart(&entry.backend.full_path(&path), mid, ids)
            .await
        {
            return Err(match e {
                object_store::Error::Generic { .. } | object_store::Error::NotFound { .. } => {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "upload_missing",
                        format!(
                            "the backend could not assemble the parts ({e}); put every part, then complete again"
                        ),
                    )
                }
                e => serve::backend_error(&entry, &e),
            });
        }
    }
    let head = GetOptions {
        head: true,
        ..GetOptions::default()
    };
    let found = match entry.backend.store.get_opts(&path, head).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "upload_missing",
                "nothing has arrived at the upload's URL yet; complete it after the upload finished",
            ));
        }
        Err(e) => return Err(serve::backend_error(&entry, &e)),
    };
    let mut wrong = Vec::new();
    if found.meta.size as i64 != upload.size {
        wrong.push(FieldError {
            field: "size".into(),
            message: format!(
                "{} bytes arrived; {} were declared",
                found.meta.size, upload.size
            ),
        });
    }
    let stored_type = found
        .attributes
        .get(&object_store::Attribute::ContentType)
        .map(|v| v.to_string());
    if let Some(t) = &stored_type
        && *t != upload.content_type
    {
        wrong.push(FieldError {
            field: "content_type".into(),
            message: format!("{t:?} arrived; {:?} was declared", upload.content_type),
        });
    }
    let mut sha256 = None;
    if wrong.is_empty()
        && let Some(declared) = &upload.sha256
    {
        let got = entry
            .backend
            .store
            .get(&path)
            .await
            .map_err(|e| serve::backend_error(&entry, &e))?;
        let digest = stream::digest(got)
            .await
            .map_err(|e| serve::backend_error(&entry, &e))?;
        if digest.sha256 != *declared {
            wrong.push(FieldError {
                field: "sha256".into(),
                message: format!("the bytes that arrived have SHA-256 {}", digest.sha256),
            });
        }
        sha256 = Some(digest.sha256);
    }
    if !wrong.is_empty() {
        if let Err(e) = entry.backend.store.delete(&path).await {
            tracing::warn!(store = %store, error = %e, "deleting a refused upload failed; the sweeper tries again");
        } else {
            storage.store().drop_upload(&id).await?;
        }
        let mut refusal = ApiError::invalid_fields(wrong);
        refusal.code = "upload_rejected";
        return Err(refusal);
    }
    let now = now_ms();
    let etag = match &sha256 {
        Some(s) => format!("\"{s}\""),
        None => found
            .meta
            .e_tag
            .clone()
            .unwrap_or_else(|| format!("\"{id}\"")),
    };
    let object = StoredObject {
        store: store.clone(),
        key: upload.key.clone(),
        size: upload.size,
        content_type: upload.content_type.clone(),
        etag,
        sha256,
        visibility: upload.visibility,
        owner: upload.owner.clone(),
        grants: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let view = ObjectView::new(&object, default);
    let done = storage
        .store()
        .complete_upload(&id, &object, Some(&event("storage.object.created", &view)))
        .await?;
    if !done {
        return Err(ApiError::conflict(
            "the upload was completed or swept meanwhile",
        ));
    }
    Ok(axum::Json(view))
}

impl Storage {
    /// The bytes of a pending direct upload to a hub-signed store, through `/s/…`:
    /// written to the key, recorded only when the upload completes.
    pub(super) async fn receive_upload(
        &self,
        entry: &Entry,
        id: &str,
        key: &str,
        body: Body,
        limit: Option<u64>,
    ) -> Result<(), ApiError> {
        let upload = self
            .store()
            .get_upload(id)
            .await?
            .filter(|u| u.store == entry.name() && u.key == key && u.state == UploadState::Pending)
            .ok_or_else(|| {
                ApiError::forbidden("the upload this URL is for is completed or gone")
            })?;
        let config = &self.inner.config;
        let spec = WriteSpec {
            limit: limit
                .map(|l| l.min(upload.size as u64))
                .or(Some(upload.size as u64)),
            part_size: config.part_size.0,
            idle: config.idle_timeout.0,
            content_type: None,
        };
        match stream::write(
            entry.backend.store.as_ref(),
            &keys::location(key),
            body,
            spec,
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(WriteError::TooLarge(n)) => Err(too_large(n)),
            Err(WriteError::Backend(e)) => Err(serve::backend_error(entry, &e)),
            Err(e) => Err(ApiError::bad_request(
                "invalid_body",
                format!("{e}; nothing was kept"),
            )),
        }
    }

    /// One pass of the sweeper: expired pending uploads (their bytes and unfinished
    /// parts deleted) and create-only writes abandoned by a stopped node.
    async fn sweep_once(&self, now: i64) -> Result<usize, ApiError> {
        let mut swept = 0;
        for upload in self.store().expired_uploads(now, 100).await? {
            let Ok(entry) = self.entry(&upload.store).await else {
                self.store().drop_upload(&upload.id).await?;
                continue;
            };
            let path = keys::location(&upload.key);
            if let (Some(mid), Some(m)) = (&upload.multipart_id, entry.backend.multipart()) {
                let _ = m
                    .abort_multipart(&entry.backend.full_path(&path), mid)
                    .await;
            }
            if self
                .store()
                .get_object(&upload.store, &upload.key)
                .await?
                .is_none()
            {
                match entry.backend.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(store = %upload.store, error = %e, "deleting an expired upload's bytes failed; tried again later");
                        continue;
                    }
                }
            }
            if self.store().drop_upload(&upload.id).await? {
                swept += 1;
            }
        }
        for (store, key) in self.store().expired_claims(now, 100).await? {
            if let Ok(entry) = self.entry(&store).await {
                let _ = entry.backend.store.delete(&keys::location(&key)).await;
            }
            self.store().release_object_key(&store, &key).await?;
            swept += 1;
        }
        Ok(swept)
    }
}

/// Sweeps every `storage.sweep_interval` until `shutdown`.
pub(super) async fn sweep(storage: Storage, mut shutdown: watch::Receiver<bool>) {
    let every: Duration = storage.inner.config.sweep_interval.0;
    loop {
        match storage.sweep_once(now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(swept = n, "swept expired uploads and abandoned writes"),
            Err(e) => tracing::warn!(error = %e.detail, "sweeping expired uploads failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
