//! Operating it: health, metrics, security headers, CORS, request ids, rate limits,
//! trusted proxies and access log formats.

use crate::util::{Dir, TestServer};

fn read_lines(path: &std::path::Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Returns the lines holding `needle`, waiting (bounded) until there is at least one:
/// the access line is written just after the response.
fn access_lines(path: &std::path::Path, needle: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + crate::util::IO_TIMEOUT;
    loop {
        let lines = read_lines(path, needle);
        if !lines.is_empty() || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::yield_now();
    }
}

#[test]
fn healthz_answers_small_json() {
    let server = TestServer::start(&[]);
    let r = server.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["uptime_seconds"].is_u64());
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let r = server.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // Turned off, they are plain paths again: without an extension, refused as a file
    // type, like any other.
    let off = TestServer::start(&["--no-health", "--no-metrics"]);
    assert_eq!(off.get("/healthz").status, 415);
    assert_eq!(off.get("/metrics").status, 415);
}

#[test]
fn metrics_count_requests_by_method_and_status() {
    let server = TestServer::start(&["--metrics-path", "/internal/metrics"]);
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.get("/nope.html").status, 404);
    // Each response is counted just after it is sent: poll until both are in.
    let deadline = std::time::Instant::now() + crate::util::IO_TIMEOUT;
    let r = loop {
        let r = server.get("/internal/metrics");
        let done = r.text().contains("status=\"4xx\"} 1\n");
        if done || std::time::Instant::now() > deadline {
            break r;
        }
    };
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    assert!(
        text.contains("httpd_requests_total{method=\"GET\",status=\"2xx\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("httpd_requests_total{method=\"GET\",status=\"4xx\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE httpd_request_duration_seconds histogram"));
    assert!(text.contains("httpd_pool_workers 10\n"));
    assert!(text.contains("httpd_open_connections "));
}

#[test]
fn uploads_and_rejections_are_counted() {
    let server = TestServer::start(&[]);
    let body = b"{\"a\":1}";
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    assert_eq!(server.send(&raw).status, 201);
    let deadline = std::time::Instant::now() + crate::util::IO_TIMEOUT;
    let text = loop {
        let text = server.get("/metrics").text();
        if text.contains("httpd_uploads_total 1\n") || std::time::Instant::now() > deadline {
            break text;
        }
    };
    assert!(text.contains("httpd_uploads_total 1\n"), "{text}");
    assert!(text.contains("httpd_received_bytes_total 7\n"), "{text}");
}

#[test]
fn security_headers_are_on_by_default_and_configurable() {
    let server = TestServer::start(&[]);
    for path in ["/", "/logo.png", "/nope.html"] {
        let r = server.get(path);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"), "{path}");
        assert_eq!(
            r.header("referrer-policy"),
            Some("strict-origin-when-cross-origin")
        );
    }
    // The docroot's pages get no CSP by default (it would break their inline scripts
    // and styles); pages the server writes itself get a strict one.
    assert!(server.get("/").header("content-security-policy").is_none());
    assert!(
        server
            .get("/logo.png")
            .header("content-security-policy")
            .is_none()
    );
    assert_eq!(
        server.get("/nope.html").header("content-security-policy"),
        Some(httpd_server::GENERATED_CSP)
    );
    let custom = TestServer::start(&[
        "--header",
        "X-Frame-Options: DENY",
        "--csp",
        "default-src 'self'",
    ]);
    let r = custom.get("/");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    // The operator's policy is for the docroot's pages; the server's own keep theirs.
    assert_eq!(
        custom.get("/nope.html").header("content-security-policy"),
        Some(httpd_server::GENERATED_CSP)
    );
    let off = TestServer::start(&["--no-csp"]);
    assert!(off.get("/").header("content-security-policy").is_none());
    let none = TestServer::start(&["--no-security-headers"]);
    assert!(none.get("/").header("x-content-type-options").is_none());
}

#[test]
fn cors_answers_allowed_origins_and_preflights() {
    let server = TestServer::start(&["--cors-origin", "https://app.example"]);
    let r = server.send(
        b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n\r\n",
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        r.all
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v.contains("Origin"))
    );
    let r = server.send(
        b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\r\n\r\n",
    );
    assert!(r.header("access-control-allow-origin").is_none());
    let r = server.send(
        b"OPTIONS /upload HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n\
          Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, HEAD, POST, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );
    let plain = TestServer::start(&[]);
    let r = plain.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n\r\n");
    assert!(r.header("access-control-allow-origin").is_none());
}

#[test]
fn request_ids_are_echoed_or_generated_and_logged() {
    let logs = Dir::new();
    let log = logs.path().join("access.log");
    let server = TestServer::start(&["--access-log", log.to_str().unwrap()]);
    let r = server.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: trace-42.a_b\r\n\r\n");
    assert_eq!(r.header("x-request-id"), Some("trace-42.a_b"));
    let r = server.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: bad id\"\r\n\r\n");
    let generated = r.header("x-request-id").unwrap().to_string();
    assert_eq!(generated.len(), 32);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(access_lines(&log, "id=trace-42.a_b").len(), 1);
    assert_eq!(access_lines(&log, &format!("id={generated}")).len(), 1);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    // The metrics are read as another client, through a trusted proxy, so that their
    // request has a bucket of its own.
    let server = TestServer::start(&["--rate-limit", "1", "--trusted-proxy", "127.0.0.1"]);
    let responses: Vec<_> = (0..7).map(|_| server.get("/")).collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses[0], 200);
    let refused: Vec<_> = responses.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty(), "{statuses:?}");
    for r in &refused {
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    }
    let metrics = server
        .send(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let counted: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("httpd_rate_limited_total ")?.parse().ok())
        .unwrap_or_else(|| panic!("no httpd_rate_limited_total in {text}"));
    // Each 429 is counted before it is sent, so all of them are in.
    assert_eq!(counted, refused.len(), "{statuses:?}");
}

