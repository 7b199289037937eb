//! Responses: simple answers built in memory (errors, uploads, health, metrics,
//! redirects), and the head lines every response shares (`Server`, `Date`, request
//! id, CORS, operator headers, HSTS, framing, persistence).
//!
//! Heads are written straight into the connection's output buffer with
//! [`ResponseHead::appending`], so building one allocates nothing beyond what its
//! values need.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use httpd_proto::ResponseHead;
use httpd_security::{ALLOW, PolicyError};

use crate::SERVER_NAME;
use crate::error::Failure;
use crate::h1::Persistence;
use crate::out::Stream;

/// A response whose whole body is in memory, or (a folder download) produced while
/// it is sent.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Header values are mostly constants; only computed ones are allocated.
    pub(crate) headers: Vec<(&'static str, Cow<'static, str>)>,
    pub(crate) body: Vec<u8>,
    /// Whose page the body is, for error answers.
    pub(crate) page: Page,
    /// A body produced while sending instead of `body` (a tar download); written by
    /// [`write_streamed`](Response::write_streamed).
    pub(crate) stream: Option<Stream>,
}

/// Whose page an answer's body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Page {
    /// Not a page of the server's (a file, JSON, metrics, ...).
    None,
    /// The built-in page of [`Response::error`], which an operator's custom page for
    /// its status may replace (`site::ErrorPages`).
    BuiltIn,
    /// The built-in page, to be sent as it is: the custom page could not be read.
    Final,
    /// The operator's custom error page: html from the docroot, sent with the
    /// docroot's html headers rather than those of the server's own pages.
    Custom,
}

impl Response {
    /// Starts a response with `status` and no body.
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            page: Page::None,
            stream: None,
        }
    }

    /// The error answer for `failure`: its built-in page and the headers its status
    /// needs (`Allow`, `Retry-After`, `Content-Range`).
    pub(crate) fn for_failure(failure: &Failure) -> Response {
        let response = Response::error(failure.status());
        match failure {
            Failure::WrongMethod(allow) => response.with("Allow", *allow),
            Failure::RateLimited(secs) => response.with("Retry-After", secs.to_string()),
            Failure::Policy(PolicyError::MethodNotAllowed) => response.with("Allow", ALLOW),
            Failure::Busy => response.with("Retry-After", "5"),
            Failure::RangeNotSatisfiable(len) => response.with(
                "Content-Range",
                httpd_proto::unsatisfied_content_range(*len),
            ),
            _ => response,
        }
    }

    /// Builds the short HTML error page for `status`; the request is never reflected.
    pub(crate) fn error(status: u16) -> Response {
        let text = crate::status_text(status);
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>{text}</title></head>\
             <body><h1>{text}</h1></body></html>\n"
        );
        Response {
            status,
            headers: vec![("Content-Type", Cow::Borrowed(TEXT_HTML))],
            body: page.into_bytes(),
            page: if status >= 400 {
                Page::BuiltIn
            } else {
                Page::None
            },
            stream: None,
        }
    }

    /// Adds a header.
    pub(crate) fn with(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Tells whether the body is html (which gets the html security headers).
    pub(crate) fn is_html(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| *n == "Content-Type" && v.starts_with("text/html"))
    }

    /// Writes the status line, the shared lines, this response's headers and the
    /// closing lines after what `buf` holds; then the body unless `finish` says the
    /// request was HEAD. Returns the buffer and the body length announced.
    pub(crate) fn write(self, buf: Vec<u8>, finish: &Finish<'_>) -> (Vec<u8>, u64) {
        let head = self.write_head(buf, finish);
        let len = self.body.len() as u64;
        let mut buf = finish.end(head, self.status, Some(len));
        let sends_body = !finish.head_only && !is_bodyless(self.status);
        if sends_body {
            buf.extend_from_slice(&self.body);
        }
        (buf, if sends_body { len } else { 0 })
    }

    /// Writes the head of a response whose body is `stream`, produced while it is
    /// sent: chunked when the stream frames itself so (HTTP/1.1), else delimited by
    /// the connection's close (HTTP/1.0, whose exchange was planned to close). Returns
    /// the buffer and the stream to send, `None` for HEAD.
    pub(crate) fn write_streamed(
        self,
        buf: Vec<u8>,
        finish: &Finish<'_>,
        stream: Stream,
    ) -> (Vec<u8>, Option<Stream>) {
        let head = self.write_head(buf, finish);
        let buf = if stream.is_chunked() {
            finish.end(head, self.status, None)
        } else {
            finish.end_unframed(head)
        };
        if finish.head_only {
            return (buf, None);
        }
        (buf, Some(stream))
    }

    /// Starts the head: status line, shared lines, this response's headers, `Vary`.
    fn write_head(&self, buf: Vec<u8>, finish: &Finish<'_>) -> ResponseHead {
        let mut head = begin(self.status, buf);
        let mut own_vary = None;
        for (name, value) in &self.headers {
            if *name == "Vary" {
                own_vary = Some(value.as_ref());
                continue;
            }
            head.header(name, value);
        }
        write_vary(&mut head, own_vary, finish.vary_origin);
        head
    }
}

