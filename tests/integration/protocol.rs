//! Request syntax and methods: 400, 405, 414, 431, 501, 505.

use crate::util::TestServer;

#[test]
fn disallowed_methods_are_405_with_allow() {
    let server = TestServer::start(&[]);
    for method in ["PUT", "DELETE", "PATCH", "TRACE"] {
        let r = server.send(
            format!(
                "{method} /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    }
}

#[test]
fn unknown_method_is_501() {
    let server = TestServer::start(&[]);
    let r = server.send(b"BREW /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 501);
}

#[test]
fn options_is_204_with_allow() {
    let server = TestServer::start(&[]);
    for target in ["*", "/index.html"] {
        let r =
            server.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        assert_eq!(r.status, 204, "{target}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
        assert!(r.header("content-length").is_none());
    }
}

#[test]
fn oversized_head_is_431_and_long_target_414() {
    let server = TestServer::start(&[]);
    let mut raw = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..90 {
        raw.extend(format!("X-Filler-{i}: {}\r\n", "v".repeat(100)).bytes());
    }
    raw.extend(b"\r\n");
    assert_eq!(server.send(&raw).status, 431);
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(server.send(long.as_bytes()).status, 414);
}

#[test]
fn too_many_headers_is_431() {
    let server = TestServer::start(&[]);
    let mut raw = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..120 {
        raw.extend(format!("X{i}: y\r\n").bytes());
    }
    raw.extend(b"\r\n");
    assert_eq!(server.send(&raw).status, 431);
}

#[test]
fn versions_other_than_1x_are_505_and_malformed_ones_400() {
    let server = TestServer::start(&[]);
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
        (b"GET / HTTP/1.32\r\nHost: localhost\r\n\r\n", 400),
        (b"GET / http/1.1\r\nHost: localhost\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: localhost\n\n", 400),
        (b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: local\x01host\r\n\r\n", 400),
    ];
    for (raw, status) in cases {
        let r = server.send(raw);
        assert_eq!(r.status, *status, "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn length_with_transfer_encoding_is_400_and_closes() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed_by_server());
}

#[test]
fn unknown_transfer_coding_is_501_and_chunked_not_last_is_400() {
    let server = TestServer::start(&[]);
    let r = server.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(r.status, 501);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    assert_eq!(c.response().status, 400);
    assert!(c.is_closed_by_server());
}

#[test]
fn get_with_a_small_body_keeps_the_connection() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let second = c.response();
    assert_eq!(second.status, 200);
    assert_eq!(second.body, b"<!DOCTYPE html><title>home</title>\n");
}
