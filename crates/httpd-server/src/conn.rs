//! One connection on one worker: read a head within its limits, hand it to the router,
//! repeat while keep-alive allows, and answer every failure with a precise status.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use httpd_proto::{
    Framing, HeadScanner, Header, MAX_HEADERS, Method, ParseError, Status, Version, parse_request,
};

use crate::Context;
use crate::error::Failure;
use crate::reply::{self, Persistence, Reply};
use crate::route;

/// How long one blocking read waits while a connection is idle, so that a worker notices
/// a shutdown request without any client activity.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// How many bytes one read asks the kernel for.
const READ_CHUNK: usize = 16 * 1024;

/// A connection accepted by the listener, waiting for (or given to) a worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Set when every worker was busy at accept time, so the hand-off is logged.
    pub(crate) queued_at: Option<Instant>,
}

/// A connection owned by a worker.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Bytes read but not consumed yet: a partial head, a body prefix, pipelined requests.
    pub(crate) buf: Vec<u8>,
    pub(crate) worker: String,
}

impl Conn {
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

/// Why reading a head ended without one.
enum HeadEnd {
    /// The peer closed, went idle past the timeout, or the server is stopping.
    Closed,
    /// The head is unacceptable; answer and close.
    Fail(Failure),
}

/// Serves every request of one connection; runs on a pool worker.
pub(crate) fn serve(job: Job, ctx: &Context) {
    let worker = std::thread::current()
        .name()
        .unwrap_or("httpd-worker")
        .to_string();
    if let Some(at) = job.queued_at {
        log::info!(
            "Connection dequeued, assigned to {worker} after {:.1}ms",
            at.elapsed().as_secs_f64() * 1000.0
        );
    }
    let Job { stream, peer, .. } = job;
    // Small responses go out at once; the kernel still coalesces our single writes.
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream.set_write_timeout(Some(ctx.limits.write_timeout)) {
        log::debug!("{peer}: cannot set write timeout: {e}");
        return;
    }
    let mut conn = Conn {
        stream,
        peer,
        buf: Vec::with_capacity(READ_CHUNK),
        worker,
    };
    log::debug!("[{}] connection from {peer}", conn.worker);
    let mut n_served: u32 = 0;
    loop {
        let head_len = match read_head(&mut conn, ctx) {
            Ok(n) => n,
            Err(HeadEnd::Closed) => break,
            Err(HeadEnd::Fail(failure)) => {
                answer_failure(&mut conn, None, failure, Instant::now());
                break;
            }
        };
        let started = Instant::now();
        let parsed = parse_head(&conn.buf[..head_len]);
        conn.buf.drain(..head_len);
        let head = match parsed {
            Ok(head) => head,
            Err(failure) => {
                answer_failure(&mut conn, None, failure, started);
                break;
            }
        };
        n_served += 1;
        let last = n_served >= ctx.limits.max_requests || ctx.stop.load(Ordering::Acquire);
        let persistence = if head.keep_alive && !last {
            Persistence::KeepAlive {
                timeout: ctx.limits.idle_timeout,
                remaining: ctx.limits.max_requests - n_served,
            }
        } else {
            Persistence::Close
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            route::handle(&mut conn, &head, persistence, ctx, started)
        }));
        match outcome {
            Ok(Ok(Persistence::KeepAlive { .. })) => continue,
            Ok(Ok(Persistence::Close)) => {
                if head.keep_alive && n_served >= ctx.limits.max_requests {
                    log::debug!(
                        "[{}] Closing persistent connection after {n_served} requests",
                        conn.worker
                    );
                }
                break;
            }
            Ok(Err(e)) => {
                log::debug!("[{}] {peer}: write failed: {e}", conn.worker);
                break;
            }
            Err(payload) => {
                ctx.counters
                    .n_handler_panics
                    .fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "[{}] handler panicked on {}: {}",
                    conn.worker,
                    head.request_line(),
                    panic_message(payload.as_ref())
                );
                answer_failure(&mut conn, Some(&head), Failure::Panic, started);
                break;
            }
        }
    }
    let _ = conn.stream.shutdown(Shutdown::Both);
}

