//! `application/x-www-form-urlencoded` bodies, as Twilio and Slack post them.

/// The pairs of an `application/x-www-form-urlencoded` body, decoded.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit() =>
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    out.push(hex(bytes[i + 1]) << 4 | hex(bytes[i + 2]));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded() {
        assert_eq!(
            form(b"To=%2B15551234567&Body=hi+there&Empty=&bare&bad=%zz&plus=%+1"),
            vec![
                ("To".into(), "+15551234567".into()),
                ("Body".into(), "hi there".into()),
                ("Empty".into(), String::new()),
                ("bare".into(), String::new()),
                ("bad".into(), "%zz".into()),
                ("plus".into(), "% 1".into()),
            ]
        );
    }
}
