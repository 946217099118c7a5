//! The subcommands. Output meant for scripts (raw keys, JSON) goes to stdout; everything
//! else — logs, notices, warnings — to stderr.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use switchyard_core::apikey::Scope;
use switchyard_core::time::rfc3339;
use switchyard_core::vault::{Keyring, MasterKey};
use switchyard_server::config::{Config, LogFormat, Overrides};
use switchyard_server::masterkey::{self, Origin};
use switchyard_server::{Hub, keys as key_ops};
use switchyard_store::vault::Vault;
use switchyard_store::{ConnectOptions, Page, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Database URL (overrides `database_url`).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints the raw key alone on stdout.
    Create {
        #[arg(long)]
        name: String,
        /// Scope to grant (repeatable; default admin): admin, read, keys, sources,
        /// events, endpoints, messages, templates, accounts.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Lifetime, e.g. 90d.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never shows raw keys).
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key at once.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Issue a replacement key (printed alone on stdout); the old one keeps working for
    /// the grace period.
    Rotate {
        id: String,
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        grace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Re-seal every stored secret under a new master key.
    ///
    /// With the generated key file, a new key is written to it first (the old one stays
    /// as a previous key, so running hubs keep reading). With SWITCHYARD_MASTER_KEY, set
    /// it to the new key and SWITCHYARD_PREVIOUS_MASTER_KEYS to the old one, then run
    /// this command.
    RotateMasterKey {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print a new random master key (base64 of 32 bytes).
    GenerateKey,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted.
    Show {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) fn load(config: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
    let loaded = match Config::load(config, &overrides) {
        Ok(loaded) => loaded,
        Err(e) => {
            for warning in Config::env_warnings(&std::env::vars().collect::<Vec<_>>()) {
                eprintln!("warning: {warning}");
            }
            return Err(anyhow::Error::new(e).context("invalid configuration"));
        }
    };
    init_logging(&loaded.config);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(file) = &loaded.file {
        tracing::debug!(file = %file.display(), "configuration file read");
    }
    Ok(loaded.config)
}

fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

fn store_overrides(args: &StoreArgs) -> Overrides {
    Overrides {
        database_url: args.database_url.clone(),
        ..Overrides::default()
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let options = ConnectOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: config.database.acquire_timeout.0,
    };
    let store = switchyard_store::connect(&config.database_url, &options)
        .await
        .with_context(|| {
            format!(
                "opening {}",
                switchyard_store::redact_url(&config.database_url)
            )
        })?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

pub async fn serve(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: args.listen.clone(),
        database_url: args.store.database_url.clone(),
    };
    let config = load(config, overrides)?;
    let listen = config.listen;
    let hub = Hub::open(config).await?;
    match hub.key_origin() {
        Origin::File {
            path,
            created: true,
        } => tracing::warn!(
            path = %path.display(),
            "NO MASTER KEY CONFIGURED: generated a development master key file. Anyone who can read it can \
             decrypt stored credentials. Set SWITCHYARD_MASTER_KEY for production."
        ),
        Origin::File {
            path,
            created: false,
        } => {
            tracing::warn!(path = %path.display(), "using the development master key file; set SWITCHYARD_MASTER_KEY for production")
        }
        Origin::Ephemeral => tracing::warn!("in-memory database: using a throw-away master key"),
        Origin::Configured => {}
    }
    if let Some(key) = hub.bootstrap_key() {
        println!("Bootstrap admin API key (shown only this once; store it now):");
        println!("{}", key.raw.expose());
        tracing::warn!(key_id = %key.key.id, "created a bootstrap admin API key because the store had none");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, store = hub.services().store.backend(), "switchyard is listening");
    hub.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

pub async fn migrate(config: Option<&Path>, args: StoreArgs) -> anyhow::Result<()> {
    let config = load(config, store_overrides(&args))?;
    let store = open_store(&config).await?;
    for m in store.migration_status().await? {
        let when = m.applied_at.map_or_else(|| "pending".to_string(), rfc3339);
        println!("{:>4}  {:<24} {}", m.version, m.name, when);
    }
    store.close().await;
    Ok(())
}

pub async fn keys(config: Option<&Path>, cmd: KeysCommand) -> anyhow::Result<()> {
    let store_args = match &cmd {
        KeysCommand::Create { store, .. }
        | KeysCommand::List { store, .. }
        | KeysCommand::Revoke { store, .. }
        | KeysCommand::Rotate { store, .. } => store,
    };
    let config = load(config, store_overrides(store_args))?;
    let store = open_store(&config).await?;
    let result = run_keys(store.as_ref(), cmd).await;
    store.close().await;
    result
}

async fn run_keys(store: &dyn Store, cmd: KeysCommand) -> anyhow::Result<()> {
    let now = switchyard_core::time::now_ms();
    match cmd {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
            ..
        } => {
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let scopes = if scopes.is_empty() {
                vec![Scope::Admin]
            } else {
                Scope::parse_list(&scopes.join(" ")).map_err(anyhow::Error::msg)?
            };
            let expires_at = expires_in
                .map(|d| switchyard_core::duration::parse(&d).map(|d| now + d.as_millis() as i64))
                .transpose()?;
            let created = key_ops::create(store, name.trim(), &scopes, expires_at).await?;
            eprintln!(
                "created {} ({}) with scopes: {}",
                created.key.id,
                created.key.name,
                Scope::join(&scopes)
            );
            println!("{}", created.raw.expose());
        }
        KeysCommand::List { json, .. } => {
            let mut cursor = None;
            if !json {
                println!(
                    "{:<30} {:<20} {:<8} {:<9} {:<24} SCOPES",
                    "ID", "NAME", "HINT", "STATUS", "CREATED"
                );
            }
            loop {
                let page = store
                    .list_keys(&Page {
                        limit: 100,
                        cursor: cursor.clone(),
                    })
                    .await?;
                for k in &page {
                    let status = key_ops::status(k, now);
                    if json {
                        let value = serde_json::json!({
                            "id": k.id, "name": k.name, "hint": format!("sk_…{}", k.hint),
                            "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                            "status": status, "created_at": rfc3339(k.created_at),
                            "expires_at": k.expires_at.map(rfc3339), "revoked_at": k.revoked_at.map(rfc3339),
                            "last_used_at": k.last_used_at.map(rfc3339), "rotated_from": k.rotated_from,
                        });
                        println!("{value}");
                    } else {
                        println!(
                            "{:<30} {:<20} {:<8} {:<9} {:<24} {}",
                            k.id,
                            k.name,
                            format!("…{}", k.hint),
                            status,
                            rfc3339(k.created_at),
                            Scope::join(&k.scopes)
                        );
                    }
                }
                if page.len() < 100 {
                    break;
                }
                cursor = page.last().map(|k| k.id.clone());
            }
        }
        KeysCommand::Revoke { id, .. } => match store.revoke_key(&id, now).await? {
            Some(k) => eprintln!("revoked {} ({})", k.id, k.name),
            None => bail!("no API key with id {id:?}"),
        },
        KeysCommand::Rotate { id, grace, .. } => {
            let grace = switchyard_core::duration::parse(&grace)?;
            let Some((created, old)) = key_ops::rotate(store, &id, grace).await? else {
                bail!("no active API key with id {id:?}");
            };
            eprintln!(
                "issued {} to replace {}; the old key works until {}",
                created.key.id,
                old.id,
                old.expires_at.map_or_else(|| "-".into(), rfc3339)
            );
            println!("{}", created.raw.expose());
        }
    }
    Ok(())
}

pub async fn vault(config: Option<&Path>, cmd: VaultCommand) -> anyhow::Result<()> {
    match cmd {
        VaultCommand::GenerateKey => {
            println!("{}", MasterKey::generate().to_base64().expose());
            Ok(())
        }
        VaultCommand::RotateMasterKey { store } => {
            let config = load(config, store_overrides(&store))?;
            let loaded = masterkey::load(&config).map_err(anyhow::Error::msg)?;
            let keyring = match &loaded.origin {
                Origin::File { path, .. } => {
                    let new = MasterKey::generate();
                    let mut keys = vec![new.clone()];
                    keys.extend(loaded.keyring.keys().cloned());
                    masterkey::write_key_file(path, &keys, false)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote a new master key {} to {}", new.id(), path.display());
                    Keyring::new(new, loaded.keyring.keys().cloned().collect())
                }
                Origin::Configured => loaded.keyring,
                Origin::Ephemeral => bail!("an in-memory database keeps no secrets to re-seal"),
            };
            let store = open_store(&config).await?;
            let current = keyring.current().id().to_string();
            let vault = Vault::new(store.clone(), keyring, None);
            let count = vault.reseal_all().await;
            store.close().await;
            let count = count.context("re-sealing secrets")?;
            eprintln!("re-sealed {count} secret(s) under master key {current}");
            Ok(())
        }
    }
}

pub fn config(config: Option<&Path>, cmd: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Show { store } = cmd;
    let config = load(config, store_overrides(&store))?;
    print!("{}", config.redacted_toml());
    Ok(())
}
