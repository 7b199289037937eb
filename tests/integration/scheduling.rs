//! Scheduling: workers serve requests on ready connections; idle connections, heads in
//! progress and the connection cap are the poller's business.

use std::sync::mpsc;
use std::time::Duration;

use crate::util::{Client, Dir, TestServer};

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A request with a body: only a worker serves it (the poller answers small GETs itself).
const UPLOAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

const GET_BIG: &[u8] = b"GET /big.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Larger than what the kernel buffers between a server and a client that stopped
/// reading (a few MiB each side on loopback), so the server's writes block.
const BIG_BYTES: usize = 16 * 1024 * 1024;

/// A docroot with `big.jpg` of [`BIG_BYTES`].
fn root_with_big_file() -> Dir {
    let root = Dir::docroot();
    root.write_large("big.jpg", BIG_BYTES);
    root
}

/// Asks for `big.jpg`, reads only the response head, and stops reading: the worker that
/// serves it is then stuck in a write until the write timeout.
fn stalled_reader(server: &TestServer) -> Client {
    let mut client = server.connect();
    client.write(GET_BIG);
    let head = client.read_response(true);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(BIG_BYTES.to_string().as_str())
    );
    client
}

#[test]
fn idle_keep_alive_connections_do_not_hold_workers() {
    // Ten workers, a queue of 50: before, the 61st idle client got 503.
    let server = TestServer::start(&["--threads", "10", "--max-conns-per-ip", "1000"]);
    let mut idle: Vec<Client> = Vec::new();
    for i in 0..300 {
        let mut client = server.connect();
        // Half between requests, half that never sent a byte.
        if i % 2 == 0 {
            client.write(GET_ROOT);
            let r = client.response();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("connection"), Some("keep-alive"));
        }
        idle.push(client);
    }
    // A new client is served at once.
    let r = server.get("/about.html");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<!DOCTYPE html><title>about</title>\n");
    // Every idle connection is still open and served.
    for client in &mut idle {
        client.write(GET_ROOT);
        assert_eq!(client.response().status, 200);
    }
    assert!(!server.stderr().contains("503 for"));
}

#[test]
fn head_sent_byte_by_byte_is_cut_off_while_others_are_served() {
    // One worker: if the drip held it, nobody else could be served until the deadline.
    let server = TestServer::start(&["--threads", "1", "--header-timeout", "2s"]);
    let mut head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Drip: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 4000));
    head.extend_from_slice(b"\r\n\r\n");
    let (started_tx, started_rx) = mpsc::channel();
    let (served_tx, served_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let head = &head;
        let server = &server;
        let dripper = s.spawn(move || {
            let mut drip = server.connect();
            drip.write(&head[..10]);
            started_tx.send(()).unwrap();
            // One byte every 20 ms: 4000 bytes would take 80 s; the head deadline
            // (2 s from the first byte) ends it long before.
            let n_sent = 10 + drip.drip(&head[10..], Duration::from_millis(20));
            // Whether the others were all served before the cut.
            let others_first = served_rx.try_recv().is_ok();
            let r = drip.response();
            (n_sent, r.status, drip.is_closed_by_server(), others_first)
        });
        started_rx.recv().unwrap();
        for path in ["/", "/about.html", "/sample.txt", "/", "/about.html"] {
            assert_eq!(server.get(path).status, 200, "{path} during the drip");
        }
        // The dripper may be gone if it was cut first; it reports that itself.
        let _ = served_tx.send(());
        let (n_sent, status, closed, others_first) = dripper.join().unwrap();
        assert!(n_sent < head.len(), "the whole head went through");
        assert_eq!(status, 408);
        assert!(closed);
        assert!(
            others_first,
            "the other clients were served only after the drip was cut"
        );
    });
    assert!(server.wait_for_log("head deadline passed"));
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn stalled_reader_of_a_large_file_does_not_delay_others() {
    // One worker: were the stalled download holding it, nothing uncached could be served.
    let server = TestServer::start_in(
        root_with_big_file(),
        &["--threads", "1", "--write-timeout", "1s"],
    );
    let mut stalled = stalled_reader(&server);
    // Three keep-alive clients take turns; the uncached files they ask for need the
    // only worker, which the stalled download does not hold.
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for round in 0..4 {
        for (i, client) in clients.iter_mut().enumerate() {
            client.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let r = client.response();
            assert_eq!(r.status, 200, "client {i}, round {round}");
        }
    }
    assert_eq!(server.get("/sample.txt").status, 200);
    // The write timeout ends the stalled response; the client gets part of it, then
    // the end of the connection.
    assert!(server.wait_for_log("write timed out"));
    let n_received = stalled.read_until_closed();
    assert!(n_received < BIG_BYTES, "{n_received} bytes");
}

