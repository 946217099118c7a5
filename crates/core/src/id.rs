//! Prefixed, time-ordered identifiers such as `evt_01jd…` or `key_01jd…`.
//!
//! An id is `<prefix>_<26 chars>`: the 128 bits of a UUIDv7 in lowercase Crockford
//! base32. Ids created later sort after ids created earlier (to the millisecond), which
//! is what cursor pagination relies on.

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Creates a new id with the given prefix (without the underscore), e.g. `new_id("key")`.
pub fn new_id(prefix: &str) -> String {
    encode(prefix, uuid::Uuid::now_v7().as_u128())
}

/// A stable id derived from `seed` (the same seed always gives the same id), for
/// things declared in configuration that must keep their id across restarts and nodes.
pub fn derived_id(prefix: &str, seed: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let value = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
    encode(prefix, value)
}

fn encode(prefix: &str, value: u128) -> String {
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    // 26 base32 digits cover 130 bits; the top two are always zero.
    for i in (0..26).rev() {
        let digit = ((value >> (i * 5)) & 0x1f) as usize;
        out.push(ALPHABET[digit] as char);
    }
    out
}

/// Whether `id` has the shape of an id with `prefix`. Used to reject malformed ids
/// with a 4xx before touching the store.
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 27
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id[prefix.len() + 1..]
            .bytes()
            .all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_well_formed_and_distinct() {
        let a = derived_id("src", "source:stripe-main");
        assert_eq!(a, derived_id("src", "source:stripe-main"));
        assert!(has_prefix(&a, "src"), "{a}");
        assert_ne!(a, derived_id("src", "source:stripe-connect"));
    }

    #[test]
    fn ids_are_prefixed_unique_and_ordered() {
        let a = new_id("evt");
        let b = new_id("evt");
        assert!(a.starts_with("evt_"));
        assert_eq!(a.len(), 30);
        assert_ne!(a, b);
        assert!(a < b, "{a} should sort before {b}");
        assert!(has_prefix(&a, "evt"));
        assert!(!has_prefix(&a, "key"));
        assert!(!has_prefix("evt_short", "evt"));
        assert!(!has_prefix(&a.replace('0', "I"), "evt") || !a.contains('0'));
    }
}
