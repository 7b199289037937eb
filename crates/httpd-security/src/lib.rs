//! Request policy for httpd: limits, request-target to [`SafePath`], Host, methods,
//! file types and upload media types.
//!
//! STUB: the API below is the agreed contract; bodies are being written.
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use httpd_proto::Method;

/// Default cap on a request head, request line included (bytes); larger heads get 431.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8192;
/// Default cap on a request body (bytes); larger bodies get 413.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Default time a keep-alive connection may sit idle between requests.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a client has to send a whole request head from its first byte.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a single socket write may block before the connection is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of requests served on one connection before it is closed.
pub const DEFAULT_MAX_REQUESTS: u32 = 100;
/// Default number of worker threads.
pub const DEFAULT_WORKERS: usize = 10;
/// Default number of connections that may wait for a worker.
pub const DEFAULT_QUEUE: usize = 50;
/// The value of the `Allow` header: the methods this server implements.
pub const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// Per-connection limits; every field is documented with its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head in bytes; default [`DEFAULT_MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// Largest request body in bytes; default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// Idle time allowed between requests; default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Time allowed for a whole head from its first byte; default [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// Time one write may block; default [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// Requests served per connection; default [`DEFAULT_MAX_REQUESTS`].
    pub max_requests: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// Why a request was refused by policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The path tries to leave the root (`..`, `./`, `//`, backslash, NUL, encoded slash).
    Traversal,
    /// The path holds a malformed percent-escape or is not valid UTF-8 after decoding.
    BadEncoding,
    /// The request has no `Host` header, or an empty one.
    MissingHost,
    /// The request has more than one `Host` header.
    DuplicateHost,
    /// The `Host` header names a host this server does not answer for.
    HostNotAllowed,
    /// The file's extension is not on the allowlist.
    UnsupportedType,
    /// An upload's `Content-Type` is missing or not `application/json`.
    UnsupportedUploadType,
    /// A known method this server does not allow on the resource.
    MethodNotAllowed,
    /// A method this server does not know.
    UnknownMethod,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyError::Traversal => "path traversal attempt",
            PolicyError::BadEncoding => "malformed percent-encoding in path",
            PolicyError::MissingHost => "missing host header",
            PolicyError::DuplicateHost => "duplicate host header",
            PolicyError::HostNotAllowed => "host not allowed",
            PolicyError::UnsupportedType => "file type not allowed",
            PolicyError::UnsupportedUploadType => "upload content type not allowed",
            PolicyError::MethodNotAllowed => "method not allowed",
            PolicyError::UnknownMethod => "unknown method",
        })
    }
}

impl std::error::Error for PolicyError {}

/// A path proven to lie under the document root; only this crate can build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafePath {
    root: PathBuf,
    full: PathBuf,
    relative: String,
}

impl SafePath {
    /// Returns the full filesystem path (root joined with the relative path).
    pub fn as_path(&self) -> &Path {
        &self.full
    }

    /// Returns the root this path was resolved under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the decoded path relative to the root, `/`-separated, without a leading
    /// slash; `""` for the root itself. A target ending in `/` keeps its trailing slash.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// Returns the last segment, or `None` for the root or a path ending in `/`.
    pub fn file_name(&self) -> Option<&str> {
        unimplemented!()
    }

    /// Returns the extension of the last segment, lowercased is not applied (compare
    /// case-insensitively); `None` when the name has no dot.
    pub fn extension(&self) -> Option<&str> {
        unimplemented!()
    }

    /// Tells whether the target named a directory (the root or a path ending in `/`).
    pub fn is_dir_form(&self) -> bool {
        unimplemented!()
    }

    /// Appends one plain segment (such as `index.html`) to a directory-form path.
    ///
    /// # Errors
    /// `Traversal` if `name` is empty, `.`/`..`, or holds `/`, `\` or NUL.
    pub fn join(&self, name: &str) -> Result<SafePath, PolicyError> {
        let _ = name;
        unimplemented!()
    }
}

/// Resolves the path part of a request target (still percent-encoded, starting with `/`)
/// under `root`, decoding it exactly once.
///
/// # Errors
/// `Traversal` for anything that could leave the root, `BadEncoding` for bad escapes.
pub fn resolve_path(root: &Path, raw_path: &str) -> Result<SafePath, PolicyError> {
    let _ = (root, raw_path);
    unimplemented!()
}

/// Which `Host` header values this server answers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    port: u16,
    names: Vec<String>,
    any: bool,
}

impl HostPolicy {
    /// Accepts `localhost`, `127.0.0.1` and `bound_host`, each with or without `:port`.
    pub fn new(bound_host: &str, port: u16) -> HostPolicy {
        let _ = (bound_host, port);
        unimplemented!()
    }

    /// Also accepts `host` (with or without `:port`); `"*"` accepts every host.
    pub fn allow(&mut self, host: &str) -> &mut HostPolicy {
        let _ = host;
        unimplemented!()
    }

    /// Checks the values of every `Host` header of a request.
    ///
    /// # Errors
    /// `MissingHost` for none or an empty one, `DuplicateHost` for several,
    /// `HostNotAllowed` for a host not accepted.
    pub fn check(&self, values: &[&[u8]]) -> Result<(), PolicyError> {
        let _ = (values, self.port, &self.names, self.any);
        unimplemented!()
    }
}

/// The file extensions that may be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypePolicy {
    extensions: Vec<String>,
}

impl Default for TypePolicy {
    /// The seed's allowlist: `html`, `txt`, `png`, `jpg`, `jpeg`.
    fn default() -> TypePolicy {
        TypePolicy {
            extensions: ["html", "txt", "png", "jpg", "jpeg"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl TypePolicy {
    /// Tells whether a file with extension `ext` may be served (case-insensitive).
    pub fn allows(&self, ext: Option<&str>) -> bool {
        let _ = (ext, &self.extensions);
        unimplemented!()
    }

    /// Checks the extension of `path`'s last segment.
    ///
    /// # Errors
    /// `UnsupportedType` when it is not on the list.
    pub fn check(&self, path: &SafePath) -> Result<(), PolicyError> {
        let _ = path;
        unimplemented!()
    }
}

/// Checks an upload's `Content-Type`: `application/json`, parameters allowed.
///
/// # Errors
/// `UnsupportedUploadType` for a missing or different media type.
pub fn check_upload_type(value: Option<&[u8]>) -> Result<(), PolicyError> {
    let _ = value;
    unimplemented!()
}

/// Checks a request method: GET, HEAD, POST and OPTIONS pass.
///
/// # Errors
/// `MethodNotAllowed` for other known methods, `UnknownMethod` for the rest.
pub fn check_method(method: Method) -> Result<(), PolicyError> {
    let _ = method;
    unimplemented!()
}
