//! The httpd server: listener, accept loop, connection state machine, keep-alive and
//! routing, composed from httpd-proto, httpd-security, httpd-files and httpd-pool.
//!
//! One accept thread (`httpd-accept`, the caller of [`Server::run`]) hands each new
//! connection to a fixed [`httpd_pool::ThreadPool`] of `n_workers` threads with a queue of
//! `queue_capacity` waiting connections; when that queue is full the accept thread answers
//! `503 Service Unavailable` with `Retry-After: 5` itself and closes. A worker owns its
//! connection until the client closes it, it idles past the idle timeout, or it reaches the
//! per-connection request cap. Every read and write is bounded in size and time.
//!
//! This crate is the only one that opens sockets. It logs with the `log` macros: one line
//! per response on the `access` target, diagnostics on the others.
//!
//! # Example
//! ```no_run
//! use httpd_server::{Config, Server};
//!
//! let mut config = Config::default();
//! config.listen = "127.0.0.1:0".parse().expect("valid address");
//! let server = Server::bind(config)?;
//! println!("listening on http://{}", server.local_addr());
//! let stop = server.shutdown_handle();
//! std::thread::spawn(move || stop.shutdown());
//! server.run()?;
//! # Ok::<(), httpd_server::ServerError>(())
//! ```
#![deny(missing_docs)]

mod body;
mod conn;
mod error;
mod reply;
mod route;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use httpd_files::UploadStore;
use httpd_pool::{SubmitError, ThreadPool};
use httpd_security::{HostPolicy, Limits, TypePolicy};

pub use crate::error::status_text;

/// The `Server` header value sent with every response.
pub const SERVER_NAME: &str = concat!("httpd/", env!("CARGO_PKG_VERSION"));

/// Default time [`Server::run`] waits for in-flight connections after a shutdown request.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the server needs to run; each field documents its default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The host name the operator gave (accepted in `Host` besides `localhost` and
    /// `127.0.0.1`); default `"127.0.0.1"`.
    pub server_name: String,
    /// Document root; default `./resources`.
    pub root: PathBuf,
    /// Number of worker threads; default 10.
    pub n_workers: usize,
    /// Connections that may wait for a worker before new ones get 503; default 50.
    pub queue_capacity: usize,
    /// Size and time limits; default [`Limits::default`].
    pub limits: Limits,
    /// Further `Host` values to accept (`*` accepts any); default none.
    pub allowed_hosts: Vec<String>,
    /// File extensions that may be served; default the seed's html, txt, png, jpg, jpeg.
    pub types: TypePolicy,
    /// How long [`Server::run`] waits for busy workers after shutdown; default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub shutdown_timeout: Duration,
    /// Fault injection for tests: a request for exactly this path panics inside the
    /// handler, so the panic path (500 and a surviving worker) can be exercised over the
    /// wire; default `None`.
    pub panic_path: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            server_name: "127.0.0.1".to_string(),
            root: PathBuf::from("resources"),
            n_workers: httpd_security::DEFAULT_WORKERS,
            queue_capacity: httpd_security::DEFAULT_QUEUE,
            limits: Limits::default(),
            allowed_hosts: Vec::new(),
            types: TypePolicy::default(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            panic_path: None,
        }
    }
}

/// Why the server could not start or stopped with a failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The document root does not exist or is not a directory.
    Root(PathBuf, io::Error),
    /// The listening socket could not be bound.
    Bind(SocketAddr, io::Error),
    /// A worker thread could not be started.
    Spawn(io::Error),
    /// Another I/O failure of the listener.
    Io(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Root(path, _) => {
                write!(f, "document root {} is not usable", path.display())
            }
            ServerError::Bind(addr, _) => write!(f, "cannot listen on {addr}"),
            ServerError::Spawn(_) => f.write_str("cannot start worker threads"),
            ServerError::Io(_) => f.write_str("listener failed"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Root(_, e)
            | ServerError::Bind(_, e)
            | ServerError::Spawn(e)
            | ServerError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> ServerError {
        ServerError::Io(e)
    }
}

/// Counters shared by the accept thread and the workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) n_rejected: AtomicU64,
    pub(crate) n_handler_panics: AtomicU64,
}

/// State every worker reads; built once by [`Server::bind`].
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) root: PathBuf,
    pub(crate) limits: Limits,
    pub(crate) hosts: HostPolicy,
    pub(crate) types: TypePolicy,
    pub(crate) uploads: UploadStore,
    pub(crate) stop: AtomicBool,
    pub(crate) counters: Counters,
    pub(crate) panic_path: Option<String>,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    ctx: Arc<Context>,
    n_workers: usize,
    queue_capacity: usize,
    shutdown_timeout: Duration,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("root", &self.ctx.root)
            .field("n_workers", &self.n_workers)
            .finish()
    }
}

impl Server {
    /// Checks the document root and binds the listening socket.
    ///
    /// # Errors
    /// [`ServerError::Root`] when the root is not a directory, [`ServerError::Bind`] when
    /// the address cannot be bound.
    ///
    /// # Panics
    /// If `config.n_workers` is 0.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        assert!(config.n_workers > 0, "a server needs at least one worker");
        let root = canonical_dir(&config.root)?;
        let listener =
            TcpListener::bind(config.listen).map_err(|e| ServerError::Bind(config.listen, e))?;
        let local_addr = listener.local_addr()?;

