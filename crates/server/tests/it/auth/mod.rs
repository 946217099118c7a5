//! The auth capability: pools, sessions and tokens, and tokens of other issuers.

mod google;
mod logins;
mod mail;
mod sessions;
mod users;
mod verify;

use serde_json::{Value, json};

use crate::TestApp;

/// Runs `tests/peers/auth_peer.py` (PyJWT's `PyJWKClient`, Python `bcrypt`) on `request`.
pub(crate) fn peer(request: Value) -> Value {
    crate::interop::python_peer("auth_peer.py", &request)
}

/// `POST path` with `body` and the bootstrap key.
pub(crate) async fn send(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.post(path, body).send().await.unwrap()
}

/// Creates a user in `pool` and returns it.
pub(crate) async fn create_user(app: &TestApp, pool: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/v1/auth/{pool}/users"), body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Logs in and returns the token pair.
pub(crate) async fn login(app: &TestApp, pool: &str, email: &str, password: &str) -> Value {
    let r = app
        .post(
            &format!("/v1/auth/{pool}/login"),
            json!({"email": email, "password": password}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// The claims of a JWT, read without checking it.
pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
