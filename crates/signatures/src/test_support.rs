//! The conformance suite every inbound scheme runs, so each module's tests only describe
//! how its provider signs.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Inbound, Verifier, VerifyError};

pub const NOW: i64 = 1_700_000_000;
pub const TOLERANCE: u64 = 300;
pub const URL: &str = "https://example.test/hook";

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

pub fn check(
    v: &dyn Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    v.verify(&Inbound {
        headers,
        body,
        url: URL,
        now,
    })
}

/// Which timestamps a scheme refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRule {
    None,
    /// Only old timestamps are refused (Stripe).
    PastOnly,
    Both,
}

/// How one provider signs, in terms the suite can drive. Keys are numbered 0, 1 and 2; the
/// fixture maps each to a secret or key pair of its own.
pub trait Fixture {
    /// A verifier accepting exactly the given keys, with [`TOLERANCE`] where it has one.
    fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier>;
    /// Headers of a request signed with key `key` at unix time `ts`.
    fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap;
    /// The header carrying the signature.
    fn signature_header(&self) -> &'static str;
    /// Headers whose absence is `MissingHeader(name)`.
    fn required_headers(&self) -> Vec<&'static str>;
    fn time_rule(&self) -> TimeRule;
    fn body(&self) -> Vec<u8> {
        br#"{"id":"evt_1","amount":100}"#.to_vec()
    }
    fn tampered_body(&self) -> Vec<u8> {
        br#"{"id":"evt_1","amount":900}"#.to_vec()
    }
    fn covers_body(&self) -> bool {
        true
    }
}

pub fn run_conformance(f: &dyn Fixture) {
    let body = f.body();
    let v = f.verifier(&[0]);
    let signed = f.sign(0, &body, NOW);
    assert_eq!(check(&*v, &signed, &body, NOW), Ok(()), "valid request");

    if f.covers_body() {
        let tampered = f.tampered_body();
        assert_ne!(tampered, body);
        assert_eq!(
            check(&*v, &signed, &tampered, NOW),
            Err(VerifyError::Mismatch),
            "tampered body"
        );
    }

    let mut forged = signed.clone();
    let original = forged
        .get(f.signature_header())
        .expect("signature header")
        .to_str()
        .expect("ascii")
        .to_owned();
    forged.insert(
        HeaderName::from_bytes(f.signature_header().as_bytes()).expect("name"),
        HeaderValue::from_str(&tamper(&original)).expect("value"),
    );
    let err = check(&*v, &forged, &body, NOW).expect_err("tampered signature");
    assert!(
        matches!(err, VerifyError::Mismatch | VerifyError::MalformedHeader(_)),
        "tampered signature: {err:?}"
    );

    assert_eq!(
        check(&*v, &f.sign(2, &body, NOW), &body, NOW),
        Err(VerifyError::Mismatch),
        "wrong key"
    );

    for name in f.required_headers() {
        let mut partial = signed.clone();
        partial.remove(name);
        assert_eq!(
            check(&*v, &partial, &body, NOW),
            Err(VerifyError::MissingHeader(name)),
            "without {name}"
        );
    }

    let rotating = f.verifier(&[1, 0]);
    assert_eq!(
        check(&*rotating, &f.sign(0, &body, NOW), &body, NOW),
        Ok(()),
        "old key during rotation"
    );
    assert_eq!(
        check(&*rotating, &f.sign(1, &body, NOW), &body, NOW),
        Ok(()),
        "new key during rotation"
    );
    let rotated = f.verifier(&[1]);
    assert_eq!(
        check(&*rotated, &f.sign(1, &body, NOW), &body, NOW),
        Ok(()),
        "new key after rotation"
    );
    assert_eq!(
        check(&*rotated, &f.sign(0, &body, NOW), &body, NOW),
        Err(VerifyError::Mismatch),
        "old key after rotation"
    );

    let unconfigured = f.verifier(&[]);
    assert!(
        matches!(
            check(&*unconfigured, &signed, &body, NOW),
            Err(VerifyError::BadKey(_))
        ),
        "no keys"
    );

    let tol = i64::try_from(TOLERANCE).expect("small");
    let at = |ts: i64| check(&*v, &f.sign(0, &body, ts), &body, NOW);
    match f.time_rule() {
        TimeRule::None => {
            assert_eq!(at(NOW - 10 * tol), Ok(()), "no time check (past)");
            assert_eq!(at(NOW + 10 * tol), Ok(()), "no time check (future)");
        }
        TimeRule::PastOnly => {
            assert_eq!(at(NOW - tol), Ok(()), "edge of the window");
            assert_eq!(at(NOW - tol - 1), Err(VerifyError::Timestamp), "stale");
            assert_eq!(at(NOW + 10 * tol), Ok(()), "future is accepted");
        }
        TimeRule::Both => {
            assert_eq!(at(NOW - tol), Ok(()), "edge of the window (past)");
            assert_eq!(at(NOW + tol), Ok(()), "edge of the window (future)");
            assert_eq!(at(NOW - tol - 1), Err(VerifyError::Timestamp), "stale");
            assert_eq!(at(NOW + tol + 1), Err(VerifyError::Timestamp), "future");
        }
    }
}

/// Changes one character in the middle of the value's last field, keeping it in the same
/// alphabet, so the result still parses but carries different signature bytes.
fn tamper(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let field_start = value.rfind([',', '=', ';', ' ']).map_or(0, |i| i + 1);
    let field_start = if field_start >= bytes.len() {
        0
    } else {
        field_start
    };
    let pos = field_start + (bytes.len() - field_start) / 2;
    bytes[pos] = match bytes[pos] {
        b'0' => b'1',
        b'a' => b'b',
        b'A' => b'B',
        c if c.is_ascii_digit() || c.is_ascii_lowercase() => b'0',
        _ => b'A',
    };
    String::from_utf8(bytes).expect("ascii")
}
