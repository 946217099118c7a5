//! The payments mirror: SQL shared by both backends (see `common.rs` for the pattern).
//! Reads made to change a row lock it on PostgreSQL ([`crate::dialect::Dialect::FOR_UPDATE`]);
//! SQLite's single writer needs no lock.

pub(crate) const COLUMNS: &str = "kind, id, provider, provider_id, customer, status, external_id,
    idempotency_key, sweep_at, as_of, created_at, updated_at, data";

pub(crate) const INSERT: &str = "INSERT INTO payment_objects (kind, id, provider, provider_id,
    customer, status, external_id, idempotency_key, sweep_at, as_of, created_at, updated_at, data)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING";

/// Every column but `sweep_at`, bound by `bind_update`.
pub(crate) const UPDATE: &str = "UPDATE payment_objects SET provider_id = $4, customer = $5,
    status = $6, external_id = $7, idempotency_key = $8, as_of = $9, updated_at = $10,
    data = $11
    WHERE kind = $1 AND id = $2 AND provider = $3";

/// [`UPDATE`], and `sweep_at = $12`.
pub(crate) const UPDATE_SWEPT: &str = "UPDATE payment_objects SET provider_id = $4, customer = $5,
    status = $6, external_id = $7, idempotency_key = $8, as_of = $9, updated_at = $10,
    data = $11, sweep_at = $12
    WHERE kind = $1 AND id = $2 AND provider = $3";

