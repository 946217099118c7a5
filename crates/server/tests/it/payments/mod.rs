//! Payments over HTTP: the whole Stripe flow against `localstripe` (extended with
//! Checkout, the Billing Portal and Connect by `tests/peers/localstripe_ext.py`), its
//! error paths and PayPal against `wiremock` fakes built from the providers' documented
//! wire formats, the mirror under unordered and repeated webhooks, and backfills.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_server::Config;

use crate::TestApp;

mod localstripe;
mod mirror;
mod paypal;
mod stripe_errors;

/// The signing secret of the hub's Stripe webhook source in these tests.
pub const WEBHOOK_SECRET: &str = "whsec_payments_test_secret";
/// The signing secret of its Connect source.
pub const CONNECT_SECRET: &str = "whsec_payments_connect_secret";

/// `localstripe` with the hub's extensions, on a free loopback port; killed on drop.
pub struct Localstripe {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Localstripe {
    pub fn start() -> Localstripe {
        let python = std::env::var("SWITCHYARD_TEST_PYTHON").expect(
            "SWITCHYARD_TEST_PYTHON is not set: run the suite with scripts/test, which installs localstripe",
        );
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/peers/localstripe_ext.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start localstripe");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("localstripe says where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from localstripe: {line:?}"))
            .to_string();
        Localstripe {
            child,
            url,
            http: switchyard_providers::http_client(),
        }
    }

    /// Calls localstripe: the Stripe API (with the test key) or its test routes.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth("sk_test_switchyard")
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "localstripe {path}: {}",
            r.status()
        );
        r.json().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Value {
        let r = self
            .http
            .delete(format!("{}{path}", self.url))
            .bearer_auth("sk_test_switchyard")
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "localstripe {path}: {}",
            r.status()
        );
        r.json().await.unwrap()
    }

    /// Sends the events of `types` (all when empty) to `url`, signed with `secret`.
    pub async fn webhook(&self, id: &str, url: &str, secret: &str, types: &[&str]) {
        let mut form = vec![("url", url), ("secret", secret)];
        for t in types {
            form.push(("events[]", t));
        }
        let r = self
            .http
            .post(format!("{}/_config/webhooks/{id}", self.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// A hub whose default payment provider is the Stripe at `base_url`, with the webhook
/// sources the provider's settings declare.
pub fn stripe_provider(config: &mut Config, base_url: &str) {
    let provider = json!({
        "kind": "stripe",
        "name": "stripe",
        "default": true,
        "secret_key": "sk_test_switchyard",
        "base_url": base_url,
        "webhook_secret": WEBHOOK_SECRET,
        "connect_webhook_secret": CONNECT_SECRET,
        "success_url": "https://app.example/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/cart",
        "timeout_secs": 5,
    });
    config.payments.providers = vec![serde_json::from_value(provider).unwrap()];
    config.payments.sweep_interval.0 = Duration::from_millis(200);
}

/// The intake URL of the source the hub declared as `name`.
pub async fn intake_url(app: &TestApp, name: &str) -> String {
    let sources = app.get_json("/v1/sources?limit=100").await;
    let source = sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name}: {sources}"))
        .clone();
    app.url(&format!("/in/{}", source["id"].as_str().unwrap()))
}

/// POSTs `body` to `path` and returns the JSON answer, asserting `status`.
pub async fn call(app: &TestApp, path: &str, body: Value, status: u16) -> Value {
    let r = app.post(path, body).send().await.unwrap();
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "POST {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Polls `path` until `check` holds, for up to 20 s; returns the last answer.
pub async fn until(app: &TestApp, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = app.get_json(path).await;
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
