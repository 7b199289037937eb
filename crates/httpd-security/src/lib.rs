//! Request policy for httpd: limits, request-target to [`SafePath`], Host, methods,
//! file types and upload media types.
//!
//! This crate decides whether a request may be served; it never serves one. It does
//! no I/O (no filesystem access, no `canonicalize`, no sockets, no logging), so every
//! check is a pure function of its input and the policy. Following links safely is
//! left to httpd-files, and turning a [`PolicyError`] into a status code to
//! httpd-server.
//!
//! The rules are the "Security Measures" of the seed Python server, kept exactly
//! where the seed was exact and made stricter where it was loose:
//!
//! - [`resolve_path`] decodes a target's path once and refuses anything that could
//!   leave the document root: `..` anywhere, `./`, `//`, backslashes, control bytes,
//!   encoded slashes and Windows drive prefixes. Only it (and [`SafePath::join`],
//!   under the same rules) can build a [`SafePath`], so code that takes a `SafePath`
//!   cannot be handed an unchecked path.
//! - [`HostPolicy`] accepts exactly one well-formed `Host` naming this server.
//! - [`TypePolicy`] serves only allowlisted extensions (by default `html`, `txt`,
//!   `png`, `jpg`, `jpeg`); [`check_upload_type`] accepts only JSON uploads.
//! - [`check_method`] passes the methods in [`ALLOW`]; [`check_target`] takes the
//!   request-target forms this server serves, and [`HostPolicy::check_request`]
//!   applies the `Host` rules that go with each.
//! - [`Admission`] caps open connections, overall and per client address;
//!   [`RateLimiter`] caps requests per second per address.
//! - [`Limits`] gathers the size, count and time caps with their defaults.
//!
//! Client input never causes a panic: every refusal is a [`PolicyError`].
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//!
//! use httpd_proto::Method;
//! use httpd_security::{HostPolicy, PolicyError, TypePolicy, check_method, resolve_path};
//!
//! let root = Path::new("/srv/www");
//! let hosts = HostPolicy::new("127.0.0.1", 8080);
//! let types = TypePolicy::default();
//!
//! // GET /docs/ HTTP/1.1 with Host: localhost:8080
//! check_method(Method::Get)?;
//! hosts.check(&[b"localhost:8080"])?;
//! let dir = resolve_path(root, "/docs/")?;
//! assert!(dir.is_dir_form());
//! let index = dir.join("index.html")?;
//! types.check(&index)?;
//! assert_eq!(index.as_path(), Path::new("/srv/www/docs/index.html"));
//!
//! // Attacks are refused before any file is touched.
//! assert_eq!(resolve_path(root, "/%2e%2e/etc/passwd"), Err(PolicyError::Traversal));
//! assert_eq!(hosts.check(&[b"evil.com:8080"]), Err(PolicyError::HostNotAllowed));
//! let script = resolve_path(root, "/script.php")?;
//! assert_eq!(types.check(&script), Err(PolicyError::UnsupportedType));
//! # Ok::<(), PolicyError>(())
//! ```
#![deny(missing_docs)]

mod caps;
mod host;
mod media;
mod method;
mod path;
mod target;

use std::fmt;
use std::time::Duration;

pub use crate::caps::{Admission, MAX_TRACKED_CLIENTS, RateLimiter, Refusal};
pub use crate::host::HostPolicy;
pub use crate::media::{TypePolicy, check_upload_type};
pub use crate::method::{ALLOW, check_method};
pub use crate::path::{SafePath, resolve_path};
pub use crate::target::{Target, check_target};

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
/// Default number of connections one client address may hold open at once.
pub const DEFAULT_MAX_CONNS_PER_IP: usize = 256;
/// Default slowest average rate (bytes per second) a request body may arrive at, once
/// the head timeout's worth of grace has passed.
pub const DEFAULT_MIN_BODY_RATE: u64 = 512;
/// Default number of worker threads.
pub const DEFAULT_WORKERS: usize = 10;
/// Default number of connections that may wait for a worker.
pub const DEFAULT_QUEUE: usize = 50;

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
    /// Connections one client address may hold open; default
    /// [`DEFAULT_MAX_CONNS_PER_IP`].
    pub max_conns_per_ip: usize,
    /// Slowest average body rate in bytes per second after a grace period of
    /// `header_timeout`; default [`DEFAULT_MIN_BODY_RATE`].
    pub min_body_rate: u64,
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
            max_conns_per_ip: DEFAULT_MAX_CONNS_PER_IP,
            min_body_rate: DEFAULT_MIN_BODY_RATE,
        }
    }
}

/// Why a request was refused by policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The path tries to leave the root (`..`, `./`, `//`, backslash, NUL, encoded slash),
    /// or does not start with `/`.
    Traversal,
    /// The path holds a malformed percent-escape or is not valid UTF-8 after decoding
    /// (overlong encodings such as `%c0%ae` included).
    BadEncoding,
    /// The request has no `Host` header, or an empty one.
    MissingHost,
    /// The request has more than one `Host` header.
    DuplicateHost,
    /// The `Host` header names a host this server does not answer for.
    HostNotAllowed,
    /// The `Host` header is not `host[:port]`: userinfo, spaces, control or non-ASCII
    /// bytes, a bad IPv6 literal or a bad port.
    BadHost,
    /// The file's extension is not on the allowlist.
    UnsupportedType,
    /// An upload's `Content-Type` is missing or not `application/json`.
    UnsupportedUploadType,
    /// A known method this server does not allow on the resource.
    MethodNotAllowed,
    /// A method this server does not know.
    UnknownMethod,
    /// The request target is in none of the forms this server takes (origin,
    /// absolute, or `*` for `OPTIONS`).
    BadTarget,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyError::Traversal => "path traversal attempt",
            PolicyError::BadEncoding => "malformed percent-encoding in path",
            PolicyError::MissingHost => "missing host header",
            PolicyError::DuplicateHost => "duplicate host header",
            PolicyError::HostNotAllowed => "host not allowed",
            PolicyError::BadHost => "malformed host header",
            PolicyError::UnsupportedType => "file type not allowed",
            PolicyError::UnsupportedUploadType => "upload content type not allowed",
            PolicyError::MethodNotAllowed => "method not allowed",
            PolicyError::UnknownMethod => "unknown method",
            PolicyError::BadTarget => "request target in an unsupported form",
        })
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_match_the_seed() {
        let limits = Limits::default();
        assert_eq!(limits.max_head_bytes, 8192);
        assert_eq!(limits.idle_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_requests, 100);
        assert_eq!(DEFAULT_WORKERS, 10);
        assert_eq!(DEFAULT_QUEUE, 50);
    }

    #[test]
    fn error_messages_are_lowercase_without_a_period() {
        let all = [
            PolicyError::Traversal,
            PolicyError::BadEncoding,
            PolicyError::MissingHost,
            PolicyError::DuplicateHost,
            PolicyError::HostNotAllowed,
            PolicyError::BadHost,
            PolicyError::UnsupportedType,
            PolicyError::UnsupportedUploadType,
            PolicyError::MethodNotAllowed,
            PolicyError::UnknownMethod,
            PolicyError::BadTarget,
        ];
        for err in all {
            let message = err.to_string();
            assert!(!message.is_empty(), "{err:?}");
            assert!(!message.ends_with('.'), "{err:?}");
            assert!(!message.starts_with(|c: char| c.is_uppercase()), "{err:?}");
        }
    }
}
