//! Static files and JSON uploads under a document root.
//!
//! STUB: the API below is the agreed contract; bodies are being written.
#![deny(missing_docs)]

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use httpd_security::SafePath;

/// What went wrong serving or storing a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such file (or a directory without the requested index).
    NotFound,
    /// The path names a directory, not a file.
    IsDirectory,
    /// The file exists but may not be read, or leaves the root through a link.
    Forbidden,
    /// An upload body is not valid JSON.
    InvalidJson,
    /// The disk or a file-size limit is full.
    StorageFull,
    /// Any other I/O failure.
    Io,
}

/// A failure serving or storing a file, with the path it concerns.
#[derive(Debug)]
pub struct ServeError {
    path: PathBuf,
    kind: ErrorKind,
    source: Option<io::Error>,
}

impl ServeError {
    /// Returns what went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Returns the path concerned.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::NotFound => "file not found",
            ErrorKind::IsDirectory => "is a directory",
            ErrorKind::Forbidden => "access denied",
            ErrorKind::InvalidJson => "upload is not valid json",
            ErrorKind::StorageFull => "no space left for upload",
            ErrorKind::Io => "i/o error",
        };
        write!(f, "{what}: {}", self.path.display())
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// An open regular file ready to be sent.
#[derive(Debug)]
pub struct StaticFile {
    file: File,
    len: u64,
    modified: Option<SystemTime>,
    content_type: &'static str,
    attachment: Option<String>,
}

impl StaticFile {
    /// Opens `path` for serving; a directory-form path serves its `index.html`.
    ///
    /// # Errors
    /// `NotFound`, `IsDirectory`, `Forbidden` or `Io`.
    pub fn open(path: &SafePath) -> Result<StaticFile, ServeError> {
        let _ = path;
        unimplemented!()
    }

    /// Returns the file's size in bytes, taken when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Tells whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the modification time, if the filesystem reports one.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// Returns the `Content-Type` value: `text/html; charset=utf-8` for html, else
    /// `application/octet-stream`.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Returns the `Content-Disposition` value for downloads
    /// (`attachment; filename="NAME"`), or `None` for pages shown inline.
    pub fn content_disposition(&self) -> Option<&str> {
        self.attachment.as_deref()
    }

    /// Copies exactly [`len`](Self::len) bytes to `out` in constant memory.
    ///
    /// # Errors
    /// The `io::Error` of a read or write; `UnexpectedEof` if the file shrank.
    pub fn send_to(&mut self, out: &mut dyn io::Write) -> io::Result<u64> {
        let _ = (out, &self.file);
        unimplemented!()
    }
}

/// Where uploads are stored: a directory and the URL prefix that names it.
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

    /// Removes temporary files left by an earlier process; returns how many.
    ///
    /// # Errors
    /// The `io::Error` from reading the directory.
    pub fn remove_stale_temps(&self) -> Result<usize, ServeError> {
        unimplemented!()
    }

    /// Creates a new temporary file in the upload directory to receive a body.
    ///
    /// # Errors
    /// `StorageFull` or `Io`.
    pub fn begin(&self) -> Result<PendingUpload, ServeError> {
        let _ = (&self.dir, &self.url_prefix);
        unimplemented!()
    }
}

/// An upload being received; removed on drop unless committed.
#[derive(Debug)]
pub struct PendingUpload {
    _file: Option<File>,
}

impl io::Write for PendingUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = buf;
        unimplemented!()
    }

    fn flush(&mut self) -> io::Result<()> {
        unimplemented!()
    }
}

impl PendingUpload {
    /// Validates the received bytes as JSON, syncs them to disk and moves them to a new,
    /// unique `upload_YYYYMMDD_HHMMSS_XXXX.json` (UTC, 4 random hex digits), then syncs
    /// the directory. The final name never holds a partial file.
    ///
    /// # Errors
    /// `InvalidJson` (nothing is kept), `StorageFull` or `Io`.
    pub fn commit(self) -> Result<StoredUpload, ServeError> {
        unimplemented!()
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
