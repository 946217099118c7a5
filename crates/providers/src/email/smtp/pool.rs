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
/// Idle connections younger than this are reused without a NOOP first.
const TRUSTED_IDLE: Duration = Duration::from_secs(2);

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
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let hello = ClientId::default();
        let mut conn = match &self.tls {
            Tls::Wrapper(parameters) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &hello,
                Some(parameters.clone()),
                None,
            )
            .await
            .map_err(Failure::Smtp)?,
            _ => {
                // Commands and replies are small writes: without TCP_NODELAY each one
                // can wait for the peer's delayed ACK (tens of milliseconds).
                let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(Failure::Connect)?;
                stream.set_nodelay(true).map_err(Failure::Connect)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                    .await
                    .map_err(Failure::Smtp)?
            }
        };
        if let Tls::Required(parameters) = &self.tls {
            conn.starttls(parameters.clone(), &hello)
                .await
                .map_err(Failure::Smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(Failure::Smtp)?;
        }
        Ok(conn)
    }
}

/// Why a send through the pool failed.
pub(super) enum Failure {
    Smtp(Error),
    /// The TCP connection could not be opened.
    Connect(std::io::Error),
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
                .map_err(|_| Failure::TimedOut)??,
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
            let idle = since.elapsed();
            if idle > MAX_IDLE {
                continue;
            }
            // A connection used moments ago is taken as it is; one idle for longer is
            // checked first, as the relay may have closed it.
            if idle < TRUSTED_IDLE {
                return Some(conn);
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
