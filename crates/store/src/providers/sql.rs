//! The provider registry: SQL shared by both backends (see `common.rs` for the
//! pattern). Only what may be listed is here; settings are sealed in the vault.

macro_rules! provider_store_impl {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::providers::ProviderStore for $store {
            async fn put_provider(
                &self,
                r: &::switchyard_core::provider::ProviderRecord,
            ) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let created = ::sqlx::query(
                    "INSERT INTO provider_configs (capability, name, kind, priority, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (capability, name) DO NOTHING",
                )
                .bind(r.capability.as_str())
                .bind(&r.name)
                .bind(&r.kind)
                .bind(r.priority)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !created {
                    ::sqlx::query(
                        "UPDATE provider_configs SET kind = $3, priority = $4, updated_at = $5
                         WHERE capability = $1 AND name = $2",
                    )
                    .bind(r.capability.as_str())
                    .bind(&r.name)
                    .bind(&r.kind)
                    .bind(r.priority)
                    .bind(r.updated_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(created)
            }

            async fn list_providers(
                &self,
            ) -> $crate::Result<Vec<::switchyard_core::provider::ProviderRecord>> {
                let rows: Vec<(String, String, String, i64, i64, i64)> = ::sqlx::query_as(
                    "SELECT capability, name, kind, priority, created_at, updated_at FROM provider_configs
                     ORDER BY capability, priority, name",
                )
                .fetch_all(self.reader())
                .await?;
                rows.into_iter()
                    .map(|(capability, name, kind, priority, created_at, updated_at)| {
                        Ok(::switchyard_core::provider::ProviderRecord {
                            capability: $crate::sql::parse(&capability, "provider capability")?,
                            name,
                            kind,
                            priority,
                            created_at,
                            updated_at,
                        })
                    })
                    .collect()
            }

            async fn delete_provider(
                &self,
                capability: ::switchyard_core::provider::Capability,
                name: &str,
            ) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM provider_configs WHERE capability = $1 AND name = $2")
                    .bind(capability.as_str())
                    .bind(name)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use provider_store_impl;
