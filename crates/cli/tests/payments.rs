//! `switchyard payments sync` as an operator runs it: against a provider (the stateful
//! Stripe fake) that already has customers and subscriptions, twice.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use switchyard_providers::testing::stripe::StripeFake;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn run(dir: &PathBuf, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHYARD_") || k.starts_with("STRIPE_") {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1").args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Three customers at the fake, two of them subscribed through checkouts made there.
async fn seed(fake: &StripeFake) {
    let http = switchyard_providers::http_client();
    let post = |path: &str, form: Vec<(&str, String)>| {
        http.post(format!("{}{path}", fake.url()))
            .bearer_auth(fake.secret_key())
            .form(&form)
            .send()
    };
    for i in 0..3 {
        let c: Value = post(
            "/v1/customers",
            vec![("email", format!("user{i}@example.com"))],
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if i == 2 {
            continue;
        }
        let form = vec![
            ("mode", "subscription".to_string()),
            ("customer", c["id"].as_str().unwrap().to_string()),
            ("success_url", "https://app.example/ok".to_string()),
            ("line_items[0][price_data][currency]", "usd".to_string()),
            ("line_items[0][price_data][unit_amount]", "500".to_string()),
            (
                "line_items[0][price_data][product_data][name]",
                "Basic".to_string(),
            ),
            (
                "line_items[0][price_data][recurring][interval]",
                "month".to_string(),
            ),
            ("line_items[0][quantity]", "1".to_string()),
        ];
        let session: Value = post("/v1/checkout/sessions", form)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        fake.complete_checkout(session["id"].as_str().unwrap());
    }
}

#[test]
fn payments_sync_imports_once_with_progress_lines_and_a_rerun_changes_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(StripeFake::start());
    rt.block_on(seed(&fake));
    let dir = std::env::temp_dir().join(format!("switchyard_cli_{}", switchyard_core::new_id("t")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("switchyard.toml"),
        format!(
            "[[payments.providers]]\nkind = \"stripe\"\nsecret_key = \"{}\"\nbase_url = \"{}\"\n",
            fake.secret_key(),
            fake.url()
        ),
    )
    .unwrap();

    let first = run(&dir, &["payments", "sync", "--provider", "stripe"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let summary = text(&first.stdout);
    let changed: u64 = summary
        .trim()
        .strip_prefix("synced stripe: 3 customers, 2 subscriptions, ")
        .and_then(|rest| rest.strip_suffix(" rows made or changed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary: {summary}"));
    // Every customer and subscription is a new row; linking them may touch more.
    assert!(changed >= 5, "{summary}");
    // Not a terminal: plain progress lines, the last one with the totals, no carriage returns.
    let progress = text(&first.stderr);
    assert!(!progress.contains('\r'), "{progress}");
    let last = progress
        .lines()
        .rfind(|l| l.starts_with("customers"))
        .unwrap_or_else(|| panic!("no progress line: {progress}"));
    let changed = changed.to_string();
    let numbers: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(
        numbers,
        [
            "customers",
            "3",
            "subscriptions",
            "2",
            "changed",
            changed.as_str()
        ],
        "{progress}"
    );

    let again = run(&dir, &["payments", "sync", "--provider", "stripe"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout).trim(),
        "synced stripe: 3 customers, 2 subscriptions, 0 rows made or changed"
    );

    let unknown = run(&dir, &["payments", "sync", "--provider", "nope"]);
    assert!(!unknown.status.success());
    let err = text(&unknown.stderr);
    assert!(err.contains("nope"), "{err}");
    assert!(text(&unknown.stdout).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
