//! Where a call goes: a connector's templates filled from a connection's settings, the
//! caller's path joined under the base URL without ever leaving it, and URLs made safe
//! to log.

use serde_json::{Map, Value};

use super::ConnectorDef;

/// The `NAME`s of the `{config.NAME}` placeholders in `template`.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split("{config.").skip(1).filter_map(|rest| {
        let end = rest.find('}')?;
        Some(&rest[..end])
    })
}

/// `template` with each `{config.NAME}` replaced by the connection's setting.
pub fn fill(template: &str, config: &Map<String, Value>) -> Result<String, String> {
    let mut out = template.to_string();
    for name in placeholders(template) {
        let value = match config.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(format!(
                    "the connection has no setting {name} (config.{name})"
                ));
            }
        };
        out = out.replace(&format!("{{config.{name}}}"), &value);
    }
    Ok(out)
}

/// The connection's base URL: its `base_url` override or the connector's, filled, an
/// http(s) URL without query or fragment, without a trailing `/`.
pub fn base_url(def: &ConnectorDef, config: &Map<String, Value>) -> Result<String, String> {
    let template = match config.get("base_url") {
        Some(Value::String(s)) => s.as_str(),
        _ => def.base_url.as_str(),
    };
    let filled = fill(template, config)?;
    let url = url::Url::parse(&filled)
        .map_err(|e| format!("the base URL {filled:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("the base URL {filled:?} is not an http(s) URL"));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "the base URL {filled:?} may have no query, fragment or user; the connector adds its query parameters itself"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Why a path cannot be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `base` extended by the caller's `path` (as sent, percent-encoded) and `query`. The
/// result stays under `base`: no `.` or `..` segments (encoded or not), no backslashes,
/// no control characters, and the same scheme, host and port.
pub fn join(base: &str, path: &str, query: Option<&str>) -> Result<String, PathError> {
    let bad = |why: &str| PathError(format!("the path {path:?} {why}"));
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return Err(bad("must start with /"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'\\' || b == b' ' || b == b'#')
    {
        return Err(bad("has a character that is not allowed in a path"));
    }
    for segment in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        let leaves = decoded
            .split(['/', '\\'])
            .any(|part| part == "." || part == "..");
        if leaves || decoded.contains('\\') || decoded.chars().any(char::is_control) {
            return Err(bad("would leave the connector's base URL"));
        }
    }
    if let Some(q) = query
        && q.bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err(PathError(
            "the query has a character that is not allowed".into(),
        ));
    }
    let joined = match query {
        Some(q) if !q.is_empty() => format!("{base}{path}?{q}"),
        _ => format!("{base}{path}"),
    };
    let (b, j) = match (url::Url::parse(base), url::Url::parse(&joined)) {
        (Ok(b), Ok(j)) => (b, j),
        _ => return Err(bad("does not make a URL under the base URL")),
    };
    let under = b.scheme() == j.scheme()
        && b.host_str() == j.host_str()
        && b.port_or_known_default() == j.port_or_known_default()
        && j.path().starts_with(b.path().trim_end_matches('/'));
    if !under {
        return Err(bad("would leave the connector's base URL"));
    }
    Ok(joined)
}

/// `url` (a path with a query, or a whole URL) with the values of the query
/// parameters named in `names` replaced by `REDACTED`.
pub fn redact(url: &str, names: &[String]) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_string();
    };
    if names.is_empty() {
        return url.to_string();
    }
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let decoded = percent_encoding::percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            if names.contains(&decoded) {
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    let mut out = format!("{head}?{}", pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn templates_fill_from_the_connection() {
        let c = config(&[("cluster", "eu1")]);
        assert_eq!(
            fill(
                "https://{config.cluster}.cloud.thethings.network/api/v3",
                &c
            )
            .unwrap(),
            "https://eu1.cloud.thethings.network/api/v3"
        );
        assert!(fill("{config.site}", &c).unwrap_err().contains("site"));
    }

    #[test]
    fn the_base_url_may_be_overridden_and_must_be_plain() {
        let def: ConnectorDef =
            toml::from_str("name = \"x\"\nbase_url = \"https://api.example/v1/\"").unwrap();
        assert_eq!(
            base_url(&def, &Map::new()).unwrap(),
            "https://api.example/v1"
        );
        let c = config(&[("base_url", "http://127.0.0.1:9000/x")]);
        assert_eq!(base_url(&def, &c).unwrap(), "http://127.0.0.1:9000/x");
        assert!(base_url(&def, &config(&[("base_url", "https://a.example/?k=1")])).is_err());
        assert!(base_url(&def, &config(&[("base_url", "file:///etc")])).is_err());
        assert!(base_url(&def, &config(&[("base_url", "https://u:p@a.example")])).is_err());
    }

    #[test]
    fn paths_stay_under_the_base_url() {
        let base = "https://api.example/v1";
        assert_eq!(
            join(base, "/shops.json", None).unwrap(),
            "https://api.example/v1/shops.json"
        );
        assert_eq!(
            join(
                base,
                "/calendars/a%40b.example/events",
                Some("maxResults=5")
            )
            .unwrap(),
            "https://api.example/v1/calendars/a%40b.example/events?maxResults=5"
        );
        for path in [
            "/../admin",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/a%2F..%2F..%2Fx",
            "/./x",
            "/a\\b",
            "//evil.example/x",
            "/x%00",
            "/@evil.example",
        ] {
            let joined = join(base, path, None);
            if let Ok(url) = &joined {
                let u = url::Url::parse(url).unwrap();
                assert_eq!(u.host_str(), Some("api.example"), "{path} → {url}");
                assert!(u.path().starts_with("/v1/"), "{path} → {url}");
                assert!(!u.path().contains(".."), "{path} → {url}");
            }
        }
        assert!(join(base, "/../admin", None).is_err());
        assert!(join(base, "/%2e%2e/x", None).is_err());
        assert!(join(base, "/a%2F..%2Fx", None).is_err());
        assert!(join(base, "/a\\b", None).is_err());
        assert!(join(base, "/x%00", None).is_err());
        assert!(join(base, "/x", Some("a=1#frag")).is_err());
    }

    #[test]
    fn secret_query_values_are_redacted() {
        let names = vec!["wstoken".to_string()];
        assert_eq!(
            redact(
                "/webservice/rest/server.php?wsfunction=core_webservice_get_site_info&wstoken=abc123&moodlewsrestformat=json",
                &names
            ),
            "/webservice/rest/server.php?wsfunction=core_webservice_get_site_info&wstoken=REDACTED&moodlewsrestformat=json"
        );
        assert_eq!(
            redact("https://m.example/x?ws%74oken=abc", &names),
            "https://m.example/x?ws%74oken=REDACTED"
        );
        assert_eq!(redact("/x?a=1", &names), "/x?a=1");
    }
}
