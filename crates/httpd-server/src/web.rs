//! Browser- and deployment-facing policy: security headers, CORS, request ids,
//! trusted proxies and the per-client rate limit.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use httpd_proto::Request;
use parking_lot::Mutex;

/// Longest `X-Request-Id` accepted from a client.
pub const MAX_REQUEST_ID_BYTES: usize = 64;

/// Most client addresses the rate limiter remembers; beyond it, idle entries are dropped.
const MAX_TRACKED_CLIENTS: usize = 65_536;

/// Response headers that protect browsers, and CORS; each field documents its default.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Headers added to every response; default `X-Content-Type-Options: nosniff`,
    /// `X-Frame-Options: SAMEORIGIN`, `Referrer-Policy: strict-origin-when-cross-origin`.
    pub security_headers: Vec<(String, String)>,
    /// `Content-Security-Policy` for html responses; default `default-src 'self'`.
    pub html_csp: Option<String>,
    /// Origins allowed by CORS (`*` for any); default none (no CORS headers).
    pub cors_origins: Vec<String>,
    /// Clients whose `X-Forwarded-For` / `Forwarded` are believed; default none.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per second per client address (with a burst of twice that); default
    /// `None` (unlimited).
    pub rate_limit: Option<u32>,
    /// Path answering liveness checks; default `Some("/healthz")`.
    pub health_path: Option<String>,
    /// Path serving Prometheus metrics; default `Some("/metrics")`.
    pub metrics_path: Option<String>,
}

impl Default for WebOptions {
    fn default() -> WebOptions {
        WebOptions {
            security_headers: vec![
                ("X-Content-Type-Options".to_string(), "nosniff".to_string()),
                ("X-Frame-Options".to_string(), "SAMEORIGIN".to_string()),
                (
                    "Referrer-Policy".to_string(),
                    "strict-origin-when-cross-origin".to_string(),
                ),
            ],
            html_csp: Some("default-src 'self'".to_string()),
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            rate_limit: None,
            health_path: Some("/healthz".to_string()),
            metrics_path: Some("/metrics".to_string()),
        }
    }
}

/// Request headers that shape the policy above, copied out of the read buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestMeta {
    pub(crate) origin: Option<String>,
    pub(crate) forwarded_for: Option<String>,
    pub(crate) forwarded: Option<String>,
    pub(crate) preflight_method: Option<String>,
    pub(crate) preflight_headers: Option<String>,
    pub(crate) referer: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl RequestMeta {
    pub(crate) fn from_request(request: &Request<'_, '_>) -> RequestMeta {
        let text = |name: &str| {
            request
                .header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
        };
        RequestMeta {
            origin: text("origin"),
            forwarded_for: joined(request, "x-forwarded-for"),
            forwarded: joined(request, "forwarded"),
            preflight_method: text("access-control-request-method"),
            preflight_headers: text("access-control-request-headers"),
            referer: text("referer"),
            user_agent: text("user-agent"),
        }
    }
}

fn joined(request: &Request<'_, '_>, name: &str) -> Option<String> {
    let values: Vec<&str> = request
        .headers_named(name)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Returns the client's `X-Request-Id` when well formed (1 to 64 bytes of
/// `A-Za-z0-9._-`), else a fresh random one.
pub(crate) fn request_id(given: Option<&str>) -> String {
    match given {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_BYTES
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            id.to_string()
        }
        _ => fresh_id(),
    }
}

