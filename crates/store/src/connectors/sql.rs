//! Connectors: SQL shared by both backends (see `common.rs` for the pattern).

pub(crate) const CONNECTION_COLUMNS: &str = "id, connector, name, external_id, config, status,
    scopes, expires_at, last_error, created_at, updated_at";

pub(crate) const CALL_COLUMNS: &str = "id, connection_id, connector, method, path, status,
    attempts, cache, duration_ms, bytes, error, at";

/// Parameters of one logged call.
pub(crate) const CALL_PARAMS: usize = 12;

/// The earliest slot a limit of `requests` per `window_ms` allows at `now`, given how
/// many slots it has reserved and the oldest of them (`None` when it has fewer than
/// `requests`): a new slot is free at once, otherwise the oldest of the last `requests`
/// must have left the window.
pub(crate) fn next_slot(filled: bool, oldest: i64, window_ms: i64, now: i64) -> i64 {
    if filled {
        now.max(oldest.saturating_add(window_ms))
    } else {
        now
    }
}

macro_rules! connector_store_impl {
    ($store:ty, $db:ty) => {
        fn connection_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::connector::Connection> {
            let config: String = row.try_get("config")?;
            let status: String = row.try_get("status")?;
            let scopes: String = row.try_get("scopes")?;
            Ok(::switchyard_core::connector::Connection {
                id: row.try_get("id")?,
                connector: row.try_get("connector")?,
                name: row.try_get("name")?,
                external_id: row.try_get("external_id")?,
                config: $crate::sql::json(&config, "connection config")?,
                status: $crate::sql::parse(&status, "connection status")?,
                scopes: $crate::sql::json(&scopes, "connection scopes")?,
                expires_at: row.try_get("expires_at")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn call_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::connector::Call> {
            let status: Option<i64> = row.try_get("status")?;
            let attempts: i64 = row.try_get("attempts")?;
            Ok(::switchyard_core::connector::Call {
                id: row.try_get("id")?,
                connection_id: row.try_get("connection_id")?,
                connector: row.try_get("connector")?,
                method: row.try_get("method")?,
                path: row.try_get("path")?,
                status: status.and_then(|s| u16::try_from(s).ok()),
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                cache: row.try_get("cache")?,
                duration_ms: row.try_get("duration_ms")?,
                bytes: row.try_get("bytes")?,
                error: row.try_get("error")?,
                at: row.try_get("at")?,
            })
        }

        #[::async_trait::async_trait]
        impl $crate::connectors::ConnectorStore for $store {
            async fn insert_connection(&self, c: &::switchyard_core::connector::Connection) -> $crate::Result<()> {
                let sql = format!(
                    "INSERT INTO connections ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    $crate::connectors::sql::CONNECTION_COLUMNS
                );
                ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(&c.id)
                    .bind(&c.connector)
                    .bind(&c.name)
                    .bind(&c.external_id)
                    .bind(c.config.to_string())
                    .bind(c.status.as_str())
                    .bind($crate::sql::to_json(&c.scopes))
                    .bind(c.expires_at)
                    .bind(&c.last_error)
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn get_connection(&self, id: &str) -> $crate::Result<Option<::switchyard_core::connector::Connection>> {
                let sql = format!("SELECT {} FROM connections WHERE id = $1", $crate::connectors::sql::CONNECTION_COLUMNS);
                // From the writer: a refresh another call just made must be seen.
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.writer()).await?;
                row.as_ref().map(connection_row).transpose()
            }

            async fn list_connections(
                &self,
                filter: &$crate::connectors::ConnectionFilter,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::connector::Connection>> {
                let sql = format!(
                    "SELECT {} FROM connections
                     WHERE ($1 IS NULL OR connector = $1) AND ($2 IS NULL OR external_id = $2)
                       AND ($3 IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4",
                    $crate::connectors::sql::CONNECTION_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(filter.connector.as_deref())
                    .bind(filter.external_id.as_deref())
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(connection_row).collect()
            }

            async fn update_connection(&self, c: &::switchyard_core::connector::Connection) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE connections SET connector = $2, name = $3, external_id = $4, config = $5,
                        status = $6, scopes = $7, expires_at = $8, last_error = $9, updated_at = $10
                     WHERE id = $1",
                )
                .bind(&c.id)
                .bind(&c.connector)
                .bind(&c.name)
                .bind(&c.external_id)
                .bind(c.config.to_string())
                .bind(c.status.as_str())
                .bind($crate::sql::to_json(&c.scopes))
                .bind(c.expires_at)
                .bind(&c.last_error)
                .bind(c.updated_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_connection_state(
                &self,
                id: &str,
                state: &$crate::connectors::ConnectionState<'_>,
            ) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE connections SET status = $2, last_error = $3, updated_at = $4,
                        scopes = CASE WHEN $5 THEN $6 ELSE scopes END,
                        expires_at = CASE WHEN $7 THEN $8 ELSE expires_at END
                     WHERE id = $1",
                )
                .bind(id)
                .bind(state.status.as_str())
                .bind(state.last_error)
                .bind(state.now)
                .bind(state.scopes.is_some())
                .bind(state.scopes.map(|s| $crate::sql::to_json(&s)).unwrap_or_default())
                .bind(state.expires_at.is_some())
                .bind(state.expires_at.flatten())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_connection(&self, id: &str) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let done = ::sqlx::query("DELETE FROM connections WHERE id = $1").bind(id).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                for sql in [
                    "DELETE FROM connection_states WHERE connection_id = $1",
                    "DELETE FROM connection_locks WHERE connection_id = $1",
                    "DELETE FROM connector_calls WHERE connection_id = $1",
                ] {
                    ::sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_connection_state(
                &self,
                digest: &str,
                connection_id: &str,
                data: &str,
                expires_at: i64,
            ) -> $crate::Result<()> {
                ::sqlx::query(
                    "INSERT INTO connection_states (digest, connection_id, data, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(digest)
                .bind(connection_id)
                .bind(data)
                .bind(expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn take_connection_state(
                &self,
                digest: &str,
                now: i64,
            ) -> $crate::Result<Option<(String, String)>> {
                let row = ::sqlx::query(
                    "DELETE FROM connection_states WHERE digest = $1
                     RETURNING connection_id, data, expires_at",
                )
                .bind(digest)
                .fetch_optional(self.writer())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let expires_at: i64 = row.try_get("expires_at")?;
                if expires_at <= now {
                    return Ok(None);
                }
                Ok(Some((row.try_get("connection_id")?, row.try_get("data")?)))
            }

            async fn lock_connection(&self, id: &str, owner: &str, now: i64, until: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "INSERT INTO connection_locks (connection_id, owner, until) VALUES ($1, $2, $4)
                     ON CONFLICT (connection_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
                     WHERE connection_locks.until <= $3 OR connection_locks.owner = excluded.owner",
                )
                .bind(id)
                .bind(owner)
                .bind(now)
                .bind(until)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn unlock_connection(&self, id: &str, owner: &str) -> $crate::Result<()> {
                ::sqlx::query("DELETE FROM connection_locks WHERE connection_id = $1 AND owner = $2")
                    .bind(id)
                    .bind(owner)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn reserve_rate(
                &self,
                key: &str,
                requests: u32,
                window_ms: i64,
                now: i64,
                max_wait_ms: i64,
            ) -> $crate::Result<$crate::connectors::Reservation> {
                let requests = i64::from(requests.max(1));
                let mut tx = self.writer().begin().await?;
                Self::lock_rate_key(&mut *tx, key).await?;
                // A limit made smaller keeps only as many slots as it now allows.
                ::sqlx::query("DELETE FROM rate_slots WHERE key = $1 AND slot >= $2")
                    .bind(key)
                    .bind(requests)
                    .execute(&mut *tx)
                    .await?;
                let row = ::sqlx::query(
                    "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM rate_slots WHERE key = $1",
                )
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let filled: i64 = row.try_get("n")?;
                let oldest: Option<i64> = row.try_get("oldest")?;
                let full = filled >= requests;
                let at = $crate::connectors::sql::next_slot(full, oldest.unwrap_or(now), window_ms, now);
                if at > now.saturating_add(max_wait_ms) {
                    return Ok($crate::connectors::Reservation::Full(at));
                }
                if full {
                    ::sqlx::query(
                        "UPDATE rate_slots SET at = $2, window_ms = $3 WHERE key = $1 AND slot =
                            (SELECT slot FROM rate_slots WHERE key = $1 ORDER BY at, slot LIMIT 1)",
                    )
                    .bind(key)
                    .bind(at)
                    .bind(window_ms)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    ::sqlx::query(
                        "INSERT INTO rate_slots (key, slot, at, window_ms) VALUES ($1,
                            (SELECT COALESCE(MAX(slot) + 1, 0) FROM rate_slots WHERE key = $1), $2, $3)",
                    )
                    .bind(key)
                    .bind(at)
                    .bind(window_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok($crate::connectors::Reservation::At(at))
            }

            async fn insert_calls(&self, calls: &[::switchyard_core::connector::Call]) -> $crate::Result<()> {
                let per_row = $crate::connectors::sql::CALL_PARAMS;
                for chunk in calls.chunks($crate::sql::ROWS / 2) {
                    let head = format!("INSERT INTO connector_calls ({})", $crate::connectors::sql::CALL_COLUMNS);
                    let sql = $crate::sql::values_sql(&head, chunk.len(), per_row);
                    let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for c in chunk {
                        q = q
                            .bind(&c.id)
                            .bind(&c.connection_id)
                            .bind(&c.connector)
                            .bind(&c.method)
                            .bind(&c.path)
                            .bind(c.status.map(i64::from))
                            .bind(i64::from(c.attempts))
                            .bind(&c.cache)
                            .bind(c.duration_ms)
                            .bind(c.bytes)
                            .bind(&c.error)
                            .bind(c.at);
                    }
                    q.execute(self.writer()).await?;
                }
                Ok(())
            }

            async fn list_calls(
                &self,
                connection_id: &str,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::connector::Call>> {
                let sql = format!(
                    "SELECT {} FROM connector_calls WHERE connection_id = $1 AND ($2 IS NULL OR id < $2)
                     ORDER BY id DESC LIMIT $3",
                    $crate::connectors::sql::CALL_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(connection_id)
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(call_row).collect()
            }

            async fn sweep_connectors(&self, now: i64, calls_before: i64) -> $crate::Result<u64> {
                let mut gone = 0;
                gone += ::sqlx::query("DELETE FROM connection_states WHERE expires_at <= $1")
                    .bind(now)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                gone += ::sqlx::query("DELETE FROM connector_calls WHERE at < $1")
                    .bind(calls_before)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                gone += ::sqlx::query(
                    "DELETE FROM rate_slots WHERE key IN (SELECT key FROM rate_slots
                        GROUP BY key HAVING MAX(at + window_ms) < $1)",
                )
                .bind(now)
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(gone)
            }
        }
    };
}

pub(crate) use connector_store_impl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_not_yet_filled_is_free_at_once() {
        assert_eq!(next_slot(false, 0, 1000, 5), 5);
    }

    #[test]
    fn a_filled_limit_waits_for_its_oldest_slot_to_leave_the_window() {
        assert_eq!(next_slot(true, 100, 1000, 500), 1100);
        assert_eq!(next_slot(true, 100, 1000, 2000), 2000);
    }
}
