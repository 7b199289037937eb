//! `pool/`: the worker pool under load: the seed's 25 parallel downloads, more
//! clients than workers, a full queue answered 503, and idle keep-alive
//! connections that hold no worker.

use std::fs;
use std::thread;
use std::time::Duration;

use super::checks::{
    LOG_WAIT, check_created, download, expect_closed, expect_header, expect_status, localhost,
    read_root_file,
};
use super::client::{self, Conn, Response};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::seed::{check_file_response, file_case};
use super::{Ctx, Kind};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(&[], CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("pool/load_25_photo_downloads_seed", |ctx| {
        parallel_downloads(ctx, Kind::Main, 25)
    }),
    ("pool/more_clients_than_workers", |ctx| {
        parallel_downloads(ctx, Kind::TwoWorkers, 25)
    }),
    ("pool/queue_full_503", queue_full),
    ("pool/idle_connections_hold_no_worker", idle_hold_no_worker),
];

fn parallel_downloads(ctx: &Ctx, kind: Kind, n: usize) -> Outcome {
    let srv = ctx.server(kind)?;
    let (addr, host) = (srv.addr, localhost(srv));
    let expected = read_root_file(srv, "photo.jpg")?;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let host = host.clone();
            thread::spawn(move || download(addr, &host, "/photo.jpg"))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let resp = h
            .join()
            .map_err(|_| format!("client {i} panicked"))?
            .map_err(|e| format!("client {i}: {e}"))?;
        expect_status(&resp, 200).map_err(|e| format!("client {i}: {e}"))?;
        ensure!(
            resp.body == expected,
            "client {i}: photo.jpg body differs ({} of {} bytes)",
            resp.body.len(),
            expected.len()
        );
    }
    ensure!(
        srv.log_contains("Thread pool:", LOG_WAIT),
        "no 'Thread pool:' status line in {}",
        srv.log_path.display()
    );
    Ok(())
}

fn idle_hold_no_worker(ctx: &Ctx) -> Outcome {
    const N_IDLE: usize = 30;
    // More idle keep-alive connections than the two workers: parked
    // connections must not hold workers, so a new client is still served.
    let srv = ctx.server(Kind::TwoWorkers)?;
    let host = localhost(srv);
    let mut idle = Vec::with_capacity(N_IDLE);
    for i in 0..N_IDLE {
        let mut conn = Conn::connect(srv.addr)?;
        conn.send_all(&client::get("/sample.txt", &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("idle connection {i}: {e}"))?;
        expect_status(&resp, 200)?;
        idle.push(conn);
    }
    let resp = download(srv.addr, &host, "/index.html")
        .map_err(|e| format!("new client with {N_IDLE} idle connections open: {e}"))?;
    check_file_response(srv, file_case("/index.html"), &resp, false)?;
    // The idle connections still work.
    for (i, conn) in idle.iter_mut().enumerate().step_by(7) {
        conn.send_all(&client::get("/sample.txt", &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("idle connection {i}, second request: {e}"))?;
        expect_status(&resp, 200)?;
    }
    Ok(())
}

fn queue_full(ctx: &Ctx) -> Outcome {
    /// Larger than what the kernel buffers between the server and a client that
    /// stopped reading, so the worker sending it blocks.
    const HOLD_BYTES: u64 = 32 * 1024 * 1024;
    let srv = ctx.server(Kind::OneWorker)?;
    let host = localhost(srv);
    // H holds the only worker: a download it stopped reading. (A slow upload no longer
    // does: the poller reads upload bodies.) Its response head proves a worker is
    // sending it.
    let hold = srv.root.join("queue-hold.txt");
    fs::File::create(&hold)
        .and_then(|f| f.set_len(HOLD_BYTES))
        .map_err(|e| format!("write {}: {e}", hold.display()))?;
    let mut holder = Conn::connect(srv.addr)?;
    holder.send_all(&client::get(
        "/queue-hold.txt",
        &host,
        "Connection: close\r\n",
    ))?;
    let started = holder
        .read_response(true)
        .map_err(|e| format!("holder: {e}"))?;
    ensure!(
        started.status == 200,
        "holder: expected 200, got {}",
        started.summary()
    );
    // Two more ready requests: one takes the single queue slot, the other
    // must get 503 at once. Which is which depends on the poller's order.
    // They are uploads: a request with a body always goes to a worker (the
    // poller answers small GETs itself, so those never queue).
    let queued_body = br#"{"queued": true}"#;
    let mut others = [Conn::connect(srv.addr)?, Conn::connect(srv.addr)?];
    for conn in &mut others {
        conn.send_all(
            format!(
                "POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                queued_body.len(),
                String::from_utf8_lossy(queued_body)
            )
            .as_bytes(),
        )?;
    }
    let mut rejected = None;
    'wait: for _ in 0..50 {
        for (i, conn) in others.iter_mut().enumerate() {
            if conn.has_data(Duration::from_millis(100))? {
                rejected = Some(i);
                break 'wait;
            }
        }
    }
    let rejected =
        rejected.ok_or("no 503 while the worker and the one queue slot were busy (waited 10 s)")?;
    let [first, second] = &mut others;
    let (refused, queued) = if rejected == 0 {
        (first, second)
    } else {
        (second, first)
    };
    let resp = refused.read_response(false)?;
    expect_status(&resp, 503)?;
    expect_header(&resp, "Retry-After", "5")?;
    expect_closed(refused, "after 503")?;
    ensure!(
        !queued.has_data(Duration::from_millis(100))?,
        "the queued connection was answered while the worker was still busy"
    );
    // Reading the download to its end frees the worker; the queued request goes next.
    ensure!(
        started_len(&started)? == HOLD_BYTES,
        "holder: Content-Length is not {HOLD_BYTES}: {}",
        started.summary()
    );
    let drained = holder
        .discard_to_close()
        .map_err(|e| format!("holder: reading the rest: {e}"))?;
    ensure!(
        drained > 0 && drained <= HOLD_BYTES,
        "holder: {drained} more bytes"
    );
    let resp = queued
        .read_response(false)
        .map_err(|e| format!("queued connection after the worker freed up: {e}"))?;
    check_created(srv, &resp, queued_body)?;
    ensure!(
        srv.log_contains("Thread pool:", LOG_WAIT),
        "no 'Thread pool:' status line in {}",
        srv.log_path.display()
    );
    Ok(())
}

/// The Content-Length of a response read to its head.
fn started_len(resp: &Response) -> Result<u64, String> {
    resp.header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Content-Length in {}", resp.summary()))
}
