//! Subscriptions v1: catalog products, billing plans of billing cycles, and
//! subscriptions to a plan — pending the buyer's approval, activated (the first cycle
//! paid), and cancelled.

use serde_json::{Value, json};

use super::wire::{
    check_urls, detail, error, invalid_value, link, missing, money, not_found, payer, strip_nulls,
    syntax, time, too_long, unprocessable, unprocessable_issue, value,
};
use super::{Answer, Paypal};
use crate::testing::fake::{Reply, UPPER, now_secs, random};

const DAY: i64 = 86_400;

impl Paypal {
    pub(super) fn create_product(&mut self, body: &Value) -> Answer {
        match body["name"].as_str() {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= 127 => {}
            Some(_) => {
                return Err(too_long("/name"));
            }
            None => return Err(missing("/name")),
        }
        match body["type"].as_str() {
            Some("PHYSICAL" | "DIGITAL" | "SERVICE") => {}
            Some(_) => {
                return Err(invalid_value("/type"));
            }
            None => return Err(missing("/type")),
        }
        let id = format!("PROD-{}", random(UPPER, 17));
        let now = time(now_secs());
        let base = &self.base_url;
        let product = strip_nulls(json!({
            "id": id,
            "name": body["name"],
            "description": body["description"],
            "type": body["type"],
            "category": body["category"],
            "create_time": now,
            "update_time": now,
            "links": [
                link(format!("{base}/v1/catalogs/products/{id}"), "self", "GET"),
                link(format!("{base}/v1/catalogs/products/{id}"), "edit", "PATCH"),
            ],
        }));
        self.store.insert("product", &id, product.clone());
        Ok(Reply::json(201, product))
    }

    pub(super) fn create_plan(&mut self, body: &Value, full: bool) -> Answer {
        let product = body["product_id"]
            .as_str()
            .ok_or_else(|| missing("/product_id"))?;
        if self.store.get_kind("product", product).is_none() {
            return Err(error(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                vec![detail(
                    Some("/product_id"),
                    "INVALID_RESOURCE_ID",
                    "Requested resource ID was not found.",
                )],
            ));
        }
        if body["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
            return Err(missing("/name"));
        }
        let cycles = match body["billing_cycles"].as_array() {
            Some(c) if !c.is_empty() => c,
            _ => return Err(missing("/billing_cycles")),
        };
        for (i, cycle) in cycles.iter().enumerate() {
            let at = format!("/billing_cycles/{i}");
            match cycle["frequency"]["interval_unit"].as_str() {
                Some("DAY" | "WEEK" | "MONTH" | "YEAR") => {}
                Some(_) => {
                    return Err(invalid_value(&format!("{at}/frequency/interval_unit")));
                }
                None => return Err(missing(&format!("{at}/frequency/interval_unit"))),
            }
            match cycle["tenure_type"].as_str() {
                Some("REGULAR" | "TRIAL") => {}
                Some(_) => {
                    return Err(invalid_value(&format!("{at}/tenure_type")));
                }
                None => return Err(missing(&format!("{at}/tenure_type"))),
            }
            if cycle["sequence"].as_i64().is_none() {
                return Err(missing(&format!("{at}/sequence")));
            }
            let price = &cycle["pricing_scheme"]["fixed_price"];
            if cycle["tenure_type"] == "REGULAR" && price.is_null() {
                return Err(missing(&format!("{at}/pricing_scheme/fixed_price")));
            }
            if !price.is_null() {
                money(price, &format!("{at}/pricing_scheme/fixed_price"))?;
            }
        }
        if !body["payment_preferences"].is_object() {
            return Err(missing("/payment_preferences"));
        }
        let status = body["status"].as_str().unwrap_or("ACTIVE");
        if !["CREATED", "ACTIVE", "INACTIVE"].contains(&status) {
            return Err(invalid_value("/status"));
        }
        let id = format!("P-{}", random(UPPER, 24));
        let now = time(now_secs());
        let base = &self.base_url;
        let plan = strip_nulls(json!({
            "id": id,
            "product_id": product,
            "name": body["name"],
            "description": body["description"],
            "status": status,
            "usage_type": "LICENSED",
            "billing_cycles": cycles,
            "payment_preferences": body["payment_preferences"],
            "taxes": body["taxes"],
            "quantity_supported": body["quantity_supported"].as_bool().unwrap_or(false),
            "create_time": now,
            "update_time": now,
            "links": [
                link(format!("{base}/v1/billing/plans/{id}"), "self", "GET"),
                link(format!("{base}/v1/billing/plans/{id}"), "edit", "PATCH"),
                link(format!("{base}/v1/billing/plans/{id}/deactivate"), "self", "POST"),
            ],
        }));
        self.store.insert("plan", &id, plan.clone());
        let answer = if full {
            plan
        } else {
            json!({"id": id, "product_id": product, "name": plan["name"], "status": status,
                "usage_type": "LICENSED", "create_time": now, "links": plan["links"]})
        };
        Ok(Reply::json(201, answer))
    }

