//! The payment providers in use: those of the configuration file, built at start, and
//! those configured through the provider registry (sealed in the vault, read again every
//! few seconds, at once after a change on this node). Each provider knows the sources
//! whose webhooks feed its mirror.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_core::payment::PaymentKind;
use switchyard_core::provider::Capability;
use switchyard_core::source::SourceSettings;
use switchyard_providers::payments::{
    Built, PaymentProvider, PaymentProviderConfig, WebhookSource,
};
use switchyard_store::vault::ids;

use super::{Payments, PaymentsError};
use crate::http::ApiError;
use crate::intake::{DeclaredSource, Declarer, declared_id};
use crate::providers::{ProviderInfo, Registrant, SettingsError};
use crate::runtime::refreshed::Refreshed;

/// How long a node uses the providers configured through the API before reading them
/// again (changes made on this node apply at once).
const PROVIDER_TTL: Duration = Duration::from_secs(5);

/// One provider in use.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) provider: Arc<dyn PaymentProvider>,
    pub(super) default: bool,
    /// `config` or `api`.
    pub(super) origin: &'static str,
    /// Sources whose events feed this provider's mirror.
    pub(super) sources: Vec<String>,
    webhooks: Vec<WebhookSource>,
}

impl Entry {
    fn new(config: &PaymentProviderConfig, built: Built, origin: &'static str) -> Self {
        let mut sources: Vec<String> = built
            .webhooks
            .iter()
            .map(|w| declared_id(&w.name))
            .collect();
        let named = match config {
            PaymentProviderConfig::Stripe(c) => vec![c.source.clone(), c.connect_source.clone()],
            PaymentProviderConfig::Paypal(c) => vec![c.source.clone()],
        };
        for s in named.into_iter().flatten() {
            sources.push(if s.starts_with("src_") {
                s
            } else {
                declared_id(&s)
            });
        }
        Self {
            provider: built.provider,
            default: config.is_default(),
            origin,
            sources,
            webhooks: built.webhooks,
        }
    }

    pub(super) fn name(&self) -> &str {
        self.provider.name()
    }
}

#[derive(Debug)]
pub(super) struct Providers {
    configured: Vec<Entry>,
    /// What the API providers were at the last read.
    api: Refreshed<Vec<Entry>>,
    /// API providers built so far, by name, with the version they were built from.
    built: Mutex<HashMap<String, (i64, Entry)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Providers {
    pub(super) fn from_config(
        configs: &[PaymentProviderConfig],
        http: &reqwest::Client,
    ) -> Result<Self, PaymentsError> {
        let mut configured = Vec::new();
        for (index, c) in configs.iter().enumerate() {
            let built = c
                .build(http)
                .map_err(|error| PaymentsError::Provider { index, error })?;
            configured.push(Entry::new(c, built, "config"));
        }
        Ok(Self {
            configured,
            api: Refreshed::new(PROVIDER_TTL),
            built: Mutex::default(),
        })
    }

    pub(super) async fn declare_configured(
        &self,
        declarer: &Declarer,
    ) -> Result<(), PaymentsError> {
        for (index, entry) in self.configured.iter().enumerate() {
            for w in &entry.webhooks {
                declarer
                    .declare(&declared(w))
                    .await
                    .map_err(|error| PaymentsError::Source { index, error })?;
            }
        }
        Ok(())
    }

    fn invalidate(&self) {
        self.api.invalidate();
    }
}

/// The `[[sources]]` entry a provider's webhook settings stand for.
fn declared(w: &WebhookSource) -> DeclaredSource {
    DeclaredSource {
        id: None,
        name: w.name.clone(),
        kind: w.kind,
        enabled: None,
        secret: w.secret.clone(),
        auth_token: None,
        public_key: None,
        secret_env: None,
        auth_token_env: None,
        public_key_env: None,
        previous_credential_grace: None,
        settings: SourceSettings {
            webhook_id: w.webhook_id.clone(),
            ..SourceSettings::default()
        },
    }
}

impl Payments {
    /// Every provider in use, reading the API providers again when they are older than
    /// [`PROVIDER_TTL`].
    pub(super) async fn entries(&self) -> Vec<Entry> {
        let p = &self.inner.providers;
        let api = p
            .api
            .get(
                "the payment providers configured through the API",
                self.load_api_providers(),
            )
            .await;
        self.with_configured(&api)
    }

