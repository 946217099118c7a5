//! What the hub knows about each kind of webhook source once a request is verified: how
//! to split its body into events, the provider's identity of each event (for
//! de-duplication), the provider's event type, and the hub's normalized type.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The verification scheme (and payload conventions) of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Stripe,
    StandardWebhooks,
    Twilio,
    Telnyx,
    Sendgrid,
    Paypal,
    Github,
    Shopify,
    Slack,
    Paddle,
    Lemonsqueezy,
    SharedSecret,
    Hmac,
}

impl SourceKind {
    pub const ALL: [SourceKind; 13] = [
        SourceKind::Stripe,
        SourceKind::StandardWebhooks,
        SourceKind::Twilio,
        SourceKind::Telnyx,
        SourceKind::Sendgrid,
        SourceKind::Paypal,
        SourceKind::Github,
        SourceKind::Shopify,
        SourceKind::Slack,
        SourceKind::Paddle,
        SourceKind::Lemonsqueezy,
        SourceKind::SharedSecret,
        SourceKind::Hmac,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Stripe => "stripe",
            SourceKind::StandardWebhooks => "standard_webhooks",
            SourceKind::Twilio => "twilio",
            SourceKind::Telnyx => "telnyx",
            SourceKind::Sendgrid => "sendgrid",
            SourceKind::Paypal => "paypal",
            SourceKind::Github => "github",
            SourceKind::Shopify => "shopify",
            SourceKind::Slack => "slack",
            SourceKind::Paddle => "paddle",
            SourceKind::Lemonsqueezy => "lemonsqueezy",
            SourceKind::SharedSecret => "shared_secret",
            SourceKind::Hmac => "hmac",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Request headers worth keeping with the event (identity, type, timing); never
    /// signatures or credentials.
    pub fn kept_headers(self) -> &'static [&'static str] {
        match self {
            SourceKind::StandardWebhooks => &[
                "webhook-id",
                "webhook-timestamp",
                "svix-id",
                "svix-timestamp",
            ],
            SourceKind::Twilio => &["i-twilio-idempotency-token"],
            SourceKind::Telnyx => &["telnyx-timestamp"],
            SourceKind::Sendgrid => &["x-twilio-email-event-webhook-timestamp"],
            SourceKind::Paypal => &["paypal-transmission-id", "paypal-transmission-time"],
            SourceKind::Github => &["x-github-delivery", "x-github-event", "x-github-hook-id"],
            SourceKind::Shopify => &[
                "x-shopify-webhook-id",
                "x-shopify-event-id",
                "x-shopify-topic",
                "x-shopify-shop-domain",
            ],
            SourceKind::Slack => &["x-slack-request-timestamp", "x-slack-retry-num"],
            _ => &[],
        }
    }
}

/// One event found in a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    pub dedupe_key: String,
    pub provider_type: Option<String>,
    /// The event's own bytes: the whole body, or one element of a batched body.
    pub payload: Vec<u8>,
}

/// The request body could not be read as this kind's payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Malformed(pub String);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn json(body: &[u8]) -> Result<Value, Malformed> {
    serde_json::from_slice(body).map_err(|e| Malformed(format!("the body is not valid JSON: {e}")))
}

fn string_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The pairs of an `application/x-www-form-urlencoded` body, decoded.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(
                        std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                        16,
                    ) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn form_value<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()))
        .filter(|v| !v.is_empty())
}

