//! The one HTTP/1.1 client of every task: e2e scenarios, the soak, the benchmark.
//!
//! It writes literal request bytes and reads responses with its own parser,
//! independent of httpd-proto, so the server's parser never checks itself.
//! Every socket has 5 s read and write timeouts and every read is bounded, so a
//! misbehaving server turns into an error, never a hang.
//!
//! A [`Conn`] reads and writes through a [`Transport`]: plain TCP, or TLS over TCP
//! ([`crate::common::tls`]). Scenarios only see `Conn`, so one written for
//! plain HTTP runs over HTTPS by connecting differently.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::tls::TlsStream;

/// Read and write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response head the client accepts.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Largest response body the client accepts (the big-file scenario is 20 MiB).
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// Largest chunk-size line, trailer line or trailer section the client accepts.
const MAX_LINE: usize = 4096;

/// Size of one read from the transport.
const READ_CHUNK: usize = 16 * 1024;

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0` as sent.
    pub version: String,
    /// The three-digit status code.
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking.
    pub body: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Response {
    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns how many times header `name` occurs.
    pub fn count_header(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Tells whether the `Connection` header lists `token` (a comma list).
    pub fn has_connection_token(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Returns the value of its one `Content-Length` header, `None` without one.
    ///
    /// # Errors
    /// When the header repeats or is not all digits.
    pub fn content_length(&self) -> Result<Option<usize>, String> {
        let Some(cl) = self.header("content-length") else {
            return Ok(None);
        };
        if self.count_header("content-length") != 1 {
            return Err("response repeats Content-Length".into());
        }
        parse_digits(cl)
            .map(Some)
            .ok_or_else(|| format!("bad Content-Length {cl:?}"))
    }

    /// Tells whether the response says how long its body is (`Content-Length` or
    /// chunked), or has no body by definition (1xx, 204, 304).
    pub fn is_framed(&self) -> bool {
        let bodiless = self.status / 100 == 1 || self.status == 204 || self.status == 304;
        bodiless || self.chunked || self.header("content-length").is_some()
    }

    /// Returns the body as (lossy) text, for messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Returns a one-line description for failure messages.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}", self.version, self.status);
        for (n, v) in &self.headers {
            s.push_str(&format!(" | {n}: {v}"));
        }
        let body = self.body_text();
        let cut: String = body.chars().take(120).collect();
        s.push_str(&format!(" | body {} bytes {:?}", self.body.len(), cut));
        s
    }
}

/// How a read that expected the end of the connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The server closed cleanly (read returned 0).
    Eof,
    /// The server reset the connection.
    Reset,
}

/// What a connection shows at one instant, without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Nothing to read, still open.
    Silent,
    /// Bytes arrived (or were buffered) that nobody asked for yet.
    Data,
    /// The server closed or reset the connection.
    Closed(Closed),
}

/// What a [`Conn`] carries its bytes over.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: a TLS session is large).
    Tls(Box<TlsStream>),
}

impl Transport {
    /// Returns the TCP socket under the transport.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.tcp(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// A client connection with its own read buffer.
#[derive(Debug)]
pub struct Conn {
    transport: Transport,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
}

impl Conn {
    /// Connects to `addr` over plain TCP with 5 s read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Result<Conn, String> {
        Ok(Conn::over(Transport::Plain(tcp_connect(addr)?)))
    }

    /// Wraps an established transport.
    pub fn over(transport: Transport) -> Conn {
        Conn {
            transport,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Returns the transport, e.g. to ask a TLS session what it negotiated.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Returns the TCP socket under the transport.
    pub fn tcp(&self) -> &TcpStream {
        self.transport.tcp()
    }

    /// Sets the read timeout of the socket (`None`: wait forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), String> {
        self.tcp()
            .set_read_timeout(timeout)
            .map_err(|e| format!("set read timeout: {e}"))
    }

    /// Writes all of `bytes` and flushes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.transport.write_all(bytes)?;
        self.transport.flush()
    }

    /// Like [`Conn::send`] with a readable error.
    pub fn send_all(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.send(bytes).map_err(|e| format!("write request: {e}"))
    }

    /// Reads one response. `to_head` says the request was HEAD, so the
    /// response has no body whatever its headers say.
    pub fn read_response(&mut self, to_head: bool) -> Result<Response, String> {
        let mut resp = self.read_head()?;
        let status = resp.status;
        if to_head || status / 100 == 1 || status == 204 || status == 304 {
            return Ok(resp);
        }
        let te = resp
            .header("transfer-encoding")
            .map(str::to_ascii_lowercase);
        if let Some(te) = te {
            if te.trim() != "chunked" {
                return Err(format!("unexpected Transfer-Encoding {te:?}"));
            }
            if resp.header("content-length").is_some() {
                return Err("response has both Content-Length and Transfer-Encoding".into());
            }
            resp.chunked = true;
            resp.body = self.read_chunked()?;
        } else if let Some(n) = resp.content_length()? {
            if n > MAX_RESPONSE_BODY {
                return Err(format!("Content-Length {n} too large for the client"));
            }
            resp.body = self.read_exact_body(n)?;
        } else {
            resp.body = self.read_to_close()?;
        }
        Ok(resp)
    }

    /// Reads one response head and leaves its body unread, for
    /// [`Conn::read_some`]: for bodies too large to hold, which the caller
    /// frames itself. The returned body is empty.
    pub fn read_head(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n\r\n") {
                break self.pos + i + 4;
            }
            if self.buf.len() - self.pos > MAX_RESPONSE_HEAD {
                return Err("response head larger than 64 KiB".into());
            }
            if self.fill()? == 0 {
                return Err(if self.buf.len() == self.pos {
                    "connection closed before any response byte".into()
                } else {
                    format!(
                        "connection closed inside the response head: {:?}",
                        String::from_utf8_lossy(&self.buf[self.pos..])
                    )
                });
            }
        };
        let head = String::from_utf8_lossy(&self.buf[self.pos..head_end - 4]).into_owned();
        self.pos = head_end;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let (version, status) = parse_status_line(status_line)?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header line without colon: {line:?}"))?;
            if name.is_empty() || name.trim() != name {
                return Err(format!("bad header name in {line:?}"));
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Ok(Response {
            version,
            status,
            headers,
            body: Vec::new(),
            chunked: false,
        })
    }

    /// Reads up to `buf.len()` bytes of what follows the bytes read so far: the
    /// buffered ones first, else one read of the transport. Returns 0 at the end
    /// of the connection.
    pub fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        if self.pos < self.buf.len() {
            let n = buf.len().min(self.buf.len() - self.pos);
            buf[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        read_transport(&mut self.transport, buf).map_err(|e| {
            if is_timeout(&e) {
                "read timed out after 5 s".to_string()
            } else {
                format!("read: {e}")
            }
        })
    }

    /// Expects the server to close: no further bytes, then EOF (or a reset).
    pub fn expect_closed(&mut self) -> Result<Closed, String> {
        if self.pos < self.buf.len() {
            return Err(format!(
                "unexpected bytes after the response: {:?}",
                String::from_utf8_lossy(&self.buf[self.pos..])
            ));
        }
        let mut byte = [0u8; 512];
        match read_transport(&mut self.transport, &mut byte) {
            Ok(0) => Ok(Closed::Eof),
            Ok(n) => Err(format!(
                "expected the server to close, got {n} more bytes: {:?}",
                String::from_utf8_lossy(&byte[..n])
            )),
            Err(e) if is_reset(&e) => Ok(Closed::Reset),
            Err(e) if is_timeout(&e) => {
                Err("server kept the connection open (read timed out)".into())
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Tells whether the server has sent anything, closed or reset within `wait`;
    /// buffered bytes count. Restores the 5 s read timeout afterwards. Bytes that
    /// arrived stay buffered for the next read.
    pub fn has_data(&mut self, wait: Duration) -> Result<bool, String> {
        if self.pos < self.buf.len() {
            return Ok(true);
        }
        self.set_read_timeout(Some(wait))?;
        let result = self.fill_io();
        self.set_read_timeout(Some(IO_TIMEOUT))?;
        match result {
            // Bytes, or EOF: either way the server has acted on this connection.
            Ok(_) => Ok(true),
            Err(e) if is_reset(&e) => Ok(true),
            Err(e) if is_timeout(&e) => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Tells, without waiting, whether the server has sent something, closed or
    /// reset the connection, or is silent. Bytes that arrived stay buffered.
    pub fn peer_now(&mut self) -> Result<Peer, String> {
        if self.pos < self.buf.len() {
            return Ok(Peer::Data);
        }
        self.tcp()
            .set_nonblocking(true)
            .map_err(|e| format!("set nonblocking: {e}"))?;
        let result = self.fill_io();
        self.tcp()
            .set_nonblocking(false)
            .map_err(|e| format!("set blocking: {e}"))?;
        match result {
            Ok(0) => Ok(Peer::Closed(Closed::Eof)),
            Ok(_) => Ok(Peer::Data),
            Err(e) if is_reset(&e) => Ok(Peer::Closed(Closed::Reset)),
            Err(e) if is_timeout(&e) => Ok(Peer::Silent),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Waits (within the socket's read timeout per read) for the server to
    /// close, and returns whatever bytes it sent before closing (at most
    /// 64 KiB), including bytes already buffered.
    pub fn wait_closed(&mut self) -> Result<(Vec<u8>, Closed), String> {
        let mut got = self.buf[self.pos..].to_vec();
        self.pos = self.buf.len();
        let mut chunk = [0u8; 4096];
        loop {
            match read_transport(&mut self.transport, &mut chunk) {
                Ok(0) => return Ok((got, Closed::Eof)),
                Ok(n) => {
                    got.extend_from_slice(&chunk[..n]);
                    if got.len() > MAX_RESPONSE_HEAD {
                        return Err("server keeps sending instead of closing".into());
                    }
                }
                Err(e) if is_reset(&e) => return Ok((got, Closed::Reset)),
                Err(e) if is_timeout(&e) => {
                    return Err(format!(
                        "server did not close the connection (read timed out; got {} bytes)",
                        got.len()
                    ));
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Reads more bytes into the buffer; returns how many (0 = EOF).
    fn fill(&mut self) -> Result<usize, String> {
        self.fill_io().map_err(|e| {
            if is_timeout(&e) {
                "read timed out after 5 s".to_string()
            } else {
                format!("read: {e}")
            }
        })
    }

    fn fill_io(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; READ_CHUNK];
        let n = read_transport(&mut self.transport, &mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn read_exact_body(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() - self.pos < n {
            if self.fill()? == 0 {
                return Err(format!(
                    "connection closed after {} of {n} body bytes",
                    self.buf.len() - self.pos
                ));
            }
        }
        let body = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(body)
    }

    fn read_line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.buf.len() - self.pos > MAX_LINE {
                return Err("line in chunked body too long".into());
            }
            if self.fill()? == 0 {
                return Err("connection closed inside a chunked body".into());
            }
        }
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            if body.len() + size > MAX_RESPONSE_BODY {
                return Err("chunked body too large for the client".into());
            }
            if size == 0 {
                // Trailer section: lines until the blank one.
                let mut n_trailers = 0;
                while !self.read_line()?.is_empty() {
                    n_trailers += 1;
                    if n_trailers > 64 {
                        return Err("too many trailer lines".into());
                    }
                }
                return Ok(body);
            }
            body.extend_from_slice(&self.read_exact_body(size)?);
            let end = self.read_line()?;
            if !end.is_empty() {
                return Err(format!("chunk not followed by CRLF: {end:?}"));
            }
        }
    }

    fn read_to_close(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if self.buf.len() - self.pos > MAX_RESPONSE_BODY {
                return Err("close-delimited body too large".into());
            }
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("reading a close-delimited body: {e}")),
            }
        }
        let body = self.buf[self.pos..].to_vec();
        self.pos = self.buf.len();
        Ok(body)
    }
}

/// Opens a TCP connection to `addr` with [`IO_TIMEOUT`] for connect, reads and
/// writes, and Nagle off (small requests must leave at once).
pub fn tcp_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects, sends `raw`, reads one response (not to a HEAD request).
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Result<(Conn, Response), String> {
    let mut conn = Conn::connect(addr)?;
    conn.send_all(raw)?;
    let resp = conn.read_response(false)?;
    Ok((conn, resp))
}

/// Builds a `GET` request like curl sends it, plus `extra` header lines
/// (each ending in CRLF).
pub fn get(target: &str, host: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: httpd-e2e\r\nAccept: */*\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Builds a `POST` request with a Content-Length body.
pub fn post(target: &str, host: &str, content_type: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: httpd-e2e\r\nAccept: */*\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Tells whether an I/O error is a read/write timeout.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Tells whether an I/O error means the peer reset or already closed the socket.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Reads from `transport`; an `UnexpectedEof` error (how a TLS session reports a
/// peer that closed without `close_notify`) reads as EOF, like a plain close.
fn read_transport(transport: &mut Transport, buf: &mut [u8]) -> io::Result<usize> {
    match transport.read(buf) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

fn parse_status_line(line: &str) -> Result<(String, u16), String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return Err(format!("bad status line {line:?}"));
    }
    if code.len() != 3 {
        return Err(format!("bad status code in {line:?}"));
    }
    let status = parse_digits(code).ok_or_else(|| format!("bad status code in {line:?}"))?;
    Ok((version.to_string(), status))
}

/// Parses ASCII digits only: no sign, no spaces, no overflow.
fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Returns the offset of the first `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// Serves `canned` to one loopback client, then closes.
    fn canned(canned: &'static [u8]) -> Conn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(canned).unwrap();
        });
        Conn::connect(addr).unwrap()
    }

    #[test]
    fn reads_length_chunked_and_head_responses_in_sequence() {
        let mut conn = canned(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc\
              HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nTrailer: x\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
              HTTP/1.0 404 Not Found\r\n\r\ntail",
        );
        let r = conn.read_response(false).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x-a")),
            (200, &b"abc"[..], Some("1"))
        );
        assert!(r.is_framed());
        let r = conn.read_response(false).unwrap();
        assert!(r.chunked);
        assert_eq!(r.body, b"hello");
        let r = conn.read_response(true).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 0));
        let r = conn.read_response(false).unwrap();
        assert_eq!(
            (r.version.as_str(), r.status, r.body.as_slice()),
            ("HTTP/1.0", 404, &b"tail"[..])
        );
        assert!(!r.is_framed());
        assert_eq!(conn.expect_closed().unwrap(), Closed::Eof);
    }

    #[test]
    fn a_body_can_be_read_piece_by_piece_after_the_head() {
        let mut conn = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
        let head = conn.read_head().unwrap();
        assert_eq!(
            (head.status, head.content_length(), head.body.len()),
            (200, Ok(Some(10)), 0)
        );
        let mut body = Vec::new();
        let mut piece = [0u8; 3];
        loop {
            match conn.read_some(&mut piece).unwrap() {
                0 => break,
                n => body.extend_from_slice(&piece[..n]),
            }
        }
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn rejects_malformed_responses() {
        let cases: [&'static [u8]; 4] = [
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ];
        for case in cases {
            let mut conn = canned(case);
            assert!(
                conn.read_response(false).is_err(),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn peer_state_is_read_without_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut conn = Conn::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(conn.peer_now().unwrap(), Peer::Silent);
        server.write_all(b"x").unwrap();
        assert!(conn.has_data(IO_TIMEOUT).unwrap());
        assert_eq!(conn.peer_now().unwrap(), Peer::Data);
        drop(server);
        let (got, closed) = conn.wait_closed().unwrap();
        assert_eq!(got, b"x");
        assert_eq!(closed, Closed::Eof);
    }
}
