//! The providers in use: those of the configuration file, built at start, and those
//! configured through the provider registry, whose settings are sealed in the vault and
//! read again every few seconds (at once after a change on this node); a channel with
//! neither uses the console.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchyard_core::message::Channel as MessageChannel;
use switchyard_core::provider::Capability;
use switchyard_core::source::SourceKind;
use switchyard_providers::email::{EmailProvider, EmailProviderConfig};
use switchyard_providers::sms::{SmsProvider, SmsProviderConfig};
use switchyard_providers::{SendError, Sent};
use switchyard_store::vault::ids;

use super::breaker::Breaker;
use super::content::Payload;
use super::{EmailConfig, MessagesConfig, Messaging, MessagingError, SmsConfig};
use crate::providers::{ProviderInfo, Registrant, SettingsError};

/// One configured provider of either channel.
#[derive(Debug, Clone)]
pub(super) enum Provider {
    Email(Arc<dyn EmailProvider>),
    Sms(Arc<dyn SmsProvider>),
}

impl Provider {
    pub(super) fn name(&self) -> &str {
        match self {
            Provider::Email(p) => p.name(),
            Provider::Sms(p) => p.name(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Provider::Email(p) => p.kind(),
            Provider::Sms(p) => p.kind(),
        }
    }

    pub(super) async fn send(&self, payload: &Payload) -> Result<Sent, SendError> {
        match (self, payload) {
            (Provider::Email(p), Payload::Email(e)) => p.send(e).await,
            (Provider::Sms(p), Payload::Sms(s)) => p.send(s).await,
            _ => Err(SendError::NotSupported("wrong channel".into())),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) provider: Provider,
    pub(super) breaker: Arc<Breaker>,
    /// `config` (the configuration file), `api` or `default`.
    pub(super) origin: &'static str,
    pub(super) kind: &'static str,
    pub(super) priority: i64,
}

/// The providers of both channels, in the order they are tried.
#[derive(Debug, Default)]
pub(super) struct Routes {
    pub(super) email: Vec<Route>,
    pub(super) sms: Vec<Route>,
}

impl Routes {
    pub(super) fn of(&self, channel: MessageChannel) -> &[Route] {
        match channel {
            MessageChannel::Email => &self.email,
            MessageChannel::Sms => &self.sms,
        }
    }

    fn of_mut(&mut self, channel: MessageChannel) -> &mut Vec<Route> {
        match channel {
            MessageChannel::Email => &mut self.email,
            MessageChannel::Sms => &mut self.sms,
        }
    }
}

/// How long a node uses the providers configured through the API before reading them
/// again (changes made on this node apply at once).
const PROVIDER_TTL: Duration = Duration::from_secs(5);

fn route(provider: Provider, priority: i64, origin: &'static str, m: &MessagesConfig) -> Route {
    Route {
        kind: provider.kind(),
        provider,
        breaker: Arc::new(Breaker::new(m.breaker_failures, m.breaker_cooldown.0)),
        origin,
        priority,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The messaging channel a capability is, if it is one.
fn channel_of(capability: Capability) -> Option<MessageChannel> {
    match capability {
        Capability::Email => Some(MessageChannel::Email),
        Capability::Sms => Some(MessageChannel::Sms),
        Capability::Payments | Capability::Storage => None,
    }
}

/// The providers of the configuration file, and the console providers a channel with
/// none uses.
pub(super) fn from_config(
    email: &EmailConfig,
    sms: &SmsConfig,
    m: &MessagesConfig,
    http: &reqwest::Client,
) -> Result<(Routes, Routes), MessagingError> {
    let mut configured = Routes::default();
    for (i, c) in email.providers.iter().enumerate() {
        let p = c.build(http).map_err(|error| MessagingError::Provider {
            key: format!("email.providers[{i}]"),
            error,
        })?;
        configured
            .email
            .push(route(Provider::Email(p), c.priority(), "config", m));
    }
    for (i, c) in sms.providers.iter().enumerate() {
        let p = c.build(http).map_err(|error| MessagingError::Provider {
            key: format!("sms.providers[{i}]"),
            error,
        })?;
        configured
            .sms
            .push(route(Provider::Sms(p), c.priority(), "config", m));
    }
    for (channel, routes) in [("email", &configured.email), ("sms", &configured.sms)] {
        let mut names = std::collections::HashSet::new();
        if let Some(dup) = routes.iter().find(|r| !names.insert(r.provider.name())) {
            return Err(MessagingError::DuplicateName(
                channel,
                dup.provider.name().to_string(),
            ));
        }
    }
    let console = |channel| {
        build_provider(channel, &serde_json::json!({"kind": "console"}), http)
            .map(|(p, _)| route(p, 0, "default", m))
            .expect("the console provider builds")
    };
    let fallback = Routes {
        email: vec![console(MessageChannel::Email)],
        sms: vec![console(MessageChannel::Sms)],
    };
    Ok((configured, fallback))
}

/// Builds a provider from its settings (`kind` plus the kind's fields) as given in the
/// configuration file or through the API.
fn build_provider(
    channel: MessageChannel,
    settings: &serde_json::Value,
    http: &reqwest::Client,
) -> Result<(Provider, i64), SettingsError> {
    Ok(match channel {
        MessageChannel::Email => {
            let c: EmailProviderConfig = serde_json::from_value(settings.clone())?;
            (Provider::Email(c.build(http)?), c.priority())
        }
        MessageChannel::Sms => {
            let c: SmsProviderConfig = serde_json::from_value(settings.clone())?;
            (Provider::Sms(c.build(http)?), c.priority())
        }
    })
}

impl Messaging {
    /// Makes the next use read the API providers again (after a change on this node).
    fn invalidate(&self) {
        *lock(&self.inner.refreshed) = None;
    }

    /// Puts the configured and the API providers together, by priority (configured
    /// first on a tie); a channel with none gets the console.
    pub(super) fn combine(&self, api: Vec<(MessageChannel, Route)>) {
        let inner = &self.inner;
        let mut routes = Routes {
            email: inner.configured.email.clone(),
            sms: inner.configured.sms.clone(),
        };
        for (channel, r) in api {
            routes.of_mut(channel).push(r);
        }
        for channel in MessageChannel::ALL {
            let list = routes.of_mut(*channel);
            list.sort_by_key(|r| r.priority);
            if list.is_empty() {
                list.extend(inner.fallback.of(*channel).iter().cloned());
            }
        }
        *inner.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }

    /// The providers in use, reading the API providers (and the status callbacks) again
    /// when they are older than [`PROVIDER_TTL`] or sources changed on this node.
    pub(super) async fn routes(&self) -> Arc<Routes> {
        let inner = &self.inner;
        let fresh = |at: Option<Instant>| {
            at.is_some_and(|t| t.elapsed() < PROVIDER_TTL)
                && inner.sources.version() == inner.sources_seen.load(Ordering::Relaxed)
        };
        if !fresh(*lock(&inner.refreshed)) {
            let _one = inner.reloading.lock().await;
            if !fresh(*lock(&inner.refreshed)) {
                let version = inner.sources.version();
                match self.load_api_providers().await {
                    Ok(api) => self.combine(api),
                    Err(e) => {
                        tracing::error!(error = %e, "reading the providers configured through the API failed")
                    }
                }
                match inner
                    .sources
                    .intake_urls(&[SourceKind::Twilio, SourceKind::Telnyx])
                    .await
                {
                    Ok(map) => *inner.callbacks.write().unwrap_or_else(|e| e.into_inner()) = map,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the sources for status callbacks failed")
                    }
                }
                inner.sources_seen.store(version, Ordering::Relaxed);
                *lock(&inner.refreshed) = Some(Instant::now());
            }
        }
        inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where a provider of `kind` (`twilio`, `telnyx`) reports status: `sms.status_callback`,
    /// or the intake URL of the oldest enabled source of its kind.
    pub(super) fn status_callback(&self, kind: &str) -> Option<String> {
        let inner = &self.inner;
        inner.status_callback.clone().or_else(|| {
            let kind = SourceKind::parse(kind)?;
            let callbacks = inner.callbacks.read().unwrap_or_else(|e| e.into_inner());
            callbacks.get(&kind).cloned()
        })
    }

    async fn load_api_providers(&self) -> Result<Vec<(MessageChannel, Route)>, LoadError> {
        let inner = &self.inner;
        let records = inner.store.list_providers().await?;
        let mut out = Vec::new();
        let mut keep = HashMap::new();
        for r in records {
            let Some(channel) = channel_of(r.capability) else {
                continue;
            };
            let key = ids::provider_settings(r.capability.as_str(), &r.name);
            let cached = lock(&inner.built).get(&key).cloned();
            let route = match cached {
                Some((version, route)) if version == r.updated_at => route,
                _ => {
                    let Some(sealed) = inner.vault.get(&key).await? else {
                        tracing::warn!(provider = %r.name, "provider settings missing from the vault; skipped");
                        continue;
                    };
                    let built = serde_json::from_slice(sealed.expose())
                        .map_err(SettingsError::from)
                        .and_then(|settings| build_provider(channel, &settings, &inner.http));
                    match built {
                        Ok((provider, priority)) => route(provider, priority, "api", &inner.config),
                        Err(e) => {
                            tracing::error!(provider = %r.name, error = %e, "stored provider cannot be built; skipped");
                            continue;
                        }
                    }
                }
            };
            keep.insert(key, (r.updated_at, route.clone()));
            out.push((channel, route));
        }
        *lock(&inner.built) = keep;
        Ok(out)
    }

    /// The sender of an email that names none: `email.from`, else the first
    /// provider's `from`.
    pub(super) async fn default_email_from(&self) -> Option<String> {
        if let Some(from) = &self.inner.email_from {
            return Some(from.clone());
        }
        self.routes()
            .await
            .email
            .iter()
            .find_map(|r| match &r.provider {
                Provider::Email(p) => p.default_from().map(str::to_string),
                Provider::Sms(_) => None,
            })
    }

    /// The sender of an SMS that names none.
    pub(super) fn default_sms_from(&self) -> Option<String> {
        self.inner.sms_from.clone()
    }
}

/// The providers configured through the API could not be read.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Store(#[from] switchyard_store::StoreError),
    #[error(transparent)]
    Vault(#[from] switchyard_store::vault::SecretError),
}

/// One messaging channel's providers, as the provider registry sees them.
#[derive(Debug)]
pub(super) struct Channel(pub(super) Messaging, pub(super) MessageChannel);

impl Channel {
    fn capability_of(channel: MessageChannel) -> Capability {
        match channel {
            MessageChannel::Email => Capability::Email,
            MessageChannel::Sms => Capability::Sms,
        }
    }
}

#[async_trait]
impl Registrant for Channel {
    fn capability(&self) -> Capability {
        Channel::capability_of(self.1)
    }

    fn is_configured(&self, name: &str) -> bool {
        let channel = self.1;
        self.0
            .inner
            .configured
            .of(channel)
            .iter()
            .any(|r| r.provider.name() == name)
    }

    fn check(&self, settings: &serde_json::Value) -> Result<(&'static str, i64), SettingsError> {
        let (provider, priority) = build_provider(self.1, settings, &self.0.inner.http)?;
        Ok((provider.kind(), priority))
    }

    fn changed(&self) {
        self.0.invalidate();
    }

    async fn in_use(&self) -> Vec<ProviderInfo> {
        let channel = self.1;
        let routes = self.0.routes().await;
        routes
            .of(channel)
            .iter()
            .map(|r| ProviderInfo {
                capability: self.capability(),
                channel: Some(channel),
                name: r.provider.name().to_string(),
                kind: r.kind,
                priority: r.priority,
                origin: r.origin,
                breaker_open: r.breaker.is_open(),
            })
            .collect()
    }
}
