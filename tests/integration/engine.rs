//! Regressions of the connection engine: each test is a fault the previous engine had
//! (a slow client holding a worker, an answer cut by a 503, a wait without end, a
//! request read and never answered, an error answer destroyed by a reset, work done
//! twice), written so that it fails if the fault comes back.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::util::{Client, Dir, TestServer, wait_until};

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

const UPLOAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

/// Sets a file's modification time an hour back, so the file cache may hold it.
fn age(path: &Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Holds the only worker (`--test-stall-path /stall`) until [`release`].
fn stall(server: &TestServer) -> Client {
    let mut c = server.connect();
    c.write(b"GET /stall HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(server.wait_for_log("test stall: holding this worker"));
    c
}

fn release(server: &TestServer) {
    server.root.write(".stall-release", b"");
}

/// The value of one metric line.
fn metric(server: &TestServer, name: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_slowly_sent_chunked_body_on_a_get_holds_no_worker() {
    // One worker. The GET is answered at once; its chunked body, which nobody needs,
    // trickles in and is read and dropped by the poller.
    let server = TestServer::start(&["--threads", "1"]);
    let mut slow = server.connect();
    slow.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n");
    assert_eq!(slow.response().status, 200);
    // Meanwhile an upload, whose commit needs the worker, is answered (the client
    // gives up after 5 s; the old engine delayed it by the whole trickle).
    let mut stop = false;
    std::thread::scope(|s| {
        let stop = &mut stop;
        let trickle = s.spawn(move || {
            let mut n = 0;
            while n < 50 {
                if slow.stream.write_all(b"1\r\nb\r\n").is_err() {
                    break;
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            slow
        });
        assert_eq!(server.send(UPLOAD).status, 201);
        *stop = true;
        let mut slow = trickle.join().unwrap();
        slow.write(b"0\r\n\r\n");
        // The connection goes on once the body is done.
        slow.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(slow.response().status, 200);
    });
    assert!(stop);
}

#[test]
fn a_declared_body_over_the_limit_is_refused_without_a_worker() {
    let server = TestServer::start(&[
        "--threads",
        "1",
        "--max-body",
        "100",
        "--test-stall-path",
        "/stall",
    ]);
    let _held = stall(&server);
    // The only worker is held, yet the 413 comes at once: the poller decides it.
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 413);
    assert!(c.is_closed_by_server());
    release(&server);
}

#[test]
fn gzip_of_a_large_file_runs_on_a_worker_not_on_the_poller() {
    let root = Dir::docroot();
    let page: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("<p>line {i}</p>\n").into_bytes())
        .collect();
    root.write("big.html", &page);
    age(&root.path().join("about.html"));
    let server = TestServer::start_in(
        root,
        &[
            "--threads",
            "1",
            "--pollers",
            "1",
            "--test-stall-path",
            "/stall",
        ],
    );
    // about.html into the file cache (its first read is a worker's).
    assert_eq!(server.get("/about.html").status, 200);
    let held = stall(&server);
    let mut zipped = server.connect();
    zipped.write(b"GET /big.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n");
    assert!(server.wait_for_log("Thread pool saturated"));
    // The one poller keeps serving cached files meanwhile.
    let mut other = server.connect();
    for _ in 0..5 {
        other.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(other.response().status, 200);
    }
    release(&server);
    drop(held);
    let r = zipped.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut plain).unwrap();
    assert!(plain == page, "the decompressed body differs");
}

#[test]
fn a_full_queue_in_a_pipeline_answers_503_after_a_whole_answer_never_inside_one() {
    let root = Dir::docroot();
    let big = root.write_large("cached.jpg", 60_000);
    age(&root.path().join("cached.jpg"));
    let server = TestServer::start_in(
        root,
        &[
            "--threads",
            "1",
            "--queue",
            "0",
            "--test-stall-path",
            "/stall",
            "--inline-images",
        ],
    );
    // Into the cache while the worker is free.
    assert!(server.get("/cached.jpg").body == big);
    let _held = stall(&server);
    let mut c = server.connect();
    c.write(
        b"GET /cached.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    // The first answer whole, then a whole 503 for the second, then the close.
    let first = c.response();
    assert_eq!(first.status, 200);
    assert!(
        first.body == big,
        "{} of {} bytes",
        first.body.len(),
        big.len()
    );
    let second = c.response();
    assert_eq!(second.status, 503);
    assert_eq!(second.header("retry-after"), Some("5"));
    assert!(c.is_closed_by_server());
    release(&server);
}

#[test]
fn an_upload_waiting_for_a_worker_gives_up_after_the_idle_timeout() {
    let server = TestServer::start(&[
        "--threads",
        "1",
        "--queue",
        "0",
        "--idle-timeout",
        "1s",
        "--test-stall-path",
        "/stall",
    ]);
    let _held = stall(&server);
    // Its body is in, but no worker can store it: it waits, then gets 503 (the old
    // engine gave it a fresh deadline at every retry, so it could wait forever).
    let mut c = server.connect();
    c.write(UPLOAD);
    let r = c.response();
    assert_eq!(r.status, 503);
    assert!(c.is_closed_by_server());
    release(&server);
    assert!(server.root.uploads().is_empty());
}

#[test]
fn a_request_whose_job_runs_at_shutdown_is_answered_before_exit() {
    let server = TestServer::start(&["--threads", "1", "--test-stall-path", "/stall"]);
    let mut held = stall(&server);
    server.signal("TERM");
    assert!(server.wait_for_log("Shutting down server..."));
    release(&server);
    let r = held.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    let (status, stderr) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
}

#[test]
fn an_error_answer_survives_the_unread_body_behind_it() {
    // 413 for a declared length, then 256 KiB of that body already on its way: the
    // server lingers, reading and dropping it, so the client reads the answer instead
    // of a reset.
    let server = TestServer::start(&["--max-body", "1000"]);
    for _ in 0..5 {
        let mut c = server.connect();
        let mut request = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n".to_vec();
        request.extend(vec![b' '; 256 * 1024]);
        let mut writer = c.stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            writer.write_all(&request)?;
            writer.shutdown(std::net::Shutdown::Write)
        });
        let r = c.response();
        assert_eq!(r.status, 413);
        let sent = sender.join().unwrap();
        assert!(sent.is_ok(), "the body could not be sent: {sent:?}");
        // The server read and dropped the body, then closed with a FIN; closing under
        // unread bytes would have sent a reset instead.
        let mut byte = [0u8; 1];
        let end = std::io::Read::read(&mut c.stream, &mut byte);
        assert!(matches!(end, Ok(0)), "expected a clean close, got {end:?}");
    }
}

#[test]
fn a_rate_limited_request_that_needs_a_worker_takes_one_token() {
    let root = Dir::docroot();
    root.write_large("big.jpg", 200 * 1024);
    let server = TestServer::start_in(root, &["--rate-limit", "1"]);
    // A burst of 2: both requests for an uncached file pass (the old engine took one
    // token on the poller and another on the worker).
    let mut c = server.connect();
    for _ in 0..2 {
        c.write(b"GET /big.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
    c.write(b"GET /big.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 429);
}

#[test]
fn an_uncached_file_is_opened_once_and_compressed_once() {
    let root = Dir::docroot();
    let page: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("<p>{i}</p>").into_bytes())
        .collect();
    root.write("mid.html", &page);
    let server = TestServer::start_in(root, &["--log-level", "debug"]);
    let misses = metric(&server, "httpd_file_cache_misses_total");
    let mut c = server.connect();
    c.write(b"GET /mid.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // One open (one cache miss), one compression.
    assert_eq!(metric(&server, "httpd_file_cache_misses_total"), misses + 1);
    assert!(wait_until(
        || server.stderr().matches("gzipped ").count() == 1
    ));
    assert_eq!(server.stderr().matches("gzipped ").count(), 1);
}

#[test]
fn head_error_answers_carry_no_body() {
    let server = TestServer::start(&["--max-head", "256"]);
    let cases: &[(&[u8], u16)] = &[
        (
            b"HEAD / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length : 2\r\n\r\n",
            400,
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        (b"HEAD / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
    ];
    for (raw, status) in cases {
        let mut c = server.connect();
        c.write(raw);
        let r = c.read_response(true);
        assert_eq!(r.status, *status, "{}", String::from_utf8_lossy(raw));
        assert!(r.header("content-length").is_some());
        // Nothing follows the head: the next thing is the close.
        assert!(c.is_closed_by_server(), "a body followed the {status}");
    }
    let mut long = b"HEAD /".to_vec();
    long.extend(vec![b'a'; 400]);
    long.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut c = server.connect();
    c.write(&long);
    assert_eq!(c.read_response(true).status, 414);
    assert!(c.is_closed_by_server());
}

#[test]
fn log_lines_name_the_thread_that_wrote_them_and_the_pool_line_is_not_repeated() {
    let server = TestServer::start(&["--pollers", "2", "--threads", "3"]);
    // A traversal refused on a poller, an upload stored by a worker.
    assert_eq!(server.get("/../etc/passwd").status, 403);
    assert_eq!(server.send(UPLOAD).status, 201);
    assert!(server.wait_for_log("Upload stored"));
    let stderr = server.stderr();
    let line = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {stderr}"))
            .to_string()
    };
    assert!(
        line("Path traversal/forbidden").contains("[httpd-poll-"),
        "{stderr}"
    );
    assert!(line("Upload stored").contains("[httpd-worker-"), "{stderr}");
    // The startup lines come from the main thread and keep the seed's form.
    assert!(!line("Thread pool size: 3").contains("[main]"));
    // Two pollers watch one pool: its status line is written once, not once each.
    assert_eq!(
        stderr.matches("Thread pool: 0/3 active").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn refusals_of_malformed_requests_log_at_debug_only() {
    let server = TestServer::start(&[]);
    let cases: &[&[u8]] = &[
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer_Encoding: chunked\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer--Encoding: chunked\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2,2\r\n\r\n{}",
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\n{}\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;a b\r\n{}\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length : 2\r\n\r\n",
    ];
    for raw in cases {
        let mut c = server.connect();
        c.write(raw);
        let r = c.read_response(raw.starts_with(b"HEAD"));
        assert!(
            [400, 411].contains(&r.status),
            "{} for {}",
            r.status,
            String::from_utf8_lossy(raw)
        );
        assert!(c.is_closed_by_server(), "{}", String::from_utf8_lossy(raw));
    }
    assert!(server.root.uploads().is_empty());
    // Peer misbehaviour: debug lines only, nothing at info or above but the startup.
    let stderr = server.stderr();
    let loud: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains(" DEBUG ") && !l.contains(" TRACE "))
        .filter(|l| !l.contains(" httpd: "))
        .filter(|l| !l.contains("Thread pool:"))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
}

#[test]
fn an_upload_unfinished_at_the_shutdown_timeout_leaves_no_file() {
    const LEN: usize = 1024 * 1024;
    // A docroot of our own, which outlives the server (the harness's goes with it).
    let keep = Dir::docroot();
    let root = keep.path().to_str().unwrap().to_string();
    let server = TestServer::start(&["--shutdown-timeout", "300ms", "--root", &root]);
    let mut c = server.connect();
    c.write(
        format!(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {LEN}\r\n\r\n["
        )
        .as_bytes(),
    );
    // More than one write job's worth: the temporary file exists on disk.
    c.write(&vec![b' '; 400 * 1024]);
    let uploads = keep.path().join("uploads");
    let temps = || {
        std::fs::read_dir(&uploads)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".upload-")
            })
            .count()
    };
    assert!(
        wait_until(|| temps() == 1),
        "no temporary file while receiving"
    );
    server.signal("TERM");
    let (status, stderr) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("connections still busy after 0.3s"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn the_idle_gauge_follows_connections_as_they_come_go_and_work() {
    // The count is kept as connections change state, never by walking them all.
    let server = TestServer::start(&["--pollers", "2"]);
    // Each scrape closes its own connection, so that it is never counted itself.
    let idle = || {
        let text = server
            .send(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .text();
        text.lines()
            .find_map(|l| {
                l.strip_prefix("httpd_idle_connections ")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no idle gauge in {text}"))
    };
    assert_eq!(idle(), 0);
    let mut clients: Vec<_> = (0..5).map(|_| server.connect()).collect();
    for c in &mut clients {
        c.write(GET_ROOT);
        assert_eq!(c.response().status, 200);
    }
    assert!(wait_until(|| idle() == 5), "{}", idle());
    // One in the middle of a head is not idle; once answered it is again.
    clients[0].write(b"GET / HTTP/1.1\r\nHost: loc");
    assert!(wait_until(|| idle() == 4), "{}", idle());
    clients[0].write(b"alhost\r\n\r\n");
    assert_eq!(clients[0].response().status, 200);
    assert!(wait_until(|| idle() == 5), "{}", idle());
    // Closed by the client, and closed by the server after an error.
    drop(clients.pop());
    clients[1].write(b"BROKEN\r\n\r\n");
    assert_eq!(clients[1].response().status, 400);
    assert!(clients[1].is_closed_by_server());
    assert!(wait_until(|| idle() == 3), "{}", idle());
}
