//! `pool/`: the worker pool under load: the seed's 25 parallel downloads, more
//! clients than workers, a full queue answered 503, idle keep-alive connections
//! that hold no worker, and slow readers and slow senders that hold none
//! either ([`slow_clients_hold_no_worker`]).

use std::fs::{self, File};
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::checks::{
    JSON, LOG_WAIT, check_created, download, expect_closed, expect_header, expect_status,
    localhost, read_root_file,
};
use super::client::{self, Conn};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::seed::{check_file_response, file_case};
use super::{Ctx, Kind};
use crate::common::server::httpd_args;

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
    (
        "pool/slow_clients_hold_no_worker",
        slow_clients_hold_no_worker,
    ),
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

/// Workers of the slow-clients server: the slow clients could hold them twelve
/// times over, under a design where a worker writes an answer or reads a body.
const SLOW_WORKERS: &str = "10";

/// The slow clients start in waves of this many, each wave once the one before
/// is going: every request starts with a job (opening a file the cache does not
/// hold), and 100 at once could overflow the queue (10 workers + `--queue 50`),
/// which the server answers with 503 by design.
const WAVE: usize = 10;

/// Clients reading [`BIG_FILE`] at [`READ_STEP`] per [`READ_TICK`].
const N_READERS: usize = 100;

/// Clients trickling a chunked request body, [`TRICKLE_CHUNK`] per [`TRICKLE_EVERY`].
const N_TRICKLERS: usize = 20;

/// The file the slow readers fetch: far larger than what the socket buffers
/// between the server and a reader hold (Linux grows a send buffer to 4 MiB),
/// so a server that wrote it from a worker would keep the worker for as long
/// as the reader reads.
const BIG_FILE: &str = "slow-32mib.jpg";
const BIG_FILE_LEN: usize = 32 << 20;

/// The file the fresh clients fetch, larger than the file cache takes, so each
/// fetch needs a worker to open it.
const FRESH_FILE: &str = "fresh-2mib.jpg";
const FRESH_FILE_LEN: usize = 2 << 20;

/// The big file repeats a random block of this many bytes: a prime, so no shift
/// of the stream by a multiple of a page or a buffer size within 32 MiB maps the
/// pattern onto itself, and a byte out of place shows.
const PATTERN_PERIOD: usize = 65_521;

/// A slow reader reads this much per tick: 16 KiB/s.
const READ_STEP: usize = 16 * 1024;
const READ_TICK: Duration = Duration::from_secs(1);

/// One tiny chunk per tick of a trickler.
const TRICKLE_CHUNK: &[u8] = b"4\r\ndrip\r\n";
const TRICKLE_EVERY: Duration = Duration::from_millis(200);

/// Fresh clients: one 2 MiB download and one upload every [`FRESH_EVERY`],
/// [`N_FRESH`] times, so they run for 5 s while the slow clients are held (and
/// the tricklers finish well within the server's 10 s header timeout, after which
/// `--min-body-rate` would cut them).
const N_FRESH: u32 = 10;
const FRESH_EVERY: Duration = Duration::from_millis(500);

/// The bound on each fresh request, connect to last byte: about
/// scheduling, not speed (with the workers held it would be a timeout).
const FRESH_LIMIT: Duration = Duration::from_secs(1);

/// How long the slow clients may take to connect and get going.
const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// Size of one read of a reader at full speed.
const FAST_READ: usize = 64 * 1024;

