//! Endpoints: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, headers, rate_limit,
    ordered, enabled, disabled_reason, secret_grace_until, failing_since, created_at, updated_at";

macro_rules! endpoint_store_impl {
    ($store:ty, $db:ty) => {
        fn endpoint_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::delivery::Endpoint> {
            let types: &str = row.try_get("event_types")?;
            let headers: &str = row.try_get("headers")?;
            Ok(::switchyard_core::delivery::Endpoint {
                id: row.try_get("id")?,
                url: row.try_get("url")?,
                description: row.try_get("description")?,
                event_types: $crate::sql::json(types, "endpoint event_types")?,
                headers: $crate::sql::json(headers, "endpoint headers")?,
                rate_limit: row.try_get("rate_limit")?,
                ordered: row.try_get("ordered")?,
                enabled: row.try_get("enabled")?,
                disabled_reason: row.try_get("disabled_reason")?,
                secret_grace_until: row.try_get("secret_grace_until")?,
                failing_since: row.try_get("failing_since")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        /// Binds every column of `e`, in `ENDPOINT_COLUMNS` order.
        fn bind_endpoint<'q>(
            query: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            e: &'q ::switchyard_core::delivery::Endpoint,
        ) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            query
                .bind(&e.id)
                .bind(&e.url)
                .bind(&e.description)
                .bind($crate::sql::to_json(&e.event_types))
                .bind($crate::sql::to_json(&e.headers))
                .bind(e.rate_limit)
                .bind(e.ordered)
                .bind(e.enabled)
                .bind(&e.disabled_reason)
                .bind(e.secret_grace_until)
                .bind(e.failing_since)
                .bind(e.created_at)
                .bind(e.updated_at)
        }

        #[::async_trait::async_trait]
        impl $crate::delivery::EndpointStore for $store {
            async fn insert_endpoint(&self, e: &::switchyard_core::delivery::Endpoint) -> $crate::Result<()> {
                let sql = format!(
                    "INSERT INTO endpoints ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    $crate::delivery::endpoints_sql::ENDPOINT_COLUMNS
                );
                bind_endpoint(::sqlx::query(::sqlx::AssertSqlSafe(sql)), e)
                    .execute(self.writer())
                    .await
                    .map_err(|err| map_unique(err, "endpoint"))?;
                Ok(())
            }

            async fn get_endpoint(&self, id: &str) -> $crate::Result<Option<::switchyard_core::delivery::Endpoint>> {
                let sql = format!("SELECT {} FROM endpoints WHERE id = $1", $crate::delivery::endpoints_sql::ENDPOINT_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(endpoint_from_row).transpose()
            }

            async fn list_endpoints(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::delivery::Endpoint>> {
                let sql = format!(
                    "SELECT {} FROM endpoints WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                    $crate::delivery::endpoints_sql::ENDPOINT_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(endpoint_from_row).collect()
            }

            async fn update_endpoint(&self, e: &::switchyard_core::delivery::Endpoint) -> $crate::Result<bool> {
                // Every column in `ENDPOINT_COLUMNS` order, as `insert_endpoint` binds
                // them; `created_at` is written back unchanged.
                let done = bind_endpoint(
                    ::sqlx::query(
                        "UPDATE endpoints SET url = $2, description = $3, event_types = $4, headers = $5,
                             rate_limit = $6, ordered = $7, enabled = $8, disabled_reason = $9,
                             secret_grace_until = $10, failing_since = $11, created_at = $12, updated_at = $13
                         WHERE id = $1",
                    ),
                    e,
                )
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_endpoint(&self, id: &str) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(id).execute(&mut *tx).await?;
                ::sqlx::query("DELETE FROM deliveries WHERE endpoint_id = $1 AND state = 'pending'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

        }
    };
}

pub(crate) use endpoint_store_impl;
