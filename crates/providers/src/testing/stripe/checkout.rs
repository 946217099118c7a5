//! Checkout Sessions: what a session is asked for and checked against (its mode, line
//! items of prices that exist or are defined on the spot, URLs, the customer, marketplace
//! transfers and fees), its expiring, and the buyer completing it — which makes the
//! payment intent and charge, or the customer and subscription, the session stands for.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::form::{INVALID, Params, check_email, check_url, error, invalid, missing, no_such};
use super::{Answer, Stripe};
use crate::testing::fake::{ALPHANUMERIC, Reply, id, now_secs, random};

const DAY: i64 = 86_400;

/// The currencies the fake accepts (a subset of Stripe's).
const CURRENCIES: [&str; 16] = [
    "aud", "brl", "cad", "chf", "czk", "dkk", "eur", "gbp", "hkd", "jpy", "mxn", "nok", "nzd",
    "pln", "sek", "usd",
];

/// What a session was asked for beyond its public fields.
#[derive(Debug, Clone)]
pub(super) struct SessionExtra {
    lines: Vec<Line>,
    payment_intent_metadata: BTreeMap<String, String>,
    subscription_metadata: BTreeMap<String, String>,
    destination: Option<String>,
    application_fee_amount: Option<i64>,
    application_fee_percent: Option<f64>,
}

#[derive(Debug, Clone)]
struct Line {
    price: Value,
    unit_amount: i64,
    currency: String,
    interval: Option<(String, i64)>,
    quantity: i64,
}

const SESSION_PARAMS: &[&str] = &[
    "mode",
    "success_url",
    "cancel_url",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "metadata[*]",
    "locale",
    "allow_promotion_codes",
    "expires_at",
    "payment_method_types[#]",
    "line_items[#][price]",
    "line_items[#][quantity]",
    "line_items[#][price_data][currency]",
    "line_items[#][price_data][unit_amount]",
    "line_items[#][price_data][product]",
    "line_items[#][price_data][product_data][name]",
    "line_items[#][price_data][product_data][description]",
    "line_items[#][price_data][recurring][interval]",
    "line_items[#][price_data][recurring][interval_count]",
    "payment_intent_data[metadata][*]",
    "payment_intent_data[description]",
    "payment_intent_data[application_fee_amount]",
    "payment_intent_data[transfer_data][destination]",
    "payment_intent_data[on_behalf_of]",
    "subscription_data[metadata][*]",
    "subscription_data[description]",
    "subscription_data[application_fee_percent]",
    "subscription_data[transfer_data][destination]",
    "subscription_data[trial_period_days]",
];

