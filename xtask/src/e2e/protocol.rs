//! `protocol/`: request-head limits (431, 414, `--max-head`), versions (505,
//! 400), framing conflicts and malformed heads, each answered and closed.

use super::checks::{StatusCase, expect_closed, expect_status, localhost, oversized, row};
use super::client;
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::{Ctx, Kind};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(STATUS, CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("protocol/head_over_8k_431", head_too_large),
    ("protocol/too_many_headers_431", too_many_headers),
    ("protocol/head_just_under_8k_200", head_just_under_limit),
    ("protocol/max_head_flag", max_head_flag),
    ("protocol/target_over_8k_414", target_too_long),
];

const STATUS: &[StatusCase] = &[
    // Protocol errors.
    row(
        "protocol/http2_505",
        Kind::Main,
        "GET / HTTP/2.0\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        505,
    ),
    row(
        "protocol/bad_version_400",
        Kind::Main,
        "GET / HTTP/1.32\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "protocol/garbage_400",
        Kind::Main,
        "this is not http at all\r\n\r\n",
        400,
    ),
    row(
        "protocol/bare_lf_400",
        Kind::Main,
        "GET / HTTP/1.1\nHost: localhost\n\n",
        400,
    ),
    row(
        "protocol/cl_and_te_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    row(
        "protocol/differing_content_lengths_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    row(
        "protocol/signed_content_length_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: +2\r\n\r\n{}",
        400,
    ),
    row(
        "protocol/leading_empty_line_ignored",
        Kind::Main,
        "\r\nGET /sample.txt HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        200,
    ),
];

/// Returns `count` header lines of `line_len` bytes each (CRLF included).
fn filler_headers(count: usize, line_len: usize) -> String {
    (0..count)
        .map(|i| format!("X-Filler-{i:04}: {}\r\n", "a".repeat(line_len - 17)))
        .collect()
}

fn head_too_large(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    // 60 fields (fewer than any sane field-count cap) of 200 bytes: 12 000 bytes.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        localhost(srv),
        filler_headers(60, 200)
    );
    oversized(srv, req.as_bytes(), 431)
}

fn too_many_headers(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    // 200 short fields: a small head (4 KB) with too many fields.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        localhost(srv),
        filler_headers(200, 20)
    );
    ensure!(req.len() < 8192, "test bug: head is {} bytes", req.len());
    oversized(srv, req.as_bytes(), 431)
}

fn head_just_under_limit(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}\r\n",
        localhost(srv),
        filler_headers(40, 190)
    );
    ensure!(
        (7000..8192).contains(&req.len()),
        "test bug: head is {} bytes",
        req.len()
    );
    let (mut conn, resp) = client::exchange(srv.addr, req.as_bytes())?;
    expect_status(&resp, 200)?;
    expect_closed(&mut conn, "after Connection: close")
}

fn max_head_flag(ctx: &Ctx) -> Outcome {
    // The Short server runs with --max-head 2048.
    let srv = ctx.server(Kind::Short)?;
    let head = |n_fields: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}\r\n",
            localhost(srv),
            filler_headers(n_fields, 100)
        )
    };
    let (small, large) = (head(15), head(25));
    ensure!(
        small.len() < 2048 && large.len() > 2048,
        "test bug: heads of {} and {} bytes",
        small.len(),
        large.len()
    );
    let (mut conn, resp) = client::exchange(srv.addr, small.as_bytes())?;
    expect_status(&resp, 200).map_err(|e| format!("{} byte head: {e}", small.len()))?;
    expect_closed(&mut conn, "after Connection: close")?;
    oversized(srv, large.as_bytes(), 431).map_err(|e| format!("{} byte head: {e}", large.len()))
}

fn target_too_long(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /{}.html HTTP/1.1\r\nHost: {}\r\n\r\n",
        "a".repeat(9000),
        localhost(srv)
    );
    oversized(srv, req.as_bytes(), 414)
}
