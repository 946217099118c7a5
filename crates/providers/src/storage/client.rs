//! What every cloud client shares: the HTTP connector, timeouts, endpoint checks.

use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{HttpClient, HttpConnector, ReqwestConnector};
use reqwest::Url;

use super::vars::Found;
use crate::ConfigError;
use crate::config::Ctx;

/// `object_store`'s own `reqwest` client, made after this crate's TLS crypto provider is
/// installed (building a client before then panics).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Connector;

impl HttpConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        crate::http::install_crypto_provider();
        ReqwestConnector::default().connect(options)
    }
}

/// Connecting gives up after 10 s. `reqwest`'s read timeout runs from a request's start
/// until its answer's headers, then between reads of the answer's body: so one PUT (an
/// object, or one part) may take up to 5 minutes to send, and a download that stalls for
/// 5 minutes fails, while a download as a whole has no limit.
pub(super) fn options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_read_timeout(Duration::from_secs(300))
        .with_timeout_disabled()
        .with_allow_http(allow_http)
}

/// `found` as an endpoint URL: `http` or `https`, a host, no credentials, query or
/// fragment; without a trailing `/`.
pub(super) fn endpoint(
    ctx: &Ctx<'_>,
    key: &'static str,
    found: &Found,
) -> Result<String, ConfigError> {
    let text = found.text.trim().trim_end_matches('/');
    let url = Url::parse(text).map_err(|e| found.invalid(ctx, key, &e.to_string()))?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some(format!("scheme {:?} is not http or https", url.scheme()))
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("has no host".to_string())
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not contain credentials".to_string())
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("must not have a query or fragment".to_string())
    } else {
        None
    };
    match problem {
        Some(reason) => Err(found.invalid(ctx, key, &reason)),
        None => Ok(text.to_string()),
    }
}

/// Whether a client for `endpoint` needs plain HTTP allowed.
pub(super) fn is_http(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|e| e.starts_with("http://"))
}

/// An `object_store` error met while building, as a configuration error about `key`.
pub(super) fn build_error(
    ctx: &Ctx<'_>,
    key: &'static str,
    e: &object_store::Error,
) -> ConfigError {
    ctx.invalid(key, e.to_string())
}
