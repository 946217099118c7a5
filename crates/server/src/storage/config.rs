//! `[storage]`: the object stores and how uploads, signed URLs and the sweeper behave.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::storage::StoreConfig;

use crate::config::{ByteSize, HumanDuration};

/// The longest a signed URL or a direct upload may stay valid (S3's own limit).
pub(crate) const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `[[storage.stores]]`: `name`, `kind` (`s3`, `r2`, `minio`, `gcs`, `local` or
    /// `memory`) and the kind's settings. With none, one `local` store named `default`
    /// lives under `<data_dir>/storage/default`.
    pub stores: Vec<StoreConfig>,
    /// Run the sweeper of expired direct uploads from this process (with `queue.enabled`).
    pub enabled: bool,
    /// Bodies larger than this go to the backend as a multipart upload of parts this
    /// size (S3 needs at least 5 MiB; R2 needs equal parts, which these are). Also the
    /// size of each part URL of a large direct upload.
    pub part_size: ByteSize,
    /// An upload whose client sends nothing for this long is abandoned (and nothing is
    /// kept). Uploads and downloads are not bound by `http.request_timeout`.
    pub idle_timeout: HumanDuration,
    /// How long a signed URL stays valid when the request does not say.
    pub signed_url_expiry: HumanDuration,
    /// How long a direct upload's URLs stay valid when the request does not say; the
    /// upload is swept once this has passed without its completion.
    pub upload_expiry: HumanDuration,
    /// How often the sweeper looks for expired uploads and abandoned writes.
    pub sweep_interval: HumanDuration,
    /// How long a create-only write holds its key if its node stops mid-way.
    pub write_claim: HumanDuration,
    /// `Cache-Control: max-age` of objects served at `/public/…`.
    pub public_max_age: HumanDuration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            stores: Vec::new(),
            enabled: true,
            part_size: ByteSize(8 << 20),
            idle_timeout: HumanDuration(Duration::from_secs(60)),
            signed_url_expiry: HumanDuration(Duration::from_secs(900)),
            upload_expiry: HumanDuration(Duration::from_secs(2 * 3600)),
            sweep_interval: HumanDuration(Duration::from_secs(60)),
            write_claim: HumanDuration(Duration::from_secs(3600)),
            public_max_age: HumanDuration(Duration::from_secs(300)),
        }
    }
}

impl StorageConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.stores.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                return Some((
                    format!("storage.stores[{i}].name"),
                    format!("{:?} names two stores; give each a distinct name", s.name),
                ));
            }
            if let Some(reason) = super::stores::name_problem(&s.name) {
                return Some((format!("storage.stores[{i}].name"), reason.into()));
            }
        }
        if self.part_size.0 < 5 << 20 || self.part_size.0 > 1 << 30 {
            return Some((
                "storage.part_size".into(),
                "from 5MiB (the smallest S3 part) to 1GiB".into(),
            ));
        }
        for (key, d) in [
            ("storage.idle_timeout", self.idle_timeout.0),
            ("storage.signed_url_expiry", self.signed_url_expiry.0),
            ("storage.upload_expiry", self.upload_expiry.0),
            ("storage.sweep_interval", self.sweep_interval.0),
            ("storage.write_claim", self.write_claim.0),
        ] {
            if d.is_zero() {
                return Some((key.into(), "a duration above zero, e.g. 30s".into()));
            }
        }
        for (key, d) in [
            ("storage.signed_url_expiry", self.signed_url_expiry.0),
            ("storage.upload_expiry", self.upload_expiry.0),
        ] {
            if d > MAX_EXPIRY {
                return Some((key.into(), "at most 7 days".into()));
            }
        }
        None
    }
}
