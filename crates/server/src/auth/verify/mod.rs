//! Verification of JWTs: tokens of configured external issuers (`[[auth.issuers]]`:
//! Stack Auth, Supabase, Auth0, Clerk, Google, any OIDC issuer) and the hub's own pools,
//! behind `POST /v1/auth/verify`; also used to check Google's `id_token` at sign-in.
//!
//! - `config.rs`: the `[[auth.issuers]]` entries and their validation;
//! - `kinds.rs`: each kind's conventions (keys, `iss`, `aud`, algorithms, roles), which
//!   make a [`Spec`] of an entry;
//! - `jwks.rs`: the caches of remote key sets (max-age, single flight, refetch on an
//!   unknown `kid` at most every 30 s, last good set kept when a fetch fails);
//! - `check.rs`: the checks of one token against one spec, signature first;
//! - `routes.rs`: `POST /v1/auth/verify`.
//!
//! A refusal carries a stable reason: `malformed`, `algorithm_not_allowed`,
//! `unknown_key`, `bad_signature`, `wrong_type`, `expired`, `not_yet_valid`,
//! `wrong_issuer`, `wrong_audience`, `wrong_party`, `unknown_issuer`, and
//! `keys_unavailable` when the keys could not be had (answered 503). Neither tokens nor
//! secrets appear in refusals or logs.

use std::fmt::Debug;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use serde::Serialize;
use utoipa::ToSchema;

mod check;
mod config;
mod jwks;
mod kinds;
mod routes;

pub use config::IssuerConfig;
pub(crate) use config::config_problem;

use crate::runtime::ttl::TtlCache;
use check::{Parts, refuse};

/// The reason of a refusal because no keys could be had (503, not 401).
pub(crate) const KEYS_UNAVAILABLE: &str = "keys_unavailable";

/// Where a spec's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Keys {
    /// A JWKS document fetched over HTTP and cached (`jwks.rs`). A URL ending in
    /// `/.well-known/openid-configuration` is a discovery document whose `jwks_uri` is
    /// fetched.
    Remote { jwks_url: String },
    /// A shared secret (HS256 only), e.g. a legacy Supabase project.
    Secret(switchyard_core::Secret<Vec<u8>>),
    /// Keys the hub holds itself (its pools): asked for at every verification, so the
    /// source caches them itself.
    Local(Arc<dyn KeySource>),
}

/// The hub's own public keys, as a JWKS.
#[async_trait::async_trait]
pub(crate) trait KeySource: Send + Sync + Debug {
    async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, String>;
}

/// What one issuer's tokens must be.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Named in answers (`issuer`) and in requests (`issuer?`).
    pub(crate) name: String,
    /// Accepted `iss` values.
    pub(crate) issuers: Vec<String>,
    /// Accepted `aud` values; empty: `aud` is not checked.
    pub(crate) audiences: Vec<String>,
    /// Accepted `azp` values; empty: `azp` is not checked. When set, a token without
    /// `azp` is refused.
    pub(crate) authorized_parties: Vec<String>,
    /// Accepted `alg` values: asymmetric ones for `Remote` and `Local` keys, `HS256`
    /// for `Secret`; any other is refused whatever this list says.
    pub(crate) algorithms: Vec<jsonwebtoken::Algorithm>,
    pub(crate) keys: Keys,
    /// The `typ` header required, e.g. `at+jwt` (`application/` prefix and case ignored).
    pub(crate) token_type: Option<String>,
    /// Dotted claim paths read for `roles` (strings or arrays of strings); a top-level
    /// claim named exactly so (`https://example.com/roles`) is read first.
    pub(crate) roles_claims: Vec<String>,
}

/// A token that passed every check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Verified {
    /// The name of the issuer (or pool) that signed it.
    pub(crate) issuer: String,
    pub(crate) sub: String,
    pub(crate) email: Option<String>,
    /// `email_verified`, as a boolean or the strings `"true"`/`"false"`.
    pub(crate) email_verified: Option<bool>,
    /// From the issuer's roles claims.
    pub(crate) roles: Vec<String>,
    /// RFC 3339.
    pub(crate) expires_at: String,
    /// Every claim of the token.
    #[schema(value_type = Object)]
    pub(crate) claims: serde_json::Value,
}

/// Why a token was refused: `reason` is a stable code (`expired`, `bad_signature`, …).
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) reason: &'static str,
    pub(crate) detail: String,
}

/// The configured issuers and the hub's pools, with their JWKS caches.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    specs: Arc<std::sync::RwLock<Vec<Spec>>>,
    caches: Arc<jwks::Caches>,
    /// Tokens verified lately, by spec and token digest.
    verified: Arc<TtlCache<Verified>>,
}

/// How long a verified token is answered again without its signature being checked,
/// at most (never past its `exp`), so that a key withdrawn from a JWKS stops verifying
/// soon.
const RECENT_FOR_MS: i64 = 60_000;
const RECENT_MAX: usize = 10_000;

