//! Auth: user pools (users, argon2id passwords with bcrypt import, roles and statuses,
//! sessions with rotating refresh tokens, ES256 access tokens published as a JWKS,
//! email verification and password reset through the hub's email, brute-force limits,
//! Google sign-in) and verification of tokens from other issuers.
//!
//! Only the application's backend calls `/v1/auth/…`, with a key holding the `auth`
//! scope; end users reach the hub only for the pools' public keys at
//! `/auth/{pool}/.well-known/…`.

mod config;
mod google;
mod limits;
mod links;
mod passwords;
mod sessions;
mod tokens;
mod users;
mod verify;
mod views;
mod wellknown;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use switchyard_core::auth::UserStatus;
use switchyard_store::Store;
use switchyard_store::vault::Vault;
use utoipa_axum::router::OpenApiRouter;

pub use config::{AuthConfig, HashingConfig, LimitsConfig, PoolConfig};
pub use verify::IssuerConfig;

use crate::http::ApiError;
use crate::messaging::Messaging;

/// A pool name: 1 to 64 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub(crate) fn pool_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A role name: 1 to 64 of `a-z`, `0-9`, `-`, `_`, `:` and `.`.
pub(crate) fn role_ok(role: &str) -> bool {
    (1..=64).contains(&role.len())
        && role.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b':' | b'.')
        })
}

/// How often ended sessions, used links and old counters are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// A new single-use token: 256 random bits, base64url.
pub(crate) fn random_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The hex SHA-256 of a single-use token, which is all the store keeps of it.
pub(crate) fn token_digest(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// What auth needs from the rest of the hub.
#[derive(Debug)]
pub(crate) struct Wiring {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    pub(crate) messaging: Messaging,
    /// The hub's base URL, for pools' default issuers.
    pub(crate) base_url: String,
    /// Whether `base_url` is configured (`public_url`) rather than the listen address.
    pub(crate) fixed_base_url: bool,
}

/// Google sign-in settings of a pool.
#[derive(Debug, Clone)]
pub(crate) struct GoogleClient {
    pub(crate) client_id: String,
    pub(crate) client_secret: switchyard_core::Secret<String>,
    pub(crate) issuer: String,
}

/// A pool as it runs.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) name: String,
    /// Configured, or from the base URL (known once the hub listens).
    issuer: RwLock<String>,
    issuer_fixed: bool,
    pub(crate) access_ttl: Duration,
    pub(crate) idle_ttl: Duration,
    pub(crate) absolute_ttl: Duration,
    pub(crate) roles: Vec<String>,
    pub(crate) default_roles: Vec<String>,
    pub(crate) signup_status: UserStatus,
    pub(crate) require_verified_email: bool,
    pub(crate) verify_url: Option<String>,
    pub(crate) reset_url: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) google: Option<GoogleClient>,
    pub(crate) keys: Arc<tokens::Keys>,
    /// The refresh-token key, read once from the vault (it never changes).
    refresh_key: tokio::sync::OnceCell<Vec<u8>>,
}

impl Pool {
    pub(crate) async fn refresh_key(
        &self,
        vault: &Vault,
    ) -> Result<&[u8], switchyard_store::vault::SecretError> {
        let key = self
            .refresh_key
            .get_or_try_init(|| tokens::refresh_key(vault, &self.name))
            .await?;
        Ok(key.as_slice())
    }

