//! The one wrapper of a server process under test: httpd for the e2e
//! scenarios, the soak and the benchmark, nginx for the benchmark and the
//! balancer scenario.
//!
//! [`Server::start`] spawns a prepared [`Command`] with stdin closed and stderr
//! in [`Launch::log_path`], and waits (bounded) until the server is ready, as
//! [`Ready`] says: httpd prints `listening on http://ADDR` as its first stdout
//! line (port 0 is resolved that way), nginx is ready once its log names its
//! worker or its port accepts. httpd's later stdout lines (the access log) are
//! drained into [`Launch::access_path`] for the server's whole life, so the pipe
//! never fills. On drop the process is stopped as [`Stop`] says and reaped, and
//! children it leaves behind (nginx workers of a killed master) are killed.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::{procfs, wait_bounded};

/// How long a server may take to be ready.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How the wrapper knows that the server is ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// httpd: the first stdout line is `listening on http://ADDR`; later lines go
    /// to the access file.
    ListeningLine,
    /// The address is known; the server is ready once `needle` is in the file
    /// `log` (nginx writes `start worker process` when its worker runs).
    LogLine {
        /// Where it listens.
        addr: SocketAddr,
        /// The file to watch.
        log: PathBuf,
        /// The text to wait for.
        needle: String,
    },
    /// The address is known; the server is ready once it accepts a connection.
    Accepts(SocketAddr),
}

/// How the wrapper stops the server when dropped (or [`Server::stop`]ped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL at once (httpd: nothing to flush).
    Kill,
    /// Send the named signal (`TERM`, `QUIT`), wait up to the grace time, then
    /// SIGKILL.
    Signal(&'static str, Duration),
}

/// What [`Server::start`] needs besides the command.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Names the server in messages and drain threads.
    pub name: String,
    /// The docroot it serves.
    pub root: PathBuf,
    /// Receives stderr (and stdout, unless [`Ready::ListeningLine`]).
    pub log_path: PathBuf,
    /// Receives stdout after the listening line ([`Ready::ListeningLine`] only;
    /// otherwise not created).
    pub access_path: PathBuf,
    /// How readiness shows.
    pub ready: Ready,
    /// How to stop it.
    pub stop: Stop,
}

impl Launch {
    /// A launch of httpd named `name` serving `root`, logs in `log_dir`
    /// (`NAME.log`, `NAME.access.log`), killed on drop.
    pub fn httpd(name: &str, root: &Path, log_dir: &Path) -> Launch {
        Launch {
            name: name.to_string(),
            root: root.to_path_buf(),
            log_path: log_dir.join(format!("{name}.log")),
            access_path: log_dir.join(format!("{name}.access.log")),
            ready: Ready::ListeningLine,
            stop: Stop::Kill,
        }
    }
}

/// A running server process; stopped and reaped on drop.
pub struct Server {
    /// Where it listens (from the listening line, or as launched).
    pub addr: SocketAddr,
    /// The docroot it serves.
    pub root: PathBuf,
    /// The server's stderr.
    pub log_path: PathBuf,
    /// The server's stdout after the listening line.
    pub access_path: PathBuf,
    stop: Stop,
    // The child must be stopped before the drain thread is joined: the thread
    // ends when the child's stdout closes.
    child: Child,
    drain: Option<JoinHandle<()>>,
}

impl Server {
    /// Spawns `command` as `launch` says and waits until it is ready.
    ///
    /// # Errors
    /// When the log files cannot be created, the program cannot start, or it
    /// exits or stays unready for [`STARTUP_TIMEOUT`]; the message quotes the
    /// start of its stderr.
    pub fn start(mut command: Command, launch: Launch) -> Result<Server, String> {
        if let Some(dir) = launch.log_path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        let log_file = File::create(&launch.log_path)
            .map_err(|e| format!("create {}: {e}", launch.log_path.display()))?;
        let by_line = matches!(launch.ready, Ready::ListeningLine);
        let mut access_file = if by_line {
            Some(
                File::create(&launch.access_path)
                    .map_err(|e| format!("create {}: {e}", launch.access_path.display()))?,
            )
        } else {
            None
        };
        let stdout = if by_line {
            Stdio::piped()
        } else {
            Stdio::from(
                log_file
                    .try_clone()
                    .map_err(|e| format!("clone {}: {e}", launch.log_path.display()))?,
            )
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", command.get_program()))?;

        let (line_tx, line_rx) = mpsc::channel::<String>();
        let drain = match child.stdout.take() {
            Some(stdout) => Some(
                thread::Builder::new()
                    .name(format!("drain-{}", launch.name))
                    .spawn(move || {
                        let mut reader = BufReader::new(stdout);
                        let mut line = Vec::new();
                        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let _ = line_tx.send(String::from_utf8_lossy(&line).trim().to_string());
                        loop {
                            line.clear();
                            match reader.read_until(b'\n', &mut line) {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {
                                    if let Some(file) = access_file.as_mut() {
                                        let _ = file.write_all(&line);
                                        let _ = file.flush();
                                    }
                                }
                            }
                        }
                    })
                    .map_err(|e| format!("spawn drain thread: {e}"))?,
            ),
            None => None,
        };
        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root: launch.root,
            log_path: launch.log_path,
            access_path: launch.access_path,
            stop: launch.stop,
            child,
            drain,
        };
        server.addr = match launch.ready {
            Ready::ListeningLine => server.listening_line(&line_rx)?,
            Ready::LogLine { addr, log, needle } => {
                if !file_contains(&log, &needle, STARTUP_TIMEOUT) {
                    return Err(server.not_ready(&format!("no {needle:?} in {}", log.display())));
                }
                addr
            }
            Ready::Accepts(addr) => {
                server.wait_accepting(addr)?;
                addr
            }
        };
        Ok(server)
    }

