#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard_signatures::{Inbound, Verifier, paddle};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = paddle::parse_header(text);
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(paddle::HEADER, value);
    let verifier = paddle::Paddle {
        secrets: vec!["pdl_ntfset_fuzz".into()],
        tolerance_secs: 5,
    };
    let _ = verifier.verify(&Inbound {
        headers: &headers,
        body: data,
        url: "https://fuzz.test/",
        now: 1_700_000_000,
    });
});
