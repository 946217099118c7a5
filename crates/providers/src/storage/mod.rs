//! Object storage: the stores the hub keeps files in, built from `[[storage.stores]]`.
//!
//! A [`StoreConfig`] names a kind (S3, R2, MinIO, GCS, a local directory, memory) and its
//! settings; [`StoreConfig::build`] reads what the configuration leaves out from the kind's
//! usual environment variables (or from `{env_prefix}…`) and returns a [`Backend`]: the
//! bucket as an [`ObjectStore`](object_store::ObjectStore) with the configured prefix
//! applied and, for cloud stores, a [`Signer`] for presigned URLs and a [`MultipartStore`]
//! for uploads in parts. Building contacts nothing; the first request does.
//!
//! Cloud clients are `object_store`'s own, made through a connector that installs this
//! crate's one TLS stack (rustls on `ring`) first.

use std::fmt;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::signer::{HeaderValue, Method, SignedUrlOptions, Signer, Url};
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::storage::Visibility;

use crate::ConfigError;
use crate::config::{Ctx, Env, process_env};

mod client;
mod gcs;
mod local;
mod s3;
#[cfg(test)]
mod tests;
mod vars;

pub use object_store;

/// The channel named in configuration errors.
const CHANNEL: &str = "storage";

switchyard_core::text_enum! {
    /// Which backend holds a store's bytes.
    pub enum StoreKind {
        /// Amazon S3, or an S3-compatible service at `endpoint`.
        S3 = "s3",
        /// Cloudflare R2.
        R2 = "r2",
        /// MinIO: S3 with path-style addressing.
        Minio = "minio",
        /// Google Cloud Storage with a service account.
        Gcs = "gcs",
        /// A directory on this machine.
        Local = "local",
        /// Process memory, lost at exit: for tests and trials.
        Memory = "memory",
    }
}

/// A `[[storage.stores]]` entry, and the body of `PUT /v1/storage/stores/{name}`.
///
/// Settings a kind does not use are refused rather than ignored. Unset cloud settings are
/// read from the environment: the kind's usual variables (`AWS_*`, `R2_*`, `MINIO_*`,
/// `GOOGLE_APPLICATION_CREDENTIALS`…), or `{env_prefix}ENDPOINT`, `{env_prefix}BUCKET`… when
/// `env_prefix` is set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// 1 to 64 letters, digits, `_`, `-` or `.`; how the API and URLs name the store.
    pub name: String,
    pub kind: StoreKind,
    /// The bucket (cloud kinds).
    pub bucket: Option<String>,
    /// The directory of a `local` store; default `<data_dir>/storage/<name>`.
    pub path: Option<String>,
    /// Where the store's keys live inside the bucket or directory, e.g. `uploads/`.
    pub prefix: Option<String>,
    /// The service's URL, for S3-compatible services, MinIO (`host:port` means
    /// `http://host:port`), or a GCS emulator.
    pub endpoint: Option<String>,
    /// Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`; `auto` for R2.
    pub region: Option<String>,
    /// S3 kinds: the URL browsers reach the service at, when it is not `endpoint` (a
    /// proxy in front of MinIO): presigned URLs are signed for this host.
    pub public_endpoint: Option<String>,
    /// The largest object accepted, in bytes.
    pub max_size: Option<u64>,
    /// MIME patterns accepted (`image/*`, `application/pdf`, `*/*`); empty accepts all.
    #[serde(default)]
    pub allowed_types: Vec<String>,
    /// Who may read an object no rule or prefix decides for.
    #[serde(default = "private")]
    pub default_visibility: Visibility,
    /// Key prefixes whose objects anyone may read.
    #[serde(default)]
    pub public_prefixes: Vec<String>,
    /// Read unset settings from `{env_prefix}ENDPOINT`, `{env_prefix}ACCESS_KEY_ID`,
    /// `{env_prefix}SECRET_ACCESS_KEY`, `{env_prefix}SESSION_TOKEN`, `{env_prefix}REGION`,
    /// `{env_prefix}BUCKET`, `{env_prefix}PUBLIC_ENDPOINT`, `{env_prefix}ACCOUNT_ID` (R2),
    /// `{env_prefix}CREDENTIALS` and `{env_prefix}SERVICE_ACCOUNT_KEY` (GCS) instead of
    /// the kind's usual variables. Letters, digits and `_`, e.g. `MEDIA_S3_`.
    pub env_prefix: Option<String>,
    pub access_key_id: Option<String>,
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub secret_access_key: Option<Secret<String>>,
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub session_token: Option<Secret<String>>,
    /// The Cloudflare account of an R2 store (default `R2_ACCOUNT_ID`).
    pub account_id: Option<String>,
    /// GCS: the path of a service-account JSON file (default
    /// `GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials: Option<String>,
    /// GCS: the service-account JSON itself (default `GOOGLE_SERVICE_ACCOUNT_KEY`).
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub service_account_key: Option<Secret<String>>,
    /// S3: address the bucket as `<bucket>.<host>` rather than `<host>/<bucket>`. Default:
    /// virtual-hosted on AWS itself (unless the bucket name has a `.`), path-style with an
    /// `endpoint`. MinIO is always path-style.
    pub virtual_hosted_style: Option<bool>,
    /// Allow plain-HTTP endpoints; default: true when `endpoint` is `http://`.
    pub allow_http: Option<bool>,
}

