//! A strict S3 server in this process: `s3s-fs` on `127.0.0.1:0`, which checks SigV4
//! signatures (headers and presigned URLs), presigned expiry and checksums, and keeps each
//! bucket as a directory of its root.

use std::fmt;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::storage::{StoreConfig, StoreKind};

/// A running S3 peer; dropping it stops the server and its connections.
pub struct S3Peer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The directory holding the buckets, one subdirectory each.
    pub root: PathBuf,
    server: JoinHandle<()>,
}

impl fmt::Debug for S3Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Peer")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl S3Peer {
    /// Serves `root` (created if missing) with fresh random keys.
    pub async fn start(root: &Path) -> std::io::Result<S3Peer> {
        std::fs::create_dir_all(root)?;
        let fs =
            s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let access_key = random_key(20);
        let secret_key = random_key(40);
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(
                access_key.clone(),
                secret_key.clone(),
            ));
            builder.build()
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            // Dropped with this task, which aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                connections.spawn(async move {
                    let _ = connection.await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(S3Peer {
            endpoint,
            access_key,
            secret_key,
            root: root.to_path_buf(),
            server,
        })
    }

    /// Creates bucket `name` (as `CreateBucket` through the S3 API would).
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join(name))
    }

    /// A store of kind `s3` named `name` on `bucket` of this peer: path-style, plain HTTP,
    /// region `us-east-1`, with the peer's keys.
    pub fn store_config(&self, name: &str, bucket: &str) -> StoreConfig {
        StoreConfig {
            bucket: Some(bucket.to_string()),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".to_string()),
            access_key_id: Some(self.access_key.clone()),
            secret_access_key: Some(self.secret_key.clone().into()),
            virtual_hosted_style: Some(false),
            allow_http: Some(true),
            ..StoreConfig::new(name, StoreKind::S3)
        }
    }
}

impl Drop for S3Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn random_key(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
