//! Response heads: status lines, reason phrases and header lines.
//!
//! [`ResponseHead`] writes into one buffer and filters what it is given so that no
//! name or value can end a line early: header injection is impossible by
//! construction, whatever the caller passes.

use crate::table::is_tchar;

/// Returns the standard reason phrase for `code`, or `""` for an unknown code.
///
/// Phrases are those of RFC 9110 section 15, plus 429 and 431 (RFC 6585) and 507
/// (RFC 4918).
///
/// # Examples
///
/// ```
/// assert_eq!(httpd_proto::reason_phrase(404), "Not Found");
/// assert_eq!(httpd_proto::reason_phrase(299), "");
/// ```
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Tells whether a header value may hold `b`: HTAB and every byte from 0x20 up, but
/// DEL.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7F)
}

/// Tells whether every byte of `value` may be in a header value. Branch-free over the
/// whole slice (no early exit), so the compiler turns it into vector compares.
fn is_clean_value(value: &[u8]) -> bool {
    let mut bad = 0u8;
    for &b in value {
        bad |= (u8::from(b < 0x20) & u8::from(b != b'\t')) | u8::from(b == 0x7F);
    }
    bad == 0
}

/// Tells whether every byte of `name` is a token character, without an early exit.
fn is_clean_name(name: &[u8]) -> bool {
    let mut ok = 1u8;
    for &b in name {
        ok &= u8::from(is_tchar(b));
    }
    ok == 1
}

/// Appends `n` in decimal without allocating.
fn push_decimal(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    buf.extend_from_slice(decimal(n, &mut digits));
}

/// Writes `n` in decimal at the end of `digits`; returns the digits written.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        // A digit: n % 10 < 10 always fits.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[i..]
}

/// Builds an HTTP/1.1 response head.
///
/// # Examples
///
/// ```
/// use httpd_proto::ResponseHead;
///
/// let mut head = ResponseHead::new(404);
/// head.header("Content-Length", "0").header("X-Note", "a\r\nSet-Cookie: b");
/// assert_eq!(
///     head.finish(),
///     b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Note: aSet-Cookie: b\r\n\r\n",
/// );
/// ```
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// The status line and header lines written so far, each ending in CRLF, after
    /// whatever `buf` held before `start`.
    buf: Vec<u8>,
    /// Where this head's status line starts in `buf`.
    start: usize,
}

impl ResponseHead {
    /// Starts a head with the status line `HTTP/1.1 CODE REASON`.
    ///
    /// The reason is [`reason_phrase`]`(code)`, empty for an unknown code (the line
    /// then ends `CODE \r\n`, which RFC 9112 section 4 allows). The code is written in
    /// decimal as given; HTTP expects three digits, 100 to 599.
    pub fn new(code: u16) -> ResponseHead {
        ResponseHead::with_capacity(code, 256)
    }

    /// Like [`new`](Self::new), with room for `capacity` bytes before the buffer grows.
    pub fn with_capacity(code: u16, capacity: usize) -> ResponseHead {
        ResponseHead::appending(code, Vec::with_capacity(capacity.max(32)))
    }

