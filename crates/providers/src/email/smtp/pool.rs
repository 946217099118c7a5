//! Connections to one relay, reused between messages.
//!
//! At most `size` connections are open at once; senders beyond that wait for one to
//! come free. A connection returns to the pool only after its transaction completed:
//! one whose command failed or did not finish in time is closed, so a later message
//! never starts on a connection left mid-transaction. (lettre's own pool puts a
//! connection back when the send future is dropped, and its async client has no
//! timeout on SMTP commands; both are why the pool lives here.)

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::Error;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::sync::Semaphore;
use tokio::time::timeout;

/// An idle connection older than this is closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How to open a ready-to-send connection: TCP (or implicit TLS), greeting, EHLO,
/// STARTTLS when required, AUTH when credentials are set.
pub(super) struct Connector {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub credentials: Option<Credentials>,
    /// Bounds opening a connection, and each transaction.
    pub timeout: Duration,
}

impl Connector {
    async fn connect(&self) -> Result<AsyncSmtpConnection, Error> {
        let hello = ClientId::default();
        let wrapper = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &hello,
            wrapper,
            None,
        )
        .await?;
        if let Tls::Required(parameters) = &self.tls {
            conn.starttls(parameters.clone(), &hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

/// Why a send through the pool failed.
pub(super) enum Failure {
    Smtp(Error),
    TimedOut,
}

pub(super) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    permits: Semaphore,
}

impl Pool {
    pub fn new(connector: Connector, size: u32) -> Pool {
        Pool {
            connector,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(usize::try_from(size).unwrap_or(usize::MAX)),
        }
    }

    /// Sends one message: MAIL, RCPT for every envelope recipient, DATA.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, Failure> {
        // The semaphore is never closed, so waiting only ends with a permit.
        let _permit = self.permits.acquire().await;
        let mut conn = match self.reuse().await {
            Some(conn) => conn,
            None => timeout(self.connector.timeout, self.connector.connect())
                .await
                .map_err(|_| Failure::TimedOut)?
                .map_err(Failure::Smtp)?,
        };
        match timeout(self.connector.timeout, conn.send(envelope, message)).await {
            Ok(Ok(response)) => {
                self.lock().push((conn, Instant::now()));
                Ok(response)
            }
            // lettre has already sent QUIT and closed it.
            Ok(Err(e)) => Err(Failure::Smtp(e)),
            // Dropping the connection closes it mid-transaction; the relay discards the
            // unfinished message.
            Err(_) => Err(Failure::TimedOut),
        }
    }

    /// The most recently used idle connection that still answers NOOP.
    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.lock().pop()?;
            if since.elapsed() > MAX_IDLE {
                continue;
            }
            if let Ok(true) = timeout(self.connector.timeout, conn.test_connected()).await {
                return Some(conn);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        // The list stays consistent even if a holder panicked: pushes and pops only.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
