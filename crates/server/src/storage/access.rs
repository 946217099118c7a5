//! Access rules: each object's owner, visibility and grants, the same settings for every
//! key under a prefix, the decision `/access/check` answers, and `/public/…`, which
//! serves what that decision makes public to anyone.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::storage::{
    self as policy, Grant, Permission, Policy, StoredObject, Visibility,
};
use switchyard_store::storage::AccessChange;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::stores::Entry;
use super::views::{ObjectView, RuleView};
use super::{Storage, keys, serve};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResult, Need, Problems, extract, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Storage), routes!(set)))
        .routes(require(Need::Read(Scope::Storage), routes!(check)))
}

pub(super) fn public_router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new().routes(routes!(public))
}

/// The body of `PUT /v1/storage/{store}/access`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read from the JSON value, for `null` to clear a field
struct AccessRequest {
    /// One object (it must exist)…
    key: Option<String>,
    /// …or every key under a prefix (`""`: the whole store).
    prefix: Option<String>,
    /// The application's user id; `null` clears it.
    owner: Option<String>,
    /// `null` clears it (the store's default, or a prefix's rule, applies).
    visibility: Option<Visibility>,
    /// Replaces the grants.
    grants: Option<Vec<Grant>>,
}

/// The answer of `PUT /v1/storage/{store}/access`: the object or the prefix rule.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum AccessAnswer {
    Object(ObjectView),
    Prefix(RuleView),
}

fn grants_problems(p: &mut Problems, grants: &[Grant]) {
    if grants.len() > 100 {
        p.add("grants", "at most 100 grants");
    }
    for (i, g) in grants.iter().enumerate() {
        let field = format!("grants[{i}].principal");
        match g.principal.strip_prefix("group:") {
            Some(group) => {
                if group.is_empty() || !validate::text(p, &field, group, 255) {
                    p.add(field, "expected group:NAME with a name");
                }
            }
            None => {
                validate::label(p, &field, &g.principal, 255);
            }
        }
    }
}

/// Set who owns, who may read and write, and whether anyone may read one object or
/// every key under a prefix. Fields left out stay as they are; `null` clears one. An
/// object's own settings win over its prefixes'; grants of the object and of every
/// matching prefix add up.
#[utoipa::path(put, path = "/v1/storage/{store}/access", tag = "storage", operation_id = "storage.access.set",
    params(("store" = String, Path, description = "The store's name")),
    request_body = AccessRequest,
    responses((status = 200, body = AccessAnswer)))]
async fn set(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<axum::Json<AccessAnswer>> {
    let entry = storage.entry(&store).await?;
    let _: AccessRequest = extract::from_value(Value::Object(body.clone()))?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let mut p = Problems::default();
    let owner = match body.get("owner") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => {
            let o = text("owner").unwrap_or_default();
            validate::label(&mut p, "owner", &o, 255);
            Some(Some(o))
        }
    };
    let visibility = match body.get("visibility") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(v.as_str().and_then(Visibility::parse)),
    };
    let grants: Option<Vec<Grant>> = match body.get("grants") {
        None | Some(Value::Null) => None,
        Some(g) => Some(
            serde_json::from_value(g.clone())
                .map_err(|e| ApiError::invalid_field("grants", e.to_string()))?,
        ),
    };
    if let Some(g) = &grants {
        grants_problems(&mut p, g);
    }
    let change = AccessChange {
        owner,
        visibility,
        grants,
    };
    let now = switchyard_core::time::now_ms();
    match (text("key"), text("prefix")) {
        (Some(key), None) => {
            if let Some(why) = keys::problem(&key) {
                p.add("key", format!("the key {why}"));
            }
            p.finish()?;
            storage.find(&entry, &key).await?;
            let object = storage
                .store()
                .set_object_access(&store, &key, &change, now)
                .await?
                .ok_or_else(|| ApiError::not_found("object", &key))?;
            Ok(axum::Json(AccessAnswer::Object(ObjectView::new(
                &object,
                entry.config.default_visibility,
            ))))
        }
        (None, Some(prefix)) => {
            if let Some(why) = keys::prefix_problem(&prefix) {
                p.add("prefix", format!("the prefix {why}"));
            }
            p.finish()?;
            let rule = storage
                .store()
                .set_prefix_rule(&store, &prefix, &change, now)
                .await?;
            Ok(axum::Json(AccessAnswer::Prefix(rule.into())))
        }
        _ => {
            p.add("key", "give exactly one of `key` and `prefix`");
            Err(ApiError::invalid_fields(p.into_errors()))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    key: String,
    /// The application's user id asking; absent: someone not signed in.
    principal: Option<String>,
    /// The groups the principal is in (grants to `group:NAME`).
    #[serde(default)]
    groups: Vec<String>,
    permission: Permission,
}

#[derive(Debug, Serialize, ToSchema)]
struct CheckAnswer {
    allowed: bool,
    /// `owner`, `granted`, `granted_to_group`, `public`, `public_prefix`,
    /// `not_granted` or `no_such_object`.
    reason: &'static str,
}

/// Decide whether a user of the application may read or write an object: the owner may
/// do both, write implies read, grants go to users or `group:NAME`, and public objects
/// (and the store's `public_prefixes`) are readable by anyone.
#[utoipa::path(post, path = "/v1/storage/{store}/access/check", tag = "storage", operation_id = "storage.access.check",
    params(("store" = String, Path, description = "The store's name")),
    request_body = CheckRequest,
    responses((status = 200, body = CheckAnswer)))]
