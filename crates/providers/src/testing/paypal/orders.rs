//! Orders v2 and the payments they make: an order created once its purchase units add
//! up, captured once the buyer approved it (one capture per unit, with PayPal's fee),
//! and captures refunded in part or in full.

use serde_json::{Value, json};

use super::wire::{
    check_urls, invalid_value, link, missing, money, not_found, strip_nulls, syntax, time,
    too_long, unprocessable, unprocessable_issue, value,
};
use super::{Answer, Paypal};
use crate::testing::fake::{Reply, UPPER, now_secs, random};

/// A capture's money: what was captured and what has been refunded of it.
#[derive(Debug)]
pub(super) struct Captured {
    order: String,
    currency: String,
    amount: i64,
    refunded: i64,
}

impl Paypal {
    pub(super) fn create_order(&mut self, body: &Value, full: bool) -> Answer {
        let intent = body["intent"].as_str().ok_or_else(|| missing("/intent"))?;
        if intent != "CAPTURE" && intent != "AUTHORIZE" {
            return Err(invalid_value("/intent"));
        }
        let units = match body["purchase_units"].as_array() {
            Some(u) if !u.is_empty() => u,
            _ => return Err(missing("/purchase_units")),
        };
        let mut purchase_units = Vec::new();
        for unit in units {
            let reference = unit["reference_id"].as_str().unwrap_or("default");
            let at = format!("/purchase_units/@reference_id=='{reference}'");
            purchase_units.push(self.purchase_unit(unit, reference, &at)?);
        }
        check_urls(
            &body["payment_source"]["paypal"]["experience_context"],
            "/payment_source/paypal/experience_context",
        )?;
        let id = format!("O-{}", random(UPPER, 17));
        let base = &self.base_url;
        let self_link = link(format!("{base}/v2/checkout/orders/{id}"), "self", "GET");
        let approve = format!("https://www.sandbox.paypal.com/checkoutnow?token={id}");
        let now = time(now_secs());
        let mut order = if body["payment_source"]["paypal"].is_object() {
            json!({
                "id": id,
                "intent": intent,
                "status": "PAYER_ACTION_REQUIRED",
                "payment_source": {"paypal": {}},
                "purchase_units": purchase_units,
                "create_time": now,
                "links": [self_link, link(approve, "payer-action", "GET")],
            })
        } else {
            json!({
                "id": id,
                "intent": intent,
                "status": "CREATED",
                "purchase_units": purchase_units,
                "create_time": now,
                "links": [
                    self_link,
                    link(approve, "approve", "GET"),
                    link(format!("{base}/v2/checkout/orders/{id}"), "update", "PATCH"),
                    link(format!("{base}/v2/checkout/orders/{id}/capture"), "capture", "POST"),
                ],
            })
        };
        order = strip_nulls(order);
        self.store.insert("order", &id, order.clone());
        let answer = if full {
            order
        } else {
            let mut minimal = json!({"id": id, "status": order["status"], "links": order["links"]});
            if let Some(source) = order.get("payment_source") {
                minimal["payment_source"] = source.clone();
            }
            minimal
        };
        Ok(Reply::json(201, answer))
    }

