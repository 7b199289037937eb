//! `conn/`: keep-alive and close (HTTP/1.1 and 1.0, `Connection` as a token
//! list), pipelining, the per-connection request cap, the idle timeout and a
//! slow drip cut off by the header timeout.

use std::time::Duration;

use super::checks::{
    DEFAULT_MAX_REQUESTS, StatusCase, check_created, expect_closed, expect_keep_alive,
    expect_status, localhost, row,
};
use super::client::{self, Closed, Conn};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::seed::{check_file_response, file_case};
use super::{Ctx, Kind};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(STATUS, CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("conn/keep_alive_default", keep_alive_default),
    ("conn/connection_close", connection_close),
    (
        "conn/connection_token_not_substring",
        connection_not_substring,
    ),
    ("conn/http10_closes", http10_closes),
    ("conn/http10_keep_alive", http10_keep_alive),
    ("conn/pipelining_three_in_order", pipelining),
    ("conn/pipelining_50_in_order", pipelining_deep),
    ("conn/pipelined_post_then_get", pipelined_post_then_get),
    ("conn/max_requests_5", |ctx| {
        max_requests(ctx, Kind::Short, 5)
    }),
    ("conn/max_requests_default_100", |ctx| {
        max_requests(ctx, Kind::Main, DEFAULT_MAX_REQUESTS)
    }),
    ("conn/idle_timeout_closes", idle_timeout),
    ("conn/slow_drip_cut_off", slow_drip),
];

const STATUS: &[StatusCase] = &[
    // Connection is a comma list of case-insensitive tokens.
    row(
        "conn/connection_token_list_close",
        Kind::Main,
        "GET /sample.txt HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: Upgrade, CLOSE\r\n\r\n",
        200,
    ),
];

fn keep_alive_default(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    for target in ["/index.html", "/about.html", "/sample.txt"] {
        conn.send_all(&client::get(target, &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("{target} on a kept-alive connection: {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)?;
        ensure!(
            !resp.has_connection_token("close"),
            "HTTP/1.1 default should keep the connection: {}",
            resp.summary()
        );
        expect_keep_alive(&resp, 30)?;
    }
    Ok(())
}

fn connection_close(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let (mut conn, resp) = client::exchange(
        srv.addr,
        &client::get("/sample.txt", &localhost(srv), "Connection: close\r\n"),
    )?;
    check_file_response(srv, file_case("/sample.txt"), &resp, false)?;
    ensure!(
        resp.has_connection_token("close"),
        "no Connection: close: {}",
        resp.summary()
    );
    let closed = conn.expect_closed()?;
    ensure!(
        closed == Closed::Eof,
        "expected a clean close, got {closed:?}"
    );
    Ok(())
}

fn connection_not_substring(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    // "x-close" contains "close" but is another token: stay open.
    conn.send_all(&client::get(
        "/sample.txt",
        &host,
        "Connection: x-close\r\n",
    ))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    ensure!(
        !resp.has_connection_token("close"),
        "Connection: x-close was read as close: {}",
        resp.summary()
    );
    conn.send_all(&client::get("/sample.txt", &host, ""))?;
    let resp = conn
        .read_response(false)
        .map_err(|e| format!("second request after Connection: x-close: {e}"))?;
    expect_status(&resp, 200)
}

fn http10_closes(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /about.html HTTP/1.0\r\nHost: {}\r\n\r\n",
        localhost(srv)
    );
    let (mut conn, resp) = client::exchange(srv.addr, req.as_bytes())?;
    check_file_response(srv, file_case("/about.html"), &resp, false)?;
    expect_closed(&mut conn, "HTTP/1.0 without keep-alive")
}

fn http10_keep_alive(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /about.html HTTP/1.0\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        localhost(srv)
    );
    let mut conn = Conn::connect(srv.addr)?;
    for round in 0..2 {
        conn.send_all(req.as_bytes())?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("HTTP/1.0 keep-alive request {round}: {e}"))?;
        check_file_response(srv, file_case("/about.html"), &resp, false)?;
        ensure!(
            resp.has_connection_token("keep-alive"),
            "HTTP/1.0 keep-alive response must say Connection: keep-alive: {}",
            resp.summary()
        );
    }
    Ok(())
}

