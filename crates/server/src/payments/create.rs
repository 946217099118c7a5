//! Making objects at the provider, the same for a request and for the sweeper: the row
//! is already committed (`creating`, with a sweep scheduled); the provider is asked with
//! the key derived from the row's id; its answer is applied to the mirror. A refusal
//! marks the row failed; no answer leaves it `creating` for the sweeper to ask again.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use switchyard_core::payment::{
    Checkout, CheckoutStatus, ConnectedAccount, Customer, Keyed, ObjectKind, ObjectState,
    ProviderReport, Refund, RefundStatus, Report,
};
use switchyard_core::time::now_ms;
use switchyard_providers::payments::{
    NewAccount, NewCheckout, NewCustomer, NewRefund, PaymentError, PaymentProvider,
};
use switchyard_store::StoreError;
use switchyard_store::payments::{self, Applied, Inserted, Mirrored, SweepAt};

use super::Payments;
use super::errors::provider_error;
use crate::http::idempotency;
use crate::http::{ApiError, Principal};

/// Why making an object did not finish.
#[derive(Debug)]
pub(super) enum DriveError {
    Provider(PaymentError),
    Store(StoreError),
}

impl From<StoreError> for DriveError {
    fn from(e: StoreError) -> Self {
        DriveError::Store(e)
    }
}

impl DriveError {
    pub(super) fn api(self, provider: &str) -> ApiError {
        match self {
            DriveError::Provider(e) => provider_error(provider, e),
            DriveError::Store(e) => e.into(),
        }
    }
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::Provider(e) => e.fmt(f),
            DriveError::Store(e) => e.fmt(f),
        }
    }
}

/// An object made through the API: its key and the request's digest, where it is with
/// its provider, and how the provider is asked to make it.
pub(super) trait Made: Mirrored + Send + Sync {
    fn keyed(&self) -> &Keyed;
    /// The provider has not made it yet.
    fn creating(&self) -> bool;
    /// The provider refused to make it; the reason is in `error`.
    fn refused(&self) -> bool;
    fn error(&self) -> Option<&str>;
    /// Asks `provider` to make it (with the key derived from its id) and records the
    /// answer.
    fn make(
        payments: &Payments,
        provider: &dyn PaymentProvider,
        value: &Self,
    ) -> impl Future<Output = Result<Self, DriveError>> + Send;
}

macro_rules! made {
    ($t:ty, $make:ident, |$v:ident| creating: $creating:expr, refused: $refused:expr) => {
        impl Made for $t {
            fn keyed(&self) -> &Keyed {
                &self.keyed
            }
            fn creating(&self) -> bool {
                let $v = self;
                $creating
            }
            fn refused(&self) -> bool {
                let $v = self;
                $refused
            }
            fn error(&self) -> Option<&str> {
                self.error.as_deref()
            }
            fn make(
                payments: &Payments,
                provider: &dyn PaymentProvider,
                value: &Self,
            ) -> impl Future<Output = Result<Self, DriveError>> + Send {
                payments.$make(provider, value)
            }
        }
    };
}
made!(Customer, make_customer, |c| creating: c.state == ObjectState::Creating,
    refused: c.state == ObjectState::Failed);
made!(Checkout, make_checkout, |c| creating: c.status == CheckoutStatus::Creating,
    refused: c.status == CheckoutStatus::Failed && c.provider_id.is_none());
made!(Refund, make_refund, |r| creating: r.status == RefundStatus::Creating,
    refused: r.status == RefundStatus::Failed && r.provider_id.is_none());
made!(ConnectedAccount, make_account, |a| creating: a.state == ObjectState::Creating,
    refused: a.state == ObjectState::Failed);

/// How a new object's request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Made now.
    New,
    /// A repeat of an earlier request with the same key and body: answered as it was.
    Repeat,
    /// An object that another request made (a customer with the same external id).
    Existing,
}

impl Found {
    /// The answer to the request: 201 with the view (marked replayed for a repeat), or
    /// 200 for an object another request made.
    pub(super) fn respond(self, view: impl serde::Serialize) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let status = match self {
            Found::Existing => StatusCode::OK,
            Found::New | Found::Repeat => StatusCode::CREATED,
        };
        let mut response = (status, axum::Json(view)).into_response();
        if self == Found::Repeat {
            idempotency::mark_replayed(&mut response);
        }
        response
    }
}

/// What storing a new object found.
pub(super) enum Stored<T> {
    /// Made now: call the provider.
    New(T),
    /// A repeat of an earlier request with the same key and body: answer as it was.
    Repeat(T),
    /// An object that another request made (a customer with the same external id).
    Existing(T),
}

/// The caller's `Idempotency-Key`, scoped to the caller and to `scope`, and the digest
/// of the request's body.
pub(super) fn keyed(
    principal: &Principal,
    headers: &HeaderMap,
    scope: &str,
    body: &Value,
) -> Result<Keyed, ApiError> {
    let key = idempotency::key(headers)?;
    Ok(Keyed {
        idempotency_key: key.map(|k| idempotency::scoped_key(principal, scope, k)),
        request_digest: Some(hex::encode(Sha256::digest(body.to_string().as_bytes()))),
    })
}

