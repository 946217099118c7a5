//! Answering with an object: `ETag` and `If-None-Match`, one byte range, the headers
//! every route that serves bytes shares (`/v1/storage/…`, `/public/…`, `/s/…`), and the
//! bytes streamed from the backend.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use switchyard_core::storage::StoredObject;
use switchyard_providers::storage::object_store::{self, GetOptions, GetRange};

use super::keys;
use super::stores::Entry;
use crate::http::ApiError;

/// What a range header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    Whole,
    /// Inclusive start, exclusive end.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range; several ranges or an unreadable header ask for the whole object
/// (as RFC 9110 allows).
pub(crate) fn wanted(range: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (start.is_empty(), end.is_empty()) {
        (true, true) => Wanted::Whole,
        (true, false) => match number(end) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) if size > 0 => Wanted::Part(size.saturating_sub(n), size),
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        (false, _) => {
            let Some(a) = number(start) else {
                return Wanted::Whole;
            };
            let b = if end.is_empty() {
                Some(size.saturating_sub(1))
            } else {
                number(end)
            };
            match b {
                None => Wanted::Whole,
                Some(_) if a >= size => Wanted::Unsatisfiable,
                Some(b) if b < a => Wanted::Whole,
                Some(b) => Wanted::Part(a, b.min(size - 1) + 1),
            }
        }
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// Answers a `GET` or `HEAD` of `object`, with `cache_control`.
pub(crate) async fn object(
    entry: &Entry,
    object: &StoredObject,
    method: &Method,
    headers: &HeaderMap,
    cache_control: &str,
) -> Result<Response, ApiError> {
    let size = object.size.max(0) as u64;
    let mut common = HeaderMap::new();
    let put = |h: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    put(&mut common, header::ETAG, &object.etag);
    put(&mut common, header::CACHE_CONTROL, cache_control);
    put(&mut common, header::ACCEPT_RANGES, "bytes");
    put(
        &mut common,
        header::LAST_MODIFIED,
        &httpdate(object.updated_at),
    );
    if not_modified(headers, &object.etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    put(&mut common, header::CONTENT_TYPE, &object.content_type);
    if let Some(sha) = &object.sha256 {
        put(
            &mut common,
            header::HeaderName::from_static("x-switchyard-sha256"),
            sha,
        );
    }
    let (status, range) = match wanted(headers.get(header::RANGE), size) {
        Wanted::Whole => (StatusCode::OK, None),
        Wanted::Part(a, b) => {
            put(
                &mut common,
                header::CONTENT_RANGE,
                &format!("bytes {a}-{}/{size}", b - 1),
            );
            (StatusCode::PARTIAL_CONTENT, Some((a, b)))
        }
        Wanted::Unsatisfiable => {
            put(
                &mut common,
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            common.remove(header::CONTENT_TYPE);
            let problem = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the object has {size} bytes"),
            );
            let mut response = problem.into_response();
            response.headers_mut().extend(common);
            return Ok(response);
        }
    };
    let length = range.map_or(size, |(a, b)| b - a);
    put(&mut common, header::CONTENT_LENGTH, &length.to_string());
    if method == Method::HEAD || length == 0 {
        return Ok((status, common).into_response());
    }
    let options = GetOptions {
        range: range.map(|(a, b)| GetRange::Bounded(a..b)),
        ..GetOptions::default()
    };
    let got = entry
        .backend
        .store
        .get_opts(&keys::location(&object.key), options)
        .await
        .map_err(|e| backend_error(entry, &e))?;
    let body = Body::from_stream(super::stream::bytes(got));
    Ok((status, common, body).into_response())
}

/// A backend failure, as the API answers it: a missing object is 404, anything else 503
/// (retry), logged with the store's name.
pub(crate) fn backend_error(entry: &Entry, e: &object_store::Error) -> ApiError {
    match e {
        object_store::Error::NotFound { .. } => {
            tracing::warn!(store = entry.name(), error = %e, "an object the hub records is missing from its backend");
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "the object's bytes are missing from the store's backend",
            )
        }
        _ => {
            tracing::warn!(store = entry.name(), error = %e, "the store's backend failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the backend of store {:?} failed; retry", entry.name()),
            )
            .retry_after(5)
        }
    }
}

/// An HTTP date (IMF-fixdate) of epoch milliseconds.
fn httpdate(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Wanted {
        wanted(Some(&HeaderValue::from_str(v).unwrap()), size)
    }

    #[test]
    fn ranges_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(range("bytes=0-3", 10), Wanted::Part(0, 4));
        assert_eq!(range("bytes=5-", 10), Wanted::Part(5, 10));
        assert_eq!(range("bytes=-3", 10), Wanted::Part(7, 10));
        assert_eq!(range("bytes=-30", 10), Wanted::Part(0, 10));
        assert_eq!(range("bytes=8-100", 10), Wanted::Part(8, 10));
        assert_eq!(range("bytes=10-", 10), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=0-0", 0), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=0-1,4-5", 10), Wanted::Whole);
        assert_eq!(range("bytes=x-1", 10), Wanted::Whole);
        assert_eq!(range("items=0-1", 10), Wanted::Whole);
        assert_eq!(range("bytes=5-2", 10), Wanted::Whole);
        assert_eq!(range("bytes=20-10", 10), Wanted::Unsatisfiable);
    }

    #[test]
    fn if_none_match_reads_lists_weak_tags_and_stars() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(not_modified(&h, "\"b\""));
        assert!(!not_modified(&h, "\"c\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "\"c\""));
    }
}
