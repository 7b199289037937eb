//! Signals over real sockets: SIGTERM and SIGINT stop accepting, close idle connections
//! at once and let a download in flight finish; a second signal exits at once; the
//! shutdown timeout bounds the wait; SIGHUP reopens the access log for logrotate.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::util::{Client, Dir, IO_TIMEOUT, TestServer, wait_until};

/// The download in flight: far more than the socket buffers hold, so the worker is still
/// writing it when the signal arrives.
const BIG_BYTES: usize = 32 * 1024 * 1024;

/// How much the client reads at a time once the signal was sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// How long a graceful stop may take once the client has read everything.
const EXIT_WAIT: Duration = Duration::from_secs(10);

const GET_BIG: &[u8] = b"GET /big.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Starts a server over a docroot holding `big.txt`; returns it with the file's bytes.
fn server_with_big_file(extra: &[&str]) -> (TestServer, Vec<u8>) {
    let root = Dir::docroot();
    let bytes = root.write_large("big.txt", BIG_BYTES);
    (TestServer::start_in(root, extra), bytes)
}

/// Asks for `big.txt` and reads only the response head.
fn start_download(server: &TestServer) -> Client {
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

/// A keep-alive connection that has had its response and now waits idle.
fn idle_connection(server: &TestServer) -> Client {
    let mut client = server.connect();
    client.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("keep-alive"));
    client
}

/// Reads the rest of the body in chunks and checks it against `expected`.
fn finish_download(client: &mut Client, expected: &[u8]) {
    let mut body = Vec::with_capacity(expected.len());
    while body.len() < expected.len() {
        let n = CHUNK_BYTES.min(expected.len() - body.len());
        body.extend(client.read_bytes(n));
    }
    assert!(
        body == expected,
        "the download was not sent whole and intact"
    );
}

fn stops_gracefully_on(signal: &str) {
    let (server, expected) =
        server_with_big_file(&["--shutdown-timeout", "30s", "--idle-timeout", "60s"]);
    let mut idle = idle_connection(&server);
    let mut download = start_download(&server);

    server.signal(signal);
    assert!(server.wait_for_log("Shutting down server..."));

    // The idle connection is closed at once: the client's read gives up after
    // IO_TIMEOUT (5 s), long before the 60 s idle timeout could close it.
    assert!(idle.is_closed_by_server());
    // The listener is closed: a new connection is refused.
    let refused = TcpStream::connect_timeout(&server.addr, IO_TIMEOUT);
    assert!(refused.is_err(), "{refused:?}");

    // The download in flight is still sent whole, read slowly after the signal.
    finish_download(&mut download, &expected);
    assert!(download.is_closed_by_server());

    let (status, stderr) = server.wait_exit(EXIT_WAIT);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("Shutting down server..."), "{stderr}");
    assert!(!stderr.contains("workers still busy"), "{stderr}");
}

#[test]
fn sigterm_finishes_a_download_and_closes_idle_connections() {
    stops_gracefully_on("TERM");
}

#[test]
fn sigint_finishes_a_download_and_closes_idle_connections() {
    stops_gracefully_on("INT");
}

#[test]
fn a_second_signal_exits_at_once_during_a_download() {
    // A graceful stop could take a minute: exiting within EXIT_WAIT is the second signal's.
    let (server, _) = server_with_big_file(&["--shutdown-timeout", "60s"]);
    let mut download = start_download(&server);
    server.signal("TERM");
    assert!(server.wait_for_log("Shutting down server..."));
    server.signal("INT");
    let (status, stderr) = server.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(1), "{status:?}\n{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    // The download was cut short.
    assert!(download.read_until_closed() < BIG_BYTES);
}

#[test]
fn the_shutdown_timeout_bounds_the_wait_for_a_stalled_download() {
    let (server, _) = server_with_big_file(&["--shutdown-timeout", "200ms"]);
    // The client never reads past the head, so its answer never ends.
    let _stalled = start_download(&server);
    server.signal("TERM");
    let (status, stderr) = server.wait_exit(EXIT_WAIT);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("connections still busy after 0.2s; closing 1"),
        "{stderr}"
    );
}

fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn sighup_reopens_the_access_log() {
    let logs = Dir::new();
    let path = logs.path().join("access.log");
    let rotated = logs.path().join("access.log.1");
    let server = TestServer::start(&["--access-log", path.to_str().unwrap()]);

    assert_eq!(server.get("/before-rotation.html").status, 404);
    assert!(wait_until(
        || read_text(&path).contains("/before-rotation.html")
    ));

    // What logrotate does: rename the file, then signal the server.
    fs::rename(&path, &rotated).unwrap();
    server.signal("HUP");
    assert!(server.wait_for_log("reopened access log"));

    assert_eq!(server.get("/after-rotation.html").status, 404);
    assert!(
        wait_until(|| read_text(&path).contains("/after-rotation.html")),
        "{:?}",
        read_text(&path)
    );
    let old = read_text(&rotated);
    assert!(old.contains("/before-rotation.html"), "{old}");
    assert!(!old.contains("/after-rotation.html"), "{old}");
    assert!(!read_text(&path).contains("/before-rotation.html"));

    // SIGHUP does not stop the server.
    assert_eq!(server.get("/").status, 200);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?}\n{stderr}");
}
