//! A local application endpoint for delivery tests: records every request and answers
//! from a script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

/// What the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

/// How the receiver answers the next request: status, extra headers, delay.
pub type Reply = (u16, Vec<(&'static str, String)>, Duration);

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) received: Vec<Received>,
    pub(crate) script: VecDeque<Reply>,
    /// Added to every answer.
    delay: Duration,
}

/// A local application endpoint that records every request and answers from a script
/// (200 once the script is empty).
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    pub(crate) inner: Arc<Mutex<Inner>>,
    pub addr: Option<SocketAddr>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mut receiver = Receiver::default();
        let app = axum::Router::new()
            .fallback(axum::routing::post(record))
            .with_state(receiver.inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        receiver.addr = Some(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.unwrap())
    }

    /// Every answer takes at least this long.
    pub fn slow_down(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "received {} of {n} deliveries",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (reply, slow) = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            headers,
            body,
            at: Instant::now(),
        });
        (inner.script.pop_front(), inner.delay)
    };
    let (status, extra, delay) = reply.unwrap_or((200, vec![], Duration::ZERO));
    tokio::time::sleep(delay + slow).await;
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        format!("answer {status}"),
    )
        .into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

pub fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}
