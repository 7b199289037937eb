//! Routing one parsed request: Host and method policy, then static files (GET, HEAD),
//! JSON uploads (POST /upload) and OPTIONS; every failure becomes its status here.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use httpd_proto::{Framing, Method, Version};
use httpd_security::{ALLOW, PolicyError};

use crate::Context;
use crate::body::{self, BodyError, BodyReader};
use crate::conn::{Conn, Head, log_access};
use crate::error::Failure;
use crate::file_route;
pub(crate) use crate::file_route::FileHeaders;
use crate::reply::{self, Body, Persistence, Reply};
use crate::web;

/// The upload endpoint.
const UPLOAD_PATH: &str = "/upload";

/// Bodies up to this size are read and dropped when a request is answered without
/// needing them, so the connection can stay open; larger ones close it instead.
const DISCARD_MAX_BYTES: u64 = 64 * 1024;

/// The 201 body of an upload, fields in the seed's order.
#[derive(serde::Serialize)]
struct UploadReply<'a> {
    status: &'a str,
    message: &'a str,
    filepath: &'a str,
}

/// An upload whose body is still arriving: the worker sets it aside and the poller
/// feeds the body to it as the client sends it, so a slow uploader holds no worker.
pub(crate) struct Upload {
    reader: BodyReader,
    pending: httpd_files::PendingUpload,
    /// `100 Continue` was sent.
    sent_continue: bool,
    /// How reading ended, once it has: the poller sets it. `None` when the rest is
    /// still to be read (then the worker that resumes reads it, blocking).
    pub(crate) outcome: Option<Result<u64, BodyError>>,
}

