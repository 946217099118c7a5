//! How the fake takes a request, as Stripe does: the secret key checked (`Bearer`, or
//! `Basic` with the key as user name); an idempotency key refused for another endpoint
//! or other parameters, its replays marked; a request id on every answer. Then the
//! route table, and the reads every object kind shares (retrieve by id, list in pages).

use base64::Engine as _;
use serde_json::{Value, json};

use super::form::{INVALID, Params, error, invalid, mask, no_such};
use super::{Answer, Stripe};
use crate::testing::Method;
use crate::testing::fake::{Api, Recorded, Reply, Store, id};

impl Api for Stripe {
    const KEY_HEADER: &'static str = "idempotency-key";

    fn authenticate(&mut self, request: &Recorded) -> Option<Reply> {
        let given = match request.header("authorization") {
            Some(a) if a.starts_with("Bearer ") => a["Bearer ".len()..].trim().to_string(),
            Some(a) if a.starts_with("Basic ") => base64::engine::general_purpose::STANDARD
                .decode(a["Basic ".len()..].trim())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .and_then(|s| s.split(':').next().map(str::to_string))
                .unwrap_or_default(),
            _ => {
                return Some(error(
                    401,
                    INVALID,
                    None,
                    "You did not provide an API key. You need to provide your API key in the \
                     Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                     YOUR_SECRET_KEY')."
                        .into(),
                    None,
                ));
            }
        };
        (given != self.secret_key).then(|| {
            error(
                401,
                INVALID,
                None,
                format!("Invalid API Key provided: {}", mask(&given)),
                None,
            )
        })
    }

    fn scope(key: &str, _: &Recorded) -> String {
        key.to_string()
    }

    fn mismatch(key: &str, first: &Recorded, repeat: &Recorded) -> Option<Reply> {
        let refusal = |message: String| error(400, "idempotency_error", None, message, None);
        if first.method != repeat.method || first.route() != repeat.route() {
            return Some(refusal(format!(
                "Keys for idempotent requests can only be used for the same endpoint they were \
                 first used for ('{} {}' vs '{} {}'). Try using a key other than '{key}' if you \
                 meant to execute a different request.",
                first.method,
                first.route(),
                repeat.method,
                repeat.route()
            )));
        }
        let sorted = |r: &Recorded| {
            let mut pairs = r.form.clone();
            pairs.sort();
            pairs
        };
        (sorted(first) != sorted(repeat)).then(|| {
            refusal(format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{key}' if you meant to \
                 execute a different request."
            ))
        })
    }

    fn replayed(reply: Reply) -> Reply {
        reply.header("idempotent-replayed", "true")
    }

    fn finish(reply: Reply) -> Reply {
        reply.header("request-id", id("req_", 14))
    }

    fn handle(&mut self, r: &Recorded) -> Reply {
        let is_form = r
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if r.method != Method::GET && !r.body.is_empty() && !is_form {
            return error(
                400,
                INVALID,
                None,
                "Invalid request (check that your POST content type is \
                 application/x-www-form-urlencoded)."
                    .into(),
                None,
            );
        }
        let pairs = if r.method == Method::GET {
            r.query()
        } else {
            r.form.clone()
        };
        let p = Params(&pairs);
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
            ("POST", ["v1", "customers"]) => self.create_customer(&p),
            ("GET", ["v1", "customers"]) => self.list("customer", "/v1/customers", &p, |_| true),
            ("GET", ["v1", "customers", id]) => self.retrieve("customer", id),
            ("POST", ["v1", "checkout", "sessions"]) => self.create_session(&p),
            ("GET", ["v1", "checkout", "sessions", id]) => self.retrieve("checkout_session", id),
            ("POST", ["v1", "checkout", "sessions", id, "expire"]) => self.expire_session(id),
            ("GET", ["v1", "payment_intents", id]) => self.retrieve("payment_intent", id),
            ("GET", ["v1", "charges", id]) => self.retrieve("charge", id),
            ("GET", ["v1", "prices", id]) => self.retrieve("price", id),
            ("GET", ["v1", "subscriptions"]) => {
                let status = p.get("status").unwrap_or("").to_string();
                self.list("subscription", "/v1/subscriptions", &p, |s| {
                    match status.as_str() {
                        "all" => true,
                        "" => s["status"] != "canceled" && s["status"] != "incomplete_expired",
                        wanted => s["status"] == wanted,
                    }
                })
            }
            ("GET", ["v1", "subscriptions", id]) => self.retrieve("subscription", id),
            ("POST", ["v1", "subscriptions", id]) => self.update_subscription(id, &p),
            ("DELETE", ["v1", "subscriptions", id]) => self.cancel_subscription(id, &p),
            ("POST", ["v1", "refunds"]) => self.create_refund(&p),
            ("GET", ["v1", "refunds", id]) => self.retrieve("refund", id),
            ("POST", ["v1", "billing_portal", "sessions"]) => self.create_portal_session(&p),
            ("POST", ["v1", "accounts"]) => self.create_account(&p),
            ("GET", ["v1", "accounts", id]) => self.retrieve("account", id),
            ("POST", ["v1", "account_links"]) => self.create_account_link(&p),
            _ => Err(error(
                404,
                INVALID,
                None,
                format!(
                    "Unrecognized request URL ({}: {}). Please see https://stripe.com/docs or we \
                     can help at https://support.stripe.com/.",
                    r.method,
                    r.route()
                ),
                None,
            )),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    fn store(&self) -> &Store {
        &self.store
    }
}

impl Stripe {
    fn retrieve(&self, kind: &str, id: &str) -> Answer {
        self.store
            .get_kind(kind, id)
            .map(|o| Reply::ok(o.clone()))
            .ok_or_else(|| no_such(404, kind, id, Some("id")))
    }

    fn list(&self, kind: &str, url: &str, p: &Params, keep: impl Fn(&Value) -> bool) -> Answer {
        let limit = p.int("limit")?.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("This value must be between 1 and 100 (it currently is '{limit}')."),
            ));
        }
        let ids = self.store.ids(kind);
        let start = match p.get("starting_after") {
            Some(after) => match ids.iter().position(|i| i == after) {
                Some(at) => at + 1,
                None => return Err(no_such(400, kind, after, Some("starting_after"))),
            },
            None => 0,
        };
        let mut matching = ids[start..]
            .iter()
            .filter_map(|i| self.store.get(i))
            .filter(|o| keep(o));
        let data: Vec<Value> = matching.by_ref().take(limit as usize).cloned().collect();
        let has_more = matching.next().is_some();
        Ok(Reply::ok(json!({
            "object": "list",
            "url": url,
            "has_more": has_more,
            "data": data,
        })))
    }
}