    pub(crate) fn issuer(&self) -> String {
        self.issuer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The auth capability.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    messaging: Messaging,
    pools: HashMap<String, Arc<Pool>>,
    hasher: passwords::Hasher,
    limits: limits::Limits,
    verifier: verify::Verifier,
    client: reqwest::Client,
    /// Identity providers' discovery documents, by issuer (Google sign-in).
    discovery: crate::runtime::ttl::TtlCache<switchyard_providers::auth::oidc::Discovery>,
}

/// The pool's public keys, for verifying its tokens like any other issuer's.
#[derive(Debug)]
struct PoolKeys(Arc<tokens::Keys>);

#[async_trait::async_trait]
impl verify::KeySource for PoolKeys {
    async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, String> {
        serde_json::from_value(self.0.jwks().await).map_err(|e| e.to_string())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Auth {
    pub(crate) fn new(wiring: Wiring, config: &AuthConfig) -> Self {
        let client = switchyard_providers::http_client();
        let mut configured = config.pools.clone();
        if !configured.iter().any(|p| p.name == config::DEFAULT_POOL) {
            configured.push(PoolConfig::default());
        }
        let base = wiring.base_url.trim_end_matches('/').to_string();
        let pools = configured
            .iter()
            .map(|p| {
                let google =
                    p.google_client_id
                        .clone()
                        .or_else(|| env("GOOGLE_CLIENT_ID"))
                        .zip(p.google_client_secret.clone().or_else(|| {
                            env("GOOGLE_CLIENT_SECRET").map(switchyard_core::Secret::new)
                        }))
                        .map(|(client_id, client_secret)| GoogleClient {
                            client_id,
                            client_secret,
                            issuer: p.google_issuer.trim_end_matches('/').to_string(),
                        });
                let pool = Pool {
                    name: p.name.clone(),
                    issuer: RwLock::new(
                        p.issuer
                            .clone()
                            .unwrap_or_else(|| format!("{base}/auth/{}", p.name)),
                    ),
                    issuer_fixed: p.issuer.is_some() || wiring.fixed_base_url,
                    access_ttl: p.access_ttl.0,
                    idle_ttl: p.refresh_idle_ttl.0,
                    absolute_ttl: p.refresh_absolute_ttl.0,
                    roles: p.roles.clone(),
                    default_roles: p.default_roles.clone(),
                    signup_status: UserStatus::parse(&p.signup_status)
                        .unwrap_or(UserStatus::Active),
                    require_verified_email: p.require_verified_email,
                    verify_url: p.verify_url.clone(),
                    reset_url: p.reset_url.clone(),
                    from: p.from.clone(),
                    google,
                    keys: Arc::new(tokens::Keys::new(
                        &p.name,
                        wiring.vault.clone(),
                        p.access_ttl.0,
                    )),
                    refresh_key: tokio::sync::OnceCell::new(),
                };
                (p.name.clone(), Arc::new(pool))
            })
            .collect();
        let auth = Auth {
            inner: Arc::new(Inner {
                store: wiring.store,
                vault: wiring.vault,
                messaging: wiring.messaging,
                pools,
                hasher: passwords::Hasher::new(&config.hashing),
                limits: limits::Limits::new(&config.limits),
                verifier: verify::Verifier::new(&config.issuers, client.clone()),
                client,
                discovery: crate::runtime::ttl::TtlCache::new(64),
            }),
        };
        auth.register_pools();
        auth
    }

    /// Deletes, every [`SWEEP_EVERY`] until `shutdown`, the sessions, link tokens,
    /// sign-in states and limit counters that can no longer be used (sessions and
    /// counters a day after they ended or were last touched).
    pub(crate) fn start(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let auth = self.clone();
        tokio::spawn(async move {
            loop {
                let now = switchyard_core::time::now_ms();
                match auth.store().sweep_auth(now, now - 86_400_000).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        rows = n,
                        "swept ended sessions, used links and old limit counters"
                    ),
                    Err(e) => tracing::warn!(error = %e, "sweeping auth rows failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        })
    }

    /// Stores the built-in mail templates not stored yet.
    pub(crate) async fn prepare(&self) -> Result<(), switchyard_store::StoreError> {
        self.inner
            .messaging
            .seed_templates(&[
                links::VERIFY_EMAIL,
                links::PASSWORD_RESET,
                links::PASSWORD_CHANGED,
            ])
            .await
    }

    /// Lets the verifier check the pools' tokens under their current issuers.
    fn register_pools(&self) {
        for pool in self.inner.pools.values() {
            self.inner.verifier.add(verify::Spec {
                name: pool.name.clone(),
                issuers: vec![pool.issuer()],
                audiences: vec![pool.name.clone()],
                authorized_parties: Vec::new(),
                algorithms: vec![jsonwebtoken::Algorithm::ES256],
                keys: verify::Keys::Local(Arc::new(PoolKeys(pool.keys.clone()))),
                token_type: Some("at+jwt".into()),
                roles_claims: vec!["roles".into()],
            });
        }
    }

    /// Without `public_url`, the pools' default issuers name where the hub listens.
    pub(crate) fn listening_on(&self, addr: std::net::SocketAddr) {
        for pool in self.inner.pools.values().filter(|p| !p.issuer_fixed) {
            *pool.issuer.write().unwrap_or_else(|e| e.into_inner()) =
                format!("http://{addr}/auth/{}", pool.name);
        }
        self.register_pools();
    }

    /// The `/v1/auth` routes.
    pub(crate) fn api(&self) -> OpenApiRouter {
        users::router()
            .merge(sessions::router())
            .merge(links::router())
            .merge(google::router())
            .with_state(self.clone())
            .merge(self.inner.verifier.router())
    }

    /// `/auth/{pool}/.well-known/…`, without a key.
    pub(crate) fn public(&self) -> OpenApiRouter {
        wellknown::router().with_state(self.clone())
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The pool named in a path, or 404.
    fn pool(&self, name: &str) -> Result<Arc<Pool>, ApiError> {
        self.inner.pools.get(name).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "pool_not_found",
                format!("no user pool is named {name:?}; pools are configured as [[auth.pools]]"),
            )
        })
    }
}
