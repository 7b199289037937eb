//! `cargo xtask bench [--quick] [ROWS]`: load-tests the release `httpd` binary
//! against nginx with wrk over loopback, over plain HTTP (rows a-e) and over TLS
//! (rows f-j), and runs httpd-proto's head-parser micro-benchmark.
//!
//! This module owns the whole benchmark: installing wrk and nginx when they are
//! missing (as root, with apt-get), building the binary, the docroot, the TLS
//! certificate and the nginx configurations under `target/bench/`, the servers
//! (pinned to CPU 0, run and stopped by the shared [`Server`] wrapper), the load
//! generator (wrk, pinned to CPU 1), the server CPU time per request
//! (`/proc/PID/stat`), the idle-connection holders of rows (e) and (i), parsing
//! wrk's report, and the result tables, printed and written to
//! `target/bench/results.md`.
//!
//! The plain rows run against one set of servers (httpd, nginx with one worker,
//! nginx with `auto` workers); then those stop and a second set starts for the
//! TLS rows, each with the same throwaway ECDSA P-256 certificate
//! ([`TestCerts`]), so that neither set's memory shows in the other's figures.
//! Every run is bounded in time, every connection goes to 127.0.0.1, and the
//! scenarios alternate between the servers round by round so that a slow
//! moment of the machine does not land on one server only.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::certs::{NamedCert, TestCerts};
use crate::common::client::{Closed, Conn, Peer};
use crate::common::procfs;
use crate::common::server::{Launch, Ready, Server, Stop, httpd_args};
use crate::common::tls::Tls;
use crate::common::{self, collect, free_port, run_captured, wait_bounded};

/// Length of one wrk run by default, and with `--quick`.
const RUN_SECS: u64 = 10;
const QUICK_RUN_SECS: u64 = 3;

/// Rounds of every scenario by default (three, so that the median drops one
/// outlier: loopback figures on a shared machine vary by 2x from run to run),
/// and with `--quick`.
const N_ROUNDS: usize = 3;
const QUICK_N_ROUNDS: usize = 1;

/// Rounds of the idle rows (e) and (i) by default: their p99s are compared, and a
/// p99 of one 10 s run on this shared machine moves by 10x from round to round (host
/// steal), so three rounds do not settle a 2x bound.
const N_IDLE_ROUNDS: usize = 5;

/// Steal (both CPUs together) per second of a run above which a run of an idle row is
/// taken again: 10 ms/s, half a percent of the machine. A p99 is set by the longest
/// stalls, and a run with more steal than this one has a p99 that tracks the
/// hypervisor rather than the server (see the README's run 4).
const CALM_STEAL_MS_PER_S: f64 = 10.0;

/// Tries of one idle-row run at most: the calmest of them (least steal) is kept.
const MAX_CALM_TRIES: u32 = 3;

/// Worker threads of httpd (its default).
const HTTPD_THREADS: u32 = 10;

/// Idle keep-alive connections held open in scenario (e).
const N_IDLE: usize = 10_000;

/// Time allowed to open and prime the idle connections of scenario (e).
const IDLE_SETUP_LIMIT: Duration = Duration::from_secs(90);

/// Time allowed to open the idle TLS connections of scenario (i): each is a full
/// handshake. Both servers close a connection idle for 65 s (`--idle-timeout`,
/// `keepalive_timeout`), so the opening and up to three tries of each run
/// ([`measured_calm`]) must fit in that; the report says how long the opening took
/// and how many connections were still held after the run.
const TLS_IDLE_SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Threads opening the idle TLS connections: the client's share of a handshake
/// runs on them while the server does its share, so a few overlap the two.
const N_TLS_IDLE_THREADS: usize = 4;

/// The name the TLS rows' certificate is for (wrk does not check it; the
/// idle holder does).
const TLS_NAME: &str = "localhost";

/// How long httpd may take to print its `listening on https://` line.
const HTTPS_LINE_WAIT: Duration = Duration::from_secs(10);

/// How often the servers' resident memory is sampled during a row that reports its
/// peak (h).
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// httpd's resident memory must stay under this during (h), the issue's bound.
const TLS_BULK_RSS_LIMIT_KIB: u64 = 16 * 1024;

/// How long nginx may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a wrk run may take beyond its `-d` duration before it is killed.
const WRK_SLACK: Duration = Duration::from_secs(30);

/// Time `apt-get update && apt-get install` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Time a cargo build or `cargo bench` may take.
const CARGO_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Open-file limit asked for the servers and wrk (the hard limit if lower).
const NOFILE_WANTED: u32 = 65_536;

/// Open-file limit this process needs for the idle holders of (e) and (i).
const CLIENT_NOFILE_WANTED: u64 = N_IDLE as u64 + 1024;

/// The CPU both servers are pinned to.
const SERVER_CPU: usize = 0;

/// Pause between two wrk runs, for sockets and CPU to settle.
const PAUSE: Duration = Duration::from_millis(1_000);

/// Sizes of the docroot files.
const SMALL_FILE_BYTES: usize = 1024;
const LARGE_FILE_BYTES: usize = 10 * 1024 * 1024;

/// Runs the benchmark; `args` are the words after `bench`.
pub fn run(args: &[String]) -> ExitCode {
    let (quick, rows) = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("bench: {e}\nusage: cargo xtask bench [--quick] [ROWS, e.g. fghij]");
            return ExitCode::from(2);
        }
    };
    let opts = Opts {
        quick,
        run_secs: if quick { QUICK_RUN_SECS } else { RUN_SECS },
        n_rounds: if quick { QUICK_N_ROUNDS } else { N_ROUNDS },
        rows,
    };
    match bench(opts) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Skipped(what)) => {
            println!("SKIP: {what}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `[--quick] [ROWS]`: ROWS is a set of row letters (`fghi`); none means
/// every row and the head-parser micro-benchmark.
fn parse_args(args: &[String]) -> Result<(bool, Option<String>), String> {
    let (mut quick, mut rows) = (false, None);
    for arg in args {
        if arg == "--quick" {
            quick = true;
        } else if arg.starts_with('-') {
            return Err(format!("unknown flag {arg}"));
        } else if rows.is_some() {
            return Err(format!("a second ROWS {arg:?}"));
        } else {
            let unknown: String = arg
                .chars()
                .filter(|c| !SCENARIOS.iter().any(|s| s.key.starts_with(*c)))
                .collect();
            if arg.is_empty() || !unknown.is_empty() {
                return Err(format!("no row {unknown:?} (rows are a to j)"));
            }
            rows = Some(arg.clone());
        }
    }
    Ok((quick, rows))
}

/// What the command line chose.
#[derive(Clone, Debug)]
struct Opts {
    quick: bool,
    run_secs: u64,
    n_rounds: usize,
    /// The row letters to run (`fghi`); `None`: every row and the micro-benchmark.
    rows: Option<String>,
}

impl Opts {
    /// Tells whether row `key` runs.
    fn runs(&self, key: &str) -> bool {
        self.rows.as_deref().is_none_or(|rows| rows.contains(key))
    }

    /// Rounds of the idle rows, (e) and (i).
    fn idle_rounds(&self) -> usize {
        if self.quick {
            self.n_rounds
        } else {
            self.n_rounds.max(N_IDLE_ROUNDS)
        }
    }
}

enum Outcome {
    Done,
    Skipped(String),
}

/// The servers under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerId {
    Httpd,
    Nginx1,
    NginxAuto,
}

impl ServerId {
    const ALL: [ServerId; 3] = [ServerId::Httpd, ServerId::Nginx1, ServerId::NginxAuto];

    fn label(self) -> &'static str {
        match self {
            ServerId::Httpd => "httpd",
            ServerId::Nginx1 => "nginx (1 worker)",
            ServerId::NginxAuto => "nginx (auto)",
        }
    }
}

/// One load shape.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    key: &'static str,
    title: &'static str,
    path: &'static str,
    n_connections: u32,
    close: bool,
    /// Report MiB/s instead of requests/s.
    is_bulk: bool,
    /// Hold [`N_IDLE`] idle connections open during the run.
    with_idle: bool,
    /// Over TLS, against the second set of servers.
    tls: bool,
    /// Sample the servers' resident memory during the run and report its peak.
    samples_peak_rss: bool,
    /// Load with this process's rustls client ([`rustls_load`]: full handshakes,
    /// `n_connections` threads) instead of wrk (which resumes TLS sessions).
    by_rustls: bool,
}

impl Scenario {
    /// Tells whether every request of the row is a new TLS connection, so that
    /// requests are handshakes.
    fn is_handshakes(&self) -> bool {
        self.tls && self.close
    }

    /// What the throughput counts: `MiB/s`, `handshakes/s` or `req/s`.
    fn rate_unit(&self) -> &'static str {
        if self.is_bulk {
            "MiB/s"
        } else if self.is_handshakes() {
            "handshakes/s"
        } else {
            "req/s"
        }
    }
}

/// Row (a), which the other rows vary.
const BASE: Scenario = Scenario {
    key: "a",
    title: "1 KiB, keep-alive, 50 conns",
    path: "/1k.html",
    n_connections: 50,
    close: false,
    is_bulk: false,
    with_idle: false,
    tls: false,
    samples_peak_rss: false,
    by_rustls: false,
};

const SCENARIOS: [Scenario; 10] = [
    BASE,
    Scenario {
        key: "b",
        title: "1 KiB, Connection: close, 50 conns",
        close: true,
        ..BASE
    },
    Scenario {
        key: "c",
        title: "10 MiB, keep-alive, 4 conns",
        path: "/10m.txt",
        n_connections: 4,
        is_bulk: true,
        ..BASE
    },
    Scenario {
        key: "d",
        title: "1 KiB, keep-alive, 1000 conns",
        n_connections: 1000,
        ..BASE
    },
    Scenario {
        key: "e",
        title: "1 KiB, keep-alive, 50 conns + 10k idle",
        with_idle: true,
        ..BASE
    },
    Scenario {
        key: "f",
        title: "TLS, 1 KiB, keep-alive, 50 conns",
        tls: true,
        ..BASE
    },
    Scenario {
        key: "g",
        title: "TLS, 1 KiB, Connection: close (a handshake each), 50 conns",
        close: true,
        tls: true,
        ..BASE
    },
    Scenario {
        key: "h",
        title: "TLS, 10 MiB, keep-alive, 4 conns",
        path: "/10m.txt",
        n_connections: 4,
        is_bulk: true,
        tls: true,
        samples_peak_rss: true,
        ..BASE
    },
    Scenario {
        key: "i",
        title: "TLS, (f) + 10k idle TLS conns",
        with_idle: true,
        tls: true,
        ..BASE
    },
    Scenario {
        key: "j",
        title: "TLS, a full handshake per request (rustls client), 4 threads",
        n_connections: 4,
        close: true,
        tls: true,
        by_rustls: true,
        ..BASE
    },
];

/// Returns the row named `key`.
fn row_named(key: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.key == key)
}

/// What one wrk run reported.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct WrkReport {
    requests_per_s: f64,
    mib_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    n_requests: u64,
    /// `Socket errors: connect C, read R, write W, timeout T`, in that order.
    socket_errors: [u64; 4],
    non_2xx: u64,
    /// wrk's own CPU time (user + system) over the run's duration, in percent of one
    /// CPU: near 100 means the load generator, not the server, set the pace.
    client_cpu_pct: Option<f64>,
    /// How busy the servers' CPU was over the run (from `/proc/stat`, user, system and
    /// interrupt time together), in percent: well under 100 means the server had room.
    server_cpu_pct: Option<f64>,
    /// Time the hypervisor ran something else on this machine's CPUs during the run
    /// (`steal` in `/proc/stat`, both CPUs summed), in milliseconds: a round with
    /// tens of milliseconds of it has a p99 that says more about the host than about
    /// the server.
    steal_ms: Option<f64>,
    /// How many times the run was taken to find a calm one ([`measured_calm`]); 0 for
    /// a run taken once without looking at its steal.
    n_tries: u32,
    /// Bytes wrk read (`N requests in T, X read`).
    bytes_read: f64,
    /// User + system CPU time of the server's processes during the run, in seconds.
    server_cpu_s: Option<f64>,
    /// The highest summed `VmRSS` of the server's processes sampled during the
    /// run, in KiB (rows that sample it).
    peak_rss_kib: Option<u64>,
}

