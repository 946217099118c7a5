//! Throw-away databases for test suites: a SQLite file in a fresh temporary folder, or
//! a freshly created, uniquely named PostgreSQL database on the server named by
//! `SWITCHYARD_TEST_DATABASE_URL` (default: the local server, trust auth).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use sqlx::Connection as _;

use crate::{Backend, ConnectOptions, Store};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A test database. Call [`TestDb::cleanup`] at the end of a test; databases left by
/// failed runs are swept by later runs once they are an hour old.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    /// A scratch directory removed by `cleanup` (the SQLite file's, on SQLite).
    pub dir: Option<PathBuf>,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

fn unique(prefix: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{prefix}_{secs}_{:08x}", rand::rng().random::<u32>())
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("switchyard_test"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let url = format!("sqlite://{}", dir.join("switchyard.db").display());
        TestDb {
            backend: Backend::Sqlite,
            url,
            dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL test server not reachable at {} ({e}); start it or set SWITCHYARD_TEST_DATABASE_URL",
                crate::redact_url(&admin)
            )
        });
        sweep_stale(&mut conn).await;
        let name = unique("sy_test");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        // Same server and options (`?sslmode=…`), another database.
        let (location, options) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
        let base = location.rsplit_once('/').map_or(location, |(b, _)| b);
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("?{options}")
        };
        // A scratch directory for files beside the database (object stores…).
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TestDb {
            backend: Backend::Postgres,
            url: format!("{base}/{name}{options}"),
            dir: Some(dir),
            pg_name: Some(name),
        }
    }

    /// A new connection to this database, migrated.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = crate::connect(&self.url, &ConnectOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub async fn cleanup(self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await
        {
            drop_database(&mut conn, name).await;
            let _ = conn.close().await;
        }
    }
}

async fn drop_database(conn: &mut sqlx::PgConnection, name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await;
}

/// Drops test databases older than an hour (left behind by aborted runs).
async fn sweep_stale(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'sy\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for name in names {
        let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > 3600) {
            drop_database(conn, &name).await;
        }
    }
}

/// What a message of `channel` holds.
pub fn content(
    channel: switchyard_core::message::Channel,
) -> switchyard_core::message::MessageContent {
    match channel {
        switchyard_core::message::Channel::Email => {
            switchyard_core::message::MessageContent::Email(
                switchyard_core::message::EmailContent {
                    from: "shop@example.com".into(),
                    to: vec!["ada@example.com".into()],
                    cc: vec![],
                    bcc: vec![],
                    reply_to: None,
                    subject: "Hello".into(),
                    text: Some("Hi Ada".into()),
                    html: None,
                    attachments: vec![],
                    template: None,
                    data: None,
                },
            )
        }
        switchyard_core::message::Channel::Sms => {
            switchyard_core::message::MessageContent::Sms(switchyard_core::message::SmsContent {
                from: None,
                to: "+14155550123".into(),
                body: "Hi Ada".into(),
                media_urls: vec![],
                template: None,
                data: None,
            })
        }
    }
}

/// The outcome of a claimed delivery that the endpoint answered with 200.
pub fn succeeded(c: &switchyard_core::delivery::Claimed) -> switchyard_core::delivery::Outcome {
    switchyard_core::delivery::Outcome {
        attempt: switchyard_core::delivery::Attempt {
            delivery_id: c.id.clone(),
            attempt: c.attempt,
            started_at: switchyard_core::time::now_ms(),
            duration_ms: 2,
            status_code: Some(200),
            response_body: Some("ok".into()),
            error_kind: None,
        },
        endpoint_id: c.endpoint_id.clone(),
        next: switchyard_core::delivery::Next::Succeeded,
    }
}

/// A queued message of `channel`, for `account`, with idempotency `key`.
pub fn message(
    channel: switchyard_core::message::Channel,
    account: Option<&str>,
    key: Option<&str>,
) -> switchyard_core::message::Message {
    let now = switchyard_core::time::now_ms();
    switchyard_core::message::Message {
        id: switchyard_core::new_id("msg"),
        channel,
        category: switchyard_core::message::Category::Transactional,
        account: account.map(str::to_string),
        status: switchyard_core::message::Status::Queued,
        provider: None,
        provider_message_id: None,
        recipients: vec!["ada@example.com".into()],
        subject: Some("Hello".into()),
        content: content(channel),
        metadata: Some(serde_json::json!({"order": 42})),
        idempotency_key: key.map(str::to_string),
        request_digest: Some("d1".into()),
        credits: 0,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        updated_at: now,
    }
}

/// The processing stages the conformance suite runs: delivery fan-out, and status
/// reports read from events whose payload is `{"message_ref": "<provider message id>"}`
/// (the hub's own stage reads them from each provider's payload).
pub fn stages() -> Vec<Arc<dyn crate::Stage>> {
    vec![Arc::new(FanOut), Arc::new(Reports)]
}

#[derive(Debug)]
struct FanOut;

#[async_trait::async_trait]
impl crate::Stage for FanOut {
    fn name(&self) -> &'static str {
        "fan-out"
    }

    async fn run(
        &self,
        tx: &mut dyn crate::ProcessTx,
        events: &[crate::ReceivedEvent],
        at: i64,
    ) -> crate::Result<()> {
        tx.fan_out(events, at).await.map(|_| ())
    }
}

#[derive(Debug)]
struct Reports;

#[async_trait::async_trait]
impl crate::Stage for Reports {
    fn name(&self) -> &'static str {
        "status reports"
    }

    async fn run(
        &self,
        tx: &mut dyn crate::ProcessTx,
        events: &[crate::ReceivedEvent],
        _at: i64,
    ) -> crate::Result<()> {
        use switchyard_core::message::Status;
        let candidates: Vec<&crate::ReceivedEvent> = events
            .iter()
            .filter(|e| Status::from_event_type(&e.event_type).is_some())
            .collect();
        let ids: Vec<&str> = candidates.iter().map(|e| e.id.as_str()).collect();
        let payloads = tx.payloads(&ids).await?;
        let reports: Vec<crate::StatusReport> = candidates
            .into_iter()
            .filter_map(|e| {
                let payload: serde_json::Value =
                    serde_json::from_slice(payloads.get(&e.id)?).ok()?;
                Some(crate::StatusReport {
                    event_id: e.id.clone(),
                    provider_message_id: payload.get("message_ref")?.as_str()?.to_string(),
                    status: Status::from_event_type(&e.event_type)?,
                    at: e.received_at,
                })
            })
            .collect();
        let at = switchyard_core::time::now_ms();
        tx.apply_status_reports(&reports, at).await
    }
}

/// Declares one `#[tokio::test]` per backend for each listed async test function taking
/// a `&TestDb`: `conformance!(keys_roundtrip, queue_claims)` makes
/// `sqlite::keys_roundtrip` and `postgres::keys_roundtrip`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::new($crate::Backend::Sqlite).await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::new($crate::Backend::Postgres).await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
