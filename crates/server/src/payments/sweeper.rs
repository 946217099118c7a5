//! The sweeper: what waited too long is asked of the provider again. An object whose
//! creation got no answer (a timeout, a 5xx, a node that died mid-call) is created
//! again with the same idempotency key, which makes the provider answer with the object
//! it made, if it made one; an open or pending checkout whose webhook is late or lost
//! is re-read, so a paid checkout never stays pending. Objects are claimed with a lease,
//! so nodes never sweep the same object at once.
//!
//! Also here: the job that captures an approved PayPal order.

use std::time::Duration;

use async_trait::async_trait;
use switchyard_core::payment::{
    Checkout, CheckoutStatus, ConnectedAccount, Customer, ObjectKind, ObjectState, Refund,
    RefundStatus,
};
use switchyard_core::time::now_ms;
use switchyard_store::StoreError;
use switchyard_store::payments::{ObjectRow, object};
use switchyard_store::queue::{Job, JobError, JobHandler};
use tokio::sync::watch;

use super::Payments;
use crate::http::ApiError;

/// Objects taken per sweep.
const BATCH: u32 = 50;
/// How long a node holds the objects it took.
const LEASE: Duration = Duration::from_secs(120);

pub(super) async fn run(payments: Payments, mut shutdown: watch::Receiver<bool>) {
    let interval = payments.inner.config.sweep_interval.0;
    loop {
        // Also keeps the providers configured through the API fresh for processing.
        payments.entries().await;
        match payments.sweep_once().await {
            Ok(n) if n > 0 => tracing::debug!(objects = n, "payments sweep"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "payments sweep failed; retried at the next interval")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

impl Payments {
    /// Looks at every object whose time has come; how many.
    pub(super) async fn sweep_once(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let rows = self
            .inner
            .store
            .claim_payment_sweeps(now, now + LEASE.as_millis() as i64, BATCH)
            .await?;
        let n = rows.len();
        for row in rows {
            if let Err(e) = self.sweep(&row).await {
                tracing::warn!(object = %row.id, error = %e.detail, "sweeping a payment object failed; retried later");
                self.retry_later(&row).await?;
            }
        }
        Ok(n)
    }

    async fn sweep(&self, row: &ObjectRow) -> Result<(), ApiError> {
        let done = match row.kind {
            ObjectKind::Customer => {
                let c: Customer = object(row)?;
                if c.state == ObjectState::Creating {
                    let provider = self.provider_of(&c.provider).await?;
                    self.make_customer(provider.as_ref(), &c)
                        .await
                        .map_err(|e| e.api(provider.name()))?;
                }
                true
            }
            ObjectKind::Checkout => {
                let c: Checkout = object(row)?;
                if c.status.is_final() {
                    true
                } else {
                    // Re-reading reschedules it.
                    self.resync(c).await?;
                    false
                }
            }
            ObjectKind::Refund => {
                let r: Refund = object(row)?;
                if r.status == RefundStatus::Creating {
                    let provider = self.provider_of(&r.provider).await?;
                    self.make_refund(provider.as_ref(), &r)
                        .await
                        .map_err(|e| e.api(provider.name()))?;
                }
                true
            }
            ObjectKind::ConnectedAccount => {
                let a: ConnectedAccount = object(row)?;
                if a.state == ObjectState::Creating {
                    let provider = self.provider_of(&a.provider).await?;
                    self.make_account(provider.as_ref(), &a)
                        .await
                        .map_err(|e| e.api(provider.name()))?;
                }
                true
            }
            ObjectKind::Subscription => true,
        };
        if done {
            self.inner
                .store
                .schedule_payment_sweep(row.kind, &row.id, None)
                .await?;
        }
        Ok(())
    }

    /// After a failed sweep: look again later, unless the object is settled meanwhile.
    async fn retry_later(&self, row: &ObjectRow) -> Result<(), StoreError> {
        let Some(now) = self.inner.store.payment_object(row.kind, &row.id).await? else {
            return Ok(());
        };
        let unsettled = match now.kind {
            ObjectKind::Checkout => !object::<Checkout>(&now)?.status.is_final(),
            ObjectKind::Customer | ObjectKind::ConnectedAccount => {
                now.status == ObjectState::Creating.as_str()
            }
            ObjectKind::Refund => now.status == RefundStatus::Creating.as_str(),
            ObjectKind::Subscription => false,
        };
        let config = &self.inner.config;
        let wait = if now.status == CheckoutStatus::Creating.as_str() {
            config.retry_creating_after.0
        } else {
            config.recheck_after.0
        };
        let at = unsettled.then(|| now_ms() + wait.as_millis() as i64);
        self.inner
            .store
            .schedule_payment_sweep(row.kind, &row.id, at)
            .await
    }
}

/// Captures the approved PayPal order of a checkout (the job's payload is its id).
pub(super) struct Capture(pub(super) Payments);

#[async_trait]
impl JobHandler for Capture {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let checkout = match self.0.checkout(&job.payload).await {
            Ok(c) => c,
            Err(e) if e.status.is_client_error() => return Err(JobError::Permanent(e.detail)),
            Err(e) => return Err(JobError::retry(e.detail)),
        };
        if checkout.status.is_final() {
            return Ok(());
        }
        match self.0.resync(checkout).await {
            Ok(_) => Ok(()),
            Err(e) if e.status.is_server_error() => Err(JobError::retry(e.detail)),
            Err(e) => Err(JobError::Permanent(e.detail)),
        }
    }
}