macro_rules! payment_store_impl {
    ($store:ty, $db:ty) => {
        fn payment_row(row: &<$db as ::sqlx::Database>::Row) -> $crate::Result<$crate::payments::ObjectRow> {
            Ok($crate::payments::ObjectRow {
                kind: $crate::sql::parse(row.try_get("kind")?, "payment object kind")?,
                id: row.try_get("id")?,
                provider: row.try_get("provider")?,
                provider_id: row.try_get("provider_id")?,
                customer: row.try_get("customer")?,
                status: row.try_get("status")?,
                external_id: row.try_get("external_id")?,
                idempotency_key: row.try_get("idempotency_key")?,
                sweep_at: row.try_get("sweep_at")?,
                as_of: row.try_get("as_of")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                data: row.try_get("data")?,
            })
        }

        /// Binds every column of `r`, in `COLUMNS` order.
        fn bind_payment_row<'q>(
            query: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            r: &'q $crate::payments::ObjectRow,
        ) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            query
                .bind(r.kind.as_str())
                .bind(&r.id)
                .bind(&r.provider)
                .bind(&r.provider_id)
                .bind(&r.customer)
                .bind(&r.status)
                .bind(&r.external_id)
                .bind(&r.idempotency_key)
                .bind(r.sweep_at)
                .bind(r.as_of)
                .bind(r.created_at)
                .bind(r.updated_at)
                .bind(&r.data)
        }

        /// Binds `UPDATE`'s parameters.
        fn bind_update<'q>(r: &'q $crate::payments::ObjectRow) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            bind_update_sql($crate::payments::sql::UPDATE, r)
        }

        fn bind_update_sql<'q>(sql: &'static str, r: &'q $crate::payments::ObjectRow) -> ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments> {
            ::sqlx::query(sql)
                .bind(r.kind.as_str())
                .bind(&r.id)
                .bind(&r.provider)
                .bind(&r.provider_id)
                .bind(&r.customer)
                .bind(&r.status)
                .bind(&r.external_id)
                .bind(&r.idempotency_key)
                .bind(r.as_of)
                .bind(r.updated_at)
                .bind(&r.data)
        }

        const SCHEDULE_SWEEP: &str = "UPDATE payment_objects SET sweep_at = $3 WHERE kind = $1 AND id = $2";

        /// The mirror within one transaction, for the rules of `payments::mirror`; a
        /// sweep to schedule is written with the object's row when the rules update it.
        struct Mirror<'c> {
            conn: &'c mut <$db as ::sqlx::Database>::Connection,
            sweep: Option<&'c $crate::payments::SweepAt>,
            swept: bool,
        }

        impl Mirror<'_> {
            async fn one(
                &mut self,
                filter: &str,
                kind: ::switchyard_core::payment::ObjectKind,
                a: &str,
                b: Option<&str>,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                let sql = format!(
                    "SELECT {} FROM payment_objects WHERE kind = $1 AND {filter}{}",
                    $crate::payments::sql::COLUMNS,
                    <$store as $crate::dialect::Dialect>::FOR_UPDATE
                );
                let mut query = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(kind.as_str()).bind(a);
                if let Some(b) = b {
                    query = query.bind(b);
                }
                let row = query.fetch_optional(&mut *self.conn).await?;
                row.as_ref().map(payment_row).transpose()
            }
        }

        #[::async_trait::async_trait]
        impl $crate::payments::mirror::MirrorTx for Mirror<'_> {
            async fn by_id(
                &mut self,
                kind: ::switchyard_core::payment::ObjectKind,
                id: &str,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                self.one("id = $2", kind, id, None).await
            }

            async fn by_provider_id(
                &mut self,
                kind: ::switchyard_core::payment::ObjectKind,
                provider: &str,
                provider_id: &str,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                self.one("provider = $2 AND provider_id = $3", kind, provider, Some(provider_id)).await
            }

            async fn by_external(
                &mut self,
                kind: ::switchyard_core::payment::ObjectKind,
                provider: &str,
                external: &str,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                self.one("provider = $2 AND external_id = $3", kind, provider, Some(external)).await
            }

            async fn insert(&mut self, row: &$crate::payments::ObjectRow) -> $crate::Result<bool> {
                let done = bind_payment_row(::sqlx::query($crate::payments::sql::INSERT), row)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update(&mut self, row: &$crate::payments::ObjectRow) -> $crate::Result<()> {
                match self.sweep {
                    Some(s) if s.kind == row.kind && s.id == row.id => {
                        bind_update_sql($crate::payments::sql::UPDATE_SWEPT, row)
                            .bind(s.at)
                            .execute(&mut *self.conn)
                            .await?;
                        self.swept = true;
                    }
                    _ => {
                        bind_update(row).execute(&mut *self.conn).await?;
                    }
                }
                Ok(())
            }

            async fn subscribed(&mut self, customer: &str) -> $crate::Result<bool> {
                let n: i64 = ::sqlx::query_scalar(
                    "SELECT COUNT(*) FROM payment_objects
                     WHERE customer = $1 AND kind = 'subscription' AND status IN ('active', 'trialing')",
                )
                .bind(customer)
                .fetch_one(&mut *self.conn)
                .await?;
                Ok(n > 0)
            }
        }

        impl $store {
            /// Applies reports within the caller's transaction; for processing.
            async fn apply_payment_reports_in(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                provider: &str,
                report: &::switchyard_core::payment::ProviderReport,
                now: i64,
            ) -> $crate::Result<$crate::payments::Applied> {
                let mut mirror = Mirror { conn, sweep: None, swept: false };
                $crate::payments::mirror::apply(&mut mirror, provider, report, now).await
            }
        }

        #[::async_trait::async_trait]
        impl $crate::payments::PaymentStore for $store {
            async fn insert_payment_object(
                &self,
                row: &$crate::payments::ObjectRow,
            ) -> $crate::Result<$crate::payments::Inserted<$crate::payments::ObjectRow>> {
                use $crate::payments::Inserted;
                // One statement, committed on its own: the row exists before anyone
                // calls the provider about it.
                let inserted = bind_payment_row(::sqlx::query($crate::payments::sql::INSERT), row)
                    .execute(self.writer())
                    .await?
                    .rows_affected()
                    == 1;
                if inserted {
                    return Ok(Inserted::New(row.clone()));
                }
                // What it collided with is committed (a unique conflict waits for the
                // other transaction), so a plain read finds it.
                let sql = format!(
                    "SELECT {} FROM payment_objects WHERE kind = $1 AND (id = $2
                       OR (idempotency_key IS NOT NULL AND idempotency_key = $3)
                       OR (external_id IS NOT NULL AND provider = $4 AND external_id = $5))",
                    $crate::payments::sql::COLUMNS
                );
                let found = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(row.kind.as_str())
                    .bind(&row.id)
                    .bind(&row.idempotency_key)
                    .bind(&row.provider)
                    .bind(&row.external_id)
                    .fetch_optional(self.writer())
                    .await?;
                match found {
                    Some(existing) => Ok(Inserted::Existing(payment_row(&existing)?)),
                    None => Err($crate::StoreError::Conflict("payment object".into())),
                }
            }

            async fn payment_object(
                &self,
                kind: ::switchyard_core::payment::ObjectKind,
                id: &str,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                let sql = format!(
                    "SELECT {} FROM payment_objects WHERE kind = $1 AND id = $2",
                    $crate::payments::sql::COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(kind.as_str())
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(payment_row).transpose()
            }

            async fn payment_object_by_provider_id(
                &self,
                kind: ::switchyard_core::payment::ObjectKind,
                provider: &str,
                provider_id: &str,
            ) -> $crate::Result<Option<$crate::payments::ObjectRow>> {
                let sql = format!(
                    "SELECT {} FROM payment_objects WHERE kind = $1 AND provider = $2 AND provider_id = $3",
                    $crate::payments::sql::COLUMNS
                );
                let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(kind.as_str())
                    .bind(provider)
                    .bind(provider_id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(payment_row).transpose()
            }

            async fn list_payment_objects(
                &self,
                f: &$crate::payments::ObjectFilter,
                page: &$crate::Page,
            ) -> $crate::Result<Vec<$crate::payments::ObjectRow>> {
                let sql = format!(
                    "SELECT {} FROM payment_objects
                     WHERE kind = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR provider = $3)
                       AND ($4 IS NULL OR customer = $4) AND ($5 IS NULL OR status = $5)
                       AND ($6 IS NULL OR external_id = $6)
                     ORDER BY id DESC LIMIT $7",
                    $crate::payments::sql::COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(f.kind.as_str())
                    .bind(page.cursor.as_deref())
                    .bind(f.provider.as_deref())
                    .bind(f.customer.as_deref())
                    .bind(f.status.as_deref())
                    .bind(f.external_id.as_deref())
                    .bind(i64::from(page.limit))
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(payment_row).collect()
            }

            async fn update_payment_object(&self, row: &$crate::payments::ObjectRow) -> $crate::Result<bool> {
                let done = bind_update(row).execute(self.writer()).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn schedule_payment_sweep(
                &self,
                kind: ::switchyard_core::payment::ObjectKind,
                id: &str,
                at: Option<i64>,
            ) -> $crate::Result<()> {
                ::sqlx::query(SCHEDULE_SWEEP)
                    .bind(kind.as_str())
                    .bind(id)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn apply_payment_report_swept(
                &self,
                provider: &str,
                report: &::switchyard_core::payment::ProviderReport,
                now: i64,
                sweep: Option<&$crate::payments::SweepAt>,
            ) -> $crate::Result<$crate::payments::Applied> {
                let mut tx = self.writer().begin().await?;
                let mut mirror = Mirror { conn: &mut *tx, sweep, swept: false };
                let applied = $crate::payments::mirror::apply(&mut mirror, provider, report, now).await?;
                let swept = mirror.swept;
                if let Some(s) = sweep.filter(|_| !swept) {
                    ::sqlx::query(SCHEDULE_SWEEP)
                        .bind(s.kind.as_str())
                        .bind(&s.id)
                        .bind(s.at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(applied)
            }

            async fn claim_payment_sweeps(
                &self,
                now: i64,
                lease_until: i64,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::payments::ObjectRow>> {
                let sql = format!(
                    "{} RETURNING {}",
                    <$store as $crate::dialect::Dialect>::CLAIM_PAYMENT_SWEEPS,
                    $crate::payments::sql::COLUMNS
                );
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await?;
                let mut out: Vec<_> = rows.iter().map(payment_row).collect::<$crate::Result<_>>()?;
                out.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(out)
            }
        }
    };
}

pub(crate) use payment_store_impl;
