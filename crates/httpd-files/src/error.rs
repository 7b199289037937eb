//! The error type shared by serving and storing files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

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
///
/// When the failure came from the operating system, the original [`io::Error`] is
/// returned by [`source`](std::error::Error::source); `Display` describes only this
/// layer.
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

    /// Builds an error without an underlying cause.
    pub(crate) fn new(path: &Path, kind: ErrorKind) -> ServeError {
        ServeError {
            path: path.to_path_buf(),
            kind,
            source: None,
        }
    }

    /// Builds an error that keeps the `io::Error` which caused it.
    pub(crate) fn with_source(path: &Path, kind: ErrorKind, source: io::Error) -> ServeError {
        ServeError {
            path: path.to_path_buf(),
            kind,
            source: Some(source),
        }
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

/// Classifies an error from looking up or opening a file to serve.
///
/// A link leaving the root (`EXDEV`, as `openat2` reports it and the fallback walk
/// too) and too many links (`ELOOP`) are `Forbidden`; a name too long to exist is
/// `NotFound`.
pub(crate) fn open_error(path: &Path, err: io::Error) -> ServeError {
    let errno = err.raw_os_error().map(Errno::from_raw_os_error);
    let kind = match errno {
        Some(Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG) => ErrorKind::NotFound,
        Some(Errno::ACCESS | Errno::PERM | Errno::XDEV | Errno::LOOP) => ErrorKind::Forbidden,
        Some(Errno::ISDIR) => ErrorKind::IsDirectory,
        _ => match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Forbidden,
            io::ErrorKind::IsADirectory => ErrorKind::IsDirectory,
            _ => ErrorKind::Io,
        },
    };
    ServeError::with_source(path, kind, err)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn display_names_the_path_and_source_keeps_the_cause() {
        let cause = io::Error::other("disk on fire");
        let err = ServeError::with_source(Path::new("/srv/a.txt"), ErrorKind::Io, cause);
        assert_eq!(err.to_string(), "i/o error: /srv/a.txt");
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.path(), Path::new("/srv/a.txt"));
        let source = err.source().map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("disk on fire"));

        let bare = ServeError::new(Path::new("x"), ErrorKind::Forbidden);
        assert_eq!(bare.to_string(), "access denied: x");
        assert!(bare.source().is_none());
    }
}
