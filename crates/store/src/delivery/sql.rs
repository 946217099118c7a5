//! Deliveries, attempts and fan-out: SQL shared by both backends (see `common.rs` for
//! the pattern); the claim differs per backend
//! ([`crate::dialect::Dialect::CLAIM_DELIVERIES`]).

pub(crate) const DELIVERY_COLUMNS: &str = "id, event_id, endpoint_id, state, attempts,
    next_attempt_at, last_status, last_error, created_at, updated_at";

/// Rows per multi-row INSERT of deliveries.
pub(crate) const DELIVERY_ROWS: usize = 256;

/// `INSERT INTO deliveries` of `rows` rows `(id, event_id, endpoint_id, next_attempt_at,
/// created_at, updated_at)`, parameters numbered in order (see [`crate::sql::statement`]).
pub(crate) fn insert_deliveries_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO deliveries (id, event_id, endpoint_id, next_attempt_at, created_at, updated_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("({})", crate::sql::placeholders(row * 6 + 1, 6)));
    }
    sql
}

/// Outcomes per set-based statement (7 parameters a row).
pub(crate) const OUTCOME_ROWS: usize = 128;

/// Records `rows` outcomes `(id, attempt, state, next_attempt_at, status, error)` at `$1`
/// for deliveries still on that attempt; returns the ids it changed.
pub(crate) fn update_deliveries_sql(rows: usize) -> String {
    let mut sql = String::from(
        "UPDATE deliveries SET state = m.column3, next_attempt_at = m.column4,
             last_status = m.column5, last_error = m.column6, updated_at = $1
         FROM (VALUES ",
    );
    for row in 0..rows {
        let p = row * 6 + 1;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6
        ));
    }
    sql.push_str(
        ") AS m WHERE deliveries.id = m.column1 AND deliveries.attempts = m.column2
             AND deliveries.state = 'pending'
         RETURNING deliveries.id",
    );
    sql
}

/// Inserts `rows` attempt log entries.
pub(crate) fn insert_attempts_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms,
             status_code, response_body, error_kind) VALUES ",
    );
    for row in 0..rows {
        let p = row * 7;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7
        ));
    }
    sql.push_str(" ON CONFLICT (delivery_id, attempt) DO NOTHING");
    sql
}

/// One delivery per (event, subscribed endpoint), in event order: `(id, event, endpoint)`.
pub(crate) fn fan_out(
    events: &[crate::intake::ReceivedEvent],
    endpoints: &[(String, Vec<String>)],
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for event in events {
        for (endpoint_id, patterns) in endpoints {
            if patterns.is_empty()
                || patterns
                    .iter()
                    .any(|p| switchyard_core::delivery::matches(p, &event.event_type))
            {
                out.push((
                    switchyard_core::new_id("dlv"),
                    event.id.clone(),
                    endpoint_id.clone(),
                ));
            }
        }
    }
    out
}

