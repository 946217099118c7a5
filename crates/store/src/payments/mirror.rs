//! How a provider's report changes the mirror, the same whether it is the answer to a
//! call of the hub or a webhook being processed. Providers report unordered and
//! repeatedly, so:
//!
//! - a report older (`as_of`) than what a row holds never moves it back; on a tie the
//!   further status wins, so that a repeat or a same-second pair settles the same way
//!   whatever the order;
//! - a checkout only moves forward and keeps a final status; a canceled subscription
//!   stays canceled;
//! - objects the hub did not make (subscriptions and customers made at the provider)
//!   get rows, so that what the application asks of the mirror is complete.

use async_trait::async_trait;
use switchyard_core::new_id;
use switchyard_core::payment::{
    AccountState, Checkout, CheckoutState, ConnectedAccount, Customer, CustomerState, ObjectKind,
    ObjectState, ObjectView, ProviderReport, Refund, RefundState, RefundStatus, Report,
    Subscription, SubscriptionState, SubscriptionStatus,
};

use super::{Applied, Mirrored, ObjectRow, object};
use crate::Result;

/// The mirror as the rules see it, within one transaction. Reads lock the row where
/// the backend needs it, until the transaction ends.
#[async_trait]
pub(crate) trait MirrorTx: Send {
    async fn by_id(&mut self, kind: ObjectKind, id: &str) -> Result<Option<ObjectRow>>;
    async fn by_provider_id(
        &mut self,
        kind: ObjectKind,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<ObjectRow>>;
    /// By the `external_id` column: a customer's external id, a checkout's payment id.
    async fn by_external(
        &mut self,
        kind: ObjectKind,
        provider: &str,
        external: &str,
    ) -> Result<Option<ObjectRow>>;
    /// Stores a new row; `false` if one with the same unique values exists.
    async fn insert(&mut self, row: &ObjectRow) -> Result<bool>;
    async fn update(&mut self, row: &ObjectRow) -> Result<()>;
    /// Whether the customer has a subscription that is active or trialing.
    async fn subscribed(&mut self, customer: &str) -> Result<bool>;
}

/// Applies `report` from `provider` at `now`.
pub(crate) async fn apply(
    tx: &mut dyn MirrorTx,
    provider: &str,
    report: &ProviderReport,
    now: i64,
) -> Result<Applied> {
    let mut cx = Cx {
        tx,
        provider,
        as_of: report.as_of,
        now,
        applied: Applied::default(),
        last: None,
    };
    for (i, r) in report.reports.iter().enumerate() {
        let view = match r {
            Report::Customer(s) => cx.customer(s).await?,
            Report::Checkout(s) => cx.checkout(s).await?,
            Report::Subscription(s) => cx.subscription(s).await?,
            Report::Refund(s) => cx.refund(s).await?,
            Report::Account(s) => cx.account(s).await?,
            Report::Payment(payment) => cx.payment(payment).await?,
        };
        if i == 0 {
            cx.applied.view = view;
            cx.applied.row = cx.last.take();
        }
    }
    Ok(cx.applied)
}

/// One report being applied.
struct Cx<'a> {
    tx: &'a mut dyn MirrorTx,
    provider: &'a str,
    as_of: i64,
    now: i64,
    applied: Applied,
    /// The row of the object the last report was about.
    last: Option<ObjectRow>,
}

/// Whether a report as of `new` (rank `new_rank`) replaces what a row holds as of `old`.
fn newer(new: i64, new_rank: u8, old: i64, old_rank: u8) -> bool {
    new > old || (new == old && new_rank >= old_rank)
}

/// `value` without the stamps, to tell whether anything else changed.
fn unstamped<T: Mirrored + Clone>(value: &T) -> T {
    let mut v = value.clone();
    *v.as_of_mut() = 0;
    *v.updated_at_mut() = 0;
    v
}

