//! One connection, owned by one poller from accept to close: its transport, the bytes
//! read and not yet used, the exchange in progress, and the output waiting to go.
//!
//! # Ownership
//!
//! A [`Conn`] lives in its poller's table and is touched by that poller's thread only.
//! Workers never see it or its socket: they get a [`Job`] (plain
//! data) and send back a [`Done`], which the poller matches to the
//! connection by token and exchange serial. So at any instant exactly one thread owns
//! the socket, and no client, however slow, holds a worker.
//!
//! # The state machine
//!
//! Input and output progress separately:
//!
//! - **Input** ([`Input`]) reads heads, then the body of a request if it has one
//!   (an upload's, or one to discard), then heads again; or, once the connection is
//!   to close, nothing more.
//! - **The exchange** ([`Exchange`]) is the request being answered: waiting for a
//!   job, receiving an upload, or sending its answer. HTTP/1.1 answers in order, so
//!   the next head is parsed only when the current answer is queued whole.
//! - **Output** ([`Out`]) holds what is ready to send and at most one body that is
//!   streamed (a file, a multipart body, gzip steps).
//!
//! [`Conn::drive`] moves all three as far as they go without blocking, whenever the
//! socket became readable or writable, or a job finished. Readiness is
//! edge-triggered: the connection remembers that a read may find bytes
//! (`readable`) until a read finds none, so pausing reading (waiting for a job,
//! back-pressure on an upload) never loses an edge.
//!
//! # Time
//!
//! One deadline at a time, by phase: the idle timeout between requests; the header
//! timeout from the first byte of a head (for TLS, from accept: the handshake counts);
//! the body's pace while a body is read; the write timeout while output is blocked; a
//! short linger after an error answer. The poller's timer wheel holds it.
//!
//! # Closing
//!
//! After an error answer (or any last answer while the client may still be sending)
//! the connection lingers: it shuts its write side, then reads and discards what
//! arrives for a bounded time and size, so the client reads the answer instead of a
//! reset, as nginx does.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use httpd_files::PendingUpload;
use httpd_pool::ThreadPool;
use httpd_proto::{Framing, HeadScanner, Method, Request};

use crate::Context;
use crate::access::AccessRecord;
use crate::error::Failure;
use crate::files::Served;
use crate::h1::{self, BodyError, BodyReader, HeadScan, OwnedHead, Pace, Persistence, RequestId};
use crate::jobs::{Done, Job, Outcome, Work};
use crate::out::{Flushed, Out};
use crate::plan::{self, Answer, Leftover, Peer, Plan};
use crate::response::{Finish, Response};
use crate::timer::Armed;
use crate::transport::{self, ReadOutcome, Transport};

/// How much decoded upload payload is handed to one write job.
const UPLOAD_WRITE_BYTES: usize = 256 * 1024;

/// Answers queued in memory beyond this many bytes stop the parsing of further
/// pipelined requests until the client reads.
const OUT_HIGH_WATER: usize = 64 * 1024;

/// How long a connection lingers after its last answer, reading and dropping input.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much input a lingering connection reads and drops at most.
const LINGER_BYTES: usize = 1024 * 1024;

/// What a poller lends a connection while driving it.
pub(crate) struct Env<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) pool: &'a ThreadPool<Job>,
    /// The poller's index: jobs come back to it.
    pub(crate) home: usize,
    /// The poller's thread name, for logs.
    pub(crate) by: &'a Arc<str>,
    /// The time of this turn of the poller (one clock read per turn).
    pub(crate) now: Instant,
    /// Buffer for socket reads.
    pub(crate) scratch: &'a mut [u8],
    /// The poller's input buffer, lent to a connection that has none.
    pub(crate) rbuf: &'a mut Vec<u8>,
    /// The poller's output buffer, lent likewise.
    pub(crate) wbuf: &'a mut Vec<u8>,
    /// Serials for exchanges, unique per poller.
    pub(crate) next_serial: &'a mut u64,
    /// Set when the connection has a job that waits for room in the pool's queue.
    pub(crate) wants_retry: bool,
    /// Log lines about a full pool, throttled.
    pub(crate) overload: &'a mut crate::monitor::Overload,
    /// The poller's buffer for resolving request paths.
    pub(crate) path_buf: &'a mut httpd_security::SafePath,
}

/// Where input is.
#[derive(Debug)]
enum Input {
    /// Reading request heads (a partial head may be buffered).
    Head,
    /// Reading a request body.
    Body(Box<BodyIn>),
    /// No more requests: close once the answers are out.
    Done,
}

/// A body being read.
#[derive(Debug)]
struct BodyIn {
    reader: BodyReader,
    sink: Sink,
}

/// Where body bytes go.
#[derive(Debug)]
enum Sink {
    /// Nowhere: the request was answered without its body.
    Discard,
    /// Into an upload.
    Upload(Box<Upload>),
}

/// An upload being received.
#[derive(Debug, Default)]
struct Upload {
    /// Payload waiting for a write job.
    fill: Vec<u8>,
    /// The temporary file, when it exists and no job holds it.
    file: Option<PendingUpload>,
    /// A write or commit job holds the file.
    in_flight: bool,
    /// Reading stopped for back-pressure at this time.
    paused_at: Option<Instant>,
}

/// The request being answered.
#[derive(Debug)]
struct Exchange {
    serial: u64,
    started: Instant,
    method: Method,
    /// The client wants to keep the connection, and may.
    keep_alive: bool,
    /// The head, kept when the answer comes later than the parse.
    head: Option<Arc<OwnedHead>>,
    request_id: RequestId,
    stage: Stage,
    /// Close after this answer.
    close: bool,
    /// Status and body length of the answer, once queued.
    status: u16,
    n_body: u64,
    /// The worker that made the answer; the poller when `None`.
    by: Option<Arc<str>>,
    /// Requests served on the connection, this one included.
    n_served: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for a job's result.
    Job,
    /// Receiving an upload's body.
    Receiving,
    /// The answer is queued; a body is still streaming.
    Sending,
}

/// A job that found the pool's queue full, waiting to be submitted again.
#[derive(Debug)]
struct Waiting {
    work: Work,
    /// Give up (503) at this time.
    until: Instant,
}