impl Payments {
    fn store(&self) -> &dyn switchyard_store::Store {
        self.inner.store.as_ref()
    }

    /// Stores `value` with a sweep `retry_creating_after` from now, or finds the object
    /// its key names (409 if that key came with another body).
    pub(super) async fn store_new<T: Made>(&self, value: &T) -> Result<Stored<T>, ApiError> {
        let sweep = now_ms() + self.inner.config.retry_creating_after.0.as_millis() as i64;
        Ok(
            match payments::insert_swept(self.store(), value, Some(sweep)).await? {
                Inserted::New(v) => Stored::New(v),
                Inserted::Existing(found) => {
                    let key = &value.keyed().idempotency_key;
                    if key.is_some() && found.keyed().idempotency_key == *key {
                        if found.keyed().request_digest != value.keyed().request_digest {
                            return Err(ApiError::new(
                                StatusCode::CONFLICT,
                                "idempotency_key_reused",
                                "this Idempotency-Key was used for a different request",
                            ));
                        }
                        Stored::Repeat(found)
                    } else {
                        Stored::Existing(found)
                    }
                }
            },
        )
    }

    /// Stores `value` and has `provider` make it — or, for the object an earlier
    /// request made (same key, or same external id), finishes making it if the provider
    /// has not yet. A refusal the provider gave earlier is answered again.
    pub(super) async fn create<T: Made>(
        &self,
        provider: &dyn PaymentProvider,
        value: &T,
    ) -> Result<(T, Found), ApiError> {
        let (found, how) = match self.store_new(value).await? {
            Stored::New(v) => (v, Found::New),
            Stored::Repeat(v) => (v, Found::Repeat),
            Stored::Existing(v) => (v, Found::Existing),
        };
        if found.creating() {
            let made = T::make(self, provider, &found)
                .await
                .map_err(|e| e.api(provider.name()))?;
            return Ok((made, how));
        }
        if found.refused() {
            return Err(refused_before(found.provider(), found.error()));
        }
        Ok((found, how))
    }

    /// Applies what `provider` answered, as of now (to the second, so that the
    /// provider's webhooks of the same second settle ties).
    pub(super) async fn record(
        &self,
        provider: &str,
        report: Report,
    ) -> Result<Applied, StoreError> {
        let now = now_ms();
        let report = ProviderReport {
            as_of: now / 1000 * 1000,
            reports: vec![report],
        };
        self.store()
            .apply_payment_report(provider, &report, now)
            .await
    }

    /// Records the provider's answer to making `T` `id` and when the sweeper next looks
    /// at it (`None`: never), in one transaction; answers the object as the mirror has
    /// it now.
    async fn record_made<T: Mirrored>(
        &self,
        provider: &str,
        report: Report,
        id: &str,
        sweep_at: Option<i64>,
    ) -> Result<T, StoreError> {
        let now = now_ms();
        let report = ProviderReport {
            as_of: now / 1000 * 1000,
            reports: vec![report],
        };
        let sweep = SweepAt {
            kind: T::KIND,
            id: id.to_string(),
            at: sweep_at,
        };
        let applied = self
            .store()
            .apply_payment_report_swept(provider, &report, now, Some(&sweep))
            .await?;
        match applied.row {
            Some(row) if row.id == id => payments::object(&row),
            _ => self.reload(id).await,
        }
    }

    /// Counts a call of `operation` and its outcome.
    pub(super) fn count<T>(
        &self,
        provider: &str,
        operation: &str,
        result: &Result<T, PaymentError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.inner
            .metrics
            .payment_calls
            .inc(&[provider, operation, outcome]);
    }