/// Shows that no client, however slow, holds a worker: with 10 workers, 100
/// clients read a 32 MiB file at 16 KiB/s and 20 trickle a chunked request body;
/// meanwhile fresh clients download a 2 MiB file (byte for byte) and upload JSON
/// (201, stored as sent), each within 1 s. Then every slow client is served in
/// full: the readers read on at full speed and must get exactly the file's
/// 32 MiB, the tricklers send their last chunk and get 200, and a second request
/// on the same connection proves the server kept the chunked framing. The
/// per-request times are printed on stderr.
fn slow_clients_hold_no_worker(ctx: &Ctx) -> Outcome {
    let root = ctx.fresh_root("slow-clients")?;
    let pattern = random_bytes(PATTERN_PERIOD, 0x5eed_0032);
    write_repeated(&root.join(BIG_FILE), &pattern, BIG_FILE_LEN)?;
    let fresh_file = random_bytes(FRESH_FILE_LEN, 0x5eed_0002);
    fs::write(root.join(FRESH_FILE), &fresh_file)
        .map_err(|e| format!("write {FRESH_FILE}: {e}"))?;
    let flags = ["--threads", SLOW_WORKERS, "--max-conns-per-ip", "1000"];
    let srv = ctx.spawn(
        "slow-clients",
        &httpd_args(&root, "debug", &flags),
        root.clone(),
    )?;
    let (addr, host) = (srv.addr, localhost(&srv));
    let phase = PhaseCell::default();
    let index = fs::read(root.join("index.html")).map_err(|e| format!("read index.html: {e}"))?;

    thread::scope(|scope| {
        // Whatever happens below, the slow clients are told to finish, so that
        // the scope's join ends.
        let _finish = FinishOnDrop(&phase);
        let mut readers = Vec::with_capacity(N_READERS);
        for i in 0..N_READERS {
            let (phase, pattern, host) = (&phase, &pattern, &host);
            readers.push(scope.spawn(move || {
                let result = slow_reader(addr, host, pattern, phase);
                result.map_err(|e| format!("reader {i}: {e}"))
            }));
            if (i + 1) % WAVE == 0 || i + 1 == N_READERS {
                phase.wait_ready(i + 1, SETUP_LIMIT)?;
            }
        }
        let mut tricklers = Vec::with_capacity(N_TRICKLERS);
        for i in 0..N_TRICKLERS {
            let (phase, host, index) = (&phase, &host, &index);
            tricklers.push(scope.spawn(move || {
                let result = trickler(addr, host, index, phase);
                result.map_err(|e| format!("trickler {i}: {e}"))
            }));
            if (i + 1) % WAVE == 0 || i + 1 == N_TRICKLERS {
                phase.wait_ready(N_READERS + i + 1, SETUP_LIMIT)?;
            }
        }

        // Every slow client is now connected and being served slowly.
        let fresh = fresh_clients(&srv, &fresh_file);
        phase.finish();
        let drained = Instant::now();
        let mut errors = Vec::new();
        for handle in readers.into_iter().chain(tricklers) {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("a slow client panicked".to_string()),
            }
        }
        let drained = drained.elapsed();
        let fresh = fresh?;
        eprintln!(
            "pool/slow_clients_hold_no_worker: {} downloads of 2 MiB took {}; {} uploads \
             took {}; then {N_READERS} readers got the rest of their 32 MiB and \
             {N_TRICKLERS} tricklers their answers within {:.1}s",
            fresh.downloads.len(),
            describe_times(&fresh.downloads),
            fresh.uploads.len(),
            describe_times(&fresh.uploads),
            drained.as_secs_f64()
        );
        let slowest = fresh.downloads.iter().chain(&fresh.uploads).max();
        ensure!(
            slowest.is_some_and(|t| *t < FRESH_LIMIT),
            "a fresh request took {slowest:?} (limit {FRESH_LIMIT:?}) while slow clients \
             were connected: downloads {}, uploads {}",
            describe_times(&fresh.downloads),
            describe_times(&fresh.uploads)
        );
        ensure!(
            errors.is_empty(),
            "{} of {} slow clients failed; first: {}",
            errors.len(),
            N_READERS + N_TRICKLERS,
            errors.first().map_or("", String::as_str)
        );
        Ok(())
    })
}

/// What the slow clients are told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Read or send slowly.
    Slow,
    /// Readers read on at full speed; tricklers send their last chunk.
    Finish,
}

/// The phase, and how many slow clients are going, behind one lock; waits end as
/// soon as either changes.
struct PhaseCell {
    state: Mutex<(Phase, usize)>,
    changed: Condvar,
}

impl Default for PhaseCell {
    fn default() -> PhaseCell {
        PhaseCell {
            state: Mutex::new((Phase::Slow, 0)),
            changed: Condvar::new(),
        }
    }
}

impl PhaseCell {
    fn lock(&self) -> MutexGuard<'_, (Phase, usize)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one slow client as going (or as failed to start: either way the
    /// main thread stops waiting for it).
    fn ready(&self) {
        self.lock().1 += 1;
        self.changed.notify_all();
    }

    /// Waits until `n` slow clients are going, at most `limit`.
    fn wait_ready(&self, n: usize, limit: Duration) -> Outcome {
        let (state, _) = self
            .changed
            .wait_timeout_while(self.lock(), limit, |(_, n_ready)| *n_ready < n)
            .unwrap_or_else(PoisonError::into_inner);
        ensure!(
            state.1 >= n,
            "only {} of {n} slow clients started within {limit:?}",
            state.1
        );
        Ok(())
    }

    /// Tells every slow client to finish.
    fn finish(&self) {
        self.lock().0 = Phase::Finish;
        self.changed.notify_all();
    }