impl Cx<'_> {
    /// The row `hub_id` names (if it is this provider's), else the one with `provider_id`.
    async fn find(
        &mut self,
        kind: ObjectKind,
        hub_id: Option<&str>,
        provider_id: Option<&str>,
    ) -> Result<Option<ObjectRow>> {
        if let Some(id) = hub_id
            && let Some(row) = self.tx.by_id(kind, id).await?
            && row.provider == self.provider
        {
            return Ok(Some(row));
        }
        match provider_id.filter(|p| !p.is_empty()) {
            Some(pid) => self.tx.by_provider_id(kind, self.provider, pid).await,
            None => Ok(None),
        }
    }

    /// The object of type `T` the report names, by hub id or provider id.
    async fn matched<T: Mirrored>(
        &mut self,
        hub_id: Option<&str>,
        provider_id: Option<&str>,
    ) -> Result<Option<T>> {
        match self.find(T::KIND, hub_id, provider_id).await? {
            Some(row) => object(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` as new, or, if another transaction stored it meanwhile, answers
    /// that one.
    async fn insert<T: Mirrored>(&mut self, value: T, provider_id: &str) -> Result<T> {
        let row = value.row();
        if self.tx.insert(&row).await? {
            self.applied.changed += 1;
            return Ok(value);
        }
        match self
            .tx
            .by_provider_id(T::KIND, self.provider, provider_id)
            .await?
        {
            Some(found) => object(&found),
            None => Ok(value),
        }
    }

    /// Writes `after` if it differs from `before`: `updated_at` moves only when more than
    /// the stamps changed.
    async fn save<T: Mirrored + Clone + PartialEq>(
        &mut self,
        before: &T,
        after: &mut T,
    ) -> Result<()> {
        if unstamped(before) != unstamped(after) {
            *after.updated_at_mut() = self.now;
            self.applied.changed += 1;
        } else if before.as_of() == after.as_of() {
            return Ok(());
        } else {
            *after.updated_at_mut() = before.updated_at();
        }
        self.tx.update(&after.row()).await
    }

    async fn customer_of(&mut self, id: Option<&str>) -> Result<Option<Customer>> {
        match id {
            Some(id) => match self.tx.by_id(ObjectKind::Customer, id).await? {
                Some(row) => object(&row).map(Some),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// The hub's customer for a provider customer id: the row that has it, else a new
    /// row for a customer made at the provider.
    async fn provider_customer(
        &mut self,
        provider_customer: &str,
        email: Option<&str>,
    ) -> Result<Customer> {
        if let Some(row) = self
            .tx
            .by_provider_id(ObjectKind::Customer, self.provider, provider_customer)
            .await?
        {
            return object(&row);
        }
        let made = Customer {
            id: new_id("pcus"),
            provider: self.provider.to_string(),
            provider_id: Some(provider_customer.to_string()),
            email: email.map(str::to_string),
            name: None,
            external_id: None,
            metadata: Default::default(),
            state: ObjectState::Ready,
            error: None,
            keyed: Default::default(),
            as_of: 0,
            created_at: self.now,
            updated_at: self.now,
        };
        self.insert(made, provider_customer).await
    }

    async fn customer(&mut self, s: &CustomerState) -> Result<Option<ObjectView>> {
        let found = self
            .matched(s.hub_id.as_deref(), s.provider_id.as_deref())
            .await?;
        let before: Customer = match found {
            Some(c) => c,
            None => match &s.provider_id {
                Some(pid) => self.provider_customer(pid, s.email.as_deref()).await?,
                None => return Ok(None),
            },
        };
        let mut c = before.clone();
        if c.provider_id.is_none() {
            c.provider_id = s.provider_id.clone();
        }
        if self.as_of >= c.as_of {
            c.email = s.email.clone().or(c.email);
            c.name = s.name.clone().or(c.name);
            c.state = if s.deleted || c.state == ObjectState::Deleted {
                ObjectState::Deleted
            } else {
                ObjectState::Ready
            };
            c.as_of = self.as_of;
        }
        self.save(&before, &mut c).await?;
        let subscribed = self.tx.subscribed(&c.id).await?;
        self.last = Some(c.row());
        Ok(Some(ObjectView::customer(&c, subscribed)))
    }

    async fn checkout(&mut self, s: &CheckoutState) -> Result<Option<ObjectView>> {
        // Checkouts made outside the hub are not mirrored; what they start is.
        let Some(before) = self
            .matched::<Checkout>(s.hub_id.as_deref(), Some(&s.provider_id))
            .await?
        else {
            return Ok(None);
        };
        let mut c = before.clone();
        if c.provider_id.is_none() && !s.provider_id.is_empty() {
            c.provider_id = Some(s.provider_id.clone());
        }
        if c.status.may_become(s.status) {
            c.status = s.status;
        }
        c.url = s.url.clone().or(c.url);
        c.expires_at = s.expires_at.or(c.expires_at);
        c.amount_total = s.amount_total.or(c.amount_total);
        c.currency = s.currency.clone().or(c.currency);
        c.payment_id = s.payment_id.clone().or(c.payment_id);
        c.customer_email = c.customer_email.or(s.customer_email.clone());
        if let Some(pc) = &s.provider_customer {
            let customer = match self.customer_of(c.customer.as_deref()).await? {
                // The checkout's customer is the hub's and has no provider id yet: it
                // has now.
                Some(mine) if mine.provider_id.is_none() => {
                    let mut named = mine.clone();
                    named.provider_id = Some(pc.clone());
                    named.state = ObjectState::Ready;
                    self.save(&mine, &mut named).await?;
                    named
                }
                _ => {
                    self.provider_customer(pc, s.customer_email.as_deref())
                        .await?
                }
            };
            c.customer = c.customer.or(Some(customer.id));
        }
        if let Some(ps) = &s.provider_subscription {
            c.subscription = Some(self.subscription_named(ps, &c).await?.id);
        }
        if s.needs_capture && !c.status.is_final() {
            self.applied.captures.push(c.id.clone());
        }
        c.as_of = c.as_of.max(self.as_of);
        self.save(&before, &mut c).await?;
        let customer = self.customer_of(c.customer.as_deref()).await?;
        self.last = Some(c.row());
        Ok(Some(ObjectView::checkout(&c, customer.as_ref())))
    }

    /// The subscription a checkout started, known by its provider id only until the
    /// provider describes it.
    async fn subscription_named(
        &mut self,
        provider_id: &str,
        c: &Checkout,
    ) -> Result<Subscription> {
        if let Some(row) = self
            .tx
            .by_provider_id(ObjectKind::Subscription, self.provider, provider_id)
            .await?
        {
            let before: Subscription = object(&row)?;
            let mut sub = before.clone();
            sub.checkout = sub.checkout.or(Some(c.id.clone()));
            sub.customer = sub.customer.or(c.customer.clone());
            self.save(&before, &mut sub).await?;
            return Ok(sub);
        }
        let made = Subscription {
            id: new_id("psub"),
            provider: self.provider.to_string(),
            provider_id: provider_id.to_string(),
            customer: c.customer.clone(),
            checkout: Some(c.id.clone()),
            status: SubscriptionStatus::Incomplete,
            current_period_end: None,
            cancel_at_period_end: false,
            canceled_at: None,
            as_of: 0,
            created_at: self.now,
            updated_at: self.now,
        };
        self.insert(made, provider_id).await
    }

    /// The subscription's customer: the hub's it names, else its checkout's, else the
    /// one the provider names (a row is made for a customer made at the provider).
    async fn subscription(&mut self, s: &SubscriptionState) -> Result<Option<ObjectView>> {
        let checkout = match &s.hub_checkout {
            Some(id) => self
                .tx
                .by_id(ObjectKind::Checkout, id)
                .await?
                .filter(|r| r.provider == self.provider),
            None => None,
        };
        let mut customer = self
            .customer_of(s.hub_customer.as_deref())
            .await?
            .filter(|c| c.provider == self.provider);
        if customer.is_none()
            && let Some(row) = &checkout
        {
            customer = self.customer_of(row.customer.as_deref()).await?;
        }
        if customer.is_none()
            && let Some(pc) = &s.provider_customer
        {
            customer = Some(self.provider_customer(pc, None).await?);
        }
        let existing = self
            .tx
            .by_provider_id(ObjectKind::Subscription, self.provider, &s.provider_id)
            .await?;
        let before = match existing {
            Some(row) => object::<Subscription>(&row)?,
            None => {
                // Made as reported, so that a new subscription is one write.
                let made = Subscription {
                    id: new_id("psub"),
                    provider: self.provider.to_string(),
                    provider_id: s.provider_id.clone(),
                    customer: customer.as_ref().map(|c| c.id.clone()),
                    checkout: checkout.as_ref().map(|c| c.id.clone()),
                    status: s.status,
                    current_period_end: s.current_period_end,
                    cancel_at_period_end: s.cancel_at_period_end,
                    canceled_at: s.canceled_at,
                    as_of: self.as_of,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.insert(made, &s.provider_id).await?
            }
        };
        let mut sub = before.clone();
        // Ended for good: a late report never revives it.
        let ended = sub.status == SubscriptionStatus::Canceled && sub.as_of > 0;
        if !ended
            && newer(
                self.as_of,
                subscription_rank(s.status),
                sub.as_of,
                subscription_rank(sub.status),
            )
        {
            sub.status = s.status;
            sub.current_period_end = s.current_period_end.or(sub.current_period_end);
            sub.cancel_at_period_end = s.cancel_at_period_end;
            sub.canceled_at = s.canceled_at.or(sub.canceled_at);
            sub.as_of = self.as_of;
        }
        sub.customer = sub.customer.or(customer.as_ref().map(|c| c.id.clone()));
        sub.checkout = sub.checkout.or(checkout.as_ref().map(|c| c.id.clone()));
        self.save(&before, &mut sub).await?;
        if let Some(row) = checkout {
            let before: Checkout = object(&row)?;
            if before.subscription.is_none() {
                let mut c = before.clone();
                c.subscription = Some(sub.id.clone());
                self.save(&before, &mut c).await?;
            }
        }
        let customer = match customer {
            Some(c) => Some(c),
            None => self.customer_of(sub.customer.as_deref()).await?,
        };
        self.last = Some(sub.row());
        Ok(Some(ObjectView::subscription(&sub, customer.as_ref())))
    }

    async fn refund(&mut self, s: &RefundState) -> Result<Option<ObjectView>> {
        let checkout = match &s.payment_id {
            Some(payment) => self
                .tx
                .by_external(ObjectKind::Checkout, self.provider, payment)
                .await?
                .map(|r| r.id),
            None => None,
        };
        let found = self
            .matched::<Refund>(s.hub_id.as_deref(), Some(&s.provider_id))
            .await?;
        let before = match found {
            Some(r) => r,
            None => {
                let made = Refund {
                    id: new_id("pref"),
                    provider: self.provider.to_string(),
                    provider_id: Some(s.provider_id.clone()),
                    checkout: checkout.clone(),
                    payment: s.payment_id.clone().unwrap_or_default(),
                    amount: None,
                    currency: None,
                    reason: None,
                    status: RefundStatus::Creating,
                    error: None,
                    keyed: Default::default(),
                    as_of: 0,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.insert(made, &s.provider_id).await?
            }
        };
        let mut r = before.clone();
        if r.provider_id.is_none() {
            r.provider_id = Some(s.provider_id.clone());
        }
        if r.status == RefundStatus::Creating
            || newer(
                self.as_of,
                refund_rank(s.status),
                r.as_of,
                refund_rank(r.status),
            )
        {
            r.status = s.status;
            r.amount = s.amount.or(r.amount);
            r.currency = s.currency.clone().or(r.currency);
            r.as_of = r.as_of.max(self.as_of);
        }
        if r.payment.is_empty()
            && let Some(p) = &s.payment_id
        {
            r.payment = p.clone();
        }
        r.checkout = r.checkout.or(checkout);
        self.save(&before, &mut r).await?;
        self.last = Some(r.row());
        Ok(Some(ObjectView::refund(&r)))
    }

    /// The checkout whose payment an event is about.
    async fn payment(&mut self, payment: &str) -> Result<Option<ObjectView>> {
        let Some(row) = self
            .tx
            .by_external(ObjectKind::Checkout, self.provider, payment)
            .await?
        else {
            return Ok(None);
        };
        let c: Checkout = object(&row)?;
        let customer = self.customer_of(c.customer.as_deref()).await?;
        self.last = Some(c.row());
        Ok(Some(ObjectView::checkout(&c, customer.as_ref())))
    }

    async fn account(&mut self, s: &AccountState) -> Result<Option<ObjectView>> {
        // Accounts made outside the hub are not mirrored.
        let Some(before) = self
            .matched::<ConnectedAccount>(s.hub_id.as_deref(), Some(&s.provider_id))
            .await?
        else {
            return Ok(None);
        };
        let mut a = before.clone();
        if a.provider_id.is_none() {
            a.provider_id = Some(s.provider_id.clone());
        }
        if self.as_of >= a.as_of {
            a.charges_enabled = s.charges_enabled;
            a.payouts_enabled = s.payouts_enabled;
            a.details_submitted = s.details_submitted;
            a.requirements_due = s.requirements_due.clone();
            a.state = ObjectState::Ready;
            a.as_of = self.as_of;
        }
        self.save(&before, &mut a).await?;
        self.last = Some(a.row());
        Ok(Some(ObjectView::account(&a)))
    }
}

fn subscription_rank(s: SubscriptionStatus) -> u8 {
    match s {
        SubscriptionStatus::Incomplete => 0,
        SubscriptionStatus::Trialing => 1,
        SubscriptionStatus::Active => 2,
        SubscriptionStatus::PastDue | SubscriptionStatus::Paused => 3,
        SubscriptionStatus::Unpaid => 4,
        SubscriptionStatus::Canceled => 5,
    }
}

fn refund_rank(s: RefundStatus) -> u8 {
    match s {
        RefundStatus::Creating => 0,
        RefundStatus::Pending => 1,
        RefundStatus::Succeeded | RefundStatus::Failed | RefundStatus::Canceled => 2,
    }
}
