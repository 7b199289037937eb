//! Keep-alive, close, HTTP/1.0, pipelining, request caps and timeouts.

use crate::util::TestServer;

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn http11_keeps_the_connection_alive() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    for i in 0..3 {
        c.write(GET_ROOT);
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        assert_eq!(
            r.header("keep-alive"),
            Some(format!("timeout=30, max={}", 99 - i).as_str())
        );
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed_by_server());
}

#[test]
fn connection_tokens_are_a_list() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: TE, Close\r\n\r\n");
    assert_eq!(c.response().header("connection"), Some("close"));
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: closed-captions\r\n\r\n");
    assert_eq!(c.response().header("connection"), Some("keep-alive"));
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.header("transfer-encoding").is_none());
    assert!(c.is_closed_by_server());

    let mut c = server.connect();
    c.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.response().header("connection"), Some("keep-alive"));
    c.write(b"GET /about.html HTTP/1.0\r\n\r\n");
    assert_eq!(c.response().status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(
        b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /nope.html HTTP/1.1\r\nHost: localhost\r\n\r\n\
          HEAD /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let a = c.response();
    assert_eq!((a.status, a.body.len()), (200, 36));
    assert_eq!(c.response().status, 404);
    let head = c.read_response(true);
    assert_eq!(head.header("content-length"), Some("11"));
    assert_eq!(c.response().body, b"<!DOCTYPE html><title>home</title>\n");
}

#[test]
fn request_cap_closes_the_connection() {
    let server = TestServer::start(&["--max-requests", "3"]);
    let mut c = server.connect();
    for _ in 0..2 {
        c.write(GET_ROOT);
        assert_eq!(c.response().header("connection"), Some("keep-alive"));
    }
    c.write(GET_ROOT);
    let last = c.response();
    assert_eq!(last.header("connection"), Some("close"));
    assert!(last.header("keep-alive").is_none());
    assert!(c.is_closed_by_server());
}

#[test]
fn idle_connection_is_closed_by_the_server() {
    let server = TestServer::start(&["--idle-timeout", "300ms"]);
    let mut c = server.connect();
    c.write(GET_ROOT);
    assert_eq!(c.response().status, 200);
    // The read timeout is 5 s; the server must close long before.
    assert!(c.is_closed_by_server());
}

#[test]
fn many_idle_connections_timing_out_together_are_all_closed() {
    // More than one turn's worth of expirations (the poller closes them in batches).
    let server = TestServer::start(&["--idle-timeout", "500ms", "--max-conns-per-ip", "1000"]);
    let mut idle: Vec<crate::util::Client> = (0..300).map(|_| server.connect()).collect();
    for c in idle.iter_mut().step_by(2) {
        c.write(GET_ROOT);
        assert_eq!(c.response().status, 200);
    }
    for c in &mut idle {
        assert!(c.is_closed_by_server());
    }
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn slow_head_is_cut_off_with_408() {
    let server = TestServer::start(&["--header-timeout", "300ms"]);
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.1\r\nHost: loc");
    // Nothing more is sent: the head deadline, not the idle timeout, ends it.
    let r = c.response();
    assert_eq!(r.status, 408);
    assert!(c.is_closed_by_server());
    // Others are still served.
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn client_closing_mid_head_does_not_disturb_the_server() {
    let server = TestServer::start(&[]);
    let c = server.connect();
    let mut c = c;
    c.write(b"GET / HTTP/1.1\r\nHo");
    c.shutdown_write();
    assert!(c.is_closed_by_server());
    assert_eq!(server.get("/").status, 200);
}

/// Server-side sockets of `server` in state `state` (hex, as in `/proc/net/tcp`:
/// `03` is SYN_RECV, `01` ESTABLISHED): connections the kernel holds for it.
fn server_sockets_in_state(server: &TestServer, state: &str) -> usize {
    let port = format!("{:04X}", server.addr.port());
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .filter(|f| f.len() > 3 && f[1].ends_with(&format!(":{port}")) && f[3] == state)
        .count()
}

fn open_connections(server: &TestServer) -> i64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix("httpd_open_connections ")?.parse().ok())
        .unwrap_or_else(|| panic!("no httpd_open_connections in {text}"))
}

#[test]
fn a_connection_that_has_sent_nothing_waits_in_the_kernel_not_in_the_server() {
    // A wide deferral window, so that a busy machine cannot reach its end mid-test.
    let server = TestServer::start(&["--defer-accept", "30s"]);
    let mut silent = server.connect();
    // The handshake is complete on the client's side, but the kernel holds the
    // server's side (SYN_RECV) until bytes arrive: the server has not accepted it.
    assert!(crate::util::wait_until(|| server_sockets_in_state(
        &server, "03"
    ) == 1));
    // Only the connection asking for the metrics is open.
    assert_eq!(open_connections(&server), 1);
    // Its first bytes hand it to the server, which serves it as any other.
    silent.write(GET_ROOT);
    assert_eq!(silent.response().status, 200);
    assert_eq!(server_sockets_in_state(&server, "03"), 0);
    assert_eq!(open_connections(&server), 2);
}

#[test]
fn defer_accept_off_accepts_a_silent_connection_at_once() {
    let server = TestServer::start(&["--defer-accept", "off"]);
    let _silent = server.connect();
    assert!(crate::util::wait_until(|| open_connections(&server) == 2));
    assert_eq!(server_sockets_in_state(&server, "03"), 0);
}

#[test]
fn a_silent_connection_is_still_accepted_and_timed_out_after_the_deferral() {
    // The kernel hands it over about a second later (one SYN-ACK retransmission);
    // then the idle timeout closes it as before. Accepted at once, without the
    // deferral, the idle timeout alone would close it after 300 ms.
    let server = TestServer::start(&["--defer-accept", "1s", "--idle-timeout", "300ms"]);
    let connected = std::time::Instant::now();
    let mut silent = server.connect();
    assert!(silent.is_closed_by_server());
    let open_for = connected.elapsed();
    assert!(
        open_for >= std::time::Duration::from_millis(900),
        "closed {open_for:?} after connecting: it was not deferred"
    );
    assert_eq!(server.get("/").status, 200);
}