impl WrkReport {
    /// Server CPU time per request served, in microseconds.
    fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu_s = self.server_cpu_s?;
        (self.n_requests > 0).then(|| cpu_s * 1e6 / self.n_requests as f64)
    }

    /// Server CPU time per MiB served, in milliseconds.
    fn cpu_ms_per_mib(&self) -> Option<f64> {
        let cpu_s = self.server_cpu_s?;
        let mib = self.bytes_read / (1024.0 * 1024.0);
        (mib > 0.0).then(|| cpu_s * 1e3 / mib)
    }

    fn n_errors(&self) -> u64 {
        self.socket_errors.iter().sum::<u64>() + self.non_2xx
    }

    /// Adds the error counts of `other` to these.
    fn add_errors(&mut self, other: &WrkReport) {
        for (mine, theirs) in self.socket_errors.iter_mut().zip(other.socket_errors) {
            *mine += theirs;
        }
        self.non_2xx += other.non_2xx;
    }

    /// Describes the nonzero error counts, or returns an empty string.
    fn describe_errors(&self) -> String {
        let names = ["connect", "read", "write", "timeout"];
        let mut parts: Vec<String> = names
            .iter()
            .zip(self.socket_errors)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        if self.non_2xx > 0 {
            parts.push(format!("{} non-2xx", self.non_2xx));
        }
        parts.join(", ")
    }
}

/// How the idle connections of scenario (e) fared.
#[derive(Clone, Copy, Debug, Default)]
struct IdleReport {
    n_wanted: usize,
    n_held: usize,
    n_not_opened: usize,
    n_bad_response: usize,
    n_closed: usize,
    n_reset: usize,
    setup: Duration,
}

/// One run of one scenario against one server.
#[derive(Clone, Debug)]
struct Measure {
    scenario: usize,
    server: ServerId,
    wrk: WrkReport,
    rss_kib: Option<u64>,
    /// Scenarios (e) and (i) only: the same wrk run without the idle connections.
    baseline: Option<WrkReport>,
    /// Scenarios (e) and (i), httpd only: the same wrk run with the idle connections
    /// held by the control server instead.
    control: Option<WrkReport>,
    idle: Option<IdleReport>,
    /// Rows that sample it (h): `VmHWM` after the run, summed over the server's
    /// processes: their peak since they started, so an upper bound of the row's.
    hwm_kib: Option<u64>,
    /// TLS rows against httpd: the handshakes, and the resumed ones, that its
    /// `/metrics` counted during the run.
    handshakes: Option<(u64, u64)>,
}

/// The runs of one scenario and server, summarized (medians over rounds).
#[derive(Clone, Debug, Default)]
struct Summary {
    throughput: f64,
    p50_us: f64,
    p99_us: f64,
    errors: WrkReport,
    rss_kib: Option<u64>,
    /// Median CPU use of wrk, percent of one CPU.
    client_cpu_pct: Option<f64>,
    /// Median busy share of the servers' CPU, percent.
    server_cpu_pct: Option<f64>,
    /// Median steal time over the machine's CPUs during a run, milliseconds.
    steal_ms: Option<f64>,
    /// Runs taken again because the hypervisor stole too much of them (idle rows).
    n_retaken: u32,
    /// Median server CPU time per request, microseconds.
    cpu_us_per_request: Option<f64>,
    /// Median server CPU time per MiB served, milliseconds.
    cpu_ms_per_mib: Option<f64>,
    baseline_p99_us: Option<f64>,
    /// Median p99 with the idle connections held by the control server instead.
    control_p99_us: Option<f64>,
    idle: Option<IdleReport>,
    /// The highest sampled resident memory over the rounds (rows that sample it).
    peak_rss_kib: Option<u64>,
    /// The highest `VmHWM` after a round (rows that sample it).
    hwm_kib: Option<u64>,
    /// Handshakes and resumed ones httpd counted, over every round.
    handshakes: Option<(u64, u64)>,
}

impl Summary {
    /// Server CPU per unit of the row: per MiB for a bulk row, else per request.
    fn cpu_per_unit(&self, scenario: &Scenario) -> Option<f64> {
        if scenario.is_bulk {
            self.cpu_ms_per_mib
        } else {
            self.cpu_us_per_request
        }
    }
}

/// httpd's resident memory at the edges of each set of servers.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    /// Right after the plain httpd started.
    idle_rss_kib: Option<u64>,
    /// After the plain rows.
    final_rss_kib: Option<u64>,
    /// Right after the TLS httpd started (certificate loaded).
    tls_idle_rss_kib: Option<u64>,
    /// After the TLS rows.
    tls_final_rss_kib: Option<u64>,
}

/// A server under test as the load sees it.
#[derive(Clone, Copy)]
struct Target<'a> {
    id: ServerId,
    server: &'a Server,
    /// Where wrk and the idle holder connect: the plain or the TLS listener.
    addr: SocketAddr,
    /// The client settings when `addr` is a TLS listener.
    tls: Option<&'a Tls>,
    /// httpd only: a second httpd that carries no load, where the idle rows also
    /// hold their connections for a control run (its plain or TLS listener, as `addr`).
    control: Option<SocketAddr>,
}

impl Target<'_> {
    /// Returns the URL of `path` on this target.
    fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Opens a connection, with its TLS handshake done when over TLS.
    fn connect(&self) -> Result<Conn, String> {
        self.connect_to(self.addr)
    }

    /// Opens a connection to `addr` the way this target is reached (TLS or not).
    fn connect_to(&self, addr: SocketAddr) -> Result<Conn, String> {
        match self.tls {
            Some(tls) => tls.connect(addr),
            None => Conn::connect(addr),
        }
    }
}

fn bench(opts: Opts) -> Result<Outcome, String> {
    let started = Instant::now();
    let paths = Paths::discover();
    let tools = match find_tools(&paths.bench_dir)? {
        Ok(tools) => tools,
        Err(skip) => return Ok(Outcome::Skipped(skip)),
    };
    let n_cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // With one CPU the servers and wrk share it; the numbers then mean little.
    let client_cpu = if n_cpus >= 2 { 1 } else { 0 };
    if n_cpus < 2 {
        eprintln!("bench: only one CPU: servers and wrk share it");
    }

    eprintln!("bench: cargo build --release -p httpd-cli");
    common::build_httpd(&paths.workspace)?;
    if !paths.binary.is_file() {
        return Err(format!("no binary at {}", paths.binary.display()));
    }
    fs::create_dir_all(&paths.bench_dir)
        .map_err(|e| format!("create {}: {e}", paths.bench_dir.display()))?;
    let micro = if opts.rows.is_none() {
        micro_benchmark(&paths.workspace)?
    } else {
        Vec::new()
    };

    let root = make_docroot(&paths.bench_dir)?;
    // The idle holders of (e) and (i) open their connections from this process.
    let nofile = common::raise_nofile(CLIENT_NOFILE_WANTED);
    if let Err(e) = &nofile {
        eprintln!("bench: {e}: rows (e) and (i) cannot open every idle connection");
    }
    let wrk = Wrk {
        program: tools.wrk.clone(),
        cpu: client_cpu,
        server_cpu: SERVER_CPU,
        run_secs: opts.run_secs,
    };
    let rows = |tls: bool| -> Vec<usize> {
        (0..SCENARIOS.len())
            .filter(|&i| SCENARIOS[i].tls == tls && opts.runs(SCENARIOS[i].key))
            .collect()
    };
    let mut measures: Vec<Measure> = Vec::new();
    let mut memory = Memory::default();

    let plain_rows = rows(false);
    if !plain_rows.is_empty() {
        eprintln!("bench: starting servers");
        let httpd = start_httpd(&paths, &root, "httpd", &[])?;
        thread::sleep(Duration::from_millis(200));
        memory.idle_rss_kib = httpd.rss_kib();
        let nginx1 = start_nginx(&tools.nginx, &paths.bench_dir, &root, "1", None)?;
        let nginx_auto = start_nginx(&tools.nginx, &paths.bench_dir, &root, "auto", None)?;
        // The control of the idle row: a second httpd on the client's CPU, no load.
        let control = if with_idle(&plain_rows) {
            Some(start_httpd_on(
                client_cpu,
                &paths,
                &root,
                "httpd-control",
                &[],
            )?)
        } else {
            None
        };
        let targets = [
            (ServerId::Httpd, &httpd),
            (ServerId::Nginx1, &nginx1),
            (ServerId::NginxAuto, &nginx_auto),
        ]
        .map(|(id, server)| Target {
            id,
            server,
            addr: server.addr,
            tls: None,
            control: control
                .as_ref()
                .filter(|_| id == ServerId::Httpd)
                .map(|c| c.addr),
        });
        run_rows(&wrk, &opts, &plain_rows, &targets, &mut measures)?;
        memory.final_rss_kib = httpd.rss_kib();
    }

    let tls_rows = rows(true);
    let mut negotiated = Vec::new();
    if !tls_rows.is_empty() {
        let certs = TestCerts::generate(&paths.bench_dir.join("tls"), &[TLS_NAME])?;
        let cert = &certs.names[0];
        // The idle clients of (i) and the clients of (j) never resume a session:
        // each makes a full handshake, as distinct clients would.
        let tls = Tls::builder(&certs.ca_cert)
            .server_name(TLS_NAME)
            .without_resumption()
            .build()?;
        eprintln!("bench: starting TLS servers");
        let tls_flags = [
            "--tls-listen".to_string(),
            "127.0.0.1:0".to_string(),
            "--tls-cert".to_string(),
            cert.cert.display().to_string(),
            "--tls-key".to_string(),
            cert.key.display().to_string(),
        ];
        let httpd = start_httpd(&paths, &root, "httpd-tls", &tls_flags)?;
        let httpd_tls_addr = httpd
            .https_addr(HTTPS_LINE_WAIT)
            .map_err(|e| format!("httpd-tls: {e}"))?;
        thread::sleep(Duration::from_millis(200));
        memory.tls_idle_rss_kib = httpd.rss_kib();
        let nginx1 = start_nginx(&tools.nginx, &paths.bench_dir, &root, "1", Some(cert))?;
        let nginx_auto = start_nginx(&tools.nginx, &paths.bench_dir, &root, "auto", Some(cert))?;
        let control = if with_idle(&tls_rows) {
            let server =
                start_httpd_on(client_cpu, &paths, &root, "httpd-tls-control", &tls_flags)?;
            let addr = server
                .https_addr(HTTPS_LINE_WAIT)
                .map_err(|e| format!("httpd-tls-control: {e}"))?;
            Some((server, addr))
        } else {
            None
        };
        let targets = [
            (ServerId::Httpd, &httpd, httpd_tls_addr),
            (ServerId::Nginx1, &nginx1, nginx1.addr),
            (ServerId::NginxAuto, &nginx_auto, nginx_auto.addr),
        ]
        .map(|(id, server, addr)| Target {
            id,
            server,
            addr,
            tls: Some(&tls),
            control: control
                .as_ref()
                .filter(|_| id == ServerId::Httpd)
                .map(|(_, a)| *a),
        });
        for target in &targets {
            negotiated.push((target.id, openssl_negotiates(target.addr)));
        }
        run_rows(&wrk, &opts, &tls_rows, &targets, &mut measures)?;
        memory.tls_final_rss_kib = httpd.rss_kib();
    }

    let report = Report {
        opts: &opts,
        tools: &tools,
        n_cpus,
        client_cpu,
        micro: &micro,
        memory,
        negotiated: &negotiated,
        nofile: nofile
            .as_ref()
            .map_or_else(|e| e.clone(), |n| n.to_string()),
        measures: &measures,
        elapsed: started.elapsed(),
        workspace: &paths.workspace,
    };
    let markdown = report.to_markdown();
    let results = paths.bench_dir.join("results.md");
    fs::write(&results, &markdown).map_err(|e| format!("write {}: {e}", results.display()))?;
    println!("{markdown}");
    eprintln!("bench: wrote {}", results.display());
    Ok(Outcome::Done)
}

