//! What the tasks share: where the workspace and its build output live, and small
//! helpers for the child processes they run.

use std::fs;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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