fn private() -> Visibility {
    Visibility::Private
}

impl StoreConfig {
    /// A store of `kind` named `name`, with nothing else set.
    pub fn new(name: impl Into<String>, kind: StoreKind) -> StoreConfig {
        StoreConfig {
            name: name.into(),
            kind,
            bucket: None,
            path: None,
            prefix: None,
            endpoint: None,
            region: None,
            public_endpoint: None,
            max_size: None,
            allowed_types: Vec::new(),
            default_visibility: Visibility::Private,
            public_prefixes: Vec::new(),
            env_prefix: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            account_id: None,
            credentials: None,
            service_account_key: None,
            virtual_hosted_style: None,
            allow_http: None,
        }
    }

    /// Builds the backend, reading unset settings from the process environment. Nothing
    /// is contacted; a `local` store's directory is created.
    pub fn build(&self, data_dir: &FsPath) -> Result<Backend, ConfigError> {
        self.build_with_env(data_dir, &process_env)
    }

    /// [`StoreConfig::build`] with the environment given.
    pub fn build_with_env(&self, data_dir: &FsPath, env: Env<'_>) -> Result<Backend, ConfigError> {
        let ctx = Ctx {
            channel: CHANNEL,
            provider: &self.name,
            env,
        };
        self.validate(&ctx)?;
        let prefix = self.key_prefix(&ctx)?;
        let built = match self.kind {
            StoreKind::S3 | StoreKind::R2 | StoreKind::Minio => s3::build(self, &ctx)?,
            StoreKind::Gcs => gcs::build(self, &ctx)?,
            StoreKind::Local => local::build(self, &ctx, data_dir)?,
            StoreKind::Memory => Built::plain(Arc::new(object_store::memory::InMemory::new())),
        };
        Ok(built.into_backend(self.kind, prefix))
    }

    /// Whether `content_type` is accepted: `allowed_types` is empty, or one of its
    /// patterns (`type/subtype`, `type/*`, `*/*`) matches, ignoring case and parameters
    /// after `;`.
    pub fn matches_type(&self, content_type: &str) -> bool {
        if self.allowed_types.is_empty() {
            return true;
        }
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((kind, _)) = essence.split_once('/') else {
            return false;
        };
        self.allowed_types.iter().any(|pattern| {
            let pattern = pattern.trim().to_ascii_lowercase();
            match pattern.split_once('/') {
                Some(("*", "*")) => true,
                Some((p, "*")) => p == kind,
                _ => pattern == essence,
            }
        })
    }

    fn validate(&self, ctx: &Ctx<'_>) -> Result<(), ConfigError> {
        // The first character is a letter or digit, so no name is `.` or `..` (a local
        // store's default directory is named after the store).
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.as_bytes()[0].is_ascii_alphanumeric()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(ctx.invalid(
                "name",
                "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit",
            ));
        }
        if let Some(key) = self.unused_setting() {
            return Err(ctx.invalid(key, format!("does not apply to a {} store", self.kind)));
        }
        if self.max_size == Some(0) {
            return Err(ctx.invalid("max_size", "must be at least 1"));
        }
        if let Some(bad) = self.allowed_types.iter().find(|p| !is_type_pattern(p)) {
            return Err(ctx.invalid(
                "allowed_types",
                format!("{bad:?} is not a MIME type or a pattern such as image/*"),
            ));
        }
        if let Some(p) = &self.env_prefix {
            let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ctx.invalid("env_prefix", "must be letters, digits and '_'"));
            }
        }
        if self.kind == StoreKind::Minio && self.virtual_hosted_style == Some(true) {
            return Err(ctx.invalid(
                "virtual_hosted_style",
                "MinIO stores use path-style addressing",
            ));
        }
        Ok(())
    }

    /// The first setting given that this kind does not read.
    fn unused_setting(&self) -> Option<&'static str> {
        use StoreKind::*;
        let cloud = [S3, R2, Minio, Gcs];
        let s3 = [S3, R2, Minio];
        let set: [(&'static str, bool, &[StoreKind]); 14] = [
            ("bucket", self.bucket.is_some(), &cloud),
            ("path", self.path.is_some(), &[Local]),
            ("endpoint", self.endpoint.is_some(), &cloud),
            ("region", self.region.is_some(), &s3),
            // GCS signs URLs for storage.googleapis.com whatever its endpoint.
            ("public_endpoint", self.public_endpoint.is_some(), &s3),
            ("env_prefix", self.env_prefix.is_some(), &cloud),
            ("access_key_id", self.access_key_id.is_some(), &s3),
            ("secret_access_key", self.secret_access_key.is_some(), &s3),
            ("session_token", self.session_token.is_some(), &s3),
            ("account_id", self.account_id.is_some(), &[R2]),
            ("credentials", self.credentials.is_some(), &[Gcs]),
            (
                "service_account_key",
                self.service_account_key.is_some(),
                &[Gcs],
            ),
            (
                "virtual_hosted_style",
                self.virtual_hosted_style.is_some(),
                &s3,
            ),
            ("allow_http", self.allow_http.is_some(), &cloud),
        ];
        set.into_iter()
            .find(|(_, given, kinds)| *given && !kinds.contains(&self.kind))
            .map(|(key, _, _)| key)
    }

    /// `prefix` as a path (`"uploads/"` is `uploads`); empty when unset.
    fn key_prefix(&self, ctx: &Ctx<'_>) -> Result<Path, ConfigError> {
        let raw = self.prefix.as_deref().unwrap_or_default().trim_matches('/');
        Path::parse(raw).map_err(|e| ctx.invalid("prefix", e.to_string()))
    }
}

