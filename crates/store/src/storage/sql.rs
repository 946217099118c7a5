//! Object storage: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const OBJECT_COLUMNS: &str = "store, key, size, content_type, etag, sha256, visibility, owner, grants, created_at, updated_at";

pub(crate) const UPLOAD_COLUMNS: &str = "id, store, key, content_type, size, sha256, owner,
    visibility, multipart_id, parts, state, expires_at, created_at";

/// Writes an object over whatever its key holds; `$12` is `created_at` unless the key
/// held an object already, whose `created_at` is kept.
pub(crate) const UPSERT_OBJECT: &str = "INSERT INTO storage_objects (store, key, size,
    content_type, etag, sha256, visibility, owner, grants, created_at, updated_at, state)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'ready')
    ON CONFLICT (store, key) DO UPDATE SET size = excluded.size,
    content_type = excluded.content_type, etag = excluded.etag, sha256 = excluded.sha256,
    visibility = excluded.visibility, owner = excluded.owner, grants = excluded.grants,
    updated_at = excluded.updated_at, expires_at = NULL, state = 'ready',
    created_at = CASE WHEN storage_objects.state = 'ready' THEN storage_objects.created_at
                 ELSE excluded.created_at END";

pub(crate) fn grants_text(grants: &[::switchyard_core::storage::Grant]) -> String {
    serde_json::to_string(grants).unwrap_or_else(|_| "[]".into())
}

/// `change` applied to `(owner, visibility, grants)`.
pub(crate) fn changed(
    change: &crate::storage::AccessChange,
    owner: Option<String>,
    visibility: Option<::switchyard_core::storage::Visibility>,
    grants: Vec<::switchyard_core::storage::Grant>,
) -> (
    Option<String>,
    Option<::switchyard_core::storage::Visibility>,
    Vec<::switchyard_core::storage::Grant>,
) {
    (
        change.owner.clone().unwrap_or(owner),
        change.visibility.unwrap_or(visibility),
        change.grants.clone().unwrap_or(grants),
    )
}

