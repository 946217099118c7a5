#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard_signatures::{Inbound, Verifier, twilio};

fuzz_target!(|data: &[u8]| {
    let _ = twilio::parse_form(data);
    let mut headers = HeaderMap::new();
    headers.insert(
        twilio::HEADER,
        HeaderValue::from_static("0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
    );
    let verifier = twilio::Twilio {
        auth_tokens: vec!["12345".into()],
    };
    let _ = verifier.verify(&Inbound {
        headers: &headers,
        body: data,
        url: "https://fuzz.test/sms",
        now: 0,
    });
    if let Ok(url) = std::str::from_utf8(data) {
        let _ = twilio::url_variants(url);
        let _ = verifier.verify(&Inbound {
            headers: &headers,
            body: b"",
            url,
            now: 0,
        });
    }
});
