//! Loading the configuration in layers, later ones winning: built-in defaults, then
//! `switchyard.toml` (or `--config PATH`, or `$SWITCHYARD_CONFIG`), then `SWITCHYARD_*`
//! environment variables (`__` separates nested keys), then command-line flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::providers::{Format as _, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::{Config, ConfigError, DEFAULT_CONFIG_FILE, Overrides};

const ENV_PREFIX: &str = "SWITCHYARD_";
/// Variables with the prefix that are not configuration keys.
const ENV_NOT_CONFIG: &[&str] = &["SWITCHYARD_CONFIG", "SWITCHYARD_TEST_DATABASE_URL"];

/// A loaded configuration and the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads all layers from the process environment.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env, overrides)
    }

    /// Loads all layers, reading variables from `env` instead of the process environment.
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Loaded, ConfigError> {
        let file = match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            Some(path) => Some(path.to_path_buf()),
            None => env
                .iter()
                .find(|(k, _)| k == "SWITCHYARD_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
                .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists())),
        };
        if let Some(path) = &file
            && !path.exists()
        {
            return Err(ConfigError::MissingFile(path.clone()));
        }

        let accepted: BTreeSet<&String> = env
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(ENV_PREFIX) && env_key(k).is_some())
            .collect();
        let warnings = Self::env_warnings(env);

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            figment = figment.merge(DefinitionsAsTables(Toml::file_exact(path)));
        }
        let env_values: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| accepted.contains(k))
            .cloned()
            .collect();
        drop(accepted);
        figment = figment
            .merge(EnvLayer::new(&env_values))
            .merge(Serialized::globals(overrides));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(Loaded {
            config,
            warnings,
            file,
        })
    }

    /// Warnings for `SWITCHYARD_*` variables that name no configuration key.
    pub fn env_warnings(env: &[(String, String)]) -> Vec<String> {
        env.iter()
            .map(|(name, _)| name)
            .filter(|name| name.starts_with(ENV_PREFIX) && !ENV_NOT_CONFIG.contains(&name.as_str()))
            .filter(|name| env_key(name).is_none())
            .map(|name| {
                format!(
                    "ignoring unknown environment variable {name}: it names no configuration key \
                     (nested keys use a double underscore, e.g. SWITCHYARD_LOG__FORMAT)"
                )
            })
            .collect()
    }
}

/// The accepted `SWITCHYARD_*` variables as a configuration layer. `__` nests keys;
/// values are read as numbers or booleans where they look like one, else as strings.
#[derive(Debug)]
struct EnvLayer(Dict);

