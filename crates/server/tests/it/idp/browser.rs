//! The sign-in, driven over plain HTTP like a browser without JavaScript: follow the
//! provider's redirects, keep its cookies, fill in and post its login and consent forms,
//! and stop at the redirect back to the client.

use std::time::SystemTime;

use reqwest::Url;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

use super::{Idp, SignedIn};

impl Idp {
    /// Follows `authorize_url` (the provider's authorization endpoint with its query),
    /// signs in as `login` (any name, any password) and grants consent, and returns the
    /// redirect to the client's `redirect_uri` without following it. The redirect may
    /// carry `error` instead of `code`. Each call is a fresh browser: no earlier session.
    pub async fn authorize(&self, authorize_url: &str, login: &str) -> Url {
        let start = Url::parse(authorize_url)
            .unwrap_or_else(|e| panic!("bad authorize URL {authorize_url}: {e}"));
        let redirect_uri = start
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned());
        let issuer = Url::parse(&self.issuer).unwrap();
        let leaves_provider = |target: &Url| {
            target.origin() != issuer.origin()
                || redirect_uri
                    .as_deref()
                    .is_some_and(|r| target.as_str().starts_with(r))
        };
        let http = switchyard_providers::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let mut jar = CookieJar::default();
        let mut url = start;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let mut request = match &form {
                None => http.get(url.clone()),
                Some(fields) => http.post(url.clone()).form(fields),
            };
            if let Some(cookies) = jar.header_for(&url) {
                request = request.header(COOKIE, cookies);
            }
            let response = request.send().await.unwrap_or_else(|e| {
                panic!(
                    "the identity provider at {url} did not answer: {e}\n{}",
                    self.log()
                )
            });
            jar.store(&url, response.headers());
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_else(|| panic!("a {status} from {url} without Location"));
                let target = url
                    .join(location)
                    .unwrap_or_else(|e| panic!("bad Location {location} from {url}: {e}"));
                if leaves_provider(&target) {
                    return target;
                }
                url = target;
                form = None;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "the identity provider answered {status} to {url}:\n{body}\n{}",
                self.log()
            );
            let page = HtmlForm::parse(&body).unwrap_or_else(|| {
                panic!("the identity provider's page at {url} has no form:\n{body}")
            });
            let action = url
                .join(&page.action)
                .unwrap_or_else(|e| panic!("bad form action {} at {url}: {e}", page.action));
            assert!(
                !leaves_provider(&action),
                "the identity provider posts a form to {action} (response_mode=form_post is not \
                 supported here)"
            );
            let fields = page
                .fields
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "login" => (name, login.to_string()),
                    "password" if value.is_empty() => (name, "any password".to_string()),
                    _ => (name, value),
                })
                .collect();
            url = action;
            form = Some(fields);
        }
        panic!("the sign-in at {authorize_url} did not reach the redirect URI in 20 steps")
    }

    /// [`Idp::authorize`], insisting that the redirect carries a `code`.
    pub async fn sign_in(&self, authorize_url: &str, login: &str) -> SignedIn {
        let redirect = self.authorize(authorize_url, login).await;
        let param = |name: &str| {
            redirect
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let code = param("code").unwrap_or_else(|| {
            panic!(
                "the sign-in ended without a code: error {:?} ({:?}) at {redirect}",
                param("error"),
                param("error_description")
            )
        });
        let state = param("state").unwrap_or_default();
        SignedIn {
            code,
            state,
            redirect,
        }
    }
}

/// Just enough of a browser's cookie handling for one host: names, paths, deletion.
#[derive(Debug, Default)]
struct CookieJar {
    /// (name, path, value)
    cookies: Vec<(String, String, String)>,
}

impl CookieJar {
    fn store(&mut self, url: &Url, headers: &HeaderMap) {
        for header in headers.get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            let mut path = default_cookie_path(url.path());
            let mut expired = value.is_empty();
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                let val = val.trim();
                match key.trim().to_ascii_lowercase().as_str() {
                    "path" if val.starts_with('/') => path = val.to_string(),
                    "max-age" => expired |= val.parse::<i64>().is_ok_and(|s| s <= 0),
                    "expires" => {
                        expired |=
                            httpdate::parse_http_date(val).is_ok_and(|at| at <= SystemTime::now());
                    }
                    _ => {}
                }
            }
            self.cookies.retain(|(n, p, _)| !(*n == name && *p == path));
            if !expired {
                self.cookies.push((name, path, value));
            }
        }
    }

    fn header_for(&self, url: &Url) -> Option<String> {
        let path = url.path();
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, p, _)| cookie_path_matches(path, p))
            .map(|(n, _, v)| format!("{n}={v}"))
            .collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }
}

fn default_cookie_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => request_path[..i].to_string(),
    }
}

fn cookie_path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// The first `<form>` of a page: its action and its inputs' names and values.
#[derive(Debug)]
struct HtmlForm {
    action: String,
    fields: Vec<(String, String)>,
}

impl HtmlForm {
    fn parse(html: &str) -> Option<HtmlForm> {
        // ASCII lowercasing keeps byte offsets.
        let lower = html.to_ascii_lowercase();
        let start = lower.find("<form")?;
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e);
        let tag_end = start + html[start..].find('>')?;
        let action = attribute(&html[start + "<form".len()..tag_end], "action").unwrap_or_default();
        let mut fields = Vec::new();
        let mut pos = tag_end;
        while let Some(i) = lower[pos..end].find("<input") {
            let tag_start = pos + i + "<input".len();
            let tag_end = tag_start + html[tag_start..].find('>')?;
            let tag = &html[tag_start..tag_end];
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
            pos = tag_end;
        }
        Some(HtmlForm { action, fields })
    }
}

/// The (unescaped) value of attribute `wanted` among a tag's attributes.
fn attribute(tag: &str, wanted: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'/')
        {
            i += 1;
        }
        let name = &tag[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let quote = bytes[i];
                let value_start = i + 1;
                let value_end = tag[value_start..]
                    .bytes()
                    .position(|b| b == quote)
                    .map_or(tag.len(), |p| value_start + p);
                value = &tag[value_start..value_end];
                i = value_end + 1;
            } else {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = &tag[value_start..i];
            }
        }
        if name.eq_ignore_ascii_case(wanted) {
            return Some(unescape_html(value));
        }
        if name.is_empty() {
            i += 1;
        }
    }
    None
}

fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