    /// A purchase unit as the order keeps it, once its amounts add up.
    fn purchase_unit(&self, unit: &Value, reference: &str, at: &str) -> Result<Value, Reply> {
        if unit["amount"].is_null() {
            return Err(missing(&format!("{at}/amount")));
        }
        let (currency, total) = money(&unit["amount"], &format!("{at}/amount"))?;
        if total <= 0 {
            return Err(unprocessable(
                &format!("{at}/amount/value"),
                "CANNOT_BE_ZERO_OR_NEGATIVE",
                "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.",
            ));
        }
        for key in ["custom_id", "invoice_id"] {
            if unit[key].as_str().is_some_and(|v| v.chars().count() > 127) {
                return Err(too_long(&format!("{at}/{key}")));
            }
        }
        let items = unit["items"].as_array().cloned().unwrap_or_default();
        let mut item_sum = 0;
        for (i, item) in items.iter().enumerate() {
            let item_at = format!("{at}/items/{i}");
            if item["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
                return Err(missing(&format!("{item_at}/name")));
            }
            let quantity = item["quantity"]
                .as_str()
                .and_then(|q| q.parse::<i64>().ok())
                .filter(|q| *q >= 1)
                .ok_or_else(|| syntax(&format!("{item_at}/quantity")))?;
            let (item_currency, amount) =
                money(&item["unit_amount"], &format!("{item_at}/unit_amount"))?;
            if item_currency != currency {
                return Err(unprocessable(
                    &format!("{item_at}/unit_amount/currency_code"),
                    "CURRENCY_MISMATCH",
                    "Currency code should be the same for all amounts in a purchase unit.",
                ));
            }
            item_sum += amount * quantity;
        }
        let breakdown = &unit["amount"]["breakdown"];
        let part = |key: &str| -> Result<i64, Reply> {
            if breakdown[key].is_null() {
                return Ok(0);
            }
            let (c, v) = money(&breakdown[key], &format!("{at}/amount/breakdown/{key}"))?;
            if c != currency {
                return Err(unprocessable(
                    &format!("{at}/amount/breakdown/{key}/currency_code"),
                    "CURRENCY_MISMATCH",
                    "Currency code should be the same for all amounts in a purchase unit.",
                ));
            }
            Ok(v)
        };
        if !items.is_empty() && breakdown["item_total"].is_null() {
            return Err(unprocessable(
                &format!("{at}/amount/breakdown/item_total"),
                "ITEM_TOTAL_REQUIRED",
                "If item details are specified (items.unit_amount and items.quantity) corresponding amount.breakdown.item_total is required.",
            ));
        }
        if breakdown.is_object() {
            let item_total = part("item_total")?;
            if !items.is_empty() && item_total != item_sum {
                return Err(unprocessable(
                    &format!("{at}/amount/breakdown/item_total"),
                    "ITEM_TOTAL_MISMATCH",
                    "Should equal sum of (unit_amount * quantity) across all items for a given purchase_unit",
                ));
            }
            let sum = item_total
                + part("tax_total")?
                + part("shipping")?
                + part("handling")?
                + part("insurance")?
                - part("shipping_discount")?
                - part("discount")?;
            if sum != total {
                return Err(unprocessable(
                    &format!("{at}/amount/value"),
                    "AMOUNT_MISMATCH",
                    "Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount - discount.",
                ));
            }
        }
        let mut kept = unit.clone();
        kept["reference_id"] = json!(reference);
        kept["payee"] =
            json!({"email_address": "merchant@example.com", "merchant_id": "MERCHANT7QX2Z"});
        Ok(kept)
    }

