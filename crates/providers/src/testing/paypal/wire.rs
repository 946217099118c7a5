//! PayPal's wire format: JSON bodies, money as decimal strings in the currency's major
//! unit, RFC 3339 times, HATEOAS links, no `null` members, and its error bodies
//! (`{name, message, debug_id, details: [{field, issue, description}]}`).

use serde_json::{Value, json};

use crate::testing::Method;
use crate::testing::fake::{Recorded, Reply, UPPER, random};

/// PayPal's currencies; `HUF`, `JPY` and `TWD` take no decimals.
const CURRENCIES: [&str; 24] = [
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY",
    "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TWD", "USD",
];
const ZERO_DECIMAL: [&str; 3] = ["HUF", "JPY", "TWD"];

/// A POST's JSON body (`Null` when empty); GETs have none.
pub(super) fn body(r: &Recorded) -> Result<Value, Reply> {
    if r.method != Method::POST || r.body.trim().is_empty() {
        return Ok(Value::Null);
    }
    if !r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(error(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "The server does not support the request payload's media type.",
            vec![detail(
                None,
                "UNSUPPORTED_MEDIA_TYPE",
                "The API cannot process the request payload's media type.",
            )],
        ));
    }
    serde_json::from_str(&r.body).map_err(|e| {
        bad(
            "/",
            "MALFORMED_REQUEST_JSON",
            &format!("The request JSON is not well formed: {e}"),
        )
    })
}

/// `{currency_code, value}` at `at` as the currency and minor units.
pub(super) fn money(v: &Value, at: &str) -> Result<(String, i64), Reply> {
    let currency = match &v["currency_code"] {
        Value::String(c) => c.clone(),
        Value::Null => return Err(missing(&format!("{at}/currency_code"))),
        _ => return Err(syntax(&format!("{at}/currency_code"))),
    };
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(syntax(&format!("{at}/currency_code")));
    }
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(unprocessable(
            &format!("{at}/currency_code"),
            "CURRENCY_NOT_SUPPORTED",
            "Currency code is not currently supported. Please refer https://developer.paypal.com/api/rest/reference/currency-codes/ for list of supported currency codes.",
        ));
    }
    let text = match &v["value"] {
        Value::String(t) => t.clone(),
        Value::Null => return Err(missing(&format!("{at}/value"))),
        _ => return Err(syntax(&format!("{at}/value"))),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || whole.len() > 10
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(syntax(&format!("{at}/value")));
    }
    let places = if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else {
        2
    };
    if fraction.len() > places {
        return Err(unprocessable(
            &format!("{at}/value"),
            "DECIMAL_PRECISION",
            if places == 0 {
                "Currency does not support decimals."
            } else {
                "If the currency supports decimals, only two decimal place precision is supported."
            },
        ));
    }
    let whole: i64 = whole.parse().map_err(|_| syntax(&format!("{at}/value")))?;
    let fraction: i64 = if places == 0 {
        0
    } else {
        format!("{fraction:0<2}")
            .parse()
            .map_err(|_| syntax(&format!("{at}/value")))?
    };
    Ok((currency, whole * 10_i64.pow(places as u32) + fraction))
}

