//! What creating or changing a source takes, from `POST`/`PATCH /v1/sources` and from
//! `[[sources]]`: the request read field by field (so an unknown field, or a setting the
//! kind does not take, is named), the settings checked against the kind, and the
//! credential checked by building a verifier from it.

use std::time::Duration;

use serde_json::{Map, Value};
use switchyard_core::source::{SourceKind, SourceSettings};

use super::kinds::{self, Credential, VerifyContext};
use crate::http::{ApiError, FieldError, Problems, validate};

/// The largest body a source may accept.
pub(crate) const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

const COMMON_FIELDS: [&str; 4] = ["name", "kind", "enabled", "previous_credential_grace"];

/// A request to create or change a source.
#[derive(Debug, Default)]
pub(super) struct SourceInput {
    pub(super) name: Option<String>,
    pub(super) kind: Option<SourceKind>,
    pub(super) enabled: Option<bool>,
    pub(super) credential: Option<String>,
    pub(super) grace: Option<Duration>,
    /// Settings to set, or (`null`) to remove.
    pub(super) settings: Map<String, Value>,
}

/// Reads a request body; `kind` is the source's kind when changing one.
pub(super) fn parse(
    body: Map<String, Value>,
    kind: Option<SourceKind>,
) -> Result<SourceInput, ApiError> {
    let mut p = Problems::default();
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .and_then(SourceKind::parse)
        .or(kind);
    let mut input = SourceInput::default();
    for (key, value) in body {
        match key.as_str() {
            "name" => match value.as_str() {
                Some(s) => input.name = validate::label(&mut p, "name", s, 100),
                None => p.add(
                    "name",
                    "expected a non-empty string of at most 100 characters",
                ),
            },
            "kind" => match value.as_str().and_then(SourceKind::parse) {
                Some(k) => input.kind = Some(k),
                None => p.add("kind", format!("expected one of {}", SourceKind::names())),
            },
            "enabled" => match value {
                Value::Bool(b) => input.enabled = Some(b),
                _ => p.add("enabled", "expected true or false"),
            },
            "previous_credential_grace" => {
                match value.as_str().map(switchyard_core::duration::parse) {
                    Some(Ok(d)) => input.grace = Some(d),
                    _ => p.add(
                        "previous_credential_grace",
                        "expected a duration such as 24h",
                    ),
                }
            }
            field if Credential::from_field(field).is_some() => match value {
                Value::String(s) => {
                    let expected = kind.map(|k| kinds::kind(k).credential());
                    match expected {
                        Some(None) => p.add(field, "this kind takes no credential"),
                        Some(Some(c)) if c.field() != field => p.add(
                            field,
                            format!("this kind takes its credential as {:?}", c.field()),
                        ),
                        _ => input.credential = Some(s),
                    }
                }
                _ => p.add(field, "expected a string"),
            },
            field if SourceSettings::FIELDS.contains(&field) => match kind {
                Some(k) if !kinds::kind(k).settings().contains(&field) => p.add(
                    field,
                    format!(
                        "{k} sources do not take this setting; they take {}",
                        kinds::kind(k).settings().join(", ")
                    ),
                ),
                _ => {
                    input.settings.insert(key, value);
                }
            },
            _ => p.add(
                &key,
                format!(
                    "unknown field; expected one of {}, {}, {}",
                    COMMON_FIELDS.join(", "),
                    Credential::ALL.map(Credential::field).join(", "),
                    SourceSettings::FIELDS.join(", ")
                ),
            ),
        }
    }
    p.finish()?;
    Ok(input)
}

/// `base` with `changes` applied (`null` removes a setting); a value of the wrong type
/// is named by its field.
pub(super) fn merge_settings(
    base: &SourceSettings,
    changes: Map<String, Value>,
) -> Result<SourceSettings, ApiError> {
    let mut p = Problems::default();
    for (field, value) in changes.iter().filter(|(_, v)| !v.is_null()) {
        let alone = Value::Object(Map::from_iter([(field.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<SourceSettings>(alone) {
            p.add(field.as_str(), e.to_string());
        }
    }
    p.finish()?;
    let mut value = serde_json::to_value(base).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut value {
        for (k, v) in changes {
            if v.is_null() {
                map.remove(&k);
            } else {
                map.insert(k, v);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid_field("settings", e.to_string()))
}

/// Checks settings against the kind: the generic rules, the kind's own, and (when one is
/// given) that the credential makes a verifier.
pub(super) fn check(
    kind: SourceKind,
    settings: &SourceSettings,
    credential: Option<&str>,
    context: &VerifyContext,
) -> Vec<FieldError> {
    let module = kinds::kind(kind);
    let mut p = Problems::default();
    if let Some(field) = module.credential().map(Credential::field) {
        match credential {
            Some(c) if c.trim().is_empty() => p.add(field, "must not be empty"),
            _ => {}
        }
    }
    if let Some(url) = &settings.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        p.add("public_url", "expected an http:// or https:// URL");
    }
    if let Some(limit) = settings.body_limit
        && !(1..=MAX_BODY_LIMIT).contains(&limit)
    {
        p.add(
            "body_limit",
            format!("expected 1 to {MAX_BODY_LIMIT} bytes"),
        );
    }
    module.check(settings, &mut p);
    if p.is_empty()
        && let Some(c) = credential.filter(|c| !c.trim().is_empty())
    {
        let built = module.check_credential(c).and_then(|()| {
            module
                .verifier(settings, vec![c.to_string()], context)
                .map(|_| ())
        });
        if let Err(e) = built {
            p.add(e.field, e.message);
        }
    }
    p.into_errors()
}

/// A new source's credential is required when its kind takes one.
pub(super) fn require_credential(kind: SourceKind, credential: Option<&str>, p: &mut Problems) {
    if let (Some(c), None) = (kinds::kind(kind).credential(), credential) {
        p.add(c.field(), "is required for this kind");
    }
}