fn is_form(headers: &HeaderMap) -> bool {
    header(headers, "content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// Splits a verified request into events with their identity and provider type.
pub fn parse(
    kind: SourceKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<ParsedEvent>, Malformed> {
    let one = |key: Option<String>, kind_of: Option<String>| {
        Ok(vec![ParsedEvent {
            dedupe_key: key.unwrap_or_else(|| digest(body)),
            provider_type: kind_of,
            payload: body.to_vec(),
        }])
    };
    let owned = |s: Option<&str>| s.map(str::to_string);
    match kind {
        SourceKind::Stripe => {
            let v = json(body)?;
            let id = string_at(&v, "/id")
                .ok_or_else(|| Malformed("the Stripe event has no \"id\"".into()))?;
            one(Some(id.to_string()), owned(string_at(&v, "/type")))
        }
        SourceKind::StandardWebhooks => {
            let v = json(body)?;
            let id = header(headers, "webhook-id").or_else(|| header(headers, "svix-id"));
            one(
                owned(id),
                owned(string_at(&v, "/type").or_else(|| string_at(&v, "/event"))),
            )
        }
        SourceKind::Telnyx => {
            let v = json(body)?;
            one(
                owned(string_at(&v, "/data/id")),
                owned(string_at(&v, "/data/event_type")),
            )
        }
        SourceKind::Paypal => {
            let v = json(body)?;
            one(
                owned(string_at(&v, "/id")),
                owned(string_at(&v, "/event_type")),
            )
        }
        SourceKind::Paddle => {
            let v = json(body)?;
            one(
                owned(string_at(&v, "/event_id")),
                owned(string_at(&v, "/event_type")),
            )
        }
        SourceKind::Lemonsqueezy => {
            let v = json(body)?;
            one(None, owned(string_at(&v, "/meta/event_name")))
        }
        SourceKind::Sendgrid => {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body)
                .map_err(|e| Malformed(format!("SendGrid posts a JSON array of events: {e}")))?;
            items
                .into_iter()
                .map(|raw| {
                    let bytes = raw.get().as_bytes();
                    let v: Value =
                        serde_json::from_str(raw.get()).map_err(|e| Malformed(e.to_string()))?;
                    Ok(ParsedEvent {
                        dedupe_key: string_at(&v, "/sg_event_id")
                            .map_or_else(|| digest(bytes), str::to_string),
                        provider_type: owned(string_at(&v, "/event")),
                        payload: bytes.to_vec(),
                    })
                })
                .collect()
        }
        SourceKind::Github => {
            let event = header(headers, "x-github-event");
            let action = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| string_at(&v, "/action").map(str::to_string));
            let kind_of = match (event, action) {
                (Some(e), Some(a)) => Some(format!("{e}.{a}")),
                (Some(e), None) => Some(e.to_string()),
                _ => None,
            };
            one(owned(header(headers, "x-github-delivery")), kind_of)
        }
        SourceKind::Shopify => {
            let id = header(headers, "x-shopify-webhook-id")
                .or_else(|| header(headers, "x-shopify-event-id"));
            one(owned(id), owned(header(headers, "x-shopify-topic")))
        }
        SourceKind::Twilio => {
            if let Some(token) = header(headers, "i-twilio-idempotency-token") {
                let status = twilio_status(headers, body);
                return one(Some(token.to_string()), status);
            }
            let status = twilio_status(headers, body);
            let sid = if is_form(headers) {
                form_value(&form(body), &["MessageSid", "SmsSid", "CallSid"]).map(str::to_string)
            } else {
                None
            };
            let key = sid.map(|sid| format!("{sid}:{}", status.as_deref().unwrap_or("")));
            one(key, status)
        }
        SourceKind::Slack => {
            if is_form(headers) {
                let pairs = form(body);
                return one(None, owned(form_value(&pairs, &["command", "type"])));
            }
            let v = json(body)?;
            one(
                owned(string_at(&v, "/event_id")),
                owned(string_at(&v, "/event/type").or_else(|| string_at(&v, "/type"))),
            )
        }
        SourceKind::SharedSecret | SourceKind::Hmac => {
            let v = serde_json::from_slice::<Value>(body).ok();
            let get = |p: &str| v.as_ref().and_then(|v| string_at(v, p)).map(str::to_string);
            one(
                get("/id"),
                get("/type")
                    .or_else(|| get("/event_type"))
                    .or_else(|| get("/event")),
            )
        }
    }
}

fn twilio_status(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if is_form(headers) {
        return form_value(&form(body), &["MessageStatus", "SmsStatus", "CallStatus"])
            .map(str::to_string);
    }
    serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        string_at(&v, "/MessageStatus")
            .or_else(|| string_at(&v, "/type"))
            .map(str::to_string)
    })
}