/// Tells whether any of `rows` (indices into [`SCENARIOS`]) holds idle connections.
fn with_idle(rows: &[usize]) -> bool {
    rows.iter().any(|&i| SCENARIOS[i].with_idle)
}

/// Checks and warms up `targets`, then runs each of `rows` (indices into
/// [`SCENARIOS`]) `opts.n_rounds` times against each, in alternating order.
fn run_rows(
    wrk: &Wrk,
    opts: &Opts,
    rows: &[usize],
    targets: &[Target<'_>; 3],
    measures: &mut Vec<Measure>,
) -> Result<(), String> {
    for target in targets {
        sanity_check(target).map_err(|e| format!("{}: {e}", target.id.label()))?;
    }
    // Warm up every server (page cache, allocator, nginx's open-file paths).
    for target in targets {
        let _ = wrk.run(&target.url(BASE.path), &BASE, 1)?;
    }
    for &scenario_idx in rows {
        let scenario = &SCENARIOS[scenario_idx];
        let n_rounds = if scenario.with_idle {
            opts.idle_rounds()
        } else {
            opts.n_rounds
        };
        for round in 0..n_rounds {
            // Alternate the order so no server always runs first.
            let mut order = *targets;
            if round % 2 == 1 {
                order.reverse();
            }
            for target in &order {
                eprintln!(
                    "bench: ({}) {} - round {}/{} - {}",
                    scenario.key,
                    scenario.title,
                    round + 1,
                    n_rounds,
                    target.id.label()
                );
                let measure = run_one(wrk, scenario_idx, target, round)?;
                eprintln!("bench:     {}", describe(scenario, &measure));
                measures.push(measure);
                thread::sleep(PAUSE);
            }
        }
    }
    Ok(())
}

/// The runs of an idle row, (e) or (i), in one round: taken in an order that turns
/// with the round, so that none of them always comes first after a pause or right
/// after another's idle connections were closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdleRun {
    /// No idle connections anywhere.
    Without,
    /// The idle connections held by the server under load.
    OnServer,
    /// The idle connections held by the control server (httpd only).
    OnControl,
}

/// The order of the idle row's runs in round `round`.
fn idle_run_order(round: usize) -> [IdleRun; 3] {
    let mut order = [IdleRun::Without, IdleRun::OnServer, IdleRun::OnControl];
    order.rotate_left(round % 3);
    order
}

/// Runs one scenario once (round `round`) against one server.
fn run_one(
    wrk: &Wrk,
    scenario_idx: usize,
    target: &Target<'_>,
    round: usize,
) -> Result<Measure, String> {
    let scenario = &SCENARIOS[scenario_idx];
    let server = target.server;
    let mut measure = Measure {
        scenario: scenario_idx,
        server: target.id,
        wrk: WrkReport::default(),
        rss_kib: None,
        baseline: None,
        control: None,
        idle: None,
        hwm_kib: None,
        handshakes: None,
    };
    let counts_handshakes = scenario.tls && target.id == ServerId::Httpd;
    if scenario.with_idle {
        let (limit, n_threads) = if scenario.tls {
            (TLS_IDLE_SETUP_LIMIT, N_TLS_IDLE_THREADS)
        } else {
            (IDLE_SETUP_LIMIT, 1)
        };
        for (i, run) in idle_run_order(round).into_iter().enumerate() {
            if i > 0 {
                thread::sleep(PAUSE);
            }
            match run {
                IdleRun::Without => {
                    measure.baseline = Some(measured_calm(wrk, target, scenario)?);
                }
                IdleRun::OnServer => {
                    let mut holder =
                        IdleHolder::open(&|| target.connect(), N_IDLE, limit, n_threads);
                    let before = counts_handshakes.then(|| tls_counts(server)).flatten();
                    measure.wrk = measured_calm(wrk, target, scenario)?;
                    let after = counts_handshakes.then(|| tls_counts(server)).flatten();
                    measure.handshakes = counts_since(before, after);
                    // Measured while the idle connections are still open.
                    measure.rss_kib = server.rss_kib();
                    measure.idle = Some(holder.check());
                }
                IdleRun::OnControl => {
                    // The same idle connections, held by a server the load never
                    // touches: what holding them costs the machine, not the server
                    // that owns them.
                    if let Some(control) = target.control {
                        let _holder = IdleHolder::open(
                            &|| target.connect_to(control),
                            N_IDLE,
                            limit,
                            n_threads,
                        );
                        measure.control = Some(measured_calm(wrk, target, scenario)?);
                    }
                }
            }
        }
    } else {
        let before = counts_handshakes.then(|| tls_counts(server)).flatten();
        measure.wrk = measured(wrk, target, scenario)?;
        let after = counts_handshakes.then(|| tls_counts(server)).flatten();
        measure.handshakes = counts_since(before, after);
        measure.rss_kib = server.rss_kib();
        if scenario.samples_peak_rss {
            measure.hwm_kib = server.peak_rss_kib();
        }
    }
    Ok(measure)
}

/// Runs wrk once with `scenario`'s shape against `target`, and adds the CPU time
/// all of the server's processes (httpd; nginx's master and workers) spent
/// during the run, from `/proc/PID/stat`; for a row that asks, also the peak of
/// their resident memory, sampled during the run.
fn measured(wrk: &Wrk, target: &Target<'_>, scenario: &Scenario) -> Result<WrkReport, String> {
    let server = target.server;
    let pids = server.pids();
    let stop = AtomicBool::new(false);
    let before = server.cpu_ticks();
    let (report, peak_rss_kib) = thread::scope(|scope| {
        let sampler = scenario
            .samples_peak_rss
            .then(|| scope.spawn(|| sample_peak_rss(&pids, &stop)));
        let report = if scenario.by_rustls {
            rustls_load(target, scenario, wrk.run_secs, wrk.cpu)
        } else {
            wrk.run(&target.url(scenario.path), scenario, wrk.run_secs)
        };
        stop.store(true, Ordering::Relaxed);
        let peak = sampler.and_then(|s| s.join().ok()).flatten();
        (report, peak)
    });
    let mut report = report?;
    let after = server.cpu_ticks();
    report.server_cpu_s = match (before, after) {
        (Some(b), Some(a)) if a >= b => Some((a - b) as f64 / procfs::ticks_per_second() as f64),
        _ => None,
    };
    report.peak_rss_kib = peak_rss_kib;
    Ok(report)
}

/// Runs [`measured`] until a run is calm (its steal at most [`CALM_STEAL_MS_PER_S`]
/// per second), at most [`MAX_CALM_TRIES`] times, and keeps the calmest run. The idle
/// rows compare the p99s of three runs; a few tens of milliseconds that the
/// hypervisor takes from either CPU in one of them move its p99 by 10x, so each of
/// the three is held to the same bound before they are compared.
fn measured_calm(wrk: &Wrk, target: &Target<'_>, scenario: &Scenario) -> Result<WrkReport, String> {
    let mut kept: Option<WrkReport> = None;
    for n_tries in 1..=MAX_CALM_TRIES {
        let mut report = measured(wrk, target, scenario)?;
        report.n_tries = n_tries;
        let calm = is_calm(&report, wrk.run_secs);
        let steal = report.steal_ms.unwrap_or(0.0);
        kept = Some(match kept {
            Some(before) => calmer(before, report),
            None => report,
        });
        if calm {
            break;
        }
        if n_tries < MAX_CALM_TRIES {
            eprintln!(
                "bench:     steal {steal:.0} ms: taking the run again (try {} of {MAX_CALM_TRIES})",
                n_tries + 1
            );
        }
    }
    let mut kept = kept.ok_or("no run taken")?;
    kept.n_tries = kept.n_tries.max(1);
    Ok(kept)
}

/// Whether `report`'s run, `run_secs` long, had at most [`CALM_STEAL_MS_PER_S`] of
/// steal per second; a run whose steal is unknown counts as calm (nothing to wait for).
fn is_calm(report: &WrkReport, run_secs: u64) -> bool {
    report
        .steal_ms
        .is_none_or(|ms| ms <= CALM_STEAL_MS_PER_S * run_secs.max(1) as f64)
}

/// Of two runs, the one with less steal (the earlier one on a tie); it keeps the
/// number of tries of the later one.
fn calmer(earlier: WrkReport, later: WrkReport) -> WrkReport {
    let steal = |r: &WrkReport| r.steal_ms.unwrap_or(f64::INFINITY);
    let n_tries = later.n_tries;
    let mut kept = if steal(&later) < steal(&earlier) {
        later
    } else {
        earlier
    };
    kept.n_tries = n_tries;
    kept
}

/// Runs `scenario`'s load for `secs` with this process's rustls client instead of
/// wrk, on CPU `client_cpu` like wrk: `n_connections` threads, each in a loop
/// connecting (a full handshake: the client never resumes), sending `GET path`
/// with `Connection: close`, reading the answer and closing. wrk cannot do this:
/// it resumes the previous session on every reconnection. The client, a debug
/// build, sets the pace; the server CPU per handshake does not depend on it.
fn rustls_load(
    target: &Target<'_>,
    scenario: &Scenario,
    secs: u64,
    client_cpu: usize,
) -> Result<WrkReport, String> {
    let tls = target.tls.ok_or("a rustls row needs a TLS target")?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        scenario.path
    );
    let duration = Duration::from_secs(secs);
    let pinned = Pinned::to(client_cpu)?;
    let server_cpu_before = read_cpu_times(SERVER_CPU);
    let steal_before = read_steal_ticks();
    let own_before = procfs::cpu_ticks(std::process::id());
    let started = Instant::now();
    let tallies: Vec<LoadTally> = thread::scope(|scope| {
        let clients: Vec<_> = (0..scenario.n_connections)
            .map(|_| {
                scope.spawn(|| {
                    let mut tally = LoadTally::default();
                    while started.elapsed() < duration {
                        let began = Instant::now();
                        let Ok(mut conn) = tls.connect(target.addr) else {
                            tally.socket_errors[0] += 1;
                            continue;
                        };
                        if conn.send_all(request.as_bytes()).is_err() {
                            tally.socket_errors[2] += 1;
                            continue;
                        }
                        match conn.read_response(false) {
                            Ok(resp) => {
                                tally.latencies_us.push(began.elapsed().as_secs_f64() * 1e6);
                                tally.bytes_read += resp.body.len() as f64;
                                if resp.status / 100 != 2 {
                                    tally.non_2xx += 1;
                                }
                            }
                            Err(_) => tally.socket_errors[1] += 1,
                        }
                    }
                    tally
                })
            })
            .collect();
        clients.into_iter().filter_map(|c| c.join().ok()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let own_after = procfs::cpu_ticks(std::process::id());
    let server_cpu_after = read_cpu_times(SERVER_CPU);
    let steal_after = read_steal_ticks();
    drop(pinned);
    let mut report = WrkReport::default();
    let mut latencies = Vec::new();
    for tally in tallies {
        latencies.extend(tally.latencies_us);
        report.bytes_read += tally.bytes_read;
        report.non_2xx += tally.non_2xx;
        for (sum, n) in report.socket_errors.iter_mut().zip(tally.socket_errors) {
            *sum += n;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let idx = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(idx).copied().unwrap_or(0.0)
    };
    report.p50_us = percentile(0.50);
    report.p99_us = percentile(0.99);
    report.n_requests = latencies.len() as u64;
    report.requests_per_s = latencies.len() as f64 / elapsed.max(1e-3);
    report.client_cpu_pct = match (own_before, own_after) {
        (Some(b), Some(a)) if a >= b => {
            Some((a - b) as f64 * 100.0 / procfs::ticks_per_second() as f64 / elapsed)
        }
        _ => None,
    };
    report.server_cpu_pct = match (server_cpu_before, server_cpu_after) {
        (Some(before), Some(after)) => after.busy_pct_since(&before),
        _ => None,
    };
    report.steal_ms = steal_ms_between(steal_before, steal_after);
    Ok(report)
}

/// What one thread of [`rustls_load`] saw.
#[derive(Debug, Default)]
struct LoadTally {
    latencies_us: Vec<f64>,
    bytes_read: f64,
    /// Connect (or handshake), read, write, timeout: as wrk counts them.
    socket_errors: [u64; 4],
    non_2xx: u64,
}

/// This process pinned to one CPU (every thread, with `taskset -a -p`: std cannot
/// set an affinity) until dropped, when it gets its CPUs back.
struct Pinned {
    /// `Cpus_allowed_list` before, e.g. `0-1`.
    before: String,
}

impl Pinned {
    /// Pins every thread of this process, and those it starts later, to `cpu`.
    ///
    /// # Errors
    /// When the current CPUs cannot be read or `taskset` fails.
    fn to(cpu: usize) -> Result<Pinned, String> {
        let before = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|v| v.trim().to_string())
            })
            .ok_or("no Cpus_allowed_list in /proc/self/status")?;
        taskset_self(&cpu.to_string())?;
        Ok(Pinned { before })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = taskset_self(&self.before);
    }
}

