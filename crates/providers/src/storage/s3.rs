//! S3 and the S3-compatible kinds: Amazon S3, Cloudflare R2, MinIO.

use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use reqwest::Url;

use super::client::{self, Connector};
use super::vars::{Setting, Vars};
use super::{Built, StoreConfig, StoreKind};
use crate::ConfigError;
use crate::config::Ctx;

/// The usual variables of one kind.
struct Usual {
    endpoint: &'static [&'static str],
    access_key_id: &'static [&'static str],
    secret_access_key: &'static [&'static str],
    session_token: &'static [&'static str],
    region: &'static [&'static str],
    bucket: &'static [&'static str],
    default_region: &'static str,
}

const AWS: Usual = Usual {
    endpoint: &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
    access_key_id: &["AWS_ACCESS_KEY_ID"],
    secret_access_key: &["AWS_SECRET_ACCESS_KEY"],
    session_token: &["AWS_SESSION_TOKEN"],
    region: &["AWS_REGION", "AWS_DEFAULT_REGION"],
    bucket: &[],
    default_region: "us-east-1",
};

const R2: Usual = Usual {
    endpoint: &[],
    access_key_id: &["R2_ACCESS_KEY_ID"],
    secret_access_key: &["R2_SECRET_ACCESS_KEY"],
    session_token: &[],
    region: &[],
    bucket: &["R2_BUCKET"],
    default_region: "auto",
};

const MINIO: Usual = Usual {
    endpoint: &["MINIO_ENDPOINT"],
    access_key_id: &["MINIO_ROOT_USER"],
    secret_access_key: &["MINIO_ROOT_PASSWORD"],
    session_token: &[],
    region: &["MINIO_REGION"],
    bucket: &["MINIO_BUCKET"],
    default_region: "us-east-1",
};

const R2_ACCOUNT_ID: Setting = Setting::new("account_id", "ACCOUNT_ID", &["R2_ACCOUNT_ID"]);
const PUBLIC_ENDPOINT: Setting = Setting::new("public_endpoint", "PUBLIC_ENDPOINT", &[]);

/// Everything a client of one endpoint needs.
struct Client<'a> {
    bucket: &'a str,
    region: &'a str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: Option<&'a str>,
    virtual_hosted: bool,
}

impl Client<'_> {
    fn build(&self, endpoint: Option<&str>, allow_http: bool) -> object_store::Result<AmazonS3> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(self.bucket)
            .with_region(self.region)
            .with_access_key_id(self.access_key_id)
            .with_secret_access_key(self.secret_access_key)
            .with_virtual_hosted_style_request(self.virtual_hosted)
            .with_client_options(client::options(allow_http))
            .with_http_connector(Connector);
        if let Some(token) = self.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(match self.virtual_hosted {
                true => bucket_host(endpoint, self.bucket),
                false => endpoint.to_string(),
            });
        }
        builder.build()
    }
}

