//! The SMTP provider: sends through a relay with a pool of connections.
//!
//! `url` is `smtp://user:password@host:port` (user and password percent-decoded, both
//! optional). `tls` is `none` (plain text), `starttls` (upgrade required, the default)
//! or `tls` (implicit TLS). The port defaults to 25 for `none`, 587 for `starttls` and
//! 465 for `tls`. `timeout_secs` bounds opening a connection (greeting, TLS and AUTH
//! included) and, separately, each message's transaction. `pool_size` connections at
//! most are open at once; idle ones are reused. `ca_file` adds authorities to trust
//! for the relay's certificate (the public ones are always trusted).
//!
//! Replies map as: 5xx authentication replies (530, 534, 535, 538) → unauthorized,
//! other 5xx → rejected with the server's text, 4xx → transient, connection and
//! timeout errors → transient.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::mime::{self, Bcc};
use super::{Email, EmailProvider};
use crate::config::Ctx;
use crate::{ConfigError, SendError, Sent};

mod pool;

use pool::{Connector, Failure, Pool};

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text. Only for relays on a trusted network (or a local test server).
    None,
    /// Connect in plain text and upgrade with STARTTLS; refuse to send without it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// `kind = "smtp"`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Name in logs and the message log; defaults to `smtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds allowed for connecting and for each SMTP command (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// `smtp://user:password@host:port`; holds the password, so it is never printed.
    #[schema(value_type = String, format = Password, write_only)]
    pub url: Secret<String>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Most connections open to the relay at once (default 16); further messages wait
    /// for a free one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// Sender for messages that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A PEM file of certificate authorities to trust besides the public ones, for a
    /// relay whose certificate a private authority signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

const DEFAULT_POOL_SIZE: u32 = 16;

/// The parts of `url`, decoded.
struct Relay {
    host: String,
    port: u16,
    credentials: Option<(String, Secret<String>)>,
}

impl SmtpConfig {
    pub(crate) fn build(&self, ctx: &Ctx<'_>) -> Result<Smtp, ConfigError> {
        let timeout = ctx.timeout(self.timeout_secs)?;
        let pool_size = self.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if pool_size == 0 {
            return Err(ctx.invalid("pool_size", "must be at least 1"));
        }
        let relay = self.relay(ctx)?;
        let tls = match self.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(self.tls_parameters(ctx, &relay.host)?),
            SmtpTls::Tls => Tls::Wrapper(self.tls_parameters(ctx, &relay.host)?),
        };
        let authenticated = relay.credentials.is_some();
        let connector = Connector {
            host: relay.host.clone(),
            port: relay.port,
            tls,
            credentials: relay
                .credentials
                .map(|(user, password)| Credentials::new(user, password.expose().clone())),
            timeout,
        };
        Ok(Smtp {
            name: ctx.provider.to_string(),
            from: self.from.clone(),
            host: relay.host,
            port: relay.port,
            tls: self.tls,
            pool_size,
            authenticated,
            timeout,
            pool: Pool::new(connector, pool_size),
        })
    }

    /// Errors name what is wrong with the URL, never the URL itself (it holds the
    /// password).
    fn relay(&self, ctx: &Ctx<'_>) -> Result<Relay, ConfigError> {
        let raw = self.url.expose().trim();
        if raw.is_empty() {
            return Err(ctx.missing("url", None));
        }
        let url = reqwest::Url::parse(raw).map_err(|e| ctx.invalid("url", e.to_string()))?;
        match url.scheme() {
            "smtp" => {}
            "smtps" => {
                return Err(ctx.invalid("url", "use smtp://… with tls = \"tls\" for implicit TLS"));
            }
            other => return Err(ctx.invalid("url", format!("scheme {other:?} is not smtp"))),
        }
        if url.query().is_some() || !matches!(url.path(), "" | "/") {
            return Err(ctx.invalid(
                "url",
                "has a path or query; set tls, pool_size and timeout_secs as keys",
            ));
        }
        // IPv6 hosts come bracketed; lettre connects to the bare address.
        let host = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ctx.invalid("url", "has no host"))?
            .to_string();
        let decode = |part: &str, what: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ctx.invalid("url", format!("{what} is not UTF-8 once decoded")))
        };
        let user = decode(url.username(), "the user name")?;
        let password = decode(url.password().unwrap_or(""), "the password")?;
        let credentials = if user.is_empty() && password.is_empty() {
            None
        } else {
            Some((user, Secret::new(password)))
        };
        Ok(Relay {
            host,
            port: url.port().unwrap_or(self.tls.default_port()),
            credentials,
        })
    }

    fn tls_parameters(&self, ctx: &Ctx<'_>, host: &str) -> Result<TlsParameters, ConfigError> {
        let mut builder = TlsParameters::builder(host.to_string());
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ctx.invalid("ca_file", format!("cannot read {path}: {e}")))?;
            let unusable = |detail: String| {
                ctx.invalid(
                    "ca_file",
                    format!("{path} holds no usable PEM certificate{detail}"),
                )
            };
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(unusable(String::new()));
            }
            let ca = Certificate::from_pem(&pem).map_err(|e| unusable(format!(": {e}")))?;
            builder = builder.add_root_certificate(ca);
        }
        builder
            .build()
            .map_err(|e| ctx.invalid("tls", format!("cannot set up TLS for the host: {e}")))
    }
}