async fn check(
    State(storage): State<Storage>,
    ApiPath(store): ApiPath<String>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<axum::Json<CheckAnswer>> {
    let entry = storage.entry(&store).await?;
    let key = keys::checked("key", &req.key)?;
    let mut p = Problems::default();
    if let Some(principal) = &req.principal {
        validate::label(&mut p, "principal", principal, 255);
    }
    if req.groups.len() > 100 {
        p.add("groups", "at most 100 groups");
    }
    p.finish()?;
    let object = storage.find(&entry, key).await?;
    let decision = storage
        .decide(
            &entry,
            key,
            object.as_ref(),
            req.principal.as_deref(),
            &req.groups,
            req.permission,
        )
        .await?;
    Ok(axum::Json(CheckAnswer {
        allowed: decision.allowed(),
        reason: decision.reason(),
    }))
}

impl Storage {
    /// The decision about `object` (what the hub found at `key`).
    pub(super) async fn decide(
        &self,
        entry: &Entry,
        key: &str,
        object: Option<&StoredObject>,
        principal: Option<&str>,
        groups: &[String],
        wanted: Permission,
    ) -> Result<policy::Decision, ApiError> {
        let rules = match object {
            Some(_) => self.store().prefix_rules(entry.name(), key).await?,
            None => Vec::new(),
        };
        let policy = Policy {
            default_visibility: entry.config.default_visibility,
            public_prefixes: &entry.config.public_prefixes,
        };
        Ok(policy::decide(
            policy, key, object, &rules, principal, groups, wanted,
        ))
    }
}

/// A public object, without a key: one the access rules make readable by anyone, or
/// under the store's `public_prefixes`. Anything else is 404, so that private objects'
/// existence is not revealed.
#[utoipa::path(get, path = "/public/{store}/{*key}", tag = "storage", operation_id = "storage.public",
    params(("store" = String, Path, description = "The store's name"), ("key" = String, Path, description = "The object's key")),
    responses((status = 200, description = "The bytes, with `Cache-Control: public`", content_type = "application/octet-stream"),
        (status = 404, description = "No such public object (`not_found`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn public(
    State(storage): State<Storage>,
    ApiPath((store, key)): ApiPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let hidden = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such public object");
    let entry = storage.entry(&store).await.map_err(|_| hidden())?;
    if keys::problem(&key).is_some() {
        return Err(hidden());
    }
    // Only what the hub has recorded: a request without a key never makes the hub ask
    // the backend.
    let object = storage.store().get_object(&store, &key).await?;
    let decision = storage
        .decide(&entry, &key, object.as_ref(), None, &[], Permission::Read)
        .await?;
    let Some(object) = object.filter(|_| decision.allowed()) else {
        return Err(hidden());
    };
    let cache = format!(
        "public, max-age={}",
        storage.inner.config.public_max_age.0.as_secs()
    );
    let response = serve::object(&entry, &object, &method, &headers, &cache).await?;
    Ok(response.into_response())
}
