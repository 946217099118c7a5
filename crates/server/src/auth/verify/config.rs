//! `[[auth.issuers]]`: the identity providers whose tokens `POST /v1/auth/verify` checks.
//!
//! ```toml
//! [[auth.issuers]]
//! name = "app"
//! kind = "auth0"
//! domain = "example.eu.auth0.com"
//! audience = "https://api.example.com"
//! ```
//!
//! | kind | required | optional |
//! |---|---|---|
//! | `stack_auth` | `project_id` | |
//! | `supabase` | `project_url` | `jwt_secret` (legacy HS256 projects), `audience` (default `authenticated`) |
//! | `auth0` | `domain`, `audience` | |
//! | `clerk` | `frontend_api` | `authorized_parties` (checked against `azp`), `audience` |
//! | `google` | `client_id` (one or several) | |
//! | `oidc` | `issuer`, `audience` | `jwks_url` (default: the discovery document's `jwks_uri`) |
//!
//! Every kind also takes `jwks_url` (where its keys are, instead of the provider's
//! usual place), `algorithms` (instead of the kind's pinned ones; never a symmetric one
//! with keys from a JWKS), `roles_claim` (one or several dotted paths read for `roles`),
//! `token_type` (the `typ` header required, e.g. `at+jwt`) and `jwks_refetch_interval`
//! (the least time between two fetches caused by an unknown `kid`; default 30s).

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::{Deserialize, Deserializer, Serialize};
use switchyard_core::Secret;

use crate::config::HumanDuration;

/// The kinds of issuer, each with its provider's conventions (`kinds.rs`).
pub(crate) const KINDS: &[&str] = &["stack_auth", "supabase", "auth0", "clerk", "google", "oidc"];

/// The default least time between two fetches of a JWKS for an unknown `kid`.
pub(crate) const DEFAULT_REFETCH: Duration = Duration::from_secs(30);

/// One `[[auth.issuers]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// How requests and answers name the issuer: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
    pub name: String,
    /// `stack_auth`, `supabase`, `auth0`, `clerk`, `google` or `oidc`.
    pub kind: String,
    /// `stack_auth`: the project's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `supabase`: `https://<ref>.supabase.co`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_url: Option<String>,
    /// `supabase`, legacy projects: the HS256 JWT secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<Secret<String>>,
    /// `auth0`: the tenant's domain (`tenant.eu.auth0.com`, or a custom domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Accepted `aud` values (one or several): `auth0` (the API identifier), `oidc`;
    /// optional for `supabase` and `clerk`.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub audience: Vec<String>,
    /// `clerk`: the Frontend API URL (`https://clerk.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend_api: Option<String>,
    /// `clerk`: accepted `azp` values (the application's origins); empty: not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_parties: Vec<String>,
    /// `google`: the OAuth client id (or several), the tokens' `aud`.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub client_id: Vec<String>,
    /// `oidc`: the issuer's URL, exactly as in its tokens' `iss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Where the keys are, instead of the kind's usual place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Accepted `alg` values, instead of the kind's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// Dotted claim paths read for `roles` (one or several), instead of the kind's.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles_claim: Vec<String>,
    /// The `typ` header tokens must carry (e.g. `at+jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The least time between two fetches of the JWKS caused by an unknown `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_refetch_interval: Option<HumanDuration>,
}

impl IssuerConfig {
    /// An entry of `kind` named `name`, every other field empty.
    pub fn new(name: &str, kind: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            project_id: None,
            project_url: None,
            jwt_secret: None,
            domain: None,
            audience: Vec::new(),
            frontend_api: None,
            authorized_parties: Vec::new(),
            client_id: Vec::new(),
            issuer: None,
            jwks_url: None,
            algorithms: Vec::new(),
            roles_claim: Vec::new(),
            token_type: None,
            jwks_refetch_interval: None,
        }
    }

    pub(crate) fn refetch_interval(&self) -> Duration {
        self.jwks_refetch_interval.map_or(DEFAULT_REFETCH, |d| d.0)
    }
}

/// A string or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(s) => vec![s],
        Raw::Many(v) => v,
    })
}