    pub(super) fn create_subscription(&mut self, body: &Value, full: bool) -> Answer {
        let plan_id = body["plan_id"]
            .as_str()
            .ok_or_else(|| missing("/plan_id"))?;
        let plan = self.store.get_kind("plan", plan_id).ok_or_else(|| {
            error(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                vec![detail(
                    Some("/plan_id"),
                    "INVALID_RESOURCE_ID",
                    "Requested resource ID was not found.",
                )],
            )
        })?;
        if plan["status"] != "ACTIVE" {
            return Err(unprocessable(
                "/plan_id",
                "PLAN_STATUS_INVALID",
                "Invalid plan status. Subscription creation requires plan in ACTIVE status.",
            ));
        }
        if body["custom_id"]
            .as_str()
            .is_some_and(|c| c.chars().count() > 127)
        {
            return Err(too_long("/custom_id"));
        }
        let quantity = match &body["quantity"] {
            Value::Null => "1".to_string(),
            Value::String(q) if q.parse::<u32>().is_ok_and(|q| q >= 1) => q.clone(),
            _ => {
                return Err(syntax("/quantity"));
            }
        };
        if let Some(email) = body["subscriber"]["email_address"].as_str()
            && !email.contains('@')
        {
            return Err(syntax("/subscriber/email_address"));
        }
        check_urls(&body["application_context"], "/application_context")?;
        let id = format!("I-{}", random(UPPER, 12));
        let now = time(now_secs());
        let base = &self.base_url;
        let approve = format!(
            "https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-{}",
            random(UPPER, 17)
        );
        let mut subscriber = body["subscriber"].clone();
        if !subscriber.is_object() {
            subscriber = json!({});
        }
        let sub = strip_nulls(json!({
            "id": id,
            "plan_id": plan_id,
            "status": "APPROVAL_PENDING",
            "status_update_time": now,
            "start_time": body["start_time"].as_str().map_or(now.clone(), str::to_string),
            "quantity": quantity,
            "custom_id": body["custom_id"],
            "subscriber": subscriber,
            "create_time": now,
            "plan_overridden": false,
            "links": [
                link(approve, "approve", "GET"),
                link(format!("{base}/v1/billing/subscriptions/{id}"), "edit", "PATCH"),
                link(format!("{base}/v1/billing/subscriptions/{id}"), "self", "GET"),
            ],
        }));
        self.store.insert("subscription", &id, sub.clone());
        let answer = if full {
            sub
        } else {
            strip_nulls(
                json!({"id": id, "plan_id": plan_id, "status": "APPROVAL_PENDING",
                "status_update_time": now, "custom_id": body["custom_id"], "create_time": now,
                "links": sub["links"]}),
            )
        };
        Ok(Reply::json(201, answer))
    }