impl Stripe {
    pub(super) fn create_session(&mut self, p: &Params) -> Answer {
        p.only(SESSION_PARAMS)?;
        let mode = match p.get("mode") {
            None => return Err(missing("mode")),
            Some(m @ ("payment" | "subscription")) => m,
            Some(_) => {
                return Err(invalid(
                    "mode",
                    "Invalid mode: must be one of payment, setup, or subscription (this fake \
                     has no setup mode)"
                        .into(),
                ));
            }
        };
        let Some(success_url) = p.get("success_url") else {
            return Err(missing("success_url"));
        };
        check_url("success_url", success_url)?;
        if let Some(cancel) = p.get("cancel_url") {
            check_url("cancel_url", cancel)?;
        }
        let customer = p.get("customer");
        if let Some(c) = customer {
            if self.store.get_kind("customer", c).is_none() {
                return Err(no_such(400, "customer", c, Some("customer")));
            }
            if p.get("customer_email").is_some() {
                return Err(invalid(
                    "customer_email",
                    "You may only specify one of these parameters: customer, customer_email."
                        .into(),
                ));
            }
        }
        if let Some(email) = p.get("customer_email") {
            check_email("customer_email", email)?;
        }
        if p.get("client_reference_id").is_some_and(|c| c.len() > 200) {
            return Err(invalid(
                "client_reference_id",
                "client_reference_id can have up to 200 characters.".into(),
            ));
        }
        let lines = self.lines(p)?;
        let currency = lines[0].currency.clone();
        if lines.iter().any(|l| l.currency != currency) {
            return Err(invalid(
                "line_items",
                "All line items must have the same currency.".into(),
            ));
        }
        let recurring = lines.iter().position(|l| l.interval.is_some());
        match (mode, recurring) {
            ("payment", Some(i)) => {
                return Err(invalid(
                    &format!("line_items[{i}]"),
                    "You specified `payment` mode but passed a recurring price. Either switch \
                     to `subscription` mode or use only one-time prices."
                        .into(),
                ));
            }
            ("subscription", None) => {
                return Err(invalid(
                    "line_items",
                    "You must provide at least one recurring price in `subscription` mode when \
                     using prices."
                        .into(),
                ));
            }
            _ => {}
        }
        let (own, other) = match mode {
            "payment" => ("payment_intent_data", "subscription_data"),
            _ => ("subscription_data", "payment_intent_data"),
        };
        if let Some((k, _)) =
            p.0.iter()
                .find(|(k, _)| k.starts_with(&format!("{other}[")))
        {
            return Err(invalid(
                k,
                format!("You can not pass `{other}` in `{mode}` mode."),
            ));
        }
        let total: i64 = lines.iter().map(|l| l.unit_amount * l.quantity).sum();
        let destination_key = format!("{own}[transfer_data][destination]");
        let destination = p.get(&destination_key).map(str::to_string);
        if let Some(d) = &destination
            && self.store.get_kind("account", d).is_none()
        {
            return Err(error(
                400,
                INVALID,
                Some("resource_missing"),
                format!("No such destination: '{d}'"),
                Some(&destination_key),
            ));
        }
        let fee_amount = p.int("payment_intent_data[application_fee_amount]")?;
        if let Some(fee) = fee_amount {
            if destination.is_none() {
                return Err(invalid(
                    "payment_intent_data[application_fee_amount]",
                    "Can only apply an application_fee_amount when the PaymentIntent is \
                     attempting a direct payment (using an OAuth key or Stripe-Account header) \
                     or destination payment (using `transfer_data[destination]`)."
                        .into(),
                ));
            }
            if !(0..=total).contains(&fee) {
                return Err(invalid(
                    "payment_intent_data[application_fee_amount]",
                    format!(
                        "The application fee ({fee}) must be between 0 and the amount ({total})."
                    ),
                ));
            }
        }
        let fee_percent = match p.get("subscription_data[application_fee_percent]") {
            Some(v) => match v.parse::<f64>() {
                Ok(f) if (0.0..=100.0).contains(&f) && destination.is_some() => Some(f),
                Ok(_) => {
                    return Err(invalid(
                        "subscription_data[application_fee_percent]",
                        "application_fee_percent must be between 0 and 100 and needs \
                         `transfer_data[destination]`."
                            .into(),
                    ));
                }
                Err(_) => {
                    return Err(invalid(
                        "subscription_data[application_fee_percent]",
                        format!("Invalid decimal: {v}"),
                    ));
                }
            },
            None => None,
        };
        let extra = SessionExtra {
            lines,
            payment_intent_metadata: p.map("payment_intent_data[metadata]")?,
            subscription_metadata: p.map("subscription_data[metadata]")?,
            destination,
            application_fee_amount: fee_amount,
            application_fee_percent: fee_percent,
        };
        let id = id("cs_test_", 58);
        let now = now_secs();
        let session = json!({
            "id": id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "url": format!("https://checkout.stripe.com/c/pay/{id}"),
            "success_url": success_url,
            "cancel_url": p.get("cancel_url"),
            "created": now,
            "expires_at": now + DAY,
            "livemode": false,
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.map("metadata")?,
            "customer": customer,
            "customer_email": p.get("customer_email"),
            "customer_details": null,
            "payment_intent": null,
            "subscription": null,
            "invoice": null,
            "payment_method_types": ["card"],
            "locale": p.get("locale"),
        });
        self.store.insert("checkout_session", &id, session.clone());
        self.sessions.insert(id, extra);
        Ok(Reply::ok(session))
    }