    /// Waits until `deadline` (a pacing tick) or the finish, whichever is first;
    /// returns the phase.
    fn wait_tick(&self, deadline: Instant) -> Phase {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if state.0 == Phase::Finish || now >= deadline {
                return state.0;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Tells the slow clients to finish when dropped.
struct FinishOnDrop<'a>(&'a PhaseCell);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// One slow reader: GETs [`BIG_FILE`], reads [`READ_STEP`] per [`READ_TICK`]
/// until told to finish, then the rest at full speed; checks every byte against
/// the pattern and the length, then that the server closes.
fn slow_reader(
    addr: std::net::SocketAddr,
    host: &str,
    pattern: &[u8],
    phase: &PhaseCell,
) -> Outcome {
    let mut reader = BodyReader::open(addr, host, pattern);
    // Counted as going once the first step is in, or failed: either way.
    let first = reader
        .as_mut()
        .map_err(|e| e.clone())
        .and_then(|r| r.read(READ_STEP));
    phase.ready();
    let mut reader = reader?;
    first?;
    let mut tick = Instant::now();
    loop {
        tick += READ_TICK;
        if phase.wait_tick(tick) == Phase::Finish || reader.remaining() == 0 {
            break;
        }
        reader.read(READ_STEP)?;
    }
    reader.read(reader.remaining())?;
    expect_closed(&mut reader.conn, "after the whole file (Connection: close)")
}

/// A response body read piece by piece and checked against a repeated pattern.
struct BodyReader<'a> {
    conn: Conn,
    pattern: &'a [u8],
    /// Body bytes read so far.
    offset: usize,
    buf: Vec<u8>,
}

impl<'a> BodyReader<'a> {
    /// Sends `GET /BIG_FILE` and reads the head: 200, Content-Length 32 MiB.
    fn open(
        addr: std::net::SocketAddr,
        host: &str,
        pattern: &'a [u8],
    ) -> Result<BodyReader<'a>, String> {
        let mut conn = Conn::connect(addr)?;
        conn.send_all(&client::get(
            &format!("/{BIG_FILE}"),
            host,
            "Connection: close\r\n",
        ))?;
        let head = conn.read_head()?;
        expect_status(&head, 200)?;
        let length = head.content_length()?;
        ensure!(
            length == Some(BIG_FILE_LEN),
            "Content-Length {length:?}, expected {BIG_FILE_LEN}: {}",
            head.summary()
        );
        Ok(BodyReader {
            conn,
            pattern,
            offset: 0,
            buf: vec![0; FAST_READ],
        })
    }

    /// Body bytes still to come.
    fn remaining(&self) -> usize {
        BIG_FILE_LEN - self.offset
    }

    /// Reads exactly `n` more body bytes and checks them.
    fn read(&mut self, n: usize) -> Outcome {
        let end = self.offset + n.min(self.remaining());
        while self.offset < end {
            let want = (end - self.offset).min(self.buf.len());
            let got = self.conn.read_some(&mut self.buf[..want])?;
            ensure!(
                got > 0,
                "connection closed after {} of {BIG_FILE_LEN} body bytes",
                self.offset
            );
            ensure!(
                matches_pattern(self.pattern, self.offset, &self.buf[..got]),
                "body bytes {}..{} differ from the file",
                self.offset,
                self.offset + got
            );
            self.offset += got;
        }
        Ok(())
    }
}

/// One trickler: sends `GET /index.html` with a chunked body, one tiny chunk per
/// [`TRICKLE_EVERY`] until told to finish, then the last chunk and a second
/// request on the same connection; both must get index.html with 200.
fn trickler(addr: std::net::SocketAddr, host: &str, index: &[u8], phase: &PhaseCell) -> Outcome {
    let head = format!(
        "GET /index.html HTTP/1.1\r\nHost: {host}\r\nUser-Agent: httpd-e2e\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let started = Conn::connect(addr).and_then(|mut conn| {
        conn.send_all(head.as_bytes())?;
        conn.send_all(TRICKLE_CHUNK)?;
        Ok(conn)
    });
    phase.ready();
    let mut conn = started?;
    let mut tick = Instant::now();
    loop {
        tick += TRICKLE_EVERY;
        if phase.wait_tick(tick) == Phase::Finish {
            break;
        }
        conn.send_all(TRICKLE_CHUNK)
            .map_err(|e| format!("while trickling: {e}"))?;
    }
    let mut last = b"0\r\n\r\n".to_vec();
    last.extend_from_slice(&client::get("/index.html", host, "Connection: close\r\n"));
    conn.send_all(&last)?;
    for what in ["the trickled request", "the request after it"] {
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("{what}: {e}"))?;
        expect_status(&resp, 200).map_err(|e| format!("{what}: {e}"))?;
        ensure!(
            resp.body == index,
            "{what}: body of {} bytes differs from index.html",
            resp.body.len()
        );
    }
    expect_closed(&mut conn, "after Connection: close")
}

