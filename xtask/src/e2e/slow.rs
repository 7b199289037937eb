//! `slow/`: Debian's `slowhttptest` attacks a dedicated server in slow-headers
//! (Slowloris, `-H`), slow-body (R-U-Dead-Yet, `-B`, against `POST /upload`) and
//! slow-read (`-X`, of a file larger than the socket buffers) modes; and `soak/`: the
//! mixed clients of `cargo xtask soak` (`soak.rs`) for [`SOAK_TIME`].
//!
//! Each attack is a short bounded run ([`ATTACK_ARGS`]) against its own server
//! ([`SERVER_FLAGS`]: four workers, short timeouts, a per-address cap above the
//! attack's connections). While it runs, a probe thread GETs `/index.html` every
//! [`PROBE_EVERY`] on a fresh connection, and every probe must get a 200 with the
//! file's bytes within [`PROBE_LIMIT`]: the service stayed available. Once the attack
//! ended, the server's open descriptors and RSS (`/proc/PID`) must come back within
//! [`FD_SLACK`] and [`RSS_SLACK_KIB`] of their baseline after warm-up (polled, at most
//! [`SETTLE_LIMIT`]); the figures are printed on stderr. The tool's output is kept in
//! `target/e2e/NAME.slowhttptest.txt` and its per-second statistics (`-g`) in
//! `target/e2e/NAME.slowhttptest-stats.{csv,html}`; they must show at least
//! [`MIN_ESTABLISHED`] connections, or the attack proved nothing.
//!
//! When `slowhttptest` is not on `PATH`, the first attack tries to install Debian's
//! package (as root only, [`debian_tool`]); if it is still missing every attack is
//! skipped (`SKIP: slowhttptest missing (slow/...)`).

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{self, Conn};
use super::promtool::debian_tool;
use super::scenarios::{Outcome, Scenario, scenario};
use super::{Ctx, skip, wait_bounded};
use crate::common::count_upload_files;
use crate::common::procfs::{self, Usage};
use crate::common::server::httpd_args;
use crate::soak::{self, Target};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    ATTACKS
        .iter()
        .map(|attack| scenario(attack.name, move |ctx| run_attack(ctx, attack)))
        .chain([scenario("soak/mixed_60s", soak_mixed)])
        .collect()
}

/// Flags of each attacked server, beyond `--listen`, `--root` and `--log-level`.
const SERVER_FLAGS: &[&str] = &[
    "--threads",
    "4",
    "--header-timeout",
    "2s",
    "--idle-timeout",
    "5s",
    "--write-timeout",
    "5s",
    "--max-conns-per-ip",
    "10000",
];

/// slowhttptest arguments shared by every attack: 500 connections opened at 200 per
/// second, follow-up data every second, 10 s in all, its own probe waiting 5 s.
const ATTACK_ARGS: &[&str] = &["-c", "500", "-r", "200", "-l", "10", "-i", "1", "-p", "5"];

/// Longest a slowhttptest run may take before it is killed (it stops itself after
/// `-l 10` seconds).
const ATTACK_LIMIT: Duration = Duration::from_secs(30);

/// Interval between two availability probes.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Time a probe has to get its whole 200 response, connect included.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// The page every probe GETs.
const PROBE_TARGET: &str = "index.html";

/// Open descriptors the server may hold after the attack beyond its baseline, not
/// counting directories: httpd opens its docroot once per thread, the first time
/// the thread serves a file, so those may grow to one per thread
/// ([`Usage::is_within`]).
const FD_SLACK: usize = 4;

/// Resident memory the server may hold after the attack beyond its baseline, in KiB.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// Longest wait for the resources to come back after the attack: the header (2 s),
/// idle (5 s) and write (5 s) timeouts of [`SERVER_FLAGS`], and slack.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// slowhttptest must report at least this many connections established (connected
/// or closed by the server) at some point, or the attack proves nothing.
const MIN_ESTABLISHED: usize = 100;

/// How long the e2e soak runs.
const SOAK_TIME: Duration = Duration::from_secs(60);

