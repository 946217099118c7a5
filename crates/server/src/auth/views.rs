//! How users, sessions and token pairs are shown.

use serde::Serialize;
use switchyard_core::auth::{Session, User, UserStatus};
use switchyard_core::time::rfc3339;
use utoipa::ToSchema;

/// A user. The password hash is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct UserView {
    pub(crate) id: String,
    pub(crate) pool: String,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) status: UserStatus,
    pub(crate) metadata: serde_json::Value,
    /// Whether the user can log in with a password.
    pub(crate) has_password: bool,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            pool: u.pool.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            roles: u.roles.clone(),
            status: u.status,
            metadata: u.metadata.clone(),
            has_password: u.password_hash.is_some(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// A live session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SessionView {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) created_at: String,
    pub(crate) last_used_at: String,
    /// When it ends unless used before: the idle limit, or the absolute one.
    pub(crate) expires_at: String,
    pub(crate) client_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl SessionView {
    pub(crate) fn new(s: &Session, idle_ms: i64) -> Self {
        SessionView {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at.min(s.last_used_at + idle_ms)),
            client_ip: s.client_ip.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

/// What a login, a refresh or a sign-in answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TokenPair {
    /// An ES256 JWT (`typ: at+jwt`) any JWT library verifies with the pool's JWKS.
    pub(crate) access_token: String,
    /// Always `Bearer`.
    pub(crate) token_type: &'static str,
    /// Seconds the access token is valid for.
    pub(crate) expires_in: u64,
    /// Single use: each refresh answers a new one.
    pub(crate) refresh_token: String,
    pub(crate) session_id: String,
    pub(crate) user: UserView,
}
