//! One connection on one worker: serve every request whose head is already buffered
//! (pipelined ones at once), answer every failure with a precise status, then close the
//! connection or hand it back to the poller to wait for its next request.
//!
//! A worker gets a connection only when a whole head is buffered (see
//! [`poller`](crate::poller)), so it never waits for a head; it may still block reading a
//! body (bounded by the read timeout `body` sets) or writing a response (bounded by the
//! socket's write timeout, [`Limits::write_timeout`](httpd_security::Limits)).

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use httpd_proto::{
    Framing, HeadScanner, Header, MAX_HEADERS, Method, ParseError, Status, Version, parse_request,
};
use mio::Token;

use crate::Context;
use crate::access::AccessRecord;
use crate::error::Failure;
use crate::poller::{POLLER_NAME, Parked, Returner};
use crate::reply::{self, Persistence, Reply};
use crate::route;
use crate::web;

/// How many bytes one read asks the kernel for.
const READ_CHUNK: usize = 16 * 1024;

/// How many reads of at most [`DRAIN_CHUNK`] bytes a refused connection gets before it
/// is closed (see [`close_gently`]).
const DRAIN_READS: usize = 16;

/// The size of one such read.
const DRAIN_CHUNK: usize = 4096;

/// A connection with a complete head buffered, waiting for (or given to) a worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) conn: Parked,
    /// Set when every worker was busy at submission, so the hand-off is logged.
    pub(crate) queued_at: Option<Instant>,
}

/// A connection owned by a worker; its socket is in blocking mode.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Bytes read but not consumed yet: a partial head, a body prefix, pipelined requests.
    pub(crate) buf: Vec<u8>,
    /// The serving thread's name, for log lines.
    pub(crate) worker: Cow<'static, str>,
    /// When set, responses are collected here (at most `INLINE_MAX_BYTES`) instead of
    /// written to the socket: the poller is serving this request itself.
    pub(crate) inline: Option<Vec<u8>>,
}

impl Conn {
    /// Returns where responses go.
    pub(crate) fn out(&mut self) -> reply::Out<'_> {
        match &mut self.inline {
            Some(buf) => reply::Out::Buffer {
                buf,
                cap: INLINE_MAX_BYTES,
            },
            None => reply::Out::Socket(&mut self.stream),
        }
    }

    /// Reads more bytes onto the end of the buffer; `Ok(0)` means the peer closed.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let result = self.stream.read(&mut self.buf[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(start + n);
        result
    }
}

/// What the router needs from a request head, copied out of the read buffer.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) method_str: String,
    pub(crate) target: String,
    pub(crate) version: Version,
    pub(crate) keep_alive: bool,
    pub(crate) framing: Framing,
    pub(crate) expect: Option<Vec<u8>>,
    pub(crate) hosts: Vec<Vec<u8>>,
    pub(crate) content_type: Option<Vec<u8>>,
    /// Range, validator and content-coding headers for file responses.
    pub(crate) file_headers: route::FileHeaders,
    /// Origin, request id, forwarding and logging headers.
    pub(crate) meta: web::RequestMeta,
    /// The client's well-formed `X-Request-Id`, or a fresh one.
    pub(crate) request_id: String,
}

impl Head {
    /// Returns the request line for logs, with client bytes escaped.
    pub(crate) fn request_line(&self) -> String {
        format!(
            "{} {} {}",
            self.method_str.escape_debug(),
            self.target.escape_debug(),
            self.version.as_str()
        )
    }
}

/// What the start of a buffer holds, as far as the head is concerned.
#[derive(Debug)]
pub(crate) enum HeadScan {
    /// A head of this many bytes, within the size limit.
    Complete(usize),
    /// No complete head yet (possibly nothing at all).
    Partial,
    /// The head is unacceptable (too large, bare LF); answer and close.
    Fail(Failure),
}