/// The html media type.
pub(crate) const TEXT_HTML: &str = "text/html; charset=utf-8";

/// Tells whether `status` never has a body (RFC 9110 section 6.4.1).
pub(crate) fn is_bodyless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Starts a head: status line, `Server`, `Date`.
pub(crate) fn begin(status: u16, buf: Vec<u8>) -> ResponseHead {
    let mut head = ResponseHead::appending(status, buf);
    head.header("Server", SERVER_NAME);
    with_date(|date| {
        head.header("Date", date);
    });
    head
}

/// Writes `Vary` from the response's own value and CORS's `Origin`.
pub(crate) fn write_vary(head: &mut ResponseHead, own: Option<&str>, origin: bool) {
    match (own, origin) {
        (Some(own), true) => {
            let mut value = String::with_capacity(own.len() + 8);
            value.push_str(own);
            value.push_str(", Origin");
            head.header("Vary", &value);
        }
        (Some(own), false) => {
            head.header("Vary", own);
        }
        (None, true) => {
            head.header("Vary", "Origin");
        }
        (None, false) => {}
    }
}

/// The lines that close every head, and how the body is framed.
#[derive(Debug)]
pub(crate) struct Finish<'a> {
    pub(crate) persistence: Persistence,
    /// The request was HEAD: the head says what GET would send, and no body follows.
    pub(crate) head_only: bool,
    pub(crate) request_id: Option<&'a str>,
    /// Operator header lines (the html set for html bodies), rendered at start-up.
    pub(crate) extra: &'a [u8],
    /// CORS headers other than `Vary`.
    pub(crate) cors: &'a [(&'static str, String)],
    /// CORS adds `Origin` to `Vary`.
    pub(crate) vary_origin: bool,
    /// `Strict-Transport-Security` (TLS responses only), rendered at start-up.
    pub(crate) hsts: &'a [u8],
}

impl Finish<'_> {
    /// Writes the closing lines: request id, CORS, operator headers, HSTS, then
    /// `Content-Length` (or chunked framing when `len` is unknown), `Connection` and
    /// `Keep-Alive`, and the blank line.
    pub(crate) fn end(&self, mut head: ResponseHead, status: u16, len: Option<u64>) -> Vec<u8> {
        self.shared_lines(&mut head);
        if !is_bodyless(status) {
            match len {
                Some(len) => {
                    head.header_u64("Content-Length", len);
                }
                // A HEAD response omits both rather than announce a transfer coding.
                None if !self.head_only => {
                    head.header("Transfer-Encoding", "chunked");
                }
                None => {}
            }
        }
        match self.persistence {
            Persistence::KeepAlive { timeout, remaining } => {
                head.header("Connection", "keep-alive");
                head.keep_alive(timeout.as_secs(), u64::from(remaining));
            }
            Persistence::Close => {
                head.header("Connection", "close");
            }
        }
        head.finish()
    }

    /// Writes the closing lines of a body that ends when the connection closes (RFC
    /// 9112 section 6.3, rule 8): no `Content-Length`, no `Transfer-Encoding`, and
    /// `Connection: close` whatever the persistence says.
    pub(crate) fn end_unframed(&self, mut head: ResponseHead) -> Vec<u8> {
        self.shared_lines(&mut head);
        head.header("Connection", "close");
        head.finish()
    }

    /// Request id, CORS, operator headers, HSTS.
    fn shared_lines(&self, head: &mut ResponseHead) {
        if let Some(id) = self.request_id {
            head.header("X-Request-Id", id);
        }
        for (name, value) in self.cors {
            head.header(name, value);
        }
        head.raw_lines(self.extra);
        head.raw_lines(self.hsts);
    }
}

