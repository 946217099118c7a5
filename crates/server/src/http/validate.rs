//! Checks of the text fields that many routes share.

use super::problem::Problems;

/// Whether `name` is 1 to `max` letters, digits, `_`, `-` or `.`: the names of
/// templates and providers, which appear in paths.
pub(crate) fn is_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A label people give a thing (a source's or a key's name): 1 to `max` characters,
/// not blank, without control characters. Returns it trimmed.
pub(crate) fn label(p: &mut Problems, field: &str, value: &str, max: usize) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        p.add(
            field,
            format!("expected a non-empty string of at most {max} characters"),
        );
        return None;
    }
    if trimmed.chars().any(char::is_control) {
        p.add(field, "must not contain control characters");
        return None;
    }
    Some(trimmed.to_string())
}

/// Free text (a description, a reason): at most `max` bytes, no control characters
/// other than line breaks and tabs.
pub(crate) fn text(p: &mut Problems, field: &str, value: &str, max: usize) -> bool {
    if value.len() > max {
        p.add(field, format!("expected at most {max} characters"));
        return false;
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        p.add(
            field,
            "must not contain control characters other than line breaks and tabs",
        );
        return false;
    }
    true
}

/// An absolute `http` or `https` URL (where a provider sends a person back to).
pub(crate) fn http_url(p: &mut Problems, field: &str, value: &str) -> bool {
    let ok = value.len() <= 2048
        && reqwest::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        p.add(
            field,
            "expected an absolute http:// or https:// URL of at most 2048 characters",
        );
    }
    ok
}

/// Metadata the application attaches to an object: at most 50 entries, keys of 1 to 40
/// characters not starting with `switchyard_` (the hub's own), values of at most 500.
pub(crate) fn metadata(
    p: &mut Problems,
    field: &str,
    entries: &std::collections::BTreeMap<String, String>,
) {
    if entries.len() > 50 {
        p.add(field, "expected at most 50 entries");
        return;
    }
    for (k, v) in entries {
        if k.is_empty() || k.chars().count() > 40 || k.chars().any(char::is_control) {
            p.add(
                field,
                format!("key {k:?}: expected 1 to 40 characters without control characters"),
            );
        } else if k.starts_with("switchyard_") {
            p.add(
                field,
                format!("key {k:?}: keys starting with switchyard_ are the hub's own"),
            );
        } else {
            text(p, &format!("{field}.{k}"), v, 500);
        }
    }
}

/// Whether a URI's path and query are free of percent-encoded control characters
/// (`%00`–`%1F`, `%7F`): no id, name, filter or cursor holds one.
pub(crate) fn uri_is_clean(path_and_query: &str) -> bool {
    let bytes = path_and_query.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    bytes.windows(3).all(|w| {
        if w[0] != b'%' {
            return true;
        }
        match (hex(w[1]), hex(w[2])) {
            (Some(h), Some(l)) => {
                let byte = (h * 16 + l) as u8;
                !(byte < 0x20 || byte == 0x7f)
            }
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_text() {
        let mut p = Problems::default();
        assert_eq!(
            label(&mut p, "name", "  Main  ", 100).as_deref(),
            Some("Main")
        );
        assert!(label(&mut p, "name", "   ", 100).is_none());
        assert!(label(&mut p, "name", "a\u{0}b", 100).is_none());
        assert!(label(&mut p, "name", "a\nb", 100).is_none());
        assert!(label(&mut p, "name", &"x".repeat(101), 100).is_none());
        assert!(text(&mut p, "description", "two\nlines\tok", 500));
        assert!(!text(&mut p, "description", "bell\u{7}", 500));
        assert_eq!(p.into_errors().len(), 5);
    }

    #[test]
    fn percent_encoded_control_characters_are_found() {
        assert!(uri_is_clean("/v1/events?type=order.shipped&cursor=evt_01"));
        assert!(uri_is_clean("/v1/templates/a%20b?x=%2F"));
        for bad in [
            "/v1/sources/src_%00",
            "/v1/events?type=%0a",
            "/v1/x?c=%7F",
            "/v1/x/%1f",
        ] {
            assert!(!uri_is_clean(bad), "{bad}");
        }
        assert!(uri_is_clean("/v1/x?c=%zz&d=%"));
    }
}
