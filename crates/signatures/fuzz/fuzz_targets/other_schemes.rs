#![no_main]
//! The remaining schemes' header parsers: the input is split at the first two NUL bytes
//! into a signature header value, a timestamp header value and the body.

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard_signatures::hmac_generic::{Algorithm, Encoding, GenericHmac};
use switchyard_signatures::{
    Inbound, Verifier, github, lemonsqueezy, sendgrid, shared_secret, shopify, slack, telnyx,
};

const ED25519_KEY: &str = "+XeXj5UdjpBY2FwvdKlhye9LtcLaEg77ZUycC7ks/G4=";
const P256_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOCMoNXDelxWrusj5sVfozijcPUnGZQGtZ59PMGFo5yxJ2a907TIcNZesf6Q6vhvByGHkiOwARDNEZFFQecZanA==";

fn headers(pairs: &[(&str, &[u8])]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        map.insert(name, HeaderValue::from_bytes(value).ok()?);
    }
    Some(map)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(signature), Some(timestamp), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let check = |verifier: &dyn Verifier, pairs: &[(&str, &[u8])]| {
        if let Some(headers) = headers(pairs) {
            let _ = verifier.verify(&Inbound {
                headers: &headers,
                body,
                url: "https://fuzz.test/in/src",
                now: 1_700_000_000,
            });
        }
    };
    let secrets = || vec!["fuzz_secret".to_string()];
    check(
        &telnyx::Telnyx { public_keys: vec![ED25519_KEY.into()], tolerance_secs: 300 },
        &[(telnyx::SIGNATURE, signature), (telnyx::TIMESTAMP, timestamp)],
    );
    check(
        &sendgrid::SendGrid { public_keys: vec![P256_KEY.into()], tolerance_secs: Some(300) },
        &[(sendgrid::SIGNATURE, signature), (sendgrid::TIMESTAMP, timestamp)],
    );
    check(
        &slack::Slack { secrets: secrets(), tolerance_secs: 300 },
        &[(slack::SIGNATURE, signature), (slack::TIMESTAMP, timestamp)],
    );
    check(&github::GitHub { secrets: secrets() }, &[(github::HEADER, signature)]);
    check(&shopify::Shopify { secrets: secrets() }, &[(shopify::HEADER, signature)]);
    check(&lemonsqueezy::LemonSqueezy { secrets: secrets() }, &[(lemonsqueezy::HEADER, signature)]);
    check(
        &shared_secret::SharedSecret {
            header: HeaderName::from_static("x-downlink-apikey"),
            secrets: secrets(),
        },
        &[("x-downlink-apikey", signature)],
    );
    for (algorithm, encoding, prefix, template) in [
        (Algorithm::Sha256, Encoding::Hex, Some("sha256="), None),
        (Algorithm::Sha512, Encoding::Base64, None, Some("{timestamp}.{body}")),
    ] {
        check(
            &GenericHmac {
                header: HeaderName::from_static("x-signature"),
                algorithm,
                encoding,
                prefix: prefix.map(String::from),
                timestamp_header: template.map(|_| HeaderName::from_static("x-timestamp")),
                template: template.map(String::from),
                secrets: secrets(),
                tolerance_secs: 300,
            },
            &[("x-signature", signature), ("x-timestamp", timestamp)],
        );
    }
});
