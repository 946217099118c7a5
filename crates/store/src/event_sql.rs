//! Sources and events: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const SOURCE_COLUMNS: &str =
    "id, name, kind, settings, enabled, previous_until, created_at, updated_at";

pub(crate) const EVENT_COLUMNS: &str =
    "id, source_id, source_kind, dedupe_key, provider_type, type, payload, headers,
    state, received_at, processed_at";

/// Rows per multi-row INSERT (9 parameters each stays far below both backends' limits).
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

/// One job of kind `$1`, due at `$2`, per payload `$3…`.
pub(crate) fn enqueue_many_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO jobs (kind, payload, max_attempts, run_at, created_at, updated_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("($1, ${}, 8, $2, $2, $2)", row + 3));
    }
    sql
}

/// Sets state `$1`, `processed_at = $2` and the type of each `(id, type)` pair `$3…`.
pub(crate) fn mark_events_sql(rows: usize) -> String {
    let mut sql = String::from(
        "UPDATE events SET state = $1, processed_at = $2, type = m.column2 FROM (VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${}, ${})", row * 2 + 3, row * 2 + 4));
    }
    sql.push_str(") AS m WHERE events.id = m.column1");
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
                job_kind: &str,
            ) -> $crate::Result<Vec<::switchyard_core::event::Stored>> {
                use ::switchyard_core::event::Stored;
                let now = ::switchyard_core::time::now_ms();
                let mut tx = self.writer().begin().await?;
                // Multi-row statements: a batch costs a few round trips, not two per event.
                let mut inserted = ::std::collections::HashSet::new();
                for chunk in events.chunks($crate::event_sql::ROWS_PER_STATEMENT) {
                    let sql = $crate::event_sql::insert_events_sql(chunk.len());
                    let mut query = ::sqlx::query_scalar::<_, String>(::sqlx::AssertSqlSafe(sql));
                    for e in chunk {
                        query = query
                            .bind(&e.id)
                            .bind(&e.source_id)
                            .bind(&e.source_kind)
                            .bind(&e.dedupe_key)
                            .bind(&e.provider_type)
                            .bind(&e.event_type)
                            .bind(&e.payload)
                            .bind(&e.headers)
                            .bind(e.received_at);
                    }
                    inserted.extend(query.fetch_all(&mut *tx).await?);
                }
                let new: Vec<&str> =
                    events.iter().map(|e| e.id.as_str()).filter(|id| inserted.contains(*id)).collect();
                for chunk in new.chunks($crate::event_sql::ROWS_PER_STATEMENT) {
                    let sql = $crate::event_sql::enqueue_many_sql(chunk.len());
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(job_kind).bind(now);
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    query.execute(&mut *tx).await?;
                }
                let enqueued = !new.is_empty();
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
                if enqueued {
                    self.jobs_enqueued();
                }
                Ok(out)
            }

            async fn get_event(&self, id: &str) -> $crate::Result<Option<::switchyard_core::event::Event>> {
                let sql = format!("SELECT {} FROM events WHERE id = $1", $crate::event_sql::EVENT_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(event_from_row).transpose()
            }

            async fn get_events(&self, ids: &[String]) -> $crate::Result<Vec<::switchyard_core::event::Event>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::event_sql::ROWS_PER_STATEMENT) {
                    let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT {} FROM events WHERE id IN ({})",
                        $crate::event_sql::EVENT_COLUMNS,
                        placeholders.join(", ")
                    );
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(id);
                    }
                    for row in query.fetch_all(self.reader()).await? {
                        out.push(event_from_row(&row)?);
                    }
                }
                Ok(out)
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

            async fn mark_events(&self, state: &str, marks: &[(String, String)], at: i64) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                let mut found = 0;
                for chunk in marks.chunks($crate::event_sql::ROWS_PER_STATEMENT) {
                    let sql = $crate::event_sql::mark_events_sql(chunk.len());
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(state).bind(at);
                    for (id, event_type) in chunk {
                        query = query.bind(id).bind(event_type);
                    }
                    found += query.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(found)
            }

            async fn requeue_event(&self, id: &str, job_kind: &str) -> $crate::Result<bool> {
                let now = ::switchyard_core::time::now_ms();
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query("UPDATE events SET state = 'received', processed_at = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                ::sqlx::query(Self::ENQUEUE)
                    .bind(job_kind)
                    .bind(id)
                    .bind(8i32)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.jobs_enqueued();
                Ok(true)
            }
        }
    };
}

pub(crate) use event_store_impl;
