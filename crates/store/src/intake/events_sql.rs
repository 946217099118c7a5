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

        /// A batch being processed: its transaction, and the kinds of work (bits of
        /// [`crate::Work`]) what the stages did gives workers once it commits.
        struct Processing<'a> {
            tx: ::sqlx::Transaction<'static, $db>,
            woke: u8,
            /// The events being stored in this transaction, whose payloads need no read.
            storing: &'a [::switchyard_core::event::NewEvent],
        }

        #[::async_trait::async_trait]
        impl $crate::intake::ProcessTx for Processing<'_> {
            async fn payloads(
                &mut self,
                ids: &[&str],
            ) -> $crate::Result<::std::collections::HashMap<String, Vec<u8>>> {
                let mut out = ::std::collections::HashMap::with_capacity(ids.len());
                let mut missing = Vec::with_capacity(ids.len());
                if self.storing.is_empty() {
                    missing.extend_from_slice(ids);
                } else {
                    let storing: ::std::collections::HashMap<&str, &[u8]> =
                        self.storing.iter().map(|e| (e.id.as_str(), e.payload.as_slice())).collect();
                    for id in ids {
                        match storing.get(id) {
                            Some(payload) => {
                                out.insert(id.to_string(), payload.to_vec());
                            }
                            None => missing.push(*id),
                        }
                    }
                }
                for chunk in missing.chunks($crate::sql::ROWS) {
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
                if created > 0 {
                    self.woke |= $crate::Work::Deliveries.bit();
                }
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
                self.woke |= $crate::Work::Jobs.bit();
                Ok(())
            }
        }

        impl $store {
            /// Inserts `events` in `tx` (as `received`, or `processed` at `processed`)
            /// and tells per event whether it is new or which stored event it repeats.
            async fn store_events(
                mut tx: ::sqlx::Transaction<'static, $db>,
                events: &[::switchyard_core::event::NewEvent],
                processed: Option<i64>,
            ) -> $crate::Result<(::sqlx::Transaction<'static, $db>, Vec<::switchyard_core::event::Stored>)> {
                use ::switchyard_core::event::Stored;
                let inserted = Self::insert_event_rows(&mut tx, events, processed).await?;
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
                Ok((tx, out))
            }
        }

        #[::async_trait::async_trait]
        impl $crate::intake::EventStore for $store {
            async fn insert_events(
                &self,
                events: &[::switchyard_core::event::NewEvent],
            ) -> $crate::Result<Vec<::switchyard_core::event::Stored>> {
                let tx = self.writer().begin().await?;
                let (tx, out) = Self::store_events(tx, events, None).await?;
                tx.commit().await?;
                if out.iter().any(|s| matches!(s, ::switchyard_core::event::Stored::Inserted(_))) {
                    self.work_added($crate::Work::Events.bit());
                }
                Ok(out)
            }

            async fn insert_processed(
                &self,
                events: &[::switchyard_core::event::NewEvent],
                at: i64,
                stages: &[::std::sync::Arc<dyn $crate::intake::Stage>],
            ) -> $crate::Result<(Vec<::switchyard_core::event::Stored>, u64)> {
                use ::switchyard_core::event::Stored;
                let tx = self.writer().begin().await?;
                let (tx, out) = Self::store_events(tx, events, Some(at)).await?;
                let mut inserted: Vec<$crate::intake::ReceivedEvent> = events
                    .iter()
                    .zip(&out)
                    .filter(|(_, s)| matches!(s, Stored::Inserted(_)))
                    .map(|(e, _)| $crate::intake::ReceivedEvent::of(e))
                    .collect();
                if inserted.is_empty() {
                    tx.commit().await?;
                    return Ok((out, 0));
                }
                inserted.sort_by(|a, b| a.id.cmp(&b.id));
                let mut processing = Processing { tx, woke: 0, storing: events };
                let mut failed = None;
                for stage in stages {
                    if let Err(e) = stage.run(&mut processing, &inserted, at).await {
                        failed = Some((stage.name(), e));
                        break;
                    }
                }
                if let Some((stage, e)) = failed {
                    // Nothing of the batch is kept; stored as received instead, the events
                    // are processed (with every stage) by the processors.
                    tracing::warn!(error = %e, stage, events = inserted.len(),
                        "processing events as they are stored failed; leaving them to the processors");
                    processing.tx.rollback().await?;
                    return Ok((self.insert_events(events).await?, 0));
                }
                processing.tx.commit().await?;
                if processing.woke != 0 {
                    self.work_added(processing.woke);
                }
                Ok((out, inserted.len() as u64))
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
                let mut processing = Processing { tx, woke: 0, storing: &[] };
                if !events.is_empty() {
                    for stage in stages {
                        stage.run(&mut processing, &events, at).await?;
                    }
                }
                processing.tx.commit().await?;
                if processing.woke != 0 {
                    self.work_added(processing.woke);
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
                self.work_added($crate::Work::Events.bit());
                Ok(true)
            }
        }
    };
}

pub(crate) use event_store_impl;