impl EnvLayer {
    fn new(vars: &[(String, String)]) -> Self {
        let mut root = Dict::new();
        for (name, raw) in vars {
            let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
            let parts: Vec<&str> = key.split("__").collect();
            let value: Value = raw.parse().unwrap_or_else(|_| Value::from(raw.clone()));
            let mut dict = &mut root;
            for part in &parts[..parts.len() - 1] {
                let entry = dict
                    .entry(part.to_string())
                    .or_insert_with(|| Value::from(Dict::new()));
                if entry.as_dict().is_none() {
                    *entry = Value::from(Dict::new());
                }
                dict = match entry {
                    Value::Dict(_, d) => d,
                    _ => unreachable!("just made a dict"),
                };
            }
            dict.insert(parts[parts.len() - 1].to_string(), value);
        }
        Self(root)
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("SWITCHYARD_* environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// A file's layer with `connectors = [..]` (`[[connectors]]` tables) read as
/// `connectors.define = [..]`, so definitions and `[connectors]` settings from another
/// layer (an environment variable) merge instead of replacing each other.
struct DefinitionsAsTables<P>(P);

impl<P: Provider> Provider for DefinitionsAsTables<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = self.0.data()?;
        for dict in data.values_mut() {
            if let Some(Value::Array(tag, list)) = dict.get("connectors").cloned() {
                let mut section = Dict::new();
                section.insert("define".to_string(), Value::Array(tag, list));
                dict.insert("connectors".to_string(), Value::from(section));
            }
        }
        Ok(data)
    }
}

fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("configuration{source}: {}", err.kind)
            } else {
                format!("{key}{source}: {}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The configuration key a `SWITCHYARD_*` variable sets, if it names one.
fn env_key(name: &str) -> Option<String> {
    if ENV_NOT_CONFIG.contains(&name) {
        return None;
    }
    let key = name
        .strip_prefix(ENV_PREFIX)?
        .to_ascii_lowercase()
        .replace("__", ".");
    known_keys().contains(&key).then_some(key)
}

/// Every key path of the configuration, e.g. `listen`, `log.format`.
fn known_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(key.clone());
                walk(&key, v, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).expect("config serializes"),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, HumanDuration, LogFormat};
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn temp_file(name: &str, content: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard_cfg_{}_{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchyard.toml");
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn defaults_without_any_layer() {
        let loaded = Config::load_from(None, &[], &Overrides::default()).unwrap();
        assert_eq!(loaded.config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(loaded.config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(loaded.config.http.body_limit, ByteSize(1 << 20));
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let file = temp_file(
            "layers",
            "listen = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\n[log]\nformat = \"json\"\n[http]\nbody_limit = \"2MiB\"\n",
        );
        let vars = env(&[
            ("SWITCHYARD_DATABASE_URL", "postgres://u:pw@db/sy"),
            ("SWITCHYARD_QUEUE__CONCURRENCY", "7"),
            ("SWITCHYARD_QUEUE__LEASE", "2m"),
        ]);
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            database_url: None,
        };
        let c = Config::load_from(Some(&file), &vars, &flags)
            .unwrap()
            .config;
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100", "flag beats file");
        assert_eq!(c.database_url, "postgres://u:pw@db/sy", "env beats file");
        assert_eq!(c.log.format, LogFormat::Json, "file beats default");
        assert_eq!(c.http.body_limit, ByteSize(2 << 20));
        assert_eq!(c.queue.concurrency, 7);
        assert_eq!(c.queue.lease, HumanDuration(Duration::from_secs(120)));
        let shown = c.redacted_toml();
        assert!(shown.contains("postgres://u:[redacted]@db/sy"), "{shown}");
        assert!(!shown.contains("pw@"));
    }

    #[test]
    fn unknown_env_variables_warn_and_are_ignored() {
        let vars = env(&[
            ("SWITCHYARD_LISTN", "x"),
            ("SWITCHYARD_LOG_FORMAT", "json"),
            ("SWITCHYARD_TEST_DATABASE_URL", "x"),
        ]);
        let loaded = Config::load_from(None, &vars, &Overrides::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("SWITCHYARD_LISTN"));
        assert!(loaded.warnings[1].contains("SWITCHYARD_LOG_FORMAT"));
        assert_eq!(loaded.config.log.format, LogFormat::Human);
    }

    #[test]
    fn bad_values_name_the_key_and_the_expectation() {
        let err = |vars: &[(&str, &str)]| {
            Config::load_from(None, &env(vars), &Overrides::default())
                .unwrap_err()
                .to_string()
        };
        let e = err(&[("SWITCHYARD_LISTEN", "nowhere")]);
        assert!(e.contains("listen") && e.contains("SWITCHYARD_"), "{e}");
        let e = err(&[("SWITCHYARD_DATABASE_URL", "mysql://x")]);
        assert!(
            e.starts_with("database_url:") && e.contains("sqlite://"),
            "{e}"
        );
        let e = err(&[("SWITCHYARD_MASTER_KEY", "c2hvcnQ=")]);
        assert!(e.starts_with("master_key:") && e.contains("32"), "{e}");
        assert!(!e.contains("c2hvcnQ"), "the secret is not echoed: {e}");
        let e = err(&[("SWITCHYARD_HTTP__BODY_LIMIT", "lots")]);
        assert!(e.contains("http.body_limit") && e.contains("MiB"), "{e}");
        let e = err(&[("SWITCHYARD_QUEUE__LEASE", "soon")]);
        assert!(e.contains("queue.lease") && e.contains("24h"), "{e}");
        let e = err(&[("SWITCHYARD_LOG__FORMAT", "xml")]);
        assert!(e.contains("log.format") && e.contains("json"), "{e}");
        let file = temp_file("unknown", "listen = \"127.0.0.1:1\"\nlisten_port = 3\n");
        let e = Config::load_from(Some(&file), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_port"), "{e}");
        let missing = Config::load_from(
            Some(Path::new("/nonexistent/sy.toml")),
            &[],
            &Overrides::default(),
        );
        assert!(matches!(missing, Err(ConfigError::MissingFile(_))));
    }

    #[test]
    fn declared_sources_load_from_the_file_with_credentials_redacted_in_show() {
        let path = temp_file(
            "sources",
            "[[sources]]\nname = \"stripe-main\"\nkind = \"stripe\"\nsecret = \"whsec_file\"\n\
             tolerance_secs = 600\n\n[[sources]]\nname = \"gh\"\nkind = \"github\"\n\
             secret_env = \"GH_SECRET\"\n",
        );
        let c = Config::load_from(Some(&path), &env(&[]), &Overrides::default())
            .unwrap()
            .config;
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[0].settings.tolerance_secs, Some(600));
        assert_eq!(
            c.sources[0].kind,
            switchyard_core::source::SourceKind::Stripe
        );
        assert_eq!(c.sources[1].secret_env.as_deref(), Some("GH_SECRET"));
        let shown = c.redacted_toml();
        assert!(!shown.contains("whsec_file"), "{shown}");
        assert!(shown.contains("secret = \"[redacted]\""), "{shown}");
        for (name, bad, named) in [
            ("bad_field", "kind = \"stripe\"\ncolour = \"red\"", "colour"),
            ("bad_kind", "kind = \"stripe-ish\"", "stripe-ish"),
        ] {
            let file = temp_file(name, &format!("[[sources]]\nname = \"x\"\n{bad}\n"));
            let e = Config::load_from(Some(&file), &[], &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("sources") && e.contains(named), "{e}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_show() {
        let key = switchyard_core::vault::MasterKey::generate();
        let vars = env(&[("SWITCHYARD_MASTER_KEY", key.to_base64().expose())]);
        let c = Config::load_from(None, &vars, &Overrides::default())
            .unwrap()
            .config;
        let shown = c.redacted_toml();
        assert!(shown.contains("master_key = \"[redacted]\""), "{shown}");
        assert!(!shown.contains(key.to_base64().expose().as_str()));
    }
}
