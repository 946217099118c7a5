//! The checks of one token against one spec, in this order: the header's `alg` against
//! the spec's allow-list (never `none`, never a symmetric algorithm with public keys),
//! the key (only from the spec's source: `jku`, `x5u` and `jwk` headers are ignored),
//! the signature, then — only once the signature holds — `typ`, `exp` and `nbf` (with
//! [`LEEWAY`]), `iss`, `aud`, `azp` and `sub`.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::config::asymmetric;
use super::{Refusal, Spec, Verified};

/// Clock skew allowed on `exp` and `nbf`.
pub(crate) const LEEWAY_SECS: i64 = 30;
/// The longest token looked at.
const MAX_TOKEN: usize = 16 * 1024;
/// Keys tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

pub(super) fn refuse(reason: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
    }
}

/// A token cut into its parts, header and claims read but nothing trusted yet.
#[derive(Debug, Clone)]
pub(super) struct Parts<'a> {
    pub(super) header: Map<String, Value>,
    pub(super) claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    signed: &'a str,
    signature: &'a str,
    /// The whole token, trimmed.
    whole: &'a str,
}

fn object(segment: &str, what: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| refuse("malformed", format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(refuse(
            "malformed",
            format!("the {what} is not a JSON object"),
        )),
    }
}

impl<'a> Parts<'a> {
    /// A compact JWS of three parts; anything else is `malformed`.
    pub(super) fn parse(token: &'a str) -> Result<Self, Refusal> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(refuse(
                "malformed",
                format!("a token is 1 to {MAX_TOKEN} bytes"),
            ));
        }
        let mut it = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(refuse(
                "malformed",
                "a token is three base64url parts joined by '.'",
            ));
        };
        Ok(Parts {
            header: object(h, "header")?,
            claims: object(p, "payload")?,
            signed: &token[..h.len() + 1 + p.len()],
            signature: s,
            whole: token,
        })
    }

    /// The whole token.
    pub(super) fn token(&self) -> &'a str {
        self.whole
    }

    /// The `iss` claim, unverified: which spec to check the token against.
    pub(super) fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    pub(super) fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

/// The header's algorithm, if `spec` allows it.
pub(super) fn algorithm(
    spec: &Spec,
    parts: &Parts<'_>,
    symmetric_keys: bool,
) -> Result<Algorithm, Refusal> {
    let Some(name) = parts.header.get("alg").and_then(Value::as_str) else {
        return Err(refuse("malformed", "the header has no \"alg\""));
    };
    if name.eq_ignore_ascii_case("none") {
        return Err(refuse(
            "algorithm_not_allowed",
            "unsigned tokens (alg \"none\") are refused",
        ));
    }
    let allowed = || {
        let names: Vec<String> = spec.algorithms.iter().map(|a| format!("{a:?}")).collect();
        names.join(", ")
    };
    let alg = Algorithm::from_str(name).map_err(|_| {
        refuse(
            "algorithm_not_allowed",
            format!("alg {name:?} is not one of {}", allowed()),
        )
    })?;
    if !spec.algorithms.contains(&alg) || asymmetric(alg) == symmetric_keys {
        return Err(refuse(
            "algorithm_not_allowed",
            format!("alg {name:?} is not one of {}", allowed()),
        ));
    }
    if parts.header.contains_key("crit") {
        return Err(refuse(
            "malformed",
            "the header names critical extensions (\"crit\"), which are not supported",
        ));
    }
    Ok(alg)
}

/// Whether `jwk` is a signing key for `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return false;
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|a| a != KeyAlgorithm::from(alg))
    {
        return false;
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), a) => matches!(
            a,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        // Symmetric keys never come from a key set.
        _ => false,
    }
}

/// The keys of `keys` to try for the token: those with its `kid` (all of them when it
/// names none) that fit `alg`.
pub(super) fn candidates(
    keys: &[Jwk],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Vec<DecodingKey>, Refusal> {
    let named: Vec<&Jwk> = match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .collect(),
        None => keys.iter().collect(),
    };
    if let Some(kid) = kid
        && named.is_empty()
    {
        return Err(refuse(
            "unknown_key",
            format!("the issuer's keys have no kid {kid:?}"),
        ));
    }
    let fitting: Vec<DecodingKey> = named
        .into_iter()
        .filter(|k| fits(k, alg))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .take(MAX_CANDIDATES)
        .collect();
    if fitting.is_empty() {
        let which = kid.map_or("no key".to_string(), |k| format!("key {k:?}"));
        return Err(refuse(
            "unknown_key",
            format!("the issuer has {which} for {alg:?}"),
        ));
    }
    Ok(fitting)
}

/// Whether one of `keys` signed the token.
pub(super) fn signature(
    parts: &Parts<'_>,
    alg: Algorithm,
    keys: &[DecodingKey],
) -> Result<(), Refusal> {
    let ok = keys.iter().any(|key| {
        jsonwebtoken::crypto::verify(parts.signature, parts.signed.as_bytes(), key, alg)
            .unwrap_or(false)
    });
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "bad_signature",
            "the signature does not match the issuer's key",
        ))
    }
}

fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| {
                refuse(
                    "malformed",
                    format!("\"{name}\" is not a number of seconds"),
                )
            }),
    }
}

