//! What every provider configuration shares: environment defaults, the provider's name
//! in errors, base URLs and timeouts.

use std::time::Duration;

use switchyard_core::Secret;

use crate::ConfigError;

/// Looks up an environment variable. `build` passes the process environment; tests pass
/// a map so they never mutate the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`Env`].
pub(crate) fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Seconds a network send may take when `timeout_secs` is not set.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 15;

/// The provider being built, for reading its settings and naming it in errors.
pub(crate) struct Ctx<'a> {
    pub channel: &'static str,
    pub provider: &'a str,
    pub env: Env<'a>,
}

impl Ctx<'_> {
    pub fn missing(&self, key: &'static str, env: Option<&'static str>) -> ConfigError {
        ConfigError::Missing {
            channel: self.channel,
            provider: self.provider.to_string(),
            key,
            env,
        }
    }

    pub fn invalid(&self, key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            channel: self.channel,
            provider: self.provider.to_string(),
            key,
            reason: reason.into(),
        }
    }

    /// Like [`Ctx::missing`], for a variable whose name is built from the configuration.
    pub fn missing_var(&self, key: &'static str, var: String) -> ConfigError {
        ConfigError::MissingVar {
            channel: self.channel,
            provider: self.provider.to_string(),
            key,
            env: var,
        }
    }

    /// The configured value, else the non-empty environment variable `var`.
    pub fn or_env(&self, value: Option<&str>, var: &str) -> Option<String> {
        match value {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => (self.env)(var).filter(|v| !v.is_empty()),
        }
    }

    /// A setting that must come from the configuration or from `var`.
    pub fn required(
        &self,
        value: Option<&str>,
        key: &'static str,
        var: &'static str,
    ) -> Result<String, ConfigError> {
        self.or_env(value, var)
            .ok_or_else(|| self.missing(key, Some(var)))
    }

    /// A secret that must come from the configuration or from `var`.
    pub fn required_secret(
        &self,
        value: Option<&Secret<String>>,
        key: &'static str,
        var: &'static str,
    ) -> Result<Secret<String>, ConfigError> {
        self.required(value.map(|s| s.expose().as_str()), key, var)
            .map(Secret::new)
    }

    /// The configured base URL (without a trailing `/`), else `default`.
    pub fn base_url(&self, value: Option<&str>, default: &str) -> Result<String, ConfigError> {
        let url = value.unwrap_or(default).trim_end_matches('/');
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url.to_string()),
            Ok(parsed) => Err(self.invalid(
                "base_url",
                format!("scheme {:?} is not http or https", parsed.scheme()),
            )),
            Err(e) => Err(self.invalid("base_url", e.to_string())),
        }
    }

    /// The HTTP API of a provider authenticated by a bearer API key: `key` is the
    /// configured key and the environment variable that supplies it otherwise, `base`
    /// the configured base URL and its default.
    pub fn bearer_api(
        &self,
        http: &reqwest::Client,
        key: (Option<&Secret<String>>, &'static str),
        base: (Option<&str>, &str),
        timeout_secs: Option<u64>,
        error_detail: crate::http::ErrorDetail,
    ) -> Result<crate::http::HttpApi, ConfigError> {
        let api_key = self.required_secret(key.0, "api_key", key.1)?;
        Ok(crate::http::HttpApi::new(
            http,
            self.provider,
            self.base_url(base.0, base.1)?,
            crate::http::Auth::Bearer(api_key),
            self.timeout(timeout_secs)?,
            error_detail,
        ))
    }

    /// `timeout_secs`, defaulting to [`DEFAULT_TIMEOUT_SECS`]; zero is refused.
    pub fn timeout(&self, secs: Option<u64>) -> Result<Duration, ConfigError> {
        match secs.unwrap_or(DEFAULT_TIMEOUT_SECS) {
            0 => Err(self.invalid("timeout_secs", "must be at least 1")),
            n => Ok(Duration::from_secs(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(env: Env<'_>) -> Ctx<'_> {
        Ctx {
            channel: "sms",
            provider: "twilio",
            env,
        }
    }

    #[test]
    fn configured_values_win_over_the_environment_and_empty_means_unset() {
        let env = |k: &str| (k == "VAR").then(|| "from-env".to_string());
        let c = ctx(&env);
        assert_eq!(c.or_env(Some("given"), "VAR").as_deref(), Some("given"));
        assert_eq!(c.or_env(Some(""), "VAR").as_deref(), Some("from-env"));
        assert_eq!(c.or_env(None, "OTHER"), None);
        let empty = |_: &str| Some(String::new());
        assert_eq!(ctx(&empty).or_env(None, "VAR"), None);
    }

    #[test]
    fn base_urls_must_be_http() {
        let env = |_: &str| None;
        let c = ctx(&env);
        assert_eq!(
            c.base_url(Some("http://127.0.0.1:9/"), "https://x")
                .as_deref(),
            Ok("http://127.0.0.1:9")
        );
        assert_eq!(
            c.base_url(None, "https://api.twilio.com").as_deref(),
            Ok("https://api.twilio.com")
        );
        let e = c.base_url(Some("ftp://host"), "https://x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sms provider \"twilio\": base_url is invalid: scheme \"ftp\" is not http or https"
        );
        assert!(c.base_url(Some("not a url"), "https://x").is_err());
        assert!(c.timeout(Some(0)).is_err());
        assert_eq!(c.timeout(None), Ok(Duration::from_secs(15)));
    }
}
