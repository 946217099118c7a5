//! API keys: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const KEY_COLUMNS: &str =
    "id, name, hint, scopes, created_at, expires_at, revoked_at, last_used_at, rotated_from";

pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys
    (id, name, digest, hint, scopes, created_at, expires_at, rotated_from)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const INSERT_FIRST_KEY: &str = "INSERT INTO api_keys
    (id, name, digest, hint, scopes, created_at, expires_at, rotated_from)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8
    WHERE NOT EXISTS (SELECT 1 FROM api_keys)";

macro_rules! key_store_impl {
    ($store:ty, $db:ty) => {
        fn key_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::apikey::ApiKey> {
            Ok(::switchyard_core::apikey::ApiKey {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                hint: row.try_get("hint")?,
                scopes: $crate::keys::scopes_from_db(row.try_get::<&str, _>("scopes")?)?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_used_at: row.try_get("last_used_at")?,
                rotated_from: row.try_get("rotated_from")?,
            })
        }

        fn bind_key<'q>(
            query: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            key: &'q $crate::keys::NewKey,
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

        #[::async_trait::async_trait]
        impl $crate::keys::KeyStore for $store {
            async fn insert_key(&self, key: &$crate::keys::NewKey) -> $crate::Result<()> {
                bind_key(::sqlx::query($crate::keys::sql::INSERT_KEY), key)
                    .execute(self.writer())
                    .await
                    .map_err(|e| map_unique(e, "api key"))?;
                Ok(())
            }

            async fn insert_first_key(&self, key: &$crate::keys::NewKey) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                Self::lock_bootstrap(&mut tx).await?;
                let done = bind_key(::sqlx::query($crate::keys::sql::INSERT_FIRST_KEY), key).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_key_by_digest(&self, digest: &[u8; 32]) -> $crate::Result<Option<$crate::keys::KeyMatch>> {
                let row = ::sqlx::query(
                    "SELECT id, name, hint, scopes, created_at, expires_at, revoked_at, last_used_at,
                            rotated_from, digest FROM api_keys WHERE digest = $1",
                )
                .bind(&digest[..])
                .fetch_optional(self.reader())
                .await?;
                row.map(|row| Ok($crate::keys::KeyMatch { key: key_from_row(&row)?, digest: row.try_get("digest")? }))
                    .transpose()
            }

            async fn get_key(&self, id: &str) -> $crate::Result<Option<::switchyard_core::apikey::ApiKey>> {
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_keys WHERE id = $1",
                    $crate::keys::sql::KEY_COLUMNS
                )))
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
                row.as_ref().map(key_from_row).transpose()
            }

            async fn list_keys(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::apikey::ApiKey>> {
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_keys
                     WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                    $crate::keys::sql::KEY_COLUMNS
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
                     RETURNING {}",
                    $crate::keys::sql::KEY_COLUMNS
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
                replacement: &$crate::keys::NewKey,
                old_expires_at: i64,
            ) -> $crate::Result<Option<::switchyard_core::apikey::ApiKey>> {
                let mut tx = self.writer().begin().await?;
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(format!(
                    "UPDATE api_keys SET expires_at = CASE
                         WHEN expires_at IS NOT NULL AND expires_at < $2 THEN expires_at ELSE $2 END
                     WHERE id = $1 AND revoked_at IS NULL RETURNING {}",
                    $crate::keys::sql::KEY_COLUMNS
                )))
                .bind(id)
                .bind(old_expires_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                bind_key(::sqlx::query($crate::keys::sql::INSERT_KEY), replacement)
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

    };
}

pub(crate) use key_store_impl;
