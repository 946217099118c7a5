//! The providers in use: those of the configuration file, built at start, and those
//! configured through the API, whose settings are sealed in the vault and read again
//! every few seconds (at once after a change on this node); a channel with neither
//! uses the console.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_core::message::Channel;
use switchyard_providers::email::{EmailProvider, EmailProviderConfig};
use switchyard_providers::sms::{SmsProvider, SmsProviderConfig};
use switchyard_providers::{SendError, Sent};

use super::breaker::Breaker;
use super::content::Payload;
use super::{MessagesConfig, Messaging};

/// One configured provider of either channel.
#[derive(Debug, Clone)]
pub(crate) enum Provider {
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

    pub(crate) fn kind(&self) -> &'static str {
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
    /// `config` (the configuration file) or `api`.
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

/// How long a node uses the providers configured through the API before reading them
/// again (changes made on this node apply at once).
const PROVIDER_TTL: Duration = Duration::from_secs(5);

/// Public view of a configured provider, for listings.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    pub channel: &'static str,
    pub name: String,
    pub kind: &'static str,
    /// Lower is tried first.
    pub priority: i64,
    /// `config` (the configuration file), `api` (`PUT /v1/providers/…`) or `default`.
    pub origin: &'static str,
    /// Whether its circuit breaker is open (the provider is being skipped).
    pub breaker_open: bool,
}

/// The vault record holding the settings of a provider configured through the API.
pub fn provider_secret_id(channel: Channel, name: &str) -> String {
    format!("provider:{}:{name}", channel.as_str())
}

