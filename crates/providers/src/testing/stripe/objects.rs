//! The endpoints besides Checkout: customers, subscription updates and cancellation,
//! refunds of a payment or charge, Billing Portal sessions, and Connect accounts and
//! account links — each refusing parameters it does not know, checking the rest as
//! Stripe does, and keeping the object it answers.

use serde_json::{Map, Value, json};

use super::form::{
    INVALID, Params, check_email, check_url, error, invalid, map_key, missing, money, no_such,
    tokens,
};
use super::{Answer, Stripe};
use crate::testing::fake::{ALPHANUMERIC, Reply, id, now_secs, random};

const CUSTOMER_PARAMS: &[&str] = &["email", "name", "description", "phone", "metadata[*]"];

const SUBSCRIPTION_UPDATE_PARAMS: &[&str] = &[
    "cancel_at_period_end",
    "cancel_at",
    "metadata[*]",
    "proration_behavior",
    "cancellation_details[comment]",
    "cancellation_details[feedback]",
];

const SUBSCRIPTION_CANCEL_PARAMS: &[&str] = &[
    "invoice_now",
    "prorate",
    "cancellation_details[comment]",
    "cancellation_details[feedback]",
];

const REFUND_PARAMS: &[&str] = &[
    "payment_intent",
    "charge",
    "amount",
    "reason",
    "metadata[*]",
    "refund_application_fee",
    "reverse_transfer",
];

const PORTAL_PARAMS: &[&str] = &["customer", "return_url", "configuration", "locale"];

const ACCOUNT_PARAMS: &[&str] = &[
    "type",
    "email",
    "country",
    "business_type",
    "default_currency",
    "capabilities[*][requested]",
    "metadata[*]",
];

const ACCOUNT_LINK_PARAMS: &[&str] = &["account", "type", "refresh_url", "return_url", "collect"];

impl Stripe {
    pub(super) fn create_customer(&mut self, p: &Params) -> Answer {
        p.only(CUSTOMER_PARAMS)?;
        if let Some(email) = p.get("email") {
            check_email("email", email)?;
        }
        let id = id("cus_", 14);
        let customer = json!({
            "id": id,
            "object": "customer",
            "created": now_secs(),
            "email": p.get("email"),
            "name": p.get("name"),
            "description": p.get("description"),
            "phone": p.get("phone"),
            "metadata": p.map("metadata")?,
            "balance": 0,
            "currency": null,
            "delinquent": false,
            "default_source": null,
            "invoice_prefix": random(ALPHANUMERIC, 8),
            "livemode": false,
        });
        self.store.insert("customer", &id, customer.clone());
        Ok(Reply::ok(customer))
    }

    pub(super) fn update_subscription(&mut self, id: &str, p: &Params) -> Answer {
        p.only(SUBSCRIPTION_UPDATE_PARAMS)?;
        let at_end = p.bool("cancel_at_period_end")?;
        let metadata = p.0.iter().any(|(k, _)| k.starts_with("metadata["));
        let raw_metadata: Vec<(String, String)> =
            p.0.iter()
                .filter_map(|(k, v)| Some((map_key(k, "metadata")?, v.clone())))
                .collect();
        p.map("metadata")?;
        let sub = self
            .store
            .get_mut("subscription", id)
            .ok_or_else(|| no_such(404, "subscription", id, Some("id")))?;
        let only_metadata =
            p.0.iter()
                .all(|(k, _)| k.starts_with("metadata[") || k.starts_with("cancellation_details["));
        if sub["status"] == "canceled" && !only_metadata {
            return Err(invalid(
                "cancel_at_period_end",
                "A canceled subscription can only update its cancellation_details and metadata."
                    .into(),
            ));
        }
        if let Some(at_end) = at_end {
            sub["cancel_at_period_end"] = json!(at_end);
            if at_end {
                let end = sub["items"]["data"][0]["current_period_end"].clone();
                sub["cancel_at"] = end;
                sub["canceled_at"] = json!(now_secs());
            } else {
                sub["cancel_at"] = Value::Null;
                sub["canceled_at"] = Value::Null;
            }
        }
        if metadata {
            let map = sub["metadata"]
                .as_object_mut()
                .expect("metadata is an object");
            for (k, v) in raw_metadata {
                if v.is_empty() {
                    map.remove(&k);
                } else {
                    map.insert(k, json!(v));
                }
            }
        }
        Ok(Reply::ok(sub.clone()))
    }

