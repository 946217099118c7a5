//! The `switchyard` binary as a user runs it: in an empty directory, with environment
//! variables, with SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_core::vault::MasterKey;
use switchyard_store::Backend;
use switchyard_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn empty_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard_cli_{}", switchyard_core::new_id("t")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `switchyard` command in `dir` with no inherited SWITCHYARD_* variables.
fn cmd(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHYARD_") {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().copied()).env("NO_COLOR", "1");
    c
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    cmd(dir, env).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Served {
    child: Child,
    base: String,
    /// The bootstrap key, if one was printed.
    key: Option<String>,
}

/// Starts `switchyard serve` and waits until `/healthz` answers.
fn serve(dir: &Path, env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = cmd(dir, env)
        .args(["serve", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::blocking_get(&format!("{base}/healthz")) == Ok(200) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("serve exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The bootstrap notice is written before the listener opens, so it is already in the
    // pipe; a reader thread drains it without blocking on a quiet stdout.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut key = None;
    if let Ok(line) = rx.recv_timeout(Duration::from_secs(2))
        && line.starts_with("Bootstrap admin API key")
    {
        key = rx
            .recv_timeout(Duration::from_secs(5))
            .ok()
            .map(|k| k.trim().to_string());
    }
    Served { child, base, key }
}

mod reqwest {
    //! Minimal blocking HTTP for a test that drives processes.
    pub fn blocking_get(url: &str) -> Result<u16, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            ::switchyard_providers::http_client()
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
    }

    pub fn call(method: &str, url: &str, key: Option<&str>) -> (u16, String, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = ::switchyard_providers::http_client();
            let mut req = client.request(method.parse().unwrap(), url);
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, ct, r.text().await.unwrap())
        })
    }
}

fn terminate(mut served: Served) -> std::process::ExitStatus {
    let pid = served.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn first_start_in_an_empty_directory(env: &[(&str, &str)]) {
    let dir = empty_dir();
    let served = serve(&dir, env);
    let key = served
        .key
        .clone()
        .expect("a bootstrap key is printed on first start");
    assert!(key.starts_with("sk_") && key.len() >= 46, "{key}");
    let (status, _, _) = reqwest::call("GET", &format!("{}/readyz", served.base), None);
    assert_eq!(status, 200);
    let (status, _, body) = reqwest::call("GET", &format!("{}/v1/keys", served.base), Some(&key));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"bootstrap\""));
    let (status, content_type, body) =
        reqwest::call("GET", &format!("{}/v1/keys", served.base), None);
    assert_eq!(
        (status, content_type.as_str()),
        (401, "application/problem+json"),
        "{body}"
    );
    let status = terminate(served);
    assert!(
        status.success(),
        "SIGTERM ends serve with exit 0, got {status}"
    );

    // A second start prints no key.
    let again = serve(&dir, env);
    assert!(again.key.is_none());
    assert!(terminate(again).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_on_the_embedded_default() {
    first_start_in_an_empty_directory(&[]);
}

#[test]
fn serve_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::new(Backend::Postgres));
    let master = MasterKey::generate();
    let dir = empty_dir();
    // Without a master key PostgreSQL is refused with a clear message.
    let refused = run(
        &dir,
        &[("SWITCHYARD_DATABASE_URL", &db.url)],
        &["serve", "--listen", "127.0.0.1:0"],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("SWITCHYARD_MASTER_KEY"),
        "{}",
        stderr(&refused)
    );
    first_start_in_an_empty_directory(&[
        ("SWITCHYARD_DATABASE_URL", &db.url),
        ("SWITCHYARD_MASTER_KEY", master.to_base64().expose()),
    ]);
    rt.block_on(db.cleanup());
}

