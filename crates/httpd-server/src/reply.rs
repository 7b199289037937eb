//! Responses: what a handler produces, and how its head and body reach the socket.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpd_files::{Multipart, StaticFile};
use httpd_proto::{ByteRange, LAST_CHUNK, ResponseHead};

use crate::SERVER_NAME;

/// A response body.
#[derive(Debug)]
pub(crate) enum Body {
    /// No body bytes (but `Content-Length: 0` unless the status forbids a body).
    Empty,
    /// A body held in memory.
    Bytes(Vec<u8>),
    /// A file streamed from disk in constant memory.
    File(StaticFile),
    /// One byte range of a file (206).
    Range(StaticFile, ByteRange),
    /// Several ranges of a file as `multipart/byteranges` (206).
    Multipart(StaticFile, Multipart),
    /// A file gzip-compressed on the fly: length unknown, sent chunked (HTTP/1.1 only).
    Gzip(StaticFile),
}

impl Body {
    /// Returns the body length, or `None` when it is only known after sending.
    fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(f) => Some(f.len()),
            Body::Range(_, r) => Some(r.len()),
            Body::Multipart(_, m) => Some(m.content_length()),
            Body::Gzip(_) => None,
        }
    }
}

/// Frames everything written to it as chunks (RFC 9112 section 7.1); [`finish`]
/// writes the last chunk.
///
/// [`finish`]: ChunkedWriter::finish
pub(crate) struct ChunkedWriter<'w> {
    out: &'w mut dyn Write,
    frame: Vec<u8>,
}

impl<'w> ChunkedWriter<'w> {
    pub(crate) fn new(out: &'w mut dyn Write) -> ChunkedWriter<'w> {
        ChunkedWriter {
            out,
            frame: Vec::new(),
        }
    }

    /// Writes the last chunk and an empty trailer section.
    pub(crate) fn finish(self) -> io::Result<()> {
        self.out.write_all(LAST_CHUNK)?;
        self.out.flush()
    }
}

impl Write for ChunkedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.frame.clear();
        httpd_proto::encode_chunk(buf, &mut self.frame);
        self.out.write_all(&self.frame)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A response ready to be written.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// Header values are mostly constants; only computed ones are allocated.
    pub(crate) headers: Vec<(&'static str, Cow<'static, str>)>,
    /// Operator-configured header lines, rendered once at start-up
    /// ([`ResponseHead::lines`]) and shared by every reply.
    pub(crate) extra: Option<Arc<[u8]>>,
    pub(crate) body: Body,
}

impl Reply {
    /// Starts a reply with `status` and no body.
    pub(crate) fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::with_capacity(12),
            extra: None,
            body: Body::Empty,
        }
    }

    /// Builds the short HTML error page for `status`; the request is never reflected.
    pub(crate) fn error(status: u16) -> Reply {
        let text = crate::status_text(status);
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>{text}</title></head>\
             <body><h1>{text}</h1></body></html>\n"
        );
        let mut reply = Reply::new(status);
        reply
            .headers
            .push(("Content-Type", Cow::Borrowed("text/html; charset=utf-8")));
        reply.body = Body::Bytes(page.into_bytes());
        reply
    }

    /// Adds a header.
    pub(crate) fn with(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// Where a response goes: a socket (file bodies use `sendfile`) or, in tests, memory.
pub(crate) trait Sink: Write {
    /// Returns the socket to `sendfile` into, if this is one.
    fn socket(&self) -> Option<BorrowedFd<'_>>;

    /// Returns how many more bytes fit, for a sink of bounded size.
    fn room(&self) -> Option<usize> {
        None
    }
}

impl Sink for TcpStream {
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

impl Sink for Vec<u8> {
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// Where a connection's responses go: its socket (a worker, blocking), or a bounded
/// buffer the poller flushes without blocking (small responses served inline).
pub(crate) enum Out<'a> {
    /// The socket itself.
    Socket(&'a mut TcpStream),
    /// A buffer of at most `cap` bytes; a bigger response fails with [`too_big`].
    Buffer { buf: &'a mut Vec<u8>, cap: usize },
}

/// Marks the error of an inline response that outgrew its buffer.
#[derive(Debug)]
struct TooBigForInline;

impl std::fmt::Display for TooBigForInline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response too big to serve inline")
    }
}

impl std::error::Error for TooBigForInline {}

/// Tells whether `e` says an inline response outgrew its buffer.
pub(crate) fn too_big(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<TooBigForInline>())
}

impl Write for Out<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Out::Socket(s) => s.write(data),
            Out::Buffer { buf, cap } => {
                if buf.len() + data.len() > *cap {
                    return Err(io::Error::other(TooBigForInline));
                }
                buf.extend_from_slice(data);
                Ok(data.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Socket(s) => s.flush(),
            Out::Buffer { .. } => Ok(()),
        }
    }
}

impl Sink for Out<'_> {
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Out::Socket(s) => Some(s.as_fd()),
            Out::Buffer { .. } => None,
        }
    }

    fn room(&self) -> Option<usize> {
        match self {
            Out::Socket(_) => None,
            Out::Buffer { buf, cap } => Some(cap.saturating_sub(buf.len())),
        }
    }
}

/// How the connection continues after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Keep the connection open; `remaining` more requests are allowed on it.
    KeepAlive { timeout: Duration, remaining: u32 },
    /// Close after this response.
    Close,
}

