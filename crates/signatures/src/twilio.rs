//! Twilio: `X-Twilio-Signature`, base64 HMAC-SHA1 keyed with the Auth Token.
//!
//! Form POSTs sign the full URL followed by every decoded parameter as `name` + `value`,
//! sorted by name then value, identical pairs counted once. Requests whose URL carries
//! `bodySHA256=<hex>` (JSON bodies) sign the URL alone, and the body must hash to that value.
//! Because Twilio is inconsistent about default ports, the URL is also tried with `:443` /
//! `:80` added when absent or removed when present, and without any `user:password@`.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{
    Inbound, Redacted, Verifier, VerifyError, base64_std, ct_eq, header_str, require_secrets,
};

pub const HEADER: &str = "X-Twilio-Signature";

/// Twilio account configuration.
#[derive(Clone)]
pub struct Twilio {
    /// Accepted Auth Tokens (primary and, while promoting it, secondary).
    pub auth_tokens: Vec<String>,
}

impl fmt::Debug for Twilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field("auth_tokens", &Redacted(self.auth_tokens.len()))
            .finish()
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs, in body order.
/// `+` is a space; a `%` not followed by two hex digits, or a decoded value that is not
/// UTF-8, is `MalformedBody`. Empty segments are skipped; a segment without `=` is a name
/// with an empty value.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, VerifyError> {
    body.split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (&segment[..i], &segment[i + 1..]),
                None => (segment, &b""[..]),
            };
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

fn form_decode(input: &[u8]) -> Result<String, VerifyError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input
                    .get(i + 1..i + 3)
                    .ok_or_else(|| malformed("truncated percent-escape"))?;
                let byte = std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| malformed("invalid percent-escape"))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| malformed("form value is not UTF-8"))
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::MalformedBody(what.to_owned())
}

fn signature<N: AsRef<str>, V: AsRef<str>>(token: &str, url: &str, params: &[(N, V)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64_std(&mac.finalize().into_bytes())
}

/// The `X-Twilio-Signature` Twilio sends for a form POST of `params` to `url`.
pub fn sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    signature(token, url, params)
}

/// The `X-Twilio-Signature` Twilio sends for a request signed over the URL alone (GET, or
/// a JSON body announced by `bodySHA256` in the URL).
pub fn sign_url(token: &str, url: &str) -> String {
    signature::<&str, &str>(token, url, &[])
}

/// The value of the first `bodySHA256` query parameter, if any.
fn body_sha256_param(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("bodySHA256="))
}

/// The URL as given, followed by the spellings Twilio may have signed instead.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut bases = vec![url.to_owned()];
    if let Some(without) = without_userinfo(url) {
        bases.push(without);
    }
    let mut out = Vec::with_capacity(bases.len() * 2);
    for base in bases {
        let toggled = toggle_default_port(&base);
        out.push(base);
        out.extend(toggled);
    }
    out.dedup();
    out
}

/// Splits `scheme://authority rest` into the byte offsets of the authority.
fn authority_range(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    Some((start, end))
}

fn without_userinfo(url: &str) -> Option<String> {
    let (start, end) = authority_range(url)?;
    let at = url[start..end].rfind('@')?;
    Some(format!("{}{}", &url[..start], &url[start + at + 1..]))
}

fn toggle_default_port(url: &str) -> Option<String> {
    let (start, end) = authority_range(url)?;
    let default = match url[..start - 3].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let host = &url[host_start..end];
    match host.rfind(':').filter(|&i| !host[i..].contains(']')) {
        Some(i) if &host[i + 1..] == default => {
            Some(format!("{}{}", &url[..host_start + i], &url[end..]))
        }
        Some(_) => None,
        None => Some(format!("{}:{default}{}", &url[..end], &url[end..])),
    }
}

