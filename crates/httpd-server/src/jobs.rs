//! The work that may block, done by the pool's workers: opening and statting files
//! the cache does not hold, directory listings, content tags, custom error pages the
//! memory does not hold, the steps of gzip and tar bodies, and writing, syncing and
//! committing uploads. Never a client socket.
//!
//! A [`Job`] is plain data: what to do, and which connection and exchange it is for
//! (`home` poller, `token`, `serial`). The worker runs it and sends a [`Done`] back to
//! that poller over a channel, then wakes it ([`Returner`]). The poller matches the
//! result to the connection by token *and* serial, so a result for a connection that
//! has closed meanwhile (or whose token was reused) is dropped; dropping an upload's
//! pending file removes its temporary file.

use std::any::Any;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use httpd_files::{PendingUpload, StoredUpload};
use httpd_proto::Method;
use httpd_security::SafePath;
use mio::Waker;

use crate::Context;
use crate::error::Failure;
use crate::files::{self, FileRequest, Served};
use crate::h1::{self, OwnedHead};
use crate::out::Producer;
use crate::response::Response;

/// One piece of blocking work for a connection.
#[derive(Debug)]
pub(crate) struct Job {
    /// The poller that owns the connection.
    pub(crate) home: usize,
    pub(crate) token: usize,
    /// The exchange this job belongs to.
    pub(crate) serial: u64,
    /// Set when every worker was busy at submission, so the hand-off is logged.
    pub(crate) queued_at: Option<Instant>,
    pub(crate) work: Work,
}

/// What a job does.
#[derive(Debug)]
pub(crate) enum Work {
    /// Answer a GET or HEAD of a file the cache could not answer (or a listing, a tar
    /// download, a file whose content tag is not known yet, a fallback page).
    File(Box<FileJob>),
    /// Produce the next step of a body made while it is sent: gzip output or a tar
    /// archive ([`Producer`]).
    Step(Box<Producer>),
    /// Put the operator's custom page into this error answer, reading it from the
    /// disk (the page cache did not hold it unchanged).
    ErrorPage(Box<Response>),
    /// Append `bytes` to an upload's temporary file (creating it first if `file` is
    /// `None`).
    UploadWrite {
        file: Option<PendingUpload>,
        bytes: Vec<u8>,
    },
    /// Append the last `bytes`, then validate, sync and publish the upload.
    UploadCommit {
        file: Option<PendingUpload>,
        bytes: Vec<u8>,
    },
    /// Fault injection for tests: panic in the handler.
    Panic(String),
    /// Fault injection for tests: hold the worker until `release` exists (or the
    /// server stops, or a minute passes), then answer 200.
    Stall { release: std::path::PathBuf },
}

/// A file request for a worker.
#[derive(Debug)]
pub(crate) struct FileJob {
    pub(crate) head: Arc<OwnedHead>,
    pub(crate) resolved: SafePath,
    /// The still-encoded path (for redirects) and the query.
    pub(crate) raw_path: String,
    pub(crate) query: Option<String>,
}

/// A job's result, for the poller that owns its connection.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) token: usize,
    pub(crate) serial: u64,
    /// The worker that did it, for the access line.
    pub(crate) by: Arc<str>,
    pub(crate) outcome: Outcome,
}

/// What a job produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A file answer, a redirect or a listing, or the failure to answer with.
    File(Result<Served, Failure>),
    /// A step of a produced body (gzip or tar): the producer back, the bytes it
    /// produced, and whether it was the last step.
    Step {
        steps: Box<Producer>,
        bytes: Vec<u8>,
        result: io::Result<bool>,
    },
    /// An upload write: the file, and the emptied buffer for reuse.
    Written {
        file: Result<PendingUpload, Failure>,
        bytes: Vec<u8>,
    },
    /// An upload stored (its URL path and payload size), or why not.
    Committed(Result<StoredUpload, Failure>),
    /// A test stall ended.
    Released,
    /// The job panicked; answer 500 and close.
    Panicked,
}

/// The workers' way back to one poller: a channel plus the poller's [`Waker`].
#[derive(Debug, Clone)]
pub(crate) struct Returner {
    tx: Sender<Done>,
    waker: Arc<Waker>,
}

impl Returner {
    /// Creates the way back to a poller.
    pub(crate) fn new(tx: Sender<Done>, waker: Arc<Waker>) -> Returner {
        Returner { tx, waker }
    }

    /// Sends a result and wakes the poller. A poller that is gone (after shutdown)
    /// drops it, which cleans up what it holds.
    pub(crate) fn send(&self, done: Done) {
        if self.tx.send(done).is_ok() {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake a poller: {e}");
            }
        }
    }
}

