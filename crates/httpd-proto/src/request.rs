//! Request heads: the request line, header fields and body framing.
//!
//! [`parse_request`] owns the syntax of RFC 9112 sections 2 to 5; [`Request`]
//! answers the questions a server asks of a parsed head (keep-alive, `Expect`,
//! framing per RFC 9112 section 6.3).
//!
//! The parser reads left to right and stops at the first byte that settles the
//! outcome, so an error never depends on how the input was split: every prefix of
//! a malformed head is either [`Status::Partial`] or fails with the same error.

use crate::Status;
pub use crate::error::ParseError;
use crate::field::{elements, has_token, parse_content_length, trim_ows};
use crate::simd::{self, Path};
use crate::table::is_tchar;

/// The number of header slots a caller declares by default, `[Header::EMPTY; MAX_HEADERS]`,
/// and so the most header fields such a caller accepts in one head.
///
/// [`parse_request`] itself has no limit of its own: it fills as many slots as it is
/// given and fails with [`ParseError::TooManyHeaders`] when a head has more fields than
/// that. httpd-server declares this many slots per request.
pub const MAX_HEADERS: usize = 100;

/// The most empty lines (CRLF) [`parse_request`] and [`HeadScanner`](crate::HeadScanner)
/// skip before the request line (RFC 9112 section 2.2); one more is a `BadRequestLine`.
pub const MAX_LEADING_EMPTY_LINES: usize = 4;

/// The HTTP versions this crate accepts.
///
/// A request may name a later minor version of HTTP/1 (`HTTP/1.2` .. `HTTP/1.9`); it is
/// parsed as [`Version::Http11`], the highest minor version this crate implements,
/// so the answer says `HTTP/1.1` (RFC 9110 section 2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`, or a later `HTTP/1.x` served as 1.1.
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
    pub const EMPTY: Header<'static> = Header {
        name: "",
        value: b"",
    };
}

/// How a request body is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// A body of exactly this many bytes.
    Length(u64),
    /// A chunked body; see [`ChunkedDecoder`](crate::ChunkedDecoder).
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
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
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
        match self.target.split_once('?') {
            Some((path, _)) => path,
            None => self.target,
        }
    }

    /// Returns the target's query, without the `?`, if there is one.
    ///
    /// A target ending in `?` has the empty query `Some("")`.
    pub fn query(&self) -> Option<&'b str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// Tells whether the client wants the connection kept open after this request:
    /// HTTP/1.1 unless `Connection` lists `close`; HTTP/1.0 only if it lists `keep-alive`.
    ///
    /// Every `Connection` header counts, and `close` wins over `keep-alive`
    /// (RFC 9112 section 9.3).
    pub fn wants_keep_alive(&self) -> bool {
        let lists = || self.headers_named("connection");
        if lists().any(|list| has_token(list, "close")) {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => lists().any(|list| has_token(list, "keep-alive")),
        }
    }

    /// Tells whether the request carries `Expect: 100-continue`.
    ///
    /// Any `Expect` header whose whole value is `100-continue` (ignoring case) counts.
    pub fn expects_continue(&self) -> bool {
        self.headers_named("expect")
            .any(|value| trim_ows(value).eq_ignore_ascii_case(b"100-continue"))
    }

    /// Determines how the body is framed (RFC 9112 section 6.3).
    ///
    /// `Transfer-Encoding` (all such headers read as one list) must name `chunked`
    /// exactly once, as its last coding; this crate decodes no other coding.
    /// Each `Content-Length` value must be one decimal number (a list such as `5, 5` is
    /// `BadContentLength`), and repeated `Content-Length` headers must agree.
    ///
    /// # Errors
    /// `ConflictingLength` for both `Transfer-Encoding` and `Content-Length` or differing
    /// `Content-Length` headers, `BadContentLength` for a value that is not one number,
    /// `BadTransferEncoding`, `UnsupportedTransferCoding`.
    ///
    /// # Examples
    ///
    /// ```
    /// use httpd_proto::{Framing, Header, Request, Version};
    ///
    /// let headers = [Header { name: "Transfer-Encoding", value: b"chunked" }];
    /// let request = Request {
    ///     method: "POST",
    ///     target: "/upload",
    ///     version: Version::Http11,
    ///     headers: &headers,
    /// };
    /// assert_eq!(request.framing(), Ok(Framing::Chunked));
    /// ```
    pub fn framing(&self) -> Result<Framing, ParseError> {
        let has_te = self.header("transfer-encoding").is_some();
        let has_cl = self.header("content-length").is_some();
        if has_te && has_cl {
            // A message with both is a request-smuggling vector; reject it outright.
            return Err(ParseError::ConflictingLength);
        }
        if has_te {
            if self.version == Version::Http10 {
                // RFC 9112 section 6.1: chunked framing does not exist in HTTP/1.0.
                return Err(ParseError::BadTransferEncoding);
            }
            return self.chunked_framing();
        }
        if has_cl {
            return self.length_framing();
        }
        Ok(Framing::None)
    }

    /// Checks the `Transfer-Encoding` list; the caller saw at least one such header.
    fn chunked_framing(&self) -> Result<Framing, ParseError> {
        let codings = || self.headers_named("transfer-encoding").flat_map(elements);
        // Syntax first: every element must be a coding name, maybe with parameters.
        for coding in codings() {
            coding_name(coding)?;
        }
        // RFC 9112 section 6.3: a request whose final coding is not chunked has no
        // reliable length; that is a 400 whatever the other codings are.
        let last_is_chunked = codings()
            .last()
            .and_then(|c| coding_name(c).ok())
            .is_some_and(|(name, _)| name.eq_ignore_ascii_case(b"chunked"));
        if !last_is_chunked {
            return Err(ParseError::BadTransferEncoding);
        }
        let mut n_chunked = 0usize;
        for coding in codings() {
            let (name, has_params) = coding_name(coding)?;
            if !name.eq_ignore_ascii_case(b"chunked") {
                return Err(ParseError::UnsupportedTransferCoding);
            }
            if has_params {
                // The chunked coding defines no parameters.
                return Err(ParseError::BadTransferEncoding);
            }
            n_chunked += 1;
        }
        // Only `chunked` is left, so it is last; it must also appear only once.
        if n_chunked == 1 {
            Ok(Framing::Chunked)
        } else {
            Err(ParseError::BadTransferEncoding)
        }
    }

    /// Checks every `Content-Length` value; the caller saw at least one such header.
    fn length_framing(&self) -> Result<Framing, ParseError> {
        let mut length = None;
        let mut differ = false;
        for value in self.headers_named("content-length") {
            // A list, even of equal numbers (`5, 5`), is refused: RFC 9110 section 8.6
            // lets a recipient accept it, but an intermediary may read it otherwise.
            // A malformed value anywhere outranks a disagreement, so read them all.
            let n = parse_content_length(trim_ows(value))?;
            match length {
                None => length = Some(n),
                Some(seen) if seen != n => differ = true,
                Some(_) => {}
            }
        }
        match length {
            _ if differ => Err(ParseError::ConflictingLength),
            Some(n) => Ok(Framing::Length(n)),
            None => Err(ParseError::BadContentLength),
        }
    }
}

