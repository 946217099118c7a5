//! Exhaustive single-byte tampering: starting from a valid request, every change of one
//! body byte to any other value (which includes every single-bit flip) and every change of
//! one byte of a signed header value is rejected.
//!
//! Two schemes need care because different bytes can legitimately carry the same signed
//! content:
//! - Twilio signs the *decoded* form parameters, so `%2B` and `%2b` (or `+` and a raw space)
//!   are the same parameter. There the property is exact: a mutated body is accepted if and
//!   only if it decodes to the same parameter set.
//! - A base64 signature checked after decoding (Telnyx) could, with a lenient decoder, be
//!   spelled differently (other padding, other unused trailing bits) yet decode to the same
//!   signature bytes; that is the same signature, not a forgery. Such mutations are exempt
//!   from the assertion. The decoder used is strict, so the test also checks that there are
//!   none.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_signatures::{
    Inbound, Verifier, VerifyError, github, standard, stripe, telnyx, twilio,
};

const NOW: i64 = 1_700_000_000;
const URL: &str = "https://hub.example.test/in/src_1?x=1";
const JSON: &[u8] = br#"{"id":"evt_1","type":"invoice.paid","amount":4200,"ok":true}"#;

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            )
        })
        .collect()
}

fn verify(v: &dyn Verifier, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    v.verify(&Inbound {
        headers,
        body,
        url: URL,
        now: NOW,
    })
}

/// Every body that differs from `body` in exactly one byte, with the changed position.
fn body_mutations(body: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
    (0..body.len()).flat_map(move |i| {
        (0..=u8::MAX).filter(move |&b| b != body[i]).map(move |b| {
            let mut mutated = body.to_vec();
            mutated[i] = b;
            (i, mutated)
        })
    })
}

/// Every request that differs from `signed` in exactly one byte of one header value, keeping
/// only bytes a header value may hold. Returns the header name and the mutated value too.
fn header_mutations(signed: &HeaderMap) -> Vec<(HeaderName, String, HeaderMap)> {
    let mut out = Vec::new();
    for (name, value) in signed {
        let value = value.as_bytes();
        for i in 0..value.len() {
            for b in (0x20..=0x7e).filter(|&b| b != value[i]) {
                let mut mutated = value.to_vec();
                mutated[i] = b;
                let Ok(new_value) = HeaderValue::from_bytes(&mutated) else {
                    continue;
                };
                let mut map = signed.clone();
                map.insert(name.clone(), new_value);
                out.push((
                    name.clone(),
                    String::from_utf8(mutated).expect("ascii"),
                    map,
                ));
            }
        }
    }
    out
}

/// Asserts the valid request passes and every single-byte change of the body or of a header
/// is rejected, except header changes `exempt` says carry the same signature.
fn assert_tamper_proof(
    scheme: &str,
    v: &dyn Verifier,
    signed: &HeaderMap,
    body: &[u8],
    exempt: impl Fn(&HeaderName, &str) -> bool,
) -> usize {
    assert_eq!(verify(v, signed, body), Ok(()), "{scheme}: valid request");
    let mut body_cases = 0;
    for (i, mutated) in body_mutations(body) {
        assert!(
            verify(v, signed, &mutated).is_err(),
            "{scheme}: body byte {i} changed to {:#04x}",
            mutated[i]
        );
        body_cases += 1;
    }
    assert_eq!(body_cases, body.len() * 255);
    let mut exempted = 0;
    for (name, value, map) in header_mutations(signed) {
        if exempt(&name, &value) {
            exempted += 1;
            continue;
        }
        assert!(
            verify(v, &map, body).is_err(),
            "{scheme}: {name} changed to {value:?}"
        );
    }
    exempted
}

fn never_exempt(_: &HeaderName, _: &str) -> bool {
    false
}

#[test]
fn stripe_rejects_every_single_byte_change() {
    let secret = "whsec_property_secret";
    let v = stripe::Stripe {
        secrets: vec![secret.into()],
        tolerance_secs: 300,
    };
    let signed = headers(&[(stripe::HEADER, stripe::sign(secret, NOW, JSON))]);
    assert_tamper_proof("stripe", &v, &signed, JSON, never_exempt);
}

#[test]
fn standard_webhooks_rejects_every_single_byte_change() {
    let secret = standard::generate_secret();
    let v = standard::StandardWebhooks {
        secrets: vec![secret.clone()],
        tolerance_secs: 300,
    };
    let id = "msg_2b9Qx7yZ";
    let signed = headers(&[
        (standard::ID, id.into()),
        (standard::TIMESTAMP, NOW.to_string()),
        (
            standard::SIGNATURE,
            standard::sign(&secret, id, NOW, JSON).expect("valid secret"),
        ),
    ]);
    assert_tamper_proof("standard", &v, &signed, JSON, never_exempt);
}

#[test]
fn github_rejects_every_single_byte_change() {
    let secret = "property-secret";
    let v = github::GitHub {
        secrets: vec![secret.into()],
    };
    let signed = headers(&[(github::HEADER, github::sign(secret, JSON))]);
    assert_tamper_proof("github", &v, &signed, JSON, never_exempt);
}

/// The parameter set Twilio signs: decoded, sorted, identical pairs once.
fn signed_params(body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params = twilio::parse_form(body).ok()?;
    params.sort();
    params.dedup();
    Some(params)
}

#[test]
fn twilio_form_accepts_a_changed_body_only_when_it_decodes_to_the_same_parameters() {
    let token = "property-auth-token";
    let body: &[u8] = b"MessageSid=SM9f&From=%2B15550001111&Body=Hi+there%21&NumMedia=0";
    let params = signed_params(body).expect("valid form");
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let v = twilio::Twilio {
        auth_tokens: vec![token.into()],
    };
    let signed = headers(&[(twilio::HEADER, twilio::sign(token, URL, &pairs))]);
    assert_eq!(verify(&v, &signed, body), Ok(()));

    let mut equivalent = 0;
    for (i, mutated) in body_mutations(body) {
        let same = signed_params(&mutated).as_ref() == Some(&params);
        let result = verify(&v, &signed, &mutated);
        assert_eq!(
            result.is_ok(),
            same,
            "body byte {i} changed to {:#04x}: {result:?}",
            mutated[i]
        );
        equivalent += usize::from(same);
    }
    // `%2B` → `%2b`, and `+` → a raw space.
    assert_eq!(equivalent, 2);

    for (name, value, map) in header_mutations(&signed) {
        assert!(
            verify(&v, &map, body).is_err(),
            "{name} changed to {value:?}"
        );
    }
}

#[test]
fn telnyx_rejects_every_single_byte_change() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let v = telnyx::Telnyx {
        public_keys: vec![STANDARD.encode(key.verifying_key().as_bytes())],
        tolerance_secs: 300,
    };
    let ts = NOW.to_string();
    let mut message = format!("{ts}|").into_bytes();
    message.extend_from_slice(JSON);
    let sig = STANDARD.encode(key.sign(&message).to_bytes());
    let signed = headers(&[(telnyx::SIGNATURE, sig.clone()), (telnyx::TIMESTAMP, ts)]);

    let original = STANDARD.decode(&sig).expect("base64");
    let same_bytes = |name: &HeaderName, value: &str| {
        name.as_str() == telnyx::SIGNATURE
            && STANDARD.decode(value).is_ok_and(|bytes| bytes == original)
    };
    let exempted = assert_tamper_proof("telnyx", &v, &signed, JSON, same_bytes);
    assert_eq!(
        exempted, 0,
        "the strict decoder gives every signature exactly one spelling"
    );
}
