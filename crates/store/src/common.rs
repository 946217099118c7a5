//! The parts of every SQL store that are not a capability: the row helpers every
//! capability's SQL shares, migrations, and [`sql_store_impl!`], which writes the whole
//! [`crate::Store`] implementation for a backend from the capability modules' macros.

/// Implements every store trait for `$store` over `$db`; `$store` implements
/// [`crate::dialect::Dialect`].
macro_rules! sql_store_impl {
    ($store:ty, $db:ty) => {
        #[allow(unused_imports)]
        use ::sqlx::Row as _;
        #[allow(unused_imports)]
        use $crate::dialect::Dialect as _;

        fn map_unique(e: ::sqlx::Error, what: &str) -> $crate::StoreError {
            match &e {
                ::sqlx::Error::Database(db) if db.is_unique_violation() => {
                    $crate::StoreError::Conflict(what.to_string())
                }
                _ => e.into(),
            }
        }

        impl $store {
            async fn run_migrations(&self, apply: bool) -> $crate::Result<Vec<$crate::MigrationStatus>> {
                let mut conn = self.writer().acquire().await?;
                ::sqlx::raw_sql($crate::migrate::CREATE_TABLE).execute(&mut *conn).await?;
                if apply {
                    Self::lock_migrations(&mut conn).await?;
                }
                let result = async {
                    let applied: Vec<(i64, i64)> =
                        ::sqlx::query_as("SELECT version, applied_at FROM schema_migrations")
                            .fetch_all(&mut *conn)
                            .await?;
                    let mut status = $crate::migrate::status(Self::MIGRATIONS, &applied);
                    if !apply {
                        return Ok(status);
                    }
                    for (m, s) in Self::MIGRATIONS.iter().zip(status.iter_mut()) {
                        if s.applied_at.is_some() {
                            continue;
                        }
                        let now = ::switchyard_core::time::now_ms();
                        let mut tx = ::sqlx::Connection::begin(&mut *conn).await?;
                        ::sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                        ::sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                            .bind(m.version)
                            .bind(m.name)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        ::tracing::info!(version = m.version, name = m.name, "applied migration");
                        s.applied_at = Some(now);
                    }
                    Ok(status)
                }
                .await;
                if apply {
                    Self::unlock_migrations(&mut conn).await?;
                }
                result
            }
        }

        $crate::keys::sql::key_store_impl!($store, $db);
        $crate::vault::sql::secret_store_impl!($store, $db);
        $crate::queue::sql::job_queue_impl!($store, $db);
        $crate::intake::sources_sql::source_store_impl!($store, $db);
        $crate::intake::events_sql::event_store_impl!($store, $db);
        $crate::delivery::endpoints_sql::endpoint_store_impl!($store, $db);
        $crate::delivery::sql::delivery_store_impl!($store, $db);
        $crate::credits::sql::credit_store_impl!($store, $db);
        $crate::messaging::messages_sql::message_store_impl!($store, $db);
        $crate::messaging::batch_sql::message_batch_impl!($store, $db);
        $crate::messaging::status_sql::status_store_impl!($store, $db);
        $crate::messaging::templates_sql::template_store_impl!($store, $db);
        $crate::providers::sql::provider_store_impl!($store, $db);
        $crate::idempotency::sql::idempotency_store_impl!($store, $db);
        $crate::payments::sql::payment_store_impl!($store, $db);
        $crate::storage::sql::storage_store_impl!($store, $db);
        $crate::auth::sql::auth_store_impl!($store, $db);
        $crate::connectors::sql::connector_store_impl!($store, $db);
    };
}

pub(crate) use sql_store_impl;
