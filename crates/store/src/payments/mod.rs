//! The payments mirror: customers, checkouts, subscriptions, refunds and connected
//! accounts, kept in one table (`payment_objects`) as [`ObjectRow`]s whose `data` is the
//! typed object ([`Mirrored`]). Provider reports — answers to the hub's calls and
//! webhooks processed in the processing transaction — are applied by the rules in
//! `mirror.rs`, so that an older report never moves a row back.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_core::payment::{
    Checkout, ConnectedAccount, Customer, ObjectKind, ObjectView, ProviderReport, Refund,
    Subscription,
};

use crate::{Page, Result, StoreError};

pub(crate) mod mirror;
pub(crate) mod sql;

/// One mirrored object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub kind: ObjectKind,
    pub id: String,
    pub provider: String,
    pub provider_id: Option<String>,
    /// `pcus_…` the object belongs to (a customer's own id for customers).
    pub customer: Option<String>,
    pub status: String,
    /// For customers, the application's id; for checkouts, the provider's id of the
    /// payment. Unique per kind and provider.
    pub external_id: Option<String>,
    /// The caller-scoped `Idempotency-Key` of the request that made it.
    pub idempotency_key: Option<String>,
    /// When the sweeper next looks at it. Only [`PaymentStore::schedule_payment_sweep`]
    /// and the insert change it.
    pub sweep_at: Option<i64>,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The typed object, as JSON.
    pub data: String,
}

/// What inserting a new object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted<T> {
    New(T),
    /// An object of the same kind with the same idempotency key (or, for customers, the
    /// same provider and external id) exists: that one.
    Existing(T),
}

/// Which objects to list; every field optional but `kind`.
#[derive(Debug, Clone)]
pub struct ObjectFilter {
    pub kind: ObjectKind,
    pub provider: Option<String>,
    pub customer: Option<String>,
    pub status: Option<String>,
    pub external_id: Option<String>,
}

impl ObjectFilter {
    pub fn of(kind: ObjectKind) -> Self {
        Self {
            kind,
            provider: None,
            customer: None,
            status: None,
            external_id: None,
        }
    }
}

