//! What the payment fakes share: one `wiremock` server whose single catch-all mock hands
//! every request to a provider's state machine ([`Api`]) behind a mutex, after
//!
//! 1. recording it ([`Recorded`]),
//! 2. answering a scripted failure queued for its method and path, if there is one (the
//!    provider "failed before executing anything", so nothing is stored),
//! 3. checking its credentials,
//! 4. replaying the stored answer of an earlier POST with the same idempotency key.
//!
//! Answers of executed POSTs that carried a key are stored under it (2xx only: a request
//! refused by validation is not executed, as Stripe documents). A delay, when set, slows
//! every answer, scripted or not; the request is still executed at once, like a provider
//! that did the work but answered too late.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use serde_json::Value;
use wiremock::http::{HeaderMap, Method};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One request a fake received, as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// The path and, when there is one, `?query`.
    pub path: String,
    pub headers: HeaderMap,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The body's pairs, decoded and in order, when it is
    /// `application/x-www-form-urlencoded`; empty otherwise.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    fn new(request: &Request) -> Recorded {
        let path = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_string(),
        };
        let is_form = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form {
            form_urlencoded::parse(&request.body).into_owned().collect()
        } else {
            Vec::new()
        };
        Recorded {
            method: request.method.clone(),
            path,
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            form,
        }
    }

    /// The path without the query.
    pub fn route(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }

    /// The query's pairs, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        match self.path.split_once('?') {
            Some((_, q)) => form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
            None => Vec::new(),
        }
    }

    /// The first value of the query parameter `key`.
    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The header `name` (case-insensitive), if it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first form value of `key` (e.g. `line_items[0][price_data][currency]`).
    pub fn form_value(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Whether this is `method` to `path` (`path` with a `?` compares the query too).
    pub fn is(&self, method: &Method, path: &str) -> bool {
        self.method == *method
            && if path.contains('?') {
                self.path == path
            } else {
                self.route() == path
            }
    }
}

/// An answer a fake's state machine gives.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (name, value) in &self.headers {
            t = t.insert_header(*name, value.as_str());
        }
        match &self.body {
            Some(body) => t.set_body_json(body),
            None => t,
        }
    }
}

/// A provider's state machine.
pub(crate) trait Api: Send + 'static {
    /// The header that makes a POST idempotent.
    const KEY_HEADER: &'static str;

    /// `Some(refusal)` unless the request carries valid credentials.
    fn authenticate(&mut self, request: &Recorded) -> Option<Reply>;

    /// Where a key is stored: the provider's scope of idempotency keys.
    fn scope(key: &str, request: &Recorded) -> String;

    /// What a repeat of `first` under the same key gets instead of the replay, if the
    /// provider refuses repeats that differ.
    fn mismatch(key: &str, first: &Recorded, repeat: &Recorded) -> Option<Reply>;

    /// The replayed answer, marked as the provider marks replays.
    fn replayed(reply: Reply) -> Reply {
        reply
    }

    /// Carries out an authenticated request that is not a replay.
    fn handle(&mut self, request: &Recorded) -> Reply;

    /// Adds what the provider adds to every answer (a request id).
    fn finish(reply: Reply) -> Reply {
        reply
    }

    fn store(&self) -> &Store;
}

/// A failure queued for the next request to `method` `path`.
#[derive(Debug)]
struct Scripted {
    method: Method,
    path: String,
    response: ResponseTemplate,
}

/// The fake's state: the provider's, and what every fake keeps.
pub(crate) struct Shared<S> {
    pub api: S,
    requests: Vec<Recorded>,
    scripted: VecDeque<Scripted>,
    delay: Duration,
    keys: HashMap<String, (Recorded, Reply)>,
}

impl<S: Api> Shared<S> {
    fn answer(&mut self, request: Recorded) -> ResponseTemplate {
        self.requests.push(request.clone());
        if let Some(i) = self
            .scripted
            .iter()
            .position(|s| request.is(&s.method, &s.path))
        {
            let scripted = self.scripted.remove(i).expect("index in range");
            return scripted.response;
        }
        if let Some(refusal) = self.api.authenticate(&request) {
            return S::finish(refusal).template();
        }
        let key = (request.method == Method::POST)
            .then(|| request.header(S::KEY_HEADER))
            .flatten()
            .map(|k| (k.to_string(), S::scope(k, &request)));
        if let Some((key, scope)) = &key
            && let Some((first, stored)) = self.keys.get(scope)
        {
            let reply = match S::mismatch(key, first, &request) {
                Some(refusal) => refusal,
                None => S::replayed(stored.clone()),
            };
            return S::finish(reply).template();
        }
        let reply = self.api.handle(&request);
        if let Some((_, scope)) = key
            && reply.is_success()
        {
            self.keys.insert(scope, (request, reply.clone()));
        }
        S::finish(reply).template()
    }
}

struct Responder<S>(Arc<Mutex<Shared<S>>>);

impl<S: Api> Respond for Responder<S> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = Recorded::new(request);
        let mut shared = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let delay = shared.delay;
        let template = shared.answer(recorded);
        if delay.is_zero() {
            template
        } else {
            template.set_delay(delay)
        }
    }
}

