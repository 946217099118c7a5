//! The JWKS caches of `Keys::Remote` specs, one per URL, as common libraries keep them:
//!
//! - a set is kept as long as its `Cache-Control: max-age` says, held between 1 minute
//!   and 24 hours (10 minutes when the server says nothing);
//! - callers that find no usable set wait for one fetch (single flight: a lock per URL
//!   held across the fetch, the set checked again once it is held);
//! - a token naming a `kid` the set lacks fetches it again, at most once per refetch
//!   interval (30 s unless the issuer's `jwks_refetch_interval` says otherwise);
//! - a fetch gives up after 5 s; when it fails, the last good set is still used, and
//!   the next try waits for the refetch interval (5 s at most while there is no set).
//!
//! A URL ending in `/.well-known/openid-configuration` is a discovery document: each
//! fetch reads its `jwks_uri` first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use switchyard_providers::auth::jwks::{DISCOVERY_PATH, discover_jwks_url, fetch_jwks};

pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// The longest wait before another try while no set was ever fetched; also the
/// `Retry-After` of answers that found no keys.
pub(super) const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);

/// How long a set is kept, from its `max-age`.
pub(super) fn ttl(max_age: Option<Duration>) -> Duration {
    max_age.map_or(DEFAULT_TTL, |a| a.clamp(MIN_TTL, MAX_TTL))
}

/// One fetched set.
#[derive(Debug)]
pub(super) struct KeySet {
    pub(super) keys: Vec<Jwk>,
    fresh_until: Instant,
}

impl KeySet {
    fn has(&self, kid: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.common.key_id.as_deref() == Some(kid))
    }

    fn serves(&self, kid: Option<&str>, now: Instant) -> bool {
        now < self.fresh_until && kid.is_none_or(|k| self.has(k))
    }
}

/// The public keys of a JWKS document: entries this build cannot read, and symmetric
/// (`oct`) keys, which never belong in a public set, are left out.
pub(super) fn parse_keys(body: &serde_json::Value) -> Vec<Jwk> {
    body.get("keys")
        .and_then(|k| k.as_array())
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| {
                    !matches!(
                        k.algorithm,
                        AlgorithmParameters::Other(_) | AlgorithmParameters::OctetKey(_)
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Default)]
struct Attempts {
    /// When the last fetch started, and whether it gave a set.
    last: Option<(Instant, bool)>,
    fetches: u64,
}

/// The cache of one JWKS URL.
#[derive(Debug)]
pub(super) struct RemoteKeys {
    url: String,
    refetch: Duration,
    current: RwLock<Option<Arc<KeySet>>>,
    /// Held across a fetch: one fetch at a time per URL.
    fetching: tokio::sync::Mutex<Attempts>,
}

/// No set was ever fetched, and the last try failed.
#[derive(Debug, Clone)]
pub(super) struct Unavailable(pub(super) String);

impl RemoteKeys {
    pub(super) fn new(url: &str, refetch: Duration) -> Self {
        Self {
            url: url.to_string(),
            refetch,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(Attempts::default()),
        }
    }

    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.current.read().expect("not poisoned").clone()
    }

    /// A set for a token naming `kid` (or none): the cached one while it serves, else
    /// one fetched now if the rules allow, else the last good one.
    pub(super) async fn keys(
        &self,
        client: &reqwest::Client,
        kid: Option<&str>,
    ) -> Result<Arc<KeySet>, Unavailable> {
        let asked = Instant::now();
        if let Some(set) = self.snapshot()
            && set.serves(kid, asked)
        {
            return Ok(set);
        }
        let mut attempts = self.fetching.lock().await;
        let now = Instant::now();
        let current = self.snapshot();
        if let Some(set) = &current
            && set.serves(kid, now)
        {
            return Ok(set.clone());
        }
        let may_fetch = match attempts.last {
            None => true,
            // Someone fetched while this caller waited: its answer is the answer.
            Some((at, _)) if at >= asked => false,
            Some((at, ok)) => match &current {
                None => now >= at + RETRY_WITHOUT_KEYS.min(self.refetch),
                Some(set) => {
                    let stale = now >= set.fresh_until;
                    (stale && ok) || now >= at + self.refetch
                }
            },
        };
        if may_fetch {
            attempts.fetches += 1;
            match self.fetch(client).await {
                Ok((keys, max_age)) => {
                    attempts.last = Some((now, true));
                    let set = Arc::new(KeySet {
                        keys,
                        fresh_until: Instant::now() + ttl(max_age),
                    });
                    *self.current.write().expect("not poisoned") = Some(set.clone());
                    return Ok(set);
                }
                Err(e) => {
                    attempts.last = Some((now, false));
                    if current.is_some() {
                        tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; the last good set is kept");
                    } else {
                        tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; no keys yet");
                        return Err(Unavailable(e));
                    }
                }
            }
        }
        current.ok_or_else(|| {
            Unavailable(format!("the keys at {} could not be fetched yet", self.url))
        })
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
    ) -> Result<(Vec<Jwk>, Option<Duration>), String> {
        let started = Instant::now();
        let url = if self.url.ends_with(DISCOVERY_PATH) {
            discover_jwks_url(client, &self.url, FETCH_TIMEOUT).await?
        } else {
            self.url.clone()
        };
        let left = FETCH_TIMEOUT
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        let fetched = fetch_jwks(client, &url, left).await?;
        Ok((parse_keys(&fetched.body), fetched.max_age))
    }

    /// How many fetches were started (for tests).
    #[cfg(test)]
    async fn fetches(&self) -> u64 {
        self.fetching.lock().await.fetches
    }

    /// Ages the cached set as if its `max-age` had passed (for tests).
    #[cfg(test)]
    fn expire(&self) {
        let mut current = self.current.write().expect("not poisoned");
        if let Some(set) = current.as_ref() {
            *current = Some(Arc::new(KeySet {
                keys: set.keys.clone(),
                fresh_until: Instant::now(),
            }));
        }
    }
}