impl Verifier for Twilio {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.auth_tokens)?;
        let given = header_str(req.headers, HEADER)?;
        let body_hash = body_sha256_param(req.url);
        let params = match body_hash {
            Some(_) => Vec::new(),
            None => parse_form(req.body)?,
        };
        let matched = url_variants(req.url).iter().fold(false, |found, url| {
            self.auth_tokens.iter().fold(found, |found, token| {
                found | ct_eq(signature(token, url, &params).as_bytes(), given.as_bytes())
            })
        });
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        if let Some(expected) = body_hash
            && !ct_eq(
                hex::encode(Sha256::digest(req.body)).as_bytes(),
                expected.as_bytes(),
            )
        {
            return Err(VerifyError::Mismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, TimeRule, URL, headers, run_conformance};

    const TOKEN: &str = "12345";
    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const VECTOR_PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    const VECTOR_SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    const VECTOR_BODY: &[u8] =
        b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    const JSON_BODY: &[u8] = br#"{"property":"value","boolean":true}"#;
    const JSON_HASH: &str = "d5729c000e5de6b3a10698fec78d482db85d744f1be820d1382b6bda1cfb7795";

    fn twilio(token: &str) -> Twilio {
        Twilio {
            auth_tokens: vec![token.into()],
        }
    }

    fn at(v: &Twilio, url: &str, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        let h = headers(&[
            (HEADER, sig),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        v.verify(&Inbound {
            headers: &h,
            body,
            url,
            now: 0,
        })
    }

    const TOKENS: [&str; 3] = ["token-one", "token-two", "token-other"];

    struct TwilioFixture;

    impl Fixture for TwilioFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(Twilio {
                auth_tokens: keys.iter().map(|&k| TOKENS[k].to_owned()).collect(),
            })
        }
        fn sign(&self, key: usize, body: &[u8], _ts: i64) -> HeaderMap {
            let params = parse_form(body).expect("form body");
            headers(&[(HEADER, &signature(TOKENS[key], URL, &params))])
        }
        fn signature_header(&self) -> &'static str {
            HEADER
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![HEADER]
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::None
        }
        fn body(&self) -> Vec<u8> {
            b"MessageSid=SM1&Body=Hello+there&From=%2B15550001111".to_vec()
        }
        fn tampered_body(&self) -> Vec<u8> {
            b"MessageSid=SM1&Body=Hello+where&From=%2B15550001111".to_vec()
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&TwilioFixture);
    }

    #[test]
    fn published_form_vector() {
        assert_eq!(sign(TOKEN, VECTOR_URL, &VECTOR_PARAMS), VECTOR_SIG);
        assert_eq!(
            at(&twilio(TOKEN), VECTOR_URL, VECTOR_SIG, VECTOR_BODY),
            Ok(())
        );
    }

    #[test]
    fn parameter_order_in_the_body_does_not_matter() {
        let shuffled = b"To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B12349013030&Caller=%2B12349013030";
        assert_eq!(at(&twilio(TOKEN), VECTOR_URL, VECTOR_SIG, shuffled), Ok(()));
    }

    #[test]
    fn repeated_names_sort_values_and_identical_pairs_count_once() {
        let url = "https://example.com/sms";
        let expected = sign(TOKEN, url, &[("A", "1"), ("A", "2"), ("B", "x")]);
        assert_eq!(
            at(&twilio(TOKEN), url, &expected, b"B=x&A=2&A=1&A=2"),
            Ok(())
        );
        assert_eq!(
            at(&twilio(TOKEN), url, &expected, b"B=x&A=2"),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn json_body_vector() {
        let url = format!("{VECTOR_URL}&bodySHA256={JSON_HASH}");
        assert_eq!(hex::encode(Sha256::digest(JSON_BODY)), JSON_HASH);
        let sig = sign_url(TOKEN, &url);
        let h = headers(&[(HEADER, &sig), ("content-type", "application/json")]);
        let check = |body: &[u8], url: &str| {
            twilio(TOKEN).verify(&Inbound {
                headers: &h,
                body,
                url,
                now: 0,
            })
        };
        assert_eq!(check(JSON_BODY, &url), Ok(()));
        assert_eq!(
            check(br#"{"property":"value","boolean":false}"#, &url),
            Err(VerifyError::Mismatch)
        );
        let other_hash = format!("{VECTOR_URL}&bodySHA256={}", "0".repeat(64));
        assert_eq!(check(JSON_BODY, &other_hash), Err(VerifyError::Mismatch));
    }

    #[test]
    fn json_body_is_not_parsed_as_a_form() {
        let url = format!(
            "https://example.com/hook?bodySHA256={}",
            hex::encode(Sha256::digest(b"100%"))
        );
        assert_eq!(
            at(&twilio(TOKEN), &url, &sign_url(TOKEN, &url), b"100%"),
            Ok(())
        );
    }

    #[test]
    fn default_port_spellings() {
        let without = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let with = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        for (signed, received) in [
            (without, with),
            (with, without),
            (without, without),
            (with, with),
        ] {
            let sig = sign(TOKEN, signed, &VECTOR_PARAMS);
            assert_eq!(
                at(&twilio(TOKEN), received, &sig, VECTOR_BODY),
                Ok(()),
                "{signed} -> {received}"
            );
        }
        let http_sig = sign(TOKEN, "http://example.com:80/x", &[]);
        assert_eq!(
            at(&twilio(TOKEN), "http://example.com/x", &http_sig, b""),
            Ok(())
        );
        let odd = sign(TOKEN, "https://example.com:8443/x", &[]);
        assert_eq!(
            at(&twilio(TOKEN), "https://example.com/x", &odd, b""),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn url_variant_spellings() {
        assert_eq!(
            url_variants("https://h.example/p"),
            vec!["https://h.example/p", "https://h.example:443/p"]
        );
        assert_eq!(
            url_variants("HTTP://h.example:80"),
            vec!["HTTP://h.example:80", "HTTP://h.example"]
        );
        assert_eq!(
            url_variants("https://[::1]:443/p?q"),
            vec!["https://[::1]:443/p?q", "https://[::1]/p?q"]
        );
        assert_eq!(
            url_variants("https://[::1]/p"),
            vec!["https://[::1]/p", "https://[::1]:443/p"]
        );
        assert_eq!(
            url_variants("https://h.example:8443/p"),
            vec!["https://h.example:8443/p"]
        );
        assert_eq!(
            url_variants("https://u:p@h.example/p"),
            vec![
                "https://u:p@h.example/p",
                "https://u:p@h.example:443/p",
                "https://h.example/p",
                "https://h.example:443/p"
            ]
        );
        assert_eq!(url_variants("not a url"), vec!["not a url"]);
        assert_eq!(url_variants("ftp://h/p"), vec!["ftp://h/p"]);
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form(b"a=1+2&b=%41%62&&c&d=&e=x=y").expect("valid"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "Ab".into()),
                ("c".into(), String::new()),
                ("d".into(), String::new()),
                ("e".into(), "x=y".into())
            ]
        );
        assert_eq!(
            parse_form(b"n=%C3%A9").expect("utf-8"),
            vec![("n".into(), "é".into())]
        );
        for bad in [
            &b"a=%"[..],
            b"a=%4",
            b"a=%zz",
            b"a=%+1",
            b"a=%C3",
            b"\xff=1",
        ] {
            assert!(
                matches!(parse_form(bad), Err(VerifyError::MalformedBody(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_form_body_is_a_bad_request() {
        let err = at(&twilio(TOKEN), VECTOR_URL, VECTOR_SIG, b"a=%zz").expect_err("malformed");
        assert!(err.is_malformed_request());
    }

    #[test]
    fn wrong_token_fails() {
        assert_eq!(
            at(&twilio("54321"), VECTOR_URL, VECTOR_SIG, VECTOR_BODY),
            Err(VerifyError::Mismatch)
        );
    }
}