/// Runs a job on a worker and sends its result home. A panic is caught here (the pool
/// would catch it too, but then the connection would never hear back): it is counted,
/// logged at error, and answered 500.
pub(crate) fn run(job: Job, ctx: &Context, returners: &[Returner]) {
    let Job {
        home,
        token,
        serial,
        queued_at,
        work,
    } = job;
    let by = worker_name();
    if let Some(at) = queued_at {
        log::debug!(
            "Connection dequeued, assigned to {by} after {:.1}ms",
            at.elapsed().as_secs_f64() * 1000.0
        );
    }
    let outcome = match panic::catch_unwind(AssertUnwindSafe(|| perform(work, ctx))) {
        Ok(outcome) => outcome,
        Err(payload) => {
            ctx.counters
                .n_handler_panics
                .fetch_add(1, Ordering::Relaxed);
            log::error!("handler panicked: {}", panic_message(payload.as_ref()));
            Outcome::Panicked
        }
    };
    match returners.get(home) {
        Some(back) => back.send(Done {
            token,
            serial,
            by,
            outcome,
        }),
        None => log::error!("no poller {home} to return a job to"),
    }
}

fn perform(work: Work, ctx: &Context) -> Outcome {
    match work {
        Work::File(job) => {
            let FileJob {
                head,
                resolved,
                raw_path,
                query,
            } = *job;
            let mut slots = h1::slots();
            let request = head.request(&mut slots);
            let req = FileRequest {
                request: &request,
                method: Method::from_token(request.method),
                raw_path: &raw_path,
                query: query.as_deref(),
            };
            let served = files::serve(&req, resolved, ctx);
            Outcome::File(served.or_else(|failure| error_page(failure, ctx)))
        }
        Work::ErrorPage(mut response) => {
            ctx.files.answers.error_pages.fill_from_disk(&mut response);
            Outcome::File(Ok(Served::Simple(*response)))
        }
        Work::Step(mut steps) => {
            let mut bytes = Vec::new();
            let result = steps.step(&mut bytes);
            Outcome::Step {
                steps,
                bytes,
                result,
            }
        }
        Work::UploadWrite { file, mut bytes } => {
            let file = append(file, &bytes, ctx);
            bytes.clear();
            Outcome::Written { file, bytes }
        }
        Work::UploadCommit { file, bytes } => {
            let file = match append(file, &bytes, ctx) {
                Ok(file) => file,
                Err(e) => return Outcome::Committed(Err(e)),
            };
            let n_bytes = file.n_bytes();
            let committed = file.commit().map_err(|e| {
                if e.kind() != httpd_files::ErrorKind::InvalidJson {
                    log::warn!("upload failed: {e}");
                }
                Failure::Files(e.kind())
            });
            if let Ok(stored) = &committed {
                ctx.metrics.uploaded();
                log::info!("Upload stored: {} ({n_bytes} bytes)", stored.url_path());
            }
            Outcome::Committed(committed)
        }
        Work::Panic(path) => panic!("fault injection: request for {path}"),
        Work::Stall { release } => {
            log::debug!("test stall: holding this worker until {release:?} exists");
            let until = Instant::now() + Duration::from_secs(60);
            while !release.exists() && Instant::now() < until && !ctx.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Outcome::Released
        }
    }
}

/// The answer to a file job's `failure`: its status's custom page, read here on the
/// worker, when the operator set one and the failure lets the connection stay open;
/// else the failure itself, for the connection to answer.
fn error_page(failure: Failure, ctx: &Context) -> Result<Served, Failure> {
    let pages = &ctx.files.answers.error_pages;
    if failure.must_close() || !pages.has(failure.status()) {
        return Err(failure);
    }
    log::debug!("{failure} -> {} with its error page", failure.status());
    let mut response = Response::for_failure(&failure);
    pages.fill_from_disk(&mut response);
    Ok(Served::Simple(response))
}

/// Appends `bytes` to an upload, creating its temporary file first if need be.
fn append(
    file: Option<PendingUpload>,
    bytes: &[u8],
    ctx: &Context,
) -> Result<PendingUpload, Failure> {
    let mut file = match file {
        Some(file) => file,
        None => ctx.uploads.begin().map_err(|e| {
            log::warn!("cannot start upload: {e}");
            Failure::Files(e.kind())
        })?,
    };
    if let Err(e) = file.write_all(bytes) {
        log::warn!("cannot write upload: {e}");
        let kind = if matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
        ) {
            httpd_files::ErrorKind::StorageFull
        } else {
            httpd_files::ErrorKind::Io
        };
        return Err(Failure::Files(kind));
    }
    Ok(file)
}

/// This worker's name, shared by every result it sends.
fn worker_name() -> Arc<str> {
    thread_local! {
        static NAME: Arc<str> = Arc::from(std::thread::current().name().unwrap_or("httpd-worker"));
    }
    NAME.with(Arc::clone)
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
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
    fn panic_messages_are_extracted() {
        let s: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(s.as_ref()), "static");
        let s: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(s.as_ref()), "owned");
        let s: Box<dyn Any + Send> = Box::new(5u8);
        assert_eq!(panic_message(s.as_ref()), "non-string panic payload");
    }
}