/// A running fake: its server and its state.
pub(crate) struct Core<S> {
    server: MockServer,
    shared: Arc<Mutex<Shared<S>>>,
}

impl<S> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fake")
            .field("url", &self.server.uri())
            .finish_non_exhaustive()
    }
}

impl<S: Api> Core<S> {
    /// Starts a server answering with the state `api` builds from the server's URL.
    pub async fn start(api: impl FnOnce(&str) -> S) -> Core<S> {
        let server = MockServer::start().await;
        let shared = Arc::new(Mutex::new(Shared {
            api: api(&server.uri()),
            requests: Vec::new(),
            scripted: VecDeque::new(),
            delay: Duration::ZERO,
            keys: HashMap::new(),
        }));
        Mock::given(any())
            .respond_with(Responder(shared.clone()))
            .named("stateful fake")
            .mount(&server)
            .await;
        Core { server, shared }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn lock(&self) -> MutexGuard<'_, Shared<S>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    pub fn fail_next(&self, method: Method, path: &str, response: ResponseTemplate) {
        self.lock().scripted.push_back(Scripted {
            method,
            path: path.to_string(),
            response,
        });
    }

    pub fn scripted_left(&self) -> usize {
        self.lock().scripted.len()
    }

    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn created(&self, kind: &str) -> usize {
        self.lock().api.store().created(kind)
    }

    pub fn object(&self, id: &str) -> Value {
        self.lock()
            .api
            .store()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("the fake has no object {id}"))
    }
}

/// The controls every fake has, delegating to its `core`.
macro_rules! shared_controls {
    () => {
        /// The base URL (no trailing `/`).
        pub fn url(&self) -> String {
            self.core.url()
        }

        /// Every request received so far, in order (scripted failures included).
        pub fn requests(&self) -> Vec<$crate::testing::Recorded> {
            self.core.requests()
        }

        /// The requests received to `method` `path` (a `path` with `?` compares the
        /// query too).
        pub fn requests_to(
            &self,
            method: $crate::testing::Method,
            path: &str,
        ) -> Vec<$crate::testing::Recorded> {
            self.core
                .requests()
                .into_iter()
                .filter(|r| r.is(&method, path))
                .collect()
        }

        /// The last request to `method` `path`.
        pub fn last_request(
            &self,
            method: $crate::testing::Method,
            path: &str,
        ) -> $crate::testing::Recorded {
            self.requests_to(method.clone(), path)
                .pop()
                .unwrap_or_else(|| panic!("no request {method} {path}"))
        }

        /// Forgets the requests recorded so far.
        pub fn clear_requests(&self) {
            self.core.clear_requests();
        }

        /// Answers the next request to `method` `path` with `response`, before
        /// authentication and idempotency: the provider failed before it executed
        /// anything, so nothing is stored under the request's key. Queued failures are
        /// consumed in order.
        pub fn fail_next(
            &self,
            method: $crate::testing::Method,
            path: &str,
            response: $crate::testing::ResponseTemplate,
        ) {
            self.core.fail_next(method, path, response);
        }

        /// How many queued failures have not been used yet.
        pub fn scripted_left(&self) -> usize {
            self.core.scripted_left()
        }

        /// Delays every answer by `delay` until it is set back to zero. Requests are
        /// still carried out at once.
        pub fn delay(&self, delay: ::std::time::Duration) {
            self.core.delay(delay);
        }

        /// How many objects of `kind` exist (made through the API or by a control).
        pub fn created(&self, kind: &str) -> usize {
            self.core.created(kind)
        }

        /// The stored object `id`, as the API would answer it.
        ///
        /// # Panics
        /// When there is no such object.
        pub fn object(&self, id: &str) -> ::serde_json::Value {
            self.core.object(id)
        }
    };
}
pub(crate) use shared_controls;

/// Objects by id, and the ids of each kind in creation order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: HashMap<String, (&'static str, Value)>,
    order: BTreeMap<&'static str, Vec<String>>,
}

impl Store {
    pub fn insert(&mut self, kind: &'static str, id: &str, object: Value) {
        self.objects.insert(id.to_string(), (kind, object));
        self.order.entry(kind).or_default().push(id.to_string());
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects.get(id).map(|(_, o)| o)
    }

    /// `id` if it is a `kind`.
    pub fn get_kind(&self, kind: &str, id: &str) -> Option<&Value> {
        self.objects
            .get(id)
            .filter(|(k, _)| *k == kind)
            .map(|(_, o)| o)
    }

    pub fn get_mut(&mut self, kind: &str, id: &str) -> Option<&mut Value> {
        self.objects
            .get_mut(id)
            .filter(|(k, _)| *k == kind)
            .map(|(_, o)| o)
    }

    pub fn ids(&self, kind: &str) -> &[String] {
        self.order.get(kind).map_or(&[], Vec::as_slice)
    }

    pub fn created(&self, kind: &str) -> usize {
        self.ids(kind).len()
    }
}

pub(crate) const ALPHANUMERIC: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub(crate) const UPPER: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `len` random characters of `chars`.
pub(crate) fn random(chars: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| chars[rng.random_range(0..chars.len())] as char)
        .collect()
}

/// `prefix` and `len` random letters and digits.
pub(crate) fn id(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", random(ALPHANUMERIC, len))
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
