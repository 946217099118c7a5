use super::*;

fn headers(retry_after: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, retry_after.parse().expect("header value"));
    h
}

fn no_detail(_: &[u8]) -> Option<String> {
    None
}

fn json_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("message")?.as_str().map(str::to_string)
}

fn status(code: u16, headers: HeaderMap, body: &[u8]) -> Failure {
    Failure::Status {
        status: StatusCode::from_u16(code).expect("status"),
        headers,
        body: body.to_vec(),
    }
}

#[test]
fn retry_after_is_seconds_or_a_date() {
    let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
    assert_eq!(
        retry_after(&headers("7"), now),
        Some(Duration::from_secs(7))
    );
    assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
    assert_eq!(
        retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
        Some(Duration::ZERO)
    );
    assert_eq!(retry_after(&headers("soon"), now), None);
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
}

#[test]
fn statuses_map_to_what_the_sender_does_next() {
    let now = SystemTime::now();
    let body = br#"{"message":"bad number"}"#;
    let kind =
        |code: u16| send_error(&status(code, HeaderMap::new(), body), json_message, now).kind();
    assert_eq!(kind(400), "rejected");
    assert_eq!(kind(404), "rejected");
    assert_eq!(kind(422), "rejected");
    assert_eq!(kind(401), "unauthorized");
    assert_eq!(kind(403), "unauthorized");
    assert_eq!(kind(429), "rate_limited");
    assert_eq!(kind(408), "transient");
    assert_eq!(kind(500), "transient");
    assert_eq!(kind(503), "transient");
    assert_eq!(kind(302), "transient");
    assert_eq!(
        send_error(&status(400, HeaderMap::new(), body), json_message, now),
        SendError::Rejected("bad number".into())
    );
    assert_eq!(
        send_error(&status(429, headers("3"), b""), no_detail, now),
        SendError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            detail: "Too Many Requests".into()
        }
    );
    let no_answer = Failure::Transport {
        timed_out: true,
        detail: "timed out after 1s".into(),
    };
    assert_eq!(send_error(&no_answer, no_detail, now).kind(), "transient");
}

#[test]
fn unknown_error_bodies_are_quoted_briefly() {
    let long = "x".repeat(1000);
    let e = send_error(
        &status(502, HeaderMap::new(), long.as_bytes()),
        no_detail,
        SystemTime::now(),
    );
    let SendError::Transient(text) = e else {
        panic!("expected transient, got {e:?}");
    };
    assert!(text.starts_with("HTTP 502: xxx"), "{text}");
    assert!(text.chars().count() < 320, "{}", text.len());
}

#[test]
fn retries_cover_lost_answers_and_5xx_but_not_429_or_4xx() {
    let retry = Retry {
        retries: 2,
        base: Duration::from_millis(100),
        cap: Duration::from_millis(250),
        also: |status, headers| {
            if headers.contains_key("x-never") {
                Some(false)
            } else if status == StatusCode::CONFLICT {
                Some(true)
            } else {
                None
            }
        },
    };
    let lost = Failure::Transport {
        timed_out: false,
        detail: "reset".into(),
    };
    assert!(retry.wants(&lost));
    assert!(retry.wants(&status(500, HeaderMap::new(), b"")));
    assert!(retry.wants(&status(503, HeaderMap::new(), b"")));
    assert!(retry.wants(&status(409, HeaderMap::new(), b"")));
    assert!(!retry.wants(&status(429, HeaderMap::new(), b"")));
    assert!(!retry.wants(&status(400, HeaderMap::new(), b"")));
    let mut never = HeaderMap::new();
    never.insert("x-never", "1".parse().unwrap());
    assert!(!retry.wants(&status(500, never, b"")));
    assert!(!retry.wants(&Failure::Build("bad url".into())));
    for n in 1..=6 {
        let d = retry.delay(n);
        assert!(d <= Duration::from_millis(250), "{n}: {d:?}");
    }
    assert!(retry.delay(1) >= Duration::from_millis(50));
    assert!(retry.delay(1) <= Duration::from_millis(100));
}