/// Parses a request head from the start of `buf` into the caller's header `slots`.
///
/// Returns the request and the number of bytes the head used (up to and including the
/// blank line); bytes after it (a body, a pipelined request) are not looked at.
///
/// The grammar is RFC 9112's, strictly:
///
/// ```text
/// HTTP-message = [ *4CRLF ] request-line *( field-line CRLF ) CRLF
/// request-line = method SP request-target SP HTTP-version CRLF
/// HTTP-version = "HTTP/" DIGIT "." DIGIT
/// field-line   = field-name ":" OWS field-value OWS
/// ```
///
/// Only single spaces separate the request line's parts; the target may hold only
/// visible ASCII; whitespace before a field's colon and obsolete line folding are
/// rejected; every line must end in CRLF. Up to [`MAX_LEADING_EMPTY_LINES`] empty lines
/// before the request line are skipped.
///
/// Versions: `HTTP/1.0` is [`Version::Http10`]; `HTTP/1.1` and any later `HTTP/1.x`
/// are [`Version::Http11`] (RFC 9110 section 2.5); another major version (`HTTP/0.9`,
/// `HTTP/2.0`) is `UnsupportedVersion`; anything else is `BadVersion`.
///
/// Framing look-alikes: a field name that is not `Content-Length` or
/// `Transfer-Encoding` but spells one of them once ASCII case, `-` and `_` are
/// ignored (`Content_Length`, `Transfer--Encoding`, `content-length-`, `ContentLength`)
/// is `FramingLookalike`. Such a name is no framing header to this parser, but a proxy
/// or a CGI gateway (which maps `-` to `_`) may take it for one; refusing it
/// outright, as lighttpd does, closes that request-smuggling gap.
///
/// Input that could still grow into a valid head gives [`Status::Partial`]; input that
/// cannot gives its error without waiting for more bytes. The one exception is a byte
/// whose meaning depends on the next one (a final CR, or the end of a version such as
/// `HTTP/1.3` that may yet become `HTTP/1.32`): the parser waits for that next byte so
/// the error never depends on how the input was split.
///
/// # Errors
/// Any [`ParseError`] except the framing ones.
///
/// # Examples
///
/// ```
/// use httpd_proto::{parse_request, Header, Status, Version};
///
/// let mut slots = [Header::EMPTY; 4];
/// let head = b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
/// let Ok(Status::Complete((request, len))) = parse_request(head, &mut slots) else {
///     panic!("not a complete head");
/// };
/// assert_eq!(request.target, "/index.html");
/// assert_eq!(request.version, Version::Http11);
/// assert_eq!(request.header("host"), Some(&b"a"[..]));
/// assert_eq!(len, head.len());
///
/// assert_eq!(parse_request(&head[..20], &mut slots), Ok(Status::Partial));
/// ```
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [Header<'b>],
) -> Result<Status<(Request<'h, 'b>, usize)>, ParseError> {
    // The scan implementation is chosen once per head; the scans run on every byte.
    simd::with_best_path(|path| parse_head(buf, slots, path))
}

/// [`parse_request`] with the scans of `path`.
#[inline(always)]
fn parse_head<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [Header<'b>],
    path: Path,
) -> Result<Status<(Request<'h, 'b>, usize)>, ParseError> {
    let Some(line) = parse_request_line(buf, path)? else {
        return Ok(Status::Partial);
    };
    let Some((n_headers, head_len)) = parse_fields(buf, line.end, slots, path)? else {
        return Ok(Status::Partial);
    };
    let slots: &'h [Header<'b>] = slots;
    let request = Request {
        method: line.method,
        target: line.target,
        version: line.version,
        headers: slots.get(..n_headers).unwrap_or_default(),
    };
    Ok(Status::Complete((request, head_len)))
}

/// The parts of a request line and the offset just past its CRLF.
struct RequestLine<'b> {
    method: &'b str,
    target: &'b str,
    version: Version,
    end: usize,
}

/// The result of one parsing step: `Ok(None)` means more input is needed.
type Step<T> = Result<Option<T>, ParseError>;

/// Parses the optional empty lines and the request line.
#[inline(always)]
fn parse_request_line(buf: &[u8], path: Path) -> Step<RequestLine<'_>> {
    let Some(start) = skip_empty_lines(buf) else {
        return Ok(None);
    };

    let (method, method_len) = simd::take_method(rest_of(buf, start));
    let method_end = start + method_len;
    let Some(&b) = buf.get(method_end) else {
        return Ok(None);
    };
    match b {
        b' ' if method_len > 0 => {}
        b' ' => return Err(ParseError::BadRequestLine),
        b'\r' | b'\n' => return line_cut(buf, method_end, ParseError::BadRequestLine),
        _ => return Err(ParseError::BadMethod),
    }

    let target_start = method_end + 1;
    let (target, target_len) = simd::take_vchars(rest_of(buf, target_start), path);
    let target_end = target_start + target_len;
    let Some(&b) = buf.get(target_end) else {
        return Ok(None);
    };
    match b {
        b' ' if target_len > 0 => {}
        // Two spaces in a row.
        b' ' => return Err(ParseError::BadRequestLine),
        // `GET /` alone is an HTTP/0.9 request; `GET ` has no target at all.
        b'\r' | b'\n' if target_len > 0 => {
            return line_cut(buf, target_end, ParseError::BadRequestLine);
        }
        b'\r' | b'\n' => return line_cut(buf, target_end, ParseError::BadTarget),
        _ => return Err(ParseError::BadTarget),
    }

    let version_start = target_end + 1;
    // Nearly every request says `HTTP/1.1` and ends its line there.
    let (version, end) = if buf.get(version_start..version_start + 10) == Some(b"HTTP/1.1\r\n") {
        (Version::Http11, version_start + 10)
    } else {
        let Some(parsed) = parse_version(buf, version_start)? else {
            return Ok(None);
        };
        parsed
    };
    Ok(Some(RequestLine {
        method,
        target,
        version,
        end,
    }))
}

/// Returns the offset of the request line after at most
/// [`MAX_LEADING_EMPTY_LINES`] CRLFs, or `None` if a final CR leaves it open.
#[inline(always)]
fn skip_empty_lines(buf: &[u8]) -> Option<usize> {
    if buf.first() != Some(&b'\r') {
        return Some(0);
    }
    let mut pos = 0;
    for _ in 0..MAX_LEADING_EMPTY_LINES {
        match (buf.get(pos), buf.get(pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => pos += 2,
            (Some(b'\r'), None) => return None,
            _ => break,
        }
    }
    Some(pos)
}

/// Parses `HTTP/D.D CRLF` at `start`; returns the version and the offset past the CRLF.
fn parse_version(buf: &[u8], start: usize) -> Step<(Version, usize)> {
    if buf.get(start) == Some(&b' ') {
        // `GET / ` followed by another space.
        return Err(ParseError::BadRequestLine);
    }
    for (pos, &want) in (start..).zip(b"HTTP/") {
        if version_byte(buf, pos, |b| b == want)?.is_none() {
            return Ok(None);
        }
    }
    let pos = start + 5;
    let Some(major) = version_byte(buf, pos, |b| b.is_ascii_digit())? else {
        return Ok(None);
    };
    if version_byte(buf, pos + 1, |b| b == b'.')?.is_none() {
        return Ok(None);
    }
    let Some(minor) = version_byte(buf, pos + 2, |b| b.is_ascii_digit())? else {
        return Ok(None);
    };
    // Only the byte after the minor digit tells `HTTP/1.3` (505) from `HTTP/1.32` (400).
    let cr = pos + 3;
    match buf.get(cr) {
        None => return Ok(None),
        Some(b'\r') => {}
        Some(b'\n') => return Err(ParseError::BadLineEnding),
        Some(b' ') => return Err(ParseError::BadRequestLine),
        Some(_) => return Err(ParseError::BadVersion),
    }
    let version = match (major, minor) {
        (b'1', b'0') => Version::Http10,
        // RFC 9110 section 2.5: a later minor version is served as the highest one we
        // implement.
        (b'1', _) => Version::Http11,
        _ => return Err(ParseError::UnsupportedVersion),
    };
    match buf.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((version, cr + 2))),
        Some(_) => Err(ParseError::BadLineEnding),
    }
}