/// Builds an `s3`, `r2` or `minio` store.
pub(super) fn build(config: &StoreConfig, ctx: &Ctx<'_>) -> Result<Built, ConfigError> {
    let usual = match config.kind {
        StoreKind::R2 => &R2,
        StoreKind::Minio => &MINIO,
        _ => &AWS,
    };
    let vars = Vars {
        ctx,
        prefix: config.env_prefix.as_deref(),
    };
    let setting = |key, suffix, usual| Setting::new(key, suffix, usual);
    let bucket = vars
        .required(
            config.bucket.as_deref(),
            &setting("bucket", "BUCKET", usual.bucket),
        )?
        .text;
    let access_key_id = vars
        .required(
            config.access_key_id.as_deref(),
            &setting("access_key_id", "ACCESS_KEY_ID", usual.access_key_id),
        )?
        .text;
    let secret_access_key = vars
        .required(
            config
                .secret_access_key
                .as_ref()
                .map(|s| s.expose().as_str()),
            &setting(
                "secret_access_key",
                "SECRET_ACCESS_KEY",
                usual.secret_access_key,
            ),
        )?
        .text;
    let session_token = vars
        .get(
            config.session_token.as_ref().map(|s| s.expose().as_str()),
            &setting("session_token", "SESSION_TOKEN", usual.session_token),
        )
        .map(|found| found.text);
    let region = vars
        .get(
            config.region.as_deref(),
            &setting("region", "REGION", usual.region),
        )
        .map_or_else(|| usual.default_region.to_string(), |found| found.text);

    let endpoint_setting = setting("endpoint", "ENDPOINT", usual.endpoint);
    let endpoint = match (
        config.kind,
        vars.get(config.endpoint.as_deref(), &endpoint_setting),
    ) {
        (StoreKind::Minio, None) => return Err(vars.missing(&endpoint_setting)),
        (StoreKind::R2, None) => {
            let account = vars.required(config.account_id.as_deref(), &R2_ACCOUNT_ID)?;
            if !account.text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(account.invalid(ctx, "account_id", "must be letters and digits"));
            }
            Some(format!("https://{}.r2.cloudflarestorage.com", account.text))
        }
        (_, None) => None,
        (kind, Some(mut found)) => {
            if kind == StoreKind::Minio {
                found.text = with_scheme(&found.text);
            }
            Some(client::endpoint(ctx, "endpoint", &found)?)
        }
    };
    let public_endpoint = match vars.get(config.public_endpoint.as_deref(), &PUBLIC_ENDPOINT) {
        Some(mut found) => {
            if config.kind == StoreKind::Minio {
                found.text = with_scheme(&found.text);
            }
            Some(client::endpoint(ctx, "public_endpoint", &found)?)
        }
        None => None,
    };

    let virtual_hosted = match config.kind {
        StoreKind::Minio => false,
        _ => config
            .virtual_hosted_style
            .unwrap_or(endpoint.is_none() && !bucket.contains('.')),
    };
    let client = Client {
        bucket: &bucket,
        region: &region,
        access_key_id: &access_key_id,
        secret_access_key: &secret_access_key,
        session_token: session_token.as_deref(),
        virtual_hosted,
    };
    let allow_http = config
        .allow_http
        .unwrap_or(client::is_http(endpoint.as_deref()));
    let inner = Arc::new(
        client
            .build(endpoint.as_deref(), allow_http)
            .map_err(|e| client::build_error(ctx, "endpoint", &e))?,
    );
    let signer = match &public_endpoint {
        Some(public) => Arc::new(
            client
                .build(Some(public), true)
                .map_err(|e| client::build_error(ctx, "public_endpoint", &e))?,
        ),
        None => Arc::clone(&inner),
    };
    Ok(Built {
        location: match &endpoint {
            Some(endpoint) => format!("{inner} at {endpoint}"),
            None => inner.to_string(),
        },
        store: inner.clone(),
        signer: Some(signer),
        multipart: Some(inner),
    })
}

/// `localhost:9000` is `http://localhost:9000`; a URL with a scheme is kept.
fn with_scheme(endpoint: &str) -> String {
    match endpoint.contains("://") {
        true => endpoint.to_string(),
        false => format!("http://{endpoint}"),
    }
}

/// The virtual-hosted endpoint of `bucket` at `endpoint`: `https://s3.example.com` becomes
/// `https://<bucket>.s3.example.com`; an endpoint already naming the bucket is kept.
fn bucket_host(endpoint: &str, bucket: &str) -> String {
    let Ok(mut url) = Url::parse(endpoint) else {
        return endpoint.to_string();
    };
    let host = url.host_str().unwrap_or_default().to_string();
    if !host.starts_with(&format!("{bucket}."))
        && url.set_host(Some(&format!("{bucket}.{host}"))).is_err()
    {
        return endpoint.to_string();
    }
    url.as_str().trim_end_matches('/').to_string()
}
