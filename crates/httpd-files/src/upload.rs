//! Receiving JSON uploads into a directory without ever exposing a partial file.
//!
//! A body is written to a hidden temporary file (`.upload-<16 hex>.tmp`, created
//! exclusively), validated as one JSON value, synced, and then published under its
//! final name with a hard link, which fails instead of replacing an existing file.
//! So a name that exists always holds a complete, valid upload, and two uploads in
//! the same second never overwrite each other.
//!
//! Several processes may share one upload directory (two backends over one docroot).
//! Each holds an exclusive advisory lock (`flock(2)`) on every temporary file it is
//! writing, for as long as the file is open; the lock goes with the process, however
//! it ends. [`UploadStore::remove_stale_temps`] removes only temporary files it can
//! lock itself, so a starting process never removes another one's upload in progress,
//! only what a process that is gone left behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use serde::de::IgnoredAny;

use crate::error::{ErrorKind, ServeError};
use crate::random::random_u64;

/// Prefix of the temporary files that receive upload bodies.
pub const TEMP_PREFIX: &str = ".upload-";

/// Suffix of the temporary files that receive upload bodies.
pub const TEMP_SUFFIX: &str = ".tmp";

/// How many temporary names [`UploadStore::begin`] tries before giving up.
const TEMP_ATTEMPTS: usize = 16;

/// How many 4-digit suffixes [`PendingUpload::commit`] tries for one second before it
/// falls back to 8 digits (and as many tries again).
const NAME_ATTEMPTS: usize = 64;

/// `ENOSPC`: no space left on the device (std's `StorageFull`).
#[cfg(unix)]
const ENOSPC: i32 = 28;
/// `EFBIG`: the file exceeds a size limit (std's `FileTooLarge`), mapped to `StorageFull`.
#[cfg(unix)]
const EFBIG: i32 = 27;
/// `EDQUOT`: a disk quota is exhausted (std's `QuotaExceeded`), mapped to `StorageFull`.
/// Its number differs between systems; elsewhere it falls back to `ENOSPC`.
#[cfg(target_os = "linux")]
const EDQUOT: i32 = 122;
#[cfg(all(unix, not(target_os = "linux")))]
const EDQUOT: i32 = ENOSPC;

/// Where uploads are stored: a directory and the URL prefix that names it.
///
/// The directory must exist (the seed's README asks the operator to create it).
#[derive(Clone, Debug)]
pub struct UploadStore {
    dir: PathBuf,
    url_prefix: String,
}

impl UploadStore {
    /// Stores uploads in `dir`, reported under `url_prefix` (e.g. `/uploads`).
    pub fn new(dir: &Path, url_prefix: &str) -> UploadStore {
        UploadStore {
            dir: dir.to_path_buf(),
            url_prefix: url_prefix.to_string(),
        }
    }

    /// Returns the directory uploads are stored in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the URL prefix stored uploads are reported under.
    pub fn url_prefix(&self) -> &str {
        &self.url_prefix
    }

