//! What the tasks share: where the workspace and its build output live, the one
//! HTTP client ([`client`], with its TLS transport in [`tls`] and test
//! certificates in [`certs`]), the one server-process wrapper ([`server`]), what
//! `/proc` says about a process ([`procfs`]), and small helpers for the child
//! processes and tools the tasks run.

pub mod certs;
pub mod client;
pub mod procfs;
pub mod server;
pub mod tls;

use std::fs;
use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long building the release binary may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Returns the workspace root (the parent of `xtask/`).
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives inside the workspace")
        .to_path_buf()
}

/// Returns cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace when
/// relative) or `target/`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"))
}

/// Returns the path of the release `httpd` binary under `target`.
pub fn release_binary(target: &Path) -> PathBuf {
    target
        .join("release")
        .join(format!("httpd{}", std::env::consts::EXE_SUFFIX))
}

/// Waits for `child` to exit, at most `limit`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            // Polling a child's exit: std has no wait with a timeout.
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Reads a child's pipe to its end on a thread, so the child never blocks on it.
pub fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Copies the directory tree `src` to `dst`.
pub fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Runs `command` with its output appended to `log`, for at most `limit`.
///
/// # Errors
/// A message naming the command when it cannot start, fails, or outlives `limit`.
pub fn run_logged(command: &mut Command, log: &File, limit: Duration) -> Result<(), String> {
    let out = log.try_clone().map_err(|e| format!("log: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("log: {e}"))?;
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    match wait_bounded(&mut child, limit) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{what}: exit {status}")),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{what}: still running after {limit:?}"))
        }
    }
}

/// What a program run by [`run_captured`] printed and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// Why writing its stdin failed, if it did (it may exit before reading all).
    pub stdin_error: Option<String>,
}

/// Runs `command` with `stdin` written to it on a thread of its own (or stdin
/// closed), its stdout and stderr collected, for at most `limit`.
///
/// # Errors
/// When it cannot start, or is still running after `limit` (it is killed).
pub fn run_captured(
    mut command: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
) -> Result<Captured, String> {
    let what = format!("{:?}", command.get_program());
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {what}: {e}"))?;
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    // A separate writer: the program may print before it has read everything.
    let writer = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(thread::spawn(move || {
            use std::io::Write;
            pipe.write_all(&bytes).map_err(|e| e.to_string())
        })),
        _ => None,
    };
    let status = wait_bounded(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdin_error = writer.and_then(|w| match w.join() {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some("stdin writer panicked".to_string()),
    });
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    let status = status.ok_or_else(|| format!("{what} still running after {limit:?}"))?;
    Ok(Captured {
        status,
        stdout,
        stderr,
        stdin_error,
    })
}

/// Builds the release `httpd` binary with `$CARGO build --release -p httpd-cli` in
/// `workspace` (output to the terminal), bounded by [`BUILD_TIMEOUT`].
///
/// # Errors
/// When cargo cannot run, fails or takes too long.
pub fn build_httpd(workspace: &Path) -> Result<(), String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["build", "--release", "-p", "httpd-cli"];
    let mut child = Command::new(&program)
        .args(args)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    match wait_bounded(&mut child, BUILD_TIMEOUT) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("cargo {} failed: {status}", args.join(" "))),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "cargo {} took over {BUILD_TIMEOUT:?}",
                args.join(" ")
            ))
        }
    }
}

/// Looks for an executable `name` in `PATH` and the sbin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Tells whether this process runs as root (effective user id 0).
pub fn is_root() -> bool {
    // The second field of `Uid:` is the effective user id.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs `apt-get args` non-interactively with its output appended to `log`, for
/// at most `limit`, with a temporary `/usr/sbin/policy-rc.d` (when there is none)
/// so that no package starts a service (nginx on port 80).
///
/// # Errors
/// When apt-get fails or outlives `limit`.
pub fn apt_get(args: &[&str], log: &File, limit: Duration) -> Result<(), String> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let made_policy = !policy.exists() && write_policy_rc_d(policy).is_ok();
    let result = run_logged(
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        log,
        limit,
    );
    if made_policy {
        let _ = fs::remove_file(policy);
    }
    result
}

fn write_policy_rc_d(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(
        path,
        "#!/bin/sh\n# Written by cargo xtask during apt-get install.\nexit 101\n",
    )?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// Raises this process's soft open-file limit to `wanted` (and the hard limit
/// with it when that is lower and this process runs as root) with util-linux's
/// `prlimit --pid`: std has no `setrlimit`, and xtask keeps to std rather than
/// take the `rlimit` crate (STYLE: xtask is std + serde_json, plus the TLS
/// client's crates). Returns the soft limit in force afterwards.
///
/// # Errors
/// When `/proc/self/limits` cannot be read, or the limit is still below `wanted`
/// (no `prlimit`, or not allowed to raise the hard limit); the message names the
/// limit in force.
pub fn raise_nofile(wanted: u64) -> Result<u64, String> {
    let (soft, hard) = nofile_limits().ok_or("cannot read /proc/self/limits")?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE, which root in a container may
    // lack: then settle for the hard limit.
    let mut tries = Vec::new();
    if hard >= wanted || is_root() {
        tries.push(format!("{wanted}:{}", hard.max(wanted)));
    }
    if hard > soft {
        tries.push(format!("{}:", hard.min(wanted)));
    }
    let mut why = format!("the hard limit is {hard}");
    for limits in tries {
        let ran = Command::new("prlimit")
            .args([
                "--pid",
                &std::process::id().to_string(),
                &format!("--nofile={limits}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match ran {
            Ok(out) if !out.status.success() => {
                why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            }
            Ok(_) => {}
            Err(e) => why = format!("prlimit: {e}"),
        }
        let (soft, _) = nofile_limits().ok_or("cannot read /proc/self/limits")?;
        if soft >= wanted {
            return Ok(soft);
        }
    }
    let (soft, _) = nofile_limits().ok_or("cannot read /proc/self/limits")?;
    Err(format!("open-file limit {soft} < {wanted} ({why})"))
}

/// Returns this process's soft and hard open-file limits (`u64::MAX` for unlimited).
fn nofile_limits() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line.split_whitespace().skip(3);
    let mut next = || match fields.next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((next()?, next()?))
}

/// Returns a loopback port that was free a moment ago.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))
}

/// Counts the stored uploads (`upload_*.json`) and the temporary upload files
/// (`.upload-*.tmp`) in `dir`.
pub fn count_upload_files(dir: &Path) -> (usize, usize) {
    let (mut n_final, mut n_temp) = (0, 0);
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("upload_") && name.ends_with(".json") {
            n_final += 1;
        } else if name.starts_with(".upload-") && name.ends_with(".tmp") {
            n_temp += 1;
        }
    }
    (n_final, n_temp)
}
