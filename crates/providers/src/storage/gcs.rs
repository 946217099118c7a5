//! Google Cloud Storage with a service account, whose private key signs URLs (V4) here.
//!
//! `object_store` signs every GCS URL for the host `storage.googleapis.com`, whatever the
//! endpoint, so a GCS store has no `public_endpoint`, and URLs for an emulator at
//! `endpoint` carry signatures only an emulator that ignores them accepts.

use std::sync::Arc;

use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};

use super::client::{self, Connector};
use super::vars::{Found, Setting, Vars};
use super::{Built, StoreConfig};
use crate::ConfigError;
use crate::config::Ctx;

const BUCKET: Setting = Setting::new("bucket", "BUCKET", &["GCS_BUCKET"]);
const CREDENTIALS: Setting = Setting::new(
    "credentials",
    "CREDENTIALS",
    &["GOOGLE_APPLICATION_CREDENTIALS"],
);
const SERVICE_ACCOUNT_KEY: Setting = Setting::new(
    "service_account_key",
    "SERVICE_ACCOUNT_KEY",
    &["GOOGLE_SERVICE_ACCOUNT_KEY"],
);
const ENDPOINT: Setting = Setting::new("endpoint", "ENDPOINT", &[]);

/// Where the service account comes from.
enum Account {
    /// A JSON file.
    File(Found),
    /// The JSON itself.
    Key(Found),
}

impl Account {
    fn key(&self) -> &'static str {
        match self {
            Account::File(_) => "credentials",
            Account::Key(_) => "service_account_key",
        }
    }
}

/// Builds a `gcs` store.
pub(super) fn build(config: &StoreConfig, ctx: &Ctx<'_>) -> Result<Built, ConfigError> {
    let vars = Vars {
        ctx,
        prefix: config.env_prefix.as_deref(),
    };
    let bucket = vars.required(config.bucket.as_deref(), &BUCKET)?.text;
    let account = account(config, &vars)?;
    let endpoint = match vars.get(config.endpoint.as_deref(), &ENDPOINT) {
        Some(found) => Some(client::endpoint(ctx, "endpoint", &found)?),
        None => None,
    };
    let allow_http = config
        .allow_http
        .unwrap_or(client::is_http(endpoint.as_deref()));
    let inner = Arc::new(
        client(&bucket, &account, endpoint.as_deref(), allow_http)
            .map_err(|e| client::build_error(ctx, account.key(), &e))?,
    );
    Ok(Built {
        location: match &endpoint {
            Some(endpoint) => format!("{inner} at {endpoint}"),
            None => inner.to_string(),
        },
        store: inner.clone(),
        signer: Some(inner.clone()),
        multipart: Some(inner),
    })
}

/// The configured key, else the configured file, else the same from the environment.
fn account(config: &StoreConfig, vars: &Vars<'_>) -> Result<Account, ConfigError> {
    if config.credentials.is_some() && config.service_account_key.is_some() {
        return Err(vars.ctx.invalid(
            "credentials",
            "set credentials or service_account_key, not both",
        ));
    }
    let configured_key = config
        .service_account_key
        .as_ref()
        .map(|s| s.expose().as_str());
    if let Some(key) = vars.get(configured_key, &SERVICE_ACCOUNT_KEY)
        && (key.var.is_none() || config.credentials.is_none())
    {
        return Ok(Account::Key(key));
    }
    vars.required(config.credentials.as_deref(), &CREDENTIALS)
        .map(Account::File)
}

