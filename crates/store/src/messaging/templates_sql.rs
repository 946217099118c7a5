//! Message templates: SQL shared by both backends (see `common.rs` for the pattern).

macro_rules! template_store_impl {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::messaging::TemplateStore for $store {
            async fn put_template(&self, t: &::switchyard_core::message::Template) -> $crate::Result<bool> {
                let mut tx = self.writer().begin().await?;
                let created = ::sqlx::query(
                    "INSERT INTO templates (name, subject, html, text, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&t.name)
                .bind(&t.subject)
                .bind(&t.html)
                .bind(&t.text)
                .bind(t.created_at)
                .bind(t.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !created {
                    ::sqlx::query("UPDATE templates SET subject = $2, html = $3, text = $4, updated_at = $5 WHERE name = $1")
                        .bind(&t.name)
                        .bind(&t.subject)
                        .bind(&t.html)
                        .bind(&t.text)
                        .bind(t.updated_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(created)
            }

            async fn get_template(&self, name: &str) -> $crate::Result<Option<::switchyard_core::message::Template>> {
                let row = ::sqlx::query(
                    "SELECT name, subject, html, text, created_at, updated_at FROM templates WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(self.reader())
                .await?;
                row.as_ref().map(template_from_row).transpose()
            }

            async fn list_templates(&self, page: &$crate::Page) -> $crate::Result<Vec<::switchyard_core::message::Template>> {
                let rows = ::sqlx::query(
                    "SELECT name, subject, html, text, created_at, updated_at FROM templates
                     WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2",
                )
                .bind(page.cursor.as_deref())
                .bind(i64::from(page.limit))
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(template_from_row).collect()
            }

            async fn delete_template(&self, name: &str) -> $crate::Result<bool> {
                let done = ::sqlx::query("DELETE FROM templates WHERE name = $1")
                    .bind(name)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use template_store_impl;
