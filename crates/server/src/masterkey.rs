//! Where the vault's master keys come from.
//!
//! - `master_key` (+ `previous_master_keys`) from configuration or the environment;
//! - otherwise, with SQLite only, a development key file beside the database
//!   (`<db>.master-key`, mode 0600), generated on first start with a loud warning. The
//!   file holds one base64 key per line: the first seals, the others only open.
//!
//! PostgreSQL deployments must configure a key: several nodes cannot share a file.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use switchyard_core::vault::{Keyring, MasterKey};
use switchyard_store::Backend;
use switchyard_store::vault::KeySource;

use crate::config::Config;

/// How the keyring was obtained.
#[derive(Debug)]
pub enum Origin {
    Configured,
    File {
        path: PathBuf,
        created: bool,
    },
    /// In-memory SQLite without a configured key: a throw-away key.
    Ephemeral,
}

#[derive(Debug)]
pub struct Loaded {
    pub keyring: Keyring,
    pub source: Option<Arc<dyn KeySource>>,
    pub origin: Origin,
}

pub fn load(config: &Config) -> Result<Loaded, String> {
    if let Some(current) = &config.master_key {
        let current =
            MasterKey::from_base64(current.expose()).map_err(|e| format!("master_key: {e}"))?;
        let previous = configured_previous(config)?;
        return Ok(Loaded {
            keyring: Keyring::new(current, previous),
            source: None,
            origin: Origin::Configured,
        });
    }
    if config.backend() == Backend::Postgres {
        return Err("master_key is required with PostgreSQL: set SWITCHYARD_MASTER_KEY to the base64 of 32 random \
                    bytes (`switchyard vault generate-key` prints one) on every node"
            .into());
    }
    let Some(path) = key_file_path(config) else {
        return Ok(Loaded {
            keyring: Keyring::new(MasterKey::generate(), vec![]),
            source: None,
            origin: Origin::Ephemeral,
        });
    };
    let created = if path.exists() {
        false
    } else {
        write_key_file(&path, &[MasterKey::generate()], true)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        true
    };
    let file = KeyFile::new(path.clone());
    let keyring = file.load()?;
    Ok(Loaded {
        keyring,
        source: Some(Arc::new(file)),
        origin: Origin::File { path, created },
    })
}

fn configured_previous(config: &Config) -> Result<Vec<MasterKey>, String> {
    let Some(list) = &config.previous_master_keys else {
        return Ok(vec![]);
    };
    list.expose()
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| MasterKey::from_base64(p).map_err(|e| format!("previous_master_keys: {e}")))
        .collect()
}

/// The development key file for this configuration, if it uses one.
pub fn key_file_path(config: &Config) -> Option<PathBuf> {
    if config.master_key.is_some() || config.backend() != Backend::Sqlite {
        return None;
    }
    if let Some(path) = &config.master_key_file {
        return Some(path.clone());
    }
    let db = switchyard_store::sqlite::database_path(&config.database_url)?;
    let mut name = db.file_name()?.to_os_string();
    name.push(".master-key");
    Some(db.with_file_name(name))
}

/// Writes `keys` (first = current) with mode 0600. With `create_new` the file must not
/// exist yet; otherwise an existing file is replaced atomically.
pub fn write_key_file(path: &Path, keys: &[MasterKey], create_new: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let body: String = keys
        .iter()
        .map(|k| format!("{}\n", k.to_base64().expose()))
        .collect();
    let target = if create_new {
        path.to_path_buf()
    } else {
        path.with_extension(format!("tmp{}", std::process::id()))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)?;
    file.write_all(body.as_bytes())?;
    file.sync_all()?;
    if !create_new {
        std::fs::rename(&target, path)?;
    }
    Ok(())
}

/// A key file, re-read when it changes on disk.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    loaded_mtime: Mutex<Option<SystemTime>>,
}

impl KeyFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            loaded_mtime: Mutex::new(None),
        }
    }

    fn mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
    }
}

impl KeySource for KeyFile {
    fn load(&self) -> Result<Keyring, String> {
        let shown = self.path.display();
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| format!("reading master key file {shown}: {e}"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %shown, "master key file is readable by other users; run chmod 600 on it");
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("reading master key file {shown}: {e}"))?;
        let mut keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                MasterKey::from_base64(l).map_err(|e| format!("master key file {shown}: {e}"))
            });
        let current = keys
            .next()
            .ok_or_else(|| format!("master key file {shown} holds no key"))??;
        let previous = keys.collect::<Result<Vec<_>, _>>()?;
        *self.loaded_mtime.lock().unwrap_or_else(|e| e.into_inner()) = self.mtime();
        Ok(Keyring::new(current, previous))
    }

    fn changed(&self) -> bool {
        *self.loaded_mtime.lock().unwrap_or_else(|e| e.into_inner()) != self.mtime()
    }
}