/// The key of a token verified against a spec, in [`Verifier::verified`].
fn recent_key(spec: &Spec, token: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(spec.name.as_bytes());
    h.update([0]);
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// How long `v`, verified at `now` (ms), may be answered again.
fn recent_for(v: &Verified, now: i64) -> std::time::Duration {
    let exp_ms = v
        .claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .map_or(0, |e| e.saturating_mul(1000));
    std::time::Duration::from_millis(
        exp_ms.min(now + RECENT_FOR_MS).saturating_sub(now).max(0) as u64
    )
}

impl Verifier {
    /// The verifier of `issuers` (validated by [`config_problem`]; an entry with a
    /// problem is left out), fetching keys with `client`.
    pub(crate) fn new(issuers: &[IssuerConfig], client: reqwest::Client) -> Self {
        let caches = jwks::Caches::new(client);
        let mut specs = Vec::new();
        for c in issuers {
            if let Some((key, expected)) = config_problem(std::slice::from_ref(c)) {
                tracing::error!(issuer = %c.name, %key, %expected, "issuer left out");
                continue;
            }
            let spec = kinds::spec(c);
            if let Keys::Remote { jwks_url } = &spec.keys {
                caches.entry(jwks_url, c.refetch_interval());
            }
            specs.push(spec);
        }
        Verifier {
            specs: Arc::new(std::sync::RwLock::new(specs)),
            caches: Arc::new(caches),
            verified: Arc::new(TtlCache::new(RECENT_MAX)),
        }
    }

    /// Adds a spec (the hub adds one per pool at start), replacing one of the same
    /// name added before (a pool whose issuer became known when the hub listened).
    pub(crate) fn add(&self, spec: Spec) {
        let mut specs = self.specs.write().expect("not poisoned");
        match specs.iter_mut().find(|s| s.name == spec.name) {
            Some(old) => *old = spec,
            None => specs.push(spec),
        }
        self.verified.clear();
    }

    /// Whether a spec is named `name`.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.specs
            .read()
            .expect("not poisoned")
            .iter()
            .any(|s| s.name == name)
    }

    /// Verifies `token` against the named issuer, or the one whose `iss` it claims.
    /// Specs sharing an `iss` are tried in order; the first refusal is answered.
    pub(crate) async fn verify(
        &self,
        token: &str,
        issuer: Option<&str>,
    ) -> Result<Verified, Refusal> {
        let parts = Parts::parse(token)?;
        let specs: Vec<Spec> = {
            let all = self.specs.read().expect("not poisoned");
            match issuer {
                Some(name) => all
                    .iter()
                    .filter(|s| s.name == name)
                    .take(1)
                    .cloned()
                    .collect(),
                None => match parts.issuer() {
                    Some(iss) => all
                        .iter()
                        .filter(|s| s.issuers.iter().any(|i| i == iss))
                        .cloned()
                        .collect(),
                    None => Vec::new(),
                },
            }
        };
        if specs.is_empty() {
            return Err(match issuer {
                Some(name) => refuse("unknown_issuer", format!("no issuer is named {name:?}")),
                None if parts.issuer().is_none() => refuse(
                    "unknown_issuer",
                    "the token has no \"iss\" and no issuer was named",
                ),
                None => refuse("unknown_issuer", "no configured issuer has the token's iss"),
            });
        }
        let mut first = None;
        for spec in &specs {
            match self.check(spec, parts.clone()).await {
                Ok(v) => return Ok(v),
                Err(r) => {
                    first.get_or_insert(r);
                }
            }
        }
        Err(first.expect("at least one spec"))
    }

    /// Verifies `token` against `spec`, which need not be registered (its remote keys
    /// are cached by URL all the same).
    pub(crate) async fn verify_with(&self, spec: &Spec, token: &str) -> Result<Verified, Refusal> {
        self.check(spec, Parts::parse(token)?).await
    }

    async fn check(&self, spec: &Spec, parts: Parts<'_>) -> Result<Verified, Refusal> {
        let symmetric = matches!(spec.keys, Keys::Secret(_));
        let alg = check::algorithm(spec, &parts, symmetric)?;
        let kid = parts.kid();
        let keys: Vec<DecodingKey> = match &spec.keys {
            Keys::Secret(secret) => vec![DecodingKey::from_secret(secret.expose())],
            Keys::Local(source) => {
                let set = source.jwks().await.map_err(|e| {
                    tracing::warn!(issuer = %spec.name, error = %e, "the hub's keys are unavailable");
                    refuse(KEYS_UNAVAILABLE, "the issuer's keys are unavailable; retry shortly")
                })?;
                check::candidates(&set.keys, kid, alg)?
            }
            Keys::Remote { jwks_url } => {
                let cache = self.caches.entry(jwks_url, config::DEFAULT_REFETCH);
                let set = cache.keys(&self.caches.client, kid).await.map_err(|e| {
                    refuse(
                        KEYS_UNAVAILABLE,
                        format!("the issuer's keys are unavailable: {}", e.0),
                    )
                })?;
                check::candidates(&set.keys, kid, alg)?
            }
        };
        // The key is still published: a token verified lately is answered again
        // without its signature being checked anew.
        let now = switchyard_core::time::now_ms();
        let recent = recent_key(spec, parts.token());
        if let Some(v) = self.verified.get(&recent) {
            return Ok(v);
        }
        check::signature(&parts, alg, &keys)?;
        let v = check::claims(spec, parts, now / 1000)?;
        self.verified
            .insert(&recent, v.clone(), recent_for(&v, now));
        Ok(v)
    }

    /// `POST /v1/auth/verify`.
    pub(crate) fn router(&self) -> utoipa_axum::router::OpenApiRouter {
        routes::router().with_state(self.clone())
    }
}

/// The `Retry-After` (seconds) of an answer that found no keys.
pub(crate) fn retry_after_secs() -> u64 {
    jwks::RETRY_WITHOUT_KEYS.as_secs()
}
