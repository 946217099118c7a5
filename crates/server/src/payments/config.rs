//! `[payments]`: the payment providers and how the mirror is kept true.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::payments::PaymentProviderConfig;

use crate::config::HumanDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// `[[payments.providers]]`: `name`, `kind` (`stripe` or `paypal`), `default = true`
    /// on the one calls use when they name none (a lone provider is the default), and
    /// the kind's settings.
    pub providers: Vec<PaymentProviderConfig>,
    /// Run the sweeper and PayPal captures from this process (with `queue.enabled`).
    pub enabled: bool,
    /// How often the sweeper looks for objects whose time to be looked at has come.
    pub sweep_interval: HumanDuration,
    /// How long an object whose creation got no answer waits before the hub asks the
    /// provider again (with the same idempotency key).
    pub retry_creating_after: HumanDuration,
    /// How long an open or pending checkout waits for its webhook before the hub
    /// re-reads it from the provider; repeated at this interval until it is final.
    pub recheck_after: HumanDuration,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            enabled: true,
            sweep_interval: HumanDuration(Duration::from_secs(5)),
            retry_creating_after: HumanDuration(Duration::from_secs(30)),
            recheck_after: HumanDuration(Duration::from_secs(600)),
        }
    }
}

impl PaymentsConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            if !crate::http::validate::is_name(p.name(), 64) {
                return Some((
                    format!("payments.providers[{i}].name"),
                    "1 to 64 letters, digits, _ - or .".into(),
                ));
            }
            if !names.insert(p.name()) {
                return Some((
                    format!("payments.providers[{i}].name"),
                    format!(
                        "{:?} names two providers; give each a distinct name",
                        p.name()
                    ),
                ));
            }
        }
        if self.providers.iter().filter(|p| p.is_default()).count() > 1 {
            return Some((
                "payments.providers".into(),
                "at most one provider may be `default = true`".into(),
            ));
        }
        for (key, d) in [
            ("payments.sweep_interval", self.sweep_interval.0),
            ("payments.retry_creating_after", self.retry_creating_after.0),
            ("payments.recheck_after", self.recheck_after.0),
        ] {
            if d.is_zero() {
                return Some((key.into(), "a duration above zero, e.g. 30s".into()));
            }
        }
        None
    }
}
