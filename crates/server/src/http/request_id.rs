//! Request ids: taken from a well-formed incoming `x-request-id`, otherwise generated;
//! echoed in the response header, in every log line of the request, and in problem
//! documents.

tokio::task_local! {
    static REQUEST_ID: String;
}

pub(crate) const HEADER: &str = "x-request-id";

/// Accepts a caller's id if it is short and printable; otherwise makes a new one.
pub(crate) fn from_header(value: Option<&http::HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| switchyard_core::new_id("req"))
}

/// Runs `fut` with `id` as the current request id.
pub(crate) async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The id of the request being handled, if any.
pub(crate) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
