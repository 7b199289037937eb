//! The worker pool as seen from outside: queueing, 503, panics, shutdown.

use crate::util::TestServer;

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A request with a body: only a worker serves it (the poller answers small GETs itself).
const UPLOAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

#[test]
fn queued_job_is_served_when_a_worker_frees_up() {
    // The queue-full path (503 + Retry-After) is in `scheduling`; this is the wait.
    let server = TestServer::start(&[
        "--threads",
        "1",
        "--queue",
        "4",
        "--test-stall-path",
        "/stall",
    ]);
    // The test hook holds the only worker until a release file appears.
    let mut first = server.connect();
    first.write(b"GET /stall HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(server.wait_for_log("test stall: holding this worker"));
    let mut second = server.connect();
    second.write(UPLOAD);
    assert!(server.wait_for_log("Thread pool saturated"));
    server.root.write(".stall-release", b"");
    assert_eq!(first.response().status, 200);
    assert_eq!(second.response().status, 201);
    assert!(server.wait_for_log("Connection dequeued, assigned to httpd-worker-1"));
}

#[test]
fn more_clients_than_workers_all_get_their_file() {
    let root = crate::util::Dir::docroot();
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    root.write("photo.jpg", &photo);
    let server = TestServer::start_in(root, &["--threads", "2"]);
    std::thread::scope(|s| {
        for _ in 0..25 {
            let server = &server;
            let photo = &photo;
            s.spawn(move || {
                let r = server.send(
                    b"GET /photo.jpg HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                );
                assert_eq!(r.status, 200);
                assert!(r.body == *photo);
            });
        }
    });
}

#[test]
fn handler_panic_gives_500_and_the_worker_survives() {
    let server = TestServer::start(&["--threads", "1", "--test-panic-path", "/boom.html"]);
    let r = server.get("/boom.html");
    assert_eq!(r.status, 500);
    assert!(server.wait_for_log("handler panicked"));
    for _ in 0..3 {
        assert_eq!(server.get("/").status, 200);
    }
}

#[test]
fn startup_lines_follow_the_seed() {
    let server = TestServer::start(&["--threads", "7"]);
    let addr = server.addr;
    assert!(server.wait_for_log(&format!("HTTP Server started on http://{addr}")));
    assert!(server.wait_for_log("Thread pool size: 7"));
    assert!(server.wait_for_log("Serving files from '"));
    assert!(server.wait_for_log("Press Ctrl+C to stop the server"));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(GET_ROOT);
    assert_eq!(c.response().status, 200);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(stderr.contains("Shutting down server..."), "{stderr}");
}
