//! Messages and their send attempts: SQL shared by both backends (see
//! `common.rs` for the pattern). Each backend provides `CLAIM_MESSAGES` (on PostgreSQL,
//! rows another node is claiming are skipped). Status history and provider reports are
//! in `status_sql.rs`.

use switchyard_core::event::NewEvent;
use switchyard_core::message::{Message, Status};

pub(crate) const MESSAGE_COLUMNS: &str = "id, channel, category, account, status, provider,
    provider_message_id, recipients, subject, content, metadata, idempotency_key,
    request_digest, credits, attempts, next_attempt_at, last_error, created_at, updated_at";

/// Inserts a message unless its idempotency key is taken; returns the id if inserted.
/// A message is stored queued: its `due_at` (the send queue's key) is its next attempt.
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, channel, category, account,
        status, status_rank, provider, provider_message_id, recipients, subject, content,
        metadata, idempotency_key, request_digest, credits, attempts, next_attempt_at,
        last_error, created_at, updated_at, due_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21)
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id";

/// The earliest time a waiting message that no claim holds is due: the first entry of
/// the send queue's index without a lease (planned with `Dialect::plan_claims`). A lease
/// that runs out (its sender stopped) is not looked for here: claim loops poll at least
/// once a second, and each poll claims such messages.
pub(crate) const NEXT_DUE: &str = "SELECT due_at FROM messages
    WHERE due_at IS NOT NULL AND lease_until IS NULL AND status IN ('queued', 'sending')
    ORDER BY due_at, id LIMIT 1";

/// The `message.sent` / `message.failed` event the hub publishes, as an application
/// event (the server's `app_event`): source `app`, unique by its id, processed and
/// delivered like any other.
pub(crate) fn message_event(
    message: &Message,
    status: Status,
    detail: Option<&str>,
    now: i64,
) -> NewEvent {
    let payload = switchyard_core::message::event_payload(message, status, detail);
    NewEvent::published(&format!("message.{status}"), &payload, None, now)
}

