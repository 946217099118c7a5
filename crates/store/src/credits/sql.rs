//! Credits: SQL shared by both backends (see `common.rs` for the pattern).

macro_rules! credit_store_impl {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Appends a ledger entry.
            async fn ledger_entry(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                entry: &::switchyard_core::credit::LedgerEntry,
            ) -> $crate::Result<()> {
                ::sqlx::query(
                    "INSERT INTO credit_ledger (id, account, channel, delta, kind, reason, message_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&entry.id)
                .bind(&entry.account)
                .bind(entry.channel.as_str())
                .bind(entry.delta)
                .bind(entry.kind.as_str())
                .bind(&entry.reason)
                .bind(&entry.message_id)
                .bind(entry.created_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Takes `n` credits for `message_id` within the caller's transaction, if the
            /// balance allows; a balance that does not is left unchanged.
            async fn reserve_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                account: &str,
                channel: ::switchyard_core::message::Channel,
                n: i64,
                message_id: &str,
                now: i64,
            ) -> $crate::Result<::switchyard_core::credit::Reservation> {
                use ::switchyard_core::credit::Reservation;
                let left: Option<i64> = ::sqlx::query_scalar(
                    "UPDATE credit_balances SET balance = balance - $3, updated_at = $4
                     WHERE account = $1 AND channel = $2 AND balance >= $3 RETURNING balance",
                )
                .bind(account)
                .bind(channel.as_str())
                .bind(n)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(balance) = left {
                    Self::ledger_entry(&mut *conn, &entry(account, channel, -n, ::switchyard_core::credit::LedgerKind::Reserve, None, Some(message_id), now))
                        .await?;
                    return Ok(Reservation::Reserved { balance });
                }
                let current: Option<i64> =
                    ::sqlx::query_scalar("SELECT balance FROM credit_balances WHERE account = $1 AND channel = $2")
                        .bind(account)
                        .bind(channel.as_str())
                        .fetch_optional(&mut *conn)
                        .await?;
                Ok(match current {
                    None => Reservation::Unmetered,
                    Some(balance) => Reservation::Insufficient { balance },
                })
            }

            /// Settles a reservation within the caller's transaction: `commit` records
            /// that the credits were spent; otherwise they go back to the balance.
            async fn settle_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                account: &str,
                channel: ::switchyard_core::message::Channel,
                n: i64,
                message_id: &str,
                commit: bool,
                now: i64,
            ) -> $crate::Result<()> {
                if commit {
                    return Self::ledger_entry(
                        &mut *conn,
                        &entry(account, channel, 0, ::switchyard_core::credit::LedgerKind::Commit, None, Some(message_id), now),
                    )
                    .await;
                }
                ::sqlx::query(
                    "UPDATE credit_balances SET balance = balance + $3, updated_at = $4
                     WHERE account = $1 AND channel = $2",
                )
                .bind(account)
                .bind(channel.as_str())
                .bind(n)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Self::ledger_entry(&mut *conn, &entry(account, channel, n, ::switchyard_core::credit::LedgerKind::Refund, None, Some(message_id), now)).await
            }
        }

        fn entry(
            account: &str,
            channel: ::switchyard_core::message::Channel,
            delta: i64,
            kind: ::switchyard_core::credit::LedgerKind,
            reason: Option<&str>,
            message_id: Option<&str>,
            now: i64,
        ) -> ::switchyard_core::credit::LedgerEntry {
            ::switchyard_core::credit::LedgerEntry {
                id: ::switchyard_core::new_id("cl"),
                account: account.into(),
                channel,
                delta,
                kind,
                reason: reason.map(str::to_string),
                message_id: message_id.map(str::to_string),
                created_at: now,
            }
        }

        #[::async_trait::async_trait]
        impl $crate::credits::CreditStore for $store {
            async fn grant_credits(
                &self,
                account: &str,
                channel: ::switchyard_core::message::Channel,
                amount: i64,
                reason: Option<&str>,
                now: i64,
            ) -> $crate::Result<Option<i64>> {
                let mut tx = self.writer().begin().await?;
                ::sqlx::query(
                    "INSERT INTO credit_balances (account, channel, balance, updated_at) VALUES ($1, $2, 0, $3)
                     ON CONFLICT (account, channel) DO NOTHING",
                )
                .bind(account)
                .bind(channel.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let balance: Option<i64> = ::sqlx::query_scalar(
                    "UPDATE credit_balances SET balance = balance + $3, updated_at = $4
                     WHERE account = $1 AND channel = $2 AND balance + $3 >= 0 RETURNING balance",
                )
                .bind(account)
                .bind(channel.as_str())
                .bind(amount)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(balance) = balance else {
                    return Ok(None); // rolled back
                };
                Self::ledger_entry(&mut *tx, &entry(account, channel, amount, ::switchyard_core::credit::LedgerKind::Grant, reason, None, now)).await?;
                tx.commit().await?;
                Ok(Some(balance))
            }

            async fn credit_balances(
                &self,
                account: &str,
            ) -> $crate::Result<Vec<(::switchyard_core::message::Channel, i64)>> {
                let rows: Vec<(String, i64)> = ::sqlx::query_as(
                    "SELECT channel, balance FROM credit_balances WHERE account = $1 ORDER BY channel",
                )
                .bind(account)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter()
                    .map(|(channel, balance)| Ok(($crate::sql::parse(&channel, "credit channel")?, balance)))
                    .collect()
            }

            async fn reserve_credits(
                &self,
                account: &str,
                channel: ::switchyard_core::message::Channel,
                n: i64,
                message_id: &str,
                now: i64,
            ) -> $crate::Result<::switchyard_core::credit::Reservation> {
                let mut tx = self.writer().begin().await?;
                let reservation = Self::reserve_in(&mut *tx, account, channel, n, message_id, now).await?;
                tx.commit().await?;
                Ok(reservation)
            }

            async fn settle_credits(
                &self,
                account: &str,
                channel: ::switchyard_core::message::Channel,
                n: i64,
                message_id: &str,
                commit: bool,
                now: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.writer().begin().await?;
                Self::settle_in(&mut *tx, account, channel, n, message_id, commit, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn credit_ledger(
                &self,
                account: &str,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<::switchyard_core::credit::LedgerEntry>> {
                let rows: Vec<(String, String, String, i64, String, Option<String>, Option<String>, i64)> =
                    ::sqlx::query_as(
                        "SELECT id, account, channel, delta, kind, reason, message_id, created_at FROM credit_ledger
                         WHERE account = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                    )
                    .bind(account)
                    .bind(page.cursor.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.into_iter()
                    .map(|(id, account, channel, delta, kind, reason, message_id, created_at)| {
                        Ok(::switchyard_core::credit::LedgerEntry {
                            id,
                            account,
                            channel: $crate::sql::parse(&channel, "ledger channel")?,
                            delta,
                            kind: $crate::sql::parse(&kind, "ledger kind")?,
                            reason,
                            message_id,
                            created_at,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use credit_store_impl;
