//! PayPal webhooks, checked offline: RSA PKCS#1 v1.5 / SHA-256 over
//! `"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(body)}"`, verified with the
//! public key of the certificate PayPal names in `PAYPAL-CERT-URL`.
//!
//! Nothing here performs I/O. The caller fetches (and caches) the certificate, and must only
//! fetch from URLs that pass [`cert_url_allowed`]: the certificate's chain, validity period
//! and subject are not checked here, so the URL allowlist is what keeps attacker-supplied
//! certificates out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::sha2::Sha256;
use rsa::signature::Verifier as _;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem as _, Encode as _};

use crate::{VerifyError, header_str};

pub const TRANSMISSION_ID: &str = "PAYPAL-TRANSMISSION-ID";
pub const TRANSMISSION_TIME: &str = "PAYPAL-TRANSMISSION-TIME";
pub const TRANSMISSION_SIG: &str = "PAYPAL-TRANSMISSION-SIG";
pub const CERT_URL: &str = "PAYPAL-CERT-URL";
pub const AUTH_ALGO: &str = "PAYPAL-AUTH-ALGO";

/// The only `PAYPAL-AUTH-ALGO` supported.
pub const SHA256_WITH_RSA: &str = "SHA256withRSA";

/// The PayPal transmission headers, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaypalHeaders {
    pub transmission_id: String,
    pub transmission_time: String,
    /// Base64 RSA signature.
    pub transmission_sig: String,
    /// Where PayPal says its signing certificate is; check with [`cert_url_allowed`].
    pub cert_url: String,
    pub auth_algo: String,
}

impl PaypalHeaders {
    /// Reads all five headers; each must be present and visible ASCII.
    pub fn from_headers(headers: &HeaderMap) -> Result<PaypalHeaders, VerifyError> {
        let get = |name| header_str(headers, name).map(str::to_owned);
        Ok(PaypalHeaders {
            transmission_id: get(TRANSMISSION_ID)?,
            transmission_time: get(TRANSMISSION_TIME)?,
            transmission_sig: get(TRANSMISSION_SIG)?,
            cert_url: get(CERT_URL)?,
            auth_algo: get(AUTH_ALGO)?,
        })
    }
}

/// The bytes PayPal signs. `webhook_id` is the receiving webhook's configured ID, not the
/// event's.
pub fn message(headers: &PaypalHeaders, body: &[u8], webhook_id: &str) -> String {
    format!(
        "{}|{}|{webhook_id}|{}",
        headers.transmission_id,
        headers.transmission_time,
        crc32fast::hash(body)
    )
}

/// Verifies a PayPal delivery against the PEM certificate downloaded from its cert URL.
///
/// An unsupported algorithm or an undecodable signature is `MalformedHeader`; an unusable
/// certificate or an empty `webhook_id` is `BadKey`.
pub fn verify(
    headers: &PaypalHeaders,
    body: &[u8],
    webhook_id: &str,
    cert_pem: &[u8],
) -> Result<(), VerifyError> {
    if !headers.auth_algo.eq_ignore_ascii_case(SHA256_WITH_RSA) {
        return Err(VerifyError::MalformedHeader(AUTH_ALGO));
    }
    if webhook_id.is_empty() {
        return Err(VerifyError::BadKey("webhook id is empty".into()));
    }
    let key = public_key(cert_pem)?;
    let signature = STANDARD
        .decode(headers.transmission_sig.trim())
        .ok()
        .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
        .ok_or(VerifyError::MalformedHeader(TRANSMISSION_SIG))?;
    key.verify(message(headers, body, webhook_id).as_bytes(), &signature)
        .map_err(|_| VerifyError::Mismatch)
}

fn public_key(cert_pem: &[u8]) -> Result<VerifyingKey<Sha256>, VerifyError> {
    let cert = Certificate::from_pem(cert_pem)
        .map_err(|e| VerifyError::BadKey(format!("certificate: {e}")))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| VerifyError::BadKey(format!("certificate key: {e}")))?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| VerifyError::BadKey(format!("certificate key is not RSA: {e}")))?;
    Ok(VerifyingKey::new(key))
}

