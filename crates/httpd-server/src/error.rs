//! The one place where failures of every layer become HTTP status codes.

use httpd_files::ErrorKind;
use httpd_proto::{ChunkError, ParseError};
use httpd_security::PolicyError;

/// Why a request could not be served normally; each maps to exactly one status code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The head is malformed.
    Parse(ParseError),
    /// Policy refused the request.
    Policy(PolicyError),
    /// The file layer failed.
    Files(ErrorKind),
    /// A chunked body is malformed.
    Chunk(ChunkError),
    /// The request line alone is longer than the head limit.
    TargetTooLong,
    /// The head is longer than the head limit.
    HeadTooLarge,
    /// The head did not arrive before its deadline.
    HeadTimeout,
    /// The body is longer than the body limit.
    BodyTooLarge,
    /// A POST carries neither `Content-Length` nor chunked framing.
    LengthRequired,
    /// `Expect` holds something other than `100-continue`.
    ExpectationFailed,
    /// The target is neither origin-form, absolute-form nor `*` for OPTIONS.
    BadTarget,
    /// The route exists but not for this method (POST to a file, GET on /upload).
    WrongMethod(&'static str),
    /// A precondition (`If-Match`, `If-Unmodified-Since`) failed.
    PreconditionFailed,
    /// The client exceeded its rate limit; retry after this many seconds.
    RateLimited(u64),
    /// The body did not arrive in time.
    BodyTimeout,
    /// The client went away mid-request; nothing can be answered.
    Aborted,
    /// The handler panicked.
    Panic,
    /// No worker can take the request's job now (the pool's queue is full).
    Busy,
    /// No range asked for overlaps the file of this many bytes.
    RangeNotSatisfiable(u64),
}

impl Failure {
    /// Tells whether the connection must close after the answer: the request line
    /// itself was malformed, or the body's framing is in doubt.
    pub(crate) fn must_close(&self) -> bool {
        matches!(
            self,
            Failure::Parse(_)
                | Failure::Policy(PolicyError::BadEncoding | PolicyError::BadTarget)
                | Failure::BadTarget
                | Failure::Chunk(_)
                | Failure::TargetTooLong
                | Failure::HeadTooLarge
                | Failure::HeadTimeout
                | Failure::BodyTooLarge
                | Failure::BodyTimeout
                | Failure::Aborted
                | Failure::Panic
                | Failure::Busy
                // Without a length, where the body ends is unknown (issue: a chunked
                // body under a look-alike framing header would be read as a request).
                | Failure::LengthRequired
        )
    }

    /// Tells whether the request's body must not be read: it was refused before it
    /// was sent (413 on a declared length, 417) or its end is unknown (411).
    pub(crate) fn refuses_body(&self) -> bool {
        matches!(
            self,
            Failure::BodyTooLarge | Failure::LengthRequired | Failure::ExpectationFailed
        )
    }

    /// Returns the status code this failure is answered with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Failure::Parse(e) => match e {
                ParseError::UnsupportedVersion => 505,
                ParseError::UnsupportedTransferCoding => 501,
                ParseError::TooManyHeaders => 431,
                _ => 400,
            },
            Failure::Policy(e) => match e {
                PolicyError::Traversal | PolicyError::HostNotAllowed => 403,
                PolicyError::UnsupportedType | PolicyError::UnsupportedUploadType => 415,
                PolicyError::MethodNotAllowed => 405,
                PolicyError::UnknownMethod => 501,
                // MissingHost, DuplicateHost, BadEncoding and any later variant.
                _ => 400,
            },
            Failure::Files(kind) => match kind {
                ErrorKind::NotFound | ErrorKind::IsDirectory => 404,
                ErrorKind::Forbidden => 403,
                ErrorKind::InvalidJson => 400,
                ErrorKind::StorageFull => 507,
                _ => 500,
            },
            Failure::Chunk(_) | Failure::BadTarget => 400,
            Failure::TargetTooLong => 414,
            Failure::HeadTooLarge => 431,
            Failure::HeadTimeout | Failure::BodyTimeout => 408,
            Failure::Aborted => 400,
            Failure::BodyTooLarge => 413,
            Failure::PreconditionFailed => 412,
            Failure::RateLimited(_) => 429,
            Failure::LengthRequired => 411,
            Failure::ExpectationFailed => 417,
            Failure::WrongMethod(_) => 405,
            Failure::Panic => 500,
            Failure::Busy => 503,
            Failure::RangeNotSatisfiable(_) => 416,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Parse(e) => write!(f, "bad head: {e}"),
            Failure::Policy(e) => write!(f, "refused: {e}"),
            Failure::Files(kind) => write!(f, "file error: {kind:?}"),
            Failure::Chunk(e) => write!(f, "bad chunked body: {e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Returns `"CODE Reason"`, e.g. `"404 Not Found"`.
pub fn status_text(code: u16) -> String {
    format!("{code} {}", httpd_proto::reason_phrase(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_failure_to_its_status() {
        let cases: &[(Failure, u16)] = &[
            (Failure::Parse(ParseError::BadRequestLine), 400),
            (Failure::Parse(ParseError::UnsupportedVersion), 505),
            (Failure::Parse(ParseError::UnsupportedTransferCoding), 501),
            (Failure::Parse(ParseError::ConflictingLength), 400),
            (Failure::Parse(ParseError::TooManyHeaders), 431),
            (Failure::Policy(PolicyError::Traversal), 403),
            (Failure::Policy(PolicyError::HostNotAllowed), 403),
            (Failure::Policy(PolicyError::MissingHost), 400),
            (Failure::Policy(PolicyError::DuplicateHost), 400),
            (Failure::Policy(PolicyError::UnsupportedType), 415),
            (Failure::Policy(PolicyError::UnsupportedUploadType), 415),
            (Failure::Policy(PolicyError::MethodNotAllowed), 405),
            (Failure::Policy(PolicyError::UnknownMethod), 501),
            (Failure::Files(ErrorKind::NotFound), 404),
            (Failure::Files(ErrorKind::Forbidden), 403),
            (Failure::Files(ErrorKind::InvalidJson), 400),
            (Failure::Files(ErrorKind::StorageFull), 507),
            (Failure::Files(ErrorKind::Io), 500),
            (Failure::Chunk(ChunkError::BadDigit), 400),
            (Failure::TargetTooLong, 414),
            (Failure::HeadTooLarge, 431),
            (Failure::HeadTimeout, 408),
            (Failure::BodyTimeout, 408),
            (Failure::BodyTooLarge, 413),
            (Failure::PreconditionFailed, 412),
            (Failure::RateLimited(3), 429),
            (Failure::LengthRequired, 411),
            (Failure::ExpectationFailed, 417),
            (Failure::WrongMethod("GET"), 405),
            (Failure::Panic, 500),
            (Failure::Busy, 503),
            (Failure::RangeNotSatisfiable(10), 416),
        ];
        for (failure, status) in cases {
            assert_eq!(failure.status(), *status, "{failure:?}");
        }
    }

    #[test]
    fn status_text_joins_code_and_reason() {
        assert_eq!(status_text(404), "404 Not Found");
    }
}