/// Sets the CPUs of every thread of this process with `taskset -a -p -c CPUS PID`.
fn taskset_self(cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("run taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus}: {status}"))
    }
}

/// Samples the summed `VmRSS` of `pids` every [`RSS_SAMPLE_EVERY`] until `stop`,
/// and returns the highest sum; `None` if no sample could be read.
fn sample_peak_rss(pids: &[u32], stop: &AtomicBool) -> Option<u64> {
    let mut peak = None;
    loop {
        let sum: Option<u64> = pids.iter().map(|&pid| procfs::rss_kib(pid)).sum();
        peak = peak.max(sum);
        if stop.load(Ordering::Relaxed) {
            return peak;
        }
        // Sampling: memory use has no event to wait for.
        thread::sleep(RSS_SAMPLE_EVERY);
    }
}

/// Reads httpd's `httpd_tls_handshakes_total` and `httpd_tls_resumed_total`
/// from `/metrics` on its plain listener.
fn tls_counts(httpd: &Server) -> Option<(u64, u64)> {
    let mut conn = Conn::connect(httpd.addr).ok()?;
    conn.send_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let resp = conn.read_response(false).ok()?;
    parse_tls_counts(&resp.body_text())
}

/// Reads the handshake and resumption counters from httpd's `/metrics` text.
fn parse_tls_counts(metrics: &str) -> Option<(u64, u64)> {
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        value("httpd_tls_handshakes_total")?,
        value("httpd_tls_resumed_total")?,
    ))
}