    /// `DELETE`: cancels now. A subscription already canceled is gone, as far as
    /// cancelling goes: Stripe answers `resource_missing`.
    pub(super) fn cancel_subscription(&mut self, id: &str, p: &Params) -> Answer {
        p.only(SUBSCRIPTION_CANCEL_PARAMS)?;
        let sub = self
            .store
            .get_mut("subscription", id)
            .filter(|s| s["status"] != "canceled")
            .ok_or_else(|| no_such(404, "subscription", id, Some("id")))?;
        let now = now_secs();
        sub["status"] = json!("canceled");
        if sub["canceled_at"].is_null() {
            sub["canceled_at"] = json!(now);
        }
        sub["ended_at"] = json!(now);
        Ok(Reply::ok(sub.clone()))
    }

    pub(super) fn create_refund(&mut self, p: &Params) -> Answer {
        p.only(REFUND_PARAMS)?;
        let (charge_id, intent) = match (p.get("payment_intent"), p.get("charge")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "charge",
                    "You may only specify one of these parameters: charge, payment_intent.".into(),
                ));
            }
            (Some(pi), None) => {
                let intent = self
                    .store
                    .get_kind("payment_intent", pi)
                    .ok_or_else(|| no_such(404, "payment_intent", pi, Some("payment_intent")))?;
                match intent["latest_charge"].as_str() {
                    Some(ch) => (ch.to_string(), Some(pi.to_string())),
                    None => {
                        return Err(error(
                            400,
                            INVALID,
                            Some("payment_intent_unexpected_state"),
                            format!("PaymentIntent {pi} has no successful charge to refund."),
                            Some("payment_intent"),
                        ));
                    }
                }
            }
            (None, Some(ch)) => {
                let charge = self
                    .store
                    .get_kind("charge", ch)
                    .ok_or_else(|| no_such(404, "charge", ch, Some("charge")))?;
                (
                    ch.to_string(),
                    charge["payment_intent"].as_str().map(str::to_string),
                )
            }
            (None, None) => return Err(missing("payment_intent")),
        };
        let reason = p.get("reason");
        if let Some(r) = reason
            && !["duplicate", "fraudulent", "requested_by_customer"].contains(&r)
        {
            return Err(invalid(
                "reason",
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer"
                    .into(),
            ));
        }
        let amount = p.int("amount")?;
        let metadata = p.map("metadata")?;
        let charge = self
            .store
            .get_mut("charge", &charge_id)
            .expect("a payment's charge exists");
        let total = charge["amount"].as_i64().unwrap_or(0);
        let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
        let left = total - refunded;
        if left == 0 {
            return Err(error(
                400,
                INVALID,
                Some("charge_already_refunded"),
                format!("Charge {charge_id} has already been refunded."),
                None,
            ));
        }
        let amount = match amount {
            Some(a) if a < 1 => {
                return Err(invalid(
                    "amount",
                    "This value must be greater than or equal to 1.".into(),
                ));
            }
            Some(a) if a > left => {
                let currency = charge["currency"].as_str().unwrap_or("usd");
                return Err(invalid(
                    "amount",
                    format!(
                        "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                        money(a, currency),
                        money(left, currency)
                    ),
                ));
            }
            Some(a) => a,
            None => left,
        };
        charge["amount_refunded"] = json!(refunded + amount);
        charge["refunded"] = json!(refunded + amount == total);
        let currency = charge["currency"].clone();
        let id = id("re_", 24);
        let refund = json!({
            "id": id,
            "object": "refund",
            "amount": amount,
            "currency": currency,
            "charge": charge_id,
            "payment_intent": intent,
            "status": "succeeded",
            "reason": reason,
            "metadata": metadata,
            "created": now_secs(),
            "balance_transaction": self::id("txn_", 24),
        });
        self.store.insert("refund", &id, refund.clone());
        Ok(Reply::ok(refund))
    }

    pub(super) fn create_portal_session(&mut self, p: &Params) -> Answer {
        p.only(PORTAL_PARAMS)?;
        let customer = p.get("customer").ok_or_else(|| missing("customer"))?;
        if self.store.get_kind("customer", customer).is_none() {
            return Err(no_such(400, "customer", customer, Some("customer")));
        }
        if let Some(url) = p.get("return_url") {
            check_url("return_url", url)?;
        }
        let id = id("bps_", 24);
        let session = json!({
            "id": id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": p.get("return_url"),
            "url": format!("https://billing.stripe.com/p/session/test_{}", random(ALPHANUMERIC, 32)),
            "created": now_secs(),
            "livemode": false,
        });
        self.store
            .insert("billing_portal_session", &id, session.clone());
        Ok(Reply::ok(session))
    }

    pub(super) fn create_account(&mut self, p: &Params) -> Answer {
        p.only(ACCOUNT_PARAMS)?;
        let kind = p.get("type").ok_or_else(|| missing("type"))?;
        if !["express", "standard", "custom"].contains(&kind) {
            return Err(invalid(
                "type",
                "Invalid type: must be one of custom, express, or standard".into(),
            ));
        }
        if let Some(email) = p.get("email") {
            check_email("email", email)?;
        }
        let mut capabilities = Map::new();
        for (k, v) in p.0 {
            if let Some(["capabilities", name, "requested"]) = tokens(k).as_deref()
                && v == "true"
            {
                capabilities.insert(name.to_string(), json!("inactive"));
            }
        }
        let due = [
            "business_profile.url",
            "business_type",
            "external_account",
            "tos_acceptance.date",
            "tos_acceptance.ip",
        ];
        let id = id("acct_", 16);
        let account = json!({
            "id": id,
            "object": "account",
            "type": kind,
            "email": p.get("email"),
            "country": p.get("country").unwrap_or("US"),
            "default_currency": p.get("default_currency").unwrap_or("usd"),
            "business_type": p.get("business_type"),
            "charges_enabled": false,
            "payouts_enabled": false,
            "details_submitted": false,
            "capabilities": capabilities,
            "requirements": {
                "currently_due": due, "eventually_due": due, "past_due": due,
                "pending_verification": [], "disabled_reason": "requirements.past_due",
                "current_deadline": null, "errors": [],
            },
            "metadata": p.map("metadata")?,
            "created": now_secs(),
        });
        self.store.insert("account", &id, account.clone());
        Ok(Reply::ok(account))
    }

    pub(super) fn create_account_link(&mut self, p: &Params) -> Answer {
        p.only(ACCOUNT_LINK_PARAMS)?;
        let account = p.get("account").ok_or_else(|| missing("account"))?;
        let kind = p.get("type").ok_or_else(|| missing("type"))?;
        if !["account_onboarding", "account_update"].contains(&kind) {
            return Err(invalid(
                "type",
                "Invalid type: must be one of account_onboarding or account_update".into(),
            ));
        }
        for key in ["refresh_url", "return_url"] {
            check_url(key, p.get(key).ok_or_else(|| missing(key))?)?;
        }
        if self.store.get_kind("account", account).is_none() {
            return Err(no_such(400, "account", account, Some("account")));
        }
        let now = now_secs();
        let link = json!({
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": format!("https://connect.stripe.com/setup/e/{account}/{}", random(ALPHANUMERIC, 12)),
        });
        self.store
            .insert("account_link", &id("link_", 12), link.clone());
        Ok(Reply::ok(link))
    }
}