#[test]
fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let logs = Dir::new();
    let log = logs.path().join("access.log");
    let log_arg = log.to_str().unwrap();
    let server = TestServer::start(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--rate-limit",
        "1",
        "--access-log",
        log_arg,
    ]);
    let from = |ip: &str| {
        server
            .send(
                format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: {ip}\r\n\r\n")
                    .as_bytes(),
            )
            .status
    };
    // Client A spends its burst; client B behind the same proxy is unaffected.
    let a: Vec<u16> = (0..6).map(|_| from("198.51.100.7")).collect();
    assert!(a.contains(&429), "{a:?}");
    assert_eq!(from("203.0.113.9"), 200);
    assert!(!access_lines(&log, "203.0.113.9 ").is_empty());
    // Without trust the header is ignored, for logs and limits alike.
    let logs2 = Dir::new();
    let log2 = logs2.path().join("access.log");
    let plain = TestServer::start(&["--access-log", log2.to_str().unwrap()]);
    let r =
        plain.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(access_lines(&log2, "127.0.0.1:").len(), 1);
    assert!(read_lines(&log2, "203.0.113.9").is_empty());
}

#[test]
fn access_log_formats() {
    let logs = Dir::new();
    let json_log = logs.path().join("json.log");
    let server = TestServer::start(&[
        "--access-format",
        "json",
        "--access-log",
        json_log.to_str().unwrap(),
    ]);
    server.send(
        b"GET /about.html?q=\"x\" HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tester/1\r\n\r\n",
    );
    let lines = access_lines(&json_log, "about.html");
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["target"], "/about.html?q=\"x\"");
    assert_eq!(v["status"], 200);
    assert_eq!(v["user_agent"], "tester/1");
    let combined_log = logs.path().join("combined.log");
    let server = TestServer::start(&[
        "--access-format",
        "combined",
        "--access-log",
        combined_log.to_str().unwrap(),
    ]);
    server.send(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nReferer: http://localhost/\r\nUser-Agent: tester/1\r\n\r\n");
    let lines = access_lines(&combined_log, "about.html");
    assert!(
        lines[0].contains("\"GET /about.html HTTP/1.1\" 200 36 \"http://localhost/\" \"tester/1\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
}

#[test]
fn listens_on_several_addresses_including_ipv6() {
    let server = TestServer::start(&["--listen", "[::1]:0", "--listen", "[::]:0"]);
    assert_eq!(server.extra_addrs.len(), 2);
    let v6 = server.extra_addrs[0];
    let port = v6.port();
    let mut c = crate::util::Client::connect(v6);
    c.write(format!("GET / HTTP/1.1\r\nHost: [::1]:{port}\r\n\r\n").as_bytes());
    assert_eq!(c.response().status, 200);
    c.write(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    assert_eq!(c.response().status, 200);
    c.write(b"GET / HTTP/1.1\r\nHost: [::2]\r\n\r\n");
    assert_eq!(c.response().status, 403);
    // The IPv6 wildcard is dual-stack: IPv4 clients reach it too.
    let dual = server.extra_addrs[1].port();
    let mut c = crate::util::Client::connect(std::net::SocketAddr::from(([127, 0, 0, 1], dual)));
    c.write(format!("GET / HTTP/1.1\r\nHost: localhost:{dual}\r\n\r\n").as_bytes());
    assert_eq!(c.response().status, 200);
}

#[test]
fn reuse_port_lets_two_processes_share_a_port() {
    let first = TestServer::start(&["--reuse-port"]);
    let shared = first.addr.to_string();
    let second = TestServer::start(&["--reuse-port", "--listen", &shared]);
    assert_eq!(second.extra_addrs, vec![first.addr]);
    assert_eq!(second.get("/").status, 200);
    // Without SO_REUSEPORT the port is taken.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["--listen", &shared, "--root"])
        .arg(first.root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn access_log_off_writes_no_lines_but_metrics_still_count() {
    let on = TestServer::start(&[]);
    assert_eq!(on.get("/").status, 200);
    let off = TestServer::start(&["--access-log", "off"]);
    for _ in 0..3 {
        assert_eq!(off.get("/").status, 200);
    }
    let metrics = off.get("/metrics").text();
    assert!(
        metrics.contains("httpd_requests_total{method=\"GET\",status=\"2xx\"} 3\n"),
        "{metrics}"
    );
    // Lines are flushed one by one: the first server's line is already out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !on.stdout().contains("\"GET / HTTP/1.1\" 200") && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(
        on.stdout().contains("\"GET / HTTP/1.1\" 200"),
        "{}",
        on.stdout()
    );
    assert!(!off.stdout().contains("HTTP/1.1\""), "{}", off.stdout());
    assert!(!std::path::Path::new("off").exists());
}
