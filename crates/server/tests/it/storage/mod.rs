//! Object storage over HTTP: one conformance suite that every backend runs (`memory`,
//! `local`, and S3 through `s3s-fs`, a strict S3 served in-process), on SQLite and on
//! PostgreSQL; access rules and `/public`; bad input; stores configured through the API;
//! streaming 1 GiB through a hub process under a memory bound.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use switchyard_providers::storage::StoreConfig;
use switchyard_providers::testing::s3::S3Peer;
use switchyard_store::Backend;

use crate::TestApp;

mod access;
mod bad_input;
mod conformance;
mod streaming;
mod urls;

/// The backends a store can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Local,
    S3,
}

/// A hub with one store named `files` of a kind (and the S3 peer behind it).
pub struct Setup {
    pub app: TestApp,
    pub kind: Kind,
    pub peer: Option<S3Peer>,
}

/// The part size every store test uses: S3's smallest, so that multipart is cheap.
pub const PART: usize = 5 << 20;

impl Setup {
    pub async fn start(backend: Backend, kind: Kind) -> Setup {
        Self::start_with(backend, kind, |_| {}).await
    }

    /// With `tweak` applied to the `files` store's settings.
    pub async fn start_with(
        backend: Backend,
        kind: Kind,
        tweak: impl FnOnce(&mut StoreConfig),
    ) -> Setup {
        let peer = match kind {
            Kind::S3 => {
                let root = std::env::temp_dir().join(switchyard_core::new_id("s3peer"));
                let peer = S3Peer::start(&root).await.expect("s3s-fs starts");
                peer.create_bucket("bucket").unwrap();
                Some(peer)
            }
            _ => None,
        };
        let mut store = match (&peer, kind) {
            (Some(p), _) => p.store_config("files", "bucket"),
            (None, Kind::Memory) => settings(json!({"name": "files", "kind": "memory"})),
            (None, _) => settings(json!({"name": "files", "kind": "local"})),
        };
        tweak(&mut store);
        let app = TestApp::spawn_with(
            backend,
            |c| {
                c.storage.stores = vec![store];
                c.storage.part_size.0 = PART;
                c.storage.sweep_interval.0 = std::time::Duration::from_millis(300);
            },
            vec![],
        )
        .await;
        Setup { app, kind, peer }
    }

    pub async fn finish(self) {
        if let Some(p) = &self.peer {
            let _ = std::fs::remove_dir_all(&p.root);
        }
        self.app.finish().await;
    }

    /// `PUT /v1/storage/files/objects/{key}` with `body` and `content_type`.
    pub async fn put(
        &self,
        key: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> Response {
        self.app
            .req(Method::PUT, &format!("/v1/storage/files/objects/{key}"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, key: &str) -> Response {
        self.app
            .get(&format!("/v1/storage/files/objects/{key}"))
            .send()
            .await
            .unwrap()
    }

    /// Every key the listing shows, page by page with `limit`.
    pub async fn keys(&self, query: &str, limit: u32) -> (Vec<String>, Vec<String>) {
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/v1/storage/files/objects?limit={limit}&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.app.get_json(&path).await;
            let data = page["data"].as_array().expect("a page");
            assert!(
                data.len() + page["prefixes"].as_array().unwrap().len() <= limit as usize,
                "{page}"
            );
            keys.extend(data.iter().map(|o| o["key"].as_str().unwrap().to_string()));
            prefixes.extend(
                page["prefixes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return (keys, prefixes),
            }
        }
        panic!("the listing never ended");
    }
}

/// A store's settings from JSON, as a configuration file would give them.
pub fn settings(v: Value) -> StoreConfig {
    serde_json::from_value(v).expect("store settings")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `n` bytes that differ from one offset to the next.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// Declares each listed suite function (taking a `&Setup`) for every store kind on both
/// database backends.
#[macro_export]
macro_rules! every_store {
    ($($name:ident),* $(,)?) => {
        $crate::every_store!(@kind memory, Memory, $($name),*);
        $crate::every_store!(@kind local, Local, $($name),*);
        $crate::every_store!(@kind s3, S3, $($name),*);
    };
    (@kind $module:ident, $kind:ident, $($name:ident),*) => {
        mod $module {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let s = $crate::storage::Setup::start(switchyard_store::Backend::Sqlite, $crate::storage::Kind::$kind).await;
                        super::super::$name(&s).await;
                        s.finish().await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let s = $crate::storage::Setup::start(switchyard_store::Backend::Postgres, $crate::storage::Kind::$kind).await;
                        super::super::$name(&s).await;
                        s.finish().await;
                    }
                )*
            }
        }
    };
}
