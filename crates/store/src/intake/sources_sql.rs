//! Sources: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const SOURCE_COLUMNS: &str =
    "id, name, kind, settings, enabled, previous_until, created_at, updated_at";

macro_rules! source_store_impl {
    ($store:ty, $db:ty) => {
        fn source_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::source::Source> {
            let settings: &str = row.try_get("settings")?;
            Ok(::switchyard_core::source::Source {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                kind: $crate::sql::parse(row.try_get("kind")?, "source kind")?,
                settings: $crate::sql::json(settings, "source settings")?,
                enabled: row.try_get("enabled")?,
                previous_until: row.try_get("previous_until")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        /// Binds every column of `s`, in `SOURCE_COLUMNS` order.
        fn bind_source<'q>(
            query: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            s: &'q ::switchyard_core::source::Source,
        ) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            query
                .bind(&s.id)
                .bind(&s.name)
                .bind(s.kind.as_str())
                .bind(s.settings.to_json())
                .bind(s.enabled)
                .bind(s.previous_until)
                .bind(s.created_at)
                .bind(s.updated_at)
        }

        #[::async_trait::async_trait]
        impl $crate::intake::SourceStore for $store {
            async fn insert_source(&self, s: &::switchyard_core::source::Source) -> $crate::Result<()> {
                bind_source(::sqlx::query(
                    "INSERT INTO sources (id, name, kind, settings, enabled, previous_until, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                ), s)
                .execute(self.writer())
                .await
                .map_err(|e| map_unique(e, "source"))?;
                Ok(())
            }

            async fn get_source(&self, id: &str) -> $crate::Result<Option<::switchyard_core::source::Source>> {
                let sql = format!("SELECT {} FROM sources WHERE id = $1", $crate::intake::sources_sql::SOURCE_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(source_from_row).transpose()
            }

            async fn list_sources(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::source::Source>> {
                let sql = format!(
                    "SELECT {} FROM sources WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                    $crate::intake::sources_sql::SOURCE_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(source_from_row).collect()
            }

            async fn update_source(&self, s: &::switchyard_core::source::Source) -> $crate::Result<bool> {
                // `created_at` is written back unchanged.
                let done = bind_source(::sqlx::query(
                    "UPDATE sources SET name = $2, kind = $3, settings = $4, enabled = $5, previous_until = $6,
                         created_at = $7, updated_at = $8 WHERE id = $1",
                ), s)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_source(&self, id: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(self.writer()).await?;
                Ok(done.rows_affected() == 1)
            }
        }

    };
}

pub(crate) use source_store_impl;
