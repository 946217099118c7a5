//! A small Prometheus registry: labelled counters and histograms rendered in the text
//! exposition format. Values live in memory; the server renders them on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Default latency buckets in seconds (1 ms … 10 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug)]
struct Series<T> {
    labels: Vec<String>,
    value: T,
}

/// A family of counters sharing a name and label names.
#[derive(Debug)]
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    series: RwLock<BTreeMap<String, Arc<Series<AtomicU64>>>>,
}

impl CounterVec {
    pub fn new(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            label_names,
            series: RwLock::default(),
        }
    }

    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: &[&str], n: u64) {
        series(&self.series, labels, || AtomicU64::new(0))
            .value
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Current value, for tests and health output.
    pub fn get(&self, labels: &[&str]) -> u64 {
        let key = labels.join("\u{1f}");
        self.series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map_or(0, |s| s.value.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        for s in self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                label_set(self.label_names, &s.labels, None),
                s.value.load(Ordering::Relaxed)
            );
        }
    }
}

#[derive(Debug)]
struct HistogramData {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in microseconds, so it can be atomic.
    sum_micros: AtomicU64,
}

/// A family of histograms sharing a name, label names and bucket bounds.
#[derive(Debug)]
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    bounds: &'static [f64],
    series: RwLock<BTreeMap<String, Arc<Series<HistogramData>>>>,
}

impl HistogramVec {
    pub fn new(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            label_names,
            bounds,
            series: RwLock::default(),
        }
    }

    pub fn observe(&self, labels: &[&str], seconds: f64) {
        let s = series(&self.series, labels, || HistogramData {
            buckets: self.bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        });
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            s.value.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        s.value.count.fetch_add(1, Ordering::Relaxed);
        s.value
            .sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} histogram",
            self.name, self.help, self.name
        );
        for s in self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            let mut cumulative = 0;
            for (bound, n) in self.bounds.iter().zip(&s.value.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let le = bound.to_string();
                let labels = label_set(self.label_names, &s.labels, Some(&le));
                let _ = writeln!(out, "{}_bucket{labels} {cumulative}", self.name);
            }
            let count = s.value.count.load(Ordering::Relaxed);
            let inf = label_set(self.label_names, &s.labels, Some("+Inf"));
            let plain = label_set(self.label_names, &s.labels, None);
            let sum = s.value.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{}_bucket{inf} {count}", self.name);
            let _ = writeln!(out, "{}_sum{plain} {sum}", self.name);
            let _ = writeln!(out, "{}_count{plain} {count}", self.name);
        }
    }
}

fn series<T>(
    map: &RwLock<BTreeMap<String, Arc<Series<T>>>>,
    labels: &[&str],
    init: impl FnOnce() -> T,
) -> Arc<Series<T>> {
    let key = labels.join("\u{1f}");
    if let Some(s) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return s.clone();
    }
    map.write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert_with(|| {
            Arc::new(Series {
                labels: labels.iter().map(|l| l.to_string()).collect(),
                value: init(),
            })
        })
        .clone()
}