    async fn reload<T: Mirrored>(&self, id: &str) -> Result<T, StoreError> {
        payments::get::<T>(self.store(), id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("payment object {id} vanished")))
    }

    /// What follows a failed creation: a refusal is final (`fail` marks the object), no
    /// answer leaves it for the sweeper.
    async fn creation_failed<T: Mirrored>(
        &self,
        id: &str,
        e: PaymentError,
        fail: impl FnOnce(&mut T, String),
    ) -> DriveError {
        if e.is_retryable() {
            return DriveError::Provider(e);
        }
        let marked = async {
            let mut value: T = self.reload(id).await?;
            fail(&mut value, e.to_string());
            *value.updated_at_mut() = now_ms();
            payments::update(self.store(), &value).await?;
            self.store().schedule_payment_sweep(T::KIND, id, None).await
        }
        .await;
        match marked {
            Ok(()) => DriveError::Provider(e),
            Err(store) => DriveError::Store(store),
        }
    }

    pub(super) async fn make_customer(
        &self,
        provider: &dyn PaymentProvider,
        c: &Customer,
    ) -> Result<Customer, DriveError> {
        let request = NewCustomer {
            hub_id: c.id.clone(),
            email: c.email.clone().unwrap_or_default(),
            name: c.name.clone(),
            external_id: c.external_id.clone(),
            metadata: c.metadata.clone(),
        };
        let answer = provider.create_customer(&request).await;
        self.count(provider.name(), "create_customer", &answer);
        match answer {
            Ok(mut state) => {
                state.hub_id = Some(c.id.clone());
                Ok(self
                    .record_made::<Customer>(provider.name(), Report::Customer(state), &c.id, None)
                    .await?)
            }
            Err(e) => Err(self
                .creation_failed(&c.id, e, |c: &mut Customer, error| {
                    c.state = ObjectState::Failed;
                    c.error = Some(error);
                })
                .await),
        }
    }

    pub(super) async fn make_checkout(
        &self,
        provider: &dyn PaymentProvider,
        c: &Checkout,
    ) -> Result<Checkout, DriveError> {
        let request: NewCheckout = serde_json::from_str(&c.request)
            .map_err(|e| StoreError::Corrupt(format!("checkout {} request: {e}", c.id)))?;
        let answer = provider.create_checkout(&request).await;
        self.count(provider.name(), "create_checkout", &answer);
        match answer {
            Ok(mut state) => {
                state.hub_id = Some(c.id.clone());
                // A checkout the provider answered unfinished is re-read if its webhook
                // does not come; the sweeper stops once it is final.
                let recheck = (!state.status.is_final()).then(|| self.recheck_at());
                Ok(self
                    .record_made::<Checkout>(
                        provider.name(),
                        Report::Checkout(state),
                        &c.id,
                        recheck,
                    )
                    .await?)
            }
            Err(e) => Err(self
                .creation_failed(&c.id, e, |c: &mut Checkout, error| {
                    c.status = CheckoutStatus::Failed;
                    c.error = Some(error);
                })
                .await),
        }
    }

    /// When the sweeper looks at an unfinished checkout again: after `recheck_after`.
    fn recheck_at(&self) -> i64 {
        now_ms() + self.inner.config.recheck_after.0.as_millis() as i64
    }

    /// Has the sweeper look at `c` again at [`Self::recheck_at`], or never once final.
    pub(super) async fn schedule_recheck(&self, c: &Checkout) -> Result<(), StoreError> {
        let at = (!c.status.is_final()).then(|| self.recheck_at());
        self.store()
            .schedule_payment_sweep(ObjectKind::Checkout, &c.id, at)
            .await
    }

    pub(super) async fn make_refund(
        &self,
        provider: &dyn PaymentProvider,
        r: &Refund,
    ) -> Result<Refund, DriveError> {
        let request = NewRefund {
            hub_id: r.id.clone(),
            payment: r.payment.clone(),
            amount: r.amount,
            currency: r.currency.clone(),
            reason: r.reason.clone(),
        };
        let answer = provider.refund(&request).await;
        self.count(provider.name(), "refund", &answer);
        match answer {
            Ok(mut state) => {
                state.hub_id = Some(r.id.clone());
                Ok(self
                    .record_made::<Refund>(provider.name(), Report::Refund(state), &r.id, None)
                    .await?)
            }
            Err(e) => Err(self
                .creation_failed(&r.id, e, |r: &mut Refund, error| {
                    r.status = RefundStatus::Failed;
                    r.error = Some(error);
                })
                .await),
        }
    }

    pub(super) async fn make_account(
        &self,
        provider: &dyn PaymentProvider,
        a: &ConnectedAccount,
    ) -> Result<ConnectedAccount, DriveError> {
        let Some(connect) = provider.connect() else {
            return Err(DriveError::Provider(PaymentError::NotSupported {
                operation: "connected accounts",
                provider: "",
            }));
        };
        let request = NewAccount {
            hub_id: a.id.clone(),
            kind: a.kind,
            email: a.email.clone().unwrap_or_default(),
            country: a.country.clone().unwrap_or_default(),
        };
        let answer = connect.create_account(&request).await;
        self.count(provider.name(), "create_account", &answer);
        match answer {
            Ok(mut state) => {
                state.hub_id = Some(a.id.clone());
                Ok(self
                    .record_made::<ConnectedAccount>(
                        provider.name(),
                        Report::Account(state),
                        &a.id,
                        None,
                    )
                    .await?)
            }
            Err(e) => Err(self
                .creation_failed(&a.id, e, |a: &mut ConnectedAccount, error| {
                    a.state = ObjectState::Failed;
                    a.error = Some(error);
                })
                .await),
        }
    }
}

/// The answer to a request repeated after a refusal: the refusal again.
pub(super) fn refused_before(provider: &str, error: Option<&str>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_rejected",
        format!(
            "{provider} refused this request earlier: {}",
            error.unwrap_or("no reason given")
        ),
    )
}
