//! Sealed values: SQL shared by both backends (see `common.rs` for the pattern).

macro_rules! secret_store_impl {
    ($store:ty, $db:ty) => {
        fn sealed_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::vault::Sealed> {
            Ok(::switchyard_core::vault::Sealed {
                key_id: row.try_get("key_id")?,
                nonce: row.try_get("nonce")?,
                ciphertext: row.try_get("ciphertext")?,
            })
        }

        #[::async_trait::async_trait]
        impl $crate::vault::SecretStore for $store {
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

            async fn insert_secret(&self, id: &str, sealed: &::switchyard_core::vault::Sealed, now: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "INSERT INTO secrets (id, key_id, nonce, ciphertext, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
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

    };
}

pub(crate) use secret_store_impl;