/// The file of the slow-read attack: larger than any socket buffer (Linux grows the
/// send buffer to 4 MiB at most by default), so the server must wait for the reader.
const BIG_FILE: &str = "slow-read-8mib.txt";

/// Size of [`BIG_FILE`].
const BIG_FILE_LEN: usize = 8 << 20;

/// One slowhttptest attack.
struct Attack {
    /// Scenario name.
    name: &'static str,
    /// Server name (log files `target/e2e/NAME.log`, docroot).
    server: &'static str,
    /// Mode and mode-specific arguments.
    args: &'static [&'static str],
    /// Target path of the attack URL.
    target: &'static str,
}

const ATTACKS: &[Attack] = &[
    Attack {
        name: "slow/headers_slowloris",
        server: "slow-headers",
        args: &["-H"],
        target: "/index.html",
    },
    Attack {
        name: "slow/body_rudy_upload",
        server: "slow-body",
        // POST /upload as JSON, announcing 8 KiB and sending a few bytes a second.
        args: &["-B", "-t", "POST", "-f", "application/json", "-s", "8192"],
        target: "/upload",
    },
    Attack {
        name: "slow/read_8mib_file",
        server: "slow-read",
        // A receive window of 1-32 bytes, read 32 bytes a second.
        args: &[
            "-X", "-k", "1", "-n", "1", "-w", "1", "-y", "32", "-z", "32",
        ],
        target: "/slow-read-8mib.txt",
    },
];

