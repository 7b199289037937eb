//! `cargo xtask e2e`: runs the release `httpd` binary over loopback and drives
//! end-to-end scenarios against it.
//!
//! This module owns the harness: building the binary, the per-run temporary
//! directory, starting and stopping servers ([`Server`] kills its process on
//! drop), running the selected scenarios and printing the report. The
//! scenarios themselves live in `e2e/scenarios.rs` (protocol, connections,
//! the seed's examples), `e2e/semantics.rs` (ranges, validators, codings,
//! targets, directories) and `e2e/redbot.rs` (the REDbot linter); the HTTP
//! client is `e2e/client.rs`.
//!
//! Servers are started lazily, the first time a selected scenario asks for
//! one, and shared by every scenario that needs the same flags.
//!
//! A scenario passes (`ok   NAME`), fails (`FAIL NAME: reason`) or, when a
//! tool it needs is missing, is skipped (`SKIP: TOOL missing (NAME)`, from an `Err`
//! made by [`skip`]). The closing line is `N passed, N failed`, followed by
//! `, N skipped` when some were; only failures make the run fail.

/// Fails the scenario with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

mod balancer;
mod browser;
mod client;
mod promtool;
mod redbot;
mod scenarios;
mod semantics;
mod slow;

use crate::common::{self, copy_dir};
pub(crate) use crate::common::{collect, wait_bounded};
use std::cell::OnceCell;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Age after which a kept run directory is removed by the next run.
const STALE_RUN_AGE: Duration = Duration::from_secs(3600);

/// How long a CLI invocation that should exit by itself may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(5);

/// How a skipped scenario's `Err` starts; see [`skip`].
const SKIPPED: &str = "SKIP: ";

/// Returns the `Err` of a scenario that cannot run here (a tool is missing):
/// it is counted as skipped, neither passed nor failed.
pub fn skip(why: &str) -> String {
    format!("{SKIPPED}{why}")
}

/// Builds the binary, runs the scenarios whose name contains `filter`, and
/// reports. Returns failure when the build or any scenario failed.
pub fn run(filter: Option<&str>) -> ExitCode {
    let selected: Vec<scenarios::Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!("e2e: no scenario matches {:?}", filter.unwrap_or(""));
        return ExitCode::FAILURE;
    }
    let paths = Paths::discover();
    if let Err(e) = build(&paths.workspace) {
        eprintln!("e2e: {e}");
        return ExitCode::FAILURE;
    }
    if !paths.binary.is_file() {
        eprintln!("e2e: no binary at {}", paths.binary.display());
        return ExitCode::FAILURE;
    }
    remove_stale_runs(&paths.e2e_dir.join("tmp"));
    let run_dir = match make_run_dir(&paths.e2e_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("e2e: {e}");
            return ExitCode::FAILURE;
        }
    };

    let started = Instant::now();
    let ctx = Ctx::new(paths, run_dir.clone());
    let (mut n_passed, mut n_failed, mut n_skipped) = (0, 0, 0);
    for scenario in &selected {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (scenario.run)(&ctx)))
            .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(&payload))));
        match outcome {
            Ok(()) => {
                n_passed += 1;
                println!("ok   {}", scenario.name);
            }
            Err(reason) if reason.starts_with(SKIPPED) => {
                n_skipped += 1;
                // `SKIP: <tool> missing`, then which scenario it concerns.
                println!("{reason} ({})", scenario.name);
            }
            Err(reason) => {
                n_failed += 1;
                println!("FAIL {}: {reason}", scenario.name);
            }
        }
    }
    // Stop the servers before cleaning up their docroots.
    drop(ctx);
    if n_failed == 0 {
        let _ = fs::remove_dir_all(&run_dir);
    } else {
        eprintln!(
            "e2e: kept {} and the logs in target/e2e/ for inspection",
            run_dir.display()
        );
    }
    eprintln!(
        "e2e: {} scenarios in {:.1}s",
        selected.len(),
        started.elapsed().as_secs_f64()
    );
    if n_skipped == 0 {
        println!("{n_passed} passed, {n_failed} failed");
    } else {
        println!("{n_passed} passed, {n_failed} failed, {n_skipped} skipped");
    }
    if n_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Where things are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root.
    pub workspace: PathBuf,
    /// The release `httpd` binary.
    pub binary: PathBuf,
    /// `target/e2e`, for logs and temporary docroots.
    pub e2e_dir: PathBuf,
    /// The pristine `resources/` directory.
    pub resources: PathBuf,
}

