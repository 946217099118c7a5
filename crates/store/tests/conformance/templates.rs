//! Conformance of templates and of providers configured through the API.

use switchyard_core::message::Template;
use switchyard_store::testing::TestDb;
use switchyard_store::{Page, conformance};

use crate::messages::page;

conformance!(templates_roundtrip, providers_roundtrip);

async fn templates_roundtrip(db: &TestDb) {
    let store = db.store().await;
    let template = |name: &str, subject: &str, at: i64| Template {
        name: name.into(),
        subject: Some(subject.into()),
        html: Some(format!("<p>{subject}</p>")),
        text: None,
        created_at: at,
        updated_at: at,
    };
    assert!(
        store
            .put_template(&template("welcome", "Hi", 1))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_template(&template("receipt", "Paid", 2))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_template(&template("alert", "Look", 3))
            .await
            .unwrap()
    );
    let replaced = Template {
        text: Some("Hello {{name}}".into()),
        ..template("welcome", "Hello", 9)
    };
    assert!(
        !store.put_template(&replaced).await.unwrap(),
        "replacing is not creating"
    );
    assert_eq!(
        store.get_template("welcome").await.unwrap(),
        Some(Template {
            created_at: 1,
            ..replaced
        }),
        "creation time kept"
    );
    assert!(store.get_template("missing").await.unwrap().is_none());

    let first = store.list_templates(&page(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["alert", "receipt"]
    );
    let rest = store
        .list_templates(&Page {
            limit: 2,
            cursor: Some("receipt".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["welcome"]
    );

    assert!(store.delete_template("receipt").await.unwrap());
    assert!(!store.delete_template("receipt").await.unwrap());
    assert_eq!(store.list_templates(&page(10)).await.unwrap().len(), 2);
}

async fn providers_roundtrip(db: &TestDb) {
    use switchyard_core::provider::{Capability, ProviderRecord};
    let store = db.store().await;
    let record = |channel, name: &str, priority, at| ProviderRecord {
        capability: channel,
        name: name.into(),
        kind: "sendgrid".into(),
        priority,
        created_at: at,
        updated_at: at,
    };
    assert!(
        store
            .put_provider(&record(Capability::Email, "b", 1, 1))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_provider(&record(Capability::Email, "a", 2, 2))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_provider(&record(Capability::Sms, "a", 0, 3))
            .await
            .unwrap()
    );
    // Replacing keeps the creation time.
    let replaced = ProviderRecord {
        kind: "resend".into(),
        ..record(Capability::Email, "b", 5, 9)
    };
    assert!(!store.put_provider(&replaced).await.unwrap());
    let listed = store.list_providers().await.unwrap();
    let keys: Vec<(&str, &str, i64, &str)> = listed
        .iter()
        .map(|r| {
            (
                r.capability.as_str(),
                r.name.as_str(),
                r.priority,
                r.kind.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("email", "a", 2, "sendgrid"),
            ("email", "b", 5, "resend"),
            ("sms", "a", 0, "sendgrid")
        ]
    );
    assert_eq!((listed[1].created_at, listed[1].updated_at), (1, 9));
    assert!(store.delete_provider(Capability::Email, "a").await.unwrap());
    assert!(!store.delete_provider(Capability::Email, "a").await.unwrap());
    assert_eq!(store.list_providers().await.unwrap().len(), 2);
}