pub(crate) struct Smtp {
    name: String,
    from: Option<String>,
    host: String,
    port: u16,
    tls: SmtpTls,
    pool_size: u32,
    authenticated: bool,
    timeout: Duration,
    pool: Pool,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .field("authenticated", &self.authenticated)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EmailProvider for Smtp {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn default_from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The provider id is the `Message-ID` header, `<message_id@from-domain>`.
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let built = mime::build(email, Bcc::Drop)?;
        let started = Instant::now();
        let result = self
            .pool
            .send(built.message.envelope(), &built.message.formatted())
            .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(reply) => {
                tracing::debug!(
                    provider = %self.name,
                    host = %self.host,
                    port = self.port,
                    code = %reply.code(),
                    duration_ms,
                    "smtp send"
                );
                Ok(Sent {
                    provider_message_id: Some(built.message_id),
                })
            }
            Err(failure) => {
                let error = match failure {
                    Failure::TimedOut => {
                        SendError::Transient(format!("timed out after {}s", self.timeout.as_secs()))
                    }
                    Failure::Smtp(e) => map_error(&e, self.timeout),
                    Failure::Connect(e) => SendError::Transient(format!(
                        "cannot connect to {}:{}: {e}",
                        self.host, self.port
                    )),
                };
                tracing::debug!(
                    provider = %self.name,
                    host = %self.host,
                    port = self.port,
                    duration_ms,
                    error = %error,
                    "smtp send failed"
                );
                Err(error)
            }
        }
    }
}

fn map_error(e: &lettre::transport::smtp::Error, timeout: Duration) -> SendError {
    use std::error::Error as _;
    if e.is_timeout() {
        return SendError::Transient(format!("timed out after {}s", timeout.as_secs()));
    }
    let detail = e.source().map(ToString::to_string);
    if let Some(code) = e.status() {
        let number = u16::from(code);
        let text = match detail {
            Some(d) => format!("{number} {d}"),
            None => number.to_string(),
        };
        return if e.is_permanent() {
            if matches!(number, 530 | 534 | 535 | 538) {
                SendError::Unauthorized(text)
            } else {
                SendError::Rejected(text)
            }
        } else {
            SendError::Transient(text)
        };
    }
    let text = e.to_string();
    if e.is_client() {
        // lettre's own refusals: content the server cannot take (non-ASCII without
        // 8BITMIME/SMTPUTF8) or a relay that cannot be used as configured (no STARTTLS,
        // no common AUTH mechanism).
        if text.contains("non-ascii") {
            SendError::NotSupported(text)
        } else {
            SendError::Unauthorized(text)
        }
    } else {
        SendError::Transient(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            name: None,
            priority: 0,
            timeout_secs: None,
            url: Secret::new(url.to_string()),
            tls,
            pool_size: None,
            from: None,
            ca_file: None,
        }
    }

    fn ctx(env: crate::Env<'_>) -> Ctx<'_> {
        Ctx {
            channel: "email",
            provider: "smtp",
            env,
        }
    }

    #[test]
    fn credentials_are_percent_decoded_and_ports_follow_tls() {
        let env = |_: &str| None;
        let relay = config(
            "smtp://me%40acme.test:p%40ss%2Fw%3Ard@mail.acme.test",
            SmtpTls::None,
        )
        .relay(&ctx(&env))
        .expect("relay");
        assert_eq!(relay.host, "mail.acme.test");
        assert_eq!(relay.port, 25);
        let (user, password) = relay.credentials.expect("credentials");
        assert_eq!(user, "me@acme.test");
        assert_eq!(password.expose(), "p@ss/w:rd");

        let port = |tls| {
            config("smtp://h", tls)
                .relay(&ctx(&env))
                .expect("relay")
                .port
        };
        assert_eq!(port(SmtpTls::Starttls), 587);
        assert_eq!(port(SmtpTls::Tls), 465);
        let relay = config("smtp://[::1]:2525", SmtpTls::None)
            .relay(&ctx(&env))
            .expect("relay");
        assert_eq!((relay.host.as_str(), relay.port), ("::1", 2525));
        assert!(relay.credentials.is_none());
    }

    #[test]
    fn bad_urls_are_named_without_the_password() {
        let env = |_: &str| None;
        for (url, expected) in [
            ("smtps://u:hunter2@h", "tls = \"tls\""),
            ("http://u:hunter2@h", "is not smtp"),
            ("smtp://u:hunter2@h:99999", "invalid port"),
            ("smtp://u:hunter2@h/x?tls=1", "path or query"),
            ("", "url is not set"),
        ] {
            let e = config(url, SmtpTls::None)
                .build(&ctx(&env))
                .expect_err(url)
                .to_string();
            assert!(e.contains(expected), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn the_built_provider_never_prints_the_password() {
        let env = |_: &str| None;
        let smtp = config("smtp://user:hunter2@127.0.0.1:2525", SmtpTls::Starttls)
            .build(&ctx(&env))
            .expect("built");
        let debug = format!("{smtp:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("authenticated: true"), "{debug}");
    }
}
