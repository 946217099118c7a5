//! Extractors whose rejections are problem documents instead of axum's plain text, and
//! the pagination every list shares.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::limits;
use super::problem::ApiError;

/// A JSON body. Malformed JSON is 400 `malformed_json`; a body of the wrong shape 422
/// `invalid_body`; a string holding a NUL character (which no field accepts) 422
/// `invalid_characters`; a missing JSON content type 415; a body over the limit 413,
/// at once when its declared length says so.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = ApiBody::from_request(req, state).await?.0;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads `bytes` as `T`, with [`ApiJson`]'s answers.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(at) = nul_escape(bytes) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_characters",
            format!("the body holds a NUL character (\\u0000) at byte {at}; no field accepts one"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => wrong_shape(&e),
            _ => {
                ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
            }
        }
    })
}

/// Reads an already parsed body as `T`: 422 `invalid_body` when its shape is wrong.
pub(crate) fn from_value<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| wrong_shape(&e))
}

fn wrong_shape(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("the JSON body does not match the expected shape: {e}"),
    )
}

/// Where JSON text holds the escape of a NUL character (`\u0000`, in any case); a raw
/// NUL byte is not valid JSON and is refused by the parser.
fn nul_escape(json: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000") {
                return Some(i);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// A raw body within the route's limit: 413 at once when its declared length is over
/// it, 413 when it turns out longer.
#[derive(Debug)]
pub(crate) struct ApiBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        limits::check_declared_length(&req)?;
        Bytes::from_request(req, state)
            .await
            .map(ApiBody)
            .map_err(|e: BytesRejection| body_rejection(e.status(), e.body_text()))
    }
}

/// An optional JSON body: nothing (or only whitespace) is `None`.
pub(crate) fn optional_json<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_json(body).map(Some)
}

/// Maps a body-reading failure; a body over the limit becomes 413 `body_too_large`.
pub(crate) fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        limits::too_large()
    } else {
        ApiError::bad_request("unreadable_body", text)
    }
}

pub(crate) fn source_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Query parameters; invalid or unknown ones are 400 `invalid_query` naming them (the
/// query structs refuse unknown fields, so a misspelt filter never returns everything).
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", source_text(&e)))
    }
}

/// Path parameters; a segment that cannot be read (bad percent-encoding) is 400
/// `invalid_path`.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request("invalid_path", source_text(&e)))
    }
}

/// A query parameter holding an RFC 3339 timestamp, as milliseconds since the epoch;
/// 400 `invalid_query` naming `field` when it is not one.
pub(crate) fn instant(field: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            switchyard_core::time::parse_rfc3339(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field}: expected an RFC 3339 timestamp"),
                )
            })
        })
        .transpose()
}

/// `?limit=&cursor=` for list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// What a list's cursors are: ids with a prefix, or names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cursor {
    /// Ids such as `src_…`.
    Id(&'static str),
    /// Names of letters, digits, `_`, `-` and `.`.
    Name,
}

impl PageQuery {
    pub(crate) fn new(limit: Option<u32>, cursor: Option<String>) -> Self {
        Self { limit, cursor }
    }

    /// The requested limit, and a store page one larger (see [`List::from_overfetch`]).
    /// A cursor that is not one of this list's is 400.
    pub(crate) fn page(&self, cursor: Cursor) -> Result<(u32, switchyard_store::Page), ApiError> {
        let limit = self.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "limit: expected a number from 1 to 100",
            ));
        }
        if let Some(c) = &self.cursor {
            let valid = match cursor {
                Cursor::Id(prefix) => switchyard_core::id::has_prefix(c, prefix),
                Cursor::Name => super::validate::is_name(c, 100),
            };
            if !valid {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "cursor: not a cursor of this list; pass the next_cursor of the previous page",
                ));
            }
        }
        Ok((
            limit,
            switchyard_store::Page {
                limit: limit + 1,
                cursor: self.cursor.clone(),
            },
        ))
    }
}

/// A page of results: `{"data": [...], "next_cursor": "…" | null}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Builds a page from items fetched with `limit + 1` (see [`PageQuery::page`]): the
    /// extra item only tells that another page exists.
    pub(crate) fn from_overfetch(
        mut data: Vec<T>,
        limit: u32,
        cursor_of: impl Fn(&T) -> String,
    ) -> Self {
        let more = data.len() > limit as usize;
        data.truncate(limit as usize);
        let next_cursor = if more {
            data.last().map(cursor_of)
        } else {
            None
        };
        Self { data, next_cursor }
    }

    /// The same page with each item turned into `U`.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> List<U> {
        List {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// Every item, on one page.
    pub(crate) fn all(data: Vec<T>) -> Self {
        Self {
            data,
            next_cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert_eq!(nul_escape(br#"{"a":"x\u0000"}"#), Some(7));
        assert_eq!(nul_escape(br#"{"a\u0000":1}"#), Some(3));
        assert_eq!(
            nul_escape(br#"{"a":"\\u0000"}"#),
            None,
            "a literal backslash"
        );
        assert_eq!(nul_escape(br#"{"a":"\\\u0000"}"#), Some(8));
        assert_eq!(nul_escape(br#"{"a":"\u00001"}"#), Some(6));
        assert_eq!(nul_escape(br#"{"a":"\u0001"}"#), None);
        assert_eq!(nul_escape(b"\\"), None);
    }

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/json"));
        assert!(!with("application/jsonp"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn cursors_must_belong_to_the_list() {
        let q = |cursor: &str| PageQuery::new(None, Some(cursor.into()));
        let id = switchyard_core::new_id("src");
        assert!(q(&id).page(Cursor::Id("src")).is_ok());
        assert!(q(&id).page(Cursor::Id("evt")).is_err());
        assert!(q("bogus").page(Cursor::Id("src")).is_err());
        assert!(q("welcome.v2").page(Cursor::Name).is_ok());
        assert!(q("a b").page(Cursor::Name).is_err());
        assert!(PageQuery::new(Some(0), None).page(Cursor::Name).is_err());
        assert!(PageQuery::new(Some(101), None).page(Cursor::Name).is_err());
    }
}