    /// Removes temporary files that no live process is writing; returns how many.
    ///
    /// Only regular files named `.upload-*.tmp` are touched, and of those only the ones
    /// this call can lock: a file still locked belongs to an upload in progress, in this
    /// process or in another one sharing the directory, and is kept (logged at
    /// `debug`). A process that ended, even by `SIGKILL`, holds no lock, so what it left
    /// is removed. This is safe to call at any time, not only at startup. A file that
    /// cannot be removed is logged at `warn` and skipped.
    ///
    /// The locks are `flock(2)` locks: they work between processes on one machine, and
    /// over NFS where the client maps them to NFS locks (Linux does).
    ///
    /// # Errors
    /// The `io::Error` from reading the directory.
    pub fn remove_stale_temps(&self) -> Result<usize, ServeError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| store_error(&self.dir, e))?;
        let mut n_removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| store_error(&self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_temp_name(name) {
                continue;
            }
            let path = entry.path();
            match remove_if_unlocked(&path) {
                Ok(true) => n_removed += 1,
                Ok(false) => {}
                Err(e) => log::warn!("cannot remove stale upload {path:?}: {e}"),
            }
        }
        if n_removed > 0 {
            log::debug!(
                "removed {n_removed} stale upload temp files from {:?}",
                self.dir
            );
        }
        Ok(n_removed)
    }

    /// Creates a new temporary file in the upload directory to receive a body, locked
    /// against [`remove_stale_temps`](Self::remove_stale_temps) of any process.
    ///
    /// # Errors
    /// `StorageFull` or `Io`.
    pub fn begin(&self) -> Result<PendingUpload, ServeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let temp_path = self
                .dir
                .join(format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", random_u64()));
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temp_path);
            let retry = match opened {
                Ok(file) => match lock_new_temp(&file) {
                    Ok(true) => {
                        return Ok(PendingUpload {
                            file,
                            temp_path,
                            temp_exists: true,
                            dir: self.dir.clone(),
                            url_prefix: self.url_prefix.clone(),
                            n_bytes: 0,
                        });
                    }
                    // Another process's cleanup took the file before the lock did:
                    // it is being removed, so start over under a new name.
                    Ok(false) => io::Error::from(io::ErrorKind::AlreadyExists),
                    Err(e) => return Err(store_error(&temp_path, e)),
                },
                Err(e) => e,
            };
            if retry.kind() != io::ErrorKind::AlreadyExists || attempt >= TEMP_ATTEMPTS {
                return Err(store_error(&temp_path, retry));
            }
        }
    }
}

/// Takes the lock of a temporary file just created; `Ok(false)` if a cleanup in
/// another process got to it first (it holds the lock, or already removed the file).
fn lock_new_temp(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    // A cleanup may have locked, removed and released it between our create and lock.
    Ok(file.metadata()?.nlink() > 0)
}

/// Removes the temporary file at `path` if no process holds its lock; tells whether it
/// did. Links, directories and other non-regular files are left alone.
fn remove_if_unlocked(path: &Path) -> io::Result<bool> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // A link (`O_NOFOLLOW`), or gone meanwhile (its upload finished).
        Err(Errno::LOOP | Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            log::debug!("keeping {path:?}: an upload in progress holds it");
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    // Remove the name only if it is still the file we hold locked.
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    fs::remove_file(path)?;
    // The lock is released when `file` closes, after the name is gone.
    drop(file);
    Ok(true)
}

/// An upload being received; removed on drop unless committed.
///
/// Write the body with [`io::Write`], then call [`commit`](Self::commit). A write that
/// fails because the disk is full returns an `io::Error` of kind
/// [`io::ErrorKind::StorageFull`]; hand it to [`abort`](Self::abort) to get the
/// matching [`ServeError`].
#[derive(Debug)]
pub struct PendingUpload {
    /// The temporary file, opened for reading and writing.
    file: File,
    temp_path: PathBuf,
    /// True while `temp_path` is ours to remove; `Drop` removes it then.
    temp_exists: bool,
    dir: PathBuf,
    url_prefix: String,
    n_bytes: u64,
}

impl io::Write for PendingUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf).map_err(recognise_full)?;
        self.n_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(recognise_full)
    }
}