impl Upload {
    /// Reads what `buf` holds (and then `stream`, without blocking) into the upload;
    /// returns true once reading has ended, with [`outcome`](Upload::outcome) set.
    /// `scratch` is the caller's read buffer. Bytes after the body stay in `buf`.
    pub(crate) fn pump(
        &mut self,
        stream: &mut impl io::Read,
        buf: &mut Vec<u8>,
        scratch: &mut [u8],
    ) -> bool {
        if self.outcome.is_some() {
            return true;
        }
        let mut result = self.feed(buf);
        while result.is_none() {
            result = match stream.read(scratch) {
                Ok(0) => Some(Err(BodyError::Closed)),
                Ok(n) => match self.reader.arrived(n, Instant::now()) {
                    Ok(()) => {
                        buf.extend_from_slice(&scratch[..n]);
                        self.feed(buf)
                    }
                    Err(e) => Some(Err(e)),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Err(_) => Some(Err(BodyError::Closed)),
            };
        }
        self.outcome = result;
        true
    }

    /// Feeds `buf` to the reader: `Some` once the body is complete or has failed.
    fn feed(&mut self, buf: &mut Vec<u8>) -> Option<Result<u64, BodyError>> {
        match self.reader.feed(buf, &mut self.pending) {
            Ok(true) => Some(Ok(self.reader.total())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// The moment the poller must stop waiting for more of the body.
    pub(crate) fn deadline(&self) -> Instant {
        self.reader.deadline()
    }
}

/// How [`handle`] left a request.
pub(crate) enum Handled {
    /// Answered; the connection continues this way.
    Done(Persistence),
    /// An upload whose body is still arriving; answer it with [`resume`] once the
    /// poller has read the rest (or blocking, where it cannot).
    Suspended(Box<Upload>),
}

/// What routing produced.
enum Routed {
    Reply(Reply),
    Suspended(Box<Upload>),
}

/// One request/response exchange on a connection.
struct Exchange<'a> {
    conn: &'a mut Conn,
    head: &'a Head,
    ctx: &'a Context,
    /// The request's body is still on the wire.
    body_pending: bool,
    /// `100 Continue` was sent.
    sent_continue: bool,
    /// The body must not be read any further (too large, malformed, or timed out).
    body_refused: bool,
}

/// Answers one request; returns how the connection continues, or the upload whose body
/// is still to come.
///
/// # Errors
/// The `io::Error` of writing the response; the connection is then dropped.
pub(crate) fn handle(
    conn: &mut Conn,
    head: &Head,
    persistence: Persistence,
    ctx: &Context,
    started: Instant,
) -> io::Result<Handled> {
    let mut x = Exchange {
        conn,
        head,
        ctx,
        body_pending: head.framing != Framing::None,
        sent_continue: false,
        body_refused: false,
    };
    let limited = ctx.rate_limiter.as_ref().and_then(|limiter| {
        let client = web::client_ip(x.conn.peer.ip(), &head.meta, &ctx.web.trusted_proxies);
        limiter.check(client, Instant::now()).err()
    });
    let routed = match limited {
        Some(wait) => {
            ctx.metrics.rate_limited();
            Err(Failure::RateLimited(wait.as_secs().max(1)))
        }
        None => route(&mut x),
    };
    let routed = match routed {
        Ok(Routed::Suspended(upload)) => return Ok(Handled::Suspended(upload)),
        Ok(Routed::Reply(reply)) => Ok(reply),
        Err(failure) => Err(failure),
    };
    respond(&mut x, routed, persistence, started).map(Handled::Done)
}

/// Answers an upload [`handle`] suspended: reads the rest of its body first if the
/// poller did not, then stores it and replies as [`handle`] would have.
///
/// # Errors
/// The `io::Error` of writing the response; the connection is then dropped.
pub(crate) fn resume(
    conn: &mut Conn,
    head: &Head,
    mut upload: Upload,
    persistence: Persistence,
    ctx: &Context,
    started: Instant,
) -> io::Result<Persistence> {
    let mut x = Exchange {
        conn,
        head,
        ctx,
        body_pending: true,
        sent_continue: upload.sent_continue,
        body_refused: false,
    };
    let read = match upload.outcome.take() {
        Some(read) => read,
        None => body::finish_blocking(x.conn, &mut upload.reader, &mut upload.pending),
    };
    let routed = finish_upload(&mut x, read, upload.pending);
    respond(&mut x, routed, persistence, started)
}

/// Sends the reply (or the failure's) for a routed request and logs it.
fn respond(
    x: &mut Exchange<'_>,
    routed: Result<Reply, Failure>,
    mut persistence: Persistence,
    started: Instant,
) -> io::Result<Persistence> {
    let (head, ctx) = (x.head, x.ctx);
    let mut reply = match routed {
        Ok(reply) => reply,
        Err(Failure::Aborted) => return Ok(Persistence::Close),
        Err(failure) => {
            if failure.must_close() {
                persistence = Persistence::Close;
            }
            failure_reply(x, failure)
        }
    };
    if x.body_pending && !discard_body(x) {
        persistence = Persistence::Close;
    }
    decorate(&mut reply, head, ctx);
    let status = reply.status;
    let head_only = head.method == Method::Head;
    let n_bytes = reply::send(&mut x.conn.out(), reply, persistence, head_only)?;
    log_access(ctx, x.conn, Some(head), status, n_bytes, started);
    Ok(persistence)
}

/// Adds the request id, the security headers and CORS to a reply.
fn decorate(reply: &mut Reply, head: &Head, ctx: &Context) {
    let web = &ctx.web;
    reply
        .headers
        .push(("X-Request-Id", Cow::Owned(head.request_id.clone())));
    let is_html = reply
        .headers
        .iter()
        .any(|(n, v)| *n == "Content-Type" && v.starts_with("text/html"));
    reply.extra = Some(if is_html {
        Arc::clone(&ctx.extra_html_lines)
    } else {
        Arc::clone(&ctx.extra_lines)
    });
    if !web.cors_origins.is_empty() {
        let preflight = (head.method == Method::Options)
            .then_some(head.meta.preflight_method.as_deref())
            .flatten()
            .map(|m| (m, head.meta.preflight_headers.as_deref()));
        let cors = web::cors_headers(head.meta.origin.as_deref(), &web.cors_origins, preflight);
        for (name, value) in cors {
            if name == "Vary" {
                if let Some((_, v)) = reply.headers.iter_mut().find(|(n, _)| *n == "Vary") {
                    v.to_mut().push_str(", Origin");
                    continue;
                }
            }
            reply.headers.push((name, Cow::Owned(value)));
        }
    }
}

fn route(x: &mut Exchange<'_>) -> Result<Routed, Failure> {
    let head = x.head;
    let path = request_path(x)?;
    httpd_security::check_method(head.method).map_err(Failure::Policy)?;
    if let Some(panic_path) = &x.ctx.panic_path {
        if path == panic_path.as_str() {
            panic!("fault injection: request for {path}");
        }
    }
    let web = &x.ctx.web;
    let is_health = web.health_path.as_deref() == Some(path);
    let is_metrics = web.metrics_path.as_deref() == Some(path);
    if is_health || is_metrics {
        if !matches!(head.method, Method::Get | Method::Head) {
            return Err(Failure::WrongMethod("GET, HEAD"));
        }
        let ctx = x.ctx;
        let (content_type, body) = if is_health {
            ("application/json", ctx.metrics.health())
        } else {
            (
                "text/plain; version=0.0.4; charset=utf-8",
                ctx.metrics
                    .render(ctx.n_workers, ctx.queue_capacity, ctx.file_cache.stats()),
            )
        };
        let mut reply = Reply::new(200)
            .with("Content-Type", content_type)
            .with("Cache-Control", "no-store");
        reply.body = Body::Bytes(body.into_bytes());
        return Ok(Routed::Reply(reply));
    }
    match head.method {
        Method::Options => Ok(Routed::Reply(Reply::new(204).with("Allow", ALLOW))),
        Method::Post if path == UPLOAD_PATH => upload(x),
        Method::Post => Err(Failure::WrongMethod("GET, HEAD, OPTIONS")),
        _ => serve_file(x, path).map(Routed::Reply),
    }
}

/// Validates the target's form and host; returns the (still encoded) path.
fn request_path<'h>(x: &Exchange<'h>) -> Result<&'h str, Failure> {
    let head = x.head;
    let target = head.target.as_str();
    if head.method == Method::Connect {
        // Whatever its target form, CONNECT is a method this server does not offer.
        return Err(Failure::Policy(PolicyError::MethodNotAllowed));
    }
    if target == "*" {
        check_host(x, None)?;
        return if head.method == Method::Options {
            Ok("*")
        } else {
            Err(Failure::BadTarget)
        };
    }
    let (authority, path_and_query) = if target.starts_with('/') {
        (None, target)
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://") {
        // Absolute form (RFC 9112 section 3.2.2): its authority replaces Host.
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (Some(&rest[..i]), &rest[i..]),
            Some(_) => return Err(Failure::BadTarget),
            None => (Some(rest), "/"),
        }
    } else {
        return Err(Failure::BadTarget);
    };
    check_host(x, authority)?;
    Ok(path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path))
}

