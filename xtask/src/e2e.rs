//! `cargo xtask e2e`: runs the release `httpd` binary over loopback and drives
//! end-to-end scenarios against it.
//!
//! This module owns the harness: building the binary, the per-run temporary
//! directory, the shared servers, running the selected scenarios and printing
//! the report. The scenarios are listed in `e2e/scenarios.rs`, one module per
//! area beside it; the HTTP client and the server-process wrapper are the
//! shared ones of `common/` ([`crate::common::client`],
//! [`crate::common::server`]).
//!
//! Servers are started lazily, the first time a selected scenario asks for
//! one, and shared by every scenario that needs the same flags.
//!
//! A scenario passes (`ok   NAME`), fails (`FAIL NAME: reason`) or, when a
//! tool it needs is missing, is skipped (`SKIP: TOOL missing (NAME)`, from an `Err`
//! made by [`skip`]). The closing line is `N passed, N failed`, followed by
//! `, N skipped` when some were; then one `failed: NAME` line per failed
//! scenario (and, with `--strict`, one `skipped: NAME` line per skipped one),
//! so a CI log shows them at a glance. Failures make the run fail; with
//! `--strict`, skips do too.

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
mod checks;
mod cli;
mod conn;
mod log;
mod methods;
mod pool;
mod promtool;
mod protocol;
mod redbot;
mod scenarios;
mod seed;
mod semantics;
mod site;
mod slow;
mod tls;
mod upload;

use std::cell::OnceCell;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) use crate::common::server::Server;
use crate::common::server::{Launch, file_contains, httpd_args};
use crate::common::{self, client, copy_dir};
pub(crate) use crate::common::{collect, wait_bounded};

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

/// What `cargo xtask e2e` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep only scenarios whose name contains this.
    pub filter: Option<String>,
    /// A skipped scenario fails the run.
    pub strict: bool,
    /// Print the selected scenario names and run nothing.
    pub list: bool,
}

impl Options {
    /// Parses the words after `e2e`: `[--strict] [--list] [FILTER]`, in any order.
    ///
    /// # Errors
    /// An unknown `--flag` or a second FILTER.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options::default();
        for arg in args {
            match arg.as_str() {
                "--strict" => opts.strict = true,
                "--list" => opts.list = true,
                flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
                filter if opts.filter.is_none() => opts.filter = Some(filter.to_string()),
                extra => return Err(format!("a second FILTER {extra:?}")),
            }
        }
        Ok(opts)
    }
}

/// Builds the binary, runs the scenarios `opts` selects, and reports. Returns
/// failure when the build or any scenario failed (or, with `--strict`, was
/// skipped).
pub fn run(opts: &Options) -> ExitCode {
    let selected: Vec<scenarios::Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| opts.filter.as_deref().is_none_or(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!(
            "e2e: no scenario matches {:?}",
            opts.filter.as_deref().unwrap_or("")
        );
        return ExitCode::FAILURE;
    }
    if opts.list {
        for scenario in &selected {
            println!("{}", scenario.name);
        }
        return ExitCode::SUCCESS;
    }
    let paths = Paths::discover();
    eprintln!("e2e: building httpd-cli (release)");
    if let Err(e) = common::build_httpd(&paths.workspace) {
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
    let (mut n_passed, mut failed, mut skipped) = (0, Vec::new(), Vec::new());
    for scenario in &selected {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (scenario.run)(&ctx)))
            .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(&payload))));
        match outcome {
            Ok(()) => {
                n_passed += 1;
                println!("ok   {}", scenario.name);
            }
            Err(reason) if reason.starts_with(SKIPPED) => {
                // `SKIP: <tool> missing`, then which scenario it concerns.
                println!("{reason} ({})", scenario.name);
                skipped.push(scenario.name.as_str());
            }
            Err(reason) => {
                println!("FAIL {}: {reason}", scenario.name);
                failed.push(scenario.name.as_str());
            }
        }
    }
    // Stop the servers before cleaning up their docroots.
    drop(ctx);
    if failed.is_empty() {
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
    print!(
        "{}",
        closing_lines(n_passed, &failed, &skipped, opts.strict)
    );
    if failed.is_empty() && (skipped.is_empty() || !opts.strict) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The report's last lines: `N passed, N failed[, N skipped]`, then the name of
/// every failed scenario and, under `--strict`, of every skipped one.
fn closing_lines(n_passed: usize, failed: &[&str], skipped: &[&str], strict: bool) -> String {
    let mut out = format!("{n_passed} passed, {} failed", failed.len());
    if !skipped.is_empty() {
        out.push_str(&format!(", {} skipped", skipped.len()));
    }
    out.push('\n');
    for name in failed {
        out.push_str(&format!("failed: {name}\n"));
    }
    if strict {
        for name in skipped {
            out.push_str(&format!(
                "skipped: {name} (--strict: a skip fails the run)\n"
            ));
        }
    }
    out
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
        let args = httpd_args(&root, "debug", flags);
        self.spawn(name, &args, root)
    }

    /// Starts a server `name` with exactly `args`, serving `root`; its logs go to
    /// `target/e2e/NAME.log` (stderr) and `NAME.access.log` (stdout).
    pub fn spawn(&self, name: &str, args: &[String], root: PathBuf) -> Result<Server, String> {
        let mut command = Command::new(&self.paths.binary);
        command
            .args(args)
            .current_dir(root.parent().unwrap_or(&root));
        Server::start(command, Launch::httpd(name, &root, &self.paths.e2e_dir))
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

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_take_flags_and_one_filter_in_any_order() {
        let opts = Options::parse(&words("upload/ --strict")).unwrap();
        assert_eq!(
            opts,
            Options {
                filter: Some("upload/".to_string()),
                strict: true,
                list: false
            }
        );
        assert_eq!(
            Options::parse(&words("--list")).unwrap(),
            Options {
                list: true,
                ..Options::default()
            }
        );
        assert!(Options::parse(&words("--bogus")).is_err());
        assert!(Options::parse(&words("a b")).is_err());
    }

    #[test]
    fn closing_lines_name_failures_and_strict_skips() {
        assert_eq!(closing_lines(3, &[], &[], true), "3 passed, 0 failed\n");
        assert_eq!(
            closing_lines(1, &["a/x"], &["b/y"], false),
            "1 passed, 1 failed, 1 skipped\nfailed: a/x\n"
        );
        assert_eq!(
            closing_lines(0, &[], &["b/y"], true),
            "0 passed, 0 failed, 1 skipped\nskipped: b/y (--strict: a skip fails the run)\n"
        );
    }
}
