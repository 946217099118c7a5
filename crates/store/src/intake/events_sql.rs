//! The event log and its processing: SQL shared by both backends (see `common.rs` for
//! the pattern). Stages reach the processing transaction through [`ProcessTx`], whose
//! capability parts delegate to the capabilities' SQL.
//!
//! [`ProcessTx`]: crate::intake::ProcessTx

pub(crate) const EVENT_COLUMNS: &str =
    "id, source_id, source_kind, dedupe_key, provider_type, type, payload, headers,
    state, received_at, processed_at";

macro_rules! event_store_impl {
    ($store:ty, $db:ty) => {
        fn event_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::event::Event> {
            let kind: Option<&str> = row.try_get("source_kind")?;
            Ok(::switchyard_core::event::Event {
                id: row.try_get("id")?,
                source_id: row.try_get("source_id")?,
                source_kind: kind.map(|k| $crate::sql::parse(k, "event source kind")).transpose()?,
                dedupe_key: row.try_get("dedupe_key")?,
                provider_type: row.try_get("provider_type")?,
                event_type: row.try_get("type")?,
                payload: row.try_get("payload")?,
                headers: row.try_get("headers")?,
                state: $crate::sql::parse(row.try_get("state")?, "event state")?,
                received_at: row.try_get("received_at")?,
                processed_at: row.try_get("processed_at")?,
            })
        }

        /// A batch being processed: its transaction, and whether what the stages did
        /// gives the workers something to do once it commits.
        struct Processing {
            tx: ::sqlx::Transaction<'static, $db>,
            woke: bool,
        }

        #[::async_trait::async_trait]
        impl $crate::intake::ProcessTx for Processing {
            async fn payloads(
                &mut self,
                ids: &[&str],
            ) -> $crate::Result<::std::collections::HashMap<String, Vec<u8>>> {
                let mut out = ::std::collections::HashMap::with_capacity(ids.len());
                for chunk in ids.chunks($crate::sql::ROWS) {
                    let sql = format!(
                        "SELECT id, payload FROM events WHERE id IN ({})",
                        $crate::sql::placeholders(1, chunk.len())
                    );
                    let mut query = ::sqlx::query_as::<_, (String, Vec<u8>)>(::sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    out.extend(query.fetch_all(&mut *self.tx).await?);
                }
                Ok(out)
            }

            async fn fan_out(&mut self, events: &[$crate::intake::ReceivedEvent], at: i64) -> $crate::Result<usize> {
                let created = <$store>::fan_out_in(&mut *self.tx, events, at).await?;
                self.woke |= created > 0;
                Ok(created)
            }

            async fn apply_status_reports(
                &mut self,
                reports: &[$crate::messaging::StatusReport],
                at: i64,
            ) -> $crate::Result<()> {
                <$store>::apply_status_reports_in(&mut *self.tx, reports, at).await
            }

            async fn apply_payment_report(
                &mut self,
                provider: &str,
                report: &::switchyard_core::payment::ProviderReport,
                at: i64,
            ) -> $crate::Result<$crate::payments::Applied> {
                <$store>::apply_payment_reports_in(&mut *self.tx, provider, report, at).await
            }

            async fn set_event_objects(
                &mut self,
                objects: &[(&str, &::switchyard_core::payment::ObjectView)],
            ) -> $crate::Result<()> {
                // Within both backends' parameter limits: 2 per event, at most a batch.
                for chunk in objects.chunks(4096) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                        .collect();
                    let sql = format!(
                        "UPDATE events SET object = v.column2 FROM (VALUES {}) AS v WHERE events.id = v.column1",
                        values.join(", ")
                    );
                    let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for (id, object) in chunk {
                        q = q.bind(*id).bind($crate::sql::to_json(*object));
                    }
                    q.execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn enqueue(&mut self, job: &$crate::queue::NewJob) -> $crate::Result<()> {
                ::sqlx::query($crate::queue::sql::ENQUEUE)
                    .bind(&job.kind)
                    .bind(&job.payload)
                    .bind(job.max_attempts)
                    .bind(job.run_at)
                    .bind(::switchyard_core::time::now_ms())
                    .execute(&mut *self.tx)
                    .await?;
                self.woke = true;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl $crate::intake::EventStore for $store {
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
                let sql = format!("SELECT {} FROM events WHERE id = $1", $crate::intake::events_sql::EVENT_COLUMNS);
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
                    $crate::intake::events_sql::EVENT_COLUMNS
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

            async fn process_received(
                &self,
                limit: u32,
                at: i64,
                stages: &[::std::sync::Arc<dyn $crate::intake::Stage>],
            ) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                let rows: Vec<(String, String, Option<String>, i64, Option<String>)> = ::sqlx::query_as(Self::PROCESS_RECEIVED)
                    .bind(at)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut events = rows
                    .into_iter()
                    .map(|(id, event_type, kind, received_at, source_id)| {
                        Ok($crate::intake::ReceivedEvent {
                            id,
                            event_type,
                            source_kind: kind.as_deref().map(|k| $crate::sql::parse(k, "event source kind")).transpose()?,
                            source_id,
                            received_at,
                        })
                    })
                    .collect::<$crate::Result<Vec<_>>>()?;
                events.sort_by(|a, b| a.id.cmp(&b.id));
                let mut processing = Processing { tx, woke: false };
                if !events.is_empty() {
                    for stage in stages {
                        stage.run(&mut processing, &events, at).await?;
                    }
                }
                processing.tx.commit().await?;
                if processing.woke {
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