/// Whether a `PAYPAL-CERT-URL` may be fetched: `https`, no user info, no port but 443, and a
/// host equal to one of `allowed_hosts` (such as `api.paypal.com`) or under one (any
/// `*.paypal.com` for `paypal.com`). Anything unusual (non-ASCII, whitespace, backslashes,
/// percent-encoded or empty host labels) is refused.
pub fn cert_url_allowed(url: &str, allowed_hosts: &[String]) -> bool {
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') {
        return false;
    }
    let Some(rest) = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = match authority.split_once(':') {
        Some((host, "443")) => host,
        Some(_) => return false,
        None => authority,
    };
    let valid_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.split('.').all(valid_label) {
        return false;
    }
    let host = host.to_ascii_lowercase();
    allowed_hosts.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        allowed.split('.').all(valid_label)
            && (host == allowed
                || host
                    .strip_suffix(allowed.as_str())
                    .is_some_and(|sub| sub.ends_with('.')))
    })
}

#[cfg(test)]
mod tests {
    use rsa::RsaPrivateKey;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};

    use super::*;
    use crate::test_support::headers;

    const CERT: &[u8] = include_bytes!("../tests/fixtures/paypal-test-cert.pem");
    const KEY: &str = include_str!("../tests/fixtures/paypal-test-key.pem");
    const OTHER_KEY: &str = include_str!("../tests/fixtures/other-test-key.pem");
    const EC_CERT: &[u8] = include_bytes!("../tests/fixtures/ec-test-cert.pem");
    const WEBHOOK_ID: &str = "1JE4291016473214C";
    const BODY: &[u8] =
        br#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.SALE.COMPLETED"}"#;

    fn signed(key_pem: &str, body: &[u8], webhook_id: &str) -> PaypalHeaders {
        let mut h = PaypalHeaders {
            transmission_id: "69cd13f0-d67a-11e5-baa3-778b53f4ae55".into(),
            transmission_time: "2016-02-18T20:01:35Z".into(),
            transmission_sig: String::new(),
            cert_url: "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77".into(),
            auth_algo: SHA256_WITH_RSA.into(),
        };
        let key =
            SigningKey::<Sha256>::new(RsaPrivateKey::from_pkcs8_pem(key_pem).expect("fixture key"));
        h.transmission_sig = STANDARD.encode(
            key.sign(message(&h, body, webhook_id).as_bytes())
                .to_bytes(),
        );
        h
    }

    #[test]
    fn valid_delivery_verifies() {
        assert_eq!(
            verify(&signed(KEY, BODY, WEBHOOK_ID), BODY, WEBHOOK_ID, CERT),
            Ok(())
        );
    }

    #[test]
    fn message_uses_unsigned_decimal_crc32() {
        let h = signed(KEY, BODY, WEBHOOK_ID);
        assert_eq!(
            message(&h, b"123456789", WEBHOOK_ID),
            "69cd13f0-d67a-11e5-baa3-778b53f4ae55|2016-02-18T20:01:35Z|1JE4291016473214C|3421780262"
        );
        assert_eq!(
            message(&h, b"", "x"),
            "69cd13f0-d67a-11e5-baa3-778b53f4ae55|2016-02-18T20:01:35Z|x|0"
        );
    }

    #[test]
    fn forgeries_fail() {
        let h = signed(KEY, BODY, WEBHOOK_ID);
        assert_eq!(
            verify(&h, b"{}", WEBHOOK_ID, CERT),
            Err(VerifyError::Mismatch),
            "tampered body"
        );
        assert_eq!(
            verify(&h, BODY, "OTHERWEBHOOK", CERT),
            Err(VerifyError::Mismatch),
            "other webhook"
        );
        let moved = PaypalHeaders {
            transmission_time: "2016-02-18T20:01:36Z".into(),
            ..h.clone()
        };
        assert_eq!(
            verify(&moved, BODY, WEBHOOK_ID, CERT),
            Err(VerifyError::Mismatch),
            "other time"
        );
        let other = signed(OTHER_KEY, BODY, WEBHOOK_ID);
        assert_eq!(
            verify(&other, BODY, WEBHOOK_ID, CERT),
            Err(VerifyError::Mismatch),
            "other key"
        );
        let mut sig = STANDARD.decode(&h.transmission_sig).expect("base64");
        sig[100] ^= 1;
        let flipped = PaypalHeaders {
            transmission_sig: STANDARD.encode(sig),
            ..h
        };
        assert_eq!(
            verify(&flipped, BODY, WEBHOOK_ID, CERT),
            Err(VerifyError::Mismatch),
            "flipped signature"
        );
    }

    #[test]
    fn malformed_headers_and_bad_certificates() {
        let h = signed(KEY, BODY, WEBHOOK_ID);
        let sha1 = PaypalHeaders {
            auth_algo: "SHA1withRSA".into(),
            ..h.clone()
        };
        assert_eq!(
            verify(&sha1, BODY, WEBHOOK_ID, CERT),
            Err(VerifyError::MalformedHeader(AUTH_ALGO))
        );
        for sig in ["%%%", "", "AAAA"] {
            let bad = PaypalHeaders {
                transmission_sig: sig.into(),
                ..h.clone()
            };
            let result = verify(&bad, BODY, WEBHOOK_ID, CERT);
            assert!(
                matches!(
                    result,
                    Err(VerifyError::MalformedHeader(_) | VerifyError::Mismatch)
                ),
                "{sig:?}: {result:?}"
            );
        }
        for cert in [&b"not a certificate"[..], EC_CERT, &CERT[..CERT.len() / 2]] {
            assert!(matches!(
                verify(&h, BODY, WEBHOOK_ID, cert),
                Err(VerifyError::BadKey(_))
            ));
        }
        assert!(matches!(
            verify(&h, BODY, "", CERT),
            Err(VerifyError::BadKey(_))
        ));
    }

    #[test]
    fn headers_are_read_case_insensitively() {
        let h = signed(KEY, BODY, WEBHOOK_ID);
        let pairs = [
            ("paypal-transmission-id", h.transmission_id.as_str()),
            ("Paypal-Transmission-Time", h.transmission_time.as_str()),
            ("PAYPAL-TRANSMISSION-SIG", h.transmission_sig.as_str()),
            ("paypal-cert-url", h.cert_url.as_str()),
            ("paypal-auth-algo", h.auth_algo.as_str()),
        ];
        assert_eq!(PaypalHeaders::from_headers(&headers(&pairs)), Ok(h.clone()));
        for (i, (name, _)) in pairs.iter().enumerate() {
            let without: Vec<_> = pairs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| *p)
                .collect();
            let expected = [
                TRANSMISSION_ID,
                TRANSMISSION_TIME,
                TRANSMISSION_SIG,
                CERT_URL,
                AUTH_ALGO,
            ][i];
            assert_eq!(
                PaypalHeaders::from_headers(&headers(&without)),
                Err(VerifyError::MissingHeader(expected)),
                "{name}"
            );
        }
    }

    #[test]
    fn cert_url_allowlist() {
        let allowed = ["paypal.com".to_owned(), "api.sandbox.paypal.com".to_owned()];
        for url in [
            "https://api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
            "HTTPS://API.PAYPAL.COM/cert",
            "https://paypal.com:443/cert",
            "https://paypal.com",
            "https://api.paypal.com?x=1",
        ] {
            assert!(cert_url_allowed(url, &allowed), "{url}");
        }
        for url in [
            "http://api.paypal.com/cert",
            "https://evilpaypal.com/cert",
            "https://api.paypal.com.evil.test/cert",
            "https://api.paypal.com@evil.test/cert",
            "https://evil.test@api.paypal.com/cert",
            "https://api.paypal.com:8443/cert",
            "https://api.paypal.com:/cert",
            "https://api.paypal.com./cert",
            "https://api..paypal.com/cert",
            "https://evil.test\\@api.paypal.com/cert",
            "https://api%2epaypal.com/cert",
            "https://api.paypal.com /cert",
            "https:///cert",
            "https://",
            "ftp://api.paypal.com/cert",
            "api.paypal.com/cert",
            "",
        ] {
            assert!(!cert_url_allowed(url, &allowed), "{url}");
        }
        assert!(!cert_url_allowed("https://api.paypal.com/cert", &[]));
        assert!(!cert_url_allowed(
            "https://api.paypal.com/cert",
            &[String::new()]
        ));
        assert!(!cert_url_allowed("https://com/cert", &[".com".to_owned()]));
    }
}