impl PendingUpload {
    /// Returns how many body bytes were written so far.
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }

    /// Discards the upload after `err` ended it (a failed write or read of the body)
    /// and returns the error to report: `StorageFull` when the disk or a size limit is
    /// full (logged at `warn`), else `Io`. The temporary file is removed.
    pub fn abort(self, err: io::Error) -> ServeError {
        let err = store_error(&self.temp_path, err);
        if err.kind() == ErrorKind::StorageFull {
            log::warn!("upload storage full in {:?}", self.dir);
        }
        err
    }

    /// Validates the received bytes as JSON, syncs them to disk and moves them to a new,
    /// unique `upload_YYYYMMDD_HHMMSS_XXXX.json` (UTC, 4 random hex digits), then syncs
    /// the directory. The final name never holds a partial file.
    ///
    /// The body must be exactly one JSON value; whitespace around it is fine. If 64
    /// random suffixes are taken within the same second, 8 hex digits are used instead.
    /// A failure to remove the temporary file or to sync the directory after the file
    /// is published is logged at `warn` but does not fail the upload.
    ///
    /// # Errors
    /// `InvalidJson` (nothing is kept), `StorageFull` or `Io`.
    pub fn commit(mut self) -> Result<StoredUpload, ServeError> {
        let result = self.publish();
        if let Err(e) = &result {
            if e.kind() == ErrorKind::StorageFull {
                log::warn!("upload storage full in {:?}", self.dir);
            }
        }
        // On error, dropping `self` removes the temporary file.
        result
    }

    fn publish(&mut self) -> Result<StoredUpload, ServeError> {
        let temp = self.temp_path.clone();
        self.file
            .flush()
            .and_then(|()| self.file.seek(SeekFrom::Start(0)))
            .map_err(|e| store_error(&temp, e))?;
        if let Err(e) = serde_json::from_reader::<_, IgnoredAny>(BufReader::new(&self.file)) {
            return Err(if e.is_io() {
                store_error(&temp, io::Error::from(e))
            } else {
                ServeError::with_source(&temp, ErrorKind::InvalidJson, io::Error::other(e))
            });
        }
        self.file.sync_all().map_err(|e| store_error(&temp, e))?;

        let stamp = utc_stamp(SystemTime::now());
        let mut attempt = 0;
        let (name, path) = loop {
            let suffix = if attempt < NAME_ATTEMPTS {
                format!("{:04x}", random_u64() & 0xffff)
            } else {
                format!("{:08x}", random_u64() & 0xffff_ffff)
            };
            attempt += 1;
            let name = format!("upload_{stamp}_{suffix}.json");
            let path = self.dir.join(&name);
            match fs::hard_link(&temp, &path) {
                Ok(()) => break (name, path),
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists && attempt < 2 * NAME_ATTEMPTS => {}
                Err(e) => return Err(store_error(&path, e)),
            }
        };

        // The upload is published; what follows only tidies up.
        match fs::remove_file(&temp) {
            Ok(()) => self.temp_exists = false,
            Err(e) => log::warn!("cannot remove upload temp file {temp:?}: {e}"),
        }
        if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
            log::warn!("cannot sync upload directory {:?}: {e}", self.dir);
        }
        log::debug!("stored upload {name} ({} bytes)", self.n_bytes);
        Ok(StoredUpload {
            path,
            url_path: format!("{}/{name}", self.url_prefix),
        })
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if self.temp_exists {
            if let Err(e) = fs::remove_file(&self.temp_path) {
                log::warn!("cannot remove upload temp file {:?}: {e}", self.temp_path);
            }
        }
    }
}

/// A stored upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUpload {
    path: PathBuf,
    url_path: String,
}

impl StoredUpload {
    /// Returns the file's path on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns its URL path, e.g. `/uploads/upload_20240315_123456_a7b9.json`.
    pub fn url_path(&self) -> &str {
        &self.url_path
    }
}

/// Tells whether `name` has the shape of an upload temporary file.
fn is_temp_name(name: &str) -> bool {
    name.len() > TEMP_PREFIX.len() + TEMP_SUFFIX.len()
        && name.starts_with(TEMP_PREFIX)
        && name.ends_with(TEMP_SUFFIX)
}

/// Tells whether `err` means the disk, a quota or a file-size limit is full.
fn is_storage_full(err: &io::Error) -> bool {
    #[cfg(unix)]
    let by_code = matches!(err.raw_os_error(), Some(ENOSPC | EFBIG | EDQUOT));
    #[cfg(not(unix))]
    let by_code = false;
    err.kind() == io::ErrorKind::StorageFull || by_code
}