/// Looks for a complete head at the start of `buf`; `scanner` must have seen only
/// prefixes of `buf` (a fresh one is always right).
pub(crate) fn scan_head(scanner: &mut HeadScanner, buf: &[u8], max_head_bytes: usize) -> HeadScan {
    if buf.is_empty() {
        return HeadScan::Partial;
    }
    match scanner.scan(buf) {
        Ok(Status::Complete(n)) if n <= max_head_bytes => HeadScan::Complete(n),
        Ok(Status::Complete(_)) => HeadScan::Fail(head_too_large(buf, max_head_bytes)),
        Ok(Status::Partial) if buf.len() > max_head_bytes => {
            HeadScan::Fail(head_too_large(buf, max_head_bytes))
        }
        Ok(Status::Partial) => HeadScan::Partial,
        Err(e) => HeadScan::Fail(Failure::Parse(e)),
    }
}

/// How a worker's turn with a connection ends.
enum TurnEnd {
    /// Nothing complete is buffered: back to the poller.
    Park,
    /// An upload's body is still arriving: back to the poller, which reads it.
    Suspended(Box<Suspended>),
    /// The connection is done.
    Close,
}

/// A request whose upload body the poller reads, with what answering it needs: a worker
/// answers it ([`route::resume`]) once the body is in, has failed or timed out.
pub(crate) struct Suspended {
    head: Head,
    persistence: Persistence,
    started: Instant,
    pub(crate) upload: route::Upload,
}

impl std::fmt::Debug for Suspended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suspended")
            .field("request", &self.head.request_line())
            .field("outcome", &self.upload.outcome)
            .finish_non_exhaustive()
    }
}

/// Tells the poller about a connection a worker was given, whatever happens: dropping an
/// unsettled lease (a normal close, or unwinding) reports the token as closed.
struct Lease<'a> {
    back: &'a Returner,
    token: Token,
    parked: bool,
}

impl Lease<'_> {
    fn park(mut self, conn: Parked) {
        self.parked = true;
        self.back.park(conn);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.parked {
            self.back.closed(self.token);
        }
    }
}

/// Responses up to this many bytes (head and body) may be served by the poller itself.
pub(crate) const INLINE_MAX_BYTES: usize = 64 * 1024;

/// Serves the buffered requests of one ready connection; runs on a pool worker. The
/// connection is then closed or handed back to the poller that owns it (`backs`, by
/// the connection's `home`).
pub(crate) fn serve(job: Job, ctx: &Context, backs: &[Returner]) {
    let Job { conn, queued_at } = job;
    let Some(back) = backs.get(conn.home) else {
        // Never expected: every poller has a returner. Closing is the safe way out.
        log::error!("no poller {} to hand {} back to", conn.home, conn.peer);
        return;
    };
    let lease = Lease {
        back,
        token: conn.token,
        parked: false,
    };
    let worker: Cow<'static, str> = Cow::Owned(
        std::thread::current()
            .name()
            .unwrap_or("httpd-worker")
            .to_string(),
    );
    if let Some(at) = queued_at {
        log::debug!(
            "Connection dequeued, assigned to {worker} after {:.1}ms",
            at.elapsed().as_secs_f64() * 1000.0
        );
    }
    let Parked {
        home,
        token,
        stream,
        peer,
        buf,
        mut n_served,
        pending,
        close_after,
        timeouts_set,
        suspended,
    } = conn;
    let mut conn = Conn {
        stream,
        peer,
        buf,
        worker,
        inline: None,
    };
    // The timeouts bound this worker's blocking reads (bodies that set none of their
    // own) and writes (a client that stops reading).
    let blocking = if timeouts_set {
        Ok(())
    } else {
        conn.stream
            .set_write_timeout(Some(ctx.limits.write_timeout))
            .and_then(|()| conn.stream.set_read_timeout(Some(ctx.limits.idle_timeout)))
    }
    .and_then(|()| conn.stream.set_nonblocking(false));
    let end = match blocking {
        // The rest of a response the poller could not finish without blocking.
        Ok(()) if !pending.is_empty() => match conn.stream.write_all(&pending) {
            Ok(()) if close_after => TurnEnd::Close,
            Ok(()) => serve_buffered(&mut conn, &mut n_served, ctx),
            Err(e) => {
                log::debug!("[{}] {peer}: write failed: {e}", conn.worker);
                TurnEnd::Close
            }
        },
        Ok(()) => match suspended {
            Some(s) => resume(&mut conn, *s, &mut n_served, ctx),
            None => serve_buffered(&mut conn, &mut n_served, ctx),
        },
        Err(e) => {
            log::debug!(
                "[{}] {peer}: cannot make the socket blocking: {e}",
                conn.worker
            );
            TurnEnd::Close
        }
    };
    let mut end = end;
    loop {
        let suspended = match end {
            TurnEnd::Suspended(s) => Some(s),
            TurnEnd::Park => None,
            TurnEnd::Close => break,
        };
        // While stopping, connections are not parked: the poller may be gone.
        if !ctx.stop.load(Ordering::Acquire) && conn.stream.set_nonblocking(true).is_ok() {
            if suspended.is_some() {
                log::debug!(
                    "[{}] {peer}: upload body continues in the poller",
                    conn.worker
                );
            }
            lease.park(Parked {
                home,
                token,
                stream: conn.stream,
                peer,
                buf: conn.buf,
                n_served,
                pending: Vec::new(),
                close_after: false,
                timeouts_set: true,
                suspended,
            });
            return;
        }
        // An upload's body is then read here, blocking.
        let Some(s) = suspended else {
            break;
        };
        end = match conn.stream.set_nonblocking(false) {
            Ok(()) => resume(&mut conn, *s, &mut n_served, ctx),
            Err(_) => TurnEnd::Close,
        };
    }
    back.deregister(&conn.stream);
    // The poller hears of the close before the peer can see it: a client that reconnects
    // after our FIN finds its old connection already uncounted. The descriptor stays
    // open until `conn` is dropped, so its number cannot be reused meanwhile.
    drop(lease);
    let _ = conn.stream.shutdown(Shutdown::Both);
    drop(conn);
}

