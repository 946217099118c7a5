//! Idempotency keys of API requests: SQL shared by both backends (see `common.rs` for
//! the pattern).

macro_rules! idempotency_store_impl {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::idempotency::IdempotencyStore for $store {
            async fn begin_request(
                &self,
                principal: &str,
                key: &str,
                digest: &str,
                now: i64,
                stale_before: i64,
                expired_before: i64,
            ) -> $crate::Result<$crate::Begun> {
                use $crate::idempotency::Begun;
                let mut tx = self.writer().begin().await?;
                // An expired key is forgotten first (with its answer), so that it is
                // claimed like a new one.
                let expired = ::sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND created_at < $3")
                    .bind(principal)
                    .bind(key)
                    .bind(expired_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if expired > 0 {
                    ::sqlx::query("DELETE FROM secrets WHERE id = $1")
                        .bind($crate::idempotency::idempotency_secret_id(principal, key))
                        .execute(&mut *tx)
                        .await?;
                }
                let inserted = ::sqlx::query(
                    "INSERT INTO idempotency_keys (principal, key, digest, status, started_at, created_at)
                     VALUES ($1, $2, $3, NULL, $4, $4) ON CONFLICT (principal, key) DO NOTHING",
                )
                .bind(principal)
                .bind(key)
                .bind(digest)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    tx.commit().await?;
                    return Ok(Begun::Run);
                }
                let row: Option<(String, Option<i32>, i64)> = ::sqlx::query_as(
                    "SELECT digest, status, started_at FROM idempotency_keys WHERE principal = $1 AND key = $2",
                )
                .bind(principal)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
                let begun = match row {
                    // Released by its request at this very moment: try again shortly.
                    None => Begun::InProgress,
                    Some((stored, _, _)) if stored != digest => Begun::Mismatch,
                    Some((_, Some(status), _)) => Begun::Replay {
                        status: u16::try_from(status).unwrap_or(200),
                    },
                    Some((_, None, started_at)) if started_at < stale_before => {
                        // Its node died mid-request: this one takes the key over.
                        let taken = ::sqlx::query(
                            "UPDATE idempotency_keys SET started_at = $3
                             WHERE principal = $1 AND key = $2 AND status IS NULL AND started_at = $4",
                        )
                        .bind(principal)
                        .bind(key)
                        .bind(now)
                        .bind(started_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            == 1;
                        if taken { Begun::Run } else { Begun::InProgress }
                    }
                    Some(_) => Begun::InProgress,
                };
                tx.commit().await?;
                Ok(begun)
            }

            async fn finish_request(&self, principal: &str, key: &str, status: u16) -> $crate::Result<()> {
                ::sqlx::query("UPDATE idempotency_keys SET status = $3 WHERE principal = $1 AND key = $2")
                    .bind(principal)
                    .bind(key)
                    .bind(i32::from(status))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn abandon_request(&self, principal: &str, key: &str) -> $crate::Result<()> {
                ::sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status IS NULL")
                    .bind(principal)
                    .bind(key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn purge_idempotency_keys(&self, before: i64) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                ::sqlx::query(
                    "DELETE FROM secrets WHERE id IN
                     (SELECT 'idempotency:' || principal || ':' || key FROM idempotency_keys WHERE created_at < $1)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                let done = ::sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use idempotency_store_impl;
