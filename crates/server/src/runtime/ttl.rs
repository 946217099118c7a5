//! A small map whose entries expire, for things read often and changed rarely (loaded
//! sources, PayPal certificates, identity providers' discovery documents).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TtlCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

#[derive(Debug)]
struct Entry<V> {
    expires: Instant,
    value: V,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries; when full, it starts over empty.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value under `key` unless it has expired.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.entries()
            .get(key)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.value.clone())
    }

    pub(crate) fn insert(&self, key: &str, value: V, ttl: Duration) {
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.clear();
        }
        let expires = Instant::now() + ttl;
        entries.insert(key.to_string(), Entry { expires, value });
    }

    pub(crate) fn remove(&self, key: &str) {
        self.entries().remove(key);
    }

    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let cache = TtlCache::new(2);
        cache.insert("a", 1, Duration::from_secs(60));
        cache.insert("gone", 2, Duration::ZERO);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("gone"), None);
        cache.insert("c", 3, Duration::from_secs(60));
        assert_eq!(cache.get("a"), None, "a full cache starts over");
        assert_eq!(cache.get("c"), Some(3));
        cache.remove("c");
        assert_eq!(cache.get("c"), None);
    }
}