    /// Every provider in use as last read, without reading again (for processing,
    /// which must not wait on the store outside its transaction).
    pub(super) fn cached_entries(&self) -> Vec<Entry> {
        self.with_configured(&self.inner.providers.api.cached())
    }

    /// The configuration file's providers, then the API's of other names.
    fn with_configured(&self, api: &[Entry]) -> Vec<Entry> {
        let p = &self.inner.providers;
        let mut all = p.configured.clone();
        all.extend(
            api.iter()
                .filter(|a| !p.configured.iter().any(|c| c.name() == a.name()))
                .cloned(),
        );
        all
    }

    async fn load_api_providers(&self) -> Result<Vec<Entry>, LoadError> {
        let inner = &self.inner;
        let records = inner.store.list_providers().await?;
        let mut out = Vec::new();
        let mut keep = HashMap::new();
        for r in records
            .into_iter()
            .filter(|r| r.capability == Capability::Payments)
        {
            let cached = lock(&inner.providers.built).get(&r.name).cloned();
            let entry = match cached {
                Some((version, entry)) if version == r.updated_at => entry,
                _ => {
                    let key = ids::provider_settings(r.capability.as_str(), &r.name);
                    let Some(sealed) = inner.vault.get(&key).await? else {
                        tracing::warn!(provider = %r.name, "payment provider settings missing from the vault; skipped");
                        continue;
                    };
                    let built = serde_json::from_slice::<PaymentProviderConfig>(sealed.expose())
                        .map_err(SettingsError::from)
                        .and_then(|c| {
                            let built = c.build(&inner.http)?;
                            Ok(Entry::new(&c, built, "api"))
                        });
                    let entry = match built {
                        Ok(entry) => entry,
                        Err(e) => {
                            tracing::error!(provider = %r.name, error = %e, "stored payment provider cannot be built; skipped");
                            continue;
                        }
                    };
                    for w in &entry.webhooks {
                        if let Err(e) = inner.declarer.declare(&declared(w)).await {
                            tracing::error!(provider = %r.name, error = %e, "the provider's webhook source cannot be declared");
                        }
                    }
                    entry
                }
            };
            keep.insert(r.name.clone(), (r.updated_at, entry.clone()));
            out.push(entry);
        }
        *lock(&inner.providers.built) = keep;
        Ok(out)
    }

    /// The provider a call names, or the default: the one marked `default`, else the
    /// only one.
    pub(super) async fn provider(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn PaymentProvider>, ApiError> {
        let entries = self.entries().await;
        if let Some(name) = name {
            return entries
                .iter()
                .find(|e| e.name() == name)
                .map(|e| e.provider.clone())
                .ok_or_else(|| {
                    let known: Vec<&str> = entries.iter().map(Entry::name).collect();
                    ApiError::invalid_field(
                        "provider",
                        format!(
                            "no payment provider is named {name:?}; configured: {}",
                            list(&known)
                        ),
                    )
                });
        }
        let chosen = entries
            .iter()
            .find(|e| e.default)
            .or(match entries.as_slice() {
                [only] => Some(only),
                _ => None,
            });
        match chosen {
            Some(e) => Ok(e.provider.clone()),
            None if entries.is_empty() => Err(no_provider()),
            None => Err(ApiError::invalid_field(
                "provider",
                "several payment providers are configured and none is `default`: name one",
            )),
        }
    }

    /// The provider an object belongs to: it must still be configured.
    pub(super) async fn provider_of(
        &self,
        name: &str,
    ) -> Result<Arc<dyn PaymentProvider>, ApiError> {
        self.entries()
            .await
            .into_iter()
            .find(|e| e.name() == name)
            .map(|e| e.provider)
            .ok_or_else(|| {
                ApiError::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    format!("the payment provider {name:?} this object belongs to is no longer configured"),
                )
                .retry_after(60)
            })
    }