        let mut hosts = HostPolicy::new(&config.server_name, local_addr.port());
        let ip = local_addr.ip().to_string();
        hosts.allow(&ip);
        for host in &config.allowed_hosts {
            hosts.allow(host);
        }
        let uploads = UploadStore::new(&root.join("uploads"), "/uploads");
        if let Err(e) = std::fs::create_dir_all(uploads.dir()) {
            log::warn!("cannot create {}: {e}", uploads.dir().display());
        }
        match uploads.remove_stale_temps() {
            Ok(0) => {}
            Ok(n) => log::info!("removed {n} unfinished upload(s) left by an earlier run"),
            Err(e) => log::warn!("cannot clean the upload directory: {e}"),
        }
        let ctx = Context {
            root,
            limits: config.limits,
            hosts,
            types: config.types,
            uploads,
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            panic_path: config.panic_path,
        };
        Ok(Server {
            listener,
            local_addr,
            ctx: Arc::new(ctx),
            n_workers: config.n_workers,
            queue_capacity: config.queue_capacity,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// Returns the address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns the canonical document root.
    pub fn root(&self) -> &Path {
        &self.ctx.root
    }

    /// Returns a handle that stops [`run`](Server::run) from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            ctx: Arc::clone(&self.ctx),
            addr: self.local_addr,
        }
    }

    /// Accepts connections until shut down, then lets in-flight requests finish (within
    /// the shutdown timeout) and joins the workers.
    ///
    /// # Errors
    /// [`ServerError::Spawn`] when the workers cannot be started.
    pub fn run(self) -> Result<(), ServerError> {
        let ctx = Arc::clone(&self.ctx);
        let pool = httpd_pool::Builder::new()
            .workers(self.n_workers)
            .queue_capacity(self.queue_capacity)
            .name_prefix("httpd-worker")
            .build(move |job: conn::Job| conn::serve(job, &ctx))
            .map_err(ServerError::Spawn)?;

        let mut monitor = PoolMonitor::default();
        for stream in self.listener.incoming() {
            if self.ctx.stop.load(Ordering::Acquire) {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE, ECONNABORTED and friends: the listener itself is fine.
                    log::warn!("accept failed: {e}");
                    continue;
                }
            };
            self.dispatch(&pool, stream, &mut monitor);
        }
        drop(self.listener);
        log::info!("Shutting down server...");
        finish_pool(pool, self.shutdown_timeout);
        Ok(())
    }

    fn dispatch(&self, pool: &ThreadPool<conn::Job>, stream: TcpStream, monitor: &mut PoolMonitor) {
        let peer = match stream.peer_addr() {
            Ok(p) => p,
            Err(_) => return, // Already reset by the client.
        };
        let busy = pool.n_busy();
        let saturated = busy >= pool.n_workers();
        monitor.observe(
            busy,
            pool.n_workers(),
            pool.n_queued(),
            pool.queue_capacity(),
        );
        if saturated {
            log::warn!(
                "Warning: Thread pool saturated, queuing connection from {peer} ({}/{} queued)",
                pool.n_queued(),
                pool.queue_capacity()
            );
        }
        let job = conn::Job {
            stream,
            peer,
            queued_at: saturated.then(Instant::now),
        };
        match pool.try_submit(job) {
            Ok(()) => {}
            Err(SubmitError::Full(job)) | Err(SubmitError::Closed(job)) => {
                self.ctx.counters.n_rejected.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "queue full ({}/{}): 503 for {peer}",
                    pool.n_queued(),
                    pool.queue_capacity()
                );
                conn::reject_busy(job);
            }
        }
    }
}

/// Stops a running [`Server`] from another thread or a signal handler thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    ctx: Arc<Context>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Asks the server to stop accepting and finish; returns at once.
    pub fn shutdown(&self) {
        if self.ctx.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accept loop, which blocks in accept(): connect to ourselves.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if let Err(e) = TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            log::debug!("shutdown wake-up connect failed: {e}");
        }
    }

    /// Tells whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.ctx.stop.load(Ordering::Acquire)
    }
}

/// Logs the seed's pool status line whenever its colour changes.
#[derive(Debug, Default)]
struct PoolMonitor {
    last: Option<char>,
}

impl PoolMonitor {
    fn observe(&mut self, busy: usize, workers: usize, queued: usize, capacity: usize) {
        // Green below 70 % busy, yellow from 70 %, red when every worker is busy.
        let marker = if busy >= workers {
            '🔴'
        } else if busy * 10 >= workers * 7 {
            '🟡'
        } else {
            '🟢'
        };
        let line =
            format!("{marker} Thread pool: {busy}/{workers} active | Queue: {queued}/{capacity}");
        if self.last != Some(marker) {
            self.last = Some(marker);
            log::info!("{line}");
        } else {
            log::debug!("{line}");
        }
    }
}

fn canonical_dir(root: &Path) -> Result<PathBuf, ServerError> {
    let canonical = root
        .canonicalize()
        .map_err(|e| ServerError::Root(root.to_path_buf(), e))?;
    if !canonical.is_dir() {
        return Err(ServerError::Root(
            root.to_path_buf(),
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    Ok(canonical)
}

/// Joins the pool, giving up (and leaving the process to end the threads) after `timeout`.
fn finish_pool(pool: ThreadPool<conn::Job>, timeout: Duration) {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let joiner = std::thread::Builder::new()
        .name("httpd-drain".to_string())
        .spawn(move || {
            pool.shutdown();
            let _ = done_tx.send(());
        });
    match joiner {
        Ok(handle) => {
            if done_rx.recv_timeout(timeout).is_ok() {
                let _ = handle.join();
            } else {
                log::warn!(
                    "workers still busy after {}; exiting anyway",
                    humanize(timeout)
                );
            }
        }
        Err(e) => log::error!("cannot start the drain thread: {e}"),
    }
}

fn humanize(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