/// Returns the version byte at `pos` if it passes `want`.
fn version_byte(buf: &[u8], pos: usize, want: impl Fn(u8) -> bool) -> Step<u8> {
    match buf.get(pos) {
        None => Ok(None),
        Some(&b) if want(b) => Ok(Some(b)),
        Some(b'\r' | b'\n') => line_cut(buf, pos, ParseError::BadVersion),
        Some(_) => Err(ParseError::BadVersion),
    }
}

/// Parses field lines from `start` through the blank line into `slots`; returns the
/// number of fields and the offset past the blank line.
#[inline(always)]
fn parse_fields<'b>(
    buf: &'b [u8],
    start: usize,
    slots: &mut [Header<'b>],
    path: Path,
) -> Step<(usize, usize)> {
    let mut pos = start;
    let mut n_headers = 0;
    loop {
        let Some(&first) = buf.get(pos) else {
            return Ok(None);
        };
        match first {
            b'\r' => {
                return match buf.get(pos + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((n_headers, pos + 2))),
                    Some(_) => Err(ParseError::BadLineEnding),
                };
            }
            b'\n' => return Err(ParseError::BadLineEnding),
            b' ' | b'\t' => return Err(ParseError::ObsoleteFold),
            _ => {}
        }
        let Some(field) = parse_field_line(buf, pos, path)? else {
            return Ok(None);
        };
        let slot = slots.get_mut(n_headers).ok_or(ParseError::TooManyHeaders)?;
        *slot = field.header;
        n_headers += 1;
        pos = field.end;
    }
}

/// One field line and the offset just past its CRLF.
struct FieldLine<'b> {
    header: Header<'b>,
    end: usize,
}

/// Parses the field line starting at `start`, which is neither whitespace nor a line end.
#[inline(always)]
fn parse_field_line(buf: &[u8], start: usize, path: Path) -> Step<FieldLine<'_>> {
    let (name, name_len) = simd::take_tchars(rest_of(buf, start));
    let name_end = start + name_len;
    let Some(&b) = buf.get(name_end) else {
        return Ok(None);
    };
    match b {
        b':' if name_len > 0 => {}
        b'\r' | b'\n' => return line_cut(buf, name_end, ParseError::BadHeaderName),
        _ => return Err(ParseError::BadHeaderName),
    }

    // Leading whitespace is skipped here; the scan below stops at the first byte that
    // may not be in a value, which is the CR of the line's end unless the value is bad.
    let mut value_start = name_end + 1;
    while matches!(buf.get(value_start), Some(b' ' | b'\t')) {
        value_start += 1;
    }
    let rest = rest_of(buf, value_start);
    let value_len = simd::field_value_len(rest, path);
    let cr = value_start + value_len;
    match (buf.get(cr), buf.get(cr + 1)) {
        (None, _) | (Some(b'\r'), None) => return Ok(None),
        (Some(b'\r'), Some(b'\n')) => {}
        (Some(b'\r' | b'\n'), _) => return Err(ParseError::BadLineEnding),
        (Some(_), _) => return Err(ParseError::BadHeaderValue),
    }
    // Most names are shorter than the shortest look-alike; they skip the call.
    if name_len >= LOOKALIKE_MIN_LEN && is_framing_lookalike(name.as_bytes()) {
        return Err(ParseError::FramingLookalike);
    }
    // Trailing whitespace is rare; the value cannot be all whitespace (skipped above).
    let mut value_end = value_len;
    while value_end > 0 && matches!(rest.get(value_end - 1), Some(b' ' | b'\t')) {
        value_end -= 1;
    }
    let value = rest.get(..value_end).unwrap_or_default();
    Ok(Some(FieldLine {
        header: Header { name, value },
        end: cr + 2,
    }))
}

/// The length of the shortest framing look-alike, `contentlength`.
const LOOKALIKE_MIN_LEN: usize = 13;

/// Tells whether the field name `name` is a look-alike of a framing header: not
/// `Content-Length` or `Transfer-Encoding` itself (in any case), but spelling
/// `contentlength` or `transferencoding` once ASCII case, `-` and `_` are ignored.
#[inline]
fn is_framing_lookalike(name: &[u8]) -> bool {
    if name.len() < LOOKALIKE_MIN_LEN {
        return false;
    }
    let mut letters = name.iter().filter(|&&b| b != b'-' && b != b'_');
    let (squeezed, canonical): (&[u8], &[u8]) = match letters.next() {
        Some(b'c' | b'C') => (b"ontentlength", b"content-length"),
        Some(b't' | b'T') => (b"ransferencoding", b"transfer-encoding"),
        _ => return false,
    };
    let mut want = squeezed.iter();
    for &b in letters {
        // Stops at the first letter that differs, so `Cache-Control` costs two steps.
        if want.next() != Some(&b.to_ascii_lowercase()) {
            return false;
        }
    }
    want.next().is_none() && !name.eq_ignore_ascii_case(canonical)
}

/// Classifies a CR or LF found where the current element may not end.
///
/// A bare LF, or a CR followed by anything but LF, is a `BadLineEnding`; a proper CRLF
/// means the line ended too early, which is `early`. A final CR waits for the next byte.
fn line_cut<T>(buf: &[u8], pos: usize, early: ParseError) -> Step<T> {
    match (buf.get(pos), buf.get(pos + 1)) {
        (Some(b'\r'), None) => Ok(None),
        (Some(b'\r'), Some(b'\n')) => Err(early),
        _ => Err(ParseError::BadLineEnding),
    }
}

/// Returns the bytes of `buf` from `start` on; empty past the end.
#[inline]
fn rest_of(buf: &[u8], start: usize) -> &[u8] {
    buf.get(start..).unwrap_or_default()
}

