//! Each kind of issuer's conventions: where its keys are, its `iss` and `aud`, its
//! algorithms and where its tokens carry roles.
//!
//! | kind | keys | `iss` | `aud` | alg | roles |
//! |---|---|---|---|---|---|
//! | `stack_auth` | `https://api.stack-auth.com/api/v1/projects/<id>/.well-known/jwks.json` | `https://api.stack-auth.com/api/v1/projects/<id>` | `<id>` | ES256 | none |
//! | `supabase` | `<project_url>/auth/v1/.well-known/jwks.json`, or `jwt_secret` | `<project_url>/auth/v1` | `authenticated` | ES256, RS256 (HS256 with the secret) | `app_metadata.roles` |
//! | `auth0` | `https://<domain>/.well-known/jwks.json` | `https://<domain>/` | `audience` | RS256 | `permissions` |
//! | `clerk` | `<frontend_api>/.well-known/jwks.json` | `<frontend_api>` | not checked | RS256 | `org_role`, `o.rol` |
//! | `google` | `https://www.googleapis.com/oauth2/v3/certs` | `https://accounts.google.com`, `accounts.google.com` | `client_id` | RS256 | none |
//! | `oidc` | `jwks_url`, else the discovery document's `jwks_uri` | `issuer` | `audience` | RS256, ES256 | `roles` |
//!
//! Stack Auth's anonymous and restricted users have their own `iss` and `aud`, which
//! are refused (`wrong_issuer`).

use jsonwebtoken::Algorithm;
use switchyard_core::Secret;

use super::config::IssuerConfig;
use super::{Keys, Spec};

const STACK_AUTH_API: &str = "https://api.stack-auth.com/api/v1/projects";
const GOOGLE_JWKS: &str = "https://www.googleapis.com/oauth2/v3/certs";
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
const DISCOVERY: &str = switchyard_providers::auth::jwks::DISCOVERY_PATH;

