//! The parts of the SQL stores that are the same text on SQLite and PostgreSQL (both
//! accept `$n` parameters, `RETURNING` and `ON CONFLICT`). A backend provides `writer()`
//! and `reader()` pools plus the few statements that differ, and this macro writes the
//! rest of the `Store` implementation for it.

pub(crate) const KEY_COLUMNS: &str =
    "id, name, hint, scopes, created_at, expires_at, revoked_at, last_used_at, rotated_from";

pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys
    (id, name, digest, hint, scopes, created_at, expires_at, rotated_from)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const INSERT_FIRST_KEY: &str = "INSERT INTO api_keys
    (id, name, digest, hint, scopes, created_at, expires_at, rotated_from)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8
    WHERE NOT EXISTS (SELECT 1 FROM api_keys)";

macro_rules! sql_store_impl {
    ($store:ty, $db:ty) => {
        use $crate::common::*;
        use ::sqlx::Row as _;

        fn key_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::apikey::ApiKey> {
            Ok(::switchyard_core::apikey::ApiKey {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                hint: row.try_get("hint")?,
                scopes: $crate::scopes_from_db(row.try_get::<&str, _>("scopes")?)?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_used_at: row.try_get("last_used_at")?,
                rotated_from: row.try_get("rotated_from")?,
            })
        }

        fn sealed_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::vault::Sealed> {
            Ok(::switchyard_core::vault::Sealed {
                key_id: row.try_get("key_id")?,
                nonce: row.try_get("nonce")?,
                ciphertext: row.try_get("ciphertext")?,
            })
        }

        fn bind_key<'q>(
            query: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            key: &'q $crate::NewKey,
        ) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            query
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.digest[..])
                .bind(&key.hint)
                .bind(::switchyard_core::apikey::Scope::join(&key.scopes))
                .bind(key.created_at)
                .bind(key.expires_at)
                .bind(&key.rotated_from)
        }

        fn map_unique(e: ::sqlx::Error, what: &str) -> $crate::StoreError {
            match &e {
                ::sqlx::Error::Database(db) if db.is_unique_violation() => {
                    $crate::StoreError::Conflict(what.to_string())
                }
                _ => e.into(),
            }
        }

        #[::async_trait::async_trait]
        impl $crate::KeyStore for $store {
            async fn insert_key(&self, key: &$crate::NewKey) -> $crate::Result<()> {
                bind_key(::sqlx::query(INSERT_KEY), key)
                    .execute(self.writer())
                    .await
                    .map_err(|e| map_unique(e, "api key"))?;
                Ok(())
            }

            async fn insert_first_key(&self, key: &$crate::NewKey) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                Self::lock_bootstrap(&mut tx).await?;
                let done = bind_key(::sqlx::query(INSERT_FIRST_KEY), key).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_key_by_digest(&self, digest: &[u8; 32]) -> $crate::Result<Option<$crate::KeyMatch>> {
                let row = ::sqlx::query(
                    "SELECT id, name, hint, scopes, created_at, expires_at, revoked_at, last_used_at,
                            rotated_from, digest FROM api_keys WHERE digest = $1",
                )
                .bind(&digest[..])
                .fetch_optional(self.reader())
                .await?;
                row.map(|row| Ok($crate::KeyMatch { key: key_from_row(&row)?, digest: row.try_get("digest")? }))
                    .transpose()
            }

            async fn get_key(&self, id: &str) -> $crate::Result<Option<::switchyard_core::apikey::ApiKey>> {
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
                row.as_ref().map(key_from_row).transpose()
            }

            async fn list_keys(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::apikey::ApiKey>> {
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys
                     WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2"
                )))
                .bind(page.cursor.as_deref())
                .bind(i64::from(page.limit))
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(key_from_row).collect()
            }

            async fn revoke_key(&self, id: &str, now: i64) -> $crate::Result<Option<::switchyard_core::apikey::ApiKey>> {
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
                     RETURNING {KEY_COLUMNS}"
                )))
                .bind(id)
                .bind(now)
                .fetch_optional(self.writer())
                .await?;
                row.as_ref().map(key_from_row).transpose()
            }

            async fn rotate_key(
                &self,
                id: &str,
                replacement: &$crate::NewKey,
                old_expires_at: i64,
            ) -> $crate::Result<Option<::switchyard_core::apikey::ApiKey>> {
                let mut tx = self.writer().begin().await?;
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "UPDATE api_keys SET expires_at = CASE
                         WHEN expires_at IS NOT NULL AND expires_at < $2 THEN expires_at ELSE $2 END
                     WHERE id = $1 AND revoked_at IS NULL RETURNING {KEY_COLUMNS}"
                )))
                .bind(id)
                .bind(old_expires_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                bind_key(::sqlx::query(INSERT_KEY), replacement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, "api key"))?;
                tx.commit().await?;
                key_from_row(&row).map(Some)
            }

            async fn touch_key(&self, id: &str, now: i64) -> $crate::Result<()> {
                ::sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl $crate::SecretStore for $store {
            async fn put_secret(&self, id: &str, sealed: &::switchyard_core::vault::Sealed, now: i64) -> $crate::Result<()> {
                ::sqlx::query(
                    "INSERT INTO secrets (id, key_id, nonce, ciphertext, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
                         ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                )
                .bind(id)
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn get_secret(&self, id: &str) -> $crate::Result<Option<::switchyard_core::vault::Sealed>> {
                let row = ::sqlx::query("SELECT key_id, nonce, ciphertext FROM secrets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(sealed_from_row).transpose()
            }

            async fn delete_secret(&self, id: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM secrets WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn secrets_not_under(
                &self,
                key_id: &str,
                limit: u32,
            ) -> $crate::Result<Vec<(String, ::switchyard_core::vault::Sealed)>> {
                let rows = ::sqlx::query(
                    "SELECT id, key_id, nonce, ciphertext FROM secrets WHERE key_id <> $1 ORDER BY id LIMIT $2",
                )
                .bind(key_id)
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get("id")?, sealed_from_row(row)?)))
                    .collect()
            }

            async fn replace_secret(
                &self,
                id: &str,
                expected: &::switchyard_core::vault::Sealed,
                new: &::switchyard_core::vault::Sealed,
                now: i64,
            ) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE secrets SET key_id = $1, nonce = $2, ciphertext = $3, updated_at = $4
                     WHERE id = $5 AND nonce = $6",
                )
                .bind(&new.key_id)
                .bind(&new.nonce)
                .bind(&new.ciphertext)
                .bind(now)
                .bind(id)
                .bind(&expected.nonce)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::queue::JobQueue for $store {
            async fn enqueue(&self, job: &$crate::queue::NewJob) -> $crate::Result<i64> {
                let id: i64 = ::sqlx::query_scalar(Self::ENQUEUE)
                    .bind(&job.kind)
                    .bind(&job.payload)
                    .bind(job.max_attempts)
                    .bind(job.run_at)
                    .bind(::switchyard_core::time::now_ms())
                    .fetch_one(self.writer())
                    .await?;
                self.jobs_enqueued();
                Ok(id)
            }

            async fn claim(
                &self,
                limit: u32,
                lease: ::std::time::Duration,
                now: i64,
            ) -> $crate::Result<Vec<$crate::queue::Job>> {
                let rows = ::sqlx::query(Self::CLAIM)
                    .bind(now + lease.as_millis() as i64)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await?;
                let mut jobs = rows
                    .iter()
                    .map(|row| {
                        Ok($crate::queue::Job {
                            id: row.try_get("id")?,
                            kind: row.try_get("kind")?,
                            payload: row.try_get("payload")?,
                            attempts: row.try_get("attempts")?,
                            max_attempts: row.try_get("max_attempts")?,
                        })
                    })
                    .collect::<$crate::Result<Vec<_>>>()?;
                jobs.sort_by_key(|j| j.id);
                Ok(jobs)
            }

            async fn complete_many(&self, jobs: &[$crate::queue::Job]) -> $crate::Result<Vec<bool>> {
                self.delete_completed(jobs).await
            }

            async fn fail(
                &self,
                job: &$crate::queue::Job,
                error: &str,
                retry_at: i64,
                permanent: bool,
            ) -> $crate::Result<$crate::queue::JobFate> {
                let state: Option<String> = ::sqlx::query_scalar(
                    "UPDATE jobs SET
                         state = CASE WHEN $3 OR attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
                         run_at = $4, lease_until = NULL, last_error = $5, updated_at = $6
                     WHERE id = $1 AND attempts = $2 AND state = 'running' RETURNING state",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(permanent)
                .bind(retry_at)
                .bind(error)
                .bind(::switchyard_core::time::now_ms())
                .fetch_optional(self.writer())
                .await?;
                Ok(match state.as_deref() {
                    None => $crate::queue::JobFate::LostLease,
                    Some("dead") => $crate::queue::JobFate::Dead,
                    Some(_) => {
                        self.notify.notify_waiters();
                        $crate::queue::JobFate::Retrying
                    }
                })
            }

            async fn extend_lease(&self, job: &$crate::queue::Job, until: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND attempts = $2 AND state = 'running'",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(until)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reclaim_expired(&self, now: i64) -> $crate::Result<u64> {
                let done = ::sqlx::query(
                    "UPDATE jobs SET
                         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
                         run_at = $1, lease_until = NULL, updated_at = $1,
                         last_error = 'lease expired: the worker stopped or crashed'
                     WHERE state = 'running' AND lease_until <= $1",
                )
                .bind(now)
                .execute(self.writer())
                .await?;
                if done.rows_affected() > 0 {
                    self.notify.notify_waiters();
                }
                Ok(done.rows_affected())
            }

            async fn next_due(&self) -> $crate::Result<Option<i64>> {
                Ok(::sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'ready'")
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn queue_depth(&self) -> $crate::Result<Vec<$crate::queue::QueueDepth>> {
                let rows = ::sqlx::query(
                    "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state",
                )
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::queue::QueueDepth {
                            kind: row.try_get("kind")?,
                            state: row.try_get("state")?,
                            count: row.try_get("n")?,
                        })
                    })
                    .collect()
            }

            async fn dead_jobs(&self, limit: u32) -> $crate::Result<Vec<$crate::queue::DeadJob>> {
                let rows = ::sqlx::query(
                    "SELECT id, kind, attempts, last_error, updated_at FROM jobs
                     WHERE state = 'dead' ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::queue::DeadJob {
                            id: row.try_get("id")?,
                            kind: row.try_get("kind")?,
                            attempts: row.try_get("attempts")?,
                            last_error: row.try_get("last_error")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            fn job_notifier(&self) -> ::std::sync::Arc<::tokio::sync::Notify> {
                self.notify.clone()
            }
        }

        impl $store {
            async fn run_migrations(&self, apply: bool) -> $crate::Result<Vec<$crate::MigrationStatus>> {
                let mut conn = self.writer().acquire().await?;
                ::sqlx::raw_sql($crate::migrate::CREATE_TABLE).execute(&mut *conn).await?;
                if apply {
                    Self::lock_migrations(&mut conn).await?;
                }
                let result = async {
                    let applied: Vec<(i64, i64)> =
                        ::sqlx::query_as("SELECT version, applied_at FROM schema_migrations")
                            .fetch_all(&mut *conn)
                            .await?;
                    let mut status = $crate::migrate::status(Self::MIGRATIONS, &applied);
                    if !apply {
                        return Ok(status);
                    }
                    for (m, s) in Self::MIGRATIONS.iter().zip(status.iter_mut()) {
                        if s.applied_at.is_some() {
                            continue;
                        }
                        let now = ::switchyard_core::time::now_ms();
                        let mut tx = ::sqlx::Connection::begin(&mut *conn).await?;
                        ::sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                        ::sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                            .bind(m.version)
                            .bind(m.name)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        ::tracing::info!(version = m.version, name = m.name, "applied migration");
                        s.applied_at = Some(now);
                    }
                    Ok(status)
                }
                .await;
                if apply {
                    Self::unlock_migrations(&mut conn).await?;
                }
                result
            }
        }
    };
}

pub(crate) use sql_store_impl;