/// Splits a transfer coding into its name and whether parameters follow.
///
/// ```text
/// transfer-coding    = token *( OWS ";" OWS transfer-parameter )
/// ```
///
/// Parameters are not parsed further: no coding this crate decodes takes any.
fn coding_name(coding: &[u8]) -> Result<(&[u8], bool), ParseError> {
    let end = coding
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(coding.len());
    let (name, rest) = coding.split_at(end);
    if name.is_empty() {
        return Err(ParseError::BadTransferEncoding);
    }
    let rest = trim_ows(rest);
    match rest.first() {
        None => Ok((name, false)),
        Some(b';') => Ok((name, true)),
        Some(_) => Err(ParseError::BadTransferEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed head copied out of the buffer, so tests need not juggle slots.
    #[derive(Debug, PartialEq, Eq)]
    struct Parsed {
        method: String,
        target: String,
        version: Version,
        headers: Vec<(String, Vec<u8>)>,
        len: usize,
    }

    /// Parses `buf` with [`MAX_HEADERS`] slots.
    fn parse(buf: &[u8]) -> Result<Status<Parsed>, ParseError> {
        parse_with_slots(buf, MAX_HEADERS)
    }

    fn parse_with_slots(buf: &[u8], n_slots: usize) -> Result<Status<Parsed>, ParseError> {
        let mut slots = vec![Header::EMPTY; n_slots];
        Ok(match parse_request(buf, &mut slots)? {
            Status::Partial => Status::Partial,
            Status::Complete((request, len)) => Status::Complete(Parsed {
                method: request.method.to_string(),
                target: request.target.to_string(),
                version: request.version,
                headers: request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_vec()))
                    .collect(),
                len,
            }),
        })
    }

    fn complete(buf: &[u8]) -> Parsed {
        match parse(buf) {
            Ok(Status::Complete(parsed)) => parsed,
            other => panic!("{:?} gave {other:?}", buf.escape_ascii().to_string()),
        }
    }

    fn show(buf: &[u8]) -> String {
        buf.escape_ascii().to_string()
    }

    /// Builds a request with the given headers for the `Request` method tests.
    fn request<'h>(version: Version, headers: &'h [Header<'static>]) -> Request<'h, 'static> {
        Request {
            method: "POST",
            target: "/",
            version,
            headers,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> Vec<Header<'static>> {
        pairs
            .iter()
            .map(|&(name, value)| Header {
                name,
                value: value.as_bytes(),
            })
            .collect()
    }

    /// Header fields of a test case, as (name, value) pairs.
    type Fields = &'static [(&'static str, &'static str)];

    /// Valid heads: (input, method, target, version, number of headers).
    const VALID: &[(&[u8], &str, &str, Version, usize)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", "GET", "/", Version::Http11, 0),
        (b"GET / HTTP/1.0\r\n\r\n", "GET", "/", Version::Http10, 0),
        (
            b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
            "GET",
            "/index.html",
            Version::Http11,
            1,
        ),
        (
            b"HEAD /a%20b.html?x=1&y=%2F HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
            "HEAD",
            "/a%20b.html?x=1&y=%2F",
            Version::Http11,
            2,
        ),
        (
            b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
              Content-Type: application/json\r\n\r\n",
            "POST",
            "/upload",
            Version::Http11,
            3,
        ),
        (
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "OPTIONS",
            "*",
            Version::Http11,
            1,
        ),
        (
            b"GET http://example.com:80/x?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "GET",
            "http://example.com:80/x?q",
            Version::Http11,
            1,
        ),
        (
            b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT",
            "example.com:443",
            Version::Http11,
            0,
        ),
        (
            b"M-SEARCH * HTTP/1.1\r\n\r\n",
            "M-SEARCH",
            "*",
            Version::Http11,
            0,
        ),
        (
            b"a!#$%&'*+-.^_`|~9 / HTTP/1.1\r\n\r\n",
            "a!#$%&'*+-.^_`|~9",
            "/",
            Version::Http11,
            0,
        ),
        (
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            0,
        ),
        (
            b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            0,
        ),
        (
            b"GET / HTTP/1.1\r\nX:\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            1,
        ),
        (
            b"GET / HTTP/1.1\r\nX:    \t \r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            1,
        ),
        (
            b"GET / HTTP/1.1\r\nX:a\r\nY: \t b c \t\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            2,
        ),
        (
            b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\x80\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            1,
        ),
        (
            b"GET / HTTP/1.1\r\nX: \"quoted, list\" (c)\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            1,
        ),
        (
            b"GET /~user/[x]{y}|z^`\\ HTTP/1.1\r\n\r\n",
            "GET",
            "/~user/[x]{y}|z^`\\",
            Version::Http11,
            0,
        ),
        (b"get / HTTP/1.1\r\n\r\n", "get", "/", Version::Http11, 0),
        (b"GET / HTTP/1.2\r\n\r\n", "GET", "/", Version::Http11, 0),
        (
            b"GET / HTTP/1.9\r\nHost: a\r\n\r\n",
            "GET",
            "/",
            Version::Http11,
            1,
        ),
    ];

    #[test]
    fn valid_heads_parse_completely() {
        for &(input, method, target, version, n_headers) in VALID {
            let parsed = complete(input);
            assert_eq!(parsed.method, method, "{}", show(input));
            assert_eq!(parsed.target, target, "{}", show(input));
            assert_eq!(parsed.version, version, "{}", show(input));
            assert_eq!(parsed.headers.len(), n_headers, "{}", show(input));
            assert_eq!(parsed.len, input.len(), "{}", show(input));
        }
    }

    #[test]
    fn every_proper_prefix_of_a_valid_head_is_partial() {
        for &(input, ..) in VALID {
            for end in 0..input.len() {
                assert_eq!(
                    parse(&input[..end]),
                    Ok(Status::Partial),
                    "prefix {} of {}",
                    show(&input[..end]),
                    show(input)
                );
            }
        }
    }

    #[test]
    fn bytes_after_the_head_are_not_consumed() {
        for &(input, ..) in VALID {
            for tail in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"hello", b"\n", b"\x00\xff"] {
                let mut buf = input.to_vec();
                buf.extend_from_slice(tail);
                assert_eq!(complete(&buf).len, input.len(), "{}", show(&buf));
            }
        }
    }

    #[test]
    fn scanner_and_parser_agree_on_every_valid_head() {
        for &(input, ..) in VALID {
            let mut scanner = crate::HeadScanner::default();
            let mut found = None;
            for end in 1..=input.len() {
                if let Status::Complete(n) = scanner.scan(&input[..end]).unwrap() {
                    found = Some((end, n));
                    break;
                }
            }
            assert_eq!(found, Some((input.len(), input.len())), "{}", show(input));
        }
    }

    /// Malformed heads and the error each must give.
    const MALFORMED: &[(&[u8], ParseError)] = &[
        // Request line shape.
        (b" GET / HTTP/1.1\r\n\r\n", ParseError::BadRequestLine),
        (b"GET  / HTTP/1.1\r\n\r\n", ParseError::BadRequestLine),
        (b"GET /  HTTP/1.1\r\n\r\n", ParseError::BadRequestLine),
        (b"GET / HTTP/1.1 \r\n\r\n", ParseError::BadRequestLine),
        (b"GET /\r\n\r\n", ParseError::BadRequestLine),
        (b"GET / \r\n\r\n", ParseError::BadVersion),
        (b"GET\r\n\r\n", ParseError::BadRequestLine),
        (
            b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            ParseError::BadRequestLine,
        ),
        // Method.
        (b"G(T / HTTP/1.1\r\n\r\n", ParseError::BadMethod),
        (b"GET\t/ HTTP/1.1\r\n\r\n", ParseError::BadMethod),
        (b"G\xc3\x89T / HTTP/1.1\r\n\r\n", ParseError::BadMethod),
        (b"\x00GET / HTTP/1.1\r\n\r\n", ParseError::BadMethod),
        (b"GET: / HTTP/1.1\r\n\r\n", ParseError::BadMethod),
        // Target.
        (b"GET \r\n\r\n", ParseError::BadTarget),
        (b"GET /a\x00b HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        (b"GET /a\tb HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        (b"GET /\x7f HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        (b"GET /\x1b[2J HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        // Version.
        (b"GET / HTTP/1.32\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/10.1\r\n\r\n", ParseError::BadVersion),
        (b"GET / http/1.1\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/1\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/1.\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTPS/1.1\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/1,1\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/a.b\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/1.1x\r\n\r\n", ParseError::BadVersion),
        (b"GET / FOO\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/2.0\r\n\r\n", ParseError::UnsupportedVersion),
        (b"GET / HTTP/0.9\r\n\r\n", ParseError::UnsupportedVersion),
        (b"GET / HTTP/3.0\r\n\r\n", ParseError::UnsupportedVersion),
        (b"GET / HTTP/9.9\r\n\r\n", ParseError::UnsupportedVersion),
        (b"GET / HTTP/1.10\r\n\r\n", ParseError::BadVersion),
        (b"GET / HTTP/1.x\r\n\r\n", ParseError::BadVersion),
        // Line endings.
        (b"\n", ParseError::BadLineEnding),
        (b"\r\n\nGET / HTTP/1.1\r\n\r\n", ParseError::BadLineEnding),
        (b"\rGET / HTTP/1.1\r\n\r\n", ParseError::BadLineEnding),
        (b"GET\n", ParseError::BadLineEnding),
        (b"GET /\n", ParseError::BadLineEnding),
        (b"GET /a\rb HTTP/1.1\r\n\r\n", ParseError::BadLineEnding),
        (b"GET / HTTP/1.1\n\n", ParseError::BadLineEnding),
        (b"GET / HTTP/1.1\r\r\n\r\n", ParseError::BadLineEnding),
        (b"GET / HTTP/1.1\r\n\n", ParseError::BadLineEnding),
        (b"GET / HTTP/1.1\r\n\r\r\n", ParseError::BadLineEnding),
        (
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            ParseError::BadLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            ParseError::BadLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
            ParseError::BadLineEnding,
        ),
        (b"GET / HTTP/1.1\r\nHost\n\r\n", ParseError::BadLineEnding),
        (b"GET / HT\nTP/1.1\r\n\r\n", ParseError::BadLineEnding),
        // Header names.
        (
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            ParseError::BadHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
            ParseError::BadHeaderName,
        ),
        (b"GET / HTTP/1.1\r\n: a\r\n\r\n", ParseError::BadHeaderName),
        (
            b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",
            ParseError::BadHeaderName,
        ),
        (b"GET / HTTP/1.1\r\nHost\r\n\r\n", ParseError::BadHeaderName),
        (
            b"GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n",
            ParseError::BadHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nA\x00B: a\r\n\r\n",
            ParseError::BadHeaderName,
        ),
        // Framing look-alikes.
        (
            b"POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\n\r\n",
            ParseError::FramingLookalike,
        ),
        (
            b"POST / HTTP/1.1\r\nContent_Length: 5\r\n\r\n",
            ParseError::FramingLookalike,
        ),
        // Header values.
        (
            b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            ParseError::BadHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n",
            ParseError::BadHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\x0bb\r\n\r\n",
            ParseError::BadHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: \x1b[31m\r\n\r\n",
            ParseError::BadHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nX: a\x00\r\nY: \n",
            ParseError::BadHeaderValue,
        ),
        // Folding.
        (
            b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
            ParseError::ObsoleteFold,
        ),
        (
            b"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",
            ParseError::ObsoleteFold,
        ),
        (
            b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
            ParseError::ObsoleteFold,
        ),
    ];

    #[test]
    fn malformed_heads_fail_with_the_expected_error() {
        for &(input, expected) in MALFORMED {
            assert_eq!(parse(input).map(|_| ()), Err(expected), "{}", show(input));
        }
    }

    #[test]
    fn prefixes_of_malformed_heads_are_partial_or_fail_the_same_way() {
        for &(input, expected) in MALFORMED {
            for end in 0..=input.len() {
                let result = parse(&input[..end]).map(|status| status == Status::Partial);
                assert!(
                    result == Ok(true) || result == Err(expected),
                    "prefix {} of {} gave {result:?}",
                    show(&input[..end]),
                    show(input)
                );
            }
        }
    }

    #[test]
    fn every_scan_path_parses_every_prefix_alike() {
        // The scalar, SSE2 and AVX2 scans (those this CPU has) on the same inputs.
        let outcome = |buf: &[u8], path: Path| {
            let mut slots = [Header::EMPTY; MAX_HEADERS];
            parse_head(buf, &mut slots, path).map(|status| match status {
                Status::Complete((request, len)) => Some((
                    request.method.to_string(),
                    request.target.to_string(),
                    request.version,
                    request
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), h.value.to_vec()))
                        .collect::<Vec<_>>(),
                    len,
                )),
                Status::Partial => None,
            })
        };
        let mut long = b"GET /".to_vec();
        long.extend_from_slice(&[b'a'; 100]);
        long.extend_from_slice(b" HTTP/1.1\r\nX: ");
        long.extend_from_slice(&[b'v'; 100]);
        long.extend_from_slice(b"\x01\r\n\r\n");
        let inputs = VALID
            .iter()
            .map(|v| v.0)
            .chain(MALFORMED.iter().map(|m| m.0))
            .chain([long.as_slice()]);
        for input in inputs {
            for end in 0..=input.len() {
                let prefix = &input[..end];
                let scalar = outcome(prefix, Path::Scalar);
                for path in Path::all_available() {
                    assert_eq!(outcome(prefix, path), scalar, "{path:?} {}", show(prefix));
                }
            }
        }
    }

    #[test]
    fn malformed_corpus_covers_every_head_error() {
        let head_errors = [
            ParseError::BadRequestLine,
            ParseError::BadMethod,
            ParseError::BadTarget,
            ParseError::BadVersion,
            ParseError::UnsupportedVersion,
            ParseError::BadLineEnding,
            ParseError::BadHeaderName,
            ParseError::BadHeaderValue,
            ParseError::ObsoleteFold,
            ParseError::FramingLookalike,
        ];
        for error in head_errors {
            assert!(
                MALFORMED.iter().any(|&(_, e)| e == error),
                "{error:?} is not in the corpus"
            );
        }
        // TooManyHeaders depends on the slots; see its own tests. The framing
        // errors come from `Request::framing`; see `framing_cases`.
    }

    #[test]
    fn errors_do_not_wait_for_the_end_of_the_line() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"G@", ParseError::BadMethod),
            (b" ", ParseError::BadRequestLine),
            (b"GET  ", ParseError::BadRequestLine),
            (b"GET /\x01", ParseError::BadTarget),
            (b"GET / X", ParseError::BadVersion),
            (b"GET / HTTPS", ParseError::BadVersion),
            (b"GET / HTTP/1.1 ", ParseError::BadRequestLine),
            (b"GET / HTTP/1.11", ParseError::BadVersion),
            (b"GET / HTTP/2.0\r", ParseError::UnsupportedVersion),
            (b"GET / HTTP/1.1\r\n ", ParseError::ObsoleteFold),
            (b"GET / HTTP/1.1\r\nHost ", ParseError::BadHeaderName),
            (b"GET / HTTP/1.1\r\nHost: a\x01", ParseError::BadHeaderValue),
            (b"GET / HTTP/1.1\r\nHost: a\n", ParseError::BadLineEnding),
            (b"GET / HTTP/1.1\r\n\n", ParseError::BadLineEnding),
        ];
        for &(input, expected) in cases {
            assert_eq!(parse(input).map(|_| ()), Err(expected), "{}", show(input));
        }
    }

    #[test]
    fn a_final_cr_waits_for_the_byte_that_decides_the_error() {
        // `GET\r` cannot become valid, but CRLF (short line) and CR X (bare CR) are
        // different errors; waiting one byte keeps the error independent of splits.
        assert_eq!(parse(b"GET\r"), Ok(Status::Partial));
        assert_eq!(
            parse(b"GET\r\n").map(|_| ()),
            Err(ParseError::BadRequestLine)
        );
        assert_eq!(parse(b"GET\rX").map(|_| ()), Err(ParseError::BadLineEnding));
        // Likewise `HTTP/1.3` may still become `HTTP/1.32`.
        assert_eq!(parse(b"GET / HTTP/1.3"), Ok(Status::Partial));
    }

    #[test]
    fn supported_versions_are_recognized() {
        assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
        assert_eq!(complete(b"GET / HTTP/1.1\r\n\r\n").version, Version::Http11);
    }

    #[test]
    fn every_well_formed_version_has_its_outcome() {
        // RFC 9110 section 2.5: a later HTTP/1 minor version is served as 1.1; another
        // major version is unsupported.
        for major in b'0'..=b'9' {
            for minor in b'0'..=b'9' {
                let mut input = b"GET / HTTP/".to_vec();
                input.extend_from_slice(&[major, b'.', minor]);
                input.extend_from_slice(b"\r\n\r\n");
                let result = parse(&input).map(|s| match s {
                    Status::Complete(parsed) => Some(parsed.version),
                    Status::Partial => None,
                });
                let expected = match (major, minor) {
                    (b'1', b'0') => Ok(Some(Version::Http10)),
                    (b'1', _) => Ok(Some(Version::Http11)),
                    _ => Err(ParseError::UnsupportedVersion),
                };
                assert_eq!(result, expected, "{}", show(&input));
            }
        }
    }

    #[test]
    fn framing_lookalike_names_are_refused() {
        let cases: &[(&str, bool)] = &[
            // The framing headers themselves, in any case, are not look-alikes.
            ("Content-Length", false),
            ("content-length", false),
            ("CONTENT-LENGTH", false),
            ("Transfer-Encoding", false),
            ("tRANSFER-eNCODING", false),
            // Underscores, doubled, leading, trailing or missing hyphens.
            ("Content_Length", true),
            ("content_length", true),
            ("Transfer_Encoding", true),
            ("Transfer--Encoding", true),
            ("Content--Length", true),
            ("content-length-", true),
            ("-Content-Length", true),
            ("_transfer_encoding_", true),
            ("ContentLength", true),
            ("TransferEncoding", true),
            ("Content-_-Length", true),
            ("Conte-nt-Length", true),
            // Other names, near or far.
            ("Content-Lengths", false),
            ("Content-Lengt", false),
            ("X-Content-Length", false),
            ("Content-Location", false),
            ("Content-Type", false),
            ("Cache-Control", false),
            ("Transfer-Encodings", false),
            ("TE", false),
            ("Accept-Encoding", false),
            ("Upgrade-Insecure-Requests", false),
            ("c", false),
            ("-", false),
            ("-------------", false),
        ];
        for &(name, refused) in cases {
            assert_eq!(is_framing_lookalike(name.as_bytes()), refused, "{name}");
            let input = format!("POST / HTTP/1.1\r\n{name}: 5\r\n\r\n");
            let expected = if refused {
                Err(ParseError::FramingLookalike)
            } else {
                Ok(())
            };
            assert_eq!(parse(input.as_bytes()).map(|_| ()), expected, "{name}");
        }
    }

    #[test]
    fn header_values_are_trimmed_but_names_kept_as_sent() {
        let parsed = complete(b"GET / HTTP/1.1\r\nX-Thing: \t a  b \t\r\nEMPTY:\r\nsp:   \r\n\r\n");
        assert_eq!(
            parsed.headers,
            vec![
                ("X-Thing".to_string(), b"a  b".to_vec()),
                ("EMPTY".to_string(), Vec::new()),
                ("sp".to_string(), Vec::new()),
            ]
        );
    }

    #[test]
    fn obs_text_is_allowed_in_values() {
        let parsed = complete(b"GET / HTTP/1.1\r\nX: \x80\xfe\xff caf\xc3\xa9\r\n\r\n");
        assert_eq!(parsed.headers[0].1, b"\x80\xfe\xff caf\xc3\xa9");
    }

    #[test]
    fn colon_in_a_value_is_just_a_byte() {
        let parsed = complete(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\nX::y\r\n\r\n");
        assert_eq!(parsed.headers[0].1, b"example.com:8080");
        assert_eq!(parsed.headers[1], ("X".to_string(), b":y".to_vec()));
    }

    #[test]
    fn headers_exactly_filling_the_slots_are_accepted() {
        let input = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let Ok(Status::Complete(parsed)) = parse_with_slots(input, 3) else {
            panic!("three headers should fit three slots");
        };
        assert_eq!(parsed.headers.len(), 3);
    }

    #[test]
    fn one_header_more_than_slots_is_too_many() {
        let input = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_with_slots(input, 2).map(|_| ()),
            Err(ParseError::TooManyHeaders)
        );
        assert_eq!(
            parse_with_slots(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n", 0).map(|_| ()),
            Err(ParseError::TooManyHeaders)
        );
    }

    #[test]
    fn too_many_headers_waits_for_a_whole_line() {
        let input = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n";
        let first_extra = b"GET / HTTP/1.1\r\nA: 1\r\n".len();
        for end in 0..input.len() {
            let result = parse_with_slots(&input[..end], 1).map(|_| ());
            if end < first_extra + b"B: 2\r\n".len() {
                assert_eq!(result, Ok(()), "{}", show(&input[..end]));
            } else {
                assert_eq!(result, Err(ParseError::TooManyHeaders));
            }
        }
    }

    #[test]
    fn no_slots_are_needed_without_headers() {
        let Ok(Status::Complete(parsed)) = parse_with_slots(b"GET / HTTP/1.1\r\n\r\n", 0) else {
            panic!("no headers need no slots");
        };
        assert!(parsed.headers.is_empty());
    }

    #[test]
    fn max_headers_fit_in_max_headers_slots() {
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            input.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        assert_eq!(complete(&input).headers.len(), MAX_HEADERS);

        input.truncate(input.len() - 2);
        input.extend_from_slice(b"X-Last: 1\r\n\r\n");
        assert_eq!(parse(&input).map(|_| ()), Err(ParseError::TooManyHeaders));
    }

    #[test]
    fn leading_empty_lines_are_skipped_up_to_the_limit() {
        for n in 0..=MAX_LEADING_EMPTY_LINES {
            let mut input = b"\r\n".repeat(n);
            input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            let parsed = complete(&input);
            assert_eq!(parsed.method, "GET");
            assert_eq!(parsed.len, input.len());
        }
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parse(&input).map(|_| ()), Err(ParseError::BadRequestLine));
    }

    #[test]
    fn the_returned_slices_borrow_the_input() {
        let input = b"GET /x?y HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut slots = [Header::EMPTY; 2];
        let Ok(Status::Complete((request, _))) = parse_request(input, &mut slots) else {
            panic!("valid head");
        };
        let range = input.as_ptr_range();
        assert!(range.contains(&request.target.as_ptr()));
        assert!(range.contains(&request.headers[0].value.as_ptr()));
    }

    /// Reduces a parse to a short label, for tallying outcomes.
    fn label(result: &Result<Status<Parsed>, ParseError>) -> String {
        match result {
            Ok(Status::Complete(_)) => "Complete".to_string(),
            Ok(Status::Partial) => "Partial".to_string(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn short_inputs_have_the_expected_outcomes() {
        // Every input of up to two bytes, and three-byte tails after valid prefixes: the
        // parser must return, and the tally of what it returns must match the table, so
        // that a parser that panics, accepts everything or refuses everything fails.
        let mut tally = std::collections::BTreeMap::<(&str, String), usize>::new();
        for a in 0..=255u8 {
            *tally.entry(("1 byte", label(&parse(&[a])))).or_default() += 1;
            for b in 0..=255u8 {
                *tally
                    .entry(("2 bytes", label(&parse(&[a, b]))))
                    .or_default() += 1;
            }
        }
        let prefixes: &[&[u8]] = &[b"GET", b"GET /", b"GET / HTTP/1.1", b"GET / HTTP/1.1\r\nA:"];
        for prefix in prefixes {
            for b in 0..=255u8 {
                for c in [b'\r', b'\n', b' ', b':', b'a', 0, 0xff] {
                    let mut input = prefix.to_vec();
                    input.extend_from_slice(&[b, c, b'\n']);
                    *tally.entry(("tails", label(&parse(&input)))).or_default() += 1;
                }
            }
        }
        let got: Vec<(&str, &str, usize)> = tally
            .iter()
            .map(|((group, outcome), &n)| (*group, outcome.as_str(), n))
            .collect();
        assert_eq!(got, SHORT_INPUT_OUTCOMES);

        // And a few of those inputs, one by one.
        let cases: &[(&[u8], Result<bool, ParseError>)] = &[
            (b"G", Ok(false)),
            (b"\r", Ok(false)),
            (b"\r\n", Ok(false)),
            (b"\n", Err(ParseError::BadLineEnding)),
            (b" ", Err(ParseError::BadRequestLine)),
            (b"G ", Ok(false)),
            (b"(", Err(ParseError::BadMethod)),
            (b"GET / HTTP/1.1\r\nA:b\r\n", Ok(false)),
            (b"GET / HTTP/1.1\r\nA:\r\n\r\n", Ok(true)),
            (b"GET / HTTP/1.1\r\nA:a\r\n", Ok(false)),
            (
                b"GET / HTTP/1.1\r\nA:\x00\r\n",
                Err(ParseError::BadHeaderValue),
            ),
            (b"GET /\xff\r\n", Err(ParseError::BadTarget)),
        ];
        for &(input, expected) in cases {
            let result = parse(input).map(|s| s != Status::Partial);
            assert_eq!(result, expected, "{}", show(input));
        }
    }

    /// What [`short_inputs_have_the_expected_outcomes`] must tally: (group, outcome,
    /// number of inputs).
    const SHORT_INPUT_OUTCOMES: &[(&str, &str, usize)] = &[
        // 77 tchars and CR may start a head; SP and LF are wrong at once.
        ("1 byte", "BadLineEnding", 1),
        ("1 byte", "BadMethod", 176),
        ("1 byte", "BadRequestLine", 1),
        ("1 byte", "Partial", 78),
        ("2 bytes", "BadLineEnding", 588),
        ("2 bytes", "BadMethod", 58_608),
        ("2 bytes", "BadRequestLine", 256),
        ("2 bytes", "Partial", 6084),
        // Each tail ends in a LF, so none completes a head.
        ("tails", "BadHeaderValue", 434),
        ("tails", "BadLineEnding", 1785),
        ("tails", "BadMethod", 1463),
        ("tails", "BadRequestLine", 182),
        ("tails", "BadTarget", 1304),
        ("tails", "BadVersion", 1776),
        ("tails", "Partial", 224),
    ];

    #[test]
    fn mutated_heads_give_the_same_answer_for_every_prefix() {
        // Mutate valid heads with bytes that matter to the grammar, then check that
        // no prefix disagrees with the whole: a prefix is Partial, or fails with the
        // same error, or (past the head's end) completes with the same length.
        let interesting = [
            b'\r', b'\n', b' ', b'\t', b':', b'/', b'.', b'1', 0, 0x7f, 0xff,
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        for &(input, ..) in VALID {
            for _ in 0..40 {
                let mut mutated = input.to_vec();
                for _ in 0..1 + next() % 2 {
                    let at = next() % mutated.len();
                    let byte = interesting[next() % interesting.len()];
                    match next() % 3 {
                        0 => mutated[at] = byte,
                        1 => mutated.insert(at, byte),
                        _ => {
                            mutated.remove(at);
                        }
                    }
                }
                let whole = parse(&mutated).map(|s| match s {
                    Status::Complete(p) => Some(p.len),
                    Status::Partial => None,
                });
                for end in 0..mutated.len() {
                    let part = parse(&mutated[..end]).map(|s| match s {
                        Status::Complete(p) => Some(p.len),
                        Status::Partial => None,
                    });
                    assert!(
                        part == Ok(None) || part == whole,
                        "prefix {} of {} gave {part:?}, whole gave {whole:?}",
                        show(&mutated[..end]),
                        show(&mutated)
                    );
                }
            }
        }
    }

    #[test]
    fn header_finds_the_first_match_ignoring_case() {
        let fields = headers(&[("Host", "a"), ("X-A", "1"), ("x-a", "2"), ("HOST", "b")]);
        let request = request(Version::Http11, &fields);
        assert_eq!(request.header("host"), Some(&b"a"[..]));
        assert_eq!(request.header("HoSt"), Some(&b"a"[..]));
        assert_eq!(request.header("X-A"), Some(&b"1"[..]));
        assert_eq!(request.header("missing"), None);
        assert_eq!(request.header("hos"), None);
        let all: Vec<&[u8]> = request.headers_named("x-a").collect();
        assert_eq!(all, vec![&b"1"[..], &b"2"[..]]);
    }

    #[test]
    fn path_and_query_split_at_the_first_question_mark() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("/", "/", None),
            ("/a/b.html", "/a/b.html", None),
            ("/a?x=1", "/a", Some("x=1")),
            ("/a?", "/a", Some("")),
            ("/a?x=1?y=2", "/a", Some("x=1?y=2")),
            ("?x", "", Some("x")),
            ("*", "*", None),
            ("/a%3Fb", "/a%3Fb", None),
            ("/a#frag", "/a#frag", None),
        ];
        for &(target, path, query) in cases {
            let request = Request {
                method: "GET",
                target,
                version: Version::Http11,
                headers: &[],
            };
            assert_eq!(request.path(), path, "{target}");
            assert_eq!(request.query(), query, "{target}");
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection_tokens() {
        let cases: &[(Version, Fields, bool)] = &[
            (Version::Http11, &[], true),
            (Version::Http11, &[("Connection", "keep-alive")], true),
            (Version::Http11, &[("Connection", "close")], false),
            (Version::Http11, &[("connection", "CLOSE")], false),
            (Version::Http11, &[("Connection", "Upgrade, close")], false),
            (
                Version::Http11,
                &[("Connection", "keep-alive"), ("Connection", "close")],
                false,
            ),
            (Version::Http11, &[("Connection", "closed")], true),
            (Version::Http11, &[("Connection", "not-close")], true),
            (Version::Http11, &[("X-Connection", "close")], true),
            (Version::Http10, &[], false),
            (Version::Http10, &[("Connection", "keep-alive")], true),
            (Version::Http10, &[("Connection", "Keep-Alive")], true),
            (
                Version::Http10,
                &[("Connection", "foo,  keep-alive ")],
                true,
            ),
            (
                Version::Http10,
                &[("Connection", "keep-alive, close")],
                false,
            ),
            (
                Version::Http10,
                &[("Connection", "close"), ("Connection", "keep-alive")],
                false,
            ),
            (Version::Http10, &[("Connection", "keep-alivex")], false),
            (Version::Http10, &[("Keep-Alive", "timeout=5")], false),
        ];
        for &(version, pairs, expected) in cases {
            let fields = headers(pairs);
            let request = request(version, &fields);
            assert_eq!(
                request.wants_keep_alive(),
                expected,
                "{version:?} {pairs:?}"
            );
        }
    }

    #[test]
    fn expects_continue_only_for_100_continue() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], false),
            (&[("Expect", "100-continue")], true),
            (&[("expect", "100-Continue")], true),
            (&[("Expect", "100-CONTINUE")], true),
            (&[("Expect", " 100-continue ")], true),
            (&[("Expect", "100-continuex")], false),
            (&[("Expect", "x100-continue")], false),
            (&[("Expect", "200-ok")], false),
            (&[("Expect", "")], false),
            (&[("Expect", "foo"), ("Expect", "100-continue")], true),
            (&[("X-Expect", "100-continue")], false),
        ];
        for &(pairs, expected) in cases {
            let fields = headers(pairs);
            let request = request(Version::Http11, &fields);
            assert_eq!(request.expects_continue(), expected, "{pairs:?}");
        }
    }

    #[test]
    fn framing_cases() {
        use Framing::{Chunked, Length};
        use ParseError::{
            BadContentLength, BadTransferEncoding, ConflictingLength, UnsupportedTransferCoding,
        };
        let cases: &[(Version, Fields, Result<Framing, ParseError>)] = &[
            // No body headers.
            (Version::Http11, &[], Ok(Framing::None)),
            (Version::Http10, &[("Host", "a")], Ok(Framing::None)),
            // Content-Length.
            (Version::Http11, &[("Content-Length", "0")], Ok(Length(0))),
            (Version::Http11, &[("content-length", "5")], Ok(Length(5))),
            (Version::Http10, &[("Content-Length", "5")], Ok(Length(5))),
            (Version::Http11, &[("Content-Length", "007")], Ok(Length(7))),
            (
                Version::Http11,
                &[("Content-Length", "5, 5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5,5,5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "1000,1000")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Content-Length", "5, 5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", " 5\t")],
                Ok(Length(5)),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Content-Length", "5")],
                Ok(Length(5)),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Content-Length", "05")],
                Ok(Length(5)),
            ),
            (
                Version::Http11,
                &[("Content-Length", "18446744073709551615")],
                Ok(Length(u64::MAX)),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5, 10")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Content-Length", "6")],
                Err(ConflictingLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "+5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "-1")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "0x10")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", " 5 5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5,")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", ",5")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5, 10, x")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "18446744073709551616")],
                Err(BadContentLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Content-Length", "five")],
                Err(BadContentLength),
            ),
            // Transfer-Encoding.
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked")],
                Ok(Chunked),
            ),
            (
                Version::Http11,
                &[("transfer-encoding", "Chunked")],
                Ok(Chunked),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", " CHUNKED ")],
                Ok(Chunked),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "gzip, chunked")],
                Err(UnsupportedTransferCoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "gzip")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "xchunked")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunkedx")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "identity")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked, gzip")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "gzip;level=1, chunked")],
                Err(UnsupportedTransferCoding),
            ),
            (
                Version::Http11,
                &[
                    ("Transfer-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked"),
                ],
                Err(UnsupportedTransferCoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked, chunked")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "chunked"),
                ],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked, ")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", ", chunked")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked;x=1")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "chun ked")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "\"chunked\"")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "gzip, ,chunked")],
                Err(BadTransferEncoding),
            ),
            (
                Version::Http10,
                &[("Transfer-Encoding", "chunked")],
                Err(BadTransferEncoding),
            ),
            // Both.
            (
                Version::Http11,
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
                Err(ConflictingLength),
            ),
            (
                Version::Http11,
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                Err(ConflictingLength),
            ),
            (
                Version::Http10,
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                Err(ConflictingLength),
            ),
            (
                Version::Http11,
                &[("Transfer-Encoding", "gzip"), ("Content-Length", "x")],
                Err(ConflictingLength),
            ),
        ];
        for &(version, pairs, expected) in cases {
            let fields = headers(pairs);
            let request = request(version, &fields);
            assert_eq!(request.framing(), expected, "{version:?} {pairs:?}");
        }
    }

    #[test]
    fn framing_of_a_parsed_head() {
        let input = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n";
        let mut slots = [Header::EMPTY; 4];
        let Ok(Status::Complete((request, _))) = parse_request(input, &mut slots) else {
            panic!("valid head");
        };
        assert_eq!(request.framing(), Ok(Framing::Length(12)));
        assert_eq!(request.method_kind(), Method::Post);
    }

    #[test]
    fn method_kind_is_case_sensitive() {
        let cases = [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("PUT", Method::Put),
            ("DELETE", Method::Delete),
            ("PATCH", Method::Patch),
            ("OPTIONS", Method::Options),
            ("TRACE", Method::Trace),
            ("CONNECT", Method::Connect),
            ("get", Method::Other),
            ("Get", Method::Other),
            ("M-SEARCH", Method::Other),
            ("", Method::Other),
        ];
        for (token, expected) in cases {
            assert_eq!(Method::from_token(token), expected, "{token}");
        }
    }

    #[test]
    fn version_as_str_is_the_wire_form() {
        assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
        assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
    }

    #[test]
    fn parse_error_messages_are_lowercase_without_period() {
        let all = [
            ParseError::BadRequestLine,
            ParseError::BadMethod,
            ParseError::BadTarget,
            ParseError::BadVersion,
            ParseError::UnsupportedVersion,
            ParseError::BadLineEnding,
            ParseError::BadHeaderName,
            ParseError::FramingLookalike,
            ParseError::BadHeaderValue,
            ParseError::ObsoleteFold,
            ParseError::TooManyHeaders,
            ParseError::BadContentLength,
            ParseError::ConflictingLength,
            ParseError::UnsupportedTransferCoding,
            ParseError::BadTransferEncoding,
        ];
        for error in all {
            let message = error.to_string();
            assert!(!message.is_empty());
            assert!(!message.ends_with('.'), "{message}");
            assert_eq!(message, message.to_lowercase(), "{message}");
        }
    }
}
