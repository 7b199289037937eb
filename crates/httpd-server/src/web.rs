//! Browser- and deployment-facing policy: security headers, CORS, request ids and
//! trusted proxies.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use httpd_proto::Request;

/// The `Content-Security-Policy` of the pages the server writes itself (error pages,
/// directory listings): they need nothing but their own inline style, load nothing,
/// and may only be framed by the site.
pub const GENERATED_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'self'";

/// Response headers that protect browsers, and CORS; each field documents its default.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Headers added to every response; default `X-Content-Type-Options: nosniff`,
    /// `X-Frame-Options: SAMEORIGIN`, `Referrer-Policy: strict-origin-when-cross-origin`.
    pub security_headers: Vec<(String, String)>,
    /// `Content-Security-Policy` for html files from the docroot; default `None`: a
    /// site's own pages are sent without one (a strict default breaks every inline
    /// script and style), as nginx and Caddy do. Pages the server writes itself
    /// (error pages, listings) always get [`GENERATED_CSP`].
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
            html_csp: None,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            rate_limit: None,
            health_path: Some("/healthz".to_string()),
            metrics_path: Some("/metrics".to_string()),
        }
    }
}

/// Returns two random words: a per-thread randomly keyed hash of a process-wide
/// counter, so every call differs.
pub(crate) fn random_pair() -> (u64, u64) {
    thread_local! {
        // Randomly keyed once per thread; the counter makes every input distinct.
        static KEYS: RandomState = RandomState::new();
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.with(|keys| {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(n);
        let high = hasher.finish();
        hasher.write_u64(high);
        (high, hasher.finish())
    })
}

/// Returns the client address: the peer, or with a trusted peer the last untrusted
/// hop of `X-Forwarded-For` (or `Forwarded: for=`), every line of it read in order.
pub(crate) fn client_ip(peer: IpAddr, request: &Request<'_, '_>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let text = |v: &'_ [u8]| std::str::from_utf8(v).unwrap_or_default().to_string();
    let mut hops: Vec<IpAddr> = request
        .headers_named("x-forwarded-for")
        .flat_map(|v| {
            text(v)
                .split(',')
                .filter_map(|h| parse_hop(h.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    if hops.is_empty() {
        hops = request
            .headers_named("forwarded")
            .flat_map(|v| {
                text(v)
                    .split([',', ';'])
                    .filter_map(|part| {
                        let (key, value) = part.trim().split_once('=')?;
                        key.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| parse_hop(value.trim().trim_matches('"')))?
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
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

/// Which `Content-Security-Policy` a set of header lines carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Csp {
    /// None (not html).
    None,
    /// The operator's (`--csp`), for html files of the docroot.
    Operator,
    /// [`GENERATED_CSP`], for pages the server writes.
    Generated,
}

/// Renders the operator's response headers (and the `Content-Security-Policy` that
/// `csp` asks for) as header lines, once at start-up.
pub(crate) fn extra_lines(web: &WebOptions, csp: Csp) -> std::sync::Arc<[u8]> {
    let mut head = httpd_proto::ResponseHead::new(200);
    for (name, value) in &web.security_headers {
        head.header(name, value);
    }
    match (csp, &web.html_csp) {
        (Csp::Operator, Some(policy)) => {
            head.header("Content-Security-Policy", policy);
        }
        (Csp::Generated, _) => {
            head.header("Content-Security-Policy", GENERATED_CSP);
        }
        _ => {}
    }
    head.lines().into()
}

/// Returns the CORS headers for `request`, if its `Origin` is allowed; a preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) gets the allowed methods, the
/// requested headers that are plain tokens, and a max age.
pub(crate) fn cors_headers(
    request: &Request<'_, '_>,
    allowed: &[String],
) -> Vec<(&'static str, String)> {
    let text = |name: &str| {
        request
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let Some(origin) = text("origin") else {
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
    let preflight = request.method == "OPTIONS" && text("access-control-request-method").is_some();
    if preflight {
        headers.push((
            "Access-Control-Allow-Methods",
            httpd_security::ALLOW.to_string(),
        ));
        if let Some(requested) = text("access-control-request-headers") {
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

#[cfg(test)]
mod tests {
    use httpd_proto::{Header, Version};

    use super::*;

    fn request<'h>(method: &'h str, headers: &'h [Header<'h>]) -> Request<'h, 'h> {
        Request {
            method,
            target: "/",
            version: Version::Http11,
            headers,
        }
    }

    #[test]
    fn random_pairs_differ_across_calls_and_threads() {
        let pairs: Vec<(u64, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| random_pair()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<&(u64, u64)> = pairs.iter().collect();
        assert_eq!(distinct.len(), pairs.len());
        // Not a counter: the high words are spread over the whole range.
        assert!(pairs.iter().any(|p| p.0 > u64::MAX / 2));
        assert!(pairs.iter().any(|p| p.0 < u64::MAX / 2));
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let xff = [Header {
            name: "X-Forwarded-For",
            value: b"198.51.100.1, 203.0.113.7",
        }];
        assert_eq!(client_ip(proxy, &request("GET", &xff), &[proxy]), client);
        assert_eq!(client_ip(proxy, &request("GET", &xff), &[]), proxy);
        // Split over two lines, the list is read in order.
        let split = [
            Header {
                name: "X-Forwarded-For",
                value: b"198.51.100.1",
            },
            Header {
                name: "x-forwarded-for",
                value: b"203.0.113.7",
            },
        ];
        assert_eq!(client_ip(proxy, &request("GET", &split), &[proxy]), client);
        let fwd = [Header {
            name: "Forwarded",
            value: b"for=\"[2001:db8::1]:4711\";proto=http",
        }];
        assert_eq!(
            client_ip(proxy, &request("GET", &fwd), &[proxy]),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let garbage = [Header {
            name: "X-Forwarded-For",
            value: b"garbage",
        }];
        assert_eq!(client_ip(proxy, &request("GET", &garbage), &[proxy]), proxy);
    }

    #[test]
    fn cors_allows_listed_origins_only() {
        let allowed = vec!["https://app.example".to_string()];
        let origin = |o: &'static str| Header {
            name: "Origin",
            value: o.as_bytes(),
        };
        let evil = [origin("https://evil.example")];
        assert!(cors_headers(&request("GET", &evil), &allowed).is_empty());
        assert!(cors_headers(&request("GET", &[]), &allowed).is_empty());
        let good = [origin("https://app.example")];
        let h = cors_headers(&request("GET", &good), &allowed);
        assert_eq!(
            h[0],
            (
                "Access-Control-Allow-Origin",
                "https://app.example".to_string()
            )
        );
        assert!(h.contains(&("Vary", "Origin".to_string())));
        assert!(!h.iter().any(|(n, _)| *n == "Access-Control-Max-Age"));
        let pre = [
            origin("https://app.example"),
            Header {
                name: "Access-Control-Request-Method",
                value: b"POST",
            },
            Header {
                name: "Access-Control-Request-Headers",
                value: b"Content-Type, X-Bad\r\nInjected: 1",
            },
        ];
        let pre = cors_headers(&request("OPTIONS", &pre), &allowed);
        assert!(pre.contains(&("Access-Control-Allow-Headers", "Content-Type".to_string())));
        assert!(pre.contains(&("Access-Control-Max-Age", "600".to_string())));
        let x = [origin("https://x.example")];
        let any = cors_headers(&request("GET", &x), &["*".to_string()]);
        assert_eq!(any, vec![("Access-Control-Allow-Origin", "*".to_string())]);
    }
}
