//! Backfill: a provider's existing customers and subscriptions, read page by page from
//! its list endpoints into the mirror. Each object is applied like a provider's answer,
//! so running it again changes nothing that has not changed at the provider.

use switchyard_core::payment::Report;
use switchyard_store::StoreError;

use super::Payments;

/// How far a backfill got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncProgress {
    pub customers: u64,
    pub subscriptions: u64,
    /// Rows made or changed in the mirror.
    pub changed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no payment provider is named {0:?}")]
    UnknownProvider(String),
    #[error("{0} has no API to list its customers and subscriptions")]
    NotSupported(String),
    #[error("{provider}: {error}")]
    Provider {
        provider: String,
        error: switchyard_providers::payments::PaymentError,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Payments {
    /// Imports `provider`'s customers, then its subscriptions, calling `progress` after
    /// each page.
    pub(crate) async fn sync(
        &self,
        provider: &str,
        progress: &mut (dyn FnMut(&SyncProgress) + Send),
    ) -> Result<SyncProgress, SyncError> {
        let entry = self
            .entries()
            .await
            .into_iter()
            .find(|e| e.name() == provider)
            .ok_or_else(|| SyncError::UnknownProvider(provider.to_string()))?;
        let p = entry.provider;
        let Some(listing) = p.listing() else {
            return Err(SyncError::NotSupported(provider.to_string()));
        };
        let failed = |error| SyncError::Provider {
            provider: provider.to_string(),
            error,
        };
        let mut done = SyncProgress::default();
        let mut after: Option<String> = None;
        loop {
            let page = listing.customers(after.as_deref()).await.map_err(failed)?;
            for c in page.items {
                done.customers += 1;
                done.changed += self.record(provider, Report::Customer(c)).await?.changed as u64;
            }
            progress(&done);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        after = None;
        loop {
            let page = listing
                .subscriptions(after.as_deref())
                .await
                .map_err(failed)?;
            for s in page.items {
                done.subscriptions += 1;
                done.changed += self
                    .record(provider, Report::Subscription(s))
                    .await?
                    .changed as u64;
            }
            progress(&done);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(done)
    }
}
