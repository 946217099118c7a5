//! Sources declared in the configuration file (`[[sources]]`), created or brought up to
//! date at every start. A declared source's id is fixed (`id`) or derived from its
//! name, so it keeps its intake URL across restarts and nodes; a changed credential is
//! replaced (with an overlap when `previous_credential_grace` is given), an unchanged
//! one is left as it is.

use serde_json::{Map, Value};
use switchyard_core::source::Source;
use switchyard_core::time::now_ms;
use switchyard_store::StoreError;
use switchyard_store::vault::ids;

use super::Intake;
use super::config::DeclaredSource;
use super::kinds::{self, Credential};
use super::source_input::SourceInput;
use crate::http::ApiError;

/// A declared source that cannot be made; its message names the source and the field.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeclareError {
    #[error("{0}")]
    Invalid(String),
    #[error("storing the source failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("sources[{index}] ({name}): {error}")]
    At {
        index: usize,
        name: String,
        #[source]
        error: Box<DeclareError>,
    },
}

impl DeclareError {
    pub(super) fn at(self, index: usize, name: &str) -> DeclareError {
        DeclareError::At {
            index,
            name: name.to_string(),
            error: Box::new(self),
        }
    }
}

impl From<ApiError> for DeclareError {
    fn from(e: ApiError) -> Self {
        if e.status.is_server_error() {
            DeclareError::Store(e.detail.into())
        } else {
            DeclareError::Invalid(e.detail)
        }
    }
}

impl From<StoreError> for DeclareError {
    fn from(e: StoreError) -> Self {
        DeclareError::Store(Box::new(e))
    }
}

/// The declared credential, from the file or the environment variable it names.
fn credential(d: &DeclaredSource) -> Result<Option<(Credential, String)>, DeclareError> {
    let given = [
        (Credential::Secret, &d.secret, &d.secret_env),
        (Credential::AuthToken, &d.auth_token, &d.auth_token_env),
        (Credential::PublicKey, &d.public_key, &d.public_key_env),
    ];
    let mut found = None;
    for (c, value, env) in given {
        let value = match (value, env) {
            (Some(v), _) => Some(v.expose().clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                DeclareError::Invalid(format!("{}_env: {var} is not set", c.field()))
            })?),
            (None, None) => None,
        };
        if let Some(v) = value {
            if found.is_some() {
                return Err(DeclareError::Invalid("give one credential".into()));
            }
            found = Some((c, v));
        }
    }
    Ok(found)
}

/// The id of a source declared as `name` without a fixed id.
pub(super) fn derived_id(name: &str) -> String {
    switchyard_core::id::derived_id("src", &format!("source:{name}"))
}

pub(super) async fn declare(intake: &Intake, d: &DeclaredSource) -> Result<Source, DeclareError> {
    let id = match &d.id {
        Some(id) if switchyard_core::id::has_prefix(id, "src") => id.clone(),
        Some(other) => {
            return Err(DeclareError::Invalid(format!(
                "id: expected \"src_\" followed by 26 lowercase base32 characters, got {other:?}"
            )));
        }
        None => derived_id(&d.name),
    };
    let credential = credential(d)?;
    if let Some((c, _)) = &credential
        && kinds::kind(d.kind).credential() != Some(*c)
    {
        return Err(DeclareError::Invalid(format!(
            "{}: this kind takes no such credential",
            c.field()
        )));
    }
    let settings = match serde_json::to_value(&d.settings) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut input = SourceInput {
        name: Some(d.name.clone()),
        kind: Some(d.kind),
        enabled: d.enabled,
        credential: credential.map(|(_, v)| v),
        grace: d.previous_credential_grace.map(|g| g.0),
        settings,
    };
    for field in d.settings.set_fields() {
        if !kinds::kind(d.kind).settings().contains(&field) {
            return Err(DeclareError::Invalid(format!(
                "{field}: {} sources do not take this setting",
                d.kind
            )));
        }
    }
    let (name, kind, settings) = intake.checked_new(&mut input)?;
    let store = &intake.inner.store;
    let existing = store.get_source(&id).await?;
    if let Some(existing) = &existing
        && existing.kind != kind
    {
        return Err(DeclareError::Invalid(format!(
            "kind: source {id} exists with kind {:?}; give this one another name or id",
            existing.kind.as_str()
        )));
    }
    let now = now_ms();
    let mut source = existing.clone().unwrap_or(Source {
        id: id.clone(),
        name: name.clone(),
        kind,
        settings: settings.clone(),
        enabled: true,
        previous_until: None,
        created_at: now,
        updated_at: now,
    });
    if let Some(credential) = &input.credential {
        let current = intake
            .inner
            .vault
            .get(&ids::source_credential(&id))
            .await
            .map_err(|e| DeclareError::Store(Box::new(e)))?;
        if current.is_none_or(|c| c.expose().as_slice() != credential.as_bytes()) {
            intake
                .replace_credential(&mut source, credential, input.grace)
                .await?;
        }
    }
    source.name = name;
    source.enabled = input.enabled.unwrap_or(true);
    source.settings = settings;
    source.updated_at = now;
    if existing.is_some() {
        store.update_source(&source).await?;
    } else {
        // Another node may declare it at the same moment: then it exists; update it.
        match store.insert_source(&source).await {
            Err(StoreError::Conflict(_)) => {
                store.update_source(&source).await?;
            }
            other => other?,
        }
    }
    intake.source_changed(&id);
    Ok(source)
}