/// Writes `reply` to `out`; returns the number of body bytes sent.
///
/// `head_only` sends the head of a GET without its body (for HEAD). Statuses that
/// cannot have a body (1xx, 204, 304) never get `Content-Length` or a body.
pub(crate) fn send<W: Sink>(
    out: &mut W,
    reply: Reply,
    persistence: Persistence,
    head_only: bool,
) -> io::Result<u64> {
    let Reply {
        status,
        headers,
        extra,
        mut body,
    } = reply;
    let mut head = ResponseHead::with_capacity(status, 1024);
    head.header("Server", SERVER_NAME);
    with_date(|date| {
        head.header("Date", date);
    });
    for (name, value) in &headers {
        head.header(name, value);
    }
    if let Some(lines) = &extra {
        head.raw_lines(lines);
    }
    let bodyless = status < 200 || status == 204 || status == 304;
    if !bodyless {
        match body.len() {
            Some(len) => {
                head.header_u64("Content-Length", len);
            }
            // A HEAD response omits both rather than announce a transfer coding.
            None if !head_only => {
                head.header("Transfer-Encoding", "chunked");
            }
            None => {}
        }
    }
    match persistence {
        Persistence::KeepAlive { timeout, remaining } => {
            head.header("Connection", "keep-alive");
            head.keep_alive(timeout.as_secs(), u64::from(remaining));
        }
        Persistence::Close => {
            head.header("Connection", "close");
        }
    }
    let head = head.finish();
    if let (Some(room), Some(len), false) = (out.room(), body.len(), head_only || bodyless) {
        // Found too big before the body is read: the file is not read twice.
        if (head.len() as u64).saturating_add(len) > room as u64 {
            return Err(io::Error::other(TooBigForInline));
        }
    }
    if head_only || bodyless {
        out.write_all(&head)?;
        out.flush()?;
        return Ok(0);
    }
    match &mut body {
        Body::Empty => {
            out.write_all(&head)?;
            Ok(0)
        }
        Body::Bytes(bytes) => {
            // One write for head and a small body keeps it in one segment.
            let mut all = head;
            all.extend_from_slice(bytes);
            out.write_all(&all)?;
            Ok(bytes.len() as u64)
        }
        Body::File(file) => {
            out.write_all(&head)?;
            match out.socket() {
                Some(fd) => file.sendfile_to(fd),
                None => file.send_to(out),
            }
        }
        Body::Range(file, range) => {
            out.write_all(&head)?;
            match out.socket() {
                Some(fd) => file.sendfile_range_to(fd, *range),
                None => file.send_range_to(out, *range),
            }
        }
        Body::Multipart(file, parts) => {
            out.write_all(&head)?;
            parts.write_to(file, out)
        }
        Body::Gzip(file) => {
            out.write_all(&head)?;
            // Buffer so each chunk carries a useful amount, not one deflate block each.
            let mut chunked = ChunkedWriter::new(out);
            let n = {
                let mut buffered = io::BufWriter::with_capacity(16 * 1024, &mut chunked);
                let n = httpd_files::gzip_stream(file, &mut buffered)?;
                buffered.flush()?;
                n
            };
            chunked.finish()?;
            Ok(n)
        }
    }
}

/// Calls `f` with the current HTTP date, formatted at most once a second per thread.
fn with_date(f: impl FnOnce(&str)) {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            *cache = (secs, httpdate::fmt_http_date(now));
        }
        f(&cache.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(reply: Reply, persistence: Persistence, head_only: bool) -> String {
        let mut out = Vec::new();
        send(&mut out, reply, persistence, head_only).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn error_page_has_length_date_server_and_type() {
        let text = sent(Reply::error(404), Persistence::Close, false);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nServer: httpd/"));
        assert!(text.contains("\r\nDate: "));
        assert!(text.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("404 Not Found"));
    }

    #[test]
    fn keep_alive_reply_announces_timeout_and_remaining() {
        let keep = Persistence::KeepAlive {
            timeout: Duration::from_secs(30),
            remaining: 99,
        };
        let text = sent(Reply::new(200), keep, false);
        assert!(text.contains("\r\nConnection: keep-alive\r\n"));
        assert!(text.contains("\r\nKeep-Alive: timeout=30, max=99\r\n"));
    }

    #[test]
    fn head_only_keeps_length_but_sends_no_body() {
        let reply = Reply::new(200).with("Content-Type", "text/plain");
        let reply = Reply {
            body: Body::Bytes(b"hello".to_vec()),
            ..reply
        };
        let text = sent(reply, Persistence::Close, true);
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn chunked_writer_frames_each_write_and_ends_with_last_chunk() {
        let mut out = Vec::new();
        let mut w = ChunkedWriter::new(&mut out);
        w.write_all(b"hello").unwrap();
        w.write_all(b"").unwrap();
        w.write_all(&[b'x'; 26]).unwrap();
        w.finish().unwrap();
        let mut expected = b"5\r\nhello\r\n1A\r\n".to_vec();
        expected.extend([b'x'; 26]);
        expected.extend(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_body_too_big_for_the_inline_buffer_is_refused_before_it_is_read() {
        let dir = std::env::temp_dir().join(format!("httpd-reply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.html"), vec![b'x'; 100 * 1024]).unwrap();
        let path = httpd_security::resolve_path(&dir, "/big.html").unwrap();
        let file = StaticFile::open(&path).unwrap();
        // Emptied after opening: reading it now would fail with UnexpectedEof.
        std::fs::write(dir.join("big.html"), b"").unwrap();
        let mut buf = Vec::new();
        let mut out = Out::Buffer {
            buf: &mut buf,
            cap: 64 * 1024,
        };
        let reply = Reply {
            body: Body::File(file),
            ..Reply::new(200)
        };
        let err = send(&mut out, reply, Persistence::Close, false).unwrap_err();
        assert!(too_big(&err), "{err}");
        assert!(buf.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_content_has_neither_length_nor_body() {
        let text = sent(Reply::new(204), Persistence::Close, false);
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
