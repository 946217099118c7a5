#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard_signatures::paypal;

const CERT: &[u8] = include_bytes!("../../tests/fixtures/paypal-test-cert.pem");
const NAMES: [&str; 5] = [
    paypal::TRANSMISSION_ID,
    paypal::TRANSMISSION_TIME,
    paypal::TRANSMISSION_SIG,
    paypal::CERT_URL,
    paypal::AUTH_ALGO,
];

// The input is split on newlines into the five header values, in order.
fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for (name, value) in NAMES.iter().zip(data.split(|&b| b == b'\n')) {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            value,
        );
    }
    let Ok(parsed) = paypal::PaypalHeaders::from_headers(&headers) else {
        return;
    };
    let _ = paypal::cert_url_allowed(&parsed.cert_url, &["paypal.com".to_owned()]);
    let _ = paypal::verify(&parsed, data, "WH-FUZZ", CERT);
    let _ = paypal::verify(&parsed, data, "WH-FUZZ", data);
});
