//! The served OpenAPI document is the committed one (`tests/openapi.json`): a change to
//! the API shows up as a change to that file, made deliberately. And the reference is
//! readable in a browser at `/docs`, from the hub alone.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use switchyard_store::Backend;

use crate::TestApp;

const SNAPSHOT: &str = "tests/openapi.json";

/// Where two JSON values first differ, as a JSON pointer.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(l), Some(r)) => first_difference(l, r, format!("{at}/{k}")),
                _ => Some(format!("{at}/{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (l, r))| first_difference(l, r, format!("{at}/{i}"))),
        _ => (a != b).then_some(at),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served = app.get_json("/openapi.json").await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("SWITCHYARD_UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if let Some(at) = first_difference(&committed, &served, String::new()) {
        panic!(
            "the served document differs from {SNAPSHOT} at {at}; if the change is meant, \
             run the test with SWITCHYARD_UPDATE_OPENAPI=1 and commit the file"
        );
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_is_served_at_docs_without_other_hosts() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/openapi.json") && html.contains("/docs/redoc.standalone.js"),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let script = app
        .client
        .get(app.url("/docs/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    assert!(script.bytes().await.unwrap().len() > 100_000);
    app.finish().await;
}