/// Gives every "full" error the kind `StorageFull` so callers can recognise it.
fn recognise_full(err: io::Error) -> io::Error {
    if is_storage_full(&err) && err.kind() != io::ErrorKind::StorageFull {
        io::Error::new(io::ErrorKind::StorageFull, err)
    } else {
        err
    }
}

/// Classifies an error from storing an upload.
fn store_error(path: &Path, err: io::Error) -> ServeError {
    let kind = if is_storage_full(&err) {
        ErrorKind::StorageFull
    } else {
        ErrorKind::Io
    };
    ServeError::with_source(path, kind, err)
}

/// Formats `now` in UTC as `YYYYMMDD_HHMMSS`.
fn utc_stamp(now: SystemTime) -> String {
    // humantime panics before 1970 and after 9999; a broken clock must not panic us.
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let now = now.clamp(UNIX_EPOCH, last);
    // "2024-03-15T12:34:56Z": keep the 14 digits.
    let text = humantime::format_rfc3339_seconds(now).to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let split = digits.len().saturating_sub(6);
    format!("{}_{}", &digits[..split], &digits[split..])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;
    use crate::test_util::TempDir;

    /// Matches `upload_YYYYMMDD_HHMMSS_xxxx.json` with lowercase hex.
    fn is_upload_name(name: &str) -> bool {
        let b = name.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let hex =
            |r: std::ops::Range<usize>| b[r].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        b.len() == "upload_20240315_123456_a7b9.json".len()
            && name.starts_with("upload_")
            && digits(7..15)
            && b[15] == b'_'
            && digits(16..22)
            && b[22] == b'_'
            && hex(23..27)
            && name.ends_with(".json")
    }

    fn store(dir: &TempDir) -> UploadStore {
        UploadStore::new(dir.path(), "/uploads")
    }

    fn upload(store: &UploadStore, body: &[u8]) -> Result<StoredUpload, ServeError> {
        let mut pending = store.begin()?;
        pending.write_all(body).expect("write body");
        pending.commit()
    }

    #[test]
    fn name_matcher_accepts_only_the_pattern() {
        assert!(is_upload_name("upload_20240315_123456_a7b9.json"));
        for bad in [
            "upload_20240315_123456_A7B9.json",
            "upload_2024031_1234567_a7b9.json",
            "upload_20240315_123456_a7b.json",
            "upload_20240315_123456_a7b9.txt",
            "x",
        ] {
            assert!(!is_upload_name(bad), "{bad}");
        }
    }

    #[test]
    fn utc_stamp_formats_and_clamps() {
        let t = UNIX_EPOCH + Duration::from_secs(1_710_505_896); // 2024-03-15T12:31:36Z
        assert_eq!(utc_stamp(t), "20240315_123136");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101_000000");
        let before = UNIX_EPOCH.checked_sub(Duration::from_secs(10)).unwrap();
        assert_eq!(utc_stamp(before), "19700101_000000");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(utc_stamp(far), "99991231_235959");
    }

    #[test]
    fn valid_json_is_stored_under_a_fresh_name() {
        let dir = TempDir::new();
        let body = br#"{"name": "test", "value": 123}"#;
        let stored = upload(&store(&dir), body).expect("commit");
        let name = stored
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        assert!(is_upload_name(name), "{name}");
        assert_eq!(stored.path().parent(), Some(dir.path()));
        assert_eq!(stored.url_path(), format!("/uploads/{name}"));
        assert_eq!(fs::read(stored.path()).unwrap(), body);
        assert_eq!(dir.names(""), vec![name.to_string()], "temp file removed");
    }

    #[test]
    fn json_values_of_every_shape_are_accepted() {
        let dir = TempDir::new();
        let store = store(&dir);
        for body in [
            &b"[1, 2, 3]"[..],
            b"\"text\"",
            b"42",
            b"null",
            b" \n {\"nested\": {\"a\": [true, false]}} \r\n\t",
        ] {
            upload(&store, body).unwrap_or_else(|e| panic!("{:?}: {e}", body.escape_ascii()));
        }
        assert_eq!(dir.names("").len(), 5);
    }

    #[test]
    fn invalid_json_is_refused_and_leaves_no_file() {
        let dir = TempDir::new();
        let store = store(&dir);
        for body in [
            &b""[..],
            b"   ",
            b"{",
            b"{\"a\": 1} {\"b\": 2}",
            b"{\"a\": 1} x",
            b"{'single': 'quotes'}",
            b"\xff\xfe",
            b"[1, 2,]",
        ] {
            let err = upload(&store, body).expect_err("invalid body");
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidJson,
                "{:?}",
                body.escape_ascii()
            );
            assert!(dir.names("").is_empty(), "{:?}", body.escape_ascii());
        }
    }

    #[test]
    fn deeply_nested_json_is_checked_without_overflowing_the_stack() {
        // Validation skips values iteratively, so depth costs heap, not stack.
        let dir = TempDir::new();
        let store = store(&dir);
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        upload(&store, deep.as_bytes()).expect("deep but valid");
        let unbalanced = "[".repeat(100_000) + &"]".repeat(99_999);
        let err = upload(&store, unbalanced.as_bytes()).expect_err("unbalanced");
        assert_eq!(err.kind(), ErrorKind::InvalidJson);
        assert_eq!(dir.names("").len(), 1);
    }

    #[test]
    fn dropped_pending_upload_leaves_nothing() {
        let dir = TempDir::new();
        let store = store(&dir);
        let mut pending = store.begin().expect("begin");
        pending.write_all(b"{\"half\": ").unwrap();
        assert_eq!(pending.n_bytes(), 9);
        assert_eq!(dir.names("").len(), 1);
        assert!(is_temp_name(&dir.names("")[0]));
        drop(pending);
        assert!(dir.names("").is_empty());
    }

    #[test]
    fn abort_removes_the_temp_and_classifies_the_error() {
        let dir = TempDir::new();
        let store = store(&dir);
        let full = io::Error::from_raw_os_error(ENOSPC);
        assert_eq!(
            store.begin().unwrap().abort(full).kind(),
            ErrorKind::StorageFull
        );
        let too_big = io::Error::from_raw_os_error(EFBIG);
        assert_eq!(
            store.begin().unwrap().abort(too_big).kind(),
            ErrorKind::StorageFull
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(store.begin().unwrap().abort(reset).kind(), ErrorKind::Io);
        assert!(dir.names("").is_empty());
    }

    #[test]
    fn full_errors_are_recognisable_after_mapping() {
        for code in [ENOSPC, EFBIG, EDQUOT] {
            let mapped = recognise_full(io::Error::from_raw_os_error(code));
            assert_eq!(mapped.kind(), io::ErrorKind::StorageFull, "{code}");
        }
        let other = recognise_full(io::Error::from_raw_os_error(5));
        assert_ne!(other.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let dir = TempDir::new();
        let store = UploadStore::new(&dir.path().join("absent"), "/uploads");
        let err = store.begin().expect_err("no directory");
        assert_eq!(err.kind(), ErrorKind::Io);
        let err = store.remove_stale_temps().expect_err("no directory");
        assert_eq!(err.kind(), ErrorKind::Io);
    }

    #[test]
    fn concurrent_uploads_get_distinct_complete_files() {
        const N: usize = 200;
        let dir = TempDir::new();
        let store = store(&dir);
        let barrier = Arc::new(Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let store = store.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let body = format!("{{\"upload\": {i}, \"pad\": \"{}\"}}", "x".repeat(i));
                    let mut pending = store.begin().expect("begin");
                    barrier.wait();
                    pending.write_all(body.as_bytes()).expect("write");
                    (pending.commit().expect("commit"), body)
                })
            })
            .collect();
        let mut paths = HashSet::new();
        for handle in handles {
            let (stored, body) = handle.join().expect("upload thread");
            assert_eq!(fs::read_to_string(stored.path()).unwrap(), body);
            assert!(paths.insert(stored.path().to_path_buf()), "duplicate name");
        }
        let names = dir.names("");
        assert_eq!(names.len(), N, "no temp files left, no file lost");
        assert!(names.iter().all(|n| is_upload_name(n)), "{names:?}");
    }

    #[test]
    fn remove_stale_temps_removes_only_temp_files() {
        let dir = TempDir::new();
        let store = store(&dir);
        dir.write(".upload-0123456789abcdef.tmp", b"{");
        dir.write(".upload-x.tmp", b"");
        dir.write("upload_20240315_123456_a7b9.json", b"{}");
        dir.write(
            ".upload-.tmp",
            b"not ours: nothing between prefix and suffix",
        );
        dir.write("notes.tmp", b"");
        dir.write(".upload-keep.json", b"");
        dir.mkdir(".upload-dir.tmp");
        dir.symlink("notes.tmp", ".upload-link.tmp");
        assert_eq!(store.remove_stale_temps().expect("scan"), 2);
        assert_eq!(
            dir.names(""),
            vec![
                ".upload-.tmp",
                ".upload-dir.tmp",
                ".upload-keep.json",
                ".upload-link.tmp",
                "notes.tmp",
                "upload_20240315_123456_a7b9.json",
            ]
        );
        assert_eq!(store.remove_stale_temps().expect("rescan"), 0);
    }

    #[test]
    fn remove_stale_temps_keeps_the_files_of_uploads_in_progress() {
        let dir = TempDir::new();
        // Two stores over one directory, as two processes sharing a docroot have.
        let (ours, theirs) = (store(&dir), store(&dir));
        let mut pending = ours.begin().expect("begin");
        pending.write_all(br#"{"in": "progress"#).unwrap();
        dir.write(".upload-00000000000000ff.tmp", b"left by a dead process");
        assert_eq!(theirs.remove_stale_temps().expect("scan"), 1);
        assert_eq!(ours.remove_stale_temps().expect("scan"), 0);
        let names = dir.names("");
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(is_temp_name(&names[0]), "{names:?}");

        pending.write_all(br#""}"#).unwrap();
        let stored = pending.commit().expect("commit after the scans");
        assert_eq!(fs::read(stored.path()).unwrap(), br#"{"in": "progress"}"#);
        // Once the upload is done, nothing is locked and nothing is left.
        assert_eq!(theirs.remove_stale_temps().expect("scan"), 0);
        assert_eq!(dir.names("").len(), 1);
    }

    #[test]
    fn a_new_temp_file_taken_by_a_cleanup_first_is_not_used() {
        let dir = TempDir::new();
        let path = dir.write(".upload-0000000000000001.tmp", b"");
        // The cleanup holds the lock: the writer must not use the file.
        let cleanup = File::open(&path).unwrap();
        rustix::fs::flock(&cleanup, FlockOperation::LockExclusive).unwrap();
        let writer = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(!lock_new_temp(&writer).unwrap());
        drop(cleanup);
        // The cleanup removed it and let go before the writer locked it.
        fs::remove_file(&path).unwrap();
        assert!(!lock_new_temp(&writer).unwrap());
        // Otherwise the writer's lock keeps every cleanup away.
        let path = dir.write(".upload-0000000000000002.tmp", b"");
        let writer = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(lock_new_temp(&writer).unwrap());
        assert!(!remove_if_unlocked(&path).unwrap());
        drop(writer);
        assert!(remove_if_unlocked(&path).unwrap());
        assert!(!path.exists());
    }

    #[test]
    fn accessors_report_the_configuration() {
        let store = UploadStore::new(Path::new("/srv/uploads"), "/uploads");
        assert_eq!(store.dir(), Path::new("/srv/uploads"));
        assert_eq!(store.url_prefix(), "/uploads");
    }
}