fn label_set(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one gauge family from values computed at scrape time.
pub fn render_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    label_names: &[&str],
    rows: &[(Vec<String>, f64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in rows {
        let _ = writeln!(
            out,
            "{name}{} {value}",
            label_set(label_names, labels, None)
        );
    }
}

/// The metrics every Switchyard process keeps.
#[derive(Debug)]
pub struct Metrics {
    pub http_requests: CounterVec,
    pub intake: CounterVec,
    pub intake_rejections: CounterVec,
    pub events_processed: CounterVec,
    pub deliveries: CounterVec,
    pub provider_sends: CounterVec,
    pub messages: CounterVec,
    pub payment_calls: CounterVec,
    pub payment_reports: CounterVec,
    pub connector_calls: CounterVec,
    pub connector_duration: HistogramVec,
    pub connector_refreshes: CounterVec,
    pub http_duration: HistogramVec,
    pub jobs: CounterVec,
    pub job_duration: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http_requests: CounterVec::new(
                "switchyard_http_requests_total",
                "HTTP requests answered, by route and status.",
                &["method", "route", "status"],
            ),
            http_duration: HistogramVec::new(
                "switchyard_http_request_duration_seconds",
                "HTTP request latency, by route and status.",
                &["method", "route", "status"],
                LATENCY_BUCKETS,
            ),
            intake: CounterVec::new(
                "switchyard_intake_events_total",
                "Webhook events received, by source and outcome (accepted, duplicate).",
                &["source", "outcome"],
            ),
            intake_rejections: CounterVec::new(
                "switchyard_intake_rejections_total",
                "Webhook requests rejected, by source and reason.",
                &["source", "reason"],
            ),
            events_processed: CounterVec::new(
                "switchyard_events_processed_total",
                "Events processed (normalized and fanned out) by this node.",
                &[],
            ),
            deliveries: CounterVec::new(
                "switchyard_delivery_attempts_total",
                "Delivery attempts by endpoint and what followed (succeeded, retrying, failed, gone).",
                &["endpoint", "outcome"],
            ),
            provider_sends: CounterVec::new(
                "switchyard_provider_sends_total",
                "Calls to email and SMS providers, by channel, provider and result (sent, rejected, transient, rate_limited, unauthorized, not_supported).",
                &["channel", "provider", "result"],
            ),
            messages: CounterVec::new(
                "switchyard_messages_total",
                "Messages by channel and outcome of a sending round (sent, retrying, failed).",
                &["channel", "outcome"],
            ),
            payment_calls: CounterVec::new(
                "switchyard_payment_calls_total",
                "Calls to payment providers, by provider, operation and outcome (ok, rejected, not_found, unauthorized, rate_limited, unavailable, not_supported).",
                &["provider", "operation", "outcome"],
            ),
            payment_reports: CounterVec::new(
                "switchyard_payment_reports_total",
                "Provider webhooks applied to the payments mirror, by provider and whether the mirror changed (applied, unchanged, unmatched).",
                &["provider", "outcome"],
            ),
            connector_calls: CounterVec::new(
                "switchyard_connector_calls_total",
                "Proxied calls, by connector and outcome (the status class answered: 2xx, 4xx, 5xx; or cache_hit, rate_limited, unreachable, upstream_error, refused).",
                &["connector", "outcome"],
            ),
            connector_duration: HistogramVec::new(
                "switchyard_connector_call_duration_seconds",
                "Proxied call time (upstream attempts and waits included), by connector.",
                &["connector"],
                LATENCY_BUCKETS,
            ),
            connector_refreshes: CounterVec::new(
                "switchyard_connector_token_refreshes_total",
                "OAuth token refreshes of connections, by connector and outcome (ok, refused, failed).",
                &["connector", "outcome"],
            ),
            jobs: CounterVec::new(
                "switchyard_jobs_total",
                "Queue job runs by kind and outcome (completed, retried, dead, lost_lease).",
                &["kind", "outcome"],
            ),
            job_duration: HistogramVec::new(
                "switchyard_job_duration_seconds",
                "Queue job run time by kind.",
                &["kind"],
                LATENCY_BUCKETS,
            ),
        }
    }
}

impl Metrics {
    pub fn render(&self, out: &mut String) {
        self.http_requests.render(out);
        self.http_duration.render(out);
        self.intake.render(out);
        self.intake_rejections.render(out);
        self.events_processed.render(out);
        self.deliveries.render(out);
        self.provider_sends.render(out);
        self.messages.render(out);
        self.payment_calls.render(out);
        self.payment_reports.render(out);
        self.connector_calls.render(out);
        self.connector_duration.render(out);
        self.connector_refreshes.render(out);
        self.jobs.render(out);
        self.job_duration.render(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.http_requests.inc(&["GET", "/healthz", "200"]);
        m.http_requests.inc(&["GET", "/healthz", "200"]);
        m.http_duration.observe(&["GET", "/healthz", "200"], 0.003);
        m.http_duration.observe(&["GET", "/healthz", "200"], 0.2);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "switchyard_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(out.contains(
            "switchyard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.005\"} 1"
        ));
        assert!(out.contains(
            "switchyard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.25\"} 2"
        ));
        assert!(out.contains("switchyard_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"));
        assert_eq!(m.http_requests.get(&["GET", "/healthz", "200"]), 2);
    }
}
