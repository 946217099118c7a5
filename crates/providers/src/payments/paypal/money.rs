//! PayPal writes amounts as decimal strings in the currency's major unit (`"12.34"`);
//! the hub counts in minor units (`1234`). Currencies without decimals at PayPal are
//! written whole.

/// PayPal's currencies that take no decimals.
const ZERO_DECIMAL: [&str; 3] = ["HUF", "JPY", "TWD"];

fn decimals(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency.to_ascii_uppercase().as_str()) {
        0
    } else {
        2
    }
}

/// `amount` minor units of `currency` as PayPal writes it.
pub(crate) fn to_value(amount: i64, currency: &str) -> String {
    match decimals(currency) {
        0 => amount.to_string(),
        _ => {
            let sign = if amount < 0 { "-" } else { "" };
            let abs = amount.unsigned_abs();
            format!("{sign}{}.{:02}", abs / 100, abs % 100)
        }
    }
}

/// PayPal's `value` of `currency` in minor units; `None` if it is not a decimal number
/// with at most the currency's decimals.
pub(crate) fn from_value(value: &str, currency: &str) -> Option<i64> {
    let places = decimals(currency);
    let (whole, fraction) = value.trim().split_once('.').unwrap_or((value.trim(), ""));
    if fraction.len() > places as usize
        || whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<width$}", width = places as usize)
            .parse()
            .ok()?
    };
    whole.checked_mul(10_i64.pow(places))?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_in_each_currencys_decimals() {
        assert_eq!(to_value(1234, "USD"), "12.34");
        assert_eq!(to_value(5, "eur"), "0.05");
        assert_eq!(to_value(1500, "JPY"), "1500");
        assert_eq!(from_value("12.34", "USD"), Some(1234));
        assert_eq!(from_value("12.3", "USD"), Some(1230));
        assert_eq!(from_value("12", "USD"), Some(1200));
        assert_eq!(from_value("1500", "JPY"), Some(1500));
        assert_eq!(from_value("15.5", "JPY"), None);
        assert_eq!(from_value("1.234", "USD"), None);
        assert_eq!(from_value("-1", "USD"), None);
        assert_eq!(from_value("", "USD"), None);
    }
}
