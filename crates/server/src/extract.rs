//! Extractors whose rejections are problem documents instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::problem::ApiError;

/// A JSON body. Malformed JSON is 400 `malformed_json`, a body of the wrong shape 422
/// `invalid_body`, a missing JSON content type 415, an oversized body 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!(
                "the JSON body does not match the expected shape: {}",
                source_text(&e)
            ),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", source_text(&e)),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a JSON body with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => body_rejection(e.status(), e.body_text()),
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// Maps a body-reading failure; a body over the limit becomes 413 `body_too_large`.
pub fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "body_too_large",
            "the request body exceeds the configured limit (http.body_limit)",
        )
    } else {
        ApiError::bad_request("unreadable_body", text)
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Query parameters; invalid ones are 400 `invalid_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", source_text(&e)))
    }
}

/// `?limit=&cursor=` for list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The requested limit, and a store page one larger (see [`List::from_overfetch`]).
    pub fn page(&self) -> Result<(u32, switchyard_store::Page), ApiError> {
        let limit = self.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "limit: expected a number from 1 to 100",
            ));
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
pub struct List<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Builds a page from items fetched with `limit + 1` (see [`PageQuery::page`]): the
    /// extra item only tells that another page exists.
    pub fn from_overfetch(mut data: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = data.len() > limit as usize;
        data.truncate(limit as usize);
        let next_cursor = if more {
            data.last().map(cursor_of)
        } else {
            None
        };
        Self { data, next_cursor }
    }
}
