//! Messages a batch at a time: the statements that let acceptance and the recording of
//! sends cost a few statements per batch rather than several per message (see
//! `messages_sql.rs` for the pattern and the per-message rules they keep).

/// Parameters per message row of [`INSERT_MESSAGE`](super::messages_sql::INSERT_MESSAGE).
pub(crate) const MESSAGE_PARAMS: usize = 21;

/// Rows per multi-row statement of messages (21 parameters a row: within both backends'
/// limits).
pub(crate) const MESSAGE_ROWS: usize = 256;

/// `INSERT INTO messages … VALUES (…), (…)` for `rows` messages; a message whose
/// idempotency key is taken is skipped, and only new ids come back.
pub(crate) fn insert_messages_sql(rows: usize) -> String {
    let head = super::messages_sql::INSERT_MESSAGE
        .split(" VALUES ")
        .next()
        .expect("an INSERT");
    let mut sql = crate::sql::values_sql(head, rows, MESSAGE_PARAMS);
    sql.push_str(
        " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
    );
    sql
}

/// Numbers of provider calls a claim may record: call `k` (from 1) of claim `c` is
/// stored as `c * TRIES_PER_CLAIM + k`. A claim makes one call per configured provider.
pub(crate) const TRIES_PER_CLAIM: i64 = 1_000_000;

/// Parameters per outcome row of [`record_sends_sql`].
pub(crate) const OUTCOME_PARAMS: usize = 9;

/// The outcomes of `rows` claims, each applied if its claim is still current (the
/// message is `sending` with that many attempts): the status moves only to a higher
/// rank, and a retry keeps `sending` and its due time (the others leave the send
/// queue). `$1` is the time, then per row
/// the message, its claim, status, rank, provider, provider id, next attempt, error and
/// content to keep. Returns the messages changed.
pub(crate) fn record_sends_sql(rows: usize) -> String {
    const TYPES: [&str; OUTCOME_PARAMS] = [
        "TEXT", "BIGINT", "TEXT", "BIGINT", "TEXT", "TEXT", "BIGINT", "TEXT", "TEXT",
    ];
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let cells: Vec<String> = TYPES
                .iter()
                .enumerate()
                .map(|(i, t)| format!("CAST(${} AS {t})", 2 + row * OUTCOME_PARAMS + i))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!(
        "UPDATE messages SET
            status = CASE WHEN messages.status_rank < v.column4 THEN v.column3 ELSE messages.status END,
            status_rank = CASE WHEN messages.status_rank < v.column4 THEN v.column4 ELSE messages.status_rank END,
            provider = COALESCE(v.column5, messages.provider),
            provider_message_id = COALESCE(v.column6, messages.provider_message_id),
            next_attempt_at = COALESCE(v.column7, messages.next_attempt_at), due_at = v.column7,
            lease_until = NULL, last_error = v.column8,
            content = COALESCE(v.column9, messages.content), updated_at = $1
        FROM (VALUES {}) AS v
        WHERE messages.id = v.column1 AND messages.attempts = v.column2 AND messages.status = 'sending'
        RETURNING {}",
        values.join(", "),
        super::messages_sql::MESSAGE_COLUMNS
    )
}

