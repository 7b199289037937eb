//! The one decision point: what to do with a parsed request, decided once, before any
//! byte of its answer is written, from what is known then (method, route, and the
//! file cache).
//!
//! [`decide`] returns a [`Decision`]: answer now ([`Plan::Answer`]: a cached file, a
//! 304, a redirect, an error, health, metrics), hand blocking work to a worker
//! ([`Plan::Job`]: an uncached open, a listing, a tar download, a content tag not
//! known yet, a custom error page not held in memory, a test stall), or receive an
//! upload's body ([`Plan::Upload`]). It also says what becomes of a body nobody
//! needs and whether the connection must close. It does no I/O but the file cache's
//! one `statx` (or the error-page cache's), and runs on the poller.
//!
//! An error answer decided here gets the operator's custom page for its status
//! (`--error-page`) when the page cache holds it, and is a job that reads the page
//! otherwise; an error the connection finds later (a full queue's 503, a job's
//! failure) gets the custom page the page cache holds, through [`Answer::write`].
//! Errors answered before a request exists (a malformed or too large head, a head
//! timeout, a connection over the cap) keep the built-in page.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use httpd_proto::{Framing, Method, Request, Version};
use httpd_security::{ALLOW, PolicyError, SafePath};

use crate::Context;
use crate::error::Failure;
use crate::files::{self, AnswerPolicy, FileAnswer, FileRequest, Route};
use crate::h1::OwnedHead;
use crate::jobs::{FileJob, Work};
use crate::out::Stream;
use crate::response::{Finish, Page, Response};
use crate::site::PageLookup;
use crate::web;

/// The upload endpoint.
pub(crate) const UPLOAD_PATH: &str = "/upload";

/// Bodies up to this size are read and dropped when a request is answered without
/// needing them, so the connection can stay open; larger ones close it instead.
pub(crate) const DISCARD_MAX_BYTES: u64 = 64 * 1024;

/// The facts about the connection a decision needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    /// The connection came in on a TLS listener.
    pub(crate) https: bool,
}

/// An answer ready to be written.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A response held in memory.
    Simple(Response),
    /// A file response.
    File(FileAnswer),
}

impl Answer {
    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Answer::Simple(r) => r.status,
            Answer::File(f) => f.status(),
        }
    }

    /// The extra header lines for this answer: a page the server wrote itself gets
    /// the strict policy, an html file the operator's (a custom error page too, also
    /// one [`write`](Answer::write) is still to put in), anything else none.
    pub(crate) fn extra_lines<'c>(&self, ctx: &'c Context) -> &'c [u8] {
        match self {
            Answer::Simple(r) if r.is_html() => {
                let custom = match r.page {
                    Page::Custom => true,
                    Page::BuiltIn => ctx.files.answers.error_pages.has(r.status),
                    Page::None | Page::Final => false,
                };
                if custom {
                    &ctx.extra_html_lines
                } else {
                    &ctx.extra_generated_lines
                }
            }
            Answer::File(f) if f.is_html() => &ctx.extra_html_lines,
            _ => &ctx.extra_lines,
        }
    }

    /// Writes the answer after what `buf` holds; returns the buffer, a body still to
    /// stream, and the body length. An error answer still carrying its built-in page
    /// gets its status's custom page first, if the page cache holds it (one `statx`).
    pub(crate) fn write(
        self,
        buf: Vec<u8>,
        finish: &Finish<'_>,
        answers: &AnswerPolicy,
    ) -> (Vec<u8>, Option<Stream>, u64) {
        match self {
            Answer::Simple(mut r) => {
                if r.page == Page::BuiltIn {
                    // Without the page in memory the built-in page goes: a job now
                    // would come too late (this answer is being written).
                    answers.error_pages.fill_from_memory(&mut r);
                }
                if let Some(stream) = r.stream.take() {
                    let (buf, stream) = r.write_streamed(buf, finish, stream);
                    return (buf, stream, 0);
                }
                let (buf, len) = r.write(buf, finish);
                (buf, None, len)
            }
            Answer::File(f) => f.write(buf, finish, answers),
        }
    }
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Answer now.
    Answer(Answer),
    /// Hand this work to a worker; its result is the answer.
    Job(Work),
    /// Receive the body into an upload, then commit it on a worker.
    Upload {
        /// Send `100 Continue` first: the client waits for it.
        send_continue: bool,
    },
}

/// What becomes of a request body the plan does not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// No body, or the upload reads it.
    None,
    /// Read and drop it, so the connection can stay open.
    Discard(Framing),
    /// Do not read it: the connection closes after the answer.
    Refuse,
}

/// The decision for one request.
#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) plan: Plan,
    pub(crate) leftover: Leftover,
    /// The connection must close after the answer (the failure leaves framing or the
    /// request in doubt).
    pub(crate) close: bool,
}