    fn listening_line(&mut self, line_rx: &mpsc::Receiver<String>) -> Result<SocketAddr, String> {
        let line = match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let exit = wait_bounded(&mut self.child, Duration::from_secs(2));
                return Err(format!(
                    "exited ({}) before printing its listening line; stderr starts: {}",
                    exit.map_or("still running".to_string(), |s| s.to_string()),
                    head(&self.log_path, 300)
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no listening line within {STARTUP_TIMEOUT:?}; stderr starts: {}",
                    head(&self.log_path, 300)
                ));
            }
        };
        line.strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first stdout line {line:?}"))
    }

    /// Polls until `addr` accepts, the process exits, or the startup time is up.
    fn wait_accepting(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "exited at start ({status}): {}",
                    head(&self.log_path, 300)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(&format!("{addr} does not accept")));
            }
            // Polling: nothing tells when another process starts listening.
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&mut self, what: &str) -> String {
        let exit = self.child.try_wait().ok().flatten();
        format!(
            "not ready after {STARTUP_TIMEOUT:?} ({}): {what}; log starts: {}",
            exit.map_or("still running".to_string(), |s| s.to_string()),
            head(&self.log_path, 300)
        )
    }

    /// Returns the address of httpd's first TLS listener, from the
    /// `listening on https://ADDR` line it prints after the plain ones (so a
    /// `--tls-listen` on port 0 works), waiting for the line at most `limit`.
    ///
    /// # Errors
    /// When no such line shows within `limit`, or its address does not parse.
    pub fn https_addr(&self, limit: Duration) -> Result<SocketAddr, String> {
        const PREFIX: &str = "listening on https://";
        if !file_contains(&self.access_path, PREFIX, limit) {
            return Err(format!(
                "no {PREFIX:?} line within {limit:?}; stderr starts: {}",
                head(&self.log_path, 300)
            ));
        }
        let text = fs::read_to_string(&self.access_path)
            .map_err(|e| format!("read {}: {e}", self.access_path.display()))?;
        text.lines()
            .find_map(|l| l.trim().strip_prefix(PREFIX))
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unreadable {PREFIX:?} line in {text:?}"))
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

    /// Sends signal `name` (`TERM`, `INT`, `QUIT`) to the process.
    ///
    /// # Errors
    /// When `kill` cannot run or fails.
    pub fn signal(&self, name: &str) -> Result<(), String> {
        send_signal(name, self.pid())
    }

    /// Stops the process as launched ([`Stop`]) and returns how it exited; a
    /// process that already exited is only reaped.
    ///
    /// # Errors
    /// When it had to be killed after a graceful signal, or cannot be reaped.
    pub fn stop(&mut self) -> Result<ExitStatus, String> {
        let mut graceful = true;
        if self.child.try_wait().ok().flatten().is_none() {
            // Read before the process goes: children it leaves behind (nginx
            // workers of a killed master) still run the same program.
            let children = procfs::children_of(self.pid());
            let program = procfs::command_name(self.pid());
            match self.stop {
                Stop::Kill => {
                    let _ = self.child.kill();
                }
                Stop::Signal(name, grace) => {
                    let _ = self.signal(name);
                    if wait_bounded(&mut self.child, grace).is_none() {
                        graceful = false;
                        let _ = self.child.kill();
                    }
                }
            }
            let _ = self.child.wait();
            for child in children {
                if program.is_some() && procfs::command_name(child) == program {
                    let _ = send_signal("KILL", child);
                }
            }
        }
        let status = self.child.wait().map_err(|e| format!("wait: {e}"));
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        let status = status?;
        if graceful {
            Ok(status)
        } else {
            Err(format!("still running after {:?}; killed", self.stop))
        }
    }

    /// Returns the CPU time (user + system) of the process and its children
    /// (nginx: master and workers), in clock ticks; `None` once it is gone.
    pub fn cpu_ticks(&self) -> Option<u64> {
        self.sum_with_children(procfs::cpu_ticks)
    }

    /// Returns the resident memory of the process and its children, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.sum_with_children(procfs::rss_kib)
    }

    /// Returns the peak resident memory (`VmHWM`) of the process plus its
    /// children's, in KiB: an upper bound of the peak of their sum.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.sum_with_children(procfs::peak_rss_kib)
    }

    /// Returns the process id and its children's (nginx: master, then workers).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        pids.extend(procfs::children_of(self.pid()));
        pids
    }

    /// Adds up `read` over the process and its children; `None` once it is gone.
    fn sum_with_children(&self, read: fn(u32) -> Option<u64>) -> Option<u64> {
        let own = read(self.pid())?;
        let children: u64 = procfs::children_of(self.pid())
            .into_iter()
            .filter_map(read)
            .sum();
        Some(own + children)
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
        let _ = self.stop();
    }
}

/// Returns httpd's arguments for a loopback listener on port 0 serving `root`
/// at `log_level`, followed by `flags`.
pub fn httpd_args(root: &Path, log_level: &str, flags: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        root.display().to_string(),
        "--log-level".into(),
        log_level.into(),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    args
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
        // Polling the file is waiting for the line to be written; no inotify in std.
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sends signal `name` to process `pid` with `kill`.
///
/// # Errors
/// When `kill` cannot run or fails (no such process).
pub fn send_signal(name: &str, pid: u32) -> Result<(), String> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{name} {pid}: {status}"))
    }
}

/// Returns the first `n_bytes` of a file, quoted, for messages.
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

/// Returns the last `n_bytes` of a file, quoted, for messages.
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
