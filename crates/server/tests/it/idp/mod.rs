//! A real local OpenID Provider for the tests: `oidc-provider` (npm, 9.x) on loopback,
//! started by `tests/peers/oidc/provider.mjs`, standing in for Google's sign-in (and
//! later for the OAuth providers of the connectors). Its development interactions sign
//! in any login name; [`Idp::sign_in`] drives them over plain HTTP, without a browser.
//!
//! `scripts/test` installs the package and sets `SWITCHYARD_TEST_OIDC_PROVIDER` (the
//! script) and `SWITCHYARD_TEST_OIDC_NODE_PATH` (the `node_modules` holding the package);
//! [`Idp::start`] panics without them.
//!
//! For a login `L`: `sub` is [`Idp::sub_for`]`(L)` (the same for every client, in ID
//! tokens, userinfo and introspection alike), `email` is `L`, `email_verified` is
//! true unless `L` contains `unverified`. The ID token is signed RS256 with the key
//! published at the discovery document's `jwks_uri`, and carries the `email` scope's
//! claims (as Google's does). A refresh token comes back when the request has
//! `access_type=offline` (Google's way), or the scope `offline_access` together with
//! `prompt=consent` (the OpenID way; without `prompt=consent` oidc-provider drops
//! `offline_access`).
//!
//! The sign-in's browser work is in `browser`; the harness's own test in `selftest`.

// A harness for the sign-in and connector tests: not every part is used yet.
#![allow(dead_code)]

mod browser;
mod selftest;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A client registered at the provider. It may use the grant types `authorization_code`
/// and `refresh_token`, and authenticate at the token endpoint with `client_secret_basic`
/// or `client_secret_post`.
#[derive(Debug, Clone)]
pub struct IdpClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs; `http` on loopback is allowed.
    pub redirect_uris: Vec<String>,
}

impl IdpClient {
    /// A client with one redirect URI.
    pub fn new(client_id: &str, client_secret: &str, redirect_uri: &str) -> IdpClient {
        IdpClient {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uris: vec![redirect_uri.to_string()],
        }
    }
}

/// How the provider is run.
#[derive(Debug, Clone)]
pub struct IdpOptions {
    /// Lifetime of access tokens (`expires_in`); whole seconds, at least 1. Default 60 s.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens; whole seconds. Default 14 days.
    pub refresh_token_ttl: Duration,
    /// Whether a refresh grant returns a new refresh token (and retires the old one).
    /// Default false: like Google, the same refresh token keeps working.
    pub rotate_refresh_tokens: bool,
    /// Whether authorization requests must carry a PKCE `code_challenge` (S256, the only
    /// method offered). Default true.
    pub pkce_required: bool,
}

impl Default for IdpOptions {
    fn default() -> IdpOptions {
        IdpOptions {
            access_token_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            rotate_refresh_tokens: false,
            pkce_required: true,
        }
    }
}

/// Where a sign-in ended: the redirect to the client's `redirect_uri` (not followed).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The whole redirect: `redirect_uri?code=…&state=…&iss=…`.
    pub redirect: Url,
    pub code: String,
    /// The `state` sent back; empty if the request had none.
    pub state: String,
}

/// A running provider; the process is ended when this is dropped.
#[derive(Debug)]
pub struct Idp {
    /// `http://127.0.0.1:PORT`, as in the discovery document and the tokens' `iss`.
    pub issuer: String,
    /// The discovery document (`/.well-known/openid-configuration`).
    pub discovery: Value,
    child: Child,
    /// Held open: the provider exits when its stdin closes (if this process dies).
    _stdin: Option<ChildStdin>,
    log: Arc<Mutex<String>>,
}

fn env_or_panic(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test, which installs oidc-provider \
             under target/test-peers-oidc and sets SWITCHYARD_TEST_OIDC_PROVIDER and \
             SWITCHYARD_TEST_OIDC_NODE_PATH"
        )
    })
}

fn whole_seconds(what: &str, d: Duration) -> u64 {
    assert!(
        d.subsec_nanos() == 0 && d.as_secs() > 0,
        "the {what} must be a positive whole number of seconds, got {d:?}"
    );
    d.as_secs()
}

impl Idp {
    /// Starts a provider with these clients and the default options.
    pub async fn start(clients: &[IdpClient]) -> Idp {
        Idp::start_with(clients, IdpOptions::default()).await
    }