fn client(
    bucket: &str,
    account: &Account,
    base_url: Option<&str>,
    allow_http: bool,
) -> object_store::Result<GoogleCloudStorage> {
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_client_options(client::options(allow_http))
        .with_http_connector(Connector);
    builder = match account {
        Account::File(path) => builder.with_service_account_path(&path.text),
        Account::Key(json) => builder.with_service_account_key(&json.text),
    };
    if let Some(base_url) = base_url {
        builder = builder.with_base_url(base_url);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use object_store::path::Path;
    use object_store::signer::Method;

    use super::super::{Backend, StoreKind};
    use super::*;
    use crate::testing::TempDir;

    /// A throwaway RSA key of the signature crate's fixtures.
    const KEY_PEM: &str = include_str!("../../../signatures/tests/fixtures/other-test-key.pem");
    const EMAIL: &str = "hub@demo.iam.gserviceaccount.com";

    fn service_account(private_key: &str) -> String {
        serde_json::json!({
            "type": "service_account", "project_id": "demo", "private_key_id": "key-1",
            "private_key": private_key, "client_email": EMAIL,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    fn build(config: &StoreConfig, vars: &[(&str, &str)]) -> Result<Backend, ConfigError> {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config.build_with_env(std::path::Path::new("/nonexistent"), &|k| {
            map.get(k).cloned()
        })
    }

    async fn get_url(backend: &Backend, expires: u64) -> object_store::Result<String> {
        let key = Path::from("a/b c.png");
        let url = backend
            .presign(Method::GET, &key, Duration::from_secs(expires), None, &[])
            .await?;
        Ok(url.to_string())
    }

    fn gcs(bucket: &str) -> StoreConfig {
        StoreConfig {
            bucket: Some(bucket.into()),
            ..StoreConfig::new("files", StoreKind::Gcs)
        }
    }

    #[tokio::test]
    async fn a_service_account_file_gives_v4_signed_urls_for_the_bucket() {
        let dir = TempDir::new("gcs");
        let file = dir.path().join("account.json");
        std::fs::write(&file, service_account(KEY_PEM)).expect("written");
        let file = file.to_str().expect("utf-8");
        let backend =
            build(&gcs("media"), &[("GOOGLE_APPLICATION_CREDENTIALS", file)]).expect("built");
        assert!(backend.multipart().is_some());
        let url = get_url(&backend, 600).await.expect("signed");
        assert!(
            url.starts_with("https://storage.googleapis.com/media/a/b%20c.png?"),
            "{url}"
        );
        assert!(url.contains("X-Goog-Algorithm=GOOG4-RSA-SHA256"), "{url}");
        assert!(
            url.contains("X-Goog-Credential=hub%40demo.iam.gserviceaccount.com%2F"),
            "{url}"
        );
        assert!(url.contains("%2Fauto%2Fstorage%2Fgoog4_request"), "{url}");
        assert!(url.contains("X-Goog-Expires=600"), "{url}");
        let signature = url.split("X-Goog-Signature=").nth(1).expect("signature");
        assert_eq!(signature.len(), 512, "a 2048-bit RSA signature in hex");
        assert!(get_url(&backend, 604_801).await.is_err(), "at most 7 days");
        assert!(!format!("{backend:?}").contains("PRIVATE"));
    }

    #[tokio::test]
    async fn an_inline_key_and_an_emulator_endpoint() {
        let key = service_account(KEY_PEM);
        let vars = [
            ("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str()),
            ("GCS_BUCKET", "media"),
        ];
        let config = StoreConfig {
            endpoint: Some("http://127.0.0.1:4443".into()),
            ..StoreConfig::new("files", StoreKind::Gcs)
        };
        let url = get_url(&build(&config, &vars).expect("built"), 60)
            .await
            .expect("signed");
        assert!(
            url.starts_with("http://127.0.0.1:4443/media/a/b%20c.png?"),
            "{url}"
        );
    }

    #[test]
    fn missing_or_bad_accounts_are_named_without_their_contents() {
        let e = build(&gcs("media"), &[]).expect_err("no account");
        assert_eq!(
            e.to_string(),
            "storage provider \"files\": credentials is not set (set it or GOOGLE_APPLICATION_CREDENTIALS)"
        );
        let prefixed = StoreConfig {
            env_prefix: Some("FILES_".into()),
            ..gcs("media")
        };
        let e = build(&prefixed, &[("GOOGLE_APPLICATION_CREDENTIALS", "/x.json")])
            .expect_err("prefixed");
        assert!(
            e.to_string().ends_with("(set it or FILES_CREDENTIALS)"),
            "{e}"
        );
        let e = build(&gcs(""), &[]).expect_err("no bucket");
        assert!(e.to_string().contains("(set it or GCS_BUCKET)"), "{e}");

        let broken =
            "-----BEGIN PRIVATE KEY-----\nTUlJRXZBSUJBREFOQmdrcWhr\n-----END PRIVATE KEY-----\n";
        let config = StoreConfig {
            service_account_key: Some(service_account(broken).into()),
            ..gcs("media")
        };
        let e = build(&config, &[]).expect_err("not an RSA key");
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "service_account_key",
                    ..
                }
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("TUlJRXZB"), "{e}");
        let both = StoreConfig {
            credentials: Some("/x.json".into()),
            ..config
        };
        assert!(build(&both, &[]).is_err());
        let public = StoreConfig {
            public_endpoint: Some("https://cdn.example.com".into()),
            ..gcs("media")
        };
        let e = build(&public, &[]).expect_err("no public endpoint");
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "public_endpoint",
                    ..
                }
            ),
            "{e}"
        );
    }
}
