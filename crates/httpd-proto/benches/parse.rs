//! Micro-benchmark of the request-head parser, run with `cargo bench -p httpd-proto`.
//!
//! A plain `harness = false` target without a benchmark framework: it times a
//! loop over a typical Chrome navigation request head (about 700 bytes, 16
//! fields) with [`Instant`], keeps the optimizer honest with [`black_box`], and
//! prints the median of several runs as requests parsed per second and
//! nanoseconds per request. `cargo xtask bench` reads the lines that contain
//! `ns/request`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use httpd_proto::{HeadScanner, Header, MAX_HEADERS, Status, parse_request};

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

/// Timed runs per case; the median is reported.
const N_RUNS: usize = 9;

/// How long one timed run should take, roughly.
const RUN_TARGET: Duration = Duration::from_millis(200);

fn main() {
    check_input();
    report("parse_request", parse_once);
    report("HeadScanner::scan + parse_request", scan_and_parse_once);
}

/// Makes sure the loop measures a successful parse, not an early error.
fn check_input() {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    match parse_request(CHROME_GET, &mut slots) {
        Ok(Status::Complete((request, len))) => {
            assert_eq!(len, CHROME_GET.len(), "the whole head is parsed");
            assert_eq!(request.headers.len(), 15, "every field is parsed");
        }
        other => panic!("benchmark input does not parse: {other:?}"),
    }
}

/// Parses the head once and returns the head length.
fn parse_once(slots: &mut [Header<'static>]) -> usize {
    match parse_request(black_box(CHROME_GET), slots) {
        Ok(Status::Complete((request, len))) => {
            black_box(&request);
            len
        }
        _ => 0,
    }
}

/// Finds the end of the head, then parses it, as the server does.
fn scan_and_parse_once(slots: &mut [Header<'static>]) -> usize {
    let input = black_box(CHROME_GET);
    let Ok(Status::Complete(head_len)) = HeadScanner::default().scan(input) else {
        return 0;
    };
    match parse_request(&input[..head_len], slots) {
        Ok(Status::Complete((request, len))) => {
            black_box(&request);
            len
        }
        _ => 0,
    }
}

/// Times `f` and prints one line with the median of [`N_RUNS`] runs.
fn report(name: &str, f: fn(&mut [Header<'static>]) -> usize) {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    // Warm up, and find an iteration count that takes about RUN_TARGET.
    let mut n_iters: u64 = 1_000;
    loop {
        let elapsed = time(f, &mut slots, n_iters);
        if elapsed >= RUN_TARGET / 4 || n_iters >= 1 << 30 {
            let scale = RUN_TARGET.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            n_iters = ((n_iters as f64 * scale) as u64).max(1_000);
            break;
        }
        n_iters *= 4;
    }
    let mut ns_per_request: Vec<f64> = (0..N_RUNS)
        .map(|_| time(f, &mut slots, n_iters).as_nanos() as f64 / n_iters as f64)
        .collect();
    ns_per_request.sort_by(f64::total_cmp);
    let median = ns_per_request[N_RUNS / 2];
    println!(
        "{name}: {:.0} requests/s, {median:.1} ns/request \
         (median of {N_RUNS} runs of {n_iters}, {}-byte Chrome GET head, \
         min {:.1}, max {:.1} ns)",
        1e9 / median,
        CHROME_GET.len(),
        ns_per_request[0],
        ns_per_request[N_RUNS - 1],
    );
}

fn time(f: fn(&mut [Header<'static>]) -> usize, slots: &mut [Header<'static>], n: u64) -> Duration {
    let started = Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total = total.wrapping_add(f(slots));
    }
    black_box(total);
    started.elapsed()
}