fn check_host(x: &Exchange<'_>, authority: Option<&str>) -> Result<(), Failure> {
    let head = x.head;
    let checked = match authority {
        // The target's authority replaces Host, but HTTP/1.1 still requires exactly
        // one Host line (RFC 9112 section 3.2).
        Some(_) if head.hosts.len() > 1 => Err(PolicyError::DuplicateHost),
        Some(_) if head.hosts.is_empty() && head.version == Version::Http11 => {
            Err(PolicyError::MissingHost)
        }
        Some(authority) => x.ctx.hosts.check(&[authority.as_bytes()]),
        // HTTP/1.0 predates Host; only HTTP/1.1 requires it (RFC 9112 section 3.2).
        None if head.version == Version::Http10 && head.hosts.is_empty() => Ok(()),
        None => {
            let values: Vec<&[u8]> = head.hosts.iter().map(Vec::as_slice).collect();
            x.ctx.hosts.check(&values)
        }
    };
    match checked {
        Ok(()) => {
            log::debug!(
                "[{}] Host validation: {} ✓",
                x.conn.worker,
                host_for_log(x, authority)
            );
            Ok(())
        }
        Err(e) => {
            if e == PolicyError::HostNotAllowed {
                log::info!(
                    "[{}] Host validation failed: {}",
                    x.conn.worker,
                    host_for_log(x, authority)
                );
            }
            Err(Failure::Policy(e))
        }
    }
}