macro_rules! message_store_impl {
    ($store:ty, $db:ty) => {
        fn message_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::message::Message> {
            use $crate::sql::{json, parse};
            let metadata: Option<&str> = row.try_get("metadata")?;
            let channel: ::switchyard_core::message::Channel = parse(row.try_get("channel")?, "message channel")?;
            let content: &str = row.try_get("content")?;
            Ok(::switchyard_core::message::Message {
                id: row.try_get("id")?,
                channel,
                category: parse(row.try_get("category")?, "message category")?,
                account: row.try_get("account")?,
                status: parse(row.try_get("status")?, "message status")?,
                provider: row.try_get("provider")?,
                provider_message_id: row.try_get("provider_message_id")?,
                recipients: json(row.try_get("recipients")?, "message recipients")?,
                subject: row.try_get("subject")?,
                content: ::switchyard_core::message::MessageContent::from_json(channel, content)
                    .map_err(|e| $crate::StoreError::Corrupt(format!("message content: {e}")))?,
                metadata: metadata.map(|m| json(m, "message metadata")).transpose()?,
                idempotency_key: row.try_get("idempotency_key")?,
                request_digest: row.try_get("request_digest")?,
                credits: row.try_get("credits")?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn template_from_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<::switchyard_core::message::Template> {
            Ok(::switchyard_core::message::Template {
                name: row.try_get("name")?,
                subject: row.try_get("subject")?,
                html: row.try_get("html")?,
                text: row.try_get("text")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        impl $store {
            /// Claims up to `limit` due messages in `conn`'s transaction, writing the
            /// `sending` entry of those claimed for the first time; oldest due first.
            async fn claim_messages_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                limit: u32,
                now: i64,
                lease_until: i64,
            ) -> $crate::Result<Vec<::switchyard_core::message::Message>> {
                use ::switchyard_core::message::Status;
                use $crate::messaging::status_sql::StatusRow;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                Self::plan_claims(&mut *conn).await?;
                let sql = format!("{} RETURNING {}", Self::CLAIM_MESSAGES, $crate::messaging::messages_sql::MESSAGE_COLUMNS);
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .bind(Status::Sending.rank())
                    .fetch_all(&mut *conn)
                    .await?;
                let mut claimed = rows.iter().map(message_from_row).collect::<$crate::Result<Vec<_>>>()?;
                // Messages start with no attempt, so the first claim is the one that
                // moved them out of `queued`.
                let started: Vec<StatusRow<'_>> = claimed
                    .iter()
                    .filter(|m| m.attempts == 1)
                    .map(|m| StatusRow::of(&m.id, Status::Sending, now))
                    .collect();
                Self::insert_status_rows(&mut *conn, &started).await?;
                claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
                Ok(claimed)
            }

            async fn message_by_key(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                key: &str,
            ) -> $crate::Result<Option<::switchyard_core::message::Message>> {
                let sql = format!(
                    "SELECT {} FROM messages WHERE idempotency_key = $1",
                    $crate::messaging::messages_sql::MESSAGE_COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(key).fetch_optional(&mut *conn).await?;
                row.as_ref().map(message_from_row).transpose()
            }

            /// Stores one message (and reserves its credits) inside the caller's
            /// transaction. A message that is not stored leaves no trace: when its
            /// credits were reserved before its key turned out to be taken, a savepoint
            /// undoes the reservation.
            async fn accept_in(
                tx: &mut ::sqlx::Transaction<'static, $db>,
                message: &::switchyard_core::message::Message,
                charge: Option<&$crate::messaging::Charge>,
            ) -> $crate::Result<$crate::messaging::Acceptance> {
                use ::switchyard_core::credit::Reservation;
                use ::switchyard_core::message::{Message, Status};
                use $crate::messaging::Acceptance;
                                use $crate::messaging::status_sql::StatusRow;
                // Only a keyed message can lose a race after reserving.
                let savepoint = charge.is_some() && message.idempotency_key.is_some();
                if savepoint {
                    ::sqlx::query("SAVEPOINT keyed_accept").execute(&mut **tx).await?;
                }
                let mut credits = 0;
                if let Some(charge) = charge {
                    let reservation = Self::reserve_in(
                        &mut **tx,
                        &charge.account,
                        message.channel,
                        charge.credits,
                        &message.id,
                        message.created_at,
                    )
                    .await?;
                    let short = match reservation {
                        Reservation::Reserved { .. } => {
                            credits = charge.credits;
                            None
                        }
                        Reservation::Unmetered if !charge.required => None,
                        Reservation::Unmetered => Some(0),
                        Reservation::Insufficient { balance } => Some(balance),
                    };
                    if let Some(balance) = short {
                        if savepoint {
                            ::sqlx::query("RELEASE SAVEPOINT keyed_accept").execute(&mut **tx).await?;
                        }
                        // A repeated request stays answered as such once the balance ran short.
                        if let Some(key) = &message.idempotency_key
                            && let Some(existing) = Self::message_by_key(&mut **tx, key).await?
                        {
                            return Ok(Acceptance::Existing(existing));
                        }
                        return Ok(Acceptance::Insufficient { balance });
                    }
                }
                let stored = Message {
                    status: Status::Queued,
                    credits,
                    attempts: 0,
                    ..message.clone()
                };
                let inserted: Option<String> = ::sqlx::query_scalar($crate::messaging::messages_sql::INSERT_MESSAGE)
                    .bind(&stored.id)
                    .bind(stored.channel.as_str())
                    .bind(stored.category.as_str())
                    .bind(&stored.account)
                    .bind(stored.status.as_str())
                    .bind(stored.status.rank())
                    .bind(&stored.provider)
                    .bind(&stored.provider_message_id)
                    .bind(::serde_json::to_string(&stored.recipients).expect("strings serialize"))
                    .bind(&stored.subject)
                    .bind(stored.content.to_json())
                    .bind(stored.metadata.as_ref().map($crate::sql::to_json))
                    .bind(&stored.idempotency_key)
                    .bind(&stored.request_digest)
                    .bind(stored.credits)
                    .bind(stored.attempts)
                    .bind(stored.next_attempt_at)
                    .bind(&stored.last_error)
                    .bind(stored.created_at)
                    .bind(stored.updated_at)
                    .bind(stored.next_attempt_at)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(|e| map_unique(e, "message"))?;
                if inserted.is_none() {
                    // Another request with this key was stored meanwhile: give back the
                    // credits reserved above.
                    if savepoint {
                        ::sqlx::query("ROLLBACK TO SAVEPOINT keyed_accept").execute(&mut **tx).await?;
                        ::sqlx::query("RELEASE SAVEPOINT keyed_accept").execute(&mut **tx).await?;
                    }
                    let key = stored.idempotency_key.as_deref().unwrap_or_default();
                    return match Self::message_by_key(&mut **tx, key).await? {
                        Some(existing) => Ok(Acceptance::Existing(existing)),
                        None => Err($crate::StoreError::Conflict("message idempotency key".into())),
                    };
                }
                if savepoint {
                    ::sqlx::query("RELEASE SAVEPOINT keyed_accept").execute(&mut **tx).await?;
                }
                Self::insert_status_rows(&mut **tx, &[StatusRow::of(&stored.id, Status::Queued, stored.created_at)])
                    .await?;
                Ok(Acceptance::Accepted(stored))
            }
        }

        #[::async_trait::async_trait]
        impl $crate::messaging::MessageStore for $store {
            async fn accept_messages(
                &self,
                batch: &[(::switchyard_core::message::Message, Option<$crate::messaging::Charge>)],
            ) -> $crate::Result<Vec<$crate::messaging::Acceptance>> {
                use $crate::messaging::Acceptance;
                // Repeats of a stored key are answered without taking the write lock.
                let mut answers: Vec<Option<Acceptance>> = vec![None; batch.len()];
                if batch.iter().any(|(m, _)| m.idempotency_key.is_some()) {
                    let mut conn = self.reader().acquire().await?;
                    for (i, (message, _)) in batch.iter().enumerate() {
                        if let Some(key) = &message.idempotency_key
                            && let Some(existing) = Self::message_by_key(&mut conn, key).await?
                        {
                            answers[i] = Some(Acceptance::Existing(existing));
                        }
                    }
                }
                if answers.iter().all(Option::is_some) {
                    return Ok(answers.into_iter().flatten().collect());
                }
                // Every path writes first, so on SQLite the transaction holds the write
                // lock from its first statement.
                let mut tx = self.writer().begin().await?;
                let mut accepted = false;
                // Messages that reserve nothing are stored together, a statement per
                // batch; the others one at a time, each with its reservation.
                let plain: Vec<&::switchyard_core::message::Message> = batch
                    .iter()
                    .zip(&answers)
                    .filter(|((_, charge), answer)| charge.is_none() && answer.is_none())
                    .map(|((m, _), _)| m)
                    .collect();
                let stored = Self::insert_messages_in(&mut tx, &plain).await?;
                for (i, (message, charge)) in batch.iter().enumerate() {
                    if answers[i].is_some() {
                        continue;
                    }
                    let answer = if charge.is_some() {
                        Self::accept_in(&mut tx, message, charge.as_ref()).await?
                    } else if stored.contains(&message.id) {
                        Acceptance::Accepted(::switchyard_core::message::Message {
                            status: ::switchyard_core::message::Status::Queued,
                            credits: 0,
                            attempts: 0,
                            ..message.clone()
                        })
                    } else {
                        // Its key was taken, before or earlier in this batch.
                        let key = message.idempotency_key.as_deref().unwrap_or_default();
                        match Self::message_by_key(&mut *tx, key).await? {
                            Some(existing) => Acceptance::Existing(existing),
                            None => return Err($crate::StoreError::Conflict("message idempotency key".into())),
                        }
                    };
                    accepted |= matches!(answer, Acceptance::Accepted(_));
                    answers[i] = Some(answer);
                }
                tx.commit().await?;
                if accepted {
                    self.work_added($crate::Work::Messages.bit());
                }
                Ok(answers.into_iter().flatten().collect())
            }

            async fn claim_messages(
                &self,
                limit: u32,
                now: i64,
                lease_until: i64,
            ) -> $crate::Result<Vec<::switchyard_core::message::Message>> {
                let mut tx = self.writer().begin().await?;
                // A claim lost in a crash only makes its messages claimable again once
                // the lease ends (and writes their `sending` entry again): its commit
                // need not wait for the disk.
                Self::commit_without_flush(&mut tx).await?;
                let claimed = Self::claim_messages_in(&mut tx, limit, now, lease_until).await?;
                tx.commit().await?;
                Ok(claimed)
            }

            async fn extend_message_lease(&self, id: &str, attempt: i64, lease_until: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE messages SET lease_until = $3 WHERE id = $1 AND attempts = $2 AND status = 'sending'",
                )
                .bind(id)
                .bind(attempt)
                .bind(lease_until)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_sends(
                &self,
                results: &[::switchyard_core::message::SendResult],
                now: i64,
            ) -> $crate::Result<Vec<bool>> {
                Ok(self.record_sends_processed(results, now, &[], $crate::Claim::NONE).await?.recorded)
            }

            async fn record_sends_processed(
                &self,
                results: &[::switchyard_core::message::SendResult],
                now: i64,
                stages: &[::std::sync::Arc<dyn $crate::intake::Stage>],
                next: $crate::Claim,
            ) -> $crate::Result<$crate::messaging::RecordedSends> {
                use ::switchyard_core::message::{SendOutcome, Status};
                use $crate::messaging::messages_sql::message_event;
                use $crate::messaging::status_sql::StatusRow;
                let mut tx = self.writer().begin().await?;
                // Same lock order as status reports: the provider ids (sorted), then the
                // message rows.
                let mut references: Vec<String> = results
                    .iter()
                    .filter_map(|r| match &r.outcome {
                        SendOutcome::Sent { provider_message_id, .. } => provider_message_id.clone(),
                        _ => None,
                    })
                    .collect();
                references.sort();
                references.dedup();
                if !references.is_empty() {
                    Self::lock_provider_refs(&mut *tx, &references).await?;
                }
                let changed = Self::record_send_rows(&mut tx, results, now).await?;
                let recorded: Vec<bool> = changed.iter().map(Option::is_some).collect();
                let done: Vec<(&::switchyard_core::message::SendResult, &::switchyard_core::message::Message)> = results
                    .iter()
                    .zip(&changed)
                    .filter_map(|(r, m)| m.as_ref().map(|m| (r, m)))
                    .collect();
                let tries: Vec<(&str, i64, &[::switchyard_core::message::SendAttempt])> =
                    done.iter().map(|(r, m)| (m.id.as_str(), r.attempt, r.tries.as_slice())).collect();
                Self::insert_send_attempts_in(&mut *tx, &tries).await?;
                let sent_refs: Vec<&str> = done
                    .iter()
                    .filter_map(|(r, m)| match &r.outcome {
                        SendOutcome::Sent { .. } => m.provider_message_id.as_deref(),
                        _ => None,
                    })
                    .collect();
                let awaited = if sent_refs.is_empty() {
                    ::std::collections::HashSet::new()
                } else {
                    Self::awaited_references(&mut *tx, &sent_refs).await?
                };
                let mut rows = Vec::new();
                let mut events = Vec::new();
                for (result, message) in &done {
                    let commit_credits = match &result.outcome {
                        SendOutcome::Retry { .. } => None,
                        SendOutcome::Sent { provider_message_id, .. } => {
                            rows.push(StatusRow::of(&message.id, Status::Sent, now));
                            events.push(message_event(message, Status::Sent, None, now));
                            if let Some(reference) = provider_message_id
                                && awaited.contains(reference)
                            {
                                Self::adopt_status_reports(&mut *tx, message, reference, now).await?;
                            }
                            Some(true)
                        }
                        SendOutcome::Failed { reason } => {
                            rows.push(StatusRow {
                                detail: Some(reason),
                                ..StatusRow::of(&message.id, Status::Failed, now)
                            });
                            events.push(message_event(message, Status::Failed, Some(reason), now));
                            Some(false)
                        }
                    };
                    if let (Some(commit), Some(account)) = (commit_credits, &message.account)
                        && message.credits > 0
                    {
                        Self::settle_in(&mut *tx, account, message.channel, message.credits, &message.id, commit, now).await?;
                    }
                }
                Self::insert_status_rows(&mut *tx, &rows).await?;
                let mut woke = $crate::Work::Messages.bit();
                let mut processed = 0;
                if !events.is_empty() && stages.is_empty() {
                    Self::insert_event_rows(&mut tx, &events, None).await?;
                    // Published events await processing.
                    woke |= $crate::Work::Events.bit();
                } else if !events.is_empty() {
                    // The published events are processed in this transaction too.
                    Self::insert_event_rows(&mut tx, &events, Some(now)).await?;
                    let mut published: Vec<$crate::intake::ReceivedEvent> =
                        events.iter().map($crate::intake::ReceivedEvent::of).collect();
                    published.sort_by(|a, b| a.id.cmp(&b.id));
                    let mut processing = Processing { tx, woke: 0, storing: &events };
                    for stage in stages {
                        if let Err(e) = stage.run(&mut processing, &published, now).await {
                            tracing::warn!(error = %e, stage = stage.name(), events = published.len(),
                                "processing published message events failed; leaving them to the processors");
                            processing.tx.rollback().await?;
                            return self.record_sends_processed(results, now, &[], next).await;
                        }
                    }
                    woke |= processing.woke;
                    processed = published.len() as u64;
                    tx = processing.tx;
                }
                // The slots these outcomes free, filled in the same transaction.
                let claimed = Self::claim_messages_in(&mut tx, next.limit, now, next.lease_until).await?;
                tx.commit().await?;
                // A retry changes when the queue is due.
                if recorded.contains(&true) {
                    self.work_added(woke);
                }
                Ok($crate::messaging::RecordedSends { recorded, processed, claimed })
            }

            async fn get_message(&self, id: &str) -> $crate::Result<Option<::switchyard_core::message::Message>> {
                let sql = format!("SELECT {} FROM messages WHERE id = $1", $crate::messaging::messages_sql::MESSAGE_COLUMNS);
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(message_from_row).transpose()
            }

            async fn list_messages(
                &self,
                filter: &$crate::messaging::MessageFilter,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::message::Message>> {
                let sql = format!(
                    "SELECT {} FROM messages
                     WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR channel = $2) AND ($3 IS NULL OR status = $3)
                       AND ($4 IS NULL OR account = $4) AND ($5 IS NULL OR created_at >= $5)
                       AND ($6 IS NULL OR created_at < $6)
                     ORDER BY id DESC LIMIT $7",
                    $crate::messaging::messages_sql::MESSAGE_COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(page.cursor.as_deref())
                    .bind(filter.channel.map(|c| c.as_str()))
                    .bind(filter.status.map(|s| s.as_str()))
                    .bind(filter.account.as_deref())
                    .bind(filter.since)
                    .bind(filter.until)
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(message_from_row).collect()
            }

            async fn message_history(&self, id: &str) -> $crate::Result<Vec<::switchyard_core::message::StatusEntry>> {
                use ::switchyard_core::message::StatusEntry;
                let rows: Vec<(String, i64, Option<String>, Option<String>)> = ::sqlx::query_as(
                    "SELECT status, at, detail, event_id FROM message_status WHERE message_id = $1 ORDER BY seq",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter()
                    .map(|(status, at, detail, event_id)| {
                        Ok(StatusEntry {
                            status: $crate::sql::parse(&status, "message status")?,
                            at,
                            detail,
                            event_id,
                        })
                    })
                    .collect()
            }

            async fn message_attempts(&self, id: &str) -> $crate::Result<Vec<::switchyard_core::message::SendAttempt>> {
                let rows: Vec<(String, i64, i64, String, Option<String>)> = ::sqlx::query_as(
                    "SELECT provider, at, duration_ms, outcome, error FROM message_attempts
                     WHERE message_id = $1 ORDER BY n",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter()
                    .map(|(provider, at, duration_ms, outcome, error)| {
                        Ok(::switchyard_core::message::SendAttempt {
                            provider,
                            at,
                            duration_ms,
                            outcome: $crate::sql::parse(&outcome, "send attempt outcome")?,
                            error,
                        })
                    })
                    .collect()
            }

            async fn next_message_due(&self) -> $crate::Result<Option<i64>> {
// Planned like a claim: PostgreSQL's statistics of a queue that grew since
                // they were taken would have it read the whole table.
                let mut tx = self.reader().begin().await?;
                Self::plan_claims(&mut *tx).await?;
                let due = ::sqlx::query_scalar($crate::messaging::messages_sql::NEXT_DUE)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(due)
            }
        }
    };
}

pub(crate) use message_store_impl;
