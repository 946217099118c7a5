//! `[auth]`: user pools, the issuers whose tokens the hub verifies, hashing and limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::verify::IssuerConfig;
use crate::config::HumanDuration;

/// The pool that exists without configuration.
pub(crate) const DEFAULT_POOL: &str = "default";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `[[auth.pools]]`: one application's user base each. A pool named `default`
    /// exists with the defaults below unless one is configured under that name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolConfig>,
    /// `[[auth.issuers]]`: identity providers whose tokens `POST /v1/auth/verify` checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<IssuerConfig>,
    pub hashing: HashingConfig,
    pub limits: LimitsConfig,
}

/// One user pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// The `iss` of the pool's tokens. Default: `{public_url}/auth/{pool}`.
    pub issuer: Option<String>,
    pub access_ttl: HumanDuration,
    /// A session unused for this long ends.
    pub refresh_idle_ttl: HumanDuration,
    /// A session ends this long after its login, however much it is used.
    pub refresh_absolute_ttl: HumanDuration,
    /// The roles a user may hold; empty allows any role name.
    pub roles: Vec<String>,
    /// The roles of a user created without any.
    pub default_roles: Vec<String>,
    /// The status of a user created without one: `active` or `pending`.
    pub signup_status: String,
    /// Login refuses (403 `email_not_verified`) users whose email is not verified.
    pub require_verified_email: bool,
    /// The application's page that receives a verification token (`?token=` is added).
    pub verify_url: Option<String>,
    /// The application's page that receives a password-reset token.
    pub reset_url: Option<String>,
    /// The sender of the pool's mails. Default: `email.from` of the messaging section.
    pub from: Option<String>,
    /// Google sign-in. Default: `GOOGLE_CLIENT_ID` / `GOOGLE_CLIENT_SECRET`.
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<Secret<String>>,
    /// Where Google's discovery document is (`{google_issuer}/.well-known/openid-configuration`).
    pub google_issuer: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingConfig {
    /// Password hashes computed at once. Default: one per core.
    pub permits: Option<usize>,
    /// Requests that may wait for a permit; past them the answer is 503.
    pub queue: usize,
    /// The longest a request waits for a permit before 503 with `Retry-After`.
    pub wait: HumanDuration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub enabled: bool,
    /// Attempts a client IP may make in a burst (login, reset, change, confirm).
    pub ip_burst: u32,
    /// Attempts per minute an IP regains after its burst.
    pub ip_per_minute: u32,
    /// Failed logins of one account before each further attempt waits.
    pub account_failures: u32,
    /// The longest that wait grows to (it doubles from 1 s).
    pub account_max_delay: HumanDuration,
    /// Between two reset mails to one address.
    pub reset_cooldown: HumanDuration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_POOL.into(),
            issuer: None,
            access_ttl: HumanDuration(Duration::from_secs(15 * 60)),
            refresh_idle_ttl: HumanDuration(Duration::from_secs(7 * 86_400)),
            refresh_absolute_ttl: HumanDuration(Duration::from_secs(30 * 86_400)),
            roles: Vec::new(),
            default_roles: Vec::new(),
            signup_status: "active".into(),
            require_verified_email: false,
            verify_url: None,
            reset_url: None,
            from: None,
            google_client_id: None,
            google_client_secret: None,
            google_issuer: "https://accounts.google.com".into(),
        }
    }
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            permits: None,
            queue: 64,
            wait: HumanDuration(Duration::from_secs(10)),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ip_burst: 30,
            ip_per_minute: 60,
            account_failures: 5,
            account_max_delay: HumanDuration(Duration::from_secs(15 * 60)),
            reset_cooldown: HumanDuration(Duration::from_secs(60)),
        }
    }
}

impl AuthConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.pools.iter().enumerate() {
            let key = |field: &str| format!("auth.pools[{i}].{field}");
            if !super::pool_name_ok(&p.name) {
                return Some((
                    key("name"),
                    "1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit".into(),
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Some((key("name"), format!("{:?} names two pools", p.name)));
            }
            if !matches!(p.signup_status.as_str(), "active" | "pending") {
                return Some((key("signup_status"), "\"active\" or \"pending\"".into()));
            }
            for (field, d) in [
                ("access_ttl", p.access_ttl.0),
                ("refresh_idle_ttl", p.refresh_idle_ttl.0),
                ("refresh_absolute_ttl", p.refresh_absolute_ttl.0),
            ] {
                if d < Duration::from_secs(10) {
                    return Some((key(field), "at least 10s".into()));
                }
            }
            if p.access_ttl.0 > Duration::from_secs(86_400) {
                return Some((key("access_ttl"), "at most 24h".into()));
            }
            if p.refresh_idle_ttl.0 > p.refresh_absolute_ttl.0 {
                return Some((
                    key("refresh_idle_ttl"),
                    "at most refresh_absolute_ttl".into(),
                ));
            }
            for (field, url) in [
                ("issuer", &p.issuer),
                ("verify_url", &p.verify_url),
                ("reset_url", &p.reset_url),
            ] {
                if let Some(u) = url
                    && !(u.starts_with("http://") || u.starts_with("https://"))
                {
                    return Some((key(field), "an http:// or https:// URL".into()));
                }
            }
            if !(p.google_issuer.starts_with("http://") || p.google_issuer.starts_with("https://"))
            {
                return Some((key("google_issuer"), "an http:// or https:// URL".into()));
            }
            for role in p.default_roles.iter() {
                if !p.roles.is_empty() && !p.roles.contains(role) {
                    return Some((key("default_roles"), format!("{role:?} is not in roles")));
                }
            }
            if let Some(r) = p
                .roles
                .iter()
                .chain(&p.default_roles)
                .find(|r| !super::role_ok(r))
            {
                return Some((
                    key("roles"),
                    format!("{r:?}: 1 to 64 of a-z, 0-9, '-', '_', ':' and '.'"),
                ));
            }
        }
        if let Some(problem) = super::verify::config_problem(&self.issuers) {
            return Some(problem);
        }
        let pools: Vec<&str> = self
            .pools
            .iter()
            .map(|p| p.name.as_str())
            .chain([DEFAULT_POOL])
            .collect();
        if let Some(i) = self
            .issuers
            .iter()
            .position(|i| pools.contains(&i.name.as_str()))
        {
            return Some((
                format!("auth.issuers[{i}].name"),
                format!(
                    "{:?} names a user pool; /v1/auth/verify names pools and issuers alike, so give the issuer another name",
                    self.issuers[i].name
                ),
            ));
        }
        if self.hashing.permits == Some(0) {
            return Some(("auth.hashing.permits".into(), "at least 1".into()));
        }
        if self.limits.ip_burst == 0 || self.limits.ip_per_minute == 0 {
            return Some((
                "auth.limits.ip_burst".into(),
                "at least 1 (use enabled = false to turn limits off)".into(),
            ));
        }
        if self.limits.account_failures == 0 {
            return Some(("auth.limits.account_failures".into(), "at least 1".into()));
        }
        None
    }
}
