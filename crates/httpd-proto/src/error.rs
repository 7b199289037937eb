//! The one error type of head parsing, shared by the request parser and the field
//! parsers.

use std::fmt;

/// Why a request head or its framing headers were rejected.
///
/// After any of these the framing of the bytes that follow is unknown, so a server
/// answers and closes the connection. The statuses httpd-server answers with:
///
/// | error | status |
/// |---|---|
/// | [`UnsupportedVersion`](ParseError::UnsupportedVersion) | 505 HTTP Version Not Supported |
/// | [`UnsupportedTransferCoding`](ParseError::UnsupportedTransferCoding) | 501 Not Implemented |
/// | [`TooManyHeaders`](ParseError::TooManyHeaders) | 431 Request Header Fields Too Large |
/// | every other variant, including any added later | 400 Bad Request |
///
/// A head longer than the caller's bound (which [`HeadScanner`](crate::HeadScanner)
/// helps enforce) is no `ParseError`: httpd-server answers it 414 when the request line
/// alone is too long, else 431.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The request line does not have the shape `method SP target SP version`.
    BadRequestLine,
    /// The method is empty or holds a byte that is not a token character.
    BadMethod,
    /// The request target is empty or holds a byte outside visible ASCII.
    BadTarget,
    /// The version is not of the form `HTTP/DIGIT.DIGIT`.
    BadVersion,
    /// The version is well formed but its major version is not 1 (`HTTP/2.0`, `HTTP/0.9`).
    UnsupportedVersion,
    /// A line ends in a bare LF or holds a bare CR.
    BadLineEnding,
    /// A header name is empty, holds a non-token byte, or is followed by whitespace.
    BadHeaderName,
    /// A header name is a look-alike of `Content-Length` or `Transfer-Encoding`, such as
    /// `Content_Length` or `Transfer--Encoding` (see [`parse_request`](crate::parse_request)).
    FramingLookalike,
    /// A header value holds a control byte.
    BadHeaderValue,
    /// A header line starts with whitespace (obsolete line folding).
    ObsoleteFold,
    /// The head holds more than the caller's header slots.
    TooManyHeaders,
    /// A `Content-Length` value is not a plain decimal number that fits in `u64`.
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`, or differing `Content-Length` values.
    ConflictingLength,
    /// `Transfer-Encoding` names a coding this crate does not decode.
    UnsupportedTransferCoding,
    /// `Transfer-Encoding` is malformed or does not end in `chunked`.
    BadTransferEncoding,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::BadRequestLine => "malformed request line",
            ParseError::BadMethod => "invalid method",
            ParseError::BadTarget => "invalid request target",
            ParseError::BadVersion => "malformed http version",
            ParseError::UnsupportedVersion => "unsupported http version",
            ParseError::BadLineEnding => "bare cr or lf in head",
            ParseError::BadHeaderName => "invalid header name",
            ParseError::FramingLookalike => {
                "header name resembles content-length or transfer-encoding"
            }
            ParseError::BadHeaderValue => "invalid header value",
            ParseError::ObsoleteFold => "obsolete line folding",
            ParseError::TooManyHeaders => "too many headers",
            ParseError::BadContentLength => "invalid content-length",
            ParseError::ConflictingLength => "conflicting message length",
            ParseError::UnsupportedTransferCoding => "unsupported transfer coding",
            ParseError::BadTransferEncoding => "invalid transfer-encoding",
        })
    }
}

impl std::error::Error for ParseError {}