/// What applying a provider report did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The mirror's view of the first object the report is about, if the mirror has it.
    pub view: Option<ObjectView>,
    /// Checkouts (`pchk_…`) whose buyer approved a PayPal order: the hub must capture
    /// them.
    pub captures: Vec<String>,
    /// Rows made or whose content changed.
    pub changed: usize,
    /// The first object's row as the mirror now has it (`sweep_at` left out).
    pub row: Option<ObjectRow>,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Stores a new object, unless one of its kind has the same idempotency key (or, for
    /// customers, the same provider and external id): then answers that one.
    async fn insert_payment_object(&self, row: &ObjectRow) -> Result<Inserted<ObjectRow>>;
    async fn payment_object(&self, kind: ObjectKind, id: &str) -> Result<Option<ObjectRow>>;
    async fn payment_object_by_provider_id(
        &self,
        kind: ObjectKind,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<ObjectRow>>;
    /// Newest first.
    async fn list_payment_objects(
        &self,
        filter: &ObjectFilter,
        page: &Page,
    ) -> Result<Vec<ObjectRow>>;
    /// Replaces the object's row, its `sweep_at` excepted. `false` if there is no such
    /// object.
    async fn update_payment_object(&self, row: &ObjectRow) -> Result<bool>;
    /// When the sweeper next looks at the object; `None`: never again.
    async fn schedule_payment_sweep(
        &self,
        kind: ObjectKind,
        id: &str,
        at: Option<i64>,
    ) -> Result<()>;
    /// Applies what `provider` reported (the answer to a call), in one transaction.
    async fn apply_payment_report(
        &self,
        provider: &str,
        report: &ProviderReport,
        now: i64,
    ) -> Result<Applied> {
        self.apply_payment_report_swept(provider, report, now, None)
            .await
    }
    /// [`PaymentStore::apply_payment_report`], and when the sweeper next looks at an
    /// object, in the same transaction.
    async fn apply_payment_report_swept(
        &self,
        provider: &str,
        report: &ProviderReport,
        now: i64,
        sweep: Option<&SweepAt>,
    ) -> Result<Applied>;
    /// Takes up to `limit` objects whose `sweep_at` has come, moving it to
    /// `lease_until` so that no other node takes them meanwhile.
    async fn claim_payment_sweeps(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ObjectRow>>;
}

/// When the sweeper next looks at an object; `at: None`: never again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepAt {
    pub kind: ObjectKind,
    pub id: String,
    pub at: Option<i64>,
}

/// A typed object of the mirror.
pub trait Mirrored: Serialize + DeserializeOwned + Clone + PartialEq + Sized {
    const KIND: ObjectKind;
    /// The columns the kind fills its own way.
    fn columns(&self) -> Columns;
    /// `pxxx_…`
    fn id(&self) -> &str;
    /// The name of the provider it belongs to.
    fn provider(&self) -> &str;
    fn created_at(&self) -> i64;
    /// When the provider last described it.
    fn as_of(&self) -> i64;
    fn as_of_mut(&mut self) -> &mut i64;
    /// When its content last changed.
    fn updated_at(&self) -> i64;
    fn updated_at_mut(&mut self) -> &mut i64;

    /// Its row, `sweep_at` unset.
    fn row(&self) -> ObjectRow {
        let c = self.columns();
        ObjectRow {
            kind: Self::KIND,
            id: self.id().to_string(),
            provider: self.provider().to_string(),
            provider_id: c.provider_id,
            customer: c.customer,
            status: c.status.into(),
            external_id: c.external_id,
            idempotency_key: c.idempotency_key,
            sweep_at: None,
            as_of: self.as_of(),
            created_at: self.created_at(),
            updated_at: self.updated_at(),
            data: data(self),
        }
    }
}

/// The columns of a row that each kind fills its own way (to be found by them).
#[derive(Debug, Default)]
pub struct Columns {
    pub provider_id: Option<String>,
    /// `pcus_…`
    pub customer: Option<String>,
    pub status: &'static str,
    /// A customer's external id; a checkout's payment id.
    pub external_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// The stamps every mirrored object has.
macro_rules! stamps {
    () => {
        fn id(&self) -> &str {
            &self.id
        }
        fn provider(&self) -> &str {
            &self.provider
        }
        fn created_at(&self) -> i64 {
            self.created_at
        }
        fn as_of(&self) -> i64 {
            self.as_of
        }
        fn as_of_mut(&mut self) -> &mut i64 {
            &mut self.as_of
        }
        fn updated_at(&self) -> i64 {
            self.updated_at
        }
        fn updated_at_mut(&mut self) -> &mut i64 {
            &mut self.updated_at
        }
    };
}

fn data<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("mirror objects serialize")
}

/// Reads a row's object.
pub fn object<T: Mirrored>(row: &ObjectRow) -> Result<T> {
    if row.kind != T::KIND {
        return Err(StoreError::Corrupt(format!(
            "payment object {} is a {}, not a {}",
            row.id,
            row.kind,
            T::KIND
        )));
    }
    serde_json::from_str(&row.data)
        .map_err(|e| StoreError::Corrupt(format!("payment object {}: {e}", row.id)))
}

/// The object `id` of type `T`.
pub async fn get<T: Mirrored>(store: &dyn PaymentStore, id: &str) -> Result<Option<T>> {
    match store.payment_object(T::KIND, id).await? {
        Some(row) => object(&row).map(Some),
        None => Ok(None),
    }
}

/// Stores `value`, or answers the object that its key (or external id) names.
pub async fn insert<T: Mirrored>(store: &dyn PaymentStore, value: &T) -> Result<Inserted<T>> {
    insert_swept(store, value, None).await
}

/// [`insert`], with the sweeper to look at a new object at `sweep_at`.
pub async fn insert_swept<T: Mirrored>(
    store: &dyn PaymentStore,
    value: &T,
    sweep_at: Option<i64>,
) -> Result<Inserted<T>> {
    let mut row = value.row();
    row.sweep_at = sweep_at;
    Ok(match store.insert_payment_object(&row).await? {
        Inserted::New(row) => Inserted::New(object(&row)?),
        Inserted::Existing(row) => Inserted::Existing(object(&row)?),
    })
}

pub async fn update<T: Mirrored>(store: &dyn PaymentStore, value: &T) -> Result<bool> {
    store.update_payment_object(&value.row()).await
}

pub async fn list<T: Mirrored>(
    store: &dyn PaymentStore,
    filter: &ObjectFilter,
    page: &Page,
) -> Result<Vec<T>> {
    store
        .list_payment_objects(filter, page)
        .await?
        .iter()
        .map(object)
        .collect()
}

impl Mirrored for Customer {
    stamps!();
    const KIND: ObjectKind = ObjectKind::Customer;
    fn columns(&self) -> Columns {
        Columns {
            provider_id: self.provider_id.clone(),
            customer: Some(self.id.clone()),
            status: self.state.as_str(),
            external_id: self.external_id.clone(),
            idempotency_key: self.keyed.idempotency_key.clone(),
        }
    }
}

impl Mirrored for Checkout {
    stamps!();
    const KIND: ObjectKind = ObjectKind::Checkout;
    fn columns(&self) -> Columns {
        Columns {
            provider_id: self.provider_id.clone(),
            customer: self.customer.clone(),
            status: self.status.as_str(),
            external_id: self.payment_id.clone(),
            idempotency_key: self.keyed.idempotency_key.clone(),
        }
    }
}

impl Mirrored for Subscription {
    stamps!();
    const KIND: ObjectKind = ObjectKind::Subscription;
    fn columns(&self) -> Columns {
        Columns {
            provider_id: Some(self.provider_id.clone()),
            customer: self.customer.clone(),
            status: self.status.as_str(),
            ..Columns::default()
        }
    }
}

impl Mirrored for Refund {
    stamps!();
    const KIND: ObjectKind = ObjectKind::Refund;
    fn columns(&self) -> Columns {
        Columns {
            provider_id: self.provider_id.clone(),
            status: self.status.as_str(),
            idempotency_key: self.keyed.idempotency_key.clone(),
            ..Columns::default()
        }
    }
}

impl Mirrored for ConnectedAccount {
    stamps!();
    const KIND: ObjectKind = ObjectKind::ConnectedAccount;
    fn columns(&self) -> Columns {
        Columns {
            provider_id: self.provider_id.clone(),
            status: self.state.as_str(),
            idempotency_key: self.keyed.idempotency_key.clone(),
            ..Columns::default()
        }
    }
}