    /// Like [`new`](Self::new), but writes after the bytes `buf` already holds (say,
    /// earlier pipelined responses), reusing its capacity: [`finish`](Self::finish)
    /// gives `buf` back with this head appended, so a server can build every head
    /// into one buffer without allocating.
    pub fn appending(code: u16, buf: Vec<u8>) -> ResponseHead {
        let mut buf = buf;
        let start = buf.len();
        let reason = reason_phrase(code);
        buf.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut buf, u64::from(code));
        buf.push(b' ');
        buf.extend_from_slice(reason.as_bytes());
        buf.extend_from_slice(b"\r\n");
        ResponseHead { buf, start }
    }

    /// Appends a header line. CR, LF and other control bytes in `value` are dropped, so
    /// a value can never start a new line.
    ///
    /// From `value`, every byte below 0x20 except HTAB, and DEL (0x7F), is dropped;
    /// other bytes, UTF-8 included, are kept. From `name`, every byte that is not a
    /// token character (RFC 9110 section 5.6.2) is dropped, so it cannot hold a colon,
    /// whitespace or a line break either. A name left empty writes no line at all.
    pub fn header(&mut self, name: &str, value: &str) -> &mut ResponseHead {
        self.header_bytes(name, value.as_bytes())
    }

    /// Appends a header line whose value is `value` in decimal.
    pub fn header_u64(&mut self, name: &str, value: u64) -> &mut ResponseHead {
        let mut digits = [0u8; 20];
        let value = decimal(value, &mut digits);
        self.header_bytes(name, value)
    }

    /// Appends `Keep-Alive: timeout=T, max=N` (the informational header of RFC 2068
    /// section 19.7.1, which browsers and proxies read), without formatting machinery.
    pub fn keep_alive(&mut self, timeout_secs: u64, max: u64) -> &mut ResponseHead {
        let mut digits = [0u8; 20];
        self.buf.extend_from_slice(b"Keep-Alive: timeout=");
        self.buf
            .extend_from_slice(decimal(timeout_secs, &mut digits));
        self.buf.extend_from_slice(b", max=");
        self.buf.extend_from_slice(decimal(max, &mut digits));
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// [`header`](Self::header) for a value given as bytes, filtered the same way.
    pub fn header_bytes(&mut self, name: &str, value: &[u8]) -> &mut ResponseHead {
        let name = name.as_bytes();
        // The usual case (a clean name and value) is copied whole; only a name or value
        // holding a forbidden byte is filtered byte by byte.
        if is_clean_name(name) {
            if name.is_empty() {
                return self;
            }
            self.buf.extend_from_slice(name);
        } else {
            if !name.iter().any(|&b| is_tchar(b)) {
                return self;
            }
            self.buf
                .extend(name.iter().copied().filter(|&b| is_tchar(b)));
        }
        self.buf.extend_from_slice(b": ");
        if is_clean_value(value) {
            self.buf.extend_from_slice(value);
        } else {
            self.buf
                .extend(value.iter().copied().filter(|&b| is_value_byte(b)));
        }
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Appends header lines already rendered as `Name: value\r\n` lines, such as
    /// operator-configured headers built once at start-up with another
    /// `ResponseHead`'s [`lines`](Self::lines). The caller vouches for their form.
    pub fn raw_lines(&mut self, lines: &[u8]) -> &mut ResponseHead {
        self.buf.extend_from_slice(lines);
        self
    }

    /// Returns the header lines written so far without the status line, for
    /// [`raw_lines`](Self::raw_lines).
    pub fn lines(&self) -> &[u8] {
        let own = &self.buf[self.start..];
        let start = own
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(own.len(), |i| i + 2);
        &own[start..]
    }

    /// Ends the head with the blank line and returns its bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut buf = self.buf;
        buf.extend_from_slice(b"\r\n");
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_slice_checks_agree_with_the_byte_classes() {
        for b in 0..=255u8 {
            assert_eq!(is_clean_value(&[b]), is_value_byte(b), "value byte {b}");
            assert_eq!(is_clean_value(&[b'a', b, b'z']), is_value_byte(b), "{b}");
            assert_eq!(is_clean_name(&[b]), is_tchar(b), "name byte {b}");
        }
        let long = vec![b'x'; 100];
        assert!(is_clean_value(&long) && is_clean_name(&long));
        let mut dirty = long.clone();
        dirty[97] = b'\n';
        assert!(!is_clean_value(&dirty) && !is_clean_name(&dirty));
        assert!(is_clean_value(b"") && is_clean_name(b""));
    }

    #[test]
    fn keep_alive_is_one_line_with_both_numbers() {
        let mut head = ResponseHead::new(200);
        head.keep_alive(30, 99).keep_alive(0, u64::MAX);
        let text = String::from_utf8(head.finish()).unwrap();
        assert!(text.contains("\r\nKeep-Alive: timeout=30, max=99\r\n"));
        assert!(text.contains(&format!("\r\nKeep-Alive: timeout=0, max={}\r\n", u64::MAX)));
    }

    #[test]
    fn numbers_and_prerendered_lines_are_written_as_given() {
        let mut extra = ResponseHead::new(200);
        extra.header("X-A", "1").header("X-B", "two");
        assert_eq!(extra.lines(), b"X-A: 1\r\nX-B: two\r\n");
        let mut head = ResponseHead::with_capacity(206, 8);
        head.header_u64("Content-Length", 0)
            .header_u64("X-Big", u64::MAX)
            .raw_lines(extra.lines())
            .header_bytes("X-Raw", b"a\r\nb");
        assert_eq!(
            head.finish(),
            b"HTTP/1.1 206 Partial Content\r\nContent-Length: 0\r\n\
              X-Big: 18446744073709551615\r\nX-A: 1\r\nX-B: two\r\nX-Raw: ab\r\n\r\n"
        );
        assert_eq!(ResponseHead::new(200).lines(), b"");
    }

    #[test]
    fn status_line_has_code_and_reason() {
        let cases: &[(u16, &[u8])] = &[
            (200, b"HTTP/1.1 200 OK\r\n\r\n"),
            (204, b"HTTP/1.1 204 No Content\r\n\r\n"),
            (404, b"HTTP/1.1 404 Not Found\r\n\r\n"),
            (505, b"HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n"),
            (299, b"HTTP/1.1 299 \r\n\r\n"),
        ];
        for &(code, expected) in cases {
            assert_eq!(ResponseHead::new(code).finish(), expected, "{code}");
        }
    }

    #[test]
    fn common_codes_have_reason_phrases() {
        let codes = [
            100, 101, 200, 201, 204, 206, 301, 302, 304, 400, 403, 404, 405, 408, 411, 412, 413,
            414, 415, 416, 417, 429, 431, 500, 501, 503, 505, 507,
        ];
        for code in codes {
            let reason = reason_phrase(code);
            assert!(!reason.is_empty(), "{code} has no reason phrase");
            assert!(
                reason.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{code}"
            );
        }
    }

    #[test]
    fn reason_phrases_match_rfc_9110() {
        let cases = [
            (206, "Partial Content"),
            (304, "Not Modified"),
            (413, "Content Too Large"),
            (414, "URI Too Long"),
            (416, "Range Not Satisfiable"),
            (431, "Request Header Fields Too Large"),
            (507, "Insufficient Storage"),
        ];
        for (code, reason) in cases {
            assert_eq!(reason_phrase(code), reason);
        }
    }

    #[test]
    fn unknown_codes_have_no_reason() {
        for code in [
            0,
            1,
            99,
            102,
            199,
            299,
            306,
            418,
            499,
            506,
            600,
            999,
            u16::MAX,
        ] {
            assert_eq!(reason_phrase(code), "", "{code}");
        }
    }

    #[test]
    fn headers_are_written_in_order() {
        let mut head = ResponseHead::new(200);
        head.header("Content-Type", "text/html; charset=utf-8")
            .header("Content-Length", "1043")
            .header("Connection", "keep-alive");
        assert_eq!(
            head.finish(),
            b"HTTP/1.1 200 OK\r\n\
              Content-Type: text/html; charset=utf-8\r\n\
              Content-Length: 1043\r\n\
              Connection: keep-alive\r\n\
              \r\n"
        );
    }

    #[test]
    fn header_injection_attempts_stay_on_one_line() {
        let cases: &[(&str, &str, &[u8])] = &[
            ("X", "a\r\nSet-Cookie: evil", b"X: aSet-Cookie: evil\r\n"),
            ("X", "a\nb", b"X: ab\r\n"),
            ("X", "a\rb", b"X: ab\r\n"),
            ("X", "\r\n\r\n<html>", b"X: <html>\r\n"),
            ("X", "a\0b\x0bc\x1bd\x7fe", b"X: abcde\r\n"),
            ("X", "tab\there", b"X: tab\there\r\n"),
            ("X", "caf\u{e9}", "X: caf\u{e9}\r\n".as_bytes()),
            ("X\r\nEvil", "v", b"XEvil: v\r\n"),
            ("X: y\r\nZ", "v", b"XyZ: v\r\n"),
            ("Bad Name", "v", b"BadName: v\r\n"),
            ("X", "", b"X: \r\n"),
        ];
        for &(name, value, line) in cases {
            let mut head = ResponseHead::new(200);
            head.header(name, value);
            let mut expected = b"HTTP/1.1 200 OK\r\n".to_vec();
            expected.extend_from_slice(line);
            expected.extend_from_slice(b"\r\n");
            let got = head.finish();
            assert_eq!(got, expected, "{name:?}: {value:?}");
            // Exactly three line ends: status line, the header, the blank line.
            assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), 3);
            assert_eq!(got.iter().filter(|&&b| b == b'\r').count(), 3);
        }
    }

    #[test]
    fn header_with_no_name_left_is_skipped() {
        for name in ["", "\r\n", ": ", " \t"] {
            let mut head = ResponseHead::new(200);
            head.header(name, "value");
            assert_eq!(head.finish(), b"HTTP/1.1 200 OK\r\n\r\n", "{name:?}");
        }
    }

    #[test]
    fn response_head_parses_back_as_a_head() {
        // The status line is not a request line, so check the field lines only.
        let mut head = ResponseHead::new(200);
        head.header("A", "1\r\n").header("B", " two ");
        let bytes = head.finish();
        let fields = &bytes[b"HTTP/1.1 200 OK\r\n".len()..];
        let mut request = b"GET / HTTP/1.1\r\n".to_vec();
        request.extend_from_slice(fields);
        let mut slots = [crate::Header::EMPTY; 4];
        let Ok(crate::Status::Complete((parsed, len))) = crate::parse_request(&request, &mut slots)
        else {
            panic!("did not parse");
        };
        assert_eq!(len, request.len());
        assert_eq!(parsed.header("a"), Some(&b"1"[..]));
        assert_eq!(parsed.header("b"), Some(&b"two"[..]));
    }
}
