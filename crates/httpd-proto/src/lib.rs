//! HTTP/1.1 message syntax without I/O: request heads, chunked bodies, response heads.
//!
//! STUB: the API below is the agreed contract; bodies are being written.
#![deny(missing_docs)]

use std::fmt;

/// The most header fields [`parse_request`] accepts in one head.
pub const MAX_HEADERS: usize = 100;

/// The result of parsing input that may not be complete yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The input held a complete item.
    Complete(T),
    /// More bytes are needed; nothing is wrong so far.
    Partial,
}

/// Why a request head or its framing headers were rejected.
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
    /// The version is well formed but neither `HTTP/1.0` nor `HTTP/1.1`.
    UnsupportedVersion,
    /// A line ends in a bare LF or holds a bare CR.
    BadLineEnding,
    /// A header name is empty, holds a non-token byte, or is followed by whitespace.
    BadHeaderName,
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

/// The HTTP versions this crate accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// Returns the version as it appears on the wire, e.g. `"HTTP/1.1"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Well-known request methods (RFC 9110 section 9); anything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `CONNECT`
    Connect,
    /// A syntactically valid method this crate does not know.
    Other,
}

impl Method {
    /// Classifies a method token; matching is case-sensitive as RFC 9110 requires.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// One header field, borrowed from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name as sent (compare case-insensitively).
    pub name: &'b str,
    /// The field value with leading and trailing whitespace removed.
    pub value: &'b [u8],
}

impl Header<'_> {
    /// An empty slot, used to fill the caller's header array.
    pub const EMPTY: Header<'static> = Header { name: "", value: b"" };
}

/// How a request body is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// A body of exactly this many bytes.
    Length(u64),
    /// A chunked body; see [`ChunkedDecoder`].
    Chunked,
}

/// A parsed request head, borrowing from the input and the caller's header slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'h, 'b> {
    /// The method token, e.g. `"GET"`.
    pub method: &'b str,
    /// The request target as sent, e.g. `"/a%20b.html?x=1"`.
    pub target: &'b str,
    /// The protocol version.
    pub version: Version,
    /// The header fields in order of appearance.
    pub headers: &'h [Header<'b>],
}

impl<'h, 'b> Request<'h, 'b> {
    /// Returns the value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        let _ = name;
        unimplemented!()
    }

    /// Returns the values of every header named `name` (case-insensitive), in order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Returns the method as a [`Method`].
    pub fn method_kind(&self) -> Method {
        Method::from_token(self.method)
    }

    /// Returns the target's path: everything before the first `?`.
    pub fn path(&self) -> &'b str {
        unimplemented!()
    }

    /// Returns the target's query, without the `?`, if there is one.
    pub fn query(&self) -> Option<&'b str> {
        unimplemented!()
    }

    /// Tells whether the client wants the connection kept open after this request:
    /// HTTP/1.1 unless `Connection` lists `close`; HTTP/1.0 only if it lists `keep-alive`.
    pub fn wants_keep_alive(&self) -> bool {
        unimplemented!()
    }

    /// Tells whether the request carries `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        unimplemented!()
    }

    /// Determines how the body is framed (RFC 9112 section 6.3).
    ///
    /// # Errors
    /// `ConflictingLength` for both `Transfer-Encoding` and `Content-Length` or differing
    /// lengths, `BadContentLength`, `BadTransferEncoding`, `UnsupportedTransferCoding`.
    pub fn framing(&self) -> Result<Framing, ParseError> {
        unimplemented!()
    }
}

/// Scans a growing buffer for the end of a request head, looking only at new bytes.
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    scanned: usize,
}

impl HeadScanner {
    /// Looks for the blank line ending the head in `buf`, which must extend the buffer of
    /// earlier calls. Returns the head's length including the final CRLF CRLF.
    ///
    /// # Errors
    /// `BadLineEnding` as soon as a bare LF (one not preceded by CR) is seen.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Status<usize>, ParseError> {
        let _ = (buf, self.scanned);
        unimplemented!()
    }

    /// Forgets earlier input, for the next request on the connection.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

/// Parses a request head from the start of `buf` into the caller's header `slots`.
///
/// Returns the request and the number of bytes the head used (up to and including the
/// blank line); bytes after it (a body, a pipelined request) are not looked at.
///
/// # Errors
/// Any [`ParseError`] except the framing ones.
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [Header<'b>],
) -> Result<Status<(Request<'h, 'b>, usize)>, ParseError> {
    let _ = (buf, slots);
    unimplemented!()
}

/// Tells whether the comma-separated header value `list` holds `token` (case-insensitive).
pub fn has_token(list: &[u8], token: &str) -> bool {
    let _ = (list, token);
    unimplemented!()
}

/// Parses a `Content-Length` value: ASCII digits only, no sign, no spaces, fits in `u64`.
///
/// # Errors
/// `BadContentLength` otherwise.
pub fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let _ = value;
    unimplemented!()
}

/// Why a chunked body was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The size line holds a byte that is not a hex digit where one is required.
    BadDigit,
    /// The size does not fit in 64 bits.
    TooLarge,
    /// A chunk line ends in a bare LF or holds a bare CR.
    BadLineEnding,
    /// Chunk data is not followed by CRLF.
    MissingCrlf,
    /// A size line or trailer line is longer than the decoder allows.
    LineTooLong,
    /// A trailer field is malformed.
    BadTrailer,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadDigit => "invalid byte in chunk size",
            ChunkError::TooLarge => "chunk size overflows u64",
            ChunkError::BadLineEnding => "bare cr or lf in chunk framing",
            ChunkError::MissingCrlf => "chunk data not followed by crlf",
            ChunkError::LineTooLong => "chunk line too long",
            ChunkError::BadTrailer => "invalid trailer field",
        })
    }
}

impl std::error::Error for ChunkError {}

/// Incremental decoder for the chunked transfer coding (RFC 9112 section 7.1).
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    _state: u8,
}

impl ChunkedDecoder {
    /// Decodes as much of `input` as possible, appending payload bytes to `out`.
    /// Returns how many input bytes were consumed; stops after the last chunk and its
    /// trailers, leaving any further bytes (a pipelined request) unconsumed.
    ///
    /// # Errors
    /// Any [`ChunkError`]; the decoder is then unusable.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let _ = (input, out);
        unimplemented!()
    }

    /// Tells whether the last chunk and the trailer section have been decoded.
    pub fn is_done(&self) -> bool {
        unimplemented!()
    }
}

/// The last chunk and an empty trailer section, ending a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` as one chunk (size line, data, CRLF) to `out`; empty `data` appends nothing.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    let _ = (data, out);
    unimplemented!()
}

/// Returns the standard reason phrase for `code`, or `""` for an unknown code.
pub fn reason_phrase(code: u16) -> &'static str {
    let _ = code;
    unimplemented!()
}

/// Builds an HTTP/1.1 response head.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    buf: Vec<u8>,
}

impl ResponseHead {
    /// Starts a head with the status line `HTTP/1.1 CODE REASON`.
    pub fn new(code: u16) -> ResponseHead {
        let _ = code;
        unimplemented!()
    }

    /// Appends a header line. CR, LF and other control bytes in `value` are dropped, so
    /// a value can never start a new line.
    pub fn header(&mut self, name: &str, value: &str) -> &mut ResponseHead {
        let _ = (name, value, &self.buf);
        unimplemented!()
    }

    /// Ends the head with the blank line and returns its bytes.
    pub fn finish(self) -> Vec<u8> {
        unimplemented!()
    }
}