/// Calls `f` with the current HTTP date, formatted at most once a second per thread,
/// into a buffer of its own (no allocation).
fn with_date(f: impl FnOnce(&str)) {
    /// An IMF-fixdate is exactly 29 bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
    const LEN: usize = 29;
    struct Fixed {
        bytes: [u8; LEN],
        len: usize,
    }
    impl std::fmt::Write for Fixed {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
            slot.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    thread_local! {
        static CACHE: RefCell<(u64, Fixed)> = const {
            RefCell::new((u64::MAX, Fixed { bytes: [0; LEN], len: 0 }))
        };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            use std::fmt::Write as _;
            cache.1.len = 0;
            let _ = write!(cache.1, "{}", httpdate::HttpDate::from(now));
            cache.0 = secs;
        }
        f(std::str::from_utf8(&cache.1.bytes[..cache.1.len]).unwrap_or_default());
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn finish(persistence: Persistence, head_only: bool) -> Finish<'static> {
        Finish {
            persistence,
            head_only,
            request_id: Some("abc"),
            extra: b"X-Extra: 1\r\n",
            cors: &[],
            vary_origin: false,
            hsts: b"",
        }
    }

    fn written(response: Response, f: &Finish<'_>) -> String {
        let (buf, _) = response.write(b"before".to_vec(), f);
        let text = String::from_utf8(buf).unwrap();
        text.strip_prefix("before").unwrap().to_string()
    }

    #[test]
    fn an_error_page_has_length_date_server_type_and_the_shared_lines() {
        let text = written(Response::error(404), &finish(Persistence::Close, false));
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nServer: httpd/"));
        assert!(text.contains("\r\nDate: "));
        assert!(text.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
        assert!(text.contains("\r\nX-Request-Id: abc\r\n"));
        assert!(text.contains("\r\nX-Extra: 1\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("404 Not Found"));
    }

    #[test]
    fn keep_alive_announces_timeout_and_remaining() {
        let keep = Persistence::KeepAlive {
            timeout: Duration::from_secs(30),
            remaining: 99,
        };
        let text = written(Response::new(200), &finish(keep, false));
        assert!(text.contains("\r\nConnection: keep-alive\r\n"));
        assert!(text.contains("\r\nKeep-Alive: timeout=30, max=99\r\n"));
    }

    #[test]
    fn head_keeps_the_length_but_sends_no_body() {
        let mut response = Response::new(200).with("Content-Type", "text/plain");
        response.body = b"hello".to_vec();
        let text = written(response, &finish(Persistence::Close, true));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // Errors too: a HEAD answer never carries a body.
        let text = written(Response::error(400), &finish(Persistence::Close, true));
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn the_date_is_an_imf_fixdate_of_now() {
        let mut seen = String::new();
        with_date(|d| seen = d.to_string());
        assert_eq!(seen.len(), 29, "{seen}");
        let parsed = httpdate::parse_http_date(&seen).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(drift.as_secs() <= 1, "{seen}");
    }

    #[test]
    fn no_content_has_neither_length_nor_body() {
        let text = written(Response::new(204), &finish(Persistence::Close, false));
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn cors_origin_joins_the_responses_own_vary() {
        let mut f = finish(Persistence::Close, false);
        f.vary_origin = true;
        let text = written(Response::new(200).with("Vary", "Accept-Encoding"), &f);
        assert!(
            text.contains("\r\nVary: Accept-Encoding, Origin\r\n"),
            "{text}"
        );
        let text = written(Response::new(200), &f);
        assert!(text.contains("\r\nVary: Origin\r\n"), "{text}");
    }
}
