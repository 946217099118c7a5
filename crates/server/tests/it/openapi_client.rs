//! The served OpenAPI document generates a working TypeScript client: every operation
//! has its own `operationId`; openapi-typescript turns the document into types with which
//! `tests/ts/client.ts` (an openapi-fetch client calling the main routes of every
//! capability) compiles under `tsc --strict` without casts; and the compiled client runs
//! against a live hub and prints "ok".
//!
//! `scripts/test` installs openapi-typescript, openapi-fetch and TypeScript and sets
//! `SWITCHYARD_TEST_NODE_MODULES` to their `node_modules`; without it the test is skipped.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_providers::testing::TempDir;
use switchyard_store::Backend;

use crate::TestApp;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The problems with the document's operation ids: operations without one, and ids
/// shared by several operations (each with the operations that share it).
fn operation_id_problems(doc: &Value) -> Vec<String> {
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let name = format!("{} {path}", method.to_uppercase());
            match operation["operationId"].as_str() {
                Some(id) if !id.is_empty() => by_id.entry(id.to_string()).or_default().push(name),
                _ => problems.push(format!("{name} has no operationId")),
            }
        }
    }
    for (id, operations) in &by_id {
        if operations.len() > 1 {
            problems.push(format!(
                "operationId {id:?} is shared by {}",
                operations.join(", ")
            ));
        }
    }
    problems
}

/// What a finished command printed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `node args…` in `dir` with `env`, killing it after `timeout`.
fn node(dir: &Path, args: &[&str], env: &[(&str, String)], timeout: Duration) -> Run {
    let out = dir.join(".stdout");
    let err = dir.join(".stderr");
    let mut command = Command::new("node");
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"));
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {args:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    let mut stderr = read(&err);
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {timeout:?})"));
    }
    Run {
        success: status.is_some_and(|s| s.success()),
        stdout: read(&out),
        stderr,
    }
}

/// Generates the types from `doc` in `dir`, compiles `client.ts` against them and runs
/// it against the hub at `hub_url`; returns what went wrong.
fn generate_compile_and_run(
    dir: &Path,
    modules: &Path,
    doc: &Value,
    hub_url: String,
    hub_key: String,
) -> Vec<String> {
    let write = |name: &str, contents: String| {
        std::fs::write(dir.join(name), contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    write("openapi.json", serde_json::to_string_pretty(doc).unwrap());
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ts/client.ts"),
        dir.join("client.ts"),
    )
    .expect("copy client.ts");
    // No "type": "module": the client compiles to CommonJS, so `./schema` needs no
    // extension.
    write(
        "package.json",
        json!({"private": true, "type": "commonjs"}).to_string(),
    );
    write(
        "tsconfig.json",
        serde_json::to_string_pretty(&json!({
            "compilerOptions": {
                "strict": true,
                "noEmit": false,
                "outDir": "out",
                "module": "nodenext",
                "moduleResolution": "nodenext",
                "target": "es2022",
                "lib": ["es2022", "dom"],
                "types": [],
                "esModuleInterop": true,
                "skipLibCheck": false,
            },
            "files": ["client.ts"],
        }))
        .unwrap(),
    );
    std::os::unix::fs::symlink(modules, dir.join("node_modules")).expect("link node_modules");

    let cli = modules.join("openapi-typescript/bin/cli.js");
    let generated = node(
        dir,
        &[cli.to_str().unwrap(), "openapi.json", "-o", "schema.d.ts"],
        &[],
        Duration::from_secs(120),
    );
    assert!(
        generated.success && dir.join("schema.d.ts").exists(),
        "openapi-typescript failed on the document\n{}",
        generated.describe()
    );

    let tsc = modules.join("typescript/bin/tsc");
    let compiled = node(
        dir,
        &[tsc.to_str().unwrap(), "-p", ".", "--pretty", "false"],
        &[],
        Duration::from_secs(300),
    );
    if !compiled.success {
        return vec![format!(
            "tests/ts/client.ts does not compile against the generated types (tsc --strict)\n{}",
            compiled.describe()
        )];
    }

    let ran = node(
        dir,
        &["out/client.js"],
        &[("HUB_URL", hub_url), ("HUB_KEY", hub_key)],
        Duration::from_secs(120),
    );
    if ran.success && ran.stdout.lines().last() == Some("ok") {
        Vec::new()
    } else {
        vec![format!(
            "the compiled client did not print \"ok\"\n{}",
            ran.describe()
        )]
    }
}

/// Unique operation ids, a client that type-checks strictly against the generated types,
/// and that client's calls succeeding against a hub on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_typescript_client_compiles_strictly_and_runs() {
    let Some(modules) = std::env::var_os("SWITCHYARD_TEST_NODE_MODULES") else {
        eprintln!(
            "skipped: SWITCHYARD_TEST_NODE_MODULES is not set; scripts/test installs \
             openapi-typescript, openapi-fetch and TypeScript and sets it"
        );
        return;
    };
    let modules = PathBuf::from(modules);
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut problems = operation_id_problems(&doc);
    let dir = TempDir::new("openapi-client");
    let (path, hub_url, hub_key) = (dir.path().to_path_buf(), app.url(""), app.key.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        generate_compile_and_run(&path, &modules, &doc, hub_url, hub_key)
    })
    .await;
    app.finish().await;
    match outcome {
        Ok(found) => problems.extend(found),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
    assert!(
        problems.is_empty(),
        "the OpenAPI document does not generate a working client:\n\n{}",
        problems.join("\n\n")
    );
}
