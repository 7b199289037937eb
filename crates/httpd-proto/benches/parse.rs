//! Micro-benchmark of the request-head parser against httparse, run with
//! `cargo bench -p httpd-proto`.
//!
//! A plain `harness = false` target without a benchmark framework. For each of three
//! heads (a minimal `curl` GET, a ~700-byte Chrome navigation, a 2 KiB head carrying
//! cookies) it times [`parse_request`] and `httparse::Request::parse` in 201
//! alternating runs of about 2 ms each, keeps the optimizer honest with [`black_box`],
//! and prints the fastest run of each as heads per second and nanoseconds per head (the
//! median in parentheses), then the ratio of the fastest runs (ours / httparse; above
//! 1.0 means faster than httparse). The fastest of many short runs is the one least
//! disturbed by other work on the machine; the median shows how busy it was. A last line times
//! [`HeadScanner::scan`] followed by [`parse_request`] on the Chrome head, as the server
//! does. `cargo xtask bench` reads the lines that contain `ns/request`.
//!
//! Both parsers get the same bytes and as many header slots ([`MAX_HEADERS`]), filled
//! once per timed run as this bench always did (see [`Slots`]); httparse is the lenient
//! one (it accepts a bare LF, for one), so the comparison is against a parser that
//! checks less.

use std::hint::black_box;
use std::time::{Duration, Instant};

use httpd_proto::{HeadScanner, Header, MAX_HEADERS, Status, parse_request};

/// What `curl http://localhost:8080/` sends.
const CURL_GET: &[u8] = b"GET / HTTP/1.1\r\n\
Host: localhost:8080\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

/// What Chrome sends when a page is opened from the address bar.
const CHROME_GET: &[u8] = b"GET /index.html HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
\r\n";

/// A logged-in page load: analytics and session cookies push the head past 2 KiB.
const COOKIE_GET: &[u8] = b"GET /account/settings?tab=security&ref=nav HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/account/overview?from=login&utm_source=newsletter&utm_medium=email\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,de;q=0.8,fr;q=0.7\r\n\
If-None-Match: W/\"5f3a-1a2b3c4d5e6f\"\r\n\
If-Modified-Since: Tue, 02 Jan 2026 03:04:05 GMT\r\n\
Cookie: _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; _gat_UA-12345678-1=1; \
session_id=9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0; \
csrftoken=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk; \
preferences=%7B%22theme%22%3A%22dark%22%2C%22lang%22%3A%22en-GB%22%2C%22tz%22%3A%22Europe%2FLondon%22%7D; \
_fbp=fb.1.1700000000000.1234567890; _hjSessionUser_123456=eyJpZCI6IjEyMzQ1Njc4LTkwYWItY2RlZi0xMjM0LTU2Nzg5MGFiY2RlZiIsImNyZWF0ZWQiOjE3MDAwMDAwMDAwMDAsImV4aXN0aW5nIjp0cnVlfQ==; \
_hjSession_123456=eyJpZCI6ImFiY2RlZjEyLTM0NTYtNzg5MC1hYmNkLWVmMTIzNDU2Nzg5MCIsImMiOjE3MDAwMDAwMDAwMDAsInMiOjAsInIiOjAsInNiIjowfQ==; \
cookie_consent=necessary%2Canalytics%2Cmarketing; ab_test_group=variant_b; last_visit=2026-01-02T03%3A04%3A05Z; \
remember_me=1; cart_id=c0ffee00-1234-5678-9abc-def012345678; recently_viewed=sku-1001%2Csku-2002%2Csku-3003%2Csku-4004; \
_clck=1a2b3c4d%7C2%7Cfg1%7C0%7C1500; _clsk=5e6f7a8b%7C1700000000000%7C3%7C1%7Cq.clarity.ms%2Fcollect; \
intercom-device-id-abc123=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0; intercom-session-abc123=; theme=dark\r\n\
X-Requested-With: XMLHttpRequest\r\n\
Priority: u=0, i\r\n\
\r\n";

/// The heads compared, with the number of header fields each holds.
const HEADS: &[(&str, &[u8], usize)] = &[
    ("curl GET", CURL_GET, 3),
    ("Chrome GET", CHROME_GET, 15),
    ("cookie GET", COOKIE_GET, 20),
];

/// Timed runs per parser and head, alternating between the two parsers.
const N_RUNS: usize = 201;

/// How long one timed run should take, roughly: shorter than a scheduler time slice, so
/// that on a busy machine many runs go undisturbed and the fastest run shows the
/// parser's own speed.
const RUN_TARGET: Duration = Duration::from_millis(2);

fn main() {
    // `cargo bench -p httpd-proto -- curl` compares only the heads whose name holds `curl`.
    let filter: Option<String> = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    for &(name, head, n_headers) in HEADS {
        check_input(name, head, n_headers);
    }
    for &(name, head, _) in HEADS {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            compare(name, head);
        }
    }
    if filter.as_deref().is_some_and(|f| !"scan".contains(f)) {
        return;
    }
    let (scan_and_parse, _) = measure(CHROME_GET, scan_and_parse_once, scan_and_parse_once);
    println!(
        "HeadScanner::scan + parse_request, Chrome GET ({} bytes): {:.0} heads/s, {:.1} ns/request \
         (median {:.1})",
        CHROME_GET.len(),
        1e9 / scan_and_parse.best,
        scan_and_parse.best,
        scan_and_parse.median,
    );
}

