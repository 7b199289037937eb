//! `cargo xtask soak [SECONDS]`: a bounded soak of the release `httpd` binary under a
//! mix of well-behaved and hostile clients.
//!
//! The task builds the release binary, starts it on loopback over a temporary copy of
//! `resources/` (in `target/soak/run-...`, kept when something failed) with short
//! timeouts ([`SERVER_FLAGS`]), and runs [`drive`] for `SECONDS` (default 60). `drive`
//! is also what the e2e scenario `soak/mixed_60s` runs against a server of its own.
//!
//! [`N_MIXED_CLIENTS`] threads each loop over a random mix of: keep-alive GETs of every
//! file in the docroot (status and exact bytes checked), HEADs followed by a GET on the
//! same connection (no stray body), JSON uploads (201, and at the end the stored file
//! holds exactly the bytes posted), malformed requests from a table (each has its own
//! 4xx), pipelined batches of GETs and HEADs (answered in order, byte for byte) and
//! aborted clients (half a head, half a body, a download dropped unread, a bare
//! connect). [`N_SLOW_CLIENTS`] more threads drip request heads slower than the header
//! timeout and expect 408 and a close. Every valid request counts as passed or failed
//! (with details); aborted clients only count as sent.
//!
//! After a warm-up round of every client kind, the open file descriptors and the RSS of
//! the server (`/proc/PID/fd`, `VmRSS` in `/proc/PID/status`) are the baseline. At the
//! end, once the server's timeouts have passed (polled, bounded by [`SETTLE_LIMIT`]),
//! they must be back within [`FD_SLACK`] and [`RSS_SLACK_KIB`] of it, and no temporary
//! upload file may remain. The task prints a summary and `N passed, N failed`, and
//! exits 1 on any failure.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::client::{Conn, IO_TIMEOUT, Response};
use crate::common::procfs::{Usage, settle, usage};
use crate::common::server::{Launch, Server, httpd_args};
use crate::common::{self, copy_dir, count_upload_files};

/// How long `cargo xtask soak` runs without an argument, in seconds.
const DEFAULT_SECONDS: u64 = 60;

/// Flags of the server under soak, beyond `--listen`, `--root` and `--log-level`:
/// timeouts short enough that slow and aborted clients are cut within seconds.
pub const SERVER_FLAGS: &[&str] = &[
    "--header-timeout",
    "2s",
    "--idle-timeout",
    "5s",
    "--write-timeout",
    "5s",
];

/// The `--header-timeout` of [`SERVER_FLAGS`]: slow clients drip for longer than this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Threads running the mix of clients.
pub const N_MIXED_CLIENTS: usize = 6;

/// Threads running slow (dripping) clients back to back.
pub const N_SLOW_CLIENTS: usize = 2;

/// Pause between two bytes of a dripped head; the whole head takes far longer than
/// [`HEADER_TIMEOUT`].
const DRIP_PAUSE: Duration = Duration::from_millis(250);

/// Open descriptors the server may hold at the end beyond its baseline, not counting
/// directories (up to one docroot descriptor per server thread; see
/// [`Usage::is_within`]).
pub const FD_SLACK: usize = 8;

/// Resident memory the server may hold at the end beyond its baseline, in KiB.
pub const RSS_SLACK_KIB: u64 = 16 * 1024;

/// Longest wait, after the clients stopped, for the server to close what they left
/// (header 2 s, idle 5 s and write 5 s timeouts, plus slack).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// A large file added to the docroot, so downloads span many writes.
const BIG_FILE: &str = "soak-1mib.txt";

/// Size of [`BIG_FILE`].
const BIG_FILE_LEN: usize = 1 << 20;

/// How often the driver samples the server's resources and logs progress.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How often a progress line is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Requests the timed run must check per second of its length (it checks
/// thousands on an idle machine): fewer means the clients did not run, and a
/// soak that checked nothing must not pass.
pub const MIN_CHECKS_PER_SECOND: u64 = 10;

/// How many failure details a report keeps.
const MAX_DETAILS: usize = 50;