/// Serves every complete head in the buffer, in order.
fn serve_buffered(conn: &mut Conn, n_served: &mut u32, ctx: &Context) -> TurnEnd {
    loop {
        let scan = scan_head(
            &mut HeadScanner::default(),
            &conn.buf,
            ctx.limits.max_head_bytes,
        );
        match scan {
            HeadScan::Complete(head_len) => match serve_one(conn, head_len, n_served, ctx) {
                Served::KeepAlive => continue,
                Served::Suspended(s) => return TurnEnd::Suspended(s),
                Served::Close | Served::TooBig => return TurnEnd::Close,
            },
            HeadScan::Partial => return TurnEnd::Park,
            HeadScan::Fail(failure) => {
                answer_failure(ctx, conn, None, failure, Instant::now());
                return TurnEnd::Close;
            }
        }
    }
}

/// Answers a suspended upload, then the requests pipelined after it.
fn resume(conn: &mut Conn, s: Suspended, n_served: &mut u32, ctx: &Context) -> TurnEnd {
    let Suspended {
        head,
        persistence,
        started,
        upload,
    } = s;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        route::resume(conn, &head, upload, persistence, ctx, started)
    }));
    match outcome {
        Ok(Ok(Persistence::KeepAlive { .. })) => serve_buffered(conn, n_served, ctx),
        Ok(Ok(Persistence::Close)) => TurnEnd::Close,
        Ok(Err(e)) => {
            log::debug!("[{}] {}: write failed: {e}", conn.worker, conn.peer);
            TurnEnd::Close
        }
        Err(payload) => {
            handler_panicked(conn, &head, payload.as_ref(), ctx, started);
            TurnEnd::Close
        }
    }
}

/// Counts, logs and answers a panic of the handler.
fn handler_panicked(
    conn: &mut Conn,
    head: &Head,
    payload: &(dyn std::any::Any + Send),
    ctx: &Context,
    started: Instant,
) {
    ctx.counters
        .n_handler_panics
        .fetch_add(1, Ordering::Relaxed);
    log::error!(
        "[{}] handler panicked on {}: {}",
        conn.worker,
        head.request_line(),
        panic_message(payload)
    );
    answer_failure(ctx, conn, Some(head), Failure::Panic, started);
}

