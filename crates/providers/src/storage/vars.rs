//! A store's settings: the configured value, else an environment variable — the kind's
//! usual one, or `{env_prefix}{SUFFIX}` when the store has an `env_prefix`.

use crate::ConfigError;
use crate::config::Ctx;

/// One setting: its key, its variable's suffix under an `env_prefix`, and the kind's
/// usual variables, read in order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    pub key: &'static str,
    pub suffix: &'static str,
    pub usual: &'static [&'static str],
}

impl Setting {
    pub const fn new(
        key: &'static str,
        suffix: &'static str,
        usual: &'static [&'static str],
    ) -> Setting {
        Setting { key, suffix, usual }
    }
}

/// A setting's value and the variable it came from (`None`: from the configuration).
#[derive(Debug)]
pub(super) struct Found {
    pub text: String,
    pub var: Option<String>,
}

impl Found {
    /// `key` is invalid for `reason`, naming the variable the value came from.
    pub fn invalid(&self, ctx: &Ctx<'_>, key: &'static str, reason: &str) -> ConfigError {
        match &self.var {
            Some(var) => ctx.invalid(key, format!("{reason} (read from {var})")),
            None => ctx.invalid(key, reason),
        }
    }
}

/// Reads the settings of one store.
pub(super) struct Vars<'a> {
    pub ctx: &'a Ctx<'a>,
    pub prefix: Option<&'a str>,
}

impl Vars<'_> {
    /// The configured value if non-empty, else the first non-empty variable.
    pub fn get(&self, value: Option<&str>, setting: &Setting) -> Option<Found> {
        if let Some(text) = value.filter(|v| !v.is_empty()) {
            return Some(Found {
                text: text.to_string(),
                var: None,
            });
        }
        let read = |var: String| {
            (self.ctx.env)(&var)
                .filter(|v| !v.is_empty())
                .map(|text| Found {
                    text,
                    var: Some(var),
                })
        };
        match self.prefix {
            Some(prefix) => read(format!("{prefix}{}", setting.suffix)),
            None => setting.usual.iter().find_map(|var| read(var.to_string())),
        }
    }

    /// [`Vars::get`], refusing a setting neither configured nor in the environment.
    pub fn required(&self, value: Option<&str>, setting: &Setting) -> Result<Found, ConfigError> {
        self.get(value, setting)
            .ok_or_else(|| self.missing(setting))
    }

    /// `setting` is not set, naming the variable that would supply it.
    pub fn missing(&self, setting: &Setting) -> ConfigError {
        match self.prefix {
            Some(prefix) => self
                .ctx
                .missing_var(setting.key, format!("{prefix}{}", setting.suffix)),
            None => self
                .ctx
                .missing(setting.key, setting.usual.first().copied()),
        }
    }
}
