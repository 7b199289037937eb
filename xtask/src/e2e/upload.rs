//! `upload/`: JSON uploads (the seed's examples, charset, large, chunked,
//! concurrent, `Expect: 100-continue`, at and over `--max-body`) and the
//! uploads the server must refuse (media type, length, size, chunk syntax).

use std::collections::HashSet;
use std::thread;

use super::checks::{JSON, StatusCase, check_created, expect_status, localhost, oversized, row};
use super::client::{self, Conn, Response};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::{Ctx, Kind};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(STATUS, CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("upload/json_testing_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"name": "test", "value": 123}"#)
    }),
    ("upload/json_api_reference_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"key": "value", "data": "example"}"#)
    }),
    ("upload/json_security_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"data": "value"}"#)
    }),
    ("upload/json_with_charset", |ctx| {
        let body = "{\"greeting\": \"gr\u{fc}\u{df} dich\"}";
        upload_ok(ctx, "application/json; charset=utf-8", body.as_bytes())
    }),
    ("upload/invalid_json_400_no_file", upload_invalid_json),
    ("upload/large_100k_stored_whole", upload_large),
    ("upload/chunked_201", upload_chunked),
    ("upload/concurrent_20_unique_names", upload_concurrent),
    ("upload/expect_100_continue", upload_expect_continue),
    ("upload/exactly_max_body_201", upload_at_limit),
    (
        "upload/chunked_over_max_body_413",
        upload_chunked_over_limit,
    ),
];

const STATUS: &[StatusCase] = &[
    // POST rejections (seed Security section 4).
    row(
        "upload/text_html_415_seed",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: text/html\r\n\
         Content-Length: {LEN}\r\nConnection: close\r\n\r\n<script>alert(\"xss\")</script>",
        415,
    ),
    row(
        "upload/multipart_415_seed",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\n\
         Content-Type: multipart/form-data; boundary=e2eBoundary\r\n\
         Content-Length: {LEN}\r\nConnection: close\r\n\r\n\
         --e2eBoundary\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"malicious.php\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n\
         <?php echo 'hi'; ?>\r\n\
         --e2eBoundary--\r\n",
        415,
    ),
    row(
        "upload/no_length_411",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Connection: close\r\n\r\n",
        411,
    ),
    row(
        "upload/over_max_body_413",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 10485761\r\n\r\n",
        413,
    ),
    row(
        "upload/over_max_body_flag_413",
        Kind::Short,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 4097\r\n\r\n",
        413,
    ),
    // More uploads.
    row(
        "upload/bad_chunk_size_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    row(
        "upload/http10_post_201",
        Kind::Main,
        "POST /upload HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {LEN}\r\n\r\n\
         {\"via\": \"HTTP/1.0\"}",
        201,
    ),
];

fn upload_ok(ctx: &Ctx, content_type: &str, body: &[u8]) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = client::post("/upload", &localhost(srv), content_type, body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, body).map(|_| ())
}

fn upload_invalid_json(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let before = srv.uploads();
    let body = br#"{"name": "test", "value": }"#;
    let req = client::post("/upload", &localhost(srv), "application/json", body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    expect_status(&resp, 400)?;
    let after = srv.uploads();
    ensure!(
        before == after,
        "invalid JSON left a file: before {before:?}, after {after:?}"
    );
    Ok(())
}

fn upload_large(ctx: &Ctx) -> Outcome {
    let body = format!("{{\"data\": \"{}\"}}", "x".repeat(100 * 1024)).into_bytes();
    upload_ok(ctx, "application/json", &body)
}

fn upload_chunked(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let parts: [&[u8]; 3] = [b"{\"chunked\": ", b"true, \"parts\": [1, 2, 3]", b"}"];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        localhost(srv)
    )
    .into_bytes();
    for part in parts {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, &parts.concat()).map(|_| ())
}

fn upload_concurrent(ctx: &Ctx) -> Outcome {
    const N: usize = 20;
    let srv = ctx.server(Kind::Main)?;
    let (addr, host) = (srv.addr, localhost(srv));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let host = host.clone();
            thread::spawn(move || -> Result<(Vec<u8>, Response), String> {
                let body = format!("{{\"client\": {i}, \"note\": \"concurrent upload\"}}");
                let req = client::post(
                    "/upload",
                    &host,
                    "application/json",
                    body.as_bytes(),
                    "Connection: close\r\n",
                );
                let (_conn, resp) = client::exchange(addr, &req)?;
                Ok((body.into_bytes(), resp))
            })
        })
        .collect();
    let mut paths = HashSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (body, resp) = h
            .join()
            .map_err(|_| format!("client {i} panicked"))?
            .map_err(|e| format!("client {i}: {e}"))?;
        let path = check_created(srv, &resp, &body).map_err(|e| format!("client {i}: {e}"))?;
        ensure!(paths.insert(path.clone()), "two uploads got {path}");
    }
    ensure!(
        paths.len() == N,
        "{} distinct files for {N} uploads",
        paths.len()
    );
    Ok(())
}

/// A JSON document of exactly `len` bytes.
fn json_of_len(len: usize) -> Vec<u8> {
    let frame = br#"{"pad": ""}"#.len();
    format!("{{\"pad\": \"{}\"}}", "p".repeat(len - frame)).into_bytes()
}

fn upload_at_limit(ctx: &Ctx) -> Outcome {
    // The Short server runs with --max-body 4096.
    let srv = ctx.server(Kind::Short)?;
    let body = json_of_len(4096);
    let req = client::post("/upload", &localhost(srv), "application/json", &body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, &body).map(|_| ())
}

fn upload_chunked_over_limit(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Short)?;
    let body = json_of_len(5000);
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        localhost(srv)
    )
    .into_bytes();
    for part in body.chunks(1000) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let before = srv.uploads();
    oversized(srv, &req, 413)?;
    let after = srv.uploads();
    ensure!(
        before == after,
        "refused upload left a file: before {before:?}, after {after:?}"
    );
    Ok(())
}

fn upload_expect_continue(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let body = br#"{"expect": "100-continue"}"#;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            localhost(srv),
            body.len()
        )
        .as_bytes(),
    )?;
    let interim = conn.read_response(false)?;
    ensure!(
        interim.status == 100,
        "expected 100 Continue before the body, got {}",
        interim.summary()
    );
    conn.send_all(body)?;
    check_created(srv, &conn.read_response(false)?, body).map(|_| ())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn json_of_len_is_exact_and_valid() {
        for len in [11, 12, 4096] {
            let body = json_of_len(len);
            assert_eq!(body.len(), len);
            serde_json::from_slice::<Value>(&body).expect("valid JSON");
        }
    }
}