/// How serving one request ended.
pub(crate) enum Served {
    /// The connection stays open for the next request.
    KeepAlive,
    /// The connection must close after the response.
    Close,
    /// A worker only: an upload whose body is still arriving, for the poller to read.
    Suspended(Box<Suspended>),
    /// Inline only: the response would not fit the buffer; nothing was sent or counted
    /// and the head is still buffered, for a worker to serve.
    TooBig,
}

/// Serves the complete head of `head_len` bytes at the start of `conn.buf`.
///
/// A worker drops the head from the buffer before routing, since a body may follow it.
/// Inline (`conn.inline` set), the head stays until the response is complete, so a
/// response too big for the buffer can be left to a worker: inline requests have no
/// body and are safe to run twice (GET, HEAD, OPTIONS), and nothing was logged.
pub(crate) fn serve_one(
    conn: &mut Conn,
    head_len: usize,
    n_served: &mut u32,
    ctx: &Context,
) -> Served {
    let peer = conn.peer;
    let started = Instant::now();
    let inline = conn.inline.is_some();
    let parsed = parse_head(&conn.buf[..head_len]);
    if !inline {
        conn.buf.drain(..head_len);
    }
    let head = match parsed {
        Ok(head) => head,
        Err(failure) => {
            answer_failure(ctx, conn, None, failure, started);
            return Served::Close;
        }
    };
    *n_served += 1;
    let last = *n_served >= ctx.limits.max_requests || ctx.stop.load(Ordering::Acquire);
    let persistence = if head.keep_alive && !last {
        Persistence::KeepAlive {
            timeout: ctx.limits.idle_timeout,
            remaining: ctx.limits.max_requests - *n_served,
        }
    } else {
        Persistence::Close
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        route::handle(conn, &head, persistence, ctx, started)
    }));
    if let Ok(Err(e)) = &outcome {
        if inline && reply::too_big(e) {
            *n_served -= 1;
            if let Some(buf) = &mut conn.inline {
                buf.clear();
            }
            return Served::TooBig;
        }
    }
    if inline {
        conn.buf.drain(..head_len);
    }
    match outcome {
        Ok(Ok(route::Handled::Suspended(upload))) => Served::Suspended(Box::new(Suspended {
            head,
            persistence,
            started,
            upload: *upload,
        })),
        Ok(Ok(route::Handled::Done(Persistence::KeepAlive { .. }))) => Served::KeepAlive,
        Ok(Ok(route::Handled::Done(Persistence::Close))) => {
            if head.keep_alive && *n_served >= ctx.limits.max_requests {
                log::debug!(
                    "[{}] Closing persistent connection after {n_served} requests",
                    conn.worker
                );
            }
            Served::Close
        }
        Ok(Err(e)) => {
            log::debug!("[{}] {peer}: write failed: {e}", conn.worker);
            Served::Close
        }
        Err(payload) => {
            handler_panicked(conn, &head, payload.as_ref(), ctx, started);
            Served::Close
        }
    }
}

/// How an inline turn on the poller ended.
pub(crate) enum Inline {
    /// Answered in full; the connection stays open.
    KeepAlive,
    /// Answered in full (or the peer is gone); close the connection.
    Close,
    /// Answered, but the socket took only part of it: a worker sends `pending`.
    Pending,
    /// The answer is too big to buffer; a worker must serve this head.
    NeedsWorker,
}

