//! Test helpers: unique temporary directories removed on drop, and a loopback socket.

use std::fs;
use std::io::{self, Read};
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

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
