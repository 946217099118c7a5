//! Rate limits held by every node together, through PostgreSQL: Nominatim's one request
//! a second over a 20 s burst from two nodes, and a 60 per minute connector over a
//! minute and more.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wiremock::{Request, Respond};

use super::*;

/// Answers 200 and notes when each request arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Instant>>>);

impl Respond for Arrivals {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_json(json!([]))
    }
}

impl Arrivals {
    fn times(&self) -> Vec<Instant> {
        let mut t = self.0.lock().unwrap().clone();
        t.sort();
        t
    }
}

/// The most arrivals in any span of `window`.
fn most_in_any(times: &[Instant], window: Duration) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&t| t < times[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_across_two_nodes() {
    let define = vec![json!({"name": "sixty", "base_url": "{config.site}",
        "config": {"site": {"required": true}},
        "rate_limits": [{"requests": 60, "per": "1m"}]})];
    let tweak = |c: &mut switchyard_server::Config| {
        c.connectors.allow_private_networks = true;
        c.connectors.define = define.clone();
    };
    let app = TestApp::spawn_with(Backend::Postgres, tweak, vec![]).await;
    let mut config = crate::config_for(&app.db);
    config.master_key = app.master_key.clone();
    config.bootstrap_key = false;
    tweak(&mut config);
    let second = switchyard_server::Hub::open(config)
        .await
        .expect("second node opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(second.serve(listener, async move {
        let _ = stopped.await;
    }));

    let upstream = MockServer::start().await;
    let geocode = Arrivals::default();
    let sixty = Arrivals::default();
    Mock::given(path("/search"))
        .respond_with(geocode.clone())
        .mount(&upstream)
        .await;
    Mock::given(path("/items"))
        .respond_with(sixty.clone())
        .mount(&upstream)
        .await;
    let nominatim = connect(
        &app,
        json!({"connector": "nominatim", "config": {"base_url": upstream.uri(),
            "user_agent": "acme-bookings/1.0 (ops@acme.example)"}}),
    )
    .await;
    let limited = connect(
        &app,
        json!({"connector": "sixty", "config": {"site": upstream.uri()}}),
    )
    .await;

    // Both nodes, with the bootstrap key, three loops each per connector.
    let bases = [
        format!("http://{}", app.addr),
        format!("http://{second_addr}"),
    ];
    let started = Instant::now();
    let mut runs = Vec::new();
    for base in &bases {
        runs.push(tokio::spawn(burst(
            base.clone(),
            app.key.clone(),
            nominatim.clone(),
            "/search?format=json&q=",
            3,
            started + Duration::from_secs(20),
        )));
        runs.push(tokio::spawn(burst(
            base.clone(),
            app.key.clone(),
            limited.clone(),
            "/items?n=",
            3,
            started + Duration::from_secs(65),
        )));
    }
    let mut statuses = Vec::new();
    for run in runs {
        statuses.extend(run.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the burst was refused nothing: {statuses:?}"
    );

    let geocoded = geocode.times();
    assert_eq!(
        most_in_any(&geocoded, Duration::from_secs(1)),
        1,
        "more than one request in a second"
    );
    assert!(
        (18..=23).contains(&geocoded.len()),
        "{} requests in 20 s",
        geocoded.len()
    );

    let items = sixty.times();
    assert!(most_in_any(&items, Duration::from_secs(60)) <= 60);
    let first_minute = items
        .iter()
        .filter(|&&t| t < items[0] + Duration::from_secs(60))
        .count();
    assert!(
        (54..=66).contains(&first_minute),
        "{first_minute} in the first minute"
    );
    assert!(
        items.len() > 60,
        "the second minute's slots were not used: {}",
        items.len()
    );
    let _ = stop.send(());
    node.await.unwrap().unwrap();
    app.finish().await;
}

/// Calls `rest{w}-{n}` on `connection` through the node at `base` from `workers` loops
/// until `until`; the statuses answered.
async fn burst(
    base: String,
    key: String,
    connection: String,
    rest: &'static str,
    workers: usize,
    until: Instant,
) -> Vec<u16> {
    let client = switchyard_providers::http_client_builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {key}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let loops = (0..workers).map(|w| {
        let (client, base, connection) = (client.clone(), base.clone(), connection.clone());
        async move {
            let mut statuses = Vec::new();
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                let r = client
                    .get(format!("{base}/v1/proxy/{connection}{rest}{w}-{n}"))
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
                if r.status() == 429 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            statuses
        }
    });
    futures_util::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect()
}