/// Decides what to do with `request`, whose head bytes are `head`.
pub(crate) fn decide(
    ctx: &Context,
    peer: Peer,
    head: &[u8],
    request: &Request<'_, '_>,
    now: Instant,
    path_buf: &mut SafePath,
) -> Decision {
    let method = Method::from_token(request.method);
    let framing = match request.framing() {
        Ok(framing) => framing,
        Err(e) => return refuse(ctx, request, Failure::Parse(e), peer),
    };
    let leftover = match framing {
        Framing::None => Leftover::None,
        Framing::Length(n) if n <= DISCARD_MAX_BYTES => Leftover::Discard(framing),
        Framing::Chunked => Leftover::Discard(framing),
        Framing::Length(_) => Leftover::Refuse,
    };
    // A client waiting for 100 Continue sends no body unless we ask for it.
    let leftover = if request.header("expect").is_some() && leftover != Leftover::None {
        Leftover::Refuse
    } else {
        leftover
    };
    let plan = match route(ctx, peer, head, request, method, framing, now, path_buf) {
        Ok(plan) => plan,
        Err(failure) => {
            let mut decision = refuse(ctx, request, failure, peer);
            if decision.leftover == Leftover::None {
                decision.leftover = leftover;
            }
            return decision;
        }
    };
    let leftover = if matches!(plan, Plan::Upload { .. }) {
        Leftover::None
    } else {
        leftover
    };
    // A tar download to an HTTP/1.0 client has no chunked framing: its end is the
    // connection's close.
    let close = request.version == Version::Http10
        && ctx.files.listing
        && files::asks_for_tar(request.target.split_once('?').map(|(_, q)| q));
    Decision {
        plan,
        leftover,
        close,
    }
}

/// The decision to answer `failure`: its error page, the operator's custom one when
/// the page cache holds it, or a job that reads it.
fn refuse(ctx: &Context, request: &Request<'_, '_>, failure: Failure, peer: Peer) -> Decision {
    log_refusal(request, &failure, peer);
    let close = failure.must_close();
    let leftover = if failure.refuses_body() {
        Leftover::Refuse
    } else {
        Leftover::None
    };
    let mut response = Response::for_failure(&failure);
    let plan = match ctx
        .files
        .answers
        .error_pages
        .fill_from_memory(&mut response)
    {
        PageLookup::Disk => Plan::Job(Work::ErrorPage(Box::new(response))),
        PageLookup::Replaced | PageLookup::BuiltIn => Plan::Answer(Answer::Simple(response)),
    };
    Decision {
        plan,
        leftover,
        close,
    }
}

/// Logs a refusal as the seed does: security events at info, the rest at debug.
fn log_refusal(request: &Request<'_, '_>, failure: &Failure, peer: Peer) {
    let target = request.target.escape_debug();
    match failure {
        Failure::Policy(PolicyError::Traversal)
        | Failure::Files(httpd_files::ErrorKind::Forbidden) => {
            log::info!("Path traversal/forbidden: {target}");
        }
        Failure::Policy(PolicyError::UnsupportedType) => {
            log::info!("Unsupported file type: {target}");
        }
        Failure::Policy(PolicyError::UnsupportedUploadType) => {
            let ct = request.header("content-type").unwrap_or(b"(none)");
            log::info!("Unsupported upload content type: {}", ct.escape_ascii());
        }
        _ => log::debug!("{}: {failure} -> {}", peer.addr, failure.status()),
    }
}

#[allow(clippy::too_many_arguments)]
fn route(
    ctx: &Context,
    peer: Peer,
    head: &[u8],
    request: &Request<'_, '_>,
    method: Method,
    framing: Framing,
    now: Instant,
    path_buf: &mut SafePath,
) -> Result<Plan, Failure> {
    if let Some(limiter) = &ctx.rate_limiter {
        let client = web::client_ip(peer.addr.ip(), request, &ctx.web.trusted_proxies);
        if let Err(wait) = limiter.check(client, now) {
            ctx.metrics.rate_limited();
            return Err(Failure::RateLimited(wait.as_secs().max(1)));
        }
    }
    let (path, query) = request_path(ctx, request, method, peer.https)?;
    httpd_security::check_method(method).map_err(Failure::Policy)?;
    if ctx.panic_path.as_deref() == Some(path) {
        return Ok(Plan::Job(Work::Panic(path.to_string())));
    }
    if let Some(stall) = &ctx.stall_path {
        if path == stall {
            return Ok(Plan::Job(Work::Stall {
                release: ctx.root.join(".stall-release"),
            }));
        }
    }
    if ctx.redirect_https && !peer.https {
        return redirect_https(ctx, request, method, path, query);
    }
    let web = &ctx.web;
    let is_health = web.health_path.as_deref() == Some(path);
    let is_metrics = web.metrics_path.as_deref() == Some(path);
    if is_health || is_metrics {
        if !matches!(method, Method::Get | Method::Head) {
            return Err(Failure::WrongMethod("GET, HEAD"));
        }
        let (content_type, body) = if is_health {
            ("application/json", ctx.metrics.health())
        } else {
            // Exact at the moment of the scrape, whatever the pollers last published.
            ctx.metrics.open_connections.store(
                i64::try_from(ctx.admission.n_open()).unwrap_or(i64::MAX),
                std::sync::atomic::Ordering::Relaxed,
            );
            (
                "text/plain; version=0.0.4; charset=utf-8",
                ctx.metrics
                    .render(ctx.n_workers, ctx.queue_capacity, ctx.file_cache.stats()),
            )
        };
        let mut response = Response::new(200)
            .with("Content-Type", content_type)
            .with("Cache-Control", "no-store");
        response.body = body.into_bytes();
        return Ok(Plan::Answer(Answer::Simple(response)));
    }
    match method {
        Method::Options => Ok(Plan::Answer(Answer::Simple(
            Response::new(204).with("Allow", ALLOW),
        ))),
        Method::Post if path == UPLOAD_PATH => upload(ctx, request, framing),
        Method::Post => Err(Failure::WrongMethod("GET, HEAD, OPTIONS")),
        _ => serve_file(ctx, head, request, method, path, query, path_buf),
    }
}