impl Default for Caches {
    fn default() -> Self {
        Caches::new(switchyard_providers::http_client())
    }
}

/// The caches of every remote spec, by URL.
#[derive(Debug)]
pub(super) struct Caches {
    pub(super) client: reqwest::Client,
    by_url: Mutex<HashMap<String, Arc<RemoteKeys>>>,
}

impl Caches {
    pub(super) fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            by_url: Mutex::new(HashMap::new()),
        }
    }

    /// The cache of `url`, made with `refetch` if it is new.
    pub(super) fn entry(&self, url: &str, refetch: Duration) -> Arc<RemoteKeys> {
        self.by_url
            .lock()
            .expect("not poisoned")
            .entry(url.to_string())
            .or_insert_with(|| Arc::new(RemoteKeys::new(url, refetch)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn jwks(kid: &str) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        }]})
    }

    #[test]
    fn max_age_is_held_between_a_minute_and_a_day() {
        assert_eq!(ttl(None), Duration::from_secs(600));
        assert_eq!(ttl(Some(Duration::ZERO)), Duration::from_secs(60));
        assert_eq!(
            ttl(Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            ttl(Some(Duration::from_secs(7 * 86_400))),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn entries_that_are_not_keys_are_left_out() {
        let mut body = jwks("a");
        let keys = body["keys"].as_array_mut().unwrap();
        keys.push(serde_json::json!("not a key"));
        keys.push(serde_json::json!({"kty": "RSA", "n": 1}));
        keys.push(serde_json::json!({"kty": "oct", "kid": "b", "k": "c2VjcmV0"}));
        let keys = parse_keys(&body);
        let kids: Vec<_> = keys.iter().map(|k| k.common.key_id.as_deref()).collect();
        assert_eq!(kids, [Some("a")], "{keys:?}");
    }

    #[tokio::test]
    async fn a_stale_set_is_used_when_the_refetch_fails() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks("k1")))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let client = switchyard_providers::http_client();
        let cache = RemoteKeys::new(&format!("{}/jwks", server.uri()), Duration::from_secs(30));
        let set = cache.keys(&client, Some("k1")).await.unwrap();
        assert!(set.has("k1"));
        cache.expire();
        // Stale: fetched again, which fails; the last good set answers.
        let set = cache.keys(&client, Some("k1")).await.unwrap();
        assert!(set.has("k1"));
        assert_eq!(cache.fetches().await, 2);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
        // The failure is not retried before the refetch interval.
        let set = cache.keys(&client, Some("k1")).await.unwrap();
        assert!(set.has("k1"));
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn no_set_and_a_failing_server_is_unavailable_and_not_hammered() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let client = switchyard_providers::http_client();
        let cache = RemoteKeys::new(&format!("{}/jwks", server.uri()), Duration::from_secs(30));
        let e = cache.keys(&client, None).await.unwrap_err();
        assert!(e.0.contains("HTTP 500"), "{e:?}");
        let e = cache.keys(&client, None).await.unwrap_err();
        assert!(e.0.contains("could not be fetched"), "{e:?}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}
