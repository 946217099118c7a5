//! A directory on this machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::local::LocalFileSystem;

use super::{Built, StoreConfig};
use crate::ConfigError;
use crate::config::Ctx;

/// Builds a `local` store in `path`, default `<data_dir>/storage/<name>`, creating the
/// directory. Writes are synced to disk before they return; deleting an object removes
/// the directories it leaves empty.
pub(super) fn build(
    config: &StoreConfig,
    ctx: &Ctx<'_>,
    data_dir: &Path,
) -> Result<Built, ConfigError> {
    let dir = match config.path.as_deref().filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => data_dir.join("storage").join(&config.name),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| ctx.invalid("path", format!("cannot create {}: {e}", dir.display())))?;
    let store = LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| ctx.invalid("path", e.to_string()))?
        .with_automatic_cleanup(true)
        .with_fsync(true);
    Ok(Built::plain(Arc::new(store)))
}
