//! PayPal: certificates fetched only from allow-listed URLs.

use super::*;

const PAYPAL_CERT: &str =
    include_str!("../../../../signatures/tests/fixtures/paypal-test-cert.pem");
const PAYPAL_KEY: &str = include_str!("../../../../signatures/tests/fixtures/paypal-test-key.pem");
const OTHER_KEY: &str = include_str!("../../../../signatures/tests/fixtures/other-test-key.pem");

/// Serves the PayPal test certificate at every path; returns its base URL and a count of
/// requests.
async fn certificate_server() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let router = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { PAYPAL_CERT }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, fetches)
}

pub(super) async fn paypal_certificates_only_from_the_allow_list(backend: Backend) {
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let (base, fetches) = certificate_server().await;
    let allowed = format!("{base}certs/");
    let app = TestApp::spawn_with(
        backend,
        |c| c.intake.paypal_cert_urls = vec![allowed.clone()],
        vec![],
    )
    .await;
    let keys = [PAYPAL_KEY, OTHER_KEY]
        .map(|pem| SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap()));
    let webhook_id = "8PT597110X687430LKGECATA";
    let sign_for = |cert_url: &str, k: usize, m: &Msg<'_>| {
        let mut h = sig::paypal::PaypalHeaders {
            transmission_id: format!("{:032x}", rand::random::<u128>()),
            transmission_time: switchyard_core::time::rfc3339(m.ts * 1000),
            transmission_sig: String::new(),
            cert_url: cert_url.into(),
            auth_algo: sig::paypal::SHA256_WITH_RSA.into(),
        };
        let message = sig::paypal::message(&h, m.body.as_bytes(), webhook_id);
        h.transmission_sig = BASE64.encode(keys[k].sign(message.as_bytes()).to_bytes());
        signed(
            m.url,
            [
                ("paypal-transmission-sig", h.transmission_sig),
                ("paypal-transmission-id", h.transmission_id),
                ("paypal-transmission-time", h.transmission_time),
                ("paypal-cert-url", h.cert_url),
                ("paypal-auth-algo", h.auth_algo),
            ],
        )
    };
    let cert_url = format!("{allowed}CERT-360caa42-fca2a594-a5cafa77");
    let scheme = Scheme {
        source: json!({"kind": "paypal", "webhook_id": webhook_id}),
        body: r#"{"id":"{id}","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"n":{v}}}"#,
        required: &[
            "paypal-transmission-sig",
            "paypal-transmission-id",
            "paypal-transmission-time",
            "paypal-cert-url",
            "paypal-auth-algo",
        ],
        processed_type: "payment.checkout.completed",
        timed: true,
        ..Scheme::default()
    };
    let src = check(&app, &scheme, |k, m| sign_for(&cert_url, k, m)).await;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );

    let body = r#"{"id":"WH-OUTSIDE","event_type":"PAYMENT.CAPTURE.COMPLETED"}"#;
    let url = app.url(&format!("/in/{src}"));
    let msg = Msg {
        url: &url,
        id: "",
        body,
        ts: now(),
    };
    // Signed for this source, but by a certificate at a URL outside the allow-list.
    let outside = [
        format!("{base}other/CERT-1"),
        format!("{allowed}../other/CERT-1"),
        format!("{allowed}%2e%2e/other/CERT-1"),
        format!("{allowed}.%2E/other/CERT-1"),
        format!("{allowed}.\t./other/CERT-1"),
        format!("{}@evil.test/certs/CERT-1", allowed.trim_end_matches('/')),
        "https://api.paypal.com/v1/notifications/certs/CERT-1".into(),
    ];
    for cert_url in &outside {
        refused(
            send(&app, &sign_for(cert_url, 0, &msg), body).await,
            "paypal-cert-url",
        )
        .await;
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "nothing else was fetched"
    );

    // Signed for another PayPal webhook: refused.
    let other = create_source(
        &app,
        json!({"name": "other", "kind": "paypal", "webhook_id": "OTHERWEBHOOK0000"}),
    )
    .await;
    let other_url = app.url(&format!("/in/{}", other["id"].as_str().unwrap()));
    let msg = Msg {
        url: &other_url,
        ..msg
    };
    refused(
        send(&app, &sign_for(&cert_url, 0, &msg), body).await,
        "does not match",
    )
    .await;
    app.finish().await;
}