    pub(super) fn activate(&mut self, id: &str) -> Value {
        let base = self.base_url.clone();
        let plan_id = self
            .store
            .get_kind("subscription", id)
            .unwrap_or_else(|| panic!("no subscription {id}"))["plan_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let plan = self.store.get(&plan_id).cloned().unwrap_or(Value::Null);
        let regular = plan["billing_cycles"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["tenure_type"] == "REGULAR"))
            .cloned()
            .unwrap_or(Value::Null);
        let count = regular["frequency"]["interval_count"].as_i64().unwrap_or(1);
        let days = match regular["frequency"]["interval_unit"].as_str() {
            Some("DAY") => 1,
            Some("WEEK") => 7,
            Some("YEAR") => 365,
            _ => 30,
        };
        let price = regular["pricing_scheme"]["fixed_price"].clone();
        let currency = price["currency_code"].as_str().unwrap_or("USD").to_string();
        let sub = self
            .store
            .get_mut("subscription", id)
            .expect("looked up above");
        let status = sub["status"].as_str().unwrap_or_default();
        assert!(
            status == "APPROVAL_PENDING" || status == "APPROVED",
            "subscription {id} is {status}: only one waiting for the buyer can be activated"
        );
        let quantity: i64 = sub["quantity"]
            .as_str()
            .and_then(|q| q.parse().ok())
            .unwrap_or(1);
        let paid = money(&price, "").map_or(0, |(_, v)| v) * quantity;
        let now = now_secs();
        let payer = payer();
        let email = sub["subscriber"]["email_address"]
            .as_str()
            .map_or(payer["email_address"].clone(), |e| json!(e));
        sub["status"] = json!("ACTIVE");
        sub["status_update_time"] = json!(time(now));
        sub["subscriber"] = json!({
            "email_address": email, "payer_id": payer["payer_id"], "name": payer["name"],
        });
        sub["billing_info"] = json!({
            "outstanding_balance": {"currency_code": currency, "value": value(0, &currency)},
            "cycle_executions": [{"tenure_type": "REGULAR", "sequence": regular["sequence"],
                "cycles_completed": 1, "cycles_remaining": 0, "current_pricing_scheme_version": 1,
                "total_cycles": regular["total_cycles"]}],
            "last_payment": {"amount": {"currency_code": currency, "value": value(paid, &currency)},
                "time": time(now)},
            "next_billing_time": time(now + days * count * DAY),
            "failed_payments_count": 0,
        });
        sub["links"] = json!([
            link(
                format!("{base}/v1/billing/subscriptions/{id}/cancel"),
                "cancel",
                "POST"
            ),
            link(
                format!("{base}/v1/billing/subscriptions/{id}"),
                "edit",
                "PATCH"
            ),
            link(
                format!("{base}/v1/billing/subscriptions/{id}"),
                "self",
                "GET"
            ),
            link(
                format!("{base}/v1/billing/subscriptions/{id}/suspend"),
                "suspend",
                "POST"
            ),
            link(
                format!("{base}/v1/billing/subscriptions/{id}/capture"),
                "capture",
                "POST"
            ),
        ]);
        sub.clone()
    }

    pub(super) fn cancel_subscription(&mut self, id: &str, body: &Value) -> Answer {
        let sub = self
            .store
            .get_mut("subscription", id)
            .ok_or_else(not_found)?;
        match body["reason"].as_str() {
            Some(r) if !r.is_empty() && r.chars().count() <= 128 => {}
            Some(_) => {
                return Err(too_long("/reason"));
            }
            None => return Err(missing("/reason")),
        }
        match sub["status"].as_str() {
            Some("ACTIVE" | "SUSPENDED") => {}
            _ => {
                return Err(unprocessable_issue(
                    "SUBSCRIPTION_STATUS_INVALID",
                    "Invalid subscription status for cancel action; subscription status should be active or suspended.",
                ));
            }
        }
        sub["status"] = json!("CANCELLED");
        sub["status_update_time"] = json!(time(now_secs()));
        if let Some(info) = sub["billing_info"].as_object_mut() {
            info.remove("next_billing_time");
        }
        let base = self.base_url.clone();
        sub["links"] = json!([link(
            format!("{base}/v1/billing/subscriptions/{id}"),
            "self",
            "GET"
        )]);
        Ok(Reply::empty(204))
    }
}