pub(super) fn route(
    provider: Provider,
    priority: i64,
    origin: &'static str,
    m: &MessagesConfig,
) -> Route {
    Route {
        kind: provider.kind(),
        provider,
        breaker: Arc::new(Breaker::new(m.breaker_failures, m.breaker_cooldown.0)),
        origin,
        priority,
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a provider from its settings (`kind` plus the kind's fields) as given in the
/// configuration file or through the API.
pub(crate) fn build_provider(
    channel: Channel,
    settings: &serde_json::Value,
    http: &reqwest::Client,
) -> Result<(Provider, i64), String> {
    match channel {
        Channel::Email => {
            let c: EmailProviderConfig =
                serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
            let p = c.build(http).map_err(|e| e.to_string())?;
            Ok((Provider::Email(p), c.priority()))
        }
        Channel::Sms => {
            let c: SmsProviderConfig =
                serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
            let p = c.build(http).map_err(|e| e.to_string())?;
            Ok((Provider::Sms(p), c.priority()))
        }
    }
}

impl Messaging {
    /// Whether the configuration file defines a provider of this name on the channel.
    pub fn is_configured(&self, channel: Channel, name: &str) -> bool {
        let routes = match channel {
            Channel::Email => &self.inner.configured.email,
            Channel::Sms => &self.inner.configured.sms,
        };
        routes.iter().any(|r| r.provider.name() == name)
    }

    /// Makes the next use read the API providers again (after a change on this node).
    pub fn invalidate(&self) {
        *lock(&self.inner.refreshed) = None;
    }

    /// Puts the configured and the API providers together, by priority (configured
    /// first on a tie); a channel with none gets the console.
    pub(super) fn combine(&self, api: Vec<(Channel, Route)>) {
        let inner = &self.inner;
        let mut routes = Routes {
            email: inner.configured.email.clone(),
            sms: inner.configured.sms.clone(),
        };
        for (channel, r) in api {
            match channel {
                Channel::Email => routes.email.push(r),
                Channel::Sms => routes.sms.push(r),
            }
        }
        for (list, fallback) in [
            (&mut routes.email, &inner.fallback.email),
            (&mut routes.sms, &inner.fallback.sms),
        ] {
            list.sort_by_key(|r| r.priority);
            if list.is_empty() {
                list.extend(fallback.iter().cloned());
            }
        }
        *inner.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }

    /// The providers in use, reading the API providers again when they are older than
    /// [`PROVIDER_TTL`].
    pub(super) async fn routes(&self) -> Arc<Routes> {
        let inner = &self.inner;
        let fresh = |at: Option<Instant>| at.is_some_and(|t| t.elapsed() < PROVIDER_TTL);
        if !fresh(*lock(&inner.refreshed)) {
            let _one = inner.reloading.lock().await;
            if !fresh(*lock(&inner.refreshed)) {
                match self.load_api_providers().await {
                    Ok(api) => self.combine(api),
                    Err(e) => {
                        tracing::error!(error = %e, "reading the providers configured through the API failed")
                    }
                }
                match self.status_callbacks().await {
                    Ok(map) => *inner.callbacks.write().unwrap_or_else(|e| e.into_inner()) = map,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the sources for status callbacks failed")
                    }
                }
                *lock(&inner.refreshed) = Some(Instant::now());
            }
        }
        inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where Twilio and Telnyx should report status when `sms.status_callback` is not
    /// set: the intake URL of the oldest enabled source of their kind, by kind. Needs a
    /// public URL (`public_url`, or the source's own), as providers cannot reach a
    /// local address.
    async fn status_callbacks(&self) -> Result<HashMap<String, String>, String> {
        let inner = &self.inner;
        let page = switchyard_store::Page {
            limit: 1000,
            cursor: None,
        };
        let sources = inner
            .store
            .list_sources(&page)
            .await
            .map_err(|e| e.to_string())?;
        let mut callbacks = HashMap::new();
        // Listed newest first.
        for source in sources.iter().rev() {
            if !source.enabled || !matches!(source.kind.as_str(), "twilio" | "telnyx") {
                continue;
            }
            let own = serde_json::from_str::<serde_json::Value>(&source.settings)
                .ok()
                .and_then(|v| v.get("public_url")?.as_str().map(str::to_string));
            let url = own.or_else(|| {
                let base = inner.public_url.as_deref()?;
                Some(format!("{}/in/{}", base.trim_end_matches('/'), source.id))
            });
            if let Some(url) = url {
                callbacks.entry(source.kind.clone()).or_insert(url);
            }
        }
        Ok(callbacks)
    }

    async fn load_api_providers(&self) -> Result<Vec<(Channel, Route)>, String> {
        let inner = &self.inner;
        let records = inner
            .store
            .list_providers()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut keep = HashMap::new();
        for r in records {
            let key = provider_secret_id(r.channel, &r.name);
            let cached = lock(&inner.built).get(&key).cloned();
            let route = match cached {
                Some((version, route)) if version == r.updated_at => route,
                _ => {
                    let Some(sealed) = inner.vault.get(&key).await.map_err(|e| e.to_string())?
                    else {
                        tracing::warn!(provider = %r.name, "provider settings missing from the vault; skipped");
                        continue;
                    };
                    let settings: serde_json::Value = match serde_json::from_slice(sealed.expose())
                    {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(provider = %r.name, error = %e, "stored provider settings unreadable; skipped");
                            continue;
                        }
                    };
                    match build_provider(r.channel, &settings, &inner.http) {
                        Ok((provider, priority)) => route(provider, priority, "api", &inner.config),
                        Err(e) => {
                            tracing::error!(provider = %r.name, error = %e, "stored provider cannot be built; skipped");
                            continue;
                        }
                    }
                }
            };
            keep.insert(key, (r.updated_at, route.clone()));
            out.push((r.channel, route));
        }
        *lock(&inner.built) = keep;
        Ok(out)
    }

    /// The sender of an email that names none: `email.from`, else the first
    /// provider's `from`.
    pub async fn default_email_from(&self) -> Option<String> {
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

    /// The configured and API providers of both channels, in the order they are tried.
    pub async fn providers(&self) -> Vec<ProviderInfo> {
        let routes = self.routes().await;
        let list = |channel: &'static str, routes: &[Route]| {
            routes
                .iter()
                .map(|r| ProviderInfo {
                    channel,
                    name: r.provider.name().to_string(),
                    kind: r.kind,
                    priority: r.priority,
                    origin: r.origin,
                    breaker_open: r.breaker.is_open(),
                })
                .collect::<Vec<_>>()
        };
        let mut all = list("email", &routes.email);
        all.extend(list("sms", &routes.sms));
        all
    }
}