fn run_attack(ctx: &Ctx, attack: &Attack) -> Outcome {
    let tool = slowhttptest(ctx)?;
    let root = ctx.fresh_root(attack.server)?;
    if attack.target.strip_prefix('/') == Some(BIG_FILE) {
        write_big_file(&root.join(BIG_FILE))?;
    }
    let mut srv = ctx.spawn(
        attack.server,
        &httpd_args(&root, "debug", SERVER_FLAGS),
        root,
    )?;
    let pid = srv.pid();
    let page =
        fs::read(srv.root.join(PROBE_TARGET)).map_err(|e| format!("read {PROBE_TARGET}: {e}"))?;

    // Warm-up: a few probes and one upload, then the baseline.
    for _ in 0..20 {
        probe(srv.addr, &page).map_err(|e| format!("warm-up probe: {e}"))?;
    }
    warm_up_upload(srv.addr)?;
    let baseline = procfs::usage(pid)?;

    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (stop, addr, page) = (Arc::clone(&stop), srv.addr, page.clone());
        thread::Builder::new()
            .name("e2e-prober".into())
            .spawn(move || probe_until(addr, &page, pid, &stop))
            .map_err(|e| format!("spawn probe thread: {e}"))?
    };
    // During the slow-body attack, real uploads must get through too: a slow body
    // may hold a parked connection, never a worker.
    let uploader = (attack.target == "/upload").then(|| {
        let (stop, addr) = (Arc::clone(&stop), srv.addr);
        thread::spawn(move || {
            let mut outcome = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) && outcome.0 < 100 {
                outcome.0 += 1;
                if let Err(e) = warm_up_upload(addr) {
                    outcome.1.push(e);
                }
                thread::sleep(PROBE_EVERY);
            }
            outcome
        })
    });
    let output = ctx
        .paths
        .e2e_dir
        .join(format!("{}.slowhttptest.txt", attack.server));
    let url = format!("http://127.0.0.1:{}{}", srv.port(), attack.target);
    let stats = ctx
        .paths
        .e2e_dir
        .join(format!("{}.slowhttptest-stats", attack.server));
    let attacked = attack_with(&tool, attack, &url, &output, &stats);
    stop.store(true, Ordering::Relaxed);
    let probes = prober
        .join()
        .map_err(|_| "probe thread panicked".to_string())?;
    let (n_uploads, upload_failures) = match uploader {
        Some(handle) => handle
            .join()
            .map_err(|_| "upload probe thread panicked".to_string())?,
        None => (0, Vec::new()),
    };
    let verdict = attacked?;

    if let Some(status) = srv.wait_exit(Duration::ZERO) {
        return Err(format!(
            "httpd exited during the attack ({status}); log tail: {}",
            srv.log_tail()
        ));
    }
    let settled = procfs::settle(pid, baseline, FD_SLACK, RSS_SLACK_KIB, SETTLE_LIMIT)?;
    let (n_final, n_temp) = count_upload_files(&srv.root.join("uploads"));
    eprintln!(
        "e2e: {}: {} probes, {} failed; {n_uploads} upload probes, {} failed; fds {} -> peak {} -> {} after {:.1} s (directories {} -> {}, {} threads); RSS KiB {} -> peak {} -> {}; slowhttptest: {verdict} (output in {})",
        attack.name,
        probes.n_sent,
        probes.failures.len(),
        upload_failures.len(),
        baseline.n_fds,
        probes.peak.n_fds,
        settled.usage.n_fds,
        settled.waited.as_secs_f64(),
        baseline.n_dir_fds,
        settled.usage.n_dir_fds,
        settled.usage.n_threads,
        baseline.rss_kib,
        probes.peak.rss_kib,
        settled.usage.rss_kib,
        output.display()
    );

    let mut problems = Vec::new();
    if !upload_failures.is_empty() {
        problems.push(format!(
            "{} of {n_uploads} upload probes failed, first: {}",
            upload_failures.len(),
            upload_failures[0]
        ));
    }
    if !probes.failures.is_empty() {
        let first: Vec<&str> = probes.failures.iter().take(3).map(String::as_str).collect();
        problems.push(format!(
            "{} of {} probes failed, first: {}",
            probes.failures.len(),
            probes.n_sent,
            first.join("; ")
        ));
    }
    if let Some(e) = &probes.sample_error {
        problems.push(format!("reading /proc during the attack: {e}"));
    }
    if verdict.max_established < MIN_ESTABLISHED {
        problems.push(format!(
            "slowhttptest established at most {} connections (fewer than {MIN_ESTABLISHED}): see {}",
            verdict.max_established,
            output.display()
        ));
    }
    if !settled.is_within {
        problems.push(format!(
            "resources did not come back within {SETTLE_LIMIT:?}: {} (baseline {baseline}, slack {FD_SLACK} fds besides directories, which may grow to one per thread, and {RSS_SLACK_KIB} KiB)",
            settled.usage
        ));
    }
    // The warm-up and the upload probes stored one file each; the attack's bodies
    // never complete.
    let expected = 1 + n_uploads - upload_failures.len();
    if n_final != expected || n_temp != 0 {
        problems.push(format!(
            "uploads/ holds {n_final} upload files (expected {expected}) and {n_temp} temporary files"
        ));
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

/// What the probe thread saw.
struct Probes {
    n_sent: usize,
    failures: Vec<String>,
    /// Highest descriptor count and RSS sampled during the attack.
    peak: Usage,
    sample_error: Option<String>,
}

/// Starts a probe every [`PROBE_EVERY`], each on its own thread so a slow answer
/// does not delay the next, until `stop` is set (bounded by the attack's own limit,
/// after which the caller sets it); samples the server's resources each time. Every
/// probe ends within [`PROBE_LIMIT`], so joining them is bounded too.
fn probe_until(addr: SocketAddr, page: &[u8], pid: u32, stop: &AtomicBool) -> Probes {
    let mut probes = Probes {
        n_sent: 0,
        failures: Vec::new(),
        peak: Usage::default(),
        sample_error: None,
    };
    let page: Arc<[u8]> = Arc::from(page);
    let max_probes = (ATTACK_LIMIT.as_millis() / PROBE_EVERY.as_millis()) as usize + 1;
    let started = Instant::now();
    let mut running = Vec::new();
    while !stop.load(Ordering::Relaxed) && probes.n_sent < max_probes {
        let sent = Instant::now();
        probes.n_sent += 1;
        let page = Arc::clone(&page);
        let at = sent.duration_since(started).as_secs_f64();
        match thread::Builder::new()
            .name("e2e-probe".into())
            .spawn(move || probe(addr, &page).map_err(|e| format!("at {at:.1} s: {e}")))
        {
            Ok(handle) => running.push(handle),
            Err(e) => probes.failures.push(format!("at {at:.1} s: spawn: {e}")),
        }
        match procfs::usage(pid) {
            Ok(u) => {
                probes.peak.n_fds = probes.peak.n_fds.max(u.n_fds);
                probes.peak.rss_kib = probes.peak.rss_kib.max(u.rss_kib);
            }
            Err(e) => {
                probes.sample_error.get_or_insert(e);
            }
        }
        if let Some(rest) = PROBE_EVERY.checked_sub(sent.elapsed()) {
            thread::sleep(rest);
        }
    }
    for handle in running {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => probes.failures.push(e),
            Err(_) => probes.failures.push("a probe thread panicked".into()),
        }
    }
    probes
}