/// An `http://` or `https://` URL with a host.
pub(crate) fn url_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// A host name (`tenant.eu.auth0.com`, `127.0.0.1:8080`) or an http(s) URL with no path.
fn host_or_origin_ok(value: &str) -> bool {
    if value.contains("://") {
        url_ok(value) && {
            let rest = value.split_once("://").map_or("", |(_, r)| r);
            rest.trim_end_matches('/').split(['/', '?', '#']).count() == 1
        }
    } else {
        !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    }
}

/// Algorithms usable with keys from a JWKS (asymmetric).
pub(crate) fn asymmetric(alg: Algorithm) -> bool {
    alg.family() != AlgorithmFamily::Hmac
}

/// The first problem of `[[auth.issuers]]`, as `(key, what is expected)`.
pub(crate) fn config_problem(issuers: &[IssuerConfig]) -> Option<(String, String)> {
    let mut names = HashSet::new();
    for (i, c) in issuers.iter().enumerate() {
        let key = |field: &str| format!("auth.issuers[{i}].{field}");
        let problem = |field: &str, expected: &str| Some((key(field), expected.to_string()));
        if !super::super::pool_name_ok(&c.name) {
            return problem(
                "name",
                "1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit",
            );
        }
        if !names.insert(c.name.as_str()) {
            return Some((key("name"), format!("{:?} names two issuers", c.name)));
        }
        if !KINDS.contains(&c.kind.as_str()) {
            return Some((key("kind"), format!("one of {}", KINDS.join(", "))));
        }
        if let Some(p) = kind_problem(c) {
            return Some((key(p.0), p.1));
        }
        if let Some(url) = &c.jwks_url
            && !url_ok(url)
        {
            return problem("jwks_url", "an http:// or https:// URL");
        }
        if let Some(p) = algorithms_problem(c) {
            return problem("algorithms", &p);
        }
        if c.roles_claim
            .iter()
            .any(|p| p.is_empty() || p.split('.').any(str::is_empty))
        {
            return problem(
                "roles_claim",
                "dotted claim paths such as \"app_metadata.roles\"",
            );
        }
        if c.token_type.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return problem("token_type", "a typ header value such as \"at+jwt\"");
        }
        if let Some(d) = c.jwks_refetch_interval
            && !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d.0)
        {
            return problem("jwks_refetch_interval", "between 1s and 1h");
        }
        if c.audience
            .iter()
            .chain(&c.client_id)
            .chain(&c.authorized_parties)
            .any(|a| a.is_empty())
        {
            let field = if c.audience.iter().any(String::is_empty) {
                "audience"
            } else if c.client_id.iter().any(String::is_empty) {
                "client_id"
            } else {
                "authorized_parties"
            };
            return problem(field, "non-empty strings");
        }
    }
    None
}

