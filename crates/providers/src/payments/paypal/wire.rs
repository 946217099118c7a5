//! PayPal's objects (Orders v2, Subscriptions v1, Payments v2) as its API and webhooks
//! describe them, and their meaning in the hub's vocabulary.

use serde::Deserialize;
use switchyard_core::payment::{
    CheckoutState, CheckoutStatus, RefundState, RefundStatus, SubscriptionState, SubscriptionStatus,
};
use switchyard_core::time::parse_rfc3339;

use super::money;
use crate::payments::error::Explained;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Link {
    pub href: String,
    pub rel: String,
}

/// Where the buyer approves: `payer-action` (current) or `approve` (older requests).
fn approval(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel == "payer-action" || l.rel == "approve")
        .map(|l| l.href.clone())
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Money {
    pub currency_code: String,
    pub value: String,
}

impl Money {
    fn minor(&self) -> Option<i64> {
        money::from_value(&self.value, &self.currency_code)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Order {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    purchase_units: Vec<PurchaseUnit>,
}

#[derive(Debug, Deserialize)]
struct PurchaseUnit {
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    amount: Option<Money>,
    #[serde(default)]
    payments: Option<Payments>,
}

#[derive(Debug, Deserialize)]
struct Payments {
    #[serde(default)]
    captures: Vec<Capture>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Capture {
    pub id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    amount: Option<Money>,
    #[serde(default)]
    supplementary_data: Option<Supplementary>,
}

#[derive(Debug, Clone, Deserialize)]
struct Supplementary {
    #[serde(default)]
    related_ids: Option<RelatedIds>,
}

#[derive(Debug, Clone, Deserialize)]
struct RelatedIds {
    #[serde(default)]
    order_id: Option<String>,
}

fn capture_status(status: Option<&str>) -> CheckoutStatus {
    match status {
        Some("COMPLETED") => CheckoutStatus::Complete,
        Some("DECLINED") | Some("FAILED") => CheckoutStatus::Failed,
        _ => CheckoutStatus::Pending,
    }
}

impl Order {
    /// `APPROVED` is a buyer who approved: the order is paid once the hub captures it.
    pub fn state(&self) -> CheckoutState {
        let unit = self.purchase_units.first();
        let capture = unit
            .and_then(|u| u.payments.as_ref())
            .and_then(|p| p.captures.first());
        let status = match (self.status.as_deref(), capture) {
            (Some("COMPLETED"), Some(c)) => capture_status(c.status.as_deref()),
            (Some("COMPLETED"), None) => CheckoutStatus::Complete,
            (Some("APPROVED"), _) => CheckoutStatus::Pending,
            (Some("VOIDED"), _) => CheckoutStatus::Expired,
            _ => CheckoutStatus::Open,
        };
        let amount = unit.and_then(|u| u.amount.as_ref());
        CheckoutState {
            url: approval(&self.links),
            hub_id: unit.and_then(|u| u.custom_id.clone()),
            payment_id: capture.map(|c| c.id.clone()),
            amount_total: amount.and_then(Money::minor),
            currency: amount.map(|a| a.currency_code.to_ascii_lowercase()),
            needs_capture: self.status.as_deref() == Some("APPROVED"),
            ..CheckoutState::new(&self.id, status)
        }
    }
}

impl Capture {
    /// The order a capture paid, as the checkout it completes.
    pub fn checkout(&self) -> Option<CheckoutState> {
        let order = self
            .supplementary_data
            .as_ref()
            .and_then(|s| s.related_ids.as_ref())
            .and_then(|r| r.order_id.clone());
        if order.is_none() && self.custom_id.is_none() {
            return None;
        }
        Some(CheckoutState {
            hub_id: self.custom_id.clone(),
            payment_id: Some(self.id.clone()),
            amount_total: self.amount.as_ref().and_then(Money::minor),
            currency: self
                .amount
                .as_ref()
                .map(|a| a.currency_code.to_ascii_lowercase()),
            ..CheckoutState::new(
                order.unwrap_or_default(),
                capture_status(self.status.as_deref()),
            )
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    billing_info: Option<BillingInfo>,
    #[serde(default)]
    status_update_time: Option<String>,
    #[serde(default)]
    subscriber: Option<Subscriber>,
}

#[derive(Debug, Deserialize)]
struct BillingInfo {
    #[serde(default)]
    next_billing_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Subscriber {
    #[serde(default)]
    payer_id: Option<String>,
}

/// PayPal's statuses: approval pending or approved but not active is incomplete;
/// suspended is paused; cancelled or expired has ended.
pub(crate) fn subscription_status(status: Option<&str>) -> SubscriptionStatus {
    match status {
        Some("ACTIVE") => SubscriptionStatus::Active,
        Some("SUSPENDED") => SubscriptionStatus::Paused,
        Some("CANCELLED") | Some("EXPIRED") => SubscriptionStatus::Canceled,
        _ => SubscriptionStatus::Incomplete,
    }
}

impl Subscription {
    pub fn state(&self) -> SubscriptionState {
        let status = subscription_status(self.status.as_deref());
        SubscriptionState {
            provider_id: self.id.clone(),
            provider_customer: self.subscriber.as_ref().and_then(|s| s.payer_id.clone()),
            hub_checkout: self.custom_id.clone(),
            hub_customer: None,
            status,
            current_period_end: self
                .billing_info
                .as_ref()
                .and_then(|b| b.next_billing_time.as_deref())
                .and_then(parse_rfc3339),
            cancel_at_period_end: false,
            canceled_at: (status == SubscriptionStatus::Canceled)
                .then(|| self.status_update_time.as_deref().and_then(parse_rfc3339))
                .flatten(),
        }
    }

    /// The subscription as the checkout that asked the buyer to approve it.
    pub fn checkout(&self) -> CheckoutState {
        // Suspended and expired subscriptions were active: their checkout was paid.
        let status = match self.status.as_deref() {
            Some("APPROVAL_PENDING") | None => CheckoutStatus::Open,
            Some("APPROVED") => CheckoutStatus::Pending,
            Some("ACTIVE") | Some("SUSPENDED") | Some("EXPIRED") => CheckoutStatus::Complete,
            Some(_) => CheckoutStatus::Expired,
        };
        CheckoutState {
            url: approval(&self.links),
            hub_id: self.custom_id.clone(),
            provider_subscription: Some(self.id.clone()),
            ..CheckoutState::new(&self.id, status)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Refund {
    pub id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    amount: Option<Money>,
    #[serde(default)]
    links: Vec<Link>,
}

impl Refund {
    /// `payment` is the refunded capture when the caller knows it; otherwise it is read
    /// from the refund's `up` link.
    pub fn state(&self, payment: Option<&str>) -> RefundState {
        let status = match self.status.as_deref() {
            Some("COMPLETED") => RefundStatus::Succeeded,
            Some("CANCELLED") => RefundStatus::Canceled,
            Some("FAILED") => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        };
        let up = self
            .links
            .iter()
            .find(|l| l.rel == "up")
            .and_then(|l| l.href.rsplit('/').next())
            .map(str::to_string);
        RefundState {
            provider_id: self.id.clone(),
            hub_id: self.custom_id.clone(),
            payment_id: payment.map(str::to_string).or(up),
            amount: self.amount.as_ref().and_then(Money::minor),
            currency: self
                .amount
                .as_ref()
                .map(|a| a.currency_code.to_ascii_lowercase()),
            status,
        }
    }
}

/// PayPal's error body: `{"name", "message", "debug_id", "details": [{"field", "issue",
/// "description"}]}`; the first detail is the most specific.
pub(crate) fn explain(body: &[u8]) -> Explained {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
        #[serde(default)]
        details: Vec<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        field: Option<String>,
        #[serde(default)]
        issue: Option<String>,
        #[serde(default)]
        description: Option<String>,
    }
    let Ok(b) = serde_json::from_slice::<Body>(body) else {
        return Explained::default();
    };
    let detail = b.details.into_iter().next();
    let (field, issue, description) = match detail {
        Some(d) => (d.field, d.issue, d.description),
        None => (None, None, None),
    };
    Explained {
        code: issue.or(b.name).or(b.error),
        message: description.or(b.message).or(b.error_description),
        param: field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approved_order_needs_capture_and_a_completed_one_names_its_capture() {
        let approved: Order = serde_json::from_str(
            r#"{"id":"O-1","status":"APPROVED","purchase_units":[{"custom_id":"pchk_1","amount":{"currency_code":"USD","value":"12.34"}}]}"#,
        )
        .unwrap();
        let s = approved.state();
        assert_eq!(s.status, CheckoutStatus::Pending);
        assert!(s.needs_capture);
        assert_eq!(s.hub_id.as_deref(), Some("pchk_1"));
        assert_eq!(
            (s.amount_total, s.currency.as_deref()),
            (Some(1234), Some("usd"))
        );
        let done: Order = serde_json::from_str(
            r#"{"id":"O-1","status":"COMPLETED","purchase_units":[{"payments":{"captures":[{"id":"CAP-1","status":"COMPLETED"}]}}]}"#,
        )
        .unwrap();
        let s = done.state();
        assert_eq!(s.status, CheckoutStatus::Complete);
        assert_eq!(s.payment_id.as_deref(), Some("CAP-1"));
        assert!(!s.needs_capture);
    }

    #[test]
    fn errors_name_the_issue_and_the_field() {
        let e = explain(
            br#"{"name":"UNPROCESSABLE_ENTITY","message":"The requested action could not be performed.","debug_id":"x",
                "details":[{"field":"/purchase_units/@reference_id=='default'/amount/value","issue":"DECIMAL_PRECISION","description":"If the currency supports decimals, only two decimal place precision is supported."}]}"#,
        );
        assert_eq!(e.code.as_deref(), Some("DECIMAL_PRECISION"));
        assert!(e.param.unwrap().ends_with("amount/value"));
        let e = explain(
            br#"{"name":"RESOURCE_NOT_FOUND","message":"The specified resource does not exist."}"#,
        );
        assert_eq!(e.code.as_deref(), Some("RESOURCE_NOT_FOUND"));
    }
}