fn one_of(value: Option<&Value>, accepted: &[String]) -> bool {
    match value {
        Some(Value::String(s)) => accepted.contains(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|s| accepted.iter().any(|a| a == s)),
        _ => false,
    }
}

/// The `typ` header without an `application/` prefix, lowercase (RFC 8725 §3.11).
fn media_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    t.strip_prefix("application/")
        .map(str::to_string)
        .unwrap_or(t)
}

/// The checks that follow a good signature; `now` in seconds.
pub(super) fn claims(spec: &Spec, parts: Parts<'_>, now: i64) -> Result<Verified, Refusal> {
    if let Some(wanted) = &spec.token_type {
        let typ = parts
            .header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or("");
        if media_type(typ) != media_type(wanted) {
            return Err(refuse(
                "wrong_type",
                format!("the token's typ is {typ:?}, not {wanted:?}"),
            ));
        }
    }
    let c = &parts.claims;
    let exp = seconds(c, "exp")?.ok_or_else(|| refuse("malformed", "the token has no \"exp\""))?;
    if now > exp.saturating_add(LEEWAY_SECS) {
        return Err(refuse(
            "expired",
            format!("the token expired {}s ago", now - exp),
        ));
    }
    if let Some(nbf) = seconds(c, "nbf")?
        && now.saturating_add(LEEWAY_SECS) < nbf
    {
        return Err(refuse(
            "not_yet_valid",
            format!("the token is valid from {}s from now", nbf - now),
        ));
    }
    if !spec.issuers.is_empty() && !one_of(c.get("iss").filter(|v| v.is_string()), &spec.issuers) {
        return Err(refuse(
            "wrong_issuer",
            format!("the token's iss is not {}", spec.issuers.join(" or ")),
        ));
    }
    if !spec.audiences.is_empty() && !one_of(c.get("aud"), &spec.audiences) {
        return Err(refuse(
            "wrong_audience",
            format!("the token's aud is not {}", spec.audiences.join(" or ")),
        ));
    }
    if !spec.authorized_parties.is_empty()
        && !one_of(
            c.get("azp").filter(|v| v.is_string()),
            &spec.authorized_parties,
        )
    {
        return Err(refuse(
            "wrong_party",
            format!(
                "the token's azp is not {}",
                spec.authorized_parties.join(" or ")
            ),
        ));
    }
    let sub = match c.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return Err(refuse("malformed", "the token has no \"sub\"")),
    };
    let email = c.get("email").and_then(Value::as_str).map(str::to_string);
    let email_verified = match c.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    let roles = roles(c, &spec.roles_claims);
    Ok(Verified {
        issuer: spec.name.clone(),
        sub,
        email,
        email_verified,
        roles,
        expires_at: switchyard_core::time::rfc3339(exp.saturating_mul(1000)),
        claims: Value::Object(parts.claims),
    })
}

/// The claim at `path`: a top-level claim of that exact name (`https://example.com/roles`)
/// first, else the dotted path.
fn at_path<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut segments = path.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// The strings at each of `paths` (a string or an array of strings), once each.
pub(super) fn roles(claims: &Map<String, Value>, paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|r| r == s) {
            out.push(s.to_string());
        }
    };
    for path in paths {
        match at_path(claims, path) {
            Some(Value::String(s)) => push(s),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_come_from_dotted_paths_and_namespaced_claims() {
        let claims = json!({
            "app_metadata": {"roles": ["admin", "editor"]},
            "o": {"rol": "org:admin"},
            "https://example.com/roles": ["billing", "admin"],
            "roles": "single",
            "nested": {"not": {"a": 1}},
        });
        let claims = claims.as_object().unwrap();
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            roles(claims, &paths(&["app_metadata.roles"])),
            ["admin", "editor"]
        );
        assert_eq!(roles(claims, &paths(&["o.rol"])), ["org:admin"]);
        assert_eq!(
            roles(
                claims,
                &paths(&["app_metadata.roles", "https://example.com/roles"])
            ),
            ["admin", "editor", "billing"]
        );
        assert_eq!(roles(claims, &paths(&["roles"])), ["single"]);
        assert!(roles(claims, &paths(&["nested.not", "missing.path"])).is_empty());
    }

    #[test]
    fn tokens_that_are_not_three_json_parts_are_malformed() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"u"}"#);
        for token in [
            "",
            "abc",
            "a.b",
            &format!("{h}.{p}.s.x.y"),
            &format!("{h}.!!.s"),
            &format!("{h}.{}.s", URL_SAFE_NO_PAD.encode(b"[1]")),
        ] {
            let e = Parts::parse(token).unwrap_err();
            assert_eq!(e.reason, "malformed", "{token}");
        }
        let token = format!("{h}.{p}.sig");
        let parts = Parts::parse(&token).unwrap();
        assert_eq!(parts.signed, format!("{h}.{p}"));
        assert_eq!(parts.signature, "sig");
    }

    #[test]
    fn typ_compares_media_types() {
        assert_eq!(media_type("application/AT+JWT"), "at+jwt");
        assert_eq!(media_type("at+jwt"), "at+jwt");
        assert_ne!(media_type("JWT"), media_type("at+jwt"));
    }
}
