#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard_signatures::{Inbound, Verifier, standard};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = standard::parse_signatures(text);
        let _ = standard::decode_secret(text);
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(standard::ID, HeaderValue::from_static("msg_fuzz"));
    headers.insert(standard::TIMESTAMP, HeaderValue::from_static("1700000000"));
    headers.insert(standard::SIGNATURE, value);
    let verifier = standard::StandardWebhooks {
        secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        tolerance_secs: 300,
    };
    let _ = verifier.verify(&Inbound {
        headers: &headers,
        body: data,
        url: "https://fuzz.test/",
        now: 1_700_000_000,
    });
});
