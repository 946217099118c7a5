//! `switchyard payments`: backfilling the payments mirror from a provider.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use clap::Subcommand;
use switchyard_server::config::Overrides;
use switchyard_server::{Hub, SyncProgress};

use crate::commands::{StoreArgs, load};

#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Import a provider's existing customers and subscriptions into the mirror, paging
    /// through its list endpoints. Running it again changes nothing that has not changed
    /// at the provider.
    Sync {
        /// The provider's name, as in `[[payments.providers]]` or the registry.
        #[arg(long, value_name = "NAME")]
        provider: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Progress on stderr: one line rewritten in place on a terminal, a line per page
/// otherwise.
fn report(progress: &SyncProgress, terminal: bool) {
    let line = format!(
        "customers {:>7}   subscriptions {:>7}   changed {:>7}",
        progress.customers, progress.subscriptions, progress.changed
    );
    let mut err = std::io::stderr().lock();
    if terminal {
        let _ = write!(err, "\r{line}");
    } else {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
}

pub async fn payments(config: Option<&Path>, cmd: PaymentsCommand) -> anyhow::Result<()> {
    let PaymentsCommand::Sync { provider, store } = cmd;
    let mut config = load(
        config,
        Overrides {
            database_url: store.database_url.clone(),
            ..Overrides::default()
        },
    )?;
    config.bootstrap_key = false;
    let hub = Hub::open(config).await?;
    let terminal = std::io::stderr().is_terminal();
    let done = hub
        .payments_sync(&provider, &mut |p| report(p, terminal))
        .await;
    if terminal {
        eprintln!();
    }
    hub.services().store.close().await;
    let done = done?;
    println!(
        "synced {provider}: {} customers, {} subscriptions, {} rows made or changed",
        done.customers, done.subscriptions, done.changed
    );
    Ok(())
}