impl Paths {
    fn discover() -> Paths {
        let workspace = common::workspace_dir();
        let target = common::target_dir(&workspace);
        let binary = common::release_binary(&target);
        Paths {
            resources: workspace.join("resources"),
            e2e_dir: target.join("e2e"),
            workspace,
            binary,
        }
    }
}

/// Writes files into a fresh docroot before its server starts.
type Fixtures = fn(&Path) -> Result<(), String>;

/// Extra flags of the servers that scenarios share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Default limits: 10 workers, queue 50, 30 s idle, 100 requests.
    Main,
    /// 1 s header and idle timeouts, 5 requests per connection, small body
    /// and head limits, and one extra allowed host.
    Short,
    /// Two workers, queue 50: more clients than workers; any Host allowed.
    TwoWorkers,
    /// One worker, queue 1: the queue fills at once.
    OneWorker,
    /// Default flags over a docroot with the file-semantics fixtures
    /// ([`semantics::write_fixtures`]).
    Files,
    /// The fixtures with the optional file features on: `--serve-type css`,
    /// `--inline-images`, per-extension `--cache-control`, `--dir-listing`,
    /// `--no-gzip` and `--max-ranges 2`.
    Flags,
    /// The fixtures with `--no-precompressed`.
    NoPrecompressed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "main",
            Kind::Short => "short",
            Kind::TwoWorkers => "two-workers",
            Kind::OneWorker => "one-worker",
            Kind::Files => "files",
            Kind::Flags => "flags",
            Kind::NoPrecompressed => "no-precompressed",
        }
    }

    /// Writes what this kind's docroot holds beyond `resources/`.
    fn fixtures(self) -> Option<Fixtures> {
        match self {
            Kind::Files | Kind::Flags | Kind::NoPrecompressed => Some(semantics::write_fixtures),
            Kind::Main | Kind::Short | Kind::TwoWorkers | Kind::OneWorker => None,
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Kind::Main => &[],
            Kind::Short => &[
                "--header-timeout",
                "1s",
                "--idle-timeout",
                "1s",
                "--max-requests",
                "5",
                "--max-body",
                "4096",
                "--allowed-host",
                "www.example.com",
                "--max-head",
                "2048",
            ],
            Kind::TwoWorkers => &["--threads", "2", "--queue", "50", "--allowed-host", "*"],
            Kind::OneWorker => &[
                "--threads",
                "1",
                "--queue",
                "1",
                "--test-stall-path",
                "/queue-hold",
            ],
            Kind::Files => &[],
            Kind::Flags => &[
                "--serve-type",
                "css",
                "--inline-images",
                "--cache-control",
                "png=no-store",
                "--cache-control",
                "*=max-age=60",
                "--dir-listing",
                "--no-gzip",
                "--max-ranges",
                "2",
            ],
            Kind::NoPrecompressed => &["--no-precompressed"],
        }
    }
}

/// What every scenario gets: paths and the lazily started shared servers.
pub struct Ctx {
    /// Where things are.
    pub paths: Paths,
    /// This run's temporary directory (`target/e2e/tmp/run-...`).
    pub run_dir: PathBuf,
    main: OnceCell<Result<Server, String>>,
    short: OnceCell<Result<Server, String>>,
    two_workers: OnceCell<Result<Server, String>>,
    one_worker: OnceCell<Result<Server, String>>,
    files: OnceCell<Result<Server, String>>,
    flags: OnceCell<Result<Server, String>>,
    no_precompressed: OnceCell<Result<Server, String>>,
}