/// The counts between `before` and `after`, when both were read.
fn counts_since(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<(u64, u64)> {
    let ((h0, r0), (h1, r1)) = (before?, after?);
    Some((h1.checked_sub(h0)?, r1.checked_sub(r0)?))
}

/// Asks `openssl s_client -brief` (the library wrk uses) what it negotiates with
/// the TLS listener `addr`: protocol, cipher suite, key exchange, signature.
fn openssl_negotiates(addr: SocketAddr) -> String {
    let mut command = Command::new("openssl");
    command.args(["s_client", "-brief", "-connect", &addr.to_string()]);
    match run_captured(command, Some(Vec::new()), Duration::from_secs(10)) {
        Ok(out) => {
            let text = format!("{}{}", out.stderr, out.stdout);
            parse_negotiated(&text)
                .unwrap_or_else(|| format!("unknown (openssl printed {:?})", text.trim()))
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// Picks what was negotiated from `openssl s_client -brief`'s output, as one line.
fn parse_negotiated(text: &str) -> Option<String> {
    const WANTED: [&str; 5] = [
        "Protocol version:",
        "Ciphersuite:",
        "Peer signature type:",
        "Server Temp Key:",
        "Negotiated TLS1.3 group:",
    ];
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| WANTED.iter().any(|w| l.starts_with(w)))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn describe(scenario: &Scenario, m: &Measure) -> String {
    let mut line = format!(
        "{}, p50 {}, p99 {}, errors {}, RSS {}, server CPU {}",
        throughput(scenario, &m.wrk),
        fmt_latency(m.wrk.p50_us),
        fmt_latency(m.wrk.p99_us),
        m.wrk.n_errors(),
        m.rss_kib.map_or("?".to_string(), fmt_rss),
        fmt_cpu(scenario, m.wrk.cpu_us_per_request(), m.wrk.cpu_ms_per_mib()),
    );
    if m.wrk.n_errors() > 0 {
        let _ = write!(line, " ({})", m.wrk.describe_errors());
    }
    let _ = write!(line, ", {}", fmt_steal(&m.wrk));
    if let Some(base) = &m.baseline {
        let _ = write!(
            line,
            ", p99 without idle {} ({})",
            fmt_latency(base.p99_us),
            fmt_steal(base)
        );
    }
    if let Some(control) = &m.control {
        let _ = write!(
            line,
            ", p99 with idle on the control {} ({}, {}, {})",
            fmt_latency(control.p99_us),
            fmt_steal(control),
            throughput(scenario, control),
            fmt_cpu(
                scenario,
                control.cpu_us_per_request(),
                control.cpu_ms_per_mib()
            ),
        );
    }
    if let Some(idle) = &m.idle {
        let _ = write!(line, ", {}", describe_idle(idle));
    }
    if let Some(peak) = m.wrk.peak_rss_kib {
        let _ = write!(line, ", peak RSS {}", fmt_rss(peak));
    }
    if let Some(hwm) = m.hwm_kib {
        let _ = write!(line, ", VmHWM {}", fmt_rss(hwm));
    }
    if let Some((n, resumed)) = m.handshakes {
        let _ = write!(line, ", {n} handshakes ({resumed} resumed)");
    }
    line
}

fn fmt_steal(r: &WrkReport) -> String {
    let steal = r
        .steal_ms
        .map_or("steal ?".to_string(), |ms| format!("steal {ms:.0} ms"));
    if r.n_tries > 1 {
        format!("{steal}, the calmest of {} tries", r.n_tries)
    } else {
        steal
    }
}

fn throughput(scenario: &Scenario, r: &WrkReport) -> String {
    if scenario.is_bulk {
        format!("{:.1} MiB/s", r.mib_per_s)
    } else {
        format!("{:.0} {}", r.requests_per_s, scenario.rate_unit())
    }
}

fn describe_idle(idle: &IdleReport) -> String {
    format!(
        "held {}/{} (not opened {}, bad response {}, closed {}, reset {}; opened in {:.1}s)",
        idle.n_held,
        idle.n_wanted,
        idle.n_not_opened,
        idle.n_bad_response,
        idle.n_closed,
        idle.n_reset,
        idle.setup.as_secs_f64()
    )
}

/// Where things are.
struct Paths {
    workspace: PathBuf,
    binary: PathBuf,
    /// `target/bench`: docroot, nginx configs and logs, results.
    bench_dir: PathBuf,
}

impl Paths {
    fn discover() -> Paths {
        let workspace = common::workspace_dir();
        let target = common::target_dir(&workspace);
        Paths {
            binary: common::release_binary(&target),
            bench_dir: target.join("bench"),
            workspace,
        }
    }
}

/// The external programs the benchmark drives.
struct Tools {
    wrk: PathBuf,
    nginx: PathBuf,
    wrk_version: String,
    nginx_version: String,
}

/// Finds wrk, nginx and taskset, installing wrk and nginx when missing and
/// running as root. The inner `Err` is a reason to skip.
fn find_tools(bench_dir: &Path) -> Result<Result<Tools, String>, String> {
    if common::find_program("taskset").is_none() {
        return Ok(Err("taskset missing".to_string()));
    }
    let mut missing = Vec::new();
    if common::find_program("wrk").is_none() {
        missing.push("wrk");
    }
    if common::find_program("nginx").is_none() {
        missing.push("nginx");
    }
    if !missing.is_empty() {
        if !common::is_root() {
            return Ok(Err(format!("{} missing", missing.join(" and "))));
        }
        install(&missing, bench_dir)?;
    }
    let wrk = common::find_program("wrk").ok_or("wrk still missing after apt-get install")?;
    let nginx = common::find_program("nginx").ok_or("nginx still missing after apt-get install")?;
    let wrk_version = first_line_of(&wrk, &["-v"]);
    let nginx_version = first_line_of(&nginx, &["-v"]);
    Ok(Ok(Tools {
        wrk,
        nginx,
        wrk_version,
        nginx_version,
    }))
}

/// Installs wrk and/or nginx with apt-get (output in `target/bench/install.log`);
/// nginx-light when the archive has it, else nginx.
fn install(missing: &[&str], bench_dir: &Path) -> Result<(), String> {
    fs::create_dir_all(bench_dir).map_err(|e| format!("create {}: {e}", bench_dir.display()))?;
    let log_path = bench_dir.join("install.log");
    let log =
        fs::File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
    eprintln!(
        "bench: installing {} with apt-get (log: {})",
        missing.join(" and "),
        log_path.display()
    );
    let apt = |args: &[&str]| common::apt_get(args, &log, INSTALL_TIMEOUT);
    let install = |nginx_package: &'static str| {
        let mut args = vec!["install", "-y"];
        args.extend(
            missing
                .iter()
                .map(|&m| if m == "nginx" { nginx_package } else { m }),
        );
        apt(&args)
    };
    apt(&["update"])?;
    install("nginx-light").or_else(|_| install("nginx"))
}

fn first_line_of(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text.lines().next().unwrap_or("").trim().to_string()
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// Runs `$CARGO bench -p httpd-proto` and returns its `ns/request` lines.
fn micro_benchmark(workspace: &Path) -> Result<Vec<String>, String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo bench -p httpd-proto");
    let mut child = Command::new(&program)
        .args(["bench", "-p", "httpd-proto"])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    let stdout = collect(child.stdout.take());
    let status = wait_bounded(&mut child, CARGO_TIMEOUT);
    let text = stdout.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => return Err(format!("cargo bench -p httpd-proto failed: {s}")),
        None => return Err(format!("cargo bench took over {CARGO_TIMEOUT:?}")),
    }
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.contains("ns/request"))
        .map(str::to_string)
        .collect();
    for line in &lines {
        eprintln!("bench: {line}");
    }
    if lines.is_empty() {
        return Err("cargo bench -p httpd-proto printed no ns/request line".to_string());
    }
    Ok(lines)
}

/// Writes `target/bench/root` with `index.html`, `1k.html` and `10m.txt`.
fn make_docroot(bench_dir: &Path) -> Result<PathBuf, String> {
    let root = bench_dir.join("root");
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        fs::write(&path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
    };
    fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    write(
        "index.html",
        b"<!doctype html><title>bench</title><p>httpd benchmark docroot</p>\n",
    )?;
    write("1k.html", &filler(SMALL_FILE_BYTES, b"<!-- 1 KiB -->\n"))?;
    write("10m.txt", &filler(LARGE_FILE_BYTES, b"10 MiB of text.\n"))?;
    Ok(root)
}

/// Returns `n_bytes` of `pattern` repeated.
fn filler(n_bytes: usize, pattern: &[u8]) -> Vec<u8> {
    pattern.iter().copied().cycle().take(n_bytes).collect()
}

/// Wraps `program args` so it runs on `cpu` with a raised open-file limit.
/// Like [`pinned`], but the shell waits for the program and then prints its
/// children's CPU times on stderr (`times`), for [`parse_child_times`].
fn pinned_timed(cpu: usize, program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(cpu.to_string()).args([
        "bash",
        "-c",
        &format!(
            "ulimit -n {NOFILE_WANTED} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; \
             \"$0\" \"$@\"; status=$?; times >&2; exit $status"
        ),
    ]);
    cmd.arg(program).args(args);
    cmd
}

fn pinned(cpu: usize, program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(cpu.to_string()).args([
        "bash",
        "-c",
        &format!(
            "ulimit -n {NOFILE_WANTED} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
        ),
    ]);
    cmd.arg(program).args(args);
    cmd
}

/// Starts httpd pinned to [`SERVER_CPU`], logs in `target/bench/httpd.log`.
/// Starts httpd named `name` (its logs `target/bench/NAME.log`) with the bench's
/// flags and `extra` ones (the TLS listener).
fn start_httpd(paths: &Paths, root: &Path, name: &str, extra: &[String]) -> Result<Server, String> {
    start_httpd_on(SERVER_CPU, paths, root, name, extra)
}

/// As [`start_httpd`], pinned to `cpu`.
fn start_httpd_on(
    cpu: usize,
    paths: &Paths,
    root: &Path,
    name: &str,
    extra: &[String],
) -> Result<Server, String> {
    let threads = HTTPD_THREADS.to_string();
    let mut flags = vec![
        "--threads",
        &threads,
        // Like nginx's `access_log off` below.
        "--access-log",
        "off",
        // Like nginx's keepalive_requests below, and every client is loopback.
        "--max-requests",
        "100000",
        "--max-conns-per-ip",
        "100000",
        // Like nginx's keepalive_timeout below: the idle rows hold their connections
        // through up to three tries of a run, longer than httpd's default 30 s.
        "--idle-timeout",
        "65s",
    ];
    flags.extend(extra.iter().map(String::as_str));
    let mut command = pinned(cpu, &paths.binary, &httpd_args(root, "warn", &flags));
    command.current_dir(&paths.bench_dir);
    Server::start(command, Launch::httpd(name, root, &paths.bench_dir))
        .map_err(|e| format!("{name}: {e}"))
}

/// Starts nginx with `workers` worker processes, pinned to [`SERVER_CPU`], on a
/// free port (over TLS with `tls`'s certificate when given); stopped with
/// SIGTERM (then SIGKILL, workers included) on drop.
fn start_nginx(
    program: &Path,
    bench_dir: &Path,
    root: &Path,
    workers: &str,
    tls: Option<&NamedCert>,
) -> Result<Server, String> {
    let name = match tls {
        Some(_) => format!("nginx-{workers}-tls"),
        None => format!("nginx-{workers}"),
    };
    let port = free_port()?;
    let conf_path = bench_dir.join(format!("{name}.conf"));
    let conf = nginx_conf(bench_dir, &name, root, port, workers, tls);
    fs::write(&conf_path, conf).map_err(|e| format!("write {}: {e}", conf_path.display()))?;
    let error_log = bench_dir.join(format!("{name}.error.log"));
    // nginx appends; start each benchmark with an empty log.
    fs::write(&error_log, "").map_err(|e| format!("write {}: {e}", error_log.display()))?;
    let args: Vec<String> = [
        "-p".to_string(),
        format!("{}/", bench_dir.display()),
        "-e".to_string(),
        error_log.display().to_string(),
        "-c".to_string(),
        conf_path.display().to_string(),
    ]
    .into();
    let mut command = pinned(SERVER_CPU, program, &args);
    command.current_dir(bench_dir);
    let out_path = bench_dir.join(format!("{name}.out"));
    let launch = Launch {
        name: name.clone(),
        root: root.to_path_buf(),
        log_path: out_path.clone(),
        access_path: out_path,
        ready: Ready::Accepts(SocketAddr::from(([127, 0, 0, 1], port))),
        stop: Stop::Signal("TERM", STOP_TIMEOUT),
    };
    Server::start(command, launch).map_err(|e| format!("{name}: {e}"))
}

/// Writes nginx's configuration: the bench's settings, and with `tls` a TLS
/// listener with that certificate instead of a plain one.
fn nginx_conf(
    bench_dir: &Path,
    name: &str,
    root: &Path,
    port: u16,
    workers: &str,
    tls: Option<&NamedCert>,
) -> String {
    let dir = bench_dir.display();
    let user = if common::is_root() {
        "user root;\n"
    } else {
        ""
    };
    let listen = match tls {
        None => format!("listen 127.0.0.1:{port};"),
        Some(cert) => format!(
            "listen 127.0.0.1:{port} ssl;\n\
             \x20       ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20       ssl_certificate {};\n\
             \x20       ssl_certificate_key {};\n\
             \x20       ssl_session_tickets on;",
            cert.cert.display(),
            cert.key.display()
        ),
    };
    format!(
        "# Written by cargo xtask bench.\n\
         {user}daemon off;\n\
         master_process on;\n\
         worker_processes {workers};\n\
         pid {dir}/{name}.pid;\n\
         error_log {dir}/{name}.error.log warn;\n\
         events {{ worker_connections 20000; }}\n\
         http {{\n\
         \x20   types {{ text/html html; text/plain txt; }}\n\
         \x20   default_type application/octet-stream;\n\
         \x20   access_log off;\n\
         \x20   sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   keepalive_requests 100000;\n\
         \x20   keepalive_timeout 65;\n\
         \x20   server {{\n\
         \x20       {listen}\n\
         \x20       root {};\n\
         \x20   }}\n\
         }}\n",
        root.display()
    )
}

/// Checks that a server serves the three docroot files as expected.
fn sanity_check(target: &Target<'_>) -> Result<(), String> {
    for (method, path, length) in [
        ("GET", "/", None),
        ("GET", "/1k.html", Some(SMALL_FILE_BYTES)),
        ("HEAD", "/10m.txt", Some(LARGE_FILE_BYTES)),
    ] {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let mut conn = target.connect()?;
        conn.send_all(request.as_bytes())?;
        let resp = conn
            .read_response(method == "HEAD")
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if resp.status != 200 {
            return Err(format!("{method} {path} answered {}", resp.summary()));
        }
        let content_length = resp.header("content-length").and_then(|v| v.parse().ok());
        if length.is_some() && content_length != length {
            return Err(format!(
                "{method} {path}: Content-Length {content_length:?}, expected {length:?}"
            ));
        }
    }
    Ok(())
}

/// The idle keep-alive connections of scenarios (e) and (i): each opened (over
/// TLS for (i), a full handshake each), used for one request, then left idle
/// until [`IdleHolder::check`].
struct IdleHolder {
    conns: Vec<Conn>,
    report: IdleReport,
}

impl IdleHolder {
    /// Opens up to `n` connections with `connect` from `n_threads` threads, each
    /// opening its share one after another, each connection with one
    /// `GET /1k.html` answered 200, all within `limit`.
    fn open(
        connect: &(dyn Fn() -> Result<Conn, String> + Sync),
        n: usize,
        limit: Duration,
        n_threads: usize,
    ) -> IdleHolder {
        let started = Instant::now();
        let request = b"GET /1k.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        let n_threads = n_threads.clamp(1, n.max(1));
        let shares: Vec<(Vec<Conn>, IdleReport)> = thread::scope(|scope| {
            let openers: Vec<_> = (0..n_threads)
                .map(|t| {
                    let share = n / n_threads + usize::from(t < n % n_threads);
                    let opener = scope.spawn(move || {
                        let mut conns = Vec::with_capacity(share);
                        let mut report = IdleReport::default();
                        for _ in 0..share {
                            if started.elapsed() > limit {
                                report.n_not_opened += 1;
                                continue;
                            }
                            let Ok(mut conn) = connect() else {
                                report.n_not_opened += 1;
                                continue;
                            };
                            let answered = conn
                                .send_all(request)
                                .and_then(|()| conn.read_response(false));
                            match answered {
                                Ok(resp) if resp.status == 200 => conns.push(conn),
                                _ => report.n_bad_response += 1,
                            }
                        }
                        (conns, report)
                    });
                    (share, opener)
                })
                .collect();
            openers
                .into_iter()
                .map(|(share, opener)| {
                    opener.join().unwrap_or_else(|_| {
                        let report = IdleReport {
                            n_not_opened: share,
                            ..IdleReport::default()
                        };
                        (Vec::new(), report)
                    })
                })
                .collect()
        });
        let mut holder = IdleHolder {
            conns: Vec::with_capacity(n),
            report: IdleReport {
                n_wanted: n,
                ..IdleReport::default()
            },
        };
        for (conns, report) in shares {
            holder.conns.extend(conns);
            holder.report.n_not_opened += report.n_not_opened;
            holder.report.n_bad_response += report.n_bad_response;
        }
        holder.report.setup = started.elapsed();
        eprintln!(
            "bench:     opened {} idle connections in {:.1}s",
            holder.conns.len(),
            holder.report.setup.as_secs_f64()
        );
        holder
    }

    /// Counts the connections that are still open: no data, no EOF, no error.
    fn check(&mut self) -> IdleReport {
        for conn in &mut self.conns {
            match conn.peer_now() {
                Ok(Peer::Silent) => self.report.n_held += 1,
                Ok(Peer::Closed(Closed::Eof)) => self.report.n_closed += 1,
                // The server spoke unasked (a 408, say) and will close.
                Ok(Peer::Data) => self.report.n_closed += 1,
                Ok(Peer::Closed(Closed::Reset)) | Err(_) => self.report.n_reset += 1,
            }
        }
        self.report
    }
}

/// How wrk is run.
struct Wrk {
    program: PathBuf,
    cpu: usize,
    /// The CPU the servers are pinned to, whose busy share each run reports.
    server_cpu: usize,
    run_secs: u64,
}

impl Wrk {
    /// Runs wrk for `secs` seconds with `scenario`'s shape against `url`
    /// (`http://` or `https://`).
    fn run(&self, url: &str, scenario: &Scenario, secs: u64) -> Result<WrkReport, String> {
        let mut args: Vec<String> = vec![
            "-t1".into(),
            format!("-c{}", scenario.n_connections),
            format!("-d{secs}s"),
            "--latency".into(),
        ];
        if scenario.close {
            args.extend(["-H".into(), "Connection: close".into()]);
        }
        args.push(url.to_string());
        let cpu_before = read_cpu_times(self.server_cpu);
        let steal_before = read_steal_ticks();
        let mut child = pinned_timed(self.cpu, &self.program, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn wrk: {e}"))?;
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        let status = wait_bounded(&mut child, Duration::from_secs(secs) + WRK_SLACK);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        let cpu_after = read_cpu_times(self.server_cpu);
        let steal_after = read_steal_ticks();
        match status {
            Some(s) if s.success() => {
                let mut report = parse_wrk(&out)
                    .ok_or_else(|| format!("cannot read wrk's report: {out:?} {err:?}"))?;
                report.client_cpu_pct =
                    parse_child_times(&err).map(|cpu_s| cpu_s * 100.0 / (secs.max(1) as f64));
                report.server_cpu_pct = match (cpu_before, cpu_after) {
                    (Some(before), Some(after)) => after.busy_pct_since(&before),
                    _ => None,
                };
                report.steal_ms = steal_ms_between(steal_before, steal_after);
                Ok(report)
            }
            Some(s) => Err(format!("wrk {args:?} failed ({s}): {out} {err}")),
            None => Err(format!("wrk {args:?} did not finish in time")),
        }
    }
}

/// One CPU's time counters from `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// Parses the `cpuN` line of `/proc/stat` (`user nice system idle iowait irq softirq
    /// steal ...`): idle and iowait are idle, the rest up to steal busy.
    fn parse(stat: &str, cpu: usize) -> Option<CpuTimes> {
        let label = format!("cpu{cpu}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        if fields.len() < 8 {
            return None;
        }
        let total: u64 = fields.iter().sum();
        Some(CpuTimes {
            busy: total - fields[3] - fields[4],
            total,
        })
    }

    /// The busy share between `earlier` and these counters, in percent.
    fn busy_pct_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 * 100.0 / total as f64)
    }
}

fn read_cpu_times(cpu: usize) -> Option<CpuTimes> {
    CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?, cpu)
}