#[test]
fn keys_commands_print_raw_keys_only_where_asked() {
    let dir = empty_dir();
    let created = run(
        &dir,
        &[],
        &[
            "keys", "create", "--name", "ci", "--scope", "events", "--scope", "read",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let raw = stdout(&created);
    assert_eq!(
        raw.lines().count(),
        1,
        "stdout holds the key alone: {raw:?}"
    );
    let raw = raw.trim().to_string();
    assert!(raw.starts_with("sk_") && raw.len() >= 46);

    let list = run(&dir, &[], &["keys", "list", "--json"]);
    assert!(list.status.success());
    let listed = stdout(&list);
    assert!(!listed.contains(&raw), "keys list shows no raw key");
    let row: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(row["name"], "ci");
    assert_eq!(row["scopes"], serde_json::json!(["read", "events"]));
    let id = row["id"].as_str().unwrap().to_string();

    let rotated = run(&dir, &[], &["keys", "rotate", &id, "--grace", "1h"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let new_raw = stdout(&rotated).trim().to_string();
    assert!(new_raw.starts_with("sk_") && new_raw != raw);
    assert!(stderr(&rotated).contains(&id));

    let revoked = run(&dir, &[], &["keys", "revoke", &id]);
    assert!(revoked.status.success());
    let table = stdout(&run(&dir, &[], &["keys", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("revoked")),
        "{table}"
    );

    let missing = run(&dir, &[], &["keys", "revoke", "key_nope"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no API key"));
    let bad_scope = run(
        &dir,
        &[],
        &["keys", "create", "--name", "x", "--scope", "root"],
    );
    assert!(!bad_scope.status.success());
    assert!(stderr(&bad_scope).contains("unknown scope"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_show_layers_and_redacts() {
    let dir = empty_dir();
    std::fs::write(
        dir.join("switchyard.toml"),
        "listen = \"127.0.0.1:9999\"\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let master = MasterKey::generate();
    let out = run(
        &dir,
        &[
            ("SWITCHYARD_MASTER_KEY", master.to_base64().expose()),
            (
                "SWITCHYARD_DATABASE_URL",
                "postgres://app:s3cret@db.internal/hub",
            ),
            ("SWITCHYARD_LOG__LEVEL", "debug"),
            ("SWITCHYARD_LISTN", "typo"),
        ],
        &["config", "show"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains("listen = \"127.0.0.1:9999\""), "{shown}");
    assert!(shown.contains("format = \"json\""));
    assert!(shown.contains("level = \"debug\""));
    assert!(shown.contains("postgres://app:[redacted]@db.internal/hub"));
    assert!(!shown.contains("s3cret") && !shown.contains(master.to_base64().expose().as_str()));
    assert!(
        stderr(&out).contains("SWITCHYARD_LISTN"),
        "unknown variables are warned about"
    );

    let bad = run(
        &dir,
        &[("SWITCHYARD_QUEUE__CONCURRENCY", "many")],
        &["config", "show"],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("queue.concurrency"),
        "{}",
        stderr(&bad)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn master_key_rotation_with_the_generated_key_file() {
    let dir = empty_dir();
    // First start creates the key file (0600) beside the database; store a secret.
    let served = serve(&dir, &[]);
    assert!(terminate(served).success());
    let key_file = dir.join("switchyard.db.master-key");
    let mode = std::fs::metadata(&key_file).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", dir.join("switchyard.db").display());
    let old = std::fs::read_to_string(&key_file).unwrap();
    let old_key = MasterKey::from_base64(old.lines().next().unwrap()).unwrap();
    rt.block_on(async {
        let store = switchyard_store::connect(&url, &Default::default())
            .await
            .unwrap();
        let vault = switchyard_store::vault::Vault::new(
            store.clone(),
            switchyard_core::vault::Keyring::new(old_key.clone(), vec![]),
            None,
        );
        vault.put("sec_a", b"provider-token").await.unwrap();
        store.close().await;
    });

    let out = run(&dir, &[], &["vault", "rotate-master-key"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("re-sealed 1 secret"),
        "{}",
        stderr(&out)
    );
    let lines: Vec<String> = std::fs::read_to_string(&key_file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2, "new key first, old key kept as previous");
    assert_eq!(lines[1], old.trim());
    let new_key = MasterKey::from_base64(&lines[0]).unwrap();
    rt.block_on(async {
        let store = switchyard_store::connect(&url, &Default::default())
            .await
            .unwrap();
        let sealed = store.get_secret("sec_a").await.unwrap().unwrap();
        assert_eq!(sealed.key_id, new_key.id());
        let only_new = switchyard_store::vault::Vault::new(
            store.clone(),
            switchyard_core::vault::Keyring::new(new_key, vec![]),
            None,
        );
        assert_eq!(
            only_new.get("sec_a").await.unwrap().unwrap().expose(),
            b"provider-token"
        );
        store.close().await;
    });
    let generated = run(&dir, &[], &["vault", "generate-key"]);
    assert!(MasterKey::from_base64(stdout(&generated).trim()).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_reports_applied_migrations() {
    let dir = empty_dir();
    let out = run(&dir, &[], &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("init") && !text.contains("pending"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
