//! Sources and events: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const SOURCE_COLUMNS: &str =
    "id, name, kind, settings, enabled, previous_until, created_at, updated_at";

pub(crate) const EVENT_COLUMNS: &str =
    "id, source_id, source_kind, dedupe_key, provider_type, type, payload, headers,
    state, received_at, processed_at";

/// Rows per multi-row INSERT (9 parameters a row stays far below SQLite's limit). A
/// batch takes one statement, prepared once per size and then served from the
/// connection's statement cache.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// `INSERT INTO events … VALUES (…), (…) … RETURNING id` for `rows` events; rows that
/// collide with a stored (source, identity) are skipped, and only new ids come back.
pub(crate) fn insert_events_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (id, source_id, source_kind, dedupe_key, provider_type, type, payload,
             headers, received_at) VALUES ",
    );
    for row in 0..rows {
        let p = row * 9;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8,
            p + 9
        ));
    }
    sql.push_str(" ON CONFLICT (source_id, dedupe_key) DO NOTHING RETURNING id");
    sql
}

macro_rules! event_store_impl {
    ($store:ty, $db:ty) => {
        fn source_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::event::Source> {
            Ok(::switchyard_core::event::Source {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                kind: row.try_get("kind")?,
                settings: row.try_get("settings")?,
                enabled: row.try_get("enabled")?,
                previous_until: row.try_get("previous_until")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn event_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::event::Event> {
            Ok(::switchyard_core::event::Event {
                id: row.try_get("id")?,
                source_id: row.try_get("source_id")?,
                source_kind: row.try_get("source_kind")?,
                dedupe_key: row.try_get("dedupe_key")?,
                provider_type: row.try_get("provider_type")?,
                event_type: row.try_get("type")?,
                payload: row.try_get("payload")?,
                headers: row.try_get("headers")?,
                state: row.try_get("state")?,
                received_at: row.try_get("received_at")?,
                processed_at: row.try_get("processed_at")?,
            })
        }

        #[::async_trait::async_trait]
        impl $crate::SourceStore for $store {
            async fn insert_source(&self, s: &::switchyard_core::event::Source) -> $crate::Result<()> {
                ::sqlx::query(
                    "INSERT INTO sources (id, name, kind, settings, enabled, previous_until, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.id)
                .bind(&s.name)
                .bind(&s.kind)
                .bind(&s.settings)
                .bind(s.enabled)
                .bind(s.previous_until)
                .bind(s.created_at)
                .bind(s.updated_at)
                .execute(self.writer())
                .await
                .map_err(|e| map_unique(e, "source"))?;
                Ok(())
            }

            async fn get_source(&self, id: &str) -> $crate::Result<Option<::switchyard_core::event::Source>> {
                let sql = format!("SELECT {} FROM sources WHERE id = $1", $crate::event_sql::SOURCE_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(source_from_row).transpose()
            }

            async fn list_sources(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::event::Source>> {
                let sql = format!(
                    "SELECT {} FROM sources WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                    $crate::event_sql::SOURCE_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(source_from_row).collect()
            }

            async fn update_source(&self, s: &::switchyard_core::event::Source) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE sources SET name = $2, kind = $3, settings = $4, enabled = $5, previous_until = $6,
                         updated_at = $7 WHERE id = $1",
                )
                .bind(&s.id)
                .bind(&s.name)
                .bind(&s.kind)
                .bind(&s.settings)
                .bind(s.enabled)
                .bind(s.previous_until)
                .bind(s.updated_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_source(&self, id: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(self.writer()).await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::EventStore for $store {
            async fn insert_events(
                &self,
                events: &[::switchyard_core::event::NewEvent],
            ) -> $crate::Result<Vec<::switchyard_core::event::Stored>> {
                use ::switchyard_core::event::Stored;
                let mut tx = self.writer().begin().await?;
                let inserted = Self::insert_event_rows(&mut tx, events).await?;
                let received = !inserted.is_empty();
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    if inserted.contains(&e.id) {
                        out.push(Stored::Inserted(e.id.clone()));
                    } else {
                        // Stored before, or earlier in this batch.
                        let existing: String = ::sqlx::query_scalar(
                            "SELECT id FROM events WHERE source_id = $1 AND dedupe_key = $2",
                        )
                        .bind(&e.source_id)
                        .bind(&e.dedupe_key)
                        .fetch_one(&mut *tx)
                        .await?;
                        out.push(Stored::Duplicate(existing));
                    }
                }
                tx.commit().await?;
                if received {
                    self.jobs_enqueued();
                }
                Ok(out)
            }

            async fn get_event(&self, id: &str) -> $crate::Result<Option<::switchyard_core::event::Event>> {
                let sql = format!("SELECT {} FROM events WHERE id = $1", $crate::event_sql::EVENT_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(event_from_row).transpose()
            }

            async fn list_events(
                &self,
                filter: &::switchyard_core::event::EventFilter,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::event::Event>> {
                let sql = format!(
                    "SELECT {} FROM events
                     WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR source_id = $2) AND ($3 IS NULL OR type = $3)
                       AND ($4 IS NULL OR received_at >= $4) AND ($5 IS NULL OR received_at < $5)
                     ORDER BY id DESC LIMIT $6",
                    $crate::event_sql::EVENT_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(filter.source_id.as_deref())
                    .bind(filter.event_type.as_deref())
                    .bind(filter.since)
                    .bind(filter.until)
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(event_from_row).collect()
            }

            async fn process_received(&self, limit: u32, at: i64) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                let mut events: Vec<(String, String)> = ::sqlx::query_as(Self::PROCESS_RECEIVED)
                    .bind(at)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut deliveries = 0;
                if !events.is_empty() {
                    Self::apply_status_reports(&mut *tx, &events, at).await?;
                    let endpoints = Self::subscriptions(&mut *tx).await?;
                    let rows = $crate::delivery_sql::fan_out(&mut events, &endpoints);
                    Self::insert_deliveries(&mut *tx, &rows, at).await?;
                    deliveries = rows.len();
                }
                tx.commit().await?;
                if deliveries > 0 {
                    self.jobs_enqueued();
                }
                Ok(events.len() as u64)
            }

            async fn requeue_event(&self, id: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("UPDATE events SET state = 'received', processed_at = NULL WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                self.jobs_enqueued();
                Ok(true)
            }
        }
    };
}

pub(crate) use event_store_impl;