/// GETs the probe page on a fresh connection: a 200 with exactly `page` must arrive
/// whole, and the connection end, within [`PROBE_LIMIT`].
fn probe(addr: SocketAddr, page: &[u8]) -> Result<(), String> {
    let started = Instant::now();
    let mut conn = Conn::connect(addr)?;
    conn.set_read_timeout(Some(PROBE_LIMIT))?;
    conn.send_all(
        format!(
            "GET /{PROBE_TARGET} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: httpd-e2e-probe\r\nConnection: close\r\n\r\n",
            addr.port()
        )
        .as_bytes(),
    )?;
    let resp = conn.read_response(false)?;
    ensure!(
        resp.version == "HTTP/1.1" && resp.status == 200,
        "got {}",
        resp.summary()
    );
    ensure!(
        resp.body == page,
        "200 with a body of {} bytes that is not {PROBE_TARGET} ({} bytes)",
        resp.body.len(),
        page.len()
    );
    conn.expect_closed()?;
    ensure!(
        started.elapsed() <= PROBE_LIMIT,
        "no whole response within {PROBE_LIMIT:?} (took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Uploads one small JSON document, so the upload path is warm before the baseline.
fn warm_up_upload(addr: SocketAddr) -> Outcome {
    let body = br#"{"warm": "up"}"#;
    let req = client::post(
        "/upload",
        &format!("127.0.0.1:{}", addr.port()),
        "application/json",
        body,
        "Connection: close\r\n",
    );
    let (_conn, resp) = client::exchange(addr, &req)?;
    ensure!(
        resp.status == 201,
        "warm-up upload: expected 201, got {}",
        resp.summary()
    );
    Ok(())
}

/// What slowhttptest reported.
struct Verdict {
    /// Its closing `Exit status:` line.
    exit: String,
    /// Most connections it had established at once (`connected` plus `closed`).
    max_established: usize,
    /// Status lines (one a second) in which its own probe found the service unavailable.
    n_unavailable: usize,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}, up to {} connections established, its probe failed in {} seconds",
            self.exit, self.max_established, self.n_unavailable
        )
    }
}

/// Runs slowhttptest with its output in `output` and its statistics in `stats` (`.csv`
/// and `.html` are appended), and reads its report.
fn attack_with(
    tool: &Path,
    attack: &Attack,
    url: &str,
    output: &Path,
    stats: &Path,
) -> Result<Verdict, String> {
    let out = File::create(output).map_err(|e| format!("create {}: {e}", output.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("open {}: {e}", output.display()))?;
    let mut child = Command::new(tool)
        .args(attack.args)
        .args(ATTACK_ARGS)
        .args(["-g", "-o"])
        .arg(stats)
        .args(["-u", url])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", tool.display()))?;
    let status = wait_bounded(&mut child, ATTACK_LIMIT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("slowhttptest still running after {ATTACK_LIMIT:?}"));
    }
    // slowhttptest appends the extension to the `-o` prefix.
    let mut csv = stats.as_os_str().to_owned();
    csv.push(".csv");
    let verdict = read_verdict(
        &strip_ansi(&fs::read(output).unwrap_or_default()),
        &fs::read_to_string(PathBuf::from(csv)).unwrap_or_default(),
    );
    ensure!(
        status.is_some_and(|s| s.success()),
        "slowhttptest failed ({}): {}",
        status.map_or("killed".to_string(), |s| s.to_string()),
        verdict.exit
    );
    Ok(verdict)
}