/// Checks an upload's headers; the body is read afterwards.
fn upload(ctx: &Context, request: &Request<'_, '_>, framing: Framing) -> Result<Plan, Failure> {
    httpd_security::check_upload_type(request.header("content-type")).map_err(Failure::Policy)?;
    match framing {
        Framing::None => return Err(Failure::LengthRequired),
        Framing::Length(n) if n > ctx.limits.max_body_bytes => return Err(Failure::BodyTooLarge),
        _ => {}
    }
    let send_continue = match request.header("expect") {
        None => false,
        Some(expect) if expect.eq_ignore_ascii_case(b"100-continue") => {
            request.version == Version::Http11
        }
        Some(_) => return Err(Failure::ExpectationFailed),
    };
    Ok(Plan::Upload { send_continue })
}

#[allow(clippy::too_many_arguments)]
fn serve_file(
    ctx: &Context,
    head: &[u8],
    request: &Request<'_, '_>,
    method: Method,
    path: &str,
    query: Option<&str>,
    resolved: &mut SafePath,
) -> Result<Plan, Failure> {
    // Resolved into the poller's own buffer: no allocation unless a job needs a copy.
    resolved.resolve(&ctx.root, path).map_err(Failure::Policy)?;
    let job = |resolved: &SafePath| {
        Plan::Job(Work::File(Box::new(FileJob {
            head: Arc::new(OwnedHead::new(head, request)),
            resolved: resolved.clone(),
            raw_path: path.to_string(),
            query: query.map(str::to_string),
        })))
    };
    if !ctx.inline {
        return Ok(job(resolved));
    }
    let req = FileRequest {
        request,
        method,
        raw_path: path,
        query,
    };
    match files::route_cached(&req, resolved, ctx) {
        Route::Answer(answer) => Ok(Plan::Answer(Answer::File(answer))),
        Route::Refuse(failure) => Err(failure),
        Route::Disk => Ok(job(resolved)),
    }
}

/// A plain listener under `--redirect-https`: GET and HEAD go to the same URL over
/// https (308 keeps the method); anything else is refused, since its body must not
/// travel in the clear any further.
fn redirect_https(
    ctx: &Context,
    request: &Request<'_, '_>,
    method: Method,
    path: &str,
    query: Option<&str>,
) -> Result<Plan, Failure> {
    if !matches!(method, Method::Get | Method::Head) {
        return Err(Failure::BadTarget);
    }
    let host = request
        .header("host")
        .and_then(|h| std::str::from_utf8(h).ok())
        .unwrap_or("localhost");
    let name = host_name(host);
    let mut location = String::with_capacity(16 + name.len() + path.len());
    location.push_str("https://");
    location.push_str(name);
    if ctx.https_port != 443 {
        location.push(':');
        location.push_str(&ctx.https_port.to_string());
    }
    location.push_str(path);
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    Ok(Plan::Answer(Answer::Simple(
        Response::error(308).with("Location", location),
    )))
}

/// The host of a `Host` value, without its port (`[v6]` kept in brackets).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Validates the target's form and host; returns the (still encoded) path and query.
fn request_path<'b>(
    ctx: &Context,
    request: &Request<'_, 'b>,
    method: Method,
    https: bool,
) -> Result<(&'b str, Option<&'b str>), Failure> {
    let target =
        httpd_security::check_target(request.target, method, https).map_err(|e| match e {
            PolicyError::BadTarget => Failure::BadTarget,
            e => Failure::Policy(e),
        })?;
    let checked = ctx.hosts.check_request(
        request.headers_named("host"),
        target.authority,
        request.version,
    );
    let for_log = || -> Cow<'_, str> {
        match target.authority {
            Some(a) => Cow::Owned(format!("{a:?}")),
            None => request.header("host").map_or(Cow::Borrowed("(none)"), |h| {
                Cow::Owned(format!("\"{}\"", h.escape_ascii()))
            }),
        }
    };
    match checked {
        Ok(()) => {
            if log::log_enabled!(log::Level::Debug) {
                log::debug!("Host validation: {} ✓", for_log());
            }
            Ok((target.path, target.query))
        }
        Err(e) => {
            if e == PolicyError::HostNotAllowed {
                log::info!("Host validation failed: {}", for_log());
            }
            Err(Failure::Policy(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }
}