fn host_for_log(x: &Exchange<'_>, authority: Option<&str>) -> String {
    match authority {
        Some(a) => format!("{:?}", a),
        None => x.head.hosts.first().map_or_else(
            || "(none)".to_string(),
            |h| format!("\"{}\"", h.escape_ascii()),
        ),
    }
}

fn serve_file(x: &mut Exchange<'_>, path: &str) -> Result<Reply, Failure> {
    let resolved = httpd_security::resolve_path(&x.ctx.root, path).map_err(Failure::Policy)?;
    let query = x.head.target.split_once('?').map(|(_, q)| q);
    let req = file_route::FileRequest {
        method: x.head.method,
        version: x.head.version,
        raw_path: path,
        query,
        headers: &x.head.file_headers,
        worker: &x.conn.worker,
    };
    file_route::serve(&req, resolved, x.ctx)
}

fn upload(x: &mut Exchange<'_>) -> Result<Routed, Failure> {
    let head = x.head;
    let ctx = x.ctx;
    httpd_security::check_upload_type(head.content_type.as_deref()).map_err(Failure::Policy)?;
    match head.framing {
        Framing::None => return Err(Failure::LengthRequired),
        Framing::Length(n) if n > ctx.limits.max_body_bytes => {
            x.body_refused = true;
            return Err(Failure::BodyTooLarge);
        }
        _ => {}
    }
    if let Some(expect) = &head.expect {
        if !expect.eq_ignore_ascii_case(b"100-continue") {
            return Err(Failure::ExpectationFailed);
        }
        if head.version == Version::Http11 {
            x.conn
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| Failure::Aborted)?;
            x.sent_continue = true;
        }
    }
    let pending = ctx.uploads.begin().map_err(|e| {
        log::warn!("[{}] cannot start upload: {e}", x.conn.worker);
        Failure::Files(e.kind())
    })?;
    let reader = match BodyReader::new(
        head.framing,
        ctx.limits.max_body_bytes,
        body_pace(ctx),
        Instant::now(),
    ) {
        Ok(reader) => reader,
        Err(e) => return finish_upload(x, Err(e), pending).map(Routed::Reply),
    };
    let mut upload = Upload {
        reader,
        pending,
        sent_continue: x.sent_continue,
        outcome: None,
    };
    // What came with the head; the rest is read by the poller, as the client sends it,
    // unless this is the poller itself or the server is stopping (then read it here).
    let done = match upload.feed(&mut x.conn.buf) {
        Some(read) => Some(read),
        None if x.conn.inline.is_none() && !ctx.stop.load(Ordering::Acquire) => {
            return Ok(Routed::Suspended(Box::new(upload)));
        }
        None => None,
    };
    let read = match done {
        Some(read) => read,
        None => body::finish_blocking(x.conn, &mut upload.reader, &mut upload.pending),
    };
    finish_upload(x, read, upload.pending).map(Routed::Reply)
}

/// Stores an upload whose body was read (or answers why it could not be).
fn finish_upload(
    x: &mut Exchange<'_>,
    read: Result<u64, BodyError>,
    pending: httpd_files::PendingUpload,
) -> Result<Reply, Failure> {
    let ctx = x.ctx;
    let n_bytes = match read {
        Ok(n) => n,
        Err(e) => {
            x.body_refused = true;
            return Err(body_failure(x, e));
        }
    };
    x.body_pending = false;
    ctx.metrics.received(n_bytes);
    let stored = pending.commit().map_err(|e| {
        if e.kind() != httpd_files::ErrorKind::InvalidJson {
            log::warn!("[{}] upload failed: {e}", x.conn.worker);
        }
        Failure::Files(e.kind())
    })?;
    ctx.metrics.uploaded();
    log::info!(
        "[{}] Upload stored: {} ({n_bytes} bytes)",
        x.conn.worker,
        stored.url_path()
    );
    let body = UploadReply {
        status: "success",
        message: "File created successfully",
        filepath: stored.url_path(),
    };
    let body = serde_json::to_vec(&body).map_err(|_| Failure::Files(httpd_files::ErrorKind::Io))?;
    let mut reply = Reply::new(201)
        .with("Content-Type", "application/json")
        .with("Location", stored.url_path().to_string());
    reply.body = Body::Bytes(body);
    Ok(reply)
}