/// Serves the head of `head_len` bytes at the start of `parked.buf` on the poller
/// thread: the response is built in memory (at most [`INLINE_MAX_BYTES`]) and written
/// without blocking. Saves the hand-off to a worker and back for small answers, which
/// are most answers.
///
/// `out` is the poller's reusable response buffer; it is left empty.
pub(crate) fn serve_inline(
    parked: Parked,
    head_len: usize,
    ctx: &Context,
    out: &mut Vec<u8>,
) -> (Parked, Inline) {
    let Parked {
        home,
        token,
        stream,
        peer,
        buf,
        mut n_served,
        pending,
        close_after,
        timeouts_set,
        suspended,
    } = parked;
    out.clear();
    let mut conn = Conn {
        stream,
        peer,
        buf,
        worker: Cow::Borrowed(POLLER_NAME),
        inline: Some(std::mem::take(out)),
    };
    let served = serve_one(&mut conn, head_len, &mut n_served, ctx);
    *out = conn.inline.take().unwrap_or_default();
    let mut parked = Parked {
        home,
        token,
        stream: conn.stream,
        peer,
        buf: conn.buf,
        n_served,
        pending,
        close_after,
        timeouts_set,
        suspended,
    };
    let close = match served {
        Served::TooBig => {
            out.clear();
            return (parked, Inline::NeedsWorker);
        }
        Served::KeepAlive => false,
        // Never: requests with a body are not served inline, and an upload started
        // inline reads its body there. Dropping it removes its temporary file.
        Served::Close | Served::Suspended(_) => true,
    };
    let mut written = 0;
    let end = loop {
        if written == out.len() {
            break if close {
                Inline::Close
            } else {
                Inline::KeepAlive
            };
        }
        match send_inline(&parked.stream, &out[written..], close) {
            Ok(0) => break Inline::Close,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                parked.pending = out[written..].to_vec();
                parked.close_after = close;
                break Inline::Pending;
            }
            Err(e) => {
                log::debug!("[{POLLER_NAME}] {peer}: write failed: {e}");
                break Inline::Close;
            }
        }
    };
    out.clear();
    (parked, end)
}

/// Writes (part of) an inline answer without blocking. The last answer before a close
/// is sent with `MSG_MORE`: the close that follows at once then carries the FIN in the
/// same segment as the answer's end, a packet less for both ends of every
/// `Connection: close` exchange.
fn send_inline(stream: &TcpStream, bytes: &[u8], close_next: bool) -> io::Result<usize> {
    use rustix::net::{SendFlags, send};
    let flags = if close_next {
        SendFlags::MORE | SendFlags::NOSIGNAL
    } else {
        SendFlags::NOSIGNAL
    };
    Ok(send(stream, bytes, flags)?)
}

/// The largest request body the poller buffers before handing a connection to a worker.
pub(crate) const POLLER_BODY_MAX_BYTES: u64 = 64 * 1024;

/// What the poller needs to know about a complete head, from one parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadPlan {
    /// Body bytes the poller buffers before a worker takes the request: the declared
    /// `Content-Length` when it is small (at most [`POLLER_BODY_MAX_BYTES`] and within
    /// `max_body_bytes`) and the client is not waiting for `100 Continue`; else 0 (no
    /// body, or a worker reads it).
    pub(crate) body: u64,
    /// The poller may answer this head itself: no body to read and a method whose
    /// answer is small or found too big before anything is sent (GET, HEAD, OPTIONS).
    /// Malformed heads are a worker's (which answers and closes).
    pub(crate) inline: bool,
}

/// Parses a complete head once and tells the poller what to do with it.
pub(crate) fn plan_head(head: &[u8], max_body_bytes: u64) -> HeadPlan {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    let Ok(Status::Complete((request, _))) = parse_request(head, &mut slots) else {
        return HeadPlan {
            body: 0,
            inline: false,
        };
    };
    let expects = request.header("expect").is_some();
    let framing = request.framing();
    let body = match framing {
        Ok(Framing::Length(n)) if !expects && n <= POLLER_BODY_MAX_BYTES && n <= max_body_bytes => {
            n
        }
        _ => 0,
    };
    let inline = matches!(
        request.method_kind(),
        Method::Get | Method::Head | Method::Options
    ) && framing == Ok(Framing::None)
        && !expects;
    HeadPlan { body, inline }
}

/// Answers a connection the server has no room for (the pool's queue is full, or the
/// connection cap is reached): 503 with `Retry-After`, then close. `stream` must be
/// nonblocking: the write is one best-effort attempt, so the poller never waits.
pub(crate) fn reject_busy(stream: TcpStream, peer: SocketAddr, by: &str) {
    let mut stream = stream;
    let reply = Reply::error(503).with("Retry-After", "5");
    let sent = reply::send(&mut stream, reply, Persistence::Close, false);
    log::info!(
        target: "access",
        "{peer} \"-\" 503 {} 0.0ms {by}",
        sent.unwrap_or(0)
    );
    close_gently(stream);
}

