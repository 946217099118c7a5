//! Who may call what, and with which query parameters. Every `/v1` route declares its
//! [`Need`] once, with [`require`]: the declaration is the operation's security
//! requirement in the OpenAPI document, and the [`authorize`] layer enforces the same
//! table before anything else of the route runs (idempotent replays included). The same
//! layer refuses a query parameter the operation does not declare, naming it, so that a
//! misspelt filter never silently returns everything.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use switchyard_core::apikey::Scope;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::UtoipaMethodRouter;

use super::problem::ApiError;

/// The authenticated caller, as the authentication layer found it.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub(crate) key_id: String,
    pub(crate) scopes: Vec<Scope>,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("authentication required"))
    }
}

/// What a key needs to call a route; `admin` may call every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// The scope, or `read`.
    Read(Scope),
    /// The scope.
    Write(Scope),
    /// Only `admin`.
    Admin,
}

impl Need {
    /// The scopes any one of which suffices, `admin` last.
    fn alternatives(self) -> Vec<Scope> {
        match self {
            Need::Read(s) => vec![s, Scope::Read, Scope::Admin],
            Need::Write(s) => vec![s, Scope::Admin],
            Need::Admin => vec![Scope::Admin],
        }
    }

    pub(crate) fn allows(self, granted: &[Scope]) -> bool {
        self.alternatives().iter().any(|s| granted.contains(s))
    }

    fn refusal(self) -> ApiError {
        let what = match self {
            Need::Read(s) => format!("the {s:?} or \"read\" scope"),
            Need::Write(s) => format!("the {s:?} scope"),
            Need::Admin => "the \"admin\" scope".to_string(),
        };
        ApiError::forbidden(format!("this API key lacks {what} needed for this route"))
    }

    fn from_alternatives(scopes: &[Scope]) -> Option<Need> {
        let named: Vec<Scope> = scopes
            .iter()
            .copied()
            .filter(|s| !matches!(s, Scope::Admin | Scope::Read))
            .collect();
        match (named.as_slice(), scopes.contains(&Scope::Read)) {
            ([], false) => Some(Need::Admin),
            ([s], true) => Some(Need::Read(*s)),
            ([s], false) => Some(Need::Write(*s)),
            _ => None,
        }
    }
}

/// The operations of a path item, with their methods.
pub(crate) fn operations_mut(
    item: &mut PathItem,
) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

/// Declares that calling `routes` needs `need`.
pub(crate) fn require<S>(need: Need, routes: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S> {
    let (schemas, mut paths, router) = routes;
    for item in paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            op.security = Some(
                need.alternatives()
                    .into_iter()
                    .map(|s| SecurityRequirement::new("bearer", [s.as_str()]))
                    .collect(),
            );
        }
    }
    (schemas, paths, router)
}

/// The need and query parameters of every declared route, by method and path template.
#[derive(Debug, Default)]
pub(crate) struct AccessTable {
    rules: HashMap<(Method, String), Rule>,
}

#[derive(Debug)]
struct Rule {
    need: Need,
    /// The query parameters the operation declares; `None`: any (a proxy forwards the
    /// query as given).
    query: Option<Vec<String>>,
}

impl Rule {
    /// 400 naming the first parameter of `query` the operation does not declare.
    fn check_query(&self, query: Option<&str>) -> Result<(), ApiError> {
        let Some(query) = query else { return Ok(()) };
        let Some(declared) = &self.query else {
            return Ok(());
        };
        let unknown = form_urlencoded::parse(query.as_bytes())
            .map(|(name, _)| name)
            .find(|name| !declared.iter().any(|q| q == name));
        let Some(name) = unknown else { return Ok(()) };
        let takes = if declared.is_empty() {
            "this route takes no query parameters".to_string()
        } else {
            format!("this route takes {}", declared.join(", "))
        };
        Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown query parameter `{name}`; {takes}"),
        ))
    }
}

impl AccessTable {
    /// The table the document declares; an error names an operation whose security
    /// requirement is not one [`require`] writes. Routes of `any_query` (as declared,
    /// `{*path}` included) take any query parameter.
    pub(crate) fn from_document(
        doc: &utoipa::openapi::OpenApi,
        any_query: &[&str],
    ) -> Result<Self, String> {
        let any_query: Vec<String> = any_query
            .iter()
            .map(|r| super::openapi::template(r))
            .collect();
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        let mut rules = HashMap::new();
        let mut paths = doc.paths.paths.clone();
        for (path, item) in paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                let Some(security) = &op.security else {
                    continue;
                };
                let value = serde_json::to_value(security).map_err(|e| e.to_string())?;
                let scopes: Vec<Scope> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.get("bearer")?.as_array().cloned())
                    .flatten()
                    .filter_map(|s| Scope::parse(s.as_str()?))
                    .collect();
                let need = Need::from_alternatives(&scopes)
                    .ok_or_else(|| format!("{method} {path}: unreadable security requirement"))?;
                let query = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query) => {
                            Some(p.name.clone())
                        }
                        _ => None,
                    })
                    .collect();
                let query = (!any_query.contains(path)).then_some(query);
                rules.insert((method, path.clone()), Rule { need, query });
            }
        }
        Ok(Self { rules })
    }

    /// The rule of a route (as matched, wildcards included); `HEAD` is `GET`'s.
    fn rule(&self, method: &Method, route: &str) -> Option<&Rule> {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.rules.get(&(method, super::openapi::template(route)))
    }
}

/// Refuses a caller whose key lacks the route's need, then a query parameter the route
/// does not declare, before the route (or an idempotent replay of it) runs. Runs after
/// authentication.
pub(crate) async fn authorize(
    State(table): State<Arc<AccessTable>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(principal) = request.extensions().get::<Principal>() else {
        return ApiError::unauthorized("authentication required").into_response();
    };
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str());
    let rule = path.and_then(|p| table.rule(request.method(), p));
    match rule {
        Some(rule) if !rule.need.allows(&principal.scopes) => rule.need.refusal().into_response(),
        Some(rule) => match rule.check_query(request.uri().query()) {
            Ok(()) => next.run(request).await,
            Err(e) => e.into_response(),
        },
        None => ApiError::internal(format!(
            "no access rule for {} {}",
            request.method(),
            path.unwrap_or("?")
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_allow_their_scope_read_or_admin() {
        let read = Need::Read(Scope::Events);
        assert!(read.allows(&[Scope::Events]));
        assert!(read.allows(&[Scope::Read]));
        assert!(read.allows(&[Scope::Admin]));
        assert!(!read.allows(&[Scope::Keys]));
        let write = Need::Write(Scope::Events);
        assert!(write.allows(&[Scope::Events]));
        assert!(!write.allows(&[Scope::Read]));
        assert!(Need::Admin.allows(&[Scope::Admin]));
        assert!(!Need::Admin.allows(&[Scope::Keys, Scope::Read]));
        for need in [read, write, Need::Admin] {
            assert_eq!(Need::from_alternatives(&need.alternatives()), Some(need));
        }
    }
}
