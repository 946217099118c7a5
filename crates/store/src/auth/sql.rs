//! Auth: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const USER_COLUMNS: &str = "id, pool, email, email_verified, password_hash, roles,
    status, metadata, created_at, updated_at";

pub(crate) const SESSION_COLUMNS: &str = "id, pool, user_id, counter, created_at, rotated_at,
    last_used_at, expires_at, revoked_at, revoked_reason, client_ip, user_agent";

/// Ends the live sessions of `$1`/`$2` as `$3` at `$4`, except `$5`.
pub(crate) const END_USER_SESSIONS: &str = "UPDATE auth_sessions SET revoked_at = $4,
    revoked_reason = $3 WHERE pool = $1 AND user_id = $2 AND revoked_at IS NULL
    AND ($5 IS NULL OR id <> $5)";

macro_rules! auth_store_impl {
    ($store:ty, $db:ty) => {
        fn auth_user(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::auth::User> {
            let roles: String = row.try_get("roles")?;
            let status: String = row.try_get("status")?;
            let metadata: String = row.try_get("metadata")?;
            Ok(::switchyard_core::auth::User {
                id: row.try_get("id")?,
                pool: row.try_get("pool")?,
                email: row.try_get("email")?,
                email_verified: row.try_get("email_verified")?,
                password_hash: row.try_get("password_hash")?,
                roles: $crate::sql::json(&roles, "user roles")?,
                status: $crate::sql::parse(&status, "user status")?,
                metadata: $crate::sql::json(&metadata, "user metadata")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn auth_session(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::auth::Session> {
            Ok(::switchyard_core::auth::Session {
                id: row.try_get("id")?,
                pool: row.try_get("pool")?,
                user_id: row.try_get("user_id")?,
                counter: row.try_get("counter")?,
                created_at: row.try_get("created_at")?,
                rotated_at: row.try_get("rotated_at")?,
                last_used_at: row.try_get("last_used_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                revoked_reason: row.try_get("revoked_reason")?,
                client_ip: row.try_get("client_ip")?,
                user_agent: row.try_get("user_agent")?,
            })
        }

        #[::async_trait::async_trait]
        impl $crate::auth::AuthStore for $store {
            async fn insert_user(
                &self,
                u: &::switchyard_core::auth::User,
                identity: Option<$crate::auth::Identity<'_>>,
            ) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query(
                    "INSERT INTO auth_users (id, pool, email, email_verified, password_hash, roles,
                        status, metadata, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pool, email) DO NOTHING",
                )
                .bind(&u.id)
                .bind(&u.pool)
                .bind(&u.email)
                .bind(u.email_verified)
                .bind(&u.password_hash)
                .bind(serde_json::to_string(&u.roles).unwrap_or_else(|_| "[]".into()))
                .bind(u.status.as_str())
                .bind(u.metadata.to_string())
                .bind(u.created_at)
                .bind(u.updated_at)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                if let Some(i) = identity {
                    ::sqlx::query(
                        "INSERT INTO auth_identities (pool, provider, subject, user_id, created_at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&u.pool)
                    .bind(i.provider)
                    .bind(i.subject)
                    .bind(&u.id)
                    .bind(u.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, "identity is linked to another user"))?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn get_user(&self, pool: &str, id: &str) -> $crate::Result<Option<::switchyard_core::auth::User>> {
                let sql = format!("SELECT {} FROM auth_users WHERE pool = $1 AND id = $2", $crate::auth::sql::USER_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(pool).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(auth_user).transpose()
            }

            async fn find_user(&self, pool: &str, email: &str) -> $crate::Result<Option<::switchyard_core::auth::User>> {
                let sql = format!("SELECT {} FROM auth_users WHERE pool = $1 AND email = $2", $crate::auth::sql::USER_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(pool).bind(email).fetch_optional(self.reader()).await?;
                row.as_ref().map(auth_user).transpose()
            }

            async fn update_user(
                &self,
                u: &::switchyard_core::auth::User,
                ending: Option<::switchyard_core::auth::Ending<'_>>,
            ) -> $crate::Result<Option<bool>> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query(
                    "UPDATE auth_users SET email = $1, email_verified = $2, password_hash = $3,
                        roles = $4, status = $5, metadata = $6, updated_at = $7
                     WHERE pool = $8 AND id = $9",
                )
                .bind(&u.email)
                .bind(u.email_verified)
                .bind(&u.password_hash)
                .bind(serde_json::to_string(&u.roles).unwrap_or_else(|_| "[]".into()))
                .bind(u.status.as_str())
                .bind(u.metadata.to_string())
                .bind(u.updated_at)
                .bind(&u.pool)
                .bind(&u.id)
                .execute(&mut *tx)
                .await;
                let done = match done {
                    Err(::sqlx::Error::Database(db)) if db.is_unique_violation() => return Ok(Some(false)),
                    other => other?,
                };
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                if let Some(end) = ending {
                    ::sqlx::query($crate::auth::sql::END_USER_SESSIONS)
                        .bind(&u.pool)
                        .bind(&u.id)
                        .bind(end.reason)
                        .bind(end.at)
                        .bind(end.except)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn delete_user(&self, pool: &str, id: &str) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query("DELETE FROM auth_users WHERE pool = $1 AND id = $2")
                    .bind(pool)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                for sql in [
                    "DELETE FROM auth_sessions WHERE pool = $1 AND user_id = $2",
                    "DELETE FROM auth_identities WHERE pool = $1 AND user_id = $2",
                    "DELETE FROM auth_links WHERE pool = $1 AND user_id = $2",
                ] {
                    ::sqlx::query(sql).bind(pool).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_session(&self, s: &::switchyard_core::auth::Session) -> $crate::Result<()> {
                let sql = format!(
                    "INSERT INTO auth_sessions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    $crate::auth::sql::SESSION_COLUMNS
                );
                ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(&s.id)
                    .bind(&s.pool)
                    .bind(&s.user_id)
                    .bind(s.counter)
                    .bind(s.created_at)
                    .bind(s.rotated_at)
                    .bind(s.last_used_at)
                    .bind(s.expires_at)
                    .bind(s.revoked_at)
                    .bind(&s.revoked_reason)
                    .bind(&s.client_ip)
                    .bind(&s.user_agent)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn get_session(&self, pool: &str, id: &str) -> $crate::Result<Option<::switchyard_core::auth::Session>> {
                let sql = format!("SELECT {} FROM auth_sessions WHERE pool = $1 AND id = $2", $crate::auth::sql::SESSION_COLUMNS);
                // From the writer: a rotation just made must be seen.
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(pool).bind(id).fetch_optional(self.writer()).await?;
                row.as_ref().map(auth_session).transpose()
            }

            async fn rotate_session(&self, pool: &str, id: &str, counter: i64, now: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE auth_sessions SET counter = counter + 1, rotated_at = $1, last_used_at = $1
                     WHERE pool = $2 AND id = $3 AND counter = $4 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(pool)
                .bind(id)
                .bind(counter)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn end_session(&self, pool: &str, id: &str, reason: &str, now: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2
                     WHERE pool = $3 AND id = $4 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(reason)
                .bind(pool)
                .bind(id)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn end_user_sessions(
                &self,
                pool: &str,
                user_id: &str,
                end: ::switchyard_core::auth::Ending<'_>,
            ) -> $crate::Result<u64> {
                let done = ::sqlx::query($crate::auth::sql::END_USER_SESSIONS)
                    .bind(pool)
                    .bind(user_id)
                    .bind(end.reason)
                    .bind(end.at)
                    .bind(end.except)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn live_sessions(&self, pool: &str, user_id: &str, now: i64) -> $crate::Result<Vec<::switchyard_core::auth::Session>> {
                let sql = format!(
                    "SELECT {} FROM auth_sessions WHERE pool = $1 AND user_id = $2 AND revoked_at IS NULL
                     AND expires_at > $3 ORDER BY id DESC LIMIT 1000",
                    $crate::auth::sql::SESSION_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(pool)
                    .bind(user_id)
                    .bind(now)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(auth_session).collect()
            }

            async fn insert_link(
                &self,
                digest: &str,
                pool: &str,
                purpose: ::switchyard_core::auth::LinkPurpose,
                user_id: &str,
                expires_at: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer().begin().await?;
                ::sqlx::query("DELETE FROM auth_links WHERE pool = $1 AND user_id = $2 AND purpose = $3")
                    .bind(pool)
                    .bind(user_id)
                    .bind(purpose.as_str())
                    .execute(&mut *tx)
                    .await?;
                ::sqlx::query(
                    "INSERT INTO auth_links (digest, pool, purpose, user_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(digest)
                .bind(pool)
                .bind(purpose.as_str())
                .bind(user_id)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn consume_link(
                &self,
                digest: &str,
                pool: &str,
                purpose: ::switchyard_core::auth::LinkPurpose,
                now: i64,
            ) -> $crate::Result<Option<String>> {
                let row: Option<(String, i64)> = ::sqlx::query_as(
                    "DELETE FROM auth_links WHERE digest = $1 AND pool = $2 AND purpose = $3
                     RETURNING user_id, expires_at",
                )
                .bind(digest)
                .bind(pool)
                .bind(purpose.as_str())
                .fetch_optional(self.writer())
                .await?;
                Ok(row.filter(|(_, expires_at)| *expires_at > now).map(|(user, _)| user))
            }

            async fn insert_oauth_state(&self, digest: &str, pool: &str, data: &str, expires_at: i64) -> $crate::Result<()> {
                ::sqlx::query("DELETE FROM auth_oauth_states WHERE expires_at < $1")
                    .bind(expires_at - 3_600_000)
                    .execute(self.writer())
                    .await?;
                ::sqlx::query("INSERT INTO auth_oauth_states (digest, pool, data, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(digest)
                    .bind(pool)
                    .bind(data)
                    .bind(expires_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn take_oauth_state(&self, digest: &str, pool: &str, now: i64) -> $crate::Result<Option<String>> {
                let row: Option<(String, i64)> = ::sqlx::query_as(
                    "DELETE FROM auth_oauth_states WHERE digest = $1 AND pool = $2 RETURNING data, expires_at",
                )
                .bind(digest)
                .bind(pool)
                .fetch_optional(self.writer())
                .await?;
                Ok(row.filter(|(_, expires_at)| *expires_at > now).map(|(data, _)| data))
            }

            async fn find_identity(&self, pool: &str, i: $crate::auth::Identity<'_>) -> $crate::Result<Option<String>> {
                let row: Option<(String,)> = ::sqlx::query_as(
                    "SELECT user_id FROM auth_identities WHERE pool = $1 AND provider = $2 AND subject = $3",
                )
                .bind(pool)
                .bind(i.provider)
                .bind(i.subject)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(u,)| u))
            }

            async fn link_identity(&self, pool: &str, i: $crate::auth::Identity<'_>, user_id: &str, now: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "INSERT INTO auth_identities (pool, provider, subject, user_id, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pool, provider, subject) DO NOTHING",
                )
                .bind(pool)
                .bind(i.provider)
                .bind(i.subject)
                .bind(user_id)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn limit_get(&self, key: &str) -> $crate::Result<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = ::sqlx::query_as("SELECT count, last_at FROM auth_limits WHERE key = $1")
                    .bind(key)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row)
            }

            async fn limit_count(&self, key: &str, now: i64) -> $crate::Result<i64> {
                let (count,): (i64,) = ::sqlx::query_as(
                    "INSERT INTO auth_limits (key, count, last_at) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO UPDATE SET count = auth_limits.count + 1, last_at = excluded.last_at
                     RETURNING count",
                )
                .bind(key)
                .bind(now)
                .fetch_one(self.writer())
                .await?;
                Ok(count)
            }

            async fn limit_take(&self, key: &str, now: i64, before: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "INSERT INTO auth_limits (key, count, last_at) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO UPDATE SET count = auth_limits.count + 1, last_at = excluded.last_at
                     WHERE auth_limits.last_at <= $3",
                )
                .bind(key)
                .bind(now)
                .bind(before)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sweep_auth(&self, now: i64, before: i64) -> $crate::Result<u64> {
                let mut gone = 0;
                for (sql, at) in [
                    ("DELETE FROM auth_sessions WHERE revoked_at < $1 OR expires_at < $1", before),
                    ("DELETE FROM auth_links WHERE expires_at < $1", now),
                    ("DELETE FROM auth_oauth_states WHERE expires_at < $1", now),
                    ("DELETE FROM auth_limits WHERE last_at < $1", before),
                ] {
                    gone += ::sqlx::query(sql).bind(at).execute(self.writer()).await?.rows_affected();
                }
                Ok(gone)
            }

            async fn limit_clear(&self, key: &str) -> $crate::Result<()> {
                ::sqlx::query("DELETE FROM auth_limits WHERE key = $1").bind(key).execute(self.writer()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use auth_store_impl;
