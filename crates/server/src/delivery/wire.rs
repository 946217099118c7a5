//! What goes over the wire to endpoints, and what comes back: the request body,
//! `Retry-After`, the kept part of an answer, and names for failures.

use std::time::Duration;

use reqwest::header::HeaderMap;
use switchyard_core::time::{now_ms, rfc3339};

use crate::runtime::guard;

/// Most of a response body kept in the attempt log.
const BODY_KEPT: usize = 4096;

/// The body sent to endpoints: `{"type", "timestamp", "data"}`, and `object` when the
/// event is about an object of the payments mirror (its view, in the hub's vocabulary).
/// `data` is the event's payload when it is JSON; a form body becomes an object of its
/// fields; anything else is sent as a string.
pub(super) fn envelope(
    event_type: &str,
    received_at: i64,
    payload: &[u8],
    object: Option<&str>,
) -> Vec<u8> {
    let data = serde_json::from_slice::<serde_json::Value>(payload).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(payload);
        if !text.is_empty() && text.contains('=') && !text.contains(char::is_whitespace) {
            let fields: serde_json::Map<String, serde_json::Value> =
                switchyard_core::form::form(payload)
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
            serde_json::Value::Object(fields)
        } else {
            serde_json::Value::String(text.into_owned())
        }
    });
    let mut body = serde_json::json!({
        "type": event_type,
        "timestamp": rfc3339(received_at),
        "data": data,
    });
    if let Some(object) = object.and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok()) {
        body["object"] = object;
    }
    serde_json::to_vec(&body).expect("JSON values serialize")
}

pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate_to_ms(value.trim())?;
    Some(Duration::from_millis((at - now_ms()).max(0) as u64))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as epoch ms.
fn httpdate_to_ms(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)?
        + 1;
    let iso = format!("{year}-{month:02}-{day:0>2}T{time}Z");
    switchyard_core::time::parse_rfc3339(&iso)
}

pub(super) async fn read_prefix(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < BODY_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(BODY_KEPT);
    String::from_utf8_lossy(&kept).into_owned()
}

/// A short, stable name for why an attempt got no answer.
pub(super) fn error_kind(e: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(g) = s.downcast_ref::<guard::GuardError>() {
            return match g.code() {
                "private_destination" => "refused_destination",
                _ => "dns",
            };
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        let text = format!("{e:?}").to_ascii_lowercase();
        if text.contains("dns") || text.contains("resolve") {
            "dns"
        } else if text.contains("certificate") || text.contains("tls") {
            "tls"
        } else {
            "connect"
        }
    } else if e.is_body() || e.is_decode() {
        "response"
    } else {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn envelopes_carry_json_form_or_text_data() {
        let v: serde_json::Value =
            serde_json::from_slice(&envelope("t.x", 0, br#"{"a":1}"#, None)).unwrap();
        assert_eq!(v["type"], "t.x");
        assert!(v.get("object").is_none());
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["data"]["a"], 1);
        let v: serde_json::Value = serde_json::from_slice(&envelope(
            "sms",
            0,
            b"MessageSid=SM1&To=%2B15551234567",
            None,
        ))
        .unwrap();
        assert_eq!(v["data"]["To"], "+15551234567");
        let v: serde_json::Value =
            serde_json::from_slice(&envelope("x", 0, b"plain text", None)).unwrap();
        assert_eq!(v["data"], "plain text");
        let object = r#"{"kind":"subscription","id":"psub_1","status":"active"}"#;
        let v: serde_json::Value = serde_json::from_slice(&envelope(
            "payment.subscription.updated",
            0,
            b"{}",
            Some(object),
        ))
        .unwrap();
        assert_eq!(v["object"]["id"], "psub_1");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        assert_eq!(
            httpdate_to_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