/// The fields `c.kind` requires and those it does not take.
fn kind_problem(c: &IssuerConfig) -> Option<(&'static str, String)> {
    let given: [(&'static str, bool); 7] = [
        ("project_id", c.project_id.is_some()),
        ("project_url", c.project_url.is_some()),
        ("jwt_secret", c.jwt_secret.is_some()),
        ("domain", c.domain.is_some()),
        ("frontend_api", c.frontend_api.is_some()),
        ("client_id", !c.client_id.is_empty()),
        ("issuer", c.issuer.is_some()),
    ];
    let (required, optional): (&[&str], &[&str]) = match c.kind.as_str() {
        "stack_auth" => (&["project_id"], &[]),
        "supabase" => (&["project_url"], &["jwt_secret"]),
        "auth0" => (&["domain"], &[]),
        "clerk" => (&["frontend_api"], &[]),
        "google" => (&["client_id"], &[]),
        _ => (&["issuer"], &[]),
    };
    for (field, present) in given {
        if !present && required.contains(&field) {
            return Some((field, format!("required for kind {:?}", c.kind)));
        }
        if present && !required.contains(&field) && !optional.contains(&field) {
            return Some((field, format!("not used by kind {:?}", c.kind)));
        }
    }
    let takes_audience = matches!(c.kind.as_str(), "auth0" | "oidc" | "supabase" | "clerk");
    if !takes_audience && !c.audience.is_empty() {
        return Some(("audience", format!("not used by kind {:?}", c.kind)));
    }
    if matches!(c.kind.as_str(), "auth0" | "oidc") && c.audience.is_empty() {
        return Some(("audience", format!("required for kind {:?}", c.kind)));
    }
    if c.kind != "clerk" && !c.authorized_parties.is_empty() {
        return Some((
            "authorized_parties",
            format!("not used by kind {:?}", c.kind),
        ));
    }
    if let Some(id) = &c.project_id
        && (id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Some((
            "project_id",
            "the project's id (letters, digits, '-', '_')".into(),
        ));
    }
    for (field, url) in [("project_url", &c.project_url), ("issuer", &c.issuer)] {
        if let Some(u) = url
            && !url_ok(u)
        {
            return Some((field, "an http:// or https:// URL".into()));
        }
    }
    for (field, value) in [("domain", &c.domain), ("frontend_api", &c.frontend_api)] {
        if let Some(v) = value
            && !host_or_origin_ok(v)
        {
            return Some((
                field,
                "a host name, or an http:// or https:// URL without a path".into(),
            ));
        }
    }
    if let Some(secret) = &c.jwt_secret {
        if secret.expose().len() < 32 {
            return Some((
                "jwt_secret",
                "the project's JWT secret (at least 32 characters)".into(),
            ));
        }
        if c.jwks_url.is_some() {
            return Some(("jwks_url", "not used with jwt_secret (HS256)".into()));
        }
    }
    None
}

fn algorithms_problem(c: &IssuerConfig) -> Option<String> {
    if c.algorithms.is_empty() {
        return None;
    }
    let mut parsed = Vec::new();
    for name in &c.algorithms {
        match name.parse::<Algorithm>() {
            Ok(alg) => parsed.push(alg),
            Err(_) => {
                return Some(format!(
                    "{name:?} is not an algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA (HS256 with jwt_secret)"
                ));
            }
        }
    }
    if c.jwt_secret.is_some() {
        if parsed.iter().any(|a| *a != Algorithm::HS256) {
            return Some("only HS256 with jwt_secret".into());
        }
    } else if parsed.iter().any(|a| !asymmetric(*a)) {
        return Some("asymmetric algorithms only: keys from a JWKS are public".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Vec<IssuerConfig> {
        #[derive(Deserialize)]
        struct Doc {
            issuers: Vec<IssuerConfig>,
        }
        toml::from_str::<Doc>(toml_text).unwrap().issuers
    }

    #[test]
    fn accepts_each_kind_with_its_fields() {
        let issuers = parse(
            r#"
            [[issuers]]
            name = "stack"
            kind = "stack_auth"
            project_id = "5b1c6b2e-1d2f-4b7c-9a55-0c1e8d4f2a10"
            [[issuers]]
            name = "supa"
            kind = "supabase"
            project_url = "https://abcd.supabase.co"
            [[issuers]]
            name = "supa-legacy"
            kind = "supabase"
            project_url = "https://efgh.supabase.co"
            jwt_secret = "super-secret-jwt-token-with-at-least-32-characters"
            [[issuers]]
            name = "a0"
            kind = "auth0"
            domain = "example.eu.auth0.com"
            audience = "https://api.example.com"
            [[issuers]]
            name = "clerk"
            kind = "clerk"
            frontend_api = "https://clerk.example.com"
            authorized_parties = ["https://app.example.com"]
            [[issuers]]
            name = "google"
            kind = "google"
            client_id = ["web.apps.googleusercontent.com", "ios.apps.googleusercontent.com"]
            [[issuers]]
            name = "kc"
            kind = "oidc"
            issuer = "https://id.example.com/realms/main"
            audience = ["api", "web"]
            algorithms = ["RS256", "PS256"]
            roles_claim = "realm_access.roles"
            token_type = "at+jwt"
            jwks_refetch_interval = "10s"
            "#,
        );
        assert_eq!(config_problem(&issuers), None);
        assert_eq!(issuers[5].client_id.len(), 2);
        assert_eq!(issuers[6].roles_claim, vec!["realm_access.roles"]);
        assert_eq!(issuers[6].refetch_interval(), Duration::from_secs(10));
    }

    #[test]
    fn the_secret_is_redacted_when_printed() {
        let issuers = parse(
            r#"
            [[issuers]]
            name = "supa"
            kind = "supabase"
            project_url = "https://abcd.supabase.co"
            jwt_secret = "super-secret-jwt-token-with-at-least-32-characters"
            "#,
        );
        let shown = format!("{:?} {}", issuers[0], toml::to_string(&issuers[0]).unwrap());
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn names_the_first_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name = \"Bad Name\"\nkind = \"google\"\nclient_id = \"x\"",
                "auth.issuers[0].name",
                "1 to 64",
            ),
            (
                "name = \"a\"\nkind = \"okta\"",
                "auth.issuers[0].kind",
                "one of",
            ),
            (
                "name = \"a\"\nkind = \"auth0\"\naudience = \"x\"",
                "auth.issuers[0].domain",
                "required",
            ),
            (
                "name = \"a\"\nkind = \"auth0\"\ndomain = \"t.auth0.com\"",
                "auth.issuers[0].audience",
                "required",
            ),
            (
                "name = \"a\"\nkind = \"google\"\nclient_id = \"x\"\ndomain = \"d\"",
                "auth.issuers[0].domain",
                "not used",
            ),
            (
                "name = \"a\"\nkind = \"google\"\nclient_id = \"x\"\naudience = \"y\"",
                "auth.issuers[0].audience",
                "not used",
            ),
            (
                "name = \"a\"\nkind = \"oidc\"\nissuer = \"id.example.com\"\naudience = \"x\"",
                "auth.issuers[0].issuer",
                "http",
            ),
            (
                "name = \"a\"\nkind = \"oidc\"\nissuer = \"https://id\"\naudience = \"x\"\njwks_url = \"file:///k\"",
                "auth.issuers[0].jwks_url",
                "http",
            ),
            (
                "name = \"a\"\nkind = \"oidc\"\nissuer = \"https://id\"\naudience = \"x\"\nalgorithms = [\"HS256\"]",
                "auth.issuers[0].algorithms",
                "asymmetric",
            ),
            (
                "name = \"a\"\nkind = \"oidc\"\nissuer = \"https://id\"\naudience = \"x\"\nalgorithms = [\"none\"]",
                "auth.issuers[0].algorithms",
                "not an algorithm",
            ),
            (
                "name = \"a\"\nkind = \"supabase\"\nproject_url = \"https://x.supabase.co\"\njwt_secret = \"short\"",
                "auth.issuers[0].jwt_secret",
                "32",
            ),
            (
                "name = \"a\"\nkind = \"stack_auth\"\nproject_id = \"a/b\"",
                "auth.issuers[0].project_id",
                "project's id",
            ),
            (
                "name = \"a\"\nkind = \"clerk\"\nfrontend_api = \"https://clerk.example.com/x\"",
                "auth.issuers[0].frontend_api",
                "without a path",
            ),
            (
                "name = \"a\"\nkind = \"clerk\"\nfrontend_api = \"clerk.example.com\"\nroles_claim = \"a..b\"",
                "auth.issuers[0].roles_claim",
                "dotted",
            ),
            (
                "name = \"a\"\nkind = \"clerk\"\nfrontend_api = \"clerk.example.com\"\njwks_refetch_interval = \"0s\"",
                "auth.issuers[0].jwks_refetch_interval",
                "1s",
            ),
        ];
        for (body, key, expected) in cases {
            let issuers = parse(&format!("[[issuers]]\n{body}"));
            let (k, e) =
                config_problem(&issuers).unwrap_or_else(|| panic!("no problem found in {body}"));
            assert_eq!(&k, key, "{body}");
            assert!(e.contains(expected), "{body}: {e}");
        }
        let twice = parse(
            "[[issuers]]\nname = \"g\"\nkind = \"google\"\nclient_id = \"x\"\n[[issuers]]\nname = \"g\"\nkind = \"google\"\nclient_id = \"y\"",
        );
        assert_eq!(
            config_problem(&twice).map(|p| p.0),
            Some("auth.issuers[1].name".to_string())
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = toml::from_str::<IssuerConfig>("name = \"a\"\nkind = \"google\"\nclientid = \"x\"");
        assert!(r.is_err());
    }
}
