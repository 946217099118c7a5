//! OAuth 2.0 end to end against a token endpoint built from Google's documented shapes:
//! authorize → callback → tokens sealed → a call with the access token → expiry → one
//! refresh under 10 concurrent calls → a 401 refreshes once more → `invalid_grant` moves
//! the connection to `needs_auth` and publishes `connection.needs_auth`.

use wiremock::matchers::body_string_contains;

use super::*;

fn token(access: &str, refresh: Option<&str>, expires_in: u64) -> ResponseTemplate {
    let mut body = json!({"access_token": access, "expires_in": expires_in, "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/calendar.events"});
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn google_calendar_through_the_oauth_flow(backend: Backend) {
    let app = hub(backend).await;
    let google = MockServer::start().await;
    let no_redirects = switchyard_providers::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=code-1"))
        .and(body_string_contains("code_verifier="))
        .respond_with(token("at-1", Some("rt-1"), 61))
        .expect(1)
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("code=code-2"))
        .respond_with(token("at-x", None, 3600))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(token("at-2", Some("rt-2"), 3600).set_delay(Duration::from_millis(200)))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-2"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Token has been expired or revoked."})))
        .mount(&google)
        .await;
    for access in ["at-1", "at-2"] {
        Mock::given(method("GET"))
            .and(path("/calendar/v3/calendars/primary/events"))
            .and(header("authorization", format!("Bearer {access}").as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"items": [], "token": access})),
            )
            .mount(&google)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/calendar/v3/users/me/calendarList"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&google)
        .await;

    let body = |external_id: &str| {
        json!({"connector": "google-calendar", "external_id": external_id,
            "config": {"base_url": format!("{}/calendar/v3", google.uri()),
                "authorization_url": format!("{}/o/oauth2/v2/auth", google.uri()),
                "token_url": format!("{}/token", google.uri())},
            "credentials": {"client_id": "client-1.apps.googleusercontent.com",
                "client_secret": "GOCSPX-secret"}})
    };
    let id = connect(&app, body("instructor-7")).await;
    let shown = app.get_json(&format!("/v1/connections/{id}")).await;
    assert_eq!(shown["status"], "needs_auth");
    let found = app
        .get_json("/v1/connections?connector=google-calendar&external_id=instructor-7")
        .await;
    assert_eq!(found["data"][0]["id"], id.as_str());
    let r = proxy(&app, Method::GET, &id, "/calendars/primary/events")
        .send()
        .await
        .unwrap();
    problem(r, 409, "connection_needs_auth").await;

    // `return_to` must be allowed.
    let r = app
        .post(
            &format!("/v1/connections/{id}/authorize"),
            json!({"return_to": "https://evil.example/"}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    let authorize = |id: String| {
        let app = &app;
        async move {
            let r = app
                .post(
                    &format!("/v1/connections/{id}/authorize"),
                    json!({"return_to": "https://app.example.com/settings/calendar"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["authorize_url"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let url = authorize(id.clone()).await;
    assert!(
        url.starts_with(&format!("{}/o/oauth2/v2/auth?", google.uri())),
        "{url}"
    );
    let q = query_of(&url);
    assert_eq!(q["client_id"], "client-1.apps.googleusercontent.com");
    assert_eq!(
        q["redirect_uri"],
        format!("http://{}/oauth/callback", app.addr)
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(
        q["scope"],
        "https://www.googleapis.com/auth/calendar.events"
    );
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43);

    let callback = format!(
        "http://{}/oauth/callback?state={}&code=code-1&scope=x",
        app.addr, q["state"]
    );
    let r = no_redirects.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://app.example.com/settings/calendar?"),
        "{location}"
    );
    let back = query_of(&location);
    assert_eq!(
        (back["connection"].as_str(), back["status"].as_str()),
        (id.as_str(), "ok")
    );
    // The state is single-use.
    let r = no_redirects.get(&callback).send().await.unwrap();
    problem(r, 400, "invalid_state").await;

    let shown = app.get_json(&format!("/v1/connections/{id}")).await;
    assert_eq!(shown["status"], "ok");
    assert_eq!(
        shown["scopes"],
        json!(["https://www.googleapis.com/auth/calendar.events"])
    );
    assert!(shown["expires_at"].is_string());
    let text = shown.to_string();
    for secret in ["at-1", "rt-1", "GOCSPX-secret"] {
        assert!(!text.contains(secret), "{text}");
    }
    let r = proxy(&app, Method::GET, &id, "/calendars/primary/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["token"], "at-1");

    // The access token is within a minute of expiring: ten calls at once, one refresh.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let all = (0..10).map(|_| async {
        let r = proxy(&app, Method::GET, &id, "/calendars/primary/events")
            .header("cache-control", "no-cache")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"].clone()
    });
    let tokens = futures_util::future::join_all(all).await;
    assert!(tokens.iter().all(|t| t == "at-2"), "{tokens:?}");
    let refreshes = |requests: &[wiremock::Request], refresh: &str| {
        requests
            .iter()
            .filter(|r| {
                String::from_utf8_lossy(&r.body).contains(&format!("refresh_token={refresh}"))
            })
            .count()
    };
    let seen = google.received_requests().await.unwrap();
    assert_eq!(refreshes(&seen, "rt-1"), 1, "exactly one refresh");

    // The upstream refuses the token: one refresh more, refused as `invalid_grant`.
    let r = proxy(&app, Method::GET, &id, "/users/me/calendarList")
        .send()
        .await
        .unwrap();
    problem(r, 409, "connection_needs_auth").await;
    let seen = google.received_requests().await.unwrap();
    assert_eq!(refreshes(&seen, "rt-2"), 1);
    let shown = app.get_json(&format!("/v1/connections/{id}")).await;
    assert_eq!(shown["status"], "needs_auth");
    assert!(
        shown["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{shown}"
    );
    let mut published = Value::Null;
    for _ in 0..50 {
        published = app.get_json("/v1/events?type=connection.needs_auth").await;
        if !published["data"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        published["data"].as_array().unwrap().len(),
        1,
        "{published}"
    );
    let event = app
        .get_json(&format!(
            "/v1/events/{}",
            published["data"][0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(event["payload"]["connection_id"], id.as_str(), "{event}");
    assert_eq!(event["payload"]["external_id"], "instructor-7");

    // Offline access asked for and no refresh token granted: refused.
    let other = connect(&app, body("instructor-8")).await;
    let url = authorize(other.clone()).await;
    let state = query_of(&url)["state"].clone();
    let r = no_redirects
        .get(format!(
            "http://{}/oauth/callback?state={state}&code=code-2",
            app.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        (back["status"].as_str(), back["error"].as_str()),
        ("needs_auth", "no_refresh_token")
    );
    let shown = app.get_json(&format!("/v1/connections/{other}")).await;
    assert_eq!(shown["status"], "needs_auth");
    app.finish().await;
}

both_backends!(google_calendar_through_the_oauth_flow);