    pub(super) fn capture(&mut self, id: &str) -> Answer {
        let base = self.base_url.clone();
        let order = self.store.get_mut("order", id).ok_or_else(not_found)?;
        match order["status"].as_str() {
            Some("APPROVED") => {}
            Some("COMPLETED") => {
                return Err(unprocessable_issue(
                    "ORDER_ALREADY_CAPTURED",
                    "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
                ));
            }
            _ => {
                return Err(unprocessable_issue(
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
                ));
            }
        }
        if order["intent"] != "CAPTURE" {
            return Err(unprocessable_issue(
                "ACTION_DOES_NOT_MATCH_INTENT",
                "Order was created with an intent to 'AUTHORIZE'. Please use v2/checkout/orders/order_id/authorize to complete the transaction or alternately Create an order with an intent of 'CAPTURE'.",
            ));
        }
        let now = time(now_secs());
        let mut made = Vec::new();
        for unit in order["purchase_units"]
            .as_array_mut()
            .expect("an order has purchase units")
        {
            let cap = format!("CAP-{}", random(UPPER, 17));
            let currency = unit["amount"]["currency_code"]
                .as_str()
                .unwrap_or("USD")
                .to_string();
            let amount = money(&unit["amount"], "")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let fee = fee(amount);
            let mut capture = json!({
                "id": cap,
                "status": "COMPLETED",
                "amount": {"currency_code": currency, "value": value(amount, &currency)},
                "final_capture": true,
                "seller_protection": {"status": "ELIGIBLE",
                    "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
                "seller_receivable_breakdown": {
                    "gross_amount": {"currency_code": currency, "value": value(amount, &currency)},
                    "paypal_fee": {"currency_code": currency, "value": value(fee, &currency)},
                    "net_amount": {"currency_code": currency, "value": value(amount - fee, &currency)},
                },
                "custom_id": unit["custom_id"],
                "invoice_id": unit["invoice_id"],
                "links": [
                    link(format!("{base}/v2/payments/captures/{cap}"), "self", "GET"),
                    link(format!("{base}/v2/payments/captures/{cap}/refund"), "refund", "POST"),
                    link(format!("{base}/v2/checkout/orders/{id}"), "up", "GET"),
                ],
                "create_time": now,
                "update_time": now,
            });
            capture = strip_nulls(capture);
            unit["payments"] = json!({"captures": [capture.clone()]});
            capture["supplementary_data"] = json!({"related_ids": {"order_id": id}});
            made.push((cap, capture, currency, amount));
        }
        order["status"] = json!("COMPLETED");
        order["update_time"] = json!(now);
        order["links"] = json!([link(
            format!("{base}/v2/checkout/orders/{id}"),
            "self",
            "GET"
        )]);
        let answer = order.clone();
        for (cap, capture, currency, amount) in made {
            self.store.insert("capture", &cap, capture);
            self.captures.insert(
                cap,
                Captured {
                    order: id.to_string(),
                    currency,
                    amount,
                    refunded: 0,
                },
            );
        }
        Ok(Reply::json(201, answer))
    }

    pub(super) fn refund(&mut self, capture_id: &str, body: &Value, full: bool) -> Answer {
        let base = self.base_url.clone();
        let captured = self.captures.get(capture_id).ok_or_else(not_found)?;
        let left = captured.amount - captured.refunded;
        let currency = captured.currency.clone();
        if left == 0 {
            return Err(unprocessable_issue(
                "CAPTURE_FULLY_REFUNDED",
                "The capture has already been fully refunded",
            ));
        }
        let amount = if body["amount"].is_null() {
            left
        } else {
            let (c, v) = money(&body["amount"], "/amount")?;
            if c != currency {
                return Err(unprocessable(
                    "/amount/currency_code",
                    "REFUND_CAPTURE_CURRENCY_MISMATCH",
                    "Refund must be in the same currency as the capture.",
                ));
            }
            if v <= 0 {
                return Err(invalid_value("/amount/value"));
            }
            if v > left {
                return Err(unprocessable(
                    "/amount/value",
                    "REFUND_AMOUNT_EXCEEDED",
                    "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
                ));
            }
            v
        };
        for (key, max) in [
            ("custom_id", 127),
            ("invoice_id", 127),
            ("note_to_payer", 255),
        ] {
            if body[key].as_str().is_some_and(|v| v.chars().count() > max) {
                return Err(too_long(&format!("/{key}")));
            }
        }
        let captured = self.captures.get_mut(capture_id).expect("looked up above");
        captured.refunded += amount;
        let total_refunded = captured.refunded;
        let status = if captured.refunded == captured.amount {
            "REFUNDED"
        } else {
            "PARTIALLY_REFUNDED"
        };
        let order_id = captured.order.clone();
        if let Some(capture) = self.store.get_mut("capture", capture_id) {
            capture["status"] = json!(status);
        }
        if let Some(order) = self.store.get_mut("order", &order_id) {
            for unit in order["purchase_units"].as_array_mut().into_iter().flatten() {
                for c in unit["payments"]["captures"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    if c["id"] == capture_id {
                        c["status"] = json!(status);
                    }
                }
            }
        }
        let id = format!("R-{}", random(UPPER, 17));
        let now = time(now_secs());
        let fee = fee(amount);
        let refund = strip_nulls(json!({
            "id": id,
            "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": value(amount, &currency)},
            "custom_id": body["custom_id"],
            "invoice_id": body["invoice_id"],
            "note_to_payer": body["note_to_payer"],
            "seller_payable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": value(amount, &currency)},
                "paypal_fee": {"currency_code": currency, "value": value(fee, &currency)},
                "net_amount": {"currency_code": currency, "value": value(amount - fee, &currency)},
                "total_refunded_amount": {"currency_code": currency, "value": value(total_refunded, &currency)},
            },
            "create_time": now,
            "update_time": now,
            "links": [
                link(format!("{base}/v2/payments/refunds/{id}"), "self", "GET"),
                link(format!("{base}/v2/payments/captures/{capture_id}"), "up", "GET"),
            ],
        }));
        self.store.insert("refund", &id, refund.clone());
        let answer = if full {
            refund
        } else {
            json!({"id": id, "status": "COMPLETED", "links": refund["links"]})
        };
        Ok(Reply::json(201, answer))
    }
}

/// PayPal's fee on `amount` minor units: 3.49 % plus 49 minor units.
fn fee(amount: i64) -> i64 {
    (amount * 349 / 10_000 + 49).min(amount)
}