/// Parses the steal ticks of all CPUs together: the eighth counter of the `cpu`
/// line of `/proc/stat`.
fn parse_steal_ticks(stat: &str) -> Option<u64> {
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

fn read_steal_ticks() -> Option<u64> {
    parse_steal_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The steal time between two readings of [`read_steal_ticks`], in milliseconds.
fn steal_ms_between(before: Option<u64>, after: Option<u64>) -> Option<f64> {
    let ticks = after?.checked_sub(before?)?;
    Some(ticks as f64 * 1000.0 / procfs::ticks_per_second() as f64)
}

/// Reads the children's user and system times that bash's `times` printed last
/// (`0m1.250s 0m0.750s`), in seconds.
fn parse_child_times(stderr: &str) -> Option<f64> {
    let line = stderr.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut total = 0.0;
    let mut n = 0;
    for part in line.split_whitespace() {
        let (minutes, seconds) = part.strip_suffix('s')?.split_once('m')?;
        total += minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?;
        n += 1;
    }
    (n == 2).then_some(total)
}

/// Reads wrk's report (run with `--latency`). Returns `None` when the
/// requests/s line is missing.
fn parse_wrk(text: &str) -> Option<WrkReport> {
    let mut report = WrkReport::default();
    let mut saw_rate = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            report.requests_per_s = v.trim().parse().ok()?;
            saw_rate = true;
        } else if let Some(v) = line.strip_prefix("Transfer/sec:") {
            report.mib_per_s = parse_size_bytes(v.trim())? / (1024.0 * 1024.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            report.p50_us = parse_latency_us(v.trim())?;
        } else if let Some(v) = line.strip_prefix("99%") {
            report.p99_us = parse_latency_us(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for (slot, part) in report.socket_errors.iter_mut().zip(v.split(',')) {
                *slot = part.split_whitespace().nth(1)?.parse().ok()?;
            }
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.non_2xx = v.trim().parse().ok()?;
        } else if let Some((count, rest)) = line.split_once(" requests in ") {
            report.n_requests = count.trim().parse().ok()?;
            // "10.00s, 1.20GB read"
            if let Some(size) = rest
                .split_once(", ")
                .and_then(|(_, r)| r.strip_suffix(" read"))
            {
                report.bytes_read = parse_size_bytes(size.trim())?;
            }
        }
    }
    saw_rate.then_some(report)
}

/// Parses wrk's latency (`512.00us`, `1.23ms`, `2.00s`, `1.00m`) into microseconds.
fn parse_latency_us(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(value * scale)
}

/// Parses wrk's size (`812.34KB`, `1.10GB`; binary units) into bytes.
fn parse_size_bytes(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let power = match unit {
        "" | "B" => 0,
        "KB" => 1,
        "MB" => 2,
        "GB" => 3,
        "TB" => 4,
        _ => return None,
    };
    Some(value * 1024f64.powi(power))
}

/// Everything the report needs.
struct Report<'a> {
    opts: &'a Opts,
    tools: &'a Tools,
    n_cpus: usize,
    client_cpu: usize,
    micro: &'a [String],
    memory: Memory,
    /// What `openssl s_client` negotiated with each TLS server.
    negotiated: &'a [(ServerId, String)],
    /// The open-file limit of this process (or why it is too low).
    nofile: String,
    measures: &'a [Measure],
    elapsed: Duration,
    workspace: &'a Path,
}

impl Report<'_> {
    fn summary(&self, scenario_idx: usize, server: ServerId) -> Option<Summary> {
        let runs: Vec<&Measure> = self
            .measures
            .iter()
            .filter(|m| m.scenario == scenario_idx && m.server == server)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let scenario = &SCENARIOS[scenario_idx];
        let metric = |m: &&Measure| {
            if scenario.is_bulk {
                m.wrk.mib_per_s
            } else {
                m.wrk.requests_per_s
            }
        };
        let baselines: Vec<f64> = runs
            .iter()
            .filter_map(|m| m.baseline.map(|b| b.p99_us))
            .collect();
        // The worst idle outcome over the rounds.
        let idle = runs.iter().filter_map(|m| m.idle).min_by_key(|i| i.n_held);
        let handshakes = runs
            .iter()
            .filter_map(|m| m.handshakes)
            .reduce(|(n, r), (n2, r2)| (n + n2, r + r2));
        Some(Summary {
            throughput: median(runs.iter().map(metric).collect()),
            p50_us: median(runs.iter().map(|m| m.wrk.p50_us).collect()),
            p99_us: median(runs.iter().map(|m| m.wrk.p99_us).collect()),
            errors: runs.iter().fold(WrkReport::default(), |mut sum, m| {
                sum.add_errors(&m.wrk);
                sum
            }),
            rss_kib: runs.iter().filter_map(|m| m.rss_kib).max(),
            client_cpu_pct: median_of(runs.iter().filter_map(|m| m.wrk.client_cpu_pct)),
            server_cpu_pct: median_of(runs.iter().filter_map(|m| m.wrk.server_cpu_pct)),
            steal_ms: median_of(runs.iter().filter_map(|m| m.wrk.steal_ms)),
            n_retaken: runs
                .iter()
                .flat_map(|m| [Some(m.wrk), m.baseline, m.control])
                .flatten()
                .map(|r| r.n_tries.saturating_sub(1))
                .sum(),
            cpu_us_per_request: median_of(runs.iter().filter_map(|m| m.wrk.cpu_us_per_request())),
            cpu_ms_per_mib: median_of(runs.iter().filter_map(|m| m.wrk.cpu_ms_per_mib())),
            baseline_p99_us: (!baselines.is_empty()).then(|| median(baselines)),
            control_p99_us: median_of(runs.iter().filter_map(|m| m.control.map(|c| c.p99_us))),
            idle,
            peak_rss_kib: runs.iter().filter_map(|m| m.wrk.peak_rss_kib).max(),
            hwm_kib: runs.iter().filter_map(|m| m.hwm_kib).max(),
            handshakes,
        })
    }

    /// Returns the summary of row `key` for `server`.
    fn row(&self, key: &str, server: ServerId) -> Option<Summary> {
        let idx = SCENARIOS.iter().position(|s| s.key == key)?;
        self.summary(idx, server)
    }

    /// Tells whether any row over TLS (`tls`) or plain HTTP ran.
    fn ran_any(&self, tls: bool) -> bool {
        self.measures
            .iter()
            .any(|m| SCENARIOS[m.scenario].tls == tls)
    }

    fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# httpd benchmark\n");
        let _ = writeln!(
            md,
            "`cargo xtask bench{}{}`: {} s per wrk run, {} round(s) ({} for the idle \
             rows), servers alternating; took {:.0} s.\n",
            if self.opts.quick { " --quick" } else { "" },
            self.opts
                .rows
                .as_deref()
                .map_or(String::new(), |r| format!(" {r}")),
            self.opts.run_secs,
            self.opts.n_rounds,
            self.opts.idle_rounds(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "- Machine: {} CPUs, {}; servers pinned to CPU 0 (`taskset -c 0`), \
             wrk to CPU {} (`taskset -c {} wrk -t1 ...`).",
            self.n_cpus,
            kernel(),
            self.client_cpu,
            self.client_cpu
        );
        let _ = writeln!(md, "- httpd: {}.", git_describe(self.workspace));
        let _ = writeln!(
            md,
            "  `httpd --listen 127.0.0.1:0 --root DOCROOT --threads {HTTPD_THREADS} \
             --log-level warn --access-log off --max-requests 100000 \
             --max-conns-per-ip 100000 --idle-timeout 65s` (like nginx's `access_log \
             off`, `keepalive_requests` and `keepalive_timeout`; other flags at their \
             defaults: `--queue 50`, `--max-connections 16384`, `--file-cache 16M`)."
        );
        let _ = writeln!(
            md,
            "- nginx: {}; `worker_processes 1` and `auto`, `sendfile on; tcp_nopush on; \
             keepalive_requests 100000; keepalive_timeout 65; access_log off` (configs in \
             `target/bench/`).",
            self.tools.nginx_version
        );
        let _ = writeln!(md, "- wrk: {}.", self.tools.wrk_version);
        let _ = writeln!(
            md,
            "- Figures are medians over rounds; errors are summed (socket errors + \
             non-2xx); RSS is VmRSS after the run (httpd alone; nginx master + workers), \
             for (e) and (i) while the idle connections are held. Server CPU is the user + \
             system time (`/proc/PID/stat`) of httpd, or of nginx's master and every \
             worker, during the wrk run, divided by the requests wrk counted (and, for \
             the MiB/s rows, by the MiB it read). The ratio columns give httpd's \
             throughput, then its server CPU per request (or per MiB), over nginx's: \
             above 1 is better for throughput, below 1 for CPU. \"steal\" is the time \
             the hypervisor gave this machine's CPUs to something else during a run \
             (`/proc/stat`, both CPUs, median over rounds; each round's is in the log): \
             rounds with tens of milliseconds of it have p99s of tens of milliseconds \
             whatever the server. So each run of the idle rows, whose p99s are compared, \
             with more than {CALM_STEAL_MS_PER_S:.0} ms of steal per second of run is \
             taken again, {MAX_CALM_TRIES} tries at most, and the calmest try is kept."
        );
        let _ = writeln!(
            md,
            "- Open-file limit of the idle holders' process: {}.\n",
            self.nofile
        );

        if !self.micro.is_empty() {
            let _ = writeln!(md, "## Head parser (`cargo bench -p httpd-proto`)\n");
            for line in self.micro {
                let _ = writeln!(md, "- {line}");
            }
            let _ = writeln!(md);
        }

        if self.ran_any(false) {
            let _ = writeln!(md, "## Load\n");
            let _ = writeln!(
                md,
                "wrk: `taskset -c {} wrk -t1 -cN -d{}s --latency [-H 'Connection: close'] URL` \
                 under `ulimit -n {NOFILE_WANTED}` (or the hard limit); N = 50, 50, 4, 1000, 50. \
                 (e) runs (a) alone (\"without idle\"), and (a) while {N_IDLE} keep-alive \
                 connections opened from this process, one `GET /1k.html` each, sit idle on \
                 the server; \"held\" counts those still open, silent and not reset after \
                 that run. For httpd it also runs (a) with the same idle connections held by \
                 a second httpd instead (\"control\": pinned to wrk's CPU, no load), so the \
                 report shows what holding them costs the machine rather than the server \
                 that owns them. Each round takes these runs in a turning order, so none of \
                 them always comes first; the idle rows run {} rounds (their p99s are \
                 compared, and one run's p99 moves by 10x from round to round here).\n",
                self.client_cpu,
                self.opts.run_secs,
                self.opts.idle_rounds()
            );
            self.table(&mut md, false);
        }
        if self.ran_any(true) {
            let _ = writeln!(md, "## TLS\n");
            let _ = writeln!(
                md,
                "A second set of servers, started after the first stopped, each serving the \
                 same docroot over TLS with the same throwaway ECDSA P-256 certificate \
                 (`target/bench/tls/`, made by `common/certs.rs`): httpd with \
                 `--tls-listen 127.0.0.1:0 --tls-cert {TLS_NAME}.pem --tls-key {TLS_NAME}.key` \
                 and the flags above; nginx with `listen ... ssl; ssl_protocols TLSv1.2 \
                 TLSv1.3; ssl_certificate ...; ssl_certificate_key ...; \
                 ssl_session_tickets on;` and the settings above. wrk as above with an \
                 `https://` URL (OpenSSL, no certificate check). wrk resumes the previous \
                 session on each new connection (`SSL_clear` keeps it), so the handshakes of \
                 (g) are resumed ones (TLS 1.3 PSK with X25519, no certificate or signature): \
                 httpd's `/metrics` counts them (\"handshakes, resumed\" in the notes). (j) \
                 makes full handshakes instead, with this process's rustls client (a debug \
                 build, pinned to wrk's CPU, {} threads; it sets the pace). (g) and (j) divide \
                 the server CPU by the requests served, one per connection: CPU per \
                 handshake. (h) samples the \
                 servers' VmRSS every {} ms during the run (\"peak\"), and reads VmHWM after \
                 it (the peak since the server started, so over (f) and (g) too). (i) runs (f) \
                 as (e) runs (a): alone, with {N_IDLE} idle TLS connections opened from \
                 {N_TLS_IDLE_THREADS} threads of this process (rustls, full handshakes, one \
                 `GET /1k.html` each) on the server, and for httpd with them on the control, \
                 in a turning order.\n",
                row_named("j").map_or(0, |s| s.n_connections),
                RSS_SAMPLE_EVERY.as_millis()
            );
            for (id, negotiated) in self.negotiated {
                let _ = writeln!(md, "- `openssl s_client` with {}: {negotiated}", id.label());
            }
            let _ = writeln!(md);
            self.table(&mut md, true);
        }

        let _ = writeln!(md, "## Targets\n");
        let _ = writeln!(md, "| target | measured | met |");
        let _ = writeln!(md, "|---|---|---|");
        let targets = self.targets();
        for (target, measured, met) in &targets {
            let _ = writeln!(
                md,
                "| {target} | {measured} | {} |",
                match met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "?",
                }
            );
        }
        let n_met = targets.iter().filter(|t| t.2 == Some(true)).count();
        let _ = writeln!(md, "\n{n_met} of {} targets met.", targets.len());
        md
    }

    /// Writes the table of the TLS rows (`tls`) or the plain ones.
    fn table(&self, md: &mut String, tls: bool) {
        let _ = writeln!(
            md,
            "| scenario | server | throughput | server CPU | p50 | p99 | errors | RSS | \
             httpd/nginx(1) | httpd/nginx(auto) | notes |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        let (idle_rss, final_rss) = if tls {
            (self.memory.tls_idle_rss_kib, self.memory.tls_final_rss_kib)
        } else {
            (self.memory.idle_rss_kib, self.memory.final_rss_kib)
        };
        let _ = writeln!(
            md,
            "| idle | httpd | | | | | | {} | | | right after start, {HTTPD_THREADS} workers{} |",
            idle_rss.map_or("?".to_string(), fmt_rss),
            if tls { ", certificate loaded" } else { "" }
        );
        for (scenario_idx, scenario) in SCENARIOS.iter().enumerate() {
            if scenario.tls != tls {
                continue;
            }
            let httpd = self.summary(scenario_idx, ServerId::Httpd);
            let ratio = |other: ServerId| match (&httpd, self.summary(scenario_idx, other)) {
                (Some(h), Some(o)) if o.throughput > 0.0 => {
                    let cpu = match (h.cpu_per_unit(scenario), o.cpu_per_unit(scenario)) {
                        (Some(hc), Some(oc)) if oc > 0.0 => format!("{:.2}x", hc / oc),
                        _ => "?".to_string(),
                    };
                    format!("{:.2}x, CPU {cpu}", h.throughput / o.throughput)
                }
                _ => "?".to_string(),
            };
            for server in ServerId::ALL {
                let Some(s) = self.summary(scenario_idx, server) else {
                    continue;
                };
                let (r1, r_auto) = if server == ServerId::Httpd {
                    (ratio(ServerId::Nginx1), ratio(ServerId::NginxAuto))
                } else {
                    (String::new(), String::new())
                };
                let mut notes = String::new();
                if s.errors.n_errors() > 0 {
                    let _ = write!(notes, "errors: {}; ", s.errors.describe_errors());
                }
                if let Some(cpu) = s.client_cpu_pct {
                    let _ = write!(notes, "wrk CPU {cpu:.0}%; ");
                }
                if let Some(cpu) = s.server_cpu_pct {
                    let _ = write!(notes, "server CPU {cpu:.0}%; ");
                }
                if let Some(steal) = s.steal_ms {
                    let _ = write!(notes, "steal {steal:.0} ms; ");
                }
                if s.n_retaken > 0 {
                    let _ = write!(notes, "{} runs taken again for steal; ", s.n_retaken);
                }
                if let Some(peak) = s.peak_rss_kib {
                    let _ = write!(notes, "peak RSS {} (sampled); ", fmt_rss(peak));
                }
                if let Some(hwm) = s.hwm_kib {
                    let _ = write!(notes, "VmHWM {}; ", fmt_rss(hwm));
                }
                if let Some((n, resumed)) = s.handshakes {
                    let _ = write!(notes, "httpd counted {n} handshakes, {resumed} resumed; ");
                }
                if let Some(base) = s.baseline_p99_us {
                    let _ = write!(
                        notes,
                        "p99 without idle {} ({:.2}x); ",
                        fmt_latency(base),
                        s.p99_us / base.max(1.0)
                    );
                }
                if let Some(control) = s.control_p99_us {
                    let _ = write!(
                        notes,
                        "p99 with the idle connections on the control server instead {} ({:.2}x); ",
                        fmt_latency(control),
                        s.p99_us / control.max(1.0)
                    );
                }
                if let Some(idle) = &s.idle {
                    notes.push_str(&describe_idle(idle));
                }
                let _ = writeln!(
                    md,
                    "| {}) {} | {} | {} | {} | {} | {} | {} | {} | {r1} | {r_auto} | {} |",
                    scenario.key,
                    scenario.title,
                    server.label(),
                    if scenario.is_bulk {
                        format!("{:.1} MiB/s", s.throughput)
                    } else {
                        format!("{:.0} {}", s.throughput, scenario.rate_unit())
                    },
                    fmt_cpu(scenario, s.cpu_us_per_request, s.cpu_ms_per_mib),
                    fmt_latency(s.p50_us),
                    fmt_latency(s.p99_us),
                    s.errors.n_errors(),
                    s.rss_kib.map_or("?".to_string(), fmt_rss),
                    notes.trim_end_matches("; ")
                );
            }
        }
        let _ = writeln!(
            md,
            "| end | httpd | | | | | | {} | | | after every scenario |\n",
            final_rss.map_or("?".to_string(), fmt_rss)
        );
    }

    /// Returns (target, measured, met) for each target of the issues, for the
    /// rows that ran.
    fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut out = Vec::new();
        self.ratio_target(&mut out, "a", ServerId::NginxAuto, 1.0);
        self.ratio_target(&mut out, "a", ServerId::Nginx1, 1.5);
        // The engine's targets: CPU per request at most 0.8x nginx's (1 worker), and
        // throughput at least level, on (a) and (d); (c) at least level.
        self.cpu_target(&mut out, "a", ServerId::Nginx1, 0.8);
        self.cpu_target(&mut out, "d", ServerId::Nginx1, 0.8);
        self.ratio_target(&mut out, "d", ServerId::Nginx1, 1.0);
        self.ratio_target(&mut out, "b", ServerId::Nginx1, 1.0);
        self.ratio_target(&mut out, "c", ServerId::Nginx1, 1.0);
        self.ratio_target(&mut out, "c", ServerId::NginxAuto, 1.0);
        self.ratio_target(&mut out, "d", ServerId::NginxAuto, 1.0);
        if let (Some(h), Some(o)) = (
            self.row("d", ServerId::Httpd),
            self.row("d", ServerId::NginxAuto),
        ) {
            out.push((
                "d) httpd p99 <= nginx (auto) p99".to_string(),
                format!("{} vs {}", fmt_latency(h.p99_us), fmt_latency(o.p99_us)),
                Some(h.p99_us <= o.p99_us),
            ));
        }
        if let Some(h) = self.row("d", ServerId::Httpd) {
            out.push((
                "d) httpd zero errors".to_string(),
                match h.errors.n_errors() {
                    0 => "0".to_string(),
                    n => format!("{n} ({})", h.errors.describe_errors()),
                },
                Some(h.errors.n_errors() == 0),
            ));
        }
        if let Some(h) = self.row("e", ServerId::Httpd) {
            self.idle_targets("e", &h, &mut out);
            out.push((
                "e) httpd RSS <= 64 MiB with 10k idle".to_string(),
                h.rss_kib.map_or("?".to_string(), fmt_rss),
                h.rss_kib.map(|r| r <= 64 * 1024),
            ));
        }
        if self.ran_any(false) {
            out.push((
                format!("idle httpd RSS <= 8 MiB ({HTTPD_THREADS} workers)"),
                self.memory.idle_rss_kib.map_or("?".to_string(), fmt_rss),
                self.memory.idle_rss_kib.map(|r| r <= 8 * 1024),
            ));
        }
        // The TLS rows: CPU per request (f), per handshake (g: as wrk makes them,
        // resumed; j: full), throughput and memory of bulk transfers (h), idle
        // connections (i).
        self.cpu_target(&mut out, "f", ServerId::Nginx1, 1.0);
        self.cpu_target(&mut out, "f", ServerId::NginxAuto, 1.0);
        self.cpu_target(&mut out, "g", ServerId::Nginx1, 0.7);
        self.cpu_target(&mut out, "g", ServerId::NginxAuto, 0.7);
        self.cpu_target(&mut out, "j", ServerId::Nginx1, 0.7);
        self.cpu_target(&mut out, "j", ServerId::NginxAuto, 0.7);
        self.ratio_target(&mut out, "h", ServerId::Nginx1, 1.0);
        self.ratio_target(&mut out, "h", ServerId::NginxAuto, 1.0);
        if let Some(h) = self.row("h", ServerId::Httpd) {
            out.push((
                format!(
                    "h) httpd peak RSS < {} during the row",
                    fmt_rss(TLS_BULK_RSS_LIMIT_KIB)
                ),
                format!(
                    "{} sampled, VmHWM {}",
                    h.peak_rss_kib.map_or("?".to_string(), fmt_rss),
                    h.hwm_kib.map_or("?".to_string(), fmt_rss)
                ),
                h.peak_rss_kib.map(|r| r < TLS_BULK_RSS_LIMIT_KIB),
            ));
        }
        if let Some(h) = self.row("i", ServerId::Httpd) {
            self.idle_targets("i", &h, &mut out);
            let nginx = self.row("i", ServerId::Nginx1).and_then(|n| n.rss_kib);
            out.push((
                format!("i) httpd RSS <= nginx (1 worker)'s with {N_IDLE} idle TLS conns"),
                format!(
                    "{} vs {}",
                    h.rss_kib.map_or("?".to_string(), fmt_rss),
                    nginx.map_or("?".to_string(), fmt_rss)
                ),
                h.rss_kib.zip(nginx).map(|(h, n)| h <= n),
            ));
        }
        out
    }

    /// Adds the target "httpd's throughput in row `key` >= `want` x `other`'s",
    /// if the row ran.
    fn ratio_target(
        &self,
        out: &mut Vec<(String, String, Option<bool>)>,
        key: &str,
        other: ServerId,
        want: f64,
    ) {
        let Some(h) = self.row(key, ServerId::Httpd) else {
            return;
        };
        let measured = match self.row(key, other) {
            Some(o) if o.throughput > 0.0 => Some(h.throughput / o.throughput),
            _ => None,
        };
        out.push((
            format!("{key}) httpd >= {want:.1}x {}", other.label()),
            measured.map_or("?".to_string(), |r| format!("{r:.2}x")),
            measured.map(|r| r >= want),
        ));
    }

    /// Adds the target "httpd's server CPU per request (or per handshake) in row
    /// `key` <= `want` x `other`'s", if the row ran.
    fn cpu_target(
        &self,
        out: &mut Vec<(String, String, Option<bool>)>,
        key: &str,
        other: ServerId,
        want: f64,
    ) {
        let (Some(scenario), Some(h)) = (row_named(key), self.row(key, ServerId::Httpd)) else {
            return;
        };
        let measured = match (h.cpu_us_per_request, self.row(key, other)) {
            (Some(hc), Some(o)) => o
                .cpu_us_per_request
                .filter(|&oc| oc > 0.0)
                .map(|oc| (hc, oc)),
            _ => None,
        };
        let per = if scenario.is_handshakes() {
            "handshake"
        } else {
            "request"
        };
        out.push((
            format!(
                "{key}) httpd CPU per {per} <= {want:.1}x {}'s",
                other.label()
            ),
            measured.map_or("?".to_string(), |(h, o)| {
                // Three decimals: 0.704x must not read as a met 0.70x.
                format!("{:.3}x ({h:.1} vs {o:.1} us)", h / o)
            }),
            measured.map(|(h, o)| h <= want * o),
        ));
    }

    /// The idle rows' targets of httpd's summary `h` for row `key`: every idle
    /// connection held, and the active p99 within 2x of the run without them.
    fn idle_targets(&self, key: &str, h: &Summary, out: &mut Vec<(String, String, Option<bool>)>) {
        if let Some(idle) = h.idle {
            out.push((
                format!("{key}) httpd holds all {N_IDLE} idle connections"),
                format!("{}/{}", idle.n_held, idle.n_wanted),
                Some(idle.n_held == N_IDLE),
            ));
        }
        // The active p99 against a reference p99: within 2x of it.
        let within_2x = |what: &str, reference: f64| {
            (
                format!("{key}) httpd active p99 within 2x of {what}"),
                format!(
                    "{} vs {} ({:.2}x)",
                    fmt_latency(h.p99_us),
                    fmt_latency(reference),
                    h.p99_us / reference.max(1.0)
                ),
                Some(h.p99_us <= 2.0 * reference),
            )
        };
        if let Some(base) = h.baseline_p99_us {
            out.push(within_2x("without idle", base));
        }
        if let Some(control) = h.control_p99_us {
            out.push(within_2x(
                "the control's (idle connections held by another httpd)",
                control,
            ));
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// The median of `values`, `None` when there are none.
fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| median(values))
}

