//! The connectors in use: the built-in definitions with `connectors.define` merged over
//! them by name, each validated and read once into what the proxy needs (durations,
//! limits, the OAuth client).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard_core::Secret;
use switchyard_providers::connectors::forward::ForwardPolicy;
use switchyard_providers::connectors::{self as defs, AuthDef, ConnectorDef, LimitScope};

/// Waits between attempts without `Retry-After`: doubling from this…
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// …up to this.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// One limit, read.
#[derive(Debug, Clone)]
pub(super) struct Limit {
    pub(super) requests: u32,
    pub(super) window_ms: i64,
    pub(super) scope: LimitScope,
    pub(super) path_prefix: Option<String>,
}

/// A connector in use.
#[derive(Debug)]
pub(super) struct Connector {
    pub(super) def: ConnectorDef,
    pub(super) cache: Option<Duration>,
    pub(super) limits: Vec<Limit>,
    pub(super) policy: ForwardPolicy,
    /// The OAuth client of the definition (or its environment variables), if any.
    pub(super) client: Option<OAuthClient>,
}

#[derive(Debug, Clone)]
pub(super) struct OAuthClient {
    pub(super) id: String,
    pub(super) secret: Secret<String>,
}

impl Connector {
    pub(super) fn oauth(&self) -> Option<&defs::OAuth2Def> {
        match &self.def.auth {
            AuthDef::Oauth2(o) => Some(o),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) struct Catalog(BTreeMap<String, Arc<Connector>>);

impl Catalog {
    /// The built-in connectors with `define` merged over them; `env` reads the
    /// variables an OAuth client may come from.
    pub(super) fn build(
        define: &[Value],
        timeout: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut merged: BTreeMap<String, Value> = BTreeMap::new();
        for def in defs::builtins() {
            let value = serde_json::to_value(&def).map_err(|e| e.to_string())?;
            merged.insert(def.name.clone(), value);
        }
        for (i, value) in define.iter().enumerate() {
            let key = format!("connectors.define[{i}]");
            let Some(name) = value.get("name").and_then(Value::as_str) else {
                return Err(format!("{key}.name: every connector needs a name"));
            };
            match merged.get_mut(name) {
                Some(existing) => merge(existing, value),
                None => {
                    merged.insert(name.to_string(), value.clone());
                }
            }
        }
        let mut out = BTreeMap::new();
        for (name, value) in merged {
            let key = format!("connectors.{name}");
            let def: ConnectorDef =
                serde_json::from_value(value).map_err(|e| format!("{key}: {e}"))?;
            def.validate().map_err(|e| format!("{key}: {e}"))?;
            let connector = read(def, timeout, &env).map_err(|e| format!("{key}.{e}"))?;
            out.insert(name, Arc::new(connector));
        }
        Ok(Self(out))
    }

    pub(super) fn get(&self, name: &str) -> Option<&Arc<Connector>> {
        self.0.get(name)
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// `over`'s fields over `base`'s, objects merged key by key.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn read(
    def: ConnectorDef,
    default_timeout: Duration,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Connector, String> {
    let cache = def
        .cache
        .as_deref()
        .map(|c| defs::definition::duration("cache", c))
        .transpose()?;
    let mut limits = Vec::new();
    for (i, l) in def.rate_limits.iter().enumerate() {
        let per = defs::definition::duration(&format!("rate_limits[{i}].per"), &l.per)?;
        limits.push(Limit {
            requests: l.requests,
            window_ms: i64::try_from(per.as_millis()).unwrap_or(i64::MAX),
            scope: l.scope,
            path_prefix: l.path_prefix.clone(),
        });
    }
    let timeout = def
        .timeout
        .as_deref()
        .map(|t| defs::definition::duration("timeout", t))
        .transpose()?;
    let policy = ForwardPolicy {
        statuses: def.retry.statuses.clone(),
        retries: def.retry.retries,
        max_retry_after: defs::definition::duration(
            "retry.max_retry_after",
            &def.retry.max_retry_after,
        )?,
        timeout: timeout.unwrap_or(default_timeout),
        backoff_base: BACKOFF_BASE,
        backoff_cap: BACKOFF_CAP,
    };
    let client = match &def.auth {
        AuthDef::Oauth2(o) => {
            let id = o
                .client_id
                .clone()
                .or_else(|| o.client_id_env.as_deref().and_then(env));
            let secret = o
                .client_secret
                .clone()
                .or_else(|| o.client_secret_env.as_deref().and_then(env));
            id.zip(secret).map(|(id, secret)| OAuthClient {
                id,
                secret: Secret::new(secret),
            })
        }
        _ => None,
    };
    Ok(Connector {
        def,
        cache,
        limits,
        policy,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_are_built_in_and_a_definition_changes_only_what_it_gives() {
        let define = vec![serde_json::json!({"name": "nominatim", "cache": "1h"})];
        let catalog = Catalog::build(&define, Duration::from_secs(30), |_| None).unwrap();
        let names: Vec<&str> = catalog.names().collect();
        for name in [
            "google-calendar",
            "moodle",
            "nominatim",
            "open-meteo",
            "printify",
            "ttn",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let nominatim = catalog.get("nominatim").unwrap();
        assert_eq!(nominatim.cache, Some(Duration::from_secs(3600)));
        assert_eq!(nominatim.limits[0].requests, 1);
        assert!(nominatim.def.headers.contains_key("User-Agent"));
    }

    #[test]
    fn a_bad_definition_is_refused_naming_it() {
        let define = vec![serde_json::json!({"name": "x", "base_url": "ftp://x"})];
        let err = Catalog::build(&define, Duration::from_secs(30), |_| None).unwrap_err();
        assert!(err.starts_with("connectors.x"), "{err}");
        let err = Catalog::build(
            &[serde_json::json!({"base_url": "https://x"})],
            Duration::from_secs(30),
            |_| None,
        )
        .unwrap_err();
        assert!(err.contains("name"), "{err}");
    }

    #[test]
    fn the_google_client_comes_from_the_environment() {
        let env = |k: &str| match k {
            "GOOGLE_CLIENT_ID" => Some("id".to_string()),
            "GOOGLE_CLIENT_SECRET" => Some("secret".to_string()),
            _ => None,
        };
        let catalog = Catalog::build(&[], Duration::from_secs(30), env).unwrap();
        let client = catalog
            .get("google-calendar")
            .unwrap()
            .client
            .clone()
            .unwrap();
        assert_eq!(client.id, "id");
        assert!(
            Catalog::build(&[], Duration::from_secs(30), |_| None)
                .unwrap()
                .get("google-calendar")
                .unwrap()
                .client
                .is_none()
        );
    }
}
