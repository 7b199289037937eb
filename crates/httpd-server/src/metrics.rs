//! Counters for `/metrics` (Prometheus text format 0.0.4) and `/healthz`.
//!
//! Every counter is a relaxed atomic: each is exact on its own, and a scrape may see
//! two counters at slightly different instants, which Prometheus tolerates.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use httpd_proto::Method;

/// Method labels, in the order of the counter rows.
const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "OPTIONS", "other"];

/// Status classes, in the order of the counter columns.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Labels of failed TLS handshakes.
const TLS_FAILURES: [&str; 8] = [
    "io",
    "plain_http",
    "bad_record",
    "no_common_parameters",
    "peer_alert",
    "eof",
    "other",
    "timeout",
];

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's counters and gauges.
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    requests: [[AtomicU64; CLASSES.len()]; METHODS.len()],
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    uploads: AtomicU64,
    rejected: AtomicU64,
    rate_limited: AtomicU64,
    /// Cumulative counts per bucket are computed at render time from these.
    duration_buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_micros: AtomicU64,
    /// Responses by scheme: http, https.
    by_scheme: [AtomicU64; 2],
    /// TLS handshakes completed, and how many resumed a session.
    tls_handshakes: AtomicU64,
    tls_resumed: AtomicU64,
    /// TLS handshakes that failed, by reason (`transport::Failure::ALL` order, then
    /// `timeout`).
    tls_failures: [AtomicU64; TLS_FAILURES.len()],
    /// Certificate reloads that failed (the old certificates stay in use).
    tls_reload_failures: AtomicU64,
    /// Certificate reloads that succeeded.
    tls_reloads: AtomicU64,
    /// Connections open right now (poller and workers).
    pub(crate) open_connections: AtomicI64,
    /// Connections parked in the poller between requests.
    pub(crate) idle_connections: AtomicI64,
    /// Workers handling a request right now.
    pub(crate) busy_workers: AtomicI64,
    /// Ready connections waiting for a worker.
    pub(crate) queued: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            started: Instant::now(),
            requests: Default::default(),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            duration_buckets: Default::default(),
            duration_sum_micros: AtomicU64::new(0),
            by_scheme: Default::default(),
            tls_handshakes: AtomicU64::new(0),
            tls_resumed: AtomicU64::new(0),
            tls_failures: Default::default(),
            tls_reload_failures: AtomicU64::new(0),
            tls_reloads: AtomicU64::new(0),
            open_connections: AtomicI64::new(0),
            idle_connections: AtomicI64::new(0),
            busy_workers: AtomicI64::new(0),
            queued: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// Returns the time since the server started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one response, sent over https when `https`.
    pub(crate) fn record(
        &self,
        method: Method,
        status: u16,
        body_bytes: u64,
        took: Duration,
        https: bool,
    ) {
        self.by_scheme[usize::from(https)].fetch_add(1, Ordering::Relaxed);
        let row = match method {
            Method::Get => 0,
            Method::Head => 1,
            Method::Post => 2,
            Method::Options => 3,
            _ => 4,
        };
        let col = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[row][col].fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(body_bytes, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&upper| secs <= upper)
            .unwrap_or(BUCKETS.len());
        self.duration_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts request body bytes read.
    pub(crate) fn received(&self, n_bytes: u64) {
        self.bytes_received.fetch_add(n_bytes, Ordering::Relaxed);
    }

    /// Counts one stored upload.
    pub(crate) fn uploaded(&self) {
        self.uploads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one connection refused with 503.
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a completed TLS handshake.
    pub(crate) fn tls_handshake(&self, resumed: bool) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
        if resumed {
            self.tls_resumed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a failed TLS handshake by reason (one of [`TLS_FAILURES`]).
    pub(crate) fn tls_failed(&self, reason: &str) {
        let i = TLS_FAILURES
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(TLS_FAILURES.len() - 2);
        self.tls_failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a certificate reload.
    pub(crate) fn tls_reloaded(&self, ok: bool) {
        if ok {
            self.tls_reloads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.tls_reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one request refused with 429.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub(crate) fn render(
        &self,
        n_workers: usize,
        queue_capacity: usize,
        file_cache: httpd_files::FileCacheStats,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let gauge = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0);

        header(
            &mut out,
            "httpd_requests_total",
            "counter",
            "Responses sent, by method and status class.",
        );
        for (row, method) in METHODS.iter().enumerate() {
            for (col, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "httpd_requests_total{{method=\"{method}\",status=\"{class}\"}} {}",
                    load(&self.requests[row][col])
                );
            }
        }
        header(
            &mut out,
            "httpd_requests_by_scheme_total",
            "counter",
            "Responses sent, by scheme.",
        );
        for (i, scheme) in ["http", "https"].iter().enumerate() {
            let _ = writeln!(
                out,
                "httpd_requests_by_scheme_total{{scheme=\"{scheme}\"}} {}",
                load(&self.by_scheme[i])
            );
        }
        header(
            &mut out,
            "httpd_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed, by reason.",
        );
        for (i, reason) in TLS_FAILURES.iter().enumerate() {
            let _ = writeln!(
                out,
                "httpd_tls_handshake_failures_total{{reason=\"{reason}\"}} {}",
                load(&self.tls_failures[i])
            );
        }
        let counters: [(&str, &str, u64); 11] = [
            (
                "httpd_tls_handshakes_total",
                "TLS handshakes completed.",
                load(&self.tls_handshakes),
            ),
            (
                "httpd_tls_resumed_total",
                "TLS handshakes that resumed a session from a ticket.",
                load(&self.tls_resumed),
            ),
            (
                "httpd_tls_reloads_total",
                "Certificate reloads that took effect.",
                load(&self.tls_reloads),
            ),
            (
                "httpd_tls_reload_failures_total",
                "Certificate reloads refused (bad files); the old certificates stay in use.",
                load(&self.tls_reload_failures),
            ),
            (
                "httpd_sent_bytes_total",
                "Response body bytes sent.",
                load(&self.bytes_sent),
            ),
            (
                "httpd_received_bytes_total",
                "Request body bytes received.",
                load(&self.bytes_received),
            ),
            (
                "httpd_uploads_total",
                "Uploads stored.",
                load(&self.uploads),
            ),
            (
                "httpd_rejected_connections_total",
                "Connections refused with 503 (queue or connection cap full).",
                load(&self.rejected),
            ),
            (
                "httpd_rate_limited_total",
                "Requests refused with 429 by the per-client rate limit.",
                load(&self.rate_limited),
            ),
            (
                "httpd_file_cache_hits_total",
                "File opens answered from the file cache (one statx each).",
                file_cache.hits,
            ),
            (
                "httpd_file_cache_misses_total",
                "File opens that went to the filesystem.",
                file_cache.misses,
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        let as_gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let gauges: [(&str, &str, i64); 8] = [
            (
                "httpd_open_connections",
                "Client connections open.",
                gauge(&self.open_connections),
            ),
            (
                "httpd_idle_connections",
                "Keep-alive connections waiting for their next request.",
                gauge(&self.idle_connections),
            ),
            (
                "httpd_pool_busy_workers",
                "Workers running a job.",
                gauge(&self.busy_workers),
            ),
            (
                "httpd_pool_queued_connections",
                "Jobs waiting for a worker.",
                gauge(&self.queued),
            ),
            (
                "httpd_pool_workers",
                "Worker threads.",
                i64::try_from(n_workers).unwrap_or(i64::MAX),
            ),
            (
                "httpd_pool_queue_capacity",
                "Jobs that may wait for a worker.",
                i64::try_from(queue_capacity).unwrap_or(i64::MAX),
            ),
            (
                "httpd_file_cache_entries",
                "Files held in the file cache.",
                as_gauge(file_cache.entries),
            ),
            (
                "httpd_file_cache_bytes",
                "Memory charged to the file cache.",
                as_gauge(file_cache.bytes),
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "httpd_request_duration_seconds",
            "histogram",
            "Time from a complete request head to the end of its response.",
        );
        let mut cumulative = 0;
        for (i, upper) in BUCKETS.iter().enumerate() {
            cumulative += load(&self.duration_buckets[i]);
            let _ = writeln!(
                out,
                "httpd_request_duration_seconds_bucket{{le=\"{upper}\"}} {cumulative}"
            );
        }
        cumulative += load(&self.duration_buckets[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "httpd_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = load(&self.duration_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "httpd_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "httpd_request_duration_seconds_count {cumulative}");
        header(
            &mut out,
            "httpd_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(out, "httpd_uptime_seconds {}", self.uptime().as_secs());
        out
    }

    /// Renders the `/healthz` body.
    pub(crate) fn health(&self) -> String {
        format!(
            "{{\"status\":\"ok\",\"uptime_seconds\":{},\"version\":\"{}\"}}",
            self.uptime().as_secs(),
            env!("CARGO_PKG_VERSION")
        )
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_land_in_method_status_and_duration_series() {
        let m = Metrics::default();
        m.record(Method::Get, 200, 10, Duration::from_micros(300), false);
        m.record(Method::Get, 404, 5, Duration::from_millis(30), true);
        m.record(Method::Delete, 405, 0, Duration::from_secs(20), false);
        m.tls_handshake(true);
        m.tls_failed("plain_http");
        let text = m.render(10, 50, httpd_files::FileCacheStats::default());
        assert!(text.contains("httpd_requests_total{method=\"GET\",status=\"2xx\"} 1\n"));
        assert!(text.contains("httpd_requests_total{method=\"GET\",status=\"4xx\"} 1\n"));
        assert!(text.contains("httpd_requests_total{method=\"other\",status=\"4xx\"} 1\n"));
        assert!(text.contains("httpd_sent_bytes_total 15\n"));
        assert!(text.contains("httpd_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("httpd_request_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("httpd_request_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("httpd_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("httpd_request_duration_seconds_count 3\n"));
        assert!(text.contains("httpd_pool_workers 10\n"));
        assert!(text.contains("httpd_requests_by_scheme_total{scheme=\"http\"} 2\n"));
        assert!(text.contains("httpd_requests_by_scheme_total{scheme=\"https\"} 1\n"));
        assert!(text.contains("httpd_tls_handshakes_total 1\n"));
        assert!(text.contains("httpd_tls_resumed_total 1\n"));
        assert!(text.contains("httpd_tls_handshake_failures_total{reason=\"plain_http\"} 1\n"));
    }

    #[test]
    fn every_series_has_help_and_type() {
        let text = Metrics::default().render(1, 1, httpd_files::FileCacheStats::default());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{name}");
            assert!(text.contains(&format!("# HELP {family} ")), "{name}");
        }
    }

    #[test]
    fn health_is_small_json() {
        let body = Metrics::default().health();
        assert!(body.starts_with("{\"status\":\"ok\",\"uptime_seconds\":"));
        assert!(body.contains("\"version\":\""));
    }
}