/// Formats server CPU per request, and for a bulk scenario per MiB too.
fn fmt_cpu(scenario: &Scenario, per_request_us: Option<f64>, per_mib_ms: Option<f64>) -> String {
    let unit = if scenario.is_handshakes() {
        "handshake"
    } else {
        "req"
    };
    let per_request = per_request_us.map_or("?".to_string(), |us| format!("{us:.1} us/{unit}"));
    if scenario.is_bulk {
        let per_mib = per_mib_ms.map_or("?".to_string(), |ms| format!("{ms:.2} ms/MiB"));
        format!("{per_mib} ({per_request})")
    } else {
        per_request
    }
}

fn fmt_latency(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

fn fmt_rss(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| "unknown kernel".to_string())
}

/// Describes the checked-out commit, read-only (`git rev-parse`, `git status`).
fn git_describe(workspace: &Path) -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("commit {commit} with uncommitted changes (the tree as built)")
            } else {
                format!("commit {commit}")
            }
        }
        None => "unknown commit".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "\
Running 10s test @ http://127.0.0.1:8080/1k.html
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.12us  100.23us   5.00ms   90.00%
    Req/Sec    95.12k     2.34k   100.00k    80.00%
  Latency Distribution
     50%  500.00us
     75%  550.00us
     90%  600.00us
     99%    1.25ms
  950000 requests in 10.00s, 1.20GB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:  95000.50