macro_rules! storage_store_impl {
    ($store:ty, $db:ty) => {
        fn stored_object(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::storage::StoredObject> {
            let visibility: Option<String> = row.try_get("visibility")?;
            let grants: String = row.try_get("grants")?;
            Ok(::switchyard_core::storage::StoredObject {
                store: row.try_get("store")?,
                key: row.try_get("key")?,
                size: row.try_get("size")?,
                content_type: row.try_get("content_type")?,
                etag: row.try_get("etag")?,
                sha256: row.try_get("sha256")?,
                visibility: visibility.map(|v| $crate::sql::parse(&v, "object visibility")).transpose()?,
                owner: row.try_get("owner")?,
                grants: $crate::sql::json(&grants, "object grants")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn prefix_rule(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::storage::PrefixRule> {
            let visibility: Option<String> = row.try_get("visibility")?;
            let grants: String = row.try_get("grants")?;
            Ok(::switchyard_core::storage::PrefixRule {
                store: row.try_get("store")?,
                prefix: row.try_get("prefix")?,
                owner: row.try_get("owner")?,
                visibility: visibility.map(|v| $crate::sql::parse(&v, "rule visibility")).transpose()?,
                grants: $crate::sql::json(&grants, "rule grants")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn upload_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::storage::Upload> {
            let visibility: Option<String> = row.try_get("visibility")?;
            let state: String = row.try_get("state")?;
            Ok(::switchyard_core::storage::Upload {
                id: row.try_get("id")?,
                store: row.try_get("store")?,
                key: row.try_get("key")?,
                content_type: row.try_get("content_type")?,
                size: row.try_get("size")?,
                sha256: row.try_get("sha256")?,
                owner: row.try_get("owner")?,
                visibility: visibility.map(|v| $crate::sql::parse(&v, "upload visibility")).transpose()?,
                multipart_id: row.try_get("multipart_id")?,
                parts: row.try_get("parts")?,
                state: $crate::sql::parse(&state, "upload state")?,
                expires_at: row.try_get("expires_at")?,
                created_at: row.try_get("created_at")?,
            })
        }

        impl $store {
            async fn upsert_object(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                o: &::switchyard_core::storage::StoredObject,
            ) -> $crate::Result<()> {
                ::sqlx::query($crate::storage::sql::UPSERT_OBJECT)
                    .bind(&o.store)
                    .bind(&o.key)
                    .bind(o.size)
                    .bind(&o.content_type)
                    .bind(&o.etag)
                    .bind(&o.sha256)
                    .bind(o.visibility.map(|v| v.as_str()))
                    .bind(&o.owner)
                    .bind($crate::storage::sql::grants_text(&o.grants))
                    .bind(o.created_at)
                    .bind(o.updated_at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn ready_object(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                store: &str,
                key: &str,
            ) -> $crate::Result<Option<::switchyard_core::storage::StoredObject>> {
                let sql = format!(
                    "SELECT {} FROM storage_objects WHERE store = $1 AND key = $2 AND state = 'ready'{}",
                    $crate::storage::sql::OBJECT_COLUMNS,
                    <$store>::FOR_UPDATE
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(store)
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.as_ref().map(stored_object).transpose()
            }
        }

        #[::async_trait::async_trait]
        impl $crate::storage::StorageStore for $store {
            async fn claim_object_key(&self, store: &str, key: &str, now: i64, expires_at: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "INSERT INTO storage_objects (store, key, state, size, content_type, etag, grants,
                        expires_at, created_at, updated_at)
                     VALUES ($1, $2, 'writing', 0, '', '', '[]', $3, $4, $4)
                     ON CONFLICT (store, key) DO UPDATE SET expires_at = excluded.expires_at,
                        updated_at = excluded.updated_at
                     WHERE storage_objects.state = 'writing' AND storage_objects.expires_at < $4",
                )
                .bind(store)
                .bind(key)
                .bind(expires_at)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_object_key(&self, store: &str, key: &str) -> $crate::Result<()> {
                ::sqlx::query("DELETE FROM storage_objects WHERE store = $1 AND key = $2 AND state = 'writing'")
                    .bind(store)
                    .bind(key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn put_object(
                &self,
                object: &::switchyard_core::storage::StoredObject,
                event: Option<&::switchyard_core::event::NewEvent>,
            ) -> $crate::Result<Option<::switchyard_core::storage::StoredObject>> {
                let mut tx = self.writer().begin().await?;
                let before = Self::ready_object(&mut *tx, &object.store, &object.key).await?;
                Self::upsert_object(&mut *tx, object).await?;
                if let Some(e) = event {
                    Self::insert_event_rows(&mut tx, std::slice::from_ref(e), None).await?;
                }
                tx.commit().await?;
                Ok(before)
            }

            async fn get_object(&self, store: &str, key: &str) -> $crate::Result<Option<::switchyard_core::storage::StoredObject>> {
                let sql = format!(
                    "SELECT {} FROM storage_objects WHERE store = $1 AND key = $2 AND state = 'ready'",
                    $crate::storage::sql::OBJECT_COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(store)
                    .bind(key)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(stored_object).transpose()
            }

            async fn delete_object(
                &self,
                store: &str,
                key: &str,
                event: Option<&::switchyard_core::event::NewEvent>,
            ) -> $crate::Result<Option<::switchyard_core::storage::StoredObject>> {
                let mut tx = self.writer().begin().await?;
                let sql = format!(
                    "DELETE FROM storage_objects WHERE store = $1 AND key = $2 AND state = 'ready' RETURNING {}",
                    $crate::storage::sql::OBJECT_COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(store)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let gone = stored_object(&row)?;
                if let Some(e) = event {
                    Self::insert_event_rows(&mut tx, std::slice::from_ref(e), None).await?;
                }
                tx.commit().await?;
                Ok(Some(gone))
            }

            async fn list_objects(
                &self,
                store: &str,
                prefix: &str,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::Result<Vec<::switchyard_core::storage::StoredObject>> {
                let sql = format!(
                    "SELECT {} FROM storage_objects
                     WHERE store = $1 AND key >= $2 AND substr(key, 1, length($2)) = $2
                       AND ($3 IS NULL OR key > $3) AND state = 'ready'
                     ORDER BY key LIMIT $4",
                    $crate::storage::sql::OBJECT_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(store)
                    .bind(prefix)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(stored_object).collect()
            }

            async fn set_object_access(
                &self,
                store: &str,
                key: &str,
                change: &$crate::storage::AccessChange,
                now: i64,
            ) -> $crate::Result<Option<::switchyard_core::storage::StoredObject>> {
                let mut tx = self.writer().begin().await?;
                let Some(mut o) = Self::ready_object(&mut *tx, store, key).await? else {
                    return Ok(None);
                };
                (o.owner, o.visibility, o.grants) =
                    $crate::storage::sql::changed(change, o.owner, o.visibility, o.grants);
                o.updated_at = now;
                Self::upsert_object(&mut *tx, &o).await?;
                tx.commit().await?;
                Ok(Some(o))
            }

            async fn set_prefix_rule(
                &self,
                store: &str,
                prefix: &str,
                change: &$crate::storage::AccessChange,
                now: i64,
            ) -> $crate::Result<::switchyard_core::storage::PrefixRule> {
                let mut tx = self.writer().begin().await?;
                let sql = format!(
                    "SELECT store, prefix, owner, visibility, grants, updated_at FROM storage_rules
                     WHERE store = $1 AND prefix = $2{}",
                    <$store>::FOR_UPDATE
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(store)
                    .bind(prefix)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (owner, visibility, grants) = match row.as_ref().map(prefix_rule).transpose()? {
                    Some(r) => (r.owner, r.visibility, r.grants),
                    None => (None, None, Vec::new()),
                };
                let (owner, visibility, grants) =
                    $crate::storage::sql::changed(change, owner, visibility, grants);
                ::sqlx::query(
                    "INSERT INTO storage_rules (store, prefix, owner, visibility, grants, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (store, prefix) DO UPDATE SET owner = excluded.owner,
                        visibility = excluded.visibility, grants = excluded.grants,
                        updated_at = excluded.updated_at",
                )
                .bind(store)
                .bind(prefix)
                .bind(&owner)
                .bind(visibility.map(|v| v.as_str()))
                .bind($crate::storage::sql::grants_text(&grants))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(::switchyard_core::storage::PrefixRule {
                    store: store.into(),
                    prefix: prefix.into(),
                    owner,
                    visibility,
                    grants,
                    updated_at: now,
                })
            }

            async fn prefix_rules(&self, store: &str, key: &str) -> $crate::Result<Vec<::switchyard_core::storage::PrefixRule>> {
                let rows = ::sqlx::query(
                    "SELECT store, prefix, owner, visibility, grants, updated_at FROM storage_rules
                     WHERE store = $1 AND substr($2, 1, length(prefix)) = prefix
                     ORDER BY length(prefix)",
                )
                .bind(store)
                .bind(key)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(prefix_rule).collect()
            }

            async fn insert_upload(&self, u: &::switchyard_core::storage::Upload) -> $crate::Result<()> {
                let sql = format!(
                    "INSERT INTO storage_uploads ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    $crate::storage::sql::UPLOAD_COLUMNS
                );
                ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(&u.id)
                    .bind(&u.store)
                    .bind(&u.key)
                    .bind(&u.content_type)
                    .bind(u.size)
                    .bind(&u.sha256)
                    .bind(&u.owner)
                    .bind(u.visibility.map(|v| v.as_str()))
                    .bind(&u.multipart_id)
                    .bind(u.parts)
                    .bind(u.state.as_str())
                    .bind(u.expires_at)
                    .bind(u.created_at)
                    .execute(self.writer())
                    .await
                    .map_err(|e| map_unique(e, "upload"))?;
                Ok(())
            }

            async fn get_upload(&self, id: &str) -> $crate::Result<Option<::switchyard_core::storage::Upload>> {
                let sql = format!(
                    "SELECT {} FROM storage_uploads WHERE id = $1",
                    $crate::storage::sql::UPLOAD_COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(upload_row).transpose()
            }

            async fn complete_upload(
                &self,
                id: &str,
                object: &::switchyard_core::storage::StoredObject,
                event: Option<&::switchyard_core::event::NewEvent>,
            ) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query(
                    "UPDATE storage_uploads SET state = 'complete' WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::upsert_object(&mut *tx, object).await?;
                if let Some(e) = event {
                    Self::insert_event_rows(&mut tx, std::slice::from_ref(e), None).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn drop_upload(&self, id: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM storage_uploads WHERE id = $1 AND state = 'pending'")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn expired_uploads(&self, now: i64, limit: u32) -> $crate::Result<Vec<::switchyard_core::storage::Upload>> {
                let sql = format!(
                    "SELECT {} FROM storage_uploads WHERE state = 'pending' AND expires_at < $1
                     ORDER BY expires_at LIMIT $2",
                    $crate::storage::sql::UPLOAD_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(upload_row).collect()
            }

            async fn expired_claims(&self, now: i64, limit: u32) -> $crate::Result<Vec<(String, String)>> {
                Ok(::sqlx::query_as(
                    "SELECT store, key FROM storage_objects WHERE state = 'writing' AND expires_at < $1
                     ORDER BY expires_at LIMIT $2",
                )
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(crate) use storage_store_impl;
