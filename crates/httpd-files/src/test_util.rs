//! Test helpers: unique temporary directories removed on drop, a loopback socket,
//! running code as an unprivileged user, and reporting a test that cannot check what
//! it claims on this machine.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed with its contents on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `httpd-files-<pid>-<n>` under [`std::env::temp_dir`].
    pub(crate) fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("httpd-files-{}-{n}", process::id()));
        // A leftover from an earlier run with the same pid would break the test.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir { path }
    }

    /// Returns the directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates `rel` (and its parents) holding `contents`; returns its path.
    pub(crate) fn write(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&path, contents).expect("write fixture");
        path
    }

    /// Creates the directory `rel` (and its parents); returns its path.
    pub(crate) fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path.join(rel);
        fs::create_dir_all(&path).expect("create dir");
        path
    }

    /// Creates the FIFO `rel`; returns its path.
    pub(crate) fn mkfifo(&self, rel: &str) -> PathBuf {
        use rustix::fs::{FileType, Mode};
        let path = self.path.join(rel);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .expect("create fifo");
        path
    }

    /// Creates a symbolic link `rel` whose text is `target`.
    pub(crate) fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.path.join(rel)).expect("create symlink");
    }

    /// Lists the names of the entries in `rel`, sorted.
    pub(crate) fn names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path.join(rel))
            .expect("read dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

/// Waits (bounded) until the clock the filesystem takes ctimes from has moved
/// past `path`'s ctime, so that the next change of `path` gives it a later one:
/// ctimes come from a clock that ticks every few milliseconds, and two changes
/// within one tick would otherwise share a ctime.
pub(crate) fn wait_for_a_later_ctime(path: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(path).unwrap();
    let seen = (meta.ctime(), meta.ctime_nsec());
    let probe = path.with_extension("ctime-probe");
    fs::write(&probe, b"").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for mode in [0o600, 0o644].into_iter().cycle() {
        // A chmod sets the probe's ctime to the clock's current value.
        fs::set_permissions(&probe, fs::Permissions::from_mode(mode)).unwrap();
        let now = fs::metadata(&probe).unwrap();
        if (now.ctime(), now.ctime_nsec()) > seen {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ctime never moves");
        std::thread::yield_now();
    }
    fs::remove_file(&probe).unwrap();
}

/// Sends through `send` on a loopback socket and returns what the peer read.
pub(crate) fn through_socket(
    send: impl FnOnce(BorrowedFd<'_>) -> io::Result<u64>,
) -> (io::Result<u64>, Vec<u8>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    let (socket, _) = listener.accept().unwrap();
    let result = send(socket.as_fd());
    drop(socket);
    (result, reader.join().unwrap())
}

/// The environment variable that turns a [`skip`] into a failure; CI sets it to `1`.
pub(crate) const STRICT_VAR: &str = "HTTPD_STRICT";

/// Reports that the test `test` cannot check what its name claims here, because of
/// `reason` (a missing facility of this machine, not a failure of the code); the
/// caller returns at once after it.
///
/// Under `HTTPD_STRICT=1` it panics, so the run fails. Otherwise it writes
/// `SKIP: <test>: <reason>` straight to the process's standard error, past the test
/// harness's output capture, so the line shows in the output of every run, passing or
/// not (cargo's summary counts only passed, failed and ignored tests).
pub(crate) fn skip(test: &str, reason: &str) {
    if std::env::var_os(STRICT_VAR).is_some_and(|v| v == "1") {
        panic!("{test} cannot run here and {STRICT_VAR}=1: {reason}");
    }
    let _ = writeln!(io::stderr().lock(), "SKIP: {test}: {reason}");
}

/// Runs `f` on a thread of its own whose user and groups are those of `nobody`
/// (65534), when this process runs as root; otherwise runs it on a new thread as is.
///
/// Root reads every file whatever its mode, so a test of a permission error must drop
/// that privilege to mean anything. Only the new thread changes identity: the raw
/// `setresuid(2)` system call acts on the calling thread alone. Returns `None` if the
/// identity could not be changed (a user namespace without that user, say).
pub(crate) fn as_unprivileged<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

    std::thread::spawn(move || {
        if rustix::process::geteuid().is_root() {
            // 65534 is `nobody` on Linux distributions.
            let (uid, gid) = (Uid::from_raw(65534), Gid::from_raw(65534));
            set_thread_groups(&[]).ok()?;
            set_thread_res_gid(gid, gid, gid).ok()?;
            set_thread_res_uid(uid, uid, uid).ok()?;
        }
        Some(f())
    })
    .join()
    .expect("the unprivileged thread panicked")
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
