//! How the fake takes a request, as PayPal does: the OAuth2 token endpoint checks the
//! client credentials and issues tokens that expire; every other call needs a live
//! token; a `PayPal-Request-Id` is scoped to its path (a repeat gets the first answer,
//! whatever its body); every answer gets a debug id. Then the route table, and the read
//! of an object by id.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::wire::{body, detail, error, link, not_found, time};
use super::{Answer, Paypal};
use crate::testing::fake::{ALPHANUMERIC, Api, Recorded, Reply, Store, now_secs, random};

impl Api for Paypal {
    const KEY_HEADER: &'static str = "paypal-request-id";

    fn authenticate(&mut self, r: &Recorded) -> Option<Reply> {
        if r.route() == "/v1/oauth2/token" {
            // Client credentials are checked by the token endpoint itself.
            return None;
        }
        let Some(token) = r
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
        else {
            return Some(Reply::json(
                401,
                json!({
                    "name": "AUTHENTICATION_FAILURE",
                    "message": "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
                    "links": [link("https://developer.paypal.com/docs/api/overview/#error".into(), "information_link", "GET")],
                }),
            ));
        };
        let now = Instant::now();
        match self.tokens.get(token.trim()) {
            Some(until) if *until > now => None,
            _ => Some(Reply::json(
                401,
                json!({"error": "invalid_token", "error_description": "Token signature verification failed"}),
            )),
        }
    }

    fn scope(key: &str, r: &Recorded) -> String {
        format!("{} {key}", r.route())
    }

    fn mismatch(_: &str, _: &Recorded, _: &Recorded) -> Option<Reply> {
        None
    }

    fn finish(reply: Reply) -> Reply {
        reply.header("paypal-debug-id", random(b"0123456789abcdef", 13))
    }

    fn handle(&mut self, r: &Recorded) -> Reply {
        if r.route() == "/v1/oauth2/token" {
            return self.token(r);
        }
        let body = match body(r) {
            Ok(b) => b,
            Err(refusal) => return refusal,
        };
        let full = r
            .header("prefer")
            .is_some_and(|p| p.contains("return=representation"));
        let path: Vec<String> = r
            .route()
            .trim_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let result = match (r.method.as_str(), path.as_slice()) {
            ("POST", ["v2", "checkout", "orders"]) => self.create_order(&body, full),
            ("GET", ["v2", "checkout", "orders", id]) => self.get("order", id),
            ("POST", ["v2", "checkout", "orders", id, "capture"]) => self.capture(id),
            ("GET", ["v2", "payments", "captures", id]) => self.get("capture", id),
            ("POST", ["v2", "payments", "captures", id, "refund"]) => self.refund(id, &body, full),
            ("GET", ["v2", "payments", "refunds", id]) => self.get("refund", id),
            ("POST", ["v1", "catalogs", "products"]) => self.create_product(&body),
            ("GET", ["v1", "catalogs", "products", id]) => self.get("product", id),
            ("POST", ["v1", "billing", "plans"]) => self.create_plan(&body, full),
            ("GET", ["v1", "billing", "plans", id]) => self.get("plan", id),
            ("POST", ["v1", "billing", "subscriptions"]) => self.create_subscription(&body, full),
            ("GET", ["v1", "billing", "subscriptions", id]) => self.get("subscription", id),
            ("POST", ["v1", "billing", "subscriptions", id, "cancel"]) => {
                self.cancel_subscription(id, &body)
            }
            _ => Err(error(
                404,
                "NOT_FOUND",
                "The specified resource does not exist.",
                vec![detail(
                    None,
                    "INVALID_URI",
                    &format!("{} {} is not a resource of this API.", r.method, r.route()),
                )],
            )),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    fn store(&self) -> &Store {
        &self.store
    }
}

impl Paypal {
    fn token(&mut self, r: &Recorded) -> Reply {
        let credentials = r
            .header("authorization")
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let expected = format!("{}:{}", self.client_id, self.client_secret);
        if credentials.as_deref() != Some(expected.as_str()) {
            return Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
            );
        }
        match r.form_value("grant_type") {
            Some("client_credentials") => {}
            None => {
                return Reply::json(
                    400,
                    json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}),
                );
            }
            Some(other) => {
                return Reply::json(
                    400,
                    json!({"error": "unsupported_grant_type", "error_description": format!("unsupported grant_type {other}")}),
                );
            }
        }
        let token = format!("A21AA{}", random(ALPHANUMERIC, 92));
        self.tokens.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(self.token_lifetime),
        );
        Reply::ok(json!({
            "scope": "https://uri.paypal.com/services/payments/payment/authcapture https://uri.paypal.com/services/subscriptions https://uri.paypal.com/services/payments/refund openid",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": self.token_lifetime,
            "nonce": format!("{}{}", time(now_secs()), random(ALPHANUMERIC, 43)),
        }))
    }

    fn get(&self, kind: &str, id: &str) -> Answer {
        self.store
            .get_kind(kind, id)
            .map(|o| Reply::ok(o.clone()))
            .ok_or_else(not_found)
    }
}