/// The 201 body of an upload, fields in the seed's order.
#[derive(serde::Serialize)]
struct UploadReply<'a> {
    status: &'a str,
    message: &'a str,
    filepath: &'a str,
}

/// How a drive ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drive {
    /// The connection stays.
    Open,
    /// The connection is finished: close it now.
    Close,
}

/// One client connection; see the module docs.
pub(crate) struct Conn {
    pub(crate) token: usize,
    pub(crate) peer: Peer,
    transport: Transport,
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` already used.
    in_pos: usize,
    scanner: HeadScanner,
    out: Out,
    input: Input,
    exchange: Option<Exchange>,
    n_served: u32,
    /// A job waiting for room in the pool's queue.
    waiting: Option<Box<Waiting>>,
    /// An upload whose body is in while its last write job still runs: it is
    /// committed when that job returns.
    finishing: Option<Box<Upload>>,
    /// The connection's one deadline, and its filing in the poller's wheel.
    pub(crate) deadline: Option<Instant>,
    pub(crate) armed: Armed,
    /// A readiness edge may announce bytes no read has seen.
    readable: bool,
    /// The socket may take more bytes.
    writable: bool,
    /// When the first byte of the head in progress arrived (TLS: accept, until the
    /// handshake is done).
    head_started: Option<Instant>,
    /// When the last exchange finished (or the connection was accepted).
    idle_since: Instant,
    /// When output last blocked, for the write timeout.
    blocked_since: Option<Instant>,
    /// Lingering after the last answer: until when, and how many bytes are left.
    linger: Option<(Instant, usize)>,
    /// Shutdown asked: answer what was read, then close.
    stopping: bool,
    /// No request after the current one: close once it is answered.
    closing: bool,
    /// The TLS handshake was counted.
    handshake_counted: bool,
    /// Counted in the poller's idle connections (the poller keeps this).
    pub(crate) counted_idle: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("token", &self.token)
            .field("peer", &self.peer)
            .field("transport", &self.transport)
            .field("input", &self.input)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// A connection just accepted (and registered).
    pub(crate) fn new(token: usize, peer: Peer, transport: Transport, now: Instant) -> Conn {
        let tls = transport.is_tls();
        Conn {
            token,
            peer,
            transport,
            inbuf: Vec::new(),
            in_pos: 0,
            scanner: HeadScanner::default(),
            out: Out::default(),
            input: Input::Head,
            exchange: None,
            n_served: 0,
            waiting: None,
            finishing: None,
            deadline: None,
            armed: Armed::default(),
            // Bytes may have come with the connection (deferred accept).
            readable: true,
            writable: true,
            // The handshake counts as part of the first head.
            head_started: tls.then_some(now),
            idle_since: now,
            blocked_since: None,
            linger: None,
            stopping: false,
            closing: false,
            handshake_counted: false,
            counted_idle: false,
        }
    }

    /// Records a readiness event.
    pub(crate) fn ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    /// Tells whether the connection waits between requests with nothing buffered.
    pub(crate) fn is_idle(&self) -> bool {
        self.exchange.is_none()
            && matches!(self.input, Input::Head)
            && self.in_pos >= self.inbuf.len()
            && self.out.is_empty()
            && self.head_started.is_none()
    }

    /// Tells whether a job waits for room in the queue.
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Shutdown: an idle connection, or one with only part of a head, closes now
    /// (`Drive::Close`); one with an exchange under way finishes it, then closes.
    pub(crate) fn stop(&mut self) -> Drive {
        self.stopping = true;
        self.closing = true;
        if self.exchange.is_none() && matches!(self.input, Input::Head) && self.out.is_empty() {
            return Drive::Close;
        }
        Drive::Open
    }

    /// Moves input, the exchange and output as far as they go without blocking.
    pub(crate) fn drive(&mut self, env: &mut Env<'_>) -> Drive {
        let lent_in = self.lend_inbuf(env);
        let lent_out = self.out.swap_idle_buf(env.wbuf);
        let result = self.run(env);
        if lent_out {
            self.out.return_buf(env.wbuf);
        }
        self.return_inbuf(env, lent_in);
        self.count_handshake(env.ctx);
        if result == Drive::Open {
            self.deadline = self.next_deadline(env.ctx);
        }
        result
    }

    fn run(&mut self, env: &mut Env<'_>) -> Drive {
        if self.linger.is_some() {
            return self.linger_read(env);
        }
        loop {
            if let Err(()) = self.pump_input(env) {
                return Drive::Close;
            }
            match self.flush(env) {
                Progress::More => continue,
                Progress::Stuck => {}
                Progress::Broken => return Drive::Close,
            }
            if matches!(self.input, Input::Done)
                && self.exchange.is_none()
                && self.out.is_empty()
                && self.waiting.is_none()
            {
                return self.finish_connection(env);
            }
            return Drive::Open;
        }
    }

    /// The connection is done: close at once when nothing unread can turn the close
    /// into a reset, else linger.
    fn finish_connection(&mut self, env: &mut Env<'_>) -> Drive {
        if self.transport.wants_write() {
            // TLS records still to go: wait for writability.
            return Drive::Open;
        }
        let unread = self.in_pos < self.inbuf.len() || self.readable;
        if !unread {
            if self.transport.is_tls() {
                // The close_notify alert, best effort, then FIN.
                self.transport.shutdown_write();
            }
            return Drive::Close;
        }
        self.transport.shutdown_write();
        self.in_pos = self.inbuf.len();
        self.linger = Some((env.now + LINGER_TIME, LINGER_BYTES));
        self.linger_read(env)
    }

    /// Reads and drops input until the peer closes, the budget is spent, or the
    /// socket is empty (then the deadline closes it).
    fn linger_read(&mut self, env: &mut Env<'_>) -> Drive {
        let _ = self.transport.flush();
        loop {
            let Some((_, left)) = &mut self.linger else {
                return Drive::Close;
            };
            if *left == 0 {
                return Drive::Close;
            }
            let mut sink = Vec::new();
            match self.transport.read(&mut sink, env.scratch) {
                ReadOutcome::Data { n, drained } => {
                    *left = left.saturating_sub(n.max(1));
                    if drained {
                        self.readable = false;
                        return Drive::Open;
                    }
                }
                ReadOutcome::WouldBlock => {
                    self.readable = false;
                    return Drive::Open;
                }
                ReadOutcome::Eof | ReadOutcome::Failed(_) => return Drive::Close,
            }
        }
    }

    /// A deadline passed (the poller checked `deadline <= now`).
    pub(crate) fn expire(&mut self, env: &mut Env<'_>) -> Drive {
        let ctx = env.ctx;
        self.deadline = None;
        if self.linger.is_some() {
            return Drive::Close;
        }
        if self.blocked_since.is_some() {
            log::debug!("{}: write timed out", self.peer.addr);
            return Drive::Close;
        }
        if let Some(waiting) = self.waiting.take() {
            // Waited the idle timeout for room in the queue: 503 if nothing of the
            // answer was written (an upload's body was read; its file goes).
            let _ = waiting.work;
            log::debug!("{}: no room for a job in time", self.peer.addr);
            self.answer_failure(env, Failure::Busy);
            return self.after_expiry(env);
        }
        match &mut self.input {
            Input::Body(body) => {
                let upload = matches!(body.sink, Sink::Upload(_));
                log::debug!("{}: body too slow", self.peer.addr);
                self.input = Input::Done;
                if upload {
                    self.answer_failure(env, Failure::BodyTimeout);
                    return self.after_expiry(env);
                }
                if self.exchange.is_none() && self.out.is_empty() {
                    return Drive::Close;
                }
                Drive::Open
            }
            Input::Head if self.exchange.is_none() => {
                let Some(started) = self.head_started else {
                    log::debug!("{}: idle timeout", self.peer.addr);
                    return Drive::Close;
                };
                if self.transport.is_handshaking() {
                    log::debug!("{}: TLS handshake too slow", self.peer.addr);
                    ctx.metrics.tls_failed("timeout");
                    return Drive::Close;
                }
                log::debug!("{}: head deadline passed", self.peer.addr);
                self.input = Input::Done;
                self.answer_early(env, Failure::HeadTimeout, false, started);
                self.after_expiry(env)
            }
            _ => Drive::Open,
        }
    }

    fn after_expiry(&mut self, env: &mut Env<'_>) -> Drive {
        let result = self.drive(env);
        if result == Drive::Open && self.deadline.is_none_or(|d| d <= env.now) {
            // Nothing left to wait for but the linger.
            self.deadline = Some(env.now + LINGER_TIME);
        }
        result
    }

    /// A job's result arrived for this connection.
    pub(crate) fn job_done(&mut self, done: Done, env: &mut Env<'_>) -> Drive {
        let Some(exchange) = self.exchange.as_mut() else {
            return Drive::Open;
        };
        if exchange.serial != done.serial {
            return Drive::Open;
        }
        let Done { by, outcome, .. } = done;
        match outcome {
            Outcome::File(result) => {
                exchange.by = Some(by);
                match result {
                    Ok(Served::File(answer)) => self.queue_deferred(env, Answer::File(answer)),
                    Ok(Served::Simple(response)) => {
                        self.queue_deferred(env, Answer::Simple(response));
                    }
                    Err(failure) => self.answer_failure(env, failure),
                }
            }
            Outcome::Step {
                steps,
                bytes,
                result,
            } => match result {
                Ok(last) => self.out.produced_step(steps, &bytes, last),
                Err(e) => {
                    log::warn!("producing the body failed: {e}");
                    return Drive::Close;
                }
            },
            Outcome::Written { file, bytes } => {
                let mut failed = None;
                if let Some(mut upload) = self.finishing.take() {
                    // The body was in already: commit now, with what is left.
                    match file {
                        Ok(file) => {
                            let bytes = std::mem::take(&mut upload.fill);
                            self.submit(
                                env,
                                Work::UploadCommit {
                                    file: Some(file),
                                    bytes,
                                },
                            );
                        }
                        Err(failure) => failed = Some(failure),
                    }
                } else if let Input::Body(body) = &mut self.input {
                    if let Sink::Upload(upload) = &mut body.sink {
                        upload.in_flight = false;
                        if upload.fill.is_empty() {
                            // Reuse the buffer the job emptied.
                            upload.fill = bytes;
                        }
                        if let Some(paused) = upload.paused_at.take() {
                            body.reader.resumed(paused, env.now);
                        }
                        match file {
                            Ok(file) => upload.file = Some(file),
                            Err(failure) => failed = Some(failure),
                        }
                    }
                }
                if let Some(failure) = failed {
                    if let Some(x) = self.exchange.as_mut() {
                        x.by = Some(by);
                    }
                    if matches!(self.input, Input::Body(_)) {
                        self.input = Input::Done;
                    }
                    self.answer_failure(env, failure);
                }
            }
            Outcome::Committed(result) => {
                exchange.by = Some(by);
                match result {
                    Ok(stored) => {
                        let body = UploadReply {
                            status: "success",
                            message: "File created successfully",
                            filepath: stored.url_path(),
                        };
                        let mut response = Response::new(201)
                            .with("Content-Type", "application/json")
                            .with("Location", stored.url_path().to_string());
                        response.body = serde_json::to_vec(&body).unwrap_or_default();
                        self.queue_deferred(env, Answer::Simple(response));
                    }
                    Err(failure) => self.answer_failure(env, failure),
                }
            }
            Outcome::Released => {
                exchange.by = Some(by);
                let mut response = Response::new(200).with("Content-Type", "text/plain");
                response.body = b"released\n".to_vec();
                self.queue_deferred(env, Answer::Simple(response));
            }
            Outcome::Panicked => {
                exchange.by = Some(by);
                self.answer_failure(env, Failure::Panic);
            }
        }
        self.drive(env)
    }

    /// Submits a job that waited for room in the queue; true once it is off.
    pub(crate) fn retry_job(&mut self, env: &mut Env<'_>) -> bool {
        let Some(waiting) = self.waiting.take() else {
            return true;
        };
        let until = waiting.until;
        match self.try_submit(env, waiting.work) {
            Ok(()) => true,
            Err(work) => {
                self.waiting = Some(Box::new(Waiting { work, until }));
                false
            }
        }
    }

    /// Reads and acts on input until it needs bytes that have not arrived, or waits
    /// for the exchange. `Err` when the connection is finished without an answer.
    fn pump_input(&mut self, env: &mut Env<'_>) -> Result<(), ()> {
        loop {
            match &mut self.input {
                Input::Done => return Ok(()),
                Input::Body(_) => {
                    if !self.feed_body(env)? {
                        return Ok(());
                    }
                }
                Input::Head => {
                    if self.exchange.is_some()
                        || self.out.is_streaming()
                        || self.out.pending_len() > OUT_HIGH_WATER
                    {
                        return Ok(());
                    }
                    if self.closing {
                        self.input = Input::Done;
                        return Ok(());
                    }
                    let max_head = env.ctx.limits.max_head_bytes;
                    match h1::scan_head(&mut self.scanner, &self.inbuf[self.in_pos..], max_head) {
                        HeadScan::Complete(head_len) => self.start_exchange(env, head_len),
                        HeadScan::Partial => {
                            if !self.read_more(env)? {
                                return Ok(());
                            }
                        }
                        HeadScan::Fail(failure) => {
                            let head_only = h1::is_head_request(&self.inbuf[self.in_pos..]);
                            let started = self.head_started.unwrap_or(env.now);
                            self.input = Input::Done;
                            self.answer_early(env, failure, head_only, started);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Reads once from the transport onto the end of the input buffer, unless the last
    /// read found the socket empty and no edge came since (`None`). Keeps `readable`
    /// up to date.
    fn read_input(&mut self, env: &mut Env<'_>) -> Option<ReadOutcome> {
        if !self.readable {
            return None;
        }
        if self.in_pos > 0 {
            // The scanner's state is relative to the unused bytes, which stay the same.
            self.inbuf.drain(..self.in_pos);
            self.in_pos = 0;
        }
        let outcome = self.transport.read(&mut self.inbuf, env.scratch);
        match outcome {
            ReadOutcome::Data { drained, .. } => self.readable = !drained,
            _ => self.readable = false,
        }
        Some(outcome)
    }

    /// Reads once into the input buffer; false when nothing more can be read now.
    /// `Err` when the connection is finished (the peer left mid-head, or failed).
    fn read_more(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        let Some(outcome) = self.read_input(env) else {
            return Ok(false);
        };
        match outcome {
            ReadOutcome::Data { n, drained } => {
                if n > 0 && self.head_started.is_none() && matches!(self.input, Input::Head) {
                    self.head_started = Some(env.now);
                }
                Ok(n > 0 || !drained)
            }
            ReadOutcome::WouldBlock => Ok(false),
            ReadOutcome::Eof => {
                match &self.input {
                    Input::Head if self.inbuf.is_empty() && self.exchange.is_none() => Err(()),
                    Input::Head if self.exchange.is_none() => {
                        log::debug!("{}: closed mid-request", self.peer.addr);
                        Err(())
                    }
                    _ => {
                        // A half-close after a request: answer it, then close.
                        self.input = Input::Done;
                        Ok(false)
                    }
                }
            }
            ReadOutcome::Failed(failure) => {
                if self.transport.is_tls() && failure != transport::Failure::Io {
                    if self.transport.is_handshaking() || self.transport.handshake().is_none() {
                        env.ctx.metrics.tls_failed(failure.label());
                    }
                    log::debug!("{}: TLS failed: {}", self.peer.addr, failure.label());
                    if failure == transport::Failure::PlainHttp {
                        self.plain_http_on_tls_port();
                    }
                } else {
                    log::debug!("{}: read failed", self.peer.addr);
                }
                Err(())
            }
        }
    }

    /// Answers plain HTTP sent to a TLS port with nginx's short 400, in the clear.
    fn plain_http_on_tls_port(&mut self) {
        const ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: httpd\r\n\
            Content-Type: text/plain\r\nContent-Length: 48\r\nConnection: close\r\n\r\n\
            The plain HTTP request was sent to HTTPS port.\r\n";
        let mut sock = self.transport.socket();
        let _ = io::Write::write(&mut sock, ANSWER);
        let _ = sock.shutdown(std::net::Shutdown::Write);
    }

    /// Feeds buffered (and newly read) bytes to the body being read; true when the
    /// body is done (input moved on), false when it waits for bytes or for a job.
    fn feed_body(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        loop {
            let Input::Body(body) = &mut self.input else {
                return Ok(true);
            };
            // Back-pressure: a full buffer waits for the write job before reading on.
            if let Sink::Upload(upload) = &mut body.sink {
                if upload.fill.len() >= UPLOAD_WRITE_BYTES {
                    if !upload.in_flight {
                        self.submit_upload_write(env);
                        continue;
                    }
                    if upload.paused_at.is_none() {
                        upload.paused_at = Some(env.now);
                    }
                    return Ok(false);
                }
            }
            let available = &self.inbuf[self.in_pos..];
            let fed = match &mut body.sink {
                Sink::Discard => body.reader.feed(available, &mut io::sink()),
                Sink::Upload(upload) => body.reader.feed(available, &mut upload.fill),
            };
            match fed {
                Ok((used, done)) => {
                    self.in_pos += used;
                    if done {
                        self.body_done(env);
                        return Ok(true);
                    }
                    if self.in_pos < self.inbuf.len() {
                        // A partial chunk line: read more below.
                    }
                }
                Err(e) => {
                    self.body_failed(env, e);
                    return Ok(true);
                }
            }
            let Input::Body(body) = &mut self.input else {
                return Ok(true);
            };
            if let Sink::Upload(upload) = &body.sink {
                if upload.fill.len() >= UPLOAD_WRITE_BYTES {
                    continue;
                }
            }
            let Some(outcome) = self.read_input(env) else {
                return Ok(false);
            };
            match outcome {
                ReadOutcome::Data { n, drained } => {
                    let Input::Body(body) = &mut self.input else {
                        return Ok(true);
                    };
                    if let Err(e) = body.reader.arrived(n, env.now) {
                        self.body_failed(env, e);
                        return Ok(true);
                    }
                    if n == 0 && drained {
                        return Ok(false);
                    }
                }
                ReadOutcome::WouldBlock => return Ok(false),
                ReadOutcome::Eof | ReadOutcome::Failed(_) => {
                    self.body_failed(env, BodyError::Closed);
                    return Ok(true);
                }
            }
        }
    }

    /// The body was read whole.
    fn body_done(&mut self, env: &mut Env<'_>) {
        let input = std::mem::replace(&mut self.input, Input::Head);
        let Input::Body(body) = input else {
            return;
        };
        env.ctx.metrics.received(body.reader.total());
        if let Sink::Upload(upload) = body.sink {
            if upload.in_flight {
                // Its last write is still running: commit when it returns, so the
                // file is written in order.
                self.finishing = Some(upload);
            } else {
                let Upload { fill, file, .. } = *upload;
                self.submit(env, Work::UploadCommit { file, bytes: fill });
            }
        }
    }

    /// The body could not be read whole: answer an upload's failure; for a discarded
    /// body, close after the answer.
    fn body_failed(&mut self, env: &mut Env<'_>, e: BodyError) {
        let input = std::mem::replace(&mut self.input, Input::Done);
        let Input::Body(body) = input else {
            return;
        };
        match &e {
            BodyError::Sink(io) => log::warn!("cannot keep a request body: {io}"),
            _ => log::debug!("{}: request body: {e:?}", self.peer.addr),
        }
        if let Sink::Upload(_) = body.sink {
            // Dropping the upload removes its temporary file (a job holding it drops
            // it when its result finds the exchange gone).
            let failure = match e {
                BodyError::TooLarge => Failure::BodyTooLarge,
                BodyError::Chunk(c) => Failure::Chunk(c),
                BodyError::Timeout => Failure::BodyTimeout,
                BodyError::Closed => Failure::Aborted,
                BodyError::Sink(_) => Failure::Files(httpd_files::ErrorKind::Io),
            };
            if matches!(failure, Failure::Aborted) {
                // Nobody to answer.
                self.exchange = None;
                return;
            }
            self.answer_failure(env, failure);
        } else {
            self.closing = true;
        }
    }

    /// Hands the filled upload buffer to a write job.
    fn submit_upload_write(&mut self, env: &mut Env<'_>) {
        let Input::Body(body) = &mut self.input else {
            return;
        };
        let Sink::Upload(upload) = &mut body.sink else {
            return;
        };
        let bytes = std::mem::replace(&mut upload.fill, Vec::with_capacity(UPLOAD_WRITE_BYTES));
        let file = upload.file.take();
        upload.in_flight = true;
        self.submit(env, Work::UploadWrite { file, bytes });
    }

    /// Parses the complete head of `head_len` bytes at `in_pos` and starts answering it.
    fn start_exchange(&mut self, env: &mut Env<'_>, head_len: usize) {
        let head_start = self.in_pos;
        self.in_pos += head_len;
        self.scanner.reset();
        let started = self.head_started.take().unwrap_or(env.now);
        // The head stays in the input buffer, which is set aside while the request is
        // planned (nothing reads input meanwhile) and put back after.
        let inbuf = std::mem::take(&mut self.inbuf);
        self.start_parsed(env, &inbuf[head_start..head_start + head_len], started);
        self.inbuf = inbuf;
    }

    /// Plans the request in `head` and starts answering it.
    fn start_parsed(&mut self, env: &mut Env<'_>, head: &[u8], started: Instant) {
        let ctx = env.ctx;
        let mut slots = h1::slots();
        let request = match h1::parse(head, &mut slots) {
            Ok(request) => request,
            Err(failure) => {
                let head_only = h1::is_head_request(head);
                self.input = Input::Done;
                self.answer_early(env, failure, head_only, started);
                return;
            }
        };
        self.n_served += 1;
        let last = self.n_served >= ctx.limits.max_requests
            || self.stopping
            || ctx.stop.load(Ordering::Relaxed);
        let method = Method::from_token(request.method);
        let decision = plan::decide(ctx, self.peer, head, &request, env.now, env.path_buf);
        let mut exchange = Exchange {
            serial: {
                *env.next_serial += 1;
                *env.next_serial
            },
            started,
            method,
            keep_alive: request.wants_keep_alive() && !last,
            head: None,
            request_id: RequestId::from_request(request.header("x-request-id")),
            stage: Stage::Job,
            close: decision.close || decision.leftover == Leftover::Refuse,
            status: 0,
            n_body: 0,
            by: None,
            n_served: self.n_served,
        };
        if request.wants_keep_alive() && self.n_served >= ctx.limits.max_requests {
            log::debug!(
                "Closing persistent connection after {} requests",
                self.n_served
            );
        }
        if exchange.close {
            self.closing = true;
        } else if let Leftover::Discard(framing) = decision.leftover {
            match BodyReader::new(framing, plan::DISCARD_MAX_BYTES, pace(ctx), env.now) {
                Ok(reader) => {
                    self.input = Input::Body(Box::new(BodyIn {
                        reader,
                        sink: Sink::Discard,
                    }));
                }
                Err(_) => {
                    exchange.close = true;
                    self.closing = true;
                }
            }
        }
        match decision.plan {
            Plan::Answer(answer) => {
                self.exchange = Some(exchange);
                self.queue_answer(env, answer, &request, head);
            }
            Plan::Job(work) => {
                exchange.head = Some(match &work {
                    Work::File(job) => Arc::clone(&job.head),
                    _ => Arc::new(OwnedHead::new(head, &request)),
                });
                self.exchange = Some(exchange);
                self.submit(env, work);
            }
            Plan::Upload { send_continue } => {
                log::debug!(
                    "{}: receiving upload body ({:?})",
                    self.peer.addr,
                    request.framing()
                );
                exchange.head = Some(Arc::new(OwnedHead::new(head, &request)));
                exchange.stage = Stage::Receiving;
                let framing = request.framing().unwrap_or(Framing::None);
                let reader =
                    BodyReader::new(framing, ctx.limits.max_body_bytes, pace(ctx), env.now);
                self.exchange = Some(exchange);
                match reader {
                    Ok(reader) => {
                        if send_continue {
                            self.out.push(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                        self.input = Input::Body(Box::new(BodyIn {
                            reader,
                            sink: Sink::Upload(Box::default()),
                        }));
                    }
                    Err(_) => {
                        self.input = Input::Done;
                        self.answer_failure(env, Failure::BodyTooLarge);
                    }
                }
            }
        }
    }

    /// Submits a job for the current exchange, or deals with a full queue: an upload
    /// waits for room (its client sent the body and is owed an answer); anything else
    /// gets 503 if nothing of its answer was written, else the connection closes.
    fn submit(&mut self, env: &mut Env<'_>, work: Work) {
        if let Some(x) = self.exchange.as_mut() {
            if !matches!(work, Work::Step(_) | Work::UploadWrite { .. }) {
                x.stage = Stage::Job;
            }
        }
        if let Err(work) = self.try_submit(env, work) {
            match work {
                Work::UploadWrite { .. } | Work::UploadCommit { .. } => {
                    env.wants_retry = true;
                    self.waiting = Some(Box::new(Waiting {
                        work,
                        until: env.now + env.ctx.limits.idle_timeout,
                    }));
                }
                Work::Step(_) => {
                    // Part of the answer is out: the only honest end is a close.
                    self.exchange = None;
                    self.input = Input::Done;
                    self.out = Out::default();
                }
                _ => self.answer_failure(env, Failure::Busy),
            }
        }
    }

    fn try_submit(&mut self, env: &mut Env<'_>, work: Work) -> Result<(), Work> {
        let Some(x) = self.exchange.as_ref() else {
            return Ok(());
        };
        let stats = env.pool.stats();
        let saturated = stats.n_busy >= stats.n_workers;
        env.overload.observe(&stats);
        if saturated {
            env.overload.saturated(self.peer.addr, &stats);
        }
        let job = Job {
            home: env.home,
            token: self.token,
            serial: x.serial,
            queued_at: saturated.then_some(env.now),
            work,
        };
        match env.pool.try_submit(job) {
            Ok(()) => Ok(()),
            Err(refused) => {
                let job = refused.into_inner();
                env.overload.rejected(self.peer.addr, env.pool);
                env.ctx.counters.n_rejected.fetch_add(1, Ordering::Relaxed);
                env.ctx.metrics.rejected();
                Err(job.work)
            }
        }
    }

    /// Answers a failure of the current exchange (or of a request that never became
    /// one) and closes after it when the failure calls for it.
    fn answer_failure(&mut self, env: &mut Env<'_>, failure: Failure) {
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        if failure.must_close() {
            exchange.close = true;
            self.closing = true;
        }
        if exchange.stage == Stage::Sending {
            // Part of an answer is out already: close instead.
            self.input = Input::Done;
            self.exchange = None;
            return;
        }
        log::debug!("{}: {failure} -> {}", self.peer.addr, failure.status());
        let response = Response::for_failure(&failure);
        self.queue_deferred(env, Answer::Simple(response));
    }

    /// Answers a head that could not become a request (malformed, too large, too slow)
    /// and closes after it.
    fn answer_early(
        &mut self,
        env: &mut Env<'_>,
        failure: Failure,
        head_only: bool,
        started: Instant,
    ) {
        let status = failure.status();
        log::debug!("{}: {failure} -> {status}", self.peer.addr);
        let response = Response::for_failure(&failure);
        let buf = self.out.take_buf();
        let (buf, n_body) =
            env.ctx
                .write_closing_error(response, head_only, self.hsts(env.ctx), buf);
        self.out.put_buf(buf);
        let took = env.now.saturating_duration_since(started);
        env.ctx
            .metrics
            .record(Method::Other, status, n_body, took, self.peer.https);
        if env.ctx.access_log {
            let record = AccessRecord {
                client: self.peer.addr.to_string(),
                method: None,
                target: None,
                version: None,
                status,
                n_bytes: n_body,
                took,
                worker: env.by,
                request_id: None,
                referer: None,
                user_agent: None,
                scheme: self.scheme(),
                tls: self.transport.handshake().map(|h| h.version),
            };
            log::info!(target: "access", "{}", record.format(env.ctx.access_format));
        }
    }

    /// Queues an answer that came after the parse (a job's result, a failure found
    /// later): the request is rebuilt from the kept head.
    fn queue_deferred(&mut self, env: &mut Env<'_>, answer: Answer) {
        let head = self.exchange.as_ref().and_then(|x| x.head.clone());
        match head {
            Some(head) => {
                let mut slots = h1::slots();
                let request = head.request(&mut slots);
                self.queue_answer(env, answer, &request, &[]);
            }
            None => {
                // No head was kept: answer without request-derived lines.
                let request = Request {
                    method: "-",
                    target: "-",
                    version: httpd_proto::Version::Http11,
                    headers: &[],
                };
                self.queue_answer(env, answer, &request, &[]);
            }
        }
    }

    /// Writes an answer for the current exchange into the output, and finishes the
    /// exchange unless a body still streams. `head` is the request's head bytes when
    /// still at hand (to keep them if the answer streams).
    fn queue_answer(
        &mut self,
        env: &mut Env<'_>,
        answer: Answer,
        request: &Request<'_, '_>,
        head: &[u8],
    ) {
        let ctx = env.ctx;
        let Some(exchange) = self.exchange.as_mut() else {
            return;
        };
        let status = answer.status();
        // A server shutting down says so in every answer, even before its poller has
        // stopped this connection.
        let stopping = self.stopping || ctx.stop.load(Ordering::Relaxed);
        let persistence = if exchange.keep_alive && !exchange.close && !stopping {
            Persistence::KeepAlive {
                timeout: ctx.limits.idle_timeout,
                remaining: ctx.limits.max_requests.saturating_sub(exchange.n_served),
            }
        } else {
            Persistence::Close
        };
        if persistence == Persistence::Close {
            exchange.close = true;
            self.closing = true;
        }
        let cors = if ctx.web.cors_origins.is_empty() {
            Vec::new()
        } else {
            crate::web::cors_headers(request, &ctx.web.cors_origins)
        };
        let vary_origin = cors.iter().any(|(n, _)| *n == "Vary");
        let cors_lines: Vec<(&'static str, String)> =
            cors.into_iter().filter(|(n, _)| *n != "Vary").collect();
        let extra = answer.extra_lines(ctx);
        let finish = Finish {
            persistence,
            head_only: exchange.method == Method::Head,
            request_id: Some(exchange.request_id.as_str()),
            extra,
            cors: &cors_lines,
            vary_origin,
            hsts: if self.peer.https { &ctx.hsts_line } else { b"" },
        };
        let buf = self.out.take_buf();
        let (buf, stream, n_body) = answer.write(buf, &finish, &ctx.files.answers);
        self.out.put_buf(buf);
        exchange.status = status;
        exchange.n_body = n_body;
        match stream {
            Some(stream) => {
                if exchange.head.is_none() && !head.is_empty() {
                    exchange.head = Some(Arc::new(OwnedHead::new(head, request)));
                }
                exchange.stage = Stage::Sending;
                self.out.set_stream(stream);
            }
            None => self.finish_exchange(env, Some(request)),
        }
    }

    /// The current exchange's answer is queued whole: log it and move on.
    fn finish_exchange(&mut self, env: &mut Env<'_>, request: Option<&Request<'_, '_>>) {
        let Some(exchange) = self.exchange.take() else {
            return;
        };
        let ctx = env.ctx;
        let took = env.now.saturating_duration_since(exchange.started);
        let n_body = match self.out.produced_bytes() {
            Some(n) => n,
            None => exchange.n_body,
        };
        ctx.metrics.record(
            exchange.method,
            exchange.status,
            n_body,
            took,
            self.peer.https,
        );
        if ctx.access_log {
            match request {
                Some(request) => self.log_access(env, &exchange, request, n_body, took),
                None => {
                    if let Some(head) = &exchange.head {
                        let mut slots = h1::slots();
                        let request = head.request(&mut slots);
                        self.log_access(env, &exchange, &request, n_body, took);
                    }
                }
            }
        }
        if exchange.close || self.stopping {
            self.closing = true;
        }
        self.idle_since = env.now;
    }

    fn log_access(
        &self,
        env: &Env<'_>,
        exchange: &Exchange,
        request: &Request<'_, '_>,
        n_body: u64,
        took: Duration,
    ) {
        let ctx = env.ctx;
        // Behind a trusted proxy the client is an address taken from forwarding
        // headers (no port); otherwise it is the peer with its port.
        let client = if ctx.web.trusted_proxies.contains(&self.peer.addr.ip()) {
            crate::web::client_ip(self.peer.addr.ip(), request, &ctx.web.trusted_proxies)
                .to_string()
        } else {
            self.peer.addr.to_string()
        };
        let text = |name: &str| {
            request
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let referer = text("referer");
        let user_agent = text("user-agent");
        let record = AccessRecord {
            client,
            method: Some(request.method),
            target: Some(request.target),
            version: Some(request.version.as_str()),
            status: exchange.status,
            n_bytes: n_body,
            took,
            worker: exchange.by.as_deref().unwrap_or(env.by),
            request_id: Some(exchange.request_id.as_str()),
            referer: referer.as_deref(),
            user_agent: user_agent.as_deref(),
            scheme: self.scheme(),
            tls: self.transport.handshake().map(|h| h.version),
        };
        log::info!(target: "access", "{}", record.format(ctx.access_format));
    }

    /// Writes what can be written; runs gzip steps and finishes a streamed exchange.
    fn flush(&mut self, env: &mut Env<'_>) -> Progress {
        if self.out.is_empty() && !self.transport.wants_write() {
            self.blocked_since = None;
            return Progress::Stuck;
        }
        let written = self.out.n_written();
        let flushed = self.out.flush(&mut self.transport);
        if self.out.n_written() != written {
            // Progress: the write timeout counts from the last bytes taken.
            self.blocked_since = None;
        }
        match flushed {
            Flushed::Done => {
                self.blocked_since = None;
                if self
                    .exchange
                    .as_ref()
                    .is_some_and(|x| x.stage == Stage::Sending)
                {
                    self.finish_exchange(env, None);
                    return Progress::More;
                }
                // Parsing may have stopped for the high-water mark.
                if matches!(self.input, Input::Head) && self.in_pos < self.inbuf.len() {
                    return Progress::More;
                }
                Progress::Stuck
            }
            Flushed::Blocked => {
                self.writable = false;
                if self.blocked_since.is_none() {
                    self.blocked_since = Some(env.now);
                }
                Progress::Stuck
            }
            Flushed::NeedsStep => {
                self.blocked_since = None;
                if let Some(steps) = self.out.take_producer() {
                    self.submit(env, Work::Step(steps));
                }
                if self.exchange.is_none() {
                    return Progress::Broken;
                }
                Progress::Stuck
            }
            Flushed::Waiting => {
                self.blocked_since = None;
                Progress::Stuck
            }
            Flushed::Failed(e) => {
                log::debug!("{}: write failed: {e}", self.peer.addr);
                Progress::Broken
            }
        }
    }

    /// The deadline for the connection's current phase.
    fn next_deadline(&self, ctx: &Context) -> Option<Instant> {
        let limits = &ctx.limits;
        if let Some((until, _)) = self.linger {
            return Some(until);
        }
        if let Some(since) = self.blocked_since {
            return Some(since + limits.write_timeout);
        }
        if let Some(waiting) = &self.waiting {
            return Some(waiting.until);
        }
        match &self.input {
            Input::Body(body) => match &body.sink {
                Sink::Upload(upload) if upload.paused_at.is_some() => None,
                _ => Some(body.reader.deadline()),
            },
            Input::Head if self.exchange.is_none() && self.out.is_empty() => {
                Some(match self.head_started {
                    Some(started) => started + limits.header_timeout,
                    None => self.idle_since + limits.idle_timeout,
                })
            }
            _ => None,
        }
    }

    /// Counts a completed TLS handshake once.
    fn count_handshake(&mut self, ctx: &Context) {
        if self.handshake_counted {
            return;
        }
        if let Some(handshake) = self.transport.handshake() {
            self.handshake_counted = true;
            ctx.metrics.tls_handshake(handshake.resumed);
        }
    }

    fn scheme(&self) -> &'static str {
        if self.peer.https { "https" } else { "http" }
    }

    fn hsts<'c>(&self, ctx: &'c Context) -> &'c [u8] {
        if self.peer.https { &ctx.hsts_line } else { b"" }
    }

    /// Lends the poller's input buffer when this connection has nothing buffered.
    fn lend_inbuf(&mut self, env: &mut Env<'_>) -> bool {
        if self.in_pos >= self.inbuf.len() {
            self.inbuf.clear();
            self.in_pos = 0;
            std::mem::swap(&mut self.inbuf, env.rbuf);
            true
        } else {
            false
        }
    }

    /// Gives the poller's buffer back, keeping only the unused bytes.
    fn return_inbuf(&mut self, env: &mut Env<'_>, lent: bool) {
        if !lent {
            if self.in_pos > 0 && self.in_pos >= self.inbuf.len() {
                self.inbuf = Vec::new();
                self.in_pos = 0;
            }
            return;
        }
        let rest = if self.in_pos < self.inbuf.len() {
            let rest = self.inbuf[self.in_pos..].to_vec();
            if self.in_pos > 0 {
                // The scanner saw the old prefix; it rescans the rest from scratch.
                self.scanner.reset();
            }
            rest
        } else {
            Vec::new()
        };
        std::mem::swap(&mut self.inbuf, env.rbuf);
        env.rbuf.clear();
        self.inbuf = rest;
        self.in_pos = 0;
    }
}

/// What a flush led to.
enum Progress {
    /// Something finished: run the loop again.
    More,
    /// Nothing more to do until an event.
    Stuck,
    /// The connection is broken.
    Broken,
}

/// How slowly a body may arrive.
fn pace(ctx: &Context) -> Pace {
    Pace {
        read_timeout: ctx.limits.idle_timeout,
        grace: ctx.limits.header_timeout,
        min_rate: ctx.limits.min_body_rate,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testkit::{Kit, TempRoot, allocations};

    const GET_A: &[u8] = b"GET /a.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /// A kit whose root holds `a.html` (1 KiB, old enough for the file cache).
    fn kit() -> Kit {
        let root = TempRoot::new();
        root.write_old("a.html", &[b'a'; 1024]);
        Kit::new(root, |_| {})
    }

    #[test]
    fn an_uncached_file_is_a_job_and_then_a_cached_one_is_answered_at_once() {
        let mut kit = kit();
        let (mut conn, mut client) = kit.connect();
        client.send(GET_A);
        assert_eq!(kit.drive(&mut conn), Drive::Open);
        // Nothing yet: a worker opens the file.
        assert!(client.nothing_to_read());
        assert_eq!(kit.finish_job(&mut conn), Drive::Open);
        let (head, body) = client.response();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body.len(), 1024);
        // Now the file cache holds it: the same drive answers it, no job.
        client.send(GET_A);
        assert_eq!(kit.drive(&mut conn), Drive::Open);
        let (head, body) = client.response();
        assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
        assert_eq!(body, vec![b'a'; 1024]);
        assert!(kit.back.is_empty());
    }

    #[test]
    fn keep_alive_requests_for_a_cached_file_allocate_nothing() {
        let root = TempRoot::new();
        root.write_old("a.html", &[b'a'; 1024]);
        let mut kit = Kit::new(root, |c| c.limits.max_requests = 100_000);
        let (mut conn, mut client) = kit.connect();
        // Warm up: fill the file cache, grow the buffers.
        client.send(GET_A);
        kit.drive(&mut conn);
        kit.finish_job(&mut conn);
        client.response();
        for _ in 0..3 {
            client.send(GET_A);
            kit.drive(&mut conn);
            client.response();
        }
        let mut total = 0;
        for _ in 0..200 {
            client.send(GET_A);
            total += allocations(|| {
                assert_eq!(kit.drive(&mut conn), Drive::Open);
            });
            let (head, _) = client.response();
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        }
        assert_eq!(total, 0, "allocations in 200 requests");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut kit = kit();
        kit.root.write_old("b.html", b"bbb");
        let (mut conn, mut client) = kit.connect();
        // Fill the cache first.
        for req in [GET_A, b"GET /b.html HTTP/1.1\r\nHost: localhost\r\n\r\n"] {
            client.send(req);
            kit.drive(&mut conn);
            kit.finish_job(&mut conn);
            client.response();
        }
        let mut batch = GET_A.to_vec();
        batch.extend_from_slice(b"GET /b.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
        batch.extend_from_slice(b"GET /missing.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
        client.send(&batch);
        kit.drive(&mut conn);
        assert_eq!(client.response().1.len(), 1024);
        assert_eq!(client.response().1, b"bbb");
        // The missing file needs the disk: its 404 comes from a job.
        kit.finish_job(&mut conn);
        assert!(client.response().0.starts_with("HTTP/1.1 404 "));
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let mut kit = kit();
        let limits = kit.ctx.limits.clone();
        let (mut conn, mut client) = kit.connect();
        let before = Instant::now();
        // Nothing read yet: the idle deadline.
        conn.readable = false;
        kit.with_env(&mut conn, |conn, env| conn.drive(env));
        let idle = conn.deadline.unwrap();
        assert!(idle >= before + limits.idle_timeout - Duration::from_millis(5));
        // The first bytes of a head: the header deadline, from those bytes.
        client.send(b"GET /a.html HT");
        kit.drive(&mut conn);
        let head = conn.deadline.unwrap();
        assert!(head <= Instant::now() + limits.header_timeout);
        assert!(head < idle);
    }

    #[test]
    fn a_stale_job_result_is_dropped() {
        let mut kit = kit();
        let (mut conn, mut client) = kit.connect();
        client.send(GET_A);
        kit.drive(&mut conn);
        let mut done = kit.back.recv_timeout(Duration::from_secs(5)).unwrap();
        // A result for another exchange (say, one of a closed connection whose token
        // was reused) is not this exchange's answer.
        done.serial += 1;
        kit.with_env(&mut conn, |conn, env| conn.job_done(done, env));
        assert!(client.nothing_to_read());
    }

    #[test]
    fn a_malformed_head_is_answered_then_closed() {
        let mut kit = kit();
        let (mut conn, mut client) = kit.connect();
        client.send(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n");
        assert_eq!(kit.drive(&mut conn), Drive::Close);
        let (head, _) = client.response();
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"));
        drop(conn);
        assert!(client.is_closed());
    }
}
