//! The job queue: SQL shared by both backends (see `common.rs` for the pattern); the
//! claim differs per backend ([`crate::dialect::Dialect::CLAIM_JOBS`]).

pub(crate) const ENQUEUE: &str =
    "INSERT INTO jobs (kind, payload, max_attempts, run_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";

macro_rules! job_queue_impl {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::queue::JobQueue for $store {
            async fn enqueue(&self, job: &$crate::queue::NewJob) -> $crate::Result<i64> {
                let id: i64 = ::sqlx::query_scalar($crate::queue::sql::ENQUEUE)
                    .bind(&job.kind)
                    .bind(&job.payload)
                    .bind(job.max_attempts)
                    .bind(job.run_at)
                    .bind(::switchyard_core::time::now_ms())
                    .fetch_one(self.writer())
                    .await?;
                self.work_added($crate::Work::Jobs.bit());
                Ok(id)
            }

            async fn claim(
                &self,
                limit: u32,
                lease: ::std::time::Duration,
                now: i64,
            ) -> $crate::Result<Vec<$crate::queue::Job>> {
                let rows = ::sqlx::query(Self::CLAIM_JOBS)
                    .bind(now + lease.as_millis() as i64)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await?;
                let mut jobs = rows
                    .iter()
                    .map(|row| {
                        Ok($crate::queue::Job {
                            id: row.try_get("id")?,
                            kind: row.try_get("kind")?,
                            payload: row.try_get("payload")?,
                            attempts: row.try_get("attempts")?,
                            max_attempts: row.try_get("max_attempts")?,
                        })
                    })
                    .collect::<$crate::Result<Vec<_>>>()?;
                jobs.sort_by_key(|j| j.id);
                Ok(jobs)
            }

            async fn complete_many(&self, jobs: &[$crate::queue::Job]) -> $crate::Result<Vec<bool>> {
                self.delete_completed(jobs).await
            }

            async fn fail(
                &self,
                job: &$crate::queue::Job,
                error: &str,
                retry_at: i64,
                permanent: bool,
            ) -> $crate::Result<$crate::queue::JobFate> {
                let state: Option<String> = ::sqlx::query_scalar(
                    "UPDATE jobs SET
                         state = CASE WHEN $3 OR attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
                         run_at = $4, lease_until = NULL, last_error = $5, updated_at = $6
                     WHERE id = $1 AND attempts = $2 AND state = 'running' RETURNING state",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(permanent)
                .bind(retry_at)
                .bind(error)
                .bind(::switchyard_core::time::now_ms())
                .fetch_optional(self.writer())
                .await?;
                Ok(match state.as_deref() {
                    None => $crate::queue::JobFate::LostLease,
                    Some("dead") => $crate::queue::JobFate::Dead,
                    Some(_) => {
                        self.wakers().wake($crate::Work::Jobs.bit());
                        $crate::queue::JobFate::Retrying
                    }
                })
            }

            async fn extend_lease(&self, job: &$crate::queue::Job, until: i64) -> $crate::Result<bool> {
                let done = ::sqlx::query(
                    "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND attempts = $2 AND state = 'running'",
                )
                .bind(job.id)
                .bind(job.attempts)
                .bind(until)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reclaim_expired(&self, now: i64) -> $crate::Result<u64> {
                let done = ::sqlx::query(
                    "UPDATE jobs SET
                         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
                         run_at = $1, lease_until = NULL, updated_at = $1,
                         last_error = 'lease expired: the worker stopped or crashed'
                     WHERE state = 'running' AND lease_until <= $1",
                )
                .bind(now)
                .execute(self.writer())
                .await?;
                if done.rows_affected() > 0 {
                    self.wakers().wake($crate::Work::Jobs.bit());
                }
                Ok(done.rows_affected())
            }

            async fn next_due(&self) -> $crate::Result<Option<i64>> {
                Ok(::sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'ready'")
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn queue_depth(&self) -> $crate::Result<Vec<$crate::queue::QueueDepth>> {
                let rows = ::sqlx::query(
                    "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state",
                )
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::queue::QueueDepth {
                            kind: row.try_get("kind")?,
                            state: row.try_get("state")?,
                            count: row.try_get("n")?,
                        })
                    })
                    .collect()
            }

            async fn dead_jobs(&self, limit: u32) -> $crate::Result<Vec<$crate::queue::DeadJob>> {
                let rows = ::sqlx::query(
                    "SELECT id, kind, attempts, last_error, updated_at FROM jobs
                     WHERE state = 'dead' ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::queue::DeadJob {
                            id: row.try_get("id")?,
                            kind: row.try_get("kind")?,
                            attempts: row.try_get("attempts")?,
                            last_error: row.try_get("last_error")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            fn work_notifier(&self, work: $crate::Work) -> ::std::sync::Arc<::tokio::sync::Notify> {
                self.wakers().get(work)
            }
        }

    };
}

pub(crate) use job_queue_impl;
