//! Object keys: what a key may be, where it lives in a backend, and the cursors of
//! listings. The same key names the same object on every backend, stored as written
//! (an S3 console shows `ü.png`, a local store has a file `ü.png`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use switchyard_providers::storage::object_store::path::Path;

use crate::http::ApiError;

/// The longest key, in bytes (S3's limit).
pub(crate) const MAX_KEY: usize = 1024;

/// Why `key` is not a key: it must be 1 to 1,024 bytes, not start or end with `/`, hold
/// no empty, `.` or `..` segment and no control character.
pub(crate) fn problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("is empty");
    }
    if key.len() > MAX_KEY {
        return Some("is longer than 1024 bytes");
    }
    prefix_problem(key).or_else(|| key.ends_with('/').then_some("ends with `/`"))
}

/// Why `prefix` is not a key prefix: as a key, but it may be empty or end with `/`.
pub(crate) fn prefix_problem(prefix: &str) -> Option<&'static str> {
    if prefix.len() > MAX_KEY {
        return Some("is longer than 1024 bytes");
    }
    if prefix.starts_with('/') {
        return Some("starts with `/`");
    }
    if prefix.chars().any(char::is_control) {
        return Some("holds a control character");
    }
    let mut segments: Vec<&str> = prefix.split('/').collect();
    if prefix.ends_with('/') {
        segments.pop();
    }
    if prefix.is_empty() {
        return None;
    }
    for s in segments {
        match s {
            "" => return Some("holds an empty segment (`//`)"),
            "." | ".." => return Some("holds a `.` or `..` segment"),
            _ if staging_name(s) => {
                return Some(
                    "has a segment ending in `#` and digits, which local stores keep for unfinished writes",
                );
            }
            _ => {}
        }
    }
    None
}

/// Whether `segment` ends in `#` and digits, as a local store's files being written do.
fn staging_name(segment: &str) -> bool {
    segment
        .rsplit_once('#')
        .is_some_and(|(_, tail)| !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()))
}

/// `key` checked, as 400 `invalid_key` naming `field`.
pub(crate) fn checked<'k>(field: &str, key: &'k str) -> Result<&'k str, ApiError> {
    match problem(key) {
        None => Ok(key),
        Some(why) => Err(ApiError::bad_request(
            "invalid_key",
            format!("{field}: the key {why}"),
        )),
    }
}

/// Where `key` (a checked key) lives in a backend: the key itself.
pub(crate) fn location(key: &str) -> Path {
    // A checked key always parses; percent-encoding each segment is the fallback that
    // still keeps distinct keys apart.
    Path::parse(key).unwrap_or_else(|_| Path::from_iter(key.split('/')))
}

/// The listing cursor that resumes after `after` (a key, or a common prefix followed by
/// the last character there is).
pub(crate) fn cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(after.as_bytes())
}

/// What a cursor resumes after; 400 `invalid_query` for one that no listing of `prefix`
/// made.
pub(crate) fn after(cursor: &str, prefix: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_query",
            "cursor: not a cursor of this listing; pass the next_cursor of the previous page",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let after = String::from_utf8(bytes).map_err(|_| bad())?;
    if !after.starts_with(prefix) || after.len() > MAX_KEY + 4 {
        return Err(bad());
    }
    Ok(after)
}

/// The smallest string after every key that starts with `common`.
pub(crate) fn past(common: &str) -> String {
    format!("{common}{}", char::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_refuse_traversal_roots_controls_empty_segments_and_length() {
        for ok in [
            "a",
            "a/b.txt",
            "uploads/2026/x y.png",
            "é/ü",
            "a..b",
            ".hidden",
            "~x[1]",
            "a#b",
            "v#1x",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/../b", "a/..", ".", "a/./b", "a\u{0}b", "a\nb",
            "a\u{7f}", "a#1", "x/b#20/c",
        ] {
            assert!(problem(bad).is_some(), "{bad:?}");
        }
        assert!(problem(&"k".repeat(1024)).is_none());
        assert!(problem(&"k".repeat(1025)).is_some());
        assert_eq!(prefix_problem(""), None);
        assert_eq!(prefix_problem("a/"), None);
        assert!(prefix_problem("a//").is_some());
    }

    #[test]
    fn the_same_key_maps_to_one_location_and_special_characters_are_kept_distinct() {
        assert_eq!(location("a/b.txt").as_ref(), "a/b.txt");
        assert_eq!(
            location("é/x y%#1z").as_ref(),
            "é/x y%#1z",
            "kept as written"
        );
        assert_ne!(location("a%2Fb"), location("a/b"));
        assert_ne!(location("x#1"), location("x"));
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = cursor("photos/2026/b.png");
        assert_eq!(after(&c, "photos/").unwrap(), "photos/2026/b.png");
        assert!(after(&c, "docs/").is_err());
        assert!(after("!!!", "").is_err());
        assert!(after(&URL_SAFE_NO_PAD.encode([0xff, 0xfe]), "").is_err());
        assert!(past("a/").as_str() > "a/zzzz");
        assert!(past("a/").as_str() < "a0");
    }
}
