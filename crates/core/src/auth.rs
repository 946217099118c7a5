//! Users of the hub's user pools, their sessions and the single-use tokens of their
//! links (email verification, password reset) and of Google sign-in.

use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Where a user stands. Only `active` users log in; leaving `active` ends every
    /// session.
    pub enum UserStatus {
        Pending = "pending",
        Active = "active",
        Suspended = "suspended",
        Rejected = "rejected",
    }
}

crate::text_enum! {
    /// What a link token is for.
    pub enum LinkPurpose {
        VerifyEmail = "verify_email",
        PasswordReset = "password_reset",
    }
}

/// A user of one pool. Emails are stored lowercased; one per pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub pool: String,
    pub email: String,
    pub email_verified: bool,
    /// A PHC string (`$argon2id$…`) or an imported bcrypt hash (`$2b$…`); `None` for
    /// users who only sign in with Google or through the application.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub status: UserStatus,
    pub metadata: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A login: a refresh-token family. The refresh token names the session and its
/// counter; rotating it bumps the counter, so only the latest token (and, for a few
/// seconds, its direct predecessor) is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub pool: String,
    pub user_id: String,
    pub counter: i64,
    pub created_at: i64,
    /// When the counter last moved (the predecessor's grace runs from here).
    pub rotated_at: i64,
    pub last_used_at: i64,
    /// The absolute end, however much the session is used.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// `logout`, `reuse`, `password_reset`, `status`, `deleted`, `revoked`…
    pub revoked_reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The end of a session, written to every session it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending<'a> {
    pub reason: &'a str,
    pub at: i64,
    /// A session left alive (the one changing the password).
    pub except: Option<&'a str>,
}