/// Makes sure both loops measure a successful parse of the whole head.
fn check_input(name: &str, head: &'static [u8], n_headers: usize) {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    match parse_request(head, &mut slots) {
        Ok(Status::Complete((request, len))) => {
            assert_eq!(len, head.len(), "{name}: the whole head is parsed");
            assert_eq!(request.headers.len(), n_headers, "{name}: every field");
        }
        other => panic!("{name} does not parse: {other:?}"),
    }
    let mut theirs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut theirs);
    assert_eq!(
        request.parse(head).ok(),
        Some(httparse::Status::Complete(head.len())),
        "{name}: httparse parses it"
    );
    assert_eq!(request.headers.len(), n_headers, "{name}: httparse fields");
}

/// Times both parsers on `head` and prints their lines and the ratio.
fn compare(name: &str, head: &'static [u8]) {
    let (ours, theirs) = measure(head, parse_once, httparse_once);
    println!(
        "parse_request, {name} ({} bytes): {:.0} heads/s, {:.1} ns/request (median {:.1})",
        head.len(),
        1e9 / ours.best,
        ours.best,
        ours.median,
    );
    println!(
        "httparse,      {name} ({} bytes): {:.0} heads/s, {:.1} ns/head (median {:.1})",
        head.len(),
        1e9 / theirs.best,
        theirs.best,
        theirs.median,
    );
    println!(
        "ratio parse_request / httparse, {name}: {:.2}x (medians: {:.2}x)",
        theirs.best / ours.best,
        theirs.median / ours.median,
    );
}

/// Nanoseconds per head over the timed runs of one parser.
struct Timing {
    /// The fastest run.
    best: f64,
    /// The median run.
    median: f64,
}

/// Times `a` and `b` on `head` in alternating runs, so that a change in machine load
/// affects both alike.
fn measure(head: &'static [u8], a: Parse, b: Parse) -> (Timing, Timing) {
    let n_iters = calibrate(head, a);
    let mut a_ns = Vec::with_capacity(N_RUNS);
    let mut b_ns = Vec::with_capacity(N_RUNS);
    for _ in 0..N_RUNS {
        a_ns.push(time(head, a, n_iters));
        b_ns.push(time(head, b, n_iters));
    }
    (timing(&mut a_ns), timing(&mut b_ns))
}

/// One parse of a head into the caller's slots; returns the head's length so the loop
/// has a result to keep.
type Parse = fn(&'static [u8], &mut Slots) -> usize;

/// Header slots for both parsers, filled once per timed run and reused by every parse
/// in it, so that the loop times the parsers rather than the filling of 100 slots (3.2
/// KiB, the same cost for both, which a server pays per request).
struct Slots {
    ours: [Header<'static>; MAX_HEADERS],
    theirs: [httparse::Header<'static>; MAX_HEADERS],
}

impl Slots {
    fn new() -> Slots {
        Slots {
            ours: [Header::EMPTY; MAX_HEADERS],
            theirs: [httparse::EMPTY_HEADER; MAX_HEADERS],
        }
    }
}

fn parse_once(head: &'static [u8], slots: &mut Slots) -> usize {
    match parse_request(black_box(head), &mut slots.ours) {
        Ok(Status::Complete((request, len))) => {
            black_box(&request);
            len
        }
        _ => 0,
    }
}

fn httparse_once(head: &'static [u8], slots: &mut Slots) -> usize {
    let mut request = httparse::Request::new(&mut slots.theirs);
    match request.parse(black_box(head)) {
        Ok(httparse::Status::Complete(len)) => {
            black_box(&request);
            len
        }
        _ => 0,
    }
}

/// Finds the end of the head, then parses it, as the server does.
fn scan_and_parse_once(head: &'static [u8], slots: &mut Slots) -> usize {
    let input = black_box(head);
    let Ok(Status::Complete(head_len)) = HeadScanner::default().scan(input) else {
        return 0;
    };
    parse_once(&input[..head_len], slots)
}

/// Finds an iteration count that takes about [`RUN_TARGET`], warming up on the way.
fn calibrate(head: &'static [u8], f: Parse) -> u64 {
    let mut n_iters: u64 = 100;
    loop {
        let started = Instant::now();
        run(head, f, n_iters);
        let elapsed = started.elapsed();
        if elapsed >= RUN_TARGET / 4 || n_iters >= 1 << 30 {
            let scale = RUN_TARGET.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((n_iters as f64 * scale) as u64).max(100);
        }
        n_iters *= 4;
    }
}

/// Returns the nanoseconds per head of `n` parses.
fn time(head: &'static [u8], f: Parse, n: u64) -> f64 {
    let started = Instant::now();
    run(head, f, n);
    started.elapsed().as_nanos() as f64 / n as f64
}

fn run(head: &'static [u8], f: Parse, n: u64) {
    let mut slots = Slots::new();
    let mut total = 0usize;
    for _ in 0..n {
        total = total.wrapping_add(f(head, &mut slots));
    }
    black_box(total);
}

fn timing(ns_per_head: &mut [f64]) -> Timing {
    ns_per_head.sort_by(f64::total_cmp);
    Timing {
        best: ns_per_head[0],
        median: ns_per_head[ns_per_head.len() / 2],
    }
}