    /// The provider whose mirror an event of `kind` arriving at `source_id` feeds: the
    /// one that names the source, else the only provider of the kind.
    pub(super) fn provider_for_event(
        entries: &[Entry],
        source_id: Option<&str>,
        kind: PaymentKind,
    ) -> Option<String> {
        if let Some(source) = source_id
            && let Some(e) = entries
                .iter()
                .find(|e| e.sources.iter().any(|s| s == source))
        {
            return Some(e.name().to_string());
        }
        let mut of_kind = entries.iter().filter(|e| e.provider.kind() == kind);
        match (of_kind.next(), of_kind.next()) {
            (Some(only), None) => Some(only.name().to_string()),
            _ => None,
        }
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn no_provider() -> ApiError {
    ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        "no payment provider is configured: add [[payments.providers]] or PUT /v1/providers/payments/{name}",
    )
    .retry_after(60)
}

/// The payment providers configured through the API could not be read.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Store(#[from] switchyard_store::StoreError),
    #[error(transparent)]
    Vault(#[from] switchyard_store::vault::SecretError),
}

/// The payment providers, as the provider registry sees them.
#[derive(Debug)]
pub(super) struct Registered(pub(super) Payments);

#[async_trait]
impl Registrant for Registered {
    fn capability(&self) -> Capability {
        Capability::Payments
    }

    fn is_configured(&self, name: &str) -> bool {
        self.0
            .inner
            .providers
            .configured
            .iter()
            .any(|e| e.name() == name)
    }

    fn check(&self, settings: &serde_json::Value) -> Result<(&'static str, i64), SettingsError> {
        let config: PaymentProviderConfig = serde_json::from_value(settings.clone())?;
        config.build(&self.0.inner.http)?;
        Ok((config.kind().as_str(), 0))
    }

    fn changed(&self) {
        self.0.inner.providers.invalidate();
    }

    async fn in_use(&self) -> Vec<ProviderInfo> {
        self.0
            .entries()
            .await
            .iter()
            .map(|e| ProviderInfo {
                capability: Capability::Payments,
                channel: None,
                name: e.name().to_string(),
                kind: e.provider.kind().as_str(),
                priority: 0,
                origin: e.origin,
                breaker_open: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_the_provider_naming_their_source_or_the_only_one_of_their_kind() {
        let http = switchyard_providers::http_client();
        let entry = |toml_text: &str| {
            let c: PaymentProviderConfig = toml::from_str(toml_text).unwrap();
            let built = c.build_with_env(&http, &|_| None).unwrap();
            Entry::new(&c, built, "config")
        };
        let a = entry(
            "kind = \"stripe\"\nname = \"a\"\nsecret_key = \"sk_test_a\"\nwebhook_secret = \"whsec_a\"",
        );
        let b =
            entry("kind = \"stripe\"\nname = \"b\"\nsecret_key = \"sk_test_b\"\nsource = \"shop\"");
        let p = entry("kind = \"paypal\"\nname = \"p\"\nclient_id = \"id\"\nclient_secret = \"s\"");
        let all = vec![a, b, p];
        let pick = |source: &str, kind| Payments::provider_for_event(&all, Some(source), kind);
        assert_eq!(
            pick(&declared_id("payments-a"), PaymentKind::Stripe).as_deref(),
            Some("a")
        );
        assert_eq!(
            pick(&declared_id("shop"), PaymentKind::Stripe).as_deref(),
            Some("b")
        );
        assert_eq!(
            pick("src_other", PaymentKind::Stripe),
            None,
            "two Stripe providers"
        );
        assert_eq!(pick("src_other", PaymentKind::Paypal).as_deref(), Some("p"));
    }
}
