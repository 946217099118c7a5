//! Stripe's wire format on the way in and out: form (or query) parameters with bracketed
//! keys (`line_items[0][price_data][currency]`), read and checked against the patterns
//! an endpoint allows; and the errors Stripe answers, with the values it writes in their
//! messages (masked keys, money).

use std::collections::BTreeMap;

use serde_json::json;

use crate::testing::fake::Reply;

pub(super) const INVALID: &str = "invalid_request_error";

const EXPAND: [&str; 2] = ["expand[]", "expand[#]"];

/// Form (or query) pairs.
pub(super) struct Params<'a>(pub(super) &'a [(String, String)]);

impl Params<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn int(&self, key: &str) -> Result<Option<i64>, Reply> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                error(
                    400,
                    INVALID,
                    Some("parameter_invalid_integer"),
                    format!("Invalid integer: {v}"),
                    Some(key),
                )
            }),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, Reply> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(invalid(key, format!("Invalid boolean: {v}"))),
        }
    }

    /// `prefix[k]=v` as a map (empty values unset a key), within Stripe's metadata
    /// limits.
    pub(super) fn map(&self, prefix: &str) -> Result<BTreeMap<String, String>, Reply> {
        let mut map = BTreeMap::new();
        for (k, v) in self.0 {
            let Some(key) = map_key(k, prefix) else {
                continue;
            };
            if key.chars().count() > 40 {
                return Err(invalid(
                    k,
                    format!(
                        "Metadata keys can have up to 40 characters, but you passed in a key \
                         that is {} characters.",
                        key.chars().count()
                    ),
                ));
            }
            if v.chars().count() > 500 {
                return Err(invalid(
                    k,
                    format!(
                        "Metadata values can have up to 500 characters, but you passed in a \
                         value that is {} characters.",
                        v.chars().count()
                    ),
                ));
            }
            if !v.is_empty() {
                map.insert(key, v.clone());
            }
        }
        if map.len() > 50 {
            return Err(invalid(
                prefix,
                "You can specify up to 50 metadata keys.".into(),
            ));
        }
        Ok(map)
    }

    /// The indices `i` of `base[i]…`, ascending.
    pub(super) fn indices(&self, base: &str) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .0
            .iter()
            .filter_map(|(k, _)| match tokens(k)?.as_slice() {
                [b, i, ..] if b == &base => i.parse().ok(),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Refuses a key no pattern of `allowed` (or `expand`) matches.
    pub(super) fn only(&self, allowed: &[&str]) -> Result<(), Reply> {
        match self.0.iter().find(|(k, _)| {
            !allowed
                .iter()
                .chain(EXPAND.iter())
                .any(|pattern| matches(k, pattern))
        }) {
            Some((k, _)) => Err(error(
                400,
                INVALID,
                Some("parameter_unknown"),
                format!("Received unknown parameter: {k}"),
                Some(k.as_str()),
            )),
            None => Ok(()),
        }
    }
}

/// `k` of `prefix[k]`, when `key` is exactly that.
pub(super) fn map_key(key: &str, prefix: &str) -> Option<String> {
    let prefix_tokens = tokens(prefix)?;
    let t = tokens(key)?;
    (t.len() == prefix_tokens.len() + 1 && t[..prefix_tokens.len()] == prefix_tokens[..])
        .then(|| t[prefix_tokens.len()].to_string())
}

/// `a[b][c]` as `["a", "b", "c"]`; `None` if the brackets do not close.
pub(super) fn tokens(key: &str) -> Option<Vec<&str>> {
    let Some(open) = key.find('[') else {
        return Some(vec![key]);
    };
    let mut out = vec![&key[..open]];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        out.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    Some(out)
}

/// Whether `key` fits `pattern`, where `*` stands for any name and `#` for an index.
fn matches(key: &str, pattern: &str) -> bool {
    let (Some(k), Some(p)) = (tokens(key), tokens(pattern)) else {
        return false;
    };
    k.len() == p.len()
        && k.iter().zip(&p).all(|(k, p)| match *p {
            "*" => !k.is_empty(),
            "#" => !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()),
            p => p == *k,
        })
}

/// `amount` minor units as Stripe writes money in messages: `$12.34`.
pub(super) fn money(amount: i64, currency: &str) -> String {
    let symbol = match currency {
        "usd" | "aud" | "cad" | "nzd" | "hkd" | "mxn" => "$",
        "eur" => "€",
        "gbp" => "£",
        _ => "",
    };
    if currency == "jpy" {
        return format!("¥{amount}");
    }
    format!("{symbol}{}.{:02}", amount / 100, amount % 100)
}

pub(super) fn check_url(key: &str, url: &str) -> Result<(), Reply> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(key, "Not a valid URL".into()))
    }
}

pub(super) fn check_email(key: &str, email: &str) -> Result<(), Reply> {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(()),
        _ => Err(error(
            400,
            INVALID,
            Some("email_invalid"),
            format!("Invalid email address: {email}"),
            Some(key),
        )),
    }
}

/// `sk_test_****…abcd`, as Stripe shows a refused key.
pub(super) fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

/// Stripe's error body.
pub(super) fn error(
    status: u16,
    kind: &str,
    code: Option<&str>,
    message: String,
    param: Option<&str>,
) -> Reply {
    let mut e = json!({"type": kind, "message": message});
    if let Some(code) = code {
        e["code"] = json!(code);
        e["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{code}"));
    }
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    Reply::json(status, json!({"error": e}))
}

pub(super) fn missing(param: &str) -> Reply {
    error(
        400,
        INVALID,
        Some("parameter_missing"),
        format!("Missing required param: {param}."),
        Some(param),
    )
}

pub(super) fn invalid(param: &str, message: String) -> Reply {
    error(400, INVALID, None, message, Some(param))
}

/// `No such customer: 'cus_…'`.
pub(super) fn no_such(status: u16, kind: &str, id: &str, param: Option<&str>) -> Reply {
    let word = match kind {
        "checkout_session" => "checkout.session",
        "billing_portal_session" => "billing_portal.session",
        other => other,
    };
    error(
        status,
        INVALID,
        Some("resource_missing"),
        format!("No such {word}: '{id}'"),
        param,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_match_the_documented_patterns() {
        assert_eq!(
            tokens("line_items[0][price_data][product_data][name]"),
            Some(vec![
                "line_items",
                "0",
                "price_data",
                "product_data",
                "name"
            ])
        );
        assert_eq!(tokens("expand[]"), Some(vec!["expand", ""]));
        assert_eq!(tokens("metadata[open"), None);
        assert!(matches(
            "line_items[12][price_data][currency]",
            "line_items[#][price_data][currency]"
        ));
        assert!(!matches(
            "line_items[x][price_data][currency]",
            "line_items[#][price_data][currency]"
        ));
        assert!(matches("metadata[order]", "metadata[*]"));
        assert!(!matches("metadata[]", "metadata[*]"));
        assert!(!matches("metadata[a][b]", "metadata[*]"));
        assert_eq!(
            map_key(
                "subscription_data[metadata][switchyard_checkout]",
                "subscription_data[metadata]"
            ),
            Some("switchyard_checkout".to_string())
        );
        assert_eq!(map_key("metadata[a][b]", "metadata"), None);
    }

    #[test]
    fn refused_keys_are_masked_and_money_reads_like_stripes_messages() {
        assert_eq!(mask("sk_test_abcdefghij1234"), "sk_test_**********1234");
        assert_eq!(mask("short"), "*****");
        assert_eq!(money(1234, "usd"), "$12.34");
        assert_eq!(money(1500, "jpy"), "¥1500");
    }
}