/// Answers a head that missed its deadline with 408, then closes. `stream` must be
/// nonblocking, as for [`reject_busy`].
pub(crate) fn answer_head_timeout(stream: TcpStream, peer: SocketAddr, started: Instant, by: &str) {
    let mut stream = stream;
    let status = Failure::HeadTimeout.status();
    let sent = reply::send(&mut stream, Reply::error(status), Persistence::Close, false);
    log::info!(
        target: "access",
        "{peer} \"-\" {status} {} {:.1}ms {by}",
        sent.unwrap_or(0),
        started.elapsed().as_secs_f64() * 1000.0
    );
    close_gently(stream);
}

/// Closes after an error reply without turning the close into a reset that could destroy
/// the reply before the client reads it: half-close, then read (without waiting) what the
/// client already sent.
pub(crate) fn close_gently(stream: TcpStream) {
    let mut stream = stream;
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; DRAIN_CHUNK];
        for _ in 0..DRAIN_READS {
            match stream.read(&mut sink) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

/// Sends the error reply for `failure`, closing the connection, and logs it.
pub(crate) fn answer_failure(
    ctx: &Context,
    conn: &mut Conn,
    head: Option<&Head>,
    failure: Failure,
    started: Instant,
) {
    let status = failure.status();
    log::debug!("[{}] {}: {failure} -> {status}", conn.worker, conn.peer);
    let mut reply = Reply::error(status);
    if let Failure::WrongMethod(allow) = failure {
        reply = reply.with("Allow", allow);
    }
    if let Some(head) = head {
        reply = reply.with("X-Request-Id", head.request_id.clone());
    }
    let sent = reply::send(&mut conn.out(), reply, Persistence::Close, false).unwrap_or(0);
    log_access(ctx, conn, head, status, sent, started);
}

/// Writes the access line for one response and counts it in the metrics.
pub(crate) fn log_access(
    ctx: &Context,
    conn: &Conn,
    head: Option<&Head>,
    status: u16,
    n_bytes: u64,
    started: Instant,
) {
    let took = started.elapsed();
    ctx.metrics.record(
        head.map_or(Method::Other, |h| h.method),
        status,
        n_bytes,
        took,
    );
    if !ctx.access_log {
        return;
    }
    // Behind a trusted proxy the client is an address taken from forwarding headers
    // (no port); otherwise it is the peer with its port.
    let client = match head {
        Some(h) if ctx.web.trusted_proxies.contains(&conn.peer.ip()) => {
            web::client_ip(conn.peer.ip(), &h.meta, &ctx.web.trusted_proxies).to_string()
        }
        _ => conn.peer.to_string(),
    };
    let record = AccessRecord {
        client,
        method: head.map(|h| h.method_str.as_str()),
        target: head.map(|h| h.target.as_str()),
        version: head.map(|h| h.version.as_str()),
        status,
        n_bytes,
        took,
        worker: &conn.worker,
        request_id: head.map(|h| h.request_id.as_str()),
        referer: head.and_then(|h| h.meta.referer.as_deref()),
        user_agent: head.and_then(|h| h.meta.user_agent.as_deref()),
    };
    log::info!(target: "access", "{}", record.format(ctx.access_format));
}

/// Tells 414 (the request line alone is too long) from 431 (the head is).
fn head_too_large(buf: &[u8], max_head_bytes: usize) -> Failure {
    let window = &buf[..buf.len().min(max_head_bytes)];
    if memchr_newline(window).is_none() {
        Failure::TargetTooLong
    } else {
        Failure::HeadTooLarge
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Parses a complete head and copies out what routing needs.
fn parse_head(bytes: &[u8]) -> Result<Head, Failure> {
    let mut slots = [Header::EMPTY; MAX_HEADERS];
    let request = match parse_request(bytes, &mut slots) {
        Ok(Status::Complete((request, _))) => request,
        // The scanner saw the blank line, so a partial parse means a malformed head.
        Ok(Status::Partial) => return Err(Failure::Parse(ParseError::BadRequestLine)),
        Err(e) => return Err(Failure::Parse(e)),
    };
    let framing = request.framing().map_err(Failure::Parse)?;
    Ok(Head {
        method: request.method_kind(),
        method_str: request.method.to_string(),
        target: request.target.to_string(),
        version: request.version,
        keep_alive: request.wants_keep_alive(),
        framing,
        expect: request.header("expect").map(<[u8]>::to_vec),
        hosts: request.headers_named("host").map(<[u8]>::to_vec).collect(),
        content_type: request.header("content-type").map(<[u8]>::to_vec),
        file_headers: route::FileHeaders::from_request(&request),
        meta: web::RequestMeta::from_request(&request),
        request_id: web::request_id(
            request
                .header("x-request-id")
                .and_then(|v| std::str::from_utf8(v).ok()),
        ),
    })
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_request_line_is_414_and_long_head_is_431() {
        let line = vec![b'a'; 100];
        assert!(matches!(head_too_large(&line, 50), Failure::TargetTooLong));
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend(vec![b'x'; 100]);
        assert!(matches!(head_too_large(&head, 50), Failure::HeadTooLarge));
    }

    #[test]
    fn scan_head_tells_complete_partial_and_refused() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 64, "partial"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", 64, "partial"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 64, "complete 27"),
            (
                b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n",
                64,
                "complete 18",
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 20, "431"),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 20, "414"),
            (b"GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaa", 20, "431"),
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 64, "400"),
        ];
        for (buf, max, expected) in cases {
            let got = match scan_head(&mut HeadScanner::default(), buf, *max) {
                HeadScan::Complete(n) => format!("complete {n}"),
                HeadScan::Partial => "partial".to_string(),
                HeadScan::Fail(failure) => failure.status().to_string(),
            };
            assert_eq!(got, *expected, "{:?}", buf.escape_ascii().to_string());
        }
    }

    #[test]
    fn scan_head_resumes_over_a_growing_buffer() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scanner = HeadScanner::default();
        for end in 0..head.len() {
            assert!(matches!(
                scan_head(&mut scanner, &head[..end], 64),
                HeadScan::Partial
            ));
        }
        assert!(matches!(
            scan_head(&mut scanner, head, 64),
            HeadScan::Complete(27)
        ));
    }

    #[test]
    fn small_declared_bodies_are_buffered_by_the_poller() {
        let bufferable_body = |head: &[u8], max: u64| plan_head(head, max).body;
        let head =
            |extra: &str| format!("POST /upload HTTP/1.1\r\nHost: a\r\n{extra}\r\n").into_bytes();
        assert_eq!(
            bufferable_body(&head("Content-Length: 10\r\n"), 1 << 20),
            10
        );
        assert_eq!(bufferable_body(&head(""), 1 << 20), 0);
        // Too big for the poller, or over the limit (answered 413 without the body).
        assert_eq!(
            bufferable_body(&head("Content-Length: 70000\r\n"), 1 << 20),
            0
        );
        assert_eq!(bufferable_body(&head("Content-Length: 5000\r\n"), 1024), 0);
        // The client waits for 100 Continue; chunked bodies go to a worker.
        let expect = head("Content-Length: 10\r\nExpect: 100-continue\r\n");
        assert_eq!(bufferable_body(&expect, 1 << 20), 0);
        assert_eq!(
            bufferable_body(&head("Transfer-Encoding: chunked\r\n"), 1 << 20),
            0
        );
    }

    #[test]
    fn only_bodiless_get_head_and_options_are_answered_inline() {
        let cases: &[(&str, bool)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("POST /upload HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
            ),
            ("GET / HTTP/9.9 x\r\n\r\n", false),
        ];
        for (head, inline) in cases {
            assert_eq!(
                plan_head(head.as_bytes(), 1 << 20).inline,
                *inline,
                "{head:?}"
            );
        }
    }

    #[test]
    fn panic_messages_are_extracted() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(panic_message(s.as_ref()), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(s.as_ref()), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(5u8);
        assert_eq!(panic_message(s.as_ref()), "non-string panic payload");
    }
}