macro_rules! message_batch_impl {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Stores messages that reserve no credits with multi-row statements, each
            /// with its `queued` history entry; returns the ids stored (a message whose
            /// key is taken is not).
            async fn insert_messages_in(
                tx: &mut ::sqlx::Transaction<'static, $db>,
                messages: &[&::switchyard_core::message::Message],
            ) -> $crate::Result<::std::collections::HashSet<String>> {
                use ::switchyard_core::message::Status;
                use $crate::messaging::status_sql::StatusRow;
                let mut inserted = ::std::collections::HashSet::with_capacity(messages.len());
                for chunk in messages.chunks($crate::messaging::batch_sql::MESSAGE_ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::messaging::batch_sql::insert_messages_sql(chunk.len()));
                    let mut query = ::sqlx::query_scalar::<_, String>(::sqlx::AssertSqlSafe(sql));
                    for m in chunk {
                        query = query
                            .bind(&m.id)
                            .bind(m.channel.as_str())
                            .bind(m.category.as_str())
                            .bind(&m.account)
                            .bind(Status::Queued.as_str())
                            .bind(Status::Queued.rank())
                            .bind(&m.provider)
                            .bind(&m.provider_message_id)
                            .bind(::serde_json::to_string(&m.recipients).expect("strings serialize"))
                            .bind(&m.subject)
                            .bind(m.content.to_json())
                            .bind(m.metadata.as_ref().map($crate::sql::to_json))
                            .bind(&m.idempotency_key)
                            .bind(&m.request_digest)
                            .bind(0i64)
                            .bind(0i64)
                            .bind(m.next_attempt_at)
                            .bind(&m.last_error)
                            .bind(m.created_at)
                            .bind(m.updated_at)
                            .bind(m.next_attempt_at);
                    }
                    inserted.extend(
                        query
                            .fetch_all(&mut **tx)
                            .await
                            .map_err(|e| map_unique(e, "message"))?,
                    );
                }
                let rows: Vec<StatusRow<'_>> = messages
                    .iter()
                    .filter(|m| inserted.contains(&m.id))
                    .map(|m| StatusRow::of(&m.id, Status::Queued, m.created_at))
                    .collect();
                Self::insert_status_rows(&mut **tx, &rows).await?;
                Ok(inserted)
            }

            /// Applies the outcomes of claims with multi-row statements; the message
            /// each changed, by its position (`None`: the claim is no longer current).
            async fn record_send_rows(
                tx: &mut ::sqlx::Transaction<'static, $db>,
                results: &[::switchyard_core::message::SendResult],
                now: i64,
            ) -> $crate::Result<Vec<Option<::switchyard_core::message::Message>>> {
                use ::switchyard_core::message::{SendOutcome, Status};
                let mut changed = ::std::collections::HashMap::with_capacity(results.len());
                for chunk in results.chunks($crate::sql::ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::messaging::batch_sql::record_sends_sql(chunk.len()));
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(now);
                    for r in chunk {
                        let keep = r.keep_content.as_ref().map(|c| c.to_json());
                        let (status, provider, reference, next_at, error, content) = match &r.outcome {
                            SendOutcome::Sent { provider, provider_message_id } => {
                                (Status::Sent, Some(provider.as_str()), provider_message_id.as_deref(), None, None, keep)
                            }
                            SendOutcome::Retry { at, error } => {
                                (Status::Sending, None, None, Some(*at), Some(error.as_str()), None)
                            }
                            SendOutcome::Failed { reason } => {
                                (Status::Failed, None, None, None, Some(reason.as_str()), keep)
                            }
                        };
                        query = query
                            .bind(&r.message_id)
                            .bind(r.attempt)
                            .bind(status.as_str())
                            .bind(status.rank())
                            .bind(provider)
                            .bind(reference)
                            .bind(next_at)
                            .bind(error)
                            .bind(content);
                    }
                    for row in query.fetch_all(&mut **tx).await? {
                        let message = message_from_row(&row)?;
                        changed.insert(message.id.clone(), message);
                    }
                }
                Ok(results.iter().map(|r| changed.remove(&r.message_id)).collect())
            }

            /// Stores the provider calls of each recorded claim with multi-row inserts.
            /// A call's number is its claim's times [`TRIES_PER_CLAIM`] plus its place in
            /// the claim: later claims' calls sort after earlier ones' without reading
            /// what is stored.
            ///
            /// [`TRIES_PER_CLAIM`]: $crate::messaging::batch_sql::TRIES_PER_CLAIM
            async fn insert_send_attempts_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                tries: &[(&str, i64, &[::switchyard_core::message::SendAttempt])],
            ) -> $crate::Result<()> {
                use $crate::messaging::batch_sql::TRIES_PER_CLAIM;
                let rows: Vec<(&str, i64, &::switchyard_core::message::SendAttempt)> = tries
                    .iter()
                    .flat_map(|(id, claim, attempts)| {
                        attempts.iter().zip(1..).map(move |(t, k)| (*id, claim * TRIES_PER_CLAIM + k, t))
                    })
                    .collect();
                for chunk in rows.chunks($crate::sql::ROWS) {
                    let sql = $crate::sql::statement::<Self>(format!(
                        "{} ON CONFLICT (message_id, n) DO NOTHING",
                        $crate::sql::values_sql(
                            "INSERT INTO message_attempts (message_id, n, provider, at, duration_ms, outcome, error)",
                            chunk.len(),
                            7,
                        )
                    ));
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for (id, n, t) in chunk {
                        query = query
                            .bind(*id)
                            .bind(*n)
                            .bind(&t.provider)
                            .bind(t.at)
                            .bind(t.duration_ms)
                            .bind(t.outcome.as_str())
                            .bind(&t.error);
                    }
                    query.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// The provider ids among `references` that reports are waiting for
            /// (unowned): one read for the batch, so that sends nobody reported on yet
            /// cost nothing more.
            async fn awaited_references(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                references: &[&str],
            ) -> $crate::Result<::std::collections::HashSet<String>> {
                let mut found = ::std::collections::HashSet::new();
                for chunk in references.chunks($crate::sql::ROWS) {
                    let sql = format!(
                        "SELECT DISTINCT provider_message_id FROM message_status
                         WHERE message_id IS NULL AND provider_message_id IN ({})",
                        $crate::sql::placeholders(1, chunk.len())
                    );
                    let mut query = ::sqlx::query_scalar::<_, String>(::sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        query = query.bind(*r);
                    }
                    found.extend(query.fetch_all(&mut *conn).await?);
                }
                Ok(found)
            }
        }
    };
}

pub(crate) use message_batch_impl;