Transfer/sec:    122.00MB
";

    #[test]
    fn reads_every_figure_of_a_wrk_report() {
        let r = parse_wrk(WRK_OUTPUT).unwrap();
        assert_eq!(r.requests_per_s, 95000.5);
        assert_eq!(r.mib_per_s, 122.0);
        assert_eq!(r.p50_us, 500.0);
        assert_eq!(r.p99_us, 1250.0);
        assert_eq!(r.n_requests, 950_000);
        assert_eq!(r.socket_errors, [1, 2, 0, 3]);
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.n_errors(), 11);
        assert_eq!(
            r.describe_errors(),
            "1 connect, 2 read, 3 timeout, 5 non-2xx"
        );
    }

    #[test]
    fn a_report_without_requests_per_second_is_unreadable() {
        assert_eq!(parse_wrk("unable to connect to 127.0.0.1:1\n"), None);
    }

    #[test]
    fn latencies_and_sizes_use_wrk_units() {
        for (text, us) in [
            ("12.00us", 12.0),
            ("1.50ms", 1500.0),
            ("2.00s", 2e6),
            ("1.00m", 60e6),
        ] {
            assert_eq!(parse_latency_us(text), Some(us), "{text}");
        }
        assert_eq!(parse_latency_us("3.00xs"), None);
        for (text, bytes) in [
            ("512.00B", 512.0),
            ("2.00KB", 2048.0),
            ("1.50MB", 1.5 * 1048576.0),
            ("1.00GB", 1073741824.0),
        ] {
            assert_eq!(parse_size_bytes(text), Some(bytes), "{text}");
        }
    }

    #[test]
    fn child_times_are_read_from_the_last_line() {
        let err = "some warning\n0m0.001s 0m0.002s\n1m2.500s 0m0.500s\n";
        assert_eq!(parse_child_times(err), Some(63.0));
        assert_eq!(parse_child_times("no times here\n"), None);
        assert_eq!(parse_child_times(""), None);
    }

    #[test]
    fn cpu_times_come_from_the_cpus_own_line() {
        let stat = "cpu  10 0 10 100 0 0 0 0 0 0\n\
                    cpu0 4 1 3 50 2 1 1 0 0 0\n\
                    cpu1 6 0 7 50 0 0 0 0 0 0\n\
                    intr 1 2 3\n";
        let cpu0 = CpuTimes::parse(stat, 0).unwrap();
        assert_eq!(
            cpu0,
            CpuTimes {
                busy: 10,
                total: 62
            }
        );
        assert_eq!(CpuTimes::parse(stat, 1).unwrap().busy, 13);
        assert_eq!(CpuTimes::parse(stat, 2), None);
        let later = CpuTimes {
            busy: 40,
            total: 112,
        };
        assert_eq!(later.busy_pct_since(&cpu0), Some(60.0));
        assert_eq!(cpu0.busy_pct_since(&later), None);
    }

    #[test]
    fn each_idle_run_leads_a_round_in_turn() {
        let firsts: Vec<IdleRun> = (0..3).map(|r| idle_run_order(r)[0]).collect();
        assert_eq!(
            firsts,
            [IdleRun::Without, IdleRun::OnServer, IdleRun::OnControl]
        );
        for round in 0..6 {
            let mut order = idle_run_order(round).to_vec();
            order.sort_by_key(|r| *r as u8);
            assert_eq!(
                order,
                [IdleRun::Without, IdleRun::OnServer, IdleRun::OnControl]
            );
        }
        assert_eq!(idle_run_order(4), idle_run_order(1));
    }

    #[test]
    fn steal_is_the_eighth_counter_of_the_machine_line() {
        let stat = "cpu  10 0 10 100 0 0 0 7 0 0\n\
                    cpu0 4 1 3 50 2 1 1 3 0 0\n\
                    intr 1 2 3\n";
        assert_eq!(parse_steal_ticks(stat), Some(7));
        assert_eq!(parse_steal_ticks("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_steal_ticks("cpu  1 2 3\n"), None);
        assert_eq!(steal_ms_between(Some(5), Some(3)), None);
        assert_eq!(steal_ms_between(None, Some(3)), None);
        let per_s = procfs::ticks_per_second() as f64;
        assert_eq!(steal_ms_between(Some(5), Some(7)), Some(2000.0 / per_s));
    }

    #[test]
    fn a_run_with_steal_over_the_bound_is_not_calm_and_the_calmest_try_is_kept() {
        let run = |steal_ms: Option<f64>, p99_us: f64, n_tries: u32| WrkReport {
            steal_ms,
            p99_us,
            n_tries,
            ..WrkReport::default()
        };
        // 10 ms per second: 100 ms for a 10 s run, 30 ms for a 3 s one.
        assert!(is_calm(&run(Some(100.0), 1.0, 1), 10));
        assert!(!is_calm(&run(Some(101.0), 1.0, 1), 10));
        assert!(!is_calm(&run(Some(40.0), 1.0, 1), 3));
        assert!(is_calm(&run(None, 1.0, 1), 10));
        // The later try is kept only if it had less steal; it carries the count.
        let kept = calmer(run(Some(300.0), 9.0, 1), run(Some(120.0), 2.0, 2));
        assert_eq!((kept.p99_us, kept.n_tries), (2.0, 2));
        let kept = calmer(kept, run(Some(500.0), 40.0, 3));
        assert_eq!((kept.p99_us, kept.n_tries), (2.0, 3));
        let kept = calmer(run(None, 5.0, 1), run(Some(900.0), 6.0, 2));
        assert_eq!(kept.p99_us, 6.0);
        assert_eq!(fmt_steal(&kept), "steal 900 ms, the calmest of 2 tries");
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn rows_are_letters_of_known_rows() {
        let args = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_args(&args(&[])), Ok((false, None)));
        assert_eq!(
            parse_args(&args(&["fghi", "--quick"])),
            Ok((true, Some("fghi".to_string())))
        );
        assert!(parse_args(&args(&["fz"])).is_err());
        assert!(parse_args(&args(&["f", "g"])).is_err());
        assert!(parse_args(&args(&["--slow"])).is_err());
        let keys: Vec<&str> = SCENARIOS.iter().map(|s| s.key).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        assert!(SCENARIOS.iter().all(|s| s.tls == (s.key >= "f")));
        assert_eq!(
            row_named("g").map(Scenario::rate_unit),
            Some("handshakes/s")
        );
        assert_eq!(row_named("b").map(Scenario::rate_unit), Some("req/s"));
        assert_eq!(row_named("h").map(Scenario::rate_unit), Some("MiB/s"));
    }

    #[test]
    fn tls_counters_and_openssl_lines_are_read() {
        let metrics = "# TYPE httpd_tls_handshakes_total counter\n\
                       httpd_tls_handshakes_total 1234\n\
                       httpd_tls_handshake_failures_total{reason=\"eof\"} 2\n\
                       httpd_tls_resumed_total 1200\n";
        assert_eq!(parse_tls_counts(metrics), Some((1234, 1200)));
        assert_eq!(parse_tls_counts("httpd_tls_handshakes_total 1\n"), None);
        assert_eq!(counts_since(Some((10, 5)), Some((25, 6))), Some((15, 1)));
        assert_eq!(counts_since(Some((10, 5)), None), None);
        let brief = "CONNECTION ESTABLISHED\nProtocol version: TLSv1.3\n\
                     Ciphersuite: TLS_AES_256_GCM_SHA384\nPeer certificate: CN = localhost\n\
                     Server Temp Key: X25519, 253 bits\nDONE\n";
        assert_eq!(
            parse_negotiated(brief).as_deref(),
            Some(
                "Protocol version: TLSv1.3; Ciphersuite: TLS_AES_256_GCM_SHA384; \
                 Server Temp Key: X25519, 253 bits"
            )
        );
        assert_eq!(parse_negotiated("connect: Connection refused\n"), None);
    }

    #[test]
    fn nginx_over_tls_gets_the_certificate_and_the_issue_settings() {
        let cert = NamedCert {
            name: "localhost".to_string(),
            cert: PathBuf::from("/c/localhost.pem"),
            key: PathBuf::from("/c/localhost.key"),
        };
        let dir = Path::new("/b");
        let conf = nginx_conf(dir, "n", Path::new("/r"), 8443, "1", Some(&cert));
        for line in [
            "listen 127.0.0.1:8443 ssl;",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_certificate /c/localhost.pem;",
            "ssl_certificate_key /c/localhost.key;",
            "ssl_session_tickets on;",
            "access_log off;",
            "sendfile on;",
            "keepalive_requests 100000;",
        ] {
            assert!(conf.contains(line), "{line} missing from {conf}");
        }
        let plain = nginx_conf(dir, "n", Path::new("/r"), 8080, "auto", None);
        assert!(plain.contains("listen 127.0.0.1:8080;") && !plain.contains("ssl"));
    }

    #[test]
    fn filler_has_the_exact_size() {
        assert_eq!(filler(1024, b"abc").len(), 1024);
        assert_eq!(
            filler(LARGE_FILE_BYTES, b"0123456789abcde\n").len(),
            LARGE_FILE_BYTES
        );
    }
}
