//! Auth: the users of each pool, their sessions (refresh-token families), single-use
//! link tokens (stored as digests), Google sign-in states and linked identities, and
//! the counters of the brute-force limits, shared by every node.

use async_trait::async_trait;
use switchyard_core::auth::{Ending, LinkPurpose, Session, User};

use crate::Result;

pub(crate) mod sql;

/// An external identity linked to a user: `(provider, subject)`, e.g. Google's `sub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
}

#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Inserts `user` (and links `identity` to it in the same transaction); `false`
    /// when its pool has a user with that email.
    async fn insert_user(&self, user: &User, identity: Option<Identity<'_>>) -> Result<bool>;
    async fn get_user(&self, pool: &str, id: &str) -> Result<Option<User>>;
    async fn find_user(&self, pool: &str, email: &str) -> Result<Option<User>>;
    /// Writes every field of `user` (found by pool and id), ending its sessions as
    /// `ending` says in the same transaction. `None` when there is no such user;
    /// `Some(false)` when another user of the pool has the new email.
    async fn update_user(&self, user: &User, ending: Option<Ending<'_>>) -> Result<Option<bool>>;
    /// Deletes the user with its sessions, identities and link tokens.
    async fn delete_user(&self, pool: &str, id: &str) -> Result<bool>;

    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn get_session(&self, pool: &str, id: &str) -> Result<Option<Session>>;
    /// Moves a live session's counter from `counter` to `counter + 1`; `false` when
    /// it no longer is at `counter` (another rotation won) or has ended.
    async fn rotate_session(&self, pool: &str, id: &str, counter: i64, now: i64) -> Result<bool>;
    /// Ends one live session; whether it was live.
    async fn end_session(&self, pool: &str, id: &str, reason: &str, now: i64) -> Result<bool>;
    /// Ends every live session of a user; how many.
    async fn end_user_sessions(&self, pool: &str, user_id: &str, ending: Ending<'_>)
    -> Result<u64>;
    /// The user's sessions not ended and not past `expires_at`, newest first.
    async fn live_sessions(&self, pool: &str, user_id: &str, now: i64) -> Result<Vec<Session>>;

    /// Stores a link token's digest; earlier tokens of the same purpose for the user
    /// stop working.
    async fn insert_link(
        &self,
        digest: &str,
        pool: &str,
        purpose: LinkPurpose,
        user_id: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// Takes a link token: the user it was for, once, if it has not expired.
    async fn consume_link(
        &self,
        digest: &str,
        pool: &str,
        purpose: LinkPurpose,
        now: i64,
    ) -> Result<Option<String>>;

    /// Stores a sign-in state (`data` is opaque to the store).
    async fn insert_oauth_state(
        &self,
        digest: &str,
        pool: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// Takes a sign-in state, once, if it has not expired.
    async fn take_oauth_state(&self, digest: &str, pool: &str, now: i64) -> Result<Option<String>>;
    async fn find_identity(&self, pool: &str, identity: Identity<'_>) -> Result<Option<String>>;
    /// Links an identity to a user; `false` when it is linked already.
    async fn link_identity(
        &self,
        pool: &str,
        identity: Identity<'_>,
        user_id: &str,
        now: i64,
    ) -> Result<bool>;

    /// A limit's counter: `(count, last_at)`.
    async fn limit_get(&self, key: &str) -> Result<Option<(i64, i64)>>;
    /// Counts one more at `now`; the new count.
    async fn limit_count(&self, key: &str, now: i64) -> Result<i64>;
    /// Counts one more at `now` only if the last was at or before `before`; whether it
    /// did (a cooldown taken).
    async fn limit_take(&self, key: &str, now: i64, before: i64) -> Result<bool>;
    async fn limit_clear(&self, key: &str) -> Result<()>;

    /// Deletes what can no longer be used: sessions ended or expired before `before`,
    /// link tokens and sign-in states expired before `now`, and limit counters last
    /// touched before `before`. How many rows went.
    async fn sweep_auth(&self, now: i64, before: i64) -> Result<u64>;
}