/// Holds the only worker with the test hook `--test-stall-path /stall` until
/// [`release`] is called.
fn stall_worker(server: &TestServer) -> Client {
    let mut c = server.connect();
    c.write(b"GET /stall HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(server.wait_for_log("test stall: holding this worker"));
    c
}

/// Lets a stalled worker go.
fn release(server: &TestServer) {
    server.root.write(".stall-release", b"");
}

#[test]
fn full_queue_of_jobs_answers_503_with_retry_after() {
    let server = TestServer::start(&[
        "--threads",
        "1",
        "--queue",
        "1",
        "--test-stall-path",
        "/stall",
    ]);
    // The only worker is busy...
    let mut stalled = stall_worker(&server);
    // ...so this uncached file's job waits in the queue...
    let mut queued = server.connect();
    queued.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(server.wait_for_log("Thread pool saturated"));
    // ...and this one finds it full: nothing of its answer was written, so 503.
    let mut refused = server.connect();
    refused.write(b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = refused.response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(refused.is_closed_by_server());
    // Idle connections hold no job: this one is not refused.
    let mut idle = server.connect();
    release(&server);
    assert_eq!(stalled.response().status, 200);
    assert_eq!(queued.response().status, 200);
    assert!(server.wait_for_log("Connection dequeued, assigned to httpd-worker-1"));
    idle.write(GET_ROOT);
    assert_eq!(idle.response().status, 200);
}

#[test]
fn connections_beyond_the_cap_get_503_and_are_closed() {
    // Four pollers share the cap: the three connections may sit under any of them.
    let server = TestServer::start(&["--max-connections", "3", "--pollers", "4"]);
    let mut open: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    // Served once each, so all three are surely counted.
    for client in &mut open {
        client.write(GET_ROOT);
        assert_eq!(client.response().status, 200);
    }
    // The fourth is refused before it sends anything.
    let mut refused = server.connect();
    let r = refused.response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert!(refused.is_closed_by_server());
    assert!(server.wait_for_log("connection limit reached (3/3)"));
    // The three are still served; once one closes, a new connection is welcome.
    for client in &mut open {
        client.write(GET_ROOT);
        assert_eq!(client.response().status, 200);
    }
    let mut leaving = open.pop().unwrap();
    leaving.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(leaving.response().status, 200);
    assert!(leaving.is_closed_by_server());
    // The close is uncounted asynchronously.
    let served = (0..200).any(|_| server.get("/").status == 200);
    assert!(served);
}

#[test]
fn several_pollers_share_the_work_and_the_per_address_cap() {
    let server = TestServer::start(&["--pollers", "3", "--max-conns-per-ip", "40"]);
    let n_pollers = || {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim().starts_with("httpd-poll-"))
            .count()
    };
    // The pollers start right after the listening line.
    assert!(
        crate::util::wait_until(|| n_pollers() == 3),
        "{}",
        n_pollers()
    );
    // Forty keep-alive clients, each served a few times, with small and large files.
    let mut clients: Vec<Client> = (0..40).map(|_| server.connect()).collect();
    for round in 0..3 {
        for client in &mut clients {
            let path = if round == 1 { "/logo.png" } else { "/" };
            client.write(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        }
        for client in &mut clients {
            assert_eq!(client.response().status, 200);
        }
    }
    // The cap counts connections under every poller.
    let mut extra = server.connect();
    assert_eq!(extra.response().status, 503);
    let metrics = {
        let mut c = clients.pop().unwrap();
        c.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        c.response().text()
    };
    assert!(metrics.contains("httpd_open_connections 40\n"), "{metrics}");
    drop(clients);
    // Every poller stops on SIGTERM.
    server.signal("TERM");
    let (status, stderr) = server.wait_exit(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?} {stderr}");
    assert!(stderr.contains("Shutting down server..."), "{stderr}");
}

#[test]
fn one_address_cannot_hold_more_than_its_share() {
    let server = TestServer::start(&["--max-conns-per-ip", "3"]);
    let mut held: Vec<crate::util::Client> = (0..3).map(|_| server.connect()).collect();
    for c in &mut held {
        c.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
    let mut fourth = server.connect();
    let r = fourth.response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert!(fourth.is_closed_by_server());
    // Once one closes, the address may connect again (the close is seen asynchronously).
    let mut first = held.remove(0);
    first.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(first.response().status, 200);
    assert!(first.is_closed_by_server());
    let served = (0..200).any(|_| server.get("/").status == 200);
    assert!(served);
}

#[test]
fn trickled_upload_body_is_cut_off_below_the_minimum_rate() {
    let server = TestServer::start(&["--header-timeout", "200ms", "--min-body-rate", "2000"]);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[");
    // One byte per 100 ms is far below 2000 bytes/s once the 200 ms grace is over.
    let sent = c.drip(&[b' '; 200], std::time::Duration::from_millis(100));
    assert!(sent < 200, "the server never cut the trickle off");
    let r = c.response();
    assert_eq!(r.status, 408);
    assert!(server.root.uploads().is_empty());
    // A prompt upload on the same server is fine.
    let mut ok = server.connect();
    ok.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(ok.response().status, 201);
}

/// Sets a file's modification time an hour back, so the file cache may hold it.
fn age(path: &std::path::Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn cached_answers_come_from_the_poller_and_the_rest_from_a_worker() {
    let logs = crate::util::Dir::new();
    let log = logs.path().join("access.log");
    let root = crate::util::Dir::docroot();
    let big = root.write_large("big.jpg", 200 * 1024);
    age(&root.path().join("about.html"));
    let server = TestServer::start_in(root, &["--access-log", log.to_str().unwrap()]);
    let mut c = server.connect();
    // Small, big, small, pipelined in one write: answered in order.
    c.write(
        b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /big.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n\
          HEAD /big.jpg HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(c.response().body.len(), 36);
    assert!(c.response().body == big);
    let head = c.read_response(true);
    assert_eq!(
        head.header("content-length"),
        Some(big.len().to_string().as_str())
    );
    assert_eq!(c.response().body.len(), 36);
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(crate::util::wait_until(|| lines().lines().count() >= 4));
    let text = lines();
    let about: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("GET /about.html"))
        .collect();
    // The first read of the file fills the cache on a worker; the next is a hit.
    assert!(about[0].contains(" httpd-worker-"), "{about:?}");
    assert!(about[1].contains(" httpd-poll-"), "{about:?}");
    let get_big = text.lines().find(|l| l.contains("GET /big.jpg")).unwrap();
    assert!(get_big.contains(" httpd-worker-"), "{get_big}");
    let head_big = text.lines().find(|l| l.contains("HEAD /big.jpg")).unwrap();
    assert!(head_big.contains(" httpd-worker-"), "{head_big}");
}

#[test]
fn a_client_that_reads_slowly_still_gets_every_pipelined_answer_in_order() {
    let server = TestServer::start(&["--max-requests", "100000"]);
    let c = server.connect();
    let mut writer = c.stream.try_clone().unwrap();
    let n = 3000;
    // Far more answers than the socket buffers hold: the poller's nonblocking write
    // stops short, and it stops parsing until the client reads.
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let mut batch = Vec::new();
        for i in 0..n {
            let path = if i % 2 == 0 {
                "/about.html"
            } else {
                "/sample.txt"
            };
            batch.extend(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").bytes());
        }
        writer.write_all(&batch).unwrap();
    });
    let mut c = c;
    for i in 0..n {
        let r = c.response();
        assert_eq!(r.status, 200, "response {i}");
        let expected = if i % 2 == 0 { 36 } else { 11 };
        assert_eq!(r.body.len(), expected, "response {i} out of order");
    }
    sender.join().unwrap();
}

#[test]
fn slow_small_upload_bodies_wait_in_the_poller_not_in_workers() {
    let server = TestServer::start(&["--threads", "2", "--header-timeout", "30s"]);
    // Six uploads whose heads are in but whose 1,000-byte bodies trickle: were a worker
    // reading each body, both workers would be stuck for the 30 s grace period.
    let mut slow: Vec<crate::util::Client> = (0..6).map(|_| server.connect()).collect();
    for c in &mut slow {
        c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[1 ");
    }
    // A normal upload and a GET are still answered at once (5 s client timeout).
    assert_eq!(server.send(UPLOAD).status, 201);
    assert_eq!(server.get("/").status, 200);
    // A trickled body that completes is served like any other.
    let mut last = slow.pop().unwrap();
    let mut rest = ",2".repeat(498).into_bytes();
    rest.push(b']');
    assert_eq!(rest.len() + 3, 1000);
    last.write(&rest);
    assert_eq!(last.response().status, 201);
}

/// An upload head announcing a JSON body of `len` bytes, and the body's first bytes.
fn upload_head(len: usize) -> Vec<u8> {
    format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n[1"
    )
    .into_bytes()
}

/// The rest of a `len`-byte JSON body after its first two bytes (`[1`).
fn upload_rest(len: usize) -> Vec<u8> {
    let mut rest = ",1".repeat((len - 3) / 2).into_bytes();
    rest.resize(len - 3, b' ');
    rest.push(b']');
    rest
}

#[test]
fn slow_large_upload_bodies_wait_in_the_poller_not_in_workers() {
    // Bodies over the 64 KiB the poller buffers before a worker takes a request: a
    // worker starts each upload, then hands the connection back while the body trickles.
    const LEN: usize = 300_000;
    let root = root_with_big_file();
    let server = TestServer::start_in(root, &["--threads", "2"]);
    let mut slow: Vec<Client> = (0..6).map(|_| server.connect()).collect();
    for c in &mut slow {
        c.write(&upload_head(LEN));
        c.write(&upload_rest(LEN)[..10_000]);
    }
    // Were a worker waiting on each body, both workers would be held for the 10 s
    // grace and more: a large file (a worker's job) and a prompt upload are served at
    // once (the client gives up after 5 s).
    let big = server.get("/big.jpg");
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), BIG_BYTES);
    assert_eq!(server.send(UPLOAD).status, 201);
    // Every slow upload, once complete, is stored whole.
    for c in &mut slow {
        c.write(&upload_rest(LEN)[10_000..]);
    }
    for c in &mut slow {
        let r = c.response();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let names = server.root.uploads();
    assert_eq!(names.len(), 7, "{names:?}");
    let sizes: Vec<u64> = names
        .iter()
        .map(|n| {
            std::fs::metadata(server.root.path().join("uploads").join(n))
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes.iter().filter(|&&n| n == LEN as u64).count(), 6);
}

#[test]
fn a_large_upload_that_stalls_is_answered_408_and_leaves_no_file() {
    // The poller, not a worker, waits out the body's read timeout.
    let server = TestServer::start(&["--threads", "1", "--idle-timeout", "500ms"]);
    let mut stalled = server.connect();
    stalled.write(&upload_head(200_000));
    stalled.write(&upload_rest(200_000)[..70_000]);
    // The only worker is free meanwhile.
    assert_eq!(server.send(UPLOAD).status, 201);
    assert_eq!(stalled.response().status, 408);
    assert!(stalled.is_closed_by_server());
    assert_eq!(server.root.uploads().len(), 1);
}

#[test]
fn a_large_upload_under_way_at_shutdown_is_finished_and_stored() {
    const LEN: usize = 200_000;
    let server = TestServer::start(&["--shutdown-timeout", "10s", "--log-level", "debug"]);
    let mut c = server.connect();
    c.write(&upload_head(LEN));
    let rest = upload_rest(LEN);
    c.write(&rest[..100_000]);
    // Stop the server while the poller holds the upload.
    assert!(server.wait_for_log("receiving upload body"));
    server.signal("TERM");
    c.write(&rest[100_000..]);
    let r = c.response();
    assert_eq!(r.status, 201, "{}", r.text());
    // Stored whole.
    let names = server.root.uploads();
    assert_eq!(names.len(), 1, "{names:?}");
    let stored = std::fs::read(server.root.path().join("uploads").join(&names[0])).unwrap();
    let mut sent = upload_head(LEN)[upload_head(LEN).len() - 2..].to_vec();
    sent.extend_from_slice(&rest);
    assert!(
        stored == sent,
        "the stored upload differs from the body sent"
    );
    let (status, _) = server.wait_exit(Duration::from_secs(10));
    assert!(status.success());
}

#[test]
fn uploads_finishing_together_wait_for_a_worker_instead_of_503() {
    const LEN: usize = 100_000;
    let server = TestServer::start(&["--threads", "1", "--queue", "1", "--log-level", "debug"]);
    let mut uploads: Vec<Client> = Vec::new();
    for n in 1..=4 {
        // One at a time, so that each head finds the queue free.
        let mut c = server.connect();
        c.write(&upload_head(LEN));
        c.write(&upload_rest(LEN)[..1000]);
        assert!(crate::util::wait_until(|| {
            server.stderr().matches("receiving upload body").count() == n
        }));
        uploads.push(c);
    }
    // Four complete bodies at once, for one worker and a queue of one.
    for c in &mut uploads {
        c.write(&upload_rest(LEN)[1000..]);
    }
    for c in &mut uploads {
        assert_eq!(c.response().status, 201);
    }
    assert_eq!(server.root.uploads().len(), 4);
}