macro_rules! delivery_store_impl {
    ($store:ty, $db:ty) => {
        fn delivery_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::delivery::Delivery> {
            Ok(::switchyard_core::delivery::Delivery {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                endpoint_id: row.try_get("endpoint_id")?,
                state: $crate::sql::parse(row.try_get("state")?, "delivery state")?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_status: row.try_get("last_status")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        impl $store {
            /// Creates one delivery, due at `at`, per enabled endpoint subscribed to each
            /// event, in the caller's transaction; returns how many.
            async fn fan_out_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                events: &[$crate::intake::ReceivedEvent],
                at: i64,
            ) -> $crate::Result<usize> {
                let endpoints = Self::subscriptions(&mut *conn).await?;
                let rows = $crate::delivery::sql::fan_out(events, &endpoints);
                Self::insert_deliveries(&mut *conn, &rows, at).await?;
                Ok(rows.len())
            }

            /// The enabled endpoints' ids and subscriptions, for fan-out.
            async fn subscriptions(
                conn: &mut <$db as ::sqlx::Database>::Connection,
            ) -> $crate::Result<Vec<(String, Vec<String>)>> {
                let rows: Vec<(String, String)> =
                    ::sqlx::query_as("SELECT id, event_types FROM endpoints WHERE enabled = TRUE ORDER BY id")
                        .fetch_all(&mut *conn)
                        .await?;
                rows.into_iter()
                    .map(|(id, types)| Ok((id, $crate::sql::json(&types, "endpoint event_types")?)))
                    .collect()
            }

            async fn insert_deliveries(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                rows: &[(String, String, String)],
                at: i64,
            ) -> $crate::Result<()> {
                for chunk in rows.chunks($crate::delivery::sql::DELIVERY_ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::delivery::sql::insert_deliveries_sql(chunk.len()));
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for (id, event, endpoint) in chunk {
                        query = query.bind(id).bind(event).bind(endpoint).bind(at).bind(at).bind(at);
                    }
                    query.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Claims up to `limit` due deliveries, with their events, in `conn`'s
            /// transaction; sorted by id.
            async fn claim_deliveries_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                limit: u32,
                now: i64,
                lease_until: i64,
            ) -> $crate::Result<Vec<::switchyard_core::delivery::Claimed>> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                type Row = (String, String, String, i64, Option<String>, Option<Vec<u8>>, Option<i64>, Option<String>);
                Self::plan_claims(&mut *conn).await?;
                let rows: Vec<Row> = ::sqlx::query_as(Self::CLAIM_DELIVERIES)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *conn)
                    .await?;
                let mut claimed: Vec<_> = rows
                    .into_iter()
                    // An event is never deleted while deliveries point at it; skip if so.
                    .filter_map(|(id, endpoint_id, event_id, attempt, event_type, payload, received_at, object)| {
                        Some(::switchyard_core::delivery::Claimed {
                            id,
                            endpoint_id,
                            event_id,
                            attempt,
                            event_type: event_type?,
                            payload: payload?,
                            received_at: received_at?,
                            object,
                        })
                    })
                    .collect();
                claimed.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(claimed)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::delivery::DeliveryStore for $store {
            async fn claim_deliveries(
                &self,
                limit: u32,
                now: i64,
                lease_until: i64,
            ) -> $crate::Result<Vec<::switchyard_core::delivery::Claimed>> {
                let mut tx = self.writer().begin().await?;
                // A claim lost in a crash only makes its deliveries claimable again
                // (same ids), and any later durable commit makes it durable too: it
                // need not wait for its own flush.
                Self::commit_without_flush(&mut tx).await?;
                let claimed = Self::claim_deliveries_in(&mut tx, limit, now, lease_until).await?;
                tx.commit().await?;
                Ok(claimed)
            }

            async fn record_outcomes_and_claim(
                &self,
                outcomes: &[::switchyard_core::delivery::Outcome],
                now: i64,
                next: $crate::Claim,
            ) -> $crate::Result<(Vec<bool>, Vec<::switchyard_core::delivery::Claimed>)> {
                use ::switchyard_core::delivery::Next;
                let mut tx = self.writer().begin().await?;
                let mut applied = ::std::collections::HashSet::new();
                // Set-based statements: a batch costs a few round trips, not three per
                // outcome.
                for chunk in outcomes.chunks($crate::delivery::sql::OUTCOME_ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::delivery::sql::update_deliveries_sql(chunk.len()));
                    let mut query = ::sqlx::query_scalar::<_, String>(::sqlx::AssertSqlSafe(sql)).bind(now);
                    for o in chunk {
                        let a = &o.attempt;
                        use ::switchyard_core::delivery::DeliveryState;
                        let (state, next_at) = match o.next {
                            Next::Succeeded => (DeliveryState::Succeeded, None),
                            Next::RetryAt(at) => (DeliveryState::Pending, Some(at)),
                            Next::Failed | Next::Gone => (DeliveryState::Failed, None),
                        };
                        let error = if state == DeliveryState::Succeeded {
                            None
                        } else {
                            a.error_kind.clone().or_else(|| a.status_code.map(|s| format!("status {s}")))
                        };
                        query = query
                            .bind(&a.delivery_id)
                            .bind(a.attempt)
                            .bind(state.as_str())
                            .bind(next_at)
                            .bind(a.status_code)
                            .bind(error);
                    }
                    applied.extend(query.fetch_all(&mut *tx).await?);
                }
                let current: Vec<&::switchyard_core::delivery::Outcome> =
                    outcomes.iter().filter(|o| applied.contains(&o.attempt.delivery_id)).collect();
                for chunk in current.chunks($crate::delivery::sql::OUTCOME_ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::delivery::sql::insert_attempts_sql(chunk.len()));
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for o in chunk {
                        let a = &o.attempt;
                        query = query
                            .bind(&a.delivery_id)
                            .bind(a.attempt)
                            .bind(a.started_at)
                            .bind(a.duration_ms)
                            .bind(a.status_code)
                            .bind(&a.response_body)
                            .bind(&a.error_kind);
                    }
                    query.execute(&mut *tx).await?;
                }
                // Endpoint consequences, once per endpoint and kind.
                let mut succeeded = ::std::collections::BTreeSet::new();
                let mut failing = ::std::collections::BTreeMap::new();
                let mut gone = ::std::collections::BTreeSet::new();
                for o in &current {
                    match o.next {
                        Next::Succeeded => {
                            succeeded.insert(o.endpoint_id.as_str());
                        }
                        Next::Gone => {
                            gone.insert(o.endpoint_id.as_str());
                        }
                        Next::RetryAt(_) | Next::Failed => {
                            let since = failing.entry(o.endpoint_id.as_str()).or_insert(o.attempt.started_at);
                            *since = (*since).min(o.attempt.started_at);
                        }
                    }
                }
                for id in &succeeded {
                    ::sqlx::query("UPDATE endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                        .bind(*id)
                        .execute(&mut *tx)
                        .await?;
                }
                for (id, since) in failing.iter().filter(|(id, _)| !succeeded.contains(*id)) {
                    ::sqlx::query("UPDATE endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL")
                        .bind(*id)
                        .bind(*since)
                        .execute(&mut *tx)
                        .await?;
                }
                for id in &gone {
                    ::sqlx::query(
                        "UPDATE endpoints SET enabled = FALSE, disabled_reason = 'gone', updated_at = $2 WHERE id = $1",
                    )
                    .bind(*id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                // The slots these outcomes free, filled in the same transaction.
                let claimed = Self::claim_deliveries_in(&mut tx, next.limit, now, next.lease_until).await?;
                tx.commit().await?;
                if current.iter().any(|o| matches!(o.next, Next::RetryAt(_) | Next::Succeeded)) {
                    // A retry is due later, and a success may unblock an ordered
                    // endpoint's next delivery.
                    self.work_added($crate::Work::Deliveries.bit());
                }
                let recorded = outcomes.iter().map(|o| applied.contains(&o.attempt.delivery_id)).collect();
                Ok((recorded, claimed))
            }

            async fn get_delivery(&self, id: &str) -> $crate::Result<Option<::switchyard_core::delivery::Delivery>> {
                let sql = format!("SELECT {} FROM deliveries WHERE id = $1", $crate::delivery::sql::DELIVERY_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(delivery_from_row).transpose()
            }

            async fn list_deliveries(
                &self,
                filter: &$crate::delivery::DeliveryFilter,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::delivery::Delivery>> {
                let sql = format!(
                    "SELECT {} FROM deliveries
                     WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR endpoint_id = $2)
                       AND ($3 IS NULL OR event_id = $3) AND ($4 IS NULL OR state = $4)
                     ORDER BY id DESC LIMIT $5",
                    $crate::delivery::sql::DELIVERY_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(filter.endpoint_id.as_deref())
                    .bind(filter.event_id.as_deref())
                    .bind(filter.state.map(|s| s.as_str()))
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn list_attempts(&self, delivery_id: &str) -> $crate::Result<Vec<::switchyard_core::delivery::Attempt>> {
                let rows: Vec<(String, i64, i64, i64, Option<i64>, Option<String>, Option<String>)> = ::sqlx::query_as(
                    "SELECT delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_kind
                     FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                )
                .bind(delivery_id)
                .fetch_all(self.reader())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_kind)| {
                        ::switchyard_core::delivery::Attempt {
                            delivery_id,
                            attempt,
                            started_at,
                            duration_ms,
                            status_code,
                            response_body,
                            error_kind,
                        }
                    })
                    .collect())
            }

            async fn retry_delivery(&self, id: &str, now: i64) -> $crate::Result<bool> {
                // Attempt numbers keep counting (they key the attempt log); the budget
                // restarts from the current count.
                let done = ::sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = $2, updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(self.writer())
                .await?;
                if done.rows_affected() == 1 {
                    self.work_added($crate::Work::Deliveries.bit());
                }
                Ok(done.rows_affected() == 1)
            }

            async fn retry_failed(&self, endpoint_id: &str, since: i64, now: i64) -> $crate::Result<u64> {
                let done = ::sqlx::query(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, updated_at = $3
                     WHERE endpoint_id = $1 AND state = 'failed' AND created_at >= $2",
                )
                .bind(endpoint_id)
                .bind(since)
                .bind(now)
                .execute(self.writer())
                .await?;
                if done.rows_affected() > 0 {
                    self.work_added($crate::Work::Deliveries.bit());
                }
                Ok(done.rows_affected())
            }

            async fn take_rate_token(&self, endpoint_id: &str, slot: i64, quota: i64) -> $crate::Result<bool> {
                if quota <= 0 {
                    return Ok(false);
                }
                let taken: Option<i64> = ::sqlx::query_scalar(
                    "INSERT INTO endpoint_rate (endpoint_id, slot, used) VALUES ($1, $2, 1)
                     ON CONFLICT (endpoint_id, slot) DO UPDATE SET used = endpoint_rate.used + 1
                     WHERE endpoint_rate.used < $3
                     RETURNING used",
                )
                .bind(endpoint_id)
                .bind(slot)
                .bind(quota)
                .fetch_optional(self.writer())
                .await?;
                if slot % 600 == 0 && taken == Some(1) {
                    // Once a minute per endpoint: forget slots older than a minute.
                    ::sqlx::query("DELETE FROM endpoint_rate WHERE endpoint_id = $1 AND slot < $2")
                        .bind(endpoint_id)
                        .bind(slot - 600)
                        .execute(self.writer())
                        .await?;
                }
                Ok(taken.is_some())
            }

            async fn defer_delivery(&self, id: &str, attempt: i64, until: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE deliveries SET attempts = attempts - 1, next_attempt_at = $3
                     WHERE id = $1 AND attempts = $2 AND state = 'pending'",
                )
                .bind(id)
                .bind(attempt)
                .bind(until)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn next_delivery_due(&self) -> $crate::Result<Option<i64>> {
                // The same conditions as a claim: deliveries of disabled endpoints and
                // those queued behind the head of an ordered endpoint are not due.
                let due: Option<i64> = ::sqlx::query_scalar(
                    "SELECT d.next_attempt_at FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                     WHERE d.state = 'pending' AND e.enabled = TRUE
                       AND (e.ordered = FALSE OR d.id = (SELECT MIN(o.id) FROM deliveries o
                            WHERE o.endpoint_id = d.endpoint_id AND o.state = 'pending'))
                     ORDER BY d.next_attempt_at LIMIT 1",
                )
                .fetch_optional(self.reader())
                .await?;
                Ok(due)
            }
        }
    };
}

pub(crate) use delivery_store_impl;