    /// Starts a provider on `127.0.0.1` at a free port and reads its discovery document.
    pub async fn start_with(clients: &[IdpClient], options: IdpOptions) -> Idp {
        assert!(!clients.is_empty(), "the identity provider needs a client");
        let script = env_or_panic("SWITCHYARD_TEST_OIDC_PROVIDER");
        let node_path = env_or_panic("SWITCHYARD_TEST_OIDC_NODE_PATH");
        let clients_json = Value::Array(
            clients
                .iter()
                .map(|c| {
                    json!({
                        "client_id": c.client_id,
                        "client_secret": c.client_secret,
                        "redirect_uris": c.redirect_uris,
                    })
                })
                .collect(),
        )
        .to_string();
        let mut command = Command::new("node");
        command
            .arg(&script)
            .arg("--exit-on-stdin-close")
            .env("NODE_PATH", &node_path)
            .env("OIDC_CLIENTS", clients_json)
            .env(
                "OIDC_ACCESS_TOKEN_TTL",
                whole_seconds("access token TTL", options.access_token_ttl).to_string(),
            )
            .env(
                "OIDC_REFRESH_TOKEN_TTL",
                whole_seconds("refresh token TTL", options.refresh_token_ttl).to_string(),
            )
            .env(
                "OIDC_ROTATE_REFRESH_TOKENS",
                if options.rotate_refresh_tokens {
                    "1"
                } else {
                    "0"
                },
            )
            .env(
                "OIDC_PKCE_REQUIRED",
                if options.pkce_required { "1" } else { "0" },
            )
            .env_remove("OIDC_PORT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run `node {script}` for the local identity provider: {e}")
        });
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr_log = log.clone();
        std::thread::spawn(move || collect_lines(stderr, &stderr_log));

        // The first JSON line on stdout names the issuer; the rest goes to the log.
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Value>();
        let stdout_log = log.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut ready_tx = Some(ready_tx);
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(tx) = ready_tx.take_if(|_| line.starts_with('{')) {
                    match serde_json::from_str::<Value>(&line) {
                        Ok(v) if v["issuer"].is_string() => {
                            let _ = tx.send(v);
                            continue;
                        }
                        _ => ready_tx = Some(tx),
                    }
                }
                push_line(&stdout_log, &line);
            }
        });

        let mut idp = Idp {
            issuer: String::new(),
            discovery: Value::Null,
            child,
            _stdin: stdin,
            log,
        };
        let ready = match tokio::time::timeout(Duration::from_secs(30), ready_rx).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(_)) => {
                // Let the stderr reader catch up with a process that just exited.
                tokio::time::sleep(Duration::from_millis(300)).await;
                panic!(
                    "the local identity provider exited before it was ready ({:?}):\n{}",
                    idp.child.try_wait(),
                    idp.log()
                )
            }
            Err(_) => panic!(
                "the local identity provider was not ready within 30 s:\n{}",
                idp.log()
            ),
        };
        idp.issuer = ready["issuer"].as_str().unwrap().to_string();

        let url = format!("{}/.well-known/openid-configuration", idp.issuer);
        let response = switchyard_providers::http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", idp.log()));
        assert_eq!(response.status(), 200, "GET {url}");
        idp.discovery = response.json().await.expect("a JSON discovery document");
        assert_eq!(
            idp.discovery["issuer"], idp.issuer,
            "the discovery document names its issuer"
        );
        idp
    }

    /// A URL from the discovery document, such as `"token_endpoint"`.
    pub fn endpoint(&self, name: &str) -> &str {
        self.discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("the discovery document has no {name}"))
    }

    pub fn authorization_endpoint(&self) -> &str {
        self.endpoint("authorization_endpoint")
    }

    pub fn token_endpoint(&self) -> &str {
        self.endpoint("token_endpoint")
    }

    pub fn jwks_uri(&self) -> &str {
        self.endpoint("jwks_uri")
    }

    pub fn userinfo_endpoint(&self) -> &str {
        self.endpoint("userinfo_endpoint")
    }

    pub fn revocation_endpoint(&self) -> &str {
        self.endpoint("revocation_endpoint")
    }

    /// The `sub` the provider gives a login: the decimal value of the first 8 bytes of
    /// SHA-256(login), opaque and stable like Google's.
    pub fn sub_for(login: &str) -> String {
        let digest = Sha256::digest(login.as_bytes());
        u64::from_be_bytes(digest[..8].try_into().unwrap()).to_string()
    }

    /// What the provider process wrote to stderr (and stdout, past its ready line).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn push_line(log: &Mutex<String>, line: &str) {
    let mut log = log.lock().unwrap();
    log.push_str(line);
    log.push('\n');
}

fn collect_lines(stream: impl Read, log: &Mutex<String>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        push_line(log, &line);
    }
}
