//! Message status history and provider status reports: SQL shared by both backends
//! (see `common.rs` for the pattern).
//!
//! A message's status only moves to a higher [`Status::rank`]; every report is kept in
//! its history. A report naming a provider id no message has yet (the provider's
//! webhook beat the sender's record of the send) waits unowned and is adopted when the
//! send is recorded. Each backend provides `lock_provider_refs`, which makes recording a
//! send and processing reports that name the same provider id take turns, so that a
//! report is never left unowned by a send recorded at the same moment.

use switchyard_core::message::Status;

/// One entry of `message_status`.
#[derive(Debug)]
pub(crate) struct StatusRow<'a> {
    /// `None` for a report whose message is not known yet.
    pub message_id: Option<&'a str>,
    pub provider_message_id: Option<&'a str>,
    pub status: Status,
    pub at: i64,
    pub detail: Option<&'a str>,
    pub event_id: Option<&'a str>,
}

impl<'a> StatusRow<'a> {
    pub(crate) fn of(message_id: &'a str, status: Status, at: i64) -> Self {
        Self {
            message_id: Some(message_id),
            provider_message_id: None,
            status,
            at,
            detail: None,
            event_id: None,
        }
    }
}

/// The status a message at `rank` moves to after `statuses`, reported in this order:
/// the highest-ranked one above `rank`, the first reported among equals.
pub(crate) fn raised(rank: i64, statuses: impl IntoIterator<Item = Status>) -> Option<Status> {
    let mut best = None;
    let mut rank = rank;
    for status in statuses {
        if status.rank() > rank {
            rank = status.rank();
            best = Some(status);
        }
    }
    best
}

macro_rules! status_store_impl {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_status_rows(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                rows: &[$crate::messaging::status_sql::StatusRow<'_>],
            ) -> $crate::Result<()> {
                for chunk in rows.chunks($crate::sql::ROWS) {
                    let sql = $crate::sql::statement::<Self>($crate::sql::values_sql(
                        "INSERT INTO message_status (message_id, provider_message_id, status, at, detail, event_id)",
                        chunk.len(),
                        6,
                    ));
                    let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        query = query
                            .bind(r.message_id)
                            .bind(r.provider_message_id)
                            .bind(r.status.as_str())
                            .bind(r.at)
                            .bind(r.detail)
                            .bind(r.event_id);
                    }
                    query.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Moves a message to `status` unless it already has that rank or higher.
            async fn raise_status(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                message_id: &str,
                status: ::switchyard_core::message::Status,
                at: i64,
            ) -> $crate::Result<()> {
                ::sqlx::query(
                    "UPDATE messages SET status = $2, status_rank = $3, updated_at = $4
                     WHERE id = $1 AND status_rank < $3",
                )
                .bind(message_id)
                .bind(status.as_str())
                .bind(status.rank())
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Applies provider status reports in the caller's transaction: each joins
            /// its message's history (or waits, unowned, until the send naming its
            /// provider id is recorded) and may raise the message's status.
            async fn apply_status_reports_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                reports: &[$crate::messaging::StatusReport],
                at: i64,
            ) -> $crate::Result<()> {
                use $crate::sql::{placeholders, ROWS};
                use $crate::messaging::status_sql::StatusRow;
                if reports.is_empty() {
                    return Ok(());
                }
                let mut refs: Vec<String> = reports.iter().map(|r| r.provider_message_id.clone()).collect();
                refs.sort();
                refs.dedup();
                Self::lock_provider_refs(&mut *conn, &refs).await?;
                // provider id → (message, its rank); the newest message should two share one.
                let mut owners: ::std::collections::HashMap<String, (String, i64)> = ::std::collections::HashMap::new();
                for chunk in refs.chunks(ROWS) {
                    let sql = format!(
                        "SELECT id, provider_message_id, status_rank FROM messages WHERE provider_message_id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = ::sqlx::query_as::<_, (String, String, i64)>(::sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        query = query.bind(r);
                    }
                    for (id, reference, rank) in query.fetch_all(&mut *conn).await? {
                        let owner = owners.entry(reference).or_insert_with(|| (id.clone(), rank));
                        if id > owner.0 {
                            *owner = (id, rank);
                        }
                    }
                }
                let rows: Vec<StatusRow<'_>> = reports
                    .iter()
                    .map(|r| StatusRow {
                        message_id: owners.get(&r.provider_message_id).map(|(id, _)| id.as_str()),
                        provider_message_id: Some(&r.provider_message_id),
                        status: r.status,
                        at: r.at,
                        detail: None,
                        event_id: Some(&r.event_id),
                    })
                    .collect();
                Self::insert_status_rows(&mut *conn, &rows).await?;
                let mut per_message: ::std::collections::BTreeMap<&str, (i64, Vec<::switchyard_core::message::Status>)> =
                    ::std::collections::BTreeMap::new();
                for r in reports {
                    if let Some((id, rank)) = owners.get(&r.provider_message_id) {
                        per_message.entry(id.as_str()).or_insert_with(|| (*rank, Vec::new())).1.push(r.status);
                    }
                }
                for (id, (rank, statuses)) in per_message {
                    if let Some(status) = $crate::messaging::status_sql::raised(rank, statuses) {
                        Self::raise_status(&mut *conn, id, status, at).await?;
                    }
                }
                Ok(())
            }

            /// Takes status reports that arrived before the provider id of `message`
            /// was known, and raises its status to theirs if higher.
            async fn adopt_status_reports(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                message: &::switchyard_core::message::Message,
                provider_message_id: &str,
                now: i64,
            ) -> $crate::Result<()> {
                let mut adopted: Vec<(i64, String)> = ::sqlx::query_as(
                    "UPDATE message_status SET message_id = $1
                     WHERE provider_message_id = $2 AND message_id IS NULL RETURNING seq, status",
                )
                .bind(&message.id)
                .bind(provider_message_id)
                .fetch_all(&mut *conn)
                .await?;
                adopted.sort();
                let statuses = adopted
                    .iter()
                    .map(|(_, s)| $crate::sql::parse(s, "message status"))
                    .collect::<$crate::Result<Vec<::switchyard_core::message::Status>>>()?;
                if let Some(status) = $crate::messaging::status_sql::raised(message.status.rank(), statuses) {
                    Self::raise_status(&mut *conn, &message.id, status, now).await?;
                }
                Ok(())
            }

        }
    };
}

pub(crate) use status_store_impl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_raised_to_the_first_highest_report() {
        let sent = Status::Sent.rank();
        assert_eq!(
            raised(sent, [Status::Delivered, Status::Bounced]),
            Some(Status::Delivered),
            "equal ranks: the first reported stands"
        );
        assert_eq!(
            raised(sent, [Status::Deferred, Status::Opened, Status::Delivered]),
            Some(Status::Opened)
        );
        assert_eq!(raised(Status::Delivered.rank(), [Status::Sent]), None);
        assert_eq!(raised(sent, []), None);
    }
}