/// `minor` units of `currency` as PayPal writes them: `"12.34"`, or `"1500"` for JPY.
pub(super) fn value(minor: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency) {
        minor.to_string()
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

/// Epoch seconds as PayPal writes times: `2026-01-02T03:04:05Z`.
pub(super) fn time(secs: i64) -> String {
    switchyard_core::time::rfc3339(secs * 1000).replace(".000Z", "Z")
}

pub(super) fn link(href: String, rel: &str, method: &str) -> Value {
    json!({"href": href, "rel": rel, "method": method})
}

pub(super) fn payer() -> Value {
    json!({
        "name": {"given_name": "John", "surname": "Doe"},
        "email_address": "buyer@example.com",
        "payer_id": random(UPPER, 13),
        "address": {"country_code": "US"},
    })
}

/// `v` without `null` members, as PayPal never writes them.
pub(super) fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub(super) fn detail(field: Option<&str>, issue: &str, description: &str) -> Value {
    let mut d = json!({"issue": issue, "description": description});
    if let Some(field) = field {
        d["field"] = json!(field);
        d["location"] = json!("body");
    }
    d
}

/// PayPal's error body.
pub(super) fn error(status: u16, name: &str, message: &str, details: Vec<Value>) -> Reply {
    let issue = details
        .first()
        .and_then(|d| d["issue"].as_str())
        .unwrap_or(name)
        .to_string();
    Reply::json(
        status,
        json!({
            "name": name,
            "message": message,
            "debug_id": random(b"0123456789abcdef", 13),
            "details": details,
            "links": [link(format!("https://developer.paypal.com/docs/api/orders/v2/#error-{issue}"), "information_link", "GET")],
        }),
    )
}

/// 400 `INVALID_REQUEST`.
pub(super) fn bad(field: &str, issue: &str, description: &str) -> Reply {
    error(
        400,
        "INVALID_REQUEST",
        "Request is not well-formed, syntactically incorrect, or violates schema.",
        vec![detail(Some(field), issue, description)],
    )
}

pub(super) fn missing(field: &str) -> Reply {
    bad(
        field,
        "MISSING_REQUIRED_PARAMETER",
        "A required field / parameter is missing.",
    )
}

pub(super) fn syntax(field: &str) -> Reply {
    bad(
        field,
        "INVALID_PARAMETER_SYNTAX",
        "The value of a field does not conform to the expected format.",
    )
}

pub(super) fn too_long(field: &str) -> Reply {
    bad(
        field,
        "INVALID_STRING_LENGTH",
        "The value of a field is either too short or too long.",
    )
}

pub(super) fn invalid_value(field: &str) -> Reply {
    bad(
        field,
        "INVALID_PARAMETER_VALUE",
        "The value of a field is invalid.",
    )
}

/// Refuses a `return_url` or `cancel_url` in `context` (at `at`) that is not an HTTP(S)
/// URL.
pub(super) fn check_urls(context: &Value, at: &str) -> Result<(), Reply> {
    for key in ["return_url", "cancel_url"] {
        if let Some(url) = context[key].as_str()
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(syntax(&format!("{at}/{key}")));
        }
    }
    Ok(())
}

const UNPROCESSABLE: &str = "The requested action could not be performed, semantically incorrect, or failed business validation.";

/// 422 `UNPROCESSABLE_ENTITY` about `field`.
pub(super) fn unprocessable(field: &str, issue: &str, description: &str) -> Reply {
    error(
        422,
        "UNPROCESSABLE_ENTITY",
        UNPROCESSABLE,
        vec![detail(Some(field), issue, description)],
    )
}

/// 422 `UNPROCESSABLE_ENTITY` about the request as a whole.
pub(super) fn unprocessable_issue(issue: &str, description: &str) -> Reply {
    error(
        422,
        "UNPROCESSABLE_ENTITY",
        UNPROCESSABLE,
        vec![detail(None, issue, description)],
    )
}

pub(super) fn not_found() -> Reply {
    error(
        404,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        vec![detail(
            None,
            "INVALID_RESOURCE_ID",
            "Specified resource ID does not exist. Please check the resource ID and try again.",
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(reply: &Reply) -> &str {
        reply.body.as_ref().expect("body")["details"][0]["issue"]
            .as_str()
            .expect("issue")
    }

    #[test]
    fn amounts_are_read_in_each_currencys_decimals() {
        let m = |c: &str, v: &str| money(&json!({"currency_code": c, "value": v}), "/amount");
        assert_eq!(m("USD", "12.34").ok(), Some(("USD".into(), 1234)));
        assert_eq!(m("USD", "12.3").ok(), Some(("USD".into(), 1230)));
        assert_eq!(m("USD", "12").ok(), Some(("USD".into(), 1200)));
        assert_eq!(m("JPY", "1500").ok(), Some(("JPY".into(), 1500)));
        assert_eq!(issue(&m("USD", "1.234").unwrap_err()), "DECIMAL_PRECISION");
        assert_eq!(issue(&m("JPY", "15.5").unwrap_err()), "DECIMAL_PRECISION");
        assert_eq!(
            issue(&m("XYZ", "1.00").unwrap_err()),
            "CURRENCY_NOT_SUPPORTED"
        );
        assert_eq!(
            issue(&m("usd", "1.00").unwrap_err()),
            "INVALID_PARAMETER_SYNTAX"
        );
        assert_eq!(
            issue(&m("USD", "-1").unwrap_err()),
            "INVALID_PARAMETER_SYNTAX"
        );
        assert_eq!(
            issue(&m("USD", "1.").unwrap_err()),
            "INVALID_PARAMETER_SYNTAX"
        );
        assert_eq!(value(1234, "USD"), "12.34");
        assert_eq!(value(5, "EUR"), "0.05");
        assert_eq!(value(1500, "JPY"), "1500");
    }

    #[test]
    fn times_are_written_like_paypals_and_nulls_are_left_out() {
        assert_eq!(time(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(
            strip_nulls(json!({"a": null, "b": [{"c": null, "d": 1}]})),
            json!({"b": [{"d": 1}]})
        );
    }
}