    /// `line_items[i]…`, each a price that exists or one defined on the spot.
    fn lines(&self, p: &Params) -> Result<Vec<Line>, Reply> {
        let indices = p.indices("line_items");
        if indices.is_empty() {
            return Err(missing("line_items"));
        }
        let mut lines = Vec::new();
        for i in indices {
            let base = format!("line_items[{i}]");
            let quantity_key = format!("{base}[quantity]");
            let quantity = p
                .int(&quantity_key)?
                .ok_or_else(|| missing(&quantity_key))?;
            if quantity < 1 {
                return Err(invalid(
                    &quantity_key,
                    "This value must be greater than or equal to 1.".into(),
                ));
            }
            let price_key = format!("{base}[price]");
            let has_data =
                p.0.iter()
                    .any(|(k, _)| k.starts_with(&format!("{base}[price_data]")));
            let price = match (p.get(&price_key), has_data) {
                (Some(_), true) => {
                    return Err(invalid(
                        &base,
                        "You may only specify one of these parameters: price, price_data.".into(),
                    ));
                }
                (Some(price), false) => self
                    .store
                    .get_kind("price", price)
                    .cloned()
                    .ok_or_else(|| no_such(400, "price", price, Some(&price_key)))?,
                (None, true) => price_data(p, &base)?,
                (None, false) => {
                    return Err(invalid(
                        &base,
                        "You must specify either `price` or `price_data` for each line item."
                            .into(),
                    ));
                }
            };
            let interval = price["recurring"]["interval"].as_str().map(|i| {
                let count = price["recurring"]["interval_count"].as_i64().unwrap_or(1);
                (i.to_string(), count)
            });
            lines.push(Line {
                unit_amount: price["unit_amount"].as_i64().unwrap_or(0),
                currency: price["currency"].as_str().unwrap_or("usd").to_string(),
                interval,
                quantity,
                price,
            });
        }
        Ok(lines)
    }

    pub(super) fn expire_session(&mut self, id: &str) -> Answer {
        let session = self
            .store
            .get_mut("checkout_session", id)
            .ok_or_else(|| no_such(404, "checkout_session", id, Some("session")))?;
        if session["status"] != "open" {
            return Err(invalid(
                "session",
                "Only Checkout Sessions with a status in [\"open\"] can be expired.".into(),
            ));
        }
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        Ok(Reply::ok(session.clone()))
    }

    pub(super) fn complete(&mut self, id: &str) -> Value {
        let mut session = self
            .store
            .get_kind("checkout_session", id)
            .cloned()
            .unwrap_or_else(|| panic!("no checkout session {id}"));
        assert_eq!(
            session["status"], "open",
            "only an open session can be completed"
        );
        let extra = self.sessions[id].clone();
        let now = now_secs();
        let mut customer = session["customer"].as_str().map(str::to_string);
        let email = session["customer_email"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                customer
                    .as_deref()
                    .and_then(|c| self.store.get(c))
                    .and_then(|c| c["email"].as_str().map(str::to_string))
            })
            .unwrap_or_else(|| "buyer@example.com".into());
        let currency = session["currency"].clone();
        if session["mode"] == "payment" {
            let amount = session["amount_total"].as_i64().unwrap_or(0);
            let pi = self::id("pi_", 24);
            let ch = self::id("ch_", 24);
            let transfer = extra
                .destination
                .as_ref()
                .map(|d| json!({"destination": d}));
            self.store.insert(
                "payment_intent",
                &pi,
                json!({
                    "id": pi, "object": "payment_intent", "amount": amount,
                    "amount_received": amount, "currency": currency, "status": "succeeded",
                    "customer": customer, "latest_charge": ch, "created": now,
                    "metadata": extra.payment_intent_metadata,
                    "application_fee_amount": extra.application_fee_amount,
                    "transfer_data": transfer, "livemode": false,
                }),
            );
            self.store.insert(
                "charge",
                &ch,
                json!({
                    "id": ch, "object": "charge", "amount": amount, "amount_captured": amount,
                    "amount_refunded": 0, "currency": currency, "customer": customer,
                    "payment_intent": pi, "paid": true, "captured": true, "refunded": false,
                    "status": "succeeded", "created": now,
                    "metadata": extra.payment_intent_metadata,
                    "billing_details": {"email": email}, "livemode": false,
                }),
            );
            session["payment_intent"] = json!(pi);
        } else {
            let customer_id = match &customer {
                Some(c) => c.clone(),
                None => {
                    let c = self::id("cus_", 14);
                    self.store.insert(
                        "customer",
                        &c,
                        json!({
                            "id": c, "object": "customer", "created": now, "email": email,
                            "name": null, "metadata": {}, "balance": 0, "delinquent": false,
                            "livemode": false,
                        }),
                    );
                    c
                }
            };
            customer = Some(customer_id.clone());
            let sub = self::id("sub_", 24);
            let items: Vec<Value> = extra
                .lines
                .iter()
                .filter_map(|l| {
                    let (interval, count) = l.interval.as_ref()?;
                    Some(json!({
                        "id": self::id("si_", 14),
                        "object": "subscription_item",
                        "subscription": sub,
                        "price": l.price,
                        "quantity": l.quantity,
                        "created": now,
                        "current_period_start": now,
                        "current_period_end": now + period_days(interval) * count * DAY,
                        "metadata": {},
                    }))
                })
                .collect();
            let count = items.len();
            let transfer = extra
                .destination
                .as_ref()
                .map(|d| json!({"destination": d, "amount_percent": null}));
            self.store.insert(
                "subscription",
                &sub,
                json!({
                    "id": sub, "object": "subscription", "status": "active",
                    "customer": customer_id, "currency": currency,
                    "metadata": extra.subscription_metadata,
                    "items": {"object": "list", "data": items, "has_more": false,
                        "total_count": count, "url": format!("/v1/subscription_items?subscription={sub}")},
                    "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null,
                    "ended_at": null, "created": now, "start_date": now,
                    "collection_method": "charge_automatically",
                    "latest_invoice": self::id("in_", 24),
                    "application_fee_percent": extra.application_fee_percent,
                    "transfer_data": transfer, "livemode": false,
                }),
            );
            session["subscription"] = json!(sub);
        }
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["url"] = Value::Null;
        session["customer"] = json!(customer);
        session["customer_details"] = json!({"email": email, "name": null});
        *self
            .store
            .get_mut("checkout_session", id)
            .expect("the session exists") = session.clone();
        session
    }
}