fn pipelining(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let targets = ["/", "/about.html", "/sample.txt"];
    let mut burst = Vec::new();
    for target in targets {
        burst.extend_from_slice(&client::get(target, &host, ""));
    }
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    for target in targets {
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("pipelined response for {target}: {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)
            .map_err(|e| format!("pipelined responses out of order or wrong: {e}"))?;
    }
    Ok(())
}

fn pipelining_deep(ctx: &Ctx) -> Outcome {
    const N: usize = 50;
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let targets = [
        "/index.html",
        "/sample.txt",
        "/logo.png",
        "/about.html",
        "/logo2.png",
    ];
    let mut burst = Vec::new();
    for i in 0..N {
        burst.extend_from_slice(&client::get(targets[i % targets.len()], &host, ""));
    }
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    for i in 0..N {
        let target = targets[i % targets.len()];
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("pipelined response {i} ({target}): {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)
            .map_err(|e| format!("pipelined response {i}: {e}"))?;
    }
    Ok(())
}

fn pipelined_post_then_get(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let body = br#"{"pipelined": true}"#;
    let mut burst = client::post("/upload", &host, "application/json", body, "");
    burst.extend_from_slice(&client::get("/sample.txt", &host, "Connection: close\r\n"));
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    check_created(srv, &conn.read_response(false)?, body)?;
    let resp = conn
        .read_response(false)
        .map_err(|e| format!("GET pipelined after a POST body: {e}"))?;
    check_file_response(srv, file_case("/sample.txt"), &resp, false)?;
    expect_closed(&mut conn, "after Connection: close")
}

fn max_requests(ctx: &Ctx, kind: Kind, n: usize) -> Outcome {
    let srv = ctx.server(kind)?;
    let req = client::get("/sample.txt", &localhost(srv), "");
    let mut conn = Conn::connect(srv.addr)?;
    for i in 1..=n {
        conn.send_all(&req)
            .map_err(|e| format!("request {i} of {n}: {e}"))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("response {i} of {n}: {e}"))?;
        expect_status(&resp, 200)?;
        let closing = resp.has_connection_token("close");
        if i < n {
            ensure!(!closing, "response {i} of {n} already closes");
        } else {
            ensure!(
                closing,
                "response {n} should carry Connection: close: {}",
                resp.summary()
            );
        }
    }
    expect_closed(&mut conn, &format!("after request {n}"))
}

fn idle_timeout(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Short)?;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&client::get("/sample.txt", &localhost(srv), ""))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    ensure!(
        !resp.has_connection_token("close"),
        "server closed at once; cannot test idling"
    );
    expect_keep_alive(&resp, 1)?;
    // Send nothing: the server must end the idle connection within the 5 s
    // read timeout (its idle timeout is 1 s). A 408 before closing is fine.
    let (bytes, _) = conn.wait_closed()?;
    ensure!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408"),
        "idle connection got unexpected bytes: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

fn slow_drip(ctx: &Ctx) -> Outcome {
    const MAX_BYTES: usize = 40;
    /// Paces the drip: one byte, then this long waiting for an answer.
    const DRIP_PAUSE: Duration = Duration::from_millis(200);
    let srv = ctx.server(Kind::Short)?;
    let host = localhost(srv);
    let mut drip = Conn::connect(srv.addr)?;
    drip.send_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Drip: ").as_bytes())?;
    let mut other_served = false;
    let mut cut_off = None;
    for i in 0..MAX_BYTES {
        if i == 2 {
            let (_c, resp) = client::exchange(
                srv.addr,
                &client::get("/about.html", &host, "Connection: close\r\n"),
            )
            .map_err(|e| format!("other client during the drip: {e}"))?;
            expect_status(&resp, 200).map_err(|e| format!("other client: {e}"))?;
            other_served = true;
        }
        if let Err(e) = drip.send(b"a") {
            cut_off = Some(format!("write failed: {e}"));
            break;
        }
        if drip.has_data(DRIP_PAUSE)? {
            cut_off = Some("answered or closed".to_string());
            break;
        }
    }
    ensure!(other_served, "other client was not tried");
    let how = cut_off.ok_or_else(|| {
        format!("server still reading a {MAX_BYTES}-byte drip (header timeout 1 s)")
    })?;
    let (got, _) = drip
        .wait_closed()
        .map_err(|e| format!("after the drip was cut off ({how}): {e}"))?;
    ensure!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "drip cut off ({how}) with unexpected bytes: {:?}",
        String::from_utf8_lossy(&got)
    );
    Ok(())
}
