//! `pool/`: the worker pool under load: the seed's 25 parallel downloads, more
//! clients than workers, a full queue answered 503, and idle keep-alive
//! connections that hold no worker.

use std::fs;
use std::thread;
use std::time::Duration;

use super::checks::{
    LOG_WAIT, download, expect_closed, expect_header, expect_status, localhost, read_root_file,
};
use super::client::{self, Conn};
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
    let srv = ctx.server(Kind::OneWorker)?;
    let host = localhost(srv);
    // H holds the only worker with the server's test hook (`--test-stall-path`): its
    // job runs until a release file appears. (No client can hold a worker otherwise:
    // the pollers do every read and write.)
    let release = srv.root.join(".stall-release");
    let _ = fs::remove_file(&release);
    let mut holder = Conn::connect(srv.addr)?;
    holder.send_all(&client::get("/queue-hold", &host, "Connection: close\r\n"))?;
    ensure!(
        srv.log_contains("test stall: holding this worker", Duration::from_secs(5)),
        "the stalled job never took the worker ({})",
        srv.log_path.display()
    );
    // Two more requests for files the cache does not hold (written just now, so a
    // worker must open them): one takes the single queue slot, the other must get 503
    // at once. Which is which depends on the poller's order.
    for name in ["queued-a.html", "queued-b.html"] {
        fs::write(srv.root.join(name), b"<p>queued</p>\n")
            .map_err(|e| format!("write {name}: {e}"))?;
    }
    let mut others = [Conn::connect(srv.addr)?, Conn::connect(srv.addr)?];
    for (conn, name) in others.iter_mut().zip(["queued-a.html", "queued-b.html"]) {
        conn.send_all(&client::get(
            &format!("/{name}"),
            &host,
            "Connection: close\r\n",
        ))?;
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
    // Releasing the worker lets the queued request go next.
    fs::write(&release, b"").map_err(|e| format!("write {}: {e}", release.display()))?;
    let resp = holder.read_response(false)?;
    expect_status(&resp, 200)?;
    let resp = queued
        .read_response(false)
        .map_err(|e| format!("queued connection after the worker freed up: {e}"))?;
    expect_status(&resp, 200)?;
    let _ = fs::remove_file(&release);
    ensure!(
        srv.log_contains("Thread pool:", Duration::from_secs(2)),
        "no 'Thread pool:' status line in {}",
        srv.log_path.display()
    );
    Ok(())
}