/// The hub's name for a provider event, when it has one. Unknown types map to `None`
/// and are passed on under the provider's own type.
pub fn normalize(kind: SourceKind, provider_type: &str, payload: &[u8]) -> Option<&'static str> {
    let t = provider_type;
    Some(match kind {
        SourceKind::Stripe => match t {
            "checkout.session.completed" => "payment.checkout.completed",
            "checkout.session.expired" => "payment.checkout.expired",
            "customer.subscription.created" => "payment.subscription.created",
            "customer.subscription.updated" => "payment.subscription.updated",
            "customer.subscription.deleted" => "payment.subscription.canceled",
            "invoice.paid" => "payment.invoice.paid",
            "invoice.payment_failed" => "payment.invoice.payment_failed",
            "payment_intent.succeeded" => "payment.intent.succeeded",
            "payment_intent.payment_failed" => "payment.intent.failed",
            "charge.refunded" => "payment.refunded",
            "charge.dispute.created" => "payment.dispute.created",
            _ => return None,
        },
        SourceKind::Paypal => match t {
            "CHECKOUT.ORDER.APPROVED" => "payment.checkout.approved",
            "CHECKOUT.ORDER.COMPLETED" | "PAYMENT.CAPTURE.COMPLETED" => {
                "payment.checkout.completed"
            }
            "PAYMENT.CAPTURE.DENIED" => "payment.intent.failed",
            "PAYMENT.CAPTURE.REFUNDED" => "payment.refunded",
            "BILLING.SUBSCRIPTION.CREATED" => "payment.subscription.created",
            "BILLING.SUBSCRIPTION.UPDATED" => "payment.subscription.updated",
            "BILLING.SUBSCRIPTION.CANCELLED" => "payment.subscription.canceled",
            "BILLING.SUBSCRIPTION.PAYMENT.FAILED" => "payment.invoice.payment_failed",
            "PAYMENT.SALE.COMPLETED" => "payment.invoice.paid",
            _ => return None,
        },
        SourceKind::Paddle => match t {
            "transaction.completed" => "payment.checkout.completed",
            "transaction.payment_failed" => "payment.invoice.payment_failed",
            "subscription.created" => "payment.subscription.created",
            "subscription.updated" => "payment.subscription.updated",
            "subscription.canceled" => "payment.subscription.canceled",
            "adjustment.created" => "payment.refunded",
            _ => return None,
        },
        SourceKind::Lemonsqueezy => match t {
            "order_created" => "payment.checkout.completed",
            "order_refunded" => "payment.refunded",
            "subscription_created" => "payment.subscription.created",
            "subscription_updated" => "payment.subscription.updated",
            "subscription_cancelled" => "payment.subscription.canceled",
            "subscription_payment_success" => "payment.invoice.paid",
            "subscription_payment_failed" => "payment.invoice.payment_failed",
            _ => return None,
        },
        SourceKind::Sendgrid => match t {
            "processed" => "message.accepted",
            "delivered" => "message.delivered",
            "deferred" => "message.deferred",
            "bounce" => "message.bounced",
            "dropped" => "message.failed",
            "open" => "message.opened",
            "click" => "message.clicked",
            "spamreport" => "message.complained",
            "unsubscribe" | "group_unsubscribe" => "message.unsubscribed",
            _ => return None,
        },
        SourceKind::Twilio => match t {
            "sent" => "message.sent",
            "delivered" => "message.delivered",
            "undelivered" => "message.bounced",
            "failed" => "message.failed",
            "read" => "message.read",
            _ => return None,
        },
        SourceKind::Telnyx => match t {
            "message.sent" => "message.sent",
            "message.received" => "message.received",
            "message.finalized" => {
                let v: Value = serde_json::from_slice(payload).ok()?;
                match string_at(&v, "/data/payload/to/0/status")? {
                    "delivered" => "message.delivered",
                    "delivery_failed" | "sending_failed" | "delivery_unconfirmed" => {
                        "message.failed"
                    }
                    _ => return None,
                }
            }
            _ => return None,
        },
        SourceKind::StandardWebhooks => match t {
            "email.sent" => "message.sent",
            "email.delivered" => "message.delivered",
            "email.delivery_delayed" => "message.deferred",
            "email.bounced" => "message.bounced",
            "email.complained" => "message.complained",
            "email.opened" => "message.opened",
            "email.clicked" => "message.clicked",
            "email.failed" => "message.failed",
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn stripe_identity_and_normalization() {
        let body = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed"}"#;
        let events = parse(SourceKind::Stripe, &HeaderMap::new(), body).unwrap();
        assert_eq!(events[0].dedupe_key, "evt_1");
        assert_eq!(
            events[0].provider_type.as_deref(),
            Some("checkout.session.completed")
        );
        assert_eq!(
            normalize(SourceKind::Stripe, "checkout.session.completed", body),
            Some("payment.checkout.completed")
        );
        assert_eq!(
            normalize(SourceKind::Stripe, "customer.created", body),
            None
        );
        assert!(parse(SourceKind::Stripe, &HeaderMap::new(), b"not json").is_err());
        assert!(parse(SourceKind::Stripe, &HeaderMap::new(), b"{}").is_err());
    }

    #[test]
    fn sendgrid_batches_split_into_raw_elements() {
        let body = br#"[{"email":"a@x.io","event":"open","sg_event_id":"e1"}, {"email":"b@x.io","event":"bounce"}]"#;
        let events = parse(SourceKind::Sendgrid, &HeaderMap::new(), body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].dedupe_key, "e1");
        assert_eq!(
            events[0].payload,
            br#"{"email":"a@x.io","event":"open","sg_event_id":"e1"}"#
        );
        assert!(events[1].dedupe_key.starts_with("sha256:"));
        assert_eq!(events[1].provider_type.as_deref(), Some("bounce"));
        assert!(
            parse(
                SourceKind::Sendgrid,
                &HeaderMap::new(),
                br#"{"event":"open"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn twilio_form_status_callbacks() {
        let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let body = b"MessageSid=SM123&MessageStatus=delivered&To=%2B15551234567";
        let events = parse(SourceKind::Twilio, &h, body).unwrap();
        assert_eq!(events[0].dedupe_key, "SM123:delivered");
        assert_eq!(events[0].provider_type.as_deref(), Some("delivered"));
        let with_token = headers(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("i-twilio-idempotency-token", "tok-1"),
        ]);
        assert_eq!(
            parse(SourceKind::Twilio, &with_token, body).unwrap()[0].dedupe_key,
            "tok-1"
        );
        assert_eq!(
            normalize(SourceKind::Twilio, "delivered", body),
            Some("message.delivered")
        );
    }

    #[test]
    fn identity_from_headers_and_fallback_digest() {
        let h = headers(&[("svix-id", "msg_1")]);
        assert_eq!(
            parse(
                SourceKind::StandardWebhooks,
                &h,
                br#"{"type":"email.opened"}"#
            )
            .unwrap()[0]
                .dedupe_key,
            "msg_1"
        );
        let gh = headers(&[("x-github-delivery", "d-1"), ("x-github-event", "push")]);
        let e = &parse(SourceKind::Github, &gh, br#"{"ref":"main"}"#).unwrap()[0];
        assert_eq!(
            (e.dedupe_key.as_str(), e.provider_type.as_deref()),
            ("d-1", Some("push"))
        );
        let a = parse(SourceKind::Hmac, &HeaderMap::new(), b"temperature=20").unwrap();
        let b = parse(SourceKind::Hmac, &HeaderMap::new(), b"temperature=21").unwrap();
        assert_ne!(a[0].dedupe_key, b[0].dedupe_key);
        assert_eq!(
            a[0].dedupe_key,
            parse(SourceKind::Hmac, &HeaderMap::new(), b"temperature=20").unwrap()[0].dedupe_key
        );
    }

    #[test]
    fn telnyx_finalized_depends_on_delivery_status() {
        let body = br#"{"data":{"id":"e1","event_type":"message.finalized","payload":{"to":[{"status":"delivered"}]}}}"#;
        let e = &parse(SourceKind::Telnyx, &HeaderMap::new(), body).unwrap()[0];
        assert_eq!(e.dedupe_key, "e1");
        assert_eq!(
            normalize(SourceKind::Telnyx, "message.finalized", body),
            Some("message.delivered")
        );
    }
}