/// Answers a connection the pool had no room for: 503 with `Retry-After`, then close.
pub(crate) fn reject_busy(job: Job) {
    let mut stream = job.stream;
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let reply = Reply::error(503).with("Retry-After", "5");
    let sent = reply::send(&mut stream, reply, Persistence::Close, false);
    log::info!(
        target: "access",
        "{} \"-\" 503 {} 0.0ms httpd-accept",
        job.peer,
        sent.unwrap_or(0)
    );
    // Read what the client already sent, so closing does not turn into a reset that
    // could destroy the 503 before the client reads it.
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match stream.read(&mut sink) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

/// Sends the error reply for `failure`, closing the connection, and logs it.
pub(crate) fn answer_failure(
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
    let sent = reply::send(&mut conn.stream, reply, Persistence::Close, false).unwrap_or(0);
    log_access(conn, head, status, sent, started);
}

/// Writes the access line for one response.
pub(crate) fn log_access(
    conn: &Conn,
    head: Option<&Head>,
    status: u16,
    n_bytes: u64,
    started: Instant,
) {
    let line = head.map_or_else(|| "-".to_string(), Head::request_line);
    log::info!(
        target: "access",
        "{} \"{line}\" {status} {n_bytes} {:.1}ms {}",
        conn.peer,
        started.elapsed().as_secs_f64() * 1000.0,
        conn.worker
    );
}

/// Reads until the buffer holds a whole head; returns its length.
fn read_head(conn: &mut Conn, ctx: &Context) -> Result<usize, HeadEnd> {
    let limits = &ctx.limits;
    let mut scanner = HeadScanner::default();
    let idle_deadline = Instant::now() + limits.idle_timeout;
    // The head deadline starts with the head's first byte, which may already be buffered.
    let mut head_deadline = (!conn.buf.is_empty()).then(|| Instant::now() + limits.header_timeout);
    loop {
        if !conn.buf.is_empty() {
            match scanner.scan(&conn.buf) {
                Ok(Status::Complete(n)) if n <= limits.max_head_bytes => return Ok(n),
                Ok(Status::Complete(_)) => {
                    return Err(HeadEnd::Fail(head_too_large(
                        &conn.buf,
                        limits.max_head_bytes,
                    )));
                }
                Ok(Status::Partial) => {}
                Err(e) => return Err(HeadEnd::Fail(Failure::Parse(e))),
            }
            if conn.buf.len() > limits.max_head_bytes {
                return Err(HeadEnd::Fail(head_too_large(
                    &conn.buf,
                    limits.max_head_bytes,
                )));
            }
        }
        let now = Instant::now();
        let wait = match head_deadline {
            Some(deadline) => {
                if now >= deadline {
                    log::debug!("[{}] {}: head deadline passed", conn.worker, conn.peer);
                    return Err(HeadEnd::Fail(Failure::HeadTimeout));
                }
                deadline - now
            }
            None => {
                if now >= idle_deadline {
                    log::debug!("[{}] {}: idle timeout", conn.worker, conn.peer);
                    return Err(HeadEnd::Closed);
                }
                if ctx.stop.load(Ordering::Acquire) {
                    return Err(HeadEnd::Closed);
                }
                (idle_deadline - now).min(IDLE_POLL)
            }
        };
        if conn.stream.set_read_timeout(Some(wait)).is_err() {
            return Err(HeadEnd::Closed);
        }
        match conn.fill() {
            Ok(0) => {
                if !conn.buf.is_empty() {
                    log::debug!("[{}] {}: closed mid-head", conn.worker, conn.peer);
                }
                return Err(HeadEnd::Closed);
            }
            Ok(_) => {
                if head_deadline.is_none() {
                    head_deadline = Some(Instant::now() + limits.header_timeout);
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("[{}] {}: read failed: {e}", conn.worker, conn.peer);
                return Err(HeadEnd::Closed);
            }
        }
    }
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
    fn panic_messages_are_extracted() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(panic_message(s.as_ref()), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(s.as_ref()), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(5u8);
        assert_eq!(panic_message(s.as_ref()), "non-string panic payload");
    }
}
