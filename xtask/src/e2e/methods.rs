//! `methods/`: HEAD mirrors GET on one connection (no stray body, errors
//! included), refused methods answer 405 with `Allow`, unknown ones 501, and
//! OPTIONS 204.

use super::checks::{ALLOW_HEADER, StatusCase, common, expect_closed, localhost, row};
use super::client::{self, Conn, Response};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::seed::{check_file_response, file_case};
use super::{Ctx, Kind};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(STATUS, CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("methods/head_then_get_same_connection", head_then_get),
    ("methods/head_photo_matches_get", head_photo),
    ("methods/head_error_has_no_body", head_error_no_body),
];

const STATUS: &[StatusCase] = &[
    // Methods.
    row(
        "methods/put_405",
        Kind::Main,
        "PUT /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/delete_405",
        Kind::Main,
        "DELETE /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/patch_405",
        Kind::Main,
        "PATCH /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/unknown_501",
        Kind::Main,
        "FOO / HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        501,
    ),
    row(
        "methods/options_204",
        Kind::Main,
        "OPTIONS / HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        204,
    )
    .with(ALLOW_HEADER),
];

fn head_error_no_body(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /nope.html HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    ensure!(head.status == 404, "expected 404, got {}", head.summary());
    common(&head, true)?;
    if head.has_connection_token("close") {
        return expect_closed(&mut conn, "after a closing HEAD 404");
    }
    // Body bytes wrongly sent after the HEAD response would break this parse.
    conn.send_all(&client::get("/sample.txt", &host, "Connection: close\r\n"))?;
    let get = conn
        .read_response(false)
        .map_err(|e| format!("GET after HEAD 404: {e}"))?;
    check_file_response(srv, file_case("/sample.txt"), &get, false)
}

fn head_then_get(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let case = file_case("/index.html");
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    check_file_response(srv, case, &head, true)?;
    // A body wrongly sent after the HEAD response would be parsed as the
    // next status line here.
    conn.send_all(&client::get("/index.html", &host, ""))?;
    let get = conn
        .read_response(false)
        .map_err(|e| format!("GET after HEAD on one connection: {e}"))?;
    check_file_response(srv, case, &get, false)?;
    same_headers(&head, &get)
}

fn head_photo(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let case = file_case("/photo.jpg");
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /photo.jpg HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    check_file_response(srv, case, &head, true)?;
    conn.send_all(&client::get("/photo.jpg", &host, "Connection: close\r\n"))?;
    let get = conn.read_response(false)?;
    check_file_response(srv, case, &get, false)?;
    same_headers(&head, &get)
}

fn same_headers(head: &Response, get: &Response) -> Outcome {
    for name in ["content-type", "content-length", "content-disposition"] {
        ensure!(
            head.header(name) == get.header(name),
            "HEAD and GET differ in {name}: {:?} vs {:?}",
            head.header(name),
            get.header(name)
        );
    }
    Ok(())
}