fn fresh_id() -> String {
    thread_local! {
        // Randomly keyed once per thread; the counter makes every input distinct.
        static KEYS: RandomState = RandomState::new();
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (high, low) = KEYS.with(|keys| {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(n);
        let high = hasher.finish();
        hasher.write_u64(high);
        (high, hasher.finish())
    });
    let mut id = String::with_capacity(32);
    for word in [high, low] {
        for shift in (0..16).rev() {
            let nibble = (word >> (shift * 4)) & 0xF;
            id.push(char::from(b"0123456789abcdef"[nibble as usize]));
        }
    }
    id
}

/// Returns the client address: the peer, or with a trusted peer the last untrusted
/// hop of `X-Forwarded-For` (or `Forwarded: for=`).
pub(crate) fn client_ip(peer: IpAddr, meta: &RequestMeta, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = if let Some(xff) = &meta.forwarded_for {
        xff.split(',').filter_map(|h| parse_hop(h.trim())).collect()
    } else if let Some(fwd) = &meta.forwarded {
        fwd.split([',', ';'])
            .filter_map(|part| {
                let (key, value) = part.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(value.trim().trim_matches('"')))?
            })
            .collect()
    } else {
        Vec::new()
    };
    // Walk from the nearest hop back; the first one we do not trust is the client.
    hops.iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    // "[::1]:port", "[::1]" or "1.2.3.4:port".
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// Renders the operator's response headers (and, for html, the
/// `Content-Security-Policy`) as header lines, once at start-up.
pub(crate) fn extra_lines(web: &WebOptions, html: bool) -> std::sync::Arc<[u8]> {
    let mut head = httpd_proto::ResponseHead::new(200);
    for (name, value) in &web.security_headers {
        head.header(name, value);
    }
    if let (true, Some(csp)) = (html, &web.html_csp) {
        head.header("Content-Security-Policy", csp);
    }
    head.lines().into()
}

/// Returns the CORS headers for a request from `origin`, if it is allowed.
pub(crate) fn cors_headers(
    origin: Option<&str>,
    allowed: &[String],
    preflight: Option<(&str, Option<&str>)>,
) -> Vec<(&'static str, String)> {
    let Some(origin) = origin else {
        return Vec::new();
    };
    let any = allowed.iter().any(|o| o == "*");
    if !any && !allowed.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return Vec::new();
    }
    let mut headers = vec![(
        "Access-Control-Allow-Origin",
        if any {
            "*".to_string()
        } else {
            origin.to_string()
        },
    )];
    if !any {
        headers.push(("Vary", "Origin".to_string()));
    }
    if let Some((_, requested)) = preflight {
        headers.push((
            "Access-Control-Allow-Methods",
            httpd_security::ALLOW.to_string(),
        ));
        if let Some(requested) = requested {
            let safe: Vec<&str> = requested
                .split(',')
                .map(str::trim)
                .filter(|h| {
                    !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .collect();
            if !safe.is_empty() {
                headers.push(("Access-Control-Allow-Headers", safe.join(", ")));
            }
        }
        headers.push(("Access-Control-Max-Age", "600".to_string()));
    }
    headers
}

/// A token bucket per client address.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> RateLimiter {
        let per_second = f64::from(per_second.max(1));
        RateLimiter {
            per_second,
            burst: per_second * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client`; `Err(wait)` tells how long until one is free.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            // Forget clients whose bucket has refilled: they lose nothing by it.
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, at)| now.duration_since(*at) < full_after);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let refill = now.duration_since(*at).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_request_ids_are_kept_and_others_replaced() {
        assert_eq!(request_id(Some("abc-123_x.y")), "abc-123_x.y");
        for bad in ["", "a b", "x\"y", &"a".repeat(65), "ü"] {
            let id = request_id(Some(bad));
            assert_eq!(id.len(), 32, "{bad:?}");
            assert_ne!(id, bad);
        }
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn fresh_ids_are_lowercase_hex_and_distinct_across_threads() {
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| fresh_id()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert!(ids.iter().all(|id| {
            id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let meta = RequestMeta {
            forwarded_for: Some("198.51.100.1, 203.0.113.7".to_string()),
            ..RequestMeta::default()
        };
        assert_eq!(client_ip(proxy, &meta, &[proxy]), client);
        assert_eq!(client_ip(proxy, &meta, &[]), proxy);
        let meta = RequestMeta {
            forwarded: Some("for=\"[2001:db8::1]:4711\";proto=http".to_string()),
            ..RequestMeta::default()
        };
        assert_eq!(
            client_ip(proxy, &meta, &[proxy]),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let meta = RequestMeta {
            forwarded_for: Some("garbage".to_string()),
            ..RequestMeta::default()
        };
        assert_eq!(client_ip(proxy, &meta, &[proxy]), proxy);
    }

    #[test]
    fn cors_allows_listed_origins_only() {
        let allowed = vec!["https://app.example".to_string()];
        assert!(cors_headers(Some("https://evil.example"), &allowed, None).is_empty());
        assert!(cors_headers(None, &allowed, None).is_empty());
        let h = cors_headers(Some("https://app.example"), &allowed, None);
        assert_eq!(
            h[0],
            (
                "Access-Control-Allow-Origin",
                "https://app.example".to_string()
            )
        );
        assert!(h.contains(&("Vary", "Origin".to_string())));
        let pre = cors_headers(
            Some("https://app.example"),
            &allowed,
            Some(("POST", Some("Content-Type, X-Bad\r\nInjected: 1"))),
        );
        assert!(pre.contains(&("Access-Control-Allow-Headers", "Content-Type".to_string())));
        let any = cors_headers(Some("https://x.example"), &["*".to_string()], None);
        assert_eq!(any, vec![("Access-Control-Allow-Origin", "*".to_string())]);
    }

    #[test]
    fn token_bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500));
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_ok());
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.check(other, t0).is_ok());
    }
}