/// Runs `cargo xtask soak [SECONDS]`.
pub fn run(args: &[String]) -> ExitCode {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [s] => match s.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("soak: SECONDS must be a positive whole number, not {s:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: cargo xtask soak [SECONDS]");
            return ExitCode::from(2);
        }
    };
    match soak_release_binary(Duration::from_secs(seconds)) {
        Ok(report) => {
            for line in &report.lines {
                println!("soak: {line}");
            }
            println!("{} passed, {} failed", report.n_passed, report.n_failed);
            if report.n_failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server a soak runs against.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its docroot (uploads land in `uploads/`).
    pub root: &'a Path,
    /// Its process id, for `/proc`.
    pub pid: u32,
}

/// What a soak found.
#[derive(Debug, Default)]
pub struct Report {
    /// Checks that held.
    pub n_passed: u64,
    /// Checks that failed.
    pub n_failed: u64,
    /// The summary, one line each.
    pub lines: Vec<String>,
    /// The first failures, `KIND TARGET: reason`.
    pub details: Vec<String>,
}

impl Report {
    fn pass(&mut self, n: u64) {
        self.n_passed += n;
    }

    fn fail(&mut self, detail: String) {
        self.n_failed += 1;
        if self.details.len() < MAX_DETAILS {
            self.details.push(detail);
        }
    }
}

/// Runs the mixed clients against `target` for `duration` (after a warm-up round), then
/// checks the stored uploads and the server's resources. `log` gets progress lines.
pub fn drive(target: &Target<'_>, duration: Duration, log: &dyn Fn(&str)) -> Report {
    let mut report = Report::default();
    let files = match prepare_files(target.root) {
        Ok(files) => files,
        Err(e) => {
            report.fail(format!("setup: {e}"));
            return report;
        }
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let shared = Arc::new(Shared {
        addr: target.addr,
        files,
        malformed: malformed_cases(),
        n_checked: AtomicU64::new(0),
        n_failed: AtomicU64::new(0),
    });
    let before = match usage(target.pid) {
        Ok(u) => u,
        Err(e) => {
            report.fail(format!("setup: {e}"));
            return report;
        }
    };

    // Warm-up: every kind of client a few times, so that buffers, worker arenas and
    // the access log are in their steady state before the baseline is taken.
    let (mut total, mut uploads) = (Tally::default(), Vec::new());
    for handle in spawn_clients(&shared, seed, Plan::Rounds(3)) {
        match handle.join() {
            Ok(tally) => total.merge(tally, &mut uploads),
            Err(_) => report.fail("warm-up: a client thread panicked".to_string()),
        }
    }
    // The warm-up's connections are closed by now on the client side; wait (bounded)
    // for the server to notice, so the baseline does not count them.
    let baseline = match settle(target.pid, before, 0, u64::MAX / 2, Duration::from_secs(5)) {
        Ok(s) => s.usage,
        Err(e) => {
            report.fail(format!("baseline: {e}"));
            return report;
        }
    };
    log(&format!(
        "warm-up done ({} checks); baseline {baseline}; running {} mixed and {} slow clients for {} s (seed {seed:#x})",
        shared.n_checked.load(Ordering::Relaxed),
        N_MIXED_CLIENTS,
        N_SLOW_CLIENTS,
        duration.as_secs()
    ));

    let n_warm_up_checks = shared.n_checked.load(Ordering::Relaxed);
    let started = Instant::now();
    let until = started + duration;
    let handles = spawn_clients(&shared, seed.rotate_left(17), Plan::Until(until));
    let mut peak = baseline;
    let mut last_progress = started;
    let mut sample_error = None;
    // Bounded: every client stops at `until` and each of its steps is bounded by the
    // socket timeouts, so the loop ends within `until` plus a few of those.
    let hard_stop = until + IO_TIMEOUT * 6 + HEADER_TIMEOUT * 10;
    while handles.iter().any(|h| !h.is_finished()) && Instant::now() < hard_stop {
        thread::sleep(SAMPLE_EVERY);
        match usage(target.pid) {
            Ok(u) => {
                peak.n_fds = peak.n_fds.max(u.n_fds);
                peak.rss_kib = peak.rss_kib.max(u.rss_kib);
                if last_progress.elapsed() >= PROGRESS_EVERY {
                    last_progress = Instant::now();
                    log(&format!(
                        "{:>4} s: {} checks, {} failed; {u}",
                        started.elapsed().as_secs(),
                        shared.n_checked.load(Ordering::Relaxed),
                        shared.n_failed.load(Ordering::Relaxed)
                    ));
                }
            }
            Err(e) => {
                sample_error.get_or_insert(e);
            }
        }
    }
    let elapsed = started.elapsed();
    for handle in handles {
        if !handle.is_finished() {
            report.fail("clients: a client thread did not stop in time".to_string());
            continue;
        }
        match handle.join() {
            Ok(tally) => total.merge(tally, &mut uploads),
            Err(_) => report.fail("clients: a client thread panicked".to_string()),
        }
    }
    if let Some(e) = sample_error {
        report.fail(format!("server: {e} (did httpd exit?)"));
    }

    // Per-kind results.
    report.lines.push(format!(
        "{} s against pid {}, {} mixed + {} slow clients, seed {seed:#x}",
        elapsed.as_secs(),
        target.pid,
        N_MIXED_CLIENTS,
        N_SLOW_CLIENTS
    ));
    for kind in Kind::ALL {
        let (passed, failed) = (total.passed[kind as usize], total.failed[kind as usize]);
        report.lines.push(format!(
            "  {:<22} {passed:>8} passed, {failed} failed",
            kind.label()
        ));
    }
    report.lines.push(format!(
        "  {:<22} {:>8} sent",
        "aborted clients", total.n_aborted
    ));
    report.pass(total.passed.iter().sum());
    check_coverage(
        &total,
        shared.n_checked.load(Ordering::Relaxed) - n_warm_up_checks,
        duration,
        &mut report,
    );
    report.n_failed += total.failed.iter().sum::<u64>();
    for detail in total.details {
        if report.details.len() < MAX_DETAILS {
            report.details.push(detail);
        }
    }

    check_uploads(
        target.root,
        &uploads,
        total.failed[Kind::Upload as usize],
        &mut report,
    );
    check_resources(target, baseline, peak, &mut report);
    report.lines.push(format!(
        "{} requests checked in {:.0} s ({:.0}/s)",
        total.passed.iter().sum::<u64>() + total.failed.iter().sum::<u64>(),
        elapsed.as_secs_f64(),
        (total.passed.iter().sum::<u64>() + total.failed.iter().sum::<u64>()) as f64
            / elapsed.as_secs_f64().max(0.001)
    ));
    for detail in &report.details {
        report.lines.push(format!("FAIL {detail}"));
    }
    if report.n_failed > report.details.len() as u64 {
        report.lines.push(format!(
            "... and {} more failures",
            report.n_failed - report.details.len() as u64
        ));
    }
    report
}

/// Checks that the soak did soak: the timed run checked at least
/// [`MIN_CHECKS_PER_SECOND`] requests a second, and every kind of request passed at
/// least once.
fn check_coverage(total: &Tally, n_timed_checks: u64, duration: Duration, report: &mut Report) {
    let wanted = MIN_CHECKS_PER_SECOND * duration.as_secs().max(1);
    if n_timed_checks < wanted {
        report.fail(format!(
            "coverage: the timed run checked {n_timed_checks} requests in {} s, fewer than {wanted}",
            duration.as_secs()
        ));
    } else {
        report.pass(1);
    }
    for kind in Kind::ALL {
        if total.passed[kind as usize] == 0 {
            report.fail(format!("coverage: no {} request passed", kind.label()));
        }
    }
}

/// Checks that every upload answered 201 is stored with exactly the bytes posted, that
/// no other upload file appeared, and that no temporary file is left.
fn check_uploads(root: &Path, uploads: &[Stored], n_upload_failures: u64, report: &mut Report) {
    let dir = root.join("uploads");
    let mut n_exact = 0;
    for stored in uploads {
        let expected = upload_body(stored.client, stored.seq);
        match fs::read(dir.join(&stored.name)) {
            Ok(bytes) if bytes == expected => n_exact += 1,
            Ok(bytes) => report.fail(format!(
                "stored upload {}: {} bytes on disk differ from the {} bytes posted",
                stored.name,
                bytes.len(),
                expected.len()
            )),
            Err(e) => report.fail(format!("stored upload {}: {e}", stored.name)),
        }
    }
    report.pass(n_exact);
    report.lines.push(format!(
        "  {:<22} {n_exact:>8} byte-exact of {}",
        "stored uploads",
        uploads.len()
    ));

    // Aborted uploads must leave nothing: no published file, and (once the server has
    // seen every abort, bounded by the settle limit) no temporary file.
    let started = Instant::now();
    let (n_final, n_temp) = loop {
        let (n_final, n_temp) = count_upload_files(&dir);
        if n_temp == 0 || started.elapsed() >= SETTLE_LIMIT {
            break (n_final, n_temp);
        }
        thread::sleep(Duration::from_millis(100));
    };
    let extra = n_final.saturating_sub(uploads.len());
    // An upload whose response was lost may still have been stored; only without such
    // failures is every extra file unexplained.
    if extra > 0 && n_upload_failures == 0 {
        report.fail(format!(
            "uploads/: {extra} upload files that no 201 response named"
        ));
    } else {
        report.pass(1);
    }
    if n_temp > 0 {
        report.fail(format!(
            "uploads/: {n_temp} temporary .upload-*.tmp files left after {SETTLE_LIMIT:?}"
        ));
    } else {
        report.pass(1);
    }
    report.lines.push(format!(
        "  {:<22} {n_final} upload files, {n_temp} temporary files left",
        "uploads/"
    ));
}

/// Checks that the server is alive and back within the slack of its baseline.
fn check_resources(target: &Target<'_>, baseline: Usage, peak: Usage, report: &mut Report) {
    match settle(target.pid, baseline, FD_SLACK, RSS_SLACK_KIB, SETTLE_LIMIT) {
        Ok(settled) => {
            let end = settled.usage;
            report.lines.push(format!(
                "fds: baseline {}, peak {}, end {} (slack {FD_SLACK}); RSS KiB: baseline {}, peak {}, end {} (slack {RSS_SLACK_KIB}); settled in {:.1} s",
                baseline.n_fds,
                peak.n_fds,
                end.n_fds,
                baseline.rss_kib,
                peak.rss_kib,
                end.rss_kib,
                settled.waited.as_secs_f64()
            ));
            if settled.is_within {
                report.pass(1);
            } else {
                report.fail(format!(
                    "resources: {end} after {SETTLE_LIMIT:?}, baseline {baseline} (slack {FD_SLACK} fds, {RSS_SLACK_KIB} KiB)"
                ));
            }
        }
        Err(e) => report.fail(format!("resources: {e} (did httpd exit?)")),
    }
}

/// What the client threads share.
struct Shared {
    addr: SocketAddr,
    files: Vec<File>,
    malformed: Vec<Malformed>,
    /// Requests checked so far, for progress lines.
    n_checked: AtomicU64,
    /// Requests failed so far, for progress lines.
    n_failed: AtomicU64,
}

/// A file of the docroot and its bytes.
struct File {
    target: String,
    bytes: Vec<u8>,
}

/// A malformed or refused request and the status it must get.
struct Malformed {
    label: &'static str,
    request: Vec<u8>,
    status: u16,
}

/// An upload the server answered 201: its stored name and what its body was made from.
struct Stored {
    name: String,
    client: usize,
    seq: u64,
}

/// The kinds of checked requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    HeadThenGet,
    Upload,
    Malformed,
    Pipelined,
    Slow,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Get,
        Kind::HeadThenGet,
        Kind::Upload,
        Kind::Malformed,
        Kind::Pipelined,
        Kind::Slow,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Get => "GET (keep-alive)",
            Kind::HeadThenGet => "HEAD then GET",
            Kind::Upload => "upload (201)",
            Kind::Malformed => "malformed (4xx)",
            Kind::Pipelined => "pipelined (in order)",
            Kind::Slow => "slow head (408)",
        }
    }
}