/// `base[price_data]…` as the price it defines.
fn price_data(p: &Params, base: &str) -> Result<Value, Reply> {
    let key = |k: &str| format!("{base}[price_data]{k}");
    let currency_key = key("[currency]");
    let currency = p.get(&currency_key).ok_or_else(|| missing(&currency_key))?;
    if !CURRENCIES.contains(&currency) {
        return Err(invalid(
            &currency_key,
            format!(
                "Invalid currency: {currency}. Stripe currently supports these currencies: {}",
                CURRENCIES.join(", ")
            ),
        ));
    }
    let amount_key = key("[unit_amount]");
    let amount = p.int(&amount_key)?.ok_or_else(|| missing(&amount_key))?;
    if amount < 0 {
        return Err(invalid(
            &amount_key,
            "This value must be greater than or equal to 0.".into(),
        ));
    }
    let name_key = key("[product_data][name]");
    let name = match (p.get(&name_key), p.get(&key("[product]"))) {
        (Some(n), _) if !n.trim().is_empty() => n.to_string(),
        (None, Some(product)) => product.to_string(),
        _ => return Err(missing(&name_key)),
    };
    let interval_key = key("[recurring][interval]");
    let interval = p.get(&interval_key);
    if let Some(i) = interval
        && !["day", "week", "month", "year"].contains(&i)
    {
        return Err(invalid(
            &interval_key,
            format!("Invalid {interval_key}: must be one of day, month, week, or year"),
        ));
    }
    let mut price = price_object(&id("price_", 24), &name, amount, currency, interval);
    if let Some(count) = p.int(&key("[recurring][interval_count]"))? {
        price["recurring"]["interval_count"] = json!(count);
    }
    Ok(price)
}

pub(super) fn price_object(
    id: &str,
    name: &str,
    unit_amount: i64,
    currency: &str,
    interval: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "currency": currency,
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
        "product": format!("prod_{}", random(ALPHANUMERIC, 14)),
        "nickname": name,
        "type": if interval.is_some() { "recurring" } else { "one_time" },
        "recurring": interval.map(|i| json!({"interval": i, "interval_count": 1, "usage_type": "licensed"})),
        "livemode": false,
    })
}

fn period_days(interval: &str) -> i64 {
    match interval {
        "day" => 1,
        "week" => 7,
        "year" => 365,
        _ => 30,
    }
}