impl Ctx {
    fn new(paths: Paths, run_dir: PathBuf) -> Ctx {
        Ctx {
            paths,
            run_dir,
            main: OnceCell::new(),
            short: OnceCell::new(),
            two_workers: OnceCell::new(),
            one_worker: OnceCell::new(),
            files: OnceCell::new(),
            flags: OnceCell::new(),
            no_precompressed: OnceCell::new(),
        }
    }

    /// Returns the shared server of `kind`, starting it on first use.
    pub fn server(&self, kind: Kind) -> Result<&Server, String> {
        let cell = match kind {
            Kind::Main => &self.main,
            Kind::Short => &self.short,
            Kind::TwoWorkers => &self.two_workers,
            Kind::OneWorker => &self.one_worker,
            Kind::Files => &self.files,
            Kind::Flags => &self.flags,
            Kind::NoPrecompressed => &self.no_precompressed,
        };
        let first_try = cell.get().is_none();
        cell.get_or_init(|| self.start_with(kind.name(), kind.flags(), kind.fixtures()))
            .as_ref()
            .map_err(|e| {
                if first_try {
                    format!("server {:?} did not start: {e}", kind.name())
                } else {
                    format!("server {:?} did not start (see above)", kind.name())
                }
            })
    }

    /// Starts a private server `name` with `--root <fresh copy>` and `flags`.
    pub fn start(&self, name: &str, flags: &[&str]) -> Result<Server, String> {
        self.start_with(name, flags, None)
    }

    /// Like [`Ctx::start`], writing `fixtures` into the docroot first.
    fn start_with(
        &self,
        name: &str,
        flags: &[&str],
        fixtures: Option<Fixtures>,
    ) -> Result<Server, String> {
        let root = self.fresh_root(name)?;
        if let Some(write) = fixtures {
            write(&root).map_err(|e| format!("fixtures of {name}: {e}"))?;
        }
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--root".into(),
            root.display().to_string(),
            "--log-level".into(),
            "debug".into(),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        self.spawn(name, &args, root)
    }

    /// Starts a server `name` with exactly `args`, serving `root`.
    pub fn spawn(&self, name: &str, args: &[String], root: PathBuf) -> Result<Server, String> {
        Server::spawn(&self.paths, name, args, root)
    }

    /// Copies `resources/` to a new directory of this run and returns it.
    pub fn fresh_root(&self, name: &str) -> Result<PathBuf, String> {
        let root = self.run_dir.join(name).join("root");
        if root.exists() {
            return Err(format!("{} already exists", root.display()));
        }
        copy_dir(&self.paths.resources, &root)
            .map_err(|e| format!("copy resources to {}: {e}", root.display()))?;
        fs::create_dir_all(root.join("uploads")).map_err(|e| format!("create uploads: {e}"))?;
        Ok(root)
    }

    /// Runs the binary with `args` and waits (at most 5 s) for it to exit.
    pub fn run_cli(&self, args: &[&str]) -> Result<CliOutput, String> {
        let mut child = Command::new(&self.paths.binary)
            .args(args)
            .current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.paths.binary.display()))?;
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        let status = wait_bounded(&mut child, CLI_TIMEOUT);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = CliOutput {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        match out.status {
            Some(_) => Ok(out),
            None => Err(format!(
                "httpd {args:?} did not exit within {CLI_TIMEOUT:?} (stderr: {:?})",
                out.stderr
            )),
        }
    }
}

/// What a CLI invocation printed and how it ended.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status (`None` only inside [`Ctx::run_cli`]).
    pub status: Option<ExitStatus>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl CliOutput {
    /// Returns the exit code, or -1 when killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.and_then(|s| s.code()).unwrap_or(-1)
    }
}