/// Maps a body failure to its response; the body stays "pending" so the connection closes.
fn body_failure(x: &Exchange<'_>, e: BodyError) -> Failure {
    log::debug!("[{}] {}: upload body: {e:?}", x.conn.worker, x.conn.peer);
    match e {
        BodyError::TooLarge => Failure::BodyTooLarge,
        BodyError::Chunk(c) => Failure::Chunk(c),
        BodyError::Timeout => Failure::BodyTimeout,
        BodyError::Closed => Failure::Aborted,
        BodyError::Sink(io) => {
            log::warn!("[{}] cannot write upload: {io}", x.conn.worker);
            if matches!(
                io.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::FileTooLarge
                    | io::ErrorKind::QuotaExceeded
            ) {
                Failure::Files(httpd_files::ErrorKind::StorageFull)
            } else {
                Failure::Files(httpd_files::ErrorKind::Io)
            }
        }
    }
}

/// Reads and drops an unneeded body so the connection can stay open; false to close.
fn discard_body(x: &mut Exchange<'_>) -> bool {
    if x.body_refused || (x.head.expect.is_some() && !x.sent_continue) {
        // The client is waiting for 100 Continue before it sends the body.
        return false;
    }
    let limit = match x.head.framing {
        Framing::Length(n) if n <= DISCARD_MAX_BYTES => n,
        Framing::Chunked => DISCARD_MAX_BYTES,
        _ => return false,
    };
    let read = body::read_body(
        x.conn,
        x.head.framing,
        limit,
        body_pace(x.ctx),
        &mut io::sink(),
    );
    x.body_pending = false;
    read.is_ok()
}

/// Builds the error reply for `failure`, logging security events as the seed does.
fn failure_reply(x: &Exchange<'_>, failure: Failure) -> Reply {
    let worker = &x.conn.worker;
    let target = x.head.target.escape_debug();
    match &failure {
        Failure::Policy(PolicyError::Traversal)
        | Failure::Files(httpd_files::ErrorKind::Forbidden) => {
            log::info!("[{worker}] Path traversal/forbidden: {target}");
        }
        Failure::Policy(PolicyError::UnsupportedType) => {
            log::info!("[{worker}] Unsupported file type: {target}");
        }
        Failure::Policy(PolicyError::UnsupportedUploadType) => {
            let ct = x.head.content_type.as_deref().unwrap_or(b"(none)");
            log::info!(
                "[{worker}] Unsupported upload content type: {}",
                ct.escape_ascii()
            );
        }
        _ => log::debug!("[{worker}] {}: {failure}", x.conn.peer),
    }
    let status = failure.status();
    let reply = Reply::error(status);
    match failure {
        Failure::WrongMethod(allow) => reply.with("Allow", allow),
        Failure::RateLimited(secs) => reply.with("Retry-After", secs.to_string()),
        Failure::Policy(PolicyError::MethodNotAllowed) => reply.with("Allow", ALLOW),
        _ => reply,
    }
}

fn body_pace(ctx: &Context) -> body::Pace {
    body::Pace {
        read_timeout: ctx.limits.idle_timeout,
        grace: ctx.limits.header_timeout,
        min_rate: ctx.limits.min_body_rate,
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_scheme_case_insensitively() {
        assert_eq!(
            strip_prefix_ignore_case("HTTP://a/b", "http://"),
            Some("a/b")
        );
        assert_eq!(strip_prefix_ignore_case("ftp://a", "http://"), None);
        assert_eq!(strip_prefix_ignore_case("h", "http://"), None);
    }
}