/// What an origin given as a host or a URL is: `https://host` or the URL, no trailing `/`.
fn origin(value: &str) -> String {
    let value = value.trim_end_matches('/');
    if value.contains("://") {
        value.to_string()
    } else {
        format!("https://{value}")
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The spec of a valid `[[auth.issuers]]` entry (`config_problem` found nothing).
pub(super) fn spec(c: &IssuerConfig) -> Spec {
    let mut algorithms = vec![Algorithm::RS256];
    let mut audiences = c.audience.clone();
    let mut authorized_parties = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    let mut secret = None;
    let (issuers, jwks_url) = match c.kind.as_str() {
        "stack_auth" => {
            let id = c.project_id.clone().unwrap_or_default();
            let base = format!("{STACK_AUTH_API}/{id}");
            algorithms = vec![Algorithm::ES256];
            audiences = vec![id];
            (vec![base.clone()], format!("{base}/.well-known/jwks.json"))
        }
        "supabase" => {
            let base = format!("{}/auth/v1", origin(c.project_url.as_deref().unwrap_or("")));
            if audiences.is_empty() {
                audiences = vec!["authenticated".into()];
            }
            roles = strings(&["app_metadata.roles"]);
            if let Some(s) = &c.jwt_secret {
                secret = Some(s.expose().as_bytes().to_vec());
                algorithms = vec![Algorithm::HS256];
            } else {
                algorithms = vec![Algorithm::ES256, Algorithm::RS256];
            }
            (vec![base.clone()], format!("{base}/.well-known/jwks.json"))
        }
        "auth0" => {
            let base = origin(c.domain.as_deref().unwrap_or(""));
            roles = strings(&["permissions"]);
            (
                vec![format!("{base}/")],
                format!("{base}/.well-known/jwks.json"),
            )
        }
        "clerk" => {
            let base = origin(c.frontend_api.as_deref().unwrap_or(""));
            authorized_parties = c.authorized_parties.clone();
            roles = strings(&["org_role", "o.rol"]);
            (vec![base.clone()], format!("{base}/.well-known/jwks.json"))
        }
        "google" => {
            audiences = c.client_id.clone();
            (strings(&GOOGLE_ISSUERS), GOOGLE_JWKS.to_string())
        }
        _ => {
            let issuer = c.issuer.clone().unwrap_or_default();
            algorithms = vec![Algorithm::RS256, Algorithm::ES256];
            roles = strings(&["roles"]);
            let discovery = format!("{}{DISCOVERY}", issuer.trim_end_matches('/'));
            (vec![issuer], discovery)
        }
    };
    if !c.algorithms.is_empty() {
        algorithms = c.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
    }
    if !c.roles_claim.is_empty() {
        roles = c.roles_claim.clone();
    }
    let keys = match secret {
        Some(bytes) => Keys::Secret(Secret::new(bytes)),
        None => Keys::Remote {
            jwks_url: c.jwks_url.clone().unwrap_or(jwks_url),
        },
    };
    Spec {
        name: c.name.clone(),
        issuers,
        audiences,
        authorized_parties,
        algorithms,
        keys,
        token_type: c.token_type.clone(),
        roles_claims: roles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(spec: &Spec) -> &str {
        match &spec.keys {
            Keys::Remote { jwks_url } => jwks_url,
            other => panic!("expected a JWKS, got {other:?}"),
        }
    }

    #[test]
    fn stack_auth() {
        let mut c = IssuerConfig::new("s", "stack_auth");
        c.project_id = Some("p-1".into());
        let s = spec(&c);
        assert_eq!(
            s.issuers,
            ["https://api.stack-auth.com/api/v1/projects/p-1"]
        );
        assert_eq!(s.audiences, ["p-1"]);
        assert_eq!(s.algorithms, [Algorithm::ES256]);
        assert_eq!(
            remote(&s),
            "https://api.stack-auth.com/api/v1/projects/p-1/.well-known/jwks.json"
        );
    }

    #[test]
    fn supabase_with_keys_or_the_legacy_secret() {
        let mut c = IssuerConfig::new("s", "supabase");
        c.project_url = Some("https://abcd.supabase.co/".into());
        let s = spec(&c);
        assert_eq!(s.issuers, ["https://abcd.supabase.co/auth/v1"]);
        assert_eq!(s.audiences, ["authenticated"]);
        assert_eq!(s.algorithms, [Algorithm::ES256, Algorithm::RS256]);
        assert_eq!(
            remote(&s),
            "https://abcd.supabase.co/auth/v1/.well-known/jwks.json"
        );
        c.jwt_secret = Some(Secret::new("x".repeat(40)));
        let s = spec(&c);
        assert_eq!(s.algorithms, [Algorithm::HS256]);
        assert!(matches!(&s.keys, Keys::Secret(k) if k.expose() == &b"x".repeat(40)));
    }

    #[test]
    fn auth0_issuer_has_a_trailing_slash() {
        let mut c = IssuerConfig::new("a", "auth0");
        c.domain = Some("example.eu.auth0.com".into());
        c.audience = vec!["https://api.example.com".into()];
        let s = spec(&c);
        assert_eq!(s.issuers, ["https://example.eu.auth0.com/"]);
        assert_eq!(s.audiences, ["https://api.example.com"]);
        assert_eq!(s.algorithms, [Algorithm::RS256]);
        assert_eq!(
            remote(&s),
            "https://example.eu.auth0.com/.well-known/jwks.json"
        );
    }

    #[test]
    fn clerk_checks_azp_and_not_aud() {
        let mut c = IssuerConfig::new("c", "clerk");
        c.frontend_api = Some("clerk.example.com".into());
        c.authorized_parties = vec!["https://app.example.com".into()];
        let s = spec(&c);
        assert_eq!(s.issuers, ["https://clerk.example.com"]);
        assert!(s.audiences.is_empty());
        assert_eq!(s.authorized_parties, ["https://app.example.com"]);
        assert_eq!(
            remote(&s),
            "https://clerk.example.com/.well-known/jwks.json"
        );
    }

    #[test]
    fn google_takes_both_issuer_spellings() {
        let mut c = IssuerConfig::new("g", "google");
        c.client_id = vec!["web.apps.googleusercontent.com".into()];
        let s = spec(&c);
        assert_eq!(
            s.issuers,
            ["https://accounts.google.com", "accounts.google.com"]
        );
        assert_eq!(s.audiences, ["web.apps.googleusercontent.com"]);
        assert_eq!(remote(&s), "https://www.googleapis.com/oauth2/v3/certs");
    }

    #[test]
    fn oidc_discovers_its_keys_unless_told_and_takes_overrides() {
        let mut c = IssuerConfig::new("o", "oidc");
        c.issuer = Some("https://id.example.com/realms/main/".into());
        c.audience = vec!["api".into()];
        let s = spec(&c);
        assert_eq!(s.issuers, ["https://id.example.com/realms/main/"]);
        assert_eq!(s.algorithms, [Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(s.roles_claims, ["roles"]);
        assert_eq!(
            remote(&s),
            "https://id.example.com/realms/main/.well-known/openid-configuration"
        );
        c.jwks_url = Some("http://127.0.0.1:9/certs".into());
        c.algorithms = vec!["PS256".into()];
        c.roles_claim = vec!["realm_access.roles".into()];
        c.token_type = Some("at+jwt".into());
        let s = spec(&c);
        assert_eq!(remote(&s), "http://127.0.0.1:9/certs");
        assert_eq!(s.algorithms, [Algorithm::PS256]);
        assert_eq!(s.roles_claims, ["realm_access.roles"]);
        assert_eq!(s.token_type.as_deref(), Some("at+jwt"));
    }
}