fn is_type_pattern(pattern: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match pattern.trim().split_once('/') {
        Some(("*", "*")) => true,
        Some((kind, "*")) => token(kind),
        Some((kind, sub)) => token(kind) && token(sub),
        None => false,
    }
}

/// A built store.
#[derive(Clone)]
pub struct Backend {
    pub kind: StoreKind,
    /// The bucket or directory, with the configured `prefix` applied: keys are relative
    /// to it. `local` keeps no attributes (a put with a content type is refused) and has
    /// no `PutMode::Update`; `PutMode::Create` refuses an existing key on every kind.
    pub store: Arc<dyn ObjectStore>,
    /// Presigns URLs for cloud stores, for `public_endpoint` when set (GCS: always for
    /// `storage.googleapis.com`). `None` for `local` and `memory`. Takes full keys:
    /// [`Backend::full_path`].
    pub signer: Option<Arc<dyn Signer>>,
    /// The configured prefix, which [`Backend::signer`] and [`Backend::multipart`] need
    /// before a key; empty when none.
    pub sign_prefix: Path,
    multipart: Option<Arc<dyn MultipartStore>>,
    /// The bucket or directory and the endpoint, for `Debug`.
    location: String,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("kind", &self.kind)
            .field("store", &self.location)
            .field("signer", &self.signer.is_some())
            .field("sign_prefix", &self.sign_prefix.as_ref())
            .field("multipart", &self.multipart.is_some())
            .finish()
    }
}

impl Backend {
    /// `key` (relative to [`Backend::store`]) as the signer and the multipart store name it.
    pub fn full_path(&self, key: &Path) -> Path {
        self.sign_prefix.parts().chain(key.parts()).collect()
    }

    /// A URL anyone may use for one `method` request on `key` (a full key, see
    /// [`Backend::full_path`]) for `expires_in`. `content_type` binds the request's
    /// `Content-Type` (the client must send exactly it); `query` parameters are signed
    /// too (`partNumber` and `uploadId` presign one part of a multipart upload).
    /// [`object_store::Error::NotSupported`] for `local` and `memory` stores.
    pub async fn presign(
        &self,
        method: Method,
        key: &Path,
        expires_in: Duration,
        content_type: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Url, object_store::Error> {
        let Some(signer) = &self.signer else {
            return Err(object_store::Error::NotSupported {
                source: format!("a {} store has no presigned URLs", self.kind).into(),
            });
        };
        let mut options = SignedUrlOptions::default().with_query(query.iter().copied());
        if let Some(content_type) = content_type {
            let value =
                HeaderValue::from_str(content_type).map_err(|e| object_store::Error::Generic {
                    store: "storage",
                    source: format!("content type {content_type:?}: {e}").into(),
                })?;
            options = options.with_signed_header(http::header::CONTENT_TYPE, value);
        }
        signer
            .signed_url_opts(method, key, expires_in, &options)
            .await
    }

    /// The bucket without the prefix, on the endpoint the hub reaches (not
    /// `public_endpoint`), to create, complete and abort multipart uploads whose parts
    /// clients upload to [`Backend::presign`]ed URLs. Keys are full keys. `None` for
    /// `local` and `memory`.
    pub fn multipart(&self) -> Option<Arc<dyn MultipartStore>> {
        self.multipart.clone()
    }
}

/// What a kind's builder makes, before the prefix is applied.
struct Built {
    /// The whole bucket, on the endpoint the hub reaches.
    store: Arc<dyn ObjectStore>,
    /// The bucket or directory and the endpoint, for `Debug`.
    location: String,
    signer: Option<Arc<dyn Signer>>,
    multipart: Option<Arc<dyn MultipartStore>>,
}

impl Built {
    /// A store without presigned URLs or multipart uploads of its own.
    fn plain(store: Arc<dyn ObjectStore>) -> Built {
        Built {
            location: store.to_string(),
            store,
            signer: None,
            multipart: None,
        }
    }

    fn into_backend(self, kind: StoreKind, prefix: Path) -> Backend {
        let store = if prefix.as_ref().is_empty() {
            self.store
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                self.store,
                prefix.clone(),
            ))
        };
        Backend {
            kind,
            store,
            signer: self.signer,
            sign_prefix: prefix,
            multipart: self.multipart,
            location: self.location,
        }
    }
}