/// A running `httpd` process; killed and reaped on drop.
pub struct Server {
    /// The address from the listening line.
    pub addr: SocketAddr,
    /// The docroot it serves (a private copy of `resources/`).
    pub root: PathBuf,
    /// `target/e2e/NAME.log`: the server's stderr.
    pub log_path: PathBuf,
    /// `target/e2e/NAME.access.log`: the server's stdout after the listening line.
    pub access_path: PathBuf,
    // The child must be killed before the drain thread is joined: the thread
    // ends when the child's stdout closes.
    child: Child,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    fn spawn(paths: &Paths, name: &str, args: &[String], root: PathBuf) -> Result<Server, String> {
        fs::create_dir_all(&paths.e2e_dir).map_err(|e| format!("create target/e2e: {e}"))?;
        let log_path = paths.e2e_dir.join(format!("{name}.log"));
        let access_path = paths.e2e_dir.join(format!("{name}.access.log"));
        let log_file = fs::File::create(&log_path)
            .map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let mut access_file = fs::File::create(&access_path)
            .map_err(|e| format!("create {}: {e}", access_path.display()))?;
        let mut child = Command::new(&paths.binary)
            .args(args)
            .current_dir(root.parent().unwrap_or(&root))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", paths.binary.display()))?;

        // Keep draining stdout for the whole life of the server, or it
        // blocks once the pipe is full of access-log lines.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_tx, line_rx) = mpsc::channel::<String>();
        let drain = thread::Builder::new()
            .name(format!("e2e-drain-{name}"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut first = Vec::new();
                if reader.read_until(b'\n', &mut first).unwrap_or(0) == 0 {
                    return;
                }
                let _ = line_tx.send(String::from_utf8_lossy(&first).trim().to_string());
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let _ = access_file.write_all(&line);
                            let _ = access_file.flush();
                        }
                    }
                }
            })
            .map_err(|e| format!("spawn drain thread: {e}"))?;

        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            log_path,
            access_path,
            child,
            drain: Some(drain),
        };
        let line = match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let exit = wait_bounded(&mut server.child, Duration::from_secs(2));
                return Err(format!(
                    "exited ({}) before printing its listening line; stderr starts: {}",
                    exit.map_or("still running".to_string(), |s| s.to_string()),
                    head(&server.log_path, 300)
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no listening line within {STARTUP_TIMEOUT:?}; stderr starts: {}",
                    head(&server.log_path, 300)
                ));
            }
        };
        server.addr = line
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first stdout line {line:?}"))?;
        Ok(server)
    }

    /// Returns the port, for `Host` headers.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_bounded(&mut self.child, limit)
    }

    /// Polls the stderr log until it contains `needle` (at most `limit`).
    pub fn log_contains(&self, needle: &str, limit: Duration) -> bool {
        file_contains(&self.log_path, needle, limit)
    }

    /// Polls the access log (stdout) until it contains `needle`.
    pub fn access_contains(&self, needle: &str, limit: Duration) -> bool {
        file_contains(&self.access_path, needle, limit)
    }

    /// Lists the file names in `<root>/uploads`, sorted, without `.gitkeep`.
    pub fn uploads(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join("uploads"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".gitkeep")
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Returns the last bytes of the stderr log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path, 600)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

/// Polls `path` every 50 ms until it contains `needle` or `limit` passes.
pub fn file_contains(path: &Path, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(bytes) = fs::read(path) {
            if String::from_utf8_lossy(&bytes).contains(needle) {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn build(workspace: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("e2e: building httpd-cli (release)");
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "httpd-cli"])
        .current_dir(workspace)
        .status()
        .map_err(|e| format!("cannot run {cargo:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build --release -p httpd-cli failed: {status}"
        ))
    }
}

/// Removes run directories (kept by failed runs) older than [`STALE_RUN_AGE`];
/// younger ones may belong to a run still going on.
fn remove_stale_runs(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_RUN_AGE);
        if stale && entry.file_name().to_string_lossy().starts_with("run-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn make_run_dir(e2e_dir: &Path) -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = e2e_dir
        .join("tmp")
        .join(format!("run-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn head(path: &Path, n_bytes: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut end = n_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}", &text[..end])
}

fn tail(path: &Path, n_bytes: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut start = text.len().saturating_sub(n_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{:?}", &text[start..])
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