/// Reads slowhttptest's `Exit status:` line from its output and its per-second
/// statistics (`-g`: a CSV of `Seconds,Closed,Pending,Connected,Service Available`,
/// the last column 0 when its probe failed).
fn read_verdict(output: &str, csv: &str) -> Verdict {
    let exit = output
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Exit status:"))
        .map_or("(no exit status line)", str::trim)
        .to_string();
    let mut verdict = Verdict {
        exit,
        max_established: 0,
        n_unavailable: 0,
    };
    for row in csv.lines().skip(1) {
        let cells: Vec<usize> = row
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        if let [_, closed, _, connected, available] = cells[..] {
            verdict.max_established = verdict.max_established.max(closed + connected);
            if available == 0 {
                verdict.n_unavailable += 1;
            }
        }
    }
    verdict
}

/// Removes ANSI escape sequences (slowhttptest colours its output).
fn strip_ansi(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn write_big_file(path: &Path) -> Outcome {
    let mut state: u32 = 0x2545_F491;
    let bytes: Vec<u8> = (0..BIG_FILE_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Returns the slowhttptest executable, installing it first when missing and root;
/// `Err` is a skip. Looked up once per run.
fn slowhttptest(ctx: &Ctx) -> Result<PathBuf, String> {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let found = debian_tool(ctx, "slowhttptest", "slowhttptest", &[]);
        if let Err(why) = &found {
            eprintln!("e2e: slow/: {why}");
        }
        found
    })
    .clone()
    .map_err(|_| skip("slowhttptest missing"))
}

/// `soak/mixed_60s`: the clients of `cargo xtask soak` against a server of its own.
fn soak_mixed(ctx: &Ctx) -> Outcome {
    let root = ctx.fresh_root("soak")?;
    let srv = ctx.spawn("soak", &httpd_args(&root, "info", soak::SERVER_FLAGS), root)?;
    let target = Target {
        addr: srv.addr,
        root: &srv.root,
        pid: srv.pid(),
    };
    let report = soak::drive(&target, SOAK_TIME, &|line| {
        eprintln!("e2e: soak/mixed_60s: {line}")
    });
    for line in &report.lines {
        eprintln!("e2e: soak/mixed_60s: {line}");
    }
    eprintln!(
        "e2e: soak/mixed_60s: {} passed, {} failed",
        report.n_passed, report.n_failed
    );
    // drive() fails a run that checked too few requests; this holds even if it
    // did not.
    let wanted = soak::MIN_CHECKS_PER_SECOND * SOAK_TIME.as_secs();
    ensure!(
        report.n_passed >= wanted,
        "only {} checks passed in {} s (at least {wanted} expected)",
        report.n_passed,
        SOAK_TIME.as_secs()
    );
    ensure!(
        report.n_failed == 0,
        "{} of {} checks failed, first: {}",
        report.n_failed,
        report.n_failed + report.n_passed,
        report
            .details
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_are_stripped() {
        let text = strip_ansi(b"\x1b[0;34mtest type:\x1b[1;34m SLOW BODY\x1b[0m\nExit status:\x1b[1;36m Hit test time limit\n");
        assert_eq!(
            text,
            "test type: SLOW BODY\nExit status: Hit test time limit\n"
        );
    }

    #[test]
    fn verdict_reads_exit_line_and_statistics() {
        let output = "test type:   SLOW HEADERS\nTest ended on 5th second\n\
                      Exit status: No open connections left\n";
        let csv = "Seconds,Closed,Pending,Connected,Service Available\n\
                   0,0,1,0,500\n1,0,1,193,500\n2,0,1,383,0\n3,191,0,309,500\n4,381,0,119,500\n";
        let v = read_verdict(output, csv);
        assert_eq!(
            (v.exit.as_str(), v.max_established, v.n_unavailable),
            ("No open connections left", 500, 1)
        );
    }
}
