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
