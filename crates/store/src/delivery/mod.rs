//! Endpoints (where the application receives events), deliveries and their attempts.

use async_trait::async_trait;
use switchyard_core::delivery::{Attempt, Claimed, Delivery, DeliveryState, Endpoint, Outcome};

use crate::{Claim, Page, Result};

pub(crate) mod endpoints_sql;
pub(crate) mod sql;

#[async_trait]
pub trait EndpointStore: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>>;
    async fn list_endpoints(&self, page: &Page) -> Result<Vec<Endpoint>>;
    /// Replaces every field but `id` and `created_at`. `false` if there is no such endpoint.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool>;
    /// Removes the endpoint and its pending deliveries. `false` if there is none.
    async fn delete_endpoint(&self, id: &str) -> Result<bool>;
}

/// Filters for listing deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    pub event_id: Option<String>,
    pub state: Option<DeliveryState>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Leases up to `limit` due pending deliveries until `lease_until` and counts the
    /// attempt; an ordered endpoint only ever has its oldest pending delivery claimed.
    /// Deliveries leased elsewhere are skipped.
    async fn claim_deliveries(
        &self,
        limit: u32,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<Claimed>>;
    /// Records attempts and their consequences in one transaction. For each, `false` if
    /// the delivery was claimed again meanwhile (its outcome is then ignored).
    async fn record_outcomes(&self, outcomes: &[Outcome], now: i64) -> Result<Vec<bool>> {
        Ok(self
            .record_outcomes_and_claim(outcomes, now, Claim::NONE)
            .await?
            .0)
    }
    /// [`DeliveryStore::record_outcomes`], then, in the same transaction, what
    /// [`DeliveryStore::claim_deliveries`] claims at `now` for `next`.
    async fn record_outcomes_and_claim(
        &self,
        outcomes: &[Outcome],
        now: i64,
        next: Claim,
    ) -> Result<(Vec<bool>, Vec<Claimed>)>;
    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>>;
    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &Page) -> Result<Vec<Delivery>>;
    async fn list_attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>>;
    /// Makes a delivery due now again (whatever its state), with a fresh attempt budget.
    /// `false` if there is no such delivery.
    async fn retry_delivery(&self, id: &str, now: i64) -> Result<bool>;
    /// Makes an endpoint's failed deliveries created at or after `since` due now.
    async fn retry_failed(&self, endpoint_id: &str, since: i64, now: i64) -> Result<u64>;
    /// The earliest time a pending delivery can be claimed: deliveries of disabled
    /// endpoints and those behind the head of an ordered endpoint do not count.
    async fn next_delivery_due(&self) -> Result<Option<i64>>;
    /// Takes one send from an endpoint's allowance for time slot `slot`, shared by
    /// every node: `false` when `quota` sends were already taken in that slot.
    async fn take_rate_token(&self, endpoint_id: &str, slot: i64, quota: i64) -> Result<bool>;
    /// Hands a claimed delivery back without counting its attempt, due at `until`.
    /// `false` if it was claimed again meanwhile.
    async fn defer_delivery(&self, id: &str, attempt: i64, until: i64) -> Result<bool>;
}