/// How long each fresh request took.
struct FreshTimes {
    downloads: Vec<Duration>,
    uploads: Vec<Duration>,
}

/// Runs the fresh clients: [`N_FRESH`] rounds, one every [`FRESH_EVERY`], of a
/// download of [`FRESH_FILE`] (checked byte for byte) and an upload of a small
/// JSON document (201, stored as sent), each on its own connection and timed from
/// connect to its last byte.
fn fresh_clients(srv: &super::Server, fresh_file: &[u8]) -> Result<FreshTimes, String> {
    let host = localhost(srv);
    let mut times = FreshTimes {
        downloads: Vec::new(),
        uploads: Vec::new(),
    };
    let started = Instant::now();
    for round in 0..N_FRESH {
        // Pacing: the rounds spread over the time the slow clients are held.
        let next = started + FRESH_EVERY * round;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let began = Instant::now();
        let resp = download(srv.addr, &host, &format!("/{FRESH_FILE}"))
            .map_err(|e| format!("fresh download {round}: {e}"))?;
        times.downloads.push(began.elapsed());
        expect_status(&resp, 200).map_err(|e| format!("fresh download {round}: {e}"))?;
        ensure!(
            resp.body == fresh_file,
            "fresh download {round}: {} bytes that differ from {FRESH_FILE}",
            resp.body.len()
        );

        let body = format!("{{\"client\":\"fresh\",\"round\":{round}}}").into_bytes();
        let began = Instant::now();
        let (_conn, resp) = client::exchange(
            srv.addr,
            &client::post("/upload", &host, JSON, &body, "Connection: close\r\n"),
        )
        .map_err(|e| format!("fresh upload {round}: {e}"))?;
        times.uploads.push(began.elapsed());
        check_created(srv, &resp, &body).map_err(|e| format!("fresh upload {round}: {e}"))?;
    }
    Ok(times)
}

/// Describes durations as `min-max ms (each: a, b, ...)`.
fn describe_times(times: &[Duration]) -> String {
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
        .collect();
    match (times.iter().min(), times.iter().max()) {
        (Some(min), Some(max)) => format!(
            "{:.0}-{:.0} ms (each: {})",
            min.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            ms.join(", ")
        ),
        _ => "none".to_string(),
    }
}

/// Returns `n` pseudo-random bytes (xorshift64* from `seed`): incompressible.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Writes `len` bytes of `pattern` repeated to `path`.
fn write_repeated(path: &std::path::Path, pattern: &[u8], len: usize) -> Outcome {
    let write = || -> std::io::Result<()> {
        let mut file = File::create(path)?;
        let mut left = len;
        while left > 0 {
            let n = left.min(pattern.len());
            file.write_all(&pattern[..n])?;
            left -= n;
        }
        file.sync_all()
    };
    write().map_err(|e| format!("write {}: {e}", path.display()))
}

/// Tells whether `piece`, found at `offset` of a stream that repeats `pattern`,
/// holds the stream's bytes there.
fn matches_pattern(pattern: &[u8], offset: usize, piece: &[u8]) -> bool {
    let mut at = offset % pattern.len();
    let mut rest = piece;
    while !rest.is_empty() {
        let n = rest.len().min(pattern.len() - at);
        if rest[..n] != pattern[at..at + n] {
            return false;
        }
        rest = &rest[n..];
        at = 0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_pieces_match_only_in_place() {
        let pattern = random_bytes(7, 1);
        let stream: Vec<u8> = pattern.iter().copied().cycle().take(40).collect();
        for offset in 0..30 {
            for len in [6, 7, 8, 10] {
                let piece = &stream[offset..offset + len];
                assert!(matches_pattern(&pattern, offset, piece), "{offset} {len}");
                assert!(
                    !matches_pattern(&pattern, offset + 1, piece)
                        || piece.iter().all(|b| *b == piece[0]),
                    "{offset} {len}"
                );
            }
        }
        assert_eq!(random_bytes(10, 3), random_bytes(10, 3));
        assert_ne!(random_bytes(10, 3), random_bytes(10, 4));
        assert_eq!(
            describe_times(&[Duration::from_millis(12), Duration::from_millis(3)]),
            "3-12 ms (each: 12, 3)"
        );
    }
}