/// One client thread's results.
#[derive(Default)]
struct Tally {
    passed: [u64; Kind::ALL.len()],
    failed: [u64; Kind::ALL.len()],
    n_aborted: u64,
    details: Vec<String>,
    uploads: Vec<Stored>,
}

impl Tally {
    fn check(&mut self, shared: &Shared, kind: Kind, what: &str, result: Result<(), String>) {
        shared.n_checked.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => self.passed[kind as usize] += 1,
            Err(reason) => {
                shared.n_failed.fetch_add(1, Ordering::Relaxed);
                self.failed[kind as usize] += 1;
                if self.details.len() < MAX_DETAILS {
                    self.details
                        .push(format!("{} {what}: {reason}", kind.label()));
                }
            }
        }
    }

    fn merge(&mut self, other: Tally, uploads: &mut Vec<Stored>) {
        for i in 0..Kind::ALL.len() {
            self.passed[i] += other.passed[i];
            self.failed[i] += other.failed[i];
        }
        self.n_aborted += other.n_aborted;
        self.details.extend(other.details);
        uploads.extend(other.uploads);
    }
}

/// How long client threads run.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Each mixed client runs every action this many times, each slow client once.
    Rounds(usize),
    /// Random actions until the instant.
    Until(Instant),
}

fn spawn_clients(shared: &Arc<Shared>, seed: u64, plan: Plan) -> Vec<thread::JoinHandle<Tally>> {
    let mut handles = Vec::new();
    for idx in 0..N_MIXED_CLIENTS + N_SLOW_CLIENTS {
        let shared = Arc::clone(shared);
        let slow = idx >= N_MIXED_CLIENTS;
        let handle = thread::Builder::new()
            .name(format!("soak-client-{idx}"))
            .spawn(move || {
                let mut rng = Rng::new(seed ^ (idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                if slow {
                    slow_client(&shared, plan)
                } else {
                    mixed_client(&shared, idx, &mut rng, plan)
                }
            })
            .expect("spawning a client thread");
        handles.push(handle);
    }
    handles
}

/// The actions of a mixed client, with their weights.
#[derive(Clone, Copy, Debug)]
enum Action {
    Get,
    HeadThenGet,
    Upload,
    Malformed,
    Pipelined,
    Abort,
}

const ACTIONS: [(Action, u64); 6] = [
    (Action::Get, 30),
    (Action::HeadThenGet, 10),
    (Action::Upload, 15),
    (Action::Malformed, 15),
    (Action::Pipelined, 15),
    (Action::Abort, 10),
];

fn mixed_client(shared: &Shared, idx: usize, rng: &mut Rng, plan: Plan) -> Tally {
    let mut tally = Tally::default();
    // Per-client upload counter; with the client index it names each body.
    let mut seq = 0u64;
    let mut act = |action: Action, tally: &mut Tally, rng: &mut Rng| match action {
        Action::Get => get(shared, rng, tally),
        Action::HeadThenGet => head_then_get(shared, rng, tally),
        Action::Upload => {
            seq += 1;
            upload(shared, idx, seq, rng, tally);
        }
        Action::Malformed => malformed(shared, rng, tally),
        Action::Pipelined => pipelined(shared, rng, tally),
        Action::Abort => abort(shared, rng, tally),
    };
    match plan {
        Plan::Rounds(n) => {
            for _ in 0..n {
                for (action, _) in ACTIONS {
                    act(action, &mut tally, rng);
                }
            }
        }
        Plan::Until(until) => {
            let total: u64 = ACTIONS.iter().map(|(_, w)| w).sum();
            while Instant::now() < until {
                let mut pick = rng.below(total);
                for (action, weight) in ACTIONS {
                    if pick < weight {
                        act(action, &mut tally, rng);
                        break;
                    }
                    pick -= weight;
                }
            }
        }
    }
    tally
}

fn slow_client(shared: &Shared, plan: Plan) -> Tally {
    let mut tally = Tally::default();
    match plan {
        Plan::Rounds(_) => slow(shared, &mut tally),
        Plan::Until(until) => {
            while Instant::now() < until {
                slow(shared, &mut tally);
            }
        }
    }
    tally
}

/// One to four GETs of random files on one keep-alive connection.
fn get(shared: &Shared, rng: &mut Rng, tally: &mut Tally) {
    let mut conn = match Conn::connect(shared.addr) {
        Ok(c) => c,
        Err(e) => return tally.check(shared, Kind::Get, "(connect)", Err(e)),
    };
    for _ in 0..1 + rng.below(4) {
        let file = &shared.files[rng.below(shared.files.len() as u64) as usize];
        let result = conn
            .send_all(&get_request(&file.target, "GET", ""))
            .and_then(|()| response(&mut conn, false))
            .and_then(|resp| expect_file(&resp, file, false));
        let broken = result.is_err();
        tally.check(shared, Kind::Get, &file.target, result);
        if broken {
            return;
        }
    }
}

/// HEAD of a file, then GET of it on the same connection: the HEAD response must carry
/// the GET's length and no body (or the GET's response would not parse).
fn head_then_get(shared: &Shared, rng: &mut Rng, tally: &mut Tally) {
    let file = &shared.files[rng.below(shared.files.len() as u64) as usize];
    let result = (|| {
        let mut conn = Conn::connect(shared.addr)?;
        conn.send_all(&get_request(&file.target, "HEAD", ""))?;
        let head = response(&mut conn, true)?;
        expect_file(&head, file, true).map_err(|e| format!("HEAD: {e}"))?;
        conn.send_all(&get_request(&file.target, "GET", "Connection: close\r\n"))?;
        let resp = response(&mut conn, false)?;
        expect_file(&resp, file, false).map_err(|e| format!("GET after HEAD: {e}"))
    })();
    tally.check(shared, Kind::HeadThenGet, &file.target, result);
}

/// A JSON upload, sometimes chunked; a 201 is remembered to check the stored file.
fn upload(shared: &Shared, client: usize, seq: u64, rng: &mut Rng, tally: &mut Tally) {
    let body = upload_body(client, seq);
    let chunked = rng.below(4) == 0;
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{}Connection: close\r\n\r\n",
        if chunked {
            "Transfer-Encoding: chunked\r\n".to_string()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        }
    )
    .into_bytes();
    if chunked {
        let (a, b) = body.split_at(body.len() / 2);
        for part in [a, b] {
            req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            req.extend_from_slice(part);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(&body);
    }
    let result = (|| {
        let mut conn = Conn::connect(shared.addr)?;
        conn.send_all(&req)?;
        let resp = response(&mut conn, false)?;
        created_name(&resp)
    })();
    match result {
        Ok(name) => {
            tally.uploads.push(Stored { name, client, seq });
            tally.check(shared, Kind::Upload, "/upload", Ok(()));
        }
        Err(e) => tally.check(shared, Kind::Upload, "/upload", Err(e)),
    }
}

/// One request of the malformed table on its own connection.
fn malformed(shared: &Shared, rng: &mut Rng, tally: &mut Tally) {
    let case = &shared.malformed[rng.below(shared.malformed.len() as u64) as usize];
    let result = (|| {
        let mut conn = Conn::connect(shared.addr)?;
        conn.send_all(&case.request)?;
        let resp = response(&mut conn, false)?;
        if resp.status == case.status {
            Ok(())
        } else {
            Err(format!("expected {}, got {}", case.status, resp.summary()))
        }
    })();
    tally.check(shared, Kind::Malformed, case.label, result);
}

/// Two to eight GETs and HEADs written at once; the responses must come in order.
fn pipelined(shared: &Shared, rng: &mut Rng, tally: &mut Tally) {
    let n = 2 + rng.below(7) as usize;
    let mut batch = Vec::new();
    let mut items = Vec::new();
    for i in 0..n {
        let file = &shared.files[rng.below(shared.files.len() as u64) as usize];
        let is_head = rng.below(5) == 0;
        let extra = if i + 1 == n {
            "Connection: close\r\n"
        } else {
            ""
        };
        let method = if is_head { "HEAD" } else { "GET" };
        batch.extend_from_slice(&get_request(&file.target, method, extra));
        items.push((file, is_head));
    }
    let mut conn = match Conn::connect(shared.addr).and_then(|mut c| c.send_all(&batch).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            for (file, _) in &items {
                tally.check(shared, Kind::Pipelined, &file.target, Err(e.clone()));
            }
            return;
        }
    };
    let mut broken: Option<String> = None;
    for (i, (file, is_head)) in items.iter().enumerate() {
        let result = match &broken {
            Some(e) => Err(format!("not answered: {e}")),
            None => response(&mut conn, *is_head)
                .and_then(|resp| expect_file(&resp, file, *is_head))
                .map_err(|e| format!("response {} of {n}: {e}", i + 1)),
        };
        if let Err(e) = &result {
            broken.get_or_insert_with(|| e.clone());
        }
        tally.check(shared, Kind::Pipelined, &file.target, result);
    }
}

/// A client that gives up: half a head, half a body, a download left unread, or a bare
/// connect. Nothing is expected back; the end checks catch what it might leak.
fn abort(shared: &Shared, rng: &mut Rng, tally: &mut Tally) {
    tally.n_aborted += 1;
    let Ok(mut stream) = TcpStream::connect_timeout(&shared.addr, IO_TIMEOUT) else {
        return;
    };
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    match rng.below(4) {
        0 => {
            let req = get_request("/index.html", "GET", "");
            let _ = stream.write_all(&req[..req.len() / 2]);
        }
        1 => {
            let body = upload_body(usize::MAX, rng.next());
            let mut req = format!(
                "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(&body[..body.len() / 2]);
            let _ = stream.write_all(&req);
        }
        2 => {
            let _ = stream.write_all(&get_request(&format!("/{BIG_FILE}"), "GET", ""));
            let mut some = [0u8; 1024];
            let _ = stream.read(&mut some);
        }
        _ => {}
    }
    // Dropping the stream closes it; unread response bytes make that a reset.
}

/// Drips a request head one byte per [`DRIP_PAUSE`]; the server must answer 408 (its
/// header timeout is far shorter than the drip) and close.
fn slow(shared: &Shared, tally: &mut Tally) {
    let head =
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: httpd-soak-slow-drip\r\n\r\n";
    let result = (|| {
        let mut conn = Conn::connect(shared.addr)?;
        let mut answered = false;
        for byte in head {
            // A failed write means the server closed; what it sent first is read below.
            if conn.send(std::slice::from_ref(byte)).is_err() || conn.has_data(DRIP_PAUSE)? {
                answered = true;
                break;
            }
        }
        if !answered {
            return Err(format!(
                "the whole {}-byte head was dripped (one byte per {DRIP_PAUSE:?}) without an answer",
                head.len()
            ));
        }
        let resp = response(&mut conn, false)?;
        if resp.status != 408 {
            return Err(format!("expected 408, got {}", resp.summary()));
        }
        conn.expect_closed().map(|_| ())
    })();
    tally.check(shared, Kind::Slow, "/index.html (dripped)", result);
}

/// Reads one response the soak's way: HTTP/1.1 only, and always framed (a
/// response read to the close would hide a framing bug).
fn response(conn: &mut Conn, to_head: bool) -> Result<Response, String> {
    let resp = conn.read_response(to_head)?;
    if resp.version != "HTTP/1.1" {
        return Err(format!("not an HTTP/1.1 response: {}", resp.summary()));
    }
    if !to_head && !resp.is_framed() {
        return Err(format!("response without framing: {}", resp.summary()));
    }
    Ok(resp)
}

/// Checks a 200 response for `file` (a HEAD response has no body but the same length).
fn expect_file(resp: &Response, file: &File, is_head: bool) -> Result<(), String> {
    if resp.status != 200 {
        return Err(format!("expected 200, got {}", resp.summary()));
    }
    let len = file.bytes.len().to_string();
    if resp.header("content-length") != Some(len.as_str()) {
        return Err(format!(
            "expected Content-Length {len}, got {}",
            resp.summary()
        ));
    }
    if !is_head && resp.body != file.bytes {
        return Err(format!(
            "body differs from the file ({} bytes, expected {})",
            resp.body.len(),
            file.bytes.len()
        ));
    }
    Ok(())
}

/// Checks a 201 upload response and returns the stored file name.
fn created_name(resp: &Response) -> Result<String, String> {
    if resp.status != 201 {
        return Err(format!("expected 201, got {}", resp.summary()));
    }
    let json: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| format!("201 body is not JSON ({e}): {}", resp.summary()))?;
    let path = json["filepath"]
        .as_str()
        .ok_or_else(|| format!("201 body without filepath: {}", resp.summary()))?;
    let name = path
        .strip_prefix("/uploads/")
        .filter(|n| n.starts_with("upload_") && n.ends_with(".json") && !n.contains('/'))
        .ok_or_else(|| format!("unexpected filepath {path:?}"))?;
    if resp.header("location") != Some(path) {
        return Err(format!(
            "Location differs from filepath: {}",
            resp.summary()
        ));
    }
    Ok(name.to_string())
}

/// Builds a request for `target` with `method` (no body).
fn get_request(target: &str, method: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: httpd-soak\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The JSON body of upload `seq` of client `client`: always the same bytes for the same
/// pair, so the stored file can be checked without keeping every body in memory.
fn upload_body(client: usize, seq: u64) -> Vec<u8> {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = Rng::new((client as u64).rotate_left(32) ^ seq ^ 0x5EED);
    // Mostly small bodies, and now and then one that spans many reads and writes.
    let len = if seq % 41 == 7 {
        200 * 1024
    } else {
        rng.below(4096) as usize
    };
    let pad: String = (0..len)
        .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
        .collect();
    format!("{{\"soak\": {{\"client\": {client}, \"seq\": {seq}}}, \"pad\": \"{pad}\"}}")
        .into_bytes()
}

/// Adds [`BIG_FILE`] to the docroot and returns every servable top-level file.
fn prepare_files(root: &Path) -> Result<Vec<File>, String> {
    let mut rng = Rng::new(0xB16_F11E);
    let big: Vec<u8> = (0..BIG_FILE_LEN).map(|_| rng.next() as u8).collect();
    fs::write(root.join(BIG_FILE), &big).map_err(|e| format!("write {BIG_FILE}: {e}"))?;
    let mut files = Vec::new();
    let entries = fs::read_dir(root).map_err(|e| format!("read {}: {e}", root.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let servable = [".html", ".txt", ".png", ".jpg"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if name.starts_with('.') || !servable || !entry.path().is_file() {
            continue;
        }
        let bytes = fs::read(entry.path()).map_err(|e| format!("read {name}: {e}"))?;
        files.push(File {
            target: format!("/{name}"),
            bytes,
        });
    }
    files.sort_by(|a, b| a.target.cmp(&b.target));
    if files.len() < 2 {
        return Err(format!("too few files to serve in {}", root.display()));
    }
    Ok(files)
}

/// Malformed and refused requests with the status each must get.
fn malformed_cases() -> Vec<Malformed> {
    let h = "Host: localhost\r\n";
    let json = "Content-Type: application/json\r\n";
    let case = |label, request: String, status| Malformed {
        label,
        request: request.into_bytes(),
        status,
    };
    vec![
        case("no Host", "GET / HTTP/1.1\r\n\r\n".into(), 400),
        case("two Hosts", format!("GET / HTTP/1.1\r\n{h}{h}\r\n"), 400),
        case(
            "foreign Host",
            "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n".into(),
            403,
        ),
        case(
            "traversal",
            format!("GET /../etc/passwd HTTP/1.1\r\n{h}\r\n"),
            403,
        ),
        case(
            "encoded traversal",
            format!("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n{h}\r\n"),
            403,
        ),
        case(
            "unknown method",
            format!("BREW /pot HTTP/1.1\r\n{h}\r\n"),
            501,
        ),
        case(
            "DELETE",
            format!("DELETE /index.html HTTP/1.1\r\n{h}\r\n"),
            405,
        ),
        case("HTTP/2.0", format!("GET / HTTP/2.0\r\n{h}\r\n"), 505),
        case("bad version", format!("GET / HTTP/1.x\r\n{h}\r\n"), 400),
        case("bare LF", "GET / HTTP/1.1\nHost: localhost\n\n".into(), 400),
        case(
            "obs-fold",
            format!("GET / HTTP/1.1\r\n{h} folded: x\r\n\r\n"),
            400,
        ),
        case(
            "binary garbage",
            "\u{1}\u{2}\u{3} garbage\r\n\r\n".into(),
            400,
        ),
        case(
            "head over 8 KiB",
            format!("GET / HTTP/1.1\r\n{h}X-Big: {}\r\n\r\n", "a".repeat(9000)),
            431,
        ),
        case(
            "target over 8 KiB",
            format!("GET /{} HTTP/1.1\r\n{h}\r\n", "a".repeat(9000)),
            414,
        ),
        case(
            "php file",
            format!("GET /script.php HTTP/1.1\r\n{h}\r\n"),
            415,
        ),
        case(
            "missing file",
            format!("GET /missing.html HTTP/1.1\r\n{h}\r\n"),
            404,
        ),
        case(
            "dot-file",
            format!("GET /.hidden.html HTTP/1.1\r\n{h}\r\n"),
            404,
        ),
        case(
            "range past the end",
            format!("GET /index.html HTTP/1.1\r\n{h}Range: bytes=999999-\r\n\r\n"),
            416,
        ),
        case(
            "negative Content-Length",
            format!("GET / HTTP/1.1\r\n{h}Content-Length: -1\r\n\r\n"),
            400,
        ),
        case(
            "Content-Length with chunked",
            format!(
                "POST /upload HTTP/1.1\r\n{h}{json}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            400,
        ),
        case(
            "bad chunk size",
            format!("POST /upload HTTP/1.1\r\n{h}{json}Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400,
        ),
        case(
            "upload of text/plain",
            format!(
                "POST /upload HTTP/1.1\r\n{h}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{{}}"
            ),
            415,
        ),
        case(
            "upload of invalid JSON",
            format!("POST /upload HTTP/1.1\r\n{h}{json}Content-Length: 9\r\n\r\n{{not json"),
            400,
        ),
        case(
            "upload without length",
            format!("POST /upload HTTP/1.1\r\n{h}{json}\r\n"),
            411,
        ),
        case(
            "upload over max body",
            format!("POST /upload HTTP/1.1\r\n{h}{json}Content-Length: 99999999999\r\n\r\n"),
            413,
        ),
        case(
            "POST to a file",
            format!("POST /index.html HTTP/1.1\r\n{h}Content-Length: 0\r\n\r\n"),
            405,
        ),
    ]
}

/// xorshift64*: cheap, reproducible choices; not for anything secret.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 spreads nearby seeds apart; the state must not be zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Returns a number below `n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Builds the release binary, serves a fresh copy of `resources/` and soaks it.
fn soak_release_binary(duration: Duration) -> Result<Report, String> {
    let workspace = common::workspace_dir();
    let target_dir = common::target_dir(&workspace);
    let binary = common::release_binary(&target_dir);
    eprintln!("soak: building httpd-cli (release)");
    common::build_httpd(&workspace)?;

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let run_dir = target_dir
        .join("soak")
        .join(format!("run-{}-{nanos}", std::process::id()));
    let root = run_dir.join("root");
    copy_dir(&workspace.join("resources"), &root)
        .map_err(|e| format!("copy resources to {}: {e}", root.display()))?;
    fs::create_dir_all(root.join("uploads")).map_err(|e| format!("create uploads: {e}"))?;

    let mut command = Command::new(&binary);
    command.args(httpd_args(&root, "info", SERVER_FLAGS));
    let httpd = Server::start(command, Launch::httpd("httpd", &root, &run_dir))?;
    eprintln!(
        "soak: httpd pid {} on {} for {} s; logs in {}",
        httpd.pid(),
        httpd.addr,
        duration.as_secs(),
        run_dir.display()
    );
    let target = Target {
        addr: httpd.addr,
        root: &root,
        pid: httpd.pid(),
    };
    let report = drive(&target, duration, &|line| eprintln!("soak: {line}"));
    drop(httpd);
    if report.n_failed == 0 {
        let _ = fs::remove_dir_all(&run_dir);
    } else {
        eprintln!("soak: kept {} for inspection", run_dir.display());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soak_that_checked_too_little_fails() {
        let mut report = Report::default();
        check_coverage(&Tally::default(), 0, Duration::from_secs(60), &mut report);
        // Too few checks, and each of the six kinds never passed.
        assert_eq!((report.n_passed, report.n_failed), (0, 7));
        let full = Tally {
            passed: [1; Kind::ALL.len()],
            ..Tally::default()
        };
        let mut report = Report::default();
        check_coverage(&full, 600, Duration::from_secs(60), &mut report);
        assert_eq!((report.n_passed, report.n_failed), (1, 0));
    }

    #[test]
    fn upload_bodies_are_reproducible_json() {
        for (client, seq) in [(0, 1), (5, 7), (3, 48), (usize::MAX, 99)] {
            let body = upload_body(client, seq);
            assert_eq!(body, upload_body(client, seq));
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["soak"]["seq"], seq);
        }
        assert_ne!(upload_body(1, 2), upload_body(2, 1));
        assert!(upload_body(0, 7).len() > 200 * 1024);
    }
}
